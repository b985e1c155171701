//! `allybridge-bench`: measures allybridge against the targets of
//! `../shared/DESIGN.md` on this machine, with the simulators on loopback:
//! backfill throughput (rate limits off), writes and calls when nothing or
//! a tenth changed, webhook intake (signed, verified, persisted) with ack
//! latency, the shared rate budget of ten locations at HighLevel's real
//! limits with live reads behind a backfill, the real daemon's start-up
//! and memory, and memory with many linked records. Prints a table beside the
//! targets, or JSON with `--json`. Timing lives here, never in tests.

mod bulk;
mod daemon;
mod rate_budget;
mod wordpress;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use clap::Parser;
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePublicKey;
use engine::scan::{ScanKind, scan};
use model::Flow;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "allybridge-bench",
    about = "Benchmarks allybridge against its targets"
)]
struct Args {
    /// Generated products per side (each with two or three prices; coupons and orders in proportion).
    #[arg(long, default_value_t = 2_000)]
    scale: usize,
    /// Signed webhooks posted in the intake scenario.
    #[arg(long, default_value_t = 20_000)]
    webhooks: usize,
    /// Concurrent webhook senders.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Linked records for the footprint scenario.
    #[arg(long, default_value_t = 100_000)]
    links: usize,
    /// Engine jobs run at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Products per side in the daemon scenario (the real `allybridge serve`).
    #[arg(long, default_value_t = 1_000)]
    daemon_scale: usize,
    /// Run the backfill's simulators on a runtime of their own and report
    /// allybridge's CPU apart from theirs (waking across runtimes costs
    /// some throughput, so the headline figure is taken without it).
    #[arg(long)]
    simulators_apart: bool,
    /// Locations in the rate-budget scenario (each 100 requests per 10 s).
    #[arg(long, default_value_t = 10)]
    budget_locations: usize,
    /// How long the rate-budget scenario runs, in seconds.
    #[arg(long, default_value_t = 30)]
    budget_seconds: u64,
    /// Run the backfill and the intake on a fresh database of this PostgreSQL server (an
    /// admin URL, e.g. postgres://postgres@127.0.0.1:5432/test) instead of
    /// SQLite; the database is dropped afterwards.
    #[arg(long)]
    postgres: Option<String>,
    /// Also print the backfill's calls per simulator route (to stderr).
    #[arg(long)]
    routes: bool,
    /// Also measure the WordPress plugin on the site whose JSON line
    /// (`wordpress/dev/up`) is in this file: Bridge API reads and writes per
    /// second, change → webhook latency.
    #[arg(long)]
    wordpress: Option<String>,
    /// Linked products in the bulk scenario (a price change at HighLevel's real limits).
    #[arg(long, default_value_t = 300)]
    bulk_products: usize,
    /// Products backfilled into an empty location at HighLevel's real
    /// limits (the limited-backfill scenario; 3 calls a product at least,
    /// 10 calls a second).
    #[arg(long, default_value_t = 1_000)]
    limited_backfill_products: usize,
    /// Workers in the bulk scenario (the daemon's default is 4).
    #[arg(long, default_value_t = 4)]
    bulk_workers: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Only these scenarios (backfill, changes, intake, bulk, budget, daemon, footprint, wordpress;
    /// limited-backfill runs only when named).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default()).unwrap_or(0.0)
}

/// User + system CPU seconds of a /proc `stat` line (a process's or a
/// thread's).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The name of the simulators' runtime threads in the backfill scenario.
const SIMULATOR_THREAD: &str = "simulator";

/// CPU seconds of this process's live threads named [`SIMULATOR_THREAD`]
/// (user + system, from /proc/self/task; the simulators' runtime keeps its
/// threads for the whole scenario, so none of theirs is missed).
fn simulator_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|stat| {
            let name = stat.split_once('(')?.1.rsplit_once(')')?.0;
            name.starts_with(SIMULATOR_THREAD)
                .then(|| stat_cpu_seconds(&stat))
                .flatten()
        })
        .sum()
}

/// Resident memory in MB, from /proc.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

struct Row {
    scenario: &'static str,
    metric: String,
    value: f64,
    unit: &'static str,
    target: String,
    met: Option<bool>,
}

fn row(
    scenario: &'static str,
    metric: impl Into<String>,
    value: f64,
    unit: &'static str,
    target: impl Into<String>,
    met: Option<bool>,
) -> Row {
    Row {
        scenario,
        metric: metric.into(),
        value,
        unit,
        target: target.into(),
        met,
    }
}

async fn sandbox(
    args: &Args,
    store_url: Option<String>,
    simulator_runtime: Option<tokio::runtime::Handle>,
) -> anyhow::Result<Sandbox> {
    let mut options = SandboxOptions {
        seed: sim_kit::Seed::Generated(args.scale),
        store_url,
        simulator_runtime,
        ..SandboxOptions::default()
    };
    options.engine.concurrency = args.concurrency;
    options.engine.batch = 256;
    Ok(Sandbox::start(options).await?)
}

async fn backfill_and_changes(args: &Args, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let scratch = match &args.postgres {
        Some(admin) => Some(ScratchDatabase::create(admin).await?),
        None => None,
    };
    // With `--simulators-apart` the simulators get a runtime of their own
    // (two threads, as the engine's) so that allybridge's CPU can be told
    // from theirs. They still share the machine's two cores, and waking
    // across runtimes costs throughput, so the default keeps one runtime.
    let simulators = if args.simulators_apart {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(SIMULATOR_THREAD)
                .thread_keep_alive(Duration::from_secs(3_600))
                .enable_all()
                .build()
                .context("starting the simulators' runtime")?,
        )
    } else {
        None
    };
    let t0 = Instant::now();
    let sb = sandbox(
        args,
        scratch.as_ref().map(|d| d.url.clone()),
        simulators.as_ref().map(|rt| rt.handle().clone()),
    )
    .await
    .context("starting the sandbox")?;
    let seeded = t0.elapsed();
    // Counted before the clock starts: reading both simulators' whole
    // state is the bench's work, not the backfill's.
    let records = source_records(&sb).await?;
    let calls_at_start = total_calls(&sb).await?;
    let cpu0 = cpu_seconds();
    let simulator_cpu0 = simulator_cpu_seconds();
    let start = Instant::now();
    let jobs_before = sb
        .engine
        .stats
        .jobs
        .load(std::sync::atomic::Ordering::Relaxed);
    let lookups_before = sb.engine.store.link_lookup_stats();
    sb.sync_once(ScanKind::Backfill).await?;
    let took = start.elapsed().as_secs_f64();
    let lookups_after = sb.engine.store.link_lookup_stats();
    let cpu = cpu_seconds() - cpu0;
    let simulator_cpu = simulator_cpu_seconds() - simulator_cpu0;
    let engine_cpu = cpu - simulator_cpu;
    let backfill_calls = total_calls(&sb).await? - calls_at_start;
    if args.routes {
        for sim in ["ghl", "accessally"] {
            let summary = sb
                .control(sim, "GET", "/__sim/requests?limit=0", None)
                .await?;
            eprintln!("{sim}: {}", summary["summary"]["by_route"]);
        }
    }
    let jobs = sb
        .engine
        .stats
        .jobs
        .load(std::sync::atomic::Ordering::Relaxed)
        - jobs_before;
    let retried: u64 = sb
        .engine
        .stats
        .summary()
        .values()
        .map(|flow| flow.retried)
        .sum();
    let diffs = sb.differences().await?;
    let rate = records as f64 / took;
    rows.push(row(
        "backfill",
        format!(
            "records synced, both sides ({} products per side, {}, seeded in {:.1} s)",
            args.scale,
            if args.postgres.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            },
            seeded.as_secs_f64()
        ),
        records as f64,
        "records",
        "",
        None,
    ));
    rows.push(row(
        "backfill",
        "jobs run (one per product with its prices, coupon or order)",
        jobs as f64,
        "jobs",
        "",
        None,
    ));
    rows.push(row(
        "backfill",
        "throughput",
        rate,
        "records/s",
        "≥ 3,000 records/s",
        Some(rate >= 3_000.0),
    ));
    rows.push(row(
        "backfill",
        "jobs per second",
        jobs as f64 / took,
        "jobs/s",
        "",
        None,
    ));
    rows.push(row(
        "backfill",
        "jobs retried (waiting for another record, or a transient error)",
        retried as f64,
        "jobs",
        "",
        None,
    ));
    rows.push(row(
        "backfill",
        "HTTP calls per job (both sides, reads and writes)",
        backfill_calls as f64 / jobs.max(1) as f64,
        "calls",
        "",
        None,
    ));
    let lookups = lookups_after.lookups - lookups_before.lookups;
    let lookup_queries = lookups_after.queries - lookups_before.queries;
    rows.push(row(
        "backfill",
        format!("link look-ups per query ({lookups} look-ups, grouped)"),
        lookups as f64 / lookup_queries.max(1) as f64,
        "look-ups",
        "",
        None,
    ));
    rows.push(row(
        "backfill",
        "CPU time (whole process: engine, store and both simulators)",
        cpu,
        "s",
        "",
        None,
    ));
    if simulators.is_some() {
        rows.push(row(
            "backfill",
            "CPU time of the simulators' threads",
            simulator_cpu,
            "s",
            "",
            None,
        ));
        rows.push(row(
            "backfill",
            "CPU time of allybridge (engine, clients, store: every other thread)",
            engine_cpu,
            "s",
            "",
            None,
        ));
        let engine_rate = records as f64 / (engine_cpu / 2.0).max(f64::EPSILON);
        rows.push(row(
            "backfill",
            "records per 2 CPU-seconds of allybridge's own (its overhead, derived)",
            engine_rate,
            "records/s",
            "",
            None,
        ));
    }
    rows.push(row(
        "backfill",
        "both sides converged",
        if diffs.is_empty() { 1.0 } else { 0.0 },
        "bool",
        "1",
        Some(diffs.is_empty()),
    ));

    // Nothing changed: a second pass.
    let (gw, aw) = sb.write_calls().await?;
    let calls_before = total_calls(&sb).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let (gw2, aw2) = sb.write_calls().await?;
    let writes = (gw2 - gw) + (aw2 - aw);
    let reads = total_calls(&sb).await? - calls_before;
    rows.push(row(
        "changes",
        "writes when nothing changed",
        writes as f64,
        "calls",
        "0",
        Some(writes == 0),
    ));
    rows.push(row(
        "changes",
        "list reads of that unchanged pass",
        reads as f64,
        "calls",
        "",
        None,
    ));

    // A tenth of the AccessAlly offerings changed (price), then a poll pass.
    let a = sb.aa_truth().await?;
    let offerings: Vec<Value> = a["offerings"].as_array().cloned().unwrap_or_default();
    let changed: Vec<&Value> = offerings.iter().step_by(10).collect();
    for o in &changed {
        let mut options: Vec<Value> = o["payment_options"].as_array().cloned().unwrap_or_default();
        if let Some(first) = options.get_mut(0) {
            first["amount"] = json!("1.23");
        }
        sb.set_payment_options(&o["id"], options).await?;
    }
    let (gw, aw) = sb.write_calls().await?;
    let (ghl_before, aa_before) = calls_per_system(&sb).await?;
    scan(
        &sb.engine,
        sb.tenant(),
        ScanKind::Poll,
        Some(Flow::ProductsToHighlevel),
    )
    .await?;
    sb.engine.work_until_idle(Duration::from_secs(2)).await?;
    let (gw2, aw2) = sb.write_calls().await?;
    let per_record = |n: u64| n as f64 / changed.len().max(1) as f64;
    let writes = per_record((gw2 - gw) + (aw2 - aw));
    let (ghl_after, aa_after) = calls_per_system(&sb).await?;
    let ghl_calls = per_record(ghl_after - ghl_before);
    let aa_calls = per_record(aa_after - aa_before);
    let calls = ghl_calls + aa_calls;
    rows.push(row(
        "changes",
        format!(
            "writes per changed record ({} of {} offerings changed)",
            changed.len(),
            offerings.len()
        ),
        writes,
        "calls",
        "≤ 1.2",
        Some(writes <= 1.2),
    ));
    rows.push(row(
        "changes",
        "all calls per changed record (list pages, fresh reads, writes)",
        calls,
        "calls",
        "",
        None,
    ));
    // HighLevel counts reads against the same budget as writes.
    rows.push(row(
        "changes",
        "HighLevel calls per changed record (reads and writes)",
        ghl_calls,
        "calls",
        "≤ 1.2",
        Some(ghl_calls <= 1.2),
    ));
    rows.push(row(
        "changes",
        "AccessAlly calls per changed record (list pages, reads)",
        aa_calls,
        "calls",
        "",
        None,
    ));
    drop(sb);
    if let Some(simulators) = simulators {
        simulators.shutdown_background();
    }
    if let Some(scratch) = scratch {
        scratch.drop_database().await?;
    }
    Ok(())
}

/// A PostgreSQL database made for one run and dropped after it.
struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(admin: &str) -> anyhow::Result<Self> {
        use sqlx::Connection;
        let name = format!("allybridge_bench_{}", std::process::id());
        let mut connection = sqlx::PgConnection::connect(admin)
            .await
            .with_context(|| format!("connecting to PostgreSQL at {admin}"))?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut connection)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let mut url = url::Url::parse(admin).context("parsing the PostgreSQL URL")?;
        url.set_path(&name);
        Ok(Self {
            admin: admin.to_string(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop_database(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut connection = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut connection)
        .await?;
        Ok(())
    }
}

/// The records a backfill has to bring across, counted on the simulators
/// before it runs: HighLevel products, prices, coupons and orders, and
/// AccessAlly offerings, payment options and orders.
async fn source_records(sb: &Sandbox) -> anyhow::Result<u64> {
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let len = |v: &Value| v.as_array().map_or(0, Vec::len) as u64;
    let options: u64 = a["offerings"]
        .as_array()
        .map(|o| o.iter().map(|o| len(&o["payment_options"])).sum())
        .unwrap_or(0);
    Ok(len(&g["products"])
        + len(&g["prices"])
        + len(&g["coupons"])
        + len(&g["orders"])
        + len(&a["offerings"])
        + options
        + len(&a["orders"]))
}

async fn total_calls(sb: &Sandbox) -> anyhow::Result<u64> {
    let (g, a) = calls_per_system(sb).await?;
    Ok(g + a)
}

/// Requests each simulator answered so far: (HighLevel, AccessAlly).
async fn calls_per_system(sb: &Sandbox) -> anyhow::Result<(u64, u64)> {
    let g = sb
        .control("ghl", "GET", "/__sim/requests?limit=0", None)
        .await?;
    let a = sb
        .control("accessally", "GET", "/__sim/requests?limit=0", None)
        .await?;
    Ok((
        g["summary"]["total"].as_u64().unwrap_or(0),
        a["summary"]["total"].as_u64().unwrap_or(0),
    ))
}

/// `n` HighLevel `OrderCreate` deliveries for `location`, each with its
/// `x-ghl-signature` from `sign`, made before the clock starts so that it
/// measures the receiver.
fn order_webhooks(
    location: &str,
    n: usize,
    sign: impl Fn(&[u8]) -> String,
) -> Vec<(Vec<u8>, String)> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    (0..n)
        .map(|i| {
            let body = serde_json::to_vec(&json!({
                "type": "OrderCreate", "locationId": location, "_id": format!("order{i:08}"),
                "altId": location, "altType": "location", "status": "completed", "amount": 10,
                "timestamp": now, "webhookId": format!("wh-{i:08}"),
            }))
            .unwrap_or_default();
            let signature = sign(&body);
            (body, signature)
        })
        .collect()
}

/// What a webhook load measured.
struct Load {
    accepted: usize,
    seconds: f64,
    /// Each answer's latency in ms, sorted.
    latencies_ms: Vec<f64>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.accepted as f64 / self.seconds.max(f64::EPSILON)
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_ms.len();
        self.latencies_ms
            .get(((n as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    }
}

/// Posts the signed `bodies` to `url` over `connections` at once.
async fn post_webhooks(url: &str, bodies: Vec<(Vec<u8>, String)>, connections: usize) -> Load {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let answers: Vec<(u16, Duration)> =
        futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
            futures::stream::iter(bodies.into_iter().map(|(body, sig)| {
                let client = client.clone();
                async move {
                    let t = Instant::now();
                    let status = client
                        .post(url)
                        .header("content-type", "application/json")
                        .header("x-ghl-signature", sig)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    (status, t.elapsed())
                }
            })),
            connections,
        ))
        .await;
    let seconds = start.elapsed().as_secs_f64();
    let mut latencies_ms: Vec<f64> = answers
        .iter()
        .map(|(_, d)| d.as_secs_f64() * 1000.0)
        .collect();
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    Load {
        accepted: answers.iter().filter(|(s, _)| *s == 200).count(),
        seconds,
        latencies_ms,
    }
}

async fn intake(args: &Args, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let scratch = match &args.postgres {
        Some(admin) => Some(ScratchDatabase::create(admin).await?),
        None => None,
    };
    let mut options = SandboxOptions {
        seed: sim_kit::Seed::Empty,
        store_url: scratch.as_ref().map(|d| d.url.clone()),
        ..SandboxOptions::default()
    };
    options.engine.concurrency = 1;
    let sb = Sandbox::start(options).await?;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
    let pem = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?;
    let verifier =
        ghl::webhook::WebhookVerifier::new(Some(ghl::webhook::Ed25519PublicKey::parse(&pem)?))?;
    let receiver = engine::intake::Receiver::new(
        sb.engine.store.clone(),
        vec![sb.tenant().clone()],
        verifier,
        HashMap::new(),
    );
    let (listener, addr) = server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let state = server::AppState {
        receiver: Arc::new(receiver),
        engine: sb.engine.clone(),
    };
    tokio::spawn(server::serve(listener, state, std::future::pending()));
    let url = format!("http://{addr}/webhooks/ghl");
    let location = sb.tenant().ghl.location_id().to_string();
    let load = post_webhooks(
        &url,
        order_webhooks(&location, args.webhooks, |body| {
            base64::engine::general_purpose::STANDARD.encode(key.sign(body).to_bytes())
        }),
        args.connections,
    )
    .await;
    let (ok, rate) = (load.accepted, load.per_second());
    let pct = |p: f64| load.percentile_ms(p);
    let stored = sb.engine.store.inbox_len().await?;
    let commits = sb.engine.store.group_commit_stats();
    rows.push(row(
        "intake",
        format!(
            "webhooks accepted ({} connections, {})",
            args.connections,
            if args.postgres.is_some() {
                "PostgreSQL"
            } else {
                "SQLite"
            }
        ),
        ok as f64,
        "webhooks",
        format!("{}", args.webhooks),
        Some(ok == args.webhooks),
    ));
    rows.push(row(
        "intake",
        "accepted per second (verified, persisted with their job)",
        rate,
        "webhooks/s",
        "≥ 5,000/s",
        Some(rate >= 5_000.0),
    ));
    rows.push(row("intake", "ack latency p50", pct(0.5), "ms", "", None));
    rows.push(row(
        "intake",
        "ack latency p99",
        pct(0.99),
        "ms",
        "≤ 20 ms",
        Some(pct(0.99) <= 20.0),
    ));
    rows.push(row(
        "intake",
        format!(
            "writes per group commit (largest {})",
            commits.largest_batch
        ),
        commits.writes as f64 / commits.transactions.max(1) as f64,
        "writes",
        "",
        None,
    ));
    rows.push(row(
        "intake",
        "persisted in the inbox",
        stored as f64,
        "events",
        format!("{ok}"),
        Some(stored as usize == ok),
    ));
    drop(sb);
    if let Some(scratch) = scratch {
        scratch.drop_database().await?;
    }
    Ok(())
}

async fn footprint(args: &Args, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let store = store::Store::open(
        &store::Store::sqlite_url(&dir.path().join("f.db")),
        store::Keyring::new(store::MasterKey::generate()),
    )
    .await?;
    let startup = started.elapsed().as_secs_f64() * 1000.0;
    for i in 0..args.links {
        store
            .save_link(&store::NewLink {
                entity_type: "bench/product".into(),
                highlevel_id: format!("{i:024x}"),
                accessally_id: format!("{i}"),
                highlevel_hash: Some(format!("{i:064x}")),
                accessally_hash: Some(format!("{i:064x}")),
                highlevel_state: None,
            })
            .await?;
    }
    let rss = rss_mb();
    rows.push(row(
        "footprint",
        format!(
            "RSS of this process with {} linked records stored",
            args.links
        ),
        rss,
        "MB",
        "≤ 64 MB",
        Some(rss <= 64.0),
    ));
    rows.push(row(
        "footprint",
        "store open and migrate",
        startup,
        "ms",
        "",
        None,
    ));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // The allocator settings the `allybridge` binary ships with, so that the
    // figures are the daemon's.
    allocator::tune_for_a_daemon();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run(Args::parse()))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let wants = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let mut rows = Vec::new();
    if wants("footprint") {
        footprint(&args, &mut rows).await?;
    }
    if wants("backfill") || wants("changes") {
        backfill_and_changes(&args, &mut rows).await?;
    }
    if wants("intake") {
        intake(&args, &mut rows).await?;
    }
    if wants("daemon") {
        daemon::run(args.daemon_scale, args.webhooks, &mut rows).await?;
    }
    if wants("bulk") {
        bulk::price_change(args.bulk_products, args.bulk_workers, &mut rows).await?;
    }
    if args.only.iter().any(|o| o == "limited-backfill") {
        bulk::backfill_at_limits(args.limited_backfill_products, args.bulk_workers, &mut rows)
            .await?;
    }
    if wants("budget") {
        rate_budget::run(args.budget_locations, args.budget_seconds, &mut rows).await?;
    }
    if let Some(site) = &args.wordpress
        && wants("wordpress")
    {
        wordpress::run(site, &mut rows).await?;
    }
    if args.json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| json!({"scenario": r.scenario, "metric": r.metric, "value": (r.value * 100.0).round() / 100.0,
                            "unit": r.unit, "target": r.target, "met": r.met}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:<10} {:<72} {:>12} {:<11} {:<18} met",
            "scenario", "metric", "value", "unit", "target"
        );
        for r in &rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "",
            };
            println!(
                "{:<10} {:<72} {:>12.2} {:<11} {:<18} {}",
                r.scenario, r.metric, r.value, r.unit, r.target, met
            );
        }
    }
    Ok(())
}
