//! The only place that reads the environment. Binaries read it once, at start, into these types.

use std::collections::HashMap;

use crate::routes::{StreamNames, StreamRoutes, TopicRoutes};
use crate::{Error, Result};

/// One environment variable, empty taken as unset: the only reader of the process environment
/// (clippy's `disallowed_methods` refuses `std::env::var` elsewhere; the failpoint is the one other).
#[allow(clippy::disallowed_methods)]
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

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
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Plain-HTTP endpoints (a local server); implied by an `http://` endpoint.
    pub allow_http: bool,
}

impl AwsConfig {
    /// Reads `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`),
    /// `AWS_ENDPOINT_URL_KINESIS` (or `AWS_ENDPOINT_URL`), `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
    /// `AWS_ENDPOINT_URL`),
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

/// The `kinesis-consumer` function's settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConsumerConfig {
    /// `PINPIPE_WAREHOUSE`: the lake's root, `s3://bucket/prefix` or a local path. Required.
    pub warehouse: String,
    /// `PINPIPE_STREAM_TABLES`: `stream=table` pairs for streams not named `streaming-<prefix>-<table>`.
    pub routes: StreamRoutes,
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics (default `pinpipe`).
    pub metrics_namespace: String,
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
            metrics_namespace: get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

/// The `msk-consumer` function's settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MskConsumerConfig {
    /// `PINPIPE_WAREHOUSE`: the lake's root, `s3://bucket/prefix` or a local path. Required.
    pub warehouse: String,
    /// `PINPIPE_TOPIC_TABLES`: `topic=table` pairs for topics not named `<prefix>.<table>`.
    pub routes: TopicRoutes,
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics (default `pinpipe`).
    pub metrics_namespace: String,
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
            metrics_namespace: get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

/// How the producers authenticate to Kafka (`PINPIPE_KAFKA_AUTH`), as MSK offers it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KafkaAuth {
    /// `plaintext` (default): no TLS, no authentication.
    #[default]
    Plaintext,
    /// `tls`: TLS; with `PINPIPE_KAFKA_SECRET_ID`, mutual TLS with the client certificate that
    /// secret holds (`{"certificate", "privateKey", "privateKeyPassword"?}`, the shape Lambda's
    /// `CLIENT_CERTIFICATE_TLS_AUTH` reads).
    Tls,
    /// `sasl-scram`: SASL/SCRAM-SHA-512 over TLS (MSK's SCRAM); the user name and password from
    /// `PINPIPE_KAFKA_USERNAME` / `PINPIPE_KAFKA_PASSWORD` or the secret `PINPIPE_KAFKA_SECRET_ID`.
    SaslScram,
    /// `iam`: MSK IAM access control — SASL/OAUTHBEARER over TLS with a SigV4-signed token from the
    /// function's role.
    Iam,
}

impl KafkaAuth {
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "plaintext" => Ok(KafkaAuth::Plaintext),
            "tls" => Ok(KafkaAuth::Tls),
            "sasl-scram" | "scram" => Ok(KafkaAuth::SaslScram),
            "iam" => Ok(KafkaAuth::Iam),
            other => Err(Error::Config(format!(
                "PINPIPE_KAFKA_AUTH={other:?}: expected plaintext, tls, sasl-scram or iam"
            ))),
        }
    }
}

/// Where the Kafka brokers are and how to reach them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaConnection {
    /// `PINPIPE_KAFKA_BROKERS`: `host:port,…`.
    pub brokers: Option<String>,
    /// `PINPIPE_MSK_CLUSTER_ARN`: look the brokers up at cold start (the bootstrap string that
    /// matches `auth`), when `brokers` is not given.
    pub msk_cluster_arn: Option<String>,
    pub auth: KafkaAuth,
    /// `PINPIPE_KAFKA_USERNAME`, `PINPIPE_KAFKA_PASSWORD`: SCRAM credentials.
    pub username: Option<String>,
    pub password: Option<String>,
    /// `PINPIPE_KAFKA_SECRET_ID`: from Secrets Manager, SCRAM credentials (`{"username",
    /// "password"}`, as MSK's `AmazonMSK_…` secrets hold them) or, with `tls`, a client certificate.
    pub secret_id: Option<String>,
    /// `PINPIPE_KAFKA_CA_LOCATION`: a PEM file of the CA that signed the brokers' certificates (the
    /// system's roots when absent; MSK's are publicly trusted).
    pub ca_location: Option<String>,
    /// `PINPIPE_KAFKA_SETTINGS`: extra librdkafka settings, `key=value` pairs separated by commas;
    /// they win over everything above.
    pub settings: Vec<(String, String)>,
}

impl KafkaConnection {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self> {
        let connection = KafkaConnection {
            brokers: get("PINPIPE_KAFKA_BROKERS"),
            msk_cluster_arn: get("PINPIPE_MSK_CLUSTER_ARN"),
            auth: KafkaAuth::parse(&get("PINPIPE_KAFKA_AUTH").unwrap_or_default())?,
            username: get("PINPIPE_KAFKA_USERNAME"),
            password: get("PINPIPE_KAFKA_PASSWORD"),
            secret_id: get("PINPIPE_KAFKA_SECRET_ID"),
            ca_location: get("PINPIPE_KAFKA_CA_LOCATION"),
            settings: IngestConfig::kafka_settings(
                &get("PINPIPE_KAFKA_SETTINGS").unwrap_or_default(),
            )?,
        };
        let has_credentials = connection.secret_id.is_some()
            || (connection.username.is_some() && connection.password.is_some());
        if connection.auth == KafkaAuth::SaslScram && !has_credentials {
            return Err(Error::Config(
                "PINPIPE_KAFKA_AUTH=sasl-scram needs PINPIPE_KAFKA_SECRET_ID or \
                 PINPIPE_KAFKA_USERNAME and PINPIPE_KAFKA_PASSWORD"
                    .into(),
            ));
        }
        Ok(connection)
    }

    /// Whether the topic endpoints have a Kafka to produce to.
    pub fn is_configured(&self) -> bool {
        self.brokers.is_some() || self.msk_cluster_arn.is_some()
    }
}

/// The `ingest-api` function's (and `pinpipe serve`'s) settings (its README lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConfig {
    /// The Kafka brokers (or MSK cluster) and auth; without brokers the topic endpoints answer 503.
    pub kafka: KafkaConnection,
    /// `PINPIPE_TOPIC_TABLES`: `topic=table` pairs for topics not named `<prefix>.<table>`.
    pub topics: TopicRoutes,
    /// `PINPIPE_STREAM_TABLES`: `stream=table` pairs for streams not named `streaming-<prefix>-<table>`.
    pub streams: StreamRoutes,
    /// `PINPIPE_KINESIS_STREAMS`: `public=physical` stream names (the template's streams per stage).
    pub stream_names: StreamNames,
    pub aws: AwsConfig,
}

impl IngestConfig {
    /// librdkafka settings from `key=value` pairs separated by commas (empty → none).
    pub fn kafka_settings(text: &str) -> Result<Vec<(String, String)>> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| {
                        Error::Config(format!("Kafka settings: {pair:?} is not key=value"))
                    })
            })
            .collect()
    }

    pub fn from_env() -> Result<Self> {
        Self::from_lookup(env)
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(IngestConfig {
            kafka: KafkaConnection::from_lookup(&get)?,
            topics: TopicRoutes::parse(&get("PINPIPE_TOPIC_TABLES").unwrap_or_default())?,
            streams: StreamRoutes::parse(&get("PINPIPE_STREAM_TABLES").unwrap_or_default())?,
            stream_names: StreamNames::parse(&get("PINPIPE_KINESIS_STREAMS").unwrap_or_default())?,
            aws: AwsConfig::from_lookup(get),
        })
    }
}

/// `PINPIPE_WAREHOUSE`, which every function needs.
fn warehouse(get: &impl Fn(&str) -> Option<String>) -> Result<String> {
    get("PINPIPE_WAREHOUSE").ok_or_else(|| {
        Error::Config(
            "PINPIPE_WAREHOUSE is not set: give the lake's root (s3://bucket/prefix or a path)"
                .into(),
        )
    })
}

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
    /// `PINPIPE_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF metrics (default `pinpipe`).
    pub metrics_namespace: String,
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
                    .map_err(|_| Error::Config(format!("{key}={v:?} is not a whole number"))),
            }
        };
        Ok(DailyConfig {
            warehouse: warehouse(&get)?,
            routes: TopicRoutes::parse(&get("PINPIPE_TOPIC_TABLES").unwrap_or_default())?,
            metrics_namespace: get("PINPIPE_METRICS_NAMESPACE").unwrap_or_else(|| "pinpipe".into()),
            budget_seconds: number("PINPIPE_TIME_BUDGET_SECONDS", 420)?,
            chunk_mb: number("PINPIPE_CHUNK_MB", DEFAULT_CHUNK_MB)?.max(1),
            aws: AwsConfig::from_lookup(get),
        })
    }
}

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
            Error::Config(
                "PINPIPE_API_URL is not set: give the ingest API's base URL (the stage URL)".into(),
            )
        })?;
        let source = SourceSpec::parse(&get("PINPIPE_SOURCE").unwrap_or_default());
        let source_secret_id = get("PINPIPE_SOURCE_SECRET_ID");
        if source_secret_id.is_some() && !matches!(source, SourceSpec::Mysql(_)) {
            return Err(Error::Config(
                "PINPIPE_SOURCE_SECRET_ID needs PINPIPE_SOURCE=mysql://host:port/database".into(),
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
        assert_eq!(config.metrics_namespace, "pinpipe");
    }

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

    #[test]
    fn the_kafka_connection_reads_its_auth_and_asks_for_scram_credentials() {
        let connection = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
            KafkaConnection::from_lookup(&|k: &str| map.get(k).cloned())
        };
        let plain = connection(&[]).unwrap();
        assert_eq!(plain.auth, KafkaAuth::Plaintext);
        assert!(!plain.is_configured());
        let iam = connection(&[
            (
                "PINPIPE_MSK_CLUSTER_ARN",
                "arn:aws:kafka:eu-west-1:1:cluster/c/x",
            ),
            ("PINPIPE_KAFKA_AUTH", "IAM"),
        ])
        .unwrap();
        assert_eq!(iam.auth, KafkaAuth::Iam);
        assert!(iam.is_configured());
        let missing = connection(&[("PINPIPE_KAFKA_AUTH", "sasl-scram")]).unwrap_err();
        assert!(missing.to_string().contains("PINPIPE_KAFKA_SECRET_ID"));
        let scram = connection(&[
            ("PINPIPE_KAFKA_AUTH", "sasl-scram"),
            ("PINPIPE_KAFKA_SECRET_ID", "AmazonMSK_pinpipe"),
        ])
        .unwrap();
        assert_eq!(scram.secret_id.as_deref(), Some("AmazonMSK_pinpipe"));
        assert!(connection(&[("PINPIPE_KAFKA_AUTH", "kerberos")]).is_err());
    }
}
