//! Cold start: read the environment once, open the warehouse, serve invocations.

use daily_analytics::{State, handle};
use lambda_runtime::{Error, service_fn};
use pinpipe::config::DailyConfig;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pinpipe::logs::init_json(
        pinpipe::config::env("RUST_LOG").as_deref(),
        "daily_analytics",
    );
    let config = DailyConfig::from_env()?;
    let state = State::new(&config)?;
    lambda_runtime::run(service_fn(|event| handle(&state, event))).await
}
