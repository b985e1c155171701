//! allybridge's daemon as a library. Today it owns the background-task
//! driver ([`background`]) every periodic piece of `allybridge serve` runs
//! on (pollers, reconciler, housekeeping, the token and alert watches);
//! building tenants from configuration still lives in the command-line
//! crate (`cli/context.rs`) and moves here next.

pub mod background;

pub use background::{Activity, Background, TaskStatus, Trigger};
