//! Handlers of the simulated HighLevel API v2, one module per spec area,
//! as sim-accessally's are: a handler reads and checks its input as the
//! real API does (`crate::validate`), builds the typed input of a rule,
//! calls the rules in `crate::world` under one lock (`Sim::commit` sends
//! the webhooks a change queued), and renders the answer in the documented
//! envelope. Handlers must not hold business rules themselves.

pub mod contacts;
pub mod coupons;
pub mod invoices;
pub mod payments;
pub mod products;

use std::collections::HashMap;

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

pub type Params = HashMap<String, String>;
