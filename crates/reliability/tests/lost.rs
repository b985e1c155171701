//! Lost webhooks and permanent errors. With the HighLevel simulator
//! dropping 30 % of its deliveries during live changes, the changes the
//! dropped webhooks announced never arrive by themselves; one reconciliation
//! pass repairs all of them. A record AccessAlly refuses for good (a 4xx
//! that no retry can fix) ends in the dead-letter queue after one attempt,
//! with the site's reason, while transient faults around it never do.

use std::time::Duration;

use engine::scan::ScanKind;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use sim_kit::Faults;

fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reconciliation_repairs_every_dropped_webhook() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut sb = Sandbox::start(SandboxOptions {
        fault_seed: Some(11),
        ..SandboxOptions::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    assert!(sb.differences().await?.is_empty());
    sb.go_live().await?;
    sb.control(
        "ghl",
        "PUT",
        "/__sim/faults",
        Some(json!({"webhook_drop_rate": 0.3})),
    )
    .await?;
    let g = sb.ghl_truth().await?;
    let loc = g["id"].clone();
    let products = g["products"].as_array().cloned().unwrap_or_default();
    let changes = products.len().min(20);
    let mut wanted = Vec::new();
    for (i, p) in products.iter().take(changes).enumerate() {
        let pid = p["_id"].as_str().unwrap_or_default();
        let name = format!("{} (renamed {i})", p["name"].as_str().unwrap_or(""));
        sb.control(
            "ghl",
            "PUT",
            &format!("/__sim/ui/products/{pid}"),
            Some(json!({"name": name, "locationId": loc, "productType": p["productType"]})),
        )
        .await?;
        wanted.push(name);
    }
    // The live path delivers what was not dropped: wait until it stops progressing.
    let arrived = |a: &Value| {
        let have = names(a, "offerings");
        wanted.iter().filter(|n| have.contains(n)).count()
    };
    let mut last = (0, tokio::time::Instant::now());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let n = arrived(&sb.aa_truth().await?);
        if n == changes || (n == last.0 && last.1.elapsed() > Duration::from_millis(1500)) {
            last.0 = n;
            break;
        }
        if n != last.0 {
            last = (n, tokio::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = last.0;
    assert!(
        live < changes,
        "some changes were lost with their webhooks ({live}/{changes} arrived live)"
    );
    // One reconciliation.
    sb.sync_once(ScanKind::Reconcile).await?;
    let a = sb.aa_truth().await?;
    assert_eq!(
        arrived(&a),
        changes,
        "one reconciliation repaired every lost change"
    );
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged: {diffs:?}");
    println!(
        "lost webhooks: {changes} changes, {live} arrived live, {} repaired by one reconciliation, {:.1?}",
        changes - live,
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_dead_letters_with_its_reason() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let sb = Sandbox::start(SandboxOptions {
        fault_seed: Some(5),
        ..SandboxOptions::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    // A coupon code AccessAlly cannot hold (more than 100 characters).
    let g = sb.ghl_truth().await?;
    let code = format!("LONG{}", "X".repeat(120));
    sb.control(
        "ghl",
        "POST",
        "/__sim/ui/payments/coupon",
        Some(
            json!({"altId": g["id"], "altType": "location", "name": "Too long for AccessAlly",
                    "code": code, "discountType": "amount", "discountValue": 5,
                    "startDate": chrono::Utc::now().to_rfc3339()}),
        ),
    )
    .await?;
    // 20 % transient faults around it.
    sb.set_faults(&Faults {
        error_rate: 0.2,
        error_statuses: vec![429, 500, 502, 503],
        ..Faults::default()
    })
    .await?;
    sb.sync_once(ScanKind::Poll).await?;
    sb.set_faults(&Faults::default()).await?;
    let dead = sb.engine.store.dead_letters(0, 100).await?;
    let reasons: Vec<String> = dead
        .iter()
        .map(|j| j.dead_reason.clone().unwrap_or_default())
        .collect();
    assert_eq!(dead.len(), 1, "exactly the refused coupon: {reasons:?}");
    assert!(
        reasons[0].contains("code"),
        "the reason names the refused field: {}",
        reasons[0]
    );
    assert_eq!(dead[0].attempts, 1, "a permanent error is not retried");
    println!(
        "dead letter: kind {:?}, attempts {:?}, reason: {}, {:.1?}",
        dead[0].kind,
        dead[0].attempts,
        reasons[0],
        started.elapsed()
    );
    Ok(())
}
