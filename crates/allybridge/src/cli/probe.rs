//! Trying a HighLevel connection without writing: one read per scope (a
//! scope is granted when the read is answered with anything but a scope
//! refusal), how a failed call is read (unreachable, credentials refused,
//! scope missing), and the short timeouts and retries such a try uses.
//! `check` probes every scope the enabled flows need; `connect ghl --token`
//! tries a token with one read before storing it.

use std::collections::BTreeSet;
use std::time::Duration;

use ghl::{GhlClient, GhlError};

use daemon::ClientTuning;

/// Short timeouts and few retries: a try answers quickly.
pub fn tuning() -> ClientTuning {
    ClientTuning {
        request_timeout: Duration::from_secs(15),
        retry: transport::RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            max_server_wait: Duration::from_secs(2),
        },
        ..ClientTuning::default()
    }
}

/// How a failed HighLevel call is read.
pub enum Failure {
    Unreachable(String),
    Unauthenticated(String),
    MissingScope,
    Other,
}

pub fn classify(e: &GhlError) -> Failure {
    match e {
        GhlError::MissingScope { .. } => Failure::MissingScope,
        GhlError::Http { source, .. } => match source.status {
            None => Failure::Unreachable(source.message.clone()),
            Some(401) if source.message.to_lowercase().contains("scope") => Failure::MissingScope,
            Some(401) | Some(403) => Failure::Unauthenticated(source.message.clone()),
            Some(_) => Failure::Other,
        },
        GhlError::NotConnected(_) | GhlError::RefreshRejected { .. } => {
            Failure::Unauthenticated(e.to_string())
        }
        _ => Failure::Other,
    }
}

/// Reads with `client` whether `scope` is granted: `Ok(true)` granted,
/// `Ok(false)` refused for the scope, `Err` for a call that shows nothing
/// about the scope (unreachable, credentials refused). A scope no read can
/// show counts as granted.
pub async fn scope_granted(client: &GhlClient, scope: &str) -> Result<bool, Failure> {
    let Some(op) = ghl::probe_for(scope) else {
        return Ok(true);
    };
    match client.probe(op).await {
        Ok(_) => Ok(true),
        Err(e) => match classify(&e) {
            Failure::MissingScope => Ok(false),
            // A 404 for the probe record, a 400 … : the scope was accepted.
            Failure::Other => Ok(true),
            failure => Err(failure),
        },
    }
}

/// The scopes of `needed` a read can show, with `products.readonly` (every
/// tenant's first read) first.
pub fn readable(needed: &BTreeSet<&str>) -> Vec<String> {
    let mut out = vec!["products.readonly".to_string()];
    out.extend(
        needed
            .iter()
            .filter(|s| **s != "products.readonly" && ghl::probe_for(s).is_some())
            .map(|s| s.to_string()),
    );
    out
}
