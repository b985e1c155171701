//! The two database backends behind `Store`. This module owns choosing one
//! from a URL; each backend owns its connections, its schema migrations and
//! the few statements where SQLite and PostgreSQL differ (claiming jobs,
//! single-flight locks, wake-ups). Nothing here encrypts or decrypts.

pub(crate) mod postgres;
pub(crate) mod shared;
pub(crate) mod sqlite;

pub use shared::{Replayed, RetryOutcome};

/// Removes the password from a database URL so it can be shown in errors.
pub(crate) fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("REDACTED"));
            }
            parsed.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or_default().to_string(),
    }
}
