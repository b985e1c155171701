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

use crate::error::ApiError;
use crate::world::{self, Location, World};

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
    Ok(world.location(id)?)
}

pub fn location_mut<'a>(world: &'a mut World, id: &str) -> Result<&'a mut Location, ApiError> {
    world
        .locations
        .get_mut(id)
        .ok_or_else(|| world::Error::UnknownLocation(id.to_string()).into())
}

/// One page of `items` by `offset`/`limit`, with the total before paging.
pub fn page<T>(items: impl Iterator<Item = T>, offset: usize, limit: usize) -> (Vec<T>, usize) {
    let mut total = 0;
    let mut page = Vec::new();
    for item in items {
        if total >= offset && page.len() < limit {
            page.push(item);
        }
        total += 1;
    }
    (page, total)
}

/// Case-insensitive substring match of `needle` in any of `fields` of `row`.
pub fn matches_search(row: &Value, fields: &[&str], needle: Option<&String>) -> bool {
    let texts: Vec<&str> = fields.iter().map(|f| world::str_of(row, f)).collect();
    world::any_contains(&texts, needle.map(String::as_str))
}

pub type Params = HashMap<String, String>;
