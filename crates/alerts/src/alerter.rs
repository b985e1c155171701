//! The alerter: turns a rule firing into at most one message per incident
//! per cool-down (asking the ledger), a cleared rule into one resolve
//! message, and delivers each message to every sink with retries and
//! back-off. A sink that still fails is logged (sink name and error only)
//! and reported in the outcome; it never fails the caller's work. Every
//! text is scrubbed of the secrets it knows before it leaves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use transport::{Retrier, RetryPolicy};

use crate::ledger::{IncidentLedger, LedgerError};
use crate::message::Message;
use crate::rules::AlertKind;
use crate::sink::{EmailSink, Sink, SinkError, WebhookSink};

/// Why alerting could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot read the secret for `{key}`: {source}")]
    Secret {
        key: &'static str,
        #[source]
        source: config::SecretError,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What happened to one message at one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sink: String,
    pub attempts: u32,
    /// `None` when delivered; the last error otherwise.
    pub error: Option<String>,
}

/// What `raise` or `clear` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The message went out (see each sink's delivery).
    Sent(Vec<Delivery>),
    /// Already announced within the cool-down: nothing sent.
    CoolingDown,
    /// `clear` of an incident that was not open: nothing sent.
    NotOpen,
}

impl Outcome {
    /// Whether at least one sink received the message.
    pub fn delivered(&self) -> bool {
        matches!(self, Outcome::Sent(d) if d.iter().any(|d| d.error.is_none()))
    }
}

/// Sends alerts once per incident, with a cool-down and resolve messages.
pub struct Alerter {
    sinks: Vec<Arc<dyn Sink>>,
    ledger: Arc<dyn IncidentLedger>,
    cooldown: Duration,
    retrier: Retrier,
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .field("cooldown", &self.cooldown)
            .finish_non_exhaustive()
    }
}

/// Sink retries by default: 4 attempts, back-off from 500 ms up to 10 s.
pub fn default_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(10),
        max_server_wait: Duration::from_secs(30),
    }
}

impl Alerter {
    pub fn new(ledger: Arc<dyn IncidentLedger>, cooldown: Duration) -> Self {
        Self {
            sinks: Vec::new(),
            ledger,
            cooldown,
            retrier: Retrier::new(default_retry_policy()),
            secrets: Vec::new(),
        }
    }

    /// The alerter `[alerts]` describes: its sinks with their secrets
    /// resolved, its cool-down, and every secret the configuration
    /// references (that resolves) kept for scrubbing messages.
    pub fn from_config(
        config: &config::Config,
        ledger: Arc<dyn IncidentLedger>,
    ) -> Result<Self, AlertError> {
        let alerts = &config.alerts;
        let mut alerter = Self::new(ledger, alerts.cooldown.get());
        if let Some(reference) = &alerts.webhook_url {
            let url = config
                .secret(reference)
                .map_err(|source| AlertError::Secret {
                    key: "alerts.webhook_url",
                    source,
                })?;
            alerter = alerter.with_sink(Arc::new(WebhookSink::new(url)?));
        }
        if let Some(smtp) = &alerts.smtp {
            let password = smtp
                .password
                .as_ref()
                .map(|r| config.secret(r))
                .transpose()
                .map_err(|source| AlertError::Secret {
                    key: "alerts.smtp.password",
                    source,
                })?;
            alerter = alerter.with_sink(Arc::new(EmailSink::new(smtp, password)?));
        }
        let known: Vec<SecretString> = config
            .secret_refs()
            .into_iter()
            .filter_map(|r| config.secret(r).ok())
            .collect();
        Ok(alerter.with_secrets(known))
    }

    pub fn with_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    pub fn with_retry(mut self, retrier: Retrier) -> Self {
        self.retrier = retrier;
        self
    }

    /// Adds secrets (e.g. stored credentials) that must never appear in a message.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = SecretString>) -> Self {
        self.secrets.extend(secrets);
        self
    }

    pub fn sink_names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| s.name()).collect()
    }

    /// `text` without any known secret or credential-looking token.
    pub fn scrub(&self, text: &str) -> String {
        let known: Vec<&str> = self.secrets.iter().map(|s| s.expose_secret()).collect();
        scrub_patterns(&transport::redact::redact_text(text, &known))
    }

    /// The rule `kind` holds: announce its incident unless announced within the cool-down.
    pub async fn raise(&self, kind: &AlertKind) -> Result<Outcome, AlertError> {
        let key = kind.incident_key();
        let message = Message::firing(kind, &|t| self.scrub(t));
        if !self
            .ledger
            .claim(&key, &message.title, self.cooldown)
            .await?
        {
            tracing::debug!(incident = %key, "alert suppressed: cooling down");
            return Ok(Outcome::CoolingDown);
        }
        Ok(Outcome::Sent(self.deliver(&message).await))
    }

    /// The rule `kind` no longer holds: send one resolve message if its incident was open.
    pub async fn clear(&self, kind: &AlertKind) -> Result<Outcome, AlertError> {
        let key = kind.incident_key();
        let message = Message::resolved(kind, &|t| self.scrub(t));
        if !self.ledger.resolve(&key, &message.title).await? {
            return Ok(Outcome::NotOpen);
        }
        Ok(Outcome::Sent(self.deliver(&message).await))
    }

    /// Sends `message` to every sink, each with retries; never fails.
    pub async fn deliver(&self, message: &Message) -> Vec<Delivery> {
        let mut deliveries = Vec::with_capacity(self.sinks.len());
        for sink in &self.sinks {
            let attempts = AtomicU32::new(0);
            let result = self
                .retrier
                .run(|attempt| {
                    attempts.store(attempt, Ordering::Relaxed);
                    sink.send(message)
                })
                .await;
            let attempts = attempts.load(Ordering::Relaxed);
            let error = match result {
                Ok(()) => {
                    tracing::info!(sink = sink.name(), incident = %message.incident_key, state = message.state.as_str(), attempts, "alert sent");
                    None
                }
                Err(e) => {
                    let shown = self.scrub(&e.to_string());
                    tracing::warn!(sink = sink.name(), incident = %message.incident_key, attempts, error = %shown, "alert not delivered");
                    Some(shown)
                }
            };
            deliveries.push(Delivery {
                sink: sink.name().to_string(),
                attempts,
                error,
            });
        }
        deliveries
    }
}

/// Masks credential-looking tokens: the word after `Bearer`/`Basic`,
/// `whsec_…` secrets, and values of `token=`, `secret=`, `password=`, `key=`.
fn scrub_patterns(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end();
        let space = &piece[word.len()..];
        let masked = if mask_next && !word.is_empty() {
            mask_next = false;
            transport::redact::MASK.to_string()
        } else if word.starts_with("whsec_") {
            transport::redact::MASK.to_string()
        } else if let Some((name, _)) = word.split_once('=').filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            ["token", "secret", "password", "key", "handshake"]
                .iter()
                .any(|w| lower.ends_with(w))
        }) {
            format!("{name}={}", transport::redact::MASK)
        } else {
            word.to_string()
        };
        if word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("basic") {
            mask_next = true;
        }
        out.push_str(&masked);
        out.push_str(space);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_looking_tokens_are_masked() {
        let text = "refresh failed: Authorization: Bearer abc.def and whsec_Zm9v at /x?access_token=tok123&y=1 password=hunter2";
        let out = scrub_patterns(text);
        for leaked in ["abc.def", "Zm9v", "tok123", "hunter2"] {
            assert!(!out.contains(leaked), "{leaked} in {out}");
        }
        assert!(out.starts_with("refresh failed: Authorization: Bearer [redacted] and"));
        assert_eq!(
            scrub_patterns("nothing secret here\n"),
            "nothing secret here\n"
        );
    }
}
