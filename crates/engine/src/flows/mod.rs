//! The flow handlers. Each takes one record named by a job, fetches it fresh
//! from its source, and brings the target in line — or, when its flow only
//! observes (or in a dry run), reports what it would do. Writes are
//! idempotent under retry: targets are found by link first, then by a
//! natural key (coupon code, `external_ref`, product slug, invoice name,
//! grant `source_ref`) before anything is created. Each outcome goes to the
//! plan and the integration log, which names the record as its job does
//! (`{tenant}/{entity}` and the id it was read by); a record written is
//! announced with one info line telling the change in words, the raw
//! structure at debug level ([`crate::changes`]).

pub mod coupons;
pub mod orders;
mod product_direction;
pub mod products;

use model::{Flow, FlowMode};
use store::{Link, NewLink, Store, System};

use crate::changes::Changes;
use crate::error::EngineError;
use crate::plan::{Action, Plan, PlanEntry};
use crate::tenant::Tenant;

/// Job kinds, one per flow direction and record.
pub mod kinds {
    pub const COUPON_TO_AA: &str = "coupon.to_accessally";
    pub const PRODUCT_TO_AA: &str = "product.to_accessally";
    pub const PRODUCT_TO_GHL: &str = "product.to_highlevel";
    pub const ORDER_TO_GHL: &str = "order.to_highlevel";
    pub const ORDER_TO_AA: &str = "order.to_accessally";
}

/// The key that makes a tenant's jobs of one `kind` for one record one job
/// at a time (see `store::NewJob::dedupe_key`).
pub fn dedupe_key(tenant: &Tenant, kind: &str, record_id: &str) -> String {
    format!("{}:{kind}:{record_id}", tenant.name)
}

/// Entity names (prefixed with the tenant): what jobs, links and the
/// integration log call a record (`main/coupon`).
pub mod entities {
    pub const COUPON: &str = "coupon";
    pub const PRODUCT: &str = "product";
    pub const ORDER: &str = "order";
    pub const GRANT: &str = "grant";
}

/// The entity of the records a flow moves (both product flows move
/// products, both order flows orders; the direction is the flow's).
pub fn entity_of(flow: Flow) -> &'static str {
    match flow {
        Flow::CouponsToAccessally => entities::COUPON,
        Flow::ProductsToAccessally | Flow::ProductsToHighlevel => entities::PRODUCT,
        Flow::OrdersToHighlevel | Flow::OrdersToAccessally => entities::ORDER,
    }
}

/// The record a handler works on: its id on the system it is read from
/// (the id its job names, what the integration log keeps and `logs --id`
/// finds) and how a person knows it (`coupon LAUNCH20`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    pub label: String,
}

impl Record {
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            label: label.into(),
        }
    }
}

/// What a handler works with.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub tenant: &'a Tenant,
    pub plan: &'a Plan,
    /// Compute and report only, whatever the flows' modes.
    pub dry_run: bool,
    pub job_id: Option<i64>,
    /// HighLevel products read for a whole batch of jobs at once, used
    /// instead of a read per record.
    pub known_products: Option<&'a products::KnownProducts>,
}

impl Ctx<'_> {
    /// Whether `flow` may write now.
    pub fn writes(&self, flow: Flow) -> bool {
        !self.dry_run && self.tenant.mode(flow) == FlowMode::Write
    }

    pub fn enabled(&self, flow: Flow) -> bool {
        self.tenant.mode(flow) != FlowMode::Off
    }

    /// Records the outcome in the plan and, for writes and failures, the
    /// integration log; the changes are told in words only.
    pub async fn report(
        &self,
        flow: Flow,
        action: Action,
        record: Record,
        diffs: Vec<String>,
        note: impl Into<String>,
    ) -> Result<Action, EngineError> {
        self.report_changes(flow, action, record, Changes::words(diffs), note)
            .await
    }

    /// [`Ctx::report`] with the changes in words and as the raw structure.
    /// A record written is announced with one info line in words (the raw
    /// structure at debug level).
    pub async fn report_changes(
        &self,
        flow: Flow,
        action: Action,
        record: Record,
        changes: Changes,
        note: impl Into<String>,
    ) -> Result<Action, EngineError> {
        let note = note.into();
        let written = action != Action::Skip && self.writes(flow);
        self.plan.push(PlanEntry {
            tenant: self.tenant.name.clone(),
            flow,
            action,
            record: record.label.clone(),
            diffs: changes.lines.clone(),
            changes: changes.raw.clone(),
            note: note.clone(),
            written,
        });
        let (from, to) = direction(flow);
        if written {
            let done = match action {
                Action::Create => "created",
                Action::Update => "updated",
                Action::Delete => "deleted",
                Action::Skip => "left alone",
            };
            let what = if changes.lines.is_empty() {
                String::new()
            } else {
                format!(": {}", changes.lines.join("; "))
            };
            tracing::info!(
                tenant = %self.tenant.name,
                flow = flow.as_str(),
                record_id = %record.id,
                "{} {done} in {}{what}",
                record.label,
                to.name()
            );
            if !changes.raw.is_null() {
                tracing::debug!(
                    tenant = %self.tenant.name,
                    flow = flow.as_str(),
                    record_id = %record.id,
                    changes = %changes.raw,
                    "{} {done}: the raw changes",
                    record.label
                );
            }
        }
        // A dry run leaves no trace in the integration log; observe mode logs what it observed.
        if action != Action::Skip && !self.dry_run {
            let result = if written { "written" } else { "observed" };
            let detail = if changes.lines.is_empty() {
                format!("{}: {note}", record.label)
            } else {
                format!("{}: {note} [{}]", record.label, changes.lines.join("; "))
            };
            self.store
                .log_integration(&store::IntegrationEvent {
                    entity_type: self.tenant.entity(entity_of(flow)),
                    record_id: record.id,
                    action: format!("{action:?}").to_lowercase(),
                    from_system: from,
                    to_system: to,
                    result: result.into(),
                    detail,
                    job_id: self.job_id,
                })
                .await?;
        }
        Ok(action)
    }

    /// Reports a skip of a record the tenant's `sku_prefixes` leave out.
    pub async fn skip_excluded(&self, flow: Flow, record: Record) -> Result<Action, EngineError> {
        let reason = format!("skipped: {}", self.tenant.settings.excluded_reason());
        self.report(flow, Action::Skip, record, vec![], reason)
            .await
    }

    /// Both sides already hold the same content (`sides`, made with
    /// [`LinkSides::equal`]): record it in the link (when the flow may
    /// write) and report a skip. No call to either side.
    pub async fn already_equal(
        &self,
        flow: Flow,
        entity: &str,
        sides: LinkSides<'_>,
        record: Record,
    ) -> Result<Action, EngineError> {
        if self.writes(flow) {
            self.save_link(entity, sides).await?;
        }
        self.report(flow, Action::Skip, record, vec![], "already equal")
            .await
    }

    /// Logs a true conflict (changed on both sides since the last sync) in
    /// the integration log, with the side the policy let win.
    pub async fn log_conflict(
        &self,
        flow: Flow,
        record: &Record,
        detail: &str,
    ) -> Result<(), EngineError> {
        let (from, to) = direction(flow);
        self.store
            .log_integration(&store::IntegrationEvent {
                entity_type: self.tenant.entity(entity_of(flow)),
                record_id: record.id.clone(),
                action: "conflict".into(),
                from_system: from,
                to_system: to,
                result: "resolved by policy".into(),
                detail: format!("{}: {detail}", record.label),
                job_id: self.job_id,
            })
            .await?;
        Ok(())
    }

    pub async fn link_by_ghl(&self, entity: &str, id: &str) -> Result<Option<Link>, EngineError> {
        Ok(self
            .store
            .find_link(&self.tenant.entity(entity), System::HighLevel, id)
            .await?)
    }

    pub async fn link_by_aa(&self, entity: &str, id: &str) -> Result<Option<Link>, EngineError> {
        Ok(self
            .store
            .find_link(&self.tenant.entity(entity), System::AccessAlly, id)
            .await?)
    }

    /// Saves the link with what both sides now hold.
    pub async fn save_link(&self, entity: &str, sides: LinkSides<'_>) -> Result<Link, EngineError> {
        Ok(self
            .store
            .save_link(&NewLink {
                entity_type: self.tenant.entity(entity),
                highlevel_id: sides.highlevel_id.to_string(),
                accessally_id: sides.accessally_id.to_string(),
                highlevel_hash: sides.highlevel.map(Seen::stored),
                accessally_hash: sides.accessally.map(Seen::stored),
                highlevel_state: sides.highlevel_state,
            })
            .await?)
    }
}

/// One link to save: each side's id and what it holds, named, so that the
/// two sides cannot be swapped (their order flips with the direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSides<'a> {
    pub highlevel_id: &'a str,
    pub accessally_id: &'a str,
    pub highlevel: Option<Seen>,
    pub accessally: Option<Seen>,
    /// What HighLevel holds now, when the flow knows it whole (see
    /// `store::Link::highlevel_state`); None forgets what was kept.
    pub highlevel_state: Option<String>,
}

impl<'a> LinkSides<'a> {
    /// Both sides holding content of `hash`, HighLevel's not kept whole.
    pub fn equal(highlevel_id: &'a str, accessally_id: &'a str, hash: String) -> Self {
        Self {
            highlevel_id,
            accessally_id,
            highlevel: Some(Seen::Hash(hash.clone())),
            accessally: Some(Seen::Hash(hash)),
            highlevel_state: None,
        }
    }

    /// The same, keeping what HighLevel holds (`Link::highlevel_state`).
    pub fn keeping(self, highlevel_state: Option<String>) -> Self {
        Self {
            highlevel_state,
            ..self
        }
    }
}

/// What allybridge last saw of a record on one side: its content hash (or,
/// for an access grant, its state), or that it was deleted — a tombstone,
/// so that a deleted record is neither deleted again nor re-created from an
/// old copy. Stored as the link's hash text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Hash(String),
    Deleted,
}

impl Seen {
    /// The text a tombstone is stored as (no content hash looks like it).
    const DELETED: &'static str = "deleted";

    /// What a link's stored hash says.
    pub fn of(stored: Option<&str>) -> Option<Seen> {
        stored.map(|s| match s {
            Self::DELETED => Seen::Deleted,
            hash => Seen::Hash(hash.to_string()),
        })
    }

    /// Whether a link's stored hash is a tombstone.
    pub fn is_deleted(stored: Option<&str>) -> bool {
        stored == Some(Self::DELETED)
    }

    /// The link's hash text.
    pub fn stored(self) -> String {
        match self {
            Seen::Hash(hash) => hash,
            Seen::Deleted => Self::DELETED.to_string(),
        }
    }
}

/// The AccessAlly record a link points at; when unlinked or gone there, the
/// one found by its natural key (the look-up that makes creates idempotent).
pub async fn aa_target<T, ById, ByIdFut, ByKey, ByKeyFut>(
    link: Option<&Link>,
    by_id: ById,
    by_key: ByKey,
) -> Result<Option<T>, EngineError>
where
    ById: FnOnce(u64) -> ByIdFut,
    ByIdFut: std::future::Future<Output = Result<T, accessally::Error>>,
    ByKey: FnOnce() -> ByKeyFut,
    ByKeyFut: std::future::Future<Output = Result<Option<T>, accessally::Error>>,
{
    if let Some(aa_id) = link.and_then(|l| l.accessally_id.parse::<u64>().ok()) {
        match by_id(aa_id).await {
            Ok(found) => return Ok(Some(found)),
            Err(e) if aa_missing(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(by_key().await?)
}

/// The systems a flow reads from and writes to.
pub fn direction(flow: Flow) -> (System, System) {
    match flow {
        Flow::CouponsToAccessally | Flow::ProductsToAccessally | Flow::OrdersToAccessally => {
            (System::HighLevel, System::AccessAlly)
        }
        Flow::ProductsToHighlevel | Flow::OrdersToHighlevel => {
            (System::AccessAlly, System::HighLevel)
        }
    }
}

/// Whether an AccessAlly error is "not found".
pub fn aa_missing(e: &accessally::Error) -> bool {
    e.is_not_found()
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn a_tombstone_is_told_apart_from_any_content_hash() {
        assert_eq!(Seen::of(None), None);
        assert_eq!(Seen::of(Some("deleted")), Some(Seen::Deleted));
        assert_eq!(Seen::of(Some("ab12")), Some(Seen::Hash("ab12".into())));
        assert!(Seen::is_deleted(Some(&Seen::Deleted.stored())));
        assert!(!Seen::is_deleted(Some("ab12")) && !Seen::is_deleted(None));
        for seen in [Seen::Deleted, Seen::Hash("ab12".into())] {
            assert_eq!(Seen::of(Some(&seen.clone().stored())), Some(seen));
        }
    }
}
