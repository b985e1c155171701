//! Machinery shared by the two simulators (HighLevel and AccessAlly): the
//! switchable fault model, the request log that tests read as ground truth,
//! outgoing webhook delivery with each system's retry policy, and server
//! start-up on a chosen or free port.
//!
//! This crate belongs to the simulators alone: it must never depend on any
//! product crate (`model`, the clients, the engine), so that a simulator can
//! never agree with the product merely because both share a wrong type.

pub mod faults;
pub mod ids;
pub mod request_log;
pub mod server;
pub mod webhooks;

pub use faults::{CallFault, DeliveryFault, FaultSwitch, Faults};
pub use request_log::{LoggedRequest, RequestLog, RequestLogSummary};
pub use server::{RunningSim, Seed, bind, serve};
pub use webhooks::{Delivery, DeliveryRecord, Dispatcher, RetryPolicy};
