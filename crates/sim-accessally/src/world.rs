//! The simulated site's ground truth: offerings, coupons, orders, CRM
//! contacts, subscriptions, access grants and webhook subscriptions, and
//! every rule that changes them (the Bridge API, the admin screens and the
//! checkout all go through here). Each change returns the events it causes;
//! this module must not send them, nor know about HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::input::{Field, MAX_COUNT, MAX_ID, Reader};
use crate::values::{
    currency_exponent, format_date, format_money, is_blank, is_currency, is_white_space,
    parse_decimal,
};

/// An event a change causes: a webhook topic and the resource as `GET` shows it.
#[derive(Debug, Clone)]
pub struct Event {
    pub topic: &'static str,
    pub data: Value,
}

pub const TOPICS: [&str; 8] = [
    "order.completed",
    "order.refunded",
    "offering.created",
    "offering.updated",
    "offering.deleted",
    "coupon.created",
    "coupon.updated",
    "coupon.deleted",
];

pub const ORDER_STATUSES: [&str; 9] = [
    "started",
    "success",
    "failed",
    "refunded",
    "partially_refunded",
    "sca_pending",
    "sca_success",
    "sca_failed",
    "error",
];

#[derive(Debug, Clone, Serialize)]
pub struct PaymentOption {
    pub id: u64,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub sku: Option<String>,
    pub trial_days: i64,
    pub number_of_payments: Option<i64>,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Offering {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub status: String,
    pub payment_options: Vec<PaymentOption>,
    /// `None` = unlimited.
    pub quantity: Option<i64>,
    pub order_form_ids: Vec<u64>,
    pub access_tags: Vec<String>,
    pub external_ref: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Coupon {
    pub id: u64,
    pub code: String,
    /// Hundredths of a percent for `percent`; minor units of `currency` for `fixed`.
    pub amount: i64,
    pub discount_type: String,
    pub currency: Option<String>,
    pub date_starts: Option<DateTime<Utc>>,
    pub date_expires: Option<DateTime<Utc>>,
    pub usage_limit: Option<i64>,
    pub usage_count: i64,
    pub usage_limit_per_user: Option<i64>,
    pub first_payment_only: bool,
    pub offering_ids: Vec<u64>,
    pub external_ref: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineItem {
    pub offering_id: u64,
    pub payment_option_id: u64,
    pub name: String,
    pub sku: Option<String>,
    pub quantity: i64,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: u64,
    pub status: String,
    pub status_history: Vec<String>,
    pub order_form_id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub crm_contact_id: Option<String>,
    pub line_items: Vec<LineItem>,
    pub coupon_code: Option<String>,
    pub subtotal: i64,
    pub discount: i64,
    pub total: i64,
    pub refunded: i64,
    pub currency: String,
    pub payment_method: String,
    pub transaction_id: Option<String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

/// A contact of the CRM connected to AccessAlly, and its WordPress user.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub crm_contact_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub tags: BTreeSet<String>,
    pub wp_user_id: Option<u64>,
    /// Set by `aal_updateuser`/`aal_batchsync`: applied on the next visit (activity-based updates).
    pub refresh_pending: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub id: u64,
    pub order_id: u64,
    pub crm_contact_id: String,
    pub offering_id: u64,
    pub payment_option_id: u64,
    /// `active`, `payment_failed`, `revoked`, `refunded`.
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub offering_id: u64,
    pub source_ref: String,
    pub user_id: u64,
    pub tags_applied: Vec<String>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: u64,
    pub url: String,
    pub topics: Vec<String>,
    pub secret: String,
    pub created: DateTime<Utc>,
}

/// One `aal_*` command as the Detailed Log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AalLogEntry {
    pub at: DateTime<Utc>,
    pub command: Option<String>,
    pub contact_id: Option<String>,
    pub status: u16,
    pub outcome: String,
}

/// Everything the simulated site holds.
#[derive(Debug, Default, Serialize)]
pub struct World {
    /// WordPress posts share one id sequence; so do these records.
    pub next_id: u64,
    pub next_contact_id: u64,
    pub next_user_id: u64,
    pub offerings: BTreeMap<u64, Offering>,
    pub coupons: BTreeMap<u64, Coupon>,
    pub orders: BTreeMap<u64, Order>,
    pub contacts: BTreeMap<String, Contact>,
    pub subscriptions: BTreeMap<u64, Subscription>,
    pub grants: BTreeMap<u64, Grant>,
    pub webhooks: BTreeMap<u64, Webhook>,
    pub aal_log: Vec<AalLogEntry>,
    /// Offering id by `external_ref`, kept by `write_offering` and
    /// `delete_offering` (the only places a reference changes), so a
    /// look-up by reference is not a scan of every offering.
    #[serde(skip)]
    offering_by_ref: HashMap<String, u64>,
    /// CRM contact id by lower-cased e-mail, kept by `contact_for` (the only
    /// place a contact is made; an e-mail never changes).
    #[serde(skip)]
    contact_by_email: HashMap<String, String>,
    /// Grant id by `source_ref`, kept by `create_grant` (grants are never
    /// changed or removed).
    #[serde(skip)]
    grant_by_source_ref: HashMap<String, u64>,
    /// Coupon id by lower-cased code, kept by `write_coupon` and
    /// `delete_coupon` (the only places a code changes), so a look-up by
    /// code is not a scan of every coupon.
    #[serde(skip)]
    coupon_by_code: HashMap<String, u64>,
}

const MAX_REF: usize = 191;

impl World {
    pub fn new() -> Self {
        Self {
            next_id: 100,
            next_contact_id: 5001,
            next_user_id: 2,
            ..Self::default()
        }
    }

    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ----- rendering (the contract's JSON) -----

    pub fn offering_json(&self, o: &Offering) -> Value {
        let options: Vec<Value> = o
            .payment_options
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "type": p.kind, "amount": format_money(p.amount_minor, &p.currency),
                    "currency": p.currency, "sku": p.sku, "trial_days": p.trial_days,
                    "number_of_payments": p.number_of_payments, "interval": p.interval,
                    "interval_count": p.interval_count,
                })
            })
            .collect();
        json!({
            "id": o.id, "name": o.name, "description": o.description, "status": o.status,
            "payment_options": options,
            "availability": { "unlimited": o.quantity.is_none(), "quantity": o.quantity },
            "order_form_ids": o.order_form_ids, "access_tags": o.access_tags,
            "external_ref": o.external_ref,
            "date_created": format_date(o.created), "date_modified": format_date(o.modified),
        })
    }

    pub fn coupon_order_forms(&self, c: &Coupon) -> Vec<u64> {
        let forms: BTreeSet<u64> = c
            .offering_ids
            .iter()
            .filter_map(|id| self.offerings.get(id))
            .flat_map(|o| o.order_form_ids.iter().copied())
            .collect();
        forms.into_iter().collect()
    }

    pub fn coupon_json(&self, c: &Coupon) -> Value {
        let amount = match c.currency.as_deref() {
            Some(cur) if c.discount_type == "fixed" => format_money(c.amount, cur),
            _ => crate::values::format_decimal(c.amount, 2),
        };
        json!({
            "id": c.id, "code": c.code, "amount": amount, "discount_type": c.discount_type,
            "currency": c.currency,
            "date_starts": c.date_starts.map(format_date), "date_expires": c.date_expires.map(format_date),
            "usage_limit": c.usage_limit, "usage_count": c.usage_count,
            "usage_limit_per_user": c.usage_limit_per_user, "first_payment_only": c.first_payment_only,
            "offering_ids": c.offering_ids, "order_form_ids": self.coupon_order_forms(c),
            "external_ref": c.external_ref,
            "date_created": format_date(c.created), "date_modified": format_date(c.modified),
        })
    }

    pub fn order_json(o: &Order) -> Value {
        let money = |m: i64| format_money(m, &o.currency);
        let items: Vec<Value> = o
            .line_items
            .iter()
            .map(|l| {
                json!({
                    "offering_id": l.offering_id, "payment_option_id": l.payment_option_id,
                    "name": l.name, "sku": l.sku, "quantity": l.quantity, "amount": money(l.amount_minor),
                })
            })
            .collect();
        json!({
            "id": o.id, "status": o.status, "order_form_id": o.order_form_id,
            "buyer": { "email": o.email, "first_name": o.first_name, "last_name": o.last_name,
                       "crm_contact_id": o.crm_contact_id },
            "line_items": items, "coupon_code": o.coupon_code,
            "subtotal": money(o.subtotal), "discount": money(o.discount), "total": money(o.total),
            "refunded": money(o.refunded), "currency": o.currency,
            "payment_method": o.payment_method, "transaction_id": o.transaction_id,
            "date_created": format_date(o.created), "date_modified": format_date(o.modified),
        })
    }

    pub fn grant_json(g: &Grant) -> Value {
        json!({
            "id": g.id, "email": g.email, "first_name": g.first_name, "last_name": g.last_name,
            "offering_id": g.offering_id, "source_ref": g.source_ref, "user_id": g.user_id,
            "tags_applied": g.tags_applied, "date_created": format_date(g.created),
        })
    }

    pub fn webhook_json(w: &Webhook, disabled: bool, with_secret: bool) -> Value {
        let mut v = json!({
            "id": w.id, "url": w.url, "topics": w.topics,
            "status": if disabled { "disabled" } else { "active" },
            "date_created": format_date(w.created),
        });
        if with_secret {
            v["secret"] = json!(w.secret);
        }
        v
    }

    // ----- offerings -----

    fn read_external_ref(r: &mut Reader<'_>) -> Field<String> {
        let f = r.string("external_ref");
        if !r.length("external_ref", &f, 1, MAX_REF) {
            return Field::Absent;
        }
        f
    }

    fn read_payment_options(
        &mut self,
        r: &mut Reader<'_>,
        existing: Option<&Offering>,
    ) -> Field<Vec<PaymentOption>> {
        let Field::Set(list) = r.array("payment_options") else {
            return Field::Absent;
        };
        let mut options = Vec::new();
        let mut kept_ids = BTreeSet::new();
        for (i, item) in list.iter().enumerate() {
            let prefix = format!("payment_options[{i}].");
            let Some(obj) = item.as_object() else {
                r.fail(
                    &format!("payment_options[{i}]"),
                    "payment option is not of type object.",
                );
                continue;
            };
            let mut pr = Reader::nested(obj, &prefix).nullable(&[
                "sku",
                "number_of_payments",
                "interval",
                "interval_count",
            ]);
            let id = pr.integer_in("id", 1, MAX_ID as i64);
            let kind = pr.one_of("type", &["one_time", "payment_plan", "recurring"]);
            let amount = pr.string("amount");
            let currency = pr.string("currency");
            let sku = pr.string("sku");
            pr.length("sku", &sku, 0, MAX_REF);
            let trial_days = pr.integer_in("trial_days", 0, MAX_COUNT);
            let payments = pr.integer_in("number_of_payments", 2, MAX_COUNT);
            let interval = pr.one_of("interval", &["day", "week", "month", "year"]);
            let interval_count = pr.integer_in("interval_count", 1, MAX_COUNT);
            pr.require("type", &kind, true);
            pr.require("amount", &amount, true);
            pr.require("currency", &currency, true);
            let currency = match currency {
                Field::Set(c) if is_currency(&c) => Some(c),
                Field::Set(_) => {
                    pr.fail("currency", "currency must be an ISO 4217 code like USD.");
                    None
                }
                _ => None,
            };
            let amount_minor = match (&amount, &currency) {
                (Field::Set(a), Some(c)) => match parse_decimal(a, currency_exponent(c)) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        pr.fail("amount", e);
                        None
                    }
                },
                _ => None,
            };
            let kind_s = match &kind {
                Field::Set(k) => k.clone(),
                _ => String::new(),
            };
            let interval = match interval {
                Field::Set(s) => Some(s),
                _ => None,
            };
            let payments = match payments {
                Field::Set(n) => Some(n),
                _ => None,
            };
            if kind_s == "payment_plan" && payments.is_none() {
                pr.fail(
                    "number_of_payments",
                    "a payment_plan needs number_of_payments (2 or more).",
                );
            }
            if (kind_s == "payment_plan" || kind_s == "recurring") && interval.is_none() {
                pr.fail(
                    "interval",
                    "a payment_plan or recurring option needs an interval.",
                );
            }
            let option_id = match id {
                Field::Set(n) => {
                    let n = n as u64;
                    let known =
                        existing.is_some_and(|o| o.payment_options.iter().any(|p| p.id == n));
                    if !known || !kept_ids.insert(n) {
                        pr.fail("id", "id is not a payment option of this offering.");
                    }
                    Some(n)
                }
                _ => None,
            };
            let ok = pr.invalid.is_empty() && pr.missing.is_empty();
            r.absorb(pr);
            if let (true, Some(amount_minor), Some(currency)) = (ok, amount_minor, currency) {
                let recurring_like = kind_s != "one_time";
                options.push(PaymentOption {
                    id: option_id.unwrap_or(0),
                    kind: kind_s.clone(),
                    amount_minor,
                    currency,
                    sku: sku.into_option().flatten(),
                    trial_days: match trial_days {
                        Field::Set(n) => n,
                        _ => 0,
                    },
                    number_of_payments: if kind_s == "payment_plan" {
                        payments
                    } else {
                        None
                    },
                    interval: if recurring_like { interval } else { None },
                    interval_count: if recurring_like {
                        Some(match interval_count {
                            Field::Set(n) => n,
                            _ => 1,
                        })
                    } else {
                        None
                    },
                });
            }
        }
        Field::Set(options)
    }

    fn read_availability(r: &mut Reader<'_>) -> Field<Option<i64>> {
        match r.object("availability") {
            Field::Set(obj) => {
                let mut ar = Reader::nested(&obj, "availability.").nullable(&["quantity"]);
                let unlimited = ar.boolean("unlimited");
                let quantity = ar.integer_in("quantity", 0, MAX_COUNT);
                ar.require("unlimited", &unlimited, true);
                // Present, though null when unlimited (the contract requires both).
                if !obj.contains_key("quantity") {
                    ar.require("quantity", &quantity, true);
                }
                let result = match (unlimited, quantity) {
                    (Field::Set(true), _) => Some(None),
                    (Field::Set(false), Field::Set(q)) => Some(Some(q)),
                    (Field::Set(false), _) => {
                        ar.fail(
                            "quantity",
                            "a limited availability needs a quantity of 0 or more.",
                        );
                        None
                    }
                    _ => None,
                };
                r.absorb(ar);
                result.map_or(Field::Absent, Field::Set)
            }
            Field::Null | Field::Absent => Field::Absent,
        }
    }

    fn check_external_ref_free<'a>(
        mut refs: impl Iterator<Item = (u64, Option<&'a String>)>,
        wanted: &Field<String>,
        own_id: Option<u64>,
    ) -> Result<(), ApiError> {
        if let Field::Set(r) = wanted
            && refs.any(|(id, existing)| Some(id) != own_id && existing == Some(r))
        {
            return Err(external_ref_taken(r));
        }
        Ok(())
    }

    /// The offering holding `external_ref`, if any.
    pub fn offering_by_external_ref(&self, external_ref: &str) -> Option<&Offering> {
        self.offering_by_ref
            .get(external_ref)
            .and_then(|id| self.offerings.get(id))
    }

    /// Creates (`id` = None) or updates an offering from a request body.
    pub fn write_offering(
        &mut self,
        id: Option<u64>,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let existing = match id {
            Some(id) => Some(
                self.offerings
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid_id("offering"))?,
            ),
            None => None,
        };
        let creating = existing.is_none();
        let mut r = Reader::new(body).nullable(&["external_ref"]);
        let name = r.string("name");
        if let Field::Set(n) = &name
            && is_blank(n)
        {
            r.fail("name", "name must not be empty.");
        }
        let description = r.string("description");
        let status = r.one_of("status", &["publish", "draft"]);
        let options = self.read_payment_options(&mut r, existing.as_ref());
        let availability = Self::read_availability(&mut r);
        let forms = r.ids("order_form_ids");
        let tags = r.strings("access_tags");
        let external_ref = Self::read_external_ref(&mut r);
        r.require("name", &name, creating);
        r.require("payment_options", &options, creating);
        r.finish()?;
        if let Field::Set(wanted) = &external_ref
            && let Some(holder) = self.offering_by_ref.get(wanted)
            && Some(*holder) != id
        {
            return Err(external_ref_taken(wanted));
        }

        let mut o = existing.clone().unwrap_or_else(|| Offering {
            id: 0,
            name: String::new(),
            description: String::new(),
            status: "publish".into(),
            payment_options: Vec::new(),
            quantity: None,
            order_form_ids: Vec::new(),
            access_tags: Vec::new(),
            external_ref: None,
            created: now,
            modified: now,
        });
        if creating {
            o.id = self.new_id();
        }
        if let Field::Set(v) = name {
            o.name = v;
        }
        if let Some(v) = description.into_option() {
            o.description = v.unwrap_or_default();
        }
        if let Field::Set(v) = status {
            o.status = v;
        }
        if let Field::Set(mut list) = options {
            for p in &mut list {
                if p.id == 0 {
                    p.id = self.new_id();
                }
            }
            o.payment_options = list;
        }
        if let Field::Set(q) = availability {
            o.quantity = q;
        }
        match forms {
            Field::Set(v) => o.order_form_ids = dedup(v),
            Field::Null | Field::Absent if creating => o.order_form_ids = vec![self.new_id()],
            Field::Null | Field::Absent => {}
        }
        if let Some(v) = tags.into_option() {
            o.access_tags = v.unwrap_or_default();
        }
        if creating && o.access_tags.is_empty() {
            o.access_tags = vec![format!("{} - Access", o.name)];
        }
        if let Some(v) = external_ref.into_option() {
            o.external_ref = v;
        }
        o.modified = now;
        let json = self.offering_json(&o);
        if let Some(old) = existing.as_ref().and_then(|e| e.external_ref.as_ref()) {
            self.offering_by_ref.remove(old);
        }
        if let Some(r) = &o.external_ref {
            self.offering_by_ref.insert(r.clone(), o.id);
        }
        self.offerings.insert(o.id, o);
        let topic = if creating {
            "offering.created"
        } else {
            "offering.updated"
        };
        Ok((json.clone(), vec![Event { topic, data: json }]))
    }

    pub fn delete_offering(
        &mut self,
        id: u64,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let json = self
            .offerings
            .get(&id)
            .map(|o| self.offering_json(o))
            .ok_or_else(|| ApiError::invalid_id("offering"))?;
        if let Some(r) = self.offerings.remove(&id).and_then(|o| o.external_ref) {
            self.offering_by_ref.remove(&r);
        }
        let mut events = vec![Event {
            topic: "offering.deleted",
            data: json.clone(),
        }];
        let touched: Vec<u64> = self
            .coupons
            .values()
            .filter(|c| c.offering_ids.contains(&id))
            .map(|c| c.id)
            .collect();
        for cid in touched {
            if let Some(c) = self.coupons.get_mut(&cid) {
                c.offering_ids.retain(|o| *o != id);
                c.modified = now;
            }
            if let Some(c) = self.coupons.get(&cid) {
                events.push(Event {
                    topic: "coupon.updated",
                    data: self.coupon_json(c),
                });
            }
        }
        Ok((json!({ "deleted": true, "previous": json }), events))
    }

    // ----- coupons -----

    pub fn find_coupon_by_code(&self, code: &str) -> Option<&Coupon> {
        self.coupon_by_code
            .get(&code.to_lowercase())
            .and_then(|id| self.coupons.get(id))
    }

    pub fn write_coupon(
        &mut self,
        id: Option<u64>,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let existing = match id {
            Some(id) => Some(
                self.coupons
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid_id("coupon"))?,
            ),
            None => None,
        };
        let creating = existing.is_none();
        let mut r = Reader::new(body).nullable(&[
            "currency",
            "date_starts",
            "date_expires",
            "usage_limit",
            "usage_limit_per_user",
            "external_ref",
        ]);
        let code = r.string("code");
        if let Field::Set(c) = &code
            && (c.is_empty() || c.chars().count() > 100 || c.chars().any(is_white_space))
        {
            r.fail("code", "code must be 1 to 100 characters without spaces.")
        }
        let amount = r.string("amount");
        let discount_type = r.one_of("discount_type", &["percent", "fixed"]);
        let currency = r.string("currency");
        if let Field::Set(c) = &currency
            && !is_currency(c)
        {
            r.fail("currency", "currency must be an ISO 4217 code like USD.");
        }
        let date_starts = r.date("date_starts");
        let date_expires = r.date("date_expires");
        let usage_limit = r.integer_in("usage_limit", 1, MAX_COUNT);
        let per_user = r.integer_in("usage_limit_per_user", 1, MAX_COUNT);
        let first_payment_only = r.boolean("first_payment_only");
        let offering_ids = r.ids("offering_ids");
        if let Field::Set(ids) = &offering_ids
            && let Some(bad) = ids.iter().find(|i| !self.offerings.contains_key(i))
        {
            r.fail("offering_ids", format!("{bad} is not an offering id."));
        }
        let external_ref = Self::read_external_ref(&mut r);
        r.require("code", &code, creating);
        r.require("amount", &amount, creating);
        r.require("discount_type", &discount_type, creating);
        r.finish()?;

        if let Field::Set(c) = &code
            && let Some(other) = self.find_coupon_by_code(c)
            && Some(other.id) != id
        {
            return Err(ApiError::conflict(
                "allybridge_coupon_code_exists",
                format!("The coupon code `{c}` already exists."),
            ));
        }
        Self::check_external_ref_free(
            self.coupons
                .values()
                .map(|c| (c.id, c.external_ref.as_ref())),
            &external_ref,
            id,
        )?;

        let old = existing.clone();
        let mut c = existing.unwrap_or_else(|| Coupon {
            id: 0,
            code: String::new(),
            amount: 0,
            discount_type: "percent".into(),
            currency: None,
            date_starts: None,
            date_expires: None,
            usage_limit: None,
            usage_count: 0,
            usage_limit_per_user: None,
            first_payment_only: false,
            offering_ids: Vec::new(),
            external_ref: None,
            created: now,
            modified: now,
        });
        if let Field::Set(v) = code {
            c.code = v;
        }
        if let Field::Set(v) = discount_type {
            c.discount_type = v;
        }
        if let Some(v) = currency.into_option() {
            c.currency = v;
        }
        // The amount's scale depends on the (possibly new) type and currency.
        let mut r = Reader::new(body);
        if c.discount_type == "fixed" && c.currency.is_none() {
            r.fail("currency", "a fixed discount needs a currency.");
        }
        if c.discount_type == "percent" {
            c.currency = None;
        }
        let decimals = match (&c.discount_type[..], &c.currency) {
            ("fixed", Some(cur)) => currency_exponent(cur),
            _ => 2,
        };
        let amount_text = match amount {
            Field::Set(a) => Some(a),
            _ => old.as_ref().map(|o| {
                let scale = match (&o.discount_type[..], &o.currency) {
                    ("fixed", Some(cur)) => currency_exponent(cur),
                    _ => 2,
                };
                crate::values::format_decimal(o.amount, scale)
            }),
        };
        if let Some(text) = amount_text {
            match parse_decimal(&text, decimals) {
                Ok(v) if c.discount_type == "percent" && v > 10_000 => {
                    r.fail("amount", "a percent discount is at most 100.")
                }
                Ok(v) => c.amount = v,
                Err(e) => r.fail("amount", e),
            }
        }
        if let Some(v) = date_starts.into_option() {
            c.date_starts = v;
        }
        if let Some(v) = date_expires.into_option() {
            c.date_expires = v;
        }
        if let (Some(s), Some(e)) = (c.date_starts, c.date_expires)
            && e <= s
        {
            r.fail("date_expires", "date_expires must be after date_starts.");
        }
        r.finish()?;
        if let Some(v) = usage_limit.into_option() {
            c.usage_limit = v;
        }
        if let Some(v) = per_user.into_option() {
            c.usage_limit_per_user = v;
        }
        if let Field::Set(v) = first_payment_only {
            c.first_payment_only = v;
        }
        if let Some(v) = offering_ids.into_option() {
            c.offering_ids = dedup(v.unwrap_or_default());
        }
        if let Some(v) = external_ref.into_option() {
            c.external_ref = v;
        }
        if creating {
            c.id = self.new_id();
        }
        c.modified = now;
        let json = self.coupon_json(&c);
        if let Some(old) = &old {
            self.coupon_by_code.remove(&old.code.to_lowercase());
        }
        self.coupon_by_code.insert(c.code.to_lowercase(), c.id);
        self.coupons.insert(c.id, c);
        let topic = if creating {
            "coupon.created"
        } else {
            "coupon.updated"
        };
        Ok((json.clone(), vec![Event { topic, data: json }]))
    }

    pub fn delete_coupon(&mut self, id: u64) -> Result<(Value, Vec<Event>), ApiError> {
        let c = self
            .coupons
            .remove(&id)
            .ok_or_else(|| ApiError::invalid_id("coupon"))?;
        self.coupon_by_code.remove(&c.code.to_lowercase());
        let json = self.coupon_json(&c);
        Ok((
            json!({ "deleted": true, "previous": json }),
            vec![Event {
                topic: "coupon.deleted",
                data: json,
            }],
        ))
    }

    // ----- contacts, grants -----

    /// The CRM contact with this email, created when there is none.
    pub fn contact_for(&mut self, email: &str, first: &str, last: &str) -> String {
        let wanted = email.to_lowercase();
        if let Some(c) = self
            .contact_by_email
            .get(&wanted)
            .and_then(|id| self.contacts.get_mut(id))
        {
            if c.first_name.is_empty() {
                c.first_name = first.to_string();
            }
            if c.last_name.is_empty() {
                c.last_name = last.to_string();
            }
            return c.crm_contact_id.clone();
        }
        let id = self.next_contact_id.to_string();
        self.next_contact_id += 1;
        self.contact_by_email.insert(wanted, id.clone());
        self.contacts.insert(
            id.clone(),
            Contact {
                crm_contact_id: id.clone(),
                email: email.to_string(),
                first_name: first.to_string(),
                last_name: last.to_string(),
                tags: BTreeSet::new(),
                wp_user_id: None,
                refresh_pending: false,
            },
        );
        id
    }

    /// The contact's WordPress user, created when there is none (what `aal_genpass` does).
    pub fn ensure_user(&mut self, crm_contact_id: &str) -> Option<u64> {
        let next = self.next_user_id;
        let contact = self.contacts.get_mut(crm_contact_id)?;
        if let Some(id) = contact.wp_user_id {
            return Some(id);
        }
        contact.wp_user_id = Some(next);
        self.next_user_id += 1;
        Some(next)
    }

    pub fn create_grant(
        &mut self,
        body: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(Value, bool), ApiError> {
        let mut r = Reader::new(body).nullable(&[]);
        let email = r.string("email");
        if let Field::Set(e) = &email
            && (!looks_like_email(e) || e.chars().count() > MAX_REF)
        {
            r.fail("email", "email is not a valid email address.");
        }
        let first = r.string("first_name");
        r.length("first_name", &first, 0, MAX_REF);
        let last = r.string("last_name");
        r.length("last_name", &last, 0, MAX_REF);
        let offering_id = r.integer_in("offering_id", 1, MAX_ID as i64);
        let source_ref = r.string("source_ref");
        r.length("source_ref", &source_ref, 1, MAX_REF);
        r.require("email", &email, true);
        r.require("offering_id", &offering_id, true);
        r.require("source_ref", &source_ref, true);
        r.finish()?;
        let (Field::Set(email), Field::Set(offering_id), Field::Set(source_ref)) =
            (email, offering_id, source_ref)
        else {
            return Err(ApiError::new(
                400,
                "rest_invalid_param",
                "Invalid parameter(s).",
            ));
        };
        let first = first.into_option().flatten().unwrap_or_default();
        let last = last.into_option().flatten().unwrap_or_default();
        let offering_id = offering_id as u64;
        if let Some(g) = self
            .grant_by_source_ref
            .get(&source_ref)
            .and_then(|id| self.grants.get(id))
        {
            let same = g.email.eq_ignore_ascii_case(&email)
                && g.offering_id == offering_id
                && g.first_name == first
                && g.last_name == last;
            if same {
                return Ok((Self::grant_json(g), false));
            }
            return Err(ApiError::conflict(
                "allybridge_source_ref_conflict",
                format!("source_ref `{source_ref}` was already used for another grant."),
            ));
        }
        let tags = match self.offerings.get(&offering_id) {
            Some(o) => o.access_tags.clone(),
            None => {
                return Err(ApiError::invalid_param(
                    "offering_id",
                    format!("{offering_id} is not an offering id."),
                ));
            }
        };
        let contact_id = self.contact_for(&email, &first, &last);
        let user_id = self.ensure_user(&contact_id).unwrap_or(0);
        if let Some(c) = self.contacts.get_mut(&contact_id) {
            c.tags.extend(tags.iter().cloned());
        }
        let g = Grant {
            id: self.new_id(),
            email,
            first_name: first,
            last_name: last,
            offering_id,
            source_ref,
            user_id,
            tags_applied: tags,
            created: now,
        };
        let json = Self::grant_json(&g);
        self.grant_by_source_ref.insert(g.source_ref.clone(), g.id);
        self.grants.insert(g.id, g);
        Ok((json, true))
    }
}

pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
                && s.len() <= 254
        }
        None => false,
    }
}

fn dedup(v: Vec<u64>) -> Vec<u64> {
    let mut seen = BTreeSet::new();
    v.into_iter().filter(|x| seen.insert(*x)).collect()
}

fn external_ref_taken(r: &str) -> ApiError {
    ApiError::conflict(
        "allybridge_external_ref_exists",
        format!("Another record already has external_ref `{r}`."),
    )
}

/// Whether `text`, lower-cased, equals `lowered` (already lower case),
/// without allocating: look-ups by code or e-mail compare every record.
pub fn equals_lowercased(text: &str, lowered: &str) -> bool {
    text.chars()
        .flat_map(char::to_lowercase)
        .eq(lowered.chars())
}

#[cfg(test)]
mod tests {
    use super::{World, equals_lowercased};
    use serde_json::{Map, Value, json};

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn coupons_are_found_by_code_through_renames_and_deletes() {
        let mut world = World::new();
        let now = chrono::Utc::now();
        let (created, _) = world
            .write_coupon(
                None,
                &body(json!({"code": "SAVE10", "amount": "10", "discount_type": "percent"})),
                now,
            )
            .expect("created");
        let id = created["id"].as_u64().expect("id");
        assert_eq!(world.find_coupon_by_code("save10").map(|c| c.id), Some(id));
        assert!(
            world
                .write_coupon(
                    None,
                    &body(json!({"code": "Save10", "amount": "5", "discount_type": "percent"})),
                    now
                )
                .is_err(),
            "a code in use, in another case"
        );
        world
            .write_coupon(Some(id), &body(json!({"code": "SPRING"})), now)
            .expect("renamed");
        assert!(world.find_coupon_by_code("SAVE10").is_none());
        assert_eq!(world.find_coupon_by_code("spring").map(|c| c.id), Some(id));
        world.delete_coupon(id).expect("deleted");
        assert!(world.find_coupon_by_code("spring").is_none());
        world
            .write_coupon(
                None,
                &body(json!({"code": "SPRING", "amount": "5", "discount_type": "percent"})),
                now,
            )
            .expect("the code is free again");
    }

    #[test]
    fn comparing_lower_cased_text_without_allocating() {
        assert!(equals_lowercased("SAVE10", "save10"));
        assert!(equals_lowercased("Ana@Example.COM", "ana@example.com"));
        assert!(equals_lowercased("ÉTÉ", "été"));
        assert!(!equals_lowercased("SAVE10", "save1"));
        assert!(!equals_lowercased("SAVE1", "save10"));
    }
}
