//! Retrying an operation: bounded attempts, exponential back-off with full
//! jitter (a uniform wait between zero and `min(max_delay, base * 2^n)`),
//! and a server-supplied wait honoured instead when the error carries one
//! (and given up on when it is longer than the caller accepts). A gate is
//! awaited before every attempt, so a caller can plug in a rate budget.
//! Sleeping is injectable so tests run on a paused or fake clock. Owns the
//! loop only: what is retryable is the error's business ([`Retryable`]).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

/// What a retry loop needs to know about a failure.
pub trait Retryable {
    /// Whether trying again may succeed (timeouts, 429, most 5xx).
    fn is_retryable(&self) -> bool;
    /// How long the server asked to wait before trying again, if it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// A boxed future, as the object-safe hooks below return.
pub type BoxFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Sleeps; replaceable so that tests need not wait.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_>;
}

/// Sleeps on tokio's clock (which `tokio::time::pause` makes instant in tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Awaited before every attempt (the first included), e.g. to take a token
/// from a per-location rate budget.
pub trait AttemptGate: Send + Sync {
    /// `attempt` counts from 1.
    fn before_attempt(&self, attempt: u32) -> BoxFuture<'_>;
}

/// A gate that never waits.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGate;

impl AttemptGate for NoGate {
    fn before_attempt(&self, _attempt: u32) -> BoxFuture<'_> {
        Box::pin(std::future::ready(()))
    }
}

/// How often and how far apart to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Ceiling of the first back-off; doubles with each retry.
    pub base_delay: Duration,
    /// Highest back-off ceiling.
    pub max_delay: Duration,
    /// A server-supplied wait longer than this ends the retries.
    pub max_server_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_server_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The back-off ceiling before retry number `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Full jitter: uniform in `0..=ceiling(retry)`.
    pub fn full_jitter(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry).as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(rng.gen_range(0..=ceiling))
    }

    /// How long to wait after failed attempt number `attempt` (from 1), or
    /// `None` to give up: not retryable, attempts used up, or the server asked
    /// for a longer wait than `max_server_wait`.
    pub fn next_delay<E: Retryable>(
        &self,
        attempt: u32,
        error: &E,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        match error.retry_after() {
            Some(wait) if wait > self.max_server_wait => None,
            Some(wait) => Some(wait),
            None => Some(self.full_jitter(attempt - 1, rng)),
        }
    }
}

/// Runs operations under a [`RetryPolicy`].
#[derive(Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for Retrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrier")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    pub fn new(policy: RetryPolicy) -> Self {
        Self::with_sleeper(policy, Arc::new(TokioSleeper))
    }

    pub fn with_sleeper(policy: RetryPolicy, sleeper: Arc<dyn Sleeper>) -> Self {
        Self { policy, sleeper }
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Runs `op` (given the attempt number, from 1) until it succeeds, fails
    /// for good, or the attempts are used up; returns the last error then.
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Retryable + Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_gated(&NoGate, op).await
    }

    /// Like [`Retrier::run`], awaiting `gate` before every attempt.
    pub async fn run_gated<T, E, F, Fut>(&self, gate: &dyn AttemptGate, mut op: F) -> Result<T, E>
    where
        E: Retryable + Display,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            gate.before_attempt(attempt).await;
            let error = match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let delay = self
                .policy
                .next_delay(attempt, &error, &mut rand::thread_rng());
            let Some(delay) = delay else {
                return Err(error);
            };
            tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying");
            self.sleeper.sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[derive(Debug)]
    struct Fail {
        retryable: bool,
        wait: Option<Duration>,
    }
    impl Display for Fail {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "fail")
        }
    }
    impl Retryable for Fail {
        fn is_retryable(&self) -> bool {
            self.retryable
        }
        fn retry_after(&self) -> Option<Duration> {
            self.wait
        }
    }
    const TRANSIENT: Fail = Fail {
        retryable: true,
        wait: None,
    };

    /// Records the waits instead of sleeping.
    #[derive(Default)]
    struct FakeSleeper(Mutex<Vec<Duration>>);
    impl Sleeper for FakeSleeper {
        fn sleep(&self, d: Duration) -> BoxFuture<'_> {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(d);
            Box::pin(std::future::ready(()))
        }
    }

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            max_server_wait: Duration::from_secs(30),
        }
    }

    #[test]
    fn ceilings_double_up_to_the_maximum() {
        let p = policy(10);
        let ceilings: Vec<u128> = (0..6).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.ceiling(u32::MAX).as_millis(), 1000);
    }

    #[test]
    fn full_jitter_spreads_over_the_whole_range() {
        let p = policy(10);
        let mut rng = StdRng::seed_from_u64(1);
        let waits: Vec<Duration> = (0..2000).map(|_| p.full_jitter(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(800)));
        assert!(waits.iter().any(|w| *w < Duration::from_millis(80)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(720)));
    }

    #[test]
    fn server_wait_wins_unless_too_long() {
        let p = policy(5);
        let mut rng = StdRng::seed_from_u64(1);
        let asked = Fail {
            retryable: true,
            wait: Some(Duration::from_secs(3)),
        };
        assert_eq!(
            p.next_delay(1, &asked, &mut rng),
            Some(Duration::from_secs(3))
        );
        let too_long = Fail {
            retryable: true,
            wait: Some(Duration::from_secs(31)),
        };
        assert_eq!(p.next_delay(1, &too_long, &mut rng), None);
        assert_eq!(p.next_delay(5, &TRANSIENT, &mut rng), None);
        assert_eq!(
            p.next_delay(
                1,
                &Fail {
                    retryable: false,
                    wait: None
                },
                &mut rng
            ),
            None
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let sleeper = Arc::new(FakeSleeper::default());
        let retrier = Retrier::with_sleeper(policy(5), sleeper.clone());
        let result: Result<u32, Fail> = retrier
            .run(|attempt| async move {
                if attempt < 3 {
                    Err(TRANSIENT)
                } else {
                    Ok(attempt)
                }
            })
            .await;
        assert_eq!(result.ok(), Some(3));
        let waits = sleeper.0.lock().map(|w| w.clone()).unwrap_or_default();
        assert_eq!(waits.len(), 2);
        assert!(waits[0] <= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_permanent_errors_stop_at_once() {
        let retrier = Retrier::with_sleeper(policy(4), Arc::new(FakeSleeper::default()));
        let calls = AtomicU32::new(0);
        let r: Result<(), Fail> = retrier
            .run(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(TRANSIENT) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), Fail> = retrier
            .run(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    Err(Fail {
                        retryable: false,
                        wait: None,
                    })
                }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_sleeper_on_a_paused_clock_honours_retry_after() {
        let retrier = Retrier::new(policy(3));
        let start = tokio::time::Instant::now();
        let r: Result<u32, Fail> = retrier
            .run(|attempt| async move {
                if attempt == 1 {
                    Err(Fail {
                        retryable: true,
                        wait: Some(Duration::from_secs(7)),
                    })
                } else {
                    Ok(attempt)
                }
            })
            .await;
        assert_eq!(r.ok(), Some(2));
        assert_eq!(start.elapsed().as_secs(), 7);
    }

    #[tokio::test]
    async fn the_gate_is_awaited_before_every_attempt() {
        #[derive(Default)]
        struct CountingGate(AtomicU32);
        impl AttemptGate for CountingGate {
            fn before_attempt(&self, _attempt: u32) -> BoxFuture<'_> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Box::pin(std::future::ready(()))
            }
        }
        let gate = CountingGate::default();
        let retrier = Retrier::with_sleeper(policy(5), Arc::new(FakeSleeper::default()));
        let _: Result<u32, Fail> = retrier
            .run_gated(&gate, |a| async move {
                if a < 4 { Err(TRANSIENT) } else { Ok(a) }
            })
            .await;
        assert_eq!(gate.0.load(Ordering::SeqCst), 4);
    }
}
