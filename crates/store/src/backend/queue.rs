//! The statements of the inbox and the job queue, for both dialects:
//! accepting events with their jobs, enqueueing (merged per record),
//! claiming, completing, retrying, dead letters, and the group commit's
//! batch of writes. The claim statement itself is the dialect's
//! ([`Dialect::claim_sql`]); which jobs it may take is written here once.
//! It must not decide retry policy (back-off and attempts are the
//! caller's).

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

use super::rows::{InboxRow, JOB_COLUMNS, JobCountRow, JobRow, convert};
use super::{Db, Dialect, Field, PerDialect, commit, is_unique_violation};
use crate::group_commit::{Write, Written};
use crate::types::millis;
use crate::{
    Accepted, ClaimScope, Enqueued, InboundEvent, InboxEntry, Job, JobCount, JobId, JobState,
    NewJob, OpenJobs, Priority, QueueStats, StoreError, System,
};

/// What a failed attempt did to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The job waits again until its new run-at.
    Rescheduled,
    /// A newer pending job for the same record already waited; this one is
    /// closed as superseded and that one carries the work.
    Superseded { by: JobId },
}

/// What replaying a dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// The pending job that will carry the work (the dead letter itself, or a
    /// pending job for the same record it merged into).
    pub job_id: JobId,
    pub merged: bool,
}

/// How a job goes back to pending.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Requeue<'a> {
    /// After a failed run (or when its worker restarts): `owner` must
    /// still hold the job's lease; it waits until `run_at`, with `error`
    /// as its last error.
    Retry {
        owner: &'a str,
        error: &'a str,
        run_at: i64,
    },
    /// A dead letter runs again now, with its attempts reset.
    Replay,
}

/// Which jobs [`Db::jobs`] lists, in id order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JobFilter<'a> {
    pub id: Option<JobId>,
    pub state: Option<JobState>,
    pub dedupe_key: Option<&'a str>,
    pub after_id: JobId,
    pub limit: i64,
}

/// A pending job that is due, unless a job of its record (dedupe key) is
/// running (with `$3` = now). As the `jobs_one_running_per_key` index
/// allows one running job per key, a claim of these and of
/// [`EXPIRED_CLAIMABLE_SQL`] yields at most one job per key, so it never
/// returns two jobs of one record and never starts a record that runs
/// elsewhere.
pub(crate) const PENDING_CLAIMABLE_SQL: &str = "state = 'pending' AND run_at <= $3 AND priority <= $7 \
       AND NOT EXISTS (SELECT 1 FROM jobs busy \
         WHERE busy.dedupe_key = jobs.dedupe_key AND busy.state = 'running')";

/// A running job whose lease has run out (its worker died or hung).
pub(crate) const EXPIRED_CLAIMABLE_SQL: &str =
    "state = 'running' AND lease_expires_at <= $3 AND priority <= $7";

/// The jobs a claim may take, as `(id, priority, run_at)` rows: up to
/// `arm_limit` pending ones and up to `arm_limit` expired ones, each arm
/// read in order from its own partial index (`jobs_ready`, `jobs_leased`)
/// and stopped at its limit. One `OR` of the two made both databases read
/// and sort every pending job on every claim (3.5 ms with 5,000 pending on
/// PostgreSQL, growing with the queue; 0.9 ms this way, whatever its
/// length). `in_scope` keeps the claim's locations; the caller orders the
/// rows and takes its limit.
pub(crate) fn claim_candidates_sql(in_scope: &str, arm_limit: &str) -> String {
    format!(
        "SELECT * FROM (SELECT id, priority, run_at FROM jobs \
           WHERE {PENDING_CLAIMABLE_SQL} AND {in_scope} \
           ORDER BY priority, run_at, id LIMIT {arm_limit}) AS pending_arm \
         UNION ALL \
         SELECT * FROM (SELECT id, priority, run_at FROM jobs \
           WHERE {EXPIRED_CLAIMABLE_SQL} AND {in_scope} \
           ORDER BY priority, run_at, id LIMIT {arm_limit}) AS expired_arm"
    )
}

/// Columns of a job row in the JSON array bound as `$1` (name, PostgreSQL
/// type), as [`job_row`] writes them.
const JOB_ROW_COLUMNS: &[(&str, &str)] = &[
    ("kind", "text"),
    ("entity_type", "text"),
    ("record_system", "text"),
    ("record_id", "text"),
    ("location", "text"),
    ("dedupe_key", "text"),
    ("priority", "bigint"),
    ("payload", "text"),
    ("run_at", "bigint"),
    ("merged", "bigint"),
];

/// `job` as one element of the JSON array of [`JOB_ROW_COLUMNS`], counting
/// `merged` earlier jobs of its record folded into it.
fn job_row(job: &NewJob, merged: usize) -> Result<serde_json::Value, StoreError> {
    let payload = serde_json::to_string(&job.payload).map_err(|error| StoreError::Invalid {
        what: "job payload",
        why: error.to_string(),
    })?;
    Ok(serde_json::json!({
        "kind": job.kind,
        "entity_type": job.entity_type,
        "record_system": job.record_system.as_str(),
        "record_id": job.record_id,
        "location": job.location,
        "dedupe_key": job.dedupe_key,
        "priority": job.priority.rank(),
        "payload": payload,
        "run_at": millis(job.run_at),
        "merged": merged,
    }))
}

/// `jobs` folded into one JSON row per record, in key order (as every
/// batch's, see `accept_all_in`), exactly as one enqueue after the other
/// would merge them: the first one's kind and record, the last one's
/// payload and location, the most urgent priority and the earliest run-at,
/// and a merge counted for each; with how many records there are.
fn folded_job_rows(jobs: &[&NewJob]) -> Result<(Vec<serde_json::Value>, usize), StoreError> {
    // Each record's jobs, in the order of their first job.
    let mut groups: Vec<Vec<&NewJob>> = Vec::with_capacity(jobs.len());
    let mut group_of: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
    for job in jobs {
        let at = *group_of.entry(job.dedupe_key.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[at].push(job);
    }
    groups.sort_unstable_by(|a, b| a[0].dedupe_key.cmp(&b[0].dedupe_key));
    let mut rows = Vec::with_capacity(groups.len());
    for group in &groups {
        let (first, last) = (group[0], group[group.len() - 1]);
        if group.len() == 1 {
            rows.push(job_row(first, 0)?);
            continue;
        }
        let urgent = group
            .iter()
            .map(|job| job.priority)
            .min_by_key(|p| p.rank())
            .unwrap_or(first.priority);
        let earliest = group
            .iter()
            .map(|job| job.run_at)
            .min()
            .unwrap_or(first.run_at);
        let folded = NewJob {
            location: last.location.clone(),
            payload: last.payload.clone(),
            priority: urgent,
            run_at: earliest,
            ..first.clone()
        };
        rows.push(job_row(&folded, group.len() - 1)?);
    }
    Ok((rows, groups.len()))
}

/// The most urgent of `jobs` per record (the earlier run-at between two
/// as urgent), in the order found.
fn most_urgent_per_record(jobs: &[NewJob]) -> Vec<&NewJob> {
    let mut urgent: Vec<&NewJob> = Vec::with_capacity(jobs.len());
    let mut at_key: HashMap<&str, usize> = HashMap::with_capacity(jobs.len());
    for job in jobs {
        match at_key.get(job.dedupe_key.as_str()) {
            Some(&at) => {
                let kept = urgent[at];
                if (job.priority.rank(), job.run_at) < (kept.priority.rank(), kept.run_at) {
                    urgent[at] = job;
                }
            }
            None => {
                at_key.insert(&job.dedupe_key, urgent.len());
                urgent.push(job);
            }
        }
    }
    urgent
}

impl<D: Dialect> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'r> &'r str: ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    i64: Field<D>,
    Option<i64>: Field<D>,
    bool: Field<D>,
    String: Field<D>,
    Option<String>: Field<D>,
    Vec<u8>: Field<D>,
{
    // ---- enqueue --------------------------------------------------------

    /// Enqueues `jobs` inside `tx` in one statement, each merged into the
    /// pending job of its record if there is one; committing and
    /// announcing are the caller's. Several jobs of one record are folded
    /// into one row first (one statement may not touch a row twice, see
    /// [`folded_job_rows`]). Outcomes are in `jobs`' order; every job after
    /// the first of its record reports `merged`.
    async fn enqueue_all_in(
        tx: &mut Transaction<'static, D>,
        jobs: &[&NewJob],
        now: i64,
    ) -> Result<Vec<Enqueued>, StoreError> {
        static SQL: PerDialect = PerDialect::new();
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = SQL.get::<D>(|| {
            format!(
                "INSERT INTO jobs (kind, entity_type, record_system, record_id, location, \
                 dedupe_key, priority, payload, state, run_at, attempts, merged_count, \
                 created_at, updated_at) \
                 SELECT w.kind, w.entity_type, w.record_system, w.record_id, w.location, \
                 w.dedupe_key, w.priority, w.payload, 'pending', w.run_at, 0, w.merged, $2, $2 \
                 FROM {} WHERE true \
                 ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE SET \
                   priority = CASE WHEN excluded.priority < jobs.priority \
                     THEN excluded.priority ELSE jobs.priority END, \
                   run_at = CASE WHEN excluded.run_at < jobs.run_at \
                     THEN excluded.run_at ELSE jobs.run_at END, \
                   payload = excluded.payload, \
                   location = excluded.location, \
                   merged_count = jobs.merged_count + excluded.merged_count + 1, \
                   updated_at = excluded.updated_at \
                 RETURNING id, dedupe_key, {} AS inserted",
                D::json_rows(JOB_ROW_COLUMNS),
                D::JOB_INSERTED_SQL,
            )
        });
        let (rows, records) = folded_job_rows(jobs)?;
        let high_water: i64 = match D::JOBS_HIGH_WATER_SQL {
            Some(high_water) => sqlx::query_scalar(high_water)
                .fetch_one(&mut **tx)
                .await
                .map_err(StoreError::db("reading the highest job id"))?,
            None => 0,
        };
        let returned: Vec<(JobId, String, bool)> = sqlx::query_as(sql)
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(now)
            .bind(high_water)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::db("enqueueing jobs"))?;
        let queued: HashMap<String, (JobId, bool)> = returned
            .into_iter()
            .map(|(job_id, dedupe_key, inserted)| (dedupe_key, (job_id, inserted)))
            .collect();
        let mut first_of_record = HashSet::with_capacity(records);
        jobs.iter()
            .map(|job| {
                let &(job_id, inserted) = queued.get(&job.dedupe_key).ok_or_else(|| {
                    StoreError::Corrupt("an enqueued job was not returned".into())
                })?;
                let first = first_of_record.insert(job.dedupe_key.as_str());
                Ok(Enqueued {
                    job_id,
                    merged: !(first && inserted),
                })
            })
            .collect()
    }

    pub(crate) async fn enqueue(
        &self,
        jobs: &[NewJob],
        now: i64,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcomes = Self::enqueue_all_in(&mut tx, &jobs.iter().collect::<Vec<_>>(), now).await?;
        commit(tx, "committing enqueued jobs").await?;
        self.announce_jobs();
        Ok(outcomes)
    }

    /// Enqueues the jobs a scan found, in one statement: each unless a job
    /// of its record is already pending; that one keeps its payload and its
    /// run-at (a retry's back-off), and is only moved up when the found job
    /// is more urgent, or, with `run_now`, brought forward to the found
    /// job's run-at. Two found jobs of one record count as the more urgent
    /// one (one statement may not touch a row twice). Returns how many jobs
    /// were inserted, moved up or brought forward.
    pub(crate) async fn enqueue_found(
        &self,
        jobs: &[NewJob],
        run_now: bool,
        now: i64,
    ) -> Result<u64, StoreError> {
        static SQL: PerDialect = PerDialect::new();
        if jobs.is_empty() {
            return Ok(0);
        }
        let sql = SQL.get::<D>(|| {
            format!(
                "INSERT INTO jobs (kind, entity_type, record_system, record_id, location, \
                 dedupe_key, priority, payload, state, run_at, attempts, merged_count, \
                 created_at, updated_at) \
                 SELECT w.kind, w.entity_type, w.record_system, w.record_id, w.location, \
                 w.dedupe_key, w.priority, w.payload, 'pending', w.run_at, 0, 0, $2, $2 \
                 FROM {} WHERE true \
                 ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE SET \
                   priority = CASE WHEN excluded.priority < jobs.priority \
                     THEN excluded.priority ELSE jobs.priority END, \
                   run_at = CASE WHEN $3 AND excluded.run_at < jobs.run_at \
                     THEN excluded.run_at ELSE jobs.run_at END, \
                   updated_at = excluded.updated_at \
                 WHERE excluded.priority < jobs.priority OR ($3 AND excluded.run_at < jobs.run_at) \
                 RETURNING id",
                D::json_rows(JOB_ROW_COLUMNS)
            )
        });
        let rows = most_urgent_per_record(jobs)
            .into_iter()
            .map(|job| job_row(job, 0))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.begin_write().await?;
        let queued = sqlx::query(sql)
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(now)
            .bind(run_now)
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::db("enqueueing found jobs"))?
            .len();
        commit(tx, "committing found jobs").await?;
        if queued > 0 {
            self.announce_jobs();
        }
        Ok(u64::try_from(queued).unwrap_or(u64::MAX))
    }

    // ---- inbox ----------------------------------------------------------

    /// Saves received `events` (each with where it stands in its group
    /// commit) to the inbox inside `tx` and enqueues the jobs of the new
    /// ones: one statement for the inbox and one for the jobs, whatever
    /// their number. A duplicate (an event already in the inbox, or one
    /// that came earlier in `events`) saves and enqueues nothing and
    /// reports `new: false`. Announcing and committing are the caller's.
    async fn accept_all_in(
        tx: &mut Transaction<'static, D>,
        events: &[(usize, &InboundEvent, Option<&NewJob>)],
        now: i64,
    ) -> Result<Vec<(usize, Accepted)>, StoreError> {
        static SQL: PerDialect = PerDialect::new();
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let sql = SQL.get::<D>(|| {
            format!(
                "INSERT INTO inbox (source, event_id, event_type, payload, received_at) \
                 SELECT w.source, w.event_id, w.event_type, w.payload, $2 FROM {} WHERE true \
                 ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id",
                D::json_rows(&[
                    ("source", "text"),
                    ("event_id", "text"),
                    ("event_type", "text"),
                    ("payload", "text"),
                ])
            )
        });
        // The first delivery of each event id in the batch (a later one is
        // a duplicate whatever the inbox holds), in key order, as every
        // batch's: two batches committed side by side (by two processes on
        // one PostgreSQL database) then take their rows' locks in the same
        // order and cannot deadlock.
        let mut first_delivery = BTreeMap::new();
        for (_, event, _) in events {
            first_delivery
                .entry((event.source.as_str(), event.event_id.as_str()))
                .or_insert(*event);
        }
        let mut rows = Vec::with_capacity(first_delivery.len());
        for event in first_delivery.into_values() {
            let payload =
                serde_json::to_string(&event.payload).map_err(|error| StoreError::Invalid {
                    what: "event payload",
                    why: error.to_string(),
                })?;
            rows.push(serde_json::json!({
                "source": event.source.as_str(),
                "event_id": event.event_id,
                "event_type": event.event_type,
                "payload": payload,
            }));
        }
        let returned: Vec<(String, String)> = sqlx::query_as(sql)
            .bind(serde_json::Value::Array(rows).to_string())
            .bind(now)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::db("saving events to the inbox"))?;
        let mut saved = HashSet::with_capacity(returned.len());
        for (source, event_id) in returned {
            saved.insert((source.parse::<System>()?, event_id));
        }
        // An event is new when this statement saved it, and only at its
        // first delivery in the batch.
        let new: Vec<bool> = events
            .iter()
            .map(|(_, event, _)| saved.remove(&(event.source, event.event_id.clone())))
            .collect();
        let jobs: Vec<&NewJob> = events
            .iter()
            .zip(&new)
            .filter_map(|((_, _, job), new)| (*job).filter(|_| *new))
            .collect();
        let mut enqueued = Self::enqueue_all_in(tx, &jobs, now).await?.into_iter();
        events
            .iter()
            .zip(new)
            .map(|((at, _, job), new)| {
                let job = match job {
                    Some(_) if new => Some(enqueued.next().ok_or_else(|| {
                        StoreError::Corrupt("an accepted event's job was not enqueued".into())
                    })?),
                    _ => None,
                };
                Ok((*at, Accepted { new, job }))
            })
            .collect()
    }

    pub(crate) async fn inbox_events(
        &self,
        source: Option<System>,
        event_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let rows: Vec<InboxRow> = sqlx::query_as(
            "SELECT source, event_id, event_type, payload, received_at FROM inbox \
             WHERE ($1 IS NULL OR source = $1) AND ($2 IS NULL OR event_id = $2) \
             ORDER BY received_at DESC, event_id LIMIT $3",
        )
        .bind(source.map(System::as_str))
        .bind(event_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("reading the inbox"))?;
        convert(rows)
    }

    pub(crate) async fn prune_inbox(&self, received_before: i64) -> Result<u64, StoreError> {
        let prune = sqlx::query("DELETE FROM inbox WHERE received_at < $1").bind(received_before);
        self.write_alone(prune, "pruning the inbox").await
    }

    // ---- group commit ---------------------------------------------------

    /// Applies a group commit's writes (received events with their jobs,
    /// links, log lines, completions) in one transaction (one disk sync):
    /// all are committed, or none is. Each kind of row takes a fixed number
    /// of statements whatever the batch holds (each statement a round trip
    /// to PostgreSQL, a thread hand-off with SQLite): events and their jobs
    /// two, links one, log lines one, completions one. Outcomes come back
    /// in `writes`' order.
    pub(crate) async fn apply_writes(
        &self,
        writes: &[Write],
        now: i64,
    ) -> Result<Vec<Written>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut outcomes: Vec<Option<Written>> = writes.iter().map(|_| None).collect();
        let mut accepts = Vec::new();
        let mut links = Vec::new();
        let mut logs = Vec::new();
        let mut completions = Vec::new();
        for (at, write) in writes.iter().enumerate() {
            match write {
                Write::Accept(event, job) => accepts.push((at, event, job.as_ref())),
                Write::SaveLink(link) => links.push((at, link)),
                Write::Log(event) => logs.push((at, event)),
                Write::Complete { job_id, owner } => {
                    completions.push((at, *job_id, owner.as_str()));
                }
            }
        }
        let mut enqueued = false;
        for (at, accepted) in Self::accept_all_in(&mut tx, &accepts, now).await? {
            enqueued |= accepted.job.is_some();
            outcomes[at] = Some(Written::Accepted(accepted));
        }
        for (at, link) in Self::save_links_in(&mut tx, &links, now).await? {
            outcomes[at] = Some(Written::Link(link));
        }
        for (at, id) in Self::append_logs_in(&mut tx, &logs, now).await? {
            outcomes[at] = Some(Written::Logged(id));
        }
        for (at, held) in Self::complete_in(&mut tx, &completions, now).await? {
            outcomes[at] = Some(Written::Completed { lease_held: held });
        }
        commit(tx, "committing a group of writes").await?;
        if enqueued {
            self.announce_jobs();
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.ok_or_else(|| StoreError::Corrupt("a grouped write had no outcome".into()))
            })
            .collect()
    }

    // ---- claims and leases ----------------------------------------------

    /// Leases up to `limit` claimable jobs to `owner` until
    /// `lease_expires_at` with the dialect's claim statement, committed
    /// before this returns; most urgent first.
    pub(crate) async fn claim_jobs(
        &self,
        owner: &str,
        scope: &ClaimScope,
        limit: i64,
        up_to: Priority,
        lease_expires_at: i64,
        now: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let (any_location, locations) = match scope {
            ClaimScope::Any => (true, D::claim_locations(&[])?),
            ClaimScope::Locations(locations) => (false, D::claim_locations(locations)?),
        };
        let mut races = 0;
        let (tx, rows) = loop {
            let mut tx = self.begin_write().await?;
            let claimed: Result<Vec<JobRow>, _> = sqlx::query_as(D::claim_sql())
                .bind(owner)
                .bind(lease_expires_at)
                .bind(now)
                .bind(any_location)
                .bind(&locations)
                .bind(limit)
                .bind(up_to.rank())
                .fetch_all(&mut *tx)
                .await;
            match claimed {
                Ok(rows) => break (tx, rows),
                // Another process started a job of the same record after
                // this statement's snapshot was taken (PostgreSQL; SQLite's
                // one writer cannot race): the one-running-job-per-record
                // index refused the second; look again (that record is now
                // skipped).
                Err(error) if is_unique_violation(&error) && races < 5 => races += 1,
                Err(error) => return Err(StoreError::db("claiming jobs")(error)),
            }
        };
        let mut jobs: Vec<Job> = convert(rows)?;
        // The claim commits here, before the caller does any work.
        commit(tx, "committing a job claim").await?;
        jobs.sort_by_key(|job| (job.priority, job.run_at, job.id));
        Ok(jobs)
    }

    pub(crate) async fn extend_job_lease(
        &self,
        job_id: JobId,
        owner: &str,
        lease_expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let extend = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        )
        .bind(job_id)
        .bind(owner)
        .bind(lease_expires_at)
        .bind(now);
        match self.write_alone(extend, "extending a job lease").await? {
            0 => Err(StoreError::LeaseLost {
                job_id,
                owner: owner.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Ids of the jobs running under `owner`'s lease, expired or not.
    pub(crate) async fn leased_job_ids(&self, owner: &str) -> Result<Vec<JobId>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM jobs WHERE state = 'running' AND lease_owner = $1 ORDER BY id",
        )
        .bind(owner)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("listing a worker's leased jobs"))
    }

    // ---- finishing jobs -------------------------------------------------

    /// Marks `completions` (job, lease owner; each with where it stands in
    /// its group commit) done inside `tx` in one statement; returns for
    /// each whether its owner still held the lease (a job whose lease was
    /// lost is left as it is).
    async fn complete_in(
        tx: &mut Transaction<'static, D>,
        completions: &[(usize, JobId, &str)],
        now: i64,
    ) -> Result<Vec<(usize, bool)>, StoreError> {
        const COMPLETIONS: &[(&str, &str)] = &[("job_id", "bigint"), ("owner", "text")];
        static SQL: PerDialect = PerDialect::new();
        static HOLDERS_SQL: PerDialect = PerDialect::new();
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let rows_json = serde_json::Value::Array(
            completions
                .iter()
                .map(|(_, job_id, owner)| serde_json::json!({"job_id": job_id, "owner": owner}))
                .collect(),
        )
        .to_string();
        // The statement returns the jobs it completed, not for whom: when
        // two owners complete one job in this batch (a worker whose lease
        // ran out, and the one that took the job over), read who holds it
        // first.
        let mut owners: HashMap<JobId, &str> = HashMap::new();
        let mut contested = false;
        for (_, job_id, owner) in completions {
            contested |= owners
                .insert(*job_id, owner)
                .is_some_and(|other| other != *owner);
        }
        let holders: HashMap<JobId, Option<String>> = if contested {
            let holders_sql = HOLDERS_SQL.get::<D>(|| {
                format!(
                    "SELECT id, lease_owner FROM jobs WHERE state = 'running' \
                     AND id IN (SELECT w.job_id FROM {})",
                    D::json_rows(COMPLETIONS)
                )
            });
            sqlx::query_as(holders_sql)
                .bind(&rows_json)
                .fetch_all(&mut **tx)
                .await
                .map_err(StoreError::db("reading who holds the jobs to complete"))?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let sql = SQL.get::<D>(|| {
            format!(
                "UPDATE jobs SET state = 'done', finished_at = $2, updated_at = $2, \
                 lease_owner = NULL, lease_expires_at = NULL \
                 FROM {} WHERE jobs.id = w.job_id AND jobs.state = 'running' \
                 AND jobs.lease_owner = w.owner RETURNING id",
                D::json_rows(COMPLETIONS)
            )
        });
        let done: HashSet<JobId> = sqlx::query_scalar(sql)
            .bind(rows_json)
            .bind(now)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::db("completing jobs"))?
            .into_iter()
            .collect();
        Ok(completions
            .iter()
            .map(|(at, job_id, owner)| {
                let held = done.contains(job_id)
                    && (!contested
                        || holders
                            .get(job_id)
                            .is_some_and(|holder| holder.as_deref() == Some(*owner)));
                (*at, held)
            })
            .collect())
    }

    /// Completes several jobs in one transaction; returns the ids whose
    /// lease `owner` no longer held (those are left as they are).
    pub(crate) async fn complete_jobs(
        &self,
        job_ids: &[JobId],
        owner: &str,
        now: i64,
    ) -> Result<Vec<JobId>, StoreError> {
        let completions: Vec<(usize, JobId, &str)> = job_ids
            .iter()
            .enumerate()
            .map(|(at, id)| (at, *id, owner))
            .collect();
        let mut tx = self.begin_write().await?;
        let held = Self::complete_in(&mut tx, &completions, now).await?;
        commit(tx, "committing completed jobs").await?;
        Ok(held
            .into_iter()
            .filter(|(_, held)| !held)
            .map(|(at, _)| job_ids[at])
            .collect())
    }

    pub(crate) async fn dead_letter_job(
        &self,
        job_id: JobId,
        owner: &str,
        reason: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let bury = sqlx::query(
            "UPDATE jobs SET state = 'dead', dead_reason = $3, last_error = $3, \
             finished_at = $4, updated_at = $4, lease_owner = NULL, lease_expires_at = NULL \
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        )
        .bind(job_id)
        .bind(owner)
        .bind(reason)
        .bind(now);
        match self.write_alone(bury, "dead-lettering a job").await? {
            0 => Err(StoreError::LeaseLost {
                job_id,
                owner: owner.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// Puts a job back to pending as `how` says, or, when a job of its
    /// record is already pending, closes it as superseded by that one.
    pub(crate) async fn requeue(
        &self,
        job_id: JobId,
        how: Requeue<'_>,
        now: i64,
    ) -> Result<RetryOutcome, StoreError> {
        let mut races = 0;
        loop {
            match self.requeue_attempt(job_id, how, now).await {
                Ok(outcome) => return outcome,
                // A pending job for the same record was enqueued between our
                // check and our update: look again, it supersedes this one.
                Err(error) if is_unique_violation(&error) && races < 5 => races += 1,
                Err(error) => return Err(StoreError::db("re-queueing a job")(error)),
            }
        }
    }

    /// One attempt of [`Self::requeue`]. Returns the sqlx error untouched
    /// so a unique-index race can be told apart and tried again.
    async fn requeue_attempt(
        &self,
        job_id: JobId,
        how: Requeue<'_>,
        now: i64,
    ) -> Result<Result<RetryOutcome, StoreError>, sqlx::Error> {
        let (owner, error_text, run_at, reset_attempts) = match how {
            Requeue::Retry {
                owner,
                error,
                run_at,
            } => (Some(owner), Some(error), run_at, false),
            Requeue::Replay => (None, None, now, true),
        };
        let mut tx = match self.begin_write().await {
            Ok(tx) => tx,
            Err(error) => return Ok(Err(error)),
        };
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT state, dedupe_key, lease_owner FROM jobs WHERE id = $1")
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((state, dedupe_key, lease_owner)) = row else {
            return Ok(Err(StoreError::JobNotFound(job_id)));
        };
        match owner {
            Some(owner) if state != "running" || lease_owner.as_deref() != Some(owner) => {
                return Ok(Err(StoreError::LeaseLost {
                    job_id,
                    owner: owner.to_string(),
                }));
            }
            None if state != "dead" => {
                return Ok(Err(StoreError::NotDeadLetter { job_id, state }));
            }
            _ => {}
        }
        let pending: Option<JobId> =
            sqlx::query_scalar("SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'pending'")
                .bind(&dedupe_key)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = if let Some(pending_id) = pending {
            sqlx::query(
                "UPDATE jobs SET state = 'superseded', last_error = COALESCE($2, last_error), \
                 finished_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL \
                 WHERE id = $1",
            )
            .bind(job_id)
            .bind(error_text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            RetryOutcome::Superseded { by: pending_id }
        } else {
            sqlx::query(
                "UPDATE jobs SET state = 'pending', run_at = $2, \
                 last_error = COALESCE($3, last_error), \
                 attempts = CASE WHEN $4 THEN 0 ELSE attempts END, \
                 dead_reason = NULL, finished_at = NULL, updated_at = $5, \
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
            )
            .bind(job_id)
            .bind(run_at)
            .bind(error_text)
            .bind(reset_attempts)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            RetryOutcome::Rescheduled
        };
        tx.commit().await?;
        if outcome == RetryOutcome::Rescheduled {
            self.announce_jobs();
        }
        Ok(Ok(outcome))
    }

    pub(crate) async fn drop_dead_letter(&self, job_id: JobId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
            .bind(job_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("reading a dead letter"))?;
        match state.as_deref() {
            None => return Err(StoreError::JobNotFound(job_id)),
            Some("dead") => {}
            Some(other) => {
                return Err(StoreError::NotDeadLetter {
                    job_id,
                    state: other.to_string(),
                });
            }
        }
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'dead'")
            .bind(job_id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("dropping a dead letter"))?;
        commit(tx, "committing a dropped dead letter").await
    }

    /// Deletes done and superseded jobs finished before `finished_before`.
    pub(crate) async fn prune_finished_jobs(
        &self,
        finished_before: i64,
    ) -> Result<u64, StoreError> {
        let prune = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('done', 'superseded') AND finished_at < $1",
        )
        .bind(finished_before);
        self.write_alone(prune, "pruning finished jobs").await
    }

    // ---- reading the queue ----------------------------------------------

    /// Whether a job of `dedupe_key` is pending, and whether one is running
    /// (each read from its partial index: the states are literals).
    pub(crate) async fn open_jobs(&self, dedupe_key: &str) -> Result<OpenJobs, StoreError> {
        let (pending, running): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE dedupe_key = $1 AND state = 'pending'), \
             EXISTS (SELECT 1 FROM jobs WHERE dedupe_key = $1 AND state = 'running')",
        )
        .bind(dedupe_key)
        .fetch_one(self.reader())
        .await
        .map_err(StoreError::db("looking for a record's open jobs"))?;
        Ok(OpenJobs { pending, running })
    }

    pub(crate) async fn jobs(&self, filter: JobFilter<'_>) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR id = $1) \
             AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR dedupe_key = $3) \
             AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows: Vec<JobRow> = sqlx::query_as(&sql)
            .bind(filter.id)
            .bind(filter.state.map(JobState::as_str))
            .bind(filter.dedupe_key)
            .bind(filter.after_id)
            .bind(filter.limit)
            .fetch_all(self.reader())
            .await
            .map_err(StoreError::db("listing jobs"))?;
        convert(rows)
    }

    pub(crate) async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) AS count FROM jobs GROUP BY state")
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("counting jobs"))?;
        let mut stats = QueueStats::default();
        for (state, count) in rows {
            match state.parse()? {
                JobState::Pending => stats.pending = count,
                JobState::Running => stats.running = count,
                JobState::Done => stats.done = count,
                JobState::Dead => stats.dead = count,
                JobState::Superseded => stats.superseded = count,
            }
        }
        Ok(stats)
    }

    /// Jobs waiting, running or dead, per entity, kind and state.
    pub(crate) async fn open_job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        let rows: Vec<JobCountRow> = sqlx::query_as(
            "SELECT entity_type, kind, state, COUNT(*) AS count FROM jobs \
             WHERE state IN ('pending', 'running', 'dead') \
             GROUP BY entity_type, kind, state ORDER BY entity_type, kind, state",
        )
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("counting open jobs"))?;
        convert(rows)
    }
}
