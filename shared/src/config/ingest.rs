//! The `ingest-api` function's (and `pinpipe serve`'s) settings: the Kafka connection and the
//! routes.

use super::{AwsConfig, env};
use crate::routes::{StreamNames, StreamRoutes, TopicRoutes};
use crate::{Error, Result};

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
            other => Err(Error::config(format!(
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
            return Err(Error::config(
                "PINPIPE_KAFKA_AUTH=sasl-scram needs PINPIPE_KAFKA_SECRET_ID or \
                 PINPIPE_KAFKA_USERNAME and PINPIPE_KAFKA_PASSWORD",
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
                        Error::config(format!("Kafka settings: {pair:?} is not key=value"))
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
