//! The webhook verifier never panics on arbitrary bytes and headers, and
//! accepts exactly the deliveries signed with its secret.

use std::sync::Arc;

use accessally::webhook::sign;
use accessally::{InMemorySeenIds, SecretString, WebhookError, WebhookVerifier};
use proptest::prelude::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_700_000_000;

fn verifier() -> Result<WebhookVerifier, WebhookError> {
    WebhookVerifier::new(
        &SecretString::from(SECRET),
        Arc::new(InMemorySeenIds::default()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_is_rejected_without_panic(
        id in ".{0,40}",
        timestamp in prop_oneof![".{0,20}", (NOW - 400..NOW + 400).prop_map(|t| t.to_string())],
        signature in prop_oneof![".{0,90}", "v1,[A-Za-z0-9+/=]{0,60}"],
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let v = verifier().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = v.verify_parts(&id, &timestamp, &signature, &body, NOW);
        prop_assert!(result.is_err());
        let mut headers = http::HeaderMap::new();
        for (k, val) in [("webhook-id", &id), ("webhook-timestamp", &timestamp), ("webhook-signature", &signature)] {
            if let Ok(val) = http::HeaderValue::from_bytes(val.as_bytes()) {
                headers.insert(k, val);
            }
        }
        prop_assert!(v.verify_at(&headers, &body, NOW).is_err());
    }

    #[test]
    fn signed_deliveries_verify_and_any_tampering_fails(
        id in "msg_[A-Za-z0-9]{1,24}",
        skew in -299i64..299,
        flip in any::<prop::sample::Index>(),
    ) {
        let v = verifier().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let body = format!(r#"{{"type":"order.completed","timestamp":"2023-11-14T22:13:20Z","data":{{"id":{}}}}}"#, skew.abs());
        let ts = NOW + skew;
        let sig = sign(&SecretString::from(SECRET), &id, ts, body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(v.verify_parts(&id, &ts.to_string(), &sig, body.as_bytes(), NOW).is_ok());
        let mut tampered = body.into_bytes();
        let i = flip.index(tampered.len());
        tampered[i] ^= 0x01;
        prop_assert_eq!(v.verify_parts(&id, &ts.to_string(), &sig, &tampered, NOW).err(), Some(WebhookError::BadSignature));
    }
}
