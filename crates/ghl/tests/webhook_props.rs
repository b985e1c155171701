//! Property tests: arbitrary bytes and header values into the webhook
//! verifier, and arbitrary JSON or bytes into the event parser, never
//! panic; validly signed random payloads reach every payload check.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ghl::events::GhlEvent;
use ghl::webhook::{
    Ed25519PublicKey, LEGACY_SIGNATURE_HEADER, RsaPublicKey, SIGNATURE_HEADER, WebhookVerifier,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_770_000_000, 0).unwrap_or_default()
}

fn verifier() -> WebhookVerifier {
    let pem = signing_key()
        .verifying_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    WebhookVerifier::new(Some(Ed25519PublicKey::parse(&pem).expect("key")))
        .expect("official key")
        .with_clock(Arc::new(now))
        .with_max_body_bytes(64 * 1024)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("one_time"),
            Just("ContactCreate"),
            Just("INSTALL"),
            Just("location"),
            Just("2026-01-01T00:00:00Z"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Keys the parser looks at, and a few others.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "_id",
            "id",
            "locationId",
            "webhookId",
            "timestamp",
            "product",
            "price",
            "productType",
            "priceType",
            "items",
            "contactId",
            "contactSnapshot",
            "altId",
            "altType",
            "invoiceNumber",
            "appId",
            "companyId",
            "deleted",
            "createdAt",
            "updatedAt",
            "qty",
            "email",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,8}",
    ]
}

/// An event type: a known name or anything.
fn type_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "ContactCreate",
            "ContactUpdate",
            "ContactDelete",
            "ContactTagUpdate",
            "ContactDndUpdate",
            "OrderCreate",
            "OrderStatusUpdate",
            "InvoiceCreate",
            "InvoicePaid",
            "InvoiceVoid",
            "INSTALL",
            "UNINSTALL",
            "ProductCreate",
            "PriceDelete",
            "one_time",
            "recurring",
        ])
        .prop_map(|s| Value::String(s.to_string())),
        json_value(),
    ]
}

fn exercise(e: &GhlEvent) {
    let _ = (
        e.name(),
        e.webhook_id(),
        e.location_id(),
        e.record(),
        e.is_unknown(),
    );
    let _ = format!("{e:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn verifier_never_panics_on_arbitrary_input(
        body in prop::collection::vec(any::<u8>(), 0..2048),
        ghl in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
        legacy in prop::option::of(prop::collection::vec(any::<u8>(), 0..800)),
        offset in any::<i64>(),
    ) {
        let v = verifier();
        let when = DateTime::from_timestamp(offset % 10_000_000_000, 0).unwrap_or_else(now);
        let _ = v.verify_raw(ghl.as_deref(), legacy.as_deref(), &body, when);
        let mut headers = HeaderMap::new();
        if let Some(Ok(h)) = ghl.as_deref().map(HeaderValue::from_bytes) {
            headers.insert(SIGNATURE_HEADER, h);
        }
        if let Some(Ok(h)) = legacy.as_deref().map(HeaderValue::from_bytes) {
            headers.insert(LEGACY_SIGNATURE_HEADER, h);
        }
        let r = v.verify(&headers, &body);
        prop_assert!(r.is_err(), "an unsigned body never verifies");
        let _ = r.map_err(|e| (e.to_string(), e.http_status()));
    }

    #[test]
    fn base64_looking_signatures_never_verify(
        body in prop::collection::vec(any::<u8>(), 0..512),
        sig in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let v = verifier().with_rsa_key(Some(RsaPublicKey::official().expect("official")));
        let encoded = STANDARD.encode(&sig);
        prop_assert!(v.verify_raw(Some(encoded.as_bytes()), None, &body, now()).is_err());
        prop_assert!(v.verify_raw(None, Some(encoded.as_bytes()), &body, now()).is_err());
    }

    #[test]
    fn parser_never_panics_on_arbitrary_json(v in json_value()) {
        let e = GhlEvent::from_value(v.clone());
        exercise(&e);
        let bytes = serde_json::to_vec(&v).expect("json");
        let again = GhlEvent::from_slice(&bytes);
        prop_assert!(again.is_ok());
        prop_assert_eq!(again.map(|a| a.name().to_string()).ok(), Some(e.name().to_string()));
    }

    #[test]
    fn parser_never_panics_on_typed_objects(
        mut obj in prop::collection::btree_map(key(), json_value(), 0..12),
        kind in type_name(),
    ) {
        obj.insert("type".into(), kind);
        let e = GhlEvent::from_value(Value::Object(obj.into_iter().collect()));
        exercise(&e);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        if let Ok(e) = GhlEvent::from_slice(&bytes) {
            exercise(&e);
        }
    }
}

proptest! {
    // Ed25519 signing is slow in unoptimised builds: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn signed_random_payloads_reach_every_check(
        mut payload in prop::collection::btree_map(key(), json_value(), 0..10),
        kind in type_name(),
        ts_offset in -900i64..900,
        with_meta in any::<bool>(),
    ) {
        payload.insert("type".into(), kind);
        if with_meta {
            let ts = now() + chrono::Duration::seconds(ts_offset);
            payload.insert("timestamp".into(), json!(ts.to_rfc3339()));
            payload.insert("webhookId".into(), json!("w"));
        }
        let body = serde_json::to_vec(&Value::Object(payload.into_iter().collect())).expect("json");
        let sig = STANDARD.encode(signing_key().sign(&body).to_bytes());
        let v = verifier();
        match v.verify_raw(Some(sig.as_bytes()), None, &body, now()) {
            Ok(ok) => {
                prop_assert!(!with_meta || ts_offset.abs() <= 300);
                exercise(&GhlEvent::from_value(ok.payload));
            }
            Err(e) => prop_assert!(!e.to_string().contains("\"")),
        }
    }
}

#[test]
fn deeply_nested_json_is_refused_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(GhlEvent::from_slice(deep.as_bytes()).is_err());
    let v = verifier();
    let sig = STANDARD.encode(signing_key().sign(deep.as_bytes()).to_bytes());
    assert!(
        v.verify_raw(Some(sig.as_bytes()), None, deep.as_bytes(), now())
            .is_err()
    );
}
