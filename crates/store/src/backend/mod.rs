//! The two database backends behind `Store`. This module owns choosing one
//! from a URL; each backend owns its connections, its schema migrations and
//! the few statements where SQLite and PostgreSQL differ (claiming jobs,
//! single-flight locks, wake-ups). Nothing here encrypts or decrypts.

pub(crate) mod postgres;
pub(crate) mod shared;
pub(crate) mod sqlite;

pub use shared::{Replayed, RetryOutcome};

use std::time::Duration;

use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Database};

/// How long a caller waits for a free connection before the store reports
/// the database as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection idle for longer than this is pinged before it is handed
/// out (the server may have restarted or a firewall dropped it). One in
/// steady use is not: sqlx's default pings on every acquire, one extra
/// round trip (a thread hand-off with SQLite) per statement.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// The pool settings both backends share: `max_connections`, the acquire
/// timeout, and liveness checks only for connections that sat idle.
pub(crate) fn pool_options<DB: Database>(max_connections: u32) -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|connection, metadata: PoolConnectionMetadata| {
            Box::pin(async move {
                if metadata.idle_for < PING_IF_IDLE_FOR {
                    return Ok(true);
                }
                // A dead connection is dropped and another one taken.
                Ok(connection.ping().await.is_ok())
            })
        })
}

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

/// Refuses, before migrating anything, a store whose applied migrations
/// include one this binary does not know: it was written by a newer
/// allybridge, and running older code on it could half-migrate or misread
/// it. `applied` is what the store's `_sqlx_migrations` lists (empty for a
/// new store).
pub(crate) fn refuse_newer_schema(
    applied: &[i64],
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), crate::StoreError> {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let binary = known.iter().copied().max().unwrap_or(0);
    match applied.iter().copied().filter(|v| !known.contains(v)).max() {
        Some(store) => Err(crate::StoreError::NewerSchema { store, binary }),
        None => Ok(()),
    }
}
