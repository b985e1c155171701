//! The simulated HighLevel data: companies, locations and, per location, the
//! coupons, products, prices, orders, transactions, contacts, notes and
//! invoices, each kept as the JSON object the API returns. Changes queue the
//! webhook events HighLevel would fire; the server sends them once the
//! change is committed.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

/// An ISO-8601 UTC timestamp with milliseconds, as HighLevel writes them.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records of one kind, in creation order, by id; optionally grouped by one
/// field that never changes after insertion (a price's `product`), so that
/// "the rows of group X" is a look-up instead of a scan of every row. Rows
/// sit in a vector in creation order (a removed row leaves an empty slot),
/// so walking a list is a walk of that vector, not a hash look-up per row.
#[derive(Debug, Default, Clone)]
pub struct Table {
    slots: Vec<Option<Value>>,
    /// Slot of each row, by id.
    index: HashMap<String, usize>,
    group_field: Option<&'static str>,
    /// Slots of each group's rows, in creation order.
    groups: HashMap<String, Vec<usize>>,
}

impl Table {
    /// A table whose rows are also found by the value of `field`.
    pub fn grouped_by(field: &'static str) -> Self {
        Self {
            group_field: Some(field),
            ..Self::default()
        }
    }

    fn group_key(&self, row: &Value) -> Option<String> {
        let field = self.group_field?;
        row.get(field).and_then(Value::as_str).map(str::to_string)
    }

    pub fn insert(&mut self, id: String, row: Value) {
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

    pub fn get(&self, id: &str) -> Option<&Value> {
        let slot = *self.index.get(id)?;
        self.slots[slot].as_ref()
    }

    /// A row to edit in place. The grouping field must not be changed
    /// through it (use `insert` to replace a row).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Value> {
        let slot = *self.index.get(id)?;
        self.slots[slot].as_mut()
    }

    pub fn remove(&mut self, id: &str) -> Option<Value> {
        let slot = self.index.remove(id)?;
        let row = self.slots[slot].take()?;
        let key = self.group_key(&row);
        self.ungroup(key, slot);
        Some(row)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Value> {
        self.slots.iter().flatten()
    }

    /// The rows whose grouping field equals `key`, in creation order.
    /// Every row when the table has no grouping field.
    pub fn group<'a>(&'a self, key: &str) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        match self.group_field {
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

    pub fn to_json(&self) -> Value {
        Value::Array(self.iter().cloned().collect())
    }
}

/// One sub-account and everything in it.
#[derive(Debug, Default, Clone)]
pub struct Location {
    pub id: String,
    pub name: String,
    pub coupons: Table,
    pub products: Table,
    pub prices: Table,
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

impl Location {
    pub fn new(id: String, name: String) -> Self {
        Self {
            id,
            name,
            next_invoice_number: 1001,
            products: Table::grouped_by("slug"),
            contacts: Table::grouped_by("emailLowerCase"),
            prices: Table::grouped_by("product"),
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

    /// Finds a contact by e-mail, case-insensitively.
    pub fn contact_by_email(&self, email: &str) -> Option<&Value> {
        self.contacts.group(&email.to_lowercase()).next()
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
    pub fn location(&self, id: &str) -> Option<&Location> {
        self.locations.get(id)
    }

    pub fn location_mut(&mut self, id: &str) -> Option<&mut Location> {
        self.locations.get_mut(id)
    }

    /// Queues an event. `payload` must be a JSON object.
    pub fn emit(&mut self, name: &'static str, location_id: &str, payload: Value) {
        let payload = match payload {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self.events.push(Event {
            name,
            location_id: location_id.to_string(),
            payload,
        });
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

    fn ids<'a>(rows: impl Iterator<Item = &'a Value>) -> Vec<&'a str> {
        rows.map(|r| r["_id"].as_str().unwrap_or("")).collect()
    }

    #[test]
    fn a_grouped_table_finds_the_rows_of_a_group_in_creation_order() {
        let mut prices = Table::grouped_by("product");
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
}
