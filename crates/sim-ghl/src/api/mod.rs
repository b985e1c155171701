//! Handlers of the simulated HighLevel API v2, one module per spec area.
//! Each handler checks its input as the real API does, changes the world
//! under one lock, and answers in the documented envelope.

pub mod contacts;
pub mod coupons;
pub mod invoices;
pub mod payments;
pub mod products;

use std::collections::HashMap;

use serde_json::Value;

use crate::errors::ApiError;
use crate::world::{Location, World};

/// A random trace id, as HighLevel puts on most answers.
pub fn trace_id() -> String {
    let hex = sim_kit::ids::object_id();
    format!(
        "{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..24]
    )
}

/// The location an operation names, or the error HighLevel gives.
pub fn location<'a>(world: &'a World, id: &str) -> Result<&'a Location, ApiError> {
    world
        .location(id)
        .ok_or_else(|| ApiError::bad_request(format!("Location {id} not found")))
}

pub fn location_mut<'a>(world: &'a mut World, id: &str) -> Result<&'a mut Location, ApiError> {
    world
        .location_mut(id)
        .ok_or_else(|| ApiError::bad_request(format!("Location {id} not found")))
}

/// One page of `items` by `offset`/`limit`, with the total before paging.
pub fn page<'a>(
    items: impl Iterator<Item = &'a Value>,
    offset: usize,
    limit: usize,
) -> (Vec<Value>, usize) {
    let all: Vec<&Value> = items.collect();
    let total = all.len();
    let page = all.into_iter().skip(offset).take(limit).cloned().collect();
    (page, total)
}

/// Case-insensitive substring match of `needle` in any of `fields` of `row`.
pub fn matches_search(row: &Value, fields: &[&str], needle: Option<&String>) -> bool {
    let Some(needle) = needle else { return true };
    let needle = needle.to_lowercase();
    fields.iter().any(|f| {
        row.get(*f)
            .and_then(Value::as_str)
            .is_some_and(|v| v.to_lowercase().contains(&needle))
    })
}

pub type Params = HashMap<String, String>;
