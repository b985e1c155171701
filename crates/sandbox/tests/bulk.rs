//! Bulk writes to HighLevel (issue 23), end to end against both
//! simulators: AccessAlly → HighLevel product updates that are ready
//! together go out in bulk edits of at most 30 products and prices, a
//! refused record fails alone, a lost answer converges with no duplicate,
//! a second pass writes nothing, and the echo webhooks of a bulk edit write
//! nothing back. Every check reads the simulators' ground truth and request
//! logs, never the engine's own view.

use std::time::Duration;

use engine::flows::products::{Planned, plan_to_highlevel, write_updates};
use engine::flows::{Ctx, kinds};
use engine::scan::ScanKind;
use engine::worker::EngineOptions;
use sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use sim_kit::Faults;

/// Offerings made for these tests, each with two one-time prices.
const OFFERINGS: usize = 20;
const BULK_EDIT: &str = "POST /products/bulk-update/edit";
const PRICE_PUT: &str = "PUT /products/{productId}/price/{priceId}";

fn options() -> SandboxOptions {
    let mut options = SandboxOptions::default();
    // One claim takes every product job of a pass, so the 60 entities of
    // a pass need more than one bulk edit: the cap is exercised.
    options.engine = EngineOptions {
        concurrency: 32,
        batch: 64,
        ..options.engine
    };
    options
}

fn name(i: usize) -> String {
    format!("Bulk Course {i:02}")
}

/// Starts the sandbox, adds the test's offerings to AccessAlly and syncs
/// everything once.
async fn synced(options: SandboxOptions) -> anyhow::Result<Sandbox> {
    let sb = Sandbox::start(options).await?;
    for i in 0..OFFERINGS {
        let (a, b) = (format!("BULK-{i}-A"), format!("BULK-{i}-B"));
        sb.add_offering(&name(i), &[("97.00", &a), ("197.00", &b)])
            .await?;
    }
    sb.sync_once(ScanKind::Backfill).await?;
    let diffs = sb.differences().await?;
    anyhow::ensure!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    Ok(sb)
}

/// The test's offerings in AccessAlly's ground truth.
async fn test_offerings(sb: &Sandbox) -> anyhow::Result<Vec<Value>> {
    let a = sb.aa_truth().await?;
    let list: Vec<Value> = a["offerings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            o["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("Bulk Course"))
        })
        .collect();
    anyhow::ensure!(list.len() == OFFERINGS, "{} test offerings", list.len());
    Ok(list)
}

/// Changes both prices of every test offering in AccessAlly (as an
/// administrator would), keeping the payment options (their ids).
async fn change_prices(sb: &Sandbox, a: &str, b: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for o in test_offerings(sb).await? {
        let options: Vec<Value> = o["payment_options"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let sku = p["sku"].as_str().unwrap_or("");
                let amount = if sku.ends_with("-A") { a } else { b };
                json!({"id": p["id"], "type": "one_time", "amount": amount, "currency": "USD", "sku": sku})
            })
            .collect();
        sb.set_payment_options(&o["id"], options).await?;
        ids.push(o["id"].to_string());
    }
    Ok(ids)
}

/// HighLevel's request log: calls per route and status (`"201"`).
async fn ghl_calls(sb: &Sandbox) -> anyhow::Result<Value> {
    Ok(sb
        .control("ghl", "GET", "/__sim/requests?limit=0", None)
        .await?["summary"]
        .clone())
}

async fn clear_ghl_log(sb: &Sandbox) -> anyhow::Result<()> {
    sb.control("ghl", "DELETE", "/__sim/requests", None).await?;
    Ok(())
}

fn count(summary: &Value, route: &str) -> u64 {
    summary["by_route"][route].as_u64().unwrap_or(0)
}

/// Products and prices HighLevel holds.
async fn ghl_counts(sb: &Sandbox) -> anyhow::Result<(usize, usize)> {
    let g = sb.ghl_truth().await?;
    let len = |k: &str| g[k].as_array().map_or(0, Vec::len);
    Ok((len("products"), len("prices")))
}

async fn no_dead_letters(sb: &Sandbox) -> anyhow::Result<()> {
    let dead = sb.engine.store.dead_letters(0, 100).await?;
    anyhow::ensure!(
        dead.is_empty(),
        "dead letters: {:?}",
        dead.iter()
            .map(|j| (&j.record_id, &j.dead_reason))
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_workers_still_fill_bulk_edits_from_a_backlog() -> anyhow::Result<()> {
    // The daemon's default: four workers, so claims of four jobs. A
    // backlog of product changes is claimed on until a batch is full, so
    // the 60 entities of 20 products go out in 2 or 3 bulk edits, not in
    // one per claim of four (5).
    let mut options = options();
    options.engine.concurrency = 4;
    options.engine.batch = 4;
    let sb = synced(options).await?;
    clear_ghl_log(&sb).await?;
    change_prices(&sb, "88.00", "178.00").await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    let calls = ghl_calls(&sb).await?;
    let bulk = count(&calls, BULK_EDIT);
    assert!((2..=3).contains(&bulk), "{bulk} bulk edits: {calls}");
    assert_eq!(calls["writes"].as_u64(), Some(bulk), "{calls}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_change_across_products_goes_out_in_bulk_edits_under_the_cap() -> anyhow::Result<()>
{
    let sb = synced(options()).await?;
    let counts = ghl_counts(&sb).await?;
    clear_ghl_log(&sb).await?;
    change_prices(&sb, "89.00", "179.00").await?;
    let enqueued = sb.sync_once(ScanKind::Backfill).await?;
    assert_eq!(enqueued as usize, OFFERINGS, "one job per changed offering");
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    assert_eq!(ghl_counts(&sb).await?, counts, "no product or price added");
    let calls = ghl_calls(&sb).await?;
    println!("HighLevel calls for a price change across {OFFERINGS} products: {calls}");
    // 20 products with 2 prices each are 60 entities: 2 bulk edits at
    // least. The simulator refuses a bulk edit over 30 entities with a
    // 400: every one answered 201, so none carried more.
    let bulk = count(&calls, BULK_EDIT);
    assert!((2..=4).contains(&bulk), "{bulk} bulk edits for 60 entities");
    let by_status = |s: &str| calls["by_status"][s].as_u64().unwrap_or(0);
    assert_eq!(by_status("400"), 0, "no request refused: {calls}");
    assert_eq!(by_status("422"), 0, "no request refused: {calls}");
    assert_eq!(count(&calls, PRICE_PUT), 0, "no price written alone");
    // No product was read one by one: the batch plans with what its links
    // keep (or would read its products together, the list's productIds
    // filter).
    assert_eq!(count(&calls, "GET /products/{productId}"), 0, "{calls}");
    let product_lists = count(&calls, "GET /products/");
    assert!(
        (1..=4).contains(&product_lists),
        "{product_lists} product list reads: {calls}"
    );
    // Each product's prices were kept beside its link when it was synced:
    // the batch plans with them and reads none.
    assert_eq!(
        count(&calls, "GET /products/{productId}/price"),
        0,
        "{calls}"
    );
    // HighLevel calls for the products (the pass's product list page
    // included; its coupon and order list pages are the pass's own).
    let product_calls = product_lists + count(&calls, "GET /products/{productId}/price") + bulk;
    let per_record = product_calls as f64 / OFFERINGS as f64;
    assert!(
        per_record <= 0.4,
        "{per_record} HighLevel calls per changed record: {calls}"
    );
    assert_eq!(
        calls["writes"].as_u64(),
        Some(bulk),
        "the bulk edits are the only writes"
    );

    second_pass_writes_nothing(&sb).await
}

/// A second pass (a backfill, then a reconciliation) enqueues and writes
/// nothing.
async fn second_pass_writes_nothing(sb: &Sandbox) -> anyhow::Result<()> {
    let writes = sb.write_calls().await?;
    let again = sb.sync_once(ScanKind::Backfill).await?;
    assert_eq!(again, 0, "nothing changed, nothing enqueued");
    sb.sync_once(ScanKind::Reconcile).await?;
    assert_eq!(
        sb.write_calls().await?,
        writes,
        "a second pass writes nothing"
    );
    Ok(())
}

/// Sets how many of every test offering are left in AccessAlly.
async fn set_stock(sb: &Sandbox, quantity: u32) -> anyhow::Result<()> {
    for o in test_offerings(sb).await? {
        sb.control(
            "accessally",
            "PUT",
            &format!("/__sim/admin/offerings/{}", o["id"]),
            Some(json!({"availability": {"unlimited": false, "quantity": quantity}})),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_change_across_products_goes_out_in_inventory_changes() -> anyhow::Result<()> {
    let sb = synced(options()).await?;
    // Stock becomes tracked: that changes the prices' own fields too.
    set_stock(&sb, 50).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    clear_ghl_log(&sb).await?;
    // Then only the stock changes: 40 prices' quantities in one request.
    set_stock(&sb, 40).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    let g = sb.ghl_truth().await?;
    let stocked = g["prices"].as_array().map_or(0, |ps| {
        ps.iter().filter(|p| p["availableQuantity"] == 40).count()
    });
    assert_eq!(stocked, OFFERINGS * 2, "every price holds the new stock");
    let calls = ghl_calls(&sb).await?;
    assert_eq!(count(&calls, "POST /products/inventory"), 1, "{calls}");
    assert_eq!(calls["writes"].as_u64(), Some(1), "the only write: {calls}");
    assert_eq!(count(&calls, BULK_EDIT), 0, "{calls}");
    assert_eq!(
        count(&calls, "GET /products/{productId}/price"),
        0,
        "planned with the kept state: {calls}"
    );
    second_pass_writes_nothing(&sb).await
}

/// The HighLevel product linked to offering `id`.
async fn linked_product(sb: &Sandbox, id: &str) -> anyhow::Result<String> {
    Ok(ctx(sb)
        .link_by_aa("product", id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("offering {id} has no link"))?
        .highlevel_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_highlevel_change_waiting_to_sync_is_read_not_planned_from_kept_prices()
-> anyhow::Result<()> {
    let sb = synced(options()).await?;
    let offerings = test_offerings(&sb).await?;
    let waiting = offerings[0]["id"].to_string();
    let product = linked_product(&sb, &waiting).await?;
    // A HighLevel change of one product waits to be synced (its webhook's
    // job, due later).
    let job = engine::worker::job(
        sb.tenant(),
        kinds::PRODUCT_TO_AA,
        &product,
        store::Priority::Live,
    )
    .with_run_at(chrono::Utc::now() + chrono::Duration::hours(1));
    sb.engine.store.enqueue(&job).await?;
    clear_ghl_log(&sb).await?;
    change_prices(&sb, "85.00", "175.00").await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let calls = ghl_calls(&sb).await?;
    // That product's prices are read; every other product plans with the
    // prices kept at its last sync.
    assert_eq!(
        count(&calls, "GET /products/{productId}/price"),
        1,
        "{calls}"
    );
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_planned_from_stale_kept_prices_is_planned_again_from_a_read()
-> anyhow::Result<()> {
    let sb = synced(options()).await?;
    let offerings = test_offerings(&sb).await?;
    let stale = offerings[2]["id"].to_string();
    let product = linked_product(&sb, &stale).await?;
    // A price is made again in HighLevel, the same but with a new id, and
    // its webhooks are lost: the prices kept beside the link name the old
    // id (what HighLevel holds is otherwise as synced: no conflict).
    let g = sb.ghl_truth().await?;
    let location = g["id"].as_str().unwrap_or("").to_string();
    let price = g["prices"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["product"] == product.as_str()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("product {product} has no price"))?;
    sb.control(
        "ghl",
        "DELETE",
        &format!(
            "/__sim/ui/products/{product}/price/{}?locationId={location}",
            price["_id"].as_str().unwrap_or("")
        ),
        None,
    )
    .await?;
    let mut again = json!({"locationId": location});
    for key in ["name", "type", "currency", "amount", "sku"] {
        again[key] = price[key].clone();
    }
    sb.control(
        "ghl",
        "POST",
        &format!("/__sim/ui/products/{product}/price"),
        Some(again),
    )
    .await?;
    let counts = ghl_counts(&sb).await?;
    change_prices(&sb, "84.00", "174.00").await?;
    sb.sync_once(ScanKind::Backfill).await?;
    // The refused record runs again after its back-off.
    sb.engine.work_until_idle(Duration::from_secs(10)).await?;
    // The bulk edit naming the old id was refused; the others were written
    // one by one, and that product, planned again from a read, was written
    // over its new price.
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    assert_eq!(ghl_counts(&sb).await?, counts, "no product or price added");
    let again = sb.sync_once(ScanKind::Backfill).await?;
    assert_eq!(again, 0, "the links hold what was written");
    Ok(())
}

/// The context a handler of the sandbox's tenant works with, outside a job.
fn ctx(sb: &Sandbox) -> Ctx<'_> {
    Ctx {
        store: &sb.engine.store,
        tenant: sb.tenant(),
        plan: &sb.engine.plan,
        dry_run: false,
        job_id: None,
        known_products: None,
    }
}

/// Plans the updates of `ids` as a batch would, before anything is written.
async fn plan_all<'a>(
    sb: &'a Sandbox,
    ids: &[String],
) -> anyhow::Result<Vec<(Ctx<'a>, engine::flows::products::PendingUpdate)>> {
    let mut updates = Vec::new();
    for id in ids {
        match plan_to_highlevel(&ctx(sb), id).await? {
            Planned::Update(update) => updates.push((ctx(sb), *update)),
            Planned::Done(action) => anyhow::bail!("offering {id}: {action:?}, not an update"),
        }
    }
    Ok(updates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_highlevel_refuses_fails_alone_and_its_batch_is_written() -> anyhow::Result<()> {
    let sb = synced(options()).await?;
    let ids = change_prices(&sb, "88.00", "178.00").await?;
    let updates = plan_all(&sb, &ids).await?;
    // Between the plan and the write, one product goes away in HighLevel:
    // the bulk edit carrying it is refused whole (400, not found).
    let gone = &ids[3];
    let link = ctx(&sb)
        .link_by_aa("product", gone)
        .await?
        .ok_or_else(|| anyhow::anyhow!("offering {gone} has no link"))?;
    let g = sb.ghl_truth().await?;
    sb.control(
        "ghl",
        "DELETE",
        &format!(
            "/__sim/ui/products/{}?locationId={}",
            link.highlevel_id,
            g["id"].as_str().unwrap_or("")
        ),
        None,
    )
    .await?;
    clear_ghl_log(&sb).await?;
    let results = write_updates(updates).await;
    assert_eq!(results.len(), ids.len());
    for (id, result) in ids.iter().zip(&results) {
        if id == gone {
            let err = result.as_ref().expect_err("the product is gone");
            assert!(!err.is_retryable(), "dead-lettered, not retried: {err}");
        } else {
            assert!(result.is_ok(), "offering {id}: {result:?}");
        }
    }
    let calls = ghl_calls(&sb).await?;
    assert!(
        calls["by_status"]["400"].as_u64().unwrap_or(0) >= 1,
        "a bulk edit was refused: {calls}"
    );
    // Everything else is in HighLevel, and linked with the new hashes:
    // only the missing product differs.
    let diffs = sb.differences().await?;
    assert!(
        diffs.len() == 1
            && diffs
                .iter()
                .all(|d| d.contains("Bulk Course 03") || d.contains(gone)),
        "only the refused record differs:\n{}",
        diffs.join("\n")
    );
    for id in ids.iter().filter(|id| *id != gone) {
        let link = ctx(&sb).link_by_aa("product", id).await?;
        let written = plan_to_highlevel(&ctx(&sb), id).await?;
        assert!(
            matches!(written, Planned::Done(engine::Action::Skip)),
            "offering {id} is written and linked ({link:?})"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_bulk_edit_converges_with_no_duplicate() -> anyhow::Result<()> {
    let sb = synced(options()).await?;
    let counts = ghl_counts(&sb).await?;
    let ids = change_prices(&sb, "87.00", "177.00").await?;
    let updates = plan_all(&sb, &ids).await?;
    // Every answer comes after the client stopped waiting: the bulk edits
    // take effect, their answers are lost.
    let slow = Faults {
        delay_rate: 1.0,
        delay_ms: 2_500,
        ..Faults::default()
    };
    sb.control(
        "ghl",
        "PUT",
        "/__sim/faults",
        Some(serde_json::to_value(&slow)?),
    )
    .await?;
    clear_ghl_log(&sb).await?;
    let results = write_updates(updates).await;
    sb.control(
        "ghl",
        "PUT",
        "/__sim/faults",
        Some(serde_json::to_value(Faults::default())?),
    )
    .await?;
    for r in &results {
        let err = r.as_ref().expect_err("no answer came");
        assert!(err.is_retryable(), "tried again, not dead-lettered: {err}");
    }
    // The bulk edits took effect though no answer came (a lost answer is
    // not logged by the simulator: the client hung up before it).
    let diffs = sb.differences().await?;
    assert!(
        diffs.is_empty(),
        "written unanswered:\n{}",
        diffs.join("\n")
    );
    // The jobs run again (here: a pass finds the links out of date): they
    // find HighLevel as written, save the links, and write nothing.
    let writes = sb.write_calls().await?;
    sb.sync_once(ScanKind::Reconcile).await?;
    assert_eq!(sb.write_calls().await?, writes, "nothing written twice");
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    no_dead_letters(&sb).await?;
    assert_eq!(
        ghl_counts(&sb).await?,
        counts,
        "no duplicate product or price"
    );
    let links_current = sb.sync_once(ScanKind::Backfill).await?;
    assert_eq!(links_current, 0, "the links hold what was written");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_webhooks_of_a_bulk_edit_write_nothing_back() -> anyhow::Result<()> {
    let mut sb = synced(options()).await?;
    sb.go_live().await?;
    // AccessAlly's own webhooks are held back, so that the jobs of this
    // change are enqueued together below and run as one batch.
    let quiet = Faults {
        webhook_drop_rate: 1.0,
        ..Faults::default()
    };
    sb.control(
        "accessally",
        "PUT",
        "/__sim/faults",
        Some(serde_json::to_value(&quiet)?),
    )
    .await?;
    let ids = change_prices(&sb, "86.00", "176.00").await?;
    clear_ghl_log(&sb).await?;
    let (_, aa_writes) = sb.write_calls().await?;
    let back_before = sb.engine.stats.summary()["products_to_accessally"].clone();
    let jobs: Vec<_> = ids
        .iter()
        .map(|id| {
            engine::worker::job(
                sb.tenant(),
                kinds::PRODUCT_TO_GHL,
                id,
                store::Priority::Live,
            )
        })
        .collect();
    sb.engine.store.enqueue_batch(&jobs).await?;
    let converged = sb
        .eventually(Duration::from_secs(20), |g, a| {
            sandbox::compare(g, a).is_empty()
        })
        .await?;
    assert!(converged, "HighLevel took the change");
    let calls = ghl_calls(&sb).await?;
    assert!(count(&calls, BULK_EDIT) >= 2, "written in bulk: {calls}");
    // HighLevel fires a PriceUpdate per price edited; each becomes a job
    // that finds its product as it was written, and writes nothing.
    let mut echoes = 0;
    for _ in 0..100 {
        echoes = sb.engine.stats.summary()["products_to_accessally"].skipped - back_before.skipped;
        if echoes >= OFFERINGS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(echoes >= OFFERINGS as u64, "{echoes} echo jobs ran");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sb.write_calls().await?.1,
        aa_writes,
        "no write back to AccessAlly"
    );
    let summary = sb.engine.stats.summary();
    let back = &summary["products_to_accessally"];
    assert_eq!(
        (back.updated, back.created, back.dead_lettered),
        (
            back_before.updated,
            back_before.created,
            back_before.dead_lettered
        ),
        "the echoes changed nothing: {summary:?}"
    );
    Ok(())
}
