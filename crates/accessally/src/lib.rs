//! allybridge's AccessAlly side: the typed client of the AccessAlly Bridge
//! API (`docs/accessally-bridge-api.json`) and of AccessAlly's documented
//! `?aal_*` commands, and the verifier of the site's signed webhooks.
//!
//! It owns talking to one WordPress site; it must not hold sync rules, know
//! HighLevel, or share types with the simulator (its truth is the contract).
//! HTTP rules (timeouts, retries, redaction) come from the `transport` crate.

mod client;
mod error;
mod model;
pub mod money;
pub mod webhook;

pub use client::{AalCommand, AccessAllyClient, AccessAllyConfig, Identified, ListQuery, Page};
pub use error::Error;
pub use model::{
    AccessGrant, AccessGrantRequest, Availability, Buyer, Coupon, CouponInput, Discount,
    GrantOutcome, Interval, IntervalUnit, LineItem, Offering, OfferingInput, OfferingStatus, Order,
    OrderStatus, PaymentKind, PaymentOption, PaymentOptionInput, Topic, WebhookSubscription,
};
pub use money::{Currency, Money, MoneyError, Percent};
pub use secrecy::SecretString;
pub use webhook::{InMemorySeenIds, SeenIds, WebhookError, WebhookEvent, WebhookVerifier};
