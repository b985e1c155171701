//! Coupons (`/payments/coupon*`): list, get by id or code, create, update
//! (a full replacement), delete with a JSON body. `limitPerCustomer` is a
//! boolean in requests and a number in answers (0 = unlimited, 1 = once per
//! customer); codes are unique per location, case-insensitively. HighLevel
//! fires no webhook for coupons: they must be polled.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Params, location, location_mut, matches_search, page, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, created, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::{Location, now_iso, num_of, set, str_of};

/// The status HighLevel derives from the dates and usage.
pub fn status_of(coupon: &Value) -> &'static str {
    let now = chrono::Utc::now();
    let parse = |k: &str| {
        coupon
            .get(k)
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    if parse("startDate").is_some_and(|s| s > now) {
        return "scheduled";
    }
    if parse("endDate").is_some_and(|e| e < now) {
        return "expired";
    }
    let limit = num_of(coupon, "usageLimit");
    if limit > 0.0 && num_of(coupon, "usageCount") >= limit {
        return "expired";
    }
    "active"
}

fn with_status(coupon: &Value) -> Value {
    let mut c = coupon.clone();
    set(&mut c, "status", json!(status_of(coupon)));
    c
}

/// Checks a create or update body; returns the stored fields.
fn check_body(body: &mut Body, update: bool) -> Map<String, Value> {
    let mut out = Map::new();
    body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let name = body.req_str("name");
    let code = body.req_str("code");
    let discount_type = body.req_enum("discountType", &["percentage", "amount"]);
    let value = body.req_num("discountValue");
    body.min("discountValue", Some(value), 0.0);
    if discount_type == "percentage" && value > 100.0 {
        body.error("discountValue must not be greater than 100");
    }
    let start = body.req_str("startDate");
    let end = body.opt_str("endDate");
    for (k, v) in [("startDate", Some(&start)), ("endDate", end.as_ref())] {
        if let Some(v) = v.filter(|v| !v.is_empty())
            && chrono::DateTime::parse_from_rfc3339(v).is_err()
        {
            body.error(format!("{k} must be a valid ISO 8601 date string"));
        }
    }
    let usage_limit = body.opt_num("usageLimit");
    body.min("usageLimit", usage_limit, 1.0);
    let product_ids = body.opt_str_array("productIds").unwrap_or_default();
    let apply_future = body.opt_bool("applyToFuturePayments").unwrap_or(true);
    let future_config = match body.opt_object("applyToFuturePaymentsConfig") {
        Some(cfg) => {
            let kind = cfg.get("type").and_then(Value::as_str).unwrap_or("");
            if !["forever", "fixed"].contains(&kind) {
                body.error("applyToFuturePaymentsConfig.type must be one of the following values: forever, fixed");
            }
            if kind == "fixed" && cfg.get("duration").and_then(Value::as_f64).is_none() {
                body.error("applyToFuturePaymentsConfig.duration must be a number conforming to the specified constraints");
            }
            Value::Object(cfg)
        }
        None => json!({"type": "forever"}),
    };
    let per_customer = body.opt_bool("limitPerCustomer").unwrap_or(false);
    if update {
        body.req_str("id");
    }
    out.insert("name".into(), json!(name));
    out.insert("code".into(), json!(code));
    out.insert("discountType".into(), json!(discount_type));
    out.insert("discountValue".into(), json!(value));
    out.insert("startDate".into(), json!(start));
    if let Some(end) = end.filter(|e| !e.is_empty()) {
        out.insert("endDate".into(), json!(end));
    }
    if let Some(limit) = usage_limit {
        out.insert("usageLimit".into(), json!(limit));
    }
    out.insert("productIds".into(), json!(product_ids));
    out.insert("applyToFuturePayments".into(), json!(apply_future));
    out.insert("applyToFuturePaymentsConfig".into(), future_config);
    out.insert(
        "limitPerCustomer".into(),
        json!(if per_customer { 1 } else { 0 }),
    );
    out
}

fn code_taken(loc: &Location, code: &str, except_id: Option<&str>) -> bool {
    loc.coupons.iter().any(|c| {
        str_of(c, "code").eq_ignore_ascii_case(code) && Some(str_of(c, "_id")) != except_id
    })
}

fn unknown_products(loc: &Location, fields: &Map<String, Value>) -> Option<String> {
    fields
        .get("productIds")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_str)
        .find(|p| loc.products.get(p).is_none())
        .map(str::to_string)
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    let limit = check.num("limit", 100);
    let offset = check.num("offset", 0);
    let status = check.enum_value("status", &["scheduled", "active", "expired"]);
    check.finish()?;
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        let search = q.get("search");
        // Only the page's rows are copied (and given their status).
        let (mut data, total) = page(
            loc.coupons
                .iter()
                .filter(|c| status.as_deref().is_none_or(|s| status_of(c) == s))
                .filter(|c| matches_search(c, &["name", "code"], search)),
            offset,
            limit,
        );
        for coupon in &mut data {
            let status = status_of(coupon);
            set(coupon, "status", json!(status));
        }
        ok(json!({"data": data, "totalCount": total, "traceId": trace_id()}))
    })
}

pub async fn get(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    let id = check.opt("id");
    let code = check.opt("code");
    check.finish()?;
    if id.is_none() && code.is_none() {
        return Err(ApiError::unprocessable(vec![
            "id should not be empty".into(),
            "code should not be empty".into(),
        ]));
    }
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        let code_matches = |c: &&Value| {
            code.as_deref()
                .is_none_or(|k| str_of(c, "code").eq_ignore_ascii_case(k))
        };
        let found = match id.as_deref() {
            Some(id) => loc.coupons.get(id).filter(code_matches),
            None => loc.coupons.iter().find(code_matches),
        };
        let mut coupon = with_status(found.ok_or_else(|| ApiError::not_found("Coupon"))?);
        set(&mut coupon, "traceId", json!(trace_id()));
        ok(coupon)
    })
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let fields = check_body(&mut body, false);
    let raw = body.finish()?;
    let alt_id = str_of(&Value::Object(raw), "altId").to_string();
    caller.check_location(&alt_id)?;
    let user = sim.user_id.clone();
    sim.commit(|w| {
        let loc = location_mut(w, &alt_id)?;
        let code = fields["code"].as_str().unwrap_or("");
        if code_taken(loc, code, None) {
            return Err(ApiError::bad_request(format!(
                "Coupon with code {code} already exists"
            )));
        }
        if let Some(p) = unknown_products(loc, &fields) {
            return Err(ApiError::bad_request(format!("Product {p} not found")));
        }
        let id = sim_kit::ids::object_id();
        let now = now_iso();
        let mut coupon = json!({
            "_id": id, "usageCount": 0, "altId": alt_id, "altType": "location",
            "userId": user, "createdAt": now, "updatedAt": now,
        });
        for (k, v) in fields {
            set(&mut coupon, &k, v);
        }
        loc.coupons.insert(id, coupon.clone());
        let mut answer = with_status(&coupon);
        set(&mut answer, "traceId", json!(trace_id()));
        created(answer)
    })
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let fields = check_body(&mut body, true);
    let raw = Value::Object(body.finish()?);
    let alt_id = str_of(&raw, "altId").to_string();
    let id = str_of(&raw, "id").to_string();
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let loc = location_mut(w, &alt_id)?;
        if loc.coupons.get(&id).is_none() {
            return Err(ApiError::not_found("Coupon"));
        }
        let code = fields["code"].as_str().unwrap_or("");
        if code_taken(loc, code, Some(&id)) {
            return Err(ApiError::bad_request(format!(
                "Coupon with code {code} already exists"
            )));
        }
        if let Some(p) = unknown_products(loc, &fields) {
            return Err(ApiError::bad_request(format!("Product {p} not found")));
        }
        let coupon = loc
            .coupons
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("Coupon"))?;
        if let Value::Object(map) = coupon {
            map.remove("endDate");
            map.remove("usageLimit");
        }
        for (k, v) in fields {
            set(coupon, &k, v);
        }
        set(coupon, "updatedAt", json!(now_iso()));
        let mut answer = with_status(coupon);
        set(&mut answer, "traceId", json!(trace_id()));
        ok(answer)
    })
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let id = body.req_str("id");
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let loc = location_mut(w, &alt_id)?;
        loc.coupons
            .remove(&id)
            .ok_or_else(|| ApiError::not_found("Coupon"))?;
        ok(json!({"success": true, "traceId": trace_id()}))
    })
}
