//! `allybridge dlq`: the dead letters — jobs that failed permanently or ran
//! out of attempts — listed, shown in full, replayed (queued again for the
//! workers of `serve` or the next `sync`) or dropped. It touches only the
//! store, never either system.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: DlqAction,
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Every dead letter, oldest first.
    List,
    /// One dead letter in full (payload, errors, attempts).
    Show { id: i64 },
    /// Queue a dead letter again (or, with --all, every one, of a flow with --flow).
    Replay(Pick),
    /// Delete a dead letter for good (or, with --all, every one, of a flow with --flow).
    Drop(Pick),
}

/// One dead letter by id, or all of them (of one flow), confirmed.
#[derive(Debug, Args)]
pub struct Pick {
    /// The dead letter's id (`allybridge dlq list`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<i64>,
    /// Every dead letter (asks for confirmation unless --yes).
    #[arg(long)]
    pub all: bool,
    /// With --all: only the dead letters of this flow (e.g. orders_to_highlevel).
    #[arg(long, requires = "all", value_parser = context::parse_flow)]
    pub flow: Option<model::Flow>,
    /// With --all: do it without asking.
    #[arg(long, requires = "all")]
    pub yes: bool,
}

/// The dead letters `pick` names (checked to be dead letters), after confirmation for --all.
async fn picked(store: &store::Store, pick: &Pick, verb: &str) -> anyhow::Result<Vec<i64>> {
    if let Some(id) = pick.id {
        match store.job(id).await? {
            Some(j) if j.state == store::JobState::Dead => return Ok(vec![id]),
            Some(j) => bail!(
                "job {id} is not a dead letter (it is {}); `allybridge dlq list` shows the dead letters",
                j.state.as_str()
            ),
            None => bail!("there is no job {id}; `allybridge dlq list` shows the dead letters"),
        }
    }
    let ids: Vec<i64> = store
        .all_dead_letters()
        .await?
        .into_iter()
        .filter(|j| {
            pick.flow
                .is_none_or(|f| engine::worker::flow_of(&j.kind) == Some(f))
        })
        .map(|j| j.id)
        .collect();
    if ids.is_empty() || pick.yes {
        return Ok(ids);
    }
    let which = pick.flow.map(|f| format!(" of {f}")).unwrap_or_default();
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!(
            "{verb} {} dead letters{which}? Nothing was done: confirm with --yes (no terminal to ask on)",
            ids.len()
        );
    }
    eprint!(
        "{verb} {} dead letters{which}? Type yes to confirm: ",
        ids.len()
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if answer.trim() != "yes" {
        bail!("nothing was done");
    }
    Ok(ids)
}

pub fn job_json(job: &store::Job, full: bool) -> Value {
    let mut v = json!({
        "id": job.id,
        "kind": job.kind,
        "entity_type": job.entity_type,
        "record_system": job.record_system.as_str(),
        "record_id": job.record_id,
        "state": job.state.as_str(),
        "attempts": job.attempts,
        "reason": job.dead_reason.clone().or(job.last_error.clone()),
        "created_at": job.created_at.to_rfc3339(),
        "finished_at": job.finished_at.map(|t| t.to_rfc3339()),
    });
    if full {
        v["payload"] = job.payload.clone();
        v["last_error"] = json!(job.last_error);
        v["location"] = json!(job.location);
        v["dedupe_key"] = json!(job.dedupe_key);
    }
    v
}

pub async fn run(args: DlqArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let store = daemon::open_store(&config).await?;
    match args.action {
        DlqAction::List => {
            let jobs = store
                .all_dead_letters()
                .await
                .map_err(|e| anyhow::anyhow!("could not list the dead letters: {e}"))?;
            if args.json {
                let list: Vec<Value> = jobs.iter().map(|j| job_json(j, false)).collect();
                println!("{}", Value::Array(list));
            } else if jobs.is_empty() {
                println!("No dead letters.");
            } else {
                for j in &jobs {
                    println!(
                        "{:>6}  {:<16} {:<26} {:<22} {}",
                        j.id,
                        j.entity_type,
                        j.record_id,
                        j.kind,
                        j.dead_reason
                            .as_deref()
                            .or(j.last_error.as_deref())
                            .unwrap_or("")
                    );
                }
                println!(
                    "{} dead letters; `allybridge dlq replay ID` queues one again.",
                    jobs.len()
                );
            }
        }
        DlqAction::Show { id } => {
            let pick = Pick {
                id: Some(id),
                all: false,
                flow: None,
                yes: false,
            };
            picked(&store, &pick, "Show").await?;
            if let Some(j) = store.job(id).await? {
                let v = job_json(&j, true);
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
        }
        DlqAction::Replay(pick) => {
            let ids = picked(&store, &pick, "Replay").await?;
            let mut replayed = Vec::new();
            for id in &ids {
                let r = store.replay_dead_letter(*id).await?;
                replayed.push(json!({"replayed": id, "job_id": r.job_id, "merged": r.merged}));
            }
            if args.json {
                println!("{}", Value::Array(replayed));
            } else if ids.is_empty() {
                println!("No dead letters to replay.");
            } else {
                println!(
                    "{} dead letters queued again; `allybridge serve` or `allybridge sync` runs them.",
                    ids.len()
                );
            }
        }
        DlqAction::Drop(pick) => {
            let ids = picked(&store, &pick, "Drop").await?;
            for id in &ids {
                store.drop_dead_letter(*id).await?;
            }
            if args.json {
                println!("{}", json!({"dropped": ids}));
            } else if ids.is_empty() {
                println!("No dead letters to drop.");
            } else {
                println!("{} dead letters dropped.", ids.len());
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
