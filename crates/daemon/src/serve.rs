//! The daemon `allybridge serve` runs: the HTTP server on `[server] listen`
//! (webhooks, `/healthz`, `/readyz`, `/metrics`) with verifiers built from
//! the configuration and store (each site subscribed at start-up when
//! `[server] public_url` is set and no subscription sends there, see
//! [`crate::subscriptions`]), the engine's workers, pollers (HighLevel
//! coupons every `coupon_poll_interval`, products and orders on their own
//! intervals) and the reconciler every `reconcile_interval`; the admin
//! page under `/admin` (only on a loopback address unless `[server]
//! admin_password_hash` is set), the OAuth callback for `auth = "oauth"`
//! tenants, and the alert watch (`[alerts]`). Flow modes switched on the
//! admin page are kept in the modes file next to the configuration
//! (`config::modes`) and apply again after a restart. An OAuth tenant
//! whose consent was never completed does not stop the daemon: it is
//! reported "not connected" (log, admin page, `/readyz`), runs no poll
//! or reconciliation, and starts as soon as a token pair is stored — by the
//! callback, or by `allybridge connect ghl --oauth` — without a restart.
//! Every call the clients make goes to the API activity log the admin page
//! shows; once an hour, finished jobs, inbox entries and API activity older
//! than [`KEEP_HISTORY`] are deleted, so the store does not grow with time.
//! [`Daemon::stop`] stops intake and polling; the workers finish the
//! round they are in. What the operator should read at start-up (a tenant
//! not connected, where the admin page is) comes back as
//! [`Daemon::notices`]: this library prints nothing.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, TenantConfig};
use engine::scan::{ScanKind, scan};
use engine::{Engine, EngineOptions, Tenant};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use server::health::{ConnectionState, Connections, source_of};
use store::{CredentialKind, Store, System};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alert_watch::{self, AlertWatch};
use crate::subscriptions::accessally_webhook_secret;
use crate::{Activity, Background, DaemonError, TenantGhl, TenantLoad, Trigger};

/// How the daemon starts beyond its configuration.
pub struct ServeOptions {
    /// Listen here instead of `[server] listen` (port 0 picks a free port).
    pub listen: Option<SocketAddr>,
    /// The modes file the admin page's switches are kept in.
    pub mode_file: config::modes::ModeFile,
}

/// A running daemon: the HTTP server, the workers and the background tasks.
pub struct Daemon {
    bound: SocketAddr,
    notices: Vec<String>,
    stop: watch::Sender<bool>,
    background: Background,
    server: JoinHandle<std::io::Result<()>>,
    workers: JoinHandle<Result<(), engine::EngineError>>,
    store: Store,
}

impl Daemon {
    /// Builds every tenant from `config` and the store, subscribes each
    /// AccessAlly site when `[server] public_url` is set, and starts the
    /// HTTP server, the workers, the pollers, the reconciler, housekeeping
    /// and the token and alert watches.
    pub async fn start(config: Config, options: ServeOptions) -> Result<Daemon, DaemonError> {
        let addr = options.listen.unwrap_or(config.server.listen);
        let (listener, bound) = server::bind(addr)
            .await
            .map_err(|cause| DaemonError::Listen { addr, cause })?;
        let redirect_uri = crate::tenants::redirect_uri(&config, bound);
        let mode_file = options.mode_file;
        let switches = mode_file.load().map_err(|e| {
            DaemonError::Setting(format!(
                "could not read the flow modes switched on the admin page ({}): {e}",
                mode_file.path().display()
            ))
        })?;
        let loaded = crate::build_engine(
            config,
            None,
            EngineOptions {
                keep_plan: false,
                ..EngineOptions::default()
            },
            None,
            &TenantLoad {
                allow_unconnected: true,
                redirect_uri: Some(redirect_uri.clone()),
                switches,
                log_calls: true,
            },
        )
        .await?;
        let config = loaded.config;
        let engine = loaded.engine;
        let ghl_parts = loaded.ghl;
        let activity = loaded.activity;
        let store = engine.store.clone();
        let tenant_configs: Vec<&TenantConfig> = config.tenants.iter().collect();
        let mut aa_verifiers = HashMap::new();
        for t in &tenant_configs {
            let Some(tenant) = engine.tenant(&t.name) else {
                continue;
            };
            match accessally_webhook_secret(&config, &store, t, tenant).await? {
                Some(secret) => {
                    let verifier = accessally::WebhookVerifier::new(
                        &secret,
                        Arc::new(accessally::InMemorySeenIds::default()),
                    )
                    .map_err(|e| {
                        DaemonError::Tenant(format!(
                            "tenant `{}`: the AccessAlly webhook secret is not a whsec_ secret: {e}",
                            t.name
                        ))
                    })?;
                    aa_verifiers.insert(t.name.clone(), verifier);
                }
                None => tracing::warn!(
                    tenant = %t.name,
                    "no AccessAlly webhook secret: AccessAlly webhooks are refused and changes arrive by polling; `allybridge check` says why and what to do"
                ),
            }
        }
        let receiver = engine::intake::Receiver::new(
            store.clone(),
            engine.tenants.values().cloned().collect(),
            ghl_verifier(&tenant_configs)?,
            aa_verifiers,
        );
        let mut notices = Vec::new();
        let connections = Arc::new(initial_connections(
            &config,
            &ghl_parts,
            &format!("http://{bound}"),
            &mut notices,
        ));
        tracing::info!(%bound, "serving");

        let (stop, stopped) = watch::channel(false);
        let mut background = Background::new();
        let state = server::AppState {
            receiver: Arc::new(receiver),
            engine: engine.clone(),
        };
        let webhooks = Arc::new(server::WebhookStats::default());
        let mut surfaces = server::Surfaces {
            admin: None,
            oauth: oauth_tenants(&config, &ghl_parts, &redirect_uri, &connections)?,
            webhooks: webhooks.clone(),
            connections: connections.clone(),
        };
        let modes = Arc::new(FileModes {
            file: mode_file,
            configured: config
                .tenants
                .iter()
                .map(|t| (t.name.clone(), t.flows))
                .collect(),
        });
        let (admin, notice) = admin_page(
            &config, &store, &engine, &ghl_parts, bound, &surfaces, modes,
        )
        .await?;
        surfaces.admin = admin.map(Arc::new);
        notices.push(notice);
        let router = server::router_with(state, surfaces);
        let alerter = alerts::Alerter::from_config(
            &config,
            Arc::new(alerts::StoreLedger::new(store.clone())),
        )
        .map_err(|e| {
            DaemonError::Setting(format!("could not set up the alert sinks in [alerts]: {e}"))
        })?;
        if alerter.sink_names().is_empty() {
            tracing::info!(
                "no alert sink in [alerts]: alerts are recorded in the store and shown on the admin page only"
            );
        }
        let watch = Arc::new(AlertWatch::new(
            Arc::new(alerter),
            engine.clone(),
            alert_watch::WatchInputs {
                budgets: ghl_parts.clone(),
                webhooks,
                connections: connections.clone(),
            },
            &config.alerts,
        ));
        background.spawn(
            "alert watch",
            watch.every(),
            Some(connections.subscribe()),
            alert_watch::AlertTask(watch.clone()),
        );
        background.spawn::<_, ()>(
            "stored token watch",
            CONNECTION_CHECK,
            None,
            StoredTokenWatch {
                store: store.clone(),
                parts: ghl_parts.clone(),
                connections: connections.clone(),
            },
        );
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(async move {
            server::serve_router(listener, router, async move {
                let _ = server_stop.changed().await;
            })
            .await
        });
        let mut worker_stop = stopped.clone();
        let worker_engine = engine.clone();
        let workers = tokio::spawn(async move {
            worker_engine
                .run(async move {
                    let _ = worker_stop.changed().await;
                })
                .await
        });
        background.spawn::<_, ()>(
            "housekeeper",
            TIDY_EVERY,
            None,
            Housekeeper {
                store: store.clone(),
                activity,
                dropped_before: 0,
            },
        );
        for poll in polls(&config.engine) {
            let alerts = (poll.kind == ScanKind::Reconcile).then(|| watch.clone());
            let poller = Poller::new(engine.clone(), poll, connections.clone()).with_alerts(alerts);
            background.spawn(
                poller.name(),
                poller.every(),
                Some(connections.subscribe()),
                poller,
            );
        }
        Ok(Daemon {
            bound,
            notices,
            stop,
            background,
            server,
            workers,
            store,
        })
    }

    /// The address the HTTP server listens on.
    pub fn address(&self) -> SocketAddr {
        self.bound
    }

    /// What the operator should read at start-up, one line each.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Each background task's activations, last run and last error.
    pub fn tasks(&self) -> Vec<crate::TaskStatus> {
        self.background.statuses()
    }

    /// Stops intake, polling and the background tasks; the workers finish
    /// the round they are in; the store is closed.
    pub async fn stop(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(true);
        for task in self.background.statuses() {
            tracing::debug!(
                task = task.name,
                activations = task.activations,
                last_error = task.last_error.as_deref().unwrap_or(""),
                "background task at shutdown"
            );
        }
        self.background.stop().await;
        let server_result = self.server.await;
        let worker_result = self.workers.await;
        self.store.close().await;
        match server_result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(DaemonError::Stopped(format!("the HTTP server failed: {e}"))),
            Err(e) => {
                return Err(DaemonError::Stopped(format!(
                    "the HTTP server task failed: {e}"
                )));
            }
        }
        match worker_result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(DaemonError::Stopped(format!("the workers failed: {e}"))),
            Err(e) => Err(DaemonError::Stopped(format!("the worker task failed: {e}"))),
        }
    }
}

/// The periodic scans `[engine]` sets the intervals of.
fn polls(e: &config::EngineConfig) -> [Poll; 4] {
    [
        Poll {
            name: "coupons",
            kind: ScanKind::Poll,
            flows: vec![Some(Flow::CouponsToAccessally)],
            every: e.coupon_poll_interval.get(),
        },
        Poll {
            name: "products",
            kind: ScanKind::Poll,
            flows: vec![
                Some(Flow::ProductsToAccessally),
                Some(Flow::ProductsToHighlevel),
            ],
            every: e.product_poll_interval.get(),
        },
        Poll {
            name: "orders",
            kind: ScanKind::Poll,
            flows: vec![
                Some(Flow::OrdersToHighlevel),
                Some(Flow::OrdersToAccessally),
            ],
            every: e.order_poll_interval.get(),
        },
        Poll {
            name: "reconcile",
            kind: ScanKind::Reconcile,
            flows: vec![None],
            every: e.reconcile_interval.get(),
        },
    ]
}

fn ghl_verifier(tenants: &[&TenantConfig]) -> Result<ghl::webhook::WebhookVerifier, DaemonError> {
    // One HighLevel endpoint for every tenant: the first configured key wins.
    let ed = tenants
        .iter()
        .find_map(|t| t.ghl.webhook_public_key.as_deref())
        .map(ghl::webhook::Ed25519PublicKey::parse)
        .transpose()
        .map_err(|e| {
            DaemonError::Setting(format!(
                "[tenant.ghl] webhook_public_key is not an Ed25519 public key in PEM: {e}"
            ))
        })?;
    if ed.is_none() {
        tracing::info!(
            "no [tenant.ghl] webhook_public_key: HighLevel webhooks are verified with the official RSA key (x-wh-signature)"
        );
    }
    ghl::webhook::WebhookVerifier::new(ed)
        .map_err(|e| DaemonError::Setting(format!("could not load HighLevel's webhook key: {e}")))
}

/// How often the daemon looks in the store for the token pair of a tenant
/// that is not connected (stored by `allybridge connect ghl --oauth`).
const CONNECTION_CHECK: Duration = Duration::from_secs(5);

/// The systems a scan of `flows` (all when `None`) reads for `tenant`.
fn sources(tenant: &Tenant, flows: Option<Flow>) -> Vec<System> {
    let mut out = Vec::new();
    for f in Flow::ALL {
        if flows.is_none_or(|only| only == f) && tenant.mode(f) != FlowMode::Off {
            let source = source_of(f);
            if !out.contains(&source) {
                out.push(source);
            }
        }
    }
    out
}

/// How long finished jobs, inbox entries and API activity are kept.
pub const KEEP_HISTORY: Duration = Duration::from_secs(7 * 24 * 3_600);
/// How often what is past [`KEEP_HISTORY`] is deleted.
const TIDY_EVERY: Duration = Duration::from_secs(3_600);

/// Deletes what is past keeping (every [`TIDY_EVERY`], first at start-up),
/// and says when the API activity log had to drop calls.
struct Housekeeper {
    store: store::Store,
    activity: Option<Arc<engine::housekeeping::ActivityLog>>,
    dropped_before: u64,
}

impl Activity for Housekeeper {
    async fn activate(&mut self, _: Trigger) -> Result<(), String> {
        let tidied = engine::housekeeping::tidy(&self.store, KEEP_HISTORY).await;
        if let Some(log) = &self.activity {
            let dropped = log.dropped();
            if dropped > self.dropped_before {
                tracing::warn!(
                    calls = dropped - self.dropped_before,
                    "the API activity log fell behind and left calls out"
                );
                self.dropped_before = dropped;
            }
        }
        match tidied {
            Ok(t) if t != engine::housekeeping::Tidied::default() => tracing::info!(
                finished_jobs = t.finished_jobs,
                inbox_events = t.inbox_events,
                api_calls = t.api_calls,
                "deleted history older than {} days",
                KEEP_HISTORY.as_secs() / 86_400
            ),
            Ok(_) => {}
            Err(e) => return Err(format!("could not delete old history: {e}")),
        }
        Ok(())
    }
}

/// One periodic scan: its name in logs, its kind, the flows it scans one
/// after the other (`None`: all at once) and its interval.
pub struct Poll {
    pub name: &'static str,
    pub kind: ScanKind,
    pub flows: Vec<Option<Flow>>,
    pub every: Duration,
}

/// Runs `poll` for every tenant that can run; when a connection changes
/// state ([`Trigger::Event`]), only a tenant that became able to run is
/// scanned. Each scan's outcome is reported to `connections` (typed auth
/// refusals), each reconciliation to `alerts`.
pub struct Poller {
    engine: Arc<Engine>,
    poll: Poll,
    connections: Arc<Connections>,
    alerts: Option<Arc<AlertWatch>>,
    /// Tenants that could run at the last activation.
    running: HashSet<String>,
}

impl Poller {
    /// A poller of `poll` for the engine's tenants, reporting to
    /// `connections` (a tenant absent from it can run).
    pub fn new(engine: Arc<Engine>, poll: Poll, connections: Arc<Connections>) -> Self {
        Self {
            engine,
            poll,
            connections,
            alerts: None,
            running: HashSet::new(),
        }
    }

    /// Also reports each reconciliation to the alert watch.
    fn with_alerts(self, alerts: Option<Arc<AlertWatch>>) -> Self {
        Self { alerts, ..self }
    }

    /// How often it polls.
    pub fn every(&self) -> Duration {
        self.poll.every
    }

    /// Its name in logs and task statuses.
    pub fn name(&self) -> &'static str {
        self.poll.name
    }
}

impl Activity for Poller {
    async fn activate(&mut self, trigger: Trigger) -> Result<(), String> {
        let only_new = trigger == Trigger::Event;
        let Poll { name, kind, .. } = self.poll;
        let mut failed = Vec::new();
        for tenant in self.engine.tenants.values() {
            if !self.connections.can_run(&tenant.name) {
                self.running.remove(&tenant.name);
                continue;
            }
            let new = self.running.insert(tenant.name.clone());
            if only_new && !new {
                continue;
            }
            for flow in &self.poll.flows {
                if flow.is_some_and(|f| tenant.mode(f) == FlowMode::Off) {
                    continue;
                }
                let result = scan(&self.engine, tenant, kind, *flow).await;
                self.connections.report_scan(
                    &tenant.name,
                    &sources(tenant, *flow),
                    result.as_ref().map(|_| ()),
                );
                match result {
                    Ok(r) => {
                        if kind == ScanKind::Reconcile
                            && let Some(w) = &self.alerts
                        {
                            w.reconciled(&r).await;
                        }
                        if r.enqueued > 0 || kind == ScanKind::Reconcile {
                            tracing::info!(tenant = %tenant.name, poll = name, checked = r.checked, enqueued = r.enqueued, drift = r.drifted, "scan done");
                        }
                    }
                    Err(e) => failed.push(format!("tenant `{}`: {e}", tenant.name)),
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{name} scan failed ({}); next one at the next interval",
                failed.join("; ")
            ))
        }
    }
}

/// The state of each tenant's connections when the daemon starts:
/// HighLevel connected unless an OAuth consent was never completed;
/// AccessAlly connected (its credentials are required to start).
fn initial_connections(
    config: &Config,
    parts: &[TenantGhl],
    listen: &str,
    notices: &mut Vec<String>,
) -> Connections {
    let connections = Connections::default();
    for p in parts {
        let ghl = if p.connected {
            ConnectionState::Connected
        } else {
            let reason = format!(
                "the HighLevel OAuth consent was never completed; press \"Connect HighLevel\" on the admin page ({listen}/admin) or run `allybridge connect ghl --tenant {} --oauth`",
                p.tenant
            );
            notices.push(format!(
                "tenant `{}` is not connected to HighLevel and runs no flow until it is: {reason}",
                p.tenant
            ));
            ConnectionState::NotConnected { reason }
        };
        connections.set(&p.tenant, System::HighLevel, ghl);
    }
    for t in &config.tenants {
        connections.set(&t.name, System::AccessAlly, ConnectionState::Connected);
    }
    connections
}

/// Notices a token pair stored for a tenant that is not connected (by
/// `allybridge connect ghl --oauth` while the daemon runs), every
/// `CONNECTION_CHECK`.
struct StoredTokenWatch {
    store: Store,
    parts: Vec<TenantGhl>,
    connections: Arc<Connections>,
}

impl Activity for StoredTokenWatch {
    async fn activate(&mut self, _: Trigger) -> Result<(), String> {
        for p in &self.parts {
            if !matches!(
                self.connections.state(&p.tenant, System::HighLevel),
                Some(ConnectionState::NotConnected { .. })
            ) {
                continue;
            }
            let connection = crate::credentials::connection_id(&p.tenant, System::HighLevel);
            match self
                .store
                .credential(&connection, CredentialKind::HighLevelOAuth)
                .await
            {
                Ok(Some(_)) => {
                    tracing::info!(tenant = %p.tenant, "a HighLevel token pair was stored; starting the tenant's flows");
                    self.connections
                        .set(&p.tenant, System::HighLevel, ConnectionState::Connected);
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(format!(
                        "could not read the stored HighLevel tokens of tenant `{}`: {e}; trying again shortly",
                        p.tenant
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The OAuth callback's tenants: those with `auth = "oauth"`, each with
/// the token manager its running client uses.
fn oauth_tenants(
    config: &Config,
    parts: &[TenantGhl],
    redirect_uri: &str,
    connections: &Arc<Connections>,
) -> Result<Option<Arc<server::oauth::OAuth>>, DaemonError> {
    let mut tenants = Vec::new();
    for p in parts {
        let ghl::Auth::OAuth { manager, .. } = &p.auth else {
            continue;
        };
        let Some(t) = config.tenant(&p.tenant) else {
            continue;
        };
        let app = crate::tenants::oauth_app(config, t, redirect_uri.to_string())?;
        tenants.push(server::oauth::OAuthTenant {
            tenant: p.tenant.clone(),
            app,
            manager: manager.clone(),
        });
    }
    Ok((!tenants.is_empty())
        .then(|| Arc::new(server::oauth::OAuth::new(tenants, connections.clone()))))
}

/// The admin page's mode switches, kept in the modes file next to the
/// configuration with the mode each flow's configuration says.
struct FileModes {
    file: config::modes::ModeFile,
    configured: HashMap<String, config::FlowsConfig>,
}

impl server::admin::ModeStore for FileModes {
    fn save(
        &self,
        tenant: &str,
        flow: Flow,
        mode: FlowMode,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let configured = self
            .configured
            .get(tenant)
            .map(|f| f.mode(flow))
            .ok_or_else(|| format!("tenant `{tenant}` is not in the configuration"))?;
        Ok(self.file.save(tenant, flow, mode, configured)?)
    }

    fn location(&self) -> String {
        self.file.path().display().to_string()
    }
}

/// Every secret the daemon can know: the configuration's references and
/// the stored credentials of each tenant (scrubbed from the admin page).
async fn known_secrets(config: &Config, store: &Store) -> Vec<SecretString> {
    let mut out: Vec<SecretString> = config
        .secret_refs()
        .into_iter()
        .filter_map(|r| config.secret(r).ok())
        .collect();
    for t in &config.tenants {
        for (connection, kinds) in [
            (
                crate::credentials::connection_id(&t.name, System::HighLevel),
                vec![
                    CredentialKind::HighLevelOAuth,
                    CredentialKind::HighLevelPrivateToken,
                ],
            ),
            (
                crate::credentials::connection_id(&t.name, System::AccessAlly),
                vec![
                    CredentialKind::AccessAllyAppPassword,
                    CredentialKind::WebhookSecret,
                ],
            ),
            (
                crate::credentials::handshake_connection_id(&t.name),
                vec![CredentialKind::AccessAllyAppPassword],
            ),
        ] {
            for kind in kinds {
                if let Ok(Some(c)) = store.credential(&connection, kind).await {
                    out.push(c.secret);
                    out.extend(c.refresh_secret);
                }
            }
        }
    }
    out
}

/// The admin page, unless it must not be served: on a non-loopback
/// address without `[server] admin_password_hash` it is refused.
async fn admin_page(
    config: &Config,
    store: &Store,
    engine: &Arc<Engine>,
    parts: &[TenantGhl],
    bound: std::net::SocketAddr,
    shared: &server::Surfaces,
    modes: Arc<FileModes>,
) -> Result<(Option<server::admin::Admin>, String), DaemonError> {
    let hash = config.server.admin_password_hash.clone();
    if let Some(h) = &hash
        && !server::admin::auth::hash_is_valid(h)
    {
        return Err(DaemonError::Setting(
            "[server] admin_password_hash is not an argon2 PHC string; make one with `allybridge admin-password`".into(),
        ));
    }
    if hash.is_none() && !bound.ip().is_loopback() {
        let notice = format!(
            "the admin page is off: {bound} is not a loopback address and [server] admin_password_hash is not set"
        );
        return Ok((None, notice));
    }
    let notice = if hash.is_none() {
        format!(
            "the admin page at http://{bound}/admin refuses logins until [server] admin_password_hash is set (`allybridge admin-password`)"
        )
    } else {
        format!("admin page at http://{bound}/admin")
    };
    let secure_cookies = config
        .server
        .public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    let admin = server::admin::Admin::new(
        server::admin::AdminConfig {
            password_hash: hash,
            secrets: known_secrets(config, store).await,
            budgets: parts
                .iter()
                .map(|p| server::admin::LocationBudget {
                    tenant: p.tenant.clone(),
                    location_id: p.location_id.clone(),
                    budget: p.budget.clone(),
                })
                .collect(),
            secure_cookies,
            connections: shared.connections.clone(),
            modes: Some(modes),
            trusted_proxies: config.server.trusted_proxies.clone(),
            ..server::admin::AdminConfig::default()
        },
        engine.clone(),
        shared.webhooks.clone(),
        shared.oauth.clone(),
    );
    Ok((Some(admin), notice))
}
