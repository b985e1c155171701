//! The sync end to end on a real WordPress: the engine with the HighLevel
//! simulator on one side and a fresh `wordpress/dev/up` site with the
//! allybridge plugin on the other. A backfill both ways, live changes both
//! ways (webhooks from the plugin's outbox and from the simulator), a
//! reconciliation, and a second pass that writes nothing; convergence is
//! judged on both sides' ground truth (the plugin's tables read in
//! WordPress, the simulator's `/__sim/state`), never on the engine's view.

use std::time::Duration;

use anyhow::{Context, Result};
use engine::scan::ScanKind;
use reqwest::Method;
use sandbox::{Sandbox, SandboxOptions, checkout_body};
use serde_json::{Value, json};
use wordpress_site::Site;

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|x| x[key].as_str() == Some(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_converges_both_ways_on_a_real_wordpress_site() -> Result<()> {
    let Some(guard) = Site::fresh_or_skip("sync")? else {
        return Ok(());
    };
    let site = &guard.site;
    // An offering that exists only in WordPress, with an order for it.
    let own = site
        .control(
            Method::POST,
            "/admin/offerings",
            Some(json!({"name": "WordPress Only Course", "description": "made in wp-admin",
                        "payment_options": [{"type": "one_time", "amount": "88.00", "currency": "USD"}]})),
        )
        .await?;

    let mut sb = Sandbox::start(SandboxOptions {
        wordpress: Some(site.info.clone()),
        ..SandboxOptions::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let differences = sb.differences().await?;
    assert!(
        differences.is_empty(),
        "after the backfill: {differences:?}"
    );
    let g = sb.ghl_truth().await?;
    assert!(
        find(&g["products"], "name", "WordPress Only Course").is_some(),
        "the WordPress offering reached HighLevel"
    );
    let a = site.state().await?;
    let offerings = a["offerings"].as_array().map_or(0, Vec::len);
    assert!(
        offerings > 5,
        "HighLevel's catalog reached WordPress: {offerings} offerings"
    );
    let grants = a["access_grants"].as_array().cloned().unwrap_or_default();
    assert!(
        grants.iter().all(|g| g["user_exists"] == true),
        "every grant has its WordPress user: {grants:?}"
    );

    sb.go_live().await?;
    // A price edited in HighLevel reaches the WordPress offering.
    sb.edit_ghl_price("Composition Clinic", 123.45).await?;
    let arrived = sb
        .eventually(Duration::from_secs(15), |_, a| {
            find(&a["offerings"], "name", "Composition Clinic")
                .and_then(|o| o["payment_options"].as_array())
                .is_some_and(|opts| opts.iter().any(|x| x["amount"] == "123.45"))
        })
        .await?;
    assert!(arrived, "the new HighLevel price never reached WordPress");

    // A price edited in WordPress reaches HighLevel through the plugin's webhook.
    let own_id = own["id"].as_u64().context("offering id")?;
    let option_id = own["payment_options"][0]["id"]
        .as_u64()
        .context("option id")?;
    site.control(
        Method::PUT,
        &format!("/admin/offerings/{own_id}"),
        Some(json!({"payment_options": [{"id": option_id, "type": "one_time", "amount": "77.00", "currency": "USD"}]})),
    )
    .await?;
    let arrived = sb
        .eventually(Duration::from_secs(15), |g, _| {
            let Some(p) = find(&g["products"], "name", "WordPress Only Course") else {
                return false;
            };
            g["prices"].as_array().is_some_and(|prices| {
                prices
                    .iter()
                    .any(|x| x["product"] == p["_id"] && x["amount"].as_f64() == Some(77.0))
            })
        })
        .await?;
    assert!(arrived, "the WordPress price never reached HighLevel");

    // A checkout in WordPress becomes a paid invoice in HighLevel.
    let order = site
        .control(
            Method::POST,
            "/checkout",
            Some(checkout_body(
                "wp.buyer@example.com",
                own_id,
                option_id,
                None,
            )),
        )
        .await?;
    let name = format!("AccessAlly order #{}", order["id"]);
    let paid = sb
        .eventually(Duration::from_secs(15), |g, _| {
            find(&g["invoices"], "name", &name).is_some_and(|i| i["status"] == "paid")
        })
        .await?;
    assert!(paid, "{name} was not recorded in HighLevel");

    // A reconciliation finds both sides equal; a second pass writes nothing.
    sb.sync_once(ScanKind::Reconcile).await?;
    let differences = sb.differences().await?;
    assert!(differences.is_empty(), "after reconciling: {differences:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sb.write_calls().await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let after = sb.write_calls().await?;
    assert_eq!(before, after, "a second pass writes nothing on either side");
    site.check_php_log()?;
    Ok(())
}
