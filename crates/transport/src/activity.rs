//! Who hears about each call a client makes: the API clients report every
//! answered or failed attempt (method, path without its query, status,
//! latency, rate-limit headroom) to the [`CallObserver`] in their
//! [`crate::HttpConfig`], if any. Never a body, a query string, a header or
//! a secret: what an observer gets is safe to store and to show. The
//! observer must not block (it runs on the caller's task): the daemon's
//! queues the record and writes it to the API activity log elsewhere.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One attempt of one API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `highlevel` or `accessally`.
    pub system: &'static str,
    /// The HighLevel location the call drew on, if any.
    pub location: Option<String>,
    pub method: String,
    /// The path, without a query string.
    pub path: String,
    /// `None` when no answer arrived (timeout, connection error).
    pub status: Option<u16>,
    pub latency: Duration,
    /// The rate-limit headroom the answer reported, if any.
    pub rate_remaining: Option<i64>,
}

impl CallRecord {
    /// `path` with any query string cut off.
    pub fn path_only(path: &str) -> String {
        path.split(['?', '#']).next().unwrap_or("").to_string()
    }
}

/// Receives a record of every call attempt; must return at once.
pub trait CallObserver: Send + Sync {
    fn observe(&self, call: CallRecord);
}

/// Several observers, each told of every call (the daemon's API activity
/// log and its metrics).
pub struct Fanout(pub Vec<Arc<dyn CallObserver>>);

impl CallObserver for Fanout {
    fn observe(&self, call: CallRecord) {
        for observer in &self.0 {
            observer.observe(call.clone());
        }
    }
}

/// The observer a client reports to, if any (compared by identity).
#[derive(Clone, Default)]
pub struct Observer(Option<Arc<dyn CallObserver>>);

impl Observer {
    pub fn new(observer: Arc<dyn CallObserver>) -> Self {
        Self(Some(observer))
    }

    /// Reports `call` (built only when someone listens).
    pub fn report(&self, call: impl FnOnce() -> CallRecord) {
        if let Some(observer) = &self.0 {
            observer.observe(call());
        }
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observer(set)"
        } else {
            "Observer(none)"
        })
    }
}

impl PartialEq for Observer {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Observer {}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<CallRecord>>);

    impl CallObserver for Collect {
        fn observe(&self, call: CallRecord) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        }
    }

    fn call() -> CallRecord {
        CallRecord {
            system: "highlevel",
            location: None,
            method: "GET".into(),
            path: CallRecord::path_only("/products/p1?locationId=l1&token=x"),
            status: Some(200),
            latency: Duration::from_millis(3),
            rate_remaining: Some(99),
        }
    }

    #[test]
    fn an_observer_gets_each_report_and_none_is_built_without_one() {
        let collect = Arc::new(Collect::default());
        let observer = Observer::new(collect.clone());
        observer.report(call);
        observer.report(call);
        let seen = collect.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].path, "/products/p1");

        let mut built = false;
        Observer::default().report(|| {
            built = true;
            call()
        });
        assert!(!built, "a record was built for nobody");
        assert_eq!(Observer::default(), Observer::default());
        assert_ne!(observer, Observer::default());
    }

    #[test]
    fn a_fanout_tells_each_of_its_observers() {
        let (a, b) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
        let fanout = Observer::new(Arc::new(Fanout(vec![a.clone(), b.clone()])));
        fanout.report(call);
        for seen in [&a, &b] {
            assert_eq!(seen.0.lock().unwrap_or_else(|e| e.into_inner()).len(), 1);
        }
    }
}
