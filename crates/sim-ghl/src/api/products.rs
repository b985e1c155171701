//! Products, their prices and inventory (`/products/*`), single and in bulk.
//! Handlers check the request, build the typed input, call the rules in
//! `world::catalog` and answer; they hold no business rule (which fields a
//! `PUT` clears, what a bulk change does and which webhooks fire are the
//! world's). Envelopes differ by list, exactly as the spec defines them:
//! products answer `{products, total: [{total}]}` (an array), prices
//! `{prices, total}` (a number), inventory `{inventory, total: {total}}`
//! (an object).
//!
//! Every product or price write is checked by the same field checks
//! (`check_product_fields`, `check_price_fields`), whichever endpoint
//! carries it. The bulk edit (`POST /products/bulk-update/edit`) takes at
//! most [`BULK_EDIT_MAX_ENTITIES`](crate::world::catalog::BULK_EDIT_MAX_ENTITIES) products and prices counted together.
//! The spec gives the bulk edit no `security` block; the simulator asks for
//! `products.write` on a location token, as its sibling bulk update does.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde_json::{Number, Value, json};

use super::{Params, page};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiResult, created, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::catalog::{
    BulkChange, PriceFields, PriceRule, PriceRuleKind, ProductEdit, ProductFields, StockChange,
    check_bulk_edit_size,
};

const PRODUCT_TYPES: &[&str] = &["DIGITAL", "PHYSICAL", "SERVICE", "PHYSICAL/DIGITAL"];

/// The fields any product write may carry (create, `PUT`, bulk edit), each
/// checked by one rule.
fn check_product_fields(body: &mut Body, out: &mut ProductFields) {
    out.description = body.opt_str("description");
    out.image = body.opt_str("image");
    out.slug = body.opt_str("slug");
    out.automatic_tax_category_id = body.opt_str("automaticTaxCategoryId");
    out.available_in_store = body.opt_bool("availableInStore");
    out.is_taxes_enabled = body.opt_bool("isTaxesEnabled");
    out.tax_inclusive = body.opt_bool("taxInclusive");
    out.is_label_enabled = body.opt_bool("isLabelEnabled");
    out.collection_ids = body.opt_str_array("collectionIds");
    out.medias = body.opt_array("medias");
    out.seo = body.opt_object("seo");
    out.label = body.opt_object("label");
}

/// The body of a product create or `PUT`: its location and its fields.
fn check_product(body: &mut Body) -> (String, ProductFields) {
    let name = body.req_str("name");
    let location_id = body.req_str("locationId");
    let mut fields = ProductFields {
        name: Some(name),
        product_type: Some(body.req_enum("productType", PRODUCT_TYPES)),
        statement_descriptor: body.opt_str("statementDescriptor"),
        taxes: body
            .opt_str_array("taxes")
            .map(|ids| ids.into_iter().map(Value::String).collect()),
        variants: body.opt_array("variants"),
        ..ProductFields::default()
    };
    check_product_fields(body, &mut fields);
    (location_id, fields)
}

/// A currency as HighLevel takes it: three letters, kept upper-case.
fn check_currency(body: &mut Body, currency: &str) -> String {
    if currency.is_empty() {
        body.error("currency should not be empty");
    } else if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        body.error("currency must be a valid ISO 4217 currency code");
    }
    currency.to_uppercase()
}

/// A numeric price field of at least `min`, as written (`3` stays `3`).
fn check_number(body: &mut Body, key: &str, min: f64) -> Option<Number> {
    let value = body.opt_num(key)?;
    body.min(key, Some(value), min);
    match body.raw(key) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    }
}

/// The fields any price write may carry (create, `PUT`, bulk edit), each
/// checked by one rule.
fn check_price_fields(body: &mut Body, out: &mut PriceFields) {
    if let Some(c) = body.opt_str("currency") {
        out.currency = Some(check_currency(body, &c));
    }
    out.amount = check_number(body, "amount", 0.0);
    out.trial_period = check_number(body, "trialPeriod", 0.0);
    out.total_cycles = check_number(body, "totalCycles", 1.0);
    out.setup_fee = check_number(body, "setupFee", 0.0);
    out.compare_at_price = check_number(body, "compareAtPrice", 0.0);
    out.available_quantity = check_number(body, "availableQuantity", 0.0);
    out.track_inventory = body.opt_bool("trackInventory");
    out.allow_out_of_stock_purchases = body.opt_bool("allowOutOfStockPurchases");
    out.is_digital_product = body.opt_bool("isDigitalProduct");
    if let Some(r) = body.opt_object("recurring") {
        let interval = r.get("interval").and_then(Value::as_str).unwrap_or("");
        if !["day", "week", "month", "year"].contains(&interval) {
            body.error(
                "recurring.interval must be one of the following values: day, month, week, year",
            );
        }
        if r.get("intervalCount")
            .and_then(Value::as_f64)
            .is_none_or(|n| n < 1.0)
        {
            body.error("recurring.intervalCount must not be less than 1");
        }
        out.recurring = Some(r);
    }
    out.description = body.opt_str("description");
    out.sku = body.opt_str("sku");
    out.user_id = body.opt_str("userId");
    out.shipping_options = body.opt_object("shippingOptions");
}

/// The body of a price create or `PUT`: its location and its fields.
fn check_price(body: &mut Body) -> (String, PriceFields) {
    let mut fields = PriceFields {
        name: Some(body.req_str("name")),
        kind: Some(body.req_enum("type", &["one_time", "recurring"])),
        ..PriceFields::default()
    };
    if body.raw("currency").is_none() {
        body.req_str("currency");
    }
    if body.raw("amount").is_none() {
        body.req_num("amount");
    }
    let location_id = body.req_str("locationId");
    check_price_fields(body, &mut fields);
    if fields.kind.as_deref() == Some("recurring") && fields.recurring.is_none() {
        body.error("recurring should not be empty");
    }
    fields.variant_option_ids = Some(body.opt_str_array("variantOptionIds").unwrap_or_default());
    fields.membership_offers = Some(match body.raw("membershipOffers") {
        Some(Value::Array(m)) => m.clone(),
        _ => Vec::new(),
    });
    (location_id, fields)
}

/// A comma-separated id list of the query.
fn id_list(q: &Params, key: &str) -> Option<Vec<String>> {
    q.get(key)
        .map(|s| s.split(',').map(str::to_string).collect())
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    let limit = check.num("limit", 100);
    let offset = check.num("offset", 0);
    check.finish()?;
    caller.check_location(&loc_id)?;
    let wanted = id_list(&q, "productIds");
    sim.read(|w| {
        let found = w
            .location(&loc_id)?
            .products_matching(q.get("search").map(String::as_str), wanted.as_deref());
        let (products, total) = page(found, offset, limit);
        ok(json!({"products": products, "total": [{"total": total}]}))
    })
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (loc_id, fields) = check_product(&mut body);
    body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let product = w
            .location_mut(&loc_id)?
            .create_product(fields, &sim.user_id);
        created(json!(product))
    })
}

pub async fn get(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    check.finish()?;
    caller.check_location(&loc_id)?;
    sim.read(|w| ok(json!(w.location(&loc_id)?.product(&product_id)?)))
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (loc_id, fields) = check_product(&mut body);
    let price_ids = body.opt_str_array("prices");
    body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let product =
            w.location_mut(&loc_id)?
                .replace_product(&product_id, fields, price_ids.as_deref())?;
        ok(json!(product))
    })
}

pub async fn delete(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    check.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        w.location_mut(&loc_id)?.delete_product(&product_id)?;
        ok(json!({"status": true}))
    })
}

pub async fn list_prices(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    let limit = check.num("limit", 100);
    let offset = check.num("offset", 0);
    check.finish()?;
    caller.check_location(&loc_id)?;
    let ids = id_list(&q, "ids");
    sim.read(|w| {
        let found = w
            .location(&loc_id)?
            .prices_of(&product_id, ids.as_deref())?;
        let (prices, total) = page(found, offset, limit);
        ok(json!({"prices": prices, "total": total}))
    })
}

pub async fn create_price(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (loc_id, fields) = check_price(&mut body);
    body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let price = w
            .location_mut(&loc_id)?
            .create_price(&product_id, fields, &sim.user_id)?;
        created(json!(price))
    })
}

pub async fn get_price(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path((product_id, price_id)): Path<(String, String)>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    check.finish()?;
    caller.check_location(&loc_id)?;
    sim.read(|w| ok(json!(w.location(&loc_id)?.price(&product_id, &price_id)?)))
}

pub async fn update_price(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path((product_id, price_id)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let (loc_id, fields) = check_price(&mut body);
    body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let price = w
            .location_mut(&loc_id)?
            .replace_price(&product_id, &price_id, fields)?;
        ok(json!(price))
    })
}

pub async fn delete_price(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path((product_id, price_id)): Path<(String, String)>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let loc_id = check.req("locationId");
    check.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        w.location_mut(&loc_id)?
            .delete_price(&product_id, &price_id)?;
        ok(json!({"status": true}))
    })
}

pub async fn get_inventory(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    let limit = check.num("limit", 100);
    let offset = check.num("offset", 0);
    check.finish()?;
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let items = w
            .location(&alt_id)?
            .inventory(q.get("search").map(String::as_str));
        let (inventory, total) = page(items.iter(), offset, limit);
        ok(json!({"inventory": inventory, "total": {"total": total}}))
    })
}

/// `POST /products/inventory`: many prices' stock in one request (`items`,
/// an array; the spec sets no limit on its length).
pub async fn update_inventory(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_location();
    let items = body.req_array("items");
    let mut changes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let change = body.nested(&format!("items.{i}"), item, |item| StockChange {
            price_id: item.req_str("priceId"),
            available_quantity: check_number(item, "availableQuantity", 0.0),
            allow_out_of_stock_purchases: item.opt_bool("allowOutOfStockPurchases"),
        });
        changes.extend(change);
    }
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        w.location_mut(&alt_id)?.update_inventory(changes)?;
        created(json!({"status": true, "message": "Inventory updated"}))
    })
}

/// An optional `name` of a bulk edit entry: when carried, not empty.
fn check_bulk_name(body: &mut Body) -> Option<String> {
    let name = body.opt_str("name")?;
    if name.is_empty() {
        body.error("name should not be empty");
    }
    Some(name)
}

/// A `BulkEditPriceDto`: `_id` and the price fields it changes.
fn check_bulk_price(body: &mut Body) -> (String, PriceFields) {
    let id = body.req_str("_id");
    let mut fields = PriceFields {
        name: check_bulk_name(body),
        ..PriceFields::default()
    };
    check_price_fields(body, &mut fields);
    (id, fields)
}

/// A `BulkEditProductDto`: `_id`, the product fields it changes, its prices.
fn check_bulk_product(body: &mut Body) -> ProductEdit {
    let id = body.req_str("_id");
    let mut fields = ProductFields {
        name: check_bulk_name(body),
        ..ProductFields::default()
    };
    check_product_fields(body, &mut fields);
    // Tax objects here, where create and PUT take tax ids.
    fields.taxes = body.opt_array("taxes");
    let mut prices = Vec::new();
    for (i, price) in body
        .opt_array("prices")
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        prices.extend(body.nested(&format!("prices.{i}"), price, check_bulk_price));
    }
    ProductEdit { id, fields, prices }
}

/// `POST /products/bulk-update/edit`: products and their prices edited in
/// one request, at most [`BULK_EDIT_MAX_ENTITIES`](crate::world::catalog::BULK_EDIT_MAX_ENTITIES) of them counted together.
/// Answers 201 `{message, status, updatedCount}` (the products edited).
pub async fn bulk_edit(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_location();
    let entries = body.req_array("products");
    let mut edits = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        edits.extend(body.nested(&format!("products.{i}"), entry, check_bulk_product));
    }
    body.finish()?;
    // Refused before the location is looked at, as HighLevel does.
    check_bulk_edit_size(&edits)?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let updated = w.location_mut(&alt_id)?.bulk_edit(edits)?;
        created(json!({
            "message": "Products updated successfully",
            "status": true,
            "updatedCount": updated,
        }))
    })
}

/// The operations of `POST /products/bulk-update`.
const BULK_UPDATE_TYPES: &[&str] = &[
    "bulk-update-price",
    "bulk-update-availability",
    "bulk-update-product-collection",
    "bulk-delete-products",
    "bulk-update-currency",
];

const PRICE_RULES: &[(&str, PriceRuleKind)] = &[
    ("INCREASE_BY_AMOUNT", PriceRuleKind::IncreaseByAmount),
    ("REDUCE_BY_AMOUNT", PriceRuleKind::ReduceByAmount),
    ("SET_NEW_PRICE", PriceRuleKind::SetNewPrice),
    (
        "INCREASE_BY_PERCENTAGE",
        PriceRuleKind::IncreaseByPercentage,
    ),
    ("REDUCE_BY_PERCENTAGE", PriceRuleKind::ReduceByPercentage),
];

/// A `PriceUpdateField` (`None` when its type is not a rule).
fn check_price_rule(body: &mut Body) -> Option<PriceRule> {
    let names: Vec<&str> = PRICE_RULES.iter().map(|(name, _)| *name).collect();
    let kind = body.req_enum("type", &names);
    let value = body.req_num("value");
    let round_to_whole = body.opt_bool("roundToWhole").unwrap_or(false);
    let kind = PRICE_RULES.iter().find(|(name, _)| *name == kind)?.1;
    Some(PriceRule {
        kind,
        value,
        round_to_whole,
    })
}

/// The body of `POST /products/bulk-update`, checked: its location, its
/// operation (the answer's message says which), the products it names and
/// the change (`None` when a problem was recorded).
struct BulkUpdate {
    alt_id: String,
    kind: String,
    product_ids: Vec<String>,
    change: Option<BulkChange>,
}

fn check_bulk_update(body: &mut Body) -> BulkUpdate {
    let alt_id = body.req_location();
    let kind = body.req_enum("type", BULK_UPDATE_TYPES);
    if body.raw("productIds").is_none() {
        body.error("productIds must be an array");
    }
    let product_ids = body.opt_str_array("productIds").unwrap_or_default();
    if let Some(filters) = body.raw("filters").cloned() {
        body.nested("filters", &filters, |f| {
            f.opt_str_array("collectionIds");
            f.opt_str("productType");
            f.opt_bool("availableInStore");
            f.opt_str("search");
        });
    }
    // Outer `None`: no rule object; inner `None`: not a rule.
    let rule = |body: &mut Body, key: &str| {
        let value = body.raw(key).cloned()?;
        body.nested(key, &value, check_price_rule)
    };
    let amount_rule = rule(body, "price");
    let compare_at_price_rule = rule(body, "compareAtPrice");
    let no_rule = amount_rule.is_none() && compare_at_price_rule.is_none();
    let (amount, compare_at_price) = (amount_rule.flatten(), compare_at_price_rule.flatten());
    let availability = body.opt_bool("availability");
    let collection_ids = body.opt_str_array("collectionIds");
    let currency = body.opt_str("currency").map(|c| check_currency(body, &c));
    let change = match kind.as_str() {
        "bulk-update-price" => {
            if no_rule {
                body.error("price should not be empty");
            }
            (amount.is_some() || compare_at_price.is_some()).then_some(BulkChange::Prices {
                amount,
                compare_at_price,
            })
        }
        "bulk-update-availability" => {
            if availability.is_none() && body.raw("availability").is_none() {
                body.error("availability must be a boolean value");
            }
            availability.map(BulkChange::Availability)
        }
        "bulk-update-product-collection" => {
            if body.raw("collectionIds").is_none() {
                body.error("collectionIds must be an array");
            }
            collection_ids.map(BulkChange::Collections)
        }
        "bulk-update-currency" => {
            if body.raw("currency").is_none() {
                body.error("currency should not be empty");
            }
            currency.map(BulkChange::Currency)
        }
        "bulk-delete-products" => Some(BulkChange::Delete),
        _ => None,
    };
    BulkUpdate {
        alt_id,
        kind,
        product_ids,
        change,
    }
}

/// `POST /products/bulk-update`: one change to every product in
/// `productIds` (a price rule, availability, collections, currency, or
/// delete). The spec ties `filters` to a `selectAll` flag its body does not
/// define, so the products changed are always those of `productIds` (the
/// filters are checked, not applied). Answers 201 `{status, message}`.
pub async fn bulk_update(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let BulkUpdate {
        alt_id,
        kind,
        product_ids,
        change,
    } = check_bulk_update(&mut body);
    let change = body.finish_with(change)?;
    caller.check_location(&alt_id)?;
    let message = match kind.as_str() {
        "bulk-update-price" => "Prices updated successfully",
        "bulk-update-currency" => "Currency updated successfully",
        "bulk-delete-products" => "Products deleted successfully",
        _ => "Products updated successfully",
    };
    sim.commit(|w| {
        w.location_mut(&alt_id)?.bulk_update(&product_ids, change)?;
        created(json!({"status": true, "message": message}))
    })
}
