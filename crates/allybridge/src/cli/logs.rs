//! `allybridge logs`: the integration log — what happened to each record
//! (read, created, updated, skipped, failed) — newest last, filtered by
//! entity (`TENANT/coupon`, `TENANT/product`, `TENANT/order`: the names
//! `dlq` and the admin page use) and by a record's id on either system;
//! `--follow` keeps printing new entries. Reads the store only.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde_json::json;
use store::{IntegrationLogEntry, LogQuery};

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this entity: TENANT/coupon, TENANT/product or TENANT/order (e.g. `main/coupon`), as `dlq` names them.
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this record: its id on either system (HighLevel's or AccessAlly's).
    #[arg(long)]
    pub id: Option<String>,
    /// How many of the latest entries.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Keep printing new entries until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

fn print(e: &IntegrationLogEntry, as_json: bool) {
    let ev = &e.event;
    if as_json {
        println!(
            "{}",
            json!({
                "id": e.id, "at": e.at.to_rfc3339(), "entity_type": ev.entity_type,
                "record_id": ev.record_id, "action": ev.action,
                "from": ev.from_system.as_str(), "to": ev.to_system.as_str(),
                "result": ev.result, "detail": ev.detail, "job_id": ev.job_id,
            })
        );
    } else {
        println!(
            "{} {:<20} {:<26} {:<8} {}→{} {} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            ev.entity_type,
            ev.record_id,
            ev.action,
            ev.from_system.as_str(),
            ev.to_system.as_str(),
            ev.result,
            ev.detail
        );
    }
}

/// The entity names of the configured tenants, as the store writes them.
fn entity_names(config: &config::Config) -> Vec<String> {
    use engine::flows::entities;
    config
        .tenants
        .iter()
        .flat_map(|t| {
            [entities::COUPON, entities::PRODUCT, entities::ORDER]
                .map(|e| format!("{}/{e}", t.name))
        })
        .collect()
}

pub async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    if let Some(entity) = &args.entity {
        let names = entity_names(&config);
        if !names.contains(entity) {
            bail!(
                "no entity `{entity}`; the entities are {}",
                names.join(", ")
            );
        }
    }
    let store = daemon::open_store(&config).await?;
    let query = |limit: i64| LogQuery {
        entity_type: args.entity.clone(),
        record_id: args.id.clone(),
        limit,
        ..LogQuery::default()
    };
    let mut entries = store.integration_log(&query(args.limit.max(1))).await?;
    entries.reverse();
    let mut last = entries.last().map_or(0, |e| e.id);
    for e in &entries {
        print(e, args.json);
    }
    if !args.follow {
        if entries.is_empty() && !args.json {
            eprintln!("No log entries match.");
        }
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let mut fresh: Vec<IntegrationLogEntry> = store
            .integration_log(&query(500))
            .await?
            .into_iter()
            .filter(|e| e.id > last)
            .collect();
        fresh.reverse();
        for e in &fresh {
            print(e, args.json);
        }
        if let Some(e) = fresh.last() {
            last = e.id;
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
