//! A local stand-in for Lambda's MSK event source: consumes topics from a Kafka-protocol broker,
//! invokes the handler with `KafkaEvent`s of at most `batch_size` records, retries a failed
//! invocation (an `Err`: the function errored, crashed or timed out) with the same records, and
//! commits a partition's offset only once the handler acknowledged the records before it.
//!
//! As on Lambda, the answer of a finished invocation is read only when the mapping enables
//! `ReportBatchItemFailures` ([`KafkaRunnerOptions::report_batch_item_failures`], which Lambda
//! honours for Kafka only in provisioned mode): then a partial batch response redelivers each listed
//! partition from its failed offset. Without it — `template.yaml`'s MSK mappings — any answer
//! acknowledges the whole batch, and a handler that reports failures in its answer loses them.
//! One runner per consumer group: partitions are assigned, not balanced.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, Timestamp, TopicPartitionList};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::event::{EventRecord, kafka_event};
use crate::invoke::Invoke;
use pinpipe::{Error, Result};

/// How long broker metadata and offset requests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How the runner consumes and invokes (the event source mapping's settings).
#[derive(Clone, Debug)]
pub struct KafkaRunnerOptions {
    /// `host:port,…`
    pub brokers: String,
    pub topics: Vec<String>,
    /// The consumer group whose committed offsets say where each partition resumes.
    pub group_id: String,
    /// Records per invocation at most (BatchSize).
    pub batch_size: usize,
    /// How long to gather records after the first before invoking (MaximumBatchingWindowInSeconds).
    pub batching_window: Duration,
    /// Where a partition without a committed offset starts: the earliest record, or new ones only.
    pub from_earliest: bool,
    /// Retries of a failing batch before the runner stops (its offsets stay uncommitted); forever
    /// when `None`.
    pub max_retries: Option<u32>,
    /// Stop after this long without a new record (a local run that drains the topics); poll
    /// forever when `None`.
    pub idle_exit: Option<Duration>,
    /// The event's `eventSourceArn`.
    pub event_source_arn: String,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: read the answer's partial batch
    /// response. Off by default, as in `template.yaml`'s MSK mappings.
    pub report_batch_item_failures: bool,
}

impl Default for KafkaRunnerOptions {
    fn default() -> Self {
        KafkaRunnerOptions {
            brokers: "127.0.0.1:9092".into(),
            topics: Vec::new(),
            group_id: "pinpipe-msk-consumer".into(),
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            from_earliest: true,
            max_retries: None,
            idle_exit: None,
            event_source_arn: "arn:aws:kafka:local:000000000000:cluster/pinpipe-local/local".into(),
            report_batch_item_failures: false,
        }
    }
}

/// What the runner did for one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionSummary {
    pub topic: String,
    pub partition: i32,
    /// Records acknowledged by the handler.
    pub records: u64,
    /// The next offset committed for the group.
    pub committed: Option<i64>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct KafkaRunSummary {
    pub partitions: Vec<PartitionSummary>,
    pub invocations: u64,
    pub failed_invocations: u64,
    pub partial_failures: u64,
    pub elapsed: Duration,
}

impl KafkaRunSummary {
    pub fn records(&self) -> u64 {
        self.partitions.iter().map(|p| p.records).sum()
    }
}

/// The runner: a consumer with its partitions assigned, and the function it feeds.
pub struct KafkaRunner<I> {
    consumer: StreamConsumer,
    invoker: I,
    options: KafkaRunnerOptions,
    summary: KafkaRunSummary,
    partitions: BTreeMap<(String, i32), PartitionSummary>,
}

impl<I: Invoke> KafkaRunner<I> {
    /// Connects, and assigns every partition of the topics at the group's committed offset (or the
    /// starting position).
    pub async fn new(invoker: I, options: KafkaRunnerOptions) -> Result<Self> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &options.brokers)
            .set("group.id", &options.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("broker.address.family", "v4")
            .create()
            .map_err(kafka_error("connecting"))?;
        let mut assignment = TopicPartitionList::new();
        for topic in &options.topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
                .map_err(kafka_error("reading topic metadata"))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                return Err(Error::Kafka(format!("topic {topic} does not exist")));
            }
            for partition in partitions {
                assignment.add_partition(topic, partition);
            }
        }
        let committed = consumer
            .committed_offsets(assignment.clone(), REQUEST_TIMEOUT)
            .map_err(kafka_error("reading committed offsets"))?;
        let mut start = TopicPartitionList::new();
        let mut partitions = BTreeMap::new();
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                _ if options.from_earliest => Offset::Beginning,
                _ => Offset::End,
            };
            start
                .add_partition_offset(element.topic(), element.partition(), offset)
                .map_err(kafka_error("assigning partitions"))?;
            let key = (element.topic().to_owned(), element.partition());
            partitions.insert(
                key,
                PartitionSummary {
                    topic: element.topic().to_owned(),
                    partition: element.partition(),
                    records: 0,
                    committed: match offset {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    },
                },
            );
        }
        consumer
            .assign(&start)
            .map_err(kafka_error("assigning partitions"))?;
        info!(topics = ?options.topics, partitions = partitions.len(), group = %options.group_id, "Kafka runner assigned.");
        Ok(KafkaRunner {
            consumer,
            invoker,
            options,
            summary: KafkaRunSummary::default(),
            partitions,
        })
    }

    /// Consumes and invokes until idle for `idle_exit` (or forever), or a batch failed more than
    /// `max_retries` times.
    pub async fn run(mut self) -> Result<KafkaRunSummary> {
        let started = Instant::now();
        let mut idle_since = Instant::now();
        loop {
            let batch = self.gather().await?;
            if batch.is_empty() {
                if self
                    .options
                    .idle_exit
                    .is_some_and(|idle| idle_since.elapsed() >= idle)
                {
                    break;
                }
                continue;
            }
            self.deliver(batch).await?;
            idle_since = Instant::now();
        }
        self.summary.partitions = self.partitions.into_values().collect();
        self.summary.elapsed = started.elapsed();
        Ok(self.summary)
    }

    /// The next batch: waits up to 250 ms for a first record, then gathers for the batching
    /// window (or what is already fetched) up to `batch_size` records.
    async fn gather(&self) -> Result<Vec<EventRecord>> {
        let mut batch = Vec::new();
        let Some(first) = self.next(Duration::from_millis(250)).await? else {
            return Ok(batch);
        };
        batch.push(first);
        let deadline = Instant::now() + self.options.batching_window;
        while batch.len() < self.options.batch_size.max(1) {
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(5));
            match self.next(wait).await? {
                Some(record) => batch.push(record),
                None => break,
            }
        }
        Ok(batch)
    }

    async fn next(&self, wait: Duration) -> Result<Option<EventRecord>> {
        let message = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(None),
            Ok(message) => message.map_err(kafka_error("consuming"))?,
        };
        let (timestamp, log_append_time) = match message.timestamp() {
            Timestamp::CreateTime(ms) => (ms, false),
            Timestamp::LogAppendTime(ms) => (ms, true),
            Timestamp::NotAvailable => (0, false),
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|header| {
                        (
                            header.key.to_owned(),
                            header.value.map(<[u8]>::to_vec).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(EventRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp,
            log_append_time,
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
        }))
    }

    /// Invokes until every record of `batch` is acknowledged, committing as acknowledgements come.
    async fn deliver(&mut self, mut pending: Vec<EventRecord>) -> Result<()> {
        let mut retries = 0u32;
        loop {
            let event = kafka_event(
                &self.options.event_source_arn,
                &self.options.brokers,
                &pending,
            );
            self.summary.invocations += 1;
            match self.invoker.invoke(event).await {
                Ok(answer) => {
                    let failed = if self.options.report_batch_item_failures {
                        failed_from(&answer)
                    } else {
                        BTreeMap::new()
                    };
                    let (done, rest): (Vec<EventRecord>, Vec<EventRecord>) =
                        pending.into_iter().partition(|r| {
                            failed
                                .get(&format!("{}-{}", r.topic, r.partition))
                                .is_none_or(|from| r.offset < *from)
                        });
                    self.commit(&done, &rest)?;
                    if rest.is_empty() {
                        return Ok(());
                    }
                    self.summary.partial_failures += 1;
                    debug!(
                        acknowledged = done.len(),
                        failed = rest.len(),
                        "Partial batch failure; redelivering the failed records."
                    );
                    pending = rest;
                }
                Err(e) => {
                    self.summary.failed_invocations += 1;
                    warn!(error = %e, records = pending.len(), "Invocation failed; retrying the batch.");
                }
            }
            retries += 1;
            if let Some(max) = self.options.max_retries
                && retries > max
            {
                return Err(Error::Kafka(format!(
                    "a batch of {} records still failed after {max} retries; its offsets are not committed",
                    pending.len()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(retries.min(20)))).await;
        }
    }

    /// Commits, per partition, the offset after its last acknowledged record — or, when some of the
    /// partition's records failed, the first failed offset.
    fn commit(&mut self, done: &[EventRecord], failed: &[EventRecord]) -> Result<()> {
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for r in done {
            let at = next.entry((r.topic.clone(), r.partition)).or_insert(0);
            *at = (*at).max(r.offset + 1);
            if let Some(p) = self.partitions.get_mut(&(r.topic.clone(), r.partition)) {
                p.records += 1;
            }
        }
        for r in failed {
            let at = next
                .entry((r.topic.clone(), r.partition))
                .or_insert(r.offset);
            *at = (*at).min(r.offset);
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &next {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(kafka_error("committing offsets"))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(kafka_error("committing offsets"))?;
        for ((topic, partition), offset) in next {
            if let Some(p) = self.partitions.get_mut(&(topic, partition)) {
                p.committed = Some(offset);
            }
        }
        Ok(())
    }
}

/// The Kafka partial batch response: per `"<topic>-<partition>"`, the lowest failed offset.
fn failed_from(answer: &Value) -> BTreeMap<String, i64> {
    let mut failed: BTreeMap<String, i64> = BTreeMap::new();
    let items = answer
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let id = &item["itemIdentifier"];
        if let (Some(partition), Some(offset)) = (id["partition"].as_str(), id["offset"].as_i64()) {
            let at = failed.entry(partition.to_owned()).or_insert(offset);
            *at = (*at).min(offset);
        }
    }
    failed
}

fn kafka_error(doing: &'static str) -> impl Fn(rdkafka::error::KafkaError) -> Error {
    move |source| Error::kafka(doing, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_partial_batch_response_gives_each_listed_partitions_lowest_failed_offset() {
        let answer = json!({"batchItemFailures": [
            {"itemIdentifier": {"partition": "t.pin-0", "offset": 9}},
            {"itemIdentifier": {"partition": "t.pin-0", "offset": 7}},
            {"itemIdentifier": {"partition": "t.geo-2", "offset": 3}},
        ]});
        let failed = failed_from(&answer);
        assert_eq!(failed.get("t.pin-0"), Some(&7));
        assert_eq!(failed.get("t.geo-2"), Some(&3));
        assert!(failed_from(&json!({"batchItemFailures": []})).is_empty());
        assert!(failed_from(&json!(null)).is_empty());
    }
}
