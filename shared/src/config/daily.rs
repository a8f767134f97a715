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
    /// Where the insights run once the batch tables outgrow the function: `None` (no
    /// `PINPIPE_ATHENA_WORKGROUP`) keeps them in the function whatever the size.
    pub athena: Option<AthenaConfig>,
    pub aws: AwsConfig,
}

/// The insights on Athena (engine v3): which workgroup and Glue database, and past which size of
/// the batch tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AthenaConfig {
    /// `PINPIPE_ATHENA_WORKGROUP`: the workgroup the queries run in (its result location and engine).
    pub workgroup: String,
    /// `PINPIPE_ATHENA_DATABASE`: the Glue database holding `batch_pin`, `batch_geo`, `batch_user`.
    /// Required with a workgroup.
    pub database: String,
    /// `PINPIPE_ATHENA_CATALOG`: the data catalog (default `AwsDataCatalog`).
    pub catalog: String,
    /// `PINPIPE_ATHENA_ABOVE_MB`: the insights go to Athena when the three batch tables together
    /// hold more than this many megabytes of Parquet (default 4096: BENCHMARKS.md, "The daily run
    /// at 100 million posts"); 0 sends them there always.
    pub above_mb: u64,
    /// `PINPIPE_ATHENA_TIMEOUT_SECONDS`: a query still queued or running this long after it was
    /// started is stopped and the run fails (default 300).
    pub timeout_seconds: u64,
    /// `PINPIPE_ATHENA_ATTEMPTS`: runs of a query whose failure Athena marks retryable (default 3).
    pub attempts: u32,
}

/// The catalog Athena reads Glue's databases through.
pub const DEFAULT_ATHENA_CATALOG: &str = "AwsDataCatalog";

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
            athena: match get("PINPIPE_ATHENA_WORKGROUP").filter(|w| !w.trim().is_empty()) {
                None => None,
                Some(workgroup) => Some(AthenaConfig {
                    workgroup: workgroup.trim().to_owned(),
                    database: get("PINPIPE_ATHENA_DATABASE")
                        .filter(|d| !d.trim().is_empty())
                        .ok_or_else(|| {
                            Error::config(
                                "PINPIPE_ATHENA_WORKGROUP is set but PINPIPE_ATHENA_DATABASE is not: \
                                 give the Glue database of the batch tables",
                            )
                        })?
                        .trim()
                        .to_owned(),
                    catalog: get("PINPIPE_ATHENA_CATALOG")
                        .unwrap_or_else(|| DEFAULT_ATHENA_CATALOG.into()),
                    above_mb: number("PINPIPE_ATHENA_ABOVE_MB", 4096)?,
                    timeout_seconds: number("PINPIPE_ATHENA_TIMEOUT_SECONDS", 300)?.max(1),
                    attempts: u32::try_from(number("PINPIPE_ATHENA_ATTEMPTS", 3)?)
                        .unwrap_or(u32::MAX)
                        .max(1),
                }),
            },
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

    #[test]
    fn the_insights_go_to_athena_only_with_a_workgroup_and_then_need_its_database() {
        let mut env: HashMap<&str, &str> = [("PINPIPE_WAREHOUSE", "s3://lake/w")].into();
        let read = |env: &HashMap<&str, &str>| {
            DailyConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()))
        };
        assert_eq!(read(&env).unwrap().athena, None);
        env.insert("PINPIPE_ATHENA_WORKGROUP", "pinpipe-dev");
        let missing = read(&env).unwrap_err().to_string();
        assert!(missing.contains("PINPIPE_ATHENA_DATABASE"), "{missing}");
        env.insert("PINPIPE_ATHENA_DATABASE", "pinpipe_dev");
        assert_eq!(
            read(&env).unwrap().athena,
            Some(AthenaConfig {
                workgroup: "pinpipe-dev".into(),
                database: "pinpipe_dev".into(),
                catalog: "AwsDataCatalog".into(),
                above_mb: 4096,
                timeout_seconds: 300,
                attempts: 3,
            })
        );
        env.insert("PINPIPE_ATHENA_ABOVE_MB", "0");
        env.insert("PINPIPE_ATHENA_TIMEOUT_SECONDS", "20");
        let athena = read(&env).unwrap().athena.unwrap();
        assert_eq!((athena.above_mb, athena.timeout_seconds), (0, 20));
    }
}
