//! The incident ledger: who may announce an incident now (once, then again
//! only after the cool-down) and whether an incident is open (so a resolve
//! message is sent once, and only for something that was announced). An
//! in-memory ledger for one process and tests; [`StoreLedger`] keeps it in
//! the durable store so several processes agree. Owns bookkeeping only;
//! sending is the alerter's.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A boxed future, as the object-safe ledger methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
#[error("the alert ledger failed while {action}: {message}; alerts are not sent until it works")]
pub struct LedgerError {
    pub action: &'static str,
    pub message: String,
}

/// Book-keeping of incidents.
pub trait IncidentLedger: Send + Sync {
    /// Claims the right to announce incident `key` now: true when it was
    /// never announced or its last message is older than `cooldown`.
    /// A true answer marks the incident open.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        summary: &'a str,
        cooldown: Duration,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;

    /// Closes incident `key`: true when it was open (send the resolve message then).
    fn resolve<'a>(
        &'a self,
        key: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;
}

#[derive(Debug, Clone, Copy)]
struct Incident {
    last_message: Instant,
    open: bool,
}

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A ledger in this process's memory.
#[derive(Clone)]
pub struct InMemoryLedger {
    incidents: Arc<Mutex<HashMap<String, Incident>>>,
    clock: Clock,
}

impl Default for InMemoryLedger {
    fn default() -> Self {
        Self::with_clock(Arc::new(Instant::now))
    }
}

impl std::fmt::Debug for InMemoryLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryLedger").finish_non_exhaustive()
    }
}

impl InMemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger reading time from `clock` (tests move it by hand).
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            incidents: Arc::new(Mutex::new(HashMap::new())),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Incident>> {
        self.incidents.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim_now(&self, key: &str, cooldown: Duration) -> bool {
        let now = (self.clock)();
        let mut incidents = self.lock();
        let allowed = incidents
            .get(key)
            .is_none_or(|i| now.saturating_duration_since(i.last_message) >= cooldown);
        if allowed {
            incidents.insert(
                key.to_string(),
                Incident {
                    last_message: now,
                    open: true,
                },
            );
        }
        allowed
    }

    fn resolve_now(&self, key: &str) -> bool {
        let now = (self.clock)();
        match self.lock().get_mut(key) {
            Some(incident) if incident.open => {
                incident.open = false;
                incident.last_message = now;
                true
            }
            _ => false,
        }
    }
}

impl IncidentLedger for InMemoryLedger {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        _summary: &'a str,
        cooldown: Duration,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        let claimed = self.claim_now(key, cooldown);
        Box::pin(std::future::ready(Ok(claimed)))
    }

    fn resolve<'a>(
        &'a self,
        key: &'a str,
        _summary: &'a str,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        let resolved = self.resolve_now(key);
        Box::pin(std::future::ready(Ok(resolved)))
    }
}

/// The channel names the store's alert log records.
const FIRING: &str = "alert";
const RESOLVED: &str = "resolve";

/// The durable ledger: `Store::claim_alert` decides (atomically, across
/// processes) whether the cool-down has passed; the newest alert row of an
/// incident says whether it is open. A resolve restarts the cool-down, so a
/// flapping condition is not announced more than once per cool-down.
#[derive(Clone)]
pub struct StoreLedger {
    store: store::Store,
}

impl StoreLedger {
    pub fn new(store: store::Store) -> Self {
        Self { store }
    }
}

fn store_error(action: &'static str) -> impl Fn(store::StoreError) -> LedgerError {
    move |e| LedgerError {
        action,
        message: e.to_string(),
    }
}

impl IncidentLedger for StoreLedger {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        summary: &'a str,
        cooldown: Duration,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        Box::pin(async move {
            let claimed = self
                .store
                .claim_alert(key, FIRING, summary, cooldown)
                .await
                .map_err(store_error("claiming an alert"))?;
            Ok(claimed.is_some())
        })
    }

    fn resolve<'a>(
        &'a self,
        key: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, Result<bool, LedgerError>> {
        Box::pin(async move {
            let newest = self
                .store
                .alerts(Some(key), 1)
                .await
                .map_err(store_error("reading an incident"))?;
            if newest.first().is_none_or(|a| a.channel != FIRING) {
                return Ok(false);
            }
            let recorded = self
                .store
                .claim_alert(key, RESOLVED, summary, Duration::ZERO)
                .await
                .map_err(store_error("recording a resolution"))?;
            Ok(recorded.is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_ledger_cools_down_and_resolves_once() -> Result<(), LedgerError> {
        let start = Instant::now();
        let offset = Arc::new(Mutex::new(Duration::ZERO));
        let clock_offset = offset.clone();
        let ledger = InMemoryLedger::with_clock(Arc::new(move || {
            start + *clock_offset.lock().unwrap_or_else(|e| e.into_inner())
        }));
        let advance = |d: Duration| *offset.lock().unwrap_or_else(|e| e.into_inner()) += d;
        let cooldown = Duration::from_secs(60);

        assert!(!ledger.resolve("k", "s").await?, "nothing open yet");
        assert!(ledger.claim("k", "s", cooldown).await?);
        advance(Duration::from_secs(30));
        assert!(
            !ledger.claim("k", "s", cooldown).await?,
            "within the cool-down"
        );
        assert!(
            ledger.claim("other", "s", cooldown).await?,
            "another incident"
        );
        advance(Duration::from_secs(31));
        assert!(
            ledger.claim("k", "s", cooldown).await?,
            "after the cool-down"
        );
        assert!(ledger.resolve("k", "s").await?);
        assert!(!ledger.resolve("k", "s").await?, "resolved once");
        Ok(())
    }
}
