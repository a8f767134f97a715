//! Kinesis on a laptop: the Lambda `KinesisEvent` wire format, and a local event-source runner that
//! polls shards the way Lambda's event source mapping does.

mod event;
mod runner;

use std::future::Future;
use std::pin::Pin;

use pinpipe::Result;
use pinpipe::lake::Warehouse;

pub use event::{EventRecord, kinesis_event};
pub use runner::{
    Invoke, OnFailure, RunSummary, Runner, RunnerOptions, ShardCheckpoints, ShardSummary,
    StartingPosition,
};

/// A warehouse root (a bucket, or a local directory) as a stream mapping's on-failure destination:
/// the local Kinesis runner writes discarded batches into it.
impl OnFailure for Warehouse {
    fn put<'a>(
        &'a self,
        key: String,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move { self.put_file(&key, body).await })
    }
}
