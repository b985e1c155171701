//! HighLevel's records and request bodies as the specs define them, with
//! their quirks: `limitPerCustomer` is a boolean in requests and a number in
//! answers; amounts are JSON numbers in major units (converted exactly to
//! [`model::Money`] by the client); ids are `_id` on most records and `id`
//! on contacts. Unknown fields are kept in `extra` where a record is
//! written back, so nothing HighLevel holds is lost by a round trip. The
//! bulk edits and changes hold amounts as [`model::Money`]; the client
//! writes them as numbers only in the request body.

use model::{Currency, Money, Percent};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A count HighLevel may write as `3` or `3.0`.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v: Option<Value> = Option::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let f = n.as_f64().unwrap_or(-1.0);
            if f >= 0.0 && f.fract() == 0.0 && f <= f64::from(u32::MAX) {
                Ok(Some(f as u32))
            } else {
                Err(serde::de::Error::custom(format!(
                    "expected a whole count, got {n}"
                )))
            }
        }
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a number, got {other}"
        ))),
    }
}

/// `percentage` or `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscountType {
    Percentage,
    Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FuturePaymentsConfig {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_type: Option<String>,
}

/// A coupon as HighLevel answers it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub code: String,
    pub discount_type: DiscountType,
    pub discount_value: serde_json::Number,
    #[serde(default)]
    pub status: String,
    pub start_date: String,
    #[serde(default)]
    pub end_date: Option<String>,
    #[serde(default)]
    pub usage_count: f64,
    #[serde(default)]
    pub usage_limit: Option<f64>,
    /// 0 = unlimited; 1 = once per customer.
    #[serde(default)]
    pub limit_per_customer: f64,
    #[serde(default)]
    pub product_ids: Vec<String>,
    #[serde(default = "yes")]
    pub apply_to_future_payments: bool,
    #[serde(default)]
    pub apply_to_future_payments_config: Option<FuturePaymentsConfig>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

fn yes() -> bool {
    true
}

/// A create or update body for a coupon (`id` only on update).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponInput {
    pub name: String,
    pub code: String,
    pub discount_type: DiscountType,
    pub discount_value: f64,
    pub start_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_ids: Vec<String>,
    pub apply_to_future_payments: bool,
    pub limit_per_customer: bool,
}

/// A product as HighLevel answers it (and as the engine keeps it beside a
/// link, serialized the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    #[serde(rename = "_id")]
    pub id: String,
    pub location_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub product_type: String,
    #[serde(default)]
    pub available_in_store: Option<bool>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A create or update body for a product.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductInput {
    pub name: String,
    pub location_id: String,
    pub product_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_in_store: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// URL slug; HighLevel also finds a product by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recurring {
    pub interval: String,
    pub interval_count: u32,
}

/// A price as HighLevel answers it (and as the engine keeps it beside a
/// link, serialized the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub product: String,
    pub name: String,
    /// `one_time` or `recurring`.
    #[serde(rename = "type")]
    pub kind: String,
    pub currency: String,
    pub amount: serde_json::Number,
    #[serde(default)]
    pub recurring: Option<Recurring>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub trial_period: Option<u32>,
    #[serde(default, deserialize_with = "lenient_u32")]
    pub total_cycles: Option<u32>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub track_inventory: Option<bool>,
    #[serde(default)]
    pub available_quantity: Option<f64>,
    #[serde(default)]
    pub allow_out_of_stock_purchases: Option<bool>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A create or update body for a price.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceInput {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub currency: String,
    /// Major units, written from exact minor units.
    pub amount: f64,
    pub location_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Recurring>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_period: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cycles: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_inventory: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_out_of_stock_purchases: Option<bool>,
}

/// One row of `GET /products/inventory`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    /// The price id.
    #[serde(rename = "_id")]
    pub price_id: String,
    pub name: String,
    pub available_quantity: f64,
    #[serde(default)]
    pub sku: String,
    pub allow_out_of_stock_purchases: bool,
    pub product: String,
}

/// One change of `POST /products/inventory`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryChange {
    pub price_id: String,
    pub available_quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_out_of_stock_purchases: Option<bool>,
}

/// One product of a bulk edit (`POST /products/bulk-update/edit`): its id,
/// the product fields to change, and its prices' edits. Fields left `None`
/// stay as HighLevel holds them: a bulk edit sets, it never clears (a
/// product's type, or clearing a field, takes the single `PUT`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductEdit {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub available_in_store: Option<bool>,
    /// URL slug; HighLevel also finds a product by it.
    pub slug: Option<String>,
    pub collection_ids: Option<Vec<String>>,
    pub prices: Vec<PriceEdit>,
}

/// One price of a bulk edit: its id and the fields to change (`None` stays
/// as it is). A price's type (one-time or recurring) and description are
/// not in the bulk edit; they take the single `PUT`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceEdit {
    pub id: String,
    pub name: Option<String>,
    /// The amount and its currency (`amount` and `currency` on the wire).
    pub amount: Option<Money>,
    /// In the currency of `amount` when both are given.
    pub compare_at_price: Option<Money>,
    /// In the currency of `amount` when both are given.
    pub setup_fee: Option<Money>,
    pub recurring: Option<Recurring>,
    pub trial_period: Option<u32>,
    pub total_cycles: Option<u32>,
    pub sku: Option<String>,
    pub track_inventory: Option<bool>,
    pub available_quantity: Option<u32>,
    pub allow_out_of_stock_purchases: Option<bool>,
}

/// How `POST /products/bulk-update` changes every price of its products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRule {
    /// Adds the amount (written in the amount's currency's major units;
    /// HighLevel adds the same number to every price, whatever its currency).
    IncreaseByAmount(Money),
    ReduceByAmount(Money),
    SetNewPrice(Money),
    IncreaseByPercent(Percent),
    ReduceByPercent(Percent),
}

/// A [`PriceRule`] and whether HighLevel rounds the result to a whole unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceChange {
    pub rule: PriceRule,
    pub round_to_whole: bool,
}

/// One change `POST /products/bulk-update` makes to every product it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkChange {
    /// A rule applied to every price's amount and/or compare-at price.
    Prices {
        price: Option<PriceChange>,
        compare_at_price: Option<PriceChange>,
    },
    /// Shown in the store or not.
    Availability(bool),
    /// The products' collections, replaced.
    Collections(Vec<String>),
    /// Every price's currency (the amounts are not converted).
    Currency(Currency),
    /// The products and their prices deleted.
    Delete,
}

impl BulkChange {
    /// The body's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            BulkChange::Prices { .. } => "bulk-update-price",
            BulkChange::Availability(_) => "bulk-update-availability",
            BulkChange::Collections(_) => "bulk-update-product-collection",
            BulkChange::Currency(_) => "bulk-update-currency",
            BulkChange::Delete => "bulk-delete-products",
        }
    }

    /// Whether repeating the change after a lost answer would change the
    /// records again (a relative price rule): such a request is retried only
    /// when HighLevel refused it (429), never after a lost answer.
    pub fn repeats_change(&self) -> bool {
        let relative = |c: &Option<PriceChange>| {
            c.is_some_and(|c| !matches!(c.rule, PriceRule::SetNewPrice(_)))
        };
        matches!(self, BulkChange::Prices { price, compare_at_price }
            if relative(price) || relative(compare_at_price))
    }
}

/// A product line of an order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderItem {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub qty: f64,
    #[serde(default)]
    pub product: Option<Value>,
    #[serde(default)]
    pub price: Option<Value>,
}

impl OrderItem {
    pub fn product_id(&self) -> Option<&str> {
        self.product.as_ref()?.get("_id")?.as_str()
    }
    pub fn price_id(&self) -> Option<&str> {
        self.price.as_ref()?.get("_id")?.as_str()
    }
}

/// An order (`GET /payments/orders/{id}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(rename = "_id")]
    pub id: String,
    pub alt_id: String,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub amount: Option<serde_json::Number>,
    pub status: String,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub contact_snapshot: Option<Value>,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Order {
    /// Paid: `paymentStatus` paid, or status completed where the payment status is absent.
    pub fn is_paid(&self) -> bool {
        match self.payment_status.as_deref() {
            Some(p) => p == "paid",
            None => self.status == "completed",
        }
    }
}

/// A row of `GET /payments/orders`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    #[serde(rename = "_id")]
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A payment transaction.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub amount: Option<serde_json::Number>,
    #[serde(default)]
    pub status: Value,
    #[serde(default)]
    pub entity_type: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub entity_source_meta: Option<Value>,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The body of `POST /contacts/upsert`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactUpsert {
    pub location_id: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    #[serde(rename = "_id")]
    pub id: String,
    pub status: String,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    pub currency: String,
    pub total: serde_json::Number,
    pub amount_paid: serde_json::Number,
    pub amount_due: serde_json::Number,
    #[serde(default)]
    pub invoice_number: Option<Value>,
    #[serde(default)]
    pub terms_notes: Option<String>,
    #[serde(default)]
    pub contact_details: Option<Value>,
}

/// One line of a new invoice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceItemInput {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_id: Option<String>,
    pub currency: String,
    pub amount: f64,
    pub qty: u32,
}

/// What allybridge needs to say to create an invoice; the client fills the
/// fields HighLevel requires around it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceInput {
    /// Shown as the invoice name; carries the external order reference.
    pub name: String,
    pub title: Option<String>,
    pub currency: String,
    pub items: Vec<InvoiceItemInput>,
    /// A fixed discount in major units (0 for none).
    pub discount: f64,
    pub contact_id: String,
    pub contact_name: String,
    pub contact_email: String,
    pub business_name: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    pub terms_notes: Option<String>,
}

/// The body of `POST /invoices/{id}/record-payment`.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentInput {
    /// `cash`, `card`, `cheque`, `bank_transfer` or `other`.
    pub mode: String,
    /// Major units; `None` pays the amount due.
    pub amount: Option<f64>,
    pub notes: String,
    pub meta: Option<Map<String, Value>>,
}
