//! The sandbox: both simulators with seed data, a SQLite store in a
//! temporary folder, and the engine with one tenant pairing the simulated
//! HighLevel location with the simulated AccessAlly site — the product on
//! embedded defaults. `allybridge demo` and the end-to-end tests start it
//! the same way. Convergence is judged on the simulators' ground truth
//! (`/__sim/state`), never on the engine's own view. The AccessAlly side can
//! also be a real WordPress site with the allybridge plugin
//! ([`SandboxOptions::wordpress`], `wordpress/dev/up`'s JSON line): its
//! development control API then stands in for the simulator's `/__sim/`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, EngineOptions, Tenant, TenantSettings};
use model::FlowMode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sim_kit::{Faults, RunningSim, Seed};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not start a simulator: {0}")]
    Sim(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("HighLevel client: {0}")]
    Ghl(#[from] ghl::GhlError),
    #[error("AccessAlly client: {0}")]
    AccessAlly(#[from] accessally::Error),
    #[error("engine: {0}")]
    Engine(#[from] engine::EngineError),
    #[error("simulator control call failed: {0}")]
    Control(String),
    #[error("building the sandbox tenant as the daemon does: {0}")]
    Tenant(#[from] daemon::DaemonError),
}

/// How the sandbox starts.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub seed: Seed,
    pub mode: FlowMode,
    pub faults: Faults,
    /// Rate limits of the HighLevel simulator (`None`: off).
    pub ghl_rate_limits: Option<sim_ghl::auth::RateLimits>,
    pub engine: EngineOptions,
    /// Use this store URL instead of a temporary SQLite file.
    pub store_url: Option<String>,
    /// Whole-request timeout of both clients.
    pub client_timeout: Duration,
    /// Seed of the simulators' fault dice, for repeatable runs.
    pub fault_seed: Option<u64>,
    /// The tenant's policies.
    pub settings: TenantSettings,
    /// Run both simulators (their servers, seeding and webhook deliveries)
    /// on this runtime instead of the caller's, so that the engine's threads
    /// and theirs can be told apart (the benchmark counts CPU per thread).
    pub simulator_runtime: Option<tokio::runtime::Handle>,
    /// A real WordPress site (the JSON line `wordpress/dev/up` prints) on
    /// the AccessAlly side instead of the simulator.
    pub wordpress: Option<Value>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            seed: Seed::Demo,
            mode: FlowMode::Write,
            faults: Faults::default(),
            ghl_rate_limits: None,
            engine: EngineOptions {
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_millis(500),
                max_attempts: 12,
                ..EngineOptions::default()
            },
            store_url: None,
            client_timeout: Duration::from_secs(2),
            fault_seed: None,
            settings: TenantSettings::default(),
            simulator_runtime: None,
            wordpress: None,
        }
    }
}

/// The AccessAlly side: the simulator, or a real WordPress site.
pub enum AccessAllySite {
    Simulator(RunningSim),
    /// `wordpress/dev/up`'s JSON line (`url`, `user`, `app_password`, `handshake`, `control_url`…).
    WordPress(Value),
}

impl AccessAllySite {
    /// The line `allybridge sim` (or `wordpress/dev/up`) printed for it.
    pub fn info(&self) -> &Value {
        match self {
            Self::Simulator(sim) => &sim.info,
            Self::WordPress(info) => info,
        }
    }

    pub fn url(&self) -> String {
        s(self.info(), "url")
    }

    /// Where a simulator control path (`/__sim/...`) goes on this site, and
    /// the credentials it needs. A WordPress site's control API has the
    /// state, checkout, refund, contacts and admin edits, and nothing else.
    fn control_url(&self, path: &str) -> Result<(String, Option<(String, String)>), SandboxError> {
        match self {
            Self::Simulator(sim) => Ok((format!("{}{path}", sim.url), None)),
            Self::WordPress(info) => {
                let rest = path.strip_prefix("/__sim").unwrap_or(path);
                let known = ["/state", "/checkout", "/refund", "/contacts", "/admin/"]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if !known {
                    return Err(SandboxError::Control(format!(
                        "{path} has no counterpart on a WordPress site (faults and request logs are the simulator's)"
                    )));
                }
                Ok((
                    format!("{}{rest}", s(info, "control_url")),
                    Some((s(info, "user"), s(info, "app_password"))),
                ))
            }
        }
    }
}

/// Everything running.
pub struct Sandbox {
    pub ghl_sim: RunningSim,
    pub ghl_state: Arc<sim_ghl::Sim>,
    pub aa_site: AccessAllySite,
    pub engine: Arc<Engine>,
    pub http: reqwest::Client,
    /// The daemon's URL once [`Sandbox::go_live`] ran.
    pub server_url: Option<String>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The outcome of a simulator's start-up task run on another runtime.
fn joined<T>(task: Result<T, tokio::task::JoinError>) -> Result<T, SandboxError> {
    task.map_err(|e| SandboxError::Control(format!("a simulator's start-up task failed: {e}")))
}

impl Sandbox {
    pub async fn start(options: SandboxOptions) -> Result<Self, SandboxError> {
        let ghl_config = sim_ghl::SimConfig {
            seed: options.seed,
            faults: options.faults.clone(),
            rate_limits: options
                .ghl_rate_limits
                .unwrap_or_else(sim_ghl::auth::RateLimits::unlimited),
            webhook_retry_spacing: Duration::from_millis(50),
            fault_seed: options.fault_seed,
            ..sim_ghl::SimConfig::default()
        };
        let aa_config = sim_accessally::SimConfig {
            seed: options.seed,
            faults: options.faults.clone(),
            fault_seed: options.fault_seed.map(|s| s + 1),
            ..sim_accessally::SimConfig::for_tests()
        };
        let ((ghl_sim, ghl_state), aa_site) = match (&options.simulator_runtime, &options.wordpress)
        {
            (None, Some(site)) => (
                sim_ghl::start(ghl_config).await?,
                AccessAllySite::WordPress(site.clone()),
            ),
            (None, None) => (
                sim_ghl::start(ghl_config).await?,
                AccessAllySite::Simulator(sim_accessally::start(aa_config).await?),
            ),
            (Some(runtime), site) => {
                let ghl = joined(runtime.spawn(sim_ghl::start(ghl_config)).await)??;
                let aa = match site {
                    Some(site) => AccessAllySite::WordPress(site.clone()),
                    None => AccessAllySite::Simulator(joined(
                        runtime.spawn(sim_accessally::start(aa_config)).await,
                    )??),
                };
                (ghl, aa)
            }
        };
        let dir = tempfile::tempdir()?;
        let url = match &options.store_url {
            Some(u) => u.clone(),
            None => store::Store::sqlite_url(&dir.path().join("allybridge.db")),
        };
        let store =
            store::Store::open(&url, store::Keyring::new(store::MasterKey::generate())).await?;
        // The clients report their calls to the engine's metrics, as the daemon's do.
        let metrics = Arc::new(engine::metrics::Metrics::new());
        let tenant = tenant_observed(
            &store,
            "sandbox",
            &ghl_sim.info,
            aa_site.info(),
            options.mode,
            &options,
            transport::Observer::new(metrics.clone()),
        )
        .await?;
        let engine = Arc::new(
            Engine::new(store, vec![tenant], options.engine.clone()).with_metrics(metrics),
        );
        Ok(Self {
            ghl_sim,
            ghl_state,
            aa_site,
            engine,
            http: reqwest::Client::new(),
            server_url: None,
            stop: None,
            tasks: Vec::new(),
            _dir: dir,
        })
    }

    /// Runs the daemon part: the webhook server on a free port, subscribed
    /// to both simulators' webhooks, and the engine's workers.
    pub async fn go_live(&mut self) -> Result<String, SandboxError> {
        let (listener, addr) =
            server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{addr}");
        let tenant = self.tenant().clone();
        let ed =
            ghl::webhook::Ed25519PublicKey::parse(&s(&self.ghl_sim.info, "webhook_public_key"))
                .map_err(|e| SandboxError::Control(e.to_string()))?;
        let rsa =
            ghl::webhook::RsaPublicKey::parse(&s(&self.ghl_sim.info, "webhook_rsa_public_key"))
                .map_err(|e| SandboxError::Control(e.to_string()))?;
        let ghl_verifier = ghl::webhook::WebhookVerifier::new(Some(ed))
            .map_err(|e| SandboxError::Control(e.to_string()))?
            .with_rsa_key(Some(rsa));
        let subscription = tenant
            .accessally
            .create_webhook(
                &format!("{url}/webhooks/accessally/{}", tenant.name),
                &accessally::Topic::ALL,
                None,
            )
            .await?;
        let secret = subscription
            .secret
            .ok_or_else(|| SandboxError::Control("the site returned no webhook secret".into()))?;
        let aa_verifier = accessally::WebhookVerifier::new(
            &secret,
            Arc::new(accessally::InMemorySeenIds::default()),
        )
        .map_err(|e| SandboxError::Control(e.to_string()))?;
        let receiver = engine::intake::Receiver::new(
            self.engine.store.clone(),
            vec![tenant.clone()],
            ghl_verifier,
            HashMap::from([(tenant.name.clone(), aa_verifier)]),
        );
        self.control(
            "ghl",
            "PUT",
            "/__sim/webhooks",
            Some(json!({"urls": [format!("{url}/webhooks/ghl")]})),
        )
        .await?;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let state = server::AppState {
            receiver: Arc::new(receiver),
            engine: self.engine.clone(),
        };
        let mut server_stop = stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let _ = server::serve(listener, state, async move {
                let _ = server_stop.changed().await;
            })
            .await;
        }));
        let engine = self.engine.clone();
        self.tasks.push(tokio::spawn(async move {
            let _ = engine
                .run(async move {
                    let _ = stopped.changed().await;
                })
                .await;
        }));
        self.stop = Some(stop);
        self.server_url = Some(url.clone());
        Ok(url)
    }

    /// Waits until `check` holds on the ground truth, at most `limit`.
    pub async fn eventually<F>(&self, limit: Duration, mut check: F) -> Result<bool, SandboxError>
    where
        F: FnMut(&Value, &Value) -> bool,
    {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (g, a) = (self.ghl_truth().await?, self.aa_truth().await?);
            if check(&g, &a) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn tenant(&self) -> &Tenant {
        self.engine
            .tenants
            .values()
            .next()
            .expect("the sandbox has one tenant")
    }

    /// A control call to a simulator (`ghl` or `accessally`).
    pub async fn control(
        &self,
        sim: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, SandboxError> {
        let (url, auth) = if sim == "ghl" {
            (format!("{}{path}", self.ghl_sim.url), None)
        } else {
            self.aa_site.control_url(path)?
        };
        let m = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| SandboxError::Control(e.to_string()))?;
        let mut req = self.http.request(m, url);
        if let Some((user, password)) = auth {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SandboxError::Control(e.to_string()))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(SandboxError::Control(format!(
                "{method} {path}: {status} {value}"
            )));
        }
        Ok(value)
    }

    pub async fn ghl_truth(&self) -> Result<Value, SandboxError> {
        Ok(self.control("ghl", "GET", "/__sim/state", None).await?["locations"][0].clone())
    }

    pub async fn aa_truth(&self) -> Result<Value, SandboxError> {
        self.control("accessally", "GET", "/__sim/state", None)
            .await
    }

    /// Edits the first price of the HighLevel product named `product` in the
    /// simulator's own UI (as a user would in HighLevel): a one-time USD
    /// price of `amount` (major units), which HighLevel announces by webhook.
    pub async fn edit_ghl_price(&self, product: &str, amount: f64) -> Result<(), SandboxError> {
        let g = self.ghl_truth().await?;
        let missing =
            || SandboxError::Control(format!("no HighLevel product `{product}` with a price"));
        let found = g["products"]
            .as_array()
            .and_then(|list| list.iter().find(|p| p["name"].as_str() == Some(product)))
            .ok_or_else(missing)?;
        let price = g["prices"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["product"] == found["_id"]))
            .ok_or_else(missing)?;
        let body = json!({"name": price["name"], "type": "one_time", "currency": "USD", "amount": amount,
                          "locationId": g["id"], "sku": price["sku"]});
        self.control(
            "ghl",
            "PUT",
            &format!(
                "/__sim/ui/products/{}/price/{}",
                s(found, "_id"),
                s(price, "_id")
            ),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// Write calls each side has served so far (a WordPress site counts
    /// the Bridge API writes and `aal_*` commands in its integration log).
    pub async fn write_calls(&self) -> Result<(u64, u64), SandboxError> {
        let g = self
            .control("ghl", "GET", "/__sim/requests?limit=0", None)
            .await?;
        let w = |v: &Value| v["summary"]["writes"].as_u64().unwrap_or(0);
        let a = match &self.aa_site {
            AccessAllySite::Simulator(_) => w(&self
                .control("accessally", "GET", "/__sim/requests?limit=0", None)
                .await?),
            AccessAllySite::WordPress(_) => {
                self.aa_truth().await?["api_writes"].as_u64().unwrap_or(0)
            }
        };
        Ok((w(&g), a))
    }

    /// Adds an offering to AccessAlly's side as its administrator would:
    /// published, unlimited, with one-time USD payment options, each an
    /// `(amount, sku)`. Answers the offering as the side holds it.
    pub async fn add_offering(
        &self,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<Value, SandboxError> {
        let options: Vec<Value> = options
            .iter()
            .map(|(amount, sku)| json!({"type": "one_time", "amount": amount, "currency": "USD", "sku": sku}))
            .collect();
        self.control(
            "accessally",
            "POST",
            "/__sim/admin/offerings",
            Some(json!({
                "name": name, "description": format!("{name}, made by a test."), "status": "publish",
                "availability": {"unlimited": true, "quantity": null},
                "payment_options": options,
            })),
        )
        .await
    }

    /// Replaces an AccessAlly offering's payment options as its
    /// administrator would (an option keeps its id when given it).
    pub async fn set_payment_options(
        &self,
        offering_id: &Value,
        options: Vec<Value>,
    ) -> Result<(), SandboxError> {
        self.control(
            "accessally",
            "PUT",
            &format!("/__sim/admin/offerings/{offering_id}"),
            Some(json!({"payment_options": options})),
        )
        .await?;
        Ok(())
    }

    /// Sets faults on both simulators.
    pub async fn set_faults(&self, faults: &Faults) -> Result<(), SandboxError> {
        let body = serde_json::to_value(faults).unwrap_or_default();
        self.control("ghl", "PUT", "/__sim/faults", Some(body.clone()))
            .await?;
        self.control("accessally", "PUT", "/__sim/faults", Some(body))
            .await?;
        Ok(())
    }

    /// One backfill pass, phase by phase (see [`engine::scan::PASS_PHASES`]):
    /// scan the phase's flows, then run their jobs.
    pub async fn sync_once(
        &self,
        kind: engine::scan::ScanKind,
    ) -> Result<u64, engine::EngineError> {
        run_pass(&self.engine, self.tenant(), kind).await
    }

    /// Compares both simulators' ground truth: every product has its
    /// offering with equal prices, every coupon its AccessAlly coupon, every
    /// completed AccessAlly order a paid invoice, every paid HighLevel order
    /// its grants. Returns the differences (empty when converged).
    pub async fn differences(&self) -> Result<Vec<String>, SandboxError> {
        let g = self.ghl_truth().await?;
        let a = self.aa_truth().await?;
        Ok(compare(&g, &a))
    }
}

/// One pass of `engine` over `tenant`, phase by phase (see
/// [`engine::scan::PASS_PHASES`]): scan the phase's flows, then run their
/// jobs. Returns the jobs enqueued. [`Sandbox::sync_once`] runs it with the
/// sandbox's engine; a test runs it with another engine over the same store
/// to see a tenant's settings change.
pub async fn run_pass(
    engine: &Arc<Engine>,
    tenant: &Tenant,
    kind: engine::scan::ScanKind,
) -> Result<u64, engine::EngineError> {
    let mut enqueued = 0;
    for phase in engine::scan::PASS_PHASES {
        // On a runtime worker, as the daemon runs it: the caller may be
        // the thread that blocks on the runtime, and waking it for every
        // answer costs a thread switch.
        let engine = engine.clone();
        let tenant = tenant.clone();
        let report = tokio::spawn(async move {
            engine::scan::run_phase(&engine, &tenant, kind, phase, Duration::from_secs(3)).await
        })
        .await
        .map_err(|e| engine::EngineError::Permanent(format!("the worker task failed: {e}")))??;
        enqueued += report
            .scans
            .iter()
            .map(|(_, scan)| scan.enqueued)
            .sum::<u64>();
    }
    Ok(enqueued)
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The ground-truth comparison behind [`Sandbox::differences`].
pub fn compare(ghl: &Value, aa: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let offerings = arr(&aa["offerings"]);
    let products = arr(&ghl["products"]);
    let prices = arr(&ghl["prices"]);
    // Products ↔ offerings, matched by name.
    let mut by_name: HashMap<String, &Value> = HashMap::new();
    for o in &offerings {
        if by_name.insert(s(o, "name"), o).is_some() {
            out.push(format!("offering `{}` exists twice", s(o, "name")));
        }
    }
    let mut product_names = std::collections::HashSet::new();
    for p in &products {
        if !product_names.insert(s(p, "name")) {
            out.push(format!("product `{}` exists twice", s(p, "name")));
        }
    }
    let emails: Vec<String> = arr(&ghl["contacts"])
        .iter()
        .map(|c| s(c, "email").to_lowercase())
        .collect();
    let unique: std::collections::HashSet<&String> = emails.iter().collect();
    if unique.len() != emails.len() {
        out.push("a HighLevel contact exists twice".into());
    }
    // Each look-up below is by key (a scan per record made this quadratic:
    // minutes for a 25,000-product catalog).
    let mut prices_of: HashMap<String, Vec<String>> = HashMap::new();
    for x in &prices {
        prices_of.entry(s(x, "product")).or_default().push(format!(
            "{:.2} {}",
            x["amount"].as_f64().unwrap_or(0.0),
            s(x, "currency")
        ));
    }
    for p in &products {
        let name = s(p, "name");
        let Some(o) = by_name.get(&name) else {
            out.push(format!("product `{name}` has no offering"));
            continue;
        };
        let mut gp: Vec<String> = prices_of.remove(&s(p, "_id")).unwrap_or_default();
        let mut ap: Vec<String> = arr(&o["payment_options"])
            .iter()
            .map(|x| {
                format!(
                    "{:.2} {}",
                    s(x, "amount").parse::<f64>().unwrap_or(0.0),
                    s(x, "currency")
                )
            })
            .collect();
        gp.sort();
        ap.sort();
        if gp != ap {
            out.push(format!("product `{name}` prices {gp:?} ≠ offering {ap:?}"));
        }
    }
    let names: std::collections::HashSet<String> = products.iter().map(|p| s(p, "name")).collect();
    for o in &offerings {
        if !names.contains(&s(o, "name")) {
            out.push(format!("offering `{}` has no product", s(o, "name")));
        }
    }
    // Coupons HighLevel → AccessAlly, by code; no duplicates.
    let mut aa_codes: HashMap<String, usize> = HashMap::new();
    for c in arr(&aa["coupons"]) {
        *aa_codes.entry(s(&c, "code").to_lowercase()).or_default() += 1;
    }
    for c in arr(&ghl["coupons"]) {
        let code = s(&c, "code").to_lowercase();
        let n = aa_codes.get(&code).copied().unwrap_or(0);
        if n != 1 {
            out.push(format!("coupon `{code}` appears {n} times in AccessAlly"));
        }
    }
    // Completed AccessAlly orders → exactly one paid invoice each.
    let invoices = arr(&ghl["invoices"]);
    let mut invoices_named: HashMap<String, Vec<&Value>> = HashMap::new();
    for i in &invoices {
        invoices_named.entry(s(i, "name")).or_default().push(i);
    }
    for o in arr(&aa["orders"]) {
        let status = s(&o, "status");
        if !["success", "sca_success", "refunded", "partially_refunded"].contains(&status.as_str())
        {
            continue;
        }
        let name = format!("AccessAlly order #{}", o["id"]);
        let matching = invoices_named.get(&name).cloned().unwrap_or_default();
        if matching.len() != 1 {
            out.push(format!("{name} has {} invoices", matching.len()));
        } else if s(matching[0], "status") != "paid"
            && matching[0]["total"].as_f64().unwrap_or(0.0) > 0.0
        {
            // A free order has nothing to pay: its invoice stays a draft.
            out.push(format!("{name} invoice is {}", s(matching[0], "status")));
        }
    }
    // Paid HighLevel orders → a grant per item.
    // A grant's `source_ref` is `ghl-order:{order id}:{item}`.
    let mut grants_of: HashMap<String, usize> = HashMap::new();
    for g in arr(&aa["access_grants"]) {
        let source = s(&g, "source_ref");
        if let Some((order, _)) = source
            .strip_prefix("ghl-order:")
            .and_then(|rest| rest.split_once(':'))
        {
            *grants_of.entry(order.to_string()).or_default() += 1;
        }
    }
    for o in arr(&ghl["orders"]) {
        if s(&o, "paymentStatus") != "paid" {
            continue;
        }
        let id = s(&o, "_id");
        let n = grants_of.get(&id).copied().unwrap_or(0);
        let items = arr(&o["items"]).len();
        if n != items {
            out.push(format!(
                "HighLevel order {id} has {n} grants for {items} items"
            ));
        }
    }
    out
}

/// The retries of the sandbox's clients: short, so that a fault spell
/// costs the tests little time.
const SANDBOX_RETRY: transport::RetryPolicy = transport::RetryPolicy {
    max_attempts: 6,
    base_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(500),
    max_server_wait: Duration::from_secs(2),
};

/// A tenant for the two simulators printed by `allybridge sim`.
pub async fn tenant_for(
    store: &store::Store,
    ghl_info: &Value,
    aa_info: &Value,
    mode: FlowMode,
    options: &SandboxOptions,
) -> Result<Tenant, SandboxError> {
    tenant_named(store, "sandbox", ghl_info, aa_info, mode, options).await
}

/// Like [`tenant_for`], with a name (several tenants in one engine).
pub async fn tenant_named(
    store: &store::Store,
    name: &str,
    ghl_info: &Value,
    aa_info: &Value,
    mode: FlowMode,
    options: &SandboxOptions,
) -> Result<Tenant, SandboxError> {
    tenant_observed(
        store,
        name,
        ghl_info,
        aa_info,
        mode,
        options,
        transport::Observer::default(),
    )
    .await
}

/// Like [`tenant_named`], with both clients reporting their calls to
/// `observer`. The tenant is built as the daemon builds one
/// ([`daemon::build_tenant`]): a `[[tenant]]` configuration naming both
/// sites with every flow in `mode`, and the simulators' credentials stored
/// encrypted in `store` as `allybridge connect` stores them. Only the
/// engine's policies come from [`SandboxOptions::settings`] instead of the
/// configuration, so that tests can set any of them directly.
pub async fn tenant_observed(
    store: &store::Store,
    name: &str,
    ghl_info: &Value,
    aa_info: &Value,
    mode: FlowMode,
    options: &SandboxOptions,
    observer: transport::Observer,
) -> Result<Tenant, SandboxError> {
    let mut config = config::Config::from_str(&format!(
        r#"
[[tenant]]
name = "{name}"
[tenant.ghl]
base_url = "{ghl_url}"
location_id = "{location}"
auth = "private_token"
[tenant.accessally]
site_url = "{aa_url}"
user = "{user}"
"#,
        ghl_url = s(ghl_info, "url"),
        location = s(ghl_info, "location_id"),
        aa_url = s(aa_info, "url"),
        user = s(aa_info, "user"),
    ))
    .map_err(|e| SandboxError::Control(format!("the sandbox tenant's configuration: {e}")))?;
    let tenant_config = &mut config.tenants[0];
    tenant_config.flows = config::FlowsConfig {
        coupons_to_accessally: mode,
        products_to_accessally: mode,
        products_to_highlevel: mode,
        orders_to_highlevel: mode,
        orders_to_accessally: mode,
    };
    let tenant_config = &config.tenants[0];
    daemon::credentials::store_private_token(
        store,
        tenant_config,
        SecretString::from(s(ghl_info, "token")),
    )
    .await?;
    daemon::credentials::store_accessally_credentials(
        store,
        tenant_config,
        SecretString::from(s(aa_info, "app_password")),
        Some(SecretString::from(s(aa_info, "handshake"))),
    )
    .await?;
    let budget = match options.ghl_rate_limits {
        Some(l) => ghl::BudgetConfig {
            max: l.max,
            interval: l.interval,
            daily: l.daily,
        },
        None => ghl::BudgetConfig {
            max: u32::MAX,
            interval: Duration::from_secs(10),
            daily: u64::MAX,
        },
    };
    let tuning = daemon::ClientTuning {
        request_timeout: options.client_timeout,
        retry: SANDBOX_RETRY,
        observer,
        budget,
    };
    let (mut tenant, _) = daemon::build_tenant(
        &config,
        store,
        tenant_config,
        &tuning,
        &daemon::TenantLoad::default(),
    )
    .await?;
    tenant.settings = options.settings.clone();
    Ok(tenant)
}

/// The body of an AccessAlly simulator checkout (`POST /__sim/checkout`).
pub fn checkout_body(email: &str, offering_id: u64, option_id: u64, coupon: Option<&str>) -> Value {
    let mut body = json!({"buyer": {"email": email, "first_name": "Demo", "last_name": "Buyer"},
                          "offering_id": offering_id, "payment_option_id": option_id});
    if let Some(c) = coupon {
        body["coupon_code"] = json!(c);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides in step: one product with two prices, one coupon, one
    /// completed AccessAlly order with its invoice, one paid HighLevel
    /// order with two items and their two grants.
    fn in_step() -> (Value, Value) {
        let ghl = json!({
            "products": [{"_id": "p1", "name": "Course"}],
            "prices": [
                {"product": "p1", "amount": 10.0, "currency": "USD"},
                {"product": "p1", "amount": 99.5, "currency": "USD"},
            ],
            "contacts": [{"email": "ana@example.com"}],
            "coupons": [{"code": "SAVE10"}],
            "invoices": [{"name": "AccessAlly order #7", "status": "paid", "total": 10.0}],
            "orders": [{"_id": "o1", "paymentStatus": "paid", "items": [{}, {}]}],
        });
        let aa = json!({
            "offerings": [{"name": "Course", "payment_options": [
                {"amount": "99.50", "currency": "USD"},
                {"amount": "10.00", "currency": "USD"},
            ]}],
            "coupons": [{"code": "save10"}],
            "orders": [{"id": 7, "status": "success"}, {"id": 8, "status": "failed"}],
            "access_grants": [
                {"source_ref": "ghl-order:o1:0"},
                {"source_ref": "ghl-order:o1:1"},
                {"source_ref": "ghl-order:o10:0"},
            ],
        });
        (ghl, aa)
    }

    #[test]
    fn compare_finds_nothing_when_in_step_and_each_kind_of_difference_when_not() {
        let (ghl, aa) = in_step();
        assert_eq!(compare(&ghl, &aa), Vec::<String>::new());

        let (mut ghl, mut aa) = in_step();
        ghl["prices"][1]["amount"] = json!(98.5);
        aa["coupons"] = json!([{"code": "SAVE10"}, {"code": "save10"}]);
        ghl["invoices"] = json!([
            {"name": "AccessAlly order #7", "status": "paid", "total": 10.0},
            {"name": "AccessAlly order #7", "status": "paid", "total": 10.0},
        ]);
        aa["access_grants"] = json!([{"source_ref": "ghl-order:o1:0"}]);
        let found = compare(&ghl, &aa);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("product `Course` prices"), "{found:?}");
        assert_eq!(found[1], "coupon `save10` appears 2 times in AccessAlly");
        assert_eq!(found[2], "AccessAlly order #7 has 2 invoices");
        assert_eq!(found[3], "HighLevel order o1 has 1 grants for 2 items");

        let (ghl, mut aa) = in_step();
        aa["offerings"][0]["name"] = json!("Other");
        let found = compare(&ghl, &aa);
        assert!(found.contains(&"product `Course` has no offering".to_string()));
        assert!(found.contains(&"offering `Other` has no product".to_string()));
    }
}
