//! The emulator's HTTP(S) client: posts from a [`super::PostSource`] sent as the original's requests
//! to an ingest API (`pinpipe serve` on 127.0.0.1, or an API Gateway stage), at a rate, for a count
//! or a duration, a few posts in flight; a 429, a 5xx or a lost connection is retried (the API loses
//! nothing and duplicates nothing on retry), another 4xx is counted as refused and not retried, and
//! the API's 500 `error_code` 50001 (the deployment is broken) fails the post at once.

use std::time::{Duration, Instant};

use futures::stream::{BoxStream, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::Serialize;

use super::{EmulatedRequest, Mode, Payloads, post_requests};
use crate::https::{HttpClient, client};
use crate::{Error, Result};

/// Attempts per request before it counts as failed.
pub const ATTEMPTS: u32 = 5;

/// How to emulate.
#[derive(Clone, Debug)]
pub struct EmulateOptions {
    /// The API's base URL, e.g. `http://127.0.0.1:8080` or `https://….execute-api.….amazonaws.com/prod`.
    pub api: String,
    /// Sent as `x-api-key` (an API Gateway API key), when the API wants one.
    pub api_key: Option<String>,
    /// Sign every request with SigV4 for `execute-api` (an API with IAM auth).
    pub sign: Option<ApiSigning>,
    pub mode: Mode,
    /// Topics are `<prefix>.<table>`, streams `streaming-<prefix>-<table>`.
    pub prefix: String,
    /// Posts per second at most (as fast as the API answers when absent).
    pub rate: Option<f64>,
    /// No post starts after this long.
    pub duration: Option<Duration>,
    /// Posts in flight at once (a post's three rows go one after the other).
    pub concurrency: usize,
}

/// SigV4 signing of the emulator's requests: the region and the credentials (the function's role).
#[derive(Clone, Debug)]
pub struct ApiSigning {
    pub region: String,
    pub credentials: aws_credential_types::Credentials,
}

impl ApiSigning {
    /// Signing with the credentials of the SDK's default chain for `aws`'s region.
    pub async fn from_environment(aws: &crate::config::AwsConfig) -> Result<Self> {
        use aws_credential_types::provider::ProvideCredentials;
        let config = crate::aws::sdk_config(aws, None).await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| Error::config("signing API requests needs AWS_REGION"))?;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| Error::config("signing API requests needs AWS credentials"))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Error::config(format!("signing API requests: no AWS credentials: {e}")))?;
        Ok(ApiSigning {
            region,
            credentials,
        })
    }
}

/// What a run came to.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EmulateSummary {
    pub posts: u64,
    pub requests: u64,
    pub accepted: u64,
    /// Requests the API answered with a 4xx (not retried).
    pub refused: u64,
    /// Requests still failing (5xx or no connection) after [`ATTEMPTS`] attempts.
    pub failed: u64,
    /// The first few refusals and failures, as `status path: answer`.
    pub examples: Vec<String>,
    pub seconds: f64,
}

/// What one request came to.
enum Outcome {
    Accepted,
    Refused(String),
    Failed(String),
}

/// Sends `posts` to the API as `options` say; `on_post` is called after each post (a progress bar).
/// Fails only when the source fails; refused and failed requests are in the summary.
pub async fn emulate(
    posts: BoxStream<'static, Result<Payloads>>,
    options: &EmulateOptions,
    on_post: &(dyn Fn() + Sync),
) -> Result<EmulateSummary> {
    let client = client()?;
    let started = Instant::now();
    let interval = options
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let start = tokio::time::Instant::now();
    let deadline = options.duration.map(|d| start + d);
    let (client, options) = (&client, options);
    let results = posts
        .enumerate()
        .then(|(i, payloads)| async move {
            // post i starts no earlier than i intervals after the first
            if let Some(every) = interval {
                tokio::time::sleep_until(start + every.saturating_mul(i as u32)).await;
            }
            payloads
        })
        .take_while(|_| {
            futures::future::ready(deadline.is_none_or(|d| tokio::time::Instant::now() < d))
        })
        .map(|payloads| async move {
            let payloads = payloads?;
            let mut outcomes = Vec::with_capacity(6);
            for request in post_requests(&payloads, &options.prefix, options.mode) {
                outcomes.push(send(client, options, &request).await);
            }
            Ok::<_, Error>(outcomes)
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut results = std::pin::pin!(results);
    let mut summary = EmulateSummary::default();
    while let Some(outcomes) = results.next().await {
        summary.posts += 1;
        for outcome in outcomes? {
            summary.requests += 1;
            match outcome {
                Outcome::Accepted => summary.accepted += 1,
                Outcome::Refused(m) => {
                    summary.refused += 1;
                    example(&mut summary.examples, m);
                }
                Outcome::Failed(m) => {
                    summary.failed += 1;
                    example(&mut summary.examples, m);
                }
            }
        }
        on_post();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn example(examples: &mut Vec<String>, message: String) {
    if examples.len() < 5 {
        examples.push(message);
    }
}

/// What to do with an answer that is not a success.
#[derive(Debug, PartialEq, Eq)]
enum Retry {
    /// Passing: throttled by API Gateway (429), the API's 503, a gateway's 502/504.
    Yes,
    /// The request is wrong (any other 4xx): sending it again gets the same answer.
    Refused,
    /// The deployment is broken (the API's 500 `error_code` 50001): no retry helps until it is fixed.
    Failed,
}

fn retry(status: u16, answer: &str) -> Retry {
    match status {
        429 => Retry::Yes,
        400..=499 => Retry::Refused,
        500 if serde_json::from_str::<serde_json::Value>(answer)
            .is_ok_and(|a| a["error_code"] == 50001) =>
        {
            Retry::Failed
        }
        _ => Retry::Yes,
    }
}

/// Sends one request, retrying a passing failure (a 429, a 5xx but the API's "fix the deployment")
/// or a connection failure.
async fn send(client: &HttpClient, options: &EmulateOptions, request: &EmulatedRequest) -> Outcome {
    let api = options.api.as_str();
    let mut last = String::new();
    let body = Bytes::from(request.body.clone());
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        let mut http = hyper::Request::builder()
            .method(request.method)
            .uri(format!("{}{}", api.trim_end_matches('/'), request.path))
            .header(hyper::header::CONTENT_TYPE, request.content_type);
        if let Some(key) = &options.api_key {
            http = http.header("x-api-key", key.as_str());
        }
        if let Some(signing) = &options.sign {
            let url = format!("{}{}", api.trim_end_matches('/'), request.path);
            let signed = crate::sigv4::sign_headers(
                signing.credentials.clone(),
                "execute-api",
                &signing.region,
                &crate::sigv4::Request {
                    method: request.method,
                    url: &url,
                    headers: &[("content-type", request.content_type)],
                    body: &request.body,
                },
                std::time::SystemTime::now(),
            );
            match signed {
                Ok(headers) => {
                    for (name, value) in headers {
                        http = http.header(name, value);
                    }
                }
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        }
        let http = http.body(Full::new(body.clone()));
        let http = match http {
            Ok(h) => h,
            Err(e) => return Outcome::Failed(format!("{}: {e}", request.path)),
        };
        match client.request(http).await {
            Err(e) => last = format!("{}: {e}", request.path),
            Ok(response) => {
                let status = response.status();
                let answer = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
                if status.is_success() {
                    return Outcome::Accepted;
                }
                let message = format!("{} {}: {answer}", status.as_u16(), request.path);
                match retry(status.as_u16(), &answer) {
                    Retry::Yes => last = message,
                    Retry::Refused => return Outcome::Refused(message),
                    Retry::Failed => return Outcome::Failed(message),
                }
            }
        }
    }
    Outcome::Failed(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_passing_failures_are_retried_and_permanent_ones_are_not() {
        assert_eq!(retry(429, r#"{"message":"Too Many Requests"}"#), Retry::Yes);
        assert_eq!(retry(503, r#"{"error_code":50301}"#), Retry::Yes);
        assert_eq!(
            retry(502, r#"{"message":"Internal server error"}"#),
            Retry::Yes
        );
        assert_eq!(retry(504, ""), Retry::Yes);
        assert_eq!(
            retry(500, r#"{"message":"Internal server error"}"#),
            Retry::Yes
        );
        assert_eq!(
            retry(500, r#"{"error_code":50001,"message":"KMS"}"#),
            Retry::Failed
        );
        for status in [400, 403, 404, 413, 415, 422] {
            assert_eq!(retry(status, "{}"), Retry::Refused, "{status}");
        }
    }
}
