//! Handing accepted ingest records over durably: to Kafka topics (librdkafka, `acks=all`; feature
//! `kafka`) and to Kinesis streams (PutRecord / PutRecords, throttled entries retried; feature
//! `kinesis`). A call returns only once every record is acknowledged, or fails as a whole so that the
//! client retries (the cleaning downstream drops the re-sent copies of records that did land).

use std::future::Future;
use std::pin::Pin;

use crate::ingest::OutRecord;

/// A sink's answer, boxed: the sinks are used behind `dyn` (a deployment's transport, or the
/// process's own logs in `pinpipe demo` and the tests).
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

/// Where topic records go: a Kafka cluster ([`KafkaSink`], feature `kafka`) or topics held in this
/// process (`pinpipe_local::MemoryLog`).
pub trait TopicSink: Send + Sync {
    /// Produces the records to `topic` in order; answers each one's (partition, offset) once all
    /// are acknowledged, or fails as a whole.
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(i32, i64)>>;
}

/// Where stream records go: Kinesis ([`KinesisSink`], feature `kinesis`) or streams held in this
/// process (`pinpipe_local::MemoryLog`).
pub trait StreamSink: Send + Sync {
    /// Puts the records to `stream` in order; answers each one's (sequence number, shard id) once
    /// all are acknowledged, or fails as a whole.
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(String, String)>>;
}

/// Why a hand-over failed, sorted by what the client should do: fix the request (the 4xx kinds),
/// wait for the operator (`Misconfigured`), or retry (`Unavailable`) — not library errors.
/// `ingest-api`'s README gives the HTTP answer of each.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The topic or stream does not exist (never created by the API): the client's mistake.
    #[error("{0}")]
    NotFound(String),
    /// The function's role (or the cluster's ACLs) may not write there: a topic or stream of another
    /// prefix, outside the resources the template grants.
    #[error("{0}")]
    Forbidden(String),
    /// The broker or the stream refused a record for its size.
    #[error("{0}")]
    TooLarge(String),
    /// A record names a partition the topic does not have (the Kafka REST proxy's 40402).
    #[error("{0}")]
    NoPartition(String),
    /// The broker or the stream refused a record as invalid.
    #[error("{0}")]
    Invalid(String),
    /// A fault of the deployment no retry can fix until an operator acts (the stream's KMS key
    /// disabled or not usable by the role, the cluster refusing the role's credentials).
    #[error("{0}")]
    Misconfigured(String),
    /// The broker or the stream did not acknowledge in time or was busy: retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl SinkError {
    /// The kind, as a word (logs, tests).
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::NotFound(_) => "not found",
            SinkError::Forbidden(_) => "forbidden",
            SinkError::TooLarge(_) => "too large",
            SinkError::NoPartition(_) => "no such partition",
            SinkError::Invalid(_) => "invalid",
            SinkError::Misconfigured(_) => "misconfigured",
            SinkError::Unavailable(_) => "unavailable",
        }
    }
}

/// What a Kinesis error code (`__type` of its answer) means for the request: every permanent code
/// of PutRecord/PutRecords (Kinesis Data Streams API reference, "Errors") has its kind; the rest
/// (`ProvisionedThroughputExceededException`, `KMSThrottlingException`, `InternalFailure`,
/// `ResourceInUseException`, a timeout…) are passing.
pub fn kinesis_error_kind(code: &str, message: String) -> SinkError {
    match code {
        "ResourceNotFoundException" => SinkError::NotFound(message),
        "AccessDeniedException" => SinkError::Forbidden(message),
        "ValidationException" | "InvalidArgumentException" => SinkError::Invalid(message),
        "KMSDisabledException"
        | "KMSInvalidStateException"
        | "KMSNotFoundException"
        | "KMSAccessDeniedException"
        | "KMSOptInRequired" => SinkError::Misconfigured(message),
        _ => SinkError::Unavailable(message),
    }
}

#[cfg(feature = "kafka")]
pub use kafka::{
    DELIVERY_TIMEOUT as KAFKA_DELIVERY_TIMEOUT, KafkaSink,
    METADATA_TIMEOUT as KAFKA_METADATA_TIMEOUT, OAuthTokenSource, ProducerToken, SinkContext,
    kafka_error_kind,
};

#[cfg(feature = "kafka")]
mod kafka {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use rdkafka::ClientContext;
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::OAuthToken;
    use rdkafka::config::ClientConfig;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

    use super::SinkError;
    use crate::ingest::OutRecord;
    use crate::{Error, Result};

    /// How long a record may wait for its acknowledgement (`message.timeout.ms`).
    pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
    /// How long reading the broker's topic list may take. With [`DELIVERY_TIMEOUT`] it stays under
    /// API Gateway's 29 s integration timeout (the ingest function's `Timeout`), so a slow broker is
    /// answered 503 by the function, not 504 by the gateway after the records may have been sent.
    pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
    /// How long creating topics may take on the broker (a deployment's custom resource waits).
    pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long the list of existing topics is trusted.
    const TOPICS_TTL: Duration = Duration::from_secs(60);
    /// How long a topic missing from the list is taken as missing (a topic created since is found
    /// after this long).
    const MISSING_TTL: Duration = Duration::from_secs(1);

    /// A SASL/OAUTHBEARER token (MSK IAM auth) and when it expires (ms since the epoch).
    pub struct ProducerToken {
        pub token: String,
        pub principal_name: String,
        pub lifetime_ms: i64,
    }

    /// Makes a fresh token; librdkafka asks before the last one expires, on its own thread.
    pub type OAuthTokenSource = Arc<dyn Fn() -> Result<ProducerToken, String> + Send + Sync>;

    /// The producer's context: where its OAUTHBEARER tokens come from, if it uses them.
    #[derive(Clone, Default)]
    pub struct SinkContext {
        tokens: Option<OAuthTokenSource>,
    }

    impl ClientContext for SinkContext {
        const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

        fn generate_oauth_token(
            &self,
            _config: Option<&str>,
        ) -> std::result::Result<OAuthToken, Box<dyn std::error::Error>> {
            let source = self
                .tokens
                .as_ref()
                .ok_or("sasl.mechanism OAUTHBEARER needs PINPIPE_KAFKA_AUTH=iam")?;
            let token = source()?;
            Ok(OAuthToken {
                token: token.token,
                principal_name: token.principal_name,
                lifetime_ms: token.lifetime_ms,
            })
        }
    }

    /// What a Kafka error means for the request: the permanent codes a produce can meet have their
    /// kind (librdkafka's own refusals, negative, and the broker's); the rest — a timeout, a full
    /// queue, a leader moving, too few replicas — are passing.
    pub fn kafka_error_kind(error: &KafkaError, message: String) -> SinkError {
        use RDKafkaErrorCode as C;
        match error.rdkafka_error_code() {
            Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge) => SinkError::TooLarge(message),
            Some(C::UnknownTopic | C::UnknownTopicOrPartition) => SinkError::NotFound(message),
            Some(C::UnknownPartition) => SinkError::NoPartition(message),
            Some(C::TopicAuthorizationFailed) => SinkError::Forbidden(message),
            Some(
                C::InvalidMessage | C::InvalidRecord | C::InvalidTimestamp | C::PolicyViolation,
            ) => SinkError::Invalid(message),
            Some(
                C::ClusterAuthorizationFailed | C::SaslAuthenticationFailed | C::Authentication,
            ) => SinkError::Misconfigured(message),
            _ => SinkError::Unavailable(message),
        }
    }

    /// A Kafka producer with the topics that exist and their partition counts.
    pub struct KafkaSink {
        producer: FutureProducer<SinkContext>,
        /// The producer's settings and context, for an admin client ([`Self::create_topics`]).
        config: ClientConfig,
        context: SinkContext,
        topics: Mutex<(Option<Instant>, HashMap<String, usize>)>,
    }

    impl KafkaSink {
        /// A producer for `brokers` with librdkafka settings on top of the durable defaults
        /// (`acks=all`, idempotence off unless asked: not every broker supports it), and OAUTHBEARER
        /// tokens from `tokens` (MSK IAM auth).
        pub fn new(
            brokers: &str,
            settings: &[(String, String)],
            tokens: Option<OAuthTokenSource>,
        ) -> Result<Self> {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", brokers)
                .set("acks", "all")
                .set("enable.idempotence", "false")
                .set("linger.ms", "2")
                .set(
                    "message.timeout.ms",
                    DELIVERY_TIMEOUT.as_millis().to_string(),
                )
                .set("allow.auto.create.topics", "false");
            for (k, v) in settings {
                config.set(k, v);
            }
            let context = SinkContext { tokens };
            let producer = config
                .create_with_context(context.clone())
                .map_err(|source| Error::kafka("creating a producer", source))?;
            Ok(KafkaSink {
                producer,
                config,
                context,
                topics: Mutex::new((None, HashMap::new())),
            })
        }

        /// Creates those of `topics` the cluster lacks, with `partitions` partitions and the
        /// cluster's default replication (MSK Serverless fixes its own), and answers the ones it
        /// created. A topic that exists is left as it is, whatever its partitions: running this
        /// again (a stack update, a retried deployment) changes nothing.
        pub async fn create_topics(
            &self,
            topics: &[String],
            partitions: i32,
        ) -> Result<Vec<String>> {
            use rdkafka::types::RDKafkaErrorCode;
            let admin: AdminClient<SinkContext> = self
                .config
                .create_with_context(self.context.clone())
                .map_err(|source| Error::kafka("creating an admin client", source))?;
            let new: Vec<NewTopic<'_>> = topics
                .iter()
                .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(-1)))
                .collect();
            let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
            let answers =
                tokio::time::timeout(ADMIN_TIMEOUT * 2, admin.create_topics(&new, &options))
                    .await
                    .map_err(|_| {
                        Error::Kafka(format!(
                            "creating topics {topics:?}: no answer within {} s",
                            (ADMIN_TIMEOUT * 2).as_secs()
                        ))
                    })?
                    .map_err(|source| {
                        Error::kafka(format!("creating topics {topics:?}"), source)
                    })?;
            let mut created = Vec::new();
            for answer in answers {
                match answer {
                    Ok(topic) => created.push(topic),
                    Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((topic, code)) => {
                        return Err(Error::kafka(
                            format!("creating topic {topic:?}"),
                            rdkafka::error::KafkaError::AdminOp(code),
                        ));
                    }
                }
            }
            // the next produce reads the topic list afresh
            *self.topics.lock().unwrap_or_else(|e| e.into_inner()) = (None, HashMap::new());
            Ok(created)
        }

        /// The topic's partition count, `None` when it does not exist (the full topic list, cached;
        /// listing never creates one).
        async fn partitions(&self, topic: &str) -> std::result::Result<Option<usize>, SinkError> {
            {
                let cached = self.topics.lock().unwrap_or_else(|e| e.into_inner());
                let age = cached.0.map(|at| at.elapsed());
                if age.is_some_and(|a| a < TOPICS_TTL)
                    && let Some(n) = cached.1.get(topic)
                {
                    return Ok(Some(*n));
                }
                // a topic missing from a list just read is missing: a flood of requests for
                // unknown topics costs one metadata request a second, not one each
                if age.is_some_and(|a| a < MISSING_TTL) {
                    return Ok(None);
                }
            }
            let producer = self.producer.clone();
            let topics: HashMap<String, usize> = tokio::task::spawn_blocking(move || {
                let metadata = producer
                    .client()
                    .fetch_metadata(None, METADATA_TIMEOUT)
                    .map_err(|e| {
                        kafka_error_kind(&e, format!("reading the broker's topics: {e}"))
                    })?;
                Ok::<_, SinkError>(
                    metadata
                        .topics()
                        .iter()
                        .filter(|t| t.error().is_none())
                        .map(|t| (t.name().to_owned(), t.partitions().len()))
                        .collect(),
                )
            })
            .await
            .map_err(|e| SinkError::Unavailable(format!("reading the broker's topics: {e}")))??;
            let found = topics.get(topic).copied();
            *self.topics.lock().unwrap_or_else(|e| e.into_inner()) = (Some(Instant::now()), topics);
            Ok(found)
        }

        /// Produces the records in order; answers each one's (partition, offset) once all are
        /// acknowledged.
        pub async fn produce(
            &self,
            topic: &str,
            records: &[OutRecord],
        ) -> std::result::Result<Vec<(i32, i64)>, SinkError> {
            let Some(partitions) = self.partitions(topic).await? else {
                return Err(SinkError::NotFound(format!(
                    "topic {topic:?} does not exist on the broker (the API never creates topics)"
                )));
            };
            // every record checked before the first is queued: a refused request produces nothing
            for (i, record) in records.iter().enumerate() {
                if let Some(p) = record.partition
                    && usize::try_from(p).is_ok_and(|p| p >= partitions)
                {
                    return Err(SinkError::NoPartition(format!(
                        "record {i}, field `partition`: topic {topic:?} has {partitions} partitions, 0 to {}",
                        partitions.saturating_sub(1)
                    )));
                }
            }
            let mut deliveries = Vec::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                let mut message: FutureRecord<'_, str, [u8]> =
                    FutureRecord::to(topic).payload(record.value.as_slice());
                if let Some(key) = &record.key {
                    message = message.key(key.as_str());
                }
                if let Some(partition) = record.partition {
                    message = message.partition(partition);
                }
                let delivery = self.producer.send_result(message).map_err(|(e, _)| {
                    kafka_error_kind(&e, format!("record {i}: queueing for {topic}: {e}"))
                })?;
                deliveries.push(delivery);
            }
            let mut offsets = Vec::with_capacity(deliveries.len());
            for (i, delivery) in deliveries.into_iter().enumerate() {
                match delivery.await {
                    Ok(Ok(delivered)) => offsets.push((delivered.partition, delivered.offset)),
                    Ok(Err((e, _))) => {
                        return Err(kafka_error_kind(
                            &e,
                            format!("record {i}: not acknowledged by {topic}: {e}"),
                        ));
                    }
                    Err(_) => {
                        return Err(SinkError::Unavailable(format!(
                            "record {i}: the producer stopped before {topic} acknowledged it"
                        )));
                    }
                }
            }
            Ok(offsets)
        }
    }
}

#[cfg(feature = "kinesis")]
pub use kinesis::{KinesisSink, PUT_TIMEOUT as KINESIS_PUT_TIMEOUT};

#[cfg(feature = "kafka")]
impl TopicSink for KafkaSink {
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(i32, i64)>> {
        Box::pin(KafkaSink::produce(self, topic, records))
    }
}

#[cfg(feature = "kinesis")]
impl StreamSink for KinesisSink {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(String, String)>> {
        Box::pin(KinesisSink::put_records(self, stream, records))
    }
}

#[cfg(feature = "kinesis")]
mod kinesis {
    use std::time::Duration;

    use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;

    use super::SinkError;
    use crate::ingest::OutRecord;

    /// Attempts for entries Kinesis throttled or failed internally.
    const ATTEMPTS: u32 = 6;
    /// How long putting one request's records may take, throttled entries' retries included: below
    /// API Gateway's 29 s integration timeout (the ingest function's `Timeout`), so a stream that
    /// does not answer is a 503 from the function, not a 504 from the gateway.
    pub const PUT_TIMEOUT: Duration = Duration::from_secs(20);

    /// Puts records into Kinesis streams.
    #[derive(Clone, Debug)]
    pub struct KinesisSink {
        client: aws_sdk_kinesis::Client,
        timeout: Duration,
    }

    fn put_error<E, R>(stream: &str, e: SdkError<E, R>) -> SinkError
    where
        E: std::error::Error + aws_sdk_kinesis::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let code = e
            .as_service_error()
            .and_then(|s| s.code())
            .unwrap_or_default()
            .to_owned();
        let message = if code == "ResourceNotFoundException" {
            format!("stream {stream:?} does not exist (the API never creates streams)")
        } else {
            format!("putting into {stream}: {}", DisplayErrorContext(e))
        };
        super::kinesis_error_kind(&code, message)
    }

    impl KinesisSink {
        pub fn new(client: aws_sdk_kinesis::Client) -> Self {
            Self::with_timeout(client, PUT_TIMEOUT)
        }

        /// A sink whose puts give up after `timeout` (tests use a short one).
        pub fn with_timeout(client: aws_sdk_kinesis::Client, timeout: Duration) -> Self {
            KinesisSink { client, timeout }
        }

        /// [`Self::put_all`] within the sink's timeout; past it the request is unavailable (some
        /// records may be in: a retry re-sends them, and the cleaning drops the copies).
        pub async fn put_records(
            &self,
            stream: &str,
            records: &[OutRecord],
        ) -> Result<Vec<(String, String)>, SinkError> {
            tokio::time::timeout(self.timeout, self.put_all(stream, records))
                .await
                .unwrap_or_else(|_| {
                    Err(SinkError::Unavailable(format!(
                        "{stream} did not take the records within {} s",
                        self.timeout.as_secs_f64()
                    )))
                })
        }

        /// PutRecords, retrying only the entries that failed (throttled) with backoff, until every
        /// record is in: each record's (sequence number, shard id), in order.
        async fn put_all(
            &self,
            stream: &str,
            records: &[OutRecord],
        ) -> Result<Vec<(String, String)>, SinkError> {
            let mut done: Vec<Option<(String, String)>> = vec![None; records.len()];
            for attempt in 1..=ATTEMPTS {
                let pending: Vec<usize> =
                    (0..records.len()).filter(|i| done[*i].is_none()).collect();
                if pending.is_empty() {
                    break;
                }
                let entries: Vec<PutRecordsRequestEntry> = pending
                    .iter()
                    .map(|i| {
                        let r = &records[*i];
                        PutRecordsRequestEntry::builder()
                            .data(Blob::new(r.value.clone()))
                            .partition_key(r.key.clone().unwrap_or_else(|| "0".into()))
                            .build()
                            .expect("data and partition key are set")
                    })
                    .collect();
                let answer = self
                    .client
                    .put_records()
                    .stream_name(stream)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .map_err(|e| put_error(stream, e))?;
                let mut failed = 0;
                for (slot, entry) in pending.iter().zip(answer.records()) {
                    match (entry.sequence_number(), entry.shard_id()) {
                        (Some(seq), Some(shard)) if entry.error_code().is_none() => {
                            done[*slot] = Some((seq.to_owned(), shard.to_owned()));
                        }
                        _ => failed += 1,
                    }
                }
                if failed > 0 && attempt < ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
            let missing = done.iter().filter(|d| d.is_none()).count();
            if missing > 0 {
                return Err(SinkError::Unavailable(format!(
                    "{missing} of {} records were still throttled by {stream} after {ATTEMPTS} attempts",
                    records.len()
                )));
            }
            Ok(done.into_iter().flatten().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permanent_kinesis_error_has_its_kind_and_the_rest_are_passing() {
        let kind = |code: &str| kinesis_error_kind(code, String::new()).kind();
        for (code, want) in [
            ("ResourceNotFoundException", "not found"),
            ("AccessDeniedException", "forbidden"),
            ("ValidationException", "invalid"),
            ("InvalidArgumentException", "invalid"),
            ("KMSDisabledException", "misconfigured"),
            ("KMSInvalidStateException", "misconfigured"),
            ("KMSNotFoundException", "misconfigured"),
            ("KMSAccessDeniedException", "misconfigured"),
            ("KMSOptInRequired", "misconfigured"),
            ("ProvisionedThroughputExceededException", "unavailable"),
            ("KMSThrottlingException", "unavailable"),
            ("ResourceInUseException", "unavailable"),
            ("InternalFailure", "unavailable"),
            ("", "unavailable"),
        ] {
            assert_eq!(kind(code), want, "{code}");
        }
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn every_permanent_kafka_error_has_its_kind_and_the_rest_are_passing() {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode as C};
        let kind =
            |code: C| kafka_error_kind(&KafkaError::MessageProduction(code), String::new()).kind();
        for (code, want) in [
            (C::MessageSizeTooLarge, "too large"),
            (C::MessageBatchTooLarge, "too large"),
            (C::UnknownTopic, "not found"),
            (C::UnknownTopicOrPartition, "not found"),
            (C::TopicAuthorizationFailed, "forbidden"),
            (C::UnknownPartition, "no such partition"),
            (C::InvalidRecord, "invalid"),
            (C::PolicyViolation, "invalid"),
            (C::ClusterAuthorizationFailed, "misconfigured"),
            (C::SaslAuthenticationFailed, "misconfigured"),
            (C::MessageTimedOut, "unavailable"),
            (C::QueueFull, "unavailable"),
            (C::NotEnoughReplicas, "unavailable"),
            (C::LeaderNotAvailable, "unavailable"),
            (C::AllBrokersDown, "unavailable"),
        ] {
            assert_eq!(kind(code), want, "{code:?}");
        }
    }
}
