//! The background-task driver: each task is an [`Activity`] activated by a
//! timer (first at once, then every period, a late tick delayed rather than
//! bunched) and, when it has one, by an event (a `watch` channel changing,
//! e.g. a connection's state), one activation at a time, until the driver
//! is stopped. The driver keeps each task's status — activations, the last
//! one's start and end, its error — for whoever reports on the daemon, and
//! logs a failed activation once; the task runs again at its next trigger.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What woke a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Its period came round (the first time: at start).
    Timer,
    /// Its event channel changed.
    Event,
}

/// The work of one background task.
pub trait Activity: Send + 'static {
    /// One activation. An error is recorded in the task's status and
    /// logged; the task runs again at its next trigger.
    fn activate(&mut self, trigger: Trigger) -> impl Future<Output = Result<(), String>> + Send;
}

/// Where one task stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskStatus {
    pub name: &'static str,
    /// Activations begun.
    pub activations: u64,
    pub last_started: Option<DateTime<Utc>>,
    pub last_finished: Option<DateTime<Utc>>,
    /// The last activation's error; `None` after one that succeeded.
    pub last_error: Option<String>,
}

type Statuses = Arc<Mutex<BTreeMap<&'static str, TaskStatus>>>;

/// Runs background tasks until stopped.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    statuses: Statuses,
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl Background {
    pub fn new() -> Self {
        Self {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            statuses: Arc::default(),
        }
    }

    /// Starts task `name`: activated at once, then every `every`, and
    /// whenever `events` changes.
    pub fn spawn<A: Activity, T: Send + Sync + 'static>(
        &mut self,
        name: &'static str,
        every: Duration,
        events: Option<watch::Receiver<T>>,
        mut activity: A,
    ) {
        let statuses = self.statuses.clone();
        set(&statuses, name, |s| s.name = name);
        let mut stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut events = events;
            loop {
                let trigger = tokio::select! {
                    _ = stop.changed() => return,
                    _ = ticker.tick() => Trigger::Timer,
                    Some(Ok(())) = async {
                        match events.as_mut() {
                            Some(e) => Some(e.changed().await),
                            None => std::future::pending().await,
                        }
                    } => Trigger::Event,
                };
                set(&statuses, name, |s| {
                    s.activations += 1;
                    s.last_started = Some(Utc::now());
                });
                let outcome = activity.activate(trigger).await;
                if let Err(e) = &outcome {
                    tracing::warn!(task = name, error = %e, "background task failed; it runs again at its next trigger");
                }
                set(&statuses, name, |s| {
                    s.last_finished = Some(Utc::now());
                    s.last_error = outcome.err();
                });
            }
        }));
    }

    /// Every task's status, by name.
    pub fn statuses(&self) -> Vec<TaskStatus> {
        self.statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Stops every task (a running activation finishes first) and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn set(statuses: &Statuses, name: &'static str, change: impl FnOnce(&mut TaskStatus)) {
    let mut all = statuses.lock().unwrap_or_else(|e| e.into_inner());
    change(all.entry(name).or_default());
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Counts its activations by trigger; fails every third.
    struct Counter(Arc<(AtomicU64, AtomicU64)>);

    impl Activity for Counter {
        async fn activate(&mut self, trigger: Trigger) -> Result<(), String> {
            let (timer, event) = &*self.0;
            let n = match trigger {
                Trigger::Timer => timer.fetch_add(1, Ordering::SeqCst),
                Trigger::Event => event.fetch_add(1, Ordering::SeqCst),
            };
            if trigger == Trigger::Timer && n % 3 == 2 {
                return Err(format!("activation {n} failed"));
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_run_at_start_on_their_period_and_on_events_until_stopped() {
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let (events, receiver) = watch::channel(0u64);
        let mut background = Background::new();
        background.spawn(
            "counter",
            Duration::from_secs(10),
            Some(receiver),
            Counter(counts.clone()),
        );
        // At once, then at 10 s and 20 s.
        tokio::time::sleep(Duration::from_secs(25)).await;
        assert_eq!(counts.0.load(Ordering::SeqCst), 3);
        // The third failed: recorded, and the task goes on.
        let status = &background.statuses()[0];
        assert_eq!(status.name, "counter");
        assert_eq!(status.activations, 3);
        assert_eq!(status.last_error.as_deref(), Some("activation 2 failed"));
        // An event wakes it between ticks.
        events.send_replace(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(counts.1.load(Ordering::SeqCst), 1);
        assert_eq!(background.statuses()[0].last_error, None);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(counts.0.load(Ordering::SeqCst), 4);
        background.stop().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(counts.0.load(Ordering::SeqCst), 4, "a stopped task ran");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_without_events_runs_on_its_timer_only() {
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let mut background = Background::new();
        background.spawn::<_, ()>(
            "timer only",
            Duration::from_secs(1),
            None,
            Counter(counts.clone()),
        );
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(counts.0.load(Ordering::SeqCst), 3);
        assert_eq!(counts.1.load(Ordering::SeqCst), 0);
        background.stop().await;
    }
}
