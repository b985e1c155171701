//! The rate-budget scenario: ten HighLevel locations at HighLevel's real
//! limits (100 requests per 10 s each, enforced by the simulator), each with
//! a backfill far larger than its budget and a live event stream at the same
//! time, all through the client's shared per-location budget. Measures the
//! share of the budget the client used, the 429s it received, and how long a
//! live read waited behind the backfill (p50/p99).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::Value;

use crate::{Row, row};

/// Backfill readers per location: many more than the budget lets through.
const BACKFILL_TASKS: usize = 8;

pub async fn run(locations: usize, seconds: u64, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let limits = sim_ghl::auth::RateLimits::default();
    let (sim, _state) = sim_ghl::start(sim_ghl::SimConfig {
        seed: sim_kit::Seed::Generated(50),
        locations,
        rate_limits: limits,
        ..sim_ghl::SimConfig::default()
    })
    .await
    .context("starting the HighLevel simulator")?;
    let tokens = sim.info["tokens"]
        .as_object()
        .context("the simulator printed no location tokens")?
        .clone();
    // One budget for every client, as in the daemon: keyed by location.
    let budget = ghl::RateBudget::new(ghl::BudgetConfig {
        max: limits.max,
        interval: limits.interval,
        daily: limits.daily,
    });
    let mut clients = Vec::new();
    for (location, token) in &tokens {
        let token = token.as_str().context("a location token is not a string")?;
        let client = ghl::GhlClient::new(
            ghl::GhlConfig::new(sim.url.clone(), location.clone()),
            ghl::Auth::PrivateToken(SecretString::from(token.to_string())),
            budget.clone(),
        )?;
        // The record ids to read (the listing itself is not measured).
        let ids: Vec<String> = client
            .products(ghl::Priority::Live)
            .map_ok(|p| p.id)
            .try_collect()
            .await?;
        let ids = if ids.is_empty() {
            vec!["missing-product".to_string()]
        } else {
            ids
        };
        clients.push((Arc::new(client), Arc::new(ids)));
    }
    // Let the listing's requests leave the window before measuring.
    tokio::time::sleep(limits.interval).await;
    let before = request_summary(&sim.url).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut backfill = Vec::new();
    let mut live = Vec::new();
    let started = Instant::now();
    for (client, ids) in &clients {
        for task in 0..BACKFILL_TASKS {
            let (client, ids, stop) = (client.clone(), ids.clone(), stop.clone());
            backfill.push(tokio::spawn(async move {
                let mut n = task;
                while !stop.load(Ordering::Relaxed) {
                    let _ = client
                        .get_product(&ids[n % ids.len()], ghl::Priority::Backfill)
                        .await;
                    n += BACKFILL_TASKS;
                }
            }));
        }
        // Live events: one every 500 ms per location, each a fresh read.
        let (client, ids, stop) = (client.clone(), ids.clone(), stop.clone());
        live.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let at = Instant::now();
                if client
                    .get_product(&ids[n % ids.len()], ghl::Priority::Live)
                    .await
                    .is_ok()
                {
                    latencies.push(at.elapsed());
                }
                n += 1;
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    for task in live {
        latencies.extend(task.await?);
    }
    for task in backfill {
        task.abort();
    }
    let after = request_summary(&sim.url).await?;

    let answered = count(&after, |status| status != 429) - count(&before, |status| status != 429);
    let refused = count(&after, |status| status == 429) - count(&before, |status| status == 429);
    // A sliding window lets through `max` per `interval`: the most a
    // location can get in `elapsed` is max × elapsed / interval.
    let allowed = f64::from(limits.max) * elapsed.as_secs_f64() / limits.interval.as_secs_f64()
        * tokens.len() as f64;
    let share = answered as f64 / allowed * 100.0;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    rows.push(row(
        "budget",
        format!(
            "calls answered ({} locations × {} per {} s, {:.0} s, {} live reads)",
            tokens.len(),
            limits.max,
            limits.interval.as_secs(),
            elapsed.as_secs_f64(),
            latencies.len()
        ),
        answered as f64,
        "calls",
        "",
        None,
    ));
    rows.push(row(
        "budget",
        "share of the budget used",
        share,
        "%",
        "≥ 95 %",
        Some(share >= 95.0),
    ));
    rows.push(row(
        "budget",
        "429 answers received",
        refused as f64,
        "answers",
        "0",
        Some(refused == 0),
    ));
    rows.push(row(
        "budget",
        "live read latency p50, behind the backfill",
        p50,
        "ms",
        "",
        None,
    ));
    rows.push(row(
        "budget",
        "live read latency p99, behind the backfill",
        p99,
        "ms",
        "≤ 2,000 ms",
        Some(p99 <= 2_000.0),
    ));
    Ok(())
}

async fn request_summary(url: &str) -> anyhow::Result<Value> {
    let answer: Value = reqwest::get(format!("{url}/__sim/requests?limit=0"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(answer["summary"]["by_status"].clone())
}

/// Requests whose status passes `wanted`, from a `by_status` summary.
fn count(by_status: &Value, wanted: impl Fn(u16) -> bool) -> u64 {
    by_status
        .as_object()
        .map(|statuses| {
            statuses
                .iter()
                .filter(|(status, _)| status.parse::<u16>().is_ok_and(&wanted))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}
