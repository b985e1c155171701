//! The daemon's alert watch: turns what the store, the connection table,
//! the rate budgets and the webhook counters say into the alert rules of
//! the `alerts` crate. Every `[alerts] check_interval`, and at once when a
//! connection changes state, it raises `JobDeadLettered` for each new dead
//! letter, `AuthFailing` while a connection is failing authentication (a
//! typed refusal a poll or reconciliation met: HighLevel 401/403 or a
//! refused refresh token, AccessAlly 401/403 — see `server::health`; never
//! inferred from error text), `QuotaLow` while a location's daily quota is
//! below `[alerts] quota_warning`, and `WebhooksRejected` when signature
//! rejections rose since the last check; the reconciler reports
//! `DriftFound` after each scan. A rule that stops holding is cleared (one
//! resolve message). It only reads; delivery, cool-down and scrubbing are
//! the alerter's.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alerts::{AlertKind, Alerter};
use engine::Engine;
use server::health::{ConnectionState, Connections};
use tokio::sync::Mutex;

use crate::TenantGhl;

#[derive(Default)]
struct WatchState {
    seen_dead: HashSet<i64>,
    /// Raised incidents, by incident key.
    open: HashMap<String, AlertKind>,
    rejected: (u64, u64),
}

pub struct AlertWatch {
    alerter: Arc<Alerter>,
    engine: Arc<Engine>,
    budgets: Vec<TenantGhl>,
    webhooks: Arc<server::WebhookStats>,
    connections: Arc<Connections>,
    quota_warning: f64,
    /// How often [`AlertWatch::spawn`] looks (the webhook rejection window).
    every: Duration,
    state: Mutex<WatchState>,
}

/// The tenant of a job (entity types are `tenant/kind`).
fn tenant_of(job: &store::Job) -> String {
    job.entity_type
        .split_once('/')
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| job.entity_type.clone())
}

/// What the watch reads besides the engine.
pub struct WatchInputs {
    /// Each tenant's HighLevel rate budget (the daily quota).
    pub budgets: Vec<TenantGhl>,
    pub webhooks: Arc<server::WebhookStats>,
    pub connections: Arc<Connections>,
}

impl AlertWatch {
    /// How often it checks (`[alerts] check_interval`).
    pub fn every(&self) -> Duration {
        self.every
    }

    pub fn new(
        alerter: Arc<Alerter>,
        engine: Arc<Engine>,
        inputs: WatchInputs,
        settings: &config::AlertsConfig,
    ) -> Self {
        Self {
            alerter,
            engine,
            budgets: inputs.budgets,
            webhooks: inputs.webhooks,
            connections: inputs.connections,
            quota_warning: settings.quota_warning,
            every: settings.check_interval.get(),
            state: Mutex::new(WatchState::default()),
        }
    }

    async fn raise(&self, st: &mut WatchState, kind: AlertKind) {
        if let Err(e) = self.alerter.raise(&kind).await {
            tracing::warn!(alert = kind.name(), error = %e, "could not raise an alert");
        }
        st.open.insert(kind.incident_key(), kind);
    }

    async fn clear_key(&self, st: &mut WatchState, key: &str) {
        if let Some(kind) = st.open.remove(key)
            && let Err(e) = self.alerter.clear(&kind).await
        {
            tracing::warn!(alert = kind.name(), error = %e, "could not clear an alert");
        }
    }

    /// Clears the open incidents of rule `name` whose key is not in `holding`.
    async fn clear_others(&self, st: &mut WatchState, name: &str, holding: &HashSet<String>) {
        let stale: Vec<String> = st
            .open
            .iter()
            .filter(|(k, v)| v.name() == name && !holding.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.clear_key(st, &k).await;
        }
    }

    /// One look at dead letters, budgets and webhook counters.
    pub async fn check(&self) -> Result<(), store::StoreError> {
        let dead = self.engine.store.all_dead_letters().await?;
        let mut st = self.state.lock().await;

        // Dead letters: a new one raises; the incident clears when none is left.
        let mut holding = HashSet::new();
        let mut new = Vec::new();
        for job in &dead {
            let kind = AlertKind::JobDeadLettered {
                tenant: tenant_of(job),
                flow: engine::worker::flow_of(&job.kind),
                job: job.id.to_string(),
                reason: job.dead_reason.clone().unwrap_or_default(),
            };
            holding.insert(kind.incident_key());
            if !st.seen_dead.contains(&job.id) {
                new.push(kind);
            }
        }
        st.seen_dead = dead.iter().map(|j| j.id).collect();
        for kind in new {
            self.raise(&mut st, kind).await;
        }
        let name = "job_dead_lettered";
        self.clear_others(&mut st, name, &holding).await;

        // Authentication: connections whose credentials were refused (typed).
        let mut auth: HashMap<String, AlertKind> = HashMap::new();
        for c in self.connections.snapshot() {
            let ConnectionState::AuthFailing { reason } = c.state else {
                continue;
            };
            let kind = AlertKind::AuthFailing {
                tenant: c.tenant,
                system: c.system.as_str().to_string(),
                reason,
            };
            auth.insert(kind.incident_key(), kind);
        }
        let holding: HashSet<String> = auth.keys().cloned().collect();
        for (key, kind) in auth {
            if !st.open.contains_key(&key) {
                self.raise(&mut st, kind).await;
            }
        }
        let name = "auth_failing";
        self.clear_others(&mut st, name, &holding).await;

        // Daily quota per location.
        let mut holding = HashSet::new();
        for b in &self.budgets {
            let s = b.budget.snapshot(&b.location_id);
            let Some(remaining) = s.daily_remaining else {
                continue;
            };
            if alerts::quota_below(remaining, s.daily_limit, self.quota_warning) {
                let kind = AlertKind::QuotaLow {
                    tenant: b.tenant.clone(),
                    location_id: b.location_id.clone(),
                    remaining,
                    limit: s.daily_limit,
                    threshold: self.quota_warning,
                };
                holding.insert(kind.incident_key());
                self.raise(&mut st, kind).await;
            }
        }
        self.clear_others(&mut st, "quota_low", &holding).await;

        // Webhook signature rejections since the last look.
        let now = (
            self.webhooks.ghl_rejected.load(Ordering::Relaxed),
            self.webhooks.accessally_rejected.load(Ordering::Relaxed),
        );
        let (before_ghl, before_aa) = st.rejected;
        st.rejected = now;
        let mut holding = HashSet::new();
        for (source, delta) in [
            ("highlevel", now.0.saturating_sub(before_ghl)),
            ("accessally", now.1.saturating_sub(before_aa)),
        ] {
            if delta > 0 {
                let kind = AlertKind::WebhooksRejected {
                    source: source.into(),
                    rejected: delta,
                    window: self.every,
                    reason: "signature verification failed".into(),
                };
                holding.insert(kind.incident_key());
                self.raise(&mut st, kind).await;
            }
        }
        self.clear_others(&mut st, "webhooks_rejected", &holding)
            .await;
        Ok(())
    }

    /// After a reconciliation scan of `tenant`: drift raises, none clears.
    pub async fn reconciled(&self, report: &engine::scan::ScanReport) {
        let mut st = self.state.lock().await;
        let kind = AlertKind::DriftFound {
            tenant: report.tenant.clone(),
            scope: "all".into(),
            drifted: report.drifted,
            checked: report.checked,
        };
        if report.drifted == 0 {
            let key = kind.incident_key();
            if st.open.contains_key(&key) {
                self.clear_key(&mut st, &key).await;
            } else if let Err(e) = self.alerter.clear(&kind).await {
                tracing::warn!(error = %e, "could not clear the drift alert");
            }
        } else {
            self.raise(&mut st, kind).await;
        }
    }
}

/// The watch as a background task: a check every `[alerts] check_interval`
/// and when a connection changes state (`serve` wires both).
pub struct AlertTask(pub Arc<AlertWatch>);

impl crate::Activity for AlertTask {
    async fn activate(&mut self, _: crate::Trigger) -> Result<(), String> {
        self.0.check().await.map_err(|e| {
            format!(
                "alert check failed (listing the dead letters: {e}); next one at the next interval"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex as StdMutex;

    use alerts::{InMemoryLedger, Message, Sink, SinkError};
    use store::System;

    use super::*;

    /// Keeps every message it is given.
    #[derive(Default)]
    struct Captured(StdMutex<Vec<Message>>);

    impl Sink for Captured {
        fn name(&self) -> &str {
            "captured"
        }
        fn send<'a>(
            &'a self,
            message: &'a Message,
        ) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(message.clone());
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn a_typed_auth_failure_alerts_once_and_resolves() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = store::Store::open(
            &store::Store::sqlite_url(&dir.path().join("s.db")),
            store::Keyring::new(store::MasterKey::generate()),
        )
        .await?;
        let engine = Arc::new(Engine::new(store, Vec::new(), Default::default()));
        let sink = Arc::new(Captured::default());
        let alerter = Alerter::new(Arc::new(InMemoryLedger::new()), Duration::from_secs(3600))
            .with_sink(sink.clone());
        let connections = Arc::new(Connections::default());
        let watch = AlertWatch::new(
            Arc::new(alerter),
            engine,
            WatchInputs {
                budgets: Vec::new(),
                webhooks: Arc::default(),
                connections: connections.clone(),
            },
            &config::AlertsConfig::default(),
        );
        let sent = || {
            sink.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|m| (m.incident_key.clone(), m.state))
                .collect::<Vec<_>>()
        };
        connections.set("main", System::AccessAlly, ConnectionState::Connected);
        watch.check().await?;
        assert!(sent().is_empty());
        connections.set(
            "main",
            System::AccessAlly,
            ConnectionState::AuthFailing {
                reason: "AccessAlly answered 401".into(),
            },
        );
        watch.check().await?;
        watch.check().await?;
        let key = "auth_failing:main:accessally".to_string();
        assert_eq!(sent(), vec![(key.clone(), alerts::State::Firing)]);
        connections.set("main", System::AccessAlly, ConnectionState::Connected);
        watch.check().await?;
        watch.check().await?;
        assert_eq!(
            sent(),
            vec![
                (key.clone(), alerts::State::Firing),
                (key, alerts::State::Resolved)
            ]
        );
        Ok(())
    }
}
