//! A tenant: one HighLevel location paired with one AccessAlly site, the
//! clients for both, each flow's mode and the tenant's policies. Tenants
//! share nothing but the store and the process: one tenant's failures or
//! rate budget never stall another.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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
            completed_statuses: vec!["success".into(), "sca_success".into()],
            business_name: "AccessAlly".into(),
            mode_overrides: ModeOverrides::default(),
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
        self.settings
            .mode_overrides
            .get(&self.name, flow)
            .or_else(|| self.modes.get(&flow).copied())
            .unwrap_or(FlowMode::Observe)
    }

    /// The link entity type of this tenant's records of one kind.
    pub fn entity(&self, kind: &str) -> String {
        format!("{}/{kind}", self.name)
    }
}
