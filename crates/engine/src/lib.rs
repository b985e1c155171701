//! The sync engine: every change, whether from a webhook, a poll or a
//! reconciliation, travels one path — intake, inbox, job, flow handler,
//! target — as `../shared/DESIGN.md` describes. Handlers fetch records fresh
//! from the source, map them to the canonical model, compare content hashes
//! with the link (no change: no call; our own write coming back: no call),
//! write idempotently through natural keys, and report what they did or,
//! in observe mode and dry runs, what they would do.
//!
//! The engine owns no HTTP server and no CLI: the daemon and the binary
//! drive it.

pub mod canonical;
pub mod changes;
pub mod error;
pub mod flows;
pub mod housekeeping;
pub mod intake;
pub mod metrics;
pub mod plan;
pub mod scan;
pub mod tenant;
pub mod worker;

pub use error::EngineError;
pub use plan::{Action, Plan, PlanEntry};
pub use tenant::{ConflictPolicy, ModeOverrides, Tenant, TenantSettings};
pub use worker::{Engine, EngineOptions, Stats};
