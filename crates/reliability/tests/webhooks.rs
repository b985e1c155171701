//! Bad webhooks at the real server: malformed, unsigned, badly signed,
//! stale, replayed and oversized deliveries posted at the daemon's
//! `/webhooks/ghl` and `/webhooks/accessally/{tenant}` are answered with
//! the right status (400 malformed, 401 unsigned or badly signed, 413
//! oversized, 404 unknown tenant; a replay is acknowledged as a duplicate)
//! and nothing is stored for them: the inbox grows only by the one good
//! delivery of each system. Property tests then feed both verifiers
//! arbitrary bytes and headers: they never panic and never accept.

use std::time::Duration;

use proptest::prelude::*;
use reqwest::StatusCode;
use sandbox::{Sandbox, SandboxOptions};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Headers of one delivery.
type Headers = Vec<(&'static str, String)>;

fn ghl_body(
    location: &str,
    product: &str,
    webhook_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "ProductUpdate", "locationId": location, "_id": product, "name": "Probe",
        "webhookId": webhook_id, "timestamp": at.to_rfc3339(),
    }))
    .unwrap_or_default()
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await?;
    let status = resp.status();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_are_rejected_and_nothing_is_stored() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut sb = Sandbox::start(SandboxOptions::default()).await?;
    let url = sb.go_live().await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // The simulators' own deliveries (echoes of the engine's writes) would
    // grow the inbox too: they are all dropped, only the test posts.
    sb.set_faults(&sim_kit::Faults {
        webhook_drop_rate: 1.0,
        ..sim_kit::Faults::default()
    })
    .await?;
    let store = sb.engine.store.clone();
    let before = store.inbox_len().await?;
    let keys = sim_ghl::signing::WebhookKeys::get();
    let g = sb.ghl_truth().await?;
    let loc = g["id"].as_str().unwrap_or_default().to_string();
    let pid = g["products"][0]["_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ghl = format!("{url}/webhooks/ghl");
    let now = chrono::Utc::now();
    let mut checked = 0;

    // HighLevel.
    let good = ghl_body(&loc, &pid, "rel-good-1", now);
    let sig = keys.sign_ed25519(&good);
    let oversized = {
        let mut v = json!({"type": "ProductUpdate", "locationId": loc, "webhookId": "rel-big",
                           "timestamp": now.to_rfc3339()});
        v["pad"] = json!("x".repeat(server::MAX_BODY + 10));
        serde_json::to_vec(&v)?
    };
    let not_json = b"{\"type\": \"ProductUpdate\", \"webhookId\": ".to_vec();
    let stale = ghl_body(&loc, &pid, "rel-stale", now - chrono::Duration::minutes(10));
    let future = ghl_body(
        &loc,
        &pid,
        "rel-future",
        now + chrono::Duration::minutes(10),
    );
    let no_id = serde_json::to_vec(
        &json!({"type": "ProductUpdate", "locationId": loc, "_id": pid,
                                          "timestamp": now.to_rfc3339()}),
    )?;
    let cases: Vec<(&str, Headers, Vec<u8>, u16)> = vec![
        ("unsigned", vec![], good.clone(), 401),
        (
            "signed for another body",
            vec![("x-ghl-signature", keys.sign_ed25519(b"{}"))],
            good.clone(),
            401,
        ),
        (
            "signature not base64",
            vec![("x-ghl-signature", "%%%not-base64%%%".into())],
            good.clone(),
            401,
        ),
        (
            "legacy RSA signature of another body",
            vec![("x-wh-signature", keys.sign_rsa(b"{}"))],
            good.clone(),
            401,
        ),
        (
            "body altered after signing",
            vec![("x-ghl-signature", sig.clone())],
            ghl_body(&loc, &pid, "rel-good-2", now),
            401,
        ),
        (
            "malformed JSON, signed",
            vec![("x-ghl-signature", keys.sign_ed25519(&not_json))],
            not_json.clone(),
            400,
        ),
        (
            "JSON array, signed",
            vec![("x-ghl-signature", keys.sign_ed25519(b"[1,2]"))],
            b"[1,2]".to_vec(),
            400,
        ),
        (
            "no webhookId, signed",
            vec![("x-ghl-signature", keys.sign_ed25519(&no_id))],
            no_id.clone(),
            400,
        ),
        (
            "stale (10 min old), signed",
            vec![("x-ghl-signature", keys.sign_ed25519(&stale))],
            stale.clone(),
            400,
        ),
        (
            "from the future (10 min), signed",
            vec![("x-ghl-signature", keys.sign_ed25519(&future))],
            future.clone(),
            400,
        ),
        (
            "oversized (> 1 MiB), signed",
            vec![("x-ghl-signature", keys.sign_ed25519(&oversized))],
            oversized.clone(),
            413,
        ),
    ];
    for (name, headers, body, want) in cases {
        let (status, answer) = post(&http, &ghl, &headers, body).await?;
        assert_eq!(status.as_u16(), want, "HighLevel, {name}: {answer}");
        assert_eq!(
            store.inbox_len().await?,
            before,
            "HighLevel, {name}: nothing stored"
        );
        checked += 1;
    }
    // The good delivery is stored once; its replay is acknowledged and ignored.
    let (status, _) = post(
        &http,
        &ghl,
        &[("x-ghl-signature", sig.clone())],
        good.clone(),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.inbox_len().await?, before + 1);
    for _ in 0..3 {
        let (status, answer) = post(
            &http,
            &ghl,
            &[("x-ghl-signature", sig.clone())],
            good.clone(),
        )
        .await?;
        assert_eq!(status, StatusCode::OK, "a replay is acknowledged");
        assert_eq!(answer["duplicate"], true, "{answer}");
        assert_eq!(
            store.inbox_len().await?,
            before + 1,
            "a replay stores nothing"
        );
        checked += 1;
    }

    // AccessAlly.
    let secret = SecretString::from(
        sb.aa_site.info()["webhook_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let wrong = SecretString::from(sim_accessally::generate_secret());
    let a = sb.aa_truth().await?;
    let oid = a["offerings"][0]["id"].as_u64().unwrap_or(0);
    let aa = format!("{url}/webhooks/accessally/sandbox");
    let body = serde_json::to_vec(&json!({"type": "offering.updated", "data": {"id": oid}}))?;
    let ts = now.timestamp();
    let signed =
        |secret: &SecretString, id: &str, ts: i64, body: &[u8]| -> Vec<(&'static str, String)> {
            vec![
                ("webhook-id", id.to_string()),
                ("webhook-timestamp", ts.to_string()),
                (
                    "webhook-signature",
                    accessally::webhook::sign(secret, id, ts, body).unwrap_or_default(),
                ),
            ]
        };
    let big = {
        let v = json!({"type": "offering.updated", "data": {"id": oid, "pad": "x".repeat(server::MAX_BODY + 10)}});
        serde_json::to_vec(&v)?
    };
    let unknown_type =
        serde_json::to_vec(&json!({"type": "offering.exploded", "data": {"id": oid}}))?;
    let mut cases: Vec<(&str, String, Headers, Vec<u8>, u16)> = vec![
        ("unsigned", aa.clone(), vec![], body.clone(), 401),
        (
            "signed with another secret",
            aa.clone(),
            signed(&wrong, "msg_rel_1", ts, &body),
            body.clone(),
            401,
        ),
        (
            "stale (10 min old), signed",
            aa.clone(),
            signed(&secret, "msg_rel_2", ts - 600, &body),
            body.clone(),
            401,
        ),
        (
            "malformed JSON, signed",
            aa.clone(),
            signed(&secret, "msg_rel_3", ts, b"{\"type\":"),
            b"{\"type\":".to_vec(),
            400,
        ),
        (
            "unknown event type, signed",
            aa.clone(),
            signed(&secret, "msg_rel_4", ts, &unknown_type),
            unknown_type.clone(),
            400,
        ),
        (
            "oversized (> 1 MiB), signed",
            aa.clone(),
            signed(&secret, "msg_rel_5", ts, &big),
            big.clone(),
            413,
        ),
        (
            "unknown tenant, signed",
            format!("{url}/webhooks/accessally/nobody"),
            signed(&secret, "msg_rel_6", ts, &body),
            body.clone(),
            404,
        ),
    ];
    let mut altered = signed(&secret, "msg_rel_7", ts, &body);
    altered[1].1 = (ts - 1).to_string();
    cases.push((
        "timestamp altered after signing",
        aa.clone(),
        altered,
        body.clone(),
        401,
    ));
    for (name, target, headers, body, want) in cases {
        let (status, answer) = post(&http, &target, &headers, body).await?;
        assert_eq!(status.as_u16(), want, "AccessAlly, {name}: {answer}");
        assert_eq!(
            store.inbox_len().await?,
            before + 1,
            "AccessAlly, {name}: nothing stored"
        );
        checked += 1;
    }
    let good = signed(&secret, "msg_rel_good", ts, &body);
    let (status, answer) = post(&http, &aa, &good, body.clone()).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(store.inbox_len().await?, before + 2);
    for _ in 0..3 {
        let (status, answer) = post(&http, &aa, &good, body.clone()).await?;
        assert_eq!(status, StatusCode::OK, "a replay is acknowledged: {answer}");
        assert_eq!(answer["duplicate"], true, "{answer}");
        assert_eq!(
            store.inbox_len().await?,
            before + 2,
            "a replay stores nothing"
        );
        checked += 1;
    }
    println!(
        "bad webhooks: {checked} rejected or ignored deliveries, 2 good ones stored, {:.1?}",
        started.elapsed()
    );
    Ok(())
}

fn verifiers() -> (ghl::webhook::WebhookVerifier, accessally::WebhookVerifier) {
    let keys = sim_ghl::signing::WebhookKeys::get();
    let ed = ghl::webhook::Ed25519PublicKey::parse(&keys.ed25519_public_pem).expect("ed25519 key");
    let rsa = ghl::webhook::RsaPublicKey::parse(&keys.rsa_public_pem).expect("rsa key");
    let g = ghl::webhook::WebhookVerifier::new(Some(ed))
        .expect("verifier")
        .with_rsa_key(Some(rsa));
    let a = accessally::WebhookVerifier::new(
        &SecretString::from(sim_accessally::generate_secret()),
        std::sync::Arc::new(accessally::InMemorySeenIds::default()),
    )
    .expect("verifier");
    (g, a)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary bodies and signature headers: no panic, never accepted.
    #[test]
    fn verifiers_never_accept_forged_deliveries(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        sig in proptest::collection::vec(any::<u8>(), 0..128),
        legacy in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..512)),
        id in "[ -~]{0,300}",
        ts in any::<i64>(),
    ) {
        let (g, a) = verifiers();
        let now = chrono::Utc::now();
        let r = g.verify_raw(Some(&sig), legacy.as_deref(), &body, now);
        prop_assert!(r.is_err());
        let sig_text = String::from_utf8_lossy(&sig).to_string();
        let r = a.verify_parts(&id, &ts.to_string(), &sig_text, &body, now.timestamp());
        prop_assert!(r.is_err());
    }

    /// Correctly signed but arbitrary bodies: no panic; accepted only as JSON objects.
    #[test]
    fn signed_garbage_is_parsed_safely(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (g, _) = verifiers();
        let keys = sim_ghl::signing::WebhookKeys::get();
        let sig = keys.sign_ed25519(&body);
        if let Ok(v) = g.verify_raw(Some(sig.as_bytes()), None, &body, chrono::Utc::now()) {
            prop_assert!(v.payload.is_object());
            let _ = ghl::events::GhlEvent::from_value(v.payload);
        }
    }
}
