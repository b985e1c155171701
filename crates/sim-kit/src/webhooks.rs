//! Outgoing webhook delivery, as each simulated system does it: HighLevel
//! retries only when the receiver answers 429; WordPress-style senders retry
//! any failure with back-off and disable a subscription after repeated
//! failures. Drop, duplicate and reorder faults are applied here, and every
//! delivery's fate is kept as ground truth for tests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::faults::{DeliveryFault, FaultSwitch};

/// How many delivery records are kept.
const MAX_RECORDS: usize = 100_000;
/// How long a reordered delivery waits for a successor before it goes alone.
const REORDER_HOLD: Duration = Duration::from_millis(200);

/// When and how often a failed delivery is tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryPolicy {
    /// HighLevel: only a 429 answer is retried, up to `max_retries` times,
    /// `spacing` apart plus up to 20 % jitter. Anything else is final.
    OnlyOn429 { max_retries: u32, spacing: Duration },
    /// WordPress-style: any non-2xx or transport error is retried, up to
    /// `max_attempts` attempts in all, `base * 2^n` apart.
    AnyFailure { max_attempts: u32, base: Duration },
}

/// One event to deliver to one URL. Headers (signatures included) are final.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event id (HighLevel `webhookId`, Standard Webhooks `webhook-id`).
    pub id: String,
    pub topic: String,
    pub url: String,
    /// The subscription this delivery belongs to, if the system has them.
    pub subscription: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What became of one delivery.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub topic: String,
    pub url: String,
    pub subscription: Option<String>,
    pub attempts: u32,
    pub statuses: Vec<Option<u16>>,
    /// `pending`, `delivered`, `dropped` (by the fault switch), `failed`
    /// (gave up), or `skipped` (subscription disabled).
    pub outcome: String,
    /// Whether the fault switch sent it twice.
    pub duplicated: bool,
    /// Whether the fault switch held it back behind the next one.
    pub reordered: bool,
}

struct Shared {
    client: reqwest::Client,
    policy: RetryPolicy,
    faults: FaultSwitch,
    disable_after: Option<u32>,
    records: Mutex<VecDeque<DeliveryRecord>>,
    failures: Mutex<HashMap<String, u32>>,
    disabled: Mutex<HashSet<String>>,
    in_flight: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Queues and sends webhook deliveries in the background.
#[derive(Clone)]
pub struct Dispatcher {
    tx: mpsc::UnboundedSender<Delivery>,
    shared: Arc<Shared>,
}

impl Dispatcher {
    /// Starts the delivery task. `disable_after` consecutive failed
    /// deliveries disable a subscription (WordPress plugins do this).
    pub fn start(policy: RetryPolicy, faults: FaultSwitch, disable_after: Option<u32>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            client,
            policy,
            faults,
            disable_after,
            records: Mutex::new(VecDeque::new()),
            failures: Mutex::new(HashMap::new()),
            disabled: Mutex::new(HashSet::new()),
            in_flight: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, shared.clone()));
        Self { tx, shared }
    }

    /// Queues a delivery; it is sent in queue order unless a fault reorders it.
    pub fn send(&self, delivery: Delivery) {
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(delivery).is_err() {
            self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Deliveries queued or being retried.
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until nothing is queued or being retried, at most `limit`.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.in_flight() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    pub fn records(&self) -> Vec<DeliveryRecord> {
        lock(&self.shared.records).iter().cloned().collect()
    }

    pub fn clear_records(&self) {
        lock(&self.shared.records).clear();
    }

    pub fn is_disabled(&self, subscription: &str) -> bool {
        lock(&self.shared.disabled).contains(subscription)
    }

    /// Re-enables a subscription and forgets its failures.
    pub fn enable(&self, subscription: &str) {
        lock(&self.shared.disabled).remove(subscription);
        lock(&self.shared.failures).remove(subscription);
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Delivery>, shared: Arc<Shared>) {
    let mut held: Option<Delivery> = None;
    loop {
        let next = if held.is_some() {
            match tokio::time::timeout(REORDER_HOLD, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    if let Some(h) = held.take() {
                        first_attempt(&shared, h, true).await;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(delivery) = next else { break };
        let fault = if shared.disabled_for(&delivery) {
            record_new(&shared, &delivery, "skipped", false, false);
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            continue;
        } else {
            shared.faults.delivery_fault()
        };
        match fault {
            DeliveryFault::Drop => {
                record_new(&shared, &delivery, "dropped", false, false);
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            DeliveryFault::Reorder if held.is_none() => {
                record_new(&shared, &delivery, "pending", false, true);
                held = Some(delivery);
            }
            DeliveryFault::Duplicate => {
                record_new(&shared, &delivery, "pending", true, false);
                shared.in_flight.fetch_add(1, Ordering::SeqCst);
                let copy = delivery.clone();
                attempt_chain(&shared, delivery).await;
                attempt_chain(&shared, copy).await;
            }
            _ => {
                first_attempt(&shared, delivery, false).await;
                if let Some(h) = held.take() {
                    first_attempt(&shared, h, true).await;
                }
            }
        }
    }
}

impl Shared {
    fn disabled_for(&self, d: &Delivery) -> bool {
        d.subscription
            .as_ref()
            .is_some_and(|s| lock(&self.disabled).contains(s))
    }
}

/// Records `delivery` unless it is `recorded` already (a reordered one is
/// recorded when it is held back), then sends it. (Looking for its record
/// instead was a scan of up to 100,000 records per delivery.)
async fn first_attempt(shared: &Arc<Shared>, delivery: Delivery, recorded: bool) {
    if !recorded {
        record_new(shared, &delivery, "pending", false, false);
    }
    attempt_chain(shared, delivery).await;
}

fn record_new(shared: &Shared, d: &Delivery, outcome: &str, duplicated: bool, reordered: bool) {
    let mut records = lock(&shared.records);
    if records.len() == MAX_RECORDS {
        records.pop_front();
    }
    records.push_back(DeliveryRecord {
        id: d.id.clone(),
        topic: d.topic.clone(),
        url: d.url.clone(),
        subscription: d.subscription.clone(),
        attempts: 0,
        statuses: Vec::new(),
        outcome: outcome.to_string(),
        duplicated,
        reordered,
    });
}

fn update_record(shared: &Shared, d: &Delivery, status: Option<u16>, outcome: Option<&str>) {
    let mut records = lock(&shared.records);
    if let Some(r) = records
        .iter_mut()
        .rev()
        .find(|r| r.id == d.id && r.url == d.url)
    {
        r.attempts += 1;
        r.statuses.push(status);
        if let Some(o) = outcome {
            r.outcome = o.to_string();
        }
    }
}

/// Sends the first attempt now; retries, if any, continue in their own task
/// so that one slow receiver does not hold up the queue.
async fn attempt_chain(shared: &Arc<Shared>, delivery: Delivery) {
    let status = send_once(shared, &delivery).await;
    if !schedule_next(shared, &delivery, status, 1) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut attempt = 1;
        loop {
            tokio::time::sleep(retry_delay(shared.policy, attempt)).await;
            attempt += 1;
            let status = send_once(&shared, &delivery).await;
            if !schedule_next(&shared, &delivery, status, attempt) {
                return;
            }
        }
    });
}

async fn send_once(shared: &Shared, d: &Delivery) -> Option<u16> {
    let mut req = shared.client.post(&d.url).body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => Some(resp.status().as_u16()),
        Err(e) => {
            tracing::debug!(url = %d.url, error = %e, "webhook delivery failed");
            None
        }
    }
}

/// Records the attempt; returns whether another attempt is due.
fn schedule_next(shared: &Shared, d: &Delivery, status: Option<u16>, attempt: u32) -> bool {
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let retry = !ok
        && match shared.policy {
            RetryPolicy::OnlyOn429 { max_retries, .. } => {
                status == Some(429) && attempt <= max_retries
            }
            RetryPolicy::AnyFailure { max_attempts, .. } => attempt < max_attempts,
        };
    let outcome = if ok {
        Some("delivered")
    } else if retry {
        None
    } else {
        Some("failed")
    };
    update_record(shared, d, status, outcome);
    if let Some(sub) = &d.subscription {
        if ok {
            lock(&shared.failures).remove(sub);
        } else if !retry {
            let mut failures = lock(&shared.failures);
            let n = failures.entry(sub.clone()).or_default();
            *n += 1;
            if shared.disable_after.is_some_and(|limit| *n >= limit) {
                lock(&shared.disabled).insert(sub.clone());
            }
        }
    }
    if !retry {
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    retry
}

fn retry_delay(policy: RetryPolicy, attempt: u32) -> Duration {
    match policy {
        RetryPolicy::OnlyOn429 { spacing, .. } => {
            let jitter = rand::thread_rng().gen_range(0.0..0.2);
            spacing.mul_f64(1.0 + jitter)
        }
        RetryPolicy::AnyFailure { base, .. } => {
            base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
        }
    }
}
