//! The control API under `/__sim/`: what a person does in the HighLevel UI
//! (edit coupons — which fires no webhook — and products, check out as a
//! buyer, refund), test switches (faults, rate limits, token expiry,
//! webhook URL), and read-outs of the ground truth, the request log and
//! the webhook deliveries. The public API's routes are also served under
//! `/__sim/ui/…` without auth or rate limit, as UI edits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sim_kit::{Faults, Seed};

use crate::Sim;
use crate::auth::{Principal, RateLimits};
use crate::error::{ApiError, ApiResult, created, ok};
use crate::world::orders::Checkout;

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/__sim/info", get(info))
        .route("/__sim/state", get(state))
        .route("/__sim/reset", post(reset))
        .route("/__sim/faults", get(get_faults).put(put_faults))
        .route("/__sim/rate-limits", get(get_limits).put(put_limits))
        .route("/__sim/requests", get(requests).delete(clear_requests))
        .route(
            "/__sim/deliveries",
            get(deliveries).delete(clear_deliveries),
        )
        .route("/__sim/webhooks", get(get_webhooks).put(put_webhooks))
        .route("/__sim/oauth/code", post(oauth_code))
        .route("/__sim/tokens/expire", post(expire_tokens))
        .route("/__sim/orders", post(checkout))
        .route("/__sim/orders/{orderId}/status", post(order_status))
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}" as &[u8]
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid control request: {e}")))
}

async fn info(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Json(sim.info(&format!("http://{host}")))
}

async fn state(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(sim.read(|w| w.to_json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    seed: Option<String>,
}

async fn reset(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let req: ResetRequest = parse(&body)?;
    let seed: Seed = match req.seed {
        Some(s) => s.parse().map_err(ApiError::bad_request)?,
        None => Seed::Empty,
    };
    sim.reset(seed).await;
    ok(json!({"reset": true}))
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.faults.get())
}

async fn put_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let faults: Faults = parse(&body)?;
    sim.faults
        .set(faults.clone())
        .map_err(ApiError::bad_request)?;
    ok(serde_json::to_value(faults).unwrap_or_default())
}

#[derive(Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    max: u32,
    interval_ms: u64,
    daily: u64,
}

async fn get_limits(State(sim): State<Arc<Sim>>) -> Json<Value> {
    let l = sim.rate_limits();
    Json(json!({"max": l.max, "interval_ms": l.interval.as_millis() as u64, "daily": l.daily}))
}

async fn put_limits(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let b: LimitsBody = parse(&body)?;
    if b.max == 0 || b.interval_ms == 0 || b.daily == 0 {
        return Err(ApiError::bad_request(
            "max, interval_ms and daily must be positive",
        ));
    }
    sim.set_rate_limits(RateLimits {
        max: b.max,
        interval: Duration::from_millis(b.interval_ms),
        daily: b.daily,
    });
    ok(serde_json::to_value(b).unwrap_or_default())
}

async fn requests(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let since = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit = q.get("limit").and_then(|s| s.parse().ok()).unwrap_or(1000);
    Json(json!({"summary": sim.log.summary(), "entries": sim.log.entries(since, limit)}))
}

async fn clear_requests(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.log.clear();
    StatusCode::NO_CONTENT
}

async fn deliveries(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({"in_flight": sim.dispatcher.in_flight(), "deliveries": sim.dispatcher.records()}))
}

async fn clear_deliveries(State(sim): State<Arc<Sim>>) -> StatusCode {
    sim.dispatcher.clear_records();
    StatusCode::NO_CONTENT
}

async fn get_webhooks(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({"urls": *sim.webhook_urls.lock().unwrap_or_else(|e| e.into_inner())}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhooksBody {
    urls: Vec<String>,
}

async fn put_webhooks(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let b: WebhooksBody = parse(&body)?;
    if let Some(bad) = b
        .urls
        .iter()
        .find(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        return Err(ApiError::bad_request(format!("not an http(s) URL: {bad}")));
    }
    *sim.webhook_urls.lock().unwrap_or_else(|e| e.into_inner()) = b.urls.clone();
    ok(json!({"urls": b.urls}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CodeRequest {
    #[serde(default)]
    user_type: Option<String>,
    location_id: Option<String>,
    scope: String,
}

/// The consent screen: a user approves the app; answers the code the
/// redirect would carry.
async fn oauth_code(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let req: CodeRequest = parse(&body)?;
    let allowed: HashSet<String> = crate::routes::all_scopes().into_iter().collect();
    let scopes: HashSet<String> = req.scope.split_whitespace().map(str::to_string).collect();
    if let Some(bad) = scopes.iter().find(|s| !allowed.contains(*s)) {
        return Err(ApiError::bad_request(format!("Invalid scope: {bad}")));
    }
    let principal = match req.user_type.as_deref() {
        Some("Company") => Principal::Company(sim.company_id()),
        _ => {
            let loc = req
                .location_id
                .or_else(|| sim.location_ids().into_iter().next())
                .unwrap_or_default();
            if !sim.location_ids().contains(&loc) {
                return Err(ApiError::bad_request(format!("Location {loc} not found")));
            }
            Principal::Location(loc)
        }
    };
    let code = sim
        .auth
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add_code(principal, scopes);
    created(json!({"code": code}))
}

async fn expire_tokens(State(sim): State<Arc<Sim>>) -> ApiResult {
    let n = sim
        .auth
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expire_access_tokens();
    ok(json!({"expired": n}))
}

async fn checkout(State(sim): State<Arc<Sim>>, body: Bytes) -> ApiResult {
    let c: Checkout = parse(&body)?;
    let loc = c
        .location_id
        .clone()
        .or_else(|| sim.location_ids().into_iter().next())
        .unwrap_or_default();
    sim.commit(|w| created(w.location_mut(&loc)?.place_order(&c)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StatusBody {
    payment_status: String,
}

async fn order_status(
    State(sim): State<Arc<Sim>>,
    Path(order_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let b: StatusBody = parse(&body)?;
    sim.commit(|w| ok(w.set_order_status(&order_id, &b.payment_status)?))
}
