//! The engine's error: what failed, in which system, and whether trying the
//! job again may help. Permanent errors dead-letter the job with this text.

use transport::Retryable;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    HighLevel(#[from] ghl::GhlError),
    #[error("AccessAlly: {0}")]
    AccessAlly(#[from] accessally::Error),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// A precondition another job will satisfy (e.g. a product not linked yet).
    #[error("waiting: {0}")]
    Waiting(String),
    /// The record cannot be synced as it is; an operator must look.
    #[error("{0}")]
    Permanent(String),
}

impl EngineError {
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::HighLevel(e) => e.is_retryable(),
            EngineError::AccessAlly(e) => accessally_retryable(e),
            EngineError::Store(e) => e.is_retryable(),
            EngineError::Waiting(_) => true,
            EngineError::Permanent(_) => false,
        }
    }
}

fn accessally_retryable(e: &accessally::Error) -> bool {
    match e {
        accessally::Error::Http(h) => h.is_retryable(),
        _ => false,
    }
}
