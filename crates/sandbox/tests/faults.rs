//! Nothing lost, nothing doubled: with a fifth of all calls failing on both
//! sides (429, 5xx, responses lost past the client's timeout) and webhooks
//! dropped, duplicated and reordered, both sides still converge, with no
//! duplicate product, offering, coupon, contact or invoice. Reconciliation
//! repairs what the lost webhooks never announced.

use std::time::Duration;

use engine::scan::ScanKind;
use sandbox::{Sandbox, SandboxOptions, checkout_body};
use serde_json::{Value, json};
use sim_kit::Faults;

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|x| x[key].as_str() == Some(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_faults_and_lost_webhooks() -> anyhow::Result<()> {
    let faults = Faults {
        error_rate: 0.2,
        error_statuses: vec![429, 500, 502, 503],
        delay_rate: 0.03,
        delay_ms: 400,
        webhook_drop_rate: 0.3,
        webhook_duplicate_rate: 0.2,
        webhook_reorder_rate: 0.2,
    };
    let mut sb = Sandbox::start(SandboxOptions {
        faults,
        fault_seed: Some(42),
        client_timeout: Duration::from_millis(300),
        ..SandboxOptions::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    sb.go_live().await?;
    // Live activity on both sides while faults continue.
    let g = sb.ghl_truth().await?;
    let loc = g["id"].clone();
    for (i, p) in g["products"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .take(6)
        .enumerate()
    {
        let pid = p["_id"].as_str().unwrap_or_default();
        let body = json!({"name": format!("{} v2", p["name"].as_str().unwrap_or("")), "locationId": loc,
                          "productType": p["productType"], "description": "Edited live"});
        sb.control(
            "ghl",
            "PUT",
            &format!("/__sim/ui/products/{pid}"),
            Some(body),
        )
        .await?;
        if i % 2 == 0 {
            sb.control(
                "ghl",
                "POST",
                &format!("/__sim/ui/products/{pid}/price"),
                Some(
                    json!({"name": "Extra", "type": "one_time", "currency": "USD", "amount": 10 + i,
                            "locationId": loc}),
                ),
            )
            .await?;
        }
    }
    let a = sb.aa_truth().await?;
    for (i, o) in a["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .take(4)
        .enumerate()
    {
        let option = o["payment_options"][0]["id"].as_u64().unwrap_or(0);
        sb.control(
            "accessally",
            "POST",
            "/__sim/checkout",
            Some(checkout_body(
                &format!("fault{i}@example.com"),
                o["id"].as_u64().unwrap_or(0),
                option,
                None,
            )),
        )
        .await?;
    }
    // Let the live path do what it can, then reconcile what webhooks lost.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut diffs = Vec::new();
    for _ in 0..4 {
        sb.sync_once(ScanKind::Reconcile).await?;
        diffs = sb.differences().await?;
        if diffs.is_empty() {
            break;
        }
    }
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    let truth = sb.aa_truth().await?;
    assert!(find(&truth["offerings"], "description", "Edited live").is_some());
    let dead = sb.engine.store.dead_letters(0, 100).await?;
    assert!(
        dead.is_empty(),
        "transient faults never dead-letter: {:?}",
        dead.iter()
            .map(|j| j.dead_reason.clone())
            .collect::<Vec<_>>()
    );
    let reports = sb.engine.store.drift_reports(None, 10).await;
    println!("drift reports: {:?}", reports.map(|r| r.len()));
    println!("{}", serde_json::to_string(&sb.engine.stats.summary())?);
    Ok(())
}
