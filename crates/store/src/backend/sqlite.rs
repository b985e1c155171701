//! The SQLite dialect: one database file in WAL mode, the default for a
//! single allybridge process. It owns opening it — a pool of one writer
//! connection (every write runs in `BEGIN IMMEDIATE`, so writers queue
//! instead of failing on a lock upgrade) and a small pool of readers —
//! SQLite's side of each [`Dialect`] difference, the backup (`VACUUM
//! INTO`) and the token-refresh lock (a row with an expiry, polled while
//! busy). It must not be shared by several machines: SQLite's file
//! locking only covers one host.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use super::queue::claim_candidates_sql;
use super::rows::JOB_COLUMNS;
use super::{Db, Dialect, redact_url};
use crate::{BackendKind, StoreError};

/// How long a token refresh lock lasts if its holder never releases it.
const REFRESH_LOCK_TTL: Duration = Duration::from_secs(60);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating it with `?mode=rwc`) and migrates the store at `url`.
pub(crate) async fn open(url: &str) -> Result<Db<Sqlite>, StoreError> {
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
    super::migrate(&writer, &MIGRATOR).await?;
    let readers = super::pool_options::<Sqlite>(4)
        .connect_with(options)
        .await
        .map_err(open_error)?;
    Ok(Db {
        writer,
        readers,
        extras: (),
    })
}

impl Dialect for Sqlite {
    const KIND: BackendKind = BackendKind::Sqlite;

    type Extras = ();

    /// Takes the write lock at the start: a deferred transaction that
    /// reads first would fail (`SQLITE_BUSY`) where it upgrades to write.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    /// `json_each` rows, each column read with `json_extract` (the
    /// PostgreSQL type is not needed here).
    fn json_rows(columns: &[(&str, &str)]) -> String {
        let columns = columns
            .iter()
            .map(|(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("(SELECT {columns} FROM json_each($1) ORDER BY key) AS w")
    }

    /// Job ids only grow (AUTOINCREMENT) and the one writer holds the
    /// database, so a row whose id is above the highest before the
    /// statement is new.
    const JOB_INSERTED_SQL: &'static str = "(id > $3)";
    const JOBS_HIGH_WATER_SQL: Option<&'static str> = Some("SELECT COALESCE(MAX(id), 0) FROM jobs");

    /// An `UPDATE … WHERE id IN (candidates)`: the one writer runs it
    /// alone, so no other claim can take a candidate meanwhile.
    fn claim_sql() -> &'static str {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let in_scope =
                "($4 OR location IS NULL OR location IN (SELECT value FROM json_each($5)))";
            let candidates = claim_candidates_sql(in_scope, "$6");
            format!(
                "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
                 attempts = attempts + 1, updated_at = $3, \
                 last_error = CASE WHEN state = 'running' \
                   THEN 'lease of ' || COALESCE(lease_owner, '?') || ' expired' \
                   ELSE last_error END \
                 WHERE id IN (SELECT id FROM ({candidates}) ORDER BY priority, run_at, id LIMIT $6) \
                 RETURNING {JOB_COLUMNS}"
            )
        });
        &SQL
    }

    /// A JSON array of the locations (SQLite has no arrays).
    type Locations = String;

    fn claim_locations(locations: &[String]) -> Result<String, StoreError> {
        serde_json::to_string(locations).map_err(|error| StoreError::Invalid {
            what: "claim scope",
            why: error.to_string(),
        })
    }

    /// Wake-ups for SQLite are in-process only (see `Store::job_waker`).
    fn announce_jobs(_: &()) {}

    /// SQLite's own consistency check; its complaints.
    async fn integrity_problems(db: &Db<Self>) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&db.writer)
            .await
            .map_err(StoreError::db("checking the database's integrity"))?;
        Ok(rows.into_iter().filter(|row| row != "ok").collect())
    }

    /// SQLite's planner needs no statistics for this schema (without
    /// `sqlite_stat1` it prefers the indexes, which is right here).
    async fn refresh_planner_statistics(_: &Db<Self>) -> Result<Vec<&'static str>, StoreError> {
        Ok(Vec::new())
    }
}

impl Db<Sqlite> {
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

    /// Takes the lock row that makes a token refresh single-flight across
    /// processes, waiting while another holder has it. Returns the owner
    /// token to unlock with.
    pub(crate) async fn refresh_lock(&self, name: &str) -> Result<String, StoreError> {
        let owner = format!("refresh-{:016x}", rand::random::<u64>());
        loop {
            let now = crate::now_ms();
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
}
