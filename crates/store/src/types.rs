//! The plain records the store reads and writes: systems, jobs, events, links,
//! cursors and log entries. This module owns their shapes and their text
//! encodings in the database; it must not do I/O and must not hold secrets
//! (those live in `credentials`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreError;

pub use model::System;

impl From<model::UnknownSystem> for StoreError {
    fn from(e: model::UnknownSystem) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Which work goes first: live events (webhooks, a user's action) before
/// what a poll found, before reconciliation, before backfill. A poll can
/// find hundreds of changes at once (a bulk edit made while webhooks were
/// off); they queue behind the next single live change, not before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Live,
    Poll,
    Reconcile,
    Backfill,
}

impl Priority {
    pub(crate) fn rank(self) -> i64 {
        match self {
            Priority::Live => 0,
            Priority::Poll => 5,
            Priority::Reconcile => 10,
            Priority::Backfill => 20,
        }
    }

    pub(crate) fn from_rank(rank: i64) -> Result<Self, StoreError> {
        match rank {
            0 => Ok(Priority::Live),
            5 => Ok(Priority::Poll),
            10 => Ok(Priority::Reconcile),
            20 => Ok(Priority::Backfill),
            other => Err(StoreError::Corrupt(format!(
                "unknown job priority rank {other}"
            ))),
        }
    }
}

/// Where a job is in its life. `Done`, `Dead` and `Superseded` are final:
/// no claim ever returns such a job again (a dead letter runs again only as
/// a replay, which the operator asks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Dead,
    /// Failed while a newer pending job for the same record already waited;
    /// that newer job carries the work.
    Superseded,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Superseded => "superseded",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(JobState::Pending),
            "running" => Ok(JobState::Running),
            "done" => Ok(JobState::Done),
            "dead" => Ok(JobState::Dead),
            "superseded" => Ok(JobState::Superseded),
            other => Err(StoreError::Corrupt(format!("unknown job state {other:?}"))),
        }
    }
}

/// Database id of a job.
pub type JobId = i64;

/// A job to enqueue. `dedupe_key` names the record: while a pending job with
/// the same key exists, enqueueing merges into it (keeps the earlier run-at
/// and the more urgent priority, takes the newer payload) instead of adding
/// a second one.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub entity_type: String,
    pub record_system: System,
    pub record_id: String,
    /// The rate-budget partition (a HighLevel location id), if any.
    pub location: Option<String>,
    pub dedupe_key: String,
    pub priority: Priority,
    pub run_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

impl NewJob {
    /// A job that runs as soon as possible, deduplicated per
    /// `kind:system:entity_type:record_id`.
    pub fn now(
        kind: impl Into<String>,
        entity_type: impl Into<String>,
        record_system: System,
        record_id: impl Into<String>,
        priority: Priority,
    ) -> Self {
        let kind = kind.into();
        let entity_type = entity_type.into();
        let record_id = record_id.into();
        let dedupe_key = format!("{kind}:{record_system}:{entity_type}:{record_id}");
        NewJob {
            kind,
            entity_type,
            record_system,
            record_id,
            location: None,
            dedupe_key,
            priority,
            run_at: Utc::now(),
            payload: serde_json::Value::Null,
        }
    }

    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    pub fn with_payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    pub fn with_run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = run_at;
        self
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub entity_type: String,
    pub record_system: System,
    pub record_id: String,
    pub location: Option<String>,
    pub dedupe_key: String,
    pub priority: Priority,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: DateTime<Utc>,
    /// How many times the job was claimed (the current run included).
    pub attempts: i64,
    /// How many later enqueues were merged into this job.
    pub merged_count: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What an enqueue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub job_id: JobId,
    /// True when a pending job for the same dedupe key absorbed this one.
    pub merged: bool,
}

/// Which jobs a worker may claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClaimScope {
    /// Any job.
    #[default]
    Any,
    /// Jobs without a location, and jobs of these locations (the ones whose
    /// lease this worker holds).
    Locations(Vec<String>),
}

/// Whether a record has a job waiting to run, and one running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenJobs {
    pub pending: bool,
    pub running: bool,
}

/// Counts of jobs per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    pub pending: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
    pub superseded: i64,
}

/// A received event (webhook delivery or polled change) for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundEvent {
    pub source: System,
    pub event_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
}

/// An event as stored in the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub source: System,
    pub event_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// What `accept_event` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// False when the inbox already held this (source, event id): a duplicate
    /// delivery, and nothing was enqueued.
    pub new: bool,
    pub job: Option<Enqueued>,
}

/// A connection to one account of one system (a HighLevel location, an
/// AccessAlly site). Its secrets live in credentials, never here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub system: System,
    /// HighLevel location id or AccessAlly site URL.
    pub account_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The pair of records, one per system, that are the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: i64,
    pub entity_type: String,
    pub highlevel_id: String,
    pub accessally_id: String,
    /// Content hash last seen on, or written to, HighLevel.
    pub highlevel_hash: Option<String>,
    /// Content hash last seen on, or written to, AccessAlly.
    pub accessally_hash: Option<String>,
    /// What HighLevel held of the record when `highlevel_hash` was taken,
    /// in the engine's own JSON (opaque here), so that a change from
    /// AccessAlly can be planned without reading HighLevel again; None
    /// when unknown.
    pub highlevel_state: Option<String>,
    /// The system allybridge wrote to last, and when.
    pub last_written_to: Option<System>,
    pub last_written_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A link to create or overwrite (keyed by entity type and HighLevel id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub entity_type: String,
    pub highlevel_id: String,
    pub accessally_id: String,
    pub highlevel_hash: Option<String>,
    pub accessally_hash: Option<String>,
    /// See [`Link::highlevel_state`]; a save without it forgets the old one.
    pub highlevel_state: Option<String>,
}

/// Whether a hash was observed on a side or written there by allybridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOrigin {
    Seen,
    Written,
}

/// Where polling of one entity of one source got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollCursor {
    pub source: System,
    pub entity_type: String,
    pub cursor: String,
    pub updated_at: DateTime<Utc>,
}

/// What happened to one record: read, created, updated, skipped, failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationEvent {
    /// `{tenant}/{entity}` (`main/coupon`, `main/product`, `main/order`),
    /// as jobs and links name it.
    pub entity_type: String,
    /// The record's id on the system the change was read from (the id its
    /// job names).
    pub record_id: String,
    pub action: String,
    pub from_system: System,
    pub to_system: System,
    pub result: String,
    pub detail: String,
    pub job_id: Option<JobId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationLogEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub event: IntegrationEvent,
}

/// Filter for the integration log; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub entity_type: Option<String>,
    /// A record's id on either system: the entries of the record itself and
    /// of the record linked to it on the other system.
    pub record_id: Option<String>,
    /// A record's id on either system (as `record_id`), or text the entry
    /// tells — a name, SKU, coupon code or e-mail — in any case: the
    /// entries that match either.
    pub search: Option<String>,
    /// Only entries of changes read from this system.
    pub from_system: Option<System>,
    pub since: Option<DateTime<Utc>>,
    /// Only entries with an id below this (for paging back).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// What became of records, as [`ActivityCount`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written to the other system (a log line with result `written`).
    Written,
    /// What a flow in `observe` mode would have written (result `observed`).
    Observed,
    /// A job that finished without a log line: the record was already in
    /// line, left out by the mapping, or needed nothing (a dry run's jobs
    /// count here too).
    Skipped,
    /// A job that became a dead letter and still is one.
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Written,
        Outcome::Observed,
        Outcome::Skipped,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Written => "written",
            Outcome::Observed => "observed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

impl FromStr for Outcome {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self, StoreError> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outcome {text:?}")))
    }
}

/// How many records of one entity, read from one system, had one outcome
/// in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityCount {
    /// The bucket's start: a multiple of the bucket's length since the Unix epoch.
    pub bucket: DateTime<Utc>,
    /// `{tenant}/{entity}`, as jobs, links and the integration log name it.
    pub entity_type: String,
    /// The system the records were read from.
    pub from_system: System,
    pub outcome: Outcome,
    pub count: i64,
}

/// How many jobs of one kind and entity are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub entity_type: String,
    pub kind: String,
    pub state: JobState,
    pub count: i64,
}

/// The API calls to one system (and location) in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCallCount {
    /// The bucket's start: a multiple of the bucket's length since the Unix epoch.
    pub bucket: DateTime<Utc>,
    pub system: System,
    pub location: Option<String>,
    pub calls: i64,
    /// Calls answered 4xx or 5xx, or not answered at all.
    pub failed: i64,
    /// Calls answered 429 (rate-limited), among the failed.
    pub limited: i64,
}

/// One API call made by allybridge. Never bodies, never secrets: the path is
/// stored without its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    pub system: System,
    pub location: Option<String>,
    pub method: String,
    pub path: String,
    /// None when no response arrived (timeout, connection error).
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub rate_remaining: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiActivityEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub call: ApiCall,
}

/// Filter for the API activity log; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiActivityQuery {
    pub system: Option<System>,
    pub location: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// The outcome of one reconciliation scan.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub scope: String,
    pub checked: i64,
    pub drifted: i64,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub sent_at: DateTime<Utc>,
    pub incident_key: String,
    pub channel: String,
    pub summary: String,
}

/// The kinds of credential a connection may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// HighLevel OAuth access + refresh token pair.
    HighLevelOAuth,
    /// HighLevel Private Integration Token.
    HighLevelPrivateToken,
    /// AccessAlly (WordPress) application password.
    AccessAllyAppPassword,
    /// Secret used to verify incoming webhooks.
    WebhookSecret,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 4] = [
        CredentialKind::HighLevelOAuth,
        CredentialKind::HighLevelPrivateToken,
        CredentialKind::AccessAllyAppPassword,
        CredentialKind::WebhookSecret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::HighLevelOAuth => "highlevel_oauth",
            CredentialKind::HighLevelPrivateToken => "highlevel_private_token",
            CredentialKind::AccessAllyAppPassword => "accessally_app_password",
            CredentialKind::WebhookSecret => "webhook_secret",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} ms is out of range")))
}

pub(crate) fn from_millis_opt(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(from_millis).transpose()
}
