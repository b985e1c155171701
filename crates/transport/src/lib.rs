//! The HTTP layer the API clients (AccessAlly now, HighLevel next) share, so
//! that timeout, retry and secret rules are written once: a reqwest client
//! builder (rustls, timeouts, no redirects), a retry executor with
//! exponential back-off and full jitter that honours server-supplied waits,
//! a typed HTTP error that knows whether it is worth retrying, and redaction
//! helpers that keep credentials out of logs, errors and `Debug` output,
//! the hook through which a client reports each call it makes, and the
//! percent-encoding of a value as one URL path segment.
//!
//! It knows nothing about either remote system: no paths, no payload types,
//! no error-body formats beyond what a caller hands it.

pub mod activity;
pub mod client;
pub mod error;
pub mod path;
pub mod redact;
pub mod retry;

pub use activity::{CallObserver, CallRecord, Fanout, Observer};
pub use client::{HttpConfig, build_client};
pub use error::{HttpError, HttpErrorKind, parse_retry_after, request_id};
pub use path::{path_segment, query_value};
pub use redact::{Redacted, redact_headers, redact_url};
pub use retry::{AttemptGate, NoGate, Retrier, RetryPolicy, Retryable, Sleeper, TokioSleeper};
