//! Group commit for the store's small, frequent writes: received webhook
//! events ([`Store::accept_event`]), links ([`Store::save_link`]),
//! integration log lines ([`Store::log_integration`]) and finished jobs
//! ([`Store::complete_job`]). Concurrent calls
//! share one write transaction (one disk sync) instead of taking one each,
//! and every caller still gets its answer only after the transaction that
//! holds its write has committed ("durable before acknowledged"). There is
//! no background task: a caller queues its write, then races for the commit
//! lock against its own answer; the winner takes the whole queue (at most
//! [`MAX_BATCH`] writes) and commits it in a task of its own that holds the
//! lock, so a caller that goes away (its client disconnected) cannot abort
//! the others' commit. A batch whose transaction fails is committed again
//! one write at a time, so one bad write fails only its own caller. This
//! module owns the queue, the lock and the counters; the SQL is the
//! backends' (`apply_writes`), and what a write means is the caller's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::{
    Accepted, Backend, InboundEvent, IntegrationEvent, JobId, Link, NewJob, NewLink, Store,
    StoreError,
};

/// The most writes one transaction carries.
pub(crate) const MAX_BATCH: usize = 512;

/// One write that may share a transaction with others.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// A received event, with the job it causes.
    Accept(InboundEvent, Option<NewJob>),
    SaveLink(NewLink),
    Log(IntegrationEvent),
    /// A finished job, marked done if `owner` still holds its lease.
    Complete {
        job_id: JobId,
        owner: String,
    },
}

/// What a [`Write`] produced, variant for variant.
#[derive(Debug)]
pub(crate) enum Written {
    Accepted(Accepted),
    Link(Link),
    Logged(i64),
    Completed { lease_held: bool },
}

type Reply = oneshot::Sender<Result<Written, StoreError>>;

/// What the group commit did since the store was opened (this handle and
/// its clones; another process has its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Writes given to the group commit (events, links, log lines).
    pub writes: u64,
    /// Write transactions run for them: one per batch, plus one per write
    /// of a batch that failed and was committed again write by write.
    pub transactions: u64,
    /// Batches whose transaction failed and were split into single writes.
    pub split_batches: u64,
    /// The most writes one transaction carried.
    pub largest_batch: u64,
}

/// The queue of writes waiting for a commit, and who commits next.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<(Write, Reply)>>,
    /// Held by the task committing a batch, from taking the queue until
    /// every caller of the batch has its answer.
    commit_lock: Arc<tokio::sync::Mutex<()>>,
    writes: AtomicU64,
    transactions: AtomicU64,
    split_batches: AtomicU64,
    largest_batch: AtomicU64,
}

impl GroupCommit {
    fn push(&self, item: Write) -> oneshot::Receiver<Result<Written, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((item, reply));
        self.writes.fetch_add(1, Ordering::Relaxed);
        answer
    }

    /// Takes up to [`MAX_BATCH`] queued writes, oldest first.
    fn take_batch(&self) -> Vec<(Write, Reply)> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let take = queue.len().min(MAX_BATCH);
        queue.drain(..take).collect()
    }

    fn count_transaction(&self, writes: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.largest_batch
            .fetch_max(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            writes: self.writes.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            split_batches: self.split_batches.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }
}

impl Store {
    /// Queues `write` and returns its outcome once the transaction holding
    /// it has committed (or failed), committing the queue itself whenever
    /// the commit lock is free.
    pub(crate) async fn write_grouped(&self, write: Write) -> Result<Written, StoreError> {
        let group = &self.inner.group_commit;
        let mut answer = group.push(write);
        loop {
            tokio::select! {
                biased;
                outcome = &mut answer => {
                    return outcome.unwrap_or(Err(StoreError::WriteInterrupted));
                }
                guard = group.commit_lock.clone().lock_owned() => {
                    let batch = group.take_batch();
                    if batch.is_empty() {
                        // Our write was in a batch that has committed: its
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
    /// transaction fails, commits each write in a transaction of its own.
    async fn commit_batch(&self, batch: Vec<(Write, Reply)>) {
        let group = &self.inner.group_commit;
        let (writes, replies): (Vec<Write>, Vec<Reply>) = batch.into_iter().unzip();
        let now = crate::now_ms();
        group.count_transaction(writes.len());
        let error = match self.apply_writes(&writes, now).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A caller that went away no longer listens; its write is stored.
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
            writes = writes.len(),
            %error,
            "a group commit failed; committing its writes one by one"
        );
        for (write, reply) in writes.into_iter().zip(replies) {
            group.count_transaction(1);
            let outcome = self
                .apply_writes(std::slice::from_ref(&write), now)
                .await
                .and_then(|mut outcomes| {
                    outcomes
                        .pop()
                        .ok_or_else(|| StoreError::Corrupt("a write returned no outcome".into()))
                });
            let _ = reply.send(outcome);
        }
    }

    /// Runs the backend's batch statement and wakes local workers when it
    /// enqueued anything.
    async fn apply_writes(&self, writes: &[Write], now: i64) -> Result<Vec<Written>, StoreError> {
        let outcomes = on_backend!(self, backend => backend.apply_writes(writes, now).await)?;
        if outcomes
            .iter()
            .any(|written| matches!(written, Written::Accepted(Accepted { job: Some(_), .. })))
        {
            self.announce_jobs_locally();
        }
        Ok(outcomes)
    }

    /// What the group commit did since this store was opened (see
    /// [`GroupCommitStats`]).
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.inner.group_commit.stats()
    }
}
