//! The client's error: HighLevel's own answers (status, message, trace id,
//! retryability) carried in the shared [`transport::HttpError`], plus what
//! the client refuses before any request (a missing scope, no credentials,
//! a bulk edit over its cap)
//! and the alertable auth failures (a refresh token already used or revoked).
//! Messages never contain a token, a secret or a request body.

use std::time::Duration;

use transport::{HttpError, Retryable};

#[derive(Debug, thiserror::Error)]
pub enum GhlError {
    /// HighLevel answered with an error, or could not be reached.
    #[error("HighLevel {operation}: {source}")]
    Http {
        operation: &'static str,
        #[source]
        source: HttpError,
    },
    /// The call needs a scope the connection was not granted.
    #[error(
        "HighLevel {operation} needs the scope `{scope}`, which this connection was not granted; reconnect with it (`allybridge connect ghl`) or turn off the flow that needs it"
    )]
    MissingScope {
        operation: &'static str,
        scope: &'static str,
    },
    /// The refresh token was refused: already used, revoked, or the app uninstalled.
    #[error(
        "HighLevel refused the refresh token for location {location} ({reason}); the connection must be re-authorised with `allybridge connect ghl --oauth`"
    )]
    RefreshRejected { location: String, reason: String },
    /// No token is stored for the location.
    #[error("no HighLevel credentials are stored for location {0}; run `allybridge connect ghl`")]
    NotConnected(String),
    /// The token store failed.
    #[error("the token store failed: {0}")]
    TokenStore(String),
    /// An answer that does not have the documented shape.
    #[error("HighLevel {operation} answered something unexpected: {detail}")]
    Decode {
        operation: &'static str,
        detail: String,
    },
    /// The location's daily request quota is used up.
    #[error(
        "the daily HighLevel request quota of location {0} is used up; work resumes when it resets"
    )]
    QuotaExhausted(String),
    /// A list repeated a page it had already returned.
    #[error("HighLevel {0} returned the same page twice; stopped paging to avoid a loop")]
    PaginationLoop(&'static str),
    /// A bulk request larger than HighLevel takes, refused before sending.
    #[error(
        "HighLevel {operation} takes at most {max} entities per request (each product and each of its prices count); this one has {entities}: split it"
    )]
    BulkLimit {
        operation: &'static str,
        entities: usize,
        max: usize,
    },
    /// The caller passed something HighLevel would refuse.
    #[error("invalid input for HighLevel {operation}: {detail}")]
    Invalid {
        operation: &'static str,
        detail: String,
    },
}

impl GhlError {
    /// The HTTP status HighLevel answered, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            GhlError::Http { source, .. } => source.status,
            _ => None,
        }
    }

    /// Whether this is HighLevel's "not found" for the record asked for.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether an operator must act (re-authorise, grant a scope).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            GhlError::MissingScope { .. }
                | GhlError::RefreshRejected { .. }
                | GhlError::NotConnected(_)
        ) || matches!(self.status(), Some(401 | 403))
    }
}

impl Retryable for GhlError {
    fn is_retryable(&self) -> bool {
        match self {
            GhlError::Http { source, .. } => source.is_retryable(),
            GhlError::TokenStore(_) => true,
            _ => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            GhlError::Http { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}
