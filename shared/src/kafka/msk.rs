//! MSK at the edge (feature `msk`): the cluster's bootstrap brokers from its ARN, the librdkafka
//! settings of each MSK auth mode (plaintext, TLS with a client certificate, SASL/SCRAM, IAM), and the IAM auth token — a
//! SigV4-presigned `kafka-cluster:Connect` URL, base64url-encoded, as AWS's MSK IAM signers make it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{AwsConfig, KafkaAuth, KafkaConnection};
use crate::sink::{OAuthTokenSource, ProducerToken};
use crate::{Error, Result};

/// How long an IAM token is valid (what MSK's signers use).
pub const IAM_TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Sent with the token, as AWS's signers send theirs.
const USER_AGENT: &str = concat!("pinpipe/", env!("CARGO_PKG_VERSION"));

/// Brokers and producer settings, ready for [`crate::sink::KafkaSink`].
pub struct ResolvedKafka {
    pub brokers: String,
    pub settings: Vec<(String, String)>,
    /// IAM tokens for SASL/OAUTHBEARER, with [`KafkaAuth::Iam`].
    pub tokens: Option<OAuthTokenSource>,
}

/// What a Kafka secret (`PINPIPE_KAFKA_SECRET_ID`) holds, by auth mode — the shapes Lambda's MSK
/// event source mappings read from the same secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum KafkaSecret {
    /// `sasl-scram`: MSK's `AmazonMSK_…` secret, `{"username", "password"}`
    /// (`SASL_SCRAM_512_AUTH`).
    Scram { username: String, password: String },
    /// `tls`: a client certificate, `{"certificate", "privateKey", "privateKeyPassword"?}` — the
    /// PEM certificate (chain) and its PKCS#8 PEM key, encrypted when a password is given
    /// (`CLIENT_CERTIFICATE_TLS_AUTH`).
    ClientCertificate {
        certificate: String,
        private_key: String,
        password: Option<String>,
    },
}

impl std::fmt::Debug for KafkaSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KafkaSecret::Scram { username, .. } => write!(f, "Scram {{ username: {username:?} }}"),
            KafkaSecret::ClientCertificate { .. } => f.write_str("ClientCertificate"),
        }
    }
}

impl KafkaSecret {
    /// The secret `id`'s text read for `auth` (`None` for a mode that takes no secret).
    pub fn parse(auth: &KafkaAuth, id: &str, text: &str) -> Result<Option<KafkaSecret>> {
        #[derive(serde::Deserialize)]
        struct Scram {
            username: String,
            password: String,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Certificate {
            certificate: String,
            private_key: String,
            #[serde(default)]
            private_key_password: Option<String>,
        }
        match auth {
            KafkaAuth::SaslScram => {
                let s: Scram = serde_json::from_str(text).map_err(|e| {
                    Error::config(format!(
                        "secret {id:?} is not a SCRAM secret ({{\"username\", \"password\"}}): {e}"
                    ))
                })?;
                Ok(Some(KafkaSecret::Scram {
                    username: s.username,
                    password: s.password,
                }))
            }
            KafkaAuth::Tls => {
                let c: Certificate = serde_json::from_str(text).map_err(|e| {
                    Error::config(format!(
                        "secret {id:?} is not a client certificate secret ({{\"certificate\", \
                         \"privateKey\", \"privateKeyPassword\"?}}, as Lambda's \
                         CLIENT_CERTIFICATE_TLS_AUTH reads it): {e}"
                    ))
                })?;
                for (field, pem) in [
                    ("certificate", &c.certificate),
                    ("privateKey", &c.private_key),
                ] {
                    if !pem.contains("-----BEGIN ") {
                        return Err(Error::config(format!(
                            "secret {id:?}: {field} is not PEM (-----BEGIN …)"
                        )));
                    }
                }
                Ok(Some(KafkaSecret::ClientCertificate {
                    certificate: c.certificate,
                    private_key: c.private_key,
                    password: c.private_key_password.filter(|p| !p.is_empty()),
                }))
            }
            KafkaAuth::Plaintext | KafkaAuth::Iam => Ok(None),
        }
    }
}

/// The librdkafka settings of `auth` (with what its `secret` holds), then the connection's own
/// settings, which win.
pub fn auth_settings(
    connection: &KafkaConnection,
    secret: Option<&KafkaSecret>,
) -> Vec<(String, String)> {
    let mut settings: Vec<(&str, String)> = Vec::new();
    match connection.auth {
        KafkaAuth::Plaintext => settings.push(("security.protocol", "plaintext".into())),
        KafkaAuth::Tls => settings.push(("security.protocol", "ssl".into())),
        KafkaAuth::SaslScram => {
            settings.push(("security.protocol", "sasl_ssl".into()));
            settings.push(("sasl.mechanism", "SCRAM-SHA-512".into()));
        }
        KafkaAuth::Iam => {
            settings.push(("security.protocol", "sasl_ssl".into()));
            settings.push(("sasl.mechanism", "OAUTHBEARER".into()));
        }
    }
    match (secret, &connection.auth) {
        (Some(KafkaSecret::Scram { username, password }), KafkaAuth::SaslScram) => {
            settings.push(("sasl.username", username.clone()));
            settings.push(("sasl.password", password.clone()));
        }
        (
            Some(KafkaSecret::ClientCertificate {
                certificate,
                private_key,
                password,
            }),
            KafkaAuth::Tls,
        ) => {
            settings.push(("ssl.certificate.pem", certificate.clone()));
            settings.push(("ssl.key.pem", private_key.clone()));
            if let Some(password) = password {
                settings.push(("ssl.key.password", password.clone()));
            }
        }
        _ => {}
    }
    if connection.auth != KafkaAuth::Plaintext
        && let Some(ca) = &connection.ca_location
    {
        settings.push(("ssl.ca.location", ca.clone()));
    }
    settings
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(connection.settings.iter().cloned())
        .collect()
}

/// MSK's bootstrap broker strings (GetBootstrapBrokers), one per auth mode.
#[derive(Clone, Debug, Default)]
pub struct BootstrapBrokers {
    pub plaintext: Option<String>,
    pub tls: Option<String>,
    pub sasl_scram: Option<String>,
    pub sasl_iam: Option<String>,
}

impl BootstrapBrokers {
    /// The string for `auth`, or an error saying the cluster does not offer it.
    pub fn for_auth(&self, auth: &KafkaAuth, arn: &str) -> Result<String> {
        let (found, mode) = match auth {
            KafkaAuth::Plaintext => (&self.plaintext, "plaintext"),
            KafkaAuth::Tls => (&self.tls, "TLS"),
            KafkaAuth::SaslScram => (&self.sasl_scram, "SASL/SCRAM"),
            KafkaAuth::Iam => (&self.sasl_iam, "IAM"),
        };
        found.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::config(format!(
                "MSK cluster {arn} has no {mode} brokers: enable that auth on the cluster or set \
                 PINPIPE_KAFKA_AUTH to one it offers"
            ))
        })
    }
}

/// The region of an MSK cluster ARN (`arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID`).
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    let (_partition, service, region) = (parts.next()?, parts.next()?, parts.next()?);
    (service == "kafka" && !region.is_empty()).then_some(region)
}

/// Brokers, settings and (with IAM) a token source for `connection`, looking the brokers up from
/// the cluster ARN when they are not given. `None` when no Kafka is configured.
pub async fn resolve(
    connection: &KafkaConnection,
    aws: &AwsConfig,
) -> Result<Option<ResolvedKafka>> {
    let region = aws.region.clone().or_else(|| {
        connection
            .msk_cluster_arn
            .as_deref()
            .and_then(arn_region)
            .map(str::to_owned)
    });
    let brokers = match (&connection.brokers, &connection.msk_cluster_arn) {
        (Some(brokers), _) => brokers.clone(),
        (None, Some(arn)) => {
            let mut config = crate::aws::sdk_config(aws, aws.endpoint_url.as_deref()).await;
            if aws.region.is_none()
                && let Some(region) = &region
            {
                config = config
                    .into_builder()
                    .region(aws_config::Region::new(region.clone()))
                    .build();
            }
            let answer = aws_sdk_kafka::Client::new(&config)
                .get_bootstrap_brokers()
                .cluster_arn(arn)
                .send()
                .await
                .map_err(|e| {
                    Error::config_from(format!("looking up MSK cluster {arn}'s brokers"), e)
                })?;
            BootstrapBrokers {
                plaintext: answer.bootstrap_broker_string().map(str::to_owned),
                tls: answer.bootstrap_broker_string_tls().map(str::to_owned),
                sasl_scram: answer
                    .bootstrap_broker_string_sasl_scram()
                    .map(str::to_owned),
                sasl_iam: answer.bootstrap_broker_string_sasl_iam().map(str::to_owned),
            }
            .for_auth(&connection.auth, arn)?
        }
        (None, None) => return Ok(None),
    };
    let secret = match (&connection.auth, &connection.secret_id) {
        (KafkaAuth::SaslScram | KafkaAuth::Tls, Some(id)) => {
            let text = crate::aws::secret_string(aws, id).await?;
            KafkaSecret::parse(&connection.auth, id, &text)?
        }
        (KafkaAuth::SaslScram, None) => connection
            .username
            .clone()
            .zip(connection.password.clone())
            .map(|(username, password)| KafkaSecret::Scram { username, password }),
        _ => None,
    };
    let settings = auth_settings(connection, secret.as_ref());
    let tokens = match connection.auth {
        KafkaAuth::Iam => {
            let region = region.ok_or_else(|| {
                Error::config("MSK IAM auth needs the cluster's region: set AWS_REGION")
            })?;
            Some(iam_token_source(aws, region).await?)
        }
        _ => None,
    };
    Ok(Some(ResolvedKafka {
        brokers,
        settings,
        tokens,
    }))
}

/// A token source signing with the SDK's credential chain (the function's role in Lambda). It is
/// called on librdkafka's thread, outside the runtime, and waits there for the credentials.
async fn iam_token_source(aws: &AwsConfig, region: String) -> Result<OAuthTokenSource> {
    let config = crate::aws::sdk_config(aws, None).await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Error::config("MSK IAM auth: no AWS credentials (the function's role)"))?;
    let runtime = tokio::runtime::Handle::current();
    Ok(Arc::new(move || {
        let credentials = runtime
            .block_on(provider.provide_credentials())
            .map_err(|e| format!("MSK IAM auth: no AWS credentials: {e}"))?;
        let (token, lifetime_ms) =
            iam_token(credentials, &region, SystemTime::now()).map_err(|e| e.to_string())?;
        Ok(ProducerToken {
            token,
            principal_name: "pinpipe".into(),
            lifetime_ms,
        })
    }))
}

/// The MSK IAM auth token for `region` signed at `now`, and when it expires (ms since the epoch).
pub fn iam_token(credentials: Credentials, region: &str, now: SystemTime) -> Result<(String, i64)> {
    let bad = |e: &dyn std::fmt::Display| Error::config(format!("signing the MSK IAM token: {e}"));
    let host = format!("kafka.{region}.amazonaws.com");
    let url = format!("https://{host}/?Action=kafka-cluster%3AConnect");
    let identity: Identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(IAM_TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| bad(&e))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("host", host.as_str())),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| bad(&e))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| bad(&e))?.into_parts();
    let mut signed = url;
    for (name, value) in instructions.params() {
        signed.push('&');
        signed.push_str(name);
        signed.push('=');
        signed.push_str(&query_encode(value));
    }
    signed.push_str("&User-Agent=");
    signed.push_str(&query_encode(USER_AGENT));
    let expires = now + IAM_TOKEN_LIFETIME;
    let lifetime_ms = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Ok((URL_SAFE_NO_PAD.encode(signed), lifetime_ms))
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn query_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(auth: KafkaAuth) -> KafkaConnection {
        KafkaConnection {
            brokers: Some("b-1:9096".into()),
            auth,
            ..KafkaConnection::default()
        }
    }

    #[test]
    fn each_auth_mode_sets_librdkafkas_protocol_and_mechanism_and_own_settings_win() {
        let get = |settings: &[(String, String)], key: &str| {
            settings
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let alice = KafkaSecret::Scram {
            username: "alice".into(),
            password: "pw".into(),
        };
        let scram = auth_settings(&connection(KafkaAuth::SaslScram), Some(&alice));
        assert_eq!(
            get(&scram, "security.protocol").as_deref(),
            Some("sasl_ssl")
        );
        assert_eq!(
            get(&scram, "sasl.mechanism").as_deref(),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(get(&scram, "sasl.username").as_deref(), Some("alice"));
        let iam = auth_settings(&connection(KafkaAuth::Iam), None);
        assert_eq!(get(&iam, "sasl.mechanism").as_deref(), Some("OAUTHBEARER"));
        let mut tls = connection(KafkaAuth::Tls);
        tls.ca_location = Some("/etc/ca.pem".into());
        tls.settings = vec![("security.protocol".into(), "SSL".into())];
        let tls = auth_settings(&tls, None);
        assert_eq!(get(&tls, "ssl.ca.location").as_deref(), Some("/etc/ca.pem"));
        assert_eq!(get(&tls, "security.protocol").as_deref(), Some("SSL"));
        let plain = auth_settings(&connection(KafkaAuth::Plaintext), None);
        assert_eq!(get(&plain, "ssl.ca.location"), None);
    }

    #[test]
    fn a_tls_secret_is_lambdas_client_certificate_and_its_pem_reaches_librdkafka() {
        let text = r#"{"certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                       "privateKey": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----",
                       "privateKeyPassword": "s3cret"}"#;
        let secret = KafkaSecret::parse(&KafkaAuth::Tls, "client-cert", text)
            .unwrap()
            .unwrap();
        assert_eq!(format!("{secret:?}"), "ClientCertificate", "no key in logs");
        let settings = auth_settings(&connection(KafkaAuth::Tls), Some(&secret));
        let get = |key: &str| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("security.protocol"), Some("ssl"));
        assert!(
            get("ssl.certificate.pem")
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE")
        );
        assert!(
            get("ssl.key.pem")
                .unwrap()
                .contains("ENCRYPTED PRIVATE KEY")
        );
        assert_eq!(get("ssl.key.password"), Some("s3cret"));
        // a SCRAM secret handed to tls, or a key that is not PEM, is refused naming the field
        let scram = r#"{"username": "alice", "password": "pw"}"#;
        let e = KafkaSecret::parse(&KafkaAuth::Tls, "client-cert", scram).unwrap_err();
        assert!(e.to_string().contains("CLIENT_CERTIFICATE_TLS_AUTH"), "{e}");
        let raw = r#"{"certificate": "-----BEGIN CERTIFICATE-----", "privateKey": "MIIE"}"#;
        let e = KafkaSecret::parse(&KafkaAuth::Tls, "client-cert", raw).unwrap_err();
        assert!(e.to_string().contains("privateKey is not PEM"), "{e}");
        // the same secret under IAM is not read
        assert_eq!(
            KafkaSecret::parse(&KafkaAuth::Iam, "x", text).unwrap(),
            None
        );
        // an unencrypted key has no password setting
        let plain = r#"{"certificate": "-----BEGIN CERTIFICATE-----", "privateKey": "-----BEGIN PRIVATE KEY-----"}"#;
        let secret = KafkaSecret::parse(&KafkaAuth::Tls, "c", plain)
            .unwrap()
            .unwrap();
        let settings = auth_settings(&connection(KafkaAuth::Tls), Some(&secret));
        assert!(!settings.iter().any(|(k, _)| k == "ssl.key.password"));
    }

    #[test]
    fn the_bootstrap_string_matches_the_auth_mode_or_says_what_the_cluster_lacks() {
        let brokers = BootstrapBrokers {
            tls: Some("b-1:9094,b-2:9094".into()),
            sasl_iam: Some("b-1:9098".into()),
            ..BootstrapBrokers::default()
        };
        let arn = "arn:aws:kafka:eu-west-1:123456789012:cluster/pinpipe/abc-1";
        assert_eq!(brokers.for_auth(&KafkaAuth::Iam, arn).unwrap(), "b-1:9098");
        assert_eq!(
            brokers.for_auth(&KafkaAuth::Tls, arn).unwrap(),
            "b-1:9094,b-2:9094"
        );
        let error = brokers.for_auth(&KafkaAuth::SaslScram, arn).unwrap_err();
        assert!(
            error.to_string().contains("no SASL/SCRAM brokers"),
            "{error}"
        );
        assert_eq!(arn_region(arn), Some("eu-west-1"));
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn an_iam_token_is_a_presigned_connect_url_valid_for_15_minutes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let credentials =
            Credentials::new("AKIDEXAMPLE", "secret", Some("tok/en+".into()), None, "t");
        let (token, lifetime_ms) = iam_token(credentials, "eu-west-1", now).unwrap();
        assert_eq!(lifetime_ms, (1_795_000_000 + 900) * 1000);
        let url = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
        assert!(
            url.starts_with(
                "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20261118%2Feu-west-1%2Fkafka-cluster%2Faws4_request",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=tok%2Fen%2B",
            "&User-Agent=pinpipe%2F",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        assert!(!token.contains('='), "base64url without padding");
    }
}
