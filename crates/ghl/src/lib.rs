//! The typed HighLevel API v2 client everything in allybridge goes through:
//! OAuth 2.0 and private integration tokens at least privilege, single-flight
//! refresh of rotating refresh tokens, one rate budget per location shared by
//! every caller with live work first, retries with back-off, pagination for
//! each envelope style, bulk product writes under HighLevel's caps, and
//! verification of HighLevel's signed webhooks.
//!
//! It must not log or print a token, a client secret or an Authorization
//! header, and it knows nothing of AccessAlly or of the sync engine.

pub mod auth;
pub mod budget;
pub mod bulk;
pub mod client;
pub mod error;
pub mod events;
pub mod operations;
pub mod types;
pub mod webhook;

pub use auth::{Auth, MemoryTokenStore, OAuthApp, TokenManager, TokenPair, TokenStore};
pub use budget::{BudgetConfig, BudgetSnapshot, Priority, RateBudget, with_priority};
pub use bulk::BULK_EDIT_MAX_ENTITIES;
pub use client::{GhlClient, GhlConfig, UnlistedOperation};
pub use error::GhlError;
pub use operations::{Operation, operations_for, probe_for, required_scopes, scopes_to_write};
