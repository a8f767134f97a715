//! Cold start: read the environment once, then serve invocations (API requests, and
//! CloudFormation's at deploy time), connecting the producers at the first.

use ingest_api::serve;
use lambda_runtime::{Error, service_fn};
use pinpipe::config::IngestConfig;

/// mimalloc: freed buffers are reused, not handed back to the kernel and page-faulted in
/// again (the daily clean's per-chunk buffers: see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pinpipe::logs::init_json(pinpipe::config::env("RUST_LOG").as_deref(), "ingest_api");
    let config = IngestConfig::from_env()?;
    // the producers are connected by the first invocation (`serve`): a start that fails is tried
    // again by the next, and CloudFormation's request still gets its answer
    let state = tokio::sync::OnceCell::new();
    lambda_runtime::run(service_fn(|event| serve(&config, &state, event))).await
}
