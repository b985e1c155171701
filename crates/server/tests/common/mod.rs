//! The admin page's test harness: a daemon surface (webhooks, admin page)
//! on port 0 over a temporary SQLite store, which it can restart on the
//! same store; one tenant whose clients point at a closed port (the page
//! never calls out); the store's records written as the engine writes them
//! (dead letters, skips, log lines, and a sample of a few days of a small
//! shop); known secrets to grep for; and a small cookie-keeping HTTP
//! client (`browser.rs`, shared with the binary's daemon tests).

#![allow(dead_code)]

mod browser;

pub use browser::{Browser, Page, csrf_of};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use engine::flows::kinds;
use engine::{Engine, EngineOptions, Tenant, TenantSettings};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use server::admin::{Admin, AdminConfig, LocationBudget};
use store::{ClaimScope, Priority, Store, System};

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
    key: store::MasterKey,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A dead letter for HighLevel product `record` of the tenant's
    /// products_to_accessally flow; returns its job id.
    pub async fn dead_letter(&self, record: &str, reason: &str) -> anyhow::Result<i64> {
        self.dead_letter_of(Flow::ProductsToAccessally, record, reason)
            .await
    }

    /// A dead letter for `record` of `flow`, named as the engine names its
    /// jobs; returns its job id.
    pub async fn dead_letter_of(
        &self,
        flow: Flow,
        record: &str,
        reason: &str,
    ) -> anyhow::Result<i64> {
        let job = self.claimed(flow, record).await?;
        self.store.dead_letter_job(job, "test", reason).await?;
        Ok(job)
    }

    /// A job of `flow` for `record`, enqueued and claimed; returns its id.
    async fn claimed(&self, flow: Flow, record: &str) -> anyhow::Result<i64> {
        let tenant = self.engine.tenant("main").context("tenant main")?;
        let kind = match flow {
            Flow::CouponsToAccessally => kinds::COUPON_TO_AA,
            Flow::ProductsToAccessally => kinds::PRODUCT_TO_AA,
            Flow::ProductsToHighlevel => kinds::PRODUCT_TO_GHL,
            Flow::OrdersToHighlevel => kinds::ORDER_TO_GHL,
            Flow::OrdersToAccessally => kinds::ORDER_TO_AA,
        };
        let job = engine::worker::job(tenant, kind, record, Priority::Live);
        self.store.enqueue(&job).await?;
        let claimed = self
            .store
            .claim_jobs("test", &ClaimScope::Any, 100, Duration::from_secs(30))
            .await?;
        let mut id = None;
        for j in claimed {
            if j.record_id == record && j.kind == kind {
                id = Some(j.id);
            } else {
                self.store
                    .retry_job(j.id, "test", "not this test's job", chrono::Utc::now())
                    .await?;
            }
        }
        id.context("the job just enqueued was not claimed")
    }

    /// A job of `flow` for `record` that ran and left the record as it was
    /// (done, with no line in the integration log: a skip).
    pub async fn skipped_job(&self, flow: Flow, record: &str) -> anyhow::Result<i64> {
        let job = self.claimed(flow, record).await?;
        self.store.complete_job(job, "test").await?;
        Ok(job)
    }

    /// A line in the integration log of `record` of `flow`, as the engine
    /// writes one (`{label}: {note} [{change}; …]`).
    pub async fn logged(
        &self,
        flow: Flow,
        record: &str,
        action: &str,
        result: &str,
        detail: &str,
    ) -> anyhow::Result<i64> {
        let (from, to) = engine::flows::direction(flow);
        Ok(self
            .store
            .log_integration(&store::IntegrationEvent {
                entity_type: format!("main/{}", engine::flows::entity_of(flow)),
                record_id: record.into(),
                action: action.into(),
                from_system: from,
                to_system: to,
                result: result.into(),
                detail: detail.into(),
                job_id: None,
            })
            .await?)
    }

    /// A store filled the way a few days of a small shop leave it: links
    /// of every kind, log lines of every flow with their changes in words,
    /// skips, dead letters, a drift report, API calls and alerts.
    pub async fn seed_sample(&self) -> anyhow::Result<()> {
        let link = |entity: &str, hl: String, aa: String| store::NewLink {
            entity_type: format!("main/{entity}"),
            highlevel_id: hl,
            accessally_id: aa,
            highlevel_hash: None,
            accessally_hash: None,
            highlevel_state: None,
        };
        for (entity, n) in [("product", 24), ("coupon", 8), ("order", 16), ("grant", 10)] {
            for i in 0..n {
                self.store
                    .save_link(&link(
                        entity,
                        format!("{entity}-hl-{i}"),
                        format!("{}", 100 + i),
                    ))
                    .await?;
            }
        }
        let products = [
            "Watercolour Basics",
            "Oil Portraits",
            "Ink & Wash",
            "Figure Drawing",
        ];
        for i in 0..40usize {
            let name = products[i % products.len()];
            let sku = format!("COURSE-{:03}", i % 7 + 1);
            match i % 5 {
                0 => self.logged(Flow::ProductsToAccessally, &format!("product-hl-{i}"), "update", "written",
                    &format!("product {name}: offering updated [{sku} 197.00 → 149.00 USD; name \"{name}\" → \"{name} (2025)\"]")).await?,
                1 => self.logged(Flow::CouponsToAccessally, &format!("coupon-hl-{i}"), "create", "written",
                    &format!("coupon LAUNCH{i}: coupon created [code LAUNCH{i}; discount 20%; products {name}]")).await?,
                2 => self.logged(Flow::OrdersToHighlevel, &format!("{}", 1000 + i), "create", "observed",
                    &format!("order {}: would record the payment [contact: buyer{i}@example.com; invoice: AccessAlly order #{} (149.00 USD); coupon: LAUNCH1]", 1000 + i, 1000 + i)).await?,
                3 => self.logged(Flow::ProductsToHighlevel, &format!("{}", 200 + i), "update", "written",
                    &format!("offering {name}: product updated [{sku} trial 0 → 14 days; availability unlimited → 40]")).await?,
                _ => self.logged(Flow::OrdersToAccessally, &format!("order-hl-{i}"), "create", "written",
                    &format!("order order-hl-{i}: access granted [grant offering 10{} to student{i}@example.com]", i % 3)).await?,
            };
        }
        for i in 0..12 {
            self.skipped_job(Flow::ProductsToAccessally, &format!("product-hl-skip-{i}"))
                .await?;
        }
        self.dead_letter_of(
            Flow::OrdersToHighlevel,
            "1003",
            "HighLevel answered 422 Unprocessable Entity: contact email is invalid",
        )
        .await?;
        self.dead_letter_of(
            Flow::ProductsToAccessally,
            "product-hl-0",
            "AccessAlly answered 500 Internal Server Error after 8 attempts",
        )
        .await?;
        self.dead_letter_of(
            Flow::CouponsToAccessally,
            "coupon-hl-6",
            "coupon LAUNCH6 is restricted to product-hl-99, which is not in AccessAlly yet",
        )
        .await?;
        self.store
            .save_drift_report(
                "main",
                180,
                3,
                &serde_json::json!([
                    {"flow": "products_to_accessally", "kind": "different", "record": "product Oil Portraits"},
                    {"flow": "coupons_to_accessally", "kind": "missing", "record": "coupon SPRING25"},
                    {"flow": "orders_to_accessally", "kind": "gone", "record": "order order-hl-77"}
                ]),
            )
            .await?;
        let calls: Vec<store::ApiCall> = (0..60)
            .map(|i| store::ApiCall {
                system: if i % 3 == 0 {
                    System::AccessAlly
                } else {
                    System::HighLevel
                },
                location: (i % 3 != 0).then(|| "loc-123".to_string()),
                method: if i % 4 == 0 { "PUT" } else { "GET" }.into(),
                path: if i % 3 == 0 {
                    "/wp-json/allybridge/v1/offerings".into()
                } else {
                    "/products/".into()
                },
                status: Some(if i == 31 { 429 } else { 200 }),
                latency_ms: 40 + i * 3,
                rate_remaining: (i % 3 != 0).then_some(100 - i),
            })
            .collect();
        self.store.log_api_calls(&calls).await?;
        for key in ["dead_letter:main", "drift:main"] {
            self.store
                .claim_alert(
                    key,
                    "slack",
                    &format!("{key}: see the admin page"),
                    Duration::from_secs(60),
                )
                .await?;
        }
        Ok(())
    }
}

pub async fn spawn_app() -> anyhow::Result<TestApp> {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with the admin page's configuration changed by `setup`.
pub async fn spawn_app_with(setup: impl FnOnce(&mut AdminConfig)) -> anyhow::Result<TestApp> {
    let dir = tempfile::tempdir()?;
    launch(dir, store::MasterKey::generate(), setup).await
}

impl TestApp {
    /// The daemon started again on the same store: a new engine, admin
    /// page and port; what was only in the old process's memory is gone.
    pub async fn restarted(self) -> anyhow::Result<TestApp> {
        launch(self._dir, self.key, |_| {}).await
    }
}

/// The daemon's surface over the SQLite store in `dir` (created if new).
async fn launch(
    dir: tempfile::TempDir,
    key: store::MasterKey,
    setup: impl FnOnce(&mut AdminConfig),
) -> anyhow::Result<TestApp> {
    let url = Store::sqlite_url(&dir.path().join("store.db"));
    let store = Store::open(&url, store::Keyring::new(key.clone())).await?;
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
        key,
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
