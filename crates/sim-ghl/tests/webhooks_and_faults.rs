//! Webhooks the HighLevel simulator sends (payload shapes, the Ed25519
//! signature over the exact bytes and the legacy RSA one behind its switch,
//! the events of bulk changes, retry only on 429) and each fault switch.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use serde_json::{Value, json};
use sim_ghl::SimConfig;

async fn with_receiver(script: Vec<u16>) -> (TestSim, Receiver) {
    with_receiver_and(script, SimConfig::default()).await
}

async fn with_receiver_and(script: Vec<u16>, config: SimConfig) -> (TestSim, Receiver) {
    let r = Receiver::start(script).await;
    let s = spawn(SimConfig {
        webhook_url: Some(r.url.clone()),
        webhook_retry_spacing: Duration::from_millis(20),
        ..config
    })
    .await;
    (s, r)
}

fn verify_ed25519(pem: &str, body: &[u8], sig_b64: &str) -> bool {
    use ed25519_dalek::Verifier;
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem).unwrap();
    let Ok(sig) = B64.decode(sig_b64) else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else {
        return false;
    };
    key.verify(body, &sig).is_ok()
}

fn verify_rsa(pem: &str, body: &[u8], sig_b64: &str) -> bool {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let key = rsa::RsaPublicKey::from_public_key_pem(pem).unwrap();
    let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
    let Ok(sig) = B64.decode(sig_b64) else {
        return false;
    };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else {
        return false;
    };
    vk.verify(body, &sig).is_ok()
}

#[tokio::test]
async fn webhooks_are_signed_with_ed25519_only_by_default() {
    let (s, r) = with_receiver(vec![200]).await;
    assert_eq!(s.info["legacy_rsa_signature"], false);
    s.create_product("Signed course").await;
    let got = r.wait_for(1).await;
    let hook = &got[0];
    let ed = hook.headers["x-ghl-signature"].to_str().unwrap();
    let ed_pem = s.info["webhook_public_key"].as_str().unwrap();
    assert!(verify_ed25519(ed_pem, &hook.body, ed));
    assert!(
        hook.headers.get("x-wh-signature").is_none(),
        "HighLevel no longer sends the legacy RSA header"
    );
}

#[tokio::test]
async fn webhooks_are_signed_over_the_exact_bytes_with_both_schemes() {
    let (s, r) = with_receiver_and(
        vec![200],
        SimConfig {
            legacy_rsa_signature: true,
            ..SimConfig::default()
        },
    )
    .await;
    assert_eq!(s.info["legacy_rsa_signature"], true);
    let product = s.create_product("Signed course").await;
    let got = r.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let hook = &got[0];
    let payload: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(payload["_id"], product["_id"]);
    assert_eq!(payload["locationId"], s.location.as_str());
    assert!(payload["webhookId"].is_string() && payload["timestamp"].is_string());
    // Product payloads carry no event type, as documented.
    assert!(payload.get("type").is_none());
    let ed = hook.headers["x-ghl-signature"].to_str().unwrap();
    let rsa = hook.headers["x-wh-signature"].to_str().unwrap();
    let ed_pem = s.info["webhook_public_key"].as_str().unwrap();
    let rsa_pem = s.info["webhook_rsa_public_key"].as_str().unwrap();
    assert!(verify_ed25519(ed_pem, &hook.body, ed));
    assert!(verify_rsa(rsa_pem, &hook.body, rsa));
    // Any change to the bytes breaks both signatures.
    let mut tampered = hook.body.to_vec();
    tampered[5] ^= 1;
    assert!(!verify_ed25519(ed_pem, &tampered, ed));
    assert!(!verify_rsa(rsa_pem, &tampered, rsa));
    // Re-serialising the JSON is not what was signed if the bytes differ.
    let pretty = serde_json::to_vec_pretty(&payload).unwrap();
    assert!(!verify_ed25519(ed_pem, &pretty, ed));
}

#[tokio::test]
async fn events_for_prices_contacts_orders_but_none_for_coupons() {
    let (s, r) = with_receiver(vec![200]).await;
    let product = s.create_product("Course").await;
    let pid = product["_id"].as_str().unwrap();
    let price = s.create_price(pid, 99.5).await;
    r.wait_for(2).await;
    // A coupon edit, through the API and as a UI edit: no webhook exists.
    let coupon = json!({"altId": s.location, "altType": "location", "name": "X", "code": "NOHOOK",
                        "discountType": "percentage", "discountValue": 10, "startDate": "2026-01-01T00:00:00.000Z"});
    assert_eq!(
        s.call("POST", "/payments/coupon", Some(coupon.clone()))
            .await
            .status,
        201
    );
    let mut ui = coupon.clone();
    ui["code"] = json!("UIEDIT");
    s.control("POST", "/__sim/ui/payments/coupon", Some(ui))
        .await;
    // A checkout fires ContactCreate and OrderCreate.
    let order = s
        .control(
            "POST",
            "/__sim/orders",
            Some(
                json!({"email": "buyer@example.com", "firstName": "B", "lastName": "Uyer",
                        "items": [{"productId": pid, "priceId": price["_id"]}]}),
            ),
        )
        .await;
    let got = r.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got_all = r.received();
    assert_eq!(got_all.len(), 4, "exactly four events: {:?}", got.len());
    let payloads: Vec<Value> = got_all
        .iter()
        .map(|h| serde_json::from_slice(&h.body).unwrap())
        .collect();
    // PriceCreate carries the price type as `priceType`.
    assert_eq!(payloads[1]["priceType"], "one_time");
    assert_eq!(payloads[1]["product"], pid);
    assert_eq!(payloads[2]["type"], "ContactCreate");
    assert_eq!(payloads[3]["type"], "OrderCreate");
    assert_eq!(payloads[3]["_id"], order["_id"]);
    assert_eq!(payloads[3]["items"][0]["price"]["_id"], price["_id"]);
    let deliveries = s.control("GET", "/__sim/deliveries", None).await;
    let topics: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        vec![
            "ProductCreate",
            "PriceCreate",
            "ContactCreate",
            "OrderCreate"
        ]
    );
}

#[tokio::test]
async fn webhooks_are_retried_only_on_429() {
    let (s, r) = with_receiver(vec![429, 429, 200]).await;
    s.create_product("Retry me").await;
    let got = r.wait_for(3).await;
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].body, got[2].body,
        "a retry resends the same signed bytes"
    );
    assert!(s.sim.dispatcher.wait_idle(Duration::from_secs(2)).await);
    let d = &s.sim.dispatcher.records()[0];
    assert_eq!(d.outcome, "delivered");
    assert_eq!(d.attempts, 3);

    let (s, r) = with_receiver(vec![500]).await;
    s.create_product("Lost").await;
    r.wait_for(1).await;
    assert!(s.sim.dispatcher.wait_idle(Duration::from_secs(2)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(r.received().len(), 1, "a 500 is final: no retry");
    assert_eq!(s.sim.dispatcher.records()[0].outcome, "failed");

    let (s, r) = with_receiver(vec![429]).await;
    s.create_product("Always busy").await;
    assert!(s.sim.dispatcher.wait_idle(Duration::from_secs(3)).await);
    assert_eq!(r.received().len(), 7, "the first attempt and six retries");
    assert_eq!(s.sim.dispatcher.records()[0].outcome, "failed");
}

#[tokio::test]
async fn call_faults_fail_or_delay_calls() {
    let s = spawn(SimConfig::default()).await;
    let path = format!("/products/?locationId={}", s.location);
    s.control(
        "PUT",
        "/__sim/faults",
        Some(json!({"error_rate": 1.0, "error_statuses": [502]})),
    )
    .await;
    let a = s.call("GET", &path, None).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.body["statusCode"], 502);
    // The control API is never faulted.
    assert_eq!(
        s.control("GET", "/__sim/faults", None).await["error_rate"],
        1.0
    );
    s.control("PUT", "/__sim/faults", Some(json!({"error_rate": 0.0})))
        .await;
    assert_eq!(s.call("GET", &path, None).await.status, 200);
    // A delayed response: the client gives up, but the write happened.
    s.control(
        "PUT",
        "/__sim/faults",
        Some(json!({"delay_rate": 1.0, "delay_ms": 400})),
    )
    .await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = quick
        .post(format!("{}/products/", s.url))
        .header("Version", VERSION)
        .bearer_auth(&s.token)
        .json(&json!({"name": "Lost response", "locationId": s.location, "productType": "DIGITAL"}))
        .send()
        .await;
    assert!(err.is_err_and(|e| e.is_timeout()));
    tokio::time::sleep(Duration::from_millis(450)).await;
    let state = s.state().await;
    assert_eq!(state["products"][0]["name"], "Lost response");
    // Bad fault settings are refused and change nothing.
    let resp = s
        .http
        .put(format!("{}/__sim/faults", s.url))
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        s.control("GET", "/__sim/faults", None).await["delay_rate"],
        1.0
    );
}

#[tokio::test]
async fn webhook_faults_drop_duplicate_and_reorder() {
    let (s, r) = with_receiver(vec![200]).await;
    s.control(
        "PUT",
        "/__sim/faults",
        Some(json!({"webhook_drop_rate": 1.0})),
    )
    .await;
    s.create_product("Dropped").await;
    assert!(s.sim.dispatcher.wait_idle(Duration::from_secs(2)).await);
    assert!(r.received().is_empty());
    assert_eq!(s.sim.dispatcher.records()[0].outcome, "dropped");

    s.control(
        "PUT",
        "/__sim/faults",
        Some(json!({"webhook_duplicate_rate": 1.0})),
    )
    .await;
    s.create_product("Twice").await;
    let got = r.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].body, got[1].body,
        "a duplicate has the same webhookId and bytes"
    );

    let (s, r) = with_receiver(vec![200]).await;
    s.control(
        "PUT",
        "/__sim/faults",
        Some(json!({"webhook_reorder_rate": 1.0})),
    )
    .await;
    s.create_product("First").await;
    s.control("PUT", "/__sim/faults", Some(json!({}))).await;
    s.create_product("Second").await;
    let got = r.wait_for(2).await;
    let names: Vec<String> = got
        .iter()
        .map(|h| {
            serde_json::from_slice::<Value>(&h.body).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, vec!["Second", "First"]);
}

#[tokio::test]
async fn request_log_counts_routes_and_statuses() {
    let s = spawn(SimConfig::default()).await;
    s.create_product("A").await;
    let pid = s.create_product("B").await["_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.call(
        "GET",
        &format!("/products/{pid}?locationId={}", s.location),
        None,
    )
    .await;
    s.call("GET", "/products/unknown?locationId=nope", None)
        .await;
    let log = s.control("GET", "/__sim/requests", None).await;
    let summary = &log["summary"];
    assert_eq!(summary["total"], 4);
    assert_eq!(summary["writes"], 2);
    assert_eq!(summary["by_route"]["POST /products/"], 2);
    assert_eq!(summary["by_route"]["GET /products/{productId}"], 2);
    assert_eq!(summary["by_status"]["201"], 2);
    assert_eq!(summary["by_status"]["403"], 1);
    assert_eq!(log["entries"].as_array().unwrap().len(), 4);
}

/// The topics and record ids of the deliveries after the first `skip`,
/// sorted (deliveries go out concurrently; the topic is found by the
/// delivery's webhook id, as product payloads carry no event type).
async fn topics_after(s: &TestSim, r: &Receiver, skip: usize, n: usize) -> Vec<(String, String)> {
    r.wait_for(skip + n).await;
    assert!(s.sim.dispatcher.wait_idle(Duration::from_secs(2)).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got = r.received();
    assert_eq!(got.len(), skip + n, "expected {n} more deliveries");
    let records = s.sim.dispatcher.records();
    let mut out: Vec<(String, String)> = got[skip..]
        .iter()
        .map(|h| {
            let p: Value = serde_json::from_slice(&h.body).unwrap();
            let topic = records
                .iter()
                .find(|d| d.id == p["webhookId"].as_str().unwrap())
                .unwrap()
                .topic
                .clone();
            (topic, p["_id"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn bulk_changes_fire_what_single_updates_fire() {
    let (s, r) = with_receiver(vec![200]).await;
    let a = s.create_product("A").await;
    let b = s.create_product("B").await;
    let (aid, bid) = (a["_id"].as_str().unwrap(), b["_id"].as_str().unwrap());
    let a1 = s.create_price(aid, 10.0).await;
    let b1 = s.create_price(bid, 20.0).await;
    let b2 = s.create_price(bid, 30.0).await;
    let (a1, b1, b2) = (
        a1["_id"].as_str().unwrap(),
        b1["_id"].as_str().unwrap(),
        b2["_id"].as_str().unwrap(),
    );
    r.wait_for(5).await;

    // A single PUT of a price: one PriceUpdate, whose payload shape the
    // bulk edit's must share.
    let single = s
        .call(
            "PUT",
            &format!("/products/{aid}/price/{a1}"),
            Some(
                json!({"name": "Full", "type": "one_time", "currency": "USD", "amount": 11,
                        "locationId": s.location, "sku": "SKU-1"}),
            ),
        )
        .await;
    assert_eq!(single.status, 200, "{}", single.body);
    let mut seen = 5;
    assert_eq!(
        topics_after(&s, &r, seen, 1).await,
        [("PriceUpdate".to_string(), a1.to_string())]
    );
    seen += 1;

    // Bulk edit: A's name and price (ProductUpdate + PriceUpdate), B's
    // prices only (two PriceUpdate, no ProductUpdate).
    let edit = s
        .call(
            "POST",
            "/products/bulk-update/edit",
            Some(json!({"altId": s.location, "altType": "location", "products": [
                {"_id": aid, "name": "A renamed", "prices": [{"_id": a1, "amount": 12.5}]},
                {"_id": bid, "prices": [{"_id": b1, "amount": 21}, {"_id": b2, "compareAtPrice": 40}]},
            ]})),
        )
        .await;
    assert_eq!(edit.status, 201, "{}", edit.body);
    let mut want = vec![
        ("PriceUpdate".to_string(), a1.to_string()),
        ("PriceUpdate".to_string(), b1.to_string()),
        ("PriceUpdate".to_string(), b2.to_string()),
        ("ProductUpdate".to_string(), aid.to_string()),
    ];
    want.sort();
    assert_eq!(topics_after(&s, &r, seen, 4).await, want);
    let single_payload: Value = serde_json::from_slice(&r.received()[5].body).unwrap();
    let bulk_payload: Value = r
        .received()
        .iter()
        .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap())
        .skip(seen)
        .find(|p| p["_id"] == a1)
        .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&single_payload), keys(&bulk_payload));
    assert_eq!(
        bulk_payload["type"], "one_time",
        "PriceUpdate carries `type`"
    );
    assert_eq!(bulk_payload["amount"], 12.5);
    seen += 4;

    // Bulk update: availability fires ProductUpdate per product, a price
    // rule and a currency change PriceUpdate per price, a delete
    // ProductDelete per product.
    let bulk = |body: Value| {
        let s = &s;
        async move {
            let a = s.call("POST", "/products/bulk-update", Some(body)).await;
            assert_eq!(a.status, 201, "{}", a.body);
        }
    };
    bulk(
        json!({"altId": s.location, "altType": "location", "type": "bulk-update-availability",
                "productIds": [aid, bid], "availability": true}),
    )
    .await;
    let mut want = vec![
        ("ProductUpdate".to_string(), aid.to_string()),
        ("ProductUpdate".to_string(), bid.to_string()),
    ];
    want.sort();
    assert_eq!(topics_after(&s, &r, seen, 2).await, want);
    seen += 2;
    bulk(
        json!({"altId": s.location, "altType": "location", "type": "bulk-update-price",
                "productIds": [bid], "price": {"type": "INCREASE_BY_AMOUNT", "value": 1}}),
    )
    .await;
    let mut want = vec![
        ("PriceUpdate".to_string(), b1.to_string()),
        ("PriceUpdate".to_string(), b2.to_string()),
    ];
    want.sort();
    assert_eq!(topics_after(&s, &r, seen, 2).await, want);
    seen += 2;
    let inventory = s
        .call(
            "POST",
            "/products/inventory",
            Some(json!({"altId": s.location, "altType": "location",
                        "items": [{"priceId": a1, "availableQuantity": 4}, {"priceId": b1, "availableQuantity": 0}]})),
        )
        .await;
    assert_eq!(inventory.status, 201, "{}", inventory.body);
    let mut want = vec![
        ("PriceUpdate".to_string(), a1.to_string()),
        ("PriceUpdate".to_string(), b1.to_string()),
    ];
    want.sort();
    assert_eq!(topics_after(&s, &r, seen, 2).await, want);
    seen += 2;
    bulk(
        json!({"altId": s.location, "altType": "location", "type": "bulk-delete-products",
                "productIds": [aid, aid]}),
    )
    .await;
    assert_eq!(
        topics_after(&s, &r, seen, 1).await,
        [("ProductDelete".to_string(), aid.to_string())]
    );
}
