//! A tenant: one HighLevel location paired with one AccessAlly site, the
//! clients for both, each flow's mode and the tenant's policies. Tenants
//! share nothing but the store and the process: one tenant's failures or
//! rate budget never stall another.

use std::collections::HashMap;
use std::sync::Arc;

use model::{Currency, Flow, FlowMode};

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
    /// AccessAlly order statuses that count as completed.
    pub completed_statuses: Vec<String>,
    /// The business name on invoices.
    pub business_name: String,
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
            completed_statuses: vec!["success".into(), "sca_success".into()],
            business_name: "AccessAlly".into(),
        }
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
        self.modes.get(&flow).copied().unwrap_or(FlowMode::Observe)
    }

    /// The link entity type of this tenant's records of one kind.
    pub fn entity(&self, kind: &str) -> String {
        format!("{}/{kind}", self.name)
    }
}
