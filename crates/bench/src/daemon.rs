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

/// The links in the daemon's store (a SQLite file), read after it stopped.
async fn linked_records(store_file: &std::path::Path) -> anyhow::Result<i64> {
    use sqlx::ConnectOptions;
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store_file)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening the daemon's store {}", store_file.display()))?;
    let (links,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM links")
        .fetch_one(&mut db)
        .await
        .context("counting the daemon's links")?;
    Ok(links)
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

pub async fn run(scale: usize, rows: &mut Vec<Row>) -> anyhow::Result<()> {
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
    let differences = h.converge(limit).await?;
    let converged = started.elapsed();
    let (peak, now) = memory_mb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let links = linked_records(&h.dir.path().join("allybridge.db")).await?;
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
        format!("RSS of the daemon process with {links} linked records, peak / after converging"),
        peak,
        "MB",
        format!("now {now:.1} MB"),
        None,
    ));
    Ok(())
}
