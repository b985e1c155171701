//! The SQLite backend: one database file in WAL mode, the default for a
//! single allybridge process. It owns a pool of one writer connection (every
//! write runs in `BEGIN IMMEDIATE`, so writers queue instead of failing on a
//! lock upgrade), a small pool of readers, and the token-refresh lock (a row
//! with an expiry, polled while busy). It must not be shared by several
//! machines: SQLite's file locking only covers one host.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};

use super::redact_url;
use super::shared::*;
use crate::StoreError;
use crate::types::*;

pub(crate) struct SqliteBackend {
    writer: SqlitePool,
    readers: SqlitePool,
}

/// How long a token refresh lock lasts if its holder never releases it.
const REFRESH_LOCK_TTL: Duration = Duration::from_secs(60);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteBackend {
    /// True, in an enqueue's `RETURNING`, for a job row the statement
    /// inserted rather than merged into: job ids only grow (AUTOINCREMENT)
    /// and the one writer holds the database, so a row whose id is above
    /// the highest before the statement (`$3`, [`Self::jobs_high_water`])
    /// is new.
    const JOB_INSERTED_SQL: &'static str = "(id > $3)";

    /// The highest job id so far, inside the write transaction `tx`.
    async fn jobs_high_water(tx: &mut Transaction<'static, Sqlite>) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM jobs")
            .fetch_one(&mut **tx)
            .await
            .map_err(StoreError::db("reading the highest job id"))
    }

    /// The elements of the JSON array bound as `$1`, as rows `w` with
    /// `columns` (name; the PostgreSQL type is not needed here) to select
    /// from.
    fn json_rows(columns: &[(&str, &str)]) -> String {
        let columns = columns
            .iter()
            .map(|(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("(SELECT {columns} FROM json_each($1) ORDER BY key) AS w")
    }

    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            url: redact_url(url),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_error)?
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the caller acknowledges anything
            // (a webhook's 200, a rotated refresh token), even across power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = super::pool_options::<Sqlite>(1)
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        // A new store has no migrations table yet: nothing applied.
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
            .fetch_all(&writer)
            .await
            .unwrap_or_default();
        super::refuse_newer_schema(&applied, &MIGRATOR)?;
        MIGRATOR.run(&writer).await?;
        let readers = super::pool_options::<Sqlite>(4)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        Ok(SqliteBackend { writer, readers })
    }

    /// A consistent copy of the whole database in a new file at `path`
    /// (`VACUUM INTO`: one read transaction, so writers go on meanwhile).
    pub(crate) async fn backup_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Backup(format!("{} is not a UTF-8 path", path.display())))?;
        if path.exists() {
            return Err(StoreError::Backup(format!(
                "{target} exists already; choose a new file name (a backup never overwrites)"
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(self.reader())
            .await
            .map_err(|e| StoreError::Backup(format!("writing {target}: {e}")))?;
        Ok(())
    }

    fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::db("starting a write transaction"))
    }

    /// Wake-ups for SQLite are in-process only (see `Store::job_waker`).
    fn announce_jobs(&self) {}

    pub(crate) async fn claim_jobs(
        &self,
        owner: &str,
        scope: &ClaimScope,
        limit: i64,
        lease_expires_at: i64,
        now: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let (any_location, locations) = match scope {
            ClaimScope::Any => (true, "[]".to_string()),
            ClaimScope::Locations(locations) => (
                false,
                serde_json::to_string(locations).map_err(|error| StoreError::Invalid {
                    what: "claim scope",
                    why: error.to_string(),
                })?,
            ),
        };
        const IN_SCOPE: &str =
            "($4 OR location IS NULL OR location IN (SELECT value FROM json_each($5)))";
        let candidates = claim_candidates_sql(IN_SCOPE, "$6");
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
             attempts = attempts + 1, updated_at = $3, \
             last_error = CASE WHEN state = 'running' \
               THEN 'lease of ' || COALESCE(lease_owner, '?') || ' expired' ELSE last_error END \
             WHERE id IN (SELECT id FROM ({candidates}) ORDER BY priority, run_at, id LIMIT $6) \
             RETURNING {JOB_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(&sql)
            .bind(owner)
            .bind(lease_expires_at)
            .bind(now)
            .bind(any_location)
            .bind(locations)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("claiming jobs"))?;
        let mut jobs = rows
            .iter()
            .map(Self::job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()
            .await
            .map_err(StoreError::db("committing a job claim"))?;
        jobs.sort_by_key(|job| (job.priority, job.run_at, job.id));
        Ok(jobs)
    }

    /// Takes the lock row that makes a token refresh single-flight across
    /// processes, waiting while another holder has it. Returns the owner
    /// token to unlock with.
    pub(crate) async fn refresh_lock(&self, name: &str) -> Result<String, StoreError> {
        let owner = format!("refresh-{:016x}", rand::random::<u64>());
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let expires = now + REFRESH_LOCK_TTL.as_millis() as i64;
            if self
                .acquire_lease("refresh_locks", name, &owner, expires, now)
                .await?
            {
                return Ok(owner);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn refresh_unlock(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.release_lease("refresh_locks", name, owner)
            .await
            .map(|_| ())
    }

    /// Runs SQLite's own consistency check; returns its complaints (empty
    /// when the file is sound).
    pub(crate) async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.writer)
            .await
            .map_err(StoreError::db("checking the database's integrity"))?;
        Ok(rows.into_iter().filter(|row| row != "ok").collect())
    }

    /// SQLite's planner needs no statistics for this schema (without
    /// `sqlite_stat1` it prefers the indexes, which is right here).
    pub(crate) async fn refresh_planner_statistics(&self) -> Result<Vec<&'static str>, StoreError> {
        Ok(Vec::new())
    }

    pub(crate) async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

shared_queries!(SqliteBackend, Sqlite);
