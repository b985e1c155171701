//! The HighLevel simulator's bulk product endpoints behave as the
//! single-record ones do: the same field rules (and messages) for the same
//! fields, a bulk edit changes only the fields it carries, and a refused
//! bulk request changes nothing at all.

mod common;

use common::*;
use serde_json::{Value, json};

/// Products and prices of the location, as the ground truth holds them.
async fn catalog(s: &TestSim) -> (Value, Value) {
    let state = s.state().await;
    (state["products"].clone(), state["prices"].clone())
}

async fn fixture(s: &TestSim) -> (String, String, String, String) {
    let a = s.create_product("A").await;
    let b = s.create_product("B").await;
    let aid = a["_id"].as_str().unwrap().to_string();
    let bid = b["_id"].as_str().unwrap().to_string();
    let a1 = s.create_price(&aid, 10.0).await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    let b1 = s.create_price(&bid, 20.0).await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    (aid, bid, a1, b1)
}

#[tokio::test]
async fn bulk_edit_checks_fields_by_the_single_record_rules() {
    let s = spawn(sim_ghl::SimConfig::default()).await;
    let (aid, _, a1, _) = fixture(&s).await;
    let bad = json!({"currency": "DOLLARS", "amount": -1, "totalCycles": 0,
                     "recurring": {"interval": "fortnight", "intervalCount": 0}});
    let mut single = json!({"name": "Full", "type": "one_time", "locationId": s.location});
    for (k, v) in bad.as_object().unwrap() {
        single[k] = v.clone();
    }
    let one = s
        .call("PUT", &format!("/products/{aid}/price/{a1}"), Some(single))
        .await;
    assert_eq!(one.status, 422);
    let mut price = bad.clone();
    price["_id"] = json!(a1);
    let many = s
        .call(
            "POST",
            "/products/bulk-update/edit",
            Some(json!({"altId": s.location, "altType": "location",
                        "products": [{"_id": aid, "availableInStore": "yes", "prices": [price]}]})),
        )
        .await;
    assert_eq!(many.status, 422);
    let strip = |v: &Value, prefix: &str| -> Vec<String> {
        let mut m: Vec<String> = v["message"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str()?.strip_prefix(prefix).map(str::to_string))
            .collect();
        m.sort();
        m
    };
    assert_eq!(
        strip(&one.body, ""),
        strip(&many.body, "products.0.prices.0.")
    );
    assert!(
        strip(&many.body, "products.0.")
            .contains(&"availableInStore must be a boolean value".into()),
        "{}",
        many.body
    );
}

#[tokio::test]
async fn bulk_edit_changes_only_the_fields_it_carries() {
    let s = spawn(sim_ghl::SimConfig::default()).await;
    let (aid, _, a1, _) = fixture(&s).await;
    let a = s
        .call(
            "POST",
            "/products/bulk-update/edit",
            Some(json!({"altId": s.location, "altType": "location", "products": [
                {"_id": aid, "description": "new", "prices": [{"_id": a1, "amount": 12.5, "currency": "eur"}]}]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.body,
        json!({"message": "Products updated successfully", "status": true, "updatedCount": 1})
    );
    let (products, prices) = catalog(&s).await;
    let product = products
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_id"] == aid.as_str())
        .unwrap();
    assert_eq!(product["name"], "A", "left as it was");
    assert_eq!(product["description"], "new");
    let price = prices
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_id"] == a1.as_str())
        .unwrap();
    assert_eq!(price["amount"], 12.5);
    assert_eq!(
        price["currency"], "EUR",
        "kept upper-case, as a PUT keeps it"
    );
    assert_eq!(
        price["sku"], "SKU-1",
        "left as it was (a PUT would clear it)"
    );
}

#[tokio::test]
async fn a_refused_bulk_request_changes_nothing() {
    let s = spawn(sim_ghl::SimConfig::default()).await;
    let (aid, bid, a1, b1) = fixture(&s).await;
    let before = catalog(&s).await;
    let refused = [
        (
            "/products/bulk-update/edit",
            json!({"altId": s.location, "altType": "location", "products": [
                {"_id": aid, "name": "changed"},
                {"_id": "000000000000000000000000", "name": "unknown"}]}),
        ),
        (
            "/products/bulk-update/edit",
            json!({"altId": s.location, "altType": "location", "products": [
                {"_id": aid, "name": "changed", "prices": [{"_id": a1, "amount": 1}]},
                {"_id": bid, "prices": [{"_id": a1, "amount": 2}]}]}),
        ),
        (
            "/products/bulk-update",
            json!({"altId": s.location, "altType": "location", "type": "bulk-update-price",
                   "productIds": [aid, bid], "price": {"type": "REDUCE_BY_AMOUNT", "value": 15}}),
        ),
        (
            "/products/bulk-update",
            json!({"altId": s.location, "altType": "location", "type": "bulk-delete-products",
                   "productIds": [aid, "000000000000000000000000"]}),
        ),
        (
            "/products/inventory",
            json!({"altId": s.location, "altType": "location",
                   "items": [{"priceId": b1, "availableQuantity": 3}, {"priceId": "nope"}]}),
        ),
    ];
    for (path, body) in refused {
        let a = s.call("POST", path, Some(body.clone())).await;
        assert_eq!(a.status, 400, "{path} {body}: {}", a.body);
        assert_eq!(catalog(&s).await, before, "{path} {body} changed something");
    }
    // The location is the token's: another one's is refused.
    let other = s
        .call(
            "POST",
            "/products/bulk-update/edit",
            Some(
                json!({"altId": "someoneelse", "altType": "location", "products": [{"_id": aid}]}),
            ),
        )
        .await;
    assert_eq!(other.status, 403);
    assert_eq!(catalog(&s).await, before);
}

#[tokio::test]
async fn bulk_update_applies_each_kind_of_change() {
    let s = spawn(sim_ghl::SimConfig::default()).await;
    let (aid, bid, a1, b1) = fixture(&s).await;
    let run = |body: Value| {
        let s = &s;
        async move {
            let mut body = body;
            body["altId"] = json!(s.location);
            body["altType"] = json!("location");
            let a = s.call("POST", "/products/bulk-update", Some(body)).await;
            assert_eq!(a.status, 201, "{}", a.body);
            assert_eq!(a.body["status"], true);
        }
    };
    let price = |prices: &Value, id: &str| {
        prices
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["_id"] == id)
            .unwrap()
            .clone()
    };
    run(
        json!({"type": "bulk-update-price", "productIds": [aid, bid, aid],
               "price": {"type": "INCREASE_BY_AMOUNT", "value": 0.99}}),
    )
    .await;
    let (_, prices) = catalog(&s).await;
    assert_eq!(
        price(&prices, &a1)["amount"],
        10.99,
        "once, though named twice"
    );
    assert_eq!(price(&prices, &b1)["amount"], 20.99);
    run(json!({"type": "bulk-update-availability", "productIds": [aid], "availability": true}))
        .await;
    run(json!({"type": "bulk-update-product-collection", "productIds": [bid], "collectionIds": ["c1", "c2"]}))
        .await;
    let (products, _) = catalog(&s).await;
    let product = |id: &str| {
        products
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(product(&aid)["availableInStore"], true);
    assert_eq!(product(&bid)["availableInStore"], false);
    assert_eq!(product(&bid)["collectionIds"], json!(["c1", "c2"]));
    run(json!({"type": "bulk-update-currency", "productIds": [bid], "currency": "cad"})).await;
    let (_, prices) = catalog(&s).await;
    assert_eq!(price(&prices, &b1)["currency"], "CAD");
    assert_eq!(price(&prices, &a1)["currency"], "USD");
    run(json!({"type": "bulk-delete-products", "productIds": [aid]})).await;
    let (products, prices) = catalog(&s).await;
    assert_eq!(products.as_array().unwrap().len(), 1);
    assert!(
        prices
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["product"] == bid.as_str()),
        "a deleted product's prices go with it"
    );
}
