//! The `msk-consumer` function's settings.

use super::{AwsConfig, env, warehouse};
use crate::Result;
use crate::metrics::Emf;
use crate::routes::TopicRoutes;

/// The `msk-consumer` function's settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MskConsumerConfig {
    /// `PINPIPE_WAREHOUSE`: the lake's root, `s3://bucket/prefix` or a local path. Required.
    pub warehouse: String,
    /// `PINPIPE_TOPIC_TABLES`: `topic=table` pairs for topics not named `<prefix>.<table>`.
    pub routes: TopicRoutes,
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics the function prints
    /// (default `pinpipe`); a local run sets [`Emf::Off`].
    pub metrics: Emf,
    pub aws: AwsConfig,
}

impl MskConsumerConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(MskConsumerConfig {
            warehouse: warehouse(&get)?,
            routes: TopicRoutes::parse(&get("PINPIPE_TOPIC_TABLES").unwrap_or_default())?,
            metrics: Emf::stdout(
                get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            ),
            aws: AwsConfig::from_lookup(get),
        })
    }
}
