//! allybridge's canonical model: money as integer minor units with an ISO
//! currency (exact decimal conversion, never floats), the two systems, the five
//! sync flows and their modes, and the compact set of ids a paged read has seen. Pure
//! values; no I/O, no knowledge of either system's wire format beyond
//! decimal text.

pub mod flow;
pub mod money;
pub mod seen;
pub mod system;

pub use flow::{Flow, FlowMode};
pub use money::{Currency, Money, MoneyError, Percent};
pub use seen::SeenIds;
pub use system::{System, UnknownSystem};
