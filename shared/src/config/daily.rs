//! The `daily-analytics` function's (and `pinpipe daily`'s) settings.

use super::{AwsConfig, env, warehouse};
use crate::metrics::Emf;
use crate::routes::TopicRoutes;
use crate::{Error, Result};

/// Raw megabytes the daily run cleans and commits at once, unless `PINPIPE_CHUNK_MB` says otherwise.
/// 32 MB keeps a 1M-post day under 512 MB of memory (BENCHMARKS.md); a larger chunk means fewer
/// commits.
pub const DEFAULT_CHUNK_MB: u64 = 32;

/// The `daily-analytics` function's (and `pinpipe daily`'s) settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DailyConfig {
    /// `PINPIPE_WAREHOUSE`: the lake's root, `s3://bucket/prefix` or a local path. Required.
    pub warehouse: String,
    /// `PINPIPE_TOPIC_TABLES`: `topic=table` pairs for raw topics not named `<prefix>.<table>`.
    pub routes: TopicRoutes,
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics the function prints
    /// (default `pinpipe`); a local run sets [`Emf::Off`].
    pub metrics: Emf,
    /// `PINPIPE_TIME_BUDGET_SECONDS`: no cleaning chunk and no table's maintenance starts later than this many
    /// seconds into the run (default 420: a run stays well inside Lambda's 15 minutes).
    pub budget_seconds: u64,
    /// `PINPIPE_CHUNK_MB`: raw megabytes cleaned and committed at once (default 32).
    pub chunk_mb: u64,
    pub aws: AwsConfig,
}

impl DailyConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let number = |key: &str, default: u64| -> Result<u64> {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| Error::config(format!("{key}={v:?} is not a whole number"))),
            }
        };
        Ok(DailyConfig {
            warehouse: warehouse(&get)?,
            routes: TopicRoutes::parse(&get("PINPIPE_TOPIC_TABLES").unwrap_or_default())?,
            metrics: Emf::stdout(
                get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            ),
            budget_seconds: number("PINPIPE_TIME_BUDGET_SECONDS", 420)?,
            chunk_mb: number("PINPIPE_CHUNK_MB", DEFAULT_CHUNK_MB)?.max(1),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_daily_run_reads_its_budget_and_chunk_size_or_defaults() {
        let mut env: HashMap<&str, &str> = [("PINPIPE_WAREHOUSE", "/tmp/lake")].into();
        let config = DailyConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!((config.budget_seconds, config.chunk_mb), (420, 32));
        env.insert("PINPIPE_TIME_BUDGET_SECONDS", "60");
        env.insert("PINPIPE_CHUNK_MB", "8");
        let config = DailyConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!((config.budget_seconds, config.chunk_mb), (60, 8));
        env.insert("PINPIPE_CHUNK_MB", "lots");
        let bad = DailyConfig::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_err();
        assert!(bad.to_string().contains("PINPIPE_CHUNK_MB"), "{bad}");
    }
}
