//! Cold start: read the environment once, open the warehouse, serve invocations.

use kinesis_consumer::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::StreamConsumerConfig;

// glibc's allocator, not the daily function's mimalloc: an event's buffers go back to the kernel,
// which halves Max Memory Used per 10,000-record event for ~15% more time (BENCHMARKS.md).
#[tokio::main]
async fn main() -> Result<(), Error> {
    pinpipe::logs::init_json(
        pinpipe::config::env("RUST_LOG").as_deref(),
        "kinesis_consumer",
    );
    let config = StreamConsumerConfig::from_env()?;
    let state = State::new(&config)?;
    lambda_runtime::run(service_fn(|event| handle(&state, event))).await
}
