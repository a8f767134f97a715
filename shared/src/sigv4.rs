//! SigV4 request signing (feature `sigv4`): the headers that authorize an HTTP request to an AWS
//! service — the emulator's requests to an API with IAM auth (`execute-api`). Signed with the SDK's
//! own signer; the body's hash is part of the signature.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::{Error, Result};

/// The request to sign: the host is taken from the URL.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers (`authorization`, `x-amz-date`, and `x-amz-security-token` with temporary
/// credentials) that sign `request` for `service` in `region` at `now`.
pub fn sign_headers(
    credentials: Credentials,
    service: &str,
    region: &str,
    request: &Request<'_>,
    now: SystemTime,
) -> Result<Vec<(String, String)>> {
    let Request {
        method,
        url,
        headers,
        body,
    } = *request;
    let bad = |e: &dyn std::fmt::Display| Error::config(format!("signing {method} {url}: {e}"));
    let host = url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .unwrap_or_default();
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| bad(&e))?
        .into();
    let all: Vec<(&str, &str)> = std::iter::once(("host", host))
        .chain(headers.iter().copied())
        .collect();
    let request = SignableRequest::new(method, url, all.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| bad(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| bad(&e))?.into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_signed_request_carries_the_date_the_token_and_a_credential_scope_for_the_service() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let credentials =
            Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "t");
        let headers = sign_headers(
            credentials,
            "execute-api",
            "eu-west-1",
            &Request {
                method: "POST",
                url: "https://abc.execute-api.eu-west-1.amazonaws.com/prod/topics/x.pin",
                headers: &[("content-type", "application/json")],
                body: b"{}",
            },
            now,
        )
        .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-date"), Some("20261118T110640Z"));
        assert_eq!(get("x-amz-security-token"), Some("token"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261118/eu-west-1/execute-api/aws4_request, SignedHeaders="
            ),
            "{auth}"
        );
        assert!(auth.contains("content-type;host;x-amz-date"), "{auth}");
    }
}
