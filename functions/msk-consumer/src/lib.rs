//! The `msk-consumer` handler: decodes a `KafkaEvent` (records grouped by `"<topic>-<partition>"`,
//! base64 values) and hands each topic partition's records to the library's [`Lander`] (raw zone as
//! received; values that are not JSON objects to the quarantine).
//!
//! An infrastructure failure fails the invocation. The MSK event source mappings in
//! `template.yaml` do not enable `ReportBatchItemFailures` (Lambda honours it for Kafka only in
//! provisioned mode), so Lambda takes any answer of a finished invocation as "every record done"
//! and commits the offsets: only an error makes it deliver the batch again. Landing is
//! idempotent, so the retry adds only what the failed attempt did not land.

use std::collections::BTreeMap;

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::MskConsumerConfig;
use pinpipe::error::Failure;
use pinpipe::lake::Warehouse;
use pinpipe::landing::{KafkaRecord, Lander, LandingReport, PartitionBatch};
use pinpipe::metrics::{Emf, MetricSet};
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::info;

/// The function's one error type: cold-start problems and unreadable events.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("not a Kafka event: {0}")]
    Event(#[from] serde_json::Error),
    /// A partition batch could not be landed; Lambda delivers the whole batch again.
    #[error("{topic}-{partition} not landed, the batch must be delivered again: {source}")]
    Landing {
        topic: String,
        partition: i32,
        source: pinpipe::Error,
    },
}

impl From<Error> for Diagnostic {
    /// The cause, in Lambda's `errorType` ([`Failure`]).
    fn from(e: Error) -> Diagnostic {
        let failure = match &e {
            Error::Event(_) => Failure::BadEvent,
            Error::Pinpipe(_) | Error::Landing { .. } => Failure::Infrastructure,
        };
        Diagnostic {
            error_type: failure.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// `{"batchItemFailures":[{"itemIdentifier":{"partition":"<topic>-<p>","offset":N}}]}` (spec §3.2;
/// `aws_lambda_events` has no type for it). The handler answers it with no failure: failures are
/// errors (see the module), so the answer is right whether or not a mapping enables
/// `ReportBatchItemFailures`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    pub item_identifier: KafkaItemIdentifier,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KafkaItemIdentifier {
    /// `"<topic>-<partition>"`, the event's grouping key.
    pub partition: String,
    pub offset: i64,
}

/// Built once at cold start.
pub struct State {
    lander: Mutex<Lander>,
    /// Where the EMF metric lines go (stdout on Lambda, where CloudWatch reads them).
    metrics: Emf,
}

impl State {
    pub fn new(config: &MskConsumerConfig) -> Result<Self, Error> {
        let warehouse = Warehouse::open(&config.warehouse, &config.aws)?;
        Ok(State {
            lander: Mutex::new(Lander::new(warehouse, config.routes.clone())?),
            metrics: config.metrics.clone(),
        })
    }
}

/// The handler: one topic partition at a time. The first partition that cannot be landed fails
/// the invocation (the partitions before it are landed and will be found by the retry).
pub async fn handle(
    state: &State,
    event: LambdaEvent<KafkaEvent>,
) -> Result<KafkaBatchResponse, Error> {
    let now = Utc::now();
    let batches = partition_batches(event.payload);
    let mut lander = state.lander.lock().await;
    let mut reports = Vec::with_capacity(batches.len());
    let mut failed = None;
    for batch in &batches {
        match lander.land(batch, now).await {
            Ok(report) => reports.push(report),
            Err(source) => {
                failed = Some(Error::Landing {
                    topic: batch.topic.clone(),
                    partition: batch.partition,
                    source,
                });
                break;
            }
        }
    }
    drop(lander);
    state
        .metrics
        .emit(|namespace| metric_lines(namespace, &reports, failed.is_some(), Utc::now()));
    info!(
        request_id = %event.context.request_id,
        partitions = reports.len(),
        records = reports.iter().map(|r| r.records).sum::<u64>(),
        landed = reports.iter().map(|r| r.landed).sum::<u64>(),
        quarantined = reports.iter().map(|r| r.quarantined).sum::<u64>(),
        failed = failed.is_some(),
        "Invocation done."
    );
    match failed {
        Some(e) => Err(e),
        None => Ok(KafkaBatchResponse::default()),
    }
}

/// The event's topic partitions, each in offset order. A value that is not valid base64 (never
/// sent by MSK) is kept as its text, so that it reaches the quarantine instead of failing the event.
pub fn partition_batches(event: KafkaEvent) -> Vec<PartitionBatch> {
    let mut batches: BTreeMap<(String, i32), Vec<KafkaRecord>> = BTreeMap::new();
    for (group, records) in event.records {
        for record in records {
            let topic = record
                .topic
                .clone()
                .or_else(|| group.rsplit_once('-').map(|(t, _)| t.to_owned()))
                .unwrap_or_default();
            let partition = i32::try_from(record.partition).unwrap_or(-1);
            let value = record
                .value
                .map(|v| BASE64.decode(v.as_bytes()).unwrap_or(v.into_bytes()));
            batches
                .entry((topic, partition))
                .or_default()
                .push(KafkaRecord {
                    offset: record.offset,
                    value,
                });
        }
    }
    batches
        .into_iter()
        .map(|((topic, partition), mut records)| {
            records.sort_by_key(|r| r.offset);
            PartitionBatch {
                topic,
                partition,
                records,
            }
        })
        .collect()
}

/// One EMF line per partition batch landed, by function and table, and one `InvocationsFailed`
/// line when a partition could not be landed.
pub fn metric_lines(
    namespace: &str,
    reports: &[LandingReport],
    failed: bool,
    at: DateTime<Utc>,
) -> Vec<String> {
    let mut lines: Vec<String> = reports
        .iter()
        .map(|r| {
            MetricSet::new(namespace)
                .dimension("Function", "msk-consumer")
                .dimension("Table", r.table.map_or("unknown", |t| t.name()))
                .count("RecordsIn", r.records)
                .count("RecordsLanded", r.landed)
                .count("RecordsRedelivered", r.found)
                .count("RecordsRejected", r.quarantined)
                .to_line(at)
        })
        .collect();
    if failed {
        lines.push(
            MetricSet::new(namespace)
                .dimension("Function", "msk-consumer")
                .count("InvocationsFailed", 1)
                .to_line(at),
        );
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_whether_the_event_or_the_infrastructure_is_at_fault() {
        let event = serde_json::from_str::<serde_json::Value>("[").unwrap_err();
        assert_eq!(Diagnostic::from(Error::Event(event)).error_type, "BadEvent");
        let landing = Error::Landing {
            topic: "p.pin".into(),
            partition: 0,
            source: pinpipe::Error::raw_zone("S3 unreachable"),
        };
        assert_eq!(Diagnostic::from(landing).error_type, "Infrastructure");
    }

    const EVENT: &str = r#"{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/pinpipe/abc",
      "records":{
        "12471ce1b695.pin-1":[
          {"topic":"12471ce1b695.pin","partition":1,"offset":8,"timestamp":1795780800000,"timestampType":"CREATE_TIME","key":null,"value":"bm90IGpzb24=","headers":[]},
          {"topic":"12471ce1b695.pin","partition":1,"offset":7,"timestamp":1795780800000,"timestampType":"CREATE_TIME","key":null,"value":"e30=","headers":[]}],
        "12471ce1b695.geo-0":[
          {"topic":"12471ce1b695.geo","partition":0,"offset":3,"timestamp":1795780800000,"timestampType":"CREATE_TIME","key":null,"value":"e30=","headers":[]}]}}"#;

    #[test]
    fn records_are_grouped_by_topic_partition_in_offset_order_with_decoded_values() {
        let event: KafkaEvent = serde_json::from_str(EVENT).unwrap();
        let batches = partition_batches(event);
        assert_eq!(batches.len(), 2);
        assert_eq!(
            (batches[0].topic.as_str(), batches[0].partition),
            ("12471ce1b695.geo", 0)
        );
        let pin = &batches[1];
        assert_eq!(
            pin.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            [7, 8]
        );
        assert_eq!(
            pin.records[1].value.as_deref(),
            Some(b"not json".as_slice())
        );
    }
}
