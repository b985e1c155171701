//! What a flow did or, in observe mode and dry runs, would do: one entry per
//! record with the action and the changes (in words and as the raw
//! structure). The plan is what
//! `allybridge sync --dry-run` prints and what observe mode logs.

use std::sync::{Arc, Mutex};

use model::Flow;
use serde::Serialize;

/// What happens to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// Nothing to do: unchanged, an echo of our own write, or not applicable.
    Skip,
}

/// One record's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEntry {
    pub tenant: String,
    pub flow: Flow,
    pub action: Action,
    /// e.g. `coupon LAUNCH20`, `product 65a…`.
    pub record: String,
    /// What changes, in words (`COURSE-001 197.00 → 149.00 USD`).
    pub diffs: Vec<String>,
    /// The same changes as the raw structure: each differing field of the
    /// canonical record with its value before and after (see
    /// [`crate::changes`]); left out when the change is told in words only.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub changes: serde_json::Value,
    /// Why (for skips), or what was written.
    pub note: String,
    /// False when the flow only observed.
    pub written: bool,
}

/// Entries collected during a run (or, when not kept, none).
#[derive(Debug, Clone)]
pub struct Plan {
    entries: Arc<Mutex<Vec<PlanEntry>>>,
    keep: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Plan {
    /// A plan that keeps its entries, or (`keep` false) drops them.
    pub fn new(keep: bool) -> Self {
        Self {
            entries: Arc::default(),
            keep,
        }
    }

    pub fn push(&self, entry: PlanEntry) {
        if !self.keep {
            return;
        }
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    pub fn entries(&self) -> Vec<PlanEntry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts per flow and action.
    pub fn counts(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> {
        let mut out: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>> =
            Default::default();
        for e in self.entries() {
            let action = serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            *out.entry(e.flow.to_string())
                .or_default()
                .entry(action)
                .or_default() += 1;
        }
        out
    }
}

/// HighLevel write calls the entries' changes take, per tenant, as the
/// flows make them: a product created is one call and one per price
/// (HighLevel has no bulk create); a product updated is its share of bulk
/// edits (at most 30 entities each: the product and each of its prices;
/// an update of stock alone may go out in inventory changes of 100 items
/// instead, so there the count is an upper bound); a
/// product deleted is one call; an order recorded in HighLevel is a contact
/// upsert, an invoice and its payment, plus the order tags and the note
/// when the tenant adds them ([`crate::flows::orders::highlevel_writes_of_a_paid_order`]), a change to one already
/// recorded one. Writes to AccessAlly take none. An estimate: the count a
/// run makes can differ where a record turns out to exist already, or an
/// order is not paid yet (no payment, no note).
pub fn highlevel_writes(
    entries: &[PlanEntry],
    tenants: &std::collections::BTreeMap<String, crate::tenant::Tenant>,
) -> std::collections::BTreeMap<String, u64> {
    let prices = |e: &PlanEntry| {
        e.changes["prices"]["after"]
            .as_array()
            .map_or(1, |p| p.len() as u64)
    };
    let mut single: std::collections::BTreeMap<String, u64> = Default::default();
    let mut bulk_entities: std::collections::BTreeMap<String, u64> = Default::default();
    for e in entries {
        let calls = match (e.flow, e.action) {
            (Flow::ProductsToHighlevel, Action::Create) => 1 + prices(e),
            (Flow::ProductsToHighlevel, Action::Update) => {
                *bulk_entities.entry(e.tenant.clone()).or_default() += 1 + prices(e);
                0
            }
            (Flow::ProductsToHighlevel, Action::Delete) => 1,
            (Flow::OrdersToHighlevel, Action::Create) => tenants.get(&e.tenant).map_or(3, |t| {
                crate::flows::orders::highlevel_writes_of_a_paid_order(&t.settings)
            }),
            (Flow::OrdersToHighlevel, Action::Update | Action::Delete) => 1,
            _ => 0,
        };
        *single.entry(e.tenant.clone()).or_default() += calls;
    }
    for (tenant, entities) in bulk_entities {
        let per_edit = ghl::BULK_EDIT_MAX_ENTITIES as u64;
        *single.entry(tenant).or_default() += entities.div_ceil(per_edit);
    }
    single
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(record: &str) -> PlanEntry {
        PlanEntry {
            tenant: "main".into(),
            flow: Flow::CouponsToAccessally,
            action: Action::Create,
            record: record.into(),
            diffs: vec![],
            changes: serde_json::Value::Null,
            note: String::new(),
            written: true,
        }
    }

    #[test]
    fn a_kept_plan_collects_entries_and_a_dropped_one_stays_empty() {
        let kept = Plan::default();
        kept.push(entry("coupon A"));
        kept.push(entry("coupon B"));
        assert_eq!(kept.entries().len(), 2);
        assert_eq!(kept.counts()["coupons_to_accessally"]["create"], 2);

        let dropped = Plan::new(false);
        dropped.push(entry("coupon A"));
        assert!(dropped.entries().is_empty());
        assert!(dropped.counts().is_empty());
    }

    #[test]
    fn highlevel_writes_count_creates_singly_and_updates_in_bulk_edits() {
        let product = |action: Action, prices: usize| PlanEntry {
            flow: Flow::ProductsToHighlevel,
            action,
            changes: serde_json::json!({"prices": {"before": null, "after": vec![serde_json::json!({}); prices]}}),
            ..entry("product")
        };
        let mut entries = vec![product(Action::Create, 2), product(Action::Delete, 0)];
        // 20 updates of a product with two prices: 60 entities, 2 bulk edits.
        entries.extend((0..20).map(|_| product(Action::Update, 2)));
        entries.push(PlanEntry {
            flow: Flow::OrdersToHighlevel,
            ..entry("order 7")
        });
        // Coupons are written to AccessAlly: no HighLevel call.
        entries.push(entry("coupon A"));
        // No tenant known: an order counts its three calls.
        let writes = highlevel_writes(&entries, &Default::default());
        assert_eq!(writes["main"], 3 + 1 + 2 + 3);
    }
}
