//! Bad input at the plugin, on a real WordPress: malformed JSON, wrong
//! types, missing fields, cross-field rules, missing or wrong credentials,
//! a user without the plugin's capability, an oversized body and unknown
//! ids each get the right status and WordPress's error shape, and nothing
//! is written (the plugin's tables, read in WordPress, are the same after).
//! Any PHP warning or notice the site logged (WP_DEBUG) fails the test.

use anyhow::{Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wordpress_site::Site;

/// Sends a request as `who` (`None`: no credentials) and returns status and body.
async fn call(
    site: &Site,
    who: Option<(&str, &str)>,
    method: Method,
    path: &str,
    body: Option<String>,
    json_type: bool,
) -> Result<(StatusCode, Value)> {
    let mut request = reqwest::Client::new().request(method, site.api_url(path));
    if let Some((user, password)) = who {
        request = request.basic_auth(user, Some(password));
    }
    if json_type {
        request = request.header("content-type", "application/json");
    }
    if let Some(b) = body {
        request = request.body(b);
    }
    let response = request.send().await?;
    let status = response.status();
    let value = response.json().await.unwrap_or(Value::Null);
    Ok((status, value))
}

/// Asserts WordPress's error shape with this status and code.
fn refused(answer: &(StatusCode, Value), status: u16, code: &str, what: &str) {
    let (s, body) = answer;
    assert_eq!(s.as_u16(), status, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(body["message"].is_string(), "{what}: {body}");
    assert_eq!(body["data"]["status"], status, "{what}: {body}");
}

fn counts(state: &Value) -> Vec<usize> {
    [
        "offerings",
        "coupons",
        "orders",
        "access_grants",
        "contacts",
    ]
    .iter()
    .map(|k| state[*k].as_array().map_or(0, Vec::len))
    .collect()
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_writes_nothing() -> Result<()> {
    let Some(site) = Site::from_env_or_skip()? else {
        return Ok(());
    };
    let me = Some((site.user.as_str(), site.app_password.as_str()));
    let reader_password = site.info["unprivileged_app_password"]
        .as_str()
        .context("unprivileged_app_password")?
        .to_string();
    let before = site.state().await?;
    let post = |path: &'static str, body: Value| {
        call(&site, me, Method::POST, path, Some(body.to_string()), true)
    };

    // Malformed JSON, labelled as JSON or not.
    let a = call(
        &site,
        me,
        Method::POST,
        "/coupons",
        Some("{not json".into()),
        true,
    )
    .await?;
    refused(&a, 400, "rest_invalid_json", "malformed JSON");
    let a = call(
        &site,
        me,
        Method::POST,
        "/coupons",
        Some("{not json".into()),
        false,
    )
    .await?;
    refused(
        &a,
        400,
        "rest_invalid_json",
        "malformed JSON without a content type",
    );

    // Wrong types, at the top and nested; a JSON string is not a number.
    let a = post("/offerings", json!({"name": 5, "payment_options": []})).await?;
    refused(&a, 400, "rest_invalid_param", "a number for a name");
    assert!(a.1["data"]["params"]["name"].is_string(), "{}", a.1);
    let a = post(
        "/offerings",
        json!({"name": "X", "payment_options": [{"type": "one_time", "amount": 49, "currency": "USD"}]}),
    )
    .await?;
    refused(&a, 400, "rest_invalid_param", "a number for an amount");
    let a = post(
        "/offerings",
        json!({"name": "X", "payment_options": [], "availability": {"unlimited": false, "quantity": "5"}}),
    )
    .await?;
    refused(&a, 400, "rest_invalid_param", "a string for a quantity");

    // Missing fields: WordPress lists them in data.params.
    let a = post("/coupons", json!({"amount": "5"})).await?;
    refused(&a, 400, "rest_missing_callback_param", "no code");
    let missing: Vec<&str> = a.1["data"]["params"]
        .as_array()
        .context("params list")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        missing.contains(&"code") && missing.contains(&"discount_type"),
        "{}",
        a.1
    );

    // Rules across fields, and amounts in the currency's places.
    for (what, path, body) in [
        (
            "a fixed coupon without currency",
            "/coupons",
            json!({"code": "BADFIXED", "amount": "5", "discount_type": "fixed"}),
        ),
        (
            "a percent over 100",
            "/coupons",
            json!({"code": "BADPCT", "amount": "150", "discount_type": "percent"}),
        ),
        (
            "an expiry before the start",
            "/coupons",
            json!({"code": "BADDATE", "amount": "5", "discount_type": "percent",
            "date_starts": "2030-01-02T00:00:00Z", "date_expires": "2030-01-01T00:00:00Z"}),
        ),
        (
            "a code with a space",
            "/coupons",
            json!({"code": "TWO WORDS", "amount": "5", "discount_type": "percent"}),
        ),
        (
            "a plan without its number of payments",
            "/offerings",
            json!({"name": "Plan", "payment_options": [
            {"type": "payment_plan", "amount": "10.00", "currency": "USD", "interval": "month"}]}),
        ),
        (
            "yen with decimals",
            "/offerings",
            json!({"name": "Yen", "payment_options": [
            {"type": "one_time", "amount": "1.5", "currency": "JPY"}]}),
        ),
        (
            "an empty external_ref",
            "/offerings",
            json!({"name": "Ref", "payment_options": [], "external_ref": ""}),
        ),
        (
            "a grant for an unknown offering",
            "/access-grants",
            json!({"email": "a@example.com", "offering_id": 999_999_999, "source_ref": "bad:1"}),
        ),
        (
            "a grant for a bad e-mail",
            "/access-grants",
            json!({"email": "not-an-email", "offering_id": 1, "source_ref": "bad:2"}),
        ),
    ] {
        let a = post(path, body).await?;
        refused(&a, 400, "rest_invalid_param", what);
    }

    // Credentials: none, wrong, unknown user, and a user without the capability.
    let a = call(&site, None, Method::GET, "/offerings", None, false).await?;
    refused(&a, 401, "rest_not_logged_in", "no credentials");
    let a = call(
        &site,
        Some((&site.user, "wrong password here")),
        Method::GET,
        "/offerings",
        None,
        false,
    )
    .await?;
    refused(
        &a,
        401,
        "incorrect_password",
        "a wrong Application Password",
    );
    let a = call(
        &site,
        Some(("nobody-here", "abcd efgh ijkl")),
        Method::GET,
        "/offerings",
        None,
        false,
    )
    .await?;
    refused(&a, 401, "invalid_username", "an unknown user");
    let reader = Some(("allybridge-reader", reader_password.as_str()));
    let a = call(
        &site,
        reader,
        Method::POST,
        "/coupons",
        Some(json!({"code": "READER", "amount": "5", "discount_type": "percent"}).to_string()),
        true,
    )
    .await?;
    refused(&a, 403, "rest_forbidden", "a user without allybridge_sync");

    // An oversized body.
    let huge = json!({"name": "Huge", "payment_options": [], "description": "x".repeat(1_100_000)});
    let a = post("/offerings", huge).await?;
    refused(&a, 413, "allybridge_body_too_large", "a body over 1 MiB");

    // Unknown and malformed ids.
    for (method, path) in [
        (Method::GET, "/offerings/999999999"),
        (Method::PUT, "/offerings/999999999"),
        (Method::DELETE, "/coupons/999999999"),
        (Method::GET, "/orders/abc"),
        (Method::GET, "/coupons/0"),
    ] {
        let body = (method == Method::PUT).then(|| json!({"name": "X"}).to_string());
        let a = call(&site, me, method.clone(), path, body, true).await?;
        refused(
            &a,
            404,
            "allybridge_invalid_id",
            &format!("{method} {path}"),
        );
    }
    // An unknown route and an unknown method are WordPress's own 404.
    let a = call(&site, me, Method::GET, "/nothing-here", None, false).await?;
    refused(&a, 404, "rest_no_route", "an unknown route");
    let a = call(
        &site,
        me,
        Method::PATCH,
        "/offerings",
        Some("{}".into()),
        true,
    )
    .await?;
    refused(&a, 404, "rest_no_route", "an unknown method");

    let after = site.state().await?;
    assert_eq!(counts(&before), counts(&after), "nothing was written");

    // A unique code and reference clash: 409, the first record unchanged.
    let code = format!("ONCE{}", rand::random::<u32>());
    let first = post(
        "/coupons",
        json!({"code": code, "amount": "5", "discount_type": "percent"}),
    )
    .await?;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    let again = post(
        "/coupons",
        json!({"code": code.to_lowercase(), "amount": "9", "discount_type": "percent"}),
    )
    .await?;
    refused(
        &again,
        409,
        "allybridge_coupon_code_exists",
        "the same code in another case",
    );
    let id = first.1["id"].as_u64().context("id")?;
    let stored = call(
        &site,
        me,
        Method::GET,
        &format!("/coupons/{id}"),
        None,
        false,
    )
    .await?;
    assert_eq!(stored.1["amount"], "5.00", "the first coupon is unchanged");

    site.check_php_log()?;
    Ok(())
}
