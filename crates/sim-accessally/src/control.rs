//! The control API under `/__sim/`: what a test or a sandbox user does that
//! the Bridge API cannot (place an order through an order form, refund,
//! edit as a WordPress admin, add CRM contacts), plus faults, ground truth,
//! the request log and webhook deliveries. Never authenticated, logged or
//! faulted. Edits go through the same rules as the API and fire the same events.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};

use crate::Sim;
use crate::error::ApiError;
use crate::input::{Field, Query, Reader, parse_object};
use crate::world::{Event, World, looks_like_email};

type Shared = State<Arc<Sim>>;
type ControlResult = Result<Response, ApiError>;
type IdPath = Result<Path<String>, axum::extract::rejection::PathRejection>;

pub fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/seed", post(seed))
        .route("/checkout", post(checkout))
        .route("/refund", post(refund))
        .route("/admin/offerings", post(admin_create_offering))
        .route(
            "/admin/offerings/{id}",
            put(admin_update_offering).delete(admin_delete_offering),
        )
        .route("/admin/coupons", post(admin_create_coupon))
        .route(
            "/admin/coupons/{id}",
            put(admin_update_coupon).delete(admin_delete_coupon),
        )
        .route("/contacts", post(add_contact))
        .route("/subscriptions/{id}/fail-payment", post(fail_payment))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/state", get(state))
        .route("/requests", get(requests))
        .route("/deliveries", get(deliveries))
        .route("/aal-log", get(aal_log))
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn id_of(path: IdPath, what: &str) -> Result<u64, ApiError> {
    path.ok()
        .and_then(|Path(s)| s.parse::<u64>().ok())
        .ok_or_else(|| ApiError::invalid_id(what))
}

/// Applies one change under the lock and emits its events.
fn change(
    sim: &Sim,
    status: u16,
    f: impl FnOnce(&mut World) -> Result<(Value, Vec<Event>), ApiError>,
) -> ControlResult {
    let mut world = sim.world();
    let (json, events) = f(&mut world)?;
    sim.emit(&world, events);
    Ok((
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(json),
    )
        .into_response())
}

async fn reset(State(sim): Shared) -> Response {
    *sim.world() = World::new();
    sim.log.clear();
    sim.dispatcher.clear_records();
    ok(json!({ "reset": true }))
}

/// `POST /__sim/seed {"seed": "demo" | "empty" | N}` (or `?seed=`): replaces all data.
async fn seed(State(sim): Shared, RawQuery(raw): RawQuery, body: Bytes) -> ControlResult {
    let query = Query::parse(raw.as_deref())?;
    let body = parse_object(&body)?;
    let name = match (body.get("seed"), query.get("seed")) {
        (Some(Value::String(s)), _) => s.clone(),
        (Some(Value::Number(n)), _) => n.to_string(),
        (None, Some(s)) => s.to_string(),
        _ => {
            return Err(ApiError::invalid_param(
                "seed",
                "seed must be `empty`, `demo` or a number.",
            ));
        }
    };
    let seed: sim_kit::Seed = name
        .parse()
        .map_err(|e: String| ApiError::invalid_param("seed", e))?;
    let mut world = World::new();
    crate::seed::load(&mut world, seed, Utc::now());
    let counts = json!({
        "offerings": world.offerings.len(), "coupons": world.coupons.len(),
        "orders": world.orders.len(), "contacts": world.contacts.len(),
    });
    *sim.world() = world;
    Ok(ok(json!({ "seeded": name, "counts": counts })))
}

async fn checkout(State(sim): Shared, body: Bytes) -> ControlResult {
    let body = parse_object(&body)?;
    change(&sim, 201, |w| w.checkout(&body, Utc::now()))
}

async fn refund(State(sim): Shared, body: Bytes) -> ControlResult {
    let body = parse_object(&body)?;
    change(&sim, 200, |w| w.refund(&body, Utc::now()))
}

async fn admin_create_offering(State(sim): Shared, body: Bytes) -> ControlResult {
    let body = parse_object(&body)?;
    change(&sim, 201, |w| w.write_offering(None, &body, Utc::now()))
}

async fn admin_update_offering(State(sim): Shared, path: IdPath, body: Bytes) -> ControlResult {
    let id = id_of(path, "offering")?;
    let body = parse_object(&body)?;
    change(&sim, 200, |w| w.write_offering(Some(id), &body, Utc::now()))
}

async fn admin_delete_offering(State(sim): Shared, path: IdPath) -> ControlResult {
    let id = id_of(path, "offering")?;
    change(&sim, 200, |w| w.delete_offering(id, Utc::now()))
}

async fn admin_create_coupon(State(sim): Shared, body: Bytes) -> ControlResult {
    let body = parse_object(&body)?;
    change(&sim, 201, |w| w.write_coupon(None, &body, Utc::now()))
}

async fn admin_update_coupon(State(sim): Shared, path: IdPath, body: Bytes) -> ControlResult {
    let id = id_of(path, "coupon")?;
    let body = parse_object(&body)?;
    change(&sim, 200, |w| w.write_coupon(Some(id), &body, Utc::now()))
}

async fn admin_delete_coupon(State(sim): Shared, path: IdPath) -> ControlResult {
    let id = id_of(path, "coupon")?;
    change(&sim, 200, |w| w.delete_coupon(id))
}

/// `POST /__sim/contacts {email, first_name?, last_name?, tags?}`: a contact appears in the connected CRM.
async fn add_contact(State(sim): Shared, body: Bytes) -> ControlResult {
    let body = parse_object(&body)?;
    let mut r = Reader::new(&body);
    let email = r.string("email");
    r.require("email", &email, true);
    let first = r
        .string("first_name")
        .into_option()
        .flatten()
        .unwrap_or_default();
    let last = r
        .string("last_name")
        .into_option()
        .flatten()
        .unwrap_or_default();
    let tags = r
        .strings("tags")
        .into_option()
        .flatten()
        .unwrap_or_default();
    if let Field::Set(e) = &email
        && !looks_like_email(e)
    {
        r.fail("email", "email is not a valid email address.");
    }
    r.finish()?;
    let Field::Set(email) = email else {
        return Err(ApiError::invalid_param("email", "email is required."));
    };
    let mut world = sim.world();
    let id = world.contact_for(&email, &first, &last);
    if let Some(c) = world.contacts.get_mut(&id) {
        c.tags.extend(tags);
    }
    let contact = serde_json::to_value(&world.contacts[&id]).unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, axum::Json(contact)).into_response())
}

async fn fail_payment(State(sim): Shared, path: IdPath) -> ControlResult {
    let id = id_of(path, "subscription")?;
    let mut world = sim.world();
    let s = world
        .subscriptions
        .get_mut(&id)
        .ok_or_else(|| ApiError::invalid_id("subscription"))?;
    s.status = "payment_failed".into();
    let json = serde_json::to_value(&*s).unwrap_or(Value::Null);
    Ok(ok(json))
}

async fn get_faults(State(sim): Shared) -> Response {
    ok(serde_json::to_value(sim.faults.get()).unwrap_or(Value::Null))
}

async fn put_faults(State(sim): Shared, body: Bytes) -> ControlResult {
    let faults: sim_kit::Faults = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(400, "rest_invalid_json", format!("Invalid faults: {e}")))?;
    sim.faults
        .set(faults)
        .map_err(|e| ApiError::new(400, "rest_invalid_param", e))?;
    Ok(ok(
        serde_json::to_value(sim.faults.get()).unwrap_or(Value::Null)
    ))
}

/// The whole ground truth, records in the contract's form plus what only the site knows.
async fn state(State(sim): Shared) -> Response {
    let world = sim.world();
    let offerings: Vec<Value> = world
        .offerings
        .values()
        .map(|o| world.offering_json(o))
        .collect();
    let coupons: Vec<Value> = world
        .coupons
        .values()
        .map(|c| world.coupon_json(c))
        .collect();
    let orders: Vec<Value> = world
        .orders
        .values()
        .map(|o| {
            let mut v = World::order_json(o);
            v["status_history"] = json!(o.status_history);
            v
        })
        .collect();
    let webhooks: Vec<Value> = world
        .webhooks
        .values()
        .map(|w| World::webhook_json(w, sim.dispatcher.is_disabled(&w.id.to_string()), true))
        .collect();
    let grants: Vec<Value> = world.grants.values().map(World::grant_json).collect();
    ok(json!({
        "offerings": offerings, "coupons": coupons, "orders": orders,
        "access_grants": grants, "webhooks": webhooks,
        "contacts": world.contacts.values().collect::<Vec<_>>(),
        "subscriptions": world.subscriptions.values().collect::<Vec<_>>(),
        "aal_log": world.aal_log,
    }))
}

/// `?since=SEQ&limit=N`: counts over every request and the entries asked for.
async fn requests(State(sim): Shared, RawQuery(raw): RawQuery) -> ControlResult {
    let query = Query::parse(raw.as_deref())?;
    let since = query.int("since", 0, i64::MAX, 0)? as u64;
    let limit = query.int("limit", 0, 1_000_000, 1_000)? as usize;
    Ok(ok(
        json!({ "summary": sim.log.summary(), "entries": sim.log.entries(since, limit) }),
    ))
}

/// `?wait_ms=N` first waits (at most N ms) until no delivery is queued or being retried.
async fn deliveries(State(sim): Shared, RawQuery(raw): RawQuery) -> ControlResult {
    let query = Query::parse(raw.as_deref())?;
    let wait = query.int("wait_ms", 0, 60_000, 0)? as u64;
    let idle = if wait > 0 {
        sim.dispatcher.wait_idle(Duration::from_millis(wait)).await
    } else {
        sim.dispatcher.in_flight() == 0
    };
    Ok(ok(
        json!({ "idle": idle, "in_flight": sim.dispatcher.in_flight(), "deliveries": sim.dispatcher.records() }),
    ))
}

async fn aal_log(State(sim): Shared) -> Response {
    ok(json!(sim.world().aal_log))
}
