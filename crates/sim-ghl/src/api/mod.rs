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
    fields.iter().any(|f| {
        row.get(*f)
            .and_then(Value::as_str)
            .is_some_and(|v| contains_ignoring_case(v, needle))
    })
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

pub type Params = HashMap<String, String>;

#[cfg(test)]
mod tests {
    use super::contains_ignoring_case;

    #[test]
    fn search_ignores_case_in_ascii_and_beyond() {
        assert!(contains_ignoring_case("AccessAlly order #42", "ORDER #4"));
        assert!(contains_ignoring_case("anything", ""));
        assert!(!contains_ignoring_case("order #41", "order #42"));
        assert!(!contains_ignoring_case("ab", "abc"));
        assert!(contains_ignoring_case("Été à Paris", "ÉTÉ"));
    }
}
