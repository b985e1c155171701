//! The request log: every API call a simulator served, with counts per route
//! and per status. Tests read it (through `/__sim/requests`) to prove what
//! the product did, e.g. that a dry run called no write endpoint.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::faults::{CallFault, FaultSwitch};

/// How many individual entries are kept; counts cover every request.
const MAX_ENTRIES: usize = 200_000;

/// One served request.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub method: String,
    pub path: String,
    /// The route template that matched, e.g. `/products/{productId}`.
    pub route: Option<String>,
    pub status: u16,
}

impl LoggedRequest {
    /// Whether the method changes state (anything but GET, HEAD, OPTIONS).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

/// Counts over the whole log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestLogSummary {
    pub total: u64,
    /// Requests whose method changes state.
    pub writes: u64,
    /// Keyed by `"METHOD /route/template"` (the raw path where nothing matched).
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
}

#[derive(Default)]
struct Inner {
    next_seq: u64,
    entries: VecDeque<LoggedRequest>,
    summary: RequestLogSummary,
}

/// A shared, append-only log of served requests.
#[derive(Clone, Default)]
pub struct RequestLog {
    inner: Arc<Mutex<Inner>>,
}

impl RequestLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, method: &str, path: &str, route: Option<&str>, status: u16) {
        let mut inner = self.lock();
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let entry = LoggedRequest {
            seq,
            at: chrono::Utc::now(),
            method: method.to_string(),
            path: path.to_string(),
            route: route.map(str::to_string),
            status,
        };
        let key = format!("{} {}", method, route.unwrap_or(path));
        inner.summary.total += 1;
        if entry.is_write() {
            inner.summary.writes += 1;
        }
        *inner.summary.by_route.entry(key).or_default() += 1;
        *inner.summary.by_status.entry(status).or_default() += 1;
        if inner.entries.len() == MAX_ENTRIES {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    pub fn summary(&self) -> RequestLogSummary {
        self.lock().summary.clone()
    }

    /// The entries with `seq >= since`, oldest first, at most `limit`.
    pub fn entries(&self, since: u64, limit: usize) -> Vec<LoggedRequest> {
        self.lock()
            .entries
            .iter()
            .filter(|e| e.seq >= since)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.summary = RequestLogSummary::default();
    }
}

/// Whether a path belongs to the control API, which is never logged nor faulted.
pub fn is_control_path(path: &str) -> bool {
    path.starts_with("/__sim")
}

/// Axum middleware: records every non-control request with its final status.
pub async fn log_requests(State(log): State<RequestLog>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_control_path(&path) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let response = next.run(req).await;
    log.record(&method, &path, route.as_deref(), response.status().as_u16());
    response
}

/// Builds the body a simulator answers for an injected failure status.
pub type FaultResponder = Arc<dyn Fn(u16) -> Response + Send + Sync>;

/// State of the fault-injecting middleware.
#[derive(Clone)]
pub struct FaultInjection {
    pub faults: FaultSwitch,
    pub respond: FaultResponder,
}

/// Axum middleware: fails or delays calls as the fault switch decides.
/// A delayed call takes effect first and answers late, as a lost response would.
pub async fn inject_faults(State(fi): State<FaultInjection>, req: Request, next: Next) -> Response {
    if is_control_path(req.uri().path()) {
        return next.run(req).await;
    }
    match fi.faults.call_fault() {
        Some(CallFault::Fail(status)) => (fi.respond)(status),
        Some(CallFault::Delay(delay)) => {
            let response = next.run(req).await;
            tokio::time::sleep(delay).await;
            response
        }
        None => next.run(req).await,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_routes_statuses_and_writes() {
        let log = RequestLog::default();
        log.record("GET", "/products/abc", Some("/products/{productId}"), 200);
        log.record("PUT", "/products/abc", Some("/products/{productId}"), 200);
        log.record("GET", "/nope", None, 404);
        let s = log.summary();
        assert_eq!(s.total, 3);
        assert_eq!(s.writes, 1);
        assert_eq!(s.by_route["GET /products/{productId}"], 1);
        assert_eq!(s.by_route["GET /nope"], 1);
        assert_eq!(s.by_status[&200], 2);
        assert_eq!(log.entries(1, 10).len(), 2);
        log.clear();
        assert_eq!(log.summary().total, 0);
    }
}
