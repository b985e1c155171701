//! Orders and transactions (`/payments/orders*`, `/payments/transactions`),
//! read-only in the API (the checkout and the status changes that make them
//! are `world::orders` rules, driven through the control API). Handlers
//! check the query, build the typed `OrderQuery` / `TransactionQuery`, ask
//! the world and answer; they hold no business rule. The order list answers
//! a summary row per order; an unknown order answers with the observed
//! `HttpException` shape, not the documented one (see `crate::error`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::{Params, page, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiResult, ok};
use crate::validate::QueryCheck;
use crate::world::orders::{OrderQuery, TransactionQuery};
use crate::world::set;

/// The row shape `GET /payments/orders` lists.
fn summary(order: &Value) -> Value {
    let items = order
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let recurring = items
        .iter()
        .filter(|i| i.pointer("/price/type").and_then(Value::as_str) == Some("recurring"))
        .count();
    let snapshot = order.get("contactSnapshot").cloned().unwrap_or(json!({}));
    let mut row = json!({
        "_id": order["_id"], "altId": order["altId"], "altType": order["altType"],
        "contactId": order["contactId"], "contactName": snapshot.get("name").cloned().unwrap_or(json!("")),
        "contactEmail": snapshot.get("email").cloned().unwrap_or(json!("")),
        "currency": order["currency"], "amount": order["amount"],
        "subtotal": order.pointer("/amountSummary/subtotal").cloned().unwrap_or(json!(0)),
        "discount": order.pointer("/amountSummary/discount").cloned().unwrap_or(json!(0)),
        "status": order["status"], "paymentStatus": order["paymentStatus"], "liveMode": order["liveMode"],
        "totalProducts": items.len(), "onetimeProducts": items.len() - recurring, "recurringProducts": recurring,
        "sourceType": order.pointer("/source/type").cloned().unwrap_or(json!("funnel")),
        "sourceName": order.pointer("/source/name").cloned().unwrap_or(json!("")),
        "sourceId": order.pointer("/source/id").cloned().unwrap_or(json!("")),
        "createdAt": order["createdAt"], "updatedAt": order["updatedAt"],
        "fulfillmentStatus": order["fulfillmentStatus"],
    });
    if let Some(code) = order.pointer("/coupon/code") {
        set(&mut row, "couponCode", code.clone());
    }
    row
}

pub async fn list_orders(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    let limit = check.num("limit", 10);
    let offset = check.num("offset", 0);
    let payment_status = check.enum_value(
        "paymentStatus",
        &["paid", "unpaid", "refunded", "partially_paid"],
    );
    check.finish()?;
    caller.check_location(&alt_id)?;
    let query = OrderQuery {
        status: q.get("status").cloned(),
        payment_status,
        contact_id: q.get("contactId").cloned(),
        search: q.get("search").cloned(),
    };
    sim.read(|w| {
        let found = w.location(&alt_id)?.orders_matching(&query);
        // Only the page's orders are summarised.
        let (orders, total) = page(found, offset, limit);
        let data: Vec<Value> = orders.into_iter().map(summary).collect();
        ok(json!({"data": data, "totalCount": total}))
    })
}

pub async fn get_order(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(order_id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.finish()?;
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let mut order = w.location(&alt_id)?.order(&order_id)?.clone();
        set(&mut order, "traceId", json!(trace_id()));
        ok(order)
    })
}

pub async fn list_transactions(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    let limit = check.num("limit", 10);
    let offset = check.num("offset", 0);
    check.finish()?;
    caller.check_location(&alt_id)?;
    let query = TransactionQuery {
        entity_id: q.get("entityId").cloned(),
        contact_id: q.get("contactId").cloned(),
        subscription_id: q.get("subscriptionId").cloned(),
        search: q.get("search").cloned(),
    };
    sim.read(|w| {
        let found = w.location(&alt_id)?.transactions_matching(&query);
        let (data, total) = page(found, offset, limit);
        ok(json!({"data": data, "totalCount": total}))
    })
}
