//! Cold start: read the environment once, connect the producers, serve invocations.

use ingest_api::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::IngestConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,pinpipe=info,ingest_api=info".into()),
        )
        .with_target(false)
        .with_current_span(false)
        .init();
    let config = IngestConfig::from_env()?;
    let state = State::new(&config).await?;
    lambda_runtime::run(service_fn(|event| handle(&state, event))).await
}
