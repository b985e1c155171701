//! The HighLevel (GoHighLevel) API v2 simulator: the sandbox users try
//! allybridge in before going live, and the ground every allybridge test
//! and benchmark runs against.
//!
//! It serves coupons, products, prices, inventory, the bulk product
//! endpoints, orders, transactions, contacts, invoices and OAuth with the
//! paths, envelopes, status codes, error shapes and quirks of the official
//! specs (`../shared/specs/ghl/`), enforces scopes, the `Version` header
//! (the specs' `2021-07-28`, and `2023-02-21`, which HighLevel's official
//! Node SDK sends by default) and the per-location rate limit, sends signed
//! webhooks that are retried only on 429, injects faults on demand, and
//! exposes its ground truth under `/__sim/`.
//!
//! Webhooks are signed with `x-ghl-signature` (Ed25519) only, as HighLevel
//! now signs them; [`SimConfig::legacy_rsa_signature`] adds the legacy
//! `x-wh-signature` (RSA) that older deliveries carried. HighLevel does not
//! document which webhooks its bulk product endpoints fire; the simulator
//! fires what the single-record endpoints fire for the same change
//! (`ProductUpdate`, `PriceUpdate`, `ProductDelete`; see [`world::catalog`]).
//!
//! One convention, shared with sim-accessally: [`world`] holds the data and
//! every rule that changes it (coupon status, code uniqueness, what a `PUT`
//! clears, inventory, bulk changes, checkout, invoice payments, which
//! webhooks fire), as methods that take typed inputs and answer typed
//! records or a [`world::Error`], queue the events they cause and know
//! nothing of HTTP; the [`api`] handlers read and check the request, build
//! those inputs, call the world and render the answer (and [`error`] renders
//! a [`world::Error`] in HighLevel's shape); they hold no business rule.
//!
//! It must use none of allybridge's product crates: its truth comes from
//! the specs, checked by its own conformance tests.

pub mod api;
pub mod auth;
pub mod control;
pub mod error;
pub mod routes;
pub mod seed;
pub mod signing;
pub mod validate;
pub mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sim_kit::request_log::{FaultInjection, inject_faults, log_requests};
use sim_kit::{
    Delivery, Dispatcher, FaultSwitch, Faults, RequestLog, RetryPolicy, RunningSim, Seed,
};

use crate::auth::{AuthState, Principal, RateLimiter, RateLimits};
use crate::error::ApiError;
use crate::signing::WebhookKeys;
use crate::world::{Event, World};

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub addr: SocketAddr,
    pub seed: Seed,
    /// How many sub-accounts (locations) the agency has.
    pub locations: usize,
    pub faults: Faults,
    /// Seed for the fault dice, for repeatable runs.
    pub fault_seed: Option<u64>,
    pub rate_limits: RateLimits,
    pub access_token_ttl: Duration,
    /// Where the app's webhooks go (the marketplace app's webhook URL).
    pub webhook_url: Option<String>,
    /// Spacing of the retries after a 429 (HighLevel: about 10 minutes).
    pub webhook_retry_spacing: Duration,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes granted to the private integration tokens.
    pub private_token_scopes: Vec<String>,
    /// Also sign deliveries with the legacy RSA `x-wh-signature`, which
    /// HighLevel no longer sends (off: only `x-ghl-signature`, Ed25519).
    pub legacy_rsa_signature: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        let app = sim_kit::ids::object_id();
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::Empty,
            locations: 1,
            faults: Faults::default(),
            fault_seed: None,
            rate_limits: RateLimits::default(),
            access_token_ttl: Duration::from_secs(86_399),
            webhook_url: None,
            webhook_retry_spacing: Duration::from_secs(600),
            client_id: format!("{app}-{}", sim_kit::ids::alphanumeric(8).to_lowercase()),
            client_secret: sim_kit::ids::alphanumeric(36),
            private_token_scopes: routes::all_scopes(),
            legacy_rsa_signature: false,
        }
    }
}

/// The running simulator's shared state.
pub struct Sim {
    pub config: SimConfig,
    pub world: Mutex<World>,
    pub auth: Mutex<AuthState>,
    pub limiter: Mutex<RateLimiter>,
    limits: Mutex<RateLimits>,
    pub faults: FaultSwitch,
    pub log: RequestLog,
    pub dispatcher: Dispatcher,
    pub webhook_urls: Mutex<Vec<String>>,
    pub user_id: String,
    /// Private integration tokens: one per location, then the agency's.
    pub private_tokens: Vec<(Principal, String)>,
    /// Set while seeding: changes fire no webhooks.
    muted: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    /// Builds the state (keys, locations, tokens, seed data). Needs a Tokio runtime.
    pub fn new(config: SimConfig) -> Arc<Self> {
        let faults = match config.fault_seed {
            Some(s) => FaultSwitch::with_seed(config.faults.clone(), s),
            None => FaultSwitch::new(config.faults.clone()),
        };
        let dispatcher = Dispatcher::start(
            RetryPolicy::OnlyOn429 {
                max_retries: 6,
                spacing: config.webhook_retry_spacing,
            },
            faults.clone(),
            None,
        );
        let _ = WebhookKeys::get();
        let mut world = World {
            company_id: sim_kit::ids::alphanumeric(20),
            ..World::default()
        };
        let mut auth = AuthState::default();
        let mut private_tokens = Vec::new();
        for i in 0..config.locations.max(1) {
            let id = sim_kit::ids::alphanumeric(20);
            world.locations.insert(
                id.clone(),
                world::Location::new(id.clone(), format!("Sub-account {}", i + 1)),
            );
            let token = format!("pit-{}", sim_kit::ids::alphanumeric(32).to_lowercase());
            auth.add_private_token(
                token.clone(),
                Principal::Location(id.clone()),
                &config.private_token_scopes,
            );
            private_tokens.push((Principal::Location(id), token));
        }
        let agency = format!("pit-{}", sim_kit::ids::alphanumeric(32).to_lowercase());
        auth.add_private_token(
            agency.clone(),
            Principal::Company(world.company_id.clone()),
            &config.private_token_scopes,
        );
        private_tokens.push((Principal::Company(world.company_id.clone()), agency));

        Arc::new(Self {
            limits: Mutex::new(config.rate_limits),
            webhook_urls: Mutex::new(config.webhook_url.iter().cloned().collect()),
            world: Mutex::new(world),
            auth: Mutex::new(auth),
            limiter: Mutex::new(RateLimiter::default()),
            faults,
            log: RequestLog::default(),
            dispatcher,
            user_id: sim_kit::ids::alphanumeric(20),
            private_tokens,
            muted: std::sync::atomic::AtomicBool::new(false),
            config,
        })
    }

    /// Empties every location, seeds it again, and clears the logs. Webhooks
    /// are not sent for seed data.
    pub async fn reset(self: &Arc<Self>, seed: Seed) {
        self.muted.store(true, std::sync::atomic::Ordering::SeqCst);
        {
            let mut w = lock(&self.world);
            for loc in w.locations.values_mut() {
                *loc = world::Location::new(loc.id.clone(), loc.name.clone());
            }
            w.take_events();
        }
        seed::apply(self, seed).await;
        lock(&self.world).take_events();
        self.muted.store(false, std::sync::atomic::Ordering::SeqCst);
        self.log.clear();
        self.dispatcher.clear_records();
        lock(&self.limiter).clear();
    }

    pub fn rate_limits(&self) -> RateLimits {
        *lock(&self.limits)
    }

    pub fn set_rate_limits(&self, limits: RateLimits) {
        *lock(&self.limits) = limits;
        lock(&self.limiter).clear();
    }

    pub fn company_id(&self) -> String {
        lock(&self.world).company_id.clone()
    }

    pub fn location_ids(&self) -> Vec<String> {
        lock(&self.world).locations.keys().cloned().collect()
    }

    /// The app id: the part of the client id before the dash.
    pub fn app_id(&self) -> String {
        self.config
            .client_id
            .split('-')
            .next()
            .unwrap_or("")
            .to_string()
    }

    /// Reads the world.
    pub fn read<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        f(&lock(&self.world))
    }

    /// Changes the world; on success, sends the webhooks the change fired.
    pub fn commit<T>(
        &self,
        f: impl FnOnce(&mut World) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (result, events) = {
            let mut world = lock(&self.world);
            let result = f(&mut world);
            let events = world.take_events();
            (result, events)
        };
        if result.is_ok() && !self.muted.load(std::sync::atomic::Ordering::SeqCst) {
            for event in events {
                self.deliver(event);
            }
        }
        result
    }

    /// Signs and queues one event for every registered webhook URL.
    fn deliver(&self, event: Event) {
        let urls = lock(&self.webhook_urls).clone();
        if urls.is_empty() {
            return;
        }
        let webhook_id = sim_kit::ids::object_id();
        let mut payload = event.payload;
        payload
            .entry("locationId")
            .or_insert_with(|| json!(event.location_id));
        payload.insert("timestamp".into(), json!(world::now_iso()));
        payload.insert("webhookId".into(), json!(webhook_id));
        let body = match serde_json::to_vec(&Value::Object(payload)) {
            Ok(b) => bytes::Bytes::from(b),
            Err(_) => return,
        };
        let keys = WebhookKeys::get();
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("x-ghl-signature".to_string(), keys.sign_ed25519(&body)),
        ];
        if self.config.legacy_rsa_signature {
            headers.push(("x-wh-signature".to_string(), keys.sign_rsa(&body)));
        }
        for url in urls {
            self.dispatcher.send(Delivery {
                id: webhook_id.clone(),
                topic: event.name.to_string(),
                url,
                subscription: None,
                headers: headers.clone(),
                body: body.clone(),
            });
        }
    }

    /// The line `allybridge sim` prints for this simulator.
    pub fn info(&self, url: &str) -> Value {
        let keys = WebhookKeys::get();
        let locations = self.location_ids();
        let tokens: serde_json::Map<String, Value> = self
            .private_tokens
            .iter()
            .filter_map(|(p, t)| match p {
                Principal::Location(l) => Some((l.clone(), json!(t))),
                _ => None,
            })
            .collect();
        let agency_token = self
            .private_tokens
            .iter()
            .find(|(p, _)| matches!(p, Principal::Company(_)))
            .map(|(_, t)| t.clone());
        json!({
            "sim": "ghl",
            "url": url,
            "location_id": locations.first(),
            "location_ids": locations,
            "company_id": self.company_id(),
            "token": tokens.values().next(),
            "tokens": tokens,
            "agency_token": agency_token,
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "webhook_public_key": keys.ed25519_public_pem,
            "webhook_rsa_public_key": keys.rsa_public_pem,
            "legacy_rsa_signature": self.config.legacy_rsa_signature,
        })
    }
}

/// The public API routes (without guards).
fn api_routes() -> Router<Arc<Sim>> {
    use api::{contacts, coupons, invoices, payments, products};
    Router::new()
        .route("/payments/coupon/list", get(coupons::list))
        .route(
            "/payments/coupon",
            get(coupons::get)
                .post(coupons::create)
                .put(coupons::update)
                .delete(coupons::delete),
        )
        .route("/payments/orders", get(payments::list_orders))
        .route("/payments/orders/{orderId}", get(payments::get_order))
        .route("/payments/transactions", get(payments::list_transactions))
        .route("/products/", get(products::list).post(products::create))
        .route("/products/bulk-update", post(products::bulk_update))
        .route("/products/bulk-update/edit", post(products::bulk_edit))
        .route(
            "/products/inventory",
            get(products::get_inventory).post(products::update_inventory),
        )
        .route(
            "/products/{productId}",
            get(products::get)
                .put(products::update)
                .delete(products::delete),
        )
        .route(
            "/products/{productId}/price",
            get(products::list_prices).post(products::create_price),
        )
        .route(
            "/products/{productId}/price/{priceId}",
            get(products::get_price)
                .put(products::update_price)
                .delete(products::delete_price),
        )
        .route("/contacts/upsert", post(contacts::upsert_contact))
        .route("/contacts/search", post(contacts::search))
        .route("/contacts/{contactId}", get(contacts::get_contact))
        .route("/contacts/{contactId}/tags", post(contacts::add_tags))
        .route("/contacts/{contactId}/notes", post(contacts::add_note))
        .route("/invoices/", get(invoices::list).post(invoices::create))
        .route("/invoices/{invoiceId}", get(invoices::get))
        .route(
            "/invoices/{invoiceId}/record-payment",
            post(invoices::record_payment),
        )
}

/// The whole simulator as an axum router.
pub fn router(sim: Arc<Sim>) -> Router {
    let public = api_routes()
        .route("/oauth/locationToken", post(auth::location_token))
        .layer(from_fn_with_state(sim.clone(), auth::api_guard));
    let ui = api_routes().layer(from_fn(auth::ui_guard));
    let faults = FaultInjection {
        faults: sim.faults.clone(),
        respond: Arc::new(error::fault_response),
    };
    Router::new()
        .merge(public)
        .route("/oauth/token", post(auth::token))
        .route("/v2/oauth/chooselocation", get(auth::choose_location))
        .route("/oauth/chooselocation", get(auth::choose_location))
        .nest("/__sim/ui", ui)
        .merge(control::router())
        .fallback(not_found)
        .layer(from_fn_with_state(faults, inject_faults))
        .layer(from_fn_with_state(sim.log.clone(), log_requests))
        .with_state(sim)
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(404, format!("Cannot {method} {}", uri.path()))
}

/// Starts the simulator on `config.addr` in the background.
pub async fn start(config: SimConfig) -> std::io::Result<(RunningSim, Arc<Sim>)> {
    let addr = config.addr;
    let seed = config.seed;
    let sim = Sim::new(config);
    sim.reset(seed).await;
    let app = router(sim.clone());
    let s = sim.clone();
    let running = RunningSim::spawn(addr, app, move |url| s.info(url)).await?;
    Ok((running, sim))
}
