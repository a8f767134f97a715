//! The `emulate-posting` function's settings, and where its posts come from.

use super::{AwsConfig, env};
use crate::{Error, Result};

/// Where the emulator's posts come from (`--source`, `PINPIPE_SOURCE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// `embedded`: the synthetic generator.
    Embedded,
    /// `mysql://user:password@host:port/database` (or `mariadb://…`): the source database.
    Mysql(String),
    /// Any other value: a directory with `pin.jsonl`, `geo.jsonl`, `user.jsonl`.
    Dir(std::path::PathBuf),
}

impl SourceSpec {
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        if text.is_empty() || text == "embedded" {
            SourceSpec::Embedded
        } else if text.starts_with("mysql://") || text.starts_with("mariadb://") {
            SourceSpec::Mysql(text.replacen("mariadb://", "mysql://", 1))
        } else {
            SourceSpec::Dir(text.into())
        }
    }
}

/// The `emulate-posting` function's settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulateConfig {
    /// `PINPIPE_API_URL`: the ingest API's base URL (the API Gateway stage URL). Required.
    pub api_url: String,
    /// `PINPIPE_API_KEY`: the API Gateway API key, sent as `x-api-key`.
    pub api_key: Option<String>,
    /// `PINPIPE_API_KEY_SECRET_ID`: the API key from Secrets Manager instead (the SAM template's).
    pub api_key_secret_id: Option<String>,
    /// `PINPIPE_API_AUTH=iam`: sign requests with SigV4 (an API with IAM auth); else none/`api-key`.
    pub api_iam: bool,
    /// `PINPIPE_SOURCE`: `embedded` (default), `mysql://…` or a directory.
    pub source: SourceSpec,
    /// `PINPIPE_SOURCE_SECRET_ID`: an RDS secret in Secrets Manager with the database's user name
    /// and password (and host, port, dbname when it has them); with a `mysql://host/db` source.
    pub source_secret_id: Option<String>,
    /// `PINPIPE_PREFIX`: topics `<prefix>.<table>`, streams `streaming-<prefix>-<table>`
    /// (default the original's `12471ce1b695`).
    pub prefix: String,
    pub aws: AwsConfig,
}

/// The original's topic and stream prefix.
pub const DEFAULT_PREFIX: &str = "12471ce1b695";

impl EmulateConfig {
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let api_url = get("PINPIPE_API_URL").ok_or_else(|| {
            Error::config(
                "PINPIPE_API_URL is not set: give the ingest API's base URL (the stage URL)",
            )
        })?;
        let source = SourceSpec::parse(&get("PINPIPE_SOURCE").unwrap_or_default());
        let source_secret_id = get("PINPIPE_SOURCE_SECRET_ID");
        if source_secret_id.is_some() && !matches!(source, SourceSpec::Mysql(_)) {
            return Err(Error::config(
                "PINPIPE_SOURCE_SECRET_ID needs PINPIPE_SOURCE=mysql://host:port/database",
            ));
        }
        Ok(EmulateConfig {
            api_url,
            api_key: get("PINPIPE_API_KEY"),
            api_key_secret_id: get("PINPIPE_API_KEY_SECRET_ID"),
            api_iam: get("PINPIPE_API_AUTH").is_some_and(|v| v.eq_ignore_ascii_case("iam")),
            source,
            source_secret_id,
            prefix: get("PINPIPE_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into()),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_emulator_needs_an_api_and_reads_its_source_kind_from_the_value() {
        let config = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            EmulateConfig::from_lookup(|k| map.get(k).cloned())
        };
        assert!(config(&[]).is_err());
        let embedded = config(&[("PINPIPE_API_URL", "https://x")]).unwrap();
        assert_eq!(embedded.source, SourceSpec::Embedded);
        assert_eq!(embedded.prefix, DEFAULT_PREFIX);
        let db = config(&[
            ("PINPIPE_API_URL", "https://x"),
            ("PINPIPE_SOURCE", "mariadb://rds.example:3306/pinterest"),
            ("PINPIPE_SOURCE_SECRET_ID", "rds!db-1"),
        ])
        .unwrap();
        assert_eq!(
            db.source,
            SourceSpec::Mysql("mysql://rds.example:3306/pinterest".into())
        );
        assert_eq!(
            SourceSpec::parse("../shared/data/source-rows"),
            SourceSpec::Dir("../shared/data/source-rows".into())
        );
        assert!(
            config(&[
                ("PINPIPE_API_URL", "https://x"),
                ("PINPIPE_SOURCE_SECRET_ID", "s")
            ])
            .is_err()
        );
    }
}
