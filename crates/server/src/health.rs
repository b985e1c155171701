//! Each tenant's connections as the running daemon knows them: connected,
//! not connected (an OAuth consent that was never completed), or failing
//! authentication (the remote system refused the credentials in a typed
//! answer: HighLevel's 401/403 or a refused refresh token, AccessAlly's
//! 401/403). The daemon's pollers and the OAuth callback report here; the
//! admin page, `/readyz` and the alert watch read it, and a change wakes
//! whoever subscribed (the pollers start a newly connected tenant's flows).
//! It classifies typed errors only — never error text — and holds no
//! credential; the reasons it keeps are error messages, which carry none.

use std::collections::BTreeMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use engine::EngineError;
use model::Flow;
use serde::Serialize;
use store::System;
use tokio::sync::watch;

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Credentials are present and no call was refused for them.
    Connected,
    /// No credentials yet (HighLevel OAuth consent never completed).
    NotConnected { reason: String },
    /// The last call that could tell was refused for its credentials.
    AuthFailing { reason: String },
}

impl ConnectionState {
    /// A short name: `connected`, `not_connected`, `auth_failing`.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionState::Connected => "connected",
            ConnectionState::NotConnected { .. } => "not_connected",
            ConnectionState::AuthFailing { .. } => "auth_failing",
        }
    }

    /// The reason, when not connected or failing.
    pub fn reason(&self) -> Option<&str> {
        match self {
            ConnectionState::Connected => None,
            ConnectionState::NotConnected { reason } | ConnectionState::AuthFailing { reason } => {
                Some(reason)
            }
        }
    }
}

/// One connection's state and since when it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionStatus {
    pub tenant: String,
    pub system: System,
    #[serde(flatten)]
    pub state: ConnectionState,
    pub since: DateTime<Utc>,
}

/// The system whose records a flow's scans read (its source).
pub fn source_of(flow: Flow) -> System {
    match flow {
        Flow::CouponsToAccessally | Flow::ProductsToAccessally | Flow::OrdersToAccessally => {
            System::HighLevel
        }
        Flow::ProductsToHighlevel | Flow::OrdersToHighlevel => System::AccessAlly,
    }
}

/// What a typed error says about a connection, if anything: the system and
/// its new state. Refused credentials (HighLevel 401/403 or a refused
/// refresh token, AccessAlly 401/403) fail authentication; HighLevel's
/// "no credentials stored" means not connected; anything else says nothing.
pub fn classify(error: &EngineError) -> Option<(System, ConnectionState)> {
    let reason = error.to_string();
    match error {
        EngineError::HighLevel(ghl::GhlError::NotConnected(_)) => {
            Some((System::HighLevel, ConnectionState::NotConnected { reason }))
        }
        EngineError::HighLevel(e @ ghl::GhlError::RefreshRejected { .. }) => Some((
            System::HighLevel,
            ConnectionState::AuthFailing {
                reason: e.to_string(),
            },
        )),
        EngineError::HighLevel(e) if matches!(e.status(), Some(401 | 403)) => Some((
            System::HighLevel,
            ConnectionState::AuthFailing {
                reason: e.to_string(),
            },
        )),
        EngineError::AccessAlly(e) if matches!(e.status(), Some(401 | 403)) => {
            Some((System::AccessAlly, ConnectionState::AuthFailing { reason }))
        }
        _ => None,
    }
}

type Key = (String, &'static str);

/// The daemon's connection table, shared by everything that reports or reads.
#[derive(Debug)]
pub struct Connections {
    map: RwLock<BTreeMap<Key, ConnectionStatus>>,
    changes: watch::Sender<u64>,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            map: RwLock::new(BTreeMap::new()),
            changes: watch::channel(0).0,
        }
    }
}

impl Connections {
    /// Sets a connection's state; a change of state (not of reason) is
    /// logged and wakes the subscribers. Returns whether the state changed.
    pub fn set(&self, tenant: &str, system: System, state: ConnectionState) -> bool {
        let key = (tenant.to_string(), system.as_str());
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let changed = map.get(&key).is_none_or(|s| s.state.name() != state.name());
        if !changed {
            if let Some(s) = map.get_mut(&key) {
                s.state = state;
            }
            return false;
        }
        match &state {
            ConnectionState::Connected => {
                tracing::info!(tenant, system = system.as_str(), "connection healthy")
            }
            ConnectionState::NotConnected { reason } => {
                tracing::warn!(tenant, system = system.as_str(), %reason, "not connected")
            }
            ConnectionState::AuthFailing { reason } => {
                tracing::warn!(tenant, system = system.as_str(), %reason, "connection failing authentication")
            }
        }
        map.insert(
            key,
            ConnectionStatus {
                tenant: tenant.to_string(),
                system,
                state,
                since: Utc::now(),
            },
        );
        drop(map);
        self.changes.send_modify(|n| *n += 1);
        true
    }

    /// The state of one connection, if it was ever reported.
    pub fn state(&self, tenant: &str, system: System) -> Option<ConnectionState> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(tenant.to_string(), system.as_str()))
            .map(|s| s.state.clone())
    }

    /// Whether the tenant's flows can run: neither system is "not connected".
    pub fn can_run(&self, tenant: &str) -> bool {
        [System::HighLevel, System::AccessAlly]
            .into_iter()
            .all(|s| {
                !matches!(
                    self.state(tenant, s),
                    Some(ConnectionState::NotConnected { .. })
                )
            })
    }

    /// Every connection, ordered by tenant and system.
    pub fn snapshot(&self) -> Vec<ConnectionStatus> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.values().cloned().collect()
    }

    /// Wakes on every change of state.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What a scan of `tenant` that read `sources` says: an error that
    /// [`classify`] recognises sets its connection's state; success means
    /// every source answered, so a failing one is healthy again.
    pub fn report_scan(&self, tenant: &str, sources: &[System], result: Result<(), &EngineError>) {
        match result {
            Err(e) => {
                if let Some((system, state)) = classify(e) {
                    self.set(tenant, system, state);
                }
            }
            Ok(()) => {
                for system in sources {
                    if matches!(
                        self.state(tenant, *system),
                        Some(ConnectionState::AuthFailing { .. })
                    ) {
                        self.set(tenant, *system, ConnectionState::Connected);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use transport::HttpError;

    fn ghl_status(status: u16) -> EngineError {
        EngineError::HighLevel(ghl::GhlError::Http {
            operation: "ghl.coupons.list",
            source: HttpError::from_status(status, None, "refused"),
        })
    }

    #[test]
    fn typed_refusals_are_classified_and_others_ignored() {
        for status in [401, 403] {
            assert_eq!(
                classify(&ghl_status(status)).map(|(s, st)| (s, st.name())),
                Some((System::HighLevel, "auth_failing"))
            );
        }
        assert!(classify(&ghl_status(500)).is_none());
        assert!(classify(&ghl_status(404)).is_none());
        let refused = EngineError::HighLevel(ghl::GhlError::RefreshRejected {
            location: "loc".into(),
            reason: "invalid_grant".into(),
        });
        assert_eq!(
            classify(&refused).map(|(s, st)| (s, st.name())),
            Some((System::HighLevel, "auth_failing"))
        );
        let missing = EngineError::HighLevel(ghl::GhlError::NotConnected("loc".into()));
        assert_eq!(
            classify(&missing).map(|(s, st)| (s, st.name())),
            Some((System::HighLevel, "not_connected"))
        );
        let aa = EngineError::AccessAlly(accessally::Error::Http(HttpError::from_status(
            401,
            Some("rest_forbidden".into()),
            "no",
        )));
        assert_eq!(
            classify(&aa).map(|(s, st)| (s, st.name())),
            Some((System::AccessAlly, "auth_failing"))
        );
        // Text that merely mentions 401 is not a refusal.
        assert!(classify(&EngineError::Permanent("HTTP 401 in a product name".into())).is_none());
    }

    #[test]
    fn scans_set_and_clear_failures_and_wake_subscribers() {
        let c = Connections::default();
        let mut changes = c.subscribe();
        c.set("main", System::HighLevel, ConnectionState::Connected);
        c.set("main", System::AccessAlly, ConnectionState::Connected);
        assert!(changes.has_changed().unwrap_or(false));
        changes.mark_unchanged();
        c.report_scan("main", &[System::HighLevel], Err(&ghl_status(401)));
        assert_eq!(
            c.state("main", System::HighLevel).map(|s| s.name()),
            Some("auth_failing")
        );
        assert!(c.can_run("main"), "a failing connection is still polled");
        assert!(changes.has_changed().unwrap_or(false));
        changes.mark_unchanged();
        // A scan of the other system says nothing about HighLevel.
        c.report_scan("main", &[System::AccessAlly], Ok(()));
        assert_eq!(
            c.state("main", System::HighLevel).map(|s| s.name()),
            Some("auth_failing")
        );
        assert!(!changes.has_changed().unwrap_or(true));
        c.report_scan("main", &[System::HighLevel], Ok(()));
        assert_eq!(
            c.state("main", System::HighLevel),
            Some(ConnectionState::Connected)
        );
        c.set(
            "other",
            System::HighLevel,
            ConnectionState::NotConnected {
                reason: "consent never completed".into(),
            },
        );
        assert!(!c.can_run("other"));
        assert_eq!(c.snapshot().len(), 3);
    }
}
