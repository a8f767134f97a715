//! The only place that reads the environment. Binaries read it once, at start, into these types:
//! [`env`] and [`AwsConfig`] here, each function's settings in its own file.

use std::collections::HashMap;

use crate::{Error, Result};

/// One environment variable, empty taken as unset: the only reader of the process environment
/// (clippy's `disallowed_methods` refuses `std::env::var` elsewhere; the failpoint is the one other).
#[allow(clippy::disallowed_methods)]
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

mod daily;
mod emulate;
mod ingest;
mod kinesis_consumer;
mod msk_consumer;

pub use daily::{AthenaConfig, DEFAULT_ATHENA_CATALOG, DEFAULT_CHUNK_MB, DailyConfig};
pub use emulate::{DEFAULT_PREFIX, EmulateConfig, SourceSpec};
pub use ingest::{IngestConfig, KafkaAuth, KafkaConnection};
pub use kinesis_consumer::StreamConsumerConfig;
pub use msk_consumer::MskConsumerConfig;

/// Where the lake lives and how to reach it: the standard AWS environment, so the same code talks to
/// S3 in production and to a local S3-compatible server in tests (`AWS_ENDPOINT_URL`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Kinesis's endpoint: `AWS_ENDPOINT_URL_KINESIS`, else `AWS_ENDPOINT_URL`.
    pub kinesis_endpoint_url: Option<String>,
    /// Secrets Manager's endpoint: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`.
    pub secretsmanager_endpoint_url: Option<String>,
    /// Athena's endpoint: `AWS_ENDPOINT_URL_ATHENA`, else `AWS_ENDPOINT_URL`.
    pub athena_endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Plain-HTTP endpoints (a local server); implied by an `http://` endpoint.
    pub allow_http: bool,
}

impl AwsConfig {
    /// Reads `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`),
    /// `AWS_ENDPOINT_URL_KINESIS` (or `AWS_ENDPOINT_URL`), `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
    /// `AWS_ENDPOINT_URL`), `AWS_ENDPOINT_URL_ATHENA` (or `AWS_ENDPOINT_URL`),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`.
    pub fn from_env() -> Self {
        Self::from_lookup(env)
    }

    /// The same, from any key → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let endpoint_url = get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL"));
        let allow_http = get("AWS_ALLOW_HTTP").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || endpoint_url
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
        AwsConfig {
            region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            endpoint_url,
            kinesis_endpoint_url: get("AWS_ENDPOINT_URL_KINESIS")
                .or_else(|| get("AWS_ENDPOINT_URL")),
            secretsmanager_endpoint_url: get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
                .or_else(|| get("AWS_ENDPOINT_URL")),
            athena_endpoint_url: get("AWS_ENDPOINT_URL_ATHENA").or_else(|| get("AWS_ENDPOINT_URL")),
            access_key_id: get("AWS_ACCESS_KEY_ID"),
            secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
            session_token: get("AWS_SESSION_TOKEN"),
            allow_http,
        }
    }

    /// Storage options for delta-rs / object_store. Never sets `AWS_S3_ALLOW_UNSAFE_RENAME` (it loses
    /// commits) or a locking provider: delta-rs commits with S3 conditional puts.
    pub fn storage_options(&self) -> HashMap<String, String> {
        let mut options = HashMap::new();
        let mut set = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                options.insert(k.to_owned(), v.clone());
            }
        };
        set("AWS_REGION", &self.region);
        set("AWS_ENDPOINT_URL", &self.endpoint_url);
        set("AWS_ACCESS_KEY_ID", &self.access_key_id);
        set("AWS_SECRET_ACCESS_KEY", &self.secret_access_key);
        set("AWS_SESSION_TOKEN", &self.session_token);
        if self.allow_http {
            options.insert("AWS_ALLOW_HTTP".to_owned(), "true".to_owned());
        }
        options
    }
}

/// `PINPIPE_WAREHOUSE`, which every function needs.
pub(crate) fn warehouse(get: &impl Fn(&str) -> Option<String>) -> Result<String> {
    get("PINPIPE_WAREHOUSE").ok_or_else(|| {
        Error::config(
            "PINPIPE_WAREHOUSE is not set: give the lake's root (s3://bucket/prefix or a path)",
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_local_http_endpoint_allows_http_and_never_unsafe_renames() {
        let env: HashMap<&str, &str> = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]
        .into();
        let config = AwsConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert!(config.allow_http);
        let options = config.storage_options();
        assert_eq!(options["AWS_REGION"], "us-east-1");
        assert_eq!(options["AWS_ALLOW_HTTP"], "true");
        assert!(
            !options
                .keys()
                .any(|k| k.contains("UNSAFE") || k.contains("LOCKING"))
        );
    }
}
