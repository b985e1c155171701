//! The fault model: which share of API calls fail, how, and what happens to
//! outgoing webhooks. Switchable at start (command-line) and at run time
//! (the `/__sim/faults` control endpoint of each simulator).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The switchable faults. Every rate is a fraction in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of API calls answered with one of `error_statuses` instead of being served.
    pub error_rate: f64,
    /// Statuses to pick from (uniformly) for a failed call.
    pub error_statuses: Vec<u16>,
    /// Share of API calls whose response is held back for `delay_ms` after
    /// the call took effect: a client with a shorter timeout loses the response
    /// of a write that happened.
    pub delay_rate: f64,
    /// How long a delayed response is held back.
    pub delay_ms: u64,
    /// Share of webhook deliveries never sent.
    pub webhook_drop_rate: f64,
    /// Share of webhook deliveries sent twice.
    pub webhook_duplicate_rate: f64,
    /// Share of webhook deliveries held back and sent after the next one.
    pub webhook_reorder_rate: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_statuses: vec![429, 500, 502],
            delay_rate: 0.0,
            delay_ms: 3_000,
            webhook_drop_rate: 0.0,
            webhook_duplicate_rate: 0.0,
            webhook_reorder_rate: 0.0,
        }
    }
}

impl Faults {
    /// Checks that every rate is a fraction and that statuses are errors.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("error_rate", self.error_rate),
            ("delay_rate", self.delay_rate),
            ("webhook_drop_rate", self.webhook_drop_rate),
            ("webhook_duplicate_rate", self.webhook_duplicate_rate),
            ("webhook_reorder_rate", self.webhook_reorder_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) || rate.is_nan() {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        if self.error_rate > 0.0 && self.error_statuses.is_empty() {
            return Err("error_statuses must not be empty when error_rate > 0".into());
        }
        if let Some(s) = self
            .error_statuses
            .iter()
            .find(|s| !(400..=599).contains(*s))
        {
            return Err(format!("error_statuses must be 4xx or 5xx, got {s}"));
        }
        Ok(())
    }
}

/// What the fault model decided for one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFault {
    /// Answer with this status without serving the call.
    Fail(u16),
    /// Serve the call, then hold the response back this long.
    Delay(Duration),
}

/// What the fault model decided for one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFault {
    None,
    Drop,
    Duplicate,
    Reorder,
}

/// The shared, run-time switchable fault state of one simulator.
#[derive(Clone)]
pub struct FaultSwitch {
    inner: Arc<Mutex<(Faults, StdRng)>>,
}

impl Default for FaultSwitch {
    fn default() -> Self {
        Self::new(Faults::default())
    }
}

impl FaultSwitch {
    pub fn new(faults: Faults) -> Self {
        Self {
            inner: Arc::new(Mutex::new((faults, StdRng::from_entropy()))),
        }
    }

    /// Like [`FaultSwitch::new`] with a fixed random seed, for repeatable tests.
    pub fn with_seed(faults: Faults, seed: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new((faults, StdRng::seed_from_u64(seed)))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Faults, StdRng)> {
        // A poisoned lock only means a panic elsewhere; the data is plain values.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self) -> Faults {
        self.lock().0.clone()
    }

    pub fn set(&self, faults: Faults) -> Result<(), String> {
        faults.validate()?;
        self.lock().0 = faults;
        Ok(())
    }

    /// Decides the fate of one API call.
    pub fn call_fault(&self) -> Option<CallFault> {
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        if faults.error_rate > 0.0 && rng.gen_bool(faults.error_rate) {
            let i = rng.gen_range(0..faults.error_statuses.len());
            return Some(CallFault::Fail(faults.error_statuses[i]));
        }
        if faults.delay_rate > 0.0 && rng.gen_bool(faults.delay_rate) {
            return Some(CallFault::Delay(Duration::from_millis(faults.delay_ms)));
        }
        None
    }

    /// Decides the fate of one webhook delivery.
    pub fn delivery_fault(&self) -> DeliveryFault {
        let mut guard = self.lock();
        let (faults, rng) = &mut *guard;
        let roll: f64 = rng.r#gen();
        let mut edge = faults.webhook_drop_rate;
        if roll < edge {
            return DeliveryFault::Drop;
        }
        edge += faults.webhook_duplicate_rate;
        if roll < edge {
            return DeliveryFault::Duplicate;
        }
        edge += faults.webhook_reorder_rate;
        if roll < edge {
            return DeliveryFault::Reorder;
        }
        DeliveryFault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_faults_by_default() {
        let s = FaultSwitch::default();
        for _ in 0..1000 {
            assert_eq!(s.call_fault(), None);
            assert_eq!(s.delivery_fault(), DeliveryFault::None);
        }
    }

    #[test]
    fn error_rate_is_roughly_honoured() {
        let s = FaultSwitch::with_seed(
            Faults {
                error_rate: 0.2,
                ..Faults::default()
            },
            7,
        );
        let failed = (0..10_000).filter(|_| s.call_fault().is_some()).count();
        assert!((1_700..2_300).contains(&failed), "failed {failed}");
    }

    #[test]
    fn full_rates_always_fire() {
        let s = FaultSwitch::new(Faults {
            error_rate: 1.0,
            error_statuses: vec![502],
            webhook_drop_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(s.call_fault(), Some(CallFault::Fail(502)));
        assert_eq!(s.delivery_fault(), DeliveryFault::Drop);
    }

    #[test]
    fn invalid_faults_are_refused() {
        let s = FaultSwitch::default();
        let bad = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(s.set(bad).unwrap_err().contains("error_rate"));
        let bad = Faults {
            error_statuses: vec![200],
            ..Faults::default()
        };
        assert!(s.set(bad).is_err());
        assert_eq!(s.get(), Faults::default());
    }
}
