//! Orders and transactions (`/payments/orders*`, `/payments/transactions`),
//! read-only in the API, plus the checkout a buyer makes in a HighLevel
//! funnel or store (driven through the control API): it upserts the
//! contact, prices the items, applies a coupon, records a transaction when
//! paid, and fires OrderCreate / OrderStatusUpdate with the documented
//! payload. An unknown order answers with the observed `HttpException`
//! shape, not the documented one.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, location, location_mut, matches_search, page, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ok};
use crate::validate::QueryCheck;
use crate::world::contacts::ContactUpsert;
use crate::world::coupons::CouponStatus;
use crate::world::{World, now_iso, num_of, round2, set, str_of};

fn order_not_found() -> ApiError {
    ApiError {
        status: 404,
        body: json!({"status": 404, "message": "Order not found", "name": "HttpException", "traceId": trace_id()}),
    }
}

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
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        let rows: Vec<&Value> = loc
            .orders
            .iter()
            .filter(|o| q.get("status").is_none_or(|s| str_of(o, "status") == s))
            .filter(|o| {
                payment_status
                    .as_deref()
                    .is_none_or(|s| str_of(o, "paymentStatus") == s)
            })
            .filter(|o| {
                q.get("contactId")
                    .is_none_or(|c| str_of(o, "contactId") == c)
            })
            // Summarised only to search them, or when they are on the page.
            .filter(|o| {
                q.get("search").is_none_or(|_| {
                    matches_search(
                        &summary(o),
                        &["contactName", "contactEmail", "_id"],
                        q.get("search"),
                    )
                })
            })
            .collect();
        let (orders, total) = page(rows.into_iter(), offset, limit);
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
        let loc = location(w, &alt_id)?;
        let mut order = loc
            .orders
            .get(&order_id)
            .cloned()
            .ok_or_else(order_not_found)?;
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
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        let rows = loc
            .transactions
            .iter()
            .filter(|t| q.get("entityId").is_none_or(|e| str_of(t, "entityId") == e))
            .filter(|t| {
                q.get("contactId")
                    .is_none_or(|c| str_of(t, "contactId") == c)
            })
            .filter(|t| {
                q.get("subscriptionId")
                    .is_none_or(|s| str_of(t, "subscriptionId") == s)
            })
            .filter(|t| {
                matches_search(
                    t,
                    &["contactName", "contactEmail", "entityId"],
                    q.get("search"),
                )
            });
        let (data, total) = page(rows, offset, limit);
        ok(json!({"data": data, "totalCount": total}))
    })
}

/// A transaction as HighLevel records it for a paid order or invoice.
pub fn new_transaction(
    location_id: &str,
    contact: &Value,
    entity_type: &str,
    entity_id: &str,
    source_type: &str,
    amount: f64,
    currency: &str,
) -> Value {
    let now = now_iso();
    json!({
        "_id": sim_kit::ids::object_id(), "altId": location_id, "altType": "location",
        "contactId": str_of(contact, "id"), "contactName": str_of(contact, "name"),
        "contactEmail": str_of(contact, "email"), "currency": currency, "amount": round2(amount),
        "status": "succeeded", "liveMode": false, "entityType": entity_type, "entityId": entity_id,
        "entitySourceType": source_type, "entitySourceId": entity_id,
        "paymentProviderType": "manual", "chargeId": format!("ch_{}", sim_kit::ids::alphanumeric(20)),
        "amountRefunded": 0, "createdAt": now, "updatedAt": now, "fulfilledAt": now,
    })
}

/// One line of a checkout.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutItem {
    pub product_id: String,
    pub price_id: String,
    #[serde(default = "one")]
    pub qty: u32,
}

fn one() -> u32 {
    1
}

/// A buyer's checkout in a HighLevel funnel or store.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkout {
    pub location_id: Option<String>,
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub items: Vec<CheckoutItem>,
    pub coupon_code: Option<String>,
    /// `paid` (default) or `unpaid`.
    #[serde(default = "paid")]
    pub payment_status: String,
}

fn paid() -> String {
    "paid".into()
}

fn order_event(name: &'static str, order: &Value) -> Value {
    let mut payload = order.clone();
    if let Value::Object(map) = &mut payload {
        map.remove("traceId");
        map.insert("type".into(), json!(name));
        map.insert("locationId".into(), order["altId"].clone());
    }
    payload
}

/// Places an order; returns it.
pub fn place_order(w: &mut World, location_id: &str, c: &Checkout) -> Result<Value, ApiError> {
    if c.items.is_empty() {
        return Err(ApiError::unprocessable(vec![
            "items should not be empty".into(),
        ]));
    }
    if !["paid", "unpaid"].contains(&c.payment_status.as_str()) {
        return Err(ApiError::unprocessable(vec![
            "paymentStatus must be one of the following values: paid, unpaid".into(),
        ]));
    }
    let loc = location(w, location_id)?;
    let mut items = Vec::new();
    let mut subtotal = 0.0;
    let mut currency = String::new();
    for item in &c.items {
        let product = loc
            .products
            .get(&item.product_id)
            .ok_or_else(|| ApiError::not_found("Product"))?;
        let price = loc.price(&product.id, &item.price_id)?;
        if currency.is_empty() {
            currency = price.currency().to_string();
        } else if currency != price.currency() {
            return Err(ApiError::bad_request(
                "All items of an order must share one currency",
            ));
        }
        if !price.can_sell(item.qty) {
            return Err(ApiError::bad_request(format!(
                "{} is out of stock",
                product.name()
            )));
        }
        subtotal += price.amount() * item.qty as f64;
        items.push(json!({
            "name": product.name(), "qty": item.qty,
            "product": {"_id": product.id, "name": product.fields.name, "productType": product.fields.product_type},
            "price": {
                "_id": price.id, "name": price.fields.name, "type": price.fields.kind,
                "currency": price.fields.currency, "amount": price.fields.amount,
                "variantOptionIds": price.fields.variant_option_ids.clone().unwrap_or_default(),
            },
        }));
    }
    let mut discount = 0.0;
    let mut coupon_ref = None;
    if let Some(code) = &c.coupon_code {
        let coupon = loc
            .coupon_by_code(code)
            .ok_or_else(|| ApiError::bad_request(format!("Coupon {code} is not valid")))?;
        if coupon.status() != CouponStatus::Active {
            return Err(ApiError::bad_request(format!(
                "Coupon {code} is not active"
            )));
        }
        let eligible: f64 = c
            .items
            .iter()
            .filter(|i| coupon.applies_to(&i.product_id))
            .filter_map(|i| {
                loc.prices
                    .get(&i.price_id)
                    .map(|p| p.amount() * i.qty as f64)
            })
            .sum();
        discount = coupon.discount_on(eligible);
        coupon_ref = Some(json!({"_id": coupon.id, "code": coupon.terms.code}));
    }
    let total = round2(subtotal - discount);
    let buyer = ContactUpsert {
        text: vec![
            ("firstName", c.first_name.clone()),
            ("lastName", c.last_name.clone()),
            ("email", c.email.clone()),
        ],
        ..ContactUpsert::default()
    };
    let (contact, _) = w.location_mut(location_id)?.upsert_contact(buyer)?;
    let loc = location_mut(w, location_id)?;
    let id = sim_kit::ids::object_id();
    let now = now_iso();
    let is_paid = c.payment_status == "paid";
    let mut order = json!({
        "_id": id, "altId": location_id, "altType": "location", "contactId": contact["id"],
        "currency": currency, "amount": total, "status": if is_paid { "completed" } else { "pending" },
        "paymentStatus": c.payment_status, "liveMode": false, "fulfillmentStatus": "unfulfilled",
        "contactSnapshot": contact, "amountSummary": {"subtotal": round2(subtotal), "discount": round2(discount)},
        "source": {"type": "funnel", "subType": "one_step_order_form", "id": loc.id, "name": "Checkout"},
        "items": items, "createdAt": now, "updatedAt": now, "createdBy": "customer",
    });
    let used_coupon = coupon_ref.as_ref().map(|c| str_of(c, "_id").to_string());
    if let Some(coupon) = coupon_ref {
        set(&mut order, "coupon", coupon);
    }
    if is_paid {
        let txn = new_transaction(
            location_id,
            &contact,
            "order",
            &id,
            "funnel",
            total,
            &currency,
        );
        loc.transactions
            .insert(str_of(&txn, "_id").to_string(), txn);
    }
    loc.orders.insert(id, order.clone());
    let mut changing = w.location_mut(location_id)?;
    if let Some(coupon_id) = used_coupon {
        changing.use_coupon(&coupon_id);
    }
    if is_paid {
        for item in &c.items {
            changing.sell(&item.price_id, item.qty);
        }
    }
    w.emit(
        "OrderCreate",
        location_id,
        order_event("OrderCreate", &order),
    );
    Ok(order)
}

/// Changes an order's payment status (`paid`, `refunded`, …) as the
/// payments dashboard does; fires OrderStatusUpdate.
pub fn set_order_status(
    w: &mut World,
    order_id: &str,
    payment_status: &str,
) -> Result<Value, ApiError> {
    let status = match payment_status {
        "paid" => "completed",
        "refunded" => "refunded",
        "unpaid" => "pending",
        "partially_paid" => "pending",
        other => {
            return Err(ApiError::unprocessable(vec![format!(
                "paymentStatus must be one of the following values: paid, unpaid, refunded, partially_paid (got {other})"
            )]));
        }
    };
    let loc_id = w
        .locations
        .values()
        .find(|l| l.orders.get(order_id).is_some())
        .map(|l| l.id.clone())
        .ok_or_else(order_not_found)?;
    let loc = location_mut(w, &loc_id)?;
    let order = loc.orders.get_mut(order_id).ok_or_else(order_not_found)?;
    let was_paid = str_of(order, "paymentStatus") == "paid";
    set(order, "status", json!(status));
    set(order, "paymentStatus", json!(payment_status));
    set(order, "updatedAt", json!(now_iso()));
    let order = order.clone();
    let txn_id = loc
        .transactions
        .iter()
        .find(|t| str_of(t, "entityId") == order_id)
        .map(|t| str_of(t, "_id").to_string());
    match (payment_status, txn_id) {
        ("refunded", Some(t)) => {
            if let Some(txn) = loc.transactions.get_mut(&t) {
                let amount = txn["amount"].clone();
                set(txn, "status", json!("refunded"));
                set(txn, "amountRefunded", amount);
                set(txn, "updatedAt", json!(now_iso()));
            }
        }
        ("paid", None) if !was_paid => {
            let contact = order.get("contactSnapshot").cloned().unwrap_or(json!({}));
            let txn = new_transaction(
                &loc_id,
                &contact,
                "order",
                order_id,
                "funnel",
                num_of(&order, "amount"),
                str_of(&order, "currency"),
            );
            loc.transactions
                .insert(str_of(&txn, "_id").to_string(), txn);
        }
        _ => {}
    }
    w.emit(
        "OrderStatusUpdate",
        &loc_id,
        order_event("OrderStatusUpdate", &order),
    );
    Ok(order)
}
