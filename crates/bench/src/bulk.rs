//! The bulk scenario: a price change across many linked products made in
//! AccessAlly, written to HighLevel at HighLevel's real limits (100 requests
//! per 10 s per location, enforced by the simulator and kept by the
//! client's budget). The catalog is first synced with the limits lifted,
//! then the limits are set and both prices of every offering change. It
//! reports the time until HighLevel matches and the HighLevel calls used,
//! each beside its physical floor: every product and price in bulk edits of
//! 30 entities, and nothing else.

use std::time::{Duration, Instant};

use anyhow::Context;
use engine::scan::{ScanKind, scan};
use model::Flow;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

use crate::{Row, row};

/// HighLevel's real limits.
const LIMITS: ghl::BudgetConfig = ghl::BudgetConfig {
    max: 100,
    interval: Duration::from_secs(10),
    daily: 200_000,
};

async fn ghl_log(sb: &Sandbox) -> anyhow::Result<Value> {
    Ok(sb
        .control("ghl", "GET", "/__sim/requests?limit=0", None)
        .await?["summary"]
        .clone())
}

pub async fn price_change(
    products: usize,
    workers: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let mut options = SandboxOptions {
        seed: sim_kit::Seed::Empty,
        ..SandboxOptions::default()
    };
    options.engine.concurrency = workers;
    options.engine.batch = i64::try_from(workers).unwrap_or(4);
    let sb = Sandbox::start(options).await?;
    for i in 0..products {
        let (a, b) = (format!("B{i}-A"), format!("B{i}-B"));
        sb.add_offering(&format!("Bulk {i:05}"), &[("97.00", &a), ("197.00", &b)])
            .await?;
    }
    sb.sync_once(ScanKind::Backfill).await?;
    anyhow::ensure!(
        sb.differences().await?.is_empty(),
        "the catalog did not sync"
    );

    // From here on, HighLevel's real limits on both ends.
    sb.control(
        "ghl",
        "PUT",
        "/__sim/rate-limits",
        Some(json!({"max": LIMITS.max, "interval_ms": LIMITS.interval.as_millis() as u64, "daily": LIMITS.daily})),
    )
    .await?;
    sb.tenant().ghl.set_rate_limits(LIMITS);
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for o in &offerings {
        let options: Vec<Value> = o["payment_options"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let amount = if p["sku"].as_str().is_some_and(|s| s.ends_with("-A")) { "89.00" } else { "179.00" };
                json!({"id": p["id"], "type": "one_time", "amount": amount, "currency": "USD", "sku": p["sku"]})
            })
            .collect();
        sb.set_payment_options(&o["id"], options).await?;
    }
    // The simulator's window starts empty: wait out the backfill's calls.
    tokio::time::sleep(LIMITS.interval).await;
    let before = ghl_log(&sb).await?;
    let started = Instant::now();
    scan(
        &sb.engine,
        sb.tenant(),
        ScanKind::Poll,
        Some(Flow::ProductsToHighlevel),
    )
    .await
    .context("the poll pass")?;
    sb.engine.work_until_idle(Duration::from_secs(1)).await?;
    let took = started.elapsed().as_secs_f64();
    let after = ghl_log(&sb).await?;
    let diffs = sb.differences().await?;
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let calls = count(&after, "total") - count(&before, "total");
    let refused = after["by_status"]["429"].as_u64().unwrap_or(0)
        - before["by_status"]["429"].as_u64().unwrap_or(0);
    // The floor: every product and price in bulk edits of 30, nothing else.
    let floor_calls = (products * 3).div_ceil(ghl::BULK_EDIT_MAX_ENTITIES) as f64;
    let per_second = f64::from(LIMITS.max) / LIMITS.interval.as_secs_f64();
    let floor_seconds = floor_calls / per_second;
    let what = format!(
        "price change across {products} linked products (2 prices each), {workers} workers"
    );
    rows.push(row(
        "bulk",
        format!("{what}: HighLevel calls"),
        calls as f64,
        "calls",
        format!("≤ {:.0} (floor {floor_calls:.0} × 1.1)", floor_calls * 1.1),
        Some(calls as f64 <= floor_calls * 1.1),
    ));
    rows.push(row(
        "bulk",
        "  calls ÷ floor",
        calls as f64 / floor_calls,
        "×",
        "≤ 1.1",
        Some(calls as f64 <= floor_calls * 1.1),
    ));
    rows.push(row(
        "bulk",
        "  time until HighLevel matches",
        took,
        "s",
        format!(
            "≤ {:.1} (floor {floor_seconds:.1} × 1.1)",
            floor_seconds * 1.1
        ),
        Some(took <= floor_seconds * 1.1),
    ));
    rows.push(row(
        "bulk",
        "  time ÷ floor",
        took / floor_seconds,
        "×",
        "≤ 1.1",
        Some(took <= floor_seconds * 1.1),
    ));
    rows.push(row(
        "bulk",
        "  HighLevel calls per changed product",
        calls as f64 / products as f64,
        "calls",
        "",
        None,
    ));
    rows.push(row(
        "bulk",
        "  answered 429",
        refused as f64,
        "calls",
        "0",
        Some(refused == 0),
    ));
    rows.push(row(
        "bulk",
        "  both sides match",
        if diffs.is_empty() { 1.0 } else { 0.0 },
        "bool",
        "1",
        Some(diffs.is_empty()),
    ));
    Ok(())
}
