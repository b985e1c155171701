//! The Bridge API under `/wp-json/allybridge/v1`: authentication, routing,
//! pagination headers and the JSON answers the contract specifies. Handlers
//! read input, call the rules in `world`, emit the events those return and
//! answer; they must not hold business rules themselves.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::Sim;
use crate::error::ApiError;
use crate::input::{Field, Query, Reader, parse_object};
use crate::world::{TOPICS, Webhook, World};

type Shared = State<Arc<Sim>>;
type ApiResult = Result<Response, ApiError>;
type IdPath = Result<Path<String>, axum::extract::rejection::PathRejection>;

pub fn router(sim: Arc<Sim>) -> Router<Arc<Sim>> {
    Router::new()
        .route("/offerings", get(list_offerings).post(create_offering))
        .route(
            "/offerings/{id}",
            get(get_offering)
                .put(update_offering)
                .delete(delete_offering),
        )
        .route("/coupons", get(list_coupons).post(create_coupon))
        .route(
            "/coupons/{id}",
            get(get_coupon).put(update_coupon).delete(delete_coupon),
        )
        .route("/orders", get(list_orders))
        .route("/orders/{id}", get(get_order))
        .route("/access-grants", post(create_grant))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route_layer(axum::middleware::from_fn(limit_body))
        .route_layer(from_fn_with_state(sim, require_auth))
        .method_not_allowed_fallback(no_route)
}

pub async fn no_route() -> ApiError {
    ApiError::no_route()
}

/// The largest request body the Bridge API takes, as the WordPress plugin does.
pub const MAX_BODY: usize = 1024 * 1024;

/// Refuses a body over [`MAX_BODY`] with 413 `allybridge_body_too_large`, nothing written.
async fn limit_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::new(
            413,
            "allybridge_body_too_large",
            format!(
                "The request body is larger than {MAX_BODY} bytes; send fewer records at once."
            ),
        )
        .into_response(),
    }
}

/// HTTP Basic with the WordPress user name and Application Password (spaces ignored, as WordPress does).
async fn require_auth(State(sim): Shared, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let Some(encoded) = header else {
        return ApiError::new(
            401,
            "rest_not_logged_in",
            "You are not currently logged in.",
        )
        .into_response();
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let ok = decoded
        .as_deref()
        .and_then(|s| s.split_once(':'))
        .is_some_and(|(user, pass)| {
            let pass: String = pass.chars().filter(|c| *c != ' ').collect();
            user == sim.creds.user
                && constant_time_eq(pass.as_bytes(), sim.creds.app_password.as_bytes())
        });
    if !ok {
        return ApiError::new(
            401,
            "incorrect_password",
            "The provided password is an invalid application password.",
        )
        .into_response();
    }
    next.run(req).await
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_id(path: IdPath, what: &str) -> Result<u64, ApiError> {
    path.ok()
        .and_then(|Path(s)| s.parse::<u64>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid_id(what))
}

fn json_answer(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(body),
    )
        .into_response()
}

/// One page of `items` with `X-WP-Total`, `X-WP-TotalPages` and `Link`.
/// One page of `items`, each rendered to JSON by `render` only when it is
/// on the page (a list of thousands renders its hundred).
fn page<T>(
    items: Vec<T>,
    render: impl Fn(T) -> Value,
    query: &Query,
    headers: &HeaderMap,
    route: &str,
) -> ApiResult {
    let page = query.int("page", 1, i64::from(u32::MAX), 1)?;
    let per_page = query.int("per_page", 1, 100, 10)?;
    let total = items.len() as i64;
    let pages = (total + per_page - 1) / per_page;
    if total > 0 && page > pages {
        return Err(ApiError::new(
            400,
            "rest_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        ));
    }
    let start = ((page - 1) * per_page) as usize;
    let slice: Vec<Value> = items
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .map(render)
        .collect();
    let mut response = json_answer(200, Value::Array(slice));
    let h = response.headers_mut();
    h.insert("x-wp-total", HeaderValue::from(total));
    h.insert("x-wp-totalpages", HeaderValue::from(pages));
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let link_to = |p: i64| {
        format!("<http://{host}/wp-json/allybridge/v1{route}?page={p}&per_page={per_page}>")
    };
    let mut links = Vec::new();
    if page > 1 && page <= pages {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page < pages {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        h.insert(header::LINK, v);
    }
    Ok(response)
}

/// Records with their id and modification time, filtered and ordered as the query asks.
fn ordered<T>(records: Vec<(u64, DateTime<Utc>, T)>, query: &Query) -> Result<Vec<T>, ApiError> {
    let modified_after = query.date("modified_after")?;
    let orderby = query.one_of("orderby", &["id", "modified"], "id")?;
    let order = query.one_of("order", &["asc", "desc"], "asc")?;
    let mut kept: Vec<(u64, DateTime<Utc>, T)> = records
        .into_iter()
        .filter(|(_, m, _)| modified_after.is_none_or(|after| *m > after))
        .collect();
    if orderby == "modified" {
        kept.sort_by_key(|(id, m, _)| (*m, *id));
    } else {
        kept.sort_by_key(|(id, _, _)| *id);
    }
    if order == "desc" {
        kept.reverse();
    }
    Ok(kept.into_iter().map(|(_, _, t)| t).collect())
}

// ----- offerings -----

async fn list_offerings(
    State(sim): Shared,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let status = query.get("status").map(str::to_string);
    if let Some(s) = &status
        && s != "publish"
        && s != "draft"
    {
        return Err(ApiError::invalid_param(
            "status",
            "status is not one of publish, draft.",
        ));
    }
    let world = sim.world();
    let candidates: Box<dyn Iterator<Item = &crate::world::Offering>> =
        match query.get("external_ref") {
            Some(r) => Box::new(world.offering_by_external_ref(r).into_iter()),
            None => Box::new(world.offerings.values()),
        };
    let records = candidates
        .filter(|o| status.as_deref().is_none_or(|s| o.status == s))
        .map(|o| (o.id, o.modified, o))
        .collect();
    page(
        ordered(records, &query)?,
        |o| world.offering_json(o),
        &query,
        &headers,
        "/offerings",
    )
}

async fn get_offering(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "offering")?;
    let world = sim.world();
    let o = world
        .offerings
        .get(&id)
        .ok_or_else(|| ApiError::invalid_id("offering"))?;
    Ok(json_answer(200, world.offering_json(o)))
}

async fn create_offering(State(sim): Shared, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let mut world = sim.world();
    let (json, events) = world.write_offering(None, &body, Utc::now())?;
    sim.emit(&world, events);
    Ok(json_answer(201, json))
}

async fn update_offering(State(sim): Shared, path: IdPath, body: Bytes) -> ApiResult {
    let id = parse_id(path, "offering")?;
    let body = parse_object(&body)?;
    let mut world = sim.world();
    let (json, events) = world.write_offering(Some(id), &body, Utc::now())?;
    sim.emit(&world, events);
    Ok(json_answer(200, json))
}

async fn delete_offering(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "offering")?;
    let mut world = sim.world();
    let (json, events) = world.delete_offering(id, Utc::now())?;
    sim.emit(&world, events);
    Ok(json_answer(200, json))
}

// ----- coupons -----

async fn list_coupons(
    State(sim): Shared,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let code = query.get("code");
    let world = sim.world();
    let candidates: Box<dyn Iterator<Item = &crate::world::Coupon>> = match code {
        Some(code) => Box::new(world.find_coupon_by_code(code).into_iter()),
        None => Box::new(world.coupons.values()),
    };
    let records = candidates
        .filter(|c| {
            query
                .get("external_ref")
                .is_none_or(|r| c.external_ref.as_deref() == Some(r))
        })
        .map(|c| (c.id, c.modified, c))
        .collect();
    page(
        ordered(records, &query)?,
        |c| world.coupon_json(c),
        &query,
        &headers,
        "/coupons",
    )
}

async fn get_coupon(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "coupon")?;
    let world = sim.world();
    let c = world
        .coupons
        .get(&id)
        .ok_or_else(|| ApiError::invalid_id("coupon"))?;
    Ok(json_answer(200, world.coupon_json(c)))
}

async fn create_coupon(State(sim): Shared, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let mut world = sim.world();
    let (json, events) = world.write_coupon(None, &body, Utc::now())?;
    sim.emit(&world, events);
    Ok(json_answer(201, json))
}

async fn update_coupon(State(sim): Shared, path: IdPath, body: Bytes) -> ApiResult {
    let id = parse_id(path, "coupon")?;
    let body = parse_object(&body)?;
    let mut world = sim.world();
    let (json, events) = world.write_coupon(Some(id), &body, Utc::now())?;
    sim.emit(&world, events);
    Ok(json_answer(200, json))
}

async fn delete_coupon(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "coupon")?;
    let mut world = sim.world();
    let (json, events) = world.delete_coupon(id)?;
    sim.emit(&world, events);
    Ok(json_answer(200, json))
}

// ----- orders -----

async fn list_orders(State(sim): Shared, RawQuery(raw): RawQuery, headers: HeaderMap) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    // Comma-separated, nothing else (the contract's pattern): no spaces, no empty items.
    let statuses: Option<Vec<String>> = query
        .get("status")
        .map(|s| s.split(',').map(str::to_string).collect());
    if let Some(bad) = statuses
        .iter()
        .flatten()
        .find(|s| !crate::world::ORDER_STATUSES.contains(&s.as_str()))
    {
        return Err(ApiError::invalid_param(
            "status",
            format!("`{bad}` is not an order status."),
        ));
    }
    let after = query.date("after")?;
    let email = query.get("email").map(str::to_lowercase);
    let world = sim.world();
    let records = world
        .orders
        .values()
        .filter(|o| statuses.as_ref().is_none_or(|s| s.contains(&o.status)))
        .filter(|o| after.is_none_or(|a| o.created > a))
        .filter(|o| {
            email
                .as_deref()
                .is_none_or(|e| crate::world::equals_lowercased(&o.email, e))
        })
        .map(|o| (o.id, o.modified, o))
        .collect();
    page(
        ordered(records, &query)?,
        World::order_json,
        &query,
        &headers,
        "/orders",
    )
}

async fn get_order(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "order")?;
    let world = sim.world();
    let o = world
        .orders
        .get(&id)
        .ok_or_else(|| ApiError::invalid_id("order"))?;
    Ok(json_answer(200, World::order_json(o)))
}

// ----- access grants -----

async fn create_grant(State(sim): Shared, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let mut world = sim.world();
    let (json, created) = world.create_grant(&body, Utc::now())?;
    Ok(json_answer(if created { 201 } else { 200 }, json))
}

// ----- webhooks -----

async fn list_webhooks(
    State(sim): Shared,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let query = Query::parse(raw.as_deref())?;
    let world = sim.world();
    let items: Vec<_> = world.webhooks.values().collect();
    page(
        items,
        |w| World::webhook_json(w, sim.dispatcher.is_disabled(&w.id.to_string()), false),
        &query,
        &headers,
        "/webhooks",
    )
}

async fn create_webhook(State(sim): Shared, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let mut r = Reader::new(&body).nullable(&[]);
    let url = r.string("url");
    if let Field::Set(u) = &url
        && !is_webhook_url(u)
    {
        r.fail("url", "url must be an absolute http(s) URL.");
    }
    let topics = r.strings("topics");
    if let Field::Set(t) = &topics {
        if t.is_empty() {
            r.fail("topics", "topics must not be empty.");
        } else if let Some(bad) = t.iter().find(|t| !TOPICS.contains(&t.as_str())) {
            r.fail(
                "topics",
                format!("`{bad}` is not a topic; topics are {}.", TOPICS.join(", ")),
            );
        }
    }
    let secret = r.string("secret");
    if let Field::Set(s) = &secret
        && crate::signing::secret_key(s).is_none_or(|key| key.len() < 12)
    {
        r.fail(
            "secret",
            "secret must be `whsec_` followed by base64 of at least 12 bytes.",
        );
    }
    r.require("url", &url, true);
    r.require("topics", &topics, true);
    r.finish()?;
    let (Field::Set(url), Field::Set(mut topics)) = (url, topics) else {
        return Err(ApiError::new(
            400,
            "rest_missing_callback_param",
            "Missing parameter(s): url, topics",
        ));
    };
    topics.dedup();
    let secret = match secret {
        Field::Set(s) => s,
        _ => sim.creds.webhook_secret.clone(),
    };
    let mut world = sim.world();
    let hook = Webhook {
        id: world.new_id(),
        url,
        topics,
        secret,
        created: Utc::now(),
    };
    let json = World::webhook_json(&hook, false, true);
    world.webhooks.insert(hook.id, hook);
    Ok(json_answer(201, json))
}

/// The contract's `WebhookInput.url` pattern: `http://` or `https://` (any
/// case); a host of dot-separated labels of letters, digits, `_` and `-`
/// (no hyphen at either end; a final dot allowed); an optional port from 0 to 65535; then
/// path segments, query and fragment in RFC 3986 characters or `%` and two
/// hex digits.
fn is_webhook_url(u: &str) -> bool {
    let Some(rest) = ["http://", "https://"].iter().find_map(|scheme| {
        u.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .map(|_| &u[scheme.len()..])
    }) else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !host.split('.').all(label_ok) {
        return false;
    }
    if let Some(p) = port
        && !(matches!(p.len(), 1..=5)
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535))
    {
        return false;
    }
    // Path (segments), then `?query`, then `#fragment`: `?` and `/` are
    // plain characters after the first `?`, `#` only starts the fragment.
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let chars_ok = |part: &str, extra: &[u8]| {
        let bytes = part.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            if !(b.is_ascii_alphanumeric()
                || b"._~!$&'()*+,;=:@-".contains(&b)
                || extra.contains(&b))
            {
                return false;
            }
            i += 1;
        }
        true
    };
    chars_ok(path, b"/")
        && query.is_none_or(|q| chars_ok(q, b"/?"))
        && fragment.is_none_or(|f| chars_ok(f, b"/?"))
}

async fn delete_webhook(State(sim): Shared, path: IdPath) -> ApiResult {
    let id = parse_id(path, "webhook")?;
    let mut world = sim.world();
    let hook = world
        .webhooks
        .remove(&id)
        .ok_or_else(|| ApiError::invalid_id("webhook"))?;
    let disabled = sim.dispatcher.is_disabled(&id.to_string());
    Ok(json_answer(
        200,
        json!({ "deleted": true, "previous": World::webhook_json(&hook, disabled, false) }),
    ))
}
