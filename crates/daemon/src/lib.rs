//! allybridge's daemon as a library: everything `allybridge serve` runs
//! on, built from the configuration in one place, so that `serve`, the
//! verbs that sync, `demo` (through the sandbox) and the tests all take the
//! same path. It owns opening the configured store ([`store_setup`]), a
//! tenant's credentials in the store ([`credentials`]), building each
//! tenant's clients, modes and settings ([`tenants`]), the engine a
//! configuration describes ([`wiring`]), the AccessAlly webhook
//! subscription made at start-up ([`subscriptions`]), the background-task
//! driver every periodic piece runs on ([`background`]), the alert watch
//! ([`alert_watch`]) and the running daemon itself ([`serve`]). The
//! command-line crate parses arguments and prints; it builds none of this.

pub mod alert_watch;
pub mod background;
pub mod credentials;
mod error;
pub mod serve;
pub mod store_setup;
pub mod subscriptions;
pub mod tenants;
pub mod wiring;

pub use background::{Activity, Background, TaskStatus, Trigger};
pub use error::DaemonError;
pub use serve::{Daemon, KEEP_HISTORY, Poll, Poller, ServeOptions};
pub use store_setup::open_store;
pub use tenants::{ClientTuning, TenantGhl, TenantLoad, build_tenant};
pub use wiring::{Loaded, build_engine};
