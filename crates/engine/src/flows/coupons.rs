//! Coupons HighLevel → AccessAlly. HighLevel fires no coupon webhooks, so
//! jobs come from polling. The AccessAlly coupon gets the code, the discount
//! (percent, or a fixed amount in the tenant's currency), the dates, the
//! usage limits, first-payment-only (from `applyToFuturePayments`) and the
//! linked offerings of the coupon's products, which attaches it to their
//! order forms. A coupon restricted to a product not yet in AccessAlly
//! waits (it must never widen to all offerings); a product the tenant's
//! `sku_prefixes` exclude has no offering and is left out of the
//! restriction, and a coupon restricted only to such products is skipped.
//! The code is written in the tenant's case (`coupon_code`) and an
//! existing AccessAlly coupon is found by its code ignoring case. A deleted
//! or expired HighLevel coupon is disabled in AccessAlly (expired now),
//! never left active.

use std::collections::HashMap;

use accessally::CouponInput;
use chrono::Utc;
use ghl::Priority;
use model::Flow;

use super::{Ctx, LinkSides, Record, Seen, entities};
use crate::canonical::{CanonicalCoupon, same_code};
use crate::changes::Changes;
use crate::error::EngineError;
use crate::plan::Action;
use crate::tenant::Tenant;

const FLOW: Flow = Flow::CouponsToAccessally;

fn input(c: &CanonicalCoupon, external_ref: &str) -> Result<CouponInput, EngineError> {
    let date = |s: &Option<String>| s.as_deref().and_then(crate::canonical::parse_date);
    Ok(CouponInput {
        code: Some(c.code.clone()),
        discount: Some(c.discount()?),
        date_starts: Some(date(&c.starts)),
        date_expires: Some(date(&c.expires)),
        usage_limit: Some(c.usage_limit),
        usage_limit_per_user: Some(c.usage_limit_per_user),
        first_payment_only: Some(c.first_payment_only),
        offering_ids: Some(c.offering_ids.clone()),
        external_ref: Some(Some(external_ref.to_string())),
    })
}

/// What a HighLevel coupon's product restriction is in AccessAlly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restriction {
    /// The linked offerings of its products (none: not restricted), the
    /// products `sku_prefixes` excludes left out — they have no offering.
    Offerings(Vec<u64>),
    /// This product syncs but is not in AccessAlly yet.
    Unlinked(String),
    /// Restricted only to products `sku_prefixes` excludes: in AccessAlly
    /// it would apply to every offering, so it is not synced.
    Excluded,
}

/// The restriction of a coupon on `product_ids`. `offering_of` names the
/// offering id a product's link holds; `included` remembers, across the
/// coupons of one scan, which unlinked products `sku_prefixes` lets sync.
pub async fn restriction(
    tenant: &Tenant,
    product_ids: &[String],
    offering_of: impl Fn(&str) -> Option<String>,
    included: &mut HashMap<String, bool>,
    priority: Priority,
) -> Result<Restriction, EngineError> {
    let mut offerings = Vec::new();
    let mut excluded = false;
    for pid in product_ids {
        if let Some(aa_id) = offering_of(pid) {
            offerings.push(aa_id.parse::<u64>().map_err(|_| {
                EngineError::Permanent(format!(
                    "link of product {pid} holds a bad offering id `{aa_id}`"
                ))
            })?);
            continue;
        }
        let syncs = match included.get(pid) {
            Some(known) => *known,
            None => {
                let known = super::products::ghl_product_included(tenant, pid, priority).await?;
                included.insert(pid.clone(), known);
                known
            }
        };
        if syncs {
            return Ok(Restriction::Unlinked(pid.clone()));
        }
        excluded = true;
    }
    if excluded && offerings.is_empty() {
        return Ok(Restriction::Excluded);
    }
    Ok(Restriction::Offerings(offerings))
}

/// The AccessAlly coupon holding `code`, compared ignoring case.
async fn coupon_by_code(
    tenant: &Tenant,
    code: &str,
) -> Result<Option<accessally::Coupon>, accessally::Error> {
    Ok(tenant
        .accessally
        .find_coupon_by_code(code)
        .await?
        .filter(|c| same_code(&c.code, code)))
}

/// Brings the AccessAlly coupon of HighLevel coupon `id` in line.
pub async fn sync(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    let t = ctx.tenant;
    let link = ctx.link_by_ghl(entities::COUPON, id).await?;
    let Some(coupon) = t.ghl.get_coupon(id).await? else {
        return disable(ctx, id, link).await;
    };
    let record = Record::new(id, format!("coupon {}", coupon.code));
    let mut linked = HashMap::new();
    for pid in &coupon.product_ids {
        if let Some(l) = ctx.link_by_ghl(entities::PRODUCT, pid).await? {
            linked.insert(pid.clone(), l.accessally_id);
        }
    }
    let found = restriction(
        t,
        &coupon.product_ids,
        |pid| linked.get(pid).cloned(),
        &mut HashMap::new(),
        Priority::Live,
    )
    .await?;
    let offerings = match found {
        Restriction::Offerings(o) => o,
        Restriction::Unlinked(pid) => {
            return Err(EngineError::Waiting(format!(
                "coupon {} is restricted to product {pid}, which is not in AccessAlly yet",
                coupon.code
            )));
        }
        Restriction::Excluded => {
            let note = format!(
                "skipped: every product it is restricted to is excluded ({}); in AccessAlly it would apply to every offering",
                t.settings.excluded_reason()
            );
            return ctx.report(FLOW, Action::Skip, record, vec![], note).await;
        }
    };
    let mut canon = CanonicalCoupon::from_ghl(
        &coupon,
        offerings,
        t.settings.coupon_currency,
        t.settings.coupon_code,
    )?;
    if coupon.status == "expired" && canon.expires.is_none() {
        // Used up in HighLevel: disabled in AccessAlly too.
        canon.expires = Some(crate::canonical::second(Utc::now()));
    }
    let hash = canon.hash();
    if link
        .as_ref()
        .is_some_and(|l| l.highlevel_hash.as_deref() == Some(hash.as_str()))
    {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "unchanged")
            .await;
    }
    // The target: by link, else by code (the natural key).
    let existing = super::aa_target(
        link.as_ref(),
        |aa_id| t.accessally.get_coupon(aa_id),
        || coupon_by_code(t, &canon.code),
    )
    .await?;
    let external_ref = format!("ghl:{id}");
    match existing {
        Some(current) => {
            let before = CanonicalCoupon::from_accessally(&current);
            if before == canon {
                return ctx
                    .already_equal(
                        FLOW,
                        entities::COUPON,
                        LinkSides::equal(id, &current.id.to_string(), hash),
                        record,
                    )
                    .await;
            }
            let changes = Changes::coupon(Some(&before), &canon);
            if ctx.writes(FLOW) {
                let written = t
                    .accessally
                    .update_coupon(current.id, &input(&canon, &external_ref)?)
                    .await
                    .map_err(conflict_waits)?;
                let aa_hash = CanonicalCoupon::from_accessally(&written).hash();
                ctx.save_link(
                    entities::COUPON,
                    LinkSides {
                        highlevel_id: id,
                        accessally_id: &written.id.to_string(),
                        highlevel: Some(Seen::Hash(hash)),
                        accessally: Some(Seen::Hash(aa_hash)),
                        highlevel_state: None,
                    },
                )
                .await?;
            }
            ctx.report_changes(FLOW, Action::Update, record, changes, "coupon updated")
                .await
        }
        None => {
            let changes = Changes::coupon(None, &canon);
            if ctx.writes(FLOW) {
                let written = match t
                    .accessally
                    .create_coupon(&input(&canon, &external_ref)?)
                    .await
                {
                    Ok(c) => c,
                    // An earlier attempt created it and its answer was lost:
                    // adopt the coupon that holds the code.
                    Err(e) if e.is_conflict() => match coupon_by_code(t, &canon.code).await? {
                        Some(found) => t
                            .accessally
                            .update_coupon(found.id, &input(&canon, &external_ref)?)
                            .await
                            .map_err(conflict_waits)?,
                        None => return Err(conflict_waits(e)),
                    },
                    Err(e) => return Err(e.into()),
                };
                let aa_hash = CanonicalCoupon::from_accessally(&written).hash();
                ctx.save_link(
                    entities::COUPON,
                    LinkSides {
                        highlevel_id: id,
                        accessally_id: &written.id.to_string(),
                        highlevel: Some(Seen::Hash(hash)),
                        accessally: Some(Seen::Hash(aa_hash)),
                        highlevel_state: None,
                    },
                )
                .await?;
            }
            ctx.report_changes(FLOW, Action::Create, record, changes, "coupon created")
                .await
        }
    }
}

/// A code conflict while writing: another write of the same coupon is in
/// flight or was lost; the job runs again and finds the coupon by its code.
fn conflict_waits(e: accessally::Error) -> EngineError {
    if e.is_conflict() {
        EngineError::Waiting(format!(
            "coupon code conflict, looking the coupon up again: {e}"
        ))
    } else {
        e.into()
    }
}

/// The HighLevel coupon is gone: expire its AccessAlly copy now.
async fn disable(
    ctx: &Ctx<'_>,
    id: &str,
    link: Option<store::Link>,
) -> Result<Action, EngineError> {
    let record = Record::new(id, format!("coupon {id}"));
    let Some(link) = link else {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "deleted, never synced")
            .await;
    };
    if Seen::is_deleted(link.highlevel_hash.as_deref()) {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "already disabled")
            .await;
    }
    let Ok(aa_id) = link.accessally_id.parse::<u64>() else {
        return Err(EngineError::Permanent(format!(
            "link of coupon {id} holds a bad coupon id"
        )));
    };
    let now = Utc::now();
    if ctx.writes(FLOW) {
        let change = CouponInput {
            date_expires: Some(Some(now)),
            ..CouponInput::default()
        };
        match ctx.tenant.accessally.update_coupon(aa_id, &change).await {
            Ok(_) => {}
            Err(e) if super::aa_missing(&e) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.save_link(
            entities::COUPON,
            LinkSides {
                highlevel_id: id,
                accessally_id: &link.accessally_id,
                highlevel: Some(Seen::Deleted),
                accessally: Some(Seen::Deleted),
                highlevel_state: None,
            },
        )
        .await?;
    }
    ctx.report(
        FLOW,
        Action::Delete,
        record,
        vec![format!("expires → {}", crate::canonical::second(now))],
        "HighLevel coupon deleted: AccessAlly coupon disabled",
    )
    .await
}
