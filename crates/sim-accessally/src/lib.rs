//! The AccessAlly simulator: a WordPress site running AccessAlly and the
//! allybridge companion plugin, in memory. It serves the AccessAlly Bridge
//! API exactly as `docs/accessally-bridge-api.json` writes it, AccessAlly's
//! documented `?aal_*` commands, Standard-Webhooks-signed outgoing events,
//! and a control API under `/__sim/` (checkout, refunds, admin edits,
//! faults, ground truth, request log, deliveries).
//!
//! Its truth comes from the contract and the research notes alone: it must
//! never depend on a product crate (not the `accessally` client, not
//! `transport`), so that it cannot agree with the client merely by sharing
//! a wrong type.

mod aal;
mod api;
mod commerce;
mod control;
mod error;
mod input;
mod seed;
mod signing;
mod values;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use sim_kit::request_log::{FaultInjection, inject_faults, log_requests};
use sim_kit::{
    Delivery, Dispatcher, FaultSwitch, Faults, RequestLog, RetryPolicy, RunningSim, Seed,
};

pub use signing::{generate_secret, sign};
use world::{Event, World};

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port 0 picks a free port.
    pub addr: SocketAddr,
    pub seed: Seed,
    pub faults: Faults,
    /// Seeds the fault switch's random choices, for repeatable runs.
    pub fault_seed: Option<u64>,
    /// First retry of a failed webhook delivery waits this long; each next one twice as long.
    pub webhook_retry_base: Duration,
    /// Delivery attempts in all, the first included.
    pub webhook_max_attempts: u32,
    /// Deliveries in a row that failed every attempt before a subscription is disabled.
    pub webhook_disable_after: u32,
    /// WordPress user name for the Application Password.
    pub user: String,
    /// Generated (24 alphanumeric characters) when `None`.
    pub app_password: Option<String>,
    /// The `aal_*` handshake string; generated when `None`.
    pub handshake: Option<String>,
    /// Signing secret of subscriptions created without one; generated when `None`.
    pub webhook_secret: Option<String>,
    /// `Retry-After` seconds sent with injected 429 and 503 answers.
    pub retry_after_secs: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::Empty,
            faults: Faults::default(),
            fault_seed: None,
            webhook_retry_base: Duration::from_secs(5),
            webhook_max_attempts: 5,
            webhook_disable_after: 5,
            user: "allybridge".into(),
            app_password: None,
            handshake: None,
            webhook_secret: None,
            retry_after_secs: 1,
        }
    }
}

impl SimConfig {
    /// Port 0, short webhook retry spacing and `Retry-After: 0`: for tests.
    pub fn for_tests() -> Self {
        Self {
            webhook_retry_base: Duration::from_millis(20),
            retry_after_secs: 0,
            ..Self::default()
        }
    }
}

/// Credentials of the simulated site.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub app_password: String,
    pub handshake: String,
    pub webhook_secret: String,
}

/// The running simulator's shared state.
pub(crate) struct Sim {
    world: Mutex<World>,
    pub dispatcher: Dispatcher,
    pub faults: FaultSwitch,
    pub log: RequestLog,
    pub creds: Credentials,
}

impl Sim {
    pub fn world(&self) -> MutexGuard<'_, World> {
        // A poisoned lock means a handler panicked mid-change; the data is still plain values.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends each event to every subscription of its topic, signed with the subscription's secret.
    pub fn emit(&self, world: &World, events: Vec<Event>) {
        for event in events {
            let message_id = format!("msg_{}", sim_kit::ids::alphanumeric(24));
            let now = chrono::Utc::now();
            let body = serde_json::json!({
                "type": event.topic,
                "timestamp": values::format_date(now),
                "data": event.data,
            });
            let body = bytes::Bytes::from(body.to_string());
            let timestamp = now.timestamp().to_string();
            for hook in world
                .webhooks
                .values()
                .filter(|w| w.topics.iter().any(|t| t == event.topic))
            {
                let Some(signature) = sign(&hook.secret, &message_id, &timestamp, &body) else {
                    tracing::warn!(
                        webhook = hook.id,
                        "webhook secret cannot be decoded; delivery skipped"
                    );
                    continue;
                };
                self.dispatcher.send(Delivery {
                    id: message_id.clone(),
                    topic: event.topic.to_string(),
                    url: hook.url.clone(),
                    subscription: Some(hook.id.to_string()),
                    headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("webhook-id".into(), message_id.clone()),
                        ("webhook-timestamp".into(), timestamp.clone()),
                        ("webhook-signature".into(), signature),
                    ],
                    body: body.clone(),
                });
            }
        }
    }
}

/// Starts the simulator in the background of this process.
///
/// `info` is the line `allybridge sim` prints:
/// `{"sim":"accessally","url","user","app_password","handshake","webhook_secret"}`.
pub async fn start(config: SimConfig) -> std::io::Result<RunningSim> {
    let faults = match config.fault_seed {
        Some(seed) => FaultSwitch::with_seed(config.faults.clone(), seed),
        None => FaultSwitch::new(config.faults.clone()),
    };
    faults
        .set(config.faults.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let dispatcher = Dispatcher::start(
        RetryPolicy::AnyFailure {
            max_attempts: config.webhook_max_attempts.max(1),
            base: config.webhook_retry_base,
        },
        faults.clone(),
        Some(config.webhook_disable_after.max(1)),
    );
    let creds = Credentials {
        user: config.user.clone(),
        app_password: config
            .app_password
            .clone()
            .unwrap_or_else(|| sim_kit::ids::alphanumeric(24)),
        handshake: config
            .handshake
            .clone()
            .unwrap_or_else(|| sim_kit::ids::alphanumeric(16)),
        webhook_secret: config
            .webhook_secret
            .clone()
            .unwrap_or_else(generate_secret),
    };
    let mut world = World::new();
    seed::load(&mut world, config.seed, chrono::Utc::now());
    let sim = Arc::new(Sim {
        world: Mutex::new(world),
        dispatcher,
        faults: faults.clone(),
        log: RequestLog::default(),
        creds: creds.clone(),
    });
    let router = router(sim, config.retry_after_secs);
    RunningSim::spawn(config.addr, router, move |url| {
        serde_json::json!({
            "sim": "accessally",
            "url": url,
            "user": creds.user,
            "app_password": creds.app_password,
            "handshake": creds.handshake,
            "webhook_secret": creds.webhook_secret,
        })
    })
    .await
}

fn router(sim: Arc<Sim>, retry_after_secs: u64) -> Router {
    let injection = FaultInjection {
        faults: sim.faults.clone(),
        respond: Arc::new(move |status| error::injected_fault(status, retry_after_secs)),
    };
    let log = sim.log.clone();
    Router::new()
        .nest("/wp-json/allybridge/v1", api::router(sim.clone()))
        .route("/", axum::routing::post(aal::command))
        .nest("/__sim", control::router())
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::no_route)
        .with_state(sim)
        .layer(from_fn_with_state(injection, inject_faults))
        .layer(from_fn_with_state(log, log_requests))
}
