//! Live changes through webhooks: the daemon's intake, the queue and the
//! workers. Checks read the simulators' ground truth.

use std::time::Duration;

use engine::scan::ScanKind;
use sandbox::{Sandbox, SandboxOptions, checkout_body};
use serde_json::{Value, json};

fn find<'a>(list: &'a Value, key: &str, value: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|x| x[key].as_str() == Some(value))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_arrive_and_echoes_are_dropped() -> anyhow::Result<()> {
    let mut sb = Sandbox::start(SandboxOptions::default()).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    assert!(sb.differences().await?.is_empty());
    sb.go_live().await?;
    let (ghl_writes, _) = sb.write_calls().await?;

    // A price edited in HighLevel reaches the AccessAlly offering.
    sb.edit_ghl_price("Composition Clinic", 123.45).await?;
    let arrived = sb
        .eventually(Duration::from_secs(10), |_, a| {
            find(&a["offerings"], "name", "Composition Clinic")
                .and_then(|o| o["payment_options"].as_array())
                .is_some_and(|opts| opts.iter().any(|x| x["amount"] == "123.45"))
        })
        .await?;
    assert!(arrived, "the new price never reached AccessAlly");
    // The product was synced a moment ago: HighLevel's report of a change
    // could be that sync's echo, so its job queued after live work (and
    // still ran).
    let g = sb.ghl_truth().await?;
    let product = find(&g["products"], "name", "Composition Clinic")
        .and_then(|p| p["_id"].as_str())
        .expect("the product")
        .to_string();
    let jobs = sb
        .engine
        .store
        .jobs_for_dedupe_key(&engine::flows::dedupe_key(
            sb.tenant(),
            engine::flows::kinds::PRODUCT_TO_AA,
            &product,
        ))
        .await?;
    let last = jobs.iter().max_by_key(|j| j.id).expect("its job");
    assert_eq!(last.priority, store::Priority::Poll, "{last:?}");

    // A checkout in AccessAlly becomes a paid invoice on the buyer's contact.
    let a = sb.aa_truth().await?;
    let offering = find(&a["offerings"], "name", "Composition Clinic")
        .expect("offering")
        .clone();
    let option = offering["payment_options"][0]["id"].as_u64().unwrap_or(0);
    let order = sb
        .control(
            "accessally",
            "POST",
            "/__sim/checkout",
            Some(checkout_body(
                "live.buyer@example.com",
                offering["id"].as_u64().unwrap_or(0),
                option,
                None,
            )),
        )
        .await?;
    let name = format!("AccessAlly order #{}", order["id"]);
    let paid = sb
        .eventually(Duration::from_secs(10), |g, _| {
            find(&g["invoices"], "name", &name).is_some_and(|i| i["status"] == "paid")
        })
        .await?;
    assert!(paid, "{name} was not recorded in HighLevel");
    let g = sb.ghl_truth().await?;
    let contact =
        find(&g["contacts"], "email", "live.buyer@example.com").expect("contact upserted");
    assert!(
        contact["tags"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("accessally-buyer")))
    );
    assert!(g["transactions"].as_array().is_some_and(|t| {
        t.iter()
            .any(|x| x["entityType"] == "invoice" && x["contactId"] == contact["id"])
    }));

    // Our own write to AccessAlly came back as offering.updated: dropped,
    // so HighLevel saw writes only for the order (contact, invoice, payment, tags, note).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ghl_writes_now, _) = sb.write_calls().await?;
    assert_eq!(
        ghl_writes_now - ghl_writes,
        5,
        "only the order's five writes reached HighLevel"
    );
    // The echo's job may run after the job that wrote the offering saved
    // its link ("unchanged") or while it still runs (jobs are claimed as
    // others run): then it finds HighLevel already equal. Either way it is
    // a skip, and the count of writes above shows it wrote nothing.
    let echoes = sb
        .engine
        .plan
        .entries()
        .into_iter()
        .filter(|e| {
            e.flow == model::Flow::ProductsToHighlevel
                && e.action == engine::Action::Skip
                && (e.note == "unchanged" || e.note == "already equal")
        })
        .count();
    assert!(
        echoes >= 1,
        "the echo of our own offering write was recognised"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupon_edits_without_webhooks_are_picked_up_by_polling() -> anyhow::Result<()> {
    let sb = Sandbox::start(SandboxOptions::default()).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let coupon = find(&g["coupons"], "code", "TENOFF")
        .expect("seeded coupon")
        .clone();
    let mut edit = json!({"altId": g["id"], "altType": "location", "id": coupon["_id"], "name": "Fifteen off",
                          "code": "TENOFF", "discountType": "amount", "discountValue": 15,
                          "startDate": coupon["startDate"]});
    edit["usageLimit"] = json!(50);
    sb.control("ghl", "PUT", "/__sim/ui/payments/coupon", Some(edit))
        .await?;
    // Deleted in HighLevel: disabled in AccessAlly.
    let gone = find(&g["coupons"], "code", "KIT15")
        .expect("seeded coupon")
        .clone();
    sb.control(
        "ghl",
        "DELETE",
        "/__sim/ui/payments/coupon",
        Some(json!({"altId": g["id"], "altType": "location", "id": gone["_id"]})),
    )
    .await?;
    let enqueued = sb.sync_once(ScanKind::Poll).await?;
    assert_eq!(
        enqueued, 2,
        "the poll found exactly the edited and the deleted coupon"
    );
    let a = sb.aa_truth().await?;
    let c = find(&a["coupons"], "code", "TENOFF").expect("AccessAlly coupon");
    assert_eq!(c["amount"], "15.00");
    assert_eq!(c["usage_limit"], 50);
    let k = find(&a["coupons"], "code", "KIT15").expect("kept, disabled");
    assert!(
        k["date_expires"].is_string(),
        "a deleted coupon is expired in AccessAlly, not left active: {k}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_observe_write_nothing_and_report_the_same_plan() -> anyhow::Result<()> {
    let mut options = SandboxOptions::default();
    options.engine.dry_run = true;
    let dry = Sandbox::start(options).await?;
    dry.sync_once(ScanKind::Backfill).await?;
    assert_eq!(
        dry.write_calls().await?,
        (0, 0),
        "a dry run calls no write endpoint"
    );
    let observe = Sandbox::start(SandboxOptions {
        mode: model::FlowMode::Observe,
        ..SandboxOptions::default()
    })
    .await?;
    observe.sync_once(ScanKind::Backfill).await?;
    assert_eq!(
        observe.write_calls().await?,
        (0, 0),
        "observe mode writes nothing"
    );
    let counts = |sb: &Sandbox| sb.engine.plan.counts();
    assert_eq!(counts(&dry), counts(&observe), "both report the same plan");
    let creates: u64 = counts(&dry).values().filter_map(|m| m.get("create")).sum();
    assert!(
        creates > 30,
        "the plan lists the creates: {:?}",
        counts(&dry)
    );
    Ok(())
}

/// A single live change does not queue behind a backlog a poll found: with
/// every worker slot busy with batches of polled changes (each HighLevel
/// answer held back 250 ms, so a batch takes seconds), the live change is
/// in HighLevel before any polled change is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_change_overtakes_a_polled_backlog() -> anyhow::Result<()> {
    let mut options = SandboxOptions {
        seed: sim_kit::Seed::Empty,
        ..SandboxOptions::default()
    };
    options.engine.concurrency = 2;
    options.engine.batch = 2;
    let mut sb = Sandbox::start(options).await?;
    for i in 0..40 {
        let (a, b) = (format!("Q{i}-A"), format!("Q{i}-B"));
        sb.add_offering(&format!("Backlog {i:02}"), &[("10.00", &a), ("20.00", &b)])
            .await?;
    }
    sb.add_offering("Live one", &[("30.00", "L-A")]).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    assert!(sb.differences().await?.is_empty());
    let offerings: Vec<Value> = sb.aa_truth().await?["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reprice = |o: &Value, amount: &str| -> Vec<Value> {
        o["payment_options"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| json!({"id": p["id"], "type": "one_time", "amount": amount, "currency": "USD", "sku": p["sku"]}))
            .collect()
    };
    // The backlog: changed while no webhook is subscribed, found by a poll.
    // Its links keep no HighLevel state (as after an upgrade from a version
    // that kept none), so each batch reads every product's prices.
    for o in offerings
        .iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| n.starts_with("Backlog")))
    {
        sb.set_payment_options(&o["id"], reprice(o, "11.00"))
            .await?;
        let link = sb
            .engine
            .store
            .find_link(
                &sb.tenant().entity("product"),
                store::System::AccessAlly,
                &o["id"].to_string(),
            )
            .await?
            .expect("a linked offering");
        sb.engine
            .store
            .forget_highlevel_state(&link.entity_type, &link.highlevel_id)
            .await?;
    }
    sb.go_live().await?;
    sb.control(
        "ghl",
        "PUT",
        "/__sim/faults",
        Some(json!({"delay_rate": 1.0, "delay_ms": 250})),
    )
    .await?;
    engine::scan::scan(
        &sb.engine,
        sb.tenant(),
        ScanKind::Poll,
        Some(model::Flow::ProductsToHighlevel),
    )
    .await?;
    // Every slot holds a batch of the backlog.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sb.engine.store.queue_stats().await?.running < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backlog never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let live = offerings
        .iter()
        .find(|o| o["name"] == "Live one")
        .expect("the live offering");
    sb.set_payment_options(&live["id"], reprice(live, "31.00"))
        .await?;
    let price_of = |g: &Value, sku: &str| -> Option<f64> {
        g["prices"]
            .as_array()?
            .iter()
            .find(|p| p["sku"] == sku)
            .and_then(|p| p["amount"].as_f64())
    };
    let arrived = sb
        .eventually(Duration::from_secs(20), |g, _| {
            price_of(g, "L-A") == Some(31.0)
        })
        .await?;
    assert!(arrived, "the live change never reached HighLevel");
    let g = sb.ghl_truth().await?;
    let polled_done = (0..40)
        .filter(|i| price_of(&g, &format!("Q{i}-A")) == Some(11.0))
        .count();
    assert_eq!(
        polled_done, 0,
        "the live change waited for the backlog: {polled_done} polled changes were written first"
    );
    // The backlog still finishes.
    sb.control("ghl", "PUT", "/__sim/faults", Some(json!({})))
        .await?;
    let all = sb
        .eventually(Duration::from_secs(30), |g, _| {
            (0..40).all(|i| price_of(g, &format!("Q{i}-A")) == Some(11.0))
        })
        .await?;
    assert!(all, "the backlog did not finish");
    Ok(())
}
