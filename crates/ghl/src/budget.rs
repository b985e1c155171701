//! One rate budget per HighLevel location (or company), shared by every
//! caller in the process: webhooks, polling, backfill and reconciliation.
//! HighLevel allows `max` requests per sliding `interval` and a daily quota
//! per app and location; callers wait their turn here instead of getting
//! 429s. Live work goes first: while a live caller waits, backfill does not
//! take a slot. Each answer's `X-RateLimit-*` headers correct the budget
//! (another process or app may be spending the same location's budget).
//!
//! A slot is stamped when its answer arrives, not when it is sent, so the
//! local window always closes after HighLevel's: arrival there is between
//! the two.
//!
//! Backfill is paced: it takes at most one slot per `interval / max`, never
//! the whole window at once. Slots taken in a burst all expire together a
//! whole interval later, and a live caller arriving in between would wait up
//! to that interval (10 s at HighLevel's limits); paced slots expire one by
//! one, so live work waits at most about one pacing step while the backfill
//! still gets every slot live work leaves.
//!
//! Paced backfill alone fills the window; when live work runs beside it,
//! backfill also leaves as many slots free as live work took in the last
//! interval (a tenth of the window at most). Otherwise a window that filled
//! faster than it empties (backfill at the full rate plus live calls) holds
//! every later live call until its oldest calls expire: seconds, measured.
//!
//! Work runs at the priority its caller names, unless it runs inside
//! [`with_priority`]: the engine runs each job there with the job's own
//! priority, so a backfill job's reads and writes queue behind live ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::GhlError;

/// Who is asking: live work (webhooks, user actions) goes before backfill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    Live,
    Backfill,
}

tokio::task_local! {
    static SCOPED_PRIORITY: Priority;
}

/// Runs `work` with every HighLevel call inside it at `priority`, whatever
/// priority the call names (the engine runs each job at the job's own).
pub async fn with_priority<F: std::future::Future>(priority: Priority, work: F) -> F::Output {
    SCOPED_PRIORITY.scope(priority, work).await
}

/// The priority a call runs at: the scope's, if inside [`with_priority`].
pub(crate) fn effective_priority(named: Priority) -> Priority {
    SCOPED_PRIORITY.try_with(|p| *p).unwrap_or(named)
}

/// The limits HighLevel enforces per app and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    pub max: u32,
    pub interval: Duration,
    pub daily: u64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            max: 100,
            interval: Duration::from_secs(10),
            daily: 200_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Sent, no answer yet.
    InFlight(u64),
    /// Answered at this instant; counts until `at + interval`.
    Done(Instant),
}

struct State {
    config: BudgetConfig,
    slots: Vec<Slot>,
    next_id: u64,
    live_waiting: usize,
    daily_remaining: Option<u64>,
    used_today: u64,
    /// After a 429: nothing is sent before this.
    paused_until: Option<Instant>,
    /// The earliest moment backfill may take its next slot (pacing).
    next_backfill: Option<Instant>,
    /// When live callers took their slots within the last interval.
    live_taken: std::collections::VecDeque<Instant>,
}

impl State {
    fn prune(&mut self, now: Instant) {
        let interval = self.config.interval;
        self.slots.retain(|s| match s {
            Slot::InFlight(_) => true,
            Slot::Done(at) => now.duration_since(*at) < interval,
        });
        while self
            .live_taken
            .front()
            .is_some_and(|at| now.duration_since(*at) >= interval)
        {
            self.live_taken.pop_front();
        }
    }

    /// Slots backfill leaves free for live work: as many as live work took
    /// in the last interval, a tenth of the window at most, none while no
    /// live work runs (backfill alone gets the whole budget).
    fn live_headroom(&self) -> u64 {
        (self.live_taken.len() as u64).min(u64::from(self.config.max / 10))
    }

    /// When backfill may next take a slot (one pacing step after the last).
    fn backfill_paced_until(&self, now: Instant) -> Option<Instant> {
        if self.config.max == u32::MAX {
            return None;
        }
        self.next_backfill.filter(|at| *at > now)
    }

    fn took_backfill_slot(&mut self, now: Instant) {
        if self.config.max != u32::MAX {
            self.next_backfill = Some(now + self.config.interval / self.config.max.max(1));
        }
    }

    /// When the earliest answered slot leaves the window.
    fn next_free(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Done(at) => Some(*at + self.config.interval),
                Slot::InFlight(_) => None,
            })
            .min()
    }
}

struct LocationBudget {
    state: Mutex<State>,
    changed: Notify,
}

/// A taken slot; dropping it (or [`Permit::answered`]) stamps it.
pub struct Permit {
    budget: Arc<LocationBudget>,
    id: u64,
    stamped: bool,
}

impl Permit {
    /// Stamps the slot now and applies the answer's rate-limit headers.
    pub fn answered(mut self, headers: &HeaderMap, status: u16) {
        self.stamp();
        let mut st = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        apply_headers(&mut st, headers, status);
        drop(st);
        self.budget.changed.notify_waiters();
    }

    fn stamp(&mut self) {
        if self.stamped {
            return;
        }
        self.stamped = true;
        let now = Instant::now();
        let mut st = self.budget.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = st.slots.iter_mut().find(|s| **s == Slot::InFlight(self.id)) {
            *slot = Slot::Done(now);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.stamp();
        self.budget.changed.notify_waiters();
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn apply_headers(st: &mut State, headers: &HeaderMap, status: u16) {
    if let Some(max) = header_u64(headers, "x-ratelimit-max").and_then(|m| u32::try_from(m).ok())
        && max > 0
    {
        st.config.max = max;
    }
    if let Some(ms) = header_u64(headers, "x-ratelimit-interval-milliseconds").filter(|ms| *ms > 0)
    {
        st.config.interval = Duration::from_millis(ms);
    }
    if let Some(daily) = header_u64(headers, "x-ratelimit-limit-daily") {
        st.config.daily = daily;
    }
    if let Some(left) = header_u64(headers, "x-ratelimit-daily-remaining") {
        st.daily_remaining = Some(left);
        st.used_today = 0;
    }
    let now = Instant::now();
    if let Some(remaining) = header_u64(headers, "x-ratelimit-remaining") {
        // HighLevel counted more than we did: someone else spends this
        // location's budget. Book the difference as answered just now.
        st.prune(now);
        let ours = st.slots.len() as u64;
        let theirs = u64::from(st.config.max).saturating_sub(remaining);
        for _ in ours..theirs {
            st.slots.push(Slot::Done(now));
        }
    }
    if status == 429 {
        st.paused_until = Some(now + st.config.interval / 10);
    }
}

/// The shared budgets of all locations.
#[derive(Clone)]
pub struct RateBudget {
    config: BudgetConfig,
    locations: Arc<Mutex<HashMap<String, Arc<LocationBudget>>>>,
}

impl RateBudget {
    pub fn new(config: BudgetConfig) -> Self {
        Self {
            config,
            locations: Arc::default(),
        }
    }

    fn location(&self, key: &str) -> Arc<LocationBudget> {
        self.locations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(LocationBudget {
                    state: Mutex::new(State {
                        config: self.config,
                        slots: Vec::new(),
                        next_id: 0,
                        live_waiting: 0,
                        daily_remaining: None,
                        used_today: 0,
                        paused_until: None,
                        next_backfill: None,
                        live_taken: std::collections::VecDeque::new(),
                    }),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    /// Waits for a slot of `key`'s budget. Fails only when the daily quota
    /// is used up.
    pub async fn acquire(&self, key: &str, priority: Priority) -> Result<Permit, GhlError> {
        let budget = self.location(key);
        let mut registered = false;
        let result = loop {
            let notified = budget.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait_until = {
                let mut st = budget.state.lock().unwrap_or_else(|e| e.into_inner());
                if priority == Priority::Live && !registered {
                    st.live_waiting += 1;
                    registered = true;
                }
                let now = Instant::now();
                st.prune(now);
                if st.daily_remaining.is_some_and(|left| left <= st.used_today) {
                    break Err(GhlError::QuotaExhausted(key.to_string()));
                }
                let paused = st.paused_until.filter(|p| *p > now);
                let paced = match priority {
                    Priority::Live => None,
                    Priority::Backfill => st.backfill_paced_until(now),
                };
                let room = match priority {
                    Priority::Live => u64::from(st.config.max),
                    Priority::Backfill => {
                        u64::from(st.config.max).saturating_sub(st.live_headroom())
                    }
                };
                let may_take = paused.is_none()
                    && paced.is_none()
                    && (st.slots.len() as u64) < room
                    && (priority == Priority::Live || st.live_waiting == 0);
                if may_take {
                    match priority {
                        Priority::Backfill => st.took_backfill_slot(now),
                        Priority::Live if st.config.max != u32::MAX => st.live_taken.push_back(now),
                        Priority::Live => {}
                    }
                    let id = st.next_id;
                    st.next_id += 1;
                    // An unlimited budget (rate limits off) tracks no slots.
                    if st.config.max != u32::MAX {
                        st.slots.push(Slot::InFlight(id));
                    }
                    st.used_today += 1;
                    if registered {
                        st.live_waiting -= 1;
                        registered = false;
                    }
                    break Ok(Permit {
                        budget: budget.clone(),
                        id,
                        stamped: false,
                    });
                }
                paused.or(paced).or_else(|| st.next_free())
            };
            match wait_until {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut notified => {}
                    }
                }
                None => notified.await,
            }
        };
        if registered {
            let mut st = budget.state.lock().unwrap_or_else(|e| e.into_inner());
            st.live_waiting = st.live_waiting.saturating_sub(1);
        }
        result
    }

    /// Sets the limits `key`'s budget keeps to from now on (the calls
    /// already in its window still count), e.g. when the configuration
    /// changes while the daemon runs.
    pub fn set_limits(&self, key: &str, config: BudgetConfig) {
        let budget = self.location(key);
        let mut st = budget.state.lock().unwrap_or_else(|e| e.into_inner());
        st.config = config;
        drop(st);
        budget.changed.notify_waiters();
    }

    /// Requests left in the current window and today, as far as known.
    pub fn snapshot(&self, key: &str) -> BudgetSnapshot {
        let budget = self.location(key);
        let mut st = budget.state.lock().unwrap_or_else(|e| e.into_inner());
        st.prune(Instant::now());
        BudgetSnapshot {
            max: st.config.max,
            interval: st.config.interval,
            in_window: st.slots.len() as u32,
            daily_limit: st.config.daily,
            daily_remaining: st.daily_remaining.map(|d| d.saturating_sub(st.used_today)),
        }
    }
}

/// What the admin page and logs show of a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSnapshot {
    pub max: u32,
    pub interval: Duration,
    pub in_window: u32,
    pub daily_limit: u64,
    pub daily_remaining: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: u32, ms: u64) -> BudgetConfig {
        BudgetConfig {
            max,
            interval: Duration::from_millis(ms),
            daily: 1_000,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn callers_wait_for_the_window() {
        let budget = RateBudget::new(cfg(3, 1_000));
        let start = Instant::now();
        for _ in 0..3 {
            drop(budget.acquire("loc", Priority::Live).await.unwrap());
        }
        assert_eq!(Instant::now(), start);
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        assert!(Instant::now() >= start + Duration::from_millis(1_000));
        // Another location is independent.
        let before = Instant::now();
        drop(budget.acquire("other", Priority::Backfill).await.unwrap());
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn backfill_is_paced_to_one_slot_per_step() {
        let budget = RateBudget::new(cfg(10, 1_000));
        let start = Instant::now();
        let mut taken = Vec::new();
        for _ in 0..10 {
            drop(budget.acquire("loc", Priority::Backfill).await.unwrap());
            taken.push(Instant::now() - start);
        }
        // One slot per 100 ms: the whole window within one interval.
        for (i, at) in taken.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(100) * i as u32, "{taken:?}");
        }
        // Live work is not paced.
        let before = Instant::now();
        drop(budget.acquire("other", Priority::Live).await.unwrap());
        drop(budget.acquire("other", Priority::Live).await.unwrap());
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn backfill_leaves_room_for_the_live_work_that_runs_beside_it() {
        let budget = RateBudget::new(cfg(20, 1_000));
        // Live work took two slots: backfill fills the window but for two.
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        let start = Instant::now();
        let filler = {
            let budget = budget.clone();
            tokio::spawn(async move {
                loop {
                    drop(budget.acquire("loc", Priority::Backfill).await.unwrap());
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(990)).await;
        assert_eq!(budget.snapshot("loc").in_window, 18, "2 live + 16 backfill");
        // A live caller finds its slot at once, twice.
        let before = Instant::now();
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        assert_eq!(Instant::now(), before);
        assert!(Instant::now() - start < Duration::from_secs(1));
        filler.abort();
        // Without live work, backfill takes the whole window.
        let alone = RateBudget::new(cfg(20, 1_000));
        for _ in 0..20 {
            drop(alone.acquire("loc", Priority::Backfill).await.unwrap());
        }
        assert_eq!(alone.snapshot("loc").in_window, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scope_sets_the_priority_of_the_calls_inside() {
        assert_eq!(effective_priority(Priority::Live), Priority::Live);
        let inside = with_priority(Priority::Backfill, async {
            effective_priority(Priority::Live)
        })
        .await;
        assert_eq!(inside, Priority::Backfill);
    }

    #[tokio::test(start_paused = true)]
    async fn live_waits_one_pacing_step_not_a_window_behind_a_backfill() {
        let budget = RateBudget::new(cfg(10, 1_000));
        // A backfill that always wants more than the budget.
        for _ in 0..4 {
            let b = budget.clone();
            tokio::spawn(async move {
                loop {
                    drop(b.acquire("loc", Priority::Backfill).await.unwrap());
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let asked = Instant::now();
            drop(budget.acquire("loc", Priority::Live).await.unwrap());
            worst = worst.max(asked.elapsed());
            tokio::time::sleep(Duration::from_millis(370)).await;
        }
        assert!(
            worst <= Duration::from_millis(200),
            "a live call waited {worst:?} behind the backfill"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn live_goes_before_backfill() {
        let budget = RateBudget::new(cfg(1, 1_000));
        drop(budget.acquire("loc", Priority::Backfill).await.unwrap());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, p) in [Priority::Backfill, Priority::Backfill, Priority::Live]
            .into_iter()
            .enumerate()
        {
            let b = budget.clone();
            let o = order.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i as u64)).await;
                let permit = b.acquire("loc", p).await.unwrap();
                o.lock().unwrap().push(p);
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(order.lock().unwrap()[0], Priority::Live);
    }

    #[tokio::test(start_paused = true)]
    async fn headers_correct_the_budget_and_the_quota() {
        let budget = RateBudget::new(cfg(10, 1_000));
        let permit = budget.acquire("loc", Priority::Live).await.unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "2".parse().unwrap());
        h.insert("x-ratelimit-max", "10".parse().unwrap());
        h.insert("x-ratelimit-daily-remaining", "1".parse().unwrap());
        permit.answered(&h, 200);
        let snap = budget.snapshot("loc");
        assert_eq!(snap.in_window, 8, "someone else spent 7 more");
        drop(budget.acquire("loc", Priority::Live).await.unwrap());
        let err = budget.acquire("loc", Priority::Live).await.err().unwrap();
        assert!(matches!(err, GhlError::QuotaExhausted(_)));
    }
}
