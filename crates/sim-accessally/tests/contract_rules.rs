//! The input rules the contract writes down (`docs/accessally-bridge-api.json`)
//! that Schemathesis probes (`tools/schemathesis/run`), each at its edge:
//! `null` only where a field is `nullable`, ids and counts within their
//! `maximum`, lengths in characters, amounts by the currency's decimals,
//! white space as ECMA-262 reads it, the webhook URL and secret patterns,
//! the order status list, and bodies that are JSON but not objects.

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sim_accessally::{SimConfig, start};

const BASE: &str = "/wp-json/allybridge/v1";

struct Api {
    url: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Value)> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(m, format!("{}{BASE}{path}", self.url))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let response = req.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// Asserts the status, and for a 400 the WordPress error code.
    async fn expect(
        &self,
        method: &str,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
    ) -> Result<Value> {
        let text = body.to_string();
        let (got, answer) = self.call(method, path, Some(&text)).await?;
        assert_eq!(got, status, "{method} {path} {text} -> {answer}");
        if !code.is_empty() {
            assert_eq!(answer["code"], code, "{method} {path} {text} -> {answer}");
        }
        Ok(answer)
    }
}

async fn api() -> Result<(sim_kit::RunningSim, Api)> {
    let sim = start(SimConfig {
        seed: sim_kit::Seed::Demo,
        ..SimConfig::for_tests()
    })
    .await?;
    let info = |k: &str| sim.info[k].as_str().unwrap_or_default().to_string();
    let api = Api {
        url: sim.url.clone(),
        user: info("user"),
        password: info("app_password"),
        http: reqwest::Client::new(),
    };
    Ok((sim, api))
}

fn option(extra: Value) -> Value {
    let mut o = json!({"type": "one_time", "amount": "10.00", "currency": "USD"});
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        o.extend(extra.clone());
    }
    o
}

#[tokio::test]
async fn nulls_only_where_nullable() -> Result<()> {
    let (_sim, api) = api().await?;
    let invalid = "rest_invalid_param";
    for body in [
        json!({"name": "N", "payment_options": [], "description": null}),
        json!({"name": "N", "payment_options": [], "access_tags": null}),
        json!({"name": "N", "payment_options": [], "order_form_ids": null}),
        json!({"name": "N", "payment_options": [], "status": null}),
        json!({"name": "N", "payment_options": [option(json!({"trial_days": null}))]}),
        json!({"name": "N", "payment_options": [], "availability": {"unlimited": false, "quantity": null}}),
    ] {
        api.expect("POST", "/offerings", body, 400, invalid).await?;
    }
    // WordPress reads a required field sent as null as missing.
    api.expect(
        "POST",
        "/offerings",
        json!({"name": null, "payment_options": []}),
        400,
        "rest_missing_callback_param",
    )
    .await?;
    // A missing property of a nested object makes the field invalid (WordPress).
    for availability in [json!({"unlimited": true}), json!({"quantity": 3})] {
        api.expect(
            "POST",
            "/offerings",
            json!({"name": "N", "payment_options": [], "availability": availability}),
            400,
            invalid,
        )
        .await?;
    }
    // The nullable ones.
    let created = api
        .expect(
            "POST",
            "/offerings",
            json!({"name": "Nullable", "external_ref": null, "availability": {"unlimited": true, "quantity": null},
                   "payment_options": [option(json!({"sku": null, "interval": null, "number_of_payments": null, "interval_count": null}))]}),
            201,
            "",
        )
        .await?;
    assert_eq!(created["availability"]["quantity"], Value::Null);
    api.expect(
        "POST",
        "/coupons",
        json!({"code": "NULLS1", "amount": "5", "discount_type": "percent", "currency": null, "date_starts": null,
               "date_expires": null, "usage_limit": null, "usage_limit_per_user": null, "external_ref": null}),
        201,
        "",
    )
    .await?;
    api.expect(
        "POST",
        "/coupons",
        json!({"code": "NULLS2", "amount": "5", "discount_type": "percent", "first_payment_only": null}),
        400,
        invalid,
    )
    .await?;
    api.expect(
        "POST",
        "/access-grants",
        json!({"email": "a@example.com", "offering_id": 101, "source_ref": "n", "first_name": null}),
        400,
        invalid,
    )
    .await?;
    api.expect(
        "POST",
        "/webhooks",
        json!({"url": "http://127.0.0.1:9/h", "topics": ["order.completed"], "secret": null}),
        400,
        invalid,
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn numbers_lengths_amounts_and_white_space_at_their_edges() -> Result<()> {
    let (_sim, api) = api().await?;
    let invalid = "rest_invalid_param";
    let offering = |options: Value| json!({"name": "Edges", "payment_options": options});
    // Counts: at most 2147483647.
    api.expect(
        "POST",
        "/offerings",
        offering(json!([option(json!({"trial_days": 2_147_483_647_i64}))])),
        201,
        "",
    )
    .await?;
    api.expect(
        "POST",
        "/offerings",
        offering(json!([option(json!({"trial_days": 2_147_483_648_i64}))])),
        400,
        invalid,
    )
    .await?;
    // Ids: at most 2^53 - 1.
    let mut body = offering(json!([]));
    body["order_form_ids"] = json!([9_007_199_254_740_991_u64]);
    api.expect("POST", "/offerings", body.clone(), 201, "")
        .await?;
    body["order_form_ids"] = json!([9_007_199_254_740_992_u64]);
    api.expect("POST", "/offerings", body, 400, invalid).await?;
    // No id on create.
    api.expect(
        "POST",
        "/offerings",
        offering(json!([option(json!({"id": 5}))])),
        400,
        invalid,
    )
    .await?;
    // Amounts: 12 digits and 3 decimals at most, no more decimals than the currency has.
    for (amount, currency, status) in [
        ("999999999999.00", "USD", 201),
        ("1000000000000", "USD", 400),
        ("1.500", "USD", 201),
        ("1.5000", "USD", 400),
        ("1.005", "USD", 400),
        ("1.005", "BHD", 201),
        ("1.0", "JPY", 201),
        ("1.5", "JPY", 400),
    ] {
        let o = json!({"type": "one_time", "amount": amount, "currency": currency});
        let code = if status == 400 { invalid } else { "" };
        api.expect("POST", "/offerings", offering(json!([o])), status, code)
            .await?;
    }
    // A plan needs its number of payments and interval.
    api.expect(
        "POST",
        "/offerings",
        offering(json!([option(
            json!({"type": "payment_plan", "interval": "month"})
        )])),
        400,
        invalid,
    )
    .await?;
    // White space is ECMA-262's: NBSP and BOM are, U+0085 is not.
    let mut body = offering(json!([]));
    body["name"] = json!("\u{a0}\u{feff}");
    api.expect("POST", "/offerings", body.clone(), 400, invalid)
        .await?;
    body["name"] = json!("\u{85}");
    api.expect("POST", "/offerings", body, 201, "").await?;
    let coupon = |code: &str| json!({"code": code, "amount": "5", "discount_type": "percent"});
    api.expect("POST", "/coupons", coupon("A\u{3000}B"), 400, invalid)
        .await?;
    api.expect("POST", "/coupons", coupon("A\u{1c}B"), 201, "")
        .await?;
    // Lengths count characters, not bytes.
    api.expect("POST", "/coupons", coupon(&"é".repeat(100)), 201, "")
        .await?;
    api.expect("POST", "/coupons", coupon(&"é".repeat(101)), 400, invalid)
        .await?;
    let grant = |source_ref: String| json!({"email": "b@example.com", "offering_id": 101, "source_ref": source_ref});
    api.expect("POST", "/access-grants", grant("é".repeat(191)), 201, "")
        .await?;
    api.expect(
        "POST",
        "/access-grants",
        grant("é".repeat(192)),
        400,
        invalid,
    )
    .await?;
    // A percent coupon is at most 100.
    let mut body = coupon("PCT101");
    body["amount"] = json!("100.01");
    api.expect("POST", "/coupons", body, 400, invalid).await?;
    Ok(())
}

#[tokio::test]
async fn webhook_urls_and_secrets_follow_the_patterns() -> Result<()> {
    let (_sim, api) = api().await?;
    let hook = |url: &str, secret: Option<&str>| {
        let mut b = json!({"url": url, "topics": ["order.completed"]});
        if let Some(s) = secret {
            b["secret"] = json!(s);
        }
        b
    };
    for url in [
        "HTTP://0",
        "https://hooks.example.com:65535/a/b?c=d/e?#f/?",
        "http://allybridge_app:8080/webhooks/accessally/main",
        "http://a.b./%20",
    ] {
        api.expect("POST", "/webhooks", hook(url, None), 201, "")
            .await
            .with_context(|| url.to_string())?;
    }
    for url in [
        "ftp://a",
        "http:///a",
        "http://a:65536",
        "http://-a.b",
        "http://[::1]/",
        "http://user@a/",
        "http://a/%zz",
        "http://a/b c",
        "http://\u{e9}.com/",
        "http://a#b#c",
    ] {
        api.expect(
            "POST",
            "/webhooks",
            hook(url, None),
            400,
            "rest_invalid_param",
        )
        .await
        .with_context(|| url.to_string())?;
    }
    // Canonical padded base64 of at least 12 bytes.
    for (secret, status) in [
        ("whsec_AAAAAAAAAAAAAAAA", 201),     // 12 bytes
        ("whsec_AAAAAAAAAAAAAAAAAA==", 201), // 13 bytes
        ("whsec_AAAAAAAAAAAAAA==", 400),     // 10 bytes
        ("whsec_AAAAAAAAAAAAAAAAAB==", 400), // non-zero trailing bits
        ("whsec_AAAAAAAAAAAAAAAAAA", 400),   // no padding
        ("whsec_AAAAAAAAAAAAAAAA\n", 400),   // a trailing newline
    ] {
        let code = if status == 400 {
            "rest_invalid_param"
        } else {
            ""
        };
        api.expect(
            "POST",
            "/webhooks",
            hook("http://a/h", Some(secret)),
            status,
            code,
        )
        .await
        .with_context(|| secret.to_string())?;
    }
    Ok(())
}

#[tokio::test]
async fn order_statuses_and_bodies_that_are_not_objects() -> Result<()> {
    let (_sim, api) = api().await?;
    let (status, _) = api
        .call("GET", "/orders?status=success,refunded", None)
        .await?;
    assert_eq!(status, 200);
    for query in [
        "status=",
        "status=success,",
        "status=success,%20refunded",
        "status=paid",
    ] {
        let (status, answer) = api.call("GET", &format!("/orders?{query}"), None).await?;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("rest_invalid_param")),
            "{query}"
        );
    }
    let (status, _) = api.call("GET", "/orders?page=4294967296", None).await?;
    assert_eq!(status, 400);
    for body in ["[]", "[null, null]", "5", "\"a\"", "null"] {
        let (status, answer) = api.call("PUT", "/coupons/150", Some(body)).await?;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("rest_invalid_json")),
            "{body}"
        );
    }
    // No body, `{}` or only unknown fields: nothing changes.
    for body in [None, Some("{}"), Some("{\"unknown\": 1}")] {
        let (status, answer) = api.call("PUT", "/coupons/150", body).await?;
        assert_eq!(status, 200, "{body:?}");
        assert_eq!(answer["code"], "WELCOME10");
    }
    Ok(())
}
