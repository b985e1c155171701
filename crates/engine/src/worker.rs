//! The engine: claims jobs from the store while earlier ones run (up to
//! `concurrency` at once), runs each through its flow handler, completes
//! successes (through the store's group commit, with the job's own links
//! and log lines), retries transient failures with exponential back-off
//! and full jitter, and dead-letters permanent ones with the reason.
//! The AccessAlly → HighLevel product jobs of one tenant and priority
//! claimed together run as one batch whose updates go out in HighLevel bulk
//! edits and inventory changes; a lone job runs at once, as every other job
//! does. While every slot holds a backlog's work, live jobs are claimed
//! and run in a lane of their own beside it. Counts what it did.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use model::Flow;
use rand::Rng;
use serde::Serialize;
use store::{ClaimScope, Job, NewJob, Priority, Store, System};

use crate::error::EngineError;
use crate::flows::{self, Ctx, kinds};
use crate::plan::{Action, Plan};
use crate::tenant::Tenant;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Names this process's job leases.
    pub worker_id: String,
    /// True when `worker_id` names this worker across restarts (the
    /// daemon's `[engine] worker_id`): [`Engine::run`]
    /// then first gives back the jobs an earlier run under this id left
    /// leased when it died, instead of letting them wait out their lease.
    /// Two live processes must never share such an id.
    pub stable_worker_id: bool,
    /// Jobs run at once.
    pub concurrency: usize,
    /// The most jobs one claim takes: a [`Engine::run_round`] batch; the
    /// job loop claims at most `concurrency` of them at a time.
    pub batch: i64,
    pub lease: Duration,
    /// Attempts before a transient failure is dead-lettered.
    pub max_attempts: i64,
    /// First retry delay ceiling; doubles per attempt.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Compute and report only.
    pub dry_run: bool,
    /// Keep every record's outcome in [`Engine::plan`] (what `sync` and
    /// the tests read). A daemon leaves it off: the plan would grow by one
    /// entry per synced record for the life of the process.
    pub keep_plan: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            stable_worker_id: false,
            worker_id: format!("worker-{}", std::process::id()),
            concurrency: 8,
            batch: 64,
            lease: Duration::from_secs(60),
            max_attempts: 8,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(300),
            dry_run: false,
            keep_plan: true,
        }
    }
}

/// Counters per flow.
#[derive(Debug, Default)]
pub struct FlowCounters {
    pub created: AtomicU64,
    pub updated: AtomicU64,
    pub deleted: AtomicU64,
    pub skipped: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
}

/// What the engine did, per flow.
#[derive(Debug, Default)]
pub struct Stats {
    flows: HashMap<Flow, FlowCounters>,
    pub jobs: AtomicU64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FlowSummary {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

impl Stats {
    fn new() -> Self {
        Self {
            flows: Flow::ALL
                .iter()
                .map(|f| (*f, FlowCounters::default()))
                .collect(),
            jobs: AtomicU64::new(0),
        }
    }

    fn counters(&self, flow: Flow) -> Option<&FlowCounters> {
        self.flows.get(&flow)
    }

    pub fn summary(&self) -> BTreeMap<String, FlowSummary> {
        Flow::ALL
            .iter()
            .filter_map(|f| {
                let c = self.counters(*f)?;
                Some((
                    f.to_string(),
                    FlowSummary {
                        created: c.created.load(Ordering::Relaxed),
                        updated: c.updated.load(Ordering::Relaxed),
                        deleted: c.deleted.load(Ordering::Relaxed),
                        skipped: c.skipped.load(Ordering::Relaxed),
                        retried: c.retried.load(Ordering::Relaxed),
                        dead_lettered: c.dead.load(Ordering::Relaxed),
                    },
                ))
            })
            .collect()
    }
}

/// The flow a job kind belongs to.
pub fn flow_of(kind: &str) -> Option<Flow> {
    Some(match kind {
        kinds::COUPON_TO_AA => Flow::CouponsToAccessally,
        kinds::PRODUCT_TO_AA => Flow::ProductsToAccessally,
        kinds::PRODUCT_TO_GHL => Flow::ProductsToHighlevel,
        kinds::ORDER_TO_GHL => Flow::OrdersToHighlevel,
        kinds::ORDER_TO_AA => Flow::OrdersToAccessally,
        _ => return None,
    })
}

/// A job for one record of one tenant.
pub fn job(tenant: &Tenant, kind: &str, record_id: &str, priority: Priority) -> NewJob {
    let (entity, system) = match kind {
        kinds::COUPON_TO_AA => ("coupon", System::HighLevel),
        kinds::PRODUCT_TO_AA => ("product", System::HighLevel),
        kinds::PRODUCT_TO_GHL => ("product", System::AccessAlly),
        kinds::ORDER_TO_GHL => ("order", System::AccessAlly),
        _ => ("order", System::HighLevel),
    };
    let mut job = NewJob::now(kind, tenant.entity(entity), system, record_id, priority)
        .with_payload(serde_json::json!({"tenant": tenant.name}));
    job.dedupe_key = flows::dedupe_key(tenant, kind, record_id);
    if system == System::HighLevel {
        job = job.with_location(tenant.ghl.location_id().to_string());
    }
    job
}

/// Product jobs one batch takes at most: its updates go out in bulk edits
/// of 30 entities (a product and each of its prices) and inventory changes
/// of 100 items, so a hundred jobs fill several of each.
const PACK_JOBS: usize = 100;
/// Extra claims to fill a product batch from a backlog.
const TOP_UP_CLAIMS: usize = 4;

/// The sync engine of one process.
pub struct Engine {
    pub store: Store,
    pub tenants: BTreeMap<String, Tenant>,
    pub options: EngineOptions,
    pub plan: Plan,
    pub stats: Arc<Stats>,
    /// What `/metrics` shows; the clients' calls reach it when they were
    /// built with it as their observer (see [`Engine::with_metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Records (dedupe keys) a job of this process is working on: a second
    /// job for the same record waits, so two never write the same record.
    busy: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Engine {
    pub fn new(store: Store, tenants: Vec<Tenant>, options: EngineOptions) -> Self {
        Self {
            store,
            tenants: tenants.into_iter().map(|t| (t.name.clone(), t)).collect(),
            plan: Plan::new(options.keep_plan),
            options,
            stats: Arc::new(Stats::new()),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            busy: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Uses `metrics` (the one the tenants' clients report their calls to)
    /// instead of a fresh set.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name)
    }

    /// Runs one job's handler (no queue bookkeeping).
    pub async fn run_job(&self, job: &Job) -> Result<Action, EngineError> {
        let tenant_name = tenant_of(job);
        let tenant = self.tenants.get(tenant_name).ok_or_else(|| {
            EngineError::Permanent(format!("job names unknown tenant `{tenant_name}`"))
        })?;
        let flow = flow_of(&job.kind)
            .ok_or_else(|| EngineError::Permanent(format!("unknown job kind `{}`", job.kind)))?;
        if tenant.mode(flow) == model::FlowMode::Off {
            return Ok(Action::Skip);
        }
        let ctx = self.ctx(tenant, job);
        let id = job.record_id.as_str();
        match job.kind.as_str() {
            kinds::COUPON_TO_AA => flows::coupons::sync(&ctx, id).await,
            kinds::PRODUCT_TO_AA => flows::products::to_accessally(&ctx, id).await,
            kinds::PRODUCT_TO_GHL => flows::products::to_highlevel(&ctx, id).await,
            kinds::ORDER_TO_GHL => flows::orders::to_highlevel(&ctx, id).await,
            _ => flows::orders::to_accessally(&ctx, id).await,
        }
    }

    /// What a handler of `job` works with.
    fn ctx<'a>(&'a self, tenant: &'a Tenant, job: &Job) -> Ctx<'a> {
        Ctx {
            store: &self.store,
            tenant,
            plan: &self.plan,
            dry_run: self.options.dry_run,
            job_id: Some(job.id),
            known_products: None,
        }
    }

    /// Splits the jobs of one claim into what runs together: the
    /// AccessAlly → HighLevel product jobs of one tenant (one location) and
    /// priority that may write form one unit, whose updates go out together
    /// ([`Engine::run_product_batch`]); every other job, and a lone product
    /// job, is a unit of its own and runs at once as it always did.
    fn units(&self, jobs: Vec<Job>) -> Vec<Vec<Job>> {
        let mut units: Vec<Vec<Job>> = Vec::with_capacity(jobs.len());
        for job in jobs {
            self.add_to_units(&mut units, job);
        }
        units
    }

    /// Adds `job` to [`Engine::units`]: to its tenant's product batch of
    /// its own priority while that has room for [`PACK_JOBS`] (a live
    /// change never waits in a batch of a poll's backlog), else as a unit
    /// of its own (a new batch, for a product job that may write).
    fn add_to_units(&self, units: &mut Vec<Vec<Job>>, job: Job) {
        let batches = job.kind == kinds::PRODUCT_TO_GHL && self.writes(&job);
        if batches
            && let Some(batch) = units.iter_mut().find(|u| {
                u.len() < PACK_JOBS
                    && u.first().is_some_and(|first| {
                        first.kind == job.kind
                            && tenant_of(first) == tenant_of(&job)
                            && first.priority == job.priority
                    })
                    && self.writes(&u[0])
            })
        {
            batch.push(job);
            return;
        }
        units.push(vec![job]);
    }

    /// Claims up to `limit` jobs as [`Engine::units`]; when the claim was
    /// full and formed a product batch (a backlog of product changes), claims
    /// the room left in it, a few times at most, to fill the batch towards
    /// [`PACK_JOBS`], so that bulk requests go out full even with few
    /// workers. A lone change is claimed and run alone, as before. Returns
    /// the units and whether the last claim was full (the queue may hold
    /// more).
    async fn claim_units(&self, limit: i64) -> Result<(Vec<Vec<Job>>, bool), EngineError> {
        let (claimed, jobs) = self.claim_runnable(limit, Priority::Backfill).await?;
        let mut units = self.units(jobs);
        let mut full = i64::try_from(claimed).unwrap_or(i64::MAX) >= limit;
        let mut rounds = 0;
        while full && rounds < TOP_UP_CLAIMS {
            // The room left in the fullest batch still filling.
            let Some(room) = units
                .iter()
                .filter(|u| u.len() > 1 && u.len() < PACK_JOBS)
                .map(|u| PACK_JOBS - u.len())
                .min()
            else {
                break;
            };
            rounds += 1;
            let asked = i64::try_from(room).unwrap_or(limit);
            let (claimed, jobs) = self.claim_runnable(asked, Priority::Backfill).await?;
            full = i64::try_from(claimed).unwrap_or(i64::MAX) >= asked;
            for job in jobs {
                self.add_to_units(&mut units, job);
            }
        }
        Ok((units, full))
    }

    /// Runs one unit of [`Engine::units`]: a lone job, or a product batch.
    async fn run_unit(&self, mut unit: Vec<Job>) -> Vec<(Job, Result<Action, EngineError>)> {
        if unit.len() == 1
            && let Some(job) = unit.pop()
        {
            return vec![self.run_claimed(job).await];
        }
        let most_urgent = unit
            .iter()
            .map(|j| j.priority)
            .min()
            .unwrap_or(Priority::Backfill);
        let batch = async {
            // The jobs of a batch share a tenant; one the engine does not
            // know fails each job alone, as a lone one would.
            match unit.first().and_then(|j| self.tenants.get(tenant_of(j))) {
                None => {
                    let mut out = Vec::with_capacity(unit.len());
                    for job in &unit {
                        out.push(self.run_job(job).await);
                    }
                    out
                }
                Some(tenant) => self.run_product_batch(tenant, &unit).await,
            }
        };
        let results = ghl::with_priority(budget_priority(most_urgent), batch).await;
        {
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            for job in &unit {
                busy.remove(&job.dedupe_key);
            }
        }
        self.stats
            .jobs
            .fetch_add(unit.len() as u64, Ordering::Relaxed);
        unit.into_iter().zip(results).collect()
    }

    /// The AccessAlly → HighLevel product jobs of one tenant claimed
    /// together: each plans its record (reads, skips, creates and deletes
    /// happen there, as for a lone job), then the updates left are written
    /// together ([`flows::products::write_updates`]). Outcomes in the order
    /// of `jobs`.
    async fn run_product_batch(
        &self,
        tenant: &Tenant,
        jobs: &[Job],
    ) -> Vec<Result<Action, EngineError>> {
        // The linked HighLevel products of the whole batch in one read.
        let known = match jobs.first() {
            Some(first) => {
                flows::products::KnownProducts::read(&self.ctx(tenant, first), jobs).await
            }
            None => None,
        };
        let plans: Vec<_> = jobs
            .iter()
            .map(|job| {
                let ctx = Ctx {
                    known_products: known.as_ref(),
                    ..self.ctx(tenant, job)
                };
                let id = job.record_id.clone();
                async move { flows::products::plan_to_highlevel(&ctx, &id).await }
            })
            .collect();
        let planned: Vec<Result<flows::products::Planned, EngineError>> =
            futures::stream::iter(plans)
                .buffered(self.options.concurrency.max(1))
                .collect()
                .await;
        let mut results: Vec<Option<Result<Action, EngineError>>> = Vec::new();
        let mut updates = Vec::new();
        let mut update_at = Vec::new();
        for (i, (job, plan)) in jobs.iter().zip(planned).enumerate() {
            match plan {
                Ok(flows::products::Planned::Done(action)) => results.push(Some(Ok(action))),
                Ok(flows::products::Planned::Update(update)) => {
                    results.push(None);
                    updates.push((self.ctx(tenant, job), *update));
                    update_at.push(i);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let written = flows::products::write_updates(updates).await;
        for (i, result) in update_at.into_iter().zip(written) {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(EngineError::Waiting(
                        "its batch ended without its outcome; it runs again".into(),
                    ))
                })
            })
            .collect()
    }

    /// Whether `job`'s flow may write in this run (not a dry run, the flow in `write` mode).
    fn writes(&self, job: &Job) -> bool {
        !self.options.dry_run
            && flow_of(&job.kind).is_some_and(|flow| {
                self.tenants
                    .get(tenant_of(job))
                    .is_some_and(|t| t.mode(flow) == model::FlowMode::Write)
            })
    }

    fn count(&self, flow: Option<Flow>, action: Action) {
        let Some(c) = flow.and_then(|f| self.stats.counters(f)) else {
            return;
        };
        let counter = match action {
            Action::Create => &c.created,
            Action::Update => &c.updated,
            Action::Delete => &c.deleted,
            Action::Skip => &c.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(16)
            .min(16);
        let ceiling = self
            .options
            .retry_base
            .saturating_mul(1 << exp)
            .min(self.options.retry_max);
        let nanos = ceiling.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos.max(1)))
    }

    /// Claims up to `limit` jobs and returns those to run now with how
    /// many were claimed. A job claimed more often than it may be tried is
    /// dead-lettered; a job of a record another job of this process is
    /// running waits a moment. The jobs returned are marked busy until
    /// [`Engine::run_claimed`] is done with them.
    async fn claim_runnable(
        &self,
        limit: i64,
        up_to: Priority,
    ) -> Result<(usize, Vec<Job>), EngineError> {
        let jobs = self
            .store
            .claim_jobs_up_to(
                &self.options.worker_id,
                &ClaimScope::Any,
                limit,
                self.options.lease,
                up_to,
            )
            .await?;
        let claimed = jobs.len();
        // A job claimed more often than it may be tried never finished its
        // runs (the process died or its lease ran out each time, e.g. a
        // record that crashes the daemon): dead-letter it instead of looping.
        let (jobs, worn_out): (Vec<Job>, Vec<Job>) = jobs
            .into_iter()
            .partition(|job| job.attempts <= self.options.max_attempts);
        for job in worn_out {
            let flow = flow_of(&job.kind);
            if let Some(c) = flow.and_then(|f| self.stats.counters(f)) {
                c.dead.fetch_add(1, Ordering::Relaxed);
            }
            let reason = format!(
                "claimed {} times without finishing (the process stopped or its lease ran out each time); last error: {}",
                job.attempts,
                job.last_error.as_deref().unwrap_or("none")
            );
            tracing::warn!(job = job.id, kind = %job.kind, record = %job.record_id, %reason, "job dead-lettered");
            self.store
                .dead_letter_job(job.id, &self.options.worker_id, &reason)
                .await?;
        }
        // One job per record at a time: the others wait a moment.
        let mut runnable = Vec::with_capacity(jobs.len());
        let mut postponed = Vec::new();
        {
            let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            for job in jobs {
                if busy.insert(job.dedupe_key.clone()) {
                    runnable.push(job);
                } else {
                    postponed.push(job);
                }
            }
        }
        for job in postponed {
            let at = Utc::now() + chrono::Duration::milliseconds(100);
            self.store
                .retry_job(
                    job.id,
                    &self.options.worker_id,
                    "another job of this record is running",
                    at,
                )
                .await?;
        }
        Ok((claimed, runnable))
    }

    /// Runs one claimed job's handler and frees its record for the next
    /// job; [`Engine::finish`] records the outcome.
    async fn run_claimed(&self, job: Job) -> (Job, Result<Action, EngineError>) {
        let result = ghl::with_priority(budget_priority(job.priority), self.run_job(&job)).await;
        self.busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&job.dedupe_key);
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        (job, result)
    }

    /// Records a run job's outcome: done (committed with the job's own
    /// links and log lines when they share a group commit), retried later
    /// with back-off, or dead-lettered. An error is the store's, recording
    /// the outcome.
    async fn finish(
        &self,
        job: Job,
        result: Result<Action, EngineError>,
    ) -> Result<(), EngineError> {
        let flow = flow_of(&job.kind);
        let worker = &self.options.worker_id;
        // A record that waits for another one this run will not write (in
        // observe mode or a dry run) is reported as such, not retried into
        // a dead letter: nothing is wrong with it.
        let result = match result {
            Err(EngineError::Waiting(why)) if !self.writes(&job) => {
                self.plan.push(crate::PlanEntry {
                    tenant: tenant_of(&job).to_string(),
                    flow: flow.unwrap_or(Flow::CouponsToAccessally),
                    action: Action::Skip,
                    record: job.record_id.clone(),
                    diffs: Vec::new(),
                    changes: serde_json::Value::Null,
                    note: format!("would wait: {why} (this mode writes nothing)"),
                    written: false,
                });
                Ok(Action::Skip)
            }
            other => other,
        };
        match result {
            Ok(action) => {
                self.count(flow, action);
                if action != Action::Skip
                    && self.writes(&job)
                    && let Some(flow) = flow
                {
                    let since = (Utc::now() - job.created_at).to_std().unwrap_or_default();
                    self.metrics.observe_write(flow, since);
                }
                match self.store.complete_job(job.id, worker).await {
                    // Its lease ran out while it ran and another worker
                    // took it: that one records the outcome.
                    Err(store::StoreError::LeaseLost { .. }) => {
                        tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease was lost; its new holder runs it again");
                        Ok(())
                    }
                    other => Ok(other?),
                }
            }
            Err(e) if e.is_retryable() && job.attempts < self.options.max_attempts => {
                if let Some(c) = flow.and_then(|f| self.stats.counters(f)) {
                    c.retried.fetch_add(1, Ordering::Relaxed);
                }
                let wait =
                    chrono::Duration::from_std(self.backoff(job.attempts)).unwrap_or_default();
                tracing::debug!(job = job.id, kind = %job.kind, error = %e, "retrying job");
                self.store
                    .retry_job(job.id, worker, &e.to_string(), Utc::now() + wait)
                    .await?;
                Ok(())
            }
            Err(e) => {
                if let Some(c) = flow.and_then(|f| self.stats.counters(f)) {
                    c.dead.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(job = job.id, kind = %job.kind, record = %job.record_id, error = %e, "job dead-lettered");
                self.store
                    .dead_letter_job(job.id, worker, &e.to_string())
                    .await?;
                Ok(())
            }
        }
    }

    /// Claims one batch of jobs, runs them (up to `concurrency` at once)
    /// and records each outcome; returns how many were claimed.
    pub async fn run_round(&self) -> Result<usize, EngineError> {
        let (claimed, jobs) = self
            .claim_runnable(self.options.batch, Priority::Backfill)
            .await?;
        let outcomes: Vec<Result<(), EngineError>> = futures::stream::iter(self.units(jobs))
            .map(|unit| async move {
                let mut recorded = Ok(());
                for (job, result) in self.run_unit(unit).await {
                    let outcome = self.finish(job, result).await;
                    recorded = recorded.and(outcome);
                }
                recorded
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .collect()
            .await;
        outcomes.into_iter().collect::<Result<(), _>>()?;
        Ok(claimed)
    }

    /// Keeps up to `concurrency` jobs running, claiming the next ones
    /// (at most `batch`, at most `concurrency` at a time) while they run,
    /// so that no slot waits for the slowest job of a batch, and records
    /// each outcome as its job ends (a slot does not wait for that commit). Returns when
    /// a claim found nothing and no job is left running (idle), or, once
    /// `stop` resolves, when the jobs already claimed are done (stopped).
    /// `waker` (when given) lets a job enqueued while the queue looked
    /// empty be claimed before the running ones finish, and, while every
    /// slot holds a backlog's work, lets a live job be claimed and run at
    /// once in a lane of its own (up to `concurrency` more units, live jobs
    /// only): a single change never queues behind a poll's or a backfill's
    /// backlog, whose claimed units wait in `ready`. On a store error
    /// it stops claiming, lets the running jobs finish and returns the
    /// error.
    async fn pump<S>(
        &self,
        mut waker: Option<&mut store::JobWaker>,
        mut stop: std::pin::Pin<&mut S>,
    ) -> Result<Pumped, EngineError>
    where
        S: std::future::Future<Output = ()>,
    {
        let concurrency = self.options.concurrency.max(1);
        let claim_limit = self
            .options
            .batch
            .clamp(1, i64::try_from(concurrency).unwrap_or(i64::MAX));
        let mut running = futures::stream::FuturesUnordered::new();
        let mut finishing = futures::stream::FuturesUnordered::new();
        let mut ready: std::collections::VecDeque<Vec<Job>> = std::collections::VecDeque::new();
        let mut claim: Option<futures::future::BoxFuture<'_, _>> = None;
        // The live lane: live units claimed while the slots are full.
        let mut live_running = futures::stream::FuturesUnordered::new();
        let mut live_claim: Option<futures::future::BoxFuture<'_, _>> = None;
        let mut ran = 0u64;
        // The last claim found fewer jobs than it asked for: claim again
        // only when a job finishes (it may have enqueued or unblocked
        // others) or the waker says new jobs are ready.
        let mut queue_drained = false;
        let mut stopped = false;
        let mut failure: Option<EngineError> = None;
        loop {
            while running.len() < concurrency {
                let Some(unit) = ready.pop_front() else { break };
                running.push(self.run_unit(unit));
            }
            // A live unit a full claim brought waits for no backlog unit.
            while live_running.len() < concurrency
                && ready.front().is_some_and(|unit| is_live(unit))
            {
                let Some(unit) = ready.pop_front() else { break };
                live_running.push(self.run_unit(unit));
            }
            let may_claim = !stopped && failure.is_none();
            if claim.is_none() && may_claim && !queue_drained && ready.is_empty() {
                claim = Some(Box::pin(self.claim_units(claim_limit)));
            }
            if claim.is_none()
                && live_claim.is_none()
                && running.is_empty()
                && live_running.is_empty()
                && ready.is_empty()
                && finishing.is_empty()
            {
                if let Some(error) = failure {
                    return Err(error);
                }
                return Ok(Pumped { ran, stopped });
            }
            // Every slot busy with a backlog: listen for live jobs.
            let watch_for_live = running.len() >= concurrency
                && live_claim.is_none()
                && live_running.len() < concurrency;
            let wake_on_new_jobs =
                (queue_drained || watch_for_live) && may_claim && waker.is_some();
            tokio::select! {
                claimed = async { claim.as_mut().expect("a claim in flight").await }, if claim.is_some() => {
                    claim = None;
                    match claimed {
                        Ok((units, full)) => {
                            queue_drained = !full;
                            // Live units go before the backlog's.
                            let (live, rest): (Vec<_>, Vec<_>) =
                                units.into_iter().partition(|unit| is_live(unit));
                            ready.extend(rest);
                            for unit in live.into_iter().rev() {
                                ready.push_front(unit);
                            }
                        }
                        Err(error) => failure = Some(error),
                    }
                }
                claimed = async { live_claim.as_mut().expect("a live claim in flight").await }, if live_claim.is_some() => {
                    live_claim = None;
                    match claimed {
                        Ok((_, jobs)) => {
                            for unit in self.units(jobs) {
                                live_running.push(self.run_unit(unit));
                            }
                        }
                        Err(error) => failure = Some(error),
                    }
                }
                Some(outcomes) = running.next(), if !running.is_empty() => {
                    for (job, result) in outcomes {
                        ran += 1;
                        finishing.push(self.finish(job, result));
                    }
                }
                Some(outcomes) = live_running.next(), if !live_running.is_empty() => {
                    for (job, result) in outcomes {
                        ran += 1;
                        finishing.push(self.finish(job, result));
                    }
                }
                Some(recorded) = finishing.next(), if !finishing.is_empty() => {
                    queue_drained = false;
                    if let Err(error) = recorded {
                        tracing::error!(error = %error, "recording a job's outcome failed; stopping this worker's claims");
                        failure.get_or_insert(error);
                    }
                }
                _ = async { waker.as_mut().expect("a waker").wait(IDLE_WAKE_BACKSTOP).await }, if wake_on_new_jobs => {
                    if watch_for_live && !queue_drained {
                        let room = i64::try_from(concurrency - live_running.len()).unwrap_or(1);
                        live_claim = Some(Box::pin(self.claim_runnable(room, Priority::Live)));
                    }
                    queue_drained = false;
                }
                () = stop.as_mut(), if !stopped => stopped = true,
            }
        }
    }

    /// Runs jobs until none is ready and none is waiting for a retry sooner
    /// than `patience`; returns the number of jobs run.
    pub async fn work_until_idle(&self, patience: Duration) -> Result<u64, EngineError> {
        let start = self.stats.jobs.load(Ordering::Relaxed);
        let mut idle_since: Option<tokio::time::Instant> = None;
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        loop {
            let pumped = self.pump(None, never.as_mut()).await?;
            if pumped.ran > 0 {
                idle_since = None;
                continue;
            }
            let stats = self.store.queue_stats().await?;
            if stats.pending == 0 && stats.running == 0 {
                break;
            }
            let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= patience {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.stats.jobs.load(Ordering::Relaxed) - start)
    }

    /// Runs jobs until `shutdown` resolves, waking on new jobs. Jobs
    /// already claimed when it resolves are finished first.
    pub async fn run(
        &self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        if self.options.stable_worker_id {
            let worker = &self.options.worker_id;
            match self.store.release_leases(worker).await {
                Ok(released) if !released.is_empty() => tracing::info!(
                    worker = %worker,
                    jobs = released.len(),
                    "gave back the jobs this worker held before it restarted"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    worker = %worker,
                    error = %e,
                    "could not give back the jobs this worker held before it restarted; they run again when their lease expires"
                ),
            }
        }
        self.serve_until(shutdown).await
    }

    /// Runs jobs as they become ready until `stop` resolves, then finishes
    /// the jobs already claimed. A store error is logged and the work
    /// resumes a second later.
    async fn serve_until(
        &self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        tokio::pin!(stop);
        let mut waker = self.store.job_waker().await;
        if futures::FutureExt::now_or_never(&mut stop).is_some() {
            return Ok(());
        }
        loop {
            match self.pump(Some(&mut waker), stop.as_mut()).await {
                Ok(Pumped { stopped: true, .. }) => return Ok(()),
                Ok(_) => {
                    tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = waker.wait(IDLE_WAKE_BACKSTOP) => {}
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "job round failed; retrying shortly");
                    tokio::select! {
                        _ = &mut stop => return Ok(()),
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Runs jobs while `producer` (e.g. scans, which enqueue them) runs,
    /// then until none is ready and none waits for a retry sooner than
    /// `patience`. Returns what `producer` returned and the jobs run.
    pub async fn work_alongside<T>(
        &self,
        producer: impl std::future::Future<Output = T>,
        patience: Duration,
    ) -> Result<(T, u64), EngineError> {
        let start = self.stats.jobs.load(Ordering::Relaxed);
        let (produced, done) = tokio::sync::oneshot::channel::<()>();
        let producing = async move {
            let output = producer.await;
            let _ = produced.send(());
            output
        };
        let (output, served) = tokio::join!(
            producing,
            self.serve_until(async move {
                let _ = done.await;
            })
        );
        served?;
        self.work_until_idle(patience).await?;
        Ok((output, self.stats.jobs.load(Ordering::Relaxed) - start))
    }
}

/// How long an idle worker sleeps before it looks for jobs no one
/// announced (a retry whose time came, an expired lease).
const IDLE_WAKE_BACKSTOP: Duration = Duration::from_millis(500);

/// How a [`Engine::pump`] ended.
#[derive(Debug, Clone, Copy)]
struct Pumped {
    /// Jobs it ran.
    ran: u64,
    /// The stop signal came (rather than the queue running dry).
    stopped: bool,
}

/// Whether a unit of [`Engine::units`] is live work (its jobs share a
/// priority when it is a batch).
fn is_live(unit: &[Job]) -> bool {
    unit.iter().any(|job| job.priority == Priority::Live)
}

/// The priority a job's HighLevel calls queue at in the rate budget: a
/// live job's before everything else's (a poll's, reconciliation's and
/// backfill's are paced behind it; see `ghl::budget`).
fn budget_priority(job: Priority) -> ghl::Priority {
    match job {
        Priority::Live => ghl::Priority::Live,
        Priority::Poll | Priority::Reconcile | Priority::Backfill => ghl::Priority::Backfill,
    }
}

/// The tenant a job belongs to (its payload's `tenant`).
fn tenant_of(job: &Job) -> &str {
    job.payload
        .get("tenant")
        .and_then(|v| v.as_str())
        .unwrap_or("")
}
