//! The bulk scenario: a price change across many linked products made in
//! AccessAlly, written to HighLevel at HighLevel's real limits (100 requests
//! per 10 s per location, enforced by the simulator and kept by the
//! client's budget). The catalog is first synced with the limits lifted,
//! then the limits are set and both prices of every offering change.
//!
//! Two phases:
//! 1. the change alone, found by a poll and worked off: the time until
//!    HighLevel matches and the HighLevel calls used, each beside its
//!    physical floor (every product and price in bulk edits of 30
//!    entities, and nothing else);
//! 2. the prices change back, and while the daemon's workers (webhooks on)
//!    work off that backlog, single live changes to other offerings arrive
//!    one by one: the time from each change in AccessAlly until HighLevel
//!    holds it (p50/p99, target ≤ 2 s).

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

/// Products whose prices change back in phase 2 (each bulk edit's echo
/// webhooks cost HighLevel reads: a bigger backlog only takes longer).
const LIVE_BACKLOG: usize = 300;
/// Offerings changed one at a time while the backlog runs (phase 2).
const PROBES: usize = 20;
/// Time between two live changes.
const PROBE_EVERY: Duration = Duration::from_millis(1_000);
/// A live change not in HighLevel by then counts as this late.
const PROBE_LIMIT: Duration = Duration::from_secs(60);

async fn ghl_log(sb: &Sandbox) -> anyhow::Result<Value> {
    Ok(sb
        .control("ghl", "GET", "/__sim/requests?limit=0", None)
        .await?["summary"]
        .clone())
}

/// The options of an offering with both prices set to `a` and `b`.
fn repriced(offering: &Value, a: &str, b: &str) -> Vec<Value> {
    offering["payment_options"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let amount = if p["sku"].as_str().is_some_and(|s| s.ends_with("-A")) {
                a
            } else {
                b
            };
            json!({"id": p["id"], "type": "one_time", "amount": amount, "currency": "USD", "sku": p["sku"]})
        })
        .collect()
}

/// Reprices the first `limit` offerings whose name starts with `prefix`.
async fn reprice_all(
    sb: &Sandbox,
    offerings: &[Value],
    (prefix, limit): (&str, usize),
    a: &str,
    b: &str,
) -> anyhow::Result<()> {
    for o in offerings
        .iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .take(limit)
    {
        sb.set_payment_options(&o["id"], repriced(o, a, b)).await?;
    }
    Ok(())
}

/// Sets how many of an offering are left in AccessAlly.
async fn set_stock(sb: &Sandbox, offering: &Value, quantity: u32) -> anyhow::Result<()> {
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{offering}"),
        Some(json!({"availability": {"unlimited": false, "quantity": quantity}})),
    )
    .await?;
    Ok(())
}

/// What a poll pass and its jobs cost.
struct Polled {
    /// HighLevel calls.
    calls: u64,
    /// HighLevel calls answered 429.
    refused: u64,
    /// Seconds until the jobs were done.
    took: f64,
    /// What still differs.
    diffs: Vec<String>,
}

/// HighLevel's real limits from here on, on both ends: enforced by the
/// simulator, kept by the client's budget.
async fn real_limits(sb: &Sandbox) -> anyhow::Result<()> {
    sb.control(
        "ghl",
        "PUT",
        "/__sim/rate-limits",
        Some(json!({"max": LIMITS.max, "interval_ms": LIMITS.interval.as_millis() as u64, "daily": LIMITS.daily})),
    )
    .await?;
    sb.tenant().ghl.set_rate_limits(LIMITS);
    Ok(())
}

/// A poll of AccessAlly's offerings: enqueues a job per changed one.
async fn poll_offerings(sb: &Sandbox) -> anyhow::Result<()> {
    scan(
        &sb.engine,
        sb.tenant(),
        ScanKind::Poll,
        Some(Flow::ProductsToHighlevel),
    )
    .await
    .context("polling AccessAlly's offerings")?;
    Ok(())
}

/// HighLevel calls made between two request-log summaries, and those of
/// them answered 429.
fn spent(before: &Value, after: &Value) -> (u64, u64) {
    let count = |v: &Value| v["total"].as_u64().unwrap_or(0);
    let refused = |v: &Value| v["by_status"]["429"].as_u64().unwrap_or(0);
    (
        count(after) - count(before),
        refused(after) - refused(before),
    )
}

/// Waits out the simulator's window (the calls before count there), then
/// polls AccessAlly's offerings and works off the jobs it finds.
async fn polled(sb: &Sandbox) -> anyhow::Result<Polled> {
    tokio::time::sleep(LIMITS.interval).await;
    let before = ghl_log(sb).await?;
    let started = Instant::now();
    poll_offerings(sb).await?;
    sb.engine.work_until_idle(Duration::from_secs(1)).await?;
    let took = started.elapsed().as_secs_f64();
    let after = ghl_log(sb).await?;
    let routes = |v: &Value| v["by_route"].as_object().cloned().unwrap_or_default();
    let (routes_before, routes_after) = (routes(&before), routes(&after));
    for (route, n) in &routes_after {
        let was = routes_before
            .get(route)
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if n.as_u64().unwrap_or(0) > was {
            eprintln!("bulk: {route}: {}", n.as_u64().unwrap_or(0) - was);
        }
    }
    let (calls, refused) = spent(&before, &after);
    Ok(Polled {
        calls,
        refused,
        took,
        diffs: sb.differences().await?,
    })
}

/// Both simulators empty, the engine with `workers` workers claiming as
/// many jobs at a time (as the daemon does).
async fn empty_sandbox(workers: usize) -> anyhow::Result<Sandbox> {
    let mut options = SandboxOptions {
        seed: sim_kit::Seed::Empty,
        ..SandboxOptions::default()
    };
    options.engine.concurrency = workers;
    options.engine.batch = i64::try_from(workers).unwrap_or(4);
    Ok(Sandbox::start(options).await?)
}

/// The rows every bulk measurement ends with: HighLevel's 429s (none
/// allowed) and whether both sides match.
fn outcome_rows(rows: &mut Vec<Row>, refused: u64, diffs: &[String]) {
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
}

/// Waits until the queue is empty (nothing pending or running).
async fn queue_empty(sb: &Sandbox, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let stats = sb.engine.store.queue_stats().await?;
        if stats.pending == 0 && stats.running == 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the queue was not empty after {limit:?}: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The amount (minor units) of a HighLevel product's price named by the
/// SKU's ending, read as the UI reads it (outside the rate limit).
async fn ghl_amount(sb: &Sandbox, product: &str, sku_end: &str) -> anyhow::Result<Option<i64>> {
    let location = sb.tenant().ghl.location_id().to_string();
    let prices = sb
        .control(
            "ghl",
            "GET",
            &format!("/__sim/ui/products/{product}/price?locationId={location}"),
            None,
        )
        .await?;
    Ok(prices["prices"].as_array().and_then(|ps| {
        ps.iter()
            .find(|p| p["sku"].as_str().is_some_and(|s| s.ends_with(sku_end)))
            .and_then(|p| p["amount"].as_f64())
            .map(|a| (a * 100.0).round() as i64)
    }))
}

pub async fn price_change(
    products: usize,
    workers: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let mut sb = empty_sandbox(workers).await?;
    for i in 0..products {
        let (a, b) = (format!("B{i}-A"), format!("B{i}-B"));
        let offering = sb
            .add_offering(&format!("Bulk {i:05}"), &[("97.00", &a), ("197.00", &b)])
            .await?;
        set_stock(&sb, &offering["id"], 50).await?;
    }
    for i in 0..PROBES {
        let (a, b) = (format!("P{i}-A"), format!("P{i}-B"));
        sb.add_offering(&format!("Probe {i:02}"), &[("50.00", &a), ("60.00", &b)])
            .await?;
    }
    sb.sync_once(ScanKind::Backfill).await?;
    anyhow::ensure!(
        sb.differences().await?.is_empty(),
        "the catalog did not sync"
    );

    real_limits(&sb).await?;
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    reprice_all(&sb, &offerings, ("Bulk ", products), "89.00", "179.00").await?;
    let Polled {
        calls,
        refused,
        took,
        diffs,
    } = polled(&sb).await?;
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
    outcome_rows(rows, refused, &diffs);

    // Stock: every offering's quantity changes, nothing else.
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for o in offerings
        .iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| n.starts_with("Bulk ")))
    {
        set_stock(&sb, &o["id"], 40).await?;
    }
    let stock = polled(&sb).await?;
    let items = products * 2;
    let floor_calls = items.div_ceil(engine::flows::products::INVENTORY_ITEMS_PER_CALL) as f64;
    let floor_seconds = floor_calls / per_second;
    rows.push(row(
        "bulk",
        format!("stock change across {products} linked products ({items} prices): HighLevel calls"),
        stock.calls as f64,
        "calls",
        format!("≤ {:.0} (1 per 100 items)", items as f64 / 100.0),
        Some(stock.calls as f64 <= items as f64 / 100.0),
    ));
    rows.push(row(
        "bulk",
        "  calls ÷ floor",
        stock.calls as f64 / floor_calls,
        "×",
        "≤ 1.1",
        Some(stock.calls as f64 <= floor_calls * 1.1),
    ));
    rows.push(row(
        "bulk",
        "  time until HighLevel matches",
        stock.took,
        "s",
        format!("floor {floor_seconds:.1}"),
        None,
    ));
    outcome_rows(rows, stock.refused, &stock.diffs);

    // Phase 2: a backlog again (at most 300 products: each bulk edit's
    // echo webhooks cost reads), with live changes during it.
    let probes = probe_products(&sb).await?;
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    reprice_all(&sb, &offerings, ("Bulk ", LIVE_BACKLOG), "97.00", "197.00").await?;
    tokio::time::sleep(LIMITS.interval).await;
    sb.go_live().await?;
    let before = ghl_log(&sb).await?;
    let started = Instant::now();
    poll_offerings(&sb).await?;
    let mut latencies = Vec::with_capacity(PROBES);
    let mut during_backlog = 0;
    for (i, (offering, product)) in probes.iter().enumerate() {
        tokio::time::sleep(PROBE_EVERY).await;
        let backlog = sb.engine.store.queue_stats().await?.pending > 0;
        let cents = 7_000 + i64::try_from(i).unwrap_or(0);
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        sb.set_payment_options(&offering["id"], repriced(offering, &amount, "60.00"))
            .await?;
        let changed = Instant::now();
        loop {
            if ghl_amount(&sb, product, "-A").await? == Some(cents) {
                break;
            }
            if changed.elapsed() >= PROBE_LIMIT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.push(changed.elapsed().as_secs_f64());
        if changed.elapsed() > Duration::from_secs(1) {
            let key = engine::flows::dedupe_key(
                sb.tenant(),
                engine::flows::kinds::PRODUCT_TO_GHL,
                &offering["id"].to_string(),
            );
            for job in sb.engine.store.jobs_for_dedupe_key(&key).await? {
                eprintln!(
                    "bulk: a live change took {:.2} s; its job {} ({:?}) was created {} and finished {:?}, attempts {}, last error {:?}",
                    changed.elapsed().as_secs_f64(),
                    job.id,
                    job.state,
                    job.created_at.format("%H:%M:%S%.3f"),
                    job.finished_at
                        .map(|t| t.format("%H:%M:%S%.3f").to_string()),
                    job.attempts,
                    job.last_error
                );
            }
        }
        if backlog {
            during_backlog += 1;
        }
    }
    queue_empty(&sb, Duration::from_secs(600)).await?;
    let took = started.elapsed().as_secs_f64();
    let (_, refused) = spent(&before, &ghl_log(&sb).await?);
    let diffs = sb.differences().await?;
    for d in diffs.iter().take(5) {
        eprintln!("bulk: still different after the live phase: {d}");
    }
    eprintln!("bulk: live change latencies (s): {latencies:.2?}");
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let at = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
        latencies[at - 1]
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    rows.push(row(
        "bulk",
        format!("live change while the backlog runs ({during_backlog} of {PROBES} during it): p50"),
        p50,
        "s",
        "",
        None,
    ));
    rows.push(row(
        "bulk",
        "  live change p99",
        p99,
        "s",
        "≤ 2",
        Some(p99 <= 2.0),
    ));
    rows.push(row(
        "bulk",
        "  the backlog with live changes beside it: time",
        took,
        "s",
        "",
        None,
    ));
    outcome_rows(rows, refused, &diffs);
    Ok(())
}

/// The probe offerings and their HighLevel products' ids (by their links).
async fn probe_products(sb: &Sandbox) -> anyhow::Result<Vec<(Value, String)>> {
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut probes = Vec::new();
    for o in offerings
        .into_iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| n.starts_with("Probe ")))
    {
        let id = o["id"].to_string();
        let links = sb
            .engine
            .store
            .find_links(
                &sb.tenant().entity("product"),
                store::System::AccessAlly,
                &[id.as_str()],
            )
            .await?;
        let product = links
            .into_iter()
            .next()
            .map(|l| l.highlevel_id)
            .with_context(|| format!("no HighLevel product is linked to {}", o["name"]))?;
        probes.push((o, product));
    }
    Ok(probes)
}

/// A backfill of `products` offerings (2 prices each) into an empty
/// location at HighLevel's real limits: the calls it takes beside the
/// minimum (a create per product and per price, HighLevel's product list
/// read once), the share of the location's budget it used while it ran,
/// and the 429s it got.
pub async fn backfill_at_limits(
    products: usize,
    workers: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    let sb = empty_sandbox(workers).await?;
    for i in 0..products {
        let (a, b) = (format!("F{i}-A"), format!("F{i}-B"));
        sb.add_offering(&format!("Fill {i:05}"), &[("97.00", &a), ("197.00", &b)])
            .await?;
    }
    real_limits(&sb).await?;
    let before = ghl_log(&sb).await?;
    let started = Instant::now();
    sb.sync_once(ScanKind::Backfill).await?;
    let took = started.elapsed().as_secs_f64();
    let (calls, refused) = spent(&before, &ghl_log(&sb).await?);
    let diffs = sb.differences().await?;
    let per_second = f64::from(LIMITS.max) / LIMITS.interval.as_secs_f64();
    let minimum = (products * 3 + products.div_ceil(100)) as f64;
    let budget_share = calls as f64 / (took * per_second);
    rows.push(row(
        "bulk",
        format!("backfill of {products} products (2 prices each) at real limits: HighLevel calls"),
        calls as f64,
        "calls",
        format!("minimum {minimum:.0}"),
        None,
    ));
    rows.push(row(
        "bulk",
        "  calls ÷ minimum",
        calls as f64 / minimum,
        "×",
        "",
        None,
    ));
    rows.push(row("bulk", "  time", took, "s", "", None));
    rows.push(row(
        "bulk",
        "  share of the location's budget used",
        budget_share * 100.0,
        "%",
        "≥ 95",
        Some(budget_share >= 0.95),
    ));
    outcome_rows(rows, refused, &diffs);
    Ok(())
}
