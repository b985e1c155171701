//! Two daemons on one PostgreSQL: two `allybridge serve` processes share
//! one store (a fresh PostgreSQL database) and the same configuration,
//! both receive every HighLevel webhook, and both poll and reconcile. They
//! backfill together and then live changes arrive on both sides. Both
//! sides converge, and no record is written twice: each record the daemons
//! created had exactly one successful create call in the simulators'
//! request logs. Skipped with a printed reason when PostgreSQL is
//! unreachable (a failure when `CI` is set).

use std::time::{Duration, Instant};

use reliability::{Harness, TestPostgres, creates, free_port, kill9};
use sandbox::checkout_body;
use serde_json::{Value, json};
use sim_kit::{Faults, Seed};

fn count(v: &Value, key: &str) -> usize {
    v[key].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_on_one_postgres_write_each_record_once() -> anyhow::Result<()> {
    let started = Instant::now();
    let Some(db) = TestPostgres::create().await? else {
        return Ok(());
    };
    let result = run(&db.url).await;
    db.drop_db().await?;
    result?;
    println!("two daemons: {:.1?}", started.elapsed());
    Ok(())
}

async fn run(url: &str) -> anyhow::Result<()> {
    let h = Harness::start(Seed::Demo, Faults::default(), Some(url)).await?;
    let ports = [free_port()?, free_port()?];
    h.control(
        "ghl",
        "PUT",
        "/__sim/webhooks",
        Some(json!({"urls": ports.iter().map(|p| format!("http://127.0.0.1:{p}/webhooks/ghl")).collect::<Vec<_>>()})),
    )
    .await?;
    let g0 = h.ghl_truth().await?;
    let a0 = h.aa_truth().await?;
    let mut children = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let log = h.dir.path().join(format!("serve{i}.log"));
        children.push((
            h.spawn_serve_on(&log, Some(&format!("127.0.0.1:{port}")))?,
            log,
        ));
    }
    // Live changes while both backfill: HighLevel renames and prices, AccessAlly checkouts.
    let products = g0["products"].as_array().cloned().unwrap_or_default();
    let offerings = a0["offerings"].as_array().cloned().unwrap_or_default();
    for i in 0..8usize {
        let p = &products[i % products.len()];
        let pid = p["_id"].as_str().unwrap_or_default();
        h.control(
            "ghl",
            "PUT",
            &format!("/__sim/ui/products/{pid}"),
            Some(
                json!({"name": format!("{} (two daemons {i})", p["name"].as_str().unwrap_or("")),
                        "locationId": g0["id"], "productType": p["productType"]}),
            ),
        )
        .await?;
        let o = &offerings[i % offerings.len()];
        h.control(
            "accessally",
            "POST",
            "/__sim/checkout",
            Some(checkout_body(
                &format!("two{i}@example.com"),
                o["id"].as_u64().unwrap_or(0),
                o["payment_options"][0]["id"].as_u64().unwrap_or(0),
                None,
            )),
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let diffs = h.converge(Duration::from_secs(60)).await;
    // Let in-flight jobs finish before counting the calls.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut alive = 0;
    for (child, _) in &mut children {
        if child.try_wait()?.is_none() {
            alive += 1;
        }
        kill9(child)?;
    }
    let diffs = diffs?;
    let logs: String = children
        .iter()
        .map(|(_, l)| std::fs::read_to_string(l).unwrap_or_default())
        .collect();
    assert!(
        diffs.is_empty(),
        "not converged:\n{}\n{logs}",
        diffs.join("\n")
    );
    assert_eq!(alive, 2, "both daemons ran to the end:\n{logs}");
    let g = h.ghl_truth().await?;
    let a = h.aa_truth().await?;
    let ghl_log = h.requests("ghl").await?;
    let aa_log = h.requests("accessally").await?;
    let new_invoices = count(&g, "invoices") - count(&g0, "invoices");
    let new_products = count(&g, "products") - count(&g0, "products");
    let new_offerings = count(&a, "offerings") - count(&a0, "offerings");
    let new_coupons = count(&a, "coupons") - count(&a0, "coupons");
    assert_eq!(
        creates(&ghl_log, "/invoices/"),
        new_invoices,
        "invoice creates"
    );
    assert_eq!(
        creates(&ghl_log, "/products/"),
        new_products,
        "product creates"
    );
    assert_eq!(
        creates(&aa_log, "/offerings"),
        new_offerings,
        "offering creates"
    );
    assert_eq!(creates(&aa_log, "/coupons"), new_coupons, "coupon creates");
    let payments = ghl_log
        .iter()
        .filter(|e| {
            e["method"] == "POST"
                && e["status"].as_u64().is_some_and(|s| s < 300)
                && e["route"]
                    .as_str()
                    .is_some_and(|r| r.ends_with("/record-payment"))
        })
        .count();
    let paid = |v: &Value| {
        v["invoices"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|i| i["status"] == "paid").count())
    };
    assert_eq!(
        payments,
        paid(&g) - paid(&g0),
        "one payment per paid invoice"
    );
    println!(
        "two daemons: {new_offerings} offerings, {new_products} products, {new_coupons} coupons, \
         {new_invoices} invoices and {payments} payments, each written once; {} API calls",
        ghl_log.len() + aa_log.len()
    );
    Ok(())
}
