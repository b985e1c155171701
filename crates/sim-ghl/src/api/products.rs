//! Products, their prices and inventory (`/products/*`). Envelopes differ
//! by list, exactly as the spec defines them: products answer
//! `{products, total: [{total}]}` (an array), prices `{prices, total}` (a
//! number), inventory `{inventory, total: {total}}` (an object). Changes
//! fire Product* and Price* webhooks; PriceCreate carries the price type as
//! `priceType`, PriceUpdate and PriceDelete as `type`, as documented.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{Params, location, location_mut, matches_search, page};
use crate::Sim;
use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult, created, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::{Location, World, now_iso, set, str_of};

const PRODUCT_TYPES: &[&str] = &["DIGITAL", "PHYSICAL", "SERVICE", "PHYSICAL/DIGITAL"];

fn check_product(body: &mut Body) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(body.req_str("name")));
    body.req_str("locationId");
    out.insert(
        "productType".into(),
        json!(body.req_enum("productType", PRODUCT_TYPES)),
    );
    for key in [
        "description",
        "image",
        "statementDescriptor",
        "slug",
        "automaticTaxCategoryId",
    ] {
        if let Some(v) = body.opt_str(key) {
            out.insert(key.into(), json!(v));
        }
    }
    for key in ["availableInStore", "isTaxesEnabled", "taxInclusive"] {
        if let Some(v) = body.opt_bool(key) {
            out.insert(key.into(), json!(v));
        }
    }
    for key in ["collectionIds", "taxes"] {
        if let Some(v) = body.opt_str_array(key) {
            out.insert(key.into(), json!(v));
        }
    }
    for key in ["variants", "medias"] {
        match body.raw(key) {
            Some(Value::Array(items)) => {
                out.insert(key.into(), Value::Array(items.clone()));
            }
            Some(_) => body.error(format!("{key} must be an array")),
            None => {}
        }
    }
    out
}

fn check_price(body: &mut Body) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(body.req_str("name")));
    let kind = body.req_enum("type", &["one_time", "recurring"]);
    out.insert("type".into(), json!(kind));
    let currency = body.req_str("currency");
    if !currency.is_empty()
        && (currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()))
    {
        body.error("currency must be a valid ISO 4217 currency code");
    }
    out.insert("currency".into(), json!(currency.to_uppercase()));
    let amount = body.req_num("amount");
    body.min("amount", Some(amount), 0.0);
    out.insert(
        "amount".into(),
        body.raw("amount").cloned().unwrap_or(json!(amount)),
    );
    body.req_str("locationId");
    match body.opt_object("recurring") {
        Some(r) => {
            let interval = r.get("interval").and_then(Value::as_str).unwrap_or("");
            if !["day", "week", "month", "year"].contains(&interval) {
                body.error("recurring.interval must be one of the following values: day, month, week, year");
            }
            if r.get("intervalCount")
                .and_then(Value::as_f64)
                .is_none_or(|n| n < 1.0)
            {
                body.error("recurring.intervalCount must not be less than 1");
            }
            out.insert("recurring".into(), Value::Object(r));
        }
        None if kind == "recurring" => body.error("recurring should not be empty"),
        None => {}
    }
    for key in ["description", "sku", "userId"] {
        if let Some(v) = body.opt_str(key) {
            out.insert(key.into(), json!(v));
        }
    }
    for (key, min) in [
        ("trialPeriod", 0.0),
        ("totalCycles", 1.0),
        ("setupFee", 0.0),
        ("compareAtPrice", 0.0),
        ("availableQuantity", 0.0),
    ] {
        if let Some(v) = body.opt_num(key) {
            body.min(key, Some(v), min);
            // Numbers are kept as written (`3` stays `3`, not `3.0`).
            out.insert(key.into(), body.raw(key).cloned().unwrap_or(json!(v)));
        }
    }
    for key in [
        "trackInventory",
        "allowOutOfStockPurchases",
        "isDigitalProduct",
    ] {
        if let Some(v) = body.opt_bool(key) {
            out.insert(key.into(), json!(v));
        }
    }
    {
        let key = "variantOptionIds";
        out.insert(
            key.into(),
            json!(body.opt_str_array(key).unwrap_or_default()),
        );
    }
    if let Some(Value::Array(m)) = body.raw("membershipOffers") {
        out.insert("membershipOffers".into(), Value::Array(m.clone()));
    } else {
        out.insert("membershipOffers".into(), json!([]));
    }
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
        let loc = location_mut(w, &loc_id)?;
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
        let mut product = loc
            .products
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Product"))?;
        if let Value::Object(map) = &mut product {
            for key in ["description", "image", "statementDescriptor", "slug"] {
                map.remove(key);
            }
        }
        for (k, v) in fields {
            set(&mut product, &k, v);
        }
        set(&mut product, "updatedAt", json!(now_iso()));
        // Replaced whole, so the slug index follows a new slug.
        loc.products.insert(id, product.clone());
        w.emit("ProductUpdate", &loc_id, product.clone());
        ok(product)
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
        let loc = location_mut(w, &loc_id)?;
        let id = resolve_product_id(loc, &product_id)?;
        let product = loc
            .products
            .remove(&id)
            .ok_or_else(|| ApiError::not_found("Product"))?;
        let price_ids: Vec<String> = loc
            .prices
            .group(&id)
            .map(|p| str_of(p, "_id").to_string())
            .collect();
        for p in price_ids {
            loc.prices.remove(&p);
        }
        w.emit("ProductDelete", &loc_id, product);
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
        let loc = location_mut(w, &loc_id)?;
        price_of(loc, &product_id, &price_id)?;
        let price = loc
            .prices
            .get_mut(&price_id)
            .ok_or_else(|| ApiError::not_found("Price"))?;
        if let Value::Object(map) = price {
            for key in [
                "recurring",
                "description",
                "sku",
                "trialPeriod",
                "totalCycles",
                "setupFee",
                "compareAtPrice",
            ] {
                map.remove(key);
            }
        }
        for (k, v) in fields {
            set(price, &k, v);
        }
        set(price, "updatedAt", json!(now_iso()));
        let price = price.clone();
        price_event(w, "PriceUpdate", &loc_id, &price);
        ok(price)
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

pub async fn update_inventory(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let items = match body.raw("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => {
            body.error("items must be an array");
            Vec::new()
        }
    };
    for (i, item) in items.iter().enumerate() {
        if item.get("priceId").and_then(Value::as_str).is_none() {
            body.error(format!("items.{i}.priceId must be a string"));
        }
        if item
            .get("availableQuantity")
            .is_some_and(|q| !q.is_number())
        {
            body.error(format!("items.{i}.availableQuantity must be a number conforming to the specified constraints"));
        }
        if item
            .get("allowOutOfStockPurchases")
            .is_some_and(|q| !q.is_boolean())
        {
            body.error(format!(
                "items.{i}.allowOutOfStockPurchases must be a boolean value"
            ));
        }
    }
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let loc = location_mut(w, &alt_id)?;
        if let Some(bad) = items
            .iter()
            .filter_map(|i| i.get("priceId").and_then(Value::as_str))
            .find(|p| loc.prices.get(p).is_none())
        {
            return Err(ApiError::bad_request(format!("Price {bad} not found")));
        }
        let mut changed = Vec::new();
        for item in &items {
            let pid = str_of(item, "priceId");
            if let Some(price) = loc.prices.get_mut(pid) {
                for key in ["availableQuantity", "allowOutOfStockPurchases"] {
                    if let Some(v) = item.get(key) {
                        set(price, key, v.clone());
                    }
                }
                set(price, "trackInventory", json!(true));
                set(price, "updatedAt", json!(now_iso()));
                changed.push(price.clone());
            }
        }
        for price in changed {
            price_event(w, "PriceUpdate", &alt_id, &price);
        }
        created(json!({"status": true, "message": "Inventory updated"}))
    })
}
