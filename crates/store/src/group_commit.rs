//! Group commit for the store's small, frequent writes: received webhook
//! events ([`Store::accept_event`]), links ([`Store::save_link`]),
//! integration log lines ([`Store::log_integration`]) and finished jobs
//! ([`Store::complete_job`]). Concurrent calls share one write transaction
//! (one disk sync) instead of taking one each, and every caller still gets
//! its answer only after the transaction that holds its write has
//! committed ("durable before acknowledged"). The queue and the race for
//! the commit are `batching`'s. A batch whose transaction fails is
//! committed again one write at a time, so one bad write fails only its
//! own caller. This module owns that split and the counters; the SQL is
//! the backends' (`apply_writes`), and what a write means is the caller's.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::batching::{Batcher, Reply};
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

/// The writes waiting for a commit, and what the commits did.
pub(crate) struct GroupCommit {
    batcher: Batcher<Write, Written>,
    writes: AtomicU64,
    transactions: AtomicU64,
    split_batches: AtomicU64,
    largest_batch: AtomicU64,
}

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            batcher: Batcher::new(MAX_BATCH, || StoreError::WriteInterrupted),
            writes: AtomicU64::default(),
            transactions: AtomicU64::default(),
            split_batches: AtomicU64::default(),
            largest_batch: AtomicU64::default(),
        }
    }
}

impl GroupCommit {
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
        group.writes.fetch_add(1, Ordering::Relaxed);
        group
            .batcher
            .submit(write, |batch| {
                let store = self.clone();
                async move { store.commit_batch(batch).await }
            })
            .await
    }

    /// Commits `batch` in one transaction and answers each caller; if that
    /// transaction fails, commits each write in a transaction of its own.
    async fn commit_batch(&self, batch: Vec<(Write, Reply<Written>)>) {
        let group = &self.inner.group_commit;
        let (writes, replies): (Vec<Write>, Vec<Reply<Written>>) = batch.into_iter().unzip();
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
        let replies = match <[Reply<Written>; 1]>::try_from(replies) {
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
