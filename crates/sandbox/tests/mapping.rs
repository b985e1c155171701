//! `[tenant.mapping]` and `grant_via` end to end: each option, set in the
//! tenant's settings, changes what lands in the simulators — judged on their
//! ground truth (`/__sim/state`), never on the engine's view — and with the
//! option on, a second pass makes no write call.

use std::sync::Arc;
use std::time::Duration;

use engine::scan::{ScanKind, scan};
use engine::tenant::{CodeCase, GrantVia, ProductFields, ProductKey};
use engine::{Engine, TenantSettings};
use model::{Flow, FlowMode};
use sandbox::{Sandbox, SandboxOptions, checkout_body, run_pass, tenant_for};
use serde_json::{Value, json};

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn named(list_value: &Value, name: &str) -> Vec<Value> {
    list(list_value)
        .into_iter()
        .filter(|x| x["name"] == name)
        .collect()
}

fn one(list_value: &Value, name: &str) -> Value {
    let found = named(list_value, name);
    assert_eq!(found.len(), 1, "expected one `{name}`, found {found:?}");
    found[0].clone()
}

/// The prices HighLevel holds for a product.
fn prices_of(g: &Value, product: &Value) -> Vec<Value> {
    list(&g["prices"])
        .into_iter()
        .filter(|p| p["product"] == product["_id"])
        .collect()
}

async fn start(settings: TenantSettings) -> anyhow::Result<Sandbox> {
    Ok(Sandbox::start(SandboxOptions {
        settings,
        ..SandboxOptions::default()
    })
    .await?)
}

/// Another pass (a reconciliation: every product's prices are read and
/// hashed) makes no write call to either simulator.
async fn second_pass_writes_nothing(sb: &Sandbox) -> anyhow::Result<()> {
    let before = sb.write_calls().await?;
    sb.sync_once(ScanKind::Reconcile).await?;
    assert_eq!(
        sb.write_calls().await?,
        before,
        "a second pass made write calls"
    );
    Ok(())
}

/// The AccessAlly codes of the coupon `spring15` (any case) after a sync of
/// a HighLevel coupon `Spring15`, with the same code already in AccessAlly
/// in lower case.
async fn spring_codes_under(case: CodeCase) -> anyhow::Result<(Vec<String>, Sandbox)> {
    let sb = start(TenantSettings {
        coupon_code: case,
        ..TenantSettings::default()
    })
    .await?;
    sb.control(
        "accessally",
        "POST",
        "/__sim/admin/coupons",
        Some(json!({"code": "spring15", "amount": "15", "discount_type": "percent"})),
    )
    .await?;
    let g = sb.ghl_truth().await?;
    sb.control(
        "ghl",
        "POST",
        "/__sim/ui/payments/coupon",
        Some(
            json!({"altId": g["id"], "altType": "location", "name": "Spring", "code": "Spring15",
                    "discountType": "percentage", "discountValue": 15,
                    "startDate": "2024-01-01T00:00:00.000Z"}),
        ),
    )
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let a = sb.aa_truth().await?;
    let codes = list(&a["coupons"])
        .iter()
        .map(|c| text(c, "code"))
        .filter(|c| c.to_lowercase() == "spring15")
        .collect();
    Ok((codes, sb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupon_codes_are_written_in_upper_case_and_matched_ignoring_case() -> anyhow::Result<()> {
    let (preserved, _) = spring_codes_under(CodeCase::Preserve).await?;
    assert_eq!(preserved, ["Spring15"], "written as typed, one coupon");
    let (upper, sb) = spring_codes_under(CodeCase::Upper).await?;
    assert_eq!(upper, ["SPRING15"], "written in upper case, one coupon");
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let aa_codes: Vec<String> = list(&a["coupons"])
        .iter()
        .map(|c| text(c, "code"))
        .collect();
    for c in list(&g["coupons"]) {
        let code = text(&c, "code").to_uppercase();
        assert_eq!(
            aa_codes.iter().filter(|x| **x == code).count(),
            1,
            "{code} in {aa_codes:?}"
        );
    }
    second_pass_writes_nothing(&sb).await
}

/// After a first sync with an AccessAlly offering that has the name (and
/// SKU) of a HighLevel product but was made in AccessAlly: how many of each
/// side carry the name, and the offering's description.
async fn pairing_under(key: ProductKey) -> anyhow::Result<(usize, usize, String, Sandbox)> {
    let sb = start(TenantSettings {
        product_key: key,
        ..TenantSettings::default()
    })
    .await?;
    sb.control(
        "accessally",
        "POST",
        "/__sim/admin/offerings",
        Some(
            json!({"name": "Composition Clinic", "description": "Written in AccessAlly.",
                    "status": "publish", "availability": {"unlimited": true, "quantity": null},
                    "payment_options": [{"type": "one_time", "amount": "97.00", "currency": "USD",
                                         "sku": "COURSE-011"}]}),
        ),
    )
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let offerings = named(&a["offerings"], "Composition Clinic");
    let description = offerings
        .first()
        .map(|o| text(o, "description"))
        .unwrap_or_default();
    Ok((
        offerings.len(),
        named(&g["products"], "Composition Clinic").len(),
        description,
        sb,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_key_name_pairs_existing_records_instead_of_duplicating_them() -> anyhow::Result<()>
{
    let (offerings, products, _, _) = pairing_under(ProductKey::Sku).await?;
    assert_eq!(
        (offerings, products),
        (2, 2),
        "by sku, a record made on each side gets a counterpart of its own"
    );
    let (offerings, products, description, sb) = pairing_under(ProductKey::Name).await?;
    assert_eq!((offerings, products), (1, 1), "by name, one pair");
    assert_eq!(
        description, "Self-paced course: Composition Clinic.",
        "HighLevel's content won (conflict_policy ghl_wins)"
    );
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    second_pass_writes_nothing(&sb).await
}

fn course_prefix() -> TenantSettings {
    TenantSettings {
        sku_prefixes: vec!["COURSE-".into()],
        ..TenantSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sku_prefixes_sync_only_matching_products_both_ways() -> anyhow::Result<()> {
    let sb = start(course_prefix()).await?;
    let g0 = sb.ghl_truth().await?;
    let a0 = sb.aa_truth().await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let course = |p: &Value| {
        prices_of(&g, p)
            .iter()
            .any(|x| text(x, "sku").starts_with("COURSE-"))
    };
    let mut courses = 0;
    for p in list(&g["products"]) {
        let copies = named(&a["offerings"], &text(&p, "name")).len();
        if course(&p) {
            courses += 1;
            assert_eq!(copies, 1, "course {} synced", text(&p, "name"));
        } else {
            assert_eq!(copies, 0, "{} is not a course", text(&p, "name"));
        }
    }
    assert_eq!(courses, 12);
    // No AccessAlly offering has a COURSE- SKU: none reached HighLevel.
    assert_eq!(list(&g["products"]).len(), list(&g0["products"]).len());
    assert_eq!(
        list(&a["offerings"]).len(),
        list(&a0["offerings"]).len() + courses
    );
    // Coupons restricted only to memberships or goods stay out; others sync.
    let aa_codes: Vec<String> = list(&a["coupons"])
        .iter()
        .map(|c| text(c, "code"))
        .collect();
    for code in ["FIRSTMONTH", "KIT15"] {
        assert!(!aa_codes.contains(&code.to_string()), "{code} synced");
    }
    for code in ["WATER50", "LAUNCH20"] {
        assert!(aa_codes.contains(&code.to_string()), "{code} missing");
    }
    // Paid orders of courses grant access; orders of other products nothing.
    let grants = list(&a["access_grants"]);
    for o in list(&g["orders"])
        .iter()
        .filter(|o| o["paymentStatus"] == "paid")
    {
        let items = list(&o["items"]);
        let on_course = items.iter().any(|i| {
            let pid = i["product"]["_id"].as_str();
            list(&g["products"])
                .iter()
                .any(|p| p["_id"].as_str() == pid && course(p))
        });
        let prefix = format!("ghl-order:{}:", text(o, "_id"));
        let n = grants
            .iter()
            .filter(|x| text(x, "source_ref").starts_with(&prefix))
            .count();
        assert_eq!(n, usize::from(on_course), "order {}", text(o, "_id"));
    }
    // The pass says why the others were left out.
    let skipped = sb
        .engine
        .plan
        .entries()
        .into_iter()
        .filter(|e| e.note.contains("sku_prefixes (COURSE-)"))
        .count();
    assert!(skipped >= 10 + 15, "only {skipped} skips name sku_prefixes");
    // What the mapping leaves out is no drift: a reconciliation finds none.
    let report = scan(&sb.engine, sb.tenant(), ScanKind::Reconcile, None).await?;
    assert_eq!(report.drift, vec![], "excluded records reported as drift");
    assert_eq!(report.enqueued, 0);
    second_pass_writes_nothing(&sb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sku_prefixes_set_later_leave_excluded_products_alone_on_both_sides() -> anyhow::Result<()>
{
    let sb = start(TenantSettings::default()).await?;
    sb.sync_once(ScanKind::Backfill).await?;
    assert!(sb.differences().await?.is_empty());
    // The same store and simulators, now with the tenant syncing courses only.
    let options = SandboxOptions {
        settings: course_prefix(),
        ..SandboxOptions::default()
    };
    let tenant = tenant_for(
        &sb.engine.store,
        &sb.ghl_sim.info,
        sb.aa_site.info(),
        FlowMode::Write,
        &options,
    )
    .await?;
    let prefixed = Arc::new(Engine::new(
        sb.engine.store.clone(),
        vec![tenant.clone()],
        options.engine.clone(),
    ));
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    let edit_ghl = |name: &str, description: &str| {
        let p = one(&g["products"], name);
        (
            format!("/__sim/ui/products/{}", text(&p, "_id")),
            json!({"name": name, "locationId": g["id"], "productType": p["productType"],
                   "description": description}),
        )
    };
    for (name, description) in [
        ("Studio Membership", "Edited in HighLevel: excluded"),
        ("Composition Clinic", "Edited in HighLevel: a course"),
    ] {
        let (path, body) = edit_ghl(name, description);
        sb.control("ghl", "PUT", &path, Some(body)).await?;
    }
    let kit = one(&g["products"], "Brush Set Deluxe");
    sb.control(
        "ghl",
        "DELETE",
        &format!(
            "/__sim/ui/products/{}?locationId={}",
            text(&kit, "_id"),
            text(&g, "id")
        ),
        None,
    )
    .await?;
    let kids = one(&a["offerings"], "Kids Art Club");
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{}", kids["id"]),
        Some(json!({"description": "Edited in AccessAlly: excluded"})),
    )
    .await?;
    run_pass(&prefixed, &tenant, ScanKind::Reconcile).await?;
    // A job for an excluded product (a webhook would enqueue one) skips it too.
    let membership = one(&g["products"], "Studio Membership");
    prefixed
        .store
        .enqueue_batch(&[engine::worker::job(
            &tenant,
            engine::flows::kinds::PRODUCT_TO_AA,
            &text(&membership, "_id"),
            store::Priority::Live,
        )])
        .await?;
    prefixed.work_until_idle(Duration::from_secs(2)).await?;

    let g2 = sb.ghl_truth().await?;
    let a2 = sb.aa_truth().await?;
    assert_eq!(
        text(&one(&a2["offerings"], "Composition Clinic"), "description"),
        "Edited in HighLevel: a course"
    );
    assert_eq!(
        one(&a2["offerings"], "Studio Membership"),
        one(&a["offerings"], "Studio Membership"),
        "an excluded product's change stays in HighLevel"
    );
    let kit_offering = one(&a2["offerings"], "Brush Set Deluxe");
    assert_eq!(
        kit_offering["status"], "publish",
        "an excluded product deleted in HighLevel is not archived in AccessAlly"
    );
    assert_eq!(
        one(&g2["products"], "Kids Art Club"),
        one(&g["products"], "Kids Art Club"),
        "an excluded offering's change stays in AccessAlly"
    );
    let notes: Vec<String> = prefixed
        .plan
        .entries()
        .into_iter()
        .filter(|e| e.flow == Flow::ProductsToAccessally)
        .map(|e| format!("{}: {}", e.record, e.note))
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("product Studio Membership: skipped: no SKU starts with")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("deleted in HighLevel; offering") && n.contains("left alone")),
        "{notes:?}"
    );
    let before = sb.write_calls().await?;
    run_pass(&prefixed, &tenant, ScanKind::Reconcile).await?;
    assert_eq!(sb.write_calls().await?, before, "a second pass wrote");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_false_neither_compares_nor_writes_prices() -> anyhow::Result<()> {
    let sb = start(TenantSettings {
        product_fields: ProductFields {
            price: false,
            inventory: true,
        },
        ..TenantSettings::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    // Counterparts are created without prices, in both directions.
    let clinic = one(&a["offerings"], "Composition Clinic");
    assert_eq!(list(&clinic["payment_options"]), Vec::<Value>::new());
    let watercolor = one(&g["products"], "Foundations of Watercolor");
    assert!(prices_of(&g, &watercolor).is_empty());
    assert_eq!(
        text(&clinic, "description"),
        "Self-paced course: Composition Clinic."
    );
    // Availability still syncs where the other side can hold it.
    let kit = one(&a["offerings"], "Watercolour Starter Kit");
    assert_eq!(kit["availability"]["quantity"], 40);
    second_pass_writes_nothing(&sb).await?;

    // Prices edited on both sides: nothing to write.
    let price = prices_of(&g, &one(&g["products"], "Composition Clinic"))[0].clone();
    sb.control(
        "ghl",
        "PUT",
        &format!(
            "/__sim/ui/products/{}/price/{}",
            text(&price, "product"),
            text(&price, "_id")
        ),
        Some(
            json!({"name": price["name"], "type": "one_time", "currency": "USD", "amount": 123.45,
                    "locationId": g["id"], "sku": price["sku"]}),
        ),
    )
    .await?;
    let botanical = one(&a["offerings"], "Advanced Botanical Painting");
    let mut options = list(&botanical["payment_options"]);
    options[0]["amount"] = json!("555.00");
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{}", botanical["id"]),
        Some(json!({"payment_options": options})),
    )
    .await?;
    second_pass_writes_nothing(&sb).await?;
    let g2 = sb.ghl_truth().await?;
    let a2 = sb.aa_truth().await?;
    assert_eq!(
        list(&one(&a2["offerings"], "Composition Clinic")["payment_options"]),
        Vec::<Value>::new()
    );
    let botanical_product = one(&g2["products"], "Advanced Botanical Painting");
    assert!(prices_of(&g2, &botanical_product).is_empty());

    // Availability still syncs: onto HighLevel's own prices, left as they are.
    let kit = one(&a2["offerings"], "Watercolour Starter Kit");
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{}", kit["id"]),
        Some(json!({"availability": {"unlimited": false, "quantity": 7}})),
    )
    .await?;
    sb.sync_once(ScanKind::Reconcile).await?;
    let g3 = sb.ghl_truth().await?;
    let kit_prices = prices_of(&g3, &one(&g3["products"], "Watercolour Starter Kit"));
    assert_eq!(kit_prices.len(), 1);
    assert_eq!(kit_prices[0]["availableQuantity"], 7);
    assert_eq!(kit_prices[0]["amount"], 59.0);
    assert_eq!(kit_prices[0]["sku"], "GOODS-01");
    second_pass_writes_nothing(&sb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_false_neither_compares_nor_writes_availability() -> anyhow::Result<()> {
    let sb = start(TenantSettings {
        product_fields: ProductFields {
            price: true,
            inventory: false,
        },
        ..TenantSettings::default()
    })
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    // HighLevel tracks 40 kits; AccessAlly gets the kit with its price, not its stock.
    let kit = one(&a["offerings"], "Watercolour Starter Kit");
    assert_eq!(kit["availability"]["unlimited"], true);
    assert_eq!(list(&kit["payment_options"])[0]["amount"], "59.00");
    // AccessAlly limits the botanical course to 40; HighLevel's prices track nothing.
    let botanical = one(&g["products"], "Advanced Botanical Painting");
    let prices = prices_of(&g, &botanical);
    assert_eq!(prices.len(), 2);
    for p in &prices {
        assert_ne!(p["trackInventory"], true, "{p}");
        assert!(p["availableQuantity"].is_null(), "{p}");
    }
    second_pass_writes_nothing(&sb).await?;

    // Stock edited on both sides: nothing to write.
    let kit_product = one(&g["products"], "Watercolour Starter Kit");
    let kit_price = prices_of(&g, &kit_product)[0].clone();
    sb.control(
        "ghl",
        "PUT",
        &format!(
            "/__sim/ui/products/{}/price/{}",
            text(&kit_price, "product"),
            text(&kit_price, "_id")
        ),
        Some(
            json!({"name": kit_price["name"], "type": "one_time", "currency": "USD", "amount": 59.0,
                    "locationId": g["id"], "sku": kit_price["sku"], "trackInventory": true,
                    "availableQuantity": 5}),
        ),
    )
    .await?;
    let aa_botanical = one(&a["offerings"], "Advanced Botanical Painting");
    sb.control(
        "accessally",
        "PUT",
        &format!("/__sim/admin/offerings/{}", aa_botanical["id"]),
        Some(json!({"availability": {"unlimited": false, "quantity": 3}})),
    )
    .await?;
    second_pass_writes_nothing(&sb).await?;
    let a2 = sb.aa_truth().await?;
    assert_eq!(
        one(&a2["offerings"], "Watercolour Starter Kit")["availability"]["unlimited"],
        true
    );
    Ok(())
}

/// The HighLevel contact of an AccessAlly buyer after only the orders flow
/// to HighLevel ran: its tags.
async fn tags_after_orders(settings: TenantSettings) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let sb = start(settings).await?;
    scan(
        &sb.engine,
        sb.tenant(),
        ScanKind::Backfill,
        Some(Flow::OrdersToHighlevel),
    )
    .await?;
    sb.engine.work_until_idle(Duration::from_secs(2)).await?;
    let a = sb.aa_truth().await?;
    let g = sb.ghl_truth().await?;
    let tags_of_status = |status: &str| -> anyhow::Result<Vec<String>> {
        let order = list(&a["orders"])
            .into_iter()
            .find(|o| o["status"] == status)
            .ok_or_else(|| anyhow::anyhow!("no {status} order in the seed"))?;
        let invoice = format!("AccessAlly order #{}", order["id"]);
        let paid = list(&g["invoices"])
            .iter()
            .any(|i| text(i, "name") == invoice && i["status"] == "paid");
        anyhow::ensure!(paid, "{invoice} is not a paid invoice");
        let email = text(&order["buyer"], "email").to_lowercase();
        let contact = list(&g["contacts"])
            .into_iter()
            .find(|c| text(c, "email").to_lowercase() == email)
            .ok_or_else(|| anyhow::anyhow!("no contact for {email}"))?;
        Ok(list(&contact["tags"])
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect())
    };
    Ok((
        tags_of_status("partially_refunded")?,
        tags_of_status("refunded")?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunded_order_statuses_decide_what_is_recorded_as_refunded() -> anyhow::Result<()> {
    let (partial, full) = tags_after_orders(TenantSettings::default()).await?;
    assert!(
        partial.contains(&"accessally-refunded".to_string()),
        "{partial:?}"
    );
    assert!(
        full.contains(&"accessally-refunded".to_string()),
        "{full:?}"
    );
    let (partial, full) = tags_after_orders(TenantSettings {
        completed_statuses: vec![
            "success".into(),
            "sca_success".into(),
            "partially_refunded".into(),
        ],
        refunded_statuses: vec!["refunded".into()],
        ..TenantSettings::default()
    })
    .await?;
    assert!(
        partial.contains(&"accessally-buyer".to_string()),
        "{partial:?}"
    );
    assert!(
        !partial.contains(&"accessally-refunded".to_string()),
        "a partial refund now counts as paid: {partial:?}"
    );
    assert!(
        full.contains(&"accessally-refunded".to_string()),
        "{full:?}"
    );
    Ok(())
}

/// Grants in AccessAlly for the HighLevel order that was unpaid in the seed
/// and is marked partially paid before the sync.
async fn partially_paid_grants(paid: &[&str]) -> anyhow::Result<(usize, Sandbox)> {
    let sb = start(TenantSettings {
        paid_payment_statuses: paid.iter().map(|s| s.to_string()).collect(),
        ..TenantSettings::default()
    })
    .await?;
    let g = sb.ghl_truth().await?;
    let order = list(&g["orders"])
        .into_iter()
        .find(|o| o["paymentStatus"] == "unpaid")
        .ok_or_else(|| anyhow::anyhow!("no unpaid order in the seed"))?;
    let id = text(&order, "_id");
    sb.control(
        "ghl",
        "POST",
        &format!("/__sim/orders/{id}/status"),
        Some(json!({"paymentStatus": "partially_paid"})),
    )
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let a = sb.aa_truth().await?;
    let prefix = format!("ghl-order:{id}:");
    let n = list(&a["access_grants"])
        .iter()
        .filter(|x| text(x, "source_ref").starts_with(&prefix))
        .count();
    Ok((n, sb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_payment_statuses_decide_which_orders_grant_access() -> anyhow::Result<()> {
    let (by_default, _) = partially_paid_grants(&["paid"]).await?;
    assert_eq!(by_default, 0, "partially paid grants nothing by default");
    let (configured, sb) = partially_paid_grants(&["paid", "partially_paid"]).await?;
    assert_eq!(
        configured, 1,
        "partially paid counts as paid when configured"
    );
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    for o in list(&g["orders"])
        .iter()
        .filter(|o| o["paymentStatus"] == "refunded")
    {
        let prefix = format!("ghl-order:{}:", text(o, "_id"));
        assert!(
            !list(&a["access_grants"])
                .iter()
                .any(|x| text(x, "source_ref").starts_with(&prefix)),
            "a refunded order granted access"
        );
    }
    second_pass_writes_nothing(&sb).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aal_genpass_grants_through_the_command_once() -> anyhow::Result<()> {
    let sb = start(TenantSettings {
        grant_via: GrantVia::AalGenpass,
        ..TenantSettings::default()
    })
    .await?;
    let g = sb.ghl_truth().await?;
    let order = list(&g["orders"])
        .into_iter()
        .find(|o| o["paymentStatus"] == "paid")
        .ok_or_else(|| anyhow::anyhow!("no paid order in the seed"))?;
    let email = text(&order["contactSnapshot"], "email");
    // The buyer bought at the site before: AccessAlly knows their CRM contact.
    let a = sb.aa_truth().await?;
    let offering = list(&a["offerings"])
        .into_iter()
        .find(|o| !list(&o["payment_options"]).is_empty())
        .ok_or_else(|| anyhow::anyhow!("no offering to buy"))?;
    sb.control(
        "accessally",
        "POST",
        "/__sim/checkout",
        Some(checkout_body(
            &email,
            offering["id"].as_u64().unwrap_or(0),
            offering["payment_options"][0]["id"].as_u64().unwrap_or(0),
            None,
        )),
    )
    .await?;
    sb.sync_once(ScanKind::Backfill).await?;
    let a = sb.aa_truth().await?;
    let contact = list(&a["contacts"])
        .into_iter()
        .find(|c| text(c, "email").eq_ignore_ascii_case(&email))
        .ok_or_else(|| anyhow::anyhow!("no CRM contact for {email}"))?;
    let crm_id = text(&contact, "crm_contact_id");
    let genpass: Vec<Value> = list(&a["aal_log"])
        .into_iter()
        .filter(|e| e["command"] == "aal_genpass")
        .collect();
    assert_eq!(genpass.len(), 1, "{genpass:?}");
    assert_eq!(genpass[0]["contact_id"], crm_id.as_str());
    assert_eq!(genpass[0]["status"], 200);
    assert!(contact["wp_user_id"].as_u64().is_some());
    assert!(
        !list(&a["access_grants"])
            .iter()
            .any(|x| text(x, "source_ref").starts_with("ghl-order:")),
        "no Bridge API grant was made"
    );
    // Buyers the site's CRM does not show are dead-lettered with what to do.
    let dead = sb.engine.store.dead_letters(0, 100).await?;
    assert!(!dead.is_empty());
    for j in &dead {
        assert_eq!(j.kind, engine::flows::kinds::ORDER_TO_AA);
        let reason = j.dead_reason.clone().unwrap_or_default();
        assert!(
            reason.contains("grant_via = \"bridge\"") && reason.contains("no AccessAlly order of"),
            "{reason}"
        );
    }
    second_pass_writes_nothing(&sb).await?;
    let a2 = sb.aa_truth().await?;
    let again = list(&a2["aal_log"])
        .iter()
        .filter(|e| e["command"] == "aal_genpass")
        .count();
    assert_eq!(again, 1, "aal_genpass was sent again");
    Ok(())
}
