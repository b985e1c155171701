//! The simulated HighLevel data and every rule that changes it: companies,
//! locations and, per location, the coupons, products, prices, orders,
//! transactions, contacts, notes and invoices. One submodule per area
//! holds its records and rules as methods on [`Location`] (reads) and
//! [`LocationMut`] (changes), which take typed inputs that the HTTP layer
//! builds from checked requests, and answer typed records or an [`Error`].
//! A change queues the webhook events HighLevel would fire; the server
//! sends them once the change is committed. This module and its
//! submodules must not send events, nor know about HTTP: rendering a
//! record or an [`Error`] as the API answers is the `api` modules' work.

pub mod catalog;
pub mod contacts;
pub mod coupons;
pub mod invoices;
pub mod orders;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use catalog::{Price, Product};
pub use coupons::Coupon;

/// An ISO-8601 UTC timestamp with milliseconds, as HighLevel writes them.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Why the world refused a change or found nothing. Each kind is answered
/// with HighLevel's documented (or observed) status and message by
/// `crate::error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// No location has this id.
    UnknownLocation(String),
    /// The record a request is about (`Coupon`, `Product`, `Price`,
    /// `Invoice`) does not exist.
    NotFound(&'static str),
    /// The contact a contact route names does not exist.
    ContactNotFound,
    /// The order a request names does not exist.
    OrderNotFound,
    /// A record a request refers to (`Product`, `Price`, `Contact`) does
    /// not exist.
    UnknownReference { kind: &'static str, id: String },
    /// A price named with a product is one of another product's (bulk edit).
    PriceNotInProduct { price: String, product: String },
    /// A product update lists a price of another product.
    PriceOfAnotherProduct { price: String, product: String },
    /// Another coupon of the location has this code (case-insensitively).
    CouponCodeTaken(String),
    /// A bulk edit of more products and prices than HighLevel takes.
    BulkEditTooLarge { entities: usize },
    /// A bulk price rule would take `field` of a price below zero.
    BelowZero { field: &'static str, price: String },
    /// The invoice has nothing left to pay.
    InvoiceAlreadyPaid,
    /// A payment larger than what the invoice still asks for.
    Overpayment { amount: f64, due: f64 },
    /// The items of one order are priced in different currencies.
    MixedCurrencies,
    /// A tracked price without enough stock (the product's name).
    OutOfStock(String),
    /// No coupon has this code.
    CouponNotValid(String),
    /// The coupon exists but is scheduled or expired.
    CouponNotActive(String),
    /// A checkout the simulator cannot take, with class-validator sentences.
    Invalid(Vec<String>),
}

/// Records of one kind, in creation order, by id; optionally grouped by a
/// key of each record that the record's edits do not change in place (a
/// price's product, a product's slug), so that "the rows of group X" is a
/// look-up instead of a scan of every row. Rows sit in a vector in creation
/// order (a removed row leaves an empty slot), so walking a list is a walk
/// of that vector, not a hash look-up per row.
#[derive(Debug, Clone)]
pub struct Table<T = Value> {
    slots: Vec<Option<T>>,
    /// Slot of each row, by id.
    index: HashMap<String, usize>,
    group_of: Option<fn(&T) -> Option<&str>>,
    /// Slots of each group's rows, in creation order.
    groups: HashMap<String, Vec<usize>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            index: HashMap::new(),
            group_of: None,
            groups: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    /// A table whose rows are also found by the key `group_of` reads.
    pub fn grouped_by(group_of: fn(&T) -> Option<&str>) -> Self {
        Self {
            group_of: Some(group_of),
            ..Self::default()
        }
    }

    fn group_key(&self, row: &T) -> Option<String> {
        self.group_of.and_then(|f| f(row)).map(str::to_string)
    }

    pub fn insert(&mut self, id: String, row: T) {
        let key = self.group_key(&row);
        match self.index.get(&id) {
            None => {
                let slot = self.slots.len();
                self.slots.push(Some(row));
                self.index.insert(id, slot);
                if let Some(key) = key {
                    self.groups.entry(key).or_default().push(slot);
                }
            }
            Some(&slot) => {
                let old = self.slots[slot].replace(row);
                let old_key = old.as_ref().and_then(|o| self.group_key(o));
                if old_key != key {
                    self.ungroup(old_key, slot);
                    if let Some(key) = key {
                        let slots = self.groups.entry(key).or_default();
                        // Keep the group in creation order.
                        let at = slots.partition_point(|s| *s < slot);
                        slots.insert(at, slot);
                    }
                }
            }
        }
    }

    fn ungroup(&mut self, key: Option<String>, slot: usize) {
        if let Some(slots) = key.and_then(|k| self.groups.get_mut(&k)) {
            slots.retain(|s| *s != slot);
        }
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        let slot = *self.index.get(id)?;
        self.slots[slot].as_ref()
    }

    /// A row to edit in place. Its group key must not be changed through
    /// it (use `insert` to replace a row).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let slot = *self.index.get(id)?;
        self.slots[slot].as_mut()
    }

    pub fn remove(&mut self, id: &str) -> Option<T> {
        let slot = self.index.remove(id)?;
        let row = self.slots[slot].take()?;
        let key = self.group_key(&row);
        self.ungroup(key, slot);
        Some(row)
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// The rows whose group key is `key`, in creation order. Every row
    /// when the table is not grouped.
    pub fn group<'a>(&'a self, key: &str) -> Box<dyn Iterator<Item = &'a T> + 'a> {
        match self.group_of {
            None => Box::new(self.iter()),
            Some(_) => Box::new(
                self.groups
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter_map(|slot| self.slots[*slot].as_ref()),
            ),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl<T: Serialize> Table<T> {
    pub fn to_json(&self) -> Value {
        Value::Array(self.iter().map(to_json).collect())
    }
}

/// A record as JSON (records serialise to plain JSON objects).
pub fn to_json(record: &impl Serialize) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

/// One sub-account and everything in it. Reads are methods here (one
/// submodule per area); changes go through [`LocationMut`].
#[derive(Debug, Default, Clone)]
pub struct Location {
    pub id: String,
    pub name: String,
    pub coupons: Table<Coupon>,
    pub products: Table<Product>,
    pub prices: Table<Price>,
    pub orders: Table,
    pub transactions: Table,
    pub contacts: Table,
    pub notes: Table,
    pub invoices: Table,
    /// Per invoice, in creation order (invoices are never deleted): its id
    /// and its name, title and terms, lower-cased and joined by NUL, made
    /// when it is created (none of the three changes after), so that a
    /// search is one substring scan per invoice.
    pub invoice_search_text: Vec<(String, String)>,
    pub next_invoice_number: u64,
}

fn email_key(contact: &Value) -> Option<&str> {
    contact.get("emailLowerCase").and_then(Value::as_str)
}

impl Location {
    pub fn new(id: String, name: String) -> Self {
        Self {
            id,
            name,
            next_invoice_number: 1001,
            products: Table::grouped_by(catalog::slug_of),
            contacts: Table::grouped_by(email_key),
            prices: Table::grouped_by(catalog::product_of),
            ..Self::default()
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "coupons": self.coupons.to_json(),
            "products": self.products.to_json(),
            "prices": self.prices.to_json(),
            "orders": self.orders.to_json(),
            "transactions": self.transactions.to_json(),
            "contacts": self.contacts.to_json(),
            "notes": self.notes.to_json(),
            "invoices": self.invoices.to_json(),
        })
    }
}

/// A location being changed: the rules that change it are methods here,
/// and the events they fire are queued on the world.
pub struct LocationMut<'w> {
    location: &'w mut Location,
    events: &'w mut Vec<Event>,
}

impl Deref for LocationMut<'_> {
    type Target = Location;

    fn deref(&self) -> &Location {
        self.location
    }
}

impl LocationMut<'_> {
    /// Queues the event `name` with `payload` (a record as JSON).
    fn emit(&mut self, name: &'static str, payload: Value) {
        let payload = match payload {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.events.push(Event {
            name,
            location_id: self.location.id.clone(),
            payload,
        });
    }
}

/// A webhook event waiting to be sent once its change is committed.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event name (`ProductCreate`, …).
    pub name: &'static str,
    pub location_id: String,
    /// The payload without `webhookId` and `timestamp`, which delivery adds.
    pub payload: Map<String, Value>,
}

/// Everything the simulator knows.
#[derive(Debug, Default, Clone)]
pub struct World {
    pub company_id: String,
    pub locations: BTreeMap<String, Location>,
    pub events: Vec<Event>,
}

impl World {
    pub fn location(&self, id: &str) -> Result<&Location, Error> {
        self.locations
            .get(id)
            .ok_or_else(|| Error::UnknownLocation(id.to_string()))
    }

    /// The location `id`, to change.
    pub fn location_mut(&mut self, id: &str) -> Result<LocationMut<'_>, Error> {
        let location = self
            .locations
            .get_mut(id)
            .ok_or_else(|| Error::UnknownLocation(id.to_string()))?;
        Ok(LocationMut {
            location,
            events: &mut self.events,
        })
    }

    /// The id of the first location for which `holds` is true (routes that
    /// name a contact or an order carry no location).
    pub fn location_holding(&self, holds: impl Fn(&Location) -> bool) -> Option<String> {
        self.locations
            .values()
            .find(|l| holds(l))
            .map(|l| l.id.clone())
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "companyId": self.company_id,
            "locations": self.locations.values().map(Location::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Whether `needle` (none: no search) is in any of `texts`, ignoring case.
pub fn any_contains(texts: &[&str], needle: Option<&str>) -> bool {
    needle.is_none_or(|n| texts.iter().any(|t| contains_ignoring_case(t, n)))
}

/// Whether `haystack` contains `needle`, ignoring case; without allocating
/// when both are ASCII (a search is run against every row of a list).
fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Sets `key` on a JSON object (no-op on anything else).
pub fn set(row: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = row {
        map.insert(key.to_string(), value);
    }
}

/// Reads a string field.
pub fn str_of<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Reads a number field.
pub fn num_of(row: &Value, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// Rounds a currency amount to cents, as HighLevel shows amounts.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product_key(row: &Value) -> Option<&str> {
        row.get("product").and_then(Value::as_str)
    }

    fn ids<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<&'a str> {
        rows.map(|r| r["_id"].as_str().unwrap_or("")).collect()
    }

    #[test]
    fn a_grouped_table_finds_the_rows_of_a_group_in_creation_order() {
        let mut prices = Table::grouped_by(product_key);
        for (id, product) in [("p1", "a"), ("p2", "b"), ("p3", "a"), ("p4", "a")] {
            prices.insert(id.into(), json!({"_id": id, "product": product}));
        }
        assert_eq!(ids(prices.group("a")), ["p1", "p3", "p4"]);
        assert_eq!(ids(prices.group("b")), ["p2"]);
        assert!(ids(prices.group("c")).is_empty());

        prices.remove("p3");
        assert_eq!(ids(prices.group("a")), ["p1", "p4"]);
        // Replacing a row moves it to its new group.
        prices.insert("p4".into(), json!({"_id": "p4", "product": "b"}));
        assert_eq!(ids(prices.group("a")), ["p1"]);
        assert_eq!(ids(prices.group("b")), ["p2", "p4"]);
        assert_eq!(ids(prices.iter()), ["p1", "p2", "p4"]);
    }

    #[test]
    fn an_ungrouped_table_answers_every_row_for_any_group() {
        let mut coupons = Table::default();
        coupons.insert("c1".into(), json!({"_id": "c1"}));
        coupons.insert("c2".into(), json!({"_id": "c2"}));
        assert_eq!(ids(coupons.group("anything")), ["c1", "c2"]);
    }

    #[test]
    fn search_ignores_case_in_ascii_and_beyond() {
        assert!(contains_ignoring_case("AccessAlly order #42", "ORDER #4"));
        assert!(contains_ignoring_case("anything", ""));
        assert!(!contains_ignoring_case("order #41", "order #42"));
        assert!(!contains_ignoring_case("ab", "abc"));
        assert!(contains_ignoring_case("Été à Paris", "ÉTÉ"));
    }
}
