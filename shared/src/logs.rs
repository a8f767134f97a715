//! The functions' logs (feature `lambda-logs`): JSON lines on stdout for CloudWatch, one per event,
//! without targets or spans. The caller reads `RUST_LOG` at cold start and passes it in.

/// Installs the JSON log subscriber. `rust_log` wins when set; otherwise warnings from everything,
/// info from pinpipe and from the function's own crate (`function_crate`, e.g. `msk_consumer`),
/// and nothing from delta-kernel (it logs a benign error while a table is first created).
pub fn init_json(rust_log: Option<&str>, function_crate: &str) {
    let default = format!("warn,buoyant_kernel=off,pinpipe=info,{function_crate}=info");
    let filter = rust_log
        .and_then(|directives| tracing_subscriber::EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .init();
}
