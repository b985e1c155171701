//! Products both ways. HighLevel → AccessAlly: a product and its prices
//! become an offering with one payment option per price (one-time,
//! recurring, payment plan from `totalCycles`, trial days, sku) and its
//! availability from inventory. AccessAlly → HighLevel: the reverse,
//! creating the product, its prices and inventory. Both directions compare
//! the canonical hash with the link, so an unchanged record and our own
//! write coming back cost no write; a change on both sides since the last
//! sync is a conflict the tenant's policy resolves, and is logged. What
//! the two directions do alike (a record gone at its source, excluded or
//! unchanged, the conflict policy, the link's two sides) is written once,
//! in `product_direction.rs`; this file holds what differs: each system's
//! reads, look-ups and writes.
//!
//! The tenant's mapping shapes both directions alike: a product none of
//! whose SKUs starts with a configured prefix is skipped (never created,
//! updated or deleted on the other side); prices or availability the tenant
//! does not sync are neither compared nor written; and with `product_key =
//! "name"` an unlinked record is paired with the same-named one on the
//! other side (once, with the conflict policy choosing whose content wins)
//! after the references allybridge writes on what it creates
//! (`external_ref`, slug) found nothing.
//!
//! AccessAlly → HighLevel is planned first ([`plan_to_highlevel`]) and the
//! update of a linked product written after ([`PendingUpdate`]): alone
//! with single calls, or, for the updates of one location that were ready
//! together, in bulk edits of at most 30 products and prices, or, when only
//! their stock changed, in inventory changes of 100 items
//! ([`write_updates`]). Creates stay single calls: HighLevel has no bulk
//! create. A batch plans from the HighLevel state each link keeps (what
//! allybridge last read or wrote) instead of reading every product again,
//! unless a HighLevel change of that product waits to be synced.

use accessally::{
    Availability, Interval, ListQuery, OfferingInput, PaymentKind, PaymentOptionInput,
};
use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use ghl::Priority;
use ghl::types::{PriceEdit, PriceInput, ProductEdit, ProductInput, Recurring};
use model::Flow;

use super::product_direction::Direction;
use super::{Ctx, LinkSides, Record, Seen, entities};
use crate::canonical::{CanonicalPrice, CanonicalProduct, PriceKind, interval_unit, pair_prices};
use crate::changes::Changes;
use crate::error::EngineError;
use crate::plan::Action;
use crate::tenant::{DeletePolicy, ProductKey, Tenant};

/// The slug allybridge gives a HighLevel product it creates for an offering:
/// its natural key (HighLevel finds products by id or slug).
pub fn slug_for_offering(offering_id: u64) -> String {
    format!("{SLUG_PREFIX}{offering_id}")
}

const SLUG_PREFIX: &str = "accessally-offering-";

/// The offering a product was created for, from the slug allybridge gave it.
pub fn offering_of_slug(slug: &str) -> Option<u64> {
    let id = slug.strip_prefix(SLUG_PREFIX)?;
    // Only the exact form `slug_for_offering` writes (no sign, no leading zero).
    let parsed: u64 = id.parse().ok()?;
    (slug_for_offering(parsed) == slug).then_some(parsed)
}

fn option_input(p: &CanonicalPrice, id: Option<u64>) -> Result<PaymentOptionInput, EngineError> {
    let kind = match &p.kind {
        PriceKind::OneTime => PaymentKind::OneTime,
        PriceKind::Recurring { unit, count } => PaymentKind::Recurring {
            interval: Interval {
                unit: interval_unit(unit)?,
                count: *count,
            },
        },
        PriceKind::Plan {
            payments,
            unit,
            count,
        } => PaymentKind::PaymentPlan {
            number_of_payments: *payments,
            interval: Interval {
                unit: interval_unit(unit)?,
                count: *count,
            },
        },
    };
    Ok(PaymentOptionInput {
        id,
        kind,
        price: p.money()?,
        sku: p.sku.clone(),
        trial_days: p.trial_days,
    })
}

/// HighLevel products read together for a batch of AccessAlly → HighLevel
/// product jobs (one list call per hundred linked products), so that each
/// job reads only its product's prices.
#[derive(Debug, Default)]
pub struct KnownProducts {
    /// The ids asked for: an id asked for and not found has no product.
    asked: HashSet<String>,
    found: HashMap<String, ghl::types::Product>,
}

impl KnownProducts {
    /// Reads the products linked to the offerings of `jobs` whose links
    /// keep no HighLevel state (one list call per hundred; none when every
    /// link keeps one). Marks the jobs as a batch: a job of a batch plans
    /// with the state its link keeps ([`planned_product_with_prices`]).
    /// When the read fails, each job reads its own product.
    pub async fn read(ctx: &Ctx<'_>, jobs: &[store::Job]) -> Option<Self> {
        let offerings: Vec<&str> = jobs.iter().map(|j| j.record_id.as_str()).collect();
        let links = ctx
            .store
            .find_links(
                &ctx.tenant.entity(entities::PRODUCT),
                store::System::AccessAlly,
                &offerings,
            )
            .await
            .ok()?;
        let ids: Vec<String> = links
            .into_iter()
            .filter(|l| kept_state(l).is_none_or(|kept| kept.product.is_none()))
            .map(|l| l.highlevel_id)
            .collect();
        if ids.is_empty() {
            return Some(Self::default());
        }
        Some(Self::read_ids(ctx.tenant, ids).await)
    }

    /// Reads HighLevel products `ids` (one list call per hundred); none
    /// known when the read fails (each job then reads its own).
    async fn read_ids(tenant: &Tenant, ids: Vec<String>) -> Self {
        match tenant.ghl.products_by_ids(&ids, Priority::Live).await {
            Ok(products) => Self {
                asked: ids.into_iter().collect(),
                found: products.into_iter().map(|p| (p.id.clone(), p)).collect(),
            },
            Err(e) => {
                tracing::debug!(error = %e, "reading a batch's products at once failed; each job reads its own");
                Self::default()
            }
        }
    }

    /// `Some(answer)` when `id` was asked for.
    fn get(&self, id: &str) -> Option<Option<ghl::types::Product>> {
        self.asked.contains(id).then(|| self.found.get(id).cloned())
    }
}

/// A linked product as HighLevel holds it, kept beside its link
/// (`store::Link::highlevel_state`) when a flow knows it whole: after it
/// read it, or after it wrote it itself. A batch of changes from
/// AccessAlly plans with it instead of reading each product and its
/// prices again (the reads were most of a bulk change's calls).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptState {
    /// None when only the prices are known.
    #[serde(default)]
    product: Option<ghl::types::Product>,
    prices: Vec<ghl::types::Price>,
}

/// `product` and `prices` as a link keeps them.
fn keep(product: Option<&ghl::types::Product>, prices: &[ghl::types::Price]) -> Option<String> {
    serde_json::to_string(&KeptState {
        product: product.cloned(),
        prices: prices.to_vec(),
    })
    .ok()
}

/// What `link` keeps, if anything (a state that does not parse is none).
fn kept_state(link: &store::Link) -> Option<KeptState> {
    serde_json::from_str(link.highlevel_state.as_deref()?).ok()
}

/// The product HighLevel holds once `put` replaced `current`'s fields.
fn written_product(current: &ghl::types::Product, put: &ProductInput) -> ghl::types::Product {
    ghl::types::Product {
        name: put.name.clone(),
        description: put.description.clone(),
        product_type: put.product_type.clone(),
        available_in_store: put.available_in_store,
        image: put.image.clone(),
        slug: put.slug.clone(),
        updated_at: None,
        ..current.clone()
    }
}

/// The price HighLevel holds once `input` was written over `current`
/// (a `PUT`, or a bulk edit carrying the same fields).
fn written_price(current: &ghl::types::Price, input: &PriceInput) -> ghl::types::Price {
    ghl::types::Price {
        id: current.id.clone(),
        product: current.product.clone(),
        name: input.name.clone(),
        kind: input.kind.clone(),
        currency: input.currency.clone(),
        amount: serde_json::Number::from_f64(input.amount).unwrap_or_else(|| 0.into()),
        recurring: input.recurring.clone(),
        trial_period: input.trial_period,
        total_cycles: input.total_cycles,
        sku: input.sku.clone(),
        track_inventory: input.track_inventory,
        available_quantity: input.available_quantity.map(f64::from),
        allow_out_of_stock_purchases: input.allow_out_of_stock_purchases,
        updated_at: None,
    }
}

/// The linked product `id` with its prices, for planning a change from
/// AccessAlly. In a batch, the state kept beside `link` stands in for a
/// read (its product, or the batch's list read of it), unless a change of
/// the product in HighLevel waits to be synced (its job is pending or
/// running): then HighLevel is read, so that the conflict policy sees
/// that change. A lone change always reads. Answers whether the kept
/// state was used.
async fn planned_product_with_prices(
    ctx: &Ctx<'_>,
    link: Option<&store::Link>,
    id: &str,
) -> Result<(Option<(ghl::types::Product, Vec<ghl::types::Price>)>, bool), EngineError> {
    if let Some(known) = ctx.known_products
        && let Some(link) = link.filter(|l| l.highlevel_id == id)
        && let Some(kept) = kept_state(link)
        && let Some(product) = kept.product.or_else(|| known.get(id).flatten())
    {
        let key = super::dedupe_key(ctx.tenant, super::kinds::PRODUCT_TO_AA, id);
        let open = ctx.store.open_jobs(&key).await?;
        if !open.pending && !open.running {
            return Ok((Some((product, kept.prices)), true));
        }
    }
    Ok((ghl_product_with_prices(ctx, id).await?, false))
}

async fn ghl_product_with_prices(
    ctx: &Ctx<'_>,
    id: &str,
) -> Result<Option<(ghl::types::Product, Vec<ghl::types::Price>)>, EngineError> {
    let known = ctx.known_products.and_then(|k| k.get(id));
    let product = match known {
        Some(product) => product,
        None => ctx.tenant.ghl.get_product(id, Priority::Live).await?,
    };
    let Some(product) = product else {
        return Ok(None);
    };
    let prices: Vec<ghl::types::Price> = ctx
        .tenant
        .ghl
        .prices(&product.id, Priority::Live)
        .try_collect()
        .await?;
    Ok(Some((product, prices)))
}

/// The `external_ref` allybridge gives an offering it creates for a
/// HighLevel product: its natural key (the Bridge API finds offerings by it).
pub fn external_ref_for_product(product_id: &str) -> String {
    format!("{EXTERNAL_REF_PREFIX}{product_id}")
}

const EXTERNAL_REF_PREFIX: &str = "ghl:";

/// The HighLevel product an offering was created for, from its `external_ref`.
pub fn product_of_external_ref(external_ref: &str) -> Option<&str> {
    external_ref
        .strip_prefix(EXTERNAL_REF_PREFIX)
        .filter(|id| !id.is_empty())
}

/// Whether two records have the same name (the `name` natural key).
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim() == b.trim()
}

/// Whether `[tenant.mapping] sku_prefixes` lets HighLevel product `id`
/// sync, judged by its prices' SKUs; no call when every product syncs. A
/// product HighLevel does not have (any more) is not excluded: whoever
/// names it handles that.
pub async fn ghl_product_included(
    tenant: &Tenant,
    id: &str,
    priority: Priority,
) -> Result<bool, EngineError> {
    if tenant.settings.sku_prefixes.is_empty() {
        return Ok(true);
    }
    match tenant
        .ghl
        .prices(id, priority)
        .try_collect::<Vec<ghl::types::Price>>()
        .await
    {
        Ok(prices) => Ok(tenant
            .settings
            .includes_skus(prices.iter().filter_map(|p| p.sku.as_deref()))),
        Err(e) if e.is_not_found() => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The first-time counterpart of HighLevel product `id` under `product_key
/// = "name"`: an offering with the same name that is not paired with
/// another product. Reads the whole offering list.
async fn offering_named(
    ctx: &Ctx<'_>,
    id: &str,
    name: &str,
) -> Result<Option<accessally::Offering>, EngineError> {
    let offerings: Vec<accessally::Offering> = ctx
        .tenant
        .accessally
        .offerings(ListQuery::default())
        .try_collect()
        .await?;
    for o in offerings.into_iter().filter(|o| same_name(&o.name, name)) {
        let made_for_another = o
            .external_ref
            .as_deref()
            .and_then(product_of_external_ref)
            .is_some_and(|p| p != id);
        if made_for_another {
            continue;
        }
        match ctx.link_by_aa(entities::PRODUCT, &o.id.to_string()).await? {
            Some(l) if l.highlevel_id != id => continue,
            _ => return Ok(Some(o)),
        }
    }
    Ok(None)
}

/// The first-time counterpart of offering `offering_id` under `product_key
/// = "name"`: a HighLevel product with the same name that is not paired
/// with another offering. Reads the whole product list.
async fn product_named(
    ctx: &Ctx<'_>,
    offering_id: u64,
    name: &str,
) -> Result<Option<(ghl::types::Product, Vec<ghl::types::Price>)>, EngineError> {
    let products: Vec<ghl::types::Product> = ctx
        .tenant
        .ghl
        .products(Priority::Live)
        .try_collect()
        .await?;
    for p in products.into_iter().filter(|p| same_name(&p.name, name)) {
        let made_for_another = p
            .slug
            .as_deref()
            .and_then(offering_of_slug)
            .is_some_and(|o| o != offering_id);
        if made_for_another {
            continue;
        }
        match ctx.link_by_ghl(entities::PRODUCT, &p.id).await? {
            Some(l) if l.accessally_id != offering_id.to_string() => continue,
            _ => return ghl_product_with_prices(ctx, &p.id).await,
        }
    }
    Ok(None)
}

/// HighLevel product `id` → its AccessAlly offering.
pub async fn to_accessally(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    const WAY: Direction = Direction::ToAccessAlly;
    const FLOW: Flow = WAY.flow();
    let t = ctx.tenant;
    let fields = t.settings.product_fields;
    let link = ctx.link_by_ghl(entities::PRODUCT, id).await?;
    let Some((product, prices)) = ghl_product_with_prices(ctx, id).await? else {
        return removed_in_ghl(ctx, id, link).await;
    };
    let canon = CanonicalProduct::from_ghl(&product, &prices)?;
    let record = Record::new(id, format!("product {}", product.name));
    let hash = canon.hash(fields);
    if let Some(skipped) = WAY
        .skip_excluded_or_unchanged(ctx, link.as_ref(), &canon, &hash, &record)
        .await?
    {
        return Ok(skipped);
    }
    let external_ref = external_ref_for_product(id);
    // A product allybridge created for an offering carries the offering's id
    // in its slug: its echo (a ProductCreate webhook that can arrive before
    // the link is saved, or after a crash lost it) finds that offering.
    let created_for = product.slug.as_deref().and_then(offering_of_slug);
    let mut existing = super::aa_target(
        link.as_ref(),
        |aa_id| t.accessally.get_offering(aa_id),
        || async {
            if let Some(found) = t
                .accessally
                .find_offering_by_external_ref(&external_ref)
                .await?
            {
                return Ok(Some(found));
            }
            match created_for {
                Some(offering_id) => match t.accessally.get_offering(offering_id).await {
                    Ok(found) => Ok(Some(found)),
                    Err(e) if super::aa_missing(&e) => Ok(None),
                    Err(e) => Err(e),
                },
                None => Ok(None),
            }
        },
    )
    .await?;
    // Found by name only: a record that existed on both sides before.
    let mut adopted = false;
    if existing.is_none() && t.settings.product_key == ProductKey::Name {
        existing = offering_named(ctx, id, &product.name).await?;
        adopted = existing.is_some();
    }
    let Some(current) = existing else {
        let changes = Changes::product(None, &canon.synced(fields));
        if ctx.writes(FLOW) {
            // Prices and availability the tenant does not sync are not
            // written, not even on create.
            let options = if fields.price {
                canon
                    .prices
                    .iter()
                    .map(|p| option_input(p, None))
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                Vec::new()
            };
            let create = OfferingInput {
                name: Some(canon.name.clone()),
                description: Some(canon.description.clone()),
                status: Some(canon.offering_status()),
                payment_options: Some(options),
                availability: fields.inventory.then(|| canon.offering_availability()),
                order_form_ids: None,
                access_tags: None,
                external_ref: Some(Some(external_ref.clone())),
            };
            let written = match t.accessally.create_offering(&create).await {
                Ok(o) => o,
                // An earlier attempt created it and its answer was lost: the
                // job runs again and finds it by `external_ref`.
                Err(e) if e.is_conflict() => {
                    return Err(EngineError::Waiting(format!(
                        "the offering for {external_ref} exists already ({e}); looking it up again"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let aa_hash = CanonicalProduct::from_accessally(&written).hash(fields);
            ctx.save_link(
                entities::PRODUCT,
                WAY.sides(
                    id,
                    &written.id.to_string(),
                    Some(Seen::Hash(hash)),
                    Some(Seen::Hash(aa_hash)),
                    None,
                ),
            )
            .await?;
        }
        return ctx
            .report_changes(FLOW, Action::Create, record, changes, "offering created")
            .await;
    };
    let before = CanonicalProduct::from_accessally(&current);
    let before_hash = before.hash(fields);
    if before_hash == hash {
        return ctx
            .already_equal(
                FLOW,
                entities::PRODUCT,
                LinkSides::equal(id, &current.id.to_string(), hash)
                    .keeping(keep(Some(&product), &prices)),
                record,
            )
            .await;
    }
    let source_newer = WAY.source_newer(product.updated_at.as_deref(), current.modified);
    if let Some(yielded) = WAY
        .yield_in_conflict(
            ctx,
            link.as_ref(),
            &before_hash,
            adopted,
            source_newer,
            &format!("offering {}", current.id),
            &record,
        )
        .await?
    {
        return Ok(yielded);
    }
    let changes = Changes::product(Some(&before.synced(fields)), &canon.synced(fields));
    if ctx.writes(FLOW) {
        let options = if fields.price {
            let (pairs, new_ones, _) = pair_prices(&canon.prices, &before.prices);
            let mut options = Vec::new();
            for (w, e) in pairs {
                let existing_id = current
                    .payment_options
                    .iter()
                    .find(|o| {
                        CanonicalProduct::from_accessally(&single(&current, o))
                            .prices
                            .first()
                            == before.prices.get(e)
                    })
                    .map(|o| o.id);
                options.push(option_input(&canon.prices[w], existing_id)?);
            }
            for w in new_ones {
                options.push(option_input(&canon.prices[w], None)?);
            }
            Some(options)
        } else {
            None
        };
        let written = t
            .accessally
            .update_offering(
                current.id,
                &OfferingInput {
                    name: Some(canon.name.clone()),
                    description: Some(canon.description.clone()),
                    status: Some(canon.offering_status()),
                    payment_options: options,
                    availability: fields.inventory.then(|| canon.offering_availability()),
                    order_form_ids: None,
                    access_tags: None,
                    external_ref: Some(Some(external_ref)),
                },
            )
            .await?;
        let aa_hash = CanonicalProduct::from_accessally(&written).hash(fields);
        ctx.save_link(
            entities::PRODUCT,
            WAY.sides(
                id,
                &written.id.to_string(),
                Some(Seen::Hash(hash)),
                Some(Seen::Hash(aa_hash)),
                None,
            ),
        )
        .await?;
    }
    let note = if adopted {
        "offering (paired by name) updated"
    } else {
        "offering updated"
    };
    ctx.report_changes(FLOW, Action::Update, record, changes, note)
        .await
}

/// An offering reduced to one payment option (to find an option's id).
fn single(o: &accessally::Offering, option: &accessally::PaymentOption) -> accessally::Offering {
    let mut one = o.clone();
    one.payment_options = vec![option.clone()];
    one
}

async fn removed_in_ghl(
    ctx: &Ctx<'_>,
    id: &str,
    link: Option<store::Link>,
) -> Result<Action, EngineError> {
    const WAY: Direction = Direction::ToAccessAlly;
    const FLOW: Flow = WAY.flow();
    let record = Record::new(id, format!("product {id}"));
    let link = match WAY.gone_at_source(ctx, link, &record).await? {
        Ok(link) => link,
        Err(skipped) => return Ok(skipped),
    };
    let policy = ctx.tenant.settings.delete_policy;
    if policy == DeletePolicy::Ignore {
        return ctx
            .report(
                FLOW,
                Action::Skip,
                record,
                vec![],
                "deleted in HighLevel; policy: ignore",
            )
            .await;
    }
    let Ok(aa_id) = link.accessally_id.parse::<u64>() else {
        return Err(EngineError::Permanent(format!(
            "link of product {id} holds a bad offering id"
        )));
    };
    // An offering sku_prefixes excludes is never touched, not even to delete it.
    let settings = &ctx.tenant.settings;
    if !settings.sku_prefixes.is_empty() {
        match ctx.tenant.accessally.get_offering(aa_id).await {
            Ok(o) if !settings.includes_skus(CanonicalProduct::from_accessally(&o).skus()) => {
                return WAY
                    .leave_excluded_target(ctx, id, &link, &format!("offering {aa_id}"), record)
                    .await;
            }
            Ok(_) => {}
            Err(e) if super::aa_missing(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if ctx.writes(FLOW) {
        let result = match policy {
            DeletePolicy::Delete => ctx
                .tenant
                .accessally
                .delete_offering(aa_id)
                .await
                .map(|_| ()),
            _ => ctx
                .tenant
                .accessally
                .update_offering(
                    aa_id,
                    &OfferingInput {
                        status: Some(accessally::OfferingStatus::Draft),
                        ..OfferingInput::default()
                    },
                )
                .await
                .map(|_| ()),
        };
        match result {
            Ok(()) => {}
            Err(e) if super::aa_missing(&e) => {}
            Err(e) => return Err(e.into()),
        }
        WAY.record_deletion(ctx, id, &link).await?;
    }
    let what = if policy == DeletePolicy::Delete {
        "offering deleted"
    } else {
        "offering archived (draft)"
    };
    ctx.report(FLOW, Action::Delete, record, vec![], what).await
}

/// A HighLevel price body. `stock` is the availability to write on it, or
/// `None` to leave its inventory fields out (an update keeps them, a create
/// tracks no inventory): HighLevel keeps availability on prices.
fn price_input(
    p: &CanonicalPrice,
    location: &str,
    stock: Option<Option<u32>>,
    name: &str,
) -> Result<PriceInput, EngineError> {
    let money = p.money()?;
    let (kind, recurring, cycles) = match &p.kind {
        PriceKind::OneTime => ("one_time", None, None),
        PriceKind::Recurring { unit, count } => (
            "recurring",
            Some(Recurring {
                interval: unit.clone(),
                interval_count: *count,
            }),
            None,
        ),
        PriceKind::Plan {
            payments,
            unit,
            count,
        } => (
            "recurring",
            Some(Recurring {
                interval: unit.clone(),
                interval_count: *count,
            }),
            Some(*payments),
        ),
    };
    Ok(PriceInput {
        name: name.to_string(),
        kind: kind.into(),
        currency: p.currency.clone(),
        amount: ghl::client::major_units(&money),
        location_id: location.to_string(),
        recurring,
        trial_period: (p.trial_days > 0).then_some(p.trial_days),
        total_cycles: cycles,
        sku: p.sku.clone(),
        track_inventory: stock.map(|a| a.is_some()),
        available_quantity: stock.flatten(),
        allow_out_of_stock_purchases: stock.flatten().map(|_| false),
    })
}

fn price_name(p: &CanonicalPrice) -> String {
    match &p.kind {
        PriceKind::OneTime => "One-time".into(),
        PriceKind::Recurring { unit, count } if *count == 1 => format!("Every {unit}"),
        PriceKind::Recurring { unit, count } => format!("Every {count} {unit}s"),
        PriceKind::Plan { payments, unit, .. } => format!("{payments} {unit}ly payments"),
    }
}

/// What HighLevel holds after `canon` is written to a product left with
/// `prices` prices: availability lives on prices there, so a product
/// without any has none to show.
fn held_by_ghl(canon: &CanonicalProduct, prices: usize) -> CanonicalProduct {
    let mut held = canon.clone();
    if prices == 0 {
        held.availability = None;
    }
    held
}

/// AccessAlly offering `id` → its HighLevel product, prices and inventory,
/// written at once (one job, or a batch's record written alone).
pub async fn to_highlevel(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    match plan_to_highlevel(ctx, id).await? {
        Planned::Done(action) => Ok(action),
        Planned::Update(update) => write_alone(ctx, *update).await,
    }
}

/// AccessAlly offering `id` → its HighLevel product: everything but the
/// update of a linked product is done here (reads, skips, deletes,
/// creates, conflicts); that update is returned unwritten, for the caller
/// to write alone ([`PendingUpdate::write_singly`]) or in a bulk edit with
/// others ([`PendingUpdate::bulk_edit`]), then [`PendingUpdate::finish`].
pub async fn plan_to_highlevel(ctx: &Ctx<'_>, id: &str) -> Result<Planned, EngineError> {
    const WAY: Direction = Direction::ToHighLevel;
    const FLOW: Flow = WAY.flow();
    let t = ctx.tenant;
    let fields = t.settings.product_fields;
    let record = Record::new(id, format!("offering {id}"));
    let offering_id: u64 = id
        .parse()
        .map_err(|_| EngineError::Permanent(format!("`{id}` is not an AccessAlly offering id")))?;
    let link = ctx.link_by_aa(entities::PRODUCT, id).await?;
    let offering = match t.accessally.get_offering(offering_id).await {
        Ok(o) => o,
        Err(e) if super::aa_missing(&e) => {
            // Deleted in AccessAlly: deleted in HighLevel.
            let link = match WAY.gone_at_source(ctx, link, &record).await? {
                Ok(link) => link,
                Err(skipped) => return Ok(Planned::Done(skipped)),
            };
            // A product sku_prefixes excludes is never touched, not even to delete it.
            if !ghl_product_included(t, &link.highlevel_id, Priority::Live).await? {
                let target = format!("product {}", link.highlevel_id);
                return WAY
                    .leave_excluded_target(ctx, id, &link, &target, record)
                    .await
                    .map(Planned::Done);
            }
            if ctx.writes(FLOW) {
                t.ghl.delete_product(&link.highlevel_id).await?;
                WAY.record_deletion(ctx, id, &link).await?;
            }
            return ctx
                .report(FLOW, Action::Delete, record, vec![], "product deleted")
                .await
                .map(Planned::Done);
        }
        Err(e) => return Err(e.into()),
    };
    let canon = CanonicalProduct::from_accessally(&offering);
    let record = Record::new(id, format!("offering {}", offering.name));
    let hash = canon.hash(fields);
    if let Some(skipped) = WAY
        .skip_excluded_or_unchanged(ctx, link.as_ref(), &canon, &hash, &record)
        .await?
    {
        return Ok(Planned::Done(skipped));
    }
    // The target: by link, by the id in external_ref, else by our slug.
    let mut target = link.as_ref().map(|l| l.highlevel_id.clone());
    if target.is_none() {
        target = offering
            .external_ref
            .as_deref()
            .and_then(product_of_external_ref)
            .map(str::to_string);
    }
    let (mut current, from_kept) = match &target {
        Some(gid) => planned_product_with_prices(ctx, link.as_ref(), gid).await?,
        None => (None, false),
    };
    if current.is_none() {
        current = ghl_product_with_prices(ctx, &slug_for_offering(offering_id)).await?;
    }
    // Found by name only: a record that existed on both sides before.
    let mut adopted = false;
    if current.is_none() && t.settings.product_key == ProductKey::Name {
        current = product_named(ctx, offering_id, &offering.name).await?;
        adopted = current.is_some();
    }
    let location = t.ghl.location_id().to_string();
    let mut product_input = ProductInput {
        name: canon.name.clone(),
        location_id: location.clone(),
        product_type: "DIGITAL".into(),
        description: Some(canon.description.clone()),
        available_in_store: Some(canon.published),
        image: None,
        slug: Some(slug_for_offering(offering_id)),
    };
    // The availability written on prices, when the tenant syncs it.
    let stock = fields.inventory.then_some(canon.availability);
    let Some((product, prices)) = current else {
        let changes = Changes::product(None, &canon.synced(fields));
        if ctx.writes(FLOW) {
            // The slug is the natural key a retry finds the product by.
            let created = t.ghl.create_product(&product_input).await?;
            // Prices the tenant does not sync are not written, not even on create.
            let written: &[CanonicalPrice] = if fields.price { &canon.prices } else { &[] };
            let mut created_prices = Vec::with_capacity(written.len());
            for p in written {
                created_prices.push(
                    t.ghl
                        .create_price(
                            &created.id,
                            &price_input(p, &location, stock, &price_name(p))?,
                        )
                        .await?,
                );
            }
            ctx.save_link(
                entities::PRODUCT,
                WAY.sides(
                    id,
                    &created.id,
                    Some(Seen::Hash(hash)),
                    Some(Seen::Hash(held_by_ghl(&canon, written.len()).hash(fields))),
                    keep(Some(&created), &created_prices),
                ),
            )
            .await?;
        }
        return ctx
            .report_changes(FLOW, Action::Create, record, changes, "product created")
            .await
            .map(Planned::Done);
    };
    let before = CanonicalProduct::from_ghl(&product, &prices)?;
    let before_hash = before.hash(fields);
    if before_hash == hash {
        return ctx
            .already_equal(
                FLOW,
                entities::PRODUCT,
                LinkSides::equal(&product.id, id, hash).keeping(keep(Some(&product), &prices)),
                record,
            )
            .await
            .map(Planned::Done);
    }
    let source_newer = WAY.source_newer(product.updated_at.as_deref(), offering.modified);
    if let Some(yielded) = WAY
        .yield_in_conflict(
            ctx,
            link.as_ref(),
            &before_hash,
            adopted,
            source_newer,
            &format!("product {}", product.id),
            &record,
        )
        .await?
    {
        return Ok(Planned::Done(yielded));
    }
    let changes = Changes::product(Some(&before.synced(fields)), &canon.synced(fields));
    if !ctx.writes(FLOW) {
        return ctx
            .report_changes(FLOW, Action::Update, record, changes, update_note(adopted))
            .await
            .map(Planned::Done);
    }
    let product_changed = before.name != canon.name
        || before.description != canon.description
        || before.published != canon.published;
    let product_put = product_changed.then(|| {
        // An update replaces the product: keep its own slug and type.
        product_input.slug = product.slug.clone();
        product_input.product_type = product.product_type.clone();
        product_input.image = product.image.clone();
        product_input
    });
    let existing: Vec<CanonicalPrice> = prices
        .iter()
        .map(|p| {
            CanonicalProduct::from_ghl(&product, std::slice::from_ref(p))
                .map(|c| c.prices.into_iter().next())
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    let availability_changed = fields.inventory && before.availability != canon.availability;
    let mut price_puts = Vec::new();
    let mut price_creates = Vec::new();
    let mut price_deletes = Vec::new();
    let mut left = prices.len();
    // Whether the prices stay as they are but for their stock.
    let mut prices_stay = true;
    if fields.price {
        let (pairs, new_ones, gone) = pair_prices(&canon.prices, &existing);
        prices_stay = new_ones.is_empty() && gone.is_empty();
        for (w, e) in pairs {
            prices_stay &= existing[e] == canon.prices[w];
            if existing[e] != canon.prices[w] || availability_changed {
                let p = &canon.prices[w];
                price_puts.push(PricePut {
                    current: prices[e].clone(),
                    money: p.money()?,
                    input: price_input(p, &location, stock, &prices[e].name)?,
                });
            }
        }
        for w in new_ones {
            let p = &canon.prices[w];
            price_creates.push(price_input(p, &location, stock, &price_name(p))?);
        }
        price_deletes = gone.into_iter().map(|e| prices[e].id.clone()).collect();
        left = canon.prices.len();
    } else if availability_changed {
        // Only the availability: each price written back as it is.
        for (price, own) in prices.iter().zip(&existing) {
            price_puts.push(PricePut {
                current: price.clone(),
                money: own.money()?,
                input: price_input(own, &location, stock, &price.name)?,
            });
        }
    }
    // What HighLevel holds once the update is written, when it edits
    // prices only in place (a created price's id is not known before).
    let prices_after = (price_creates.is_empty() && price_deletes.is_empty()).then(|| {
        prices
            .iter()
            .map(|price| {
                price_puts
                    .iter()
                    .find(|put| put.current.id == price.id)
                    .map_or_else(|| price.clone(), |put| written_price(price, &put.input))
            })
            .collect::<Vec<_>>()
    });
    let inventory = (product_put.is_none() && availability_changed && prices_stay)
        .then(|| {
            price_puts
                .iter()
                .map(|put| {
                    let tracked = put.current.track_inventory == Some(true)
                        && put.input.track_inventory == Some(true);
                    tracked.then_some(())?;
                    Some(ghl::types::InventoryChange {
                        price_id: put.current.id.clone(),
                        available_quantity: put.input.available_quantity?,
                        allow_out_of_stock_purchases: put.input.allow_out_of_stock_purchases,
                    })
                })
                .collect::<Option<Vec<_>>>()
        })
        .flatten()
        .filter(|items| !items.is_empty());
    let product_after = product_put
        .as_ref()
        .map_or_else(|| product.clone(), |put| written_product(&product, put));
    Ok(Planned::Update(Box::new(PendingUpdate {
        offering_id: id.to_string(),
        record,
        changes,
        note: update_note(adopted),
        product,
        product_put,
        price_puts,
        price_creates,
        price_deletes,
        ghl_hash: held_by_ghl(&canon, left).hash(fields),
        aa_hash: hash,
        product_after,
        prices_after,
        from_kept,
        inventory,
    })))
}

fn update_note(adopted: bool) -> &'static str {
    if adopted {
        "product (paired by name) updated"
    } else {
        "product updated"
    }
}

/// What [`plan_to_highlevel`] found for one offering.
pub enum Planned {
    /// Nothing (more) to write: the outcome, reported.
    Done(Action),
    /// A linked product to update, not written yet.
    Update(Box<PendingUpdate>),
}

/// One price to set whole (a `PUT`), with what HighLevel holds now.
struct PricePut {
    current: ghl::types::Price,
    money: model::Money,
    input: PriceInput,
}

impl PricePut {
    /// The same change as a bulk price edit, when it is one: a bulk edit
    /// sets only the fields it carries, so a change of the price's type or
    /// one that clears a field (trial, cycles, sku, quantity) takes the
    /// single `PUT`.
    fn bulk(&self) -> Option<PriceEdit> {
        let (now, to) = (&self.current, &self.input);
        let clears = (now.trial_period.is_some_and(|d| d > 0) && to.trial_period.is_none())
            || (now.total_cycles.is_some() && to.total_cycles.is_none())
            || (now.sku.is_some() && to.sku.is_none())
            || (now.recurring.is_some() && to.recurring.is_none())
            || (now.available_quantity.is_some() && to.available_quantity.is_none());
        if now.kind != to.kind || clears {
            return None;
        }
        Some(PriceEdit {
            id: now.id.clone(),
            name: Some(to.name.clone()),
            amount: Some(self.money),
            recurring: to.recurring.clone(),
            trial_period: to.trial_period,
            total_cycles: to.total_cycles,
            sku: to.sku.clone(),
            track_inventory: to.track_inventory,
            available_quantity: to.available_quantity,
            allow_out_of_stock_purchases: to.allow_out_of_stock_purchases,
            ..PriceEdit::default()
        })
    }
}

/// The update of one linked HighLevel product, computed from its offering
/// and not written yet: what single calls would write, and the link hashes
/// and report that follow once it is written ([`PendingUpdate::finish`]).
pub struct PendingUpdate {
    offering_id: String,
    record: Record,
    changes: Changes,
    note: &'static str,
    product: ghl::types::Product,
    /// The product's own fields, replaced whole, when they changed.
    product_put: Option<ProductInput>,
    price_puts: Vec<PricePut>,
    price_creates: Vec<PriceInput>,
    price_deletes: Vec<String>,
    ghl_hash: String,
    aa_hash: String,
    /// The product once the update is written, to keep beside the link.
    product_after: ghl::types::Product,
    /// The product's prices once the update is written, to keep beside
    /// the link; None when it creates or deletes prices.
    prices_after: Option<Vec<ghl::types::Price>>,
    /// Planned from the prices kept beside the link, not from a read.
    from_kept: bool,
    /// The whole update as inventory changes, when it changes only how
    /// many of its (stock-tracked) prices are left.
    inventory: Option<Vec<ghl::types::InventoryChange>>,
}

impl PendingUpdate {
    /// The AccessAlly offering this update comes from.
    pub fn offering_id(&self) -> &str {
        &self.offering_id
    }

    /// The whole update as one entry of a bulk edit, when a bulk edit can
    /// carry it: no price created or deleted (no bulk create exists), no
    /// field cleared, no type changed, and small enough for one request.
    pub fn bulk_edit(&self) -> Option<ProductEdit> {
        if !self.price_creates.is_empty() || !self.price_deletes.is_empty() {
            return None;
        }
        let mut edit = ProductEdit {
            id: self.product.id.clone(),
            ..ProductEdit::default()
        };
        if let Some(put) = &self.product_put {
            let had_description = self
                .product
                .description
                .as_deref()
                .is_some_and(|d| !d.is_empty());
            let description = put.description.clone().unwrap_or_default();
            if description.is_empty() && had_description {
                return None;
            }
            edit.name = Some(put.name.clone());
            edit.description = Some(description);
            edit.available_in_store = put.available_in_store;
        }
        edit.prices = self
            .price_puts
            .iter()
            .map(PricePut::bulk)
            .collect::<Option<Vec<_>>>()?;
        (ghl::bulk::entities(std::slice::from_ref(&edit)) <= ghl::BULK_EDIT_MAX_ENTITIES)
            .then_some(edit)
    }

    /// Writes the update with single calls: the product's `PUT`, each
    /// price's `PUT`, create and delete. Each sets absolute values or finds
    /// its record gone, so a retry after a lost answer is harmless.
    pub async fn write_singly(&self, ctx: &Ctx<'_>) -> Result<(), EngineError> {
        let ghl = &ctx.tenant.ghl;
        let product = &self.product.id;
        if let Some(put) = &self.product_put {
            ghl.update_product(product, put).await?;
        }
        for put in &self.price_puts {
            ghl.update_price(product, &put.current.id, &put.input)
                .await?;
        }
        for create in &self.price_creates {
            ghl.create_price(product, create).await?;
        }
        for price in &self.price_deletes {
            ghl.delete_price(product, price).await?;
        }
        Ok(())
    }

    /// After the update was written (alone or in a bulk edit): saves the
    /// link with the hashes both sides now hold and reports the update.
    pub async fn finish(self, ctx: &Ctx<'_>) -> Result<Action, EngineError> {
        ctx.save_link(
            entities::PRODUCT,
            LinkSides {
                highlevel_id: &self.product.id,
                accessally_id: &self.offering_id,
                highlevel: Some(Seen::Hash(self.ghl_hash)),
                accessally: Some(Seen::Hash(self.aa_hash)),
                highlevel_state: self
                    .prices_after
                    .as_deref()
                    .and_then(|prices| keep(Some(&self.product_after), prices)),
            },
        )
        .await?;
        ctx.report_changes(
            Flow::ProductsToHighlevel,
            Action::Update,
            self.record,
            self.changes,
            self.note,
        )
        .await
    }
}

/// Inventory items one `POST /products/inventory` carries at most (the
/// spec sets no limit; a hundred keep a request small).
pub const INVENTORY_ITEMS_PER_CALL: usize = 100;

/// Members of one request that writes several updates together: each
/// update with its place in the batch and its context.
type Together<'a> = Vec<(usize, Ctx<'a>, PendingUpdate)>;

/// Writes the pending updates of one tenant's products that were ready
/// together: an update that changes only its prices' stock goes with the
/// others like it in inventory changes of at most
/// [`INVENTORY_ITEMS_PER_CALL`] items; those a bulk edit can carry go in
/// bulk edits of at most [`ghl::BULK_EDIT_MAX_ENTITIES`] products and
/// prices each ([`ghl::bulk::pack`]); the others with single calls. A
/// request HighLevel refuses (one bad record refuses all of it) is written
/// again record by record, so only the record that fails alone fails; one
/// that failed for a reason a retry may cure fails each of its records
/// with a retryable error (both set absolute values: sent again, they
/// change nothing more). Links are saved, and outcomes reported, only for
/// what was written. Answers the outcomes in the order of `updates`.
pub async fn write_updates(
    updates: Vec<(Ctx<'_>, PendingUpdate)>,
) -> Vec<Result<Action, EngineError>> {
    let count = updates.len();
    let mut inventory: Vec<Together<'_>> = Vec::new();
    let mut inventory_items = 0;
    let mut in_bulk = Vec::new();
    let mut alone = Vec::new();
    for (i, (ctx, update)) in updates.into_iter().enumerate() {
        if let Some(items) = update.inventory.as_ref().map(Vec::len) {
            if inventory.is_empty() || inventory_items + items > INVENTORY_ITEMS_PER_CALL {
                inventory.push(Vec::new());
                inventory_items = 0;
            }
            inventory_items += items;
            if let Some(pack) = inventory.last_mut() {
                pack.push((i, ctx, update));
            }
            continue;
        }
        match update.bulk_edit() {
            Some(edit) => in_bulk.push((i, ctx, update, edit)),
            None => alone.push((i, ctx, update)),
        }
    }
    let mut packs = Vec::new();
    match ghl::bulk::pack(in_bulk.iter().map(|b| b.3.clone()).collect()) {
        Ok(edits) => {
            // `pack` keeps the order and each product whole.
            let mut members = in_bulk.into_iter();
            for pack in edits {
                let taken: Together<'_> = members
                    .by_ref()
                    .take(pack.len())
                    .map(|(i, ctx, u, _)| (i, ctx, u))
                    .collect();
                packs.push((pack, taken));
            }
        }
        Err(_) => alone.extend(in_bulk.into_iter().map(|(i, ctx, u, _)| (i, ctx, u))),
    }
    let singles = futures::future::join_all(
        alone
            .into_iter()
            .map(|(i, ctx, update)| async move { vec![(i, write_alone(&ctx, update).await)] }),
    );
    let bulks = futures::future::join_all(packs.into_iter().map(|(pack, members)| async move {
        let Some(tenant) = members.first().map(|m| m.1.tenant) else {
            return Vec::new();
        };
        let sent = tenant.ghl.bulk_edit_products(&pack).await.map(|_| ());
        written_together(members, sent, "bulk edit").await
    }));
    let stock = futures::future::join_all(inventory.into_iter().map(|members| async move {
        let Some(tenant) = members.first().map(|m| m.1.tenant) else {
            return Vec::new();
        };
        let items: Vec<ghl::types::InventoryChange> = members
            .iter()
            .flat_map(|(_, _, update)| update.inventory.clone().unwrap_or_default())
            .collect();
        let sent = tenant.ghl.update_inventory(&items).await;
        written_together(members, sent, "inventory change").await
    }));
    let (singles, bulks, stock) = futures::join!(singles, bulks, stock);
    let mut results: Vec<Option<Result<Action, EngineError>>> = (0..count).map(|_| None).collect();
    for (i, result) in singles.into_iter().chain(bulks).chain(stock).flatten() {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result);
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(EngineError::Waiting(
                    "its update was not written in its batch; it runs again".into(),
                ))
            })
        })
        .collect()
}

/// The outcomes of `members`, written together by one request (`what`)
/// that answered `sent`: each finished when it was written; each failed
/// with a retryable error (what HighLevel holds forgotten) when a retry may
/// cure it; each written alone when HighLevel refused the request.
async fn written_together(
    members: Together<'_>,
    sent: Result<(), ghl::GhlError>,
    what: &str,
) -> Vec<(usize, Result<Action, EngineError>)> {
    let mut out = Vec::with_capacity(members.len());
    let error = match sent {
        Ok(()) => {
            for (i, ctx, update) in members {
                out.push((i, update.finish(&ctx).await));
            }
            return out;
        }
        Err(e) => EngineError::from(e),
    };
    if error.is_retryable() {
        let why = error.to_string();
        let mut first = Some(error);
        for (i, ctx, update) in members {
            if let Err(forgetting) = forget_kept(&ctx, &update).await {
                tracing::warn!(error = %forgetting, product = %update.product.id, "could not forget what HighLevel held of a product whose {what} failed; its retry may write it again");
            }
            out.push((
                i,
                Err(first.take().unwrap_or_else(|| {
                    EngineError::Waiting(format!(
                        "the {what} that carried {} failed ({why}); it is sent again",
                        update.record.label
                    ))
                })),
            ));
        }
        return out;
    }
    if let Some((_, ctx, _)) = members.first() {
        tracing::warn!(
            tenant = %ctx.tenant.name,
            products = members.len(),
            error = %error,
            "HighLevel refused a {what}; writing its products one by one"
        );
    }
    for (i, ctx, update) in members {
        out.push((i, write_alone(&ctx, update).await));
    }
    out
}

/// After a failed write of `update` (part of it written, or its answer
/// lost), what HighLevel holds of the product is not known: the prices
/// kept beside its link are forgotten, so that its next run reads them.
async fn forget_kept(ctx: &Ctx<'_>, update: &PendingUpdate) -> Result<(), EngineError> {
    ctx.store
        .forget_highlevel_state(&ctx.tenant.entity(entities::PRODUCT), &update.product.id)
        .await?;
    Ok(())
}

/// An update planned from the prices kept at the last sync that HighLevel
/// refuses (a price deleted there, its webhook lost) is planned again from
/// a fresh read: the kept prices are forgotten and the job runs again.
async fn write_alone(ctx: &Ctx<'_>, update: PendingUpdate) -> Result<Action, EngineError> {
    if let Err(error) = update.write_singly(ctx).await {
        forget_kept(ctx, &update).await?;
        if update.from_kept && !error.is_retryable() {
            return Err(EngineError::Waiting(format!(
                "HighLevel refused an update planned from the prices kept at the last sync ({error}); it is planned again from a fresh read"
            )));
        }
        return Err(error);
    }
    update.finish(ctx).await
}

/// Availability as AccessAlly writes it, for callers outside this module.
pub fn availability(q: Option<u32>) -> Availability {
    match q {
        None => Availability::Unlimited,
        Some(q) => Availability::Limited(q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slug_names_the_offering_it_was_made_for_only_in_the_exact_form() {
        assert_eq!(offering_of_slug(&slug_for_offering(42)), Some(42));
        for other in [
            "accessally-offering-",
            "accessally-offering-042",
            "accessally-offering-+42",
            "accessally-offering-42x",
            "my-course",
            "ACCESSALLY-OFFERING-42",
        ] {
            assert_eq!(offering_of_slug(other), None, "{other}");
        }
    }

    #[test]
    fn an_external_ref_names_the_product_it_was_made_for() {
        let r = external_ref_for_product("65abc");
        assert_eq!(product_of_external_ref(&r), Some("65abc"));
        assert_eq!(product_of_external_ref("ghl:"), None);
        assert_eq!(product_of_external_ref("WC-101"), None);
        assert!(same_name(" Composition Clinic", "Composition Clinic "));
        assert!(!same_name("Composition Clinic", "composition clinic"));
    }

    fn one_time(sku: &str) -> CanonicalPrice {
        CanonicalPrice {
            kind: PriceKind::OneTime,
            currency: "USD".into(),
            amount_minor: 1999,
            trial_days: 0,
            sku: Some(sku.into()),
        }
    }

    #[test]
    fn a_price_carries_inventory_only_when_it_is_synced() -> Result<(), EngineError> {
        let p = one_time("A-1");
        let left_out = price_input(&p, "loc", None, "Once")?;
        assert_eq!(
            (left_out.track_inventory, left_out.available_quantity),
            (None, None)
        );
        assert_eq!(left_out.allow_out_of_stock_purchases, None);
        let limited = price_input(&p, "loc", Some(Some(7)), "Once")?;
        assert_eq!(
            (limited.track_inventory, limited.available_quantity),
            (Some(true), Some(7))
        );
        assert_eq!(limited.allow_out_of_stock_purchases, Some(false));
        let unlimited = price_input(&p, "loc", Some(None), "Once")?;
        assert_eq!(
            (unlimited.track_inventory, unlimited.available_quantity),
            (Some(false), None)
        );
        assert_eq!(limited.amount, 19.99);
        Ok(())
    }

    fn pending(
        product: serde_json::Value,
        prices: &[(serde_json::Value, PriceInput)],
    ) -> PendingUpdate {
        let product: ghl::types::Product =
            serde_json::from_value(product).expect("a product as HighLevel answers it");
        PendingUpdate {
            offering_id: "7".into(),
            record: Record::new("7", "offering 7"),
            changes: Changes::default(),
            note: update_note(false),
            product: product.clone(),
            product_put: None,
            price_puts: prices
                .iter()
                .map(|(current, input)| PricePut {
                    current: serde_json::from_value(current.clone())
                        .expect("a price as HighLevel answers it"),
                    money: model::Money::new(1999, model::Currency::USD),
                    input: input.clone(),
                })
                .collect(),
            price_creates: Vec::new(),
            price_deletes: Vec::new(),
            ghl_hash: String::new(),
            aa_hash: String::new(),
            product_after: product,
            prices_after: None,
            from_kept: false,
            inventory: None,
        }
    }

    #[test]
    fn only_what_a_bulk_edit_can_carry_goes_in_one() -> Result<(), EngineError> {
        let product = serde_json::json!({"_id": "p1", "locationId": "loc", "name": "Kit",
            "description": "Paints", "productType": "DIGITAL"});
        let price = |extra: serde_json::Value| {
            let mut p = serde_json::json!({"_id": "pr1", "name": "Once", "type": "one_time",
                "currency": "USD", "amount": 10, "sku": "A-1"});
            for (k, v) in extra.as_object().into_iter().flatten() {
                p[k] = v.clone();
            }
            p
        };
        let input = price_input(&one_time("A-1"), "loc", None, "Once")?;
        // A new amount: one bulk entry, the price with its absolute values.
        let update = pending(
            product.clone(),
            &[(price(serde_json::json!({})), input.clone())],
        );
        let edit = update.bulk_edit().expect("a bulk edit carries an amount");
        assert_eq!((edit.id.as_str(), edit.prices.len()), ("p1", 1));
        assert_eq!(
            edit.prices[0].amount,
            Some(model::Money::new(1999, model::Currency::USD))
        );
        assert_eq!(edit.prices[0].sku.as_deref(), Some("A-1"));
        assert_eq!(edit.name, None, "the product's own fields did not change");
        // A type change, or a field cleared, takes the single PUT.
        let recurring = price(serde_json::json!({"type": "recurring",
            "recurring": {"interval": "month", "intervalCount": 1}}));
        assert!(
            pending(product.clone(), &[(recurring, input.clone())])
                .bulk_edit()
                .is_none()
        );
        let trial = price(serde_json::json!({"trialPeriod": 7}));
        assert!(
            pending(product.clone(), &[(trial, input.clone())])
                .bulk_edit()
                .is_none()
        );
        let no_sku = PriceInput {
            sku: None,
            ..input.clone()
        };
        assert!(
            pending(product.clone(), &[(price(serde_json::json!({})), no_sku)])
                .bulk_edit()
                .is_none()
        );
        // A cleared description, or a price created or deleted, too.
        let mut cleared = pending(product.clone(), &[]);
        cleared.product_put = Some(ProductInput {
            name: "Kit".into(),
            location_id: "loc".into(),
            product_type: "DIGITAL".into(),
            description: Some(String::new()),
            available_in_store: Some(true),
            image: None,
            slug: None,
        });
        assert!(cleared.bulk_edit().is_none());
        let mut created = pending(product.clone(), &[]);
        created.price_creates.push(input.clone());
        assert!(created.bulk_edit().is_none());
        // More prices than one request holds.
        let many: Vec<_> = (0..ghl::BULK_EDIT_MAX_ENTITIES)
            .map(|i| {
                (
                    price(serde_json::json!({"_id": format!("pr{i}")})),
                    input.clone(),
                )
            })
            .collect();
        assert!(pending(product, &many).bulk_edit().is_none());
        Ok(())
    }

    #[test]
    fn highlevel_shows_no_availability_on_a_product_without_prices() {
        let canon = CanonicalProduct {
            name: "Kit".into(),
            description: String::new(),
            published: true,
            prices: vec![one_time("K-1")],
            availability: Some(12),
        };
        assert_eq!(held_by_ghl(&canon, 1).availability, Some(12));
        assert_eq!(held_by_ghl(&canon, 0).availability, None);
        assert_eq!(held_by_ghl(&canon, 0).prices, canon.prices);
    }
}
