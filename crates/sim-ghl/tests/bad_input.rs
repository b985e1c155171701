//! Bad input never panics the HighLevel simulator: malformed JSON, wrong
//! types, missing fields and unknown ids get HighLevel's status and error
//! shape, and random bodies thrown at every write route get a 4xx (or a
//! success for a body that happens to be valid), never a 5xx.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use sim_ghl::routes::ROUTES;

#[tokio::test]
async fn malformed_and_mistyped_bodies_get_documented_errors() {
    let s = spawn_demo().await;
    let raw = s
        .http
        .post(format!("{}/payments/coupon", s.url))
        .header("Version", VERSION)
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{\"altId\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["statusCode"], 400);
    assert_eq!(body["error"], "Bad Request");

    let a = s
        .call(
            "POST",
            "/payments/coupon",
            Some(
                json!({"altId": s.location, "altType": "agency", "name": 7, "code": "X",
                        "discountType": "half", "discountValue": "10", "startDate": "tomorrow"}),
            ),
        )
        .await;
    assert_eq!(a.status, 422);
    let messages: Vec<&str> = a.body["message"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for expected in [
        "altType must be one of the following values: location",
        "name must be a string",
        "discountType must be one of the following values: percentage, amount",
        "discountValue must be a number conforming to the specified constraints",
        "startDate must be a valid ISO 8601 date string",
    ] {
        assert!(
            messages.contains(&expected),
            "missing {expected:?} in {messages:?}"
        );
    }
    // Duplicate coupon codes are refused, case-insensitively.
    let a = s
        .call(
            "POST",
            "/payments/coupon",
            Some(json!({"altId": s.location, "altType": "location", "name": "Dup", "code": "launch20",
                        "discountType": "amount", "discountValue": 5, "startDate": "2026-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    // Unknown ids.
    let loc = &s.location;
    assert_eq!(
        s.call("GET", &format!("/products/nope?locationId={loc}"), None)
            .await
            .status,
        404
    );
    let order = s
        .call("GET", &format!("/payments/orders/nope?altId={loc}"), None)
        .await;
    assert_eq!(order.status, 404);
    assert_eq!(
        order.body["name"], "HttpException",
        "the observed shape of a missing order"
    );
    let missing = s
        .call(
            "DELETE",
            "/payments/coupon",
            Some(json!({"altId": loc, "altType": "location", "id": "nope"})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(s.call("GET", "/no/such/route", None).await.status, 404);
    // Nothing was changed by any of it.
    assert_eq!(s.state().await["coupons"].as_array().unwrap().len(), 8);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-zA-Z0-9 _@.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("altId".to_string()),
                    Just("locationId".to_string()),
                    Just("name".to_string()),
                    Just("code".to_string()),
                    Just("type".to_string()),
                    Just("amount".to_string()),
                    Just("items".to_string()),
                    Just("discountValue".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn random_bodies_never_cause_server_errors(bodies in prop::collection::vec(arb_json(), ROUTES.len())) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = spawn(sim_ghl::SimConfig::default()).await;
            for (route, body) in ROUTES.iter().zip(bodies) {
                let path = route
                    .path
                    .replace("{productId}", "p1")
                    .replace("{priceId}", "p2")
                    .replace("{orderId}", "o1")
                    .replace("{contactId}", "c1")
                    .replace("{invoiceId}", "i1");
                let path = format!("{path}?locationId={0}&altId={0}&altType=location", s.location);
                let a = s.call(route.method, &path, Some(body.clone())).await;
                assert!(a.status < 500, "{} {} answered {} to {}: {}", route.method, route.path, a.status, body, a.body);
                if a.status >= 400 {
                    assert!(a.body["statusCode"].is_number() || a.body["status"].is_number(), "error shape: {}", a.body);
                }
            }
            // Raw garbage bytes too.
            let resp = s.http.post(format!("{}/products/", s.url)).header("Version", VERSION)
                .bearer_auth(&s.token).header("content-type", "application/json")
                .body(vec![0xff, 0x00, 0x7b]).send().await.unwrap();
            assert_eq!(resp.status(), 400);
        });
    }
}
