//! The shape both product directions share, written once. HighLevel →
//! AccessAlly and AccessAlly → HighLevel each read their source, find their
//! target and write with their own system's calls (`products.rs`); what
//! they do alike is here, named by a [`Direction`]: a record gone at its
//! source (never synced, already handled, a target the tenant's
//! `sku_prefixes` excludes, both tombstones once it is deleted), a record
//! excluded or unchanged since the last sync, the conflict policy on a
//! record changed on both sides (or paired by name with different
//! content), and the link saved after a write.

use chrono::{DateTime, Utc};
use model::Flow;

use super::{Ctx, LinkSides, Record, Seen, entities};
use crate::canonical::{CanonicalProduct, parse_date};
use crate::error::EngineError;
use crate::plan::Action;
use crate::tenant::ConflictPolicy;

/// Which way a product goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A HighLevel product becomes an AccessAlly offering.
    ToAccessAlly,
    /// An AccessAlly offering becomes a HighLevel product.
    ToHighLevel,
}

impl Direction {
    /// The flow that runs this way.
    pub const fn flow(self) -> Flow {
        match self {
            Self::ToAccessAlly => Flow::ProductsToAccessally,
            Self::ToHighLevel => Flow::ProductsToHighlevel,
        }
    }

    /// The flow that runs the other way.
    fn reverse(self) -> Flow {
        match self {
            Self::ToAccessAlly => Flow::ProductsToHighlevel,
            Self::ToHighLevel => Flow::ProductsToAccessally,
        }
    }

    fn source_is_highlevel(self) -> bool {
        self == Self::ToAccessAlly
    }

    fn source_system(self) -> &'static str {
        if self.source_is_highlevel() {
            "HighLevel"
        } else {
            "AccessAlly"
        }
    }

    fn target_system(self) -> &'static str {
        if self.source_is_highlevel() {
            "AccessAlly"
        } else {
            "HighLevel"
        }
    }

    /// What the link last saw of the source side.
    pub fn source_seen(self, link: &store::Link) -> Option<&str> {
        if self.source_is_highlevel() {
            link.highlevel_hash.as_deref()
        } else {
            link.accessally_hash.as_deref()
        }
    }

    /// What the link last saw of the target side.
    pub fn target_seen(self, link: &store::Link) -> Option<&str> {
        if self.source_is_highlevel() {
            link.accessally_hash.as_deref()
        } else {
            link.highlevel_hash.as_deref()
        }
    }

    /// The link's target id.
    pub fn target_id(self, link: &store::Link) -> &str {
        if self.source_is_highlevel() {
            &link.accessally_id
        } else {
            &link.highlevel_id
        }
    }

    /// A link's sides from this direction's ids and what was seen of each;
    /// `highlevel_state` is what HighLevel holds, when known whole.
    pub fn sides<'a>(
        self,
        source_id: &'a str,
        target_id: &'a str,
        source: Option<Seen>,
        target: Option<Seen>,
        highlevel_state: Option<String>,
    ) -> LinkSides<'a> {
        let ((highlevel_id, highlevel), (accessally_id, accessally)) = if self.source_is_highlevel()
        {
            ((source_id, source), (target_id, target))
        } else {
            ((target_id, target), (source_id, source))
        };
        LinkSides {
            highlevel_id,
            accessally_id,
            highlevel,
            accessally,
            highlevel_state,
        }
    }

    /// Whether the source changed after the target: HighLevel's
    /// `updatedAt` against the offering's `modified`, a HighLevel product
    /// without a date counting as the older.
    pub fn source_newer(
        self,
        highlevel_updated_at: Option<&str>,
        offering_modified: DateTime<Utc>,
    ) -> bool {
        let highlevel = highlevel_updated_at.and_then(parse_date);
        if self.source_is_highlevel() {
            highlevel.is_some_and(|g| g > offering_modified)
        } else {
            highlevel.is_none_or(|g| offering_modified > g)
        }
    }

    /// A record gone at its source: a skip when it was never synced or its
    /// deletion was handled already; else the link to act on.
    pub async fn gone_at_source(
        self,
        ctx: &Ctx<'_>,
        link: Option<store::Link>,
        record: &Record,
    ) -> Result<Result<store::Link, Action>, EngineError> {
        let flow = self.flow();
        let Some(link) = link else {
            return ctx
                .report(
                    flow,
                    Action::Skip,
                    record.clone(),
                    vec![],
                    "deleted, never synced",
                )
                .await
                .map(Err);
        };
        if Seen::is_deleted(self.source_seen(&link)) {
            return ctx
                .report(
                    flow,
                    Action::Skip,
                    record.clone(),
                    vec![],
                    "already handled",
                )
                .await
                .map(Err);
        }
        Ok(Ok(link))
    }

    /// A record gone at its source whose target the tenant's `sku_prefixes`
    /// excludes: the target is never touched, not even to delete it; the
    /// source's tombstone is kept. `target` names it (`offering 12`).
    pub async fn leave_excluded_target(
        self,
        ctx: &Ctx<'_>,
        source_id: &str,
        link: &store::Link,
        target: &str,
        record: Record,
    ) -> Result<Action, EngineError> {
        let flow = self.flow();
        if ctx.writes(flow) {
            ctx.save_link(
                entities::PRODUCT,
                self.sides(
                    source_id,
                    self.target_id(link),
                    Some(Seen::Deleted),
                    Seen::of(self.target_seen(link)),
                    None,
                ),
            )
            .await?;
        }
        let note = format!(
            "deleted in {}; {target} left alone: {}",
            self.source_system(),
            ctx.tenant.settings.excluded_reason()
        );
        ctx.report(flow, Action::Skip, record, vec![], note).await
    }

    /// Both sides deleted: tombstones on both, so that neither is deleted
    /// again nor re-created from an old copy.
    pub async fn record_deletion(
        self,
        ctx: &Ctx<'_>,
        source_id: &str,
        link: &store::Link,
    ) -> Result<(), EngineError> {
        ctx.save_link(
            entities::PRODUCT,
            self.sides(
                source_id,
                self.target_id(link),
                Some(Seen::Deleted),
                Some(Seen::Deleted),
                None,
            ),
        )
        .await
        .map(|_| ())
    }

    /// A skip when the tenant's mapping excludes the source record, or when
    /// it is unchanged since the last sync (`hash` is its content hash).
    pub async fn skip_excluded_or_unchanged(
        self,
        ctx: &Ctx<'_>,
        link: Option<&store::Link>,
        canon: &CanonicalProduct,
        hash: &str,
        record: &Record,
    ) -> Result<Option<Action>, EngineError> {
        let flow = self.flow();
        if !ctx.tenant.settings.includes_skus(canon.skus()) {
            return ctx.skip_excluded(flow, record.clone()).await.map(Some);
        }
        if link.is_some_and(|l| self.source_seen(l) == Some(hash)) {
            return ctx
                .report(flow, Action::Skip, record.clone(), vec![], "unchanged")
                .await
                .map(Some);
        }
        Ok(None)
    }

    /// The conflict policy, when the target changed too since the last sync
    /// (its hash now, `target_hash`, is not the one the link saw) or, paired
    /// by name for the first time (`adopted`), differs with no sync to tell
    /// which changed, and the other direction runs: a logged skip when the
    /// target wins, else `None` (the source wins, logged). `paired_with`
    /// names the target (`product abc`).
    #[allow(clippy::too_many_arguments)]
    pub async fn yield_in_conflict(
        self,
        ctx: &Ctx<'_>,
        link: Option<&store::Link>,
        target_hash: &str,
        adopted: bool,
        source_newer: bool,
        paired_with: &str,
        record: &Record,
    ) -> Result<Option<Action>, EngineError> {
        let contested = match link {
            Some(l) => self.target_seen(l).is_some_and(|h| h != target_hash),
            None => adopted,
        };
        if !contested || !ctx.enabled(self.reverse()) {
            return Ok(None);
        }
        let flow = self.flow();
        let policy = ctx.tenant.settings.conflict_policy;
        let what = if adopted {
            format!("paired by name with {paired_with}")
        } else {
            "conflict: changed on both sides".to_string()
        };
        if yields(policy, self.source_is_highlevel(), source_newer) {
            let note = format!("{what}; {} wins by policy {policy:?}", self.target_system());
            ctx.log_conflict(flow, record, &note).await?;
            return ctx
                .report(flow, Action::Skip, record.clone(), vec![], note)
                .await
                .map(Some);
        }
        let note = format!("{what}; {} wins by policy {policy:?}", self.source_system());
        ctx.log_conflict(flow, record, &note).await?;
        Ok(None)
    }
}

/// Whether the other side changed too since the last sync, and the policy
/// says it wins: then this direction yields.
fn yields(policy: ConflictPolicy, this_is_ghl: bool, this_newer: bool) -> bool {
    match policy {
        ConflictPolicy::GhlWins => !this_is_ghl,
        ConflictPolicy::AccessallyWins => this_is_ghl,
        ConflictPolicy::NewestWins => !this_newer,
    }
}
