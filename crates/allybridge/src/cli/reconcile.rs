//! `allybridge reconcile`: one reconciliation scan of each selected tenant
//! that reports drift per flow (`missing`, `different`, `gone`). Without
//! `--repair` it only reports: the engine runs in dry-run mode, so the
//! jobs the scan enqueued compute and write nothing to either system.
//! With `--repair` the jobs run and write. Exit 2 when drift was found and
//! not repaired.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use engine::EngineOptions;
use engine::scan::{ScanKind, scan};
use model::Flow;
use serde_json::json;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this flow.
    #[arg(long, value_parser = context::parse_flow)]
    pub flow: Option<Flow>,
    /// Repair the drift (runs the jobs, writing to both systems per the flows' modes).
    #[arg(long)]
    pub repair: bool,
    /// Print the drift as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    let loaded = context::load_engine(
        &args.config,
        args.tenant.as_deref(),
        EngineOptions {
            dry_run: !args.repair,
            ..EngineOptions::default()
        },
        None,
    )
    .await?;
    let engine = loaded.engine;
    let dead_before: std::collections::BTreeSet<i64> = engine
        .store
        .all_dead_letters()
        .await?
        .iter()
        .map(|j| j.id)
        .collect();
    let mut tenants = Vec::new();
    let mut drifted = 0u64;
    for tenant in engine.tenants.values() {
        let report = scan(&engine, tenant, ScanKind::Reconcile, args.flow)
            .await
            .map_err(|e| anyhow::anyhow!("tenant `{}`: {e}", tenant.name))?;
        eprintln!(
            "[{}] reconcile: {} checked, {} out of line",
            tenant.name, report.checked, report.drifted
        );
        drifted += report.drifted;
        tenants.push(report);
    }
    // Report-only runs compute the jobs in dry-run mode; repairs write.
    engine.work_until_idle(Duration::from_secs(5)).await?;
    let mut dead = 0;
    for job in engine
        .store
        .all_dead_letters()
        .await
        .map_err(|e| anyhow::anyhow!("could not list the dead letters: {e}"))?
    {
        if dead_before.contains(&job.id) {
            continue;
        }
        dead += 1;
        if !args.repair {
            // A job that could not be computed in a report-only run is not a failure to keep.
            engine.store.drop_dead_letter(job.id).await?;
        }
    }
    let repaired = args.repair && dead == 0;
    if args.json {
        println!(
            "{}",
            json!({"drift": drifted, "repair": args.repair, "repaired": repaired && drifted > 0, "dead_lettered": if args.repair { dead } else { 0 }, "tenants": tenants})
        );
    } else {
        for t in &tenants {
            for d in &t.drift {
                println!("[{}] {:<24} {:<9} {}", t.tenant, d.flow, d.kind, d.record);
            }
            if t.drifted > t.drift.len() as u64 {
                println!(
                    "[{}] … and {} more out of line (only the first {} are named)",
                    t.tenant,
                    t.drifted - t.drift.len() as u64,
                    t.drift.len()
                );
            }
        }
        match (drifted, args.repair) {
            (0, _) => println!("No drift: both sides match."),
            (n, false) => println!(
                "{n} records out of line; nothing was written. Run `allybridge reconcile --repair` to fix them."
            ),
            (n, true) if repaired => println!("{n} records out of line were repaired."),
            (n, true) => println!(
                "{n} records out of line; {dead} could not be repaired (see `allybridge dlq list`)."
            ),
        }
    }
    engine.store.close().await;
    Ok(if drifted > 0 && !repaired {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
