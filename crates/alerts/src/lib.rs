//! Alerts: the rules worth waking someone for (a job dead-lettered, a
//! connection failing authentication, drift found, the daily HighLevel
//! quota running low, webhooks rejected for their signatures), announced
//! once per incident with a cool-down and followed by a resolve message,
//! through sinks (a Slack-compatible webhook, e-mail over SMTP) that are
//! retried with back-off. It owns wording, de-duplication and delivery; it
//! does not decide when a condition holds (the engine and server call
//! [`Alerter::raise`] and [`Alerter::clear`]) and it must never put a
//! secret in a message, a log line or an error.

mod alerter;
mod ledger;
mod message;
mod rules;
mod sink;

pub use alerter::{AlertError, Alerter, Delivery, Outcome};
pub use ledger::{InMemoryLedger, IncidentLedger, LedgerError, StoreLedger};
pub use message::{Message, State};
pub use rules::{AlertKind, Severity, quota_below};
pub use sink::{EmailSink, Sink, SinkError, WebhookSink};
