//! Orders and transactions: the checkout a buyer makes in a HighLevel
//! funnel or store (it upserts the contact, prices the items, checks the
//! stock, applies a coupon, records a transaction and takes the stock when
//! paid, and fires `OrderCreate`), the payment status changes the payments
//! dashboard makes (`OrderStatusUpdate`; a refund refunds the transaction,
//! a late payment records one), and the transactions an invoice payment
//! records. Orders and transactions are kept as the JSON object the API
//! returns; amounts are HighLevel's decimal amounts.

use serde::Deserialize;
use serde_json::{Value, json};

use super::contacts::ContactUpsert;
use super::coupons::CouponStatus;
use super::{
    Error, Location, LocationMut, World, any_contains, now_iso, num_of, round2, set, str_of,
};

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

/// Which orders a list shows (none: any).
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub status: Option<String>,
    pub payment_status: Option<String>,
    pub contact_id: Option<String>,
    /// In the buyer's name or e-mail, or the order id.
    pub search: Option<String>,
}

/// Which transactions a list shows (none: any).
#[derive(Debug, Clone, Default)]
pub struct TransactionQuery {
    pub entity_id: Option<String>,
    pub contact_id: Option<String>,
    pub subscription_id: Option<String>,
    /// In the contact's name or e-mail, or the entity id.
    pub search: Option<String>,
}

/// Whether `row`'s `key` is `wanted` (none: any).
fn is(row: &Value, key: &str, wanted: &Option<String>) -> bool {
    wanted.as_deref().is_none_or(|w| str_of(row, key) == w)
}

/// A transaction as HighLevel records it for a paid order or invoice.
pub(super) fn new_transaction(
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

fn order_event(name: &'static str, order: &Value) -> Value {
    let mut payload = order.clone();
    if let Value::Object(map) = &mut payload {
        map.remove("traceId");
        map.insert("type".into(), json!(name));
        map.insert("locationId".into(), order["altId"].clone());
    }
    payload
}

impl Location {
    pub fn order(&self, id: &str) -> Result<&Value, Error> {
        self.orders.get(id).ok_or(Error::OrderNotFound)
    }

    pub fn orders_matching<'a>(
        &'a self,
        query: &'a OrderQuery,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.orders
            .iter()
            .filter(|o| is(o, "status", &query.status))
            .filter(|o| is(o, "paymentStatus", &query.payment_status))
            .filter(|o| is(o, "contactId", &query.contact_id))
            .filter(|o| {
                let buyer = |key: &str| o.pointer(&format!("/contactSnapshot/{key}"));
                let text = |v: Option<&'a Value>| v.and_then(Value::as_str).unwrap_or("");
                any_contains(
                    &[text(buyer("name")), text(buyer("email")), str_of(o, "_id")],
                    query.search.as_deref(),
                )
            })
    }

    pub fn transactions_matching<'a>(
        &'a self,
        query: &'a TransactionQuery,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.transactions
            .iter()
            .filter(|t| is(t, "entityId", &query.entity_id))
            .filter(|t| is(t, "contactId", &query.contact_id))
            .filter(|t| is(t, "subscriptionId", &query.subscription_id))
            .filter(|t| {
                any_contains(
                    &[
                        str_of(t, "contactName"),
                        str_of(t, "contactEmail"),
                        str_of(t, "entityId"),
                    ],
                    query.search.as_deref(),
                )
            })
    }
}

impl LocationMut<'_> {
    /// Places an order; answers it.
    pub fn place_order(&mut self, c: &Checkout) -> Result<Value, Error> {
        if c.items.is_empty() {
            return Err(Error::Invalid(vec!["items should not be empty".into()]));
        }
        if !["paid", "unpaid"].contains(&c.payment_status.as_str()) {
            return Err(Error::Invalid(vec![
                "paymentStatus must be one of the following values: paid, unpaid".into(),
            ]));
        }
        let mut items = Vec::new();
        let mut subtotal = 0.0;
        let mut currency = String::new();
        for item in &c.items {
            let product = self
                .products
                .get(&item.product_id)
                .ok_or(Error::NotFound("Product"))?;
            let price = self.price(&product.id, &item.price_id)?;
            if currency.is_empty() {
                currency = price.currency().to_string();
            } else if currency != price.currency() {
                return Err(Error::MixedCurrencies);
            }
            if !price.can_sell(item.qty) {
                return Err(Error::OutOfStock(product.name().to_string()));
            }
            subtotal += price.amount() * f64::from(item.qty);
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
            let coupon = self
                .coupon_by_code(code)
                .ok_or_else(|| Error::CouponNotValid(code.clone()))?;
            if coupon.status() != CouponStatus::Active {
                return Err(Error::CouponNotActive(code.clone()));
            }
            let eligible: f64 = c
                .items
                .iter()
                .filter(|i| coupon.applies_to(&i.product_id))
                .filter_map(|i| {
                    self.prices
                        .get(&i.price_id)
                        .map(|p| p.amount() * f64::from(i.qty))
                })
                .sum();
            discount = coupon.discount_on(eligible);
            coupon_ref = Some((coupon.id.clone(), coupon.terms.code.clone()));
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
        let (contact, _) = self.upsert_contact(buyer)?;
        let id = sim_kit::ids::object_id();
        let now = now_iso();
        let is_paid = c.payment_status == "paid";
        let mut order = json!({
            "_id": id, "altId": self.id, "altType": "location", "contactId": contact["id"],
            "currency": currency, "amount": total, "status": if is_paid { "completed" } else { "pending" },
            "paymentStatus": c.payment_status, "liveMode": false, "fulfillmentStatus": "unfulfilled",
            "contactSnapshot": contact, "amountSummary": {"subtotal": round2(subtotal), "discount": round2(discount)},
            "source": {"type": "funnel", "subType": "one_step_order_form", "id": self.id, "name": "Checkout"},
            "items": items, "createdAt": now, "updatedAt": now, "createdBy": "customer",
        });
        if let Some((coupon_id, code)) = coupon_ref {
            set(
                &mut order,
                "coupon",
                json!({"_id": coupon_id, "code": code}),
            );
            self.use_coupon(&coupon_id);
        }
        if is_paid {
            for item in &c.items {
                self.sell(&item.price_id, item.qty);
            }
            let txn = new_transaction(&self.id, &contact, "order", &id, "funnel", total, &currency);
            self.location
                .transactions
                .insert(str_of(&txn, "_id").to_string(), txn);
        }
        self.location.orders.insert(id, order.clone());
        self.emit("OrderCreate", order_event("OrderCreate", &order));
        Ok(order)
    }
}

impl World {
    /// Changes an order's payment status (`paid`, `refunded`, …) as the
    /// payments dashboard does; fires `OrderStatusUpdate`.
    pub fn set_order_status(
        &mut self,
        order_id: &str,
        payment_status: &str,
    ) -> Result<Value, Error> {
        let status = match payment_status {
            "paid" => "completed",
            "refunded" => "refunded",
            "unpaid" => "pending",
            "partially_paid" => "pending",
            other => {
                return Err(Error::Invalid(vec![format!(
                    "paymentStatus must be one of the following values: paid, unpaid, refunded, partially_paid (got {other})"
                )]));
            }
        };
        let loc_id = self
            .location_holding(|l| l.orders.get(order_id).is_some())
            .ok_or(Error::OrderNotFound)?;
        let mut loc = self.location_mut(&loc_id)?;
        let order = loc
            .location
            .orders
            .get_mut(order_id)
            .ok_or(Error::OrderNotFound)?;
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
                if let Some(txn) = loc.location.transactions.get_mut(&t) {
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
                loc.location
                    .transactions
                    .insert(str_of(&txn, "_id").to_string(), txn);
            }
            _ => {}
        }
        loc.emit(
            "OrderStatusUpdate",
            order_event("OrderStatusUpdate", &order),
        );
        Ok(order)
    }
}
