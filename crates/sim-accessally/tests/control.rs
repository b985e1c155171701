//! The simulator's own behaviour through its control API: the demo seed,
//! checkout rules (coupon usage, availability, statuses), refunds, aal
//! commands and the request log. The Bridge API itself is checked by the
//! contract suite in the `accessally` crate and by `schema.rs` here.

use anyhow::Result;
use serde_json::{Value, json};
use sim_accessally::{SimConfig, start};

struct Sim {
    running: sim_kit::RunningSim,
    http: reqwest::Client,
}

impl Sim {
    async fn start(seed: sim_kit::Seed) -> Result<Self> {
        let running = start(SimConfig {
            seed,
            ..SimConfig::for_tests()
        })
        .await?;
        Ok(Self {
            running,
            http: reqwest::Client::new(),
        })
    }
    fn info(&self, key: &str) -> String {
        self.running.info[key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<(u16, Value)> {
        let r = self
            .http
            .request(method, format!("{}/__sim{path}", self.running.url))
            .json(&body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }
    async fn api(&self, path: &str) -> Result<(u16, Value)> {
        let r = self
            .http
            .get(format!("{}/wp-json/allybridge/v1{path}", self.running.url))
            .basic_auth(self.info("user"), Some(self.info("app_password")))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }
}

#[tokio::test]
async fn demo_seed_is_a_realistic_catalog() -> Result<()> {
    let sim = Sim::start(sim_kit::Seed::Demo).await?;
    assert_eq!(sim.info("sim"), "accessally");
    assert!(sim.info("webhook_secret").starts_with("whsec_"));
    let (_, state) = sim
        .control(reqwest::Method::GET, "/state", json!(null))
        .await?;
    let offerings = state["offerings"].as_array().map(Vec::len).unwrap_or(0);
    assert!(offerings >= 12, "{offerings} offerings");
    let kinds: std::collections::BTreeSet<String> = state["offerings"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|o| o["payment_options"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["type"].as_str().map(str::to_string))
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(state["coupons"].as_array().map(Vec::len).unwrap_or(0) >= 5);
    let statuses: std::collections::BTreeSet<String> = state["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["status"].as_str().map(str::to_string))
        .collect();
    assert!(statuses.len() >= 5, "{statuses:?}");
    Ok(())
}

#[tokio::test]
async fn checkout_uses_coupon_and_availability_and_refund_follows() -> Result<()> {
    let sim = Sim::start(sim_kit::Seed::Empty).await?;
    let post = reqwest::Method::POST;
    let (s, offering) = sim
        .control(post.clone(), "/admin/offerings", json!({
            "name": "Course", "payment_options": [{"type": "one_time", "amount": "100.00", "currency": "USD"}],
            "availability": {"unlimited": false, "quantity": 1}
        }))
        .await?;
    assert_eq!(s, 201, "{offering}");
    let oid = offering["id"].as_u64().unwrap_or(0);
    let form = offering["order_form_ids"][0].as_u64().unwrap_or(0);
    let (s, coupon) = sim
        .control(post.clone(), "/admin/coupons", json!({
            "code": "Save15", "amount": "15", "discount_type": "percent", "offering_ids": [oid], "usage_limit": 1
        }))
        .await?;
    assert_eq!(s, 201, "{coupon}");
    assert_eq!(coupon["order_form_ids"], json!([form]));
    let buyer = json!({"email": "a@example.com", "first_name": "A", "last_name": "B"});
    let (s, order) = sim
        .control(
            post.clone(),
            "/checkout",
            json!({"order_form_id": form, "buyer": buyer, "coupon_code": "SAVE15"}),
        )
        .await?;
    assert_eq!(s, 201, "{order}");
    assert_eq!(order["status"], "success");
    assert_eq!(order["subtotal"], "100.00");
    assert_eq!(order["discount"], "15.00");
    assert_eq!(order["total"], "85.00");
    let (_, c) = sim.api(&format!("/coupons/{}", coupon["id"])).await?;
    assert_eq!(c["usage_count"], 1);
    let (_, o) = sim.api(&format!("/offerings/{oid}")).await?;
    assert_eq!(o["availability"]["quantity"], 0);
    let (s, sold_out) = sim
        .control(
            post.clone(),
            "/checkout",
            json!({"offering_id": oid, "buyer": buyer}),
        )
        .await?;
    assert_eq!(
        (s, sold_out["code"].as_str()),
        (409, Some("allybridge_sold_out"))
    );

    let (s, refunded) = sim
        .control(
            post.clone(),
            "/refund",
            json!({"order_id": order["id"], "amount": "5.00"}),
        )
        .await?;
    assert_eq!(s, 200, "{refunded}");
    assert_eq!(refunded["order"]["status"], "partially_refunded");
    let (_, refunded) = sim
        .control(post.clone(), "/refund", json!({"order_id": order["id"]}))
        .await?;
    assert_eq!(refunded["order"]["status"], "refunded");
    assert_eq!(refunded["order"]["refunded"], "85.00");
    Ok(())
}

#[tokio::test]
async fn sca_statuses_are_driven_in_order() -> Result<()> {
    let sim = Sim::start(sim_kit::Seed::Demo).await?;
    let (_, state) = sim
        .control(reqwest::Method::GET, "/state", json!(null))
        .await?;
    let histories: Vec<Value> = state["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| o["status_history"].clone())
        .collect();
    assert!(histories.contains(&json!(["started", "sca_pending", "sca_success", "success"])));
    assert!(histories.contains(&json!(["started", "sca_pending", "sca_failed"])));
    Ok(())
}

#[tokio::test]
async fn aal_commands_check_the_handshake_and_log() -> Result<()> {
    let sim = Sim::start(sim_kit::Seed::Demo).await?;
    let (_, state) = sim
        .control(reqwest::Method::GET, "/state", json!(null))
        .await?;
    let contact = state["contacts"][0]["crm_contact_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let send = |cmd: &str, handshake: String, body: String| {
        sim.http
            .post(format!("{}/?{cmd}={handshake}", sim.running.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let ok = send(
        "aal_genpass",
        sim.info("handshake"),
        format!("contactId={contact}"),
    )
    .await?;
    assert_eq!(ok.status().as_u16(), 200);
    let bare = send("aal_updateuser", sim.info("handshake"), contact.clone()).await?;
    assert_eq!(bare.status().as_u16(), 200);
    let wrong = send("aal_genpass", "nope".into(), format!("contactId={contact}")).await?;
    assert_eq!(wrong.status().as_u16(), 403);
    let unknown = send(
        "aal_genpass",
        sim.info("handshake"),
        "contactId=999999".into(),
    )
    .await?;
    assert_eq!(unknown.status().as_u16(), 404);
    let (_, log) = sim
        .control(reqwest::Method::GET, "/aal-log", json!(null))
        .await?;
    let entries = log.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[2]["status"], 403);
    assert!(
        entries[2]["outcome"]
            .as_str()
            .unwrap_or_default()
            .contains("wrong handshake")
    );
    Ok(())
}

#[tokio::test]
async fn request_log_counts_api_calls_but_not_control_calls() -> Result<()> {
    let sim = Sim::start(sim_kit::Seed::Demo).await?;
    sim.api("/offerings").await?;
    sim.api("/offerings/1").await?;
    let (_, log) = sim
        .control(reqwest::Method::GET, "/requests", json!(null))
        .await?;
    assert_eq!(log["summary"]["total"], 2);
    assert_eq!(
        log["summary"]["by_route"]["GET /wp-json/allybridge/v1/offerings/{id}"],
        1
    );
    assert_eq!(log["summary"]["by_status"]["404"], 1);
    Ok(())
}
