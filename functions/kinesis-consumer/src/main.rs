//! Cold start: read the environment once, open the warehouse, serve invocations.

use kinesis_consumer::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::StreamConsumerConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "warn,buoyant_kernel=off,pinpipe=info,kinesis_consumer=info".into()
            }),
        )
        .with_target(false)
        .with_current_span(false)
        .init();
    let config = StreamConsumerConfig::from_env()?;
    let state = State::new(&config, true)?;
    lambda_runtime::run(service_fn(|event| handle(&state, event))).await
}
