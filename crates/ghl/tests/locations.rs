//! Ten locations writing in bulk at once, at HighLevel's real limits (100
//! requests per 10 s per location, enforced by the simulator): one budget
//! shared by every client, keyed by location, lets each location use its
//! whole window without one refusal, and no location's work waits for
//! another's.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::*;
use futures::TryStreamExt;
use ghl::types::ProductEdit;
use ghl::{Auth, BudgetConfig, GhlClient, Priority, RateBudget};
use secrecy::SecretString;
use sim_ghl::SimConfig;
use sim_ghl::auth::RateLimits;

const LOCATIONS: usize = 10;
/// Bulk edits per location: more than one window's worth.
const EDITS: usize = 110;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_locations_writing_in_bulk_at_real_limits_get_no_429() {
    let limits = RateLimits::default();
    assert_eq!(
        (limits.max, limits.interval),
        (100, Duration::from_secs(10))
    );
    let env = sim(SimConfig {
        seed: sim_kit::Seed::Generated(5),
        locations: LOCATIONS,
        rate_limits: limits,
        ..SimConfig::default()
    })
    .await;
    let tokens = env.info["tokens"]
        .as_object()
        .expect("one token per location")
        .clone();
    assert_eq!(tokens.len(), LOCATIONS);
    let budget = RateBudget::new(BudgetConfig::default());
    let mut work = Vec::new();
    for (location, token) in &tokens {
        let mut config = env.config();
        config.location_id = location.clone();
        let token = SecretString::from(token.as_str().expect("a token").to_string());
        let client = Arc::new(
            GhlClient::new(config, Auth::PrivateToken(token), budget.clone()).expect("a client"),
        );
        let products: Vec<_> = client
            .products(Priority::Live)
            .try_collect()
            .await
            .expect("the location's products");
        // Each product renamed to its own name: a real bulk edit that
        // changes nothing, repeatable as often as the test needs.
        let edits: Vec<ProductEdit> = products
            .iter()
            .map(|p| ProductEdit {
                id: p.id.clone(),
                name: Some(p.name.clone()),
                ..ProductEdit::default()
            })
            .collect();
        assert!(!edits.is_empty());
        work.push((client, edits));
    }
    // (The listings are in each location's window too: the budget counts them.)
    let before = env.requests().await["summary"].clone();
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(client, edits)| {
            tokio::spawn(async move {
                let started = Instant::now();
                for _ in 0..EDITS {
                    client
                        .bulk_edit_products(&edits)
                        .await
                        .expect("a bulk edit");
                }
                started.elapsed()
            })
        })
        .collect();
    let mut each = Vec::new();
    for task in tasks {
        each.push(task.await.expect("the location's work"));
    }
    let elapsed = started.elapsed();
    let after = env.requests().await["summary"].clone();
    let count = |v: &serde_json::Value, k: &str| v["by_status"][k].as_u64().unwrap_or(0);
    assert_eq!(
        count(&after, "429"),
        count(&before, "429"),
        "refused: {after}"
    );
    let edits = after["by_route"]["POST /products/bulk-update/edit"]
        .as_u64()
        .unwrap_or(0)
        - before["by_route"]["POST /products/bulk-update/edit"]
            .as_u64()
            .unwrap_or(0);
    assert_eq!(edits, (LOCATIONS * EDITS) as u64);
    // 110 calls at 100 per 10 s need the second window, and not much more:
    // every location ran side by side, none behind another.
    for took in &each {
        assert!(*took >= limits.interval, "{took:?}: the limit was not kept");
        assert!(
            *took < limits.interval * 2,
            "{took:?}: a location waited for others"
        );
    }
    println!(
        "{LOCATIONS} locations × {EDITS} bulk edits in {elapsed:?}, 0 × 429 ({} calls per second)",
        (LOCATIONS * EDITS) as f64 / elapsed.as_secs_f64()
    );
}
