//! Typing of verified HighLevel webhook payloads into [`GhlEvent`]s that
//! name the record to fetch fresh. Payloads are flat JSON without an
//! envelope, and not all carry an event `type`: product payloads have none
//! (recognised by shape: `productType` and no `product`), and price
//! payloads use `type` for the *price* type, so product and price events
//! only carry a best-guess [`ChangeKind`]. Unknown or incomplete payloads
//! become [`GhlEvent::Unknown`], never dropped. This module does not verify
//! signatures (see [`crate::webhook`]) and never treats a payload as the
//! truth about a record: it only says which record changed. It never
//! panics on any input.

use serde_json::{Map, Value};

/// Why a body could not be read as an event at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("body is not valid JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
}

/// Create, update or delete, where a payload lets it be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

/// The kind of record an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Product,
    Price,
    Order,
    Contact,
    Invoice,
    /// An app installation on a location (or an agency).
    Installation,
}

/// The record an event names: fetch it fresh rather than trust the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub kind: EntityKind,
    pub id: String,
    /// The owning record where the API path needs it: the product of a price.
    pub parent_id: Option<String>,
}

/// `ProductCreate`/`ProductUpdate`/`ProductDelete`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductEvent {
    pub webhook_id: Option<String>,
    pub location_id: Option<String>,
    pub product_id: String,
    pub name: Option<String>,
    pub product_type: Option<String>,
    /// Best guess: the payload has no event type. `Some(Create)` when
    /// `createdAt == updatedAt`, `Some(Delete)` for `deleted: true`, the
    /// named kind when a `type` names the event; otherwise `None`.
    pub kind: Option<ChangeKind>,
}

/// `PriceCreate`/`PriceUpdate`/`PriceDelete`.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceEvent {
    pub webhook_id: Option<String>,
    pub location_id: Option<String>,
    pub price_id: String,
    pub product_id: Option<String>,
    /// `one_time` or `recurring` (from `priceType`, or `type`).
    pub price_type: Option<String>,
    /// Best guess: `Some(Create)` when the payload uses `priceType` (as
    /// `PriceCreate` does), `Some(Delete)` for `deleted: true`; `None` for
    /// `type` (update or delete cannot be told apart).
    pub kind: Option<ChangeKind>,
}

/// One line of an order: the product and price it sold.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItemRef {
    pub product_id: Option<String>,
    pub price_id: Option<String>,
    pub qty: Option<f64>,
}

/// `OrderCreate`/`OrderStatusUpdate`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    pub webhook_id: Option<String>,
    pub location_id: Option<String>,
    pub order_id: String,
    pub contact_id: Option<String>,
    pub status: Option<String>,
    pub items: Vec<OrderItemRef>,
}

/// `ContactCreate`/`ContactUpdate`/`ContactDelete`/`ContactTagUpdate`/`ContactDndUpdate`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactEvent {
    pub webhook_id: Option<String>,
    pub location_id: Option<String>,
    pub contact_id: String,
    pub email: Option<String>,
}

/// `Invoice*`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceEvent {
    pub webhook_id: Option<String>,
    pub location_id: Option<String>,
    pub invoice_id: String,
    pub status: Option<String>,
}

/// `AppInstall`/`AppUninstall` (`type` = `INSTALL`/`UNINSTALL`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppEvent {
    pub webhook_id: Option<String>,
    pub app_id: Option<String>,
    /// Absent for an agency-level install.
    pub location_id: Option<String>,
    pub company_id: Option<String>,
}

/// A verified HighLevel webhook, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum GhlEvent {
    /// A product payload (create, update or delete: see [`ProductEvent::kind`]).
    ProductChanged(ProductEvent),
    /// A price payload (create, update or delete: see [`PriceEvent::kind`]).
    PriceChanged(PriceEvent),
    OrderCreate(OrderEvent),
    OrderStatusUpdate(OrderEvent),
    ContactCreate(ContactEvent),
    ContactUpdate(ContactEvent),
    ContactDelete(ContactEvent),
    ContactTagUpdate(ContactEvent),
    ContactDndUpdate(ContactEvent),
    InvoiceCreate(InvoiceEvent),
    InvoiceUpdate(InvoiceEvent),
    InvoicePaid(InvoiceEvent),
    InvoicePartiallyPaid(InvoiceEvent),
    InvoiceVoid(InvoiceEvent),
    InvoiceDelete(InvoiceEvent),
    InvoiceSent(InvoiceEvent),
    /// An invoice payload without an event `type` (as the documented examples are).
    InvoiceChanged(InvoiceEvent),
    AppInstall(AppEvent),
    AppUninstall(AppEvent),
    /// An event type this module does not know, or a known one missing the
    /// id it needs: kept whole to be reported.
    Unknown {
        type_name: Option<String>,
        raw: Value,
    },
}

impl GhlEvent {
    /// Reads a body. Fails only on invalid JSON; any JSON value gives an event.
    pub fn from_slice(body: &[u8]) -> Result<Self, EventError> {
        serde_json::from_slice::<Value>(body)
            .map(Self::from_value)
            .map_err(|e| EventError::InvalidJson {
                line: e.line(),
                column: e.column(),
            })
    }

    /// Types a payload (e.g. [`crate::webhook::Verified::payload`]).
    pub fn from_value(raw: Value) -> Self {
        let Some(obj) = raw.as_object() else {
            return Self::Unknown {
                type_name: None,
                raw,
            };
        };
        let type_name = string(obj, "type");
        let typed = match type_name.as_deref() {
            Some(t) => by_type(t, obj),
            None => None,
        };
        let typed = typed.or_else(|| by_shape(obj, type_name.as_deref()));
        typed.unwrap_or(Self::Unknown { type_name, raw })
    }

    /// The event name, as HighLevel's event list spells it (a product or
    /// price event without a sure kind gives `ProductChanged`/`PriceChanged`).
    pub fn name(&self) -> &str {
        match self {
            Self::ProductChanged(e) => match e.kind {
                Some(ChangeKind::Create) => "ProductCreate",
                Some(ChangeKind::Update) => "ProductUpdate",
                Some(ChangeKind::Delete) => "ProductDelete",
                None => "ProductChanged",
            },
            Self::PriceChanged(e) => match e.kind {
                Some(ChangeKind::Create) => "PriceCreate",
                Some(ChangeKind::Update) => "PriceUpdate",
                Some(ChangeKind::Delete) => "PriceDelete",
                None => "PriceChanged",
            },
            Self::OrderCreate(_) => "OrderCreate",
            Self::OrderStatusUpdate(_) => "OrderStatusUpdate",
            Self::ContactCreate(_) => "ContactCreate",
            Self::ContactUpdate(_) => "ContactUpdate",
            Self::ContactDelete(_) => "ContactDelete",
            Self::ContactTagUpdate(_) => "ContactTagUpdate",
            Self::ContactDndUpdate(_) => "ContactDndUpdate",
            Self::InvoiceCreate(_) => "InvoiceCreate",
            Self::InvoiceUpdate(_) => "InvoiceUpdate",
            Self::InvoicePaid(_) => "InvoicePaid",
            Self::InvoicePartiallyPaid(_) => "InvoicePartiallyPaid",
            Self::InvoiceVoid(_) => "InvoiceVoid",
            Self::InvoiceDelete(_) => "InvoiceDelete",
            Self::InvoiceSent(_) => "InvoiceSent",
            Self::InvoiceChanged(_) => "InvoiceChanged",
            Self::AppInstall(_) => "AppInstall",
            Self::AppUninstall(_) => "AppUninstall",
            Self::Unknown { .. } => "Unknown",
        }
    }

    /// The payload's `webhookId`.
    pub fn webhook_id(&self) -> Option<&str> {
        match self {
            Self::ProductChanged(e) => e.webhook_id.as_deref(),
            Self::PriceChanged(e) => e.webhook_id.as_deref(),
            Self::OrderCreate(e) | Self::OrderStatusUpdate(e) => e.webhook_id.as_deref(),
            Self::ContactCreate(e)
            | Self::ContactUpdate(e)
            | Self::ContactDelete(e)
            | Self::ContactTagUpdate(e)
            | Self::ContactDndUpdate(e) => e.webhook_id.as_deref(),
            Self::InvoiceCreate(e)
            | Self::InvoiceUpdate(e)
            | Self::InvoicePaid(e)
            | Self::InvoicePartiallyPaid(e)
            | Self::InvoiceVoid(e)
            | Self::InvoiceDelete(e)
            | Self::InvoiceSent(e)
            | Self::InvoiceChanged(e) => e.webhook_id.as_deref(),
            Self::AppInstall(e) | Self::AppUninstall(e) => e.webhook_id.as_deref(),
            Self::Unknown { raw, .. } => raw.get("webhookId").and_then(Value::as_str),
        }
    }

    /// The location (sub-account) the event belongs to.
    pub fn location_id(&self) -> Option<&str> {
        match self {
            Self::ProductChanged(e) => e.location_id.as_deref(),
            Self::PriceChanged(e) => e.location_id.as_deref(),
            Self::OrderCreate(e) | Self::OrderStatusUpdate(e) => e.location_id.as_deref(),
            Self::ContactCreate(e)
            | Self::ContactUpdate(e)
            | Self::ContactDelete(e)
            | Self::ContactTagUpdate(e)
            | Self::ContactDndUpdate(e) => e.location_id.as_deref(),
            Self::InvoiceCreate(e)
            | Self::InvoiceUpdate(e)
            | Self::InvoicePaid(e)
            | Self::InvoicePartiallyPaid(e)
            | Self::InvoiceVoid(e)
            | Self::InvoiceDelete(e)
            | Self::InvoiceSent(e)
            | Self::InvoiceChanged(e) => e.location_id.as_deref(),
            Self::AppInstall(e) | Self::AppUninstall(e) => e.location_id.as_deref(),
            Self::Unknown { raw, .. } => raw.get("locationId").and_then(Value::as_str),
        }
    }

    /// The record the event names; `None` for [`GhlEvent::Unknown`] and
    /// for an app event without a location or company id.
    pub fn record(&self) -> Option<RecordRef> {
        let r = |kind, id: &str, parent_id: Option<&String>| RecordRef {
            kind,
            id: id.to_string(),
            parent_id: parent_id.cloned(),
        };
        Some(match self {
            Self::ProductChanged(e) => r(EntityKind::Product, &e.product_id, None),
            Self::PriceChanged(e) => r(EntityKind::Price, &e.price_id, e.product_id.as_ref()),
            Self::OrderCreate(e) | Self::OrderStatusUpdate(e) => {
                r(EntityKind::Order, &e.order_id, None)
            }
            Self::ContactCreate(e)
            | Self::ContactUpdate(e)
            | Self::ContactDelete(e)
            | Self::ContactTagUpdate(e)
            | Self::ContactDndUpdate(e) => r(EntityKind::Contact, &e.contact_id, None),
            Self::InvoiceCreate(e)
            | Self::InvoiceUpdate(e)
            | Self::InvoicePaid(e)
            | Self::InvoicePartiallyPaid(e)
            | Self::InvoiceVoid(e)
            | Self::InvoiceDelete(e)
            | Self::InvoiceSent(e)
            | Self::InvoiceChanged(e) => r(EntityKind::Invoice, &e.invoice_id, None),
            Self::AppInstall(e) | Self::AppUninstall(e) => {
                let id = e.location_id.as_ref().or(e.company_id.as_ref())?;
                r(EntityKind::Installation, id, e.company_id.as_ref())
            }
            Self::Unknown { .. } => return None,
        })
    }

    /// Whether this is [`GhlEvent::Unknown`] (to be reported).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown { .. })
    }
}

/// Events whose `type` names them.
fn by_type(t: &str, obj: &Map<String, Value>) -> Option<GhlEvent> {
    use GhlEvent as E;
    Some(match t {
        "ContactCreate" => E::ContactCreate(contact(obj)?),
        "ContactUpdate" => E::ContactUpdate(contact(obj)?),
        "ContactDelete" => E::ContactDelete(contact(obj)?),
        "ContactTagUpdate" => E::ContactTagUpdate(contact(obj)?),
        "ContactDndUpdate" => E::ContactDndUpdate(contact(obj)?),
        "OrderCreate" => E::OrderCreate(order(obj)?),
        "OrderStatusUpdate" => E::OrderStatusUpdate(order(obj)?),
        "InvoiceCreate" => E::InvoiceCreate(invoice(obj)?),
        "InvoiceUpdate" => E::InvoiceUpdate(invoice(obj)?),
        "InvoicePaid" => E::InvoicePaid(invoice(obj)?),
        "InvoicePartiallyPaid" => E::InvoicePartiallyPaid(invoice(obj)?),
        "InvoiceVoid" => E::InvoiceVoid(invoice(obj)?),
        "InvoiceDelete" => E::InvoiceDelete(invoice(obj)?),
        "InvoiceSent" => E::InvoiceSent(invoice(obj)?),
        "INSTALL" | "AppInstall" => E::AppInstall(app(obj)),
        "UNINSTALL" | "AppUninstall" => E::AppUninstall(app(obj)),
        "ProductCreate" => E::ProductChanged(product(obj, Some(ChangeKind::Create))?),
        "ProductUpdate" => E::ProductChanged(product(obj, Some(ChangeKind::Update))?),
        "ProductDelete" => E::ProductChanged(product(obj, Some(ChangeKind::Delete))?),
        "PriceCreate" => E::PriceChanged(price(obj, Some(ChangeKind::Create))?),
        "PriceUpdate" => E::PriceChanged(price(obj, Some(ChangeKind::Update))?),
        "PriceDelete" => E::PriceChanged(price(obj, Some(ChangeKind::Delete))?),
        _ => return None,
    })
}

/// Events recognised by their fields: prices (`product` present, `type`
/// absent or a lower-case price type), products (`productType` present, no
/// `product`, no event `type`) and invoices without a `type`.
fn by_shape(obj: &Map<String, Value>, type_name: Option<&str>) -> Option<GhlEvent> {
    // Event names are PascalCase or upper case; price types are lower case.
    let type_is_price_type =
        type_name.is_none_or(|t| t.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    if obj.contains_key("product") && !obj.contains_key("items") && type_is_price_type {
        let kind = if flag(obj, "deleted") {
            Some(ChangeKind::Delete)
        } else if type_name.is_none() && obj.contains_key("priceType") {
            Some(ChangeKind::Create)
        } else {
            None
        };
        return price(obj, kind).map(GhlEvent::PriceChanged);
    }
    if type_name.is_some() {
        return None;
    }
    if obj.contains_key("productType") && !obj.contains_key("product") {
        let kind = if flag(obj, "deleted") {
            Some(ChangeKind::Delete)
        } else {
            match (string(obj, "createdAt"), string(obj, "updatedAt")) {
                (Some(c), Some(u)) if c == u => Some(ChangeKind::Create),
                _ => None,
            }
        };
        return product(obj, kind).map(GhlEvent::ProductChanged);
    }
    if obj.contains_key("invoiceNumber") || obj.contains_key("invoiceItems") {
        return invoice(obj).map(GhlEvent::InvoiceChanged);
    }
    None
}

fn product(obj: &Map<String, Value>, kind: Option<ChangeKind>) -> Option<ProductEvent> {
    Some(ProductEvent {
        webhook_id: string(obj, "webhookId"),
        location_id: string(obj, "locationId"),
        product_id: string(obj, "_id").or_else(|| string(obj, "id"))?,
        name: string(obj, "name"),
        product_type: string(obj, "productType"),
        kind,
    })
}

fn price(obj: &Map<String, Value>, kind: Option<ChangeKind>) -> Option<PriceEvent> {
    let price_type = string(obj, "priceType").or_else(|| {
        // `type` is the price type unless it names the event.
        string(obj, "type").filter(|t| !t.starts_with("Price"))
    });
    Some(PriceEvent {
        webhook_id: string(obj, "webhookId"),
        location_id: string(obj, "locationId"),
        price_id: string(obj, "_id").or_else(|| string(obj, "id"))?,
        product_id: obj.get("product").and_then(id_of),
        price_type,
        kind,
    })
}

fn order(obj: &Map<String, Value>) -> Option<OrderEvent> {
    let items = obj
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_object)
                .map(|item| OrderItemRef {
                    product_id: item
                        .get("product")
                        .and_then(id_of)
                        .or_else(|| string(item, "productId")),
                    price_id: item
                        .get("price")
                        .and_then(id_of)
                        .or_else(|| string(item, "priceId")),
                    qty: item.get("qty").and_then(Value::as_f64),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(OrderEvent {
        webhook_id: string(obj, "webhookId"),
        location_id: string(obj, "locationId").or_else(|| location_alt_id(obj)),
        order_id: string(obj, "_id").or_else(|| string(obj, "id"))?,
        contact_id: string(obj, "contactId").or_else(|| {
            obj.get("contactSnapshot")
                .and_then(Value::as_object)
                .and_then(|c| string(c, "id"))
        }),
        status: string(obj, "status"),
        items,
    })
}

fn contact(obj: &Map<String, Value>) -> Option<ContactEvent> {
    Some(ContactEvent {
        webhook_id: string(obj, "webhookId"),
        location_id: string(obj, "locationId"),
        contact_id: string(obj, "id").or_else(|| string(obj, "contactId"))?,
        email: string(obj, "email"),
    })
}

fn invoice(obj: &Map<String, Value>) -> Option<InvoiceEvent> {
    Some(InvoiceEvent {
        webhook_id: string(obj, "webhookId"),
        location_id: string(obj, "locationId").or_else(|| location_alt_id(obj)),
        invoice_id: string(obj, "_id").or_else(|| string(obj, "id"))?,
        status: string(obj, "status"),
    })
}

fn app(obj: &Map<String, Value>) -> AppEvent {
    AppEvent {
        webhook_id: string(obj, "webhookId"),
        app_id: string(obj, "appId"),
        location_id: string(obj, "locationId"),
        company_id: string(obj, "companyId"),
    }
}

/// `altId` when `altType` is `location`.
fn location_alt_id(obj: &Map<String, Value>) -> Option<String> {
    (string(obj, "altType").as_deref() == Some("location"))
        .then(|| string(obj, "altId"))
        .flatten()
}

/// A non-empty string field.
fn string(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// An id given as a string, or as an object with `_id` or `id`.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => string(o, "_id").or_else(|| string(o, "id")),
        _ => None,
    }
}

fn flag(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documented_examples_type_as_expected() {
        let product = json!({"_id": "p1", "locationId": "L", "name": "Awesome", "productType": "PHYSICAL",
                             "createdAt": "2023-11-20T10:23:36.515Z", "updatedAt": "2024-01-23T09:57:04.846Z"});
        let e = GhlEvent::from_value(product);
        assert!(
            matches!(&e, GhlEvent::ProductChanged(p) if p.product_id == "p1" && p.kind.is_none())
        );
        assert_eq!(e.location_id(), Some("L"));

        let create =
            json!({"_id": "pr1", "locationId": "L", "product": "p1", "priceType": "one_time"});
        let e = GhlEvent::from_value(create);
        assert!(
            matches!(&e, GhlEvent::PriceChanged(p) if p.kind == Some(ChangeKind::Create)
                && p.price_type.as_deref() == Some("one_time"))
        );
        assert_eq!(
            e.record(),
            Some(RecordRef {
                kind: EntityKind::Price,
                id: "pr1".into(),
                parent_id: Some("p1".into())
            })
        );

        let update = json!({"_id": "pr1", "locationId": "L", "product": "p1", "type": "recurring"});
        assert!(matches!(GhlEvent::from_value(update),
            GhlEvent::PriceChanged(p) if p.kind.is_none() && p.price_type.as_deref() == Some("recurring")));

        let install = json!({"type": "INSTALL", "appId": "a", "companyId": "c"});
        let e = GhlEvent::from_value(install);
        assert!(matches!(&e, GhlEvent::AppInstall(a) if a.location_id.is_none()));
        assert_eq!(e.record().map(|r| r.id), Some("c".to_string()));

        let invoice =
            json!({"_id": "i1", "altId": "L", "altType": "location", "invoiceNumber": "19"});
        let e = GhlEvent::from_value(invoice);
        assert!(matches!(&e, GhlEvent::InvoiceChanged(_)));
        assert_eq!(e.location_id(), Some("L"));
    }

    #[test]
    fn unknown_and_incomplete_payloads_are_kept() {
        let e = GhlEvent::from_value(json!({"type": "NoteCreate", "id": "n"}));
        assert!(matches!(&e, GhlEvent::Unknown { type_name: Some(t), .. } if t == "NoteCreate"));
        let e = GhlEvent::from_value(json!({"type": "ContactCreate"}));
        assert!(e.is_unknown() && e.record().is_none());
        assert!(GhlEvent::from_value(json!([1, 2])).is_unknown());
        assert!(GhlEvent::from_slice(b"{").is_err());
    }
}
