//! Every answer of the simulator's Bridge API, and every webhook it sends,
//! validated against the contract's own schemas
//! (`docs/accessally-bridge-api.json`) with `spec-check`, strictly: a field
//! the contract does not declare is a failure too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sim_accessally::{SimConfig, start};
use spec_check::{Options, Spec};

const BASE: &str = "/wp-json/allybridge/v1";

fn spec() -> Result<Spec> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/accessally-bridge-api.json"
    );
    Ok(Spec::load(path)?.with_options(Options {
        strict_additional: true,
    }))
}

struct Checker {
    spec: Spec,
    url: String,
    user: String,
    password: String,
    http: reqwest::Client,
    checked: usize,
}

impl Checker {
    /// Sends a request and validates the answer; returns status and body.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(m, format!("{}{BASE}{path}", self.url))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let value: Value = response.json().await?;
        let concrete = path.split('?').next().unwrap_or(path);
        let template = self
            .spec
            .match_path(method, concrete)
            .with_context(|| format!("{method} {concrete} not in the contract"))?
            .to_string();
        if let Err(e) = self
            .spec
            .validate_response(method, &template, status, &value)
        {
            bail!("{method} {path} -> {status}: {e}\n{value:#}");
        }
        if status == 200 && method == "GET" && value.is_array() {
            for h in ["x-wp-total", "x-wp-totalpages"] {
                headers.get(h).with_context(|| format!("{path}: no {h}"))?;
            }
        }
        self.checked += 1;
        Ok((status, value))
    }
}

#[tokio::test]
async fn every_answer_matches_the_contract() -> Result<()> {
    // A receiver for webhooks, whose bodies are checked below.
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = bodies.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sim = start(SimConfig {
        seed: sim_kit::Seed::Demo,
        ..SimConfig::for_tests()
    })
    .await?;
    let info = |k: &str| sim.info[k].as_str().unwrap_or_default().to_string();
    let mut c = Checker {
        spec: spec()?,
        url: sim.url.clone(),
        user: info("user"),
        password: info("app_password"),
        http: reqwest::Client::new(),
        checked: 0,
    };

    let (_, hook) = c
        .call("POST", "/webhooks", Some(json!({"url": hook_url, "topics": ["order.completed", "order.refunded", "offering.created", "offering.updated", "offering.deleted", "coupon.created", "coupon.updated", "coupon.deleted"]})))
        .await?;
    c.call("GET", "/webhooks", None).await?;

    // Reads of the whole demo catalog, every page.
    for resource in ["offerings", "coupons", "orders"] {
        let (_, first) = c
            .call("GET", &format!("/{resource}?per_page=5"), None)
            .await?;
        for item in first.as_array().into_iter().flatten() {
            c.call("GET", &format!("/{resource}/{}", item["id"]), None)
                .await?;
        }
        c.call(
            "GET",
            &format!("/{resource}?per_page=100&orderby=modified&order=desc"),
            None,
        )
        .await?;
        c.call(
            "GET",
            &format!("/{resource}?modified_after=2000-01-01T00:00:00Z"),
            None,
        )
        .await?;
    }
    c.call(
        "GET",
        "/orders?status=success,refunded,partially_refunded",
        None,
    )
    .await?;

    // Writes.
    let (s, offering) = c
        .call("POST", "/offerings", Some(json!({"name": "Schema course", "payment_options": [
            {"type": "one_time", "amount": "10.00", "currency": "USD"},
            {"type": "payment_plan", "amount": "4.00", "currency": "USD", "number_of_payments": 3, "interval": "month"},
            {"type": "recurring", "amount": "1000", "currency": "JPY", "interval": "week", "trial_days": 3}],
            "availability": {"unlimited": false, "quantity": 3}, "external_ref": "x:1"})))
        .await?;
    assert_eq!(s, 201);
    let oid = offering["id"].clone();
    c.call(
        "PUT",
        &format!("/offerings/{oid}"),
        Some(json!({"status": "draft"})),
    )
    .await?;
    let (s, coupon) = c
        .call("POST", "/coupons", Some(json!({"code": "SCHEMA5", "amount": "5", "discount_type": "fixed", "currency": "USD", "offering_ids": [oid]})))
        .await?;
    assert_eq!(s, 201);
    c.call(
        "PUT",
        &format!("/coupons/{}", coupon["id"]),
        Some(json!({"discount_type": "percent", "amount": "7.5"})),
    )
    .await?;
    let grant = json!({"email": "g@example.com", "offering_id": oid, "source_ref": "schema:1"});
    assert_eq!(
        c.call("POST", "/access-grants", Some(grant.clone()))
            .await?
            .0,
        201
    );
    assert_eq!(c.call("POST", "/access-grants", Some(grant)).await?.0, 200);
    c.http
        .post(format!("{}/__sim/checkout", sim.url))
        .json(&json!({"offering_id": oid, "buyer": {"email": "b@example.com"}, "coupon_code": "schema5"}))
        .send()
        .await?;

    // Errors.
    for (method, path, body, status) in [
        (
            "POST",
            "/coupons",
            json!({"code": "SCHEMA5", "amount": "1", "discount_type": "percent"}),
            409,
        ),
        ("POST", "/coupons", json!({"amount": 1}), 400),
        (
            "POST",
            "/offerings",
            json!({"name": 3, "payment_options": "no"}),
            400,
        ),
        (
            "POST",
            "/webhooks",
            json!({"url": "not a url", "topics": ["nope"]}),
            400,
        ),
        ("PUT", "/coupons/999999", json!({}), 404),
        ("GET", "/orders?per_page=0", json!(null), 400),
        ("GET", "/orders?page=999", json!(null), 400),
    ] {
        let body = (!body.is_null()).then_some(body);
        assert_eq!(
            c.call(method, path, body).await?.0,
            status,
            "{method} {path}"
        );
    }
    let unauthorized = c
        .http
        .get(format!("{}{BASE}/orders", sim.url))
        .send()
        .await?;
    assert_eq!(unauthorized.status().as_u16(), 401);
    let v: Value = unauthorized.json().await?;
    c.spec
        .validate_response("GET", "/orders", 401, &v)
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // Deletes, then the webhook payloads those changes caused.
    c.call("DELETE", &format!("/coupons/{}", coupon["id"]), None)
        .await?;
    c.call("DELETE", &format!("/offerings/{oid}"), None).await?;
    c.call("DELETE", &format!("/webhooks/{}", hook["id"]), None)
        .await?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let bodies = loop {
        let got = bodies.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if got.len() >= 7 || tokio::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let payload = c
        .spec
        .component_schema("WebhookPayload")
        .context("WebhookPayload")?;
    let mut topics = std::collections::BTreeSet::new();
    for body in &bodies {
        c.spec
            .validate(payload, body)
            .map_err(|v| anyhow::anyhow!("payload {body}: {v:?}"))?;
        let kind = match body["type"].as_str().unwrap_or_default().split('.').next() {
            Some("order") => "Order",
            Some("offering") => "Offering",
            _ => "Coupon",
        };
        let schema = c.spec.component_schema(kind).context("schema")?;
        c.spec
            .validate(schema, &body["data"])
            .map_err(|v| anyhow::anyhow!("{kind} in {}: {v:?}", body["type"]))?;
        topics.insert(body["type"].as_str().unwrap_or_default().to_string());
    }
    assert!(topics.len() >= 6, "{topics:?}");
    // The checker does catch a violation: a float amount and an extra field.
    let mut wrong = bodies
        .iter()
        .find(|b| b["type"] == "offering.created")
        .context("offering.created")?["data"]
        .clone();
    wrong["payment_options"][0]["amount"] = json!(10.0);
    wrong["surprise"] = json!(true);
    let offering_schema = c.spec.component_schema("Offering").context("Offering")?;
    let violations = c
        .spec
        .validate(offering_schema, &wrong)
        .err()
        .context("a wrong offering passed")?;
    assert!(violations.len() >= 2, "{violations:?}");
    eprintln!(
        "validated {} answers and {} webhook payloads ({topics:?})",
        c.checked,
        bodies.len()
    );
    Ok(())
}
