//! The admin page's test harness: a daemon surface (webhooks, admin page)
//! on port 0 over a temporary SQLite store, one tenant whose clients point
//! at a closed port (the page never calls out), known secrets to grep for,
//! and a small cookie-keeping HTTP client.

#![allow(dead_code)]

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
    let admin = Admin::new(
        AdminConfig {
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
            ..AdminConfig::default()
        },
        engine.clone(),
        webhooks.clone(),
        None,
    );
    let router = server::router_with(
        server::AppState {
            receiver: Arc::new(receiver),
            engine: engine.clone(),
        },
        server::Surfaces {
            admin: Some(Arc::new(admin)),
            oauth: None,
            webhooks,
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
        _dir: dir,
    })
}

/// An HTTP client that keeps cookies by hand and never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            cookies: Vec::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> anyhow::Result<Page> {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str()?;
            let first = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = first.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !val.is_empty() {
                    self.cookies.push((k.to_string(), val.to_string()));
                }
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok(Page {
            status,
            location,
            body: r.text().await?,
        })
    }

    pub async fn get(&mut self, url: &str) -> anyhow::Result<Page> {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        self.finish(r).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await?;
        self.finish(r).await
    }

    pub fn has_cookie(&self, name: &str) -> bool {
        self.cookies.iter().any(|(n, _)| n == name)
    }
}

/// The value of the first hidden `csrf` field of a page.
pub fn csrf_of(html: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).context("no csrf field")? + marker.len();
    let end = html[start..].find('"').context("unterminated csrf field")?;
    Ok(html[start..start + end].to_string())
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
