//! Kinesis on the edges of the stream path: the client, the Lambda `KinesisEvent` wire format, and
//! a local event-source runner that polls shards the way Lambda's event source mapping does.

mod client;
mod event;
mod runner;

pub use client::kinesis_client;
pub use event::{EventRecord, kinesis_event};
pub use runner::{
    Invoke, OnFailure, RunSummary, Runner, RunnerOptions, ShardCheckpoints, ShardSummary,
    StartingPosition,
};
