//! The alert rules as typed values: what happened, to which tenant, and
//! the incident key that makes repeats of one incident the same alert.
//! Pure values; every text here is built from ids, counts and reasons, never
//! from a credential.

use std::time::Duration;

use model::Flow;
use serde::Serialize;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Data is not flowing: someone must act.
    Critical,
    /// Something will break or needs a look.
    Warning,
}

/// One alert rule and its facts.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertKind {
    /// A job used up its attempts and went to the dead-letter queue.
    JobDeadLettered {
        tenant: String,
        flow: Option<Flow>,
        job: String,
        reason: String,
    },
    /// A connection is refused by the remote system (e.g. a refresh token already used).
    AuthFailing {
        tenant: String,
        /// `highlevel` or `accessally`.
        system: String,
        reason: String,
    },
    /// The reconciler found records that differ between the two systems.
    DriftFound {
        tenant: String,
        scope: String,
        drifted: u64,
        checked: u64,
    },
    /// A location's remaining daily HighLevel quota fell below the threshold.
    QuotaLow {
        tenant: String,
        location_id: String,
        remaining: u64,
        limit: u64,
        threshold: f64,
    },
    /// Incoming webhooks failed signature verification.
    WebhooksRejected {
        /// `highlevel` or `accessally`.
        source: String,
        rejected: u64,
        window: Duration,
        reason: String,
    },
}

/// Whether `remaining` of `limit` daily calls is below `threshold` (a fraction).
pub fn quota_below(remaining: u64, limit: u64, threshold: f64) -> bool {
    limit > 0 && (remaining as f64) < (limit as f64) * threshold
}

impl AlertKind {
    /// The rule's name, e.g. `job_dead_lettered`.
    pub fn name(&self) -> &'static str {
        match self {
            AlertKind::JobDeadLettered { .. } => "job_dead_lettered",
            AlertKind::AuthFailing { .. } => "auth_failing",
            AlertKind::DriftFound { .. } => "drift_found",
            AlertKind::QuotaLow { .. } => "quota_low",
            AlertKind::WebhooksRejected { .. } => "webhooks_rejected",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            AlertKind::JobDeadLettered { .. } | AlertKind::AuthFailing { .. } => Severity::Critical,
            _ => Severity::Warning,
        }
    }

    /// The incident this alert belongs to: repeats with the same key are one
    /// incident (announced once per cool-down), cleared by the same key.
    pub fn incident_key(&self) -> String {
        match self {
            AlertKind::JobDeadLettered { tenant, flow, .. } => format!(
                "{}:{tenant}:{}",
                self.name(),
                flow.map_or("any", |f| f.as_str())
            ),
            AlertKind::AuthFailing { tenant, system, .. } => {
                format!("{}:{tenant}:{system}", self.name())
            }
            AlertKind::DriftFound { tenant, scope, .. } => {
                format!("{}:{tenant}:{scope}", self.name())
            }
            AlertKind::QuotaLow {
                tenant,
                location_id,
                ..
            } => format!("{}:{tenant}:{location_id}", self.name()),
            AlertKind::WebhooksRejected { source, .. } => format!("{}:{source}", self.name()),
        }
    }

    /// The tenant concerned, if one.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            AlertKind::JobDeadLettered { tenant, .. }
            | AlertKind::AuthFailing { tenant, .. }
            | AlertKind::DriftFound { tenant, .. }
            | AlertKind::QuotaLow { tenant, .. } => Some(tenant),
            AlertKind::WebhooksRejected { .. } => None,
        }
    }

    /// A one-line title.
    pub fn title(&self) -> String {
        match self {
            AlertKind::JobDeadLettered { tenant, flow, .. } => match flow {
                Some(flow) => format!("Job dead-lettered in {tenant} / {flow}"),
                None => format!("Job dead-lettered in {tenant}"),
            },
            AlertKind::AuthFailing { tenant, system, .. } => format!(
                "{} connection of {tenant} is failing authentication",
                system_name(system)
            ),
            AlertKind::DriftFound {
                tenant,
                scope,
                drifted,
                ..
            } => format!("Drift found in {tenant} / {scope}: {drifted} record(s) differ"),
            AlertKind::QuotaLow {
                tenant,
                remaining,
                limit,
                ..
            } => format!(
                "HighLevel daily quota of {tenant} is low: {remaining} of {limit} calls left"
            ),
            AlertKind::WebhooksRejected {
                source, rejected, ..
            } => format!(
                "{rejected} {} webhook(s) rejected for their signature",
                system_name(source)
            ),
        }
    }

    /// The incident in words, without counts: the same for every repeat.
    pub fn subject(&self) -> String {
        match self {
            AlertKind::JobDeadLettered { tenant, flow, .. } => match flow {
                Some(flow) => format!("dead letters in {tenant} / {flow}"),
                None => format!("dead letters in {tenant}"),
            },
            AlertKind::AuthFailing { tenant, system, .. } => {
                format!("{} authentication of {tenant}", system_name(system))
            }
            AlertKind::DriftFound { tenant, scope, .. } => format!("drift in {tenant} / {scope}"),
            AlertKind::QuotaLow {
                tenant,
                location_id,
                ..
            } => format!("HighLevel daily quota of {tenant} (location {location_id})"),
            AlertKind::WebhooksRejected { source, .. } => {
                format!("{} webhook signatures", system_name(source))
            }
        }
    }

    /// What to do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            AlertKind::JobDeadLettered { .. } => {
                "Look at the reason with `allybridge dlq show`, fix the cause, then `allybridge dlq replay`."
            }
            AlertKind::AuthFailing { .. } => {
                "Reconnect with `allybridge connect` (an OAuth refresh token is single-use: another process may have used it), then `allybridge check`."
            }
            AlertKind::DriftFound { .. } => {
                "Review the drift report on the admin page; `allybridge reconcile --repair` writes the repairs."
            }
            AlertKind::QuotaLow { .. } => {
                "Polling and backfill slow down to keep live events flowing; lengthen poll intervals or pause a backfill if it persists."
            }
            AlertKind::WebhooksRejected { .. } => {
                "Check that the webhook secret or public key in allybridge.toml matches the sender, and that the clocks agree."
            }
        }
    }

    /// The structured facts, as label/value pairs.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(tenant) = self.tenant() {
            out.push(("tenant", tenant.to_string()));
        }
        match self {
            AlertKind::JobDeadLettered {
                flow, job, reason, ..
            } => {
                if let Some(flow) = flow {
                    out.push(("flow", flow.to_string()));
                }
                out.push(("job", job.clone()));
                out.push(("reason", reason.clone()));
            }
            AlertKind::AuthFailing { system, reason, .. } => {
                out.push(("system", system.clone()));
                out.push(("reason", reason.clone()));
            }
            AlertKind::DriftFound {
                scope,
                drifted,
                checked,
                ..
            } => {
                out.push(("scope", scope.clone()));
                out.push(("drifted", drifted.to_string()));
                out.push(("checked", checked.to_string()));
            }
            AlertKind::QuotaLow {
                location_id,
                remaining,
                limit,
                threshold,
                ..
            } => {
                out.push(("location", location_id.clone()));
                out.push(("remaining", remaining.to_string()));
                out.push(("limit", limit.to_string()));
                out.push(("threshold", format!("{:.0}%", threshold * 100.0)));
            }
            AlertKind::WebhooksRejected {
                source,
                rejected,
                window,
                reason,
            } => {
                out.push(("source", source.clone()));
                out.push(("rejected", rejected.to_string()));
                out.push(("window", format!("{}s", window.as_secs())));
                out.push(("reason", reason.clone()));
            }
        }
        out
    }
}

fn system_name(system: &str) -> &str {
    match system {
        "highlevel" | "ghl" => "HighLevel",
        "accessally" => "AccessAlly",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_threshold() {
        assert!(quota_below(19_999, 200_000, 0.10));
        assert!(!quota_below(20_000, 200_000, 0.10));
        assert!(!quota_below(0, 0, 0.10));
    }

    #[test]
    fn incident_keys_group_repeats() {
        let a = AlertKind::JobDeadLettered {
            tenant: "main".into(),
            flow: Some(Flow::OrdersToHighlevel),
            job: "1".into(),
            reason: "x".into(),
        };
        let b = AlertKind::JobDeadLettered {
            tenant: "main".into(),
            flow: Some(Flow::OrdersToHighlevel),
            job: "2".into(),
            reason: "y".into(),
        };
        assert_eq!(a.incident_key(), b.incident_key());
        assert_eq!(
            a.incident_key(),
            "job_dead_lettered:main:orders_to_highlevel"
        );
    }
}
