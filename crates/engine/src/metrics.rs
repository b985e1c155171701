//! The daemon's Prometheus metrics, named as Prometheus's conventions ask
//! (`allybridge_` prefix, base units, `_total` counters): what the clients
//! observe of every API call (through `transport::CallObserver`), what the
//! engine observes of every write (the time from the change to its write,
//! per flow) and what the HTTP surface observes of webhook intake. Values
//! that are state rather than events (queue depth, rate budgets, connection
//! health, open dead letters and drift) are set by whoever renders the
//! metrics, from the store and the live objects, just before [`Metrics::render`].
//! Labels never carry a record id, a path with ids in it, or a secret: API
//! calls are named by the operations catalog.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use model::Flow;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use transport::{CallObserver, CallRecord};

use crate::worker::FlowSummary;

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    system: &'static str,
    operation: String,
    /// The HTTP status, or `none` when no answer arrived.
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    system: &'static str,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LocationLabels {
    tenant: String,
    location: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    tenant: String,
    system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    source: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabels {
    flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowActionLabels {
    flow: String,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabels {
    tenant: String,
}

/// API call latencies: 5 ms … ~20 s.
fn call_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Webhook intake: 0.5 ms … ~1 s.
fn intake_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 12))
}

/// From a change to its write: 50 ms … ~14 min (a backfill's jobs wait long).
fn change_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 15))
}

/// One process's metrics. Cheap to update from any task; rendered on demand.
pub struct Metrics {
    registry: Registry,
    api_calls: Family<CallLabels, Counter>,
    api_call_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    rate_window_remaining: Family<LocationLabels, Gauge>,
    rate_window_limit: Family<LocationLabels, Gauge>,
    daily_quota_remaining: Family<LocationLabels, Gauge>,
    connection_up: Family<ConnectionLabels, Gauge>,
    queue_jobs: Family<StateLabels, Gauge>,
    webhooks: Family<WebhookLabels, Counter>,
    webhook_intake_duration: Family<SourceLabels, Histogram, fn() -> Histogram>,
    change_to_write: Family<FlowLabels, Histogram, fn() -> Histogram>,
    records: Family<FlowActionLabels, Counter<u64, AtomicU64>>,
    webhooks_rejected: Family<SourceLabels, Counter<u64, AtomicU64>>,
    dead_letters_open: Gauge,
    drift_open: Family<TenantLabels, Gauge>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("allybridge");
        let api_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "api_calls",
            "API call attempts by system, operation (the operations catalog's id) and HTTP status",
            api_calls.clone(),
        );
        let api_call_duration =
            Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                call_buckets,
            );
        registry.register_with_unit(
            "api_call_duration",
            "Latency of API call attempts, answered or not",
            Unit::Seconds,
            api_call_duration.clone(),
        );
        let rate_window_remaining = Family::<LocationLabels, Gauge>::default();
        registry.register(
            "highlevel_rate_window_remaining",
            "Requests left in a HighLevel location's burst window (100 per 10 s)",
            rate_window_remaining.clone(),
        );
        let rate_window_limit = Family::<LocationLabels, Gauge>::default();
        registry.register(
            "highlevel_rate_window_limit",
            "Requests a HighLevel location's burst window allows",
            rate_window_limit.clone(),
        );
        let daily_quota_remaining = Family::<LocationLabels, Gauge>::default();
        registry.register(
            "highlevel_daily_quota_remaining",
            "Requests left today for a HighLevel location, as its last answer said (or the configured quota less what this process used)",
            daily_quota_remaining.clone(),
        );
        let connection_up = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "connection_up",
            "1 when a tenant's connection to a system works, 0 when it is refused or unreachable",
            connection_up.clone(),
        );
        let queue_jobs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "queue_jobs",
            "Jobs in the store's queue by state",
            queue_jobs.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook deliveries received, by source and the HTTP status answered",
            webhooks.clone(),
        );
        let webhook_intake_duration =
            Family::<SourceLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                intake_buckets,
            );
        registry.register_with_unit(
            "webhook_intake_duration",
            "Time to verify, persist and enqueue a webhook delivery before answering",
            Unit::Seconds,
            webhook_intake_duration.clone(),
        );
        let change_to_write =
            Family::<FlowLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                change_buckets,
            );
        registry.register_with_unit(
            "change_to_write",
            "Time from a change being known (its job created) to its write on the other side, per flow",
            Unit::Seconds,
            change_to_write.clone(),
        );
        let records = Family::<FlowActionLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "records",
            "Records handled by this process, by flow and action",
            records.clone(),
        );
        let webhooks_rejected = Family::<SourceLabels, Counter<u64, AtomicU64>>::default();
        registry.register(
            "webhooks_rejected",
            "Webhook deliveries refused for their signature, by source",
            webhooks_rejected.clone(),
        );
        let dead_letters_open = Gauge::default();
        registry.register(
            "dead_letters_open",
            "Dead-lettered jobs not yet replayed or dropped",
            dead_letters_open.clone(),
        );
        let drift_open = Family::<TenantLabels, Gauge>::default();
        registry.register(
            "drift_open",
            "Records the latest reconciliation of a tenant found drifted",
            drift_open.clone(),
        );
        Self {
            registry,
            api_calls,
            api_call_duration,
            rate_window_remaining,
            rate_window_limit,
            daily_quota_remaining,
            connection_up,
            queue_jobs,
            webhooks,
            webhook_intake_duration,
            change_to_write,
            records,
            webhooks_rejected,
            dead_letters_open,
            drift_open,
        }
    }

    /// One webhook delivery answered with `status` after `took`.
    pub fn observe_webhook(&self, source: &'static str, status: u16, took: Duration) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                source,
                status: status.to_string(),
            })
            .inc();
        self.webhook_intake_duration
            .get_or_create(&SourceLabels { source })
            .observe(took.as_secs_f64());
    }

    /// A write of `flow` done `since_change` after the change was known.
    pub fn observe_write(&self, flow: Flow, since_change: Duration) {
        self.change_to_write
            .get_or_create(&FlowLabels {
                flow: flow.to_string(),
            })
            .observe(since_change.as_secs_f64());
    }

    /// A HighLevel location's rate budget as last seen.
    pub fn set_rate_budget(
        &self,
        tenant: &str,
        location: &str,
        window_remaining: u32,
        window_limit: u32,
        daily_remaining: u64,
    ) {
        let labels = LocationLabels {
            tenant: tenant.to_string(),
            location: location.to_string(),
        };
        self.rate_window_remaining
            .get_or_create(&labels)
            .set(i64::from(window_remaining));
        self.rate_window_limit
            .get_or_create(&labels)
            .set(i64::from(window_limit));
        self.daily_quota_remaining
            .get_or_create(&labels)
            .set(i64::try_from(daily_remaining).unwrap_or(i64::MAX));
    }

    /// Whether `tenant`'s connection to `system` works.
    pub fn set_connection(&self, tenant: &str, system: &str, up: bool) {
        self.connection_up
            .get_or_create(&ConnectionLabels {
                tenant: tenant.to_string(),
                system: system.to_string(),
            })
            .set(i64::from(up));
    }

    /// The queue's depth by state, and the dead letters open.
    pub fn set_queue(&self, pending: i64, running: i64, dead: i64) {
        for (state, n) in [("pending", pending), ("running", running), ("dead", dead)] {
            self.queue_jobs.get_or_create(&StateLabels { state }).set(n);
        }
        self.dead_letters_open.set(dead);
    }

    /// Records the latest reconciliation of `tenant` found drifted.
    pub fn set_drift(&self, tenant: &str, drifted: i64) {
        self.drift_open
            .get_or_create(&TenantLabels {
                tenant: tenant.to_string(),
            })
            .set(drifted);
    }

    /// The engine's per-flow counts (kept by its `Stats`), as counters.
    pub fn set_records(&self, summary: &std::collections::BTreeMap<String, FlowSummary>) {
        for (flow, c) in summary {
            for (action, n) in [
                ("created", c.created),
                ("updated", c.updated),
                ("deleted", c.deleted),
                ("skipped", c.skipped),
                ("retried", c.retried),
                ("dead_lettered", c.dead_lettered),
            ] {
                self.records
                    .get_or_create(&FlowActionLabels {
                        flow: flow.clone(),
                        action,
                    })
                    .inner()
                    .store(n, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Deliveries refused for their signature so far (the HTTP surface
    /// counts them for its alert rules too).
    pub fn set_webhooks_rejected(&self, highlevel: u64, accessally: u64) {
        for (source, n) in [("highlevel", highlevel), ("accessally", accessally)] {
            self.webhooks_rejected
                .get_or_create(&SourceLabels { source })
                .inner()
                .store(n, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The OpenMetrics text of every family ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl CallObserver for Metrics {
    fn observe(&self, call: CallRecord) {
        let system = match call.system {
            "highlevel" => catalog::System::HighLevel,
            _ => catalog::System::AccessAlly,
        };
        let operation = catalog::action_name(system, &call.method, &call.path)
            .unwrap_or_else(|| "other".to_string());
        self.api_calls
            .get_or_create(&CallLabels {
                system: call.system,
                operation: operation.clone(),
                status: call
                    .status
                    .map_or_else(|| "none".to_string(), |s| s.to_string()),
            })
            .inc();
        self.api_call_duration
            .get_or_create(&OperationLabels {
                system: call.system,
                operation,
            })
            .observe(call.latency.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, starts: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(starts))
    }

    #[test]
    fn calls_are_counted_by_operation_name_never_by_raw_path() {
        let metrics = Metrics::new();
        for status in [Some(200), Some(200), Some(429), None] {
            metrics.observe(CallRecord {
                system: "accessally",
                location: None,
                method: "GET".into(),
                path: "/wp-json/allybridge/v1/offerings/42".into(),
                status,
                latency: Duration::from_millis(30),
                rate_remaining: None,
            });
        }
        let text = metrics.render();
        let ok = "allybridge_api_calls_total{system=\"accessally\",operation=\"accessally.offerings.get-offering\",status=\"200\"}";
        assert_eq!(line(&text, ok), Some(format!("{ok} 2").as_str()), "{text}");
        assert!(text.contains("status=\"429\"} 1"), "{text}");
        assert!(text.contains("status=\"none\"} 1"), "{text}");
        assert!(
            !text.contains("/offerings/42"),
            "a raw path in a label: {text}"
        );
        let count = "allybridge_api_call_duration_seconds_count{system=\"accessally\",operation=\"accessally.offerings.get-offering\"}";
        assert_eq!(line(&text, count), Some(format!("{count} 4").as_str()));
        assert!(text.trim_end().ends_with("# EOF"));
    }

    #[test]
    fn state_is_set_and_writes_are_timed_per_flow() {
        let metrics = Metrics::new();
        metrics.set_queue(3, 1, 2);
        metrics.set_rate_budget("main", "loc-1", 97, 100, 199_000);
        metrics.set_connection("main", "highlevel", true);
        metrics.set_connection("main", "accessally", false);
        metrics.observe_write(Flow::ProductsToHighlevel, Duration::from_millis(120));
        metrics.observe_webhook("highlevel", 200, Duration::from_micros(900));
        let text = metrics.render();
        for expected in [
            "allybridge_queue_jobs{state=\"pending\"} 3",
            "allybridge_dead_letters_open 2",
            "allybridge_highlevel_rate_window_remaining{tenant=\"main\",location=\"loc-1\"} 97",
            "allybridge_highlevel_daily_quota_remaining{tenant=\"main\",location=\"loc-1\"} 199000",
            "allybridge_connection_up{tenant=\"main\",system=\"accessally\"} 0",
            "allybridge_change_to_write_seconds_count{flow=\"products_to_highlevel\"} 1",
            "allybridge_webhooks_total{source=\"highlevel\",status=\"200\"} 1",
            "allybridge_webhook_intake_duration_seconds_count{source=\"highlevel\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected}: {text}");
        }
    }
}
