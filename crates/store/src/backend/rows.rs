//! The rows the store's queries read, as `sqlx::FromRow` structs holding
//! the columns as stored (text, integers, milliseconds), and their
//! conversion into the public records of `types`. This module owns parsing
//! what the database cannot check — system names, job states, priorities,
//! outcomes, JSON payloads, timestamps — and the `StoreError::Corrupt`
//! errors for values that do not parse. It runs no query.

use sqlx::FromRow;

use crate::types::{from_millis, from_millis_opt};
use crate::{
    ActivityCount, Alert, ApiActivityEntry, ApiCall, ApiCallCount, Connection, DriftReport,
    InboxEntry, IntegrationEvent, IntegrationLogEntry, Job, JobCount, Link, LocationLease,
    PollCursor, Priority, StoreError,
};

/// Columns of `jobs`, as [`JobRow`] reads them.
pub(crate) const JOB_COLUMNS: &str = "id, kind, entity_type, record_system, record_id, location, \
     dedupe_key, priority, payload, state, run_at, attempts, merged_count, lease_owner, \
     lease_expires_at, last_error, dead_reason, created_at, updated_at, finished_at";

/// Columns of `links`, as [`LinkRow`] reads them.
pub(crate) const LINK_COLUMNS: &str = "id, entity_type, highlevel_id, accessally_id, \
     highlevel_hash, accessally_hash, highlevel_state, last_written_to, last_written_at, \
     created_at, updated_at";

/// Columns of `integration_log`, as [`LogRow`] reads them.
pub(crate) const LOG_COLUMNS: &str =
    "id, at, entity_type, record_id, action, from_system, to_system, result, detail, job_id";

/// `text` as JSON; `not_json` says what it was for the error
/// ("job payload is not JSON").
fn json(text: &str, not_json: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{not_json}: {error}")))
}

/// Converts every row with its `TryFrom`, failing at the first bad one.
pub(crate) fn convert<Row, Record>(rows: Vec<Row>) -> Result<Vec<Record>, StoreError>
where
    Record: TryFrom<Row, Error = StoreError>,
{
    rows.into_iter().map(Record::try_from).collect()
}

#[derive(FromRow)]
pub(crate) struct JobRow {
    id: i64,
    kind: String,
    entity_type: String,
    record_system: String,
    record_id: String,
    location: Option<String>,
    dedupe_key: String,
    priority: i64,
    payload: String,
    state: String,
    run_at: i64,
    attempts: i64,
    merged_count: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    last_error: Option<String>,
    dead_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Job, StoreError> {
        Ok(Job {
            id: row.id,
            kind: row.kind,
            entity_type: row.entity_type,
            record_system: row.record_system.parse()?,
            record_id: row.record_id,
            location: row.location,
            dedupe_key: row.dedupe_key,
            priority: Priority::from_rank(row.priority)?,
            payload: json(&row.payload, "job payload is not JSON")?,
            state: row.state.parse()?,
            run_at: from_millis(row.run_at)?,
            attempts: row.attempts,
            merged_count: row.merged_count,
            lease_owner: row.lease_owner,
            lease_expires_at: from_millis_opt(row.lease_expires_at)?,
            last_error: row.last_error,
            dead_reason: row.dead_reason,
            created_at: from_millis(row.created_at)?,
            updated_at: from_millis(row.updated_at)?,
            finished_at: from_millis_opt(row.finished_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct LinkRow {
    id: i64,
    entity_type: String,
    highlevel_id: String,
    accessally_id: String,
    highlevel_hash: Option<String>,
    accessally_hash: Option<String>,
    highlevel_state: Option<String>,
    last_written_to: Option<String>,
    last_written_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<LinkRow> for Link {
    type Error = StoreError;

    fn try_from(row: LinkRow) -> Result<Link, StoreError> {
        Ok(Link {
            id: row.id,
            entity_type: row.entity_type,
            highlevel_id: row.highlevel_id,
            accessally_id: row.accessally_id,
            highlevel_hash: row.highlevel_hash,
            accessally_hash: row.accessally_hash,
            highlevel_state: row.highlevel_state,
            last_written_to: row.last_written_to.map(|text| text.parse()).transpose()?,
            last_written_at: from_millis_opt(row.last_written_at)?,
            created_at: from_millis(row.created_at)?,
            updated_at: from_millis(row.updated_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ConnectionRow {
    id: String,
    system: String,
    account_id: String,
    label: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;

    fn try_from(row: ConnectionRow) -> Result<Connection, StoreError> {
        Ok(Connection {
            id: row.id,
            system: row.system.parse()?,
            account_id: row.account_id,
            label: row.label,
            created_at: from_millis(row.created_at)?,
            updated_at: from_millis(row.updated_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct InboxRow {
    source: String,
    event_id: String,
    event_type: String,
    payload: String,
    received_at: i64,
}

impl TryFrom<InboxRow> for InboxEntry {
    type Error = StoreError;

    fn try_from(row: InboxRow) -> Result<InboxEntry, StoreError> {
        Ok(InboxEntry {
            source: row.source.parse()?,
            event_id: row.event_id,
            event_type: row.event_type,
            payload: json(&row.payload, "inbox payload is not JSON")?,
            received_at: from_millis(row.received_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct LocationLeaseRow {
    location: String,
    owner: String,
    expires_at: i64,
}

impl TryFrom<LocationLeaseRow> for LocationLease {
    type Error = StoreError;

    fn try_from(row: LocationLeaseRow) -> Result<LocationLease, StoreError> {
        Ok(LocationLease {
            location: row.location,
            owner: row.owner,
            expires_at: from_millis(row.expires_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct PollCursorRow {
    source: String,
    entity_type: String,
    cursor: String,
    updated_at: i64,
}

impl TryFrom<PollCursorRow> for PollCursor {
    type Error = StoreError;

    fn try_from(row: PollCursorRow) -> Result<PollCursor, StoreError> {
        Ok(PollCursor {
            source: row.source.parse()?,
            entity_type: row.entity_type,
            cursor: row.cursor,
            updated_at: from_millis(row.updated_at)?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct LogRow {
    id: i64,
    at: i64,
    entity_type: String,
    record_id: String,
    action: String,
    from_system: String,
    to_system: String,
    result: String,
    detail: String,
    job_id: Option<i64>,
}

impl TryFrom<LogRow> for IntegrationLogEntry {
    type Error = StoreError;

    fn try_from(row: LogRow) -> Result<IntegrationLogEntry, StoreError> {
        Ok(IntegrationLogEntry {
            id: row.id,
            at: from_millis(row.at)?,
            event: IntegrationEvent {
                entity_type: row.entity_type,
                record_id: row.record_id,
                action: row.action,
                from_system: row.from_system.parse()?,
                to_system: row.to_system.parse()?,
                result: row.result,
                detail: row.detail,
                job_id: row.job_id,
            },
        })
    }
}

/// One bucket of [`crate::Store::record_activity`].
#[derive(FromRow)]
pub(crate) struct ActivityCountRow {
    bucket: i64,
    entity_type: String,
    system: String,
    outcome: String,
    count: i64,
}

impl TryFrom<ActivityCountRow> for ActivityCount {
    type Error = StoreError;

    fn try_from(row: ActivityCountRow) -> Result<ActivityCount, StoreError> {
        Ok(ActivityCount {
            bucket: from_millis(row.bucket)?,
            entity_type: row.entity_type,
            from_system: row.system.parse()?,
            outcome: row.outcome.parse()?,
            count: row.count,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct JobCountRow {
    entity_type: String,
    kind: String,
    state: String,
    count: i64,
}

impl TryFrom<JobCountRow> for JobCount {
    type Error = StoreError;

    fn try_from(row: JobCountRow) -> Result<JobCount, StoreError> {
        Ok(JobCount {
            entity_type: row.entity_type,
            kind: row.kind,
            state: row.state.parse()?,
            count: row.count,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ApiActivityRow {
    id: i64,
    at: i64,
    system: String,
    location: Option<String>,
    method: String,
    path: String,
    status: Option<i64>,
    latency_ms: i64,
    rate_remaining: Option<i64>,
}

impl TryFrom<ApiActivityRow> for ApiActivityEntry {
    type Error = StoreError;

    fn try_from(row: ApiActivityRow) -> Result<ApiActivityEntry, StoreError> {
        Ok(ApiActivityEntry {
            id: row.id,
            at: from_millis(row.at)?,
            call: ApiCall {
                system: row.system.parse()?,
                location: row.location,
                method: row.method,
                path: row.path,
                status: row.status.and_then(|code| u16::try_from(code).ok()),
                latency_ms: row.latency_ms,
                rate_remaining: row.rate_remaining,
            },
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ApiCallCountRow {
    bucket: i64,
    system: String,
    location: Option<String>,
    calls: i64,
    failed: i64,
    limited: i64,
}

impl TryFrom<ApiCallCountRow> for ApiCallCount {
    type Error = StoreError;

    fn try_from(row: ApiCallCountRow) -> Result<ApiCallCount, StoreError> {
        Ok(ApiCallCount {
            bucket: from_millis(row.bucket)?,
            system: row.system.parse()?,
            location: row.location,
            calls: row.calls,
            failed: row.failed,
            limited: row.limited,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct DriftReportRow {
    id: i64,
    at: i64,
    scope: String,
    checked: i64,
    drifted: i64,
    details: String,
}

impl TryFrom<DriftReportRow> for DriftReport {
    type Error = StoreError;

    fn try_from(row: DriftReportRow) -> Result<DriftReport, StoreError> {
        Ok(DriftReport {
            id: row.id,
            at: from_millis(row.at)?,
            scope: row.scope,
            checked: row.checked,
            drifted: row.drifted,
            details: json(&row.details, "drift report details are not JSON")?,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct AlertRow {
    id: i64,
    sent_at: i64,
    incident_key: String,
    channel: String,
    summary: String,
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;

    fn try_from(row: AlertRow) -> Result<Alert, StoreError> {
        Ok(Alert {
            id: row.id,
            sent_at: from_millis(row.sent_at)?,
            incident_key: row.incident_key,
            channel: row.channel,
            summary: row.summary,
        })
    }
}
