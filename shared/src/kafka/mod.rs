//! Kafka on the edge of the batch path: the MSK `KafkaEvent` wire format, and a local event-source
//! runner that consumes topics from a Kafka-protocol broker the way Lambda's MSK trigger does; with
//! feature `msk`, the brokers of an MSK cluster and its auth modes ([`msk`]).

mod event;
#[cfg(feature = "msk")]
pub mod msk;
mod runner;

pub use event::{EventRecord, kafka_event};
pub use runner::{KafkaRunSummary, KafkaRunner, KafkaRunnerOptions, PartitionSummary};
