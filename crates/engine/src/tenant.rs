//! A tenant: one HighLevel location paired with one AccessAlly site, the
//! clients for both, each flow's mode and the tenant's policies and field
//! mapping (`[tenant.products]`, `[tenant.orders]`, `[tenant.mapping]`,
//! each with the default allybridge had before it was configurable). The
//! mapping's decisions — which products sync, which order statuses count —
//! live here once, for the scans and the flow handlers alike. Tenants
//! share nothing but the store and the process: one tenant's failures or
//! rate budget never stall another.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use model::{Currency, Flow, FlowMode};

pub use crate::canonical::{CodeCase, ProductFields};

/// Which side wins when a product changed on both sides since the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    #[default]
    GhlWins,
    AccessallyWins,
    NewestWins,
}

impl std::str::FromStr for ConflictPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ghl_wins" => Ok(Self::GhlWins),
            "accessally_wins" => Ok(Self::AccessallyWins),
            "newest_wins" => Ok(Self::NewestWins),
            other => Err(format!(
                "unknown conflict policy `{other}`; expected ghl_wins, accessally_wins or newest_wins"
            )),
        }
    }
}

/// What happens in AccessAlly when a HighLevel product is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeletePolicy {
    /// Set the offering to draft (default).
    #[default]
    Archive,
    Delete,
    Ignore,
}

/// The natural key that pairs a HighLevel product with an AccessAlly
/// offering the first time, when no link and no reference allybridge wrote
/// (the offering's `external_ref` `ghl:<product id>`, the product's slug
/// `accessally-offering-<offering id>`) names the counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductKey {
    /// Only those references: a record that already existed on the other
    /// side is never adopted, it gets a counterpart of its own (the SKUs
    /// are copied across with the prices).
    #[default]
    Sku,
    /// Also the name: an unlinked record with the same name on the other
    /// side is adopted and brought in line instead of creating a second one.
    Name,
}

/// How a paid HighLevel order grants access in AccessAlly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrantVia {
    /// `POST /access-grants` of the Bridge API, once per linked offering,
    /// idempotent on its `source_ref`.
    #[default]
    Bridge,
    /// AccessAlly's documented `aal_genpass` command for the buyer's CRM
    /// contact: the site creates (or links) the WordPress user and pulls
    /// the contact's tags from its CRM.
    AalGenpass,
}

/// What an AccessAlly order status means to the orders flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    /// Recorded in HighLevel as a paid invoice.
    Paid,
    /// Recorded as paid, then tagged and noted as refunded.
    Refunded,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Paid => "paid",
            OrderState::Refunded => "refunded",
        }
    }
}

/// A tenant's policies and mapping.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    pub conflict_policy: ConflictPolicy,
    pub delete_policy: DeletePolicy,
    /// Tags put on the HighLevel contact of a synced AccessAlly order.
    pub order_tags: Vec<String>,
    /// Tag put on the contact when the order is refunded.
    pub refund_tag: String,
    /// Whether to add a note with the order summary.
    pub order_note: bool,
    /// `mode` of the recorded payment.
    pub payment_mode: String,
    /// The currency of HighLevel amount coupons (HighLevel does not say).
    pub coupon_currency: Currency,
    /// How coupon codes are written to AccessAlly.
    pub coupon_code: CodeCase,
    /// The natural key of a product's first pairing.
    pub product_key: ProductKey,
    /// Only products with a SKU starting with one of these sync (empty: all).
    pub sku_prefixes: Vec<String>,
    /// Whether prices and availability are kept equal.
    pub product_fields: ProductFields,
    /// AccessAlly order statuses that count as completed.
    pub completed_statuses: Vec<String>,
    /// AccessAlly order statuses that count as refunded.
    pub refunded_statuses: Vec<String>,
    /// HighLevel order payment statuses that grant access.
    pub paid_payment_statuses: Vec<String>,
    /// How access is granted.
    pub grant_via: GrantVia,
    /// The business name on invoices.
    pub business_name: String,
    /// Run-time mode changes (the admin page's switch); they win over `Tenant::modes`.
    pub mode_overrides: ModeOverrides,
}

/// Flow modes changed at run time, keyed by tenant name and flow; shared
/// by every clone of a tenant, so a switch reaches workers, pollers and intake.
#[derive(Debug, Clone, Default)]
pub struct ModeOverrides(Arc<RwLock<HashMap<(String, Flow), FlowMode>>>);

impl ModeOverrides {
    pub fn get(&self, tenant: &str, flow: Flow) -> Option<FlowMode> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return None;
        }
        map.get(&(tenant.to_string(), flow)).copied()
    }

    pub fn set(&self, tenant: &str, flow: Flow, mode: FlowMode) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.insert((tenant.to_string(), flow), mode);
    }
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            conflict_policy: ConflictPolicy::default(),
            delete_policy: DeletePolicy::default(),
            order_tags: vec!["accessally-buyer".into()],
            refund_tag: "accessally-refunded".into(),
            order_note: true,
            payment_mode: "other".into(),
            coupon_currency: Currency::USD,
            coupon_code: CodeCase::default(),
            product_key: ProductKey::default(),
            sku_prefixes: Vec::new(),
            product_fields: ProductFields::default(),
            completed_statuses: vec!["success".into(), "sca_success".into()],
            refunded_statuses: vec!["refunded".into(), "partially_refunded".into()],
            paid_payment_statuses: vec!["paid".into()],
            grant_via: GrantVia::default(),
            business_name: "AccessAlly".into(),
            mode_overrides: ModeOverrides::default(),
        }
    }
}

impl TenantSettings {
    /// What an AccessAlly order in `status` is to the orders flow (`None`:
    /// nothing to record). A status listed as refunded is refunded, even if
    /// it is listed as completed too.
    pub fn order_state(&self, status: &str) -> Option<OrderState> {
        if self.refunded_statuses.iter().any(|s| s == status) {
            Some(OrderState::Refunded)
        } else if self.completed_statuses.iter().any(|s| s == status) {
            Some(OrderState::Paid)
        } else {
            None
        }
    }

    /// Whether a HighLevel order grants access: its payment status is one
    /// of the paid ones, or, where it has none, its status is `completed`.
    pub fn order_paid(&self, payment_status: Option<&str>, status: &str) -> bool {
        match payment_status {
            Some(p) => self.paid_payment_statuses.iter().any(|s| s == p),
            None => status == "completed",
        }
    }

    /// Whether a product with these SKUs syncs: every product when no
    /// prefix is set, else one whose SKU starts with one of them.
    pub fn includes_skus<'a>(&self, skus: impl IntoIterator<Item = &'a str>) -> bool {
        self.sku_prefixes.is_empty()
            || skus.into_iter().any(|sku| {
                self.sku_prefixes
                    .iter()
                    .any(|p| sku.starts_with(p.as_str()))
            })
    }

    /// Why a product does not sync, for the plan and the log.
    pub fn excluded_reason(&self) -> String {
        format!(
            "no SKU starts with one of [tenant.mapping] sku_prefixes ({})",
            self.sku_prefixes.join(", ")
        )
    }
}

/// One paired HighLevel location and AccessAlly site.
#[derive(Clone)]
pub struct Tenant {
    pub name: String,
    pub ghl: Arc<ghl::GhlClient>,
    pub accessally: Arc<accessally::AccessAllyClient>,
    pub modes: HashMap<Flow, FlowMode>,
    pub settings: TenantSettings,
}

impl Tenant {
    pub fn mode(&self, flow: Flow) -> FlowMode {
        self.settings
            .mode_overrides
            .get(&self.name, flow)
            .or_else(|| self.modes.get(&flow).copied())
            .unwrap_or(FlowMode::Observe)
    }

    /// Every flow in the mode it runs in now.
    pub fn modes_now(&self) -> Vec<(Flow, FlowMode)> {
        Flow::ALL.iter().map(|f| (*f, self.mode(*f))).collect()
    }

    /// The link entity type of this tenant's records of one kind.
    pub fn entity(&self, kind: &str) -> String {
        format!("{}/{kind}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_statuses_are_the_ones_allybridge_always_used() {
        let s = TenantSettings::default();
        assert_eq!(s.order_state("success"), Some(OrderState::Paid));
        assert_eq!(s.order_state("sca_success"), Some(OrderState::Paid));
        assert_eq!(s.order_state("refunded"), Some(OrderState::Refunded));
        assert_eq!(
            s.order_state("partially_refunded"),
            Some(OrderState::Refunded)
        );
        assert_eq!(s.order_state("failed"), None);
        assert!(s.order_paid(Some("paid"), "completed"));
        assert!(!s.order_paid(Some("partially_paid"), "pending"));
        assert!(s.order_paid(None, "completed"));
        assert!(!s.order_paid(None, "pending"));
    }

    #[test]
    fn configured_statuses_decide() {
        let s = TenantSettings {
            completed_statuses: vec!["success".into(), "partially_refunded".into()],
            refunded_statuses: vec!["refunded".into()],
            paid_payment_statuses: vec!["paid".into(), "partially_paid".into()],
            ..TenantSettings::default()
        };
        assert_eq!(s.order_state("partially_refunded"), Some(OrderState::Paid));
        assert_eq!(s.order_state("refunded"), Some(OrderState::Refunded));
        assert_eq!(s.order_state("sca_success"), None);
        assert!(s.order_paid(Some("partially_paid"), "pending"));
        assert!(!s.order_paid(Some("unpaid"), "pending"));
    }

    #[test]
    fn sku_prefixes_select_products_by_any_of_their_skus() {
        let all = TenantSettings::default();
        assert!(all.includes_skus([]));
        assert!(all.includes_skus(["X-1"]));
        let some = TenantSettings {
            sku_prefixes: vec!["COURSE-".into(), "MEMBER-".into()],
            ..TenantSettings::default()
        };
        assert!(some.includes_skus(["COURSE-001"]));
        assert!(some.includes_skus(["GOODS-01", "MEMBER-02"]));
        assert!(!some.includes_skus(["GOODS-01"]));
        assert!(
            !some.includes_skus(["course-001"]),
            "prefixes are case-sensitive"
        );
        assert!(!some.includes_skus([]), "a product without SKU is excluded");
        assert!(some.excluded_reason().contains("COURSE-, MEMBER-"));
    }
}
