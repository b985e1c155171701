//! The store's SQL and the two databases it runs on. This module owns
//! [`Dialect`], the named set of what differs between SQLite and
//! PostgreSQL, and [`Db`], one database of either dialect with its pools.
//! The statements are written once, as ordinary methods of `Db<D>` generic
//! over the dialect, by subject: `records` (connections, credentials,
//! links, leases, cursors), `queue` (inbox, jobs, group commit) and `logs`
//! (integration and API logs, counts, drift reports, alerts); rows decode
//! through `sqlx::FromRow` (`rows`). `sqlite` and `postgres` implement the
//! dialect and own their connections, migrations and what only one of
//! them has. Nothing here encrypts or decrypts (the store does that above
//! it) or decides retry policy.
//!
//! Why generic methods over `sqlx::Database` with a small trait: each
//! backend keeps its own driver's types (PostgreSQL's arrays, listener and
//! advisory locks, SQLite's `BEGIN IMMEDIATE` writer) and each statement is
//! compiled for it, while `sqlx::Any` would convert every value and row at
//! run time and has none of those. The differences are then the items of
//! [`Dialect`], each with its reason where it is implemented:
//!
//! - opening: pools (SQLite one writer and four readers, PostgreSQL one
//!   pool for both) and migrations (one folder each), in `sqlite::open`
//!   and `postgres::open`;
//! - [`Dialect::BEGIN_WRITE`]: how a write transaction starts;
//! - [`Dialect::json_rows`]: how a JSON array bound as `$1` becomes rows
//!   (the batched statements bind one array instead of a parameter per
//!   value);
//! - [`Dialect::JOB_INSERTED_SQL`] and [`Dialect::JOBS_HIGH_WATER_SQL`]:
//!   how an upsert tells the job rows it inserted from those it merged;
//! - [`Dialect::claim_sql`] and [`Dialect::claim_locations`]: the claim
//!   statement;
//! - [`Dialect::announce_jobs`]: notifications to other processes;
//! - [`Dialect::integrity_problems`] and
//!   [`Dialect::refresh_planner_statistics`]: maintenance.
//!
//! What only one backend has is a method of `Db<Sqlite>` (backup, the
//! token refresh lock row) or `Db<Postgres>` (`LISTEN`, the advisory lock,
//! `EXPLAIN` of a claim). Both take parameters as `$1`, `$2`…: that is no
//! difference. The price of generics is the `where` clause each `impl`
//! block of statements states (Rust does not carry a trait's `where`
//! clauses to its users, so [`Dialect`] cannot): what the statements bind
//! and read (`i64`, `bool`, text, bytes) and that a connection runs them.

pub(crate) mod logs;
pub(crate) mod postgres;
pub(crate) mod queue;
pub(crate) mod records;
pub(crate) mod rows;
pub(crate) mod sqlite;

pub use queue::{Replayed, RetryOutcome};

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Database, Decode, Encode, Pool, Transaction, Type};

use crate::{BackendKind, StoreError};

/// How long a caller waits for a free connection before the store reports
/// the database as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection idle for longer than this is pinged before it is handed
/// out (the server may have restarted or a firewall dropped it). One in
/// steady use is not: sqlx's default pings on every acquire, one extra
/// round trip (a thread hand-off with SQLite) per statement.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// What differs between SQLite and PostgreSQL for the store's statements
/// (see the module's documentation for the whole list).
pub(crate) trait Dialect: Database<Connection: Migrate, QueryResult: RowsAffected> {
    const KIND: BackendKind;

    /// What the backend keeps beside its pools: PostgreSQL's job announcer
    /// and statistics keeper, nothing for SQLite.
    type Extras: Send + Sync;

    /// The statement that starts a write transaction.
    const BEGIN_WRITE: &'static str;

    /// The elements of the JSON array bound as `$1`, as rows `w` with
    /// `columns` (name, PostgreSQL type) to select from.
    fn json_rows(columns: &[(&str, &str)]) -> String;

    /// True, in an enqueue's `RETURNING`, for a job row the statement
    /// inserted rather than merged into; `$3` is the answer of
    /// [`Self::JOBS_HIGH_WATER_SQL`], read in the same transaction first.
    const JOB_INSERTED_SQL: &'static str;
    const JOBS_HIGH_WATER_SQL: Option<&'static str>;

    /// The claim statement: `$1` owner, `$2` lease expiry, `$3` now, `$4`
    /// any location, `$5` the locations (see [`Self::claim_locations`]),
    /// `$6` the limit, `$7` the least urgent priority rank it takes; it
    /// returns the claimed jobs' columns.
    fn claim_sql() -> &'static str;

    /// The claim's locations as `$5` binds them.
    type Locations: for<'q> Encode<'q, Self> + Type<Self> + Send + Sync;
    fn claim_locations(locations: &[String]) -> Result<Self::Locations, StoreError>;

    /// Tells other processes that jobs are ready; called after the
    /// transaction that made them ready has committed.
    fn announce_jobs(extras: &Self::Extras);

    /// Problems the database's consistency check finds (empty when sound).
    fn integrity_problems(
        db: &Db<Self>,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// See [`crate::Store::refresh_planner_statistics`].
    fn refresh_planner_statistics(
        db: &Db<Self>,
    ) -> impl Future<Output = Result<Vec<&'static str>, StoreError>> + Send;
}

/// What a statement's result tells of the rows it changed (each driver has
/// its own result type).
pub(crate) trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A value the store's statements bind and read in database `D`.
pub(crate) trait Field<D: Database>:
    for<'q> Encode<'q, D> + for<'r> Decode<'r, D> + Type<D> + Send
{
}

impl<D: Database, T> Field<D> for T where
    T: for<'q> Encode<'q, D> + for<'r> Decode<'r, D> + Type<D> + Send
{
}

/// One store database: its pools, and what its dialect keeps beside them.
pub(crate) struct Db<D: Dialect> {
    /// Where writes go: SQLite's one writer connection, PostgreSQL's pool.
    writer: Pool<D>,
    /// Where reads go: SQLite's readers, the same pool on PostgreSQL.
    readers: Pool<D>,
    extras: D::Extras,
}

impl<D: Dialect> Db<D> {
    fn reader(&self) -> &Pool<D> {
        &self.readers
    }

    async fn begin_write(&self) -> Result<Transaction<'static, D>, StoreError> {
        self.writer
            .begin_with(D::BEGIN_WRITE)
            .await
            .map_err(StoreError::db("starting a write transaction"))
    }

    fn announce_jobs(&self) {
        D::announce_jobs(&self.extras);
    }

    /// Closes all connections; later calls fail.
    pub(crate) async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    pub(crate) async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        D::integrity_problems(self).await
    }

    pub(crate) async fn refresh_planner_statistics(&self) -> Result<Vec<&'static str>, StoreError> {
        D::refresh_planner_statistics(self).await
    }
}

/// Commits `tx`; `what` names the commit in its error.
async fn commit<D: Database>(
    tx: Transaction<'static, D>,
    what: &'static str,
) -> Result<(), StoreError> {
    tx.commit().await.map_err(StoreError::db(what))
}

/// A statement built once per dialect, for the statements that embed
/// dialect SQL (a `static` in a generic function is one for all of the
/// function's instances, so it cannot hold the statement itself). One slot
/// per [`BackendKind`], indexed by it.
pub(crate) struct PerDialect([OnceLock<String>; 2]);

impl PerDialect {
    pub(crate) const fn new() -> Self {
        PerDialect([OnceLock::new(), OnceLock::new()])
    }

    /// `D`'s statement, built by `build` the first time.
    pub(crate) fn get<D: Dialect>(&self, build: impl FnOnce() -> String) -> &str {
        self.0[D::KIND as usize].get_or_init(build)
    }
}

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

/// Applies `migrator`'s pending migrations to the store at `pool`, after
/// refusing, before migrating anything, a store whose applied migrations
/// include one this binary does not know: it was written by a newer
/// allybridge, and running older code on it could half-migrate or misread
/// it.
pub(crate) async fn migrate<D: Dialect>(
    pool: &Pool<D>,
    migrator: &Migrator,
) -> Result<(), StoreError> {
    // A new store has no migrations table yet: nothing applied.
    let applied = match pool.acquire().await {
        Ok(mut connection) => {
            let applied = connection.list_applied_migrations().await;
            // Given back before migrating: SQLite's writer pool has one.
            drop(connection);
            applied.unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let binary = known.iter().copied().max().unwrap_or(0);
    let newer = applied
        .iter()
        .map(|m| m.version)
        .filter(|v| !known.contains(v))
        .max();
    if let Some(store) = newer {
        return Err(StoreError::NewerSchema { store, binary });
    }
    migrator.run(pool).await?;
    Ok(())
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

/// `$first, $first+1, …` for `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
