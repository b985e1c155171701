//! The typed HighLevel API v2 client everything in allybridge goes through:
//! OAuth 2.0 and private integration tokens at least privilege, single-flight
//! refresh of rotating refresh tokens, one rate budget per location shared by
//! every caller with live work first, retries with back-off, pagination for
//! each envelope style, and verification of HighLevel's signed webhooks.
//!
//! It must not log or print a token, a client secret or an Authorization
//! header, and it knows nothing of AccessAlly or of the sync engine.

pub mod webhook;
pub mod events;
