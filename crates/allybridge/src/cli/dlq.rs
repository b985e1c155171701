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
    /// Queue a dead letter again.
    Replay { id: i64 },
    /// Delete a dead letter for good.
    Drop { id: i64 },
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
    let store = context::open_store(&config).await?;
    let dead = |job: &Option<store::Job>, id: i64| -> anyhow::Result<()> {
        match job {
            Some(j) if j.state == store::JobState::Dead => Ok(()),
            Some(j) => bail!(
                "job {id} is not a dead letter (it is {}); `allybridge dlq list` shows the dead letters",
                j.state.as_str()
            ),
            None => bail!("there is no job {id}; `allybridge dlq list` shows the dead letters"),
        }
    };
    match args.action {
        DlqAction::List => {
            let jobs = context::all_dead_letters(&store).await?;
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
            let job = store.job(id).await?;
            dead(&job, id)?;
            if let Some(j) = job {
                let v = job_json(&j, true);
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
        }
        DlqAction::Replay { id } => {
            dead(&store.job(id).await?, id)?;
            let r = store.replay_dead_letter(id).await?;
            if args.json {
                println!(
                    "{}",
                    json!({"replayed": id, "job_id": r.job_id, "merged": r.merged})
                );
            } else {
                println!(
                    "Dead letter {id} is queued again as job {}; `allybridge serve` or `allybridge sync` runs it.",
                    r.job_id
                );
            }
        }
        DlqAction::Drop { id } => {
            dead(&store.job(id).await?, id)?;
            store.drop_dead_letter(id).await?;
            if args.json {
                println!("{}", json!({"dropped": id}));
            } else {
                println!("Dead letter {id} dropped.");
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
