//! `allybridge sync`: one backfill / catch-up pass — for each selected
//! tenant, phase by phase (products first, then coupons and orders), scan
//! the enabled flows, then run their jobs until the queue is idle — with
//! progress lines on stderr. `--dry-run` runs the engine in dry-run
//! mode: every flow reads and computes, nothing is written to either
//! system, and the plan (creates, updates, deletes, skips with field
//! differences) is printed instead.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use engine::scan::{PASS_PHASES, ScanKind, run_phase};
use engine::{Action, EngineOptions, PlanEntry};
use model::{Flow, FlowMode};
use serde_json::json;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this flow (e.g. coupons_to_accessally).
    #[arg(long, value_parser = context::parse_flow)]
    pub flow: Option<Flow>,
    /// Read and compute only: print what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result (the plan, with --dry-run) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for jobs whose retry is due soon before ending the pass, in seconds.
    #[arg(long, default_value_t = 5)]
    pub patience: u64,
    /// Give up when no record was done for this many seconds (a system
    /// down or refusing), saying which system and what to check.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Records done so far (created, updated, deleted, unchanged, dead-lettered), per flow.
fn done(engine: &engine::Engine) -> std::collections::BTreeMap<String, u64> {
    engine
        .stats
        .summary()
        .into_iter()
        .map(|(flow, s)| {
            (
                flow,
                s.created + s.updated + s.deleted + s.skipped + s.dead_lettered,
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Each location's use of its HighLevel rate budget: a pass paces its
/// calls to stay within HighLevel's limit (as it must against the real
/// API), so when the budget is the bound, fewer calls per record, not more
/// speed here, is what would make it faster.
fn budget_note(budgets: &[(String, ghl::RateBudget)]) -> String {
    let used: Vec<String> = budgets
        .iter()
        .map(|(location, budget)| (location, budget.snapshot(location)))
        .filter(|(_, s)| s.in_window > 0)
        .map(|(location, s)| {
            format!(
                "HighLevel {location}: {}/{} calls in {} s",
                s.in_window,
                s.max,
                s.interval.as_secs()
            )
        })
        .collect();
    if used.is_empty() {
        String::new()
    } else {
        format!(" ({})", used.join("; "))
    }
}

/// Why no record moved: one read from each system of each tenant, as
/// `check` makes them, within a few seconds; the first failure in words.
async fn diagnose(engine: &engine::Engine) -> String {
    use futures::TryStreamExt;
    let limit = Duration::from_secs(5);
    for tenant in engine.tenants.values() {
        let ghl = tokio::time::timeout(
            limit,
            Box::pin(tenant.ghl.products(ghl::Priority::Live)).try_next(),
        )
        .await;
        match ghl {
            Err(_) => {
                return format!(
                    "[{}] HighLevel does not answer; check [tenant.ghl] base_url and the network (`allybridge check`)",
                    tenant.name
                );
            }
            Ok(Err(e)) => {
                // Read as `check` reads a failed call.
                let what = match super::probe::classify(&e) {
                    super::probe::Failure::Unreachable(m) => format!(
                        "HighLevel is unreachable ({m}); check [tenant.ghl] base_url and the network"
                    ),
                    super::probe::Failure::Unauthenticated(m) => format!(
                        "HighLevel refused the credentials ({m}); reconnect with `allybridge connect ghl`"
                    ),
                    _ => format!("HighLevel fails: {e}"),
                };
                return format!("[{}] {what} (`allybridge check` tells more)", tenant.name);
            }
            Ok(Ok(_)) => {}
        }
        let aa = tokio::time::timeout(
            limit,
            Box::pin(
                tenant
                    .accessally
                    .offerings(accessally::ListQuery::default().per_page(1)),
            )
            .try_next(),
        )
        .await;
        match aa {
            Err(_) => {
                return format!(
                    "[{}] AccessAlly does not answer; check [tenant.accessally] site_url and that the allybridge plugin is active (`allybridge check`)",
                    tenant.name
                );
            }
            Ok(Err(e)) => {
                return format!(
                    "[{}] AccessAlly fails: {e}; run `allybridge check` (credentials: `allybridge connect accessally`)",
                    tenant.name
                );
            }
            Ok(Ok(_)) => {}
        }
    }
    "both systems answer now, yet no record moved; run `allybridge sync` again, or `allybridge check`".into()
}

pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let loaded = context::load_engine(
        &args.config,
        args.tenant.as_deref(),
        EngineOptions {
            dry_run: args.dry_run,
            ..EngineOptions::default()
        },
        None,
    )
    .await?;
    let budgets: Vec<(String, ghl::RateBudget)> = loaded
        .ghl
        .iter()
        .map(|g| (g.location_id.clone(), g.budget.clone()))
        .collect();
    let engine = loaded.engine;
    let dead_before: std::collections::BTreeSet<i64> = engine
        .store
        .all_dead_letters()
        .await?
        .iter()
        .map(|j| j.id)
        .collect();
    let started = Instant::now();
    let patience = Duration::from_secs(args.patience);
    let mut enqueued = 0;
    let mut checked = 0;
    let pass = async {
        for tenant in engine.tenants.values() {
            for phase in PASS_PHASES {
                let flows: Vec<Flow> = phase
                    .iter()
                    .copied()
                    .filter(|flow| {
                        args.flow.is_none_or(|f| f == *flow) && tenant.mode(*flow) != FlowMode::Off
                    })
                    .collect();
                if flows.is_empty() {
                    continue;
                }
                let names: Vec<String> = flows.iter().map(Flow::to_string).collect();
                eprintln!(
                    "[{}] {}: scanning and syncing…",
                    tenant.name,
                    names.join(", ")
                );
                let phase = run_phase(&engine, tenant, ScanKind::Backfill, &flows, patience)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("tenant `{}`, {}: {e}", tenant.name, names.join(", "))
                    })?;
                for (flow, report) in &phase.scans {
                    enqueued += report.enqueued;
                    checked += report.checked;
                    eprintln!(
                        "[{}] {flow}: {} checked, {} to do",
                        tenant.name, report.checked, report.enqueued
                    );
                }
                let ran = phase.jobs_run;
                eprintln!("[{}] {}: {ran} jobs run", tenant.name, names.join(", "));
            }
        }
        anyhow::Ok(())
    };
    let stall_limit = Duration::from_secs(args.timeout.max(1));
    let monitor = async {
        let mut last = done(&engine);
        let mut moved_at = Instant::now();
        let mut shown_at = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_millis(500));
        loop {
            ticker.tick().await;
            let now = done(&engine);
            if now != last {
                last = now;
                moved_at = Instant::now();
            }
            if shown_at.elapsed() >= Duration::from_secs(2) && !last.is_empty() {
                shown_at = Instant::now();
                let parts: Vec<String> = last.iter().map(|(f, n)| format!("{f} {n}")).collect();
                eprintln!(
                    "  … records done: {}{}",
                    parts.join(", "),
                    budget_note(&budgets)
                );
            }
            if moved_at.elapsed() >= stall_limit {
                return diagnose(&engine).await;
            }
        }
    };
    tokio::select! {
        finished = pass => finished?,
        why = monitor => {
            eprintln!(
                "error: gave up after {}s without progress (--timeout): {why}",
                stall_limit.as_secs()
            );
            engine.store.close().await;
            return Ok(ExitCode::from(1));
        }
    }
    let queue = engine.store.queue_stats().await?;
    let summary = engine.stats.summary();
    let dead: u64 = summary.values().map(|s| s.dead_lettered).sum();
    let elapsed = started.elapsed().as_secs_f64();
    if args.dry_run {
        // Jobs that could not be computed now (e.g. a coupon whose product is
        // not in AccessAlly yet) are reported, not kept as dead letters.
        let mut blocked = Vec::new();
        for job in engine
            .store
            .all_dead_letters()
            .await
            .map_err(|e| anyhow::anyhow!("could not list the dead letters: {e}"))?
        {
            if dead_before.contains(&job.id) {
                continue;
            }
            blocked.push(json!({
                "kind": job.kind,
                "record": job.record_id,
                "reason": job.dead_reason.clone().or(job.last_error.clone()).unwrap_or_default(),
            }));
            engine.store.drop_dead_letter(job.id).await?;
        }
        let entries = engine.plan.entries();
        let calls = highlevel_calls(&engine, &entries);
        if args.json {
            println!(
                "{}",
                json!({
                    "dry_run": true,
                    "checked": checked,
                    "enqueued": enqueued,
                    "counts": engine.plan.counts(),
                    "entries": entries,
                    "blocked": blocked,
                    "highlevel_calls": calls,
                })
            );
        } else {
            print_plan(&entries);
            if !blocked.is_empty() {
                println!(
                    "{} records depend on changes above and were not computed:",
                    blocked.len()
                );
                for b in &blocked {
                    println!(
                        "  {} {}: {}",
                        b["kind"].as_str().unwrap_or(""),
                        b["record"].as_str().unwrap_or(""),
                        b["reason"].as_str().unwrap_or("")
                    );
                }
            }
            for c in &calls {
                println!(
                    "HighLevel {} ({}): this dry run read {} times; the sync would read about as much and write about {} times, {} calls in all, {:.3} % of the location's daily quota of {}.",
                    c.location,
                    c.tenant,
                    c.reads,
                    c.writes,
                    c.reads + c.writes,
                    c.share_of_daily_quota,
                    c.daily_quota
                );
            }
            println!(
                "Dry run: {checked} records checked, {enqueued} would change; nothing was written ({elapsed:.1}s)."
            );
        }
    } else if args.json {
        println!(
            "{}",
            json!({
                "dry_run": false,
                "checked": checked,
                "enqueued": enqueued,
                "flows": summary,
                "dead_lettered": dead,
                "pending": queue.pending,
                "seconds": elapsed,
            })
        );
    } else {
        for (flow, s) in &summary {
            if s.created + s.updated + s.deleted + s.skipped + s.dead_lettered == 0 {
                continue;
            }
            let writes = flow.parse::<Flow>().is_ok_and(|f| {
                engine
                    .tenants
                    .values()
                    .any(|t| t.mode(f) == FlowMode::Write)
            });
            if writes {
                println!(
                    "{flow}: {} created, {} updated, {} deleted, {} unchanged, {} dead-lettered",
                    s.created, s.updated, s.deleted, s.skipped, s.dead_lettered
                );
            } else {
                println!(
                    "{flow} (observe: nothing written): would create {}, would update {}, would delete {}, {} unchanged or waiting",
                    s.created, s.updated, s.deleted, s.skipped
                );
            }
        }
        println!("Sync: {checked} records checked, {enqueued} jobs ({elapsed:.1}s).");
        if queue.pending > 0 {
            println!(
                "{} jobs wait for a retry; run `allybridge sync` again later or keep `allybridge serve` running.",
                queue.pending
            );
        }
        if dead > 0 {
            println!("{dead} jobs were dead-lettered; see `allybridge dlq list`.");
        }
    }
    engine.store.close().await;
    Ok(if dead > 0 && !args.dry_run {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// What a sync would cost one location's HighLevel budget.
#[derive(Debug, serde::Serialize)]
struct HighLevelCalls {
    tenant: String,
    location: String,
    /// Calls this dry run made (reads only): a sync makes about the same.
    reads: u64,
    /// Write calls the plan's changes take ([`engine::plan::highlevel_writes`]).
    writes: u64,
    daily_quota: u64,
    /// `reads + writes` as a percentage of `daily_quota`.
    share_of_daily_quota: f64,
}

fn highlevel_calls(engine: &engine::Engine, entries: &[PlanEntry]) -> Vec<HighLevelCalls> {
    let writes = engine::plan::highlevel_writes(entries, &engine.tenants);
    engine
        .tenants
        .values()
        .map(|t| {
            let reads = t.ghl.calls_made();
            let writes = writes.get(&t.name).copied().unwrap_or(0);
            let daily_quota = t.ghl.budget_snapshot().daily_limit;
            HighLevelCalls {
                tenant: t.name.clone(),
                location: t.ghl.location_id().to_string(),
                reads,
                writes,
                daily_quota,
                share_of_daily_quota: (reads + writes) as f64 * 100.0 / daily_quota.max(1) as f64,
            }
        })
        .collect()
}

/// The plan as text: counts per flow, then each change with its field differences.
pub fn print_plan(entries: &[PlanEntry]) {
    let mut flows: Vec<Flow> = entries.iter().map(|e| e.flow).collect();
    flows.sort();
    flows.dedup();
    for flow in flows {
        let of_flow: Vec<&PlanEntry> = entries.iter().filter(|e| e.flow == flow).collect();
        let count = |a: Action| of_flow.iter().filter(|e| e.action == a).count();
        println!(
            "{flow}: {} create, {} update, {} delete, {} skip",
            count(Action::Create),
            count(Action::Update),
            count(Action::Delete),
            count(Action::Skip)
        );
        for e in of_flow.iter().filter(|e| e.action != Action::Skip) {
            let action = match e.action {
                Action::Create => "create",
                Action::Update => "update",
                Action::Delete => "delete",
                Action::Skip => "skip",
            };
            println!("  {action:<6} [{}] {}", e.tenant, e.record);
            for d in &e.diffs {
                println!("           {d}");
            }
        }
    }
}
