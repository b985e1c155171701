//! Intake checks for HighLevel's signed webhooks: the body-size limit, the
//! `x-ghl-signature` (Ed25519) check over the raw body bytes with the
//! legacy `x-wh-signature` (RSA PKCS#1 v1.5, SHA-256) only where the new
//! header is absent, the `timestamp` freshness window against an injectable
//! clock, and duplicate detection by `webhookId` through a pluggable
//! [`SeenWebhooks`] check. It owns the verification keys and nothing else:
//! it does not type events (see [`crate::events`]), persist or act on them,
//! and it never panics on any input nor puts a body, a signature or key
//! material into an error or `Debug` output.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use http::HeaderMap;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::signature::Verifier as _;
use serde_json::Value;
use sha2::Sha256;

/// The Ed25519 signature header.
pub const SIGNATURE_HEADER: &str = "x-ghl-signature";
/// The legacy RSA signature header, used only when [`SIGNATURE_HEADER`] is absent.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-wh-signature";
/// HighLevel's published RSA public key for `x-wh-signature` (SPKI PEM).
pub const OFFICIAL_RSA_PUBLIC_KEY_PEM: &str =
    include_str!("../keys/ghl-webhook-rsa-public-key.pem");
/// Largest body accepted by default (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// How far the payload `timestamp` may be from now, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// How long the in-memory seen-check remembers a `webhookId`.
pub const DEFAULT_SEEN_TTL: Duration = Duration::from_secs(15 * 60);
/// How many `webhookId`s the in-memory seen-check remembers at most.
pub const DEFAULT_SEEN_CAPACITY: usize = 100_000;

/// Longest signature header considered (an RSA-4096 signature is 684 base64 characters).
const MAX_SIGNATURE_HEADER_LEN: usize = 2048;

/// Why a key could not be loaded. Never carries the key text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the Ed25519 public key is not an SPKI PEM, base64 SPKI or base64 raw 32-byte key")]
    InvalidEd25519Key,
    #[error("the RSA public key is not an SPKI or PKCS#1 PEM, or base64 SPKI")]
    InvalidRsaKey,
}

/// Why a delivery was rejected. Says what failed, never the body, a
/// signature or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("body of {len} bytes exceeds the {max}-byte limit")]
    BodyTooLarge { len: usize, max: usize },
    #[error("no `x-ghl-signature` or `x-wh-signature` header")]
    MissingSignature,
    #[error("header `{header}` is not a single base64 signature of the right length")]
    MalformedSignature { header: &'static str },
    #[error("header `{header}` does not verify against the body")]
    BadSignature { header: &'static str },
    #[error("body is not valid JSON (line {line}, column {column})")]
    UnparsableBody { line: usize, column: usize },
    #[error("body is JSON but not an object")]
    NotAnObject,
    #[error("payload has no `timestamp`")]
    MissingTimestamp,
    #[error("payload `timestamp` is not an ISO-8601 date-time")]
    BadTimestamp,
    #[error("payload `timestamp` is {age_secs} s old (limit {limit_secs} s)")]
    StaleTimestamp { age_secs: i64, limit_secs: u64 },
    #[error("payload `timestamp` is {ahead_secs} s in the future (limit {limit_secs} s)")]
    FutureTimestamp { ahead_secs: i64, limit_secs: u64 },
    #[error("payload has no `webhookId`")]
    MissingWebhookId,
}

impl WebhookError {
    /// The HTTP status an intake should answer with: 413 for an oversized
    /// body, 401 for signature failures, 400 for the rest. (Never 429,
    /// which is the one status HighLevel retries on.)
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::BodyTooLarge { .. } => 413,
            WebhookError::MissingSignature
            | WebhookError::MalformedSignature { .. }
            | WebhookError::BadSignature { .. } => 401,
            _ => 400,
        }
    }
}

/// An Ed25519 public key for `x-ghl-signature`.
#[derive(Clone)]
pub struct Ed25519PublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519PublicKey(..)")
    }
}

impl Ed25519PublicKey {
    /// Reads an SPKI PEM (`-----BEGIN PUBLIC KEY-----`), the bare base64
    /// SPKI form HighLevel publishes (`MCowBQYDK2VwAyEA…`), or a base64 raw
    /// 32-byte key. Literal `\n` sequences (as in environment variables) are
    /// read as line breaks.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.replace("\\n", "\n");
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return ed25519_dalek::VerifyingKey::from_public_key_pem(text)
                .map(Self)
                .map_err(|_| KeyError::InvalidEd25519Key);
        }
        let der = decode_base64(text).ok_or(KeyError::InvalidEd25519Key)?;
        if let Ok(raw) = <[u8; 32]>::try_from(der.as_slice()) {
            return ed25519_dalek::VerifyingKey::from_bytes(&raw)
                .map(Self)
                .map_err(|_| KeyError::InvalidEd25519Key);
        }
        ed25519_dalek::VerifyingKey::from_public_key_der(&der)
            .map(Self)
            .map_err(|_| KeyError::InvalidEd25519Key)
    }
}

/// An RSA public key for `x-wh-signature`.
#[derive(Clone)]
pub struct RsaPublicKey(rsa::pkcs1v15::VerifyingKey<Sha256>);

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaPublicKey(..)")
    }
}

impl RsaPublicKey {
    /// Reads an SPKI PEM (`-----BEGIN PUBLIC KEY-----`, the form HighLevel
    /// publishes), a PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`) or bare
    /// base64 SPKI. Literal `\n` sequences are read as line breaks.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        use rsa::pkcs8::DecodePublicKey as _;
        let text = text.replace("\\n", "\n");
        let text = text.trim();
        let key = if text.starts_with("-----BEGIN RSA PUBLIC KEY") {
            rsa::RsaPublicKey::from_pkcs1_pem(text).map_err(|_| KeyError::InvalidRsaKey)?
        } else if text.starts_with("-----BEGIN") {
            rsa::RsaPublicKey::from_public_key_pem(text).map_err(|_| KeyError::InvalidRsaKey)?
        } else {
            let der = decode_base64(text).ok_or(KeyError::InvalidRsaKey)?;
            rsa::RsaPublicKey::from_public_key_der(&der).map_err(|_| KeyError::InvalidRsaKey)?
        };
        Ok(Self(rsa::pkcs1v15::VerifyingKey::new(key)))
    }

    /// HighLevel's official key, shipped with this crate.
    pub fn official() -> Result<Self, KeyError> {
        Self::parse(OFFICIAL_RSA_PUBLIC_KEY_PEM)
    }
}

/// Which signature verified a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `x-ghl-signature`, Ed25519.
    Ed25519,
    /// `x-wh-signature`, RSA PKCS#1 v1.5 with SHA-256 (legacy).
    Rsa,
}

/// What the seen-check found for a `webhookId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// First time: now recorded.
    First,
    /// Already recorded: a duplicate delivery.
    Repeat,
}

/// Remembers `webhookId`s of verified deliveries to report duplicates.
/// Called only after the signature and timestamp checks passed, so forged
/// deliveries cannot fill it. A durable implementation can live in the store.
pub trait SeenWebhooks: Send + Sync {
    /// Records `webhook_id` as seen at `now` and tells whether it was
    /// already there.
    fn check_and_record(&self, webhook_id: &str, now: DateTime<Utc>) -> Sighting;
}

/// A bounded in-memory [`SeenWebhooks`]: entries expire after a TTL, and
/// past the capacity the oldest entries are forgotten first.
pub struct InMemorySeen {
    ttl: chrono::Duration,
    capacity: usize,
    inner: Mutex<SeenInner>,
}

#[derive(Default)]
struct SeenInner {
    /// `webhookId` → when it was recorded.
    seen: HashMap<String, DateTime<Utc>>,
    /// Insertion order, to expire and evict oldest first.
    order: VecDeque<(String, DateTime<Utc>)>,
}

impl fmt::Debug for InMemorySeen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemorySeen")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for InMemorySeen {
    fn default() -> Self {
        Self::new(DEFAULT_SEEN_CAPACITY, DEFAULT_SEEN_TTL)
    }
}

impl InMemorySeen {
    /// Remembers at most `capacity` ids (at least 1), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            capacity: capacity.max(1),
            inner: Mutex::new(SeenInner::default()),
        }
    }

    /// How many ids are remembered now (expired ones included until the next call).
    pub fn len(&self) -> usize {
        self.lock().seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SeenInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SeenWebhooks for InMemorySeen {
    fn check_and_record(&self, webhook_id: &str, now: DateTime<Utc>) -> Sighting {
        let mut inner = self.lock();
        let horizon = now.checked_sub_signed(self.ttl);
        // Expire from the front; an order entry only removes the map entry
        // it was pushed with (a re-recorded id has a newer time).
        while let Some((id, at)) = inner.order.front().cloned() {
            let expired = horizon.is_some_and(|h| at < h);
            if !expired && inner.order.len() <= self.capacity {
                break;
            }
            inner.order.pop_front();
            if inner.seen.get(&id) == Some(&at) {
                inner.seen.remove(&id);
            }
        }
        if let Some(at) = inner.seen.get(webhook_id)
            && horizon.is_none_or(|h| *at >= h)
        {
            return Sighting::Repeat;
        }
        inner.seen.insert(webhook_id.to_string(), now);
        inner.order.push_back((webhook_id.to_string(), now));
        while inner.order.len() > self.capacity {
            if let Some((id, at)) = inner.order.pop_front()
                && inner.seen.get(&id) == Some(&at)
            {
                inner.seen.remove(&id);
            }
        }
        Sighting::First
    }
}

/// A delivery that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The payload's `webhookId`.
    pub webhook_id: String,
    /// The payload's `timestamp`.
    pub timestamp: DateTime<Utc>,
    /// Which signature verified it.
    pub scheme: Scheme,
    /// Already seen: answer 200 without processing it again.
    pub duplicate: bool,
    /// The parsed payload, for [`crate::events::GhlEvent::from_value`].
    pub payload: Value,
}

/// Where "now" comes from (injectable so tests need no sleeping).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Checks HighLevel webhook deliveries. Cheap to share behind an `Arc`.
pub struct WebhookVerifier {
    ed25519: Option<Ed25519PublicKey>,
    rsa: Option<RsaPublicKey>,
    max_body_bytes: usize,
    tolerance: Duration,
    seen: Arc<dyn SeenWebhooks>,
    clock: Clock,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("ed25519_key", &self.ed25519.is_some())
            .field("rsa_key", &self.rsa.is_some())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier with `ed25519` for `x-ghl-signature` and HighLevel's
    /// official RSA key for `x-wh-signature`, the default limits, an
    /// [`InMemorySeen`] and the system clock.
    ///
    /// Without an Ed25519 key (`None`), only `x-wh-signature` is checked
    /// and `x-ghl-signature` is ignored (legacy mode).
    pub fn new(ed25519: Option<Ed25519PublicKey>) -> Result<Self, KeyError> {
        Ok(Self {
            ed25519,
            rsa: Some(RsaPublicKey::official()?),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            tolerance: DEFAULT_TOLERANCE,
            seen: Arc::new(InMemorySeen::default()),
            clock: Arc::new(Utc::now),
        })
    }

    /// Replaces the RSA key for `x-wh-signature`; `None` disables that scheme.
    pub fn with_rsa_key(mut self, key: Option<RsaPublicKey>) -> Self {
        self.rsa = key;
        self
    }

    /// Replaces the Ed25519 key for `x-ghl-signature`.
    pub fn with_ed25519_key(mut self, key: Option<Ed25519PublicKey>) -> Self {
        self.ed25519 = key;
        self
    }

    /// Sets the largest body accepted.
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Sets how far the payload timestamp may be from now, either way.
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Sets the seen-check used to report duplicates.
    pub fn with_seen(mut self, seen: Arc<dyn SeenWebhooks>) -> Self {
        self.seen = seen;
        self
    }

    /// Sets where "now" comes from.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The largest body accepted (for the HTTP layer's own limit).
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Checks one delivery against the clock's "now".
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, WebhookError> {
        self.verify_at(headers, body, (self.clock)())
    }

    /// Checks one delivery against `now`.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, WebhookError> {
        let ghl = header_bytes(headers, SIGNATURE_HEADER)?;
        let legacy = header_bytes(headers, LEGACY_SIGNATURE_HEADER)?;
        self.verify_raw(ghl, legacy, body, now)
    }

    /// Checks one delivery given the raw values of the two signature
    /// headers (for callers without an [`http::HeaderMap`]).
    pub fn verify_raw(
        &self,
        ghl_signature: Option<&[u8]>,
        legacy_signature: Option<&[u8]>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, WebhookError> {
        if body.len() > self.max_body_bytes {
            return Err(WebhookError::BodyTooLarge {
                len: body.len(),
                max: self.max_body_bytes,
            });
        }
        let scheme = self.check_signature(ghl_signature, legacy_signature, body)?;
        let payload: Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::UnparsableBody {
                line: e.line(),
                column: e.column(),
            })?;
        let object = payload.as_object().ok_or(WebhookError::NotAnObject)?;
        let timestamp = match object.get("timestamp") {
            None | Some(Value::Null) => return Err(WebhookError::MissingTimestamp),
            Some(v) => parse_timestamp(v).ok_or(WebhookError::BadTimestamp)?,
        };
        self.check_freshness(timestamp, now)?;
        let webhook_id = match object.get("webhookId") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(WebhookError::MissingWebhookId),
        };
        let duplicate = self.seen.check_and_record(&webhook_id, now) == Sighting::Repeat;
        Ok(Verified {
            webhook_id,
            timestamp,
            scheme,
            duplicate,
            payload,
        })
    }

    fn check_signature(
        &self,
        ghl: Option<&[u8]>,
        legacy: Option<&[u8]>,
        body: &[u8],
    ) -> Result<Scheme, WebhookError> {
        if let (Some(sig), Some(key)) = (ghl, &self.ed25519) {
            let header = SIGNATURE_HEADER;
            let bytes = decode_signature(sig).ok_or(WebhookError::MalformedSignature { header })?;
            let sig = ed25519_dalek::Signature::from_slice(&bytes)
                .map_err(|_| WebhookError::MalformedSignature { header })?;
            return key
                .0
                .verify_strict(body, &sig)
                .map(|()| Scheme::Ed25519)
                .map_err(|_| WebhookError::BadSignature { header });
        }
        if let (Some(sig), Some(key)) = (legacy, &self.rsa) {
            let header = LEGACY_SIGNATURE_HEADER;
            let bytes = decode_signature(sig).ok_or(WebhookError::MalformedSignature { header })?;
            let sig = rsa::pkcs1v15::Signature::try_from(bytes.as_slice())
                .map_err(|_| WebhookError::MalformedSignature { header })?;
            return key
                .0
                .verify(body, &sig)
                .map(|()| Scheme::Rsa)
                .map_err(|_| WebhookError::BadSignature { header });
        }
        Err(WebhookError::MissingSignature)
    }

    fn check_freshness(
        &self,
        timestamp: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let limit_secs = self.tolerance.as_secs();
        let limit_ms = i64::try_from(self.tolerance.as_millis()).unwrap_or(i64::MAX);
        let delta_ms = now.signed_duration_since(timestamp).num_milliseconds();
        if delta_ms > limit_ms {
            return Err(WebhookError::StaleTimestamp {
                age_secs: delta_ms / 1000,
                limit_secs,
            });
        }
        if delta_ms < -limit_ms {
            return Err(WebhookError::FutureTimestamp {
                ahead_secs: -(delta_ms / 1000),
                limit_secs,
            });
        }
        Ok(())
    }
}

/// The single value of header `name`, if present; two or more values are malformed.
fn header_bytes<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a [u8]>, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(WebhookError::MalformedSignature { header: name });
    }
    Ok(first.map(|v| v.as_bytes()))
}

/// Decodes a base64 signature header value, padded or not.
fn decode_signature(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() > MAX_SIGNATURE_HEADER_LEN {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    decode_base64(text.trim())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .ok()
}

/// An ISO-8601 / RFC 3339 string, or a number of Unix milliseconds (or
/// seconds, when small enough to be seconds).
fn parse_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => {
            let n = n.as_i64()?;
            if n.unsigned_abs() < 100_000_000_000 {
                DateTime::from_timestamp(n, 0)
            } else {
                DateTime::from_timestamp_millis(n)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn official_rsa_key_loads() {
        assert!(RsaPublicKey::official().is_ok());
    }

    #[test]
    fn published_ed25519_form_loads() {
        assert!(
            Ed25519PublicKey::parse("MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=")
                .is_ok()
        );
        assert_eq!(
            Ed25519PublicKey::parse("not a key").err(),
            Some(KeyError::InvalidEd25519Key)
        );
    }

    #[test]
    fn in_memory_seen_expires_and_is_bounded() {
        let seen = InMemorySeen::new(2, Duration::from_secs(60));
        let now = t("2026-01-01T00:00:00Z");
        assert_eq!(seen.check_and_record("a", now), Sighting::First);
        assert_eq!(seen.check_and_record("a", now), Sighting::Repeat);
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(seen.check_and_record("a", later), Sighting::First);
        assert_eq!(seen.check_and_record("b", later), Sighting::First);
        assert_eq!(seen.check_and_record("c", later), Sighting::First);
        assert_eq!(seen.len(), 2);
        // "a" was evicted as the oldest.
        assert_eq!(seen.check_and_record("a", later), Sighting::First);
        assert_eq!(seen.check_and_record("c", later), Sighting::Repeat);
    }

    #[test]
    fn timestamps_parse_in_each_form() {
        let want = t("2026-01-01T00:00:00Z");
        assert_eq!(
            parse_timestamp(&Value::from("2026-01-01T00:00:00.000Z")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp(&Value::from(want.timestamp_millis())),
            Some(want)
        );
        assert_eq!(parse_timestamp(&Value::from(want.timestamp())), Some(want));
        assert_eq!(parse_timestamp(&Value::from("yesterday")), None);
        assert_eq!(parse_timestamp(&Value::from(i64::MAX)), None);
    }
}
