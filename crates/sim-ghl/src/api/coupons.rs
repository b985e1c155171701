//! Coupons (`/payments/coupon*`): list, get by id or code, create, update
//! (a full replacement), delete with a JSON body. Handlers check the
//! request, build the typed input, call the rules in `world::coupons` and
//! answer; they hold no business rule. An answer is the stored coupon plus
//! its derived `status` (and a `traceId`); `limitPerCustomer` is a boolean
//! in requests and a number in answers.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Params, page, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, created, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::coupons::{Coupon, CouponFields, CouponStatus, DiscountType, IsoDate};
use crate::world::{set, to_json};

const STATUSES: &[(&str, CouponStatus)] = &[
    ("scheduled", CouponStatus::Scheduled),
    ("active", CouponStatus::Active),
    ("expired", CouponStatus::Expired),
];

const DISCOUNT_TYPES: &[(&str, DiscountType)] = &[
    ("percentage", DiscountType::Percentage),
    ("amount", DiscountType::Amount),
];

/// The coupon as the API answers it: the record and its status.
fn render(coupon: &Coupon) -> Value {
    let mut answer = to_json(coupon);
    set(&mut answer, "status", json!(coupon.status()));
    answer
}

fn render_with_trace(coupon: &Coupon) -> Value {
    let mut answer = render(coupon);
    set(&mut answer, "traceId", json!(trace_id()));
    answer
}

/// A date field: absent, or an ISO 8601 string (an empty one is absent).
fn check_date(body: &mut Body, key: &str, value: Option<String>) -> Option<IsoDate> {
    let value = value.filter(|v| !v.is_empty())?;
    let date = IsoDate::parse(&value);
    if date.is_none() {
        body.error(format!("{key} must be a valid ISO 8601 date string"));
    }
    date
}

/// Checks a create or update body: its location and the fields it sets
/// (`None` when a problem was recorded).
fn check_body(body: &mut Body, update: bool) -> (String, Option<CouponFields>) {
    let alt_id = body.req_location();
    let name = body.req_str("name");
    let code = body.req_str("code");
    let discount_type = body.req_enum("discountType", &["percentage", "amount"]);
    let discount_value = body.req_num("discountValue");
    body.min("discountValue", Some(discount_value), 0.0);
    if discount_type == "percentage" && discount_value > 100.0 {
        body.error("discountValue must not be greater than 100");
    }
    let start = body.req_str("startDate");
    let start_date = check_date(body, "startDate", Some(start));
    let end = body.opt_str("endDate");
    let end_date = check_date(body, "endDate", end);
    let usage_limit = body.opt_num("usageLimit");
    body.min("usageLimit", usage_limit, 1.0);
    let product_ids = body.opt_str_array("productIds").unwrap_or_default();
    let apply_to_future_payments = body.opt_bool("applyToFuturePayments").unwrap_or(true);
    let future_config = body.opt_object("applyToFuturePaymentsConfig");
    if let Some(cfg) = &future_config {
        let kind = cfg.get("type").and_then(Value::as_str).unwrap_or("");
        if !["forever", "fixed"].contains(&kind) {
            body.error("applyToFuturePaymentsConfig.type must be one of the following values: forever, fixed");
        }
        if kind == "fixed" && cfg.get("duration").and_then(Value::as_f64).is_none() {
            body.error("applyToFuturePaymentsConfig.duration must be a number conforming to the specified constraints");
        }
    }
    let limit_per_customer = body.opt_bool("limitPerCustomer").unwrap_or(false);
    if update {
        body.req_str("id");
    }
    let discount_type = DISCOUNT_TYPES
        .iter()
        .find(|(k, _)| *k == discount_type)
        .map(|(_, t)| *t);
    let fields = match (discount_type, start_date) {
        (Some(discount_type), Some(start_date)) => Some(CouponFields {
            name,
            code,
            discount_type,
            discount_value,
            start_date,
            end_date,
            usage_limit,
            product_ids,
            apply_to_future_payments,
            apply_to_future_payments_config: future_config,
            limit_per_customer,
        }),
        _ => None,
    };
    (alt_id, fields)
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
    let status = status.and_then(|s| STATUSES.iter().find(|(k, _)| *k == s).map(|(_, v)| *v));
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let found = w
            .location(&alt_id)?
            .coupons_matching(status, q.get("search").map(String::as_str));
        // Only the page's rows are rendered.
        let (coupons, total) = page(found, offset, limit);
        let data: Vec<Value> = coupons.into_iter().map(render).collect();
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
        let coupon = w
            .location(&alt_id)?
            .coupon(id.as_deref(), code.as_deref())?;
        ok(render_with_trace(coupon))
    })
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (alt_id, fields) = check_body(&mut body, false);
    let fields = body.finish_with(fields)?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let coupon = w
            .location_mut(&alt_id)?
            .create_coupon(fields, &sim.user_id)?;
        created(render_with_trace(&coupon))
    })
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (alt_id, fields) = check_body(&mut body, true);
    let id = body
        .raw("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let fields = body.finish_with(fields)?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let coupon = w.location_mut(&alt_id)?.replace_coupon(&id, fields)?;
        ok(render_with_trace(&coupon))
    })
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_location();
    let id = body.req_str("id");
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        w.location_mut(&alt_id)?.delete_coupon(&id)?;
        ok(json!({"success": true, "traceId": trace_id()}))
    })
}
