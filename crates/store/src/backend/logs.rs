//! The statements of what the store records of the past, for both
//! dialects: the integration log (appended in group commits, searched by a
//! record's id on either system or by text), records' outcomes per time
//! bucket, the API activity log and its counts, drift reports and sent
//! alerts with their cool-downs. It must not store a request's query
//! string (it may carry tokens) nor any body.

use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Transaction, Type};

use super::rows::{
    ActivityCountRow, AlertRow, ApiActivityRow, ApiCallCountRow, DriftReportRow, LOG_COLUMNS,
    LogRow, convert,
};
use super::{Db, Dialect, Field, PerDialect, commit, placeholders};
use crate::types::millis;
use crate::{
    ActivityCount, Alert, ApiActivityEntry, ApiActivityQuery, ApiCall, ApiCallCount, DriftReport,
    IntegrationEvent, IntegrationLogEntry, LogQuery, StoreError, System,
};

/// Whether a log line's `record_id` is the record `param` names on either
/// system: the id itself, or the id of the record linked to it.
fn record_on_either_system(param: &str) -> String {
    format!(
        "(record_id = {param} \
          OR record_id IN (SELECT highlevel_id FROM links WHERE accessally_id = {param}) \
          OR record_id IN (SELECT accessally_id FROM links WHERE highlevel_id = {param}))"
    )
}

/// A `LIKE … ESCAPE '!'` pattern matching lower-cased text that contains
/// `text` (in any case), its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Path of an API call without its query string or fragment (which may
/// carry tokens).
fn path_without_query(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
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
    // ---- integration log ------------------------------------------------

    /// Appends `events` (each with where it stands in its group commit) to
    /// the integration log inside `tx` in one statement; returns each
    /// one's id. Committing is the caller's.
    pub(super) async fn append_logs_in(
        tx: &mut Transaction<'static, D>,
        events: &[(usize, &IntegrationEvent)],
        now: i64,
    ) -> Result<Vec<(usize, i64)>, StoreError> {
        static SQL: PerDialect = PerDialect::new();
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let sql = SQL.get::<D>(|| {
            format!(
                "INSERT INTO integration_log (at, entity_type, record_id, action, from_system, \
                 to_system, result, detail, job_id) \
                 SELECT $2, w.entity_type, w.record_id, w.action, w.from_system, w.to_system, \
                 w.result, w.detail, w.job_id FROM {} RETURNING id",
                D::json_rows(&[
                    ("entity_type", "text"),
                    ("record_id", "text"),
                    ("action", "text"),
                    ("from_system", "text"),
                    ("to_system", "text"),
                    ("result", "text"),
                    ("detail", "text"),
                    ("job_id", "bigint"),
                ])
            )
        });
        let rows_json = serde_json::Value::Array(
            events
                .iter()
                .map(|(_, event)| {
                    serde_json::json!({
                        "entity_type": event.entity_type,
                        "record_id": event.record_id,
                        "action": event.action,
                        "from_system": event.from_system.as_str(),
                        "to_system": event.to_system.as_str(),
                        "result": event.result,
                        "detail": event.detail,
                        "job_id": event.job_id,
                    })
                })
                .collect(),
        )
        .to_string();
        let mut ids: Vec<i64> = sqlx::query_scalar(sql)
            .bind(rows_json)
            .bind(now)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::db("appending to the integration log"))?;
        if ids.len() != events.len() {
            return Err(StoreError::Corrupt(format!(
                "{} log lines appended, {} ids returned",
                events.len(),
                ids.len()
            )));
        }
        // Rows are inserted in the array's order, so ascending ids follow it.
        ids.sort_unstable();
        Ok(events.iter().map(|(at, _)| *at).zip(ids).collect())
    }

    pub(crate) async fn integration_log(
        &self,
        query: &LogQuery,
    ) -> Result<Vec<IntegrationLogEntry>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "SELECT {LOG_COLUMNS} FROM integration_log \
                 WHERE ($1 IS NULL OR entity_type = $1) \
                 AND ($2 IS NULL OR {}) \
                 AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR id < $4) \
                 AND ($6 IS NULL OR from_system = $6) \
                 AND ($7 IS NULL OR {} OR LOWER(detail) LIKE $8 ESCAPE '!') \
                 ORDER BY id DESC LIMIT $5",
                record_on_either_system("$2"),
                record_on_either_system("$7"),
            )
        });
        let search = query.search.as_deref();
        let rows: Vec<LogRow> = sqlx::query_as(SQL.as_str())
            .bind(&query.entity_type)
            .bind(&query.record_id)
            .bind(query.since.map(millis))
            .bind(query.before_id)
            .bind(query.limit)
            .bind(query.from_system.map(System::as_str))
            .bind(search)
            .bind(search.map(contains_pattern))
            .fetch_all(self.reader())
            .await
            .map_err(StoreError::db("reading the integration log"))?;
        convert(rows)
    }

    /// The newest integration log entry of each of `record_ids` (at most a
    /// few hundred) of `entity_type`; records never logged are left out.
    pub(crate) async fn latest_log_entries(
        &self,
        entity_type: &str,
        record_ids: &[&str],
    ) -> Result<Vec<IntegrationLogEntry>, StoreError> {
        if record_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM integration_log WHERE id IN \
             (SELECT MAX(id) FROM integration_log WHERE entity_type = $1 \
              AND record_id IN ({}) GROUP BY record_id) ORDER BY id DESC",
            placeholders(2, record_ids.len())
        );
        let mut query = sqlx::query_as::<D, LogRow>(&sql).bind(entity_type);
        for id in record_ids {
            query = query.bind(*id);
        }
        let rows = query
            .fetch_all(self.reader())
            .await
            .map_err(StoreError::db("reading records' latest log entries"))?;
        convert(rows)
    }

    /// When the newest entry of `entity_type` read from `from_system` was
    /// logged.
    pub(crate) async fn last_logged(
        &self,
        entity_type: &str,
        from_system: System,
    ) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(
            "SELECT at FROM integration_log WHERE entity_type = $1 AND from_system = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(entity_type)
        .bind(from_system.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(StoreError::db("reading when a flow was last logged"))
    }

    /// Records' outcomes since `since`, per bucket of `bucket`
    /// milliseconds, entity, source system and outcome (see
    /// [`crate::Outcome`]), oldest bucket first.
    pub(crate) async fn record_activity(
        &self,
        since: i64,
        bucket: i64,
    ) -> Result<Vec<ActivityCount>, StoreError> {
        // A job's log lines are written before it completes, by up to its
        // run: those of jobs finished just after `since` are looked for
        // this much earlier.
        const RUN_MARGIN_MS: i64 = 3_600_000;
        let rows: Vec<ActivityCountRow> = sqlx::query_as(
            "SELECT (at / $2) * $2 AS bucket, entity_type, from_system AS system, \
               result AS outcome, COUNT(*) AS count FROM integration_log \
             WHERE at >= $1 AND result IN ('written', 'observed') GROUP BY 1, 2, 3, 4 \
             UNION ALL \
             SELECT (finished_at / $2) * $2, entity_type, record_system, 'skipped', COUNT(*) \
             FROM jobs \
             WHERE state = 'done' AND finished_at >= $1 AND id NOT IN \
               (SELECT job_id FROM integration_log WHERE at >= $3 AND job_id IS NOT NULL) \
             GROUP BY 1, 2, 3 \
             UNION ALL \
             SELECT (updated_at / $2) * $2, entity_type, record_system, 'failed', COUNT(*) \
             FROM jobs \
             WHERE state = 'dead' AND updated_at >= $1 GROUP BY 1, 2, 3 \
             ORDER BY 1",
        )
        .bind(since)
        .bind(bucket)
        .bind(since.saturating_sub(RUN_MARGIN_MS))
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("counting records' outcomes"))?;
        convert(rows)
    }

    // ---- API activity ---------------------------------------------------

    pub(crate) async fn append_api_activity(
        &self,
        calls: &[ApiCall],
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        for call in calls {
            sqlx::query(
                "INSERT INTO api_activity (at, system, location, method, path, status, \
                 latency_ms, rate_remaining) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(now)
            .bind(call.system.as_str())
            .bind(&call.location)
            .bind(&call.method)
            .bind(path_without_query(&call.path))
            .bind(call.status.map(i64::from))
            .bind(call.latency_ms)
            .bind(call.rate_remaining)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("appending to the API activity log"))?;
        }
        commit(tx, "committing API activity entries").await?;
        Ok(calls.len() as u64)
    }

    pub(crate) async fn prune_api_activity(&self, before: i64) -> Result<u64, StoreError> {
        let prune = sqlx::query("DELETE FROM api_activity WHERE at < $1").bind(before);
        self.write_alone(prune, "pruning the API activity log")
            .await
    }

    pub(crate) async fn api_activity(
        &self,
        query: &ApiActivityQuery,
    ) -> Result<Vec<ApiActivityEntry>, StoreError> {
        let rows: Vec<ApiActivityRow> = sqlx::query_as(
            "SELECT id, at, system, location, method, path, status, latency_ms, rate_remaining \
             FROM api_activity WHERE ($1 IS NULL OR system = $1) \
             AND ($2 IS NULL OR location = $2) AND ($3 IS NULL OR at >= $3) \
             AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(query.system.map(System::as_str))
        .bind(&query.location)
        .bind(query.since.map(millis))
        .bind(query.before_id)
        .bind(query.limit)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("reading the API activity log"))?;
        convert(rows)
    }

    /// API calls since `since`, per bucket of `bucket` milliseconds, system
    /// and location, oldest bucket first.
    pub(crate) async fn api_call_counts(
        &self,
        since: i64,
        bucket: i64,
    ) -> Result<Vec<ApiCallCount>, StoreError> {
        let rows: Vec<ApiCallCountRow> = sqlx::query_as(
            "SELECT (at / $2) * $2 AS bucket, system, location, COUNT(*) AS calls, \
               SUM(CASE WHEN status IS NULL OR status >= 400 THEN 1 ELSE 0 END) AS failed, \
               SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited \
             FROM api_activity WHERE at >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        )
        .bind(since)
        .bind(bucket)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("counting API calls"))?;
        convert(rows)
    }

    // ---- drift reports --------------------------------------------------

    pub(crate) async fn save_drift_report(
        &self,
        scope: &str,
        checked: i64,
        drifted: i64,
        details: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO drift_reports (at, scope, checked, drifted, details) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(now)
        .bind(scope)
        .bind(checked)
        .bind(drifted)
        .bind(details)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::db("saving a drift report"))?;
        commit(tx, "committing a drift report").await?;
        Ok(id)
    }

    pub(crate) async fn drift_reports(
        &self,
        scope: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DriftReport>, StoreError> {
        let rows: Vec<DriftReportRow> = sqlx::query_as(
            "SELECT id, at, scope, checked, drifted, details FROM drift_reports \
             WHERE ($1 IS NULL OR scope = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(scope)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("reading drift reports"))?;
        convert(rows)
    }

    // ---- alerts ---------------------------------------------------------

    pub(crate) async fn claim_alert(
        &self,
        incident_key: &str,
        channel: &str,
        summary: &str,
        cooled_down_before: i64,
        now: i64,
    ) -> Result<Option<Alert>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO alert_cooldowns (incident_key, last_sent_at) VALUES ($1, $2) \
             ON CONFLICT (incident_key) DO UPDATE SET last_sent_at = excluded.last_sent_at \
             WHERE alert_cooldowns.last_sent_at <= $3 RETURNING incident_key",
        )
        .bind(incident_key)
        .bind(now)
        .bind(cooled_down_before)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::db("checking an alert's cool-down"))?;
        if claimed.is_none() {
            return Ok(None);
        }
        let row: AlertRow = sqlx::query_as(
            "INSERT INTO alerts (sent_at, incident_key, channel, summary) \
             VALUES ($1, $2, $3, $4) RETURNING id, sent_at, incident_key, channel, summary",
        )
        .bind(now)
        .bind(incident_key)
        .bind(channel)
        .bind(summary)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::db("recording an alert"))?;
        let alert = Alert::try_from(row)?;
        commit(tx, "committing an alert").await?;
        Ok(Some(alert))
    }

    pub(crate) async fn alerts(
        &self,
        incident_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT id, sent_at, incident_key, channel, summary FROM alerts \
             WHERE ($1 IS NULL OR incident_key = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(incident_key)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("reading alerts"))?;
        convert(rows)
    }
}
