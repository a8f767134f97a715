//! pinpipe's laptop tooling, kept out of the library the functions link (ARCHITECTURE.md,
//! invariant 5): what stands in for AWS when the pipeline runs on a laptop.
//!
//! - [`kinesis`]: the `KinesisEvent` JSON Lambda sends, and the local event-source runner that
//!   polls shards as a Kinesis event source mapping does (`pinpipe consume-kinesis`).
//! - [`kafka`]: the MSK `KafkaEvent` JSON, and the local event-source runner that consumes topics
//!   as an MSK trigger does (`pinpipe consume-kafka`).
//! - [`invoke`]: what both runners feed (a handler in process, or over HTTP).
//! - [`memory`]: topics and streams held in the process (`pinpipe demo`), behind the library's
//!   sink traits.
//! - [`report`]: the demo's HTML report and terminal summary of the insights, pure.

pub mod invoke;
pub mod kafka;
pub mod kinesis;
pub mod memory;
pub mod report;

pub use invoke::Invoke;
pub use memory::{MemoryLog, MemoryRecord};
