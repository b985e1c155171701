//! Products changed on both sides since the last sync resolve by the
//! tenant's conflict policy and are logged; several tenants share one
//! engine without one's failures stalling another.

use std::time::Duration;

use engine::scan::{ScanKind, scan};
use engine::{ConflictPolicy, Engine, TenantSettings};
use sandbox::{Sandbox, SandboxOptions, tenant_named};
use serde_json::{Value, json};

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|x| x[key].as_str() == Some(value))
}

async fn conflict_under(policy: ConflictPolicy) -> anyhow::Result<(String, String, usize)> {
    let sb = Sandbox::start(SandboxOptions {
        settings: TenantSettings {
            conflict_policy: policy,
            ..TenantSettings::default()
        },
        ..SandboxOptions::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let product = find(&g["products"], "name", "Composition Clinic")
        .expect("seeded")
        .clone();
    let a = sb.aa_truth().await?;
    let offering = find(&a["offerings"], "name", "Composition Clinic")
        .expect("synced")
        .clone();
    tokio::time::sleep(Duration::from_millis(1100)).await; // AccessAlly keeps seconds
    sb.control(
        "ghl",
        "PUT",
        &format!(
            "/__sim/ui/products/{}",
            product["_id"].as_str().unwrap_or("")
        ),
        Some(
            json!({"name": "Composition Clinic", "locationId": g["id"], "productType": "DIGITAL",
                    "description": "edited in HighLevel"}),
        ),
    )
    .await?;
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{}", offering["id"]),
        Some(json!({"description": "edited in AccessAlly"})),
    )
    .await?;
    sb.sync_once(ScanKind::Reconcile).await?;
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let ghl_desc = find(&g["products"], "name", "Composition Clinic")
        .map(|p| p["description"].as_str().unwrap_or("").to_string());
    let aa_desc = find(&a["offerings"], "name", "Composition Clinic")
        .map(|o| o["description"].as_str().unwrap_or("").to_string());
    let log = sb
        .engine
        .store
        .integration_log(&store::LogQuery {
            limit: 500,
            ..store::LogQuery::default()
        })
        .await?;
    let conflicts = log.iter().filter(|e| e.event.action == "conflict").count();
    Ok((
        ghl_desc.unwrap_or_default(),
        aa_desc.unwrap_or_default(),
        conflicts,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_true_conflict_resolves_by_the_policy_and_is_logged() -> anyhow::Result<()> {
    let (g, a, conflicts) = conflict_under(ConflictPolicy::GhlWins).await?;
    assert_eq!(
        (g.as_str(), a.as_str()),
        ("edited in HighLevel", "edited in HighLevel")
    );
    assert!(conflicts >= 1, "the conflict is in the integration log");
    let (g, a, conflicts) = conflict_under(ConflictPolicy::AccessallyWins).await?;
    assert_eq!(
        (g.as_str(), a.as_str()),
        ("edited in AccessAlly", "edited in AccessAlly")
    );
    assert!(conflicts >= 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_and_one_failing_site_does_not_stall_another() -> anyhow::Result<()> {
    // One HighLevel agency with two locations, each paired with its own site.
    let (ghl, _g) = sim_ghl::start(sim_ghl::SimConfig {
        seed: sim_kit::Seed::Demo,
        locations: 2,
        rate_limits: sim_ghl::auth::RateLimits::unlimited(),
        ..sim_ghl::SimConfig::default()
    })
    .await?;
    let site_a = sim_accessally::start(sim_accessally::SimConfig {
        seed: sim_kit::Seed::Empty,
        ..sim_accessally::SimConfig::for_tests()
    })
    .await?;
    let site_b = sim_accessally::start(sim_accessally::SimConfig {
        seed: sim_kit::Seed::Empty,
        ..sim_accessally::SimConfig::for_tests()
    })
    .await?;
    // Site B is down: every call fails.
    reqwest::Client::new()
        .put(format!("{}/__sim/faults", site_b.url))
        .json(&json!({"error_rate": 1.0, "error_statuses": [500]}))
        .send()
        .await?;
    let locations: Vec<String> = ghl.info["location_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let info_for = |loc: &str| {
        let mut info = ghl.info.clone();
        info["location_id"] = json!(loc);
        info["token"] = ghl.info["tokens"][loc].clone();
        info
    };
    let options = SandboxOptions {
        client_timeout: Duration::from_millis(500),
        ..SandboxOptions::default()
    };
    let dir = tempfile::tempdir()?;
    let store = store::Store::open(
        &store::Store::sqlite_url(&dir.path().join("s.db")),
        store::Keyring::new(store::MasterKey::generate()),
    )
    .await?;
    let a = tenant_named(
        &store,
        "alpha",
        &info_for(&locations[0]),
        &site_a.info,
        model::FlowMode::Write,
        &options,
    )
    .await?;
    let b = tenant_named(
        &store,
        "beta",
        &info_for(&locations[1]),
        &site_b.info,
        model::FlowMode::Write,
        &options,
    )
    .await?;
    let mut engine_options = options.engine.clone();
    engine_options.max_attempts = 3;
    let engine = Engine::new(store, vec![a.clone(), b.clone()], engine_options);
    for t in [&a, &b] {
        scan(
            &engine,
            t,
            ScanKind::Backfill,
            Some(model::Flow::ProductsToAccessally),
        )
        .await?;
    }
    engine.work_until_idle(Duration::from_secs(2)).await?;
    let truth: Value = reqwest::get(format!("{}/__sim/state", site_a.url))
        .await?
        .json()
        .await?;
    let offerings = truth["offerings"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(
        offerings, 22,
        "alpha's site got alpha's catalog despite beta's failures"
    );
    let links_a = engine
        .store
        .links(Some("alpha/product"), 0, 1000)
        .await?
        .len();
    let links_b = engine
        .store
        .links(Some("beta/product"), 0, 1000)
        .await?
        .len();
    assert_eq!((links_a, links_b), (22, 0));
    let dead = engine.store.dead_letters(0, 1000).await?;
    assert!(
        !dead.is_empty() && dead.iter().all(|j| j.payload["tenant"] == "beta"),
        "only beta's jobs failed"
    );
    Ok(())
}
