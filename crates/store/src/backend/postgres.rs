//! The PostgreSQL dialect, for several allybridge processes sharing one
//! database. It owns opening it (one pool for reads and writes),
//! PostgreSQL's side of each [`Dialect`] difference — above all the claim
//! statement (`FOR UPDATE SKIP LOCKED`, committed before the caller makes
//! any HTTP call) and `LISTEN/NOTIFY` wake-ups (sent after the transaction
//! that made jobs ready, one at a time; see [`JobAnnouncer`]) — advisory
//! locks for single-flight token refresh, and the planner's statistics of
//! the busiest tables, kept fresh while they grow (see
//! [`analyze_changed_tables`]). It must not hold a row lock across a
//! caller's network call; the only lock held that long is the
//! transaction-scoped advisory lock of a token refresh.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool};
use sqlx::{Postgres, Transaction};

use super::queue::{EXPIRED_CLAIMABLE_SQL, PENDING_CLAIMABLE_SQL, claim_candidates_sql};
use super::rows::JOB_COLUMNS;
use super::{Db, Dialect, redact_url};
use crate::{BackendKind, StoreError};

/// Channel on which enqueues announce new work.
pub(crate) const JOBS_CHANNEL: &str = "allybridge_jobs";

/// Tables whose plans hinge on their size: the job queue (claims,
/// completions), the links (lookups by a page of ids) and the inbox.
const PLANNED_TABLES: &[&str] = &["jobs", "links", "inbox"];

/// How often the statistics of [`PLANNED_TABLES`] are checked.
const STATISTICS_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Fewer row changes than this since a table's last analysis never call
/// for another one.
const STATISTICS_MIN_CHANGES: i64 = 1_000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// What a PostgreSQL store keeps beside its pool.
pub(crate) struct PgExtras {
    announcer: Arc<JobAnnouncer>,
    /// Runs [`analyze_changed_tables`] every [`STATISTICS_CHECK_EVERY`];
    /// stopped when the store is dropped.
    statistics_keeper: tokio::task::JoinHandle<()>,
}

impl Drop for PgExtras {
    fn drop(&mut self) {
        self.statistics_keeper.abort();
    }
}

/// Connects to and migrates the store at `url`.
pub(crate) async fn open(url: &str) -> Result<Db<Postgres>, StoreError> {
    let open_error = |source| StoreError::Open {
        url: redact_url(url),
        source,
    };
    let options: PgConnectOptions = url.parse().map_err(open_error)?;
    let pool = super::pool_options::<Postgres>(8)
        .connect_with(options)
        .await
        .map_err(open_error)?;
    super::migrate(&pool, &MIGRATOR).await?;
    let extras = PgExtras {
        announcer: Arc::new(JobAnnouncer::new(pool.clone())),
        statistics_keeper: tokio::spawn(keep_planner_statistics(pool.clone())),
    };
    Ok(Db {
        writer: pool.clone(),
        readers: pool,
        extras,
    })
}

impl Dialect for Postgres {
    const KIND: BackendKind = BackendKind::Postgres;

    type Extras = PgExtras;

    const BEGIN_WRITE: &'static str = "BEGIN";

    /// `jsonb_to_recordset`, each column with its type.
    fn json_rows(columns: &[(&str, &str)]) -> String {
        let columns = columns
            .iter()
            .map(|(name, sql_type)| format!("{name} {sql_type}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("jsonb_to_recordset($1::text::jsonb) AS w({columns})")
    }

    /// A row written by this transaction has no deleting transaction yet:
    /// `xmax` is 0; an `ON CONFLICT` update sets it. `$3` is not used.
    const JOB_INSERTED_SQL: &'static str = "(xmax = 0)";
    const JOBS_HIGH_WATER_SQL: Option<&'static str> = None;

    /// The candidates are read without locks, once, as an `InitPlan` (the
    /// `ARRAY(...)`); each is then fetched by primary key and locked, and
    /// the claimable test is repeated on it as it is locked (a row another
    /// claim has taken since fails it); rows other claims hold are
    /// skipped: four times the limit leaves room for those. The test is
    /// written so that no partial index matches it (`state IN (...)` and a
    /// `CASE`, not the `OR` of the two arms): with the planner's statistics
    /// stale (taken when every job was done, say, before a reconciliation
    /// enqueued thousands) an `IN (candidates)` semi-join was planned as a
    /// scan of every pending job with the candidates run again for each
    /// one, and one claim took minutes (docs/BENCHMARKS.md, eighth run).
    /// Now no statistics can make it more than the candidates' index scans
    /// and a primary-key lookup per candidate.
    fn claim_sql() -> &'static str {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let returning = JOB_COLUMNS
                .split(", ")
                .map(|column| format!("jobs.{column}"))
                .collect::<Vec<_>>()
                .join(", ");
            let candidates =
                claim_candidates_sql("($4 OR location IS NULL OR location = ANY($5))", "$6 * 4");
            format!(
                "WITH next AS ( \
                   SELECT id FROM jobs \
                   WHERE id = ANY(ARRAY(SELECT id FROM ({candidates}) AS candidates)) \
                     AND state IN ('pending', 'running') \
                     AND CASE WHEN state = 'pending' THEN {PENDING_CLAIMABLE_SQL} \
                         ELSE {EXPIRED_CLAIMABLE_SQL} END \
                   ORDER BY priority, run_at, id LIMIT $6 \
                   FOR UPDATE SKIP LOCKED) \
                 UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
                   attempts = jobs.attempts + 1, updated_at = $3, \
                   last_error = CASE WHEN jobs.state = 'running' \
                     THEN 'lease of ' || COALESCE(jobs.lease_owner, '?') || ' expired' \
                     ELSE jobs.last_error END \
                 FROM next WHERE jobs.id = next.id \
                 RETURNING {returning}"
            )
        });
        &SQL
    }

    type Locations = Vec<String>;

    fn claim_locations(locations: &[String]) -> Result<Vec<String>, StoreError> {
        Ok(locations.to_vec())
    }

    fn announce_jobs(extras: &PgExtras) {
        JobAnnouncer::announce(&extras.announcer);
    }

    /// PostgreSQL checks its own pages; this reports broken store
    /// invariants.
    async fn integrity_problems(db: &Db<Self>) -> Result<Vec<String>, StoreError> {
        let orphan_leases: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' \
             AND (lease_owner IS NULL OR lease_expires_at IS NULL)",
        )
        .fetch_one(&db.writer)
        .await
        .map_err(StoreError::db("checking the database's integrity"))?;
        Ok(if orphan_leases > 0 {
            vec![format!("{orphan_leases} running jobs have no lease")]
        } else {
            Vec::new()
        })
    }

    async fn refresh_planner_statistics(db: &Db<Self>) -> Result<Vec<&'static str>, StoreError> {
        analyze_changed_tables(&db.writer).await
    }
}

impl Db<Postgres> {
    /// How the database runs a claim of `limit` jobs on the queue as it is
    /// now: `EXPLAIN ANALYZE` in a transaction that is rolled back, so
    /// nothing is claimed.
    pub(crate) async fn explain_claim(&self, limit: i64) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = crate::now_ms();
        let lines: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {}",
            Postgres::claim_sql()
        ))
        .bind("explain")
        .bind(now)
        .bind(now)
        .bind(true)
        .bind(Vec::<String>::new())
        .bind(limit)
        .bind(crate::Priority::Backfill.rank())
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::db("explaining a claim"))?;
        tx.rollback()
            .await
            .map_err(StoreError::db("rolling back an explained claim"))?;
        Ok(lines.join("\n"))
    }

    /// Takes the cluster-wide advisory lock named `name`; it is released
    /// when the returned transaction ends (commit, rollback or drop), so a
    /// crashed or cancelled holder cannot keep it.
    pub(crate) async fn refresh_lock(
        &self,
        name: &str,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let digest = Sha256::digest(format!("allybridge refresh lock\0{name}").as_bytes());
        let mut key_bytes = [0u8; 8];
        key_bytes.copy_from_slice(&digest[..8]);
        let key = i64::from_be_bytes(key_bytes);
        let mut tx = self
            .writer
            .begin()
            .await
            .map_err(StoreError::db("starting a refresh lock"))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("taking the token refresh lock"))?;
        Ok(tx)
    }

    /// A listener for job announcements, or None when it cannot connect
    /// (callers then fall back to polling).
    pub(crate) async fn jobs_listener(&self) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(&self.writer).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for new jobs; polling instead");
                return None;
            }
        };
        match listener.listen(JOBS_CHANNEL).await {
            Ok(()) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "cannot LISTEN for new jobs; polling instead");
                None
            }
        }
    }
}

async fn keep_planner_statistics(pool: PgPool) {
    loop {
        tokio::time::sleep(STATISTICS_CHECK_EVERY).await;
        if pool.is_closed() {
            return;
        }
        match analyze_changed_tables(&pool).await {
            Ok(analyzed) if !analyzed.is_empty() => {
                tracing::debug!(tables = ?analyzed, "refreshed the planner's statistics");
            }
            Ok(_) => {}
            // Not worth an alert: the database's own autovacuum does the
            // same, only later; an unreachable database shows elsewhere.
            Err(error) => tracing::debug!(%error, "could not refresh the planner's statistics"),
        }
    }
}

/// Analyzes each of [`PLANNED_TABLES`] that changed by as many rows as it
/// holds (and by [`STATISTICS_MIN_CHANGES`] at least) since it was last
/// analyzed; returns the tables analyzed. Autovacuum does this too, but
/// looks at a database once a minute at most, while a fresh store's first
/// backfill grows its queue and links from nothing to tens of thousands of
/// rows in that time: plans made for the empty tables (a bitmap scan of
/// all pending jobs and a sort on every claim, a scan of every link of a
/// type for each page of ids) then cost 100 ms where they should cost 1.
/// Analyzing again only when a table has doubled, or turned over, keeps
/// this to a few analyses per growth by an order of magnitude.
async fn analyze_changed_tables(pool: &PgPool) -> Result<Vec<&'static str>, StoreError> {
    let changed: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND relname = ANY($1)",
    )
    .bind(PLANNED_TABLES)
    .fetch_all(pool)
    .await
    .map_err(StoreError::db("reading table statistics"))?;
    let mut analyzed = Vec::new();
    for table in PLANNED_TABLES {
        let Some((_, changes, rows)) = changed.iter().find(|(name, ..)| name == table) else {
            continue;
        };
        if *changes < STATISTICS_MIN_CHANGES.max(*rows) {
            continue;
        }
        // Another process analyzing the table already: skip, not wait.
        sqlx::query(&format!("ANALYZE (SKIP_LOCKED) {table}"))
            .persistent(false)
            .execute(pool)
            .await
            .map_err(StoreError::db("analyzing a table"))?;
        analyzed.push(*table);
    }
    Ok(analyzed)
}

/// Sends the `NOTIFY` that wakes other processes' idle workers, outside the
/// transactions that made jobs ready, one at a time: announcements made
/// while one is on its way are folded into one more after it. A `NOTIFY`
/// inside a write transaction would hold PostgreSQL's database-wide notify
/// lock through that transaction's commit and disk flush, so every
/// notifying transaction (each group commit of received webhooks) would
/// commit after the other, never side by side. An announcement is a hint:
/// one lost (the process stopped between commit and `NOTIFY`, or the
/// server refused it) costs the other processes their polling backstop's
/// wait, never a job.
struct JobAnnouncer {
    pool: PgPool,
    state: Mutex<Announcing>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcing {
    Idle,
    /// A `NOTIFY` is on its way.
    Sending,
    /// One is on its way and another was asked for since it left.
    SendingThenAgain,
}

impl JobAnnouncer {
    fn new(pool: PgPool) -> Self {
        JobAnnouncer {
            pool,
            state: Mutex::new(Announcing::Idle),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Announcing> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Asks for an announcement; returns at once.
    fn announce(this: &Arc<Self>) {
        {
            let mut state = this.state();
            match *state {
                Announcing::Idle => *state = Announcing::Sending,
                Announcing::Sending | Announcing::SendingThenAgain => {
                    *state = Announcing::SendingThenAgain;
                    return;
                }
            }
        }
        let announcer = Arc::clone(this);
        tokio::spawn(async move {
            loop {
                if let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
                    .bind(JOBS_CHANNEL)
                    .execute(&announcer.pool)
                    .await
                {
                    tracing::warn!(%error, "could not announce new jobs to other processes; they will find them when they next poll");
                }
                let mut state = announcer.state();
                if *state == Announcing::SendingThenAgain {
                    *state = Announcing::Sending;
                } else {
                    *state = Announcing::Idle;
                    return;
                }
            }
        });
    }
}
