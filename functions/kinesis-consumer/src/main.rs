//! Cold start: read the environment once, open the warehouse, serve invocations.

use kinesis_consumer::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::StreamConsumerConfig;

/// mimalloc: freed buffers are reused, not handed back to the kernel and page-faulted in
/// again (the daily clean's per-chunk buffers: see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
