//! Scans of both sides that feed the queue: the first backfill, the
//! periodic polls (HighLevel coupons have no webhooks; lost HighLevel
//! webhooks are only ever recovered by scanning), and reconciliation, which
//! also reports drift. A scan computes each record's canonical hash from the
//! list it read and enqueues a job only for records that are new, changed,
//! or gone; the job then fetches the record fresh. An unchanged catalog
//! therefore costs list reads and no writes. The tenant's mapping applies
//! here as in the jobs: products `sku_prefixes` excludes are neither
//! enqueued nor reported as drift (with prefixes set, a HighLevel product
//! that is new or changed costs a read of its prices to know its SKUs),
//! hashes leave out the fields the tenant does not sync, and the order
//! statuses that count are the tenant's.
//!
//! A scan reads each list page by page, looks up the links of each chunk of
//! records it read in one query, and enqueues its jobs in chunks as it goes,
//! so its memory does not grow with the catalog (beyond the ids it has seen,
//! to find the records gone), and the workers start on the first jobs while
//! the rest is still being read. A record whose job is still waiting in the
//! queue is not queued again (a poll during a large first sync writes
//! nothing for it, and a retry keeps its back-off).

use std::collections::HashMap;
use std::pin::pin;

use accessally::ListQuery;
use futures::TryStreamExt;
use model::{Flow, FlowMode, SeenIds};
use serde::Serialize;
use store::{Link, Priority, System};

use crate::canonical::{CanonicalCoupon, CanonicalProduct};
use crate::error::EngineError;
use crate::flows::coupons::{Restriction, restriction};
use crate::flows::orders::state_hash;
use crate::flows::products::ghl_product_included;
use crate::flows::{Seen, entities, kinds};
use crate::plan::{Action, PlanEntry};
use crate::tenant::Tenant;
use crate::worker::{Engine, job};

/// The order of a full pass: products both ways first, because coupons and
/// orders name products through their links; then coupons and orders.
/// The flows of one phase do not depend on each other, so a pass scans them
/// all and runs their jobs together.
pub const PASS_PHASES: [&[Flow]; 2] = [
    &[Flow::ProductsToAccessally, Flow::ProductsToHighlevel],
    &[
        Flow::CouponsToAccessally,
        Flow::OrdersToHighlevel,
        Flow::OrdersToAccessally,
    ],
];

/// What one phase of a pass did: each flow's scan and the jobs run.
#[derive(Debug)]
pub struct PhaseReport {
    pub scans: Vec<(Flow, ScanReport)>,
    pub jobs_run: u64,
}

/// Runs one phase of a pass (see [`PASS_PHASES`]) over `tenant`: scans
/// `flows` at once while the engine runs the jobs they enqueue, then runs
/// jobs until none is ready and none waits for a retry sooner than
/// `patience`. A failed scan fails the phase once the work is done.
pub async fn run_phase(
    engine: &Engine,
    tenant: &Tenant,
    kind: ScanKind,
    flows: &[Flow],
    patience: std::time::Duration,
) -> Result<PhaseReport, EngineError> {
    let scans = futures::future::join_all(
        flows
            .iter()
            .map(|flow| async move { (*flow, scan(engine, tenant, kind, Some(*flow)).await) }),
    );
    let (scanned, jobs_run) = engine.work_alongside(scans, patience).await?;
    let scans = scanned
        .into_iter()
        .map(|(flow, report)| report.map(|report| (flow, report)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PhaseReport { scans, jobs_run })
}

/// Why a scan runs: sets the jobs' priority and whether drift is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    Backfill,
    Poll,
    Reconcile,
}

/// One record out of line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub flow: String,
    /// `missing` (no counterpart yet), `different`, or `gone` (source deleted).
    pub kind: &'static str,
    pub record: String,
}

/// The most drifted records a report names; the rest are counted only
/// (a first pass over a large catalog finds every record "missing").
pub const MAX_DRIFT_DETAILS: usize = 1_000;

/// What a scan of one tenant found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub tenant: String,
    pub checked: u64,
    /// Jobs added to the queue (or moved up to a more urgent priority);
    /// records whose job was already waiting are not counted again.
    pub enqueued: u64,
    /// Records out of line.
    pub drifted: u64,
    /// The first [`MAX_DRIFT_DETAILS`] of them.
    pub drift: Vec<Drift>,
}

/// Jobs a scan has found are enqueued once this many are waiting.
const ENQUEUE_CHUNK: usize = 500;

/// Enqueues the waiting `jobs` when a chunk is full, or all of them when
/// `all`; counts into `enqueued` those that were not already queued (a
/// record with a pending job keeps that job: see `Store::enqueue_found`).
async fn enqueue_found(
    engine: &Engine,
    jobs: &mut Vec<store::NewJob>,
    enqueued: &mut u64,
    all: bool,
) -> Result<(), EngineError> {
    if jobs.len() >= ENQUEUE_CHUNK || (all && !jobs.is_empty()) {
        // A backfill (`sync`, the demo) runs now what waits for a retry.
        let run_now = jobs[0].priority == Priority::Backfill;
        *enqueued += engine.store.enqueue_found(jobs, run_now).await?;
        jobs.clear();
    }
    Ok(())
}

/// Records a scan reads before it looks up their links (one query).
const SCAN_CHUNK: usize = 200;

/// The links of one tenant's `entity` holding `ids` on `side`, by that
/// side's id: a scan looks up each chunk of records it reads, so it never
/// holds every link of a large catalog.
async fn links_for<'a>(
    engine: &Engine,
    tenant: &Tenant,
    entity: &str,
    side: System,
    ids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Link>, EngineError> {
    let ids: Vec<&str> = ids.collect();
    let links = engine
        .store
        .find_links(&tenant.entity(entity), side, &ids)
        .await?;
    Ok(links
        .into_iter()
        .map(|l| {
            let id = match side {
                System::HighLevel => l.highlevel_id.clone(),
                System::AccessAlly => l.accessally_id.clone(),
            };
            (id, l)
        })
        .collect())
}

/// The HighLevel ids of the records gone from HighLevel, among the next
/// page of one tenant's `entity` links after `after` (a link id, moved on to
/// the page's last); `None` after the last page. Gone: the link is `ours`,
/// was made before the scan `started` (a link made while the lists were
/// read may be of a record they did not show), its record was not `seen`
/// in the list, and its deletion was not synced already.
async fn next_gone(
    engine: &Engine,
    tenant: &Tenant,
    entity: &str,
    after: &mut i64,
    started: chrono::DateTime<chrono::Utc>,
    seen: &SeenIds,
    ours: impl Fn(&Link) -> bool,
) -> Result<Option<Vec<String>>, EngineError> {
    let page = engine
        .store
        .links(Some(&tenant.entity(entity)), *after, 1000)
        .await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    *after = last.id;
    Ok(Some(
        page.into_iter()
            .filter(|l| {
                ours(l)
                    && l.created_at < started
                    && !seen.contains(&l.highlevel_id)
                    && !Seen::is_deleted(l.highlevel_hash.as_deref())
            })
            .map(|l| l.highlevel_id)
            .collect(),
    ))
}

fn active(tenant: &Tenant, flow: Flow) -> bool {
    tenant.mode(flow) != FlowMode::Off
}

/// Scans the flows of `tenant` (all enabled ones when `only` is `None`).
pub async fn scan(
    engine: &Engine,
    tenant: &Tenant,
    kind: ScanKind,
    only: Option<Flow>,
) -> Result<ScanReport, EngineError> {
    let priority = match kind {
        ScanKind::Backfill => Priority::Backfill,
        ScanKind::Poll => Priority::Poll,
        ScanKind::Reconcile => Priority::Reconcile,
    };
    let budget = match kind {
        ScanKind::Poll => ghl::Priority::Live,
        _ => ghl::Priority::Backfill,
    };
    let wants = |f: Flow| active(tenant, f) && only.is_none_or(|o| o == f);
    // Links made after this are never taken for gone (see `next_gone`).
    let started = chrono::Utc::now();
    let mut report = ScanReport {
        tenant: tenant.name.clone(),
        ..ScanReport::default()
    };
    let mut jobs = Vec::new();
    let mut enqueued = 0;
    let mut checked = 0;
    let mut drift = |flow: Flow,
                     kind: &'static str,
                     record: String,
                     jobs: &mut Vec<store::NewJob>,
                     job: store::NewJob| {
        report.drifted += 1;
        if report.drift.len() < MAX_DRIFT_DETAILS {
            report.drift.push(Drift {
                flow: flow.to_string(),
                kind,
                record,
            });
        }
        jobs.push(job);
    };

    // Which unlinked HighLevel products `sku_prefixes` lets sync, read once per scan.
    let mut included: HashMap<String, bool> = HashMap::new();
    // What the mapping leaves out is no drift; a backfill (the pass `sync`
    // and its dry run print) reports it as a skip with the reason.
    let excluded = |flow: Flow, record: String, why: &str| {
        if kind == ScanKind::Backfill {
            engine.plan.push(PlanEntry {
                tenant: tenant.name.clone(),
                flow,
                action: Action::Skip,
                record,
                diffs: vec![],
                changes: serde_json::Value::Null,
                note: format!("skipped: {why}"),
                written: false,
            });
        }
    };
    let reason = tenant.settings.excluded_reason();

    if wants(Flow::CouponsToAccessally) {
        let mut seen = SeenIds::new();
        let mut pages = pin!(tenant.ghl.coupons(budget).try_chunks(SCAN_CHUNK));
        while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
            let ids = page.iter().map(|c| c.id.as_str());
            let linked =
                links_for(engine, tenant, entities::COUPON, System::HighLevel, ids).await?;
            let named = page
                .iter()
                .flat_map(|c| c.product_ids.iter().map(String::as_str));
            let offering_of =
                links_for(engine, tenant, entities::PRODUCT, System::HighLevel, named).await?;
            for c in page {
                checked += 1;
                seen.insert(&c.id);
                let found = restriction(
                    tenant,
                    &c.product_ids,
                    |p| offering_of.get(p).map(|l| l.accessally_id.clone()),
                    &mut included,
                    budget,
                )
                .await;
                let hash = match found {
                    // Not synced while only excluded products name it.
                    Ok(Restriction::Excluded) => {
                        excluded(
                            Flow::CouponsToAccessally,
                            format!("coupon {}", c.code),
                            &format!("every product it is restricted to is excluded ({reason})"),
                        );
                        continue;
                    }
                    Ok(Restriction::Offerings(o)) => CanonicalCoupon::from_ghl(
                        &c,
                        o,
                        tenant.settings.coupon_currency,
                        tenant.settings.coupon_code,
                    )
                    .ok()
                    // Used up without an end date: disabled "now", the job decides.
                    .filter(|canon| !(c.status == "expired" && canon.expires.is_none()))
                    .map(|canon| canon.hash()),
                    // Waiting for a product, or unreadable: the job reports it.
                    Ok(Restriction::Unlinked(_)) | Err(_) => None,
                };
                let j = job(tenant, kinds::COUPON_TO_AA, &c.id, priority);
                match linked.get(c.id.as_str()) {
                    None => drift(
                        Flow::CouponsToAccessally,
                        "missing",
                        format!("coupon {}", c.code),
                        &mut jobs,
                        j,
                    ),
                    Some(l) if hash.is_none() || l.highlevel_hash != hash => drift(
                        Flow::CouponsToAccessally,
                        "different",
                        format!("coupon {}", c.code),
                        &mut jobs,
                        j,
                    ),
                    _ => {}
                }
            }
        }
        let mut after = 0;
        let every = |_: &Link| true;
        while let Some(gone) = next_gone(
            engine,
            tenant,
            entities::COUPON,
            &mut after,
            started,
            &seen,
            every,
        )
        .await?
        {
            for id in gone {
                let j = job(tenant, kinds::COUPON_TO_AA, &id, priority);
                let record = format!("coupon {id}");
                drift(Flow::CouponsToAccessally, "gone", record, &mut jobs, j);
            }
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
        }
    }

    if wants(Flow::ProductsToAccessally) {
        let fields = tenant.settings.product_fields;
        let mut seen = SeenIds::new();
        let mut pages = pin!(tenant.ghl.products(budget).try_chunks(SCAN_CHUNK));
        while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
            let ids = page.iter().map(|p| p.id.as_str());
            let offering_of =
                links_for(engine, tenant, entities::PRODUCT, System::HighLevel, ids).await?;
            for p in page {
                checked += 1;
                // Seen even when excluded: exclusion never reads as a deletion.
                seen.insert(&p.id);
                let j = job(tenant, kinds::PRODUCT_TO_AA, &p.id, priority);
                // (drift, whether a job is needed, whether the SKUs were checked)
                let (kind_of_drift, needs_job, checked) = match offering_of.get(p.id.as_str()) {
                    None => ("missing", true, false),
                    Some(l) => {
                        // The list carries no prices: a reconciliation reads them;
                        // a poll relies on the product's own update time.
                        match kind {
                            ScanKind::Reconcile => {
                                let prices: Vec<ghl::types::Price> =
                                    tenant.ghl.prices(&p.id, budget).try_collect().await?;
                                let canon = CanonicalProduct::from_ghl(&p, &prices)?;
                                if !tenant.settings.includes_skus(canon.skus()) {
                                    excluded(
                                        Flow::ProductsToAccessally,
                                        format!("product {}", p.name),
                                        &reason,
                                    );
                                    continue;
                                }
                                let hash = canon.hash(fields);
                                let changed = l.highlevel_hash.as_deref() != Some(hash.as_str());
                                ("different", changed, true)
                            }
                            _ => {
                                let changed = p
                                    .updated_at
                                    .as_deref()
                                    .and_then(crate::canonical::parse_date)
                                    .is_some_and(|u| u > l.updated_at);
                                ("different", changed, false)
                            }
                        }
                    }
                };
                if !needs_job {
                    continue;
                }
                if !checked && !ghl_product_included(tenant, &p.id, budget).await? {
                    excluded(
                        Flow::ProductsToAccessally,
                        format!("product {}", p.name),
                        &reason,
                    );
                    continue;
                }
                drift(
                    Flow::ProductsToAccessally,
                    kind_of_drift,
                    format!("product {}", p.name),
                    &mut jobs,
                    j,
                );
            }
        }
        let mut after = 0;
        // Only links with a HighLevel hash came from HighLevel's side.
        let from_highlevel = |l: &Link| l.highlevel_hash.is_some();
        while let Some(gone) = next_gone(
            engine,
            tenant,
            entities::PRODUCT,
            &mut after,
            started,
            &seen,
            from_highlevel,
        )
        .await?
        {
            for id in gone {
                let j = job(tenant, kinds::PRODUCT_TO_AA, &id, priority);
                let record = format!("product {id}");
                drift(Flow::ProductsToAccessally, "gone", record, &mut jobs, j);
            }
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
        }
    }

    if wants(Flow::ProductsToHighlevel) {
        let fields = tenant.settings.product_fields;
        let offerings = tenant.accessally.offerings(ListQuery::default());
        let mut pages = pin!(offerings.try_chunks(SCAN_CHUNK));
        while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
            let ids: Vec<String> = page.iter().map(|o| o.id.to_string()).collect();
            let ids = ids.iter().map(String::as_str);
            let by_offering =
                links_for(engine, tenant, entities::PRODUCT, System::AccessAlly, ids).await?;
            for o in page {
                checked += 1;
                let canon = CanonicalProduct::from_accessally(&o);
                if !tenant.settings.includes_skus(canon.skus()) {
                    excluded(
                        Flow::ProductsToHighlevel,
                        format!("offering {}", o.name),
                        &reason,
                    );
                    continue;
                }
                let id = o.id.to_string();
                let hash = canon.hash(fields);
                let j = job(tenant, kinds::PRODUCT_TO_GHL, &id, priority);
                match by_offering.get(id.as_str()) {
                    None => drift(
                        Flow::ProductsToHighlevel,
                        "missing",
                        format!("offering {}", o.name),
                        &mut jobs,
                        j,
                    ),
                    Some(l) if l.accessally_hash.as_deref() != Some(hash.as_str()) => drift(
                        Flow::ProductsToHighlevel,
                        "different",
                        format!("offering {}", o.name),
                        &mut jobs,
                        j,
                    ),
                    _ => {}
                }
            }
        }
    }

    if wants(Flow::OrdersToHighlevel) {
        let orders = tenant.accessally.orders(ListQuery::default());
        let mut pages = pin!(orders.try_chunks(SCAN_CHUNK));
        while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
            let ids: Vec<String> = page.iter().map(|o| o.id.to_string()).collect();
            let ids = ids.iter().map(String::as_str);
            let linked =
                links_for(engine, tenant, entities::ORDER, System::AccessAlly, ids).await?;
            for o in page {
                let Some(state) = tenant.settings.order_state(o.status.as_str()) else {
                    continue;
                };
                checked += 1;
                let hash = state_hash(o.id, state);
                let id = o.id.to_string();
                let j = job(tenant, kinds::ORDER_TO_GHL, &id, priority);
                match linked.get(id.as_str()) {
                    None => drift(
                        Flow::OrdersToHighlevel,
                        "missing",
                        format!("order {id}"),
                        &mut jobs,
                        j,
                    ),
                    Some(l) if l.accessally_hash.as_deref() != Some(hash.as_str()) => drift(
                        Flow::OrdersToHighlevel,
                        "different",
                        format!("order {id}"),
                        &mut jobs,
                        j,
                    ),
                    _ => {}
                }
            }
        }
    }

    if wants(Flow::OrdersToAccessally) {
        let mut pages = pin!(tenant.ghl.orders(budget).try_chunks(SCAN_CHUNK));
        while let Some(page) = pages.try_next().await.map_err(|e| e.1)? {
            enqueue_found(engine, &mut jobs, &mut enqueued, false).await?;
            let ids = page.iter().map(|o| o.id.as_str());
            let granted =
                links_for(engine, tenant, entities::GRANT, System::HighLevel, ids).await?;
            for o in page {
                if !tenant
                    .settings
                    .order_paid(o.payment_status.as_deref(), &o.status)
                {
                    continue;
                }
                checked += 1;
                if !granted.contains_key(o.id.as_str()) {
                    let j = job(tenant, kinds::ORDER_TO_AA, &o.id, priority);
                    drift(
                        Flow::OrdersToAccessally,
                        "missing",
                        format!("order {}", o.id),
                        &mut jobs,
                        j,
                    );
                }
            }
        }
    }

    enqueue_found(engine, &mut jobs, &mut enqueued, true).await?;
    report.checked = checked;
    report.enqueued = enqueued;
    if kind == ScanKind::Reconcile {
        let details = serde_json::to_value(&report.drift).unwrap_or_default();
        engine
            .store
            .save_drift_report(
                &tenant.name,
                report.checked as i64,
                report.drifted as i64,
                &details,
            )
            .await?;
    }
    Ok(report)
}
