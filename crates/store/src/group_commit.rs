//! Group commit for webhook intake: concurrent [`Store::accept_event`] calls
//! share one write transaction (one disk sync) instead of taking one each,
//! and every caller still gets its answer only after the transaction that
//! holds its event has committed ("durable before acknowledged"). There is
//! no background task: a caller queues its event, then races for the commit
//! lock against its own answer; the winner takes the whole queue (at most
//! [`MAX_BATCH`] events) and commits it in a task of its own that holds the
//! lock, so a caller that goes away (its client disconnected) cannot abort
//! the others' commit. A batch whose transaction fails is committed again
//! one event at a time, so one bad event fails only its own caller. An
//! event whose caller went away before any batch took it waits for the next
//! call's commit (it was never acknowledged, so the sender delivers it
//! again, and the inbox recognises the duplicate). This module owns the
//! queue, the lock and the counters; the SQL is the backends'
//! (`accept_events`), and what an event means is the caller's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{Accepted, Backend, InboundEvent, NewJob, Store, StoreError};

/// The most events one intake transaction carries.
pub(crate) const MAX_BATCH: usize = 512;

/// One event to accept, with the job it causes.
pub(crate) type Item = (InboundEvent, Option<NewJob>);
type Reply = oneshot::Sender<Result<Accepted, StoreError>>;

/// What the webhook intake's group commit did since the store was opened
/// (this handle and its clones; another process has its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeStats {
    /// Events given to [`Store::accept_event`].
    pub events: u64,
    /// Write transactions run for them: one per batch, plus one per event
    /// of a batch that failed and was committed again event by event.
    pub transactions: u64,
    /// Batches whose transaction failed and were split into single events.
    pub split_batches: u64,
    /// The most events one transaction carried.
    pub largest_batch: u64,
}

/// The queue of events waiting for a commit, and who commits next.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<(Item, Reply)>>,
    /// Held by the task committing a batch, from taking the queue until
    /// every caller of the batch has its answer.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
    events: AtomicU64,
    transactions: AtomicU64,
    split_batches: AtomicU64,
    largest_batch: AtomicU64,
}

impl GroupCommit {
    fn push(&self, item: Item) -> oneshot::Receiver<Result<Accepted, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((item, reply));
        self.events.fetch_add(1, Ordering::Relaxed);
        answer
    }

    /// Takes up to [`MAX_BATCH`] queued events, oldest first.
    fn take_batch(&self) -> Vec<(Item, Reply)> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let take = queue.len().min(MAX_BATCH);
        queue.drain(..take).collect()
    }

    fn count_transaction(&self, events: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.largest_batch
            .fetch_max(u64::try_from(events).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> IntakeStats {
        IntakeStats {
            events: self.events.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            split_batches: self.split_batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

impl Store {
    /// Queues `item` and returns its outcome once the transaction holding
    /// it has committed (or failed), committing the queue itself whenever
    /// the commit lock is free.
    pub(crate) async fn accept_grouped(&self, item: Item) -> Result<Accepted, StoreError> {
        let group = &self.inner.intake;
        let mut answer = group.push(item);
        loop {
            tokio::select! {
                biased;
                outcome = &mut answer => {
                    return outcome.unwrap_or(Err(StoreError::IntakeInterrupted));
                }
                guard = group.commit_lock.clone().lock_owned() => {
                    let batch = group.take_batch();
                    if batch.is_empty() {
                        // Our event was in a batch that has committed: its
                        // answer is waiting.
                        continue;
                    }
                    let store = self.clone();
                    tokio::spawn(async move {
                        store.commit_batch(batch).await;
                        drop(guard);
                    });
                }
            }
        }
    }

    /// Commits `batch` in one transaction and answers each caller; if that
    /// transaction fails, commits each event in a transaction of its own.
    async fn commit_batch(&self, batch: Vec<(Item, Reply)>) {
        let group = &self.inner.intake;
        let (items, replies): (Vec<Item>, Vec<Reply>) = batch.into_iter().unzip();
        let now = crate::now_ms();
        group.count_transaction(items.len());
        let error = match self.accept_events(&items, now).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A caller that went away no longer listens; its event is stored.
                    let _ = reply.send(Ok(outcome));
                }
                return;
            }
            Err(error) => error,
        };
        let replies = match <[Reply; 1]>::try_from(replies) {
            Ok([reply]) => {
                let _ = reply.send(Err(error));
                return;
            }
            Err(replies) => replies,
        };
        group.split_batches.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            events = items.len(),
            %error,
            "a group commit of received events failed; committing them one by one"
        );
        for (item, reply) in items.into_iter().zip(replies) {
            group.count_transaction(1);
            let outcome = self
                .accept_events(std::slice::from_ref(&item), now)
                .await
                .and_then(|mut outcomes| {
                    outcomes.pop().ok_or_else(|| {
                        StoreError::Corrupt("accepting an event returned no outcome".into())
                    })
                });
            let _ = reply.send(outcome);
        }
    }

    /// Runs the backend's batch statement and wakes local workers when it
    /// enqueued anything.
    async fn accept_events(&self, items: &[Item], now: i64) -> Result<Vec<Accepted>, StoreError> {
        let outcomes = on_backend!(self, backend => backend.accept_events(items, now).await)?;
        if outcomes.iter().any(|accepted| accepted.job.is_some()) {
            self.announce_jobs_locally();
        }
        Ok(outcomes)
    }

    /// What the webhook intake's group commit did since this store was
    /// opened (see [`IntakeStats`]).
    pub fn intake_stats(&self) -> IntakeStats {
        self.inner.intake.stats()
    }
}
