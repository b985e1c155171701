//! `allybridge serve`: the daemon. The HTTP server on `[server] listen`
//! (webhooks, `/healthz`, `/readyz`, `/metrics`) with verifiers built from
//! the configuration and store, the engine's workers, pollers (HighLevel
//! coupons every `coupon_poll_interval`, products and orders on their own
//! intervals) and the reconciler every `reconcile_interval`. Ctrl-C or
//! SIGTERM stops intake and polling; the workers finish the round they
//! are in, then the process exits.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use config::{Config, TenantConfig};
use engine::scan::{ScanKind, scan};
use engine::{Engine, EngineOptions, Tenant};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use store::{Credential, CredentialKind, Store, System};
use tokio::sync::watch;

use super::context::{self, ConfigArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Listen here instead of `[server] listen` (port 0 picks a free port).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

/// Resolves a shutdown signal: Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn ghl_verifier(tenants: &[&TenantConfig]) -> anyhow::Result<ghl::webhook::WebhookVerifier> {
    // One HighLevel endpoint for every tenant: the first configured key wins.
    let ed = tenants
        .iter()
        .find_map(|t| t.ghl.webhook_public_key.as_deref())
        .map(ghl::webhook::Ed25519PublicKey::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("[tenant.ghl] webhook_public_key is not an Ed25519 public key in PEM")?;
    if ed.is_none() {
        tracing::info!(
            "no [tenant.ghl] webhook_public_key: HighLevel webhooks are verified with the official RSA key (x-wh-signature)"
        );
    }
    ghl::webhook::WebhookVerifier::new(ed)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("could not load HighLevel's webhook key")
}

/// The AccessAlly webhook secret of a tenant: config, else store, else a
/// new subscription to `public_url` (its secret is then stored).
async fn accessally_secret(
    config: &Config,
    store: &Store,
    t: &TenantConfig,
    tenant: &Tenant,
) -> anyhow::Result<Option<SecretString>> {
    if let Some(r) = &t.accessally.webhook_secret {
        return Ok(Some(config.secret(r).with_context(|| {
            format!("tenant `{}`: [tenant.accessally] webhook_secret", t.name)
        })?));
    }
    let connection = context::connection_id(&t.name, System::AccessAlly);
    if let Some(c) = store
        .credential(&connection, CredentialKind::WebhookSecret)
        .await?
    {
        return Ok(Some(c.secret));
    }
    let Some(base) = &config.server.public_url else {
        return Ok(None);
    };
    let url = format!(
        "{}/webhooks/accessally/{}",
        base.as_str().trim_end_matches('/'),
        t.name
    );
    let sub = tenant
        .accessally
        .create_webhook(&url, &accessally::Topic::ALL, None)
        .await
        .with_context(|| {
            format!(
                "tenant `{}`: could not subscribe AccessAlly webhooks to {url}",
                t.name
            )
        })?;
    let Some(secret) = sub.secret else {
        return Ok(None);
    };
    store
        .upsert_connection(
            &connection,
            System::AccessAlly,
            t.accessally.site_url.as_str(),
            &t.name,
        )
        .await?;
    store
        .save_credential(
            &connection,
            CredentialKind::WebhookSecret,
            &Credential {
                secret: secret.clone(),
                refresh_secret: None,
                expires_at: None,
                scopes: Vec::new(),
            },
        )
        .await?;
    tracing::info!(tenant = %t.name, %url, "subscribed AccessAlly webhooks");
    Ok(Some(secret))
}

/// Runs `scan` of `flows` for every tenant every `every`, until stopped.
fn poller(
    engine: Arc<Engine>,
    name: &'static str,
    kind: ScanKind,
    flows: Vec<Option<Flow>>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = ticker.tick() => {}
            }
            for tenant in engine.tenants.values() {
                for flow in &flows {
                    if flow.is_some_and(|f| tenant.mode(f) == FlowMode::Off) {
                        continue;
                    }
                    match scan(&engine, tenant, kind, *flow).await {
                        Ok(r) => {
                            if r.enqueued > 0 || kind == ScanKind::Reconcile {
                                tracing::info!(tenant = %tenant.name, poll = name, checked = r.checked, enqueued = r.enqueued, drift = r.drift.len(), "scan done");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(tenant = %tenant.name, poll = name, error = %e, "scan failed; next one at the next interval")
                        }
                    }
                }
            }
        }
    })
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let loaded = context::load_engine(&args.config, None, EngineOptions::default(), None).await?;
    let config = loaded.config;
    let engine = loaded.engine;
    let store = engine.store.clone();
    let tenant_configs: Vec<&TenantConfig> = config.tenants.iter().collect();
    let mut aa_verifiers = HashMap::new();
    for t in &tenant_configs {
        let Some(tenant) = engine.tenant(&t.name) else {
            continue;
        };
        match accessally_secret(&config, &store, t, tenant).await? {
            Some(secret) => {
                let verifier = accessally::WebhookVerifier::new(
                    &secret,
                    Arc::new(accessally::InMemorySeenIds::default()),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| {
                    format!(
                        "tenant `{}`: the AccessAlly webhook secret is not a whsec_ secret",
                        t.name
                    )
                })?;
                aa_verifiers.insert(t.name.clone(), verifier);
            }
            None => tracing::warn!(
                tenant = %t.name,
                "no AccessAlly webhook secret and no [server] public_url: AccessAlly webhooks are refused; changes arrive by polling"
            ),
        }
    }
    let receiver = engine::intake::Receiver::new(
        store.clone(),
        engine.tenants.values().cloned().collect(),
        ghl_verifier(&tenant_configs)?,
        aa_verifiers,
    );
    let addr = args.listen.unwrap_or(config.server.listen);
    let (listener, bound) = server::bind(addr)
        .await
        .with_context(|| format!("could not listen on {addr}; is another process using it? Change [server] listen or pass --listen"))?;
    eprintln!("allybridge serving on http://{bound}");
    tracing::info!(%bound, "serving");

    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let state = server::AppState {
        receiver: Arc::new(receiver),
        engine: engine.clone(),
    };
    let mut server_stop = stopped.clone();
    let server_task = tokio::spawn(async move {
        server::serve(listener, state, async move {
            let _ = server_stop.changed().await;
        })
        .await
    });
    let mut worker_stop = stopped.clone();
    let worker_engine = engine.clone();
    let worker_task = tokio::spawn(async move {
        worker_engine
            .run(async move {
                let _ = worker_stop.changed().await;
            })
            .await
    });
    let e = &config.engine;
    tasks.push(poller(
        engine.clone(),
        "coupons",
        ScanKind::Poll,
        vec![Some(Flow::CouponsToAccessally)],
        e.coupon_poll_interval.get(),
        stopped.clone(),
    ));
    tasks.push(poller(
        engine.clone(),
        "products",
        ScanKind::Poll,
        vec![
            Some(Flow::ProductsToAccessally),
            Some(Flow::ProductsToHighlevel),
        ],
        e.product_poll_interval.get(),
        stopped.clone(),
    ));
    tasks.push(poller(
        engine.clone(),
        "orders",
        ScanKind::Poll,
        vec![
            Some(Flow::OrdersToHighlevel),
            Some(Flow::OrdersToAccessally),
        ],
        e.order_poll_interval.get(),
        stopped.clone(),
    ));
    tasks.push(poller(
        engine.clone(),
        "reconcile",
        ScanKind::Reconcile,
        vec![None],
        e.reconcile_interval.get(),
        stopped.clone(),
    ));

    shutdown_signal().await;
    eprintln!("allybridge: shutting down (finishing the jobs in progress)…");
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let server_result = server_task.await;
    let worker_result = worker_task.await;
    store.close().await;
    match server_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e).context("the HTTP server failed"),
        Err(e) => return Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
    }
    match worker_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(anyhow::anyhow!("the workers failed: {e}")),
        Err(e) => return Err(anyhow::anyhow!("the worker task failed: {e}")),
    }
    eprintln!("allybridge: stopped");
    Ok(ExitCode::SUCCESS)
}
