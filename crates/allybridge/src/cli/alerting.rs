//! The daemon's alert watch: turns what the store, the rate budgets and the
//! webhook counters say into the alert rules of the `alerts` crate. Every
//! check interval it raises `JobDeadLettered` for each new dead letter,
//! `AuthFailing` while a tenant has dead letters refused with 401/403 or a
//! refused refresh token, `QuotaLow` while a location's daily quota is below
//! `[alerts] quota_warning`, and `WebhooksRejected` when signature
//! rejections rose since the last check; the reconciler reports
//! `DriftFound` after each scan. A rule that stops holding is cleared (one
//! resolve message). It only reads; delivery, cool-down and scrubbing are
//! the alerter's.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alerts::{AlertKind, Alerter};
use engine::Engine;
use model::Flow;
use tokio::sync::{Mutex, watch};

use super::context::{self, TenantGhl};

/// How often the watch looks.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

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
    quota_warning: f64,
    state: Mutex<WatchState>,
}

/// Whether an error text says the remote system refused the credentials.
pub fn auth_failure(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        " 401",
        " 403",
        "401 ",
        "403 ",
        "unauthorized",
        "unauthorised",
        "forbidden",
        "invalid_grant",
        "refresh token",
    ]
    .iter()
    .any(|k| r.contains(k))
}

/// Which system an authentication error names.
fn failing_system(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("accessally") || r.contains("wordpress") || r.contains("wp-json") {
        "accessally"
    } else {
        "highlevel"
    }
}

/// The tenant of a job (entity types are `tenant/kind`).
fn tenant_of(job: &store::Job) -> String {
    job.entity_type
        .split_once('/')
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| job.entity_type.clone())
}

fn flow_of(job: &store::Job) -> Option<Flow> {
    Flow::from_str(&job.kind).ok().or_else(|| {
        job.entity_type
            .split_once('/')
            .and_then(|(_, f)| Flow::from_str(f).ok())
    })
}

impl AlertWatch {
    pub fn new(
        alerter: Arc<Alerter>,
        engine: Arc<Engine>,
        budgets: Vec<TenantGhl>,
        webhooks: Arc<server::WebhookStats>,
        quota_warning: f64,
    ) -> Self {
        Self {
            alerter,
            engine,
            budgets,
            webhooks,
            quota_warning,
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
    pub async fn check(&self) -> anyhow::Result<()> {
        let dead = context::all_dead_letters(&self.engine.store).await?;
        let mut st = self.state.lock().await;

        // Dead letters: a new one raises; the incident clears when none is left.
        let mut holding = HashSet::new();
        let mut new = Vec::new();
        for job in &dead {
            let kind = AlertKind::JobDeadLettered {
                tenant: tenant_of(job),
                flow: flow_of(job),
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

        // Authentication: dead letters refused for their credentials.
        let mut auth: HashMap<String, AlertKind> = HashMap::new();
        for job in &dead {
            let Some(reason) = job.dead_reason.as_deref().filter(|r| auth_failure(r)) else {
                continue;
            };
            let kind = AlertKind::AuthFailing {
                tenant: tenant_of(job),
                system: failing_system(reason).into(),
                reason: reason.to_string(),
            };
            auth.entry(kind.incident_key()).or_insert(kind);
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
                    window: CHECK_EVERY,
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
            drifted: report.drift.len() as u64,
            checked: report.checked,
        };
        if report.drift.is_empty() {
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

    /// Checks every `every` until stopped.
    pub fn spawn(
        self: Arc<Self>,
        every: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = ticker.tick() => {}
                }
                if let Err(e) = self.check().await {
                    tracing::warn!(error = %e, "alert check failed; next one at the next interval");
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_failures_are_recognised() {
        assert!(auth_failure("HighLevel answered 401 Unauthorized"));
        assert!(auth_failure("token refresh refused: invalid_grant"));
        assert!(!auth_failure("AccessAlly answered 500"));
        assert_eq!(
            failing_system("AccessAlly answered 403 Forbidden"),
            "accessally"
        );
        assert_eq!(failing_system("HTTP 401 from /coupons"), "highlevel");
    }
}
