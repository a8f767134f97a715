//! The `emulate-posting` handler: a request (`{"posts": 100, "mode": "both", …}`, every field
//! optional; an endless source sends [`pinpipe::emulate::DEFAULT_POSTS`] posts unless told otherwise) → posts from the configured source sent to the ingest API as the original emulator sent
//! them ([`pinpipe::emulate`]) → a JSON summary. It stops starting posts a few seconds before the
//! invocation's deadline, so a long run ends with its summary rather than a timeout.

use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::EmulateConfig;
use pinpipe::emulate::{self, EmulateOptions, EmulateSummary, Mode, Pick, PostSource};
use pinpipe::error::Failure;
use serde::Deserialize;
use serde_json::Value;

/// The function's one error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("not an emulate-posting request: {0}")]
    Event(#[from] serde_json::Error),
    #[error("{0}")]
    Request(String),
}

impl From<Error> for Diagnostic {
    /// The cause, in Lambda's `errorType` ([`Failure`]): a bad request (fix the event, a retry
    /// cannot help) or the infrastructure (the source, the API, a secret; a retry may).
    fn from(e: Error) -> Diagnostic {
        let failure = match &e {
            Error::Event(_) | Error::Request(_) => Failure::BadEvent,
            Error::Pinpipe(_) => Failure::Infrastructure,
        };
        Diagnostic {
            error_type: failure.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// Time kept back from the invocation's deadline to answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// What a request may say (an EventBridge schedule or a console test event sends `{}` or the rule's
/// constant input).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulateRequest {
    /// `batch` (to the topics), `stream` (to the streams) or `both` (default).
    #[serde(default)]
    pub mode: Option<String>,
    /// Posts to send.
    #[serde(default)]
    pub posts: Option<u64>,
    /// Start no post after this many seconds.
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    /// Posts per second at most.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Posts in flight at once (default 8).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Seeds the generator and the database's random picks (default: a new one each run).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Database rows: `random` (default, like the original) or `in-order` (every post once).
    #[serde(default)]
    pub pick: Option<String>,
    /// EventBridge's scheduled-event envelope (a rule without input), accepted and ignored.
    #[serde(default, flatten)]
    pub scheduled: ScheduledEnvelope,
}

/// The fields of an EventBridge scheduled event; none of them changes the run.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ScheduledEnvelope {
    #[serde(default)]
    pub version: Option<Value>,
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default, rename = "detail-type")]
    pub detail_type: Option<Value>,
    #[serde(default)]
    pub source: Option<Value>,
    #[serde(default)]
    pub account: Option<Value>,
    #[serde(default)]
    pub time: Option<Value>,
    #[serde(default)]
    pub region: Option<Value>,
    #[serde(default)]
    pub resources: Option<Value>,
    #[serde(default)]
    pub detail: Option<Value>,
}

impl EmulateRequest {
    fn mode(&self) -> Result<Mode, Error> {
        match self.mode.as_deref().map(str::trim) {
            None | Some("both") => Ok(Mode::Both),
            Some("batch") => Ok(Mode::Batch),
            Some("stream") => Ok(Mode::Stream),
            Some(other) => Err(Error::Request(format!(
                "mode {other:?}: expected batch, stream or both"
            ))),
        }
    }

    fn pick(&self) -> Result<Pick, Error> {
        match self.pick.as_deref().map(str::trim) {
            None | Some("random") => Ok(Pick::Random),
            Some("in-order") => Ok(Pick::InOrder),
            Some(other) => Err(Error::Request(format!(
                "pick {other:?}: expected random or in-order"
            ))),
        }
    }

    /// The run's options; `remaining` is the invocation's time left, if known.
    pub fn options(
        &self,
        config: &EmulateConfig,
        remaining: Option<Duration>,
    ) -> Result<EmulateOptions, Error> {
        let duration = match self.duration_seconds {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                return Err(Error::Request(format!(
                    "duration_seconds {s} is not a number of seconds"
                )));
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        if let Some(rate) = self.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(Error::Request(format!(
                "rate {rate} is not a positive number of posts per second"
            )));
        }
        let until_deadline = remaining.map(|r| r.saturating_sub(DEADLINE_MARGIN));
        let duration = match (duration, until_deadline) {
            (Some(d), Some(r)) => Some(d.min(r)),
            (d, r) => d.or(r),
        };
        Ok(EmulateOptions {
            api: config.api_url.clone(),
            api_key: config.api_key.clone(),
            sign: None,
            mode: self.mode()?,
            prefix: config.prefix.clone(),
            rate: self.rate,
            duration,
            concurrency: self.concurrency.unwrap_or(8).clamp(1, 256),
        })
    }
}

/// Built once at cold start: the configuration, and how every request authenticates to the API —
/// the API key (from its secret, read once) or SigV4 signing with the role's credentials.
pub struct State {
    config: EmulateConfig,
    api_key: Option<String>,
    sign: Option<pinpipe::emulate::ApiSigning>,
}

impl State {
    /// Reads the API key's secret and the signing credentials the configuration asks for.
    pub async fn start(config: EmulateConfig) -> Result<Self, Error> {
        let api_key = match &config.api_key_secret_id {
            Some(id) => Some(pinpipe::aws::secret_string(&config.aws, id).await?),
            None => config.api_key.clone(),
        };
        let sign = if config.api_iam {
            Some(pinpipe::emulate::ApiSigning::from_environment(&config.aws).await?)
        } else {
            None
        };
        Ok(State {
            config,
            api_key,
            sign,
        })
    }

    /// Runs one request with `remaining` time left in the invocation.
    pub async fn run(
        &self,
        request: &EmulateRequest,
        remaining: Option<Duration>,
    ) -> Result<EmulateSummary, Error> {
        let mut options = request.options(&self.config, remaining)?;
        options.api_key.clone_from(&self.api_key);
        options.sign.clone_from(&self.sign);
        let pick = request.pick()?;
        let seed = request.seed.unwrap_or_else(new_seed);
        let source = PostSource::open(
            &self.config.source,
            seed,
            pick,
            self.config.source_secret_id.as_deref(),
            &self.config.aws,
        )
        .await?;
        let limit = source.limit(request.posts, request.duration_seconds.is_some());
        let posts = source.payloads(limit).await?;
        let summary = emulate::emulate(posts, &options, &|| {}).await?;
        tracing::info!(
            posts = summary.posts,
            accepted = summary.accepted,
            refused = summary.refused,
            failed = summary.failed,
            seconds = summary.seconds,
            "emulated"
        );
        Ok(summary)
    }
}

fn new_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The handler.
pub async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<EmulateSummary, Error> {
    let remaining = event
        .context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .ok();
    let payload = event.payload;
    let request: EmulateRequest = if payload.is_null() {
        EmulateRequest::default()
    } else {
        serde_json::from_value(payload)?
    };
    state.run(&request, remaining).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> EmulateRequest {
        serde_json::from_str(json).unwrap()
    }

    fn config() -> EmulateConfig {
        EmulateConfig::from_lookup(|k| (k == "PINPIPE_API_URL").then(|| "http://api".into()))
            .unwrap()
    }

    #[test]
    fn an_empty_request_sends_posts_to_both_endpoints_as_fast_as_they_are_answered() {
        let r = request("{}");
        let options = r.options(&config(), None).unwrap();
        assert_eq!(options.mode, Mode::Both);
        assert_eq!(options.duration, None);
        assert_eq!(r.pick().unwrap(), Pick::Random);
    }

    #[test]
    fn a_run_never_outlasts_the_invocation() {
        let r = request(r#"{"duration_seconds": 600, "rate": 2}"#);
        let options = r.options(&config(), Some(Duration::from_secs(60))).unwrap();
        assert_eq!(options.duration, Some(Duration::from_secs(55)));
        let no_duration = request(r#"{"posts": 10}"#)
            .options(&config(), Some(Duration::from_secs(60)))
            .unwrap();
        assert_eq!(no_duration.duration, Some(Duration::from_secs(55)));
    }

    #[test]
    fn bad_requests_say_which_field_is_wrong() {
        let bad = |json: &str| {
            request(json)
                .options(&config(), None)
                .and_then(|_| request(json).pick().map(|_| ()))
                .unwrap_err()
                .to_string()
        };
        assert!(bad(r#"{"mode": "kafka"}"#).contains("mode \"kafka\""));
        assert!(bad(r#"{"rate": 0}"#).contains("rate 0"));
        assert!(bad(r#"{"duration_seconds": -1}"#).contains("duration_seconds -1"));
        assert!(bad(r#"{"pick": "first"}"#).contains("pick \"first\""));
        assert!(serde_json::from_str::<EmulateRequest>(r#"{"post": 3}"#).is_err());
    }

    #[test]
    fn a_failure_says_whether_the_event_or_the_infrastructure_is_at_fault() {
        let bad = request(r#"{"mode": "kafka"}"#).mode().unwrap_err();
        assert_eq!(Diagnostic::from(bad).error_type, "BadEvent");
        let event = serde_json::from_str::<EmulateRequest>("[]").unwrap_err();
        assert_eq!(Diagnostic::from(Error::Event(event)).error_type, "BadEvent");
        let down = Error::Pinpipe(pinpipe::Error::emulate("the API is unreachable"));
        assert_eq!(Diagnostic::from(down).error_type, "Infrastructure");
    }

    #[test]
    fn a_scheduled_event_is_an_empty_request() {
        let scheduled = request(include_str!(
            "../../../events/emulate-posting/scheduled.json"
        ));
        assert_eq!(scheduled.mode().unwrap(), Mode::Both);
        assert_eq!(scheduled.posts, None);
    }
}
