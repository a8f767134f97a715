//! The `ingest-api` handler: an API Gateway REST API proxy request → the endpoint (spec §3.1) →
//! every record validated (`pinpipe::ingest`) → handed to Kafka or Kinesis (`pinpipe::sink`) → the
//! Kafka REST proxy's or Kinesis' answer. A request is answered 200 only once all its records are
//! acknowledged; a refused request (4xx) produces nothing; a failed hand-over answers 503 (retry).

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::HeaderMap;
use aws_lambda_events::http::header::{CONTENT_TYPE, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::IngestConfig;
use pinpipe::custom_resource;
use pinpipe::error::Failure;
use pinpipe::ingest::{self, ApiError, Endpoint};
use pinpipe::kinesis::kinesis_client;
use pinpipe::routes::{StreamNames, StreamRoutes, TopicRoutes};
use pinpipe::sink::{KafkaSink, KinesisSink, SinkError, StreamSink, TopicSink};
use serde_json::Value;
use std::sync::Arc;
use tracing::info;

/// The function's one error type: cold-start problems, an event that is neither of the function's
/// two kinds, and a CloudFormation answer that could not be delivered (every API request gets an
/// HTTP answer).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("an event that is neither an API Gateway request nor a CloudFormation request: {0}")]
    Event(serde_json::Error),
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Diagnostic {
        let failure = match &e {
            Error::Pinpipe(_) => Failure::Infrastructure,
            Error::Event(_) => Failure::BadEvent,
        };
        Diagnostic {
            error_type: failure.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// Built once at cold start.
pub struct State {
    topics: TopicRoutes,
    streams: StreamRoutes,
    stream_names: StreamNames,
    kafka: Option<Arc<dyn TopicSink>>,
    kinesis: Arc<dyn StreamSink>,
    /// The deployment's cluster, for creating the stack's topics (the custom resource).
    cluster: Option<Arc<KafkaSink>>,
}

impl State {
    pub async fn new(config: &IngestConfig) -> Result<Self, Error> {
        let cluster = match pinpipe::kafka::msk::resolve(&config.kafka, &config.aws).await? {
            Some(k) => Some(Arc::new(KafkaSink::new(&k.brokers, &k.settings, k.tokens)?)),
            None => None,
        };
        Ok(State {
            topics: config.topics.clone(),
            streams: config.streams.clone(),
            stream_names: config.stream_names.clone(),
            kafka: cluster.clone().map(|c| c as Arc<dyn TopicSink>),
            kinesis: Arc::new(KinesisSink::new(kinesis_client(&config.aws).await)),
            cluster,
        })
    }

    /// The handler over sinks chosen by the caller (`pinpipe demo`: topics and streams held in
    /// this process, `pinpipe_local::MemoryLog`, or real ones).
    pub fn with_sinks(
        topics: Arc<dyn TopicSink>,
        streams: Arc<dyn StreamSink>,
        topic_routes: TopicRoutes,
        stream_routes: StreamRoutes,
    ) -> Self {
        State {
            topics: topic_routes,
            streams: stream_routes,
            stream_names: StreamNames::default(),
            kafka: Some(topics),
            cluster: None,
            kinesis: streams,
        }
    }

    /// The same, putting a request for a public stream name into its mapped stream.
    pub fn with_stream_names(mut self, names: StreamNames) -> Self {
        self.stream_names = names;
        self
    }
}

/// An HTTP answer: status and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl From<ApiError> for Answer {
    fn from(e: ApiError) -> Self {
        Answer {
            status: e.status,
            body: e.body(),
        }
    }
}

/// A failed hand-over's answer: a permanent refusal is a 4xx the client must not retry (or a 500 an
/// operator must fix), only a passing one is a 503 (README: "Answers").
pub fn sink_error(e: SinkError, not_found_code: u32) -> Answer {
    let (status, error_code, message) = match e {
        SinkError::NotFound(m) => (404, not_found_code, m),
        SinkError::Forbidden(m) => (
            403,
            40301,
            format!("{m}; this API writes only to its own topics and streams"),
        ),
        SinkError::TooLarge(m) => (413, 41302, m),
        SinkError::NoPartition(m) => (404, 40402, m),
        SinkError::Invalid(m) => (422, 42202, m),
        SinkError::Misconfigured(m) => (
            500,
            50001,
            format!("{m}; the deployment must be fixed before a retry can succeed"),
        ),
        SinkError::Unavailable(m) => (
            503,
            50301,
            format!("{m}; nothing is lost by retrying the request"),
        ),
    };
    ApiError {
        status,
        error_code,
        message,
    }
    .into()
}

/// One request, whatever carried it (API Gateway, `pinpipe serve`).
pub async fn respond(
    state: &State,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Answer {
    let answer = match ingest::route(method, path) {
        Err(e) => e.into(),
        Ok(Endpoint::Topic(topic)) => {
            match ingest::topic_records(&topic, content_type, body, &state.topics) {
                Err(e) => e.into(),
                Ok(records) => match &state.kafka {
                    None => ApiError {
                        status: 503,
                        error_code: 50302,
                        message: "this API has no Kafka brokers configured (PINPIPE_KAFKA_BROKERS)"
                            .into(),
                    }
                    .into(),
                    Some(kafka) => match kafka.produce(&topic, &records).await {
                        Ok(offsets) => Answer {
                            status: 200,
                            body: ingest::topic_answer(&offsets),
                        },
                        Err(e) => sink_error(e, 40401),
                    },
                },
            }
        }
        Ok(Endpoint::StreamRecord(stream)) => {
            match ingest::stream_record(&stream, content_type, body, &state.streams) {
                Err(e) => e.into(),
                Ok(record) => match state
                    .kinesis
                    .put_records(
                        state.stream_names.physical(&stream),
                        std::slice::from_ref(&record),
                    )
                    .await
                    .map(|mut put| put.remove(0))
                {
                    Ok((seq, shard)) => Answer {
                        status: 200,
                        body: ingest::stream_record_answer(&seq, &shard),
                    },
                    Err(e) => sink_error(e, 40402),
                },
            }
        }
        Ok(Endpoint::StreamRecords(stream)) => {
            match ingest::stream_records(&stream, content_type, body, &state.streams) {
                Err(e) => e.into(),
                Ok(records) => match state
                    .kinesis
                    .put_records(state.stream_names.physical(&stream), &records)
                    .await
                {
                    Ok(put) => Answer {
                        status: 200,
                        body: ingest::stream_records_answer(&put),
                    },
                    Err(e) => sink_error(e, 40402),
                },
            }
        }
    };
    info!(
        method,
        path,
        bytes = body.len(),
        status = answer.status,
        error_code = answer
            .body
            .get("error_code")
            .and_then(serde_json::Value::as_u64),
        "Request answered."
    );
    answer
}

/// Every invocation of the deployed function: the state built by the first invocation that gets it
/// built (an invocation after a failed start tries again, as a cold start would), then
/// [`dispatch`]. When it cannot be built, CloudFormation's request is still answered — `FAILED`,
/// with why — so a deploy fails at once instead of waiting out CloudFormation's hour; an API
/// request gets the error (API Gateway answers 502).
pub async fn serve(
    config: &IngestConfig,
    state: &tokio::sync::OnceCell<State>,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    match state.get_or_try_init(|| State::new(config)).await {
        Ok(state) => dispatch(state, event).await,
        Err(e) => match custom_resource::Request::from_event(&event.payload) {
            Some(Ok(request)) => {
                let reason = format!("ingest-api could not start: {e}");
                custom_resource::send(&request.response_url, &request.response(Err(reason)))
                    .await?;
                Ok(Value::Null)
            }
            _ => Err(e),
        },
    }
}

/// Every invocation: the stack's `KafkaTopics` custom resource (CloudFormation, at deploy time) or an
/// API Gateway request.
pub async fn dispatch(state: &State, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let LambdaEvent { payload, context } = event;
    if let Some(request) = custom_resource::Request::from_event(&payload) {
        let request = request?;
        let outcome = topics_resource(state, &request).await;
        info!(
            request = ?request.request_type,
            resource = request.logical_resource_id,
            outcome = ?outcome,
            "CloudFormation request answered."
        );
        custom_resource::send(&request.response_url, &request.response(outcome)).await?;
        return Ok(Value::Null);
    }
    let request: ApiGatewayProxyRequest = serde_json::from_value(payload).map_err(Error::Event)?;
    let response = handle(state, LambdaEvent::new(request, context)).await?;
    serde_json::to_value(response).map_err(Error::Event)
}

/// The `KafkaTopics` custom resource: on create and update, the topics (`Topics`) the cluster lacks
/// are created with `Partitions` partitions; its physical id is the topic list. On delete the topics
/// stay (they hold the batch path's records; a cluster the stack made goes with the stack).
pub async fn topics_resource(
    state: &State,
    request: &custom_resource::Request,
) -> Result<String, String> {
    use custom_resource::RequestType;
    if request.request_type == RequestType::Delete {
        return Ok(request
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| request.logical_resource_id.clone()));
    }
    let topics = request.list_property("Topics");
    if topics.is_empty() {
        return Err("the resource names no Topics".into());
    }
    let partitions_text = request.property("Partitions").unwrap_or_else(|| "1".into());
    let partitions = partitions_text
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("Partitions {partitions_text:?} is not a count of at least 1"))?;
    let Some(kafka) = &state.cluster else {
        return Err(
            "this function has no Kafka cluster configured (PINPIPE_MSK_CLUSTER_ARN)".into(),
        );
    };
    kafka
        .create_topics(&topics, partitions)
        .await
        .map_err(|e| e.to_string())?;
    Ok(topics.join(","))
}

/// The Lambda handler (API Gateway REST API, proxy integration).
pub async fn handle(
    state: &State,
    event: LambdaEvent<ApiGatewayProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let request = event.payload;
    let path = request.path.clone().unwrap_or_default();
    let content_type = request
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = match (&request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.clone().into_bytes(),
        (Some(encoded), true) => match BASE64.decode(encoded) {
            Ok(bytes) => bytes,
            Err(e) => {
                return Ok(response(Answer::from(ApiError {
                    status: 400,
                    error_code: 40002,
                    message: format!("the body is marked base64 but is not ({e})"),
                })));
            }
        },
    };
    let answer = respond(
        state,
        request.http_method.as_str(),
        &path,
        content_type,
        &body,
    )
    .await;
    Ok(response(answer))
}

fn response(answer: Answer) -> ApiGatewayProxyResponse {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = i64::from(answer.status);
    response.headers = headers;
    response.body = Some(Body::Text(answer.body.to_string()));
    response
}
