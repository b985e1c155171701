//! Checkout and refunds, as a buyer on an AccessAlly order form and an admin
//! refunding an order would cause them: order statuses as AccessAlly names
//! them, coupon rules, usage counts, limited availability, subscriptions.
//! Only the control API drives this (the Bridge API cannot place orders);
//! it must not send events itself, only return them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::input::{Field, Reader};
use crate::values::{currency_exponent, parse_decimal};
use crate::world::{Event, LineItem, Order, Subscription, World, looks_like_email};

const OUTCOMES: [&str; 6] = [
    "success",
    "failed",
    "error",
    "sca_success",
    "sca_failed",
    "sca_pending",
];

impl World {
    /// `POST /__sim/checkout`.
    pub fn checkout(
        &mut self,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let mut r = Reader::new(body);
        let form = r.integer("order_form_id", 1);
        let offering = r.integer("offering_id", 1);
        let option = r.integer("payment_option_id", 1);
        let buyer = r.object("buyer");
        let coupon_code = r.string("coupon_code");
        let outcome = r.one_of("outcome", &OUTCOMES);
        let method = r.one_of("payment_method", &["stripe", "paypal"]);
        r.require("buyer", &buyer, true);
        let (mut email, mut first, mut last) = (String::new(), String::new(), String::new());
        if let Field::Set(b) = &buyer {
            let mut br = Reader::nested(b, "buyer.");
            let e = br.string("email");
            br.require("email", &e, true);
            if let Field::Set(e) = e {
                if looks_like_email(&e) {
                    email = e;
                } else {
                    br.fail("email", "buyer.email is not a valid email address.");
                }
            }
            first = br
                .string("first_name")
                .into_option()
                .flatten()
                .unwrap_or_default();
            last = br
                .string("last_name")
                .into_option()
                .flatten()
                .unwrap_or_default();
            r.absorb(br);
        }
        if form.is_absent() && offering.is_absent() {
            r.fail("order_form_id", "give order_form_id or offering_id.");
        }
        r.finish()?;

        let offering = match (&form, offering) {
            (_, Field::Set(id)) => self.offerings.get(&(id as u64)),
            (Field::Set(f), _) => self
                .offerings
                .values()
                .find(|o| o.order_form_ids.contains(&(*f as u64))),
            _ => None,
        }
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                404,
                "allybridge_invalid_id",
                "No offering is sold on this order form.",
            )
        })?;
        let form_id = match form {
            Field::Set(f) => f as u64,
            _ => offering.order_form_ids.first().copied().unwrap_or(0),
        };
        let option = match option {
            Field::Set(id) => offering.payment_options.iter().find(|p| p.id == id as u64),
            _ => offering.payment_options.first(),
        }
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid_param(
                "payment_option_id",
                "not a payment option of this offering.",
            )
        })?;
        if offering.quantity == Some(0) {
            return Err(ApiError::conflict(
                "allybridge_sold_out",
                "This offering is sold out.",
            ));
        }

        let subtotal = option.amount_minor;
        let mut discount = 0;
        let mut applied_coupon = None;
        if let Field::Set(code) = coupon_code {
            let c = self.find_coupon_by_code(&code).cloned().ok_or_else(|| {
                ApiError::new(
                    400,
                    "allybridge_invalid_coupon",
                    format!("Coupon `{code}` does not exist."),
                )
            })?;
            let refuse = |why: &str| {
                Err(ApiError::new(
                    400,
                    "allybridge_invalid_coupon",
                    format!("Coupon `{code}` {why}."),
                ))
            };
            if c.date_starts.is_some_and(|s| now < s) {
                return refuse("is not valid yet");
            }
            if c.date_expires.is_some_and(|e| now >= e) {
                return refuse("has expired");
            }
            if c.usage_limit.is_some_and(|l| c.usage_count >= l) {
                return refuse("has reached its usage limit");
            }
            if let Some(limit) = c.usage_limit_per_user {
                let used = self
                    .orders
                    .values()
                    .filter(|o| {
                        o.email.eq_ignore_ascii_case(&email)
                            && o.coupon_code
                                .as_deref()
                                .is_some_and(|k| k.eq_ignore_ascii_case(&c.code))
                            && matches!(
                                o.status.as_str(),
                                "success" | "refunded" | "partially_refunded"
                            )
                    })
                    .count() as i64;
                if used >= limit {
                    return refuse("has reached its limit for this buyer");
                }
            }
            if !c.offering_ids.contains(&offering.id) {
                return refuse("does not apply to this offering");
            }
            discount = if c.discount_type == "percent" {
                (subtotal * c.amount + 5_000) / 10_000
            } else {
                if c.currency.as_deref() != Some(option.currency.as_str()) {
                    return refuse("is in another currency");
                }
                c.amount.min(subtotal)
            };
            applied_coupon = Some(c);
        }

        let outcome = match outcome {
            Field::Set(o) => o,
            _ => "success".into(),
        };
        let history: Vec<&str> = match outcome.as_str() {
            "success" => vec!["started", "success"],
            "failed" => vec!["started", "failed"],
            "error" => vec!["started", "error"],
            "sca_success" => vec!["started", "sca_pending", "sca_success", "success"],
            "sca_failed" => vec!["started", "sca_pending", "sca_failed"],
            _ => vec!["started", "sca_pending"],
        };
        let status = history.last().copied().unwrap_or("started").to_string();
        let succeeded = status == "success";
        let method = match method {
            Field::Set(m) => m,
            _ => "stripe".into(),
        };
        let contact_id = self.contact_for(&email, &first, &last);
        let transaction_id = succeeded.then(|| match method.as_str() {
            "paypal" => format!("PAYID-{}", sim_kit::ids::alphanumeric(20).to_uppercase()),
            _ => format!("ch_{}", sim_kit::ids::alphanumeric(24)),
        });
        let order = Order {
            id: self.new_id(),
            status,
            status_history: history.iter().map(|s| s.to_string()).collect(),
            order_form_id: form_id,
            email: email.clone(),
            first_name: first,
            last_name: last,
            crm_contact_id: Some(contact_id.clone()),
            line_items: vec![LineItem {
                offering_id: offering.id,
                payment_option_id: option.id,
                name: offering.name.clone(),
                sku: option.sku.clone(),
                quantity: 1,
                amount_minor: subtotal,
            }],
            coupon_code: applied_coupon.as_ref().map(|c| c.code.clone()),
            subtotal,
            discount,
            total: subtotal - discount,
            refunded: 0,
            currency: option.currency.clone(),
            payment_method: method,
            transaction_id,
            created: now,
            modified: now,
        };
        let order_json = World::order_json(&order);
        let order_id = order.id;
        self.orders.insert(order.id, order);
        let mut events = Vec::new();
        if succeeded {
            if let Some(c) = applied_coupon.and_then(|c| self.coupons.get_mut(&c.id)) {
                c.usage_count += 1;
            }
            if let Some(o) = self.offerings.get_mut(&offering.id)
                && let Some(q) = o.quantity.as_mut()
            {
                *q = (*q - 1).max(0);
                o.modified = now;
            }
            if let Some(c) = self.contacts.get_mut(&contact_id) {
                c.tags.extend(offering.access_tags.iter().cloned());
                c.tags
                    .insert(format!("{} - Purchase Success", offering.name));
            }
            self.ensure_user(&contact_id);
            if option.kind != "one_time" {
                let id = self.new_id();
                self.subscriptions.insert(
                    id,
                    Subscription {
                        id,
                        order_id,
                        crm_contact_id: contact_id,
                        offering_id: offering.id,
                        payment_option_id: option.id,
                        status: "active".into(),
                    },
                );
            }
            events.push(Event {
                topic: "order.completed",
                data: order_json.clone(),
            });
            if offering.quantity.is_some()
                && let Some(o) = self.offerings.get(&offering.id)
            {
                events.push(Event {
                    topic: "offering.updated",
                    data: self.offering_json(o),
                });
            }
        }
        Ok((order_json, events))
    }

    /// `POST /__sim/refund`: a full refund without `amount`, else partial.
    pub fn refund(
        &mut self,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let mut r = Reader::new(body);
        let order_id = r.integer("order_id", 1);
        let amount = r.string("amount");
        r.require("order_id", &order_id, true);
        r.finish()?;
        let Field::Set(order_id) = order_id else {
            return Err(ApiError::invalid_param("order_id", "order_id is required."));
        };
        let order = self
            .orders
            .get_mut(&(order_id as u64))
            .ok_or_else(|| ApiError::invalid_id("order"))?;
        if !matches!(order.status.as_str(), "success" | "partially_refunded") {
            return Err(ApiError::conflict(
                "allybridge_not_refundable",
                format!("An order in status `{}` cannot be refunded.", order.status),
            ));
        }
        let remaining = order.total - order.refunded;
        let amount = match amount {
            Field::Set(a) => parse_decimal(&a, currency_exponent(&order.currency))
                .map_err(|e| ApiError::invalid_param("amount", e))?,
            _ => remaining,
        };
        if amount <= 0 || amount > remaining {
            return Err(ApiError::invalid_param(
                "amount",
                "amount must be more than 0 and at most what is left to refund.",
            ));
        }
        order.refunded += amount;
        order.status = if order.refunded == order.total {
            "refunded"
        } else {
            "partially_refunded"
        }
        .into();
        order.status_history.push(order.status.clone());
        order.modified = now;
        let json = World::order_json(order);
        if order.status == "refunded" {
            for s in self
                .subscriptions
                .values_mut()
                .filter(|s| s.order_id == order_id as u64)
            {
                s.status = "refunded".into();
            }
        }
        Ok((
            json!({ "order": json.clone(), "refunded_now": crate::values::format_money(amount, json["currency"].as_str().unwrap_or("USD")) }),
            vec![Event {
                topic: "order.refunded",
                data: json,
            }],
        ))
    }
}
