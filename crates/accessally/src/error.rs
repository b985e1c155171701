//! The client's error: a failed HTTP exchange (with status, the site's WP
//! error code and message, request id and retryability from `transport`),
//! data the contract does not allow, or a configuration mistake. Carries no
//! credentials.

use std::time::Duration;

use transport::{HttpError, Retryable};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("AccessAlly answered data the contract does not allow: {0}")]
    InvalidData(String),
    #[error("invalid AccessAlly client configuration: {0}")]
    Config(String),
}

impl Error {
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http(e) => e.status,
            _ => None,
        }
    }

    /// The WordPress error code, e.g. `rest_invalid_param`.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Http(e) => e.code.as_deref(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

impl Retryable for Error {
    fn is_retryable(&self) -> bool {
        matches!(self, Error::Http(e) if e.is_retryable())
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http(e) => e.retry_after,
            _ => None,
        }
    }
}
