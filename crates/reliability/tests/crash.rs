//! Crash: the real `allybridge serve` is killed with SIGKILL at random
//! moments — during its first backfill and during a live stream of changes
//! on both sides (HighLevel renames and new prices, AccessAlly checkouts) —
//! and restarted each time on the same store file. After the last restart
//! both simulators converge to each other's ground truth: no record lost
//! (every product has its offering, every completed order its one invoice,
//! every coupon its AccessAlly coupon), none doubled (`sandbox::compare`
//! reports duplicates), and every record the daemons created had exactly
//! one successful create call in the simulators' request logs.
//! Every start runs under the same stable worker id (`[engine] worker_id`,
//! here from `ALLYBRIDGE_ENGINE_WORKER_ID`),
//! so a restarted daemon gives back the jobs its killed predecessor held
//! instead of letting them wait out their 60 s lease.
//! 3 kills here; 20 with `ALLYBRIDGE_SOAK=1`.

use std::time::{Duration, Instant};

use anyhow::Context;

use rand::{Rng, SeedableRng};
use reliability::{Harness, creates, free_port, kill9, soak};
use sandbox::checkout_body;
use serde_json::{Value, json};
use sim_kit::{Faults, Seed};

fn count(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, Vec::len)
}

/// One live change: a HighLevel rename or new price, or an AccessAlly checkout.
async fn change(h: &Harness, n: usize) -> anyhow::Result<()> {
    match n % 3 {
        0 | 1 => {
            let g = h.ghl_truth().await?;
            let products = g["products"].as_array().cloned().unwrap_or_default();
            let p = &products[n % products.len()];
            let pid = p["_id"].as_str().unwrap_or_default();
            if n.is_multiple_of(3) {
                let name = format!("{} ~{n}", p["name"].as_str().unwrap_or(""));
                h.control(
                    "ghl",
                    "PUT",
                    &format!("/__sim/ui/products/{pid}"),
                    Some(json!({"name": name, "locationId": g["id"], "productType": p["productType"]})),
                )
                .await?;
            } else {
                h.control(
                    "ghl",
                    "POST",
                    &format!("/__sim/ui/products/{pid}/price"),
                    Some(
                        json!({"name": format!("Extra {n}"), "type": "one_time", "currency": "USD",
                                "amount": 10 + n, "locationId": g["id"]}),
                    ),
                )
                .await?;
            }
        }
        _ => {
            let a = h.aa_truth().await?;
            // Only an offering with a payment option and stock left can be
            // bought (one made from a HighLevel product without prices has no
            // option; a limited one can be sold out).
            let offerings: Vec<Value> = a["offerings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| count(o, "payment_options") > 0)
                .filter(|o| {
                    let stock = &o["availability"];
                    stock["unlimited"].as_bool() == Some(true)
                        || stock["quantity"].as_u64().is_some_and(|left| left > 0)
                })
                .cloned()
                .collect();
            anyhow::ensure!(!offerings.is_empty(), "no offering can be bought");
            let o = &offerings[n % offerings.len()];
            h.control(
                "accessally",
                "POST",
                "/__sim/checkout",
                Some(checkout_body(
                    &format!("crash{n}@example.com"),
                    o["id"].as_u64().unwrap_or(0),
                    o["payment_options"][0]["id"].as_u64().unwrap_or(0),
                    None,
                )),
            )
            .await?;
        }
    }
    Ok(())
}

/// The worker id every start of the daemon shares, and the engine's
/// info lines (they say how many held jobs a restart gave back).
const DAEMON_ENV: [(&str, &str); 2] = [
    ("ALLYBRIDGE_ENGINE_WORKER_ID", "crash-test-daemon"),
    ("ALLYBRIDGE_LOG", "warn,engine=info"),
];

/// Jobs the restarts gave back, from the daemon's log lines (which may be
/// coloured: `jobs=3` is written with escape sequences around its parts).
fn jobs_given_back(log: &str) -> usize {
    let mut plain = String::with_capacity(log.len());
    let mut in_escape = false;
    for c in log.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => plain.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
        .lines()
        .filter(|line| line.contains("gave back the jobs"))
        .filter_map(|line| line.split("jobs=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|n| n.parse::<usize>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_backfill_and_live_stream_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let started = Instant::now();
    let kills = if soak() { 20 } else { 3 };
    let seed: u64 = std::env::var("ALLYBRIDGE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash seed {seed} (ALLYBRIDGE_CRASH_SEED={seed} repeats the kill moments)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let h = Harness::start(Seed::Demo, Faults::default(), None).await?;
    println!(
        "simulators up, daemon built and initialised: {:.1?}",
        started.elapsed()
    );
    h.fix_port(free_port()?).await?;
    let log = h.dir.path().join("serve.log");
    let g0 = h.ghl_truth().await?;
    let a0 = h.aa_truth().await?;
    let mut changes = 0;
    for k in 0..kills {
        let mut child = h.spawn_serve_with_env(&log, &DAEMON_ENV)?;
        // The first kills fall in the backfill; later ones in the live stream.
        let live = k >= kills / 2;
        let wait = Duration::from_millis(if live {
            rng.gen_range(300..2500)
        } else {
            rng.gen_range(150..1500)
        });
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if live {
                change(&h, changes).await?;
                changes += 1;
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!(
                "the daemon exited by itself ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        kill9(&mut child)?;
        println!(
            "kill {} after {wait:?} ({}), at {:.1?}",
            k + 1,
            if live { "live" } else { "backfill" },
            started.elapsed()
        );
    }
    // Last start: runs to convergence, then stops.
    let last_start = Instant::now();
    let mut child = h.spawn_serve_with_env(&log, &DAEMON_ENV)?;
    for _ in 0..3 {
        change(&h, changes).await?;
        changes += 1;
    }
    // The restart gave back the killed daemon's jobs: no lease to wait out.
    // The limit leaves room for a machine busy with other builds.
    let limit = if soak() { 180 } else { 90 };
    let diffs = h.converge(Duration::from_secs(limit)).await;
    let converged_in = last_start.elapsed();
    kill9(&mut child)?;
    let diffs = diffs?;
    assert!(
        diffs.is_empty(),
        "not converged after {kills} kills:\n{}\n--- serve log tail ---\n{}",
        diffs.join("\n"),
        tail(&std::fs::read_to_string(&log).unwrap_or_default(), 40)
    );

    // No record written twice: one successful create call per new record.
    let g = h.ghl_truth().await?;
    let a = h.aa_truth().await?;
    let ghl_log = h.requests("ghl").await?;
    let aa_log = h.requests("accessally").await?;
    let new_invoices = count(&g, "invoices") - count(&g0, "invoices");
    let new_products = count(&g, "products") - count(&g0, "products");
    let new_offerings = count(&a, "offerings") - count(&a0, "offerings");
    let new_coupons = count(&a, "coupons") - count(&a0, "coupons");
    assert_eq!(
        creates(&ghl_log, "/invoices/"),
        new_invoices,
        "invoice creates"
    );
    assert_eq!(
        creates(&ghl_log, "/products/"),
        new_products,
        "product creates"
    );
    assert_eq!(
        creates(&aa_log, "/offerings"),
        new_offerings,
        "offering creates"
    );
    assert_eq!(creates(&aa_log, "/coupons"), new_coupons, "coupon creates");
    let records = count(&g, "products")
        + count(&g, "coupons")
        + count(&g, "invoices")
        + count(&a, "offerings")
        + count(&a, "coupons")
        + count(&a, "orders");
    let given_back = jobs_given_back(&std::fs::read_to_string(&log).unwrap_or_default());
    println!(
        "crash: {kills} kills survived, {changes} live changes, {records} records checked \
         ({new_offerings} offerings, {new_products} products, {new_coupons} coupons, {new_invoices} invoices created once each; \
         0 lost, 0 duplicates), {given_back} held jobs given back by restarts, \
         converged {converged_in:.1?} after the last start, {:.1?} in all",
        started.elapsed()
    );
    Ok(())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The engine side of a restart, in process: `Engine::run` under the same
/// stable worker id gives back at once the jobs the dead run held, while a
/// per-process id leaves them to their lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_a_stable_worker_id_gives_back_its_jobs_at_once() -> anyhow::Result<()> {
    use engine::{Engine, EngineOptions};
    use store::{ClaimScope, JobState, Keyring, MasterKey, NewJob, Priority, Store, System};

    let dir = tempfile::tempdir()?;
    let store = Store::open(
        &Store::sqlite_url(&dir.path().join("store.db")),
        Keyring::new(MasterKey::generate()),
    )
    .await?;
    let held =
        |record: &str| NewJob::now("sync", "product", System::HighLevel, record, Priority::Live);
    let stable = store.enqueue(&held("p1")).await?.job_id;
    let per_process = store.enqueue(&held("p2")).await?.job_id;
    store
        .claim_jobs("daemon-a", &ClaimScope::Any, 1, Duration::from_secs(60))
        .await?;
    store
        .claim_jobs("worker-4242", &ClaimScope::Any, 1, Duration::from_secs(60))
        .await?;
    // The daemons died holding them; each restarts and is stopped at once.
    for (worker_id, stable_worker_id) in [("daemon-a", true), ("worker-4242", false)] {
        let options = EngineOptions {
            worker_id: worker_id.into(),
            stable_worker_id,
            ..EngineOptions::default()
        };
        Engine::new(store.clone(), Vec::new(), options)
            .run(async {})
            .await?;
    }
    let given_back = store.job(stable).await?.context("job")?;
    anyhow::ensure!(
        given_back.state == JobState::Pending && given_back.lease_owner.is_none(),
        "{given_back:?}"
    );
    let still_held = store.job(per_process).await?.context("job")?;
    anyhow::ensure!(
        still_held.state == JobState::Running
            && still_held.lease_owner.as_deref() == Some("worker-4242"),
        "{still_held:?}"
    );
    Ok(())
}

/// A record that kills the daemon every time it runs must not take the
/// daemon down forever: once its job has been claimed more often than it
/// may be tried, the next claim dead-letters it with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_finishes_its_runs_is_dead_lettered() -> anyhow::Result<()> {
    use engine::{Engine, EngineOptions};
    use store::{ClaimScope, JobState, Keyring, MasterKey, NewJob, Priority, Store, System};

    let dir = tempfile::tempdir()?;
    let store = Store::open(
        &Store::sqlite_url(&dir.path().join("store.db")),
        Keyring::new(MasterKey::generate()),
    )
    .await?;
    let poison = store
        .enqueue(&NewJob::now(
            "product.to_accessally",
            "product",
            System::HighLevel,
            "crashes-the-daemon",
            Priority::Live,
        ))
        .await?
        .job_id;
    let options = EngineOptions {
        max_attempts: 3,
        lease: Duration::from_millis(1),
        ..EngineOptions::default()
    };
    // Three runs that died (claimed, never finished, lease expired).
    for _ in 0..3 {
        let claimed = store
            .claim_jobs("dead-daemon", &ClaimScope::Any, 1, options.lease)
            .await?;
        anyhow::ensure!(claimed.len() == 1, "claim {claimed:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let engine = Engine::new(store.clone(), Vec::new(), options);
    engine.run_round().await?;
    let job = store.job(poison).await?.context("job")?;
    anyhow::ensure!(job.state == JobState::Dead, "{job:?}");
    let reason = job.dead_reason.unwrap_or_default();
    anyhow::ensure!(
        reason.contains("claimed 4 times without finishing") && reason.contains("expired"),
        "{reason}"
    );
    Ok(())
}
