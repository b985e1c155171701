//! The daemon's HTTP surface: webhook endpoints for HighLevel
//! (`/webhooks/ghl`) and AccessAlly (`/webhooks/accessally/{tenant}`) that
//! verify, persist and enqueue before answering; `/healthz`, `/readyz`
//! (the store answers) and `/metrics` (Prometheus text). It owns routing
//! and HTTP details only; what an event means is the engine's business.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use engine::Engine;
use engine::intake::{Intake, Receiver};

/// Largest webhook body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub receiver: Arc<Receiver>,
    pub engine: Arc<Engine>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/ghl", post(ghl_webhook))
        .route("/webhooks/accessally/{tenant}", post(accessally_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

fn answer(intake: Intake) -> Response {
    let status = StatusCode::from_u16(intake.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({"status": intake.message, "duplicate": intake.duplicate});
    (status, axum::Json(body)).into_response()
}

async fn ghl_webhook(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(s.receiver.highlevel(&headers, &body).await)
}

async fn accessally_webhook(
    State(s): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(s.receiver.accessally(&tenant, &headers, &body).await)
}

async fn ready(State(s): State<AppState>) -> Response {
    match s.engine.store.queue_stats().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "the store does not answer").into_response()
        }
    }
}

async fn metrics(State(s): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(out, "# TYPE allybridge_jobs_total counter");
    let _ = writeln!(
        out,
        "allybridge_jobs_total {}",
        s.engine.stats.jobs.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# TYPE allybridge_records_total counter");
    for (flow, c) in s.engine.stats.summary() {
        for (action, n) in [
            ("created", c.created),
            ("updated", c.updated),
            ("deleted", c.deleted),
            ("skipped", c.skipped),
            ("retried", c.retried),
            ("dead_lettered", c.dead_lettered),
        ] {
            let _ = writeln!(
                out,
                "allybridge_records_total{{flow=\"{flow}\",action=\"{action}\"}} {n}"
            );
        }
    }
    if let Ok(q) = s.engine.store.queue_stats().await {
        let _ = writeln!(out, "# TYPE allybridge_queue_jobs gauge");
        for (state, n) in [
            ("pending", q.pending),
            ("running", q.running),
            ("dead", q.dead),
        ] {
            let _ = writeln!(out, "allybridge_queue_jobs{{state=\"{state}\"}} {n}");
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}

/// Serves the router on `addr` until `shutdown`; returns the bound address
/// through `bound` as soon as it listens.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds an address (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
