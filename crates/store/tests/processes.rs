//! Guarantees that need more than one operating-system process: two
//! processes sharing one queue run every job exactly once under
//! non-overlapping location leases, and a process killed with SIGKILL in
//! the middle of writing loses nothing it had acknowledged. The children
//! are this same test binary, re-executed with `CHILD_ROLE_ENV` set, running
//! only `child_process_entry`.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use secrecy::ExposeSecret;
use serde_json::json;
use store::*;
use support::{Backend, TestDb};
use tokio::io::{AsyncBufReadExt, BufReader};

const CHILD_ROLE_ENV: &str = "ALLYBRIDGE_STORE_TEST_CHILD";
const CHILD_URL_ENV: &str = "ALLYBRIDGE_STORE_TEST_URL";
const CHILD_OWNER_ENV: &str = "ALLYBRIDGE_STORE_TEST_OWNER";
const CHILD_OUT_ENV: &str = "ALLYBRIDGE_STORE_TEST_OUT";
/// A folder where each worker marks itself ready, and waits for the others
/// before it claims: both start on a level queue, however late the machine
/// starts one of them.
const CHILD_START_ENV: &str = "ALLYBRIDGE_STORE_TEST_START";
/// Jobs a worker claims at once.
const CLAIM_BATCH: usize = 50;
/// Time a worker spends on a claimed batch before its next claim.
const WORK_BETWEEN_CLAIMS: Duration = Duration::from_millis(2);
/// Workers in the two-process test.
const WORKERS: [&str; 2] = ["process-a", "process-b"];
const LOCATIONS: [&str; 4] = ["loc-0", "loc-1", "loc-2", "loc-3"];

fn child_command(db: &TestDb, role: &str, owner: &str) -> anyhow::Result<tokio::process::Command> {
    let exe = std::env::current_exe().context("finding the test binary")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ROLE_ENV, role)
        .env(CHILD_URL_ENV, &db.url)
        .env(CHILD_OWNER_ENV, owner)
        .env(MASTER_KEY_ENV, db.key.to_base64().expose_secret())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    Ok(command)
}

fn micros_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

/// Not a test of its own: the entry point of child processes. Without
/// `CHILD_ROLE_ENV` it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_entry() -> anyhow::Result<()> {
    let Ok(role) = std::env::var(CHILD_ROLE_ENV) else {
        return Ok(());
    };
    let url = std::env::var(CHILD_URL_ENV).context("child needs a store URL")?;
    let owner = std::env::var(CHILD_OWNER_ENV).context("child needs an owner name")?;
    let key = MasterKey::from_env()?.context("child needs ALLYBRIDGE_MASTER_KEY")?;
    let store = Store::open(&url, Keyring::new(key)).await?;
    match role.as_str() {
        "worker" => run_worker(&store, &owner).await,
        "writer" => run_writer(&store).await,
        other => bail!("unknown child role {other}"),
    }
}

/// Child: runs queued jobs location by location, holding each location's
/// lease while it works, until the queue is empty. It completes each claimed
/// batch in one commit, as a worker pool acknowledging finished work does. Writes the jobs it ran
/// and the lease intervals it held to `CHILD_OUT_ENV`.
async fn run_worker(store: &Store, owner: &str) -> anyhow::Result<()> {
    let out_path = std::env::var(CHILD_OUT_ENV).context("worker needs an output file")?;
    let start_dir = std::env::var(CHILD_START_ENV).context("worker needs a start folder")?;
    let start_dir = std::path::Path::new(&start_dir);
    std::fs::write(start_dir.join(owner), "ready").context("marking the worker ready")?;
    let waiting_since = Instant::now();
    while WORKERS.iter().any(|other| !start_dir.join(other).exists()) {
        ensure!(
            waiting_since.elapsed() < Duration::from_secs(60),
            "the other worker never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut ran = Vec::new();
    let mut held = Vec::new();
    let mut order = LOCATIONS.to_vec();
    loop {
        let mut progressed = false;
        order.rotate_left(1 + (rand::random::<usize>() % LOCATIONS.len()));
        for location in &order {
            if !store
                .acquire_location_lease(location, owner, Duration::from_secs(20))
                .await?
            {
                continue;
            }
            let start = micros_now();
            let scope = ClaimScope::Locations(vec![location.to_string()]);
            let jobs = store
                .claim_jobs(owner, &scope, CLAIM_BATCH as i64, Duration::from_secs(60))
                .await?;
            for job in &jobs {
                ensure!(
                    job.location.as_deref() == Some(*location),
                    "claimed a job outside the leased location"
                );
            }
            let ids: Vec<JobId> = jobs.iter().map(|job| job.id).collect();
            let lost = store.complete_jobs(&ids, owner).await?;
            ensure!(lost.is_empty(), "lost the lease of jobs {lost:?}");
            ran.extend(ids);
            let end = micros_now();
            ensure!(
                store.release_location_lease(location, owner).await?,
                "lease of {location} was lost"
            );
            held.push(format!("lease {location} {start} {end}"));
            progressed |= !jobs.is_empty();
            if !jobs.is_empty() {
                // A real worker spends time on its jobs' calls between
                // claims. Without that pause, on SQLite, whose write lock
                // keeps no queue, a process in a tight loop can take every
                // turn and starve the other (CI saw 0 of 10,000 for one).
                tokio::time::sleep(WORK_BETWEEN_CLAIMS).await;
            }
        }
        if !progressed {
            let stats = store.queue_stats().await?;
            if stats.pending == 0 && stats.running == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut report: Vec<String> = ran.iter().map(|id| format!("job {id}")).collect();
    report.extend(held);
    std::fs::write(&out_path, report.join("\n")).context("writing the worker report")?;
    Ok(())
}

/// Child: accepts events (each with its job) and rotates a token forever,
/// printing an acknowledgement after each commit, until it is killed.
async fn run_writer(store: &Store) -> anyhow::Result<()> {
    store
        .upsert_connection("ghl", System::HighLevel, "loc-1", "HighLevel")
        .await?;
    for index in 0u64.. {
        let event = InboundEvent {
            source: System::HighLevel,
            event_id: format!("evt-{index}"),
            event_type: "ProductUpdate".into(),
            payload: json!({"n": index, "padding": "x".repeat(200)}),
        };
        let job = NewJob::now(
            "sync",
            "product",
            System::HighLevel,
            format!("p{index}"),
            Priority::Live,
        );
        store.accept_event(&event, Some(&job)).await?;
        println!("ACK {index}");
        let token = Credential {
            secret: format!("access-{index}").into(),
            refresh_secret: Some(format!("refresh-{index}").into()),
            expires_at: None,
            scopes: vec![],
        };
        store
            .save_credential("ghl", CredentialKind::HighLevelOAuth, &token)
            .await?;
        println!("TOKEN {index}");
    }
    Ok(())
}

async fn two_processes_run_every_job_exactly_once(
    backend: Backend,
    total: usize,
) -> anyhow::Result<()> {
    let Some(db) = TestDb::create(backend).await? else {
        return Ok(());
    };
    let store = db.open().await?;
    let jobs: Vec<NewJob> = (0..total)
        .map(|index| {
            NewJob::now(
                "sync",
                "product",
                System::HighLevel,
                format!("p{index}"),
                Priority::Backfill,
            )
            .with_location(LOCATIONS[index % LOCATIONS.len()])
        })
        .collect();
    store.enqueue_batch(&jobs).await?;

    let started = Instant::now();
    let mut children = Vec::new();
    let mut reports = Vec::new();
    let start_dir = std::env::temp_dir().join(format!(
        "allybridge-workers-start-{:016x}",
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&start_dir).context("creating the workers' start folder")?;
    for owner in WORKERS {
        let report = std::env::temp_dir().join(format!(
            "allybridge-{owner}-{:016x}.txt",
            rand::random::<u64>()
        ));
        let mut command = child_command(&db, "worker", owner)?;
        command
            .env(CHILD_OUT_ENV, &report)
            .env(CHILD_START_ENV, &start_dir)
            .stdout(Stdio::null());
        children.push(command.spawn().context("starting a worker process")?);
        reports.push((owner, report));
    }
    for mut child in children {
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await??;
        ensure!(status.success(), "worker process failed: {status}");
    }
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&start_dir);

    let mut ran_by: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut intervals: HashMap<String, Vec<(u128, u128, &str)>> = HashMap::new();
    for (owner, path) in &reports {
        let text = std::fs::read_to_string(path).context("reading a worker report")?;
        let _ = std::fs::remove_file(path);
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["job", id] => ran_by.entry(owner).or_default().push(id.parse()?),
                ["lease", location, start, end] => intervals
                    .entry(location.to_string())
                    .or_default()
                    .push((start.parse()?, end.parse()?, owner)),
                _ => bail!("unexpected report line {line:?}"),
            }
        }
    }
    let all: Vec<i64> = ran_by.values().flatten().copied().collect();
    let distinct: HashSet<i64> = all.iter().copied().collect();
    ensure!(
        all.len() == total && distinct.len() == total,
        "ran {} jobs, {} distinct, of {total}",
        all.len(),
        distinct.len()
    );
    // Both took part (else exactly-once would prove nothing). Not a fair
    // share: how turns go depends on the machine and, with SQLite, on a
    // write lock without a queue (a loaded suite has seen 2 % for one).
    for owner in WORKERS {
        let count = ran_by.get(owner).map_or(0, Vec::len);
        ensure!(
            count >= CLAIM_BATCH,
            "{owner} ran only {count} of {total} jobs"
        );
    }
    let mut handovers = 0;
    for (location, spans) in &mut intervals {
        spans.sort();
        for pair in spans.windows(2) {
            ensure!(
                pair[0].1 <= pair[1].0,
                "leases on {location} overlap: {:?} and {:?}",
                pair[0],
                pair[1]
            );
            handovers += usize::from(pair[0].2 != pair[1].2);
        }
    }
    let stats = store.queue_stats().await?;
    ensure!(
        stats.done == total as i64 && stats.pending == 0 && stats.running == 0,
        "{stats:?}"
    );
    let mut after = 0;
    loop {
        let page = store.jobs(Some(JobState::Done), after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        ensure!(page.iter().all(|job| job.attempts == 1), "a job ran twice");
    }
    println!(
        "{backend:?}: {total} jobs by two processes in {:.2} s = {:.0} jobs/s (a: {}, b: {}, lease hand-overs: {handovers})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ran_by.get("process-a").map_or(0, Vec::len),
        ran_by.get("process-b").map_or(0, Vec::len),
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_run_ten_thousand_jobs_exactly_once() -> anyhow::Result<()> {
    two_processes_run_every_job_exactly_once(Backend::Postgres, 10_000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_processes_run_ten_thousand_jobs_exactly_once() -> anyhow::Result<()> {
    two_processes_run_every_job_exactly_once(Backend::Sqlite, 10_000).await
}

async fn kill_9_mid_write_loses_nothing_acknowledged(backend: Backend) -> anyhow::Result<()> {
    let Some(db) = TestDb::create(backend).await? else {
        return Ok(());
    };
    // Create the schema first, so the child starts writing at once.
    db.open().await?.close().await;
    let mut child = child_command(&db, "writer", "writer")?
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let kill_after = 100 + rand::random::<u64>() % 200;
    let (mut last_ack, mut last_token) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(line) = tokio::time::timeout_at(deadline.into(), lines.next_line()).await?? {
        if let Some(index) = line.strip_prefix("ACK ") {
            last_ack = Some(index.parse::<u64>()?);
        } else if let Some(index) = line.strip_prefix("TOKEN ") {
            last_token = Some(index.parse::<u64>()?);
        }
        if last_ack.is_some_and(|ack| ack >= kill_after) {
            break;
        }
    }
    child.start_kill().context("sending SIGKILL")?; // SIGKILL on Unix
    child.wait().await?;
    // Anything printed before the kill landed was acknowledged too.
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(index) = line.strip_prefix("ACK ") {
            last_ack = Some(index.parse::<u64>()?);
        } else if let Some(index) = line.strip_prefix("TOKEN ") {
            last_token = Some(index.parse::<u64>()?);
        }
    }
    let last_ack = last_ack.context("the writer acknowledged nothing")?;

    let store = db.open().await?;
    let problems = store.integrity_problems().await?;
    ensure!(
        problems.is_empty(),
        "store inconsistent after kill -9: {problems:?}"
    );
    for index in 0..=last_ack {
        ensure!(
            store
                .inbox_event(System::HighLevel, &format!("evt-{index}"))
                .await?
                .is_some(),
            "acknowledged event evt-{index} is missing"
        );
        let dedupe_key = NewJob::now(
            "sync",
            "product",
            System::HighLevel,
            format!("p{index}"),
            Priority::Live,
        )
        .dedupe_key;
        ensure!(
            store.jobs_for_dedupe_key(&dedupe_key).await?.len() == 1,
            "job of evt-{index} is missing"
        );
    }
    let stats = store.queue_stats().await?;
    let inbox = store.inbox_len().await?;
    ensure!(
        stats.pending == inbox,
        "{inbox} events but {} jobs: an event and its job did not commit together",
        stats.pending
    );
    ensure!(
        inbox as u64 <= last_ack + 2,
        "more events than were written"
    );
    if let Some(last_token) = last_token {
        let token = store
            .credential("ghl", CredentialKind::HighLevelOAuth)
            .await?
            .context("token")?;
        let stored: u64 = token
            .secret
            .expose_secret()
            .strip_prefix("access-")
            .context("token format")?
            .parse()?;
        ensure!(
            stored >= last_token,
            "rotated token {last_token} was acknowledged but {stored} is stored"
        );
        let refresh = token.refresh_secret.context("refresh token")?;
        ensure!(
            refresh.expose_secret() == format!("refresh-{stored}"),
            "token pair torn apart"
        );
    }
    // And the store keeps working.
    let next = InboundEvent {
        source: System::HighLevel,
        event_id: "after-crash".into(),
        event_type: "ProductUpdate".into(),
        payload: json!({}),
    };
    ensure!(store.accept_event(&next, None).await?.new);
    println!("{backend:?}: killed the writer after {last_ack} acknowledged events; all present");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_kill_9_mid_write_loses_nothing_acknowledged() -> anyhow::Result<()> {
    kill_9_mid_write_loses_nothing_acknowledged(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_kill_9_mid_write_loses_nothing_acknowledged() -> anyhow::Result<()> {
    kill_9_mid_write_loses_nothing_acknowledged(Backend::Sqlite).await
}
