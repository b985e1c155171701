//! The admin page's test harness: a daemon surface (webhooks, admin page)
//! on port 0 over a temporary SQLite store, one tenant whose clients point
//! at a closed port (the page never calls out), known secrets to grep for,
//! and a small cookie-keeping HTTP client (`browser.rs`, shared with the
//! binary's daemon tests).

#![allow(dead_code)]

mod browser;

pub use browser::{Browser, Page, csrf_of};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::{Engine, EngineOptions, Tenant, TenantSettings};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use server::admin::{Admin, AdminConfig, LocationBudget};
use store::{ClaimScope, NewJob, Priority, Store, System};

pub const PASSWORD: &str = "admin-pass-Zq81!";
pub const GHL_TOKEN: &str = "pit-SECRET-ghl-token-0123456789";
pub const AA_PASSWORD: &str = "aaSECRETappPassword9876";
pub const HANDSHAKE: &str = "hs-SECRET-handshake-55555";

pub struct TestApp {
    pub addr: SocketAddr,
    pub engine: Arc<Engine>,
    pub store: Store,
    pub hash: String,
    /// The connection states the page shows (tests set them).
    pub connections: Arc<server::health::Connections>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A dead letter for `record` of the tenant's products flow; returns its job id.
    pub async fn dead_letter(&self, record: &str, reason: &str) -> anyhow::Result<i64> {
        let job = NewJob::now(
            Flow::ProductsToAccessally.as_str(),
            format!("main/{}", Flow::ProductsToAccessally.as_str()),
            System::HighLevel,
            record,
            Priority::Live,
        );
        self.store.enqueue(&job).await?;
        let claimed = self
            .store
            .claim_jobs("test", &ClaimScope::Any, 10, Duration::from_secs(30))
            .await?;
        let job = claimed
            .into_iter()
            .find(|j| j.record_id == record)
            .context("claimed")?;
        self.store.dead_letter_job(job.id, "test", reason).await?;
        Ok(job.id)
    }
}

pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the admin page's configuration changed by `setup`.
pub async fn spawn_app_with(setup: impl FnOnce(&mut AdminConfig)) -> anyhow::Result<TestApp> {
    let dir = tempfile::tempdir()?;
    let url = Store::sqlite_url(&dir.path().join("store.db"));
    let store = Store::open(&url, store::Keyring::new(store::MasterKey::generate())).await?;
    let budget = ghl::RateBudget::new(ghl::BudgetConfig::default());
    let ghl = ghl::GhlClient::new(
        ghl::GhlConfig::new("http://127.0.0.1:9", "loc-123"),
        ghl::Auth::PrivateToken(SecretString::from(GHL_TOKEN)),
        budget.clone(),
    )?;
    let accessally = accessally::AccessAllyClient::new(accessally::AccessAllyConfig {
        site_url: url::Url::parse("http://127.0.0.1:9/site")?,
        user: "bridge".into(),
        app_password: SecretString::from(AA_PASSWORD),
        handshake: Some(SecretString::from(HANDSHAKE)),
        http: transport::HttpConfig::default(),
        retry: transport::RetryPolicy::default(),
    })?;
    let tenant = Tenant {
        name: "main".into(),
        ghl: Arc::new(ghl),
        accessally: Arc::new(accessally),
        modes: Flow::ALL.iter().map(|f| (*f, FlowMode::Observe)).collect(),
        settings: TenantSettings::default(),
    };
    let engine = Arc::new(Engine::new(
        store.clone(),
        vec![tenant.clone()],
        EngineOptions::default(),
    ));
    let receiver = engine::intake::Receiver::new(
        store.clone(),
        vec![tenant],
        ghl::webhook::WebhookVerifier::new(None).map_err(|e| anyhow::anyhow!("{e}"))?,
        Default::default(),
    );
    let hash = server::admin::auth::hash_password(PASSWORD)?;
    let webhooks = Arc::new(server::WebhookStats::default());
    let connections = Arc::new(server::health::Connections::default());
    let mut admin_config = AdminConfig {
        password_hash: Some(hash.clone()),
        secrets: [GHL_TOKEN, AA_PASSWORD, HANDSHAKE]
            .into_iter()
            .map(SecretString::from)
            .collect(),
        budgets: vec![LocationBudget {
            tenant: "main".into(),
            location_id: "loc-123".into(),
            budget,
        }],
        connections: connections.clone(),
        ..AdminConfig::default()
    };
    setup(&mut admin_config);
    let admin = Admin::new(admin_config, engine.clone(), webhooks.clone(), None);
    let router = server::router_with(
        server::AppState {
            receiver: Arc::new(receiver),
            engine: engine.clone(),
        },
        server::Surfaces {
            admin: Some(Arc::new(admin)),
            oauth: None,
            webhooks,
            connections: connections.clone(),
        },
    );
    let (listener, addr) = server::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    tokio::spawn(server::serve_router(
        listener,
        router,
        std::future::pending(),
    ));
    Ok(TestApp {
        addr,
        engine,
        store,
        hash,
        connections,
        _dir: dir,
    })
}

/// Logs in with `password`; returns the login answer.
pub async fn log_in(b: &mut Browser, app: &TestApp, password: &str) -> anyhow::Result<Page> {
    let page = b.get(&app.url("/admin/login")).await?;
    let csrf = csrf_of(&page.body)?;
    b.post(
        &app.url("/admin/login"),
        &[("csrf", &csrf), ("password", password)],
    )
    .await
}
