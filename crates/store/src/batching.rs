//! Batching of concurrent store calls into one database round trip: the
//! queue, the lock and the race that the group commit (writes, see
//! `group_commit`) and grouped link look-ups (reads, see `link_lookup`)
//! share. There is no background task: a caller queues its item, then
//! races for the batch lock against its own answer; the winner takes the
//! whole queue (at most `max_batch` items) and runs it in a task of its own
//! that holds the lock until every caller of the batch has its answer, so a
//! caller that goes away (its client disconnected) cannot abort the
//! others' batch. A batch is taken only after its items were queued and
//! runs only after the batch before it finished, so it never joins a
//! database call already in flight: every caller's answer reflects every
//! write committed before the call was made. What a batch does with its
//! items is the user's.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::StoreError;

/// Where a batch sends one caller's answer.
pub(crate) type Reply<Outcome> = oneshot::Sender<Result<Outcome, StoreError>>;

/// The items queued for the next batch, and who runs it.
pub(crate) struct Batcher<Item, Outcome> {
    queue: Mutex<Vec<(Item, Reply<Outcome>)>>,
    /// Held by the task running a batch, from taking the queue until every
    /// caller of the batch has its answer.
    batch_lock: Arc<tokio::sync::Mutex<()>>,
    max_batch: usize,
    /// The error a caller gets when its batch ended without answering it
    /// (the batch task panicked, or the runtime shut down).
    interrupted: fn() -> StoreError,
}

impl<Item: Send + 'static, Outcome: Send + 'static> Batcher<Item, Outcome> {
    pub(crate) fn new(max_batch: usize, interrupted: fn() -> StoreError) -> Self {
        Batcher {
            queue: Mutex::new(Vec::new()),
            batch_lock: Arc::new(tokio::sync::Mutex::new(())),
            max_batch,
            interrupted,
        }
    }

    /// Queues `item` and returns its answer once the batch holding it has
    /// run, running the queue with `run` itself whenever the lock is free.
    /// `run` must answer every item it is given.
    pub(crate) async fn submit<Run, Running>(
        &self,
        item: Item,
        run: Run,
    ) -> Result<Outcome, StoreError>
    where
        Run: Fn(Vec<(Item, Reply<Outcome>)>) -> Running,
        Running: Future<Output = ()> + Send + 'static,
    {
        let mut answer = self.push(item);
        loop {
            tokio::select! {
                biased;
                outcome = &mut answer => {
                    return outcome.unwrap_or_else(|_| Err((self.interrupted)()));
                }
                guard = self.batch_lock.clone().lock_owned() => {
                    let batch = self.take_batch();
                    if batch.is_empty() {
                        // Our item was in a batch that has run: its answer
                        // is waiting.
                        continue;
                    }
                    let running = run(batch);
                    tokio::spawn(async move {
                        running.await;
                        drop(guard);
                    });
                }
            }
        }
    }

    fn push(&self, item: Item) -> oneshot::Receiver<Result<Outcome, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((item, reply));
        answer
    }

    /// Takes up to `max_batch` queued items, oldest first.
    fn take_batch(&self) -> Vec<(Item, Reply<Outcome>)> {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let take = queue.len().min(self.max_batch);
        queue.drain(..take).collect()
    }
}
