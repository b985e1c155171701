//! `allybridge ops`: the operations catalog — every HighLevel and
//! AccessAlly action and trigger with its scope, parameters and flows —
//! listed, described, and (`run`) one action performed ad hoc. `run`
//! builds the path from the entry's template and `--param`s. A HighLevel
//! action fills `locationId`/`altId` from the tenant and calls through the
//! tenant's client (token refresh, rate budget, retries, scope check), as
//! its own operation or as an unlisted one. An AccessAlly Bridge API
//! action, or a documented `aal_*` command, goes through the tenant's
//! AccessAlly client (same credentials, timeouts and retries). Every call
//! is written to the API activity log. Writes are refused unless `--yes`
//! is given.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use model::Flow;
use serde_json::{Value, json};

use super::context::{self, ConfigArgs};
use daemon::ClientTuning;

#[derive(Debug, Args)]
pub struct OpsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub action: OpsAction,
}

#[derive(Debug, Subcommand)]
pub enum OpsAction {
    /// Every action and trigger, optionally filtered.
    List {
        /// highlevel or accessally.
        #[arg(long)]
        system: Option<catalog::System>,
        /// action or trigger.
        #[arg(long)]
        kind: Option<catalog::Kind>,
        /// Only the entries a flow uses.
        #[arg(long, value_parser = context::parse_flow)]
        flow: Option<Flow>,
        /// A JSON array with one object per entry.
        #[arg(long)]
        json: bool,
    },
    /// One entry in full: method, path, scope, parameters, flows, source.
    Describe {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Perform one HighLevel or AccessAlly action now (reads freely; writes only with --yes).
    Run {
        id: String,
        /// A parameter as name=value (path or query); repeat for several.
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// The JSON request body, for writes.
        #[arg(long)]
        body: Option<String>,
        /// The tenant whose connection to use (default: the only one).
        #[arg(long)]
        tenant: Option<String>,
        /// Allow an operation that changes data in HighLevel or AccessAlly.
        #[arg(long)]
        yes: bool,
    },
}

fn describe_text(e: &catalog::Entry) {
    println!("{}  ({} {})", e.id, e.system, e.kind);
    println!("  {}", e.summary);
    if let (Some(m), Some(p)) = (&e.method, &e.path) {
        println!("  {m} {p}");
    }
    println!("  scope: {}", e.scope.as_deref().unwrap_or("(none)"));
    if !e.auth.is_empty() {
        println!("  auth: {}", e.auth.join(", "));
    }
    for p in &e.parameters {
        println!(
            "  param {} ({}, {}{})",
            p.name,
            p.location,
            p.kind,
            if p.required { ", required" } else { "" }
        );
    }
    if !e.used_by.is_empty() {
        let flows: Vec<&str> = e.used_by.iter().map(Flow::as_str).collect();
        println!("  used by: {}", flows.join(", "));
    }
    println!("  source: {}", e.source);
}

/// The concrete path and query of `entry` from `params`; `default` fills
/// a parameter that was not given (e.g. the tenant's location).
fn build_request(
    entry: &'static catalog::Entry,
    params: &BTreeMap<String, String>,
    default: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<(String, Vec<(&'static str, String)>)> {
    let template = entry
        .path
        .as_deref()
        .with_context(|| format!("{} has no path", entry.id))?;
    let mut path = template.to_string();
    let mut query = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for p in &entry.parameters {
        let given = params.get(&p.name).cloned().or_else(|| default(&p.name));
        match (p.location.as_str(), given) {
            ("path", Some(v)) => {
                path = path.replace(&format!("{{{}}}", p.name), &transport::path_segment(&v));
                used.insert(p.name.clone());
            }
            ("query", Some(v)) => {
                query.push((p.name.as_str(), v));
                used.insert(p.name.clone());
            }
            ("path", None) | ("query", None) if p.required => bail!(
                "{} needs the parameter `{}`; pass --param {}=VALUE",
                entry.id,
                p.name,
                p.name
            ),
            _ => {}
        }
    }
    let unknown: Vec<&String> = params.keys().filter(|k| !used.contains(*k)).collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = entry
            .parameters
            .iter()
            .filter(|p| p.location == "path" || p.location == "query")
            .map(|p| p.name.as_str())
            .collect();
        bail!(
            "{} has no parameter {:?}; its parameters are: {}",
            entry.id,
            unknown,
            known.join(", ")
        );
    }
    Ok((path, query))
}

/// The ghl client's own operation for this entry, when it has one.
fn known_operation(entry: &catalog::Entry) -> Option<ghl::Operation> {
    ghl::Operation::ALL.into_iter().find(|op| {
        let info = op.info();
        Some(info.method) == entry.method.as_deref() && Some(info.path) == entry.path.as_deref()
    })
}

fn system_name(system: catalog::System) -> &'static str {
    match system {
        catalog::System::HighLevel => "HighLevel",
        catalog::System::AccessAlly => "AccessAlly",
    }
}

/// Performs a HighLevel action for tenant `t` through the tenant's client:
/// its typed operation when it has one, else as an unlisted operation of
/// the catalog; either way with the client's token refresh, rate budget,
/// retries and scope check.
async fn run_highlevel(
    config: &config::Config,
    store: &store::Store,
    t: &config::TenantConfig,
    entry: &'static catalog::Entry,
    given: &BTreeMap<String, String>,
    body: Option<&Value>,
    tuning: &ClientTuning,
) -> anyhow::Result<Value> {
    let parts =
        daemon::tenants::ghl_parts(config, store, t, tuning, &daemon::TenantLoad::default())
            .await?;
    let location = t.ghl.location_id.clone();
    let (path, query) = build_request(entry, given, &|name| match name {
        "locationId" | "altId" => Some(location.clone()),
        "altType" => Some("location".to_string()),
        _ => None,
    })?;
    Ok(match known_operation(entry) {
        Some(op) => {
            parts
                .client
                .call(op, ghl::Priority::Live, &path, &query, body)
                .await?
        }
        None => {
            let operation = ghl::UnlistedOperation {
                id: entry.id.as_str(),
                method: entry.method.as_deref().unwrap_or("GET"),
                scope: entry.scope.as_deref(),
            };
            parts
                .client
                .call_unlisted(operation, &path, &query, body)
                .await?
        }
    })
}

/// The documented `aal_*` command an entry stands for, from its
/// `aal_<name>` query parameter, with the parameters it takes.
fn aal_command(
    entry: &'static catalog::Entry,
    given: &BTreeMap<String, String>,
) -> anyhow::Result<Option<(accessally::AalCommand, String)>> {
    use accessally::AalCommand;
    let Some(name) = entry
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .find(|n| n.starts_with("aal_"))
    else {
        return Ok(None);
    };
    let known: Vec<&str> = entry
        .parameters
        .iter()
        .map(|p| p.name.as_str())
        .filter(|n| *n != name)
        .collect();
    if let Some(unknown) = given.keys().find(|k| !known.contains(&k.as_str())) {
        bail!(
            "{} has no parameter `{unknown}`; its parameters are: {} (the handshake comes from the configuration)",
            entry.id,
            known.join(", ")
        );
    }
    let need = |param: &str| {
        given.get(param).cloned().with_context(|| {
            format!(
                "{} needs the parameter `{param}`; pass --param {param}=VALUE",
                entry.id
            )
        })
    };
    let command = match name {
        "aal_genpass" => AalCommand::GenPass,
        "aal_updateuser" => AalCommand::UpdateUser,
        "aal_batchsync" => AalCommand::BatchSync,
        "aal_revokesubscription" => AalCommand::RevokeSubscription,
        "aal_fieldop" => AalCommand::FieldOp {
            operation_id: given.get("operationId").cloned(),
        },
        "aal_chargesubscription" => AalCommand::ChargeSubscription {
            product_id: need("productId")?,
        },
        other => bail!(
            "{} is the AccessAlly command `{other}`, which allybridge does not know how to send",
            entry.id
        ),
    };
    Ok(Some((command, need("contactId")?)))
}

/// Performs an AccessAlly Bridge API action or `aal_*` command for tenant `t`.
async fn run_accessally(
    config: &config::Config,
    store: &store::Store,
    t: &config::TenantConfig,
    entry: &'static catalog::Entry,
    given: &BTreeMap<String, String>,
    body: Option<&Value>,
    tuning: &ClientTuning,
) -> anyhow::Result<Value> {
    let client = daemon::tenants::accessally_client(config, store, t, tuning).await?;
    if let Some((command, contact)) = aal_command(entry, given)? {
        client.run_command(&command, &contact).await?;
        return Ok(json!({"sent": command.name(), "contactId": contact}));
    }
    let (path, query) = build_request(entry, given, &|_| None)?;
    let method = entry.method.as_deref().unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .with_context(|| format!("`{method}` is not an HTTP method"))?;
    let query: Vec<(String, String)> = query.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Ok(client.request(method, &path, &query, body).await?)
}

pub async fn run(args: OpsArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        OpsAction::List {
            system,
            kind,
            flow,
            json,
        } => {
            let entries: Vec<&catalog::Entry> =
                catalog::filter(catalog::Filter { system, kind, flow }).collect();
            if json {
                println!("{}", serde_json::to_string(&entries)?);
            } else {
                for e in &entries {
                    println!(
                        "{:<60} {:<7} {:<7} {}",
                        e.id,
                        e.kind.to_string(),
                        e.method.as_deref().unwrap_or("-"),
                        e.scope.as_deref().unwrap_or("-")
                    );
                }
                println!(
                    "{} entries; `allybridge ops describe ID` shows one.",
                    entries.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        OpsAction::Describe { id, json } => {
            let entry = catalog::find(&id).with_context(|| {
                format!("no operation `{id}` in the catalog; `allybridge ops list` shows every id")
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(entry)?);
            } else {
                describe_text(entry);
            }
            Ok(ExitCode::SUCCESS)
        }
        OpsAction::Run {
            id,
            params,
            body,
            tenant,
            yes,
        } => {
            let entry = catalog::find(&id).with_context(|| {
                format!("no operation `{id}` in the catalog; `allybridge ops list --kind action` shows the actions")
            })?;
            if entry.kind != catalog::Kind::Action {
                bail!("{id} is a trigger (an event allybridge listens to), not an action to run");
            }
            if entry.is_write() && !yes {
                bail!(
                    "{id} changes data in {} ({} {}); add --yes to perform it",
                    system_name(entry.system),
                    entry.method.as_deref().unwrap_or(""),
                    entry.path.as_deref().unwrap_or("")
                );
            }
            let mut given = BTreeMap::new();
            for p in &params {
                let (k, v) = p
                    .split_once('=')
                    .with_context(|| format!("`{p}` is not NAME=VALUE"))?;
                given.insert(k.trim().to_string(), v.to_string());
            }
            let body: Option<Value> = body
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("--body is not valid JSON")?;
            if body.is_none()
                && entry
                    .parameters
                    .iter()
                    .any(|p| p.location == "body" && p.required)
            {
                bail!(
                    "{id} needs a JSON request body ({}); pass it with --body '{{…}}' (`allybridge ops describe {id}` shows the parameters)",
                    entry
                        .parameters
                        .iter()
                        .find(|p| p.location == "body")
                        .map_or("object", |p| p.kind.as_str())
                );
            }
            let config = context::load_config(&args.config.config)?;
            let selected = daemon::tenants::selected(&config, tenant.as_deref())?;
            let [t] = selected.as_slice() else {
                bail!("several tenants are configured; choose one with --tenant");
            };
            let store = daemon::open_store(&config).await?;
            // The call goes in the API activity log, as the daemon's do.
            let (log, writer) = engine::housekeeping::ActivityLog::start(store.clone());
            let tuning = ClientTuning {
                observer: transport::Observer::new(log),
                ..ClientTuning::default()
            };
            let answer = match entry.system {
                catalog::System::HighLevel => {
                    run_highlevel(&config, &store, t, entry, &given, body.as_ref(), &tuning).await
                }
                catalog::System::AccessAlly => {
                    run_accessally(&config, &store, t, entry, &given, body.as_ref(), &tuning).await
                }
            };
            // The log's writer ends once the last client holding it is gone,
            // after writing what it was told.
            drop(tuning);
            let _ = writer.await;
            store.close().await;
            let answer = answer?;
            println!("{}", serde_json::to_string_pretty(&json!(answer))?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
