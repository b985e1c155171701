//! Admin authentication: argon2 password hashes (PHC strings), the
//! in-memory session table (random 32-byte tokens with an expiry), each
//! session's CSRF token, cookie parsing, and the limit on failed logins per
//! client address. Tokens are compared in constant time; nothing here logs
//! a password or a token.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "allybridge_session";
/// The login form's double-submit CSRF cookie.
pub const LOGIN_COOKIE: &str = "allybridge_login";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("could not hash the password: {0}")]
    Hash(String),
    #[error("the password is empty")]
    Empty,
}

/// The argon2id PHC string of `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.is_empty() {
        return Err(AuthError::Empty);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false when `hash` is malformed).
pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "[server] admin_password_hash is not an argon2 PHC string");
            false
        }
    }
}

/// Whether a PHC string parses (checked when the daemon starts).
pub fn hash_is_valid(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok()
}

/// A random 32-byte token, hex-encoded.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request sent it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

struct Session {
    csrf: String,
    expires: Instant,
}

/// Logged-in sessions, in memory (a restart logs everyone out).
pub struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session: (cookie token, CSRF token).
    pub fn create(&self) -> (String, String) {
        let token = random_token();
        let csrf = random_token();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            token.clone(),
            Session {
                csrf: csrf.clone(),
                expires: now + self.ttl,
            },
        );
        (token, csrf)
    }

    /// The CSRF token of the live session `token`.
    pub fn csrf(&self, token: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(token)
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.csrf.clone())
    }

    pub fn remove(&self, token: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(token);
    }
}

/// How many failed logins a client address may make in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimit {
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for LoginLimit {
    /// 5 failures per minute.
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// A source of "now" (tests move it by hand).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Failed logins per client address over a sliding window. An address
/// with `max_failures` failures within the window is refused until the
/// oldest of them leaves it; a successful login forgets its failures.
pub struct LoginLimiter {
    limit: LoginLimit,
    clock: Clock,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(limit: LoginLimit) -> Self {
        Self::with_clock(limit, Arc::new(Instant::now))
    }

    pub fn with_clock(limit: LoginLimit, clock: Clock) -> Self {
        Self {
            limit,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> LoginLimit {
        self.limit
    }

    /// `Some(wait)` when `client` must wait before trying again.
    pub fn check(&self, client: IpAddr) -> Option<Duration> {
        let now = (self.clock)();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let failures = map.get_mut(&client)?;
        self.forget_old(failures, now);
        if failures.len() < self.limit.max_failures as usize {
            return None;
        }
        let oldest = *failures.front()?;
        Some(
            self.limit
                .window
                .saturating_sub(now.saturating_duration_since(oldest)),
        )
    }

    /// Records a failed login of `client`.
    pub fn failed(&self, client: IpAddr) {
        let now = (self.clock)();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Addresses whose failures all left the window are forgotten.
        map.retain(|_, f| {
            f.back()
                .is_some_and(|last| now.saturating_duration_since(*last) < self.limit.window)
        });
        map.entry(client).or_default().push_back(now);
    }

    /// Forgets the failures of `client` (it logged in).
    pub fn succeeded(&self, client: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&client);
    }

    fn forget_old(&self, failures: &mut VecDeque<Instant>, now: Instant) {
        while failures
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.limit.window)
        {
            failures.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_logins_are_limited_per_address_over_a_sliding_window() {
        let start = Instant::now();
        let offset = Arc::new(Mutex::new(Duration::ZERO));
        let at = offset.clone();
        let limiter = LoginLimiter::with_clock(
            LoginLimit::default(),
            Arc::new(move || start + *at.lock().unwrap_or_else(|e| e.into_inner())),
        );
        let advance = |d: Duration| *offset.lock().unwrap_or_else(|e| e.into_inner()) += d;
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..4 {
            limiter.failed(a);
            advance(Duration::from_secs(10));
        }
        assert_eq!(limiter.check(a), None, "4 failures in 40 s are allowed");
        limiter.failed(a);
        assert_eq!(
            limiter.check(a),
            Some(Duration::from_secs(20)),
            "the 5th refuses until the oldest is a minute old"
        );
        assert_eq!(limiter.check(b), None, "another address is not limited");
        advance(Duration::from_secs(20));
        assert_eq!(limiter.check(a), None, "the oldest failure left the window");
        limiter.failed(a);
        assert!(
            limiter.check(a).is_some(),
            "five within the last minute again"
        );
        limiter.succeeded(a);
        assert_eq!(limiter.check(a), None, "a login forgets the failures");
        advance(Duration::from_secs(61));
        limiter.failed(b);
        assert_eq!(
            limiter
                .failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
            1,
            "stale addresses are forgotten"
        );
    }

    #[test]
    fn hashes_verify_and_reject() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn sessions_expire() {
        let s = Sessions::new(Duration::ZERO);
        let (t, _) = s.create();
        assert!(s.csrf(&t).is_none());
        let s = Sessions::new(Duration::from_secs(60));
        let (t, c) = s.create();
        assert_eq!(s.csrf(&t), Some(c));
        s.remove(&t);
        assert!(s.csrf(&t).is_none());
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            "a=1; allybridge_session=abc".parse().expect("valid"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
    }
}
