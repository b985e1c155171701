//! What keeps a long-running daemon's store from growing without end, and
//! what fills its API activity log: the [`ActivityLog`] hears about every
//! call the clients make (through `transport::CallObserver`) and writes them
//! in batches, off the callers' path; [`tidy`] deletes what is past keeping
//! (finished jobs, inbox entries, API activity older than a retention).
//! Dead-lettered jobs, links and the integration log are never pruned here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use store::{ApiCall, Store, System};
use tokio::sync::mpsc;
use transport::{CallObserver, CallRecord};

/// Calls waiting to be written; beyond this the log drops (and counts)
/// calls rather than slow the clients down or grow.
const ACTIVITY_QUEUE: usize = 10_000;
/// Calls written per transaction at most.
const ACTIVITY_BATCH: usize = 500;

/// The API activity log's intake: cheap and non-blocking for the caller.
#[derive(Debug)]
pub struct ActivityLog {
    queue: mpsc::Sender<ApiCall>,
    dropped: AtomicU64,
}

impl ActivityLog {
    /// Starts the writer on the current runtime; it stops once the log
    /// (every client holding it) is dropped, after writing what is queued.
    pub fn start(store: Store) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (queue, mut calls) = mpsc::channel(ACTIVITY_QUEUE);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(ACTIVITY_BATCH);
            while calls.recv_many(&mut batch, ACTIVITY_BATCH).await > 0 {
                if let Err(e) = store.log_api_calls(&batch).await {
                    tracing::warn!(calls = batch.len(), error = %e, "could not write API activity; these calls are not in the log");
                }
                batch.clear();
            }
        });
        let log = Arc::new(Self {
            queue,
            dropped: AtomicU64::new(0),
        });
        (log, writer)
    }

    /// Calls not logged because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl CallObserver for ActivityLog {
    fn observe(&self, call: CallRecord) {
        let Ok(system) = call.system.parse::<System>() else {
            // Not a system the log knows: counted with what it drops.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let call = ApiCall {
            system,
            location: call.location,
            method: call.method,
            path: call.path,
            status: call.status,
            latency_ms: i64::try_from(call.latency.as_millis()).unwrap_or(i64::MAX),
            rate_remaining: call.rate_remaining,
        };
        if self.queue.try_send(call).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What one [`tidy`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tidied {
    pub finished_jobs: u64,
    pub inbox_events: u64,
    pub api_calls: u64,
}

/// Deletes finished jobs, inbox entries and API activity older than
/// `keep`. An inbox entry older than any webhook's allowed age is no longer
/// needed to refuse a replay (the verifiers refuse stale deliveries first).
pub async fn tidy(store: &Store, keep: Duration) -> Result<Tidied, store::StoreError> {
    let before = chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or_default();
    Ok(Tidied {
        finished_jobs: store.prune_finished_jobs(before).await?,
        inbox_events: store.prune_inbox(before).await?,
        api_calls: store.prune_api_activity(before).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(path: &str) -> CallRecord {
        CallRecord {
            system: "highlevel",
            location: Some("loc-1".into()),
            method: "GET".into(),
            path: path.into(),
            status: Some(200),
            latency: Duration::from_millis(12),
            rate_remaining: Some(88),
        }
    }

    #[tokio::test]
    async fn observed_calls_reach_the_store_and_old_ones_are_tidied_away() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url, store::Keyring::new(store::MasterKey::generate())).await?;
        let (log, writer) = ActivityLog::start(store.clone());
        for n in 0..1_200 {
            log.observe(call(&format!("/products/p{n}")));
        }
        drop(log);
        writer.await?;
        let logged = store
            .api_activity(&store::ApiActivityQuery {
                limit: 5_000,
                ..Default::default()
            })
            .await?;
        assert_eq!(logged.len(), 1_200);
        assert_eq!(logged[0].call.path, "/products/p1199");
        assert_eq!(logged[0].call.system, System::HighLevel);
        assert_eq!(logged[0].call.latency_ms, 12);

        // Kept for a day: nothing goes; kept for none: everything does.
        let kept = tidy(&store, Duration::from_secs(86_400)).await?;
        assert_eq!(kept.api_calls, 0);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let gone = tidy(&store, Duration::ZERO).await?;
        assert_eq!(gone.api_calls, 1_200);
        Ok(())
    }
}
