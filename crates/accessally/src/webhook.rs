//! Verification of the Bridge API's outgoing webhooks, signed per Standard
//! Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, at most 5
//! minutes away) and `webhook-signature` (space-separated `v1,<base64>`
//! HMAC-SHA256 of `"{id}.{timestamp}.{body}"`, keyed with the base64-decoded
//! part of the `whsec_` secret). Replays are caught through a pluggable
//! seen-id check. Works on raw bytes, never panics on any input, and does
//! not persist or act on events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::Deserialize;
use sha2::Sha256;

use crate::error::Error;
use crate::model::{Coupon, Offering, Order, Topic, WireCoupon, WireOffering, WireOrder};

/// How far a timestamp may be from now.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Why a delivery was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook secret is not `whsec_` + base64")]
    InvalidSecret,
    #[error("header `{0}` is missing")]
    MissingHeader(&'static str),
    #[error("header `{0}` is malformed")]
    MalformedHeader(&'static str),
    #[error("timestamp is {0} s away from now")]
    Stale(i64),
    #[error("no signature matches")]
    BadSignature,
    #[error("webhook id was already seen (replay)")]
    Replayed,
    #[error("payload is not a webhook event: {0}")]
    InvalidPayload(String),
}

/// Remembers delivered webhook ids to catch replays.
pub trait SeenIds: Send + Sync {
    /// Records `id` and answers whether it is new. `timestamp` lets an
    /// implementation forget ids older than the tolerance.
    fn first_time(&self, id: &str, timestamp: i64) -> bool;
}

/// In-memory [`SeenIds`] that forgets ids older than twice the tolerance.
#[derive(Debug, Default)]
pub struct InMemorySeenIds {
    ids: Mutex<HashMap<String, i64>>,
}

impl SeenIds for InMemorySeenIds {
    fn first_time(&self, id: &str, timestamp: i64) -> bool {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() > 10_000 {
            let horizon = Utc::now().timestamp() - 2 * DEFAULT_TOLERANCE.as_secs() as i64;
            ids.retain(|_, t| *t >= horizon);
        }
        ids.insert(id.to_string(), timestamp).is_none()
    }
}

/// A verified delivery.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub id: String,
    pub timestamp: DateTime<Utc>,
    pub topic: Topic,
    /// The resource as `GET` answers it (as it was, for `*.deleted`).
    pub data: serde_json::Value,
}

impl WebhookEvent {
    pub fn order(&self) -> Result<Order, Error> {
        let w: WireOrder = serde_json::from_value(self.data.clone())
            .map_err(|e| Error::InvalidData(e.to_string()))?;
        Order::try_from(w)
    }
    pub fn offering(&self) -> Result<Offering, Error> {
        let w: WireOffering = serde_json::from_value(self.data.clone())
            .map_err(|e| Error::InvalidData(e.to_string()))?;
        Offering::try_from(w)
    }
    pub fn coupon(&self) -> Result<Coupon, Error> {
        let w: WireCoupon = serde_json::from_value(self.data.clone())
            .map_err(|e| Error::InvalidData(e.to_string()))?;
        Coupon::try_from(w)
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    topic: String,
    data: serde_json::Value,
}

/// Checks deliveries of one subscription.
pub struct WebhookVerifier {
    key: SecretBox<Vec<u8>>,
    tolerance: Duration,
    seen: Arc<dyn SeenIds>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    pub fn new(secret: &SecretString, seen: Arc<dyn SeenIds>) -> Result<Self, WebhookError> {
        let encoded = secret
            .expose_secret()
            .strip_prefix("whsec_")
            .ok_or(WebhookError::InvalidSecret)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret)?;
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(Self {
            key: SecretBox::new(Box::new(key)),
            tolerance: DEFAULT_TOLERANCE,
            seen,
        })
    }

    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a delivery now: headers, freshness, signature, then replay.
    pub fn verify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<WebhookEvent, WebhookError> {
        self.verify_at(headers, body, Utc::now().timestamp())
    }

    /// [`WebhookVerifier::verify`] at a given Unix time.
    pub fn verify_at(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let event = self.verify_signature_at(headers, body, now)?;
        if !self.seen.first_time(&event.id, event.timestamp.timestamp()) {
            return Err(WebhookError::Replayed);
        }
        Ok(event)
    }

    /// Everything but the replay check: for a receiver that records the id
    /// only once it has processed the event (so a failed attempt can be retried).
    pub fn verify_signature_at(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = |name: &'static str| -> Result<&str, WebhookError> {
            headers
                .get(name)
                .ok_or(WebhookError::MissingHeader(name))?
                .to_str()
                .map_err(|_| WebhookError::MalformedHeader(name))
        };
        self.verify_parts(
            header("webhook-id")?,
            header("webhook-timestamp")?,
            header("webhook-signature")?,
            body,
            now,
        )
    }

    /// The check on the three header values (no replay check).
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        if id.is_empty() || id.len() > 256 {
            return Err(WebhookError::MalformedHeader("webhook-id"));
        }
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::MalformedHeader("webhook-timestamp"))?;
        let age = now.saturating_sub(ts);
        if age.unsigned_abs() > self.tolerance.as_secs() {
            return Err(WebhookError::Stale(age));
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .map_err(|_| WebhookError::InvalidSecret)?;
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        let matches = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|sig| {
                STANDARD
                    .decode(sig)
                    .is_ok_and(|bytes| constant_time_eq(&bytes, expected.as_slice()))
            });
        if !matches {
            return Err(WebhookError::BadSignature);
        }
        let payload: Payload = serde_json::from_slice(body)
            .map_err(|e| WebhookError::InvalidPayload(e.to_string()))?;
        let topic = Topic::parse(&payload.topic).ok_or_else(|| {
            WebhookError::InvalidPayload(format!(
                "unknown type `{}`",
                payload.topic.chars().take(64).collect::<String>()
            ))
        })?;
        let timestamp = DateTime::from_timestamp(ts, 0)
            .ok_or(WebhookError::MalformedHeader("webhook-timestamp"))?;
        Ok(WebhookEvent {
            id: id.to_string(),
            timestamp,
            topic,
            data: payload.data,
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs like the site does (for tests and tools that replay deliveries).
pub fn sign(
    secret: &SecretString,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let encoded = secret
        .expose_secret()
        .strip_prefix("whsec_")
        .ok_or(WebhookError::InvalidSecret)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| WebhookError::InvalidSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::InvalidSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    }

    fn headers(id: &str, ts: i64, sig: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in [
            ("webhook-id", id.to_string()),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", sig.to_string()),
        ] {
            if let Ok(v) = http::HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        h
    }

    const BODY: &[u8] =
        br#"{"type":"coupon.created","timestamp":"2021-02-25T15:02:10Z","data":{"id":1}}"#;

    #[test]
    fn accepts_valid_then_rejects_replay() -> Result<(), WebhookError> {
        let v = WebhookVerifier::new(&secret(), Arc::new(InMemorySeenIds::default()))?;
        let now = 1_614_265_330;
        let sig = sign(&secret(), "msg_1", now, BODY)?;
        let event = v.verify_at(&headers("msg_1", now, &sig), BODY, now + 10)?;
        assert_eq!(event.topic, Topic::CouponCreated);
        assert_eq!(
            v.verify_at(&headers("msg_1", now, &sig), BODY, now + 10)
                .err(),
            Some(WebhookError::Replayed)
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_missing_and_stale() -> Result<(), WebhookError> {
        let v = WebhookVerifier::new(&secret(), Arc::new(InMemorySeenIds::default()))?;
        let now = 1_614_265_330;
        let sig = sign(&secret(), "msg_2", now, BODY)?;
        let tampered =
            br#"{"type":"coupon.created","timestamp":"2021-02-25T15:02:10Z","data":{"id":2}}"#;
        assert_eq!(
            v.verify_at(&headers("msg_2", now, &sig), tampered, now)
                .err(),
            Some(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify_at(&headers("msg_2", now, "v1,AAAA"), BODY, now)
                .err(),
            Some(WebhookError::BadSignature)
        );
        assert_eq!(
            v.verify_at(&http::HeaderMap::new(), BODY, now).err(),
            Some(WebhookError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            v.verify_at(&headers("msg_2", now, &sig), BODY, now + 301)
                .err(),
            Some(WebhookError::Stale(301))
        );
        assert_eq!(
            v.verify_at(&headers("msg_2", now, &sig), BODY, now - 301)
                .err(),
            Some(WebhookError::Stale(-301))
        );
        // A valid signature among several is enough (key rotation).
        let several = format!("v1,bm9wZQ== {sig}");
        assert!(
            v.verify_at(&headers("msg_2", now, &several), BODY, now)
                .is_ok()
        );
        assert!(
            WebhookVerifier::new(
                &SecretString::from("plain"),
                Arc::new(InMemorySeenIds::default())
            )
            .is_err()
        );
        Ok(())
    }
}
