//! Cold start: read the environment once, connect the producers, serve invocations (API requests,
//! and CloudFormation's at deploy time).

use ingest_api::{State, dispatch};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::IngestConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pinpipe::logs::init_json(std::env::var("RUST_LOG").ok().as_deref(), "ingest_api");
    let config = IngestConfig::from_env()?;
    let state = State::new(&config).await?;
    lambda_runtime::run(service_fn(|event| dispatch(&state, event))).await
}
