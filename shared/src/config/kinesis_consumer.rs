//! The `kinesis-consumer` function's settings.

use super::{AwsConfig, env, warehouse};
use crate::Result;
use crate::metrics::Emf;
use crate::routes::StreamRoutes;

/// The `kinesis-consumer` function's settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConsumerConfig {
    /// `PINPIPE_WAREHOUSE`: the lake's root, `s3://bucket/prefix` or a local path. Required.
    pub warehouse: String,
    /// `PINPIPE_STREAM_TABLES`: `stream=table` pairs for streams not named `streaming-<prefix>-<table>`.
    pub routes: StreamRoutes,
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics the function prints
    /// (default `pinpipe`); a local run sets [`Emf::Off`].
    pub metrics: Emf,
    pub aws: AwsConfig,
}

impl StreamConsumerConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(StreamConsumerConfig {
            warehouse: warehouse(&get)?,
            routes: StreamRoutes::parse(&get("PINPIPE_STREAM_TABLES").unwrap_or_default())?,
            metrics: Emf::stdout(
                get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            ),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::Table;

    #[test]
    fn the_stream_consumer_needs_a_warehouse_and_reads_its_routes() {
        let mut env: HashMap<&str, &str> = [("PINPIPE_STREAM_TABLES", "clicks=pin")].into();
        let missing =
            StreamConsumerConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(
            missing.to_string().contains("PINPIPE_WAREHOUSE"),
            "{missing}"
        );
        env.insert("PINPIPE_WAREHOUSE", "s3://lake/p");
        let config =
            StreamConsumerConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(config.warehouse, "s3://lake/p");
        assert_eq!(config.routes.table_for("clicks"), Some(Table::Pin));
        assert_eq!(config.metrics, Emf::stdout("pinpipe"));
    }
}
