//! The daemon's HTTP surface: webhook endpoints for HighLevel
//! (`/webhooks/ghl`) and AccessAlly (`/webhooks/accessally/{tenant}`) that
//! verify, persist and enqueue before answering; `/healthz`, `/readyz`
//! (the store answers; each tenant's connections in the body),
//! `/metrics` (Prometheus text), the admin page under `/admin` and the
//! HighLevel OAuth callback (`/oauth/callback`). It owns
//! routing and HTTP details only; what an event means is the engine's
//! business, and it never renders or logs a secret.

pub mod admin;
pub mod health;
pub mod oauth;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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

/// Webhook deliveries refused for their signature, per source, since start.
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub ghl_rejected: AtomicU64,
    pub accessally_rejected: AtomicU64,
}

/// The optional parts of the daemon's surface: the admin page, the OAuth
/// callback, the webhook counters others (alerts) read, and the tenants'
/// connection states `/readyz` reports.
#[derive(Clone, Default)]
pub struct Surfaces {
    pub admin: Option<Arc<admin::Admin>>,
    pub oauth: Option<Arc<oauth::OAuth>>,
    pub webhooks: Arc<WebhookStats>,
    pub connections: Arc<health::Connections>,
}

#[derive(Clone)]
struct Shared {
    app: AppState,
    webhooks: Arc<WebhookStats>,
    connections: Arc<health::Connections>,
}

/// Webhooks, health and metrics only.
pub fn router(state: AppState) -> Router {
    router_with(state, Surfaces::default())
}

/// The whole surface: webhooks, health, metrics, and `surfaces`.
pub fn router_with(state: AppState, surfaces: Surfaces) -> Router {
    let shared = Shared {
        app: state,
        webhooks: surfaces.webhooks.clone(),
        connections: surfaces.connections.clone(),
    };
    let mut r = Router::new()
        .route("/webhooks/ghl", post(ghl_webhook))
        .route("/webhooks/accessally/{tenant}", post(accessally_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared);
    if let Some(admin) = surfaces.admin {
        r = r.merge(admin::router(admin));
    }
    if let Some(oauth) = surfaces.oauth {
        r = r.merge(oauth::router(oauth));
    }
    r
}

/// Whether an intake answer means the signature was refused.
fn signature_refused(intake: &Intake) -> bool {
    intake.status == 401 || intake.status == 403
}

fn answer(intake: Intake) -> Response {
    let status = StatusCode::from_u16(intake.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({"status": intake.message, "duplicate": intake.duplicate});
    (status, axum::Json(body)).into_response()
}

async fn ghl_webhook(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let intake = s.app.receiver.highlevel(&headers, &body).await;
    s.app
        .engine
        .metrics
        .observe_webhook("highlevel", intake.status, started.elapsed());
    if signature_refused(&intake) {
        s.webhooks.ghl_rejected.fetch_add(1, Ordering::Relaxed);
    }
    answer(intake)
}

async fn accessally_webhook(
    State(s): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let intake = s.app.receiver.accessally(&tenant, &headers, &body).await;
    s.app
        .engine
        .metrics
        .observe_webhook("accessally", intake.status, started.elapsed());
    if signature_refused(&intake) {
        s.webhooks
            .accessally_rejected
            .fetch_add(1, Ordering::Relaxed);
    }
    answer(intake)
}

/// Ready when the store answers. A tenant that is not connected (or whose
/// credentials are refused) does not make the daemon unready — it must stay
/// up to receive the OAuth callback — but is listed in the body's
/// `connections`, with what to do.
async fn ready(State(s): State<Shared>) -> Response {
    let connections = s.connections.snapshot();
    let (status, store) = match s.app.engine.store.queue_stats().await {
        Ok(_) => (StatusCode::OK, "ok".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store does not answer".to_string(),
            )
        }
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ready" } else { "not ready" },
        "store": store,
        "connections": connections,
    });
    (status, axum::Json(body)).into_response()
}

/// The OpenMetrics text of the engine's metrics, with the state families
/// (queue, dead letters, drift, rate budgets, connections, per-flow counts)
/// read from the store and the live objects now.
async fn metrics(State(shared): State<Shared>) -> Response {
    let engine = &shared.app.engine;
    let metrics = &engine.metrics;
    metrics.set_records(&engine.stats.summary());
    match engine.store.queue_stats().await {
        Ok(q) => metrics.set_queue(q.pending, q.running, q.dead),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: the store did not answer; the queue's gauges keep their last values")
        }
    }
    for (name, tenant) in &engine.tenants {
        let budget = tenant.ghl.budget_snapshot();
        metrics.set_rate_budget(
            name,
            tenant.ghl.location_id(),
            budget.max.saturating_sub(budget.in_window),
            budget.max,
            budget.daily_remaining.unwrap_or(budget.daily_limit),
        );
        match engine.store.drift_reports(Some(name), 1).await {
            Ok(reports) => {
                if let Some(latest) = reports.first() {
                    metrics.set_drift(name, latest.drifted);
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %name, error = %e, "metrics: could not read the latest drift report")
            }
        }
    }
    for c in shared.connections.snapshot() {
        metrics.set_connection(
            &c.tenant,
            &c.system.to_string(),
            c.state == health::ConnectionState::Connected,
        );
    }
    metrics.set_webhooks_rejected(
        shared.webhooks.ghl_rejected.load(Ordering::Relaxed),
        shared.webhooks.accessally_rejected.load(Ordering::Relaxed),
    );
    let text = metrics.render();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            engine::metrics::CONTENT_TYPE,
        )],
        text,
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
    serve_router(listener, router(state), shutdown).await
}

/// Serves any router built here (see [`router_with`]) until `shutdown`,
/// with each connection's peer address available to the handlers (the
/// admin page limits failed logins per client address).
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Binds an address (port 0 picks a free one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
