//! HighLevel's bulk product writes, as the specs define them
//! (`../shared/specs/ghl/apps/products.json`): the request bodies of
//! `POST /products/bulk-update/edit` (products and their prices edited in
//! one request) and `POST /products/bulk-update` (one change across many
//! products), the bulk edit's cap of [`BULK_EDIT_MAX_ENTITIES`] entities
//! counted as the spec counts them (each product and each of its prices),
//! and the packing of edits into requests under that cap. Amounts are
//! [`model::Money`] up to here and become JSON numbers in major units only
//! in the bodies built here. Creates have no bulk endpoint in HighLevel:
//! they stay single calls.

use model::Percent;
use serde_json::{Map, Value, json};

use crate::client::major_units;
use crate::error::GhlError;
use crate::operations::Operation;
use crate::types::{BulkChange, PriceChange, PriceEdit, PriceRule, ProductEdit};

/// The most entities one bulk edit may carry: products and their prices
/// counted together ("max 30 entities"; "the total count includes all
/// prices within each product").
pub const BULK_EDIT_MAX_ENTITIES: usize = 30;

/// The entities a bulk edit counts for these edits: each product, and each
/// of its prices.
pub fn entities(edits: &[ProductEdit]) -> usize {
    edits.iter().map(|e| 1 + e.prices.len()).sum()
}

fn too_many(entities: usize) -> GhlError {
    GhlError::BulkLimit {
        operation: Operation::BulkEditProducts.info().id,
        entities,
        max: BULK_EDIT_MAX_ENTITIES,
    }
}

/// Refuses edits over the cap before any request.
pub fn check_cap(edits: &[ProductEdit]) -> Result<(), GhlError> {
    match entities(edits) {
        n if n > BULK_EDIT_MAX_ENTITIES => Err(too_many(n)),
        _ => Ok(()),
    }
}

/// Packs edits, in order, into as few bulk edits as fit under the cap
/// (a product stays whole, with all its prices, in one request). A product
/// with more prices than one request holds is refused.
pub fn pack(edits: Vec<ProductEdit>) -> Result<Vec<Vec<ProductEdit>>, GhlError> {
    let mut batches: Vec<Vec<ProductEdit>> = Vec::new();
    let mut used = 0;
    for edit in edits {
        let size = 1 + edit.prices.len();
        if size > BULK_EDIT_MAX_ENTITIES {
            return Err(too_many(size));
        }
        match batches.last_mut() {
            Some(batch) if used + size <= BULK_EDIT_MAX_ENTITIES => {
                batch.push(edit);
                used += size;
            }
            _ => {
                batches.push(vec![edit]);
                used = size;
            }
        }
    }
    Ok(batches)
}

fn invalid(operation: Operation, detail: String) -> GhlError {
    GhlError::Invalid {
        operation: operation.info().id,
        detail,
    }
}

fn put<T: serde::Serialize>(map: &mut Map<String, Value>, key: &str, value: &Option<T>) {
    if let Some(v) = value {
        map.insert(key.into(), json!(v));
    }
}

fn price_body(p: &PriceEdit) -> Result<Value, GhlError> {
    let op = Operation::BulkEditProducts;
    if p.id.is_empty() {
        return Err(invalid(op, "a price edit needs the price's id".into()));
    }
    let mut map = Map::new();
    map.insert("_id".into(), json!(p.id));
    put(&mut map, "name", &p.name);
    for (key, money) in [
        ("amount", &p.amount),
        ("compareAtPrice", &p.compare_at_price),
        ("setupFee", &p.setup_fee),
    ] {
        let Some(m) = money else { continue };
        if m.minor < 0 {
            return Err(invalid(
                op,
                format!("price {}: {key} {m} is negative", p.id),
            ));
        }
        if let Some(a) = &p.amount
            && a.currency != m.currency
        {
            return Err(invalid(
                op,
                format!(
                    "price {}: {key} is in {}, the amount in {}",
                    p.id, m.currency, a.currency
                ),
            ));
        }
        map.insert(key.into(), json!(major_units(m)));
    }
    if let Some(m) = p.amount.or(p.compare_at_price).or(p.setup_fee) {
        map.insert("currency".into(), json!(m.currency.as_str()));
    }
    put(&mut map, "recurring", &p.recurring);
    put(&mut map, "trialPeriod", &p.trial_period);
    put(&mut map, "totalCycles", &p.total_cycles);
    put(&mut map, "sku", &p.sku);
    put(&mut map, "trackInventory", &p.track_inventory);
    put(&mut map, "availableQuantity", &p.available_quantity);
    put(
        &mut map,
        "allowOutOfStockPurchases",
        &p.allow_out_of_stock_purchases,
    );
    Ok(Value::Object(map))
}

fn product_body(e: &ProductEdit) -> Result<Value, GhlError> {
    if e.id.is_empty() {
        return Err(invalid(
            Operation::BulkEditProducts,
            "a product edit needs the product's id".into(),
        ));
    }
    let mut map = Map::new();
    map.insert("_id".into(), json!(e.id));
    put(&mut map, "name", &e.name);
    put(&mut map, "description", &e.description);
    put(&mut map, "image", &e.image);
    put(&mut map, "availableInStore", &e.available_in_store);
    put(&mut map, "slug", &e.slug);
    put(&mut map, "collectionIds", &e.collection_ids);
    if !e.prices.is_empty() {
        let prices: Result<Vec<Value>, GhlError> = e.prices.iter().map(price_body).collect();
        map.insert("prices".into(), Value::Array(prices?));
    }
    Ok(Value::Object(map))
}

/// The body of `POST /products/bulk-update/edit` (`BulkEditRequestDto`),
/// refused over the cap.
pub fn edit_body(location: &str, edits: &[ProductEdit]) -> Result<Value, GhlError> {
    check_cap(edits)?;
    let products: Result<Vec<Value>, GhlError> = edits.iter().map(product_body).collect();
    Ok(json!({"altId": location, "altType": "location", "products": products?}))
}

/// The number HighLevel takes for a percentage (`12.5` for 12.5 %).
fn percent(p: Percent) -> f64 {
    p.to_decimal_string().parse().unwrap_or(0.0)
}

/// A `PriceUpdateField`.
fn price_change(c: &PriceChange) -> Value {
    let (kind, value) = match c.rule {
        PriceRule::IncreaseByAmount(m) => ("INCREASE_BY_AMOUNT", major_units(&m)),
        PriceRule::ReduceByAmount(m) => ("REDUCE_BY_AMOUNT", major_units(&m)),
        PriceRule::SetNewPrice(m) => ("SET_NEW_PRICE", major_units(&m)),
        PriceRule::IncreaseByPercent(p) => ("INCREASE_BY_PERCENTAGE", percent(p)),
        PriceRule::ReduceByPercent(p) => ("REDUCE_BY_PERCENTAGE", percent(p)),
    };
    json!({"type": kind, "value": value, "roundToWhole": c.round_to_whole})
}

/// The body of `POST /products/bulk-update` (`BulkUpdateDto`).
pub fn update_body(
    location: &str,
    product_ids: &[String],
    change: &BulkChange,
) -> Result<Value, GhlError> {
    let mut body = json!({
        "altId": location, "altType": "location", "type": change.kind(), "productIds": product_ids,
    });
    match change {
        BulkChange::Prices {
            price,
            compare_at_price,
        } => {
            if price.is_none() && compare_at_price.is_none() {
                return Err(invalid(
                    Operation::BulkUpdateProducts,
                    "a price change needs a rule for the price or the compare-at price".into(),
                ));
            }
            if let Some(c) = price {
                body["price"] = price_change(c);
            }
            if let Some(c) = compare_at_price {
                body["compareAtPrice"] = price_change(c);
            }
        }
        BulkChange::Availability(a) => body["availability"] = json!(a),
        BulkChange::Collections(ids) => body["collectionIds"] = json!(ids),
        BulkChange::Currency(c) => body["currency"] = json!(c.as_str()),
        BulkChange::Delete => {}
    }
    Ok(body)
}

/// Reads a bulk answer (`{status, message, updatedCount?}`): a `status` of
/// false is an error carrying HighLevel's message.
pub fn outcome(op: Operation, answer: &Value) -> Result<Option<u64>, GhlError> {
    if answer.get("status").and_then(Value::as_bool) != Some(true) {
        return Err(GhlError::Decode {
            operation: op.info().id,
            detail: format!(
                "status is not true: {}",
                crate::client::error_message(answer)
            ),
        });
    }
    Ok(answer
        .get("updatedCount")
        .and_then(Value::as_f64)
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64))
}

#[cfg(test)]
mod tests {
    use model::{Currency, Money};

    use super::*;
    use crate::types::Recurring;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::USD)
    }

    fn product(id: &str, prices: usize) -> ProductEdit {
        ProductEdit {
            id: id.into(),
            prices: (0..prices)
                .map(|i| PriceEdit {
                    id: format!("{id}-{i}"),
                    amount: Some(usd(1000)),
                    ..PriceEdit::default()
                })
                .collect(),
            ..ProductEdit::default()
        }
    }

    #[test]
    fn the_edit_body_carries_only_the_fields_given() {
        let edits = [
            ProductEdit {
                id: "p1".into(),
                name: Some("Course".into()),
                available_in_store: Some(true),
                slug: Some("course".into()),
                prices: vec![PriceEdit {
                    id: "pr1".into(),
                    name: Some("Monthly".into()),
                    amount: Some(usd(1999)),
                    compare_at_price: Some(usd(2500)),
                    recurring: Some(Recurring {
                        interval: "month".into(),
                        interval_count: 1,
                    }),
                    total_cycles: Some(12),
                    sku: Some("C-1".into()),
                    track_inventory: Some(true),
                    available_quantity: Some(7),
                    allow_out_of_stock_purchases: Some(false),
                    ..PriceEdit::default()
                }],
                ..ProductEdit::default()
            },
            ProductEdit {
                id: "p2".into(),
                prices: vec![PriceEdit {
                    id: "pr2".into(),
                    amount: Some(Money::new(1500, Currency::EUR)),
                    ..PriceEdit::default()
                }],
                ..ProductEdit::default()
            },
            ProductEdit {
                id: "p3".into(),
                description: Some("".into()),
                collection_ids: Some(vec!["c1".into()]),
                ..ProductEdit::default()
            },
        ];
        let body = edit_body("loc1", &edits).unwrap();
        assert_eq!(
            body,
            json!({"altId": "loc1", "altType": "location", "products": [
                {"_id": "p1", "name": "Course", "availableInStore": true, "slug": "course", "prices": [
                    {"_id": "pr1", "name": "Monthly", "amount": 19.99, "compareAtPrice": 25.0,
                     "currency": "USD", "recurring": {"interval": "month", "intervalCount": 1},
                     "totalCycles": 12, "sku": "C-1", "trackInventory": true,
                     "availableQuantity": 7, "allowOutOfStockPurchases": false}]},
                {"_id": "p2", "prices": [{"_id": "pr2", "amount": 15.0, "currency": "EUR"}]},
                {"_id": "p3", "description": "", "collectionIds": ["c1"]},
            ]})
        );
    }

    #[test]
    fn the_cap_counts_products_and_their_prices() {
        // 10 products with 2 prices each: 30 entities, one request.
        let thirty: Vec<ProductEdit> = (0..10).map(|i| product(&format!("p{i}"), 2)).collect();
        assert_eq!(entities(&thirty), 30);
        assert!(edit_body("loc", &thirty).is_ok());
        let mut thirty_one = thirty.clone();
        thirty_one.push(product("p10", 0));
        let err = edit_body("loc", &thirty_one).unwrap_err();
        assert!(
            matches!(
                err,
                GhlError::BulkLimit {
                    entities: 31,
                    max: 30,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("30") && text.contains("31") && text.contains("prices"),
            "{text}"
        );
        // One product with 30 prices is 31 entities.
        assert!(edit_body("loc", &[product("big", 30)]).is_err());
    }

    #[test]
    fn packing_fills_requests_up_to_the_cap_and_keeps_products_whole() {
        let edits: Vec<ProductEdit> = (0..25).map(|i| product(&format!("p{i}"), 2)).collect();
        let batches = pack(edits.clone()).unwrap();
        assert_eq!(
            batches.iter().map(|b| entities(b)).collect::<Vec<_>>(),
            [30, 30, 15]
        );
        assert_eq!(batches.concat(), edits, "in order, nothing lost");
        let mixed = vec![product("a", 20), product("b", 10), product("c", 0)];
        let batches = pack(mixed).unwrap();
        assert_eq!(
            batches.iter().map(|b| entities(b)).collect::<Vec<_>>(),
            [21, 12]
        );
        assert!(pack(vec![product("huge", 30)]).is_err());
        assert!(pack(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn edits_hollow_or_inconsistent_are_refused_before_sending() {
        let no_id = ProductEdit::default();
        assert!(matches!(
            edit_body("loc", &[no_id]),
            Err(GhlError::Invalid { .. })
        ));
        let mixed = ProductEdit {
            id: "p".into(),
            prices: vec![PriceEdit {
                id: "pr".into(),
                amount: Some(usd(100)),
                compare_at_price: Some(Money::new(100, Currency::EUR)),
                ..PriceEdit::default()
            }],
            ..ProductEdit::default()
        };
        assert!(matches!(
            edit_body("loc", &[mixed]),
            Err(GhlError::Invalid { .. })
        ));
        let negative = ProductEdit {
            id: "p".into(),
            prices: vec![PriceEdit {
                id: "pr".into(),
                amount: Some(usd(-1)),
                ..PriceEdit::default()
            }],
            ..ProductEdit::default()
        };
        assert!(edit_body("loc", &[negative]).is_err());
    }

    #[test]
    fn the_update_body_names_each_change_as_the_spec_does() {
        let ids = vec!["p1".to_string(), "p2".to_string()];
        let body = |c: &BulkChange| update_body("loc", &ids, c).unwrap();
        let base = json!({"altId": "loc", "altType": "location", "productIds": ["p1", "p2"]});
        let with = |extra: Value| {
            let mut b = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        assert_eq!(
            body(&BulkChange::Prices {
                price: Some(PriceChange {
                    rule: PriceRule::IncreaseByPercent(Percent(1250)),
                    round_to_whole: true
                }),
                compare_at_price: Some(PriceChange {
                    rule: PriceRule::SetNewPrice(usd(4900)),
                    round_to_whole: false
                }),
            }),
            with(json!({"type": "bulk-update-price",
                        "price": {"type": "INCREASE_BY_PERCENTAGE", "value": 12.5, "roundToWhole": true},
                        "compareAtPrice": {"type": "SET_NEW_PRICE", "value": 49.0, "roundToWhole": false}}))
        );
        assert_eq!(
            body(&BulkChange::Prices {
                price: Some(PriceChange {
                    rule: PriceRule::ReduceByAmount(usd(150)),
                    round_to_whole: false
                }),
                compare_at_price: None,
            })["price"],
            json!({"type": "REDUCE_BY_AMOUNT", "value": 1.5, "roundToWhole": false})
        );
        assert_eq!(
            body(&BulkChange::Availability(false)),
            with(json!({"type": "bulk-update-availability", "availability": false}))
        );
        assert_eq!(
            body(&BulkChange::Collections(vec!["c1".into()])),
            with(json!({"type": "bulk-update-product-collection", "collectionIds": ["c1"]}))
        );
        assert_eq!(
            body(&BulkChange::Currency(Currency::EUR)),
            with(json!({"type": "bulk-update-currency", "currency": "EUR"}))
        );
        assert_eq!(
            body(&BulkChange::Delete),
            with(json!({"type": "bulk-delete-products"}))
        );
        assert!(
            update_body(
                "loc",
                &ids,
                &BulkChange::Prices {
                    price: None,
                    compare_at_price: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn relative_price_rules_are_not_repeated_after_a_lost_answer() {
        let rule = |rule| BulkChange::Prices {
            price: Some(PriceChange {
                rule,
                round_to_whole: false,
            }),
            compare_at_price: None,
        };
        assert!(rule(PriceRule::IncreaseByAmount(usd(100))).repeats_change());
        assert!(rule(PriceRule::ReduceByPercent(Percent(500))).repeats_change());
        assert!(!rule(PriceRule::SetNewPrice(usd(100))).repeats_change());
        assert!(!BulkChange::Availability(true).repeats_change());
        assert!(!BulkChange::Delete.repeats_change());
    }

    #[test]
    fn answers_with_a_false_status_are_errors() {
        let op = Operation::BulkEditProducts;
        assert_eq!(
            outcome(
                op,
                &json!({"status": true, "message": "ok", "updatedCount": 3})
            )
            .unwrap(),
            Some(3)
        );
        assert_eq!(outcome(op, &json!({"status": true})).unwrap(), None);
        assert!(outcome(op, &json!({"status": false, "message": "nope"})).is_err());
        assert!(outcome(op, &json!(null)).is_err());
    }
}
