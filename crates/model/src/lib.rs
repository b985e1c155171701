//! allybridge's canonical model: money as integer minor units with an ISO
//! currency (exact decimal conversion, never floats), the five sync flows
//! and their modes. Pure values; no I/O, no knowledge of either system's
//! wire format beyond decimal text.

pub mod flow;
pub mod money;

pub use flow::{Flow, FlowMode};
pub use money::{Currency, Money, MoneyError, Percent};
