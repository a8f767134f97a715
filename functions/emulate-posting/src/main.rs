//! Cold start: read the environment once, the API key's secret or the signing credentials once,
//! then serve invocations.

use emulate_posting::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::EmulateConfig;

/// mimalloc: freed buffers are reused, not handed back to the kernel and page-faulted in
/// again (the daily clean's per-chunk buffers: see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pinpipe::logs::init_json(
        pinpipe::config::env("RUST_LOG").as_deref(),
        "emulate_posting",
    );
    let state = State::start(EmulateConfig::from_env()?).await?;
    lambda_runtime::run(service_fn(|event| handle(&state, event))).await
}
