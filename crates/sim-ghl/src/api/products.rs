//! Products, their prices and inventory (`/products/*`), single and in bulk.
//! Envelopes differ by list, exactly as the spec defines them: products
//! answer `{products, total: [{total}]}` (an array), prices `{prices,
//! total}` (a number), inventory `{inventory, total: {total}}` (an object).
//! Changes fire Product* and Price* webhooks; PriceCreate carries the price
//! type as `priceType`, PriceUpdate and PriceDelete as `type`, as
//! documented.
//!
//! Every change of a product or a price, whichever endpoint asks for it
//! (`PUT` of one record, `POST /products/inventory`, the bulk edit and the
//! bulk update), goes through the same field rules (`check_product_fields`,
//! `check_price_fields`) and the same edit (`edit_product`, `edit_price`,
//! `remove_product`), which fire the same events. A `PUT` replaces the
//! record (optional text fields it leaves out are cleared); the bulk
//! endpoints and inventory change only the fields they carry.
//!
//! The bulk endpoints (`POST /products/bulk-update/edit`, at most
//! [`BULK_EDIT_MAX_ENTITIES`] products and prices counted together, and
//! `POST /products/bulk-update`) check the whole request before changing
//! anything: one unknown product or price, or a price that a rule would take
//! below zero, refuses all of it with a 400. HighLevel does not document
//! which webhooks a bulk change fires. The simulator fires what the
//! single-record endpoints fire for the same change: `ProductUpdate` for
//! each product whose own fields a bulk edit carries (an entry with only
//! `_id` and `prices` changes no product field and fires none),
//! `PriceUpdate` for each price edited (by the bulk edit, a price rule or a
//! currency change), `ProductUpdate` for an availability or collection
//! change, and `ProductDelete` for each product a bulk delete removes (whose
//! prices go with it without a `PriceDelete`, as with a single delete).
//! The spec gives the bulk edit no `security` block; the simulator asks for
//! `products.write` on a location token, as its sibling bulk update does.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Params, location, location_mut, matches_search, page};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, created, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::{Location, World, now_iso, set, str_of};

const PRODUCT_TYPES: &[&str] = &["DIGITAL", "PHYSICAL", "SERVICE", "PHYSICAL/DIGITAL"];

/// The most products and prices, counted together, one bulk edit may carry
/// (the spec: "max 30 entities", "the total count includes all prices
/// within each product").
pub const BULK_EDIT_MAX_ENTITIES: usize = 30;

/// Optional product fields a `PUT` replaces: left out, they are cleared.
const PRODUCT_PUT_CLEARS: &[&str] = &["description", "image", "statementDescriptor", "slug"];

/// Optional price fields a `PUT` replaces: left out, they are cleared.
const PRICE_PUT_CLEARS: &[&str] = &[
    "recurring",
    "description",
    "sku",
    "trialPeriod",
    "totalCycles",
    "setupFee",
    "compareAtPrice",
];

/// The fields any product write may carry (create, `PUT`, bulk edit), each
/// checked by one rule.
fn check_product_fields(body: &mut Body, out: &mut Map<String, Value>) {
    for key in ["description", "image", "slug", "automaticTaxCategoryId"] {
        if let Some(v) = body.opt_str(key) {
            out.insert(key.into(), json!(v));
        }
    }
    for key in [
        "availableInStore",
        "isTaxesEnabled",
        "taxInclusive",
        "isLabelEnabled",
    ] {
        if let Some(v) = body.opt_bool(key) {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(v) = body.opt_str_array("collectionIds") {
        out.insert("collectionIds".into(), json!(v));
    }
    if let Some(v) = body.opt_array("medias") {
        out.insert("medias".into(), Value::Array(v));
    }
    for key in ["seo", "label"] {
        if let Some(v) = body.opt_object(key) {
            out.insert(key.into(), Value::Object(v));
        }
    }
}

/// The body of a product create or `PUT`.
fn check_product(body: &mut Body) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(body.req_str("name")));
    body.req_str("locationId");
    out.insert(
        "productType".into(),
        json!(body.req_enum("productType", PRODUCT_TYPES)),
    );
    if let Some(v) = body.opt_str("statementDescriptor") {
        out.insert("statementDescriptor".into(), json!(v));
    }
    if let Some(v) = body.opt_str_array("taxes") {
        out.insert("taxes".into(), json!(v));
    }
    if let Some(v) = body.opt_array("variants") {
        out.insert("variants".into(), Value::Array(v));
    }
    check_product_fields(body, &mut out);
    out
}

/// A currency as HighLevel takes it: three letters, kept upper-case.
fn check_currency(body: &mut Body, currency: &str) -> Value {
    if currency.is_empty() {
        body.error("currency should not be empty");
    } else if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        body.error("currency must be a valid ISO 4217 currency code");
    }
    json!(currency.to_uppercase())
}

/// Numeric price fields and their least value.
const PRICE_NUMBERS: &[(&str, f64)] = &[
    ("amount", 0.0),
    ("trialPeriod", 0.0),
    ("totalCycles", 1.0),
    ("setupFee", 0.0),
    ("compareAtPrice", 0.0),
    ("availableQuantity", 0.0),
];

/// Boolean price fields.
const PRICE_FLAGS: &[&str] = &[
    "trackInventory",
    "allowOutOfStockPurchases",
    "isDigitalProduct",
];

/// One numeric or boolean price field (`key` from [`PRICE_NUMBERS`] or
/// [`PRICE_FLAGS`]), checked by its rule and copied as written (`3` stays
/// `3`, not `3.0`).
fn check_price_value(body: &mut Body, key: &str, out: &mut Map<String, Value>) {
    if let Some((_, min)) = PRICE_NUMBERS.iter().find(|(k, _)| *k == key) {
        if let Some(v) = body.opt_num(key) {
            body.min(key, Some(v), *min);
            out.insert(key.into(), body.raw(key).cloned().unwrap_or(json!(v)));
        }
    } else if let Some(v) = body.opt_bool(key) {
        out.insert(key.into(), json!(v));
    }
}

/// The fields any price write may carry (create, `PUT`, bulk edit), each
/// checked by one rule.
fn check_price_fields(body: &mut Body, out: &mut Map<String, Value>) {
    if let Some(c) = body.opt_str("currency") {
        let c = check_currency(body, &c);
        out.insert("currency".into(), c);
    }
    for (key, _) in PRICE_NUMBERS {
        check_price_value(body, key, out);
    }
    for key in PRICE_FLAGS {
        check_price_value(body, key, out);
    }
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
        out.insert("recurring".into(), Value::Object(r));
    }
    for key in ["description", "sku", "userId"] {
        if let Some(v) = body.opt_str(key) {
            out.insert(key.into(), json!(v));
        }
    }
    if let Some(v) = body.opt_object("shippingOptions") {
        out.insert("shippingOptions".into(), Value::Object(v));
    }
}

/// The body of a price create or `PUT`.
fn check_price(body: &mut Body) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(body.req_str("name")));
    let kind = body.req_enum("type", &["one_time", "recurring"]);
    out.insert("type".into(), json!(kind));
    if body.raw("currency").is_none() {
        body.req_str("currency");
    }
    if body.raw("amount").is_none() {
        body.req_num("amount");
    }
    body.req_str("locationId");
    check_price_fields(body, &mut out);
    if kind == "recurring" && !out.contains_key("recurring") {
        body.error("recurring should not be empty");
    }
    out.insert(
        "variantOptionIds".into(),
        json!(body.opt_str_array("variantOptionIds").unwrap_or_default()),
    );
    let offers = match body.raw("membershipOffers") {
        Some(Value::Array(m)) => m.clone(),
        _ => Vec::new(),
    };
    out.insert("membershipOffers".into(), Value::Array(offers));
    out
}

/// Finds a product by id or slug.
fn find_product<'a>(loc: &'a Location, id_or_slug: &str) -> Option<&'a Value> {
    loc.products
        .get(id_or_slug)
        .or_else(|| loc.products.group(id_or_slug).next())
}

fn resolve_product_id(loc: &Location, id_or_slug: &str) -> Result<String, ApiError> {
    find_product(loc, id_or_slug)
        .map(|p| str_of(p, "_id").to_string())
        .ok_or_else(|| ApiError::not_found("Product"))
}

fn price_event(w: &mut World, name: &'static str, location_id: &str, price: &Value) {
    let mut payload = price.clone();
    if name == "PriceCreate"
        && let Value::Object(map) = &mut payload
        && let Some(t) = map.remove("type")
    {
        map.insert("priceType".into(), t);
    }
    w.emit(name, location_id, payload);
}

/// Changes one product as every product update does: the `cleared` fields
/// removed, `fields` set, `updatedAt` stamped, the record replaced whole (so
/// the slug index follows a new slug), and `ProductUpdate` fired.
fn edit_product(
    w: &mut World,
    loc_id: &str,
    id: &str,
    cleared: &[&str],
    fields: Map<String, Value>,
) -> Result<Value, ApiError> {
    let loc = location_mut(w, loc_id)?;
    let mut product = loc
        .products
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Product"))?;
    if let Value::Object(map) = &mut product {
        for key in cleared {
            map.remove(*key);
        }
    }
    for (k, v) in fields {
        set(&mut product, &k, v);
    }
    set(&mut product, "updatedAt", json!(now_iso()));
    loc.products.insert(id.to_string(), product.clone());
    w.emit("ProductUpdate", loc_id, product.clone());
    Ok(product)
}

/// Changes one price as every price update does: the `cleared` fields
/// removed, `fields` set, `updatedAt` stamped, and `PriceUpdate` fired.
fn edit_price(
    w: &mut World,
    loc_id: &str,
    price_id: &str,
    cleared: &[&str],
    fields: Map<String, Value>,
) -> Result<Value, ApiError> {
    let loc = location_mut(w, loc_id)?;
    let price = loc
        .prices
        .get_mut(price_id)
        .ok_or_else(|| ApiError::not_found("Price"))?;
    if let Value::Object(map) = price {
        for key in cleared {
            map.remove(*key);
        }
    }
    for (k, v) in fields {
        set(price, &k, v);
    }
    set(price, "updatedAt", json!(now_iso()));
    let price = price.clone();
    price_event(w, "PriceUpdate", loc_id, &price);
    Ok(price)
}

/// Deletes a product and its prices and fires `ProductDelete` (no
/// `PriceDelete` for the prices that go with it).
fn remove_product(w: &mut World, loc_id: &str, id: &str) -> Result<(), ApiError> {
    let loc = location_mut(w, loc_id)?;
    let product = loc
        .products
        .remove(id)
        .ok_or_else(|| ApiError::not_found("Product"))?;
    let price_ids: Vec<String> = loc
        .prices
        .group(id)
        .map(|p| str_of(p, "_id").to_string())
        .collect();
    for p in price_ids {
        loc.prices.remove(&p);
    }
    w.emit("ProductDelete", loc_id, product);
    Ok(())
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
    let wanted: Option<Vec<String>> = q
        .get("productIds")
        .map(|s| s.split(',').map(str::to_string).collect());
    sim.read(|w| {
        let loc = location(w, &loc_id)?;
        let rows = loc
            .products
            .iter()
            .filter(|p| matches_search(p, &["name"], q.get("search")))
            .filter(|p| {
                wanted
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|i| i == str_of(p, "_id")))
            });
        let (products, total) = page(rows, offset, limit);
        ok(json!({"products": products, "total": [{"total": total}]}))
    })
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let fields = check_product(&mut body);
    let raw = Value::Object(body.finish()?);
    let loc_id = str_of(&raw, "locationId").to_string();
    caller.check_location(&loc_id)?;
    let user = sim.user_id.clone();
    sim.commit(|w| {
        let loc = location_mut(w, &loc_id)?;
        let id = sim_kit::ids::object_id();
        let now = now_iso();
        let mut product = json!({
            "_id": id, "locationId": loc_id, "variants": [], "medias": [], "availableInStore": false,
            "userId": user, "createdAt": now, "updatedAt": now,
        });
        for (k, v) in fields {
            set(&mut product, &k, v);
        }
        loc.products.insert(id, product.clone());
        w.emit("ProductCreate", &loc_id, product.clone());
        created(product)
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
    sim.read(|w| {
        let loc = location(w, &loc_id)?;
        ok(find_product(loc, &product_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Product"))?)
    })
}

pub async fn update(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(product_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let fields = check_product(&mut body);
    let price_ids = body.opt_str_array("prices");
    let raw = Value::Object(body.finish()?);
    let loc_id = str_of(&raw, "locationId").to_string();
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let loc = location(w, &loc_id)?;
        let id = resolve_product_id(loc, &product_id)?;
        if let Some(ids) = &price_ids
            && let Some(bad) = ids
                .iter()
                .find(|p| loc.prices.get(p).is_none_or(|x| str_of(x, "product") != id))
        {
            return Err(ApiError::bad_request(format!(
                "Price {bad} does not belong to product {id}"
            )));
        }
        ok(edit_product(w, &loc_id, &id, PRODUCT_PUT_CLEARS, fields)?)
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
        let id = resolve_product_id(location(w, &loc_id)?, &product_id)?;
        remove_product(w, &loc_id, &id)?;
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
    let ids: Option<Vec<String>> = q
        .get("ids")
        .map(|s| s.split(',').map(str::to_string).collect());
    sim.read(|w| {
        let loc = location(w, &loc_id)?;
        let pid = resolve_product_id(loc, &product_id)?;
        let rows = loc.prices.group(&pid).filter(|p| {
            ids.as_ref()
                .is_none_or(|ids| ids.iter().any(|i| i == str_of(p, "_id")))
        });
        let (prices, total) = page(rows, offset, limit);
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
    let fields = check_price(&mut body);
    let raw = Value::Object(body.finish()?);
    let loc_id = str_of(&raw, "locationId").to_string();
    caller.check_location(&loc_id)?;
    let user = sim.user_id.clone();
    sim.commit(|w| {
        let loc = location_mut(w, &loc_id)?;
        let pid = resolve_product_id(loc, &product_id)?;
        let id = sim_kit::ids::object_id();
        let now = now_iso();
        let mut price = json!({
            "_id": id, "locationId": loc_id, "product": pid, "userId": user,
            "trackInventory": false, "allowOutOfStockPurchases": false,
            "createdAt": now, "updatedAt": now,
        });
        for (k, v) in fields {
            set(&mut price, &k, v);
        }
        loc.prices.insert(id, price.clone());
        price_event(w, "PriceCreate", &loc_id, &price);
        created(price)
    })
}

fn price_of<'a>(
    loc: &'a Location,
    product_id: &str,
    price_id: &str,
) -> Result<&'a Value, ApiError> {
    let pid = resolve_product_id(loc, product_id)?;
    loc.prices
        .get(price_id)
        .filter(|p| str_of(p, "product") == pid)
        .ok_or_else(|| ApiError::not_found("Price"))
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
    sim.read(|w| ok(price_of(location(w, &loc_id)?, &product_id, &price_id)?.clone()))
}

pub async fn update_price(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path((product_id, price_id)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let fields = check_price(&mut body);
    let raw = Value::Object(body.finish()?);
    let loc_id = str_of(&raw, "locationId").to_string();
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        price_of(location(w, &loc_id)?, &product_id, &price_id)?;
        ok(edit_price(w, &loc_id, &price_id, PRICE_PUT_CLEARS, fields)?)
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
        let loc = location_mut(w, &loc_id)?;
        price_of(loc, &product_id, &price_id)?;
        let price = loc
            .prices
            .remove(&price_id)
            .ok_or_else(|| ApiError::not_found("Price"))?;
        price_event(w, "PriceDelete", &loc_id, &price);
        ok(json!({"status": true}))
    })
}

fn inventory_item(loc: &Location, price: &Value) -> Value {
    let product_id = str_of(price, "product");
    let product = loc.products.get(product_id);
    let mut item = json!({
        "_id": str_of(price, "_id"),
        "name": str_of(price, "name"),
        "availableQuantity": price.get("availableQuantity").cloned().unwrap_or(json!(0)),
        "sku": str_of(price, "sku"),
        "allowOutOfStockPurchases": price.get("allowOutOfStockPurchases").cloned().unwrap_or(json!(false)),
        "product": product_id,
        "updatedAt": str_of(price, "updatedAt"),
        "productName": product.map(|p| str_of(p, "name")).unwrap_or(""),
    });
    if let Some(image) = product.and_then(|p| p.get("image")) {
        set(&mut item, "image", image.clone());
    }
    item
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
        let loc = location(w, &alt_id)?;
        let items: Vec<Value> = loc
            .prices
            .iter()
            .filter(|p| p.get("trackInventory").and_then(Value::as_bool) == Some(true))
            .map(|p| inventory_item(loc, p))
            .filter(|i| matches_search(i, &["name", "productName", "sku"], q.get("search")))
            .collect();
        let (inventory, total) = page(items.iter(), offset, limit);
        ok(json!({"inventory": inventory, "total": {"total": total}}))
    })
}

/// `POST /products/inventory`: many prices' stock in one request (`items`,
/// an array; the spec sets no limit on its length). Each item changes its
/// price's `availableQuantity` and `allowOutOfStockPurchases` by the price
/// rules, turns `trackInventory` on, and fires `PriceUpdate`; an unknown
/// price refuses the whole request (400) before anything changes.
pub async fn update_inventory(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let items = body.req_array("items");
    let mut changes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let change = body.nested(&format!("items.{i}"), item, |item| {
            let price_id = item.req_str("priceId");
            let mut fields = Map::new();
            for key in ["availableQuantity", "allowOutOfStockPurchases"] {
                check_price_value(item, key, &mut fields);
            }
            fields.insert("trackInventory".into(), json!(true));
            (price_id, fields)
        });
        changes.extend(change);
    }
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let loc = location(w, &alt_id)?;
        if let Some((bad, _)) = changes.iter().find(|(p, _)| loc.prices.get(p).is_none()) {
            return Err(ApiError::bad_request(format!("Price {bad} not found")));
        }
        for (price_id, fields) in changes {
            edit_price(w, &alt_id, &price_id, &[], fields)?;
        }
        created(json!({"status": true, "message": "Inventory updated"}))
    })
}

/// One product of a bulk edit: its id, its own fields, and its prices'.
struct ProductEdit {
    id: String,
    fields: Map<String, Value>,
    prices: Vec<(String, Map<String, Value>)>,
}

/// A `BulkEditPriceDto`: `_id` and the price fields it changes.
fn check_bulk_price(body: &mut Body) -> (String, Map<String, Value>) {
    let id = body.req_str("_id");
    let mut fields = Map::new();
    if let Some(name) = body.opt_str("name") {
        if name.is_empty() {
            body.error("name should not be empty");
        }
        fields.insert("name".into(), json!(name));
    }
    check_price_fields(body, &mut fields);
    (id, fields)
}

/// A `BulkEditProductDto`: `_id`, the product fields it changes, its prices.
fn check_bulk_product(body: &mut Body) -> ProductEdit {
    let id = body.req_str("_id");
    let mut fields = Map::new();
    if let Some(name) = body.opt_str("name") {
        if name.is_empty() {
            body.error("name should not be empty");
        }
        fields.insert("name".into(), json!(name));
    }
    check_product_fields(body, &mut fields);
    // Tax objects here, where create and PUT take tax ids.
    if let Some(v) = body.opt_array("taxes") {
        fields.insert("taxes".into(), Value::Array(v));
    }
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
/// one request, at most [`BULK_EDIT_MAX_ENTITIES`] of them counted together.
/// Answers 201 `{message, status, updatedCount}` (the products edited).
pub async fn bulk_edit(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let entries = body.req_array("products");
    let mut edits = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        edits.extend(body.nested(&format!("products.{i}"), entry, check_bulk_product));
    }
    body.finish()?;
    let entities: usize = edits.iter().map(|e| 1 + e.prices.len()).sum();
    if entities > BULK_EDIT_MAX_ENTITIES {
        return Err(ApiError::bad_request(format!(
            "A bulk edit takes at most {BULK_EDIT_MAX_ENTITIES} entities (products and their prices together); this one has {entities}"
        )));
    }
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        // Everything is checked before anything changes.
        let loc = location(w, &alt_id)?;
        let mut resolved = Vec::with_capacity(edits.len());
        for edit in &edits {
            let id = resolve_product_id(loc, &edit.id)
                .map_err(|_| ApiError::bad_request(format!("Product {} not found", edit.id)))?;
            if let Some((bad, _)) = edit
                .prices
                .iter()
                .find(|(p, _)| loc.prices.get(p).is_none_or(|x| str_of(x, "product") != id))
            {
                return Err(ApiError::bad_request(format!(
                    "Price {bad} not found in product {id}"
                )));
            }
            resolved.push(id);
        }
        let updated = edits.len();
        for (edit, id) in edits.into_iter().zip(resolved) {
            if !edit.fields.is_empty() {
                edit_product(w, &alt_id, &id, &[], edit.fields)?;
            }
            for (price_id, fields) in edit.prices {
                edit_price(w, &alt_id, &price_id, &[], fields)?;
            }
        }
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

const PRICE_RULES: &[&str] = &[
    "INCREASE_BY_AMOUNT",
    "REDUCE_BY_AMOUNT",
    "SET_NEW_PRICE",
    "INCREASE_BY_PERCENTAGE",
    "REDUCE_BY_PERCENTAGE",
];

/// A `PriceUpdateField`: how every price of the products changes.
struct PriceRule {
    kind: String,
    value: f64,
    round_to_whole: bool,
}

fn check_price_rule(body: &mut Body) -> PriceRule {
    PriceRule {
        kind: body.req_enum("type", PRICE_RULES),
        value: body.req_num("value"),
        round_to_whole: body.opt_bool("roundToWhole").unwrap_or(false),
    }
}

/// An amount of the wire (major units) in minor units. HighLevel's amounts
/// carry at most two decimals.
fn to_minor(major: f64) -> i64 {
    (major * 100.0).round() as i64
}

/// Minor units as the wire writes them.
fn to_major(minor: i64) -> Value {
    json!(minor as f64 / 100.0)
}

impl PriceRule {
    /// The new amount, in minor units, of a price of `amount` minor units
    /// (negative when the rule takes it below zero).
    fn apply(&self, amount: i64) -> i64 {
        let share = || (amount as f64 * self.value / 100.0).round() as i64;
        let new = match self.kind.as_str() {
            "INCREASE_BY_AMOUNT" => amount + to_minor(self.value),
            "REDUCE_BY_AMOUNT" => amount - to_minor(self.value),
            "SET_NEW_PRICE" => to_minor(self.value),
            "INCREASE_BY_PERCENTAGE" => amount + share(),
            "REDUCE_BY_PERCENTAGE" => amount - share(),
            _ => amount,
        };
        if self.round_to_whole {
            let whole = new.div_euclid(100);
            (whole + i64::from(new.rem_euclid(100) >= 50)) * 100
        } else {
            new
        }
    }
}

/// The body of `POST /products/bulk-update`, checked.
struct BulkUpdate {
    alt_id: String,
    kind: String,
    product_ids: Vec<String>,
    price: Option<PriceRule>,
    compare_at_price: Option<PriceRule>,
    availability: Option<bool>,
    collection_ids: Option<Vec<String>>,
    currency: Option<Value>,
}

fn check_bulk_update(body: &mut Body) -> BulkUpdate {
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
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
    let rule = |body: &mut Body, key: &str| {
        let value = body.raw(key).cloned()?;
        body.nested(key, &value, check_price_rule)
    };
    let price = rule(body, "price");
    let compare_at_price = rule(body, "compareAtPrice");
    let availability = body.opt_bool("availability");
    let collection_ids = body.opt_str_array("collectionIds");
    let currency = body.opt_str("currency").map(|c| check_currency(body, &c));
    match kind.as_str() {
        "bulk-update-price" if price.is_none() && compare_at_price.is_none() => {
            body.error("price should not be empty");
        }
        "bulk-update-availability"
            if availability.is_none() && body.raw("availability").is_none() =>
        {
            body.error("availability must be a boolean value");
        }
        "bulk-update-product-collection" if body.raw("collectionIds").is_none() => {
            body.error("collectionIds must be an array");
        }
        "bulk-update-currency" if body.raw("currency").is_none() => {
            body.error("currency should not be empty");
        }
        _ => {}
    }
    BulkUpdate {
        alt_id,
        kind,
        product_ids,
        price,
        compare_at_price,
        availability,
        collection_ids,
        currency,
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
    let req = check_bulk_update(&mut body);
    body.finish()?;
    caller.check_location(&req.alt_id)?;
    let loc_id = req.alt_id.clone();
    sim.commit(|w| {
        // Everything is checked before anything changes.
        let loc = location(w, &loc_id)?;
        let mut ids = Vec::with_capacity(req.product_ids.len());
        let mut seen = HashSet::new();
        for wanted in &req.product_ids {
            let id = resolve_product_id(loc, wanted)
                .map_err(|_| ApiError::bad_request(format!("Product {wanted} not found")))?;
            // A product named twice changes once.
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        let price_ids = |loc: &Location, product: &str| -> Vec<String> {
            loc.prices
                .group(product)
                .map(|p| str_of(p, "_id").to_string())
                .collect()
        };
        let message = match req.kind.as_str() {
            "bulk-update-price" => {
                let mut changes = Vec::new();
                for id in &ids {
                    for price in loc.prices.group(id) {
                        let mut fields = Map::new();
                        for (key, rule) in [
                            ("amount", &req.price),
                            ("compareAtPrice", &req.compare_at_price),
                        ] {
                            let Some(rule) = rule else { continue };
                            let current = price.get(key).and_then(Value::as_f64);
                            if current.is_none() && rule.kind != "SET_NEW_PRICE" {
                                continue;
                            }
                            let new = rule.apply(to_minor(current.unwrap_or(0.0)));
                            if new < 0 {
                                return Err(ApiError::bad_request(format!(
                                    "{key} of price {} would fall below 0",
                                    str_of(price, "_id")
                                )));
                            }
                            fields.insert(key.into(), to_major(new));
                        }
                        if !fields.is_empty() {
                            changes.push((str_of(price, "_id").to_string(), fields));
                        }
                    }
                }
                for (price_id, fields) in changes {
                    edit_price(w, &loc_id, &price_id, &[], fields)?;
                }
                "Prices updated successfully"
            }
            "bulk-update-currency" => {
                let currency = req.currency.clone().unwrap_or_default();
                let all: Vec<String> = ids.iter().flat_map(|id| price_ids(loc, id)).collect();
                for price_id in all {
                    let fields = Map::from_iter([("currency".to_string(), currency.clone())]);
                    edit_price(w, &loc_id, &price_id, &[], fields)?;
                }
                "Currency updated successfully"
            }
            "bulk-update-availability" | "bulk-update-product-collection" => {
                let field = if req.kind == "bulk-update-availability" {
                    ("availableInStore", json!(req.availability.unwrap_or(false)))
                } else {
                    let ids = req.collection_ids.clone().unwrap_or_default();
                    ("collectionIds", json!(ids))
                };
                for id in &ids {
                    let fields = Map::from_iter([(field.0.to_string(), field.1.clone())]);
                    edit_product(w, &loc_id, id, &[], fields)?;
                }
                "Products updated successfully"
            }
            _ => {
                for id in &ids {
                    remove_product(w, &loc_id, id)?;
                }
                "Products deleted successfully"
            }
        };
        created(json!({"status": true, "message": message}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: &str, value: f64, round_to_whole: bool) -> PriceRule {
        PriceRule {
            kind: kind.into(),
            value,
            round_to_whole,
        }
    }

    #[test]
    fn price_rules_work_in_minor_units() {
        assert_eq!(rule("INCREASE_BY_AMOUNT", 0.1, false).apply(1999), 2009);
        assert_eq!(rule("REDUCE_BY_AMOUNT", 20.0, false).apply(1999), -1);
        assert_eq!(rule("SET_NEW_PRICE", 12.34, false).apply(1999), 1234);
        // 10 % of 19.99 is 1.999, rounded to the cent.
        assert_eq!(
            rule("INCREASE_BY_PERCENTAGE", 10.0, false).apply(1999),
            2199
        );
        assert_eq!(rule("REDUCE_BY_PERCENTAGE", 12.5, false).apply(1000), 875);
        assert_eq!(rule("REDUCE_BY_PERCENTAGE", 12.5, true).apply(1000), 900);
        assert_eq!(rule("INCREASE_BY_AMOUNT", 0.49, true).apply(1000), 1000);
        assert_eq!(rule("INCREASE_BY_AMOUNT", 0.5, true).apply(1000), 1100);
        assert_eq!(to_major(3905), json!(39.05));
        assert_eq!(to_minor(0.29), 29, "0.29 * 100 is 28.999…");
    }
}
