//! Kafka on a laptop: the MSK `KafkaEvent` wire format, and a local event-source runner that
//! consumes topics from a Kafka-protocol broker the way Lambda's MSK trigger does.

mod event;
mod runner;

pub use event::{EventRecord, kafka_event};
pub use runner::{KafkaRunSummary, KafkaRunner, KafkaRunnerOptions, PartitionSummary};
