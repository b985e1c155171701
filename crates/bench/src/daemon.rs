//! The daemon scenario: the real `allybridge serve` (the release binary next
//! to the bench, built if missing) in its own process against both
//! simulators in the bench's, through the reliability harness (the same
//! configuration the crash test runs). Measures start-up (spawn to a 200 on
//! `/healthz`), the time to converge by its own pollers and reconciler (at
//! intervals a large catalog allows), and
//! the daemon's own memory (VmHWM, VmRSS) with the links it made.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::{Row, row};

/// Memory of process `pid` in MB: (peak, current), from /proc.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// The daemon's store (a SQLite file), read beside it: (links, jobs
/// pending or running).
async fn store_counts(store_file: &std::path::Path) -> anyhow::Result<(i64, i64)> {
    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store_file)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening the daemon's store {}", store_file.display()))?;
    let (links, queued): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM links), \
                (SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running'))",
    )
    .fetch_one(&mut db)
    .await
    .context("counting the daemon's links and queued jobs")?;
    Ok((links, queued))
}

/// Waits until the daemon has synced everything, at most `limit`: its
/// queue empty for three seconds running, then both sides' ground truth
/// equal (checked only then: reading a large simulator's whole state
/// holds its lock for seconds, which would slow the daemon it waits for).
async fn until_converged(h: &reliability::Harness, limit: Duration) -> anyhow::Result<Vec<String>> {
    let store_file = h.dir.path().join("allybridge.db");
    let deadline = Instant::now() + limit;
    let mut idle_seconds = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The store appears with the daemon's first write.
        let (links, queued) = store_counts(&store_file).await.unwrap_or((0, 1));
        idle_seconds = if links > 0 && queued == 0 {
            idle_seconds + 1
        } else {
            0
        };
        if idle_seconds >= 3 || Instant::now() >= deadline {
            let differences = h.differences().await?;
            if differences.is_empty() || Instant::now() >= deadline {
                return Ok(differences);
            }
            idle_seconds = 0;
        }
    }
}

/// The release `allybridge` beside this bench, built when missing.
fn release_binary() -> anyhow::Result<std::path::PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("allybridge");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "--release", "-p", "allybridge"])
            .status()
            .context("building the release allybridge binary")?;
        anyhow::ensure!(
            status.success(),
            "cargo build --release -p allybridge failed"
        );
    }
    Ok(bin)
}

/// Connections of the outside client's webhook load.
const INTAKE_CONNECTIONS: usize = 64;

pub async fn run(scale: usize, webhooks: usize, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let h = reliability::Harness::start_with(
        release_binary()?,
        sim_kit::Seed::Generated(scale),
        sim_kit::Faults::default(),
        None,
    )
    .await?;
    let port = reliability::free_port()?;
    h.fix_port(port).await?;
    let log = h.dir.path().join("serve.log");
    let started = Instant::now();
    // Polls every 5 s and a reconciliation every 5 min (the crash test's 1 s
    // and 2 s would re-read a large catalog back to back).
    let mut child = h.spawn_serve_with_env(
        &log,
        &[
            ("ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL", "5s"),
            ("ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL", "5s"),
            ("ALLYBRIDGE_ENGINE_ORDER_POLL_INTERVAL", "5s"),
            ("ALLYBRIDGE_ENGINE_RECONCILE_INTERVAL", "5m"),
        ],
    )?;
    let health = format!("http://127.0.0.1:{port}/healthz");
    loop {
        if h.http
            .get(&health)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon did not answer /healthz within 30 s (log: {})",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let startup = started.elapsed();
    let limit = Duration::from_secs(600).max(Duration::from_millis(scale as u64 * 60));
    let differences = until_converged(&h, limit).await?;
    let converged = started.elapsed();
    // Webhook intake of the real daemon from this process, an outside
    // client: signed as the HighLevel simulator signs (the daemon verifies
    // with its key), 64 connections.
    let keys = sim_ghl::signing::WebhookKeys::get();
    let location = h.ghl.info["location_id"].as_str().unwrap_or("").to_string();
    let load = crate::post_webhooks(
        &format!("http://127.0.0.1:{port}/webhooks/ghl"),
        crate::order_webhooks(&location, webhooks, |body| keys.sign_ed25519(body)),
        INTAKE_CONNECTIONS,
    )
    .await;
    let (peak, now) = memory_mb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let (links, _) = store_counts(&h.dir.path().join("allybridge.db")).await?;
    rows.push(row(
        "daemon",
        "start-up: spawn to 200 on /healthz (release binary)",
        startup.as_secs_f64() * 1000.0,
        "ms",
        "",
        None,
    ));
    rows.push(row(
        "daemon",
        format!("converged by its own pollers and reconciler ({scale} products per side)"),
        converged.as_secs_f64(),
        "s",
        "",
        Some(differences.is_empty()),
    ));
    rows.push(row(
        "daemon",
        format!("webhook intake from an outside client: accepted ({INTAKE_CONNECTIONS} connections, SQLite)"),
        load.accepted as f64,
        "webhooks",
        format!("{webhooks}"),
        Some(load.accepted == webhooks),
    ));
    rows.push(row(
        "daemon",
        "  accepted per second",
        load.per_second(),
        "webhooks/s",
        "",
        None,
    ));
    rows.push(row(
        "daemon",
        "  ack latency p50",
        load.percentile_ms(0.5),
        "ms",
        "",
        None,
    ));
    rows.push(row(
        "daemon",
        "  ack latency p99",
        load.percentile_ms(0.99),
        "ms",
        "≤ 20 ms",
        Some(load.percentile_ms(0.99) <= 20.0),
    ));
    rows.push(row(
        "daemon",
        format!("RSS of the daemon process with {links} linked records, peak / after converging"),
        peak,
        "MB",
        format!("now {now:.1} MB"),
        None,
    ));
    Ok(())
}
