//! The `kinesis-consumer` handler: decodes a `KinesisEvent`, hands each shard's records to the
//! library's [`StreamConsumer`], and answers with the Kinesis partial batch response — only records
//! that failed for infrastructure reasons are listed; a bad record is quarantined, not failed.
//!
//! A batch that is poison as a whole — a record without an `eventID` or an `eventSourceARN`, an
//! `eventID` that disagrees with the record's sequence number, a stream no table reads, sequence
//! numbers that do not increase — fails the invocation before anything is written ([`Error::Poison`]):
//! Lambda's `Errors` metric and the mapping's retries and on-failure destination then hold it,
//! never a merge of two shards' positions or a silent drop.

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::StreamConsumerConfig;
use pinpipe::error::Failure;
use pinpipe::lake::Warehouse;
use pinpipe::metrics::{Emf, MetricSet, Unit};
use pinpipe::stream::{ShardBatch, ShardRecord, ShardReport, StreamConsumer};
use tokio::sync::Mutex;
use tracing::info;

/// The function's one error type: cold-start problems (configuration, the warehouse URI) and an
/// event that cannot be consumed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("not a Kinesis event: {0}")]
    Event(#[from] serde_json::Error),
    #[error("poison batch, nothing written: {0}")]
    Poison(String),
}

impl From<Error> for Diagnostic {
    /// The cause, in Lambda's `errorType` ([`Failure`]).
    fn from(e: Error) -> Diagnostic {
        let failure = match &e {
            Error::Event(_) => Failure::BadEvent,
            Error::Poison(_) => Failure::PoisonBatch,
            Error::Pinpipe(_) => Failure::Infrastructure,
        };
        Diagnostic {
            error_type: failure.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// Built once at cold start: the warm table handles live here between invocations.
pub struct State {
    consumer: Mutex<StreamConsumer>,
    /// Where the EMF metric lines go (stdout on Lambda, where CloudWatch reads them).
    metrics: Emf,
}

impl State {
    pub fn new(config: &StreamConsumerConfig) -> Result<Self, Error> {
        let warehouse = Warehouse::open(&config.warehouse, &config.aws)?;
        Ok(State {
            consumer: Mutex::new(StreamConsumer::new(warehouse, config.routes.clone())),
            metrics: config.metrics.clone(),
        })
    }
}

/// The handler: one shard batch at a time (an event source mapping sends one shard per
/// invocation; a hand-made event may mix several), then the partial batch response.
pub async fn handle(
    state: &State,
    event: LambdaEvent<KinesisEvent>,
) -> Result<KinesisEventResponse, Error> {
    let now = Utc::now();
    let records = event.payload.records.len() as u64;
    let mut consumer = state.consumer.lock().await;
    let batches = match checked_batches(&consumer, event.payload) {
        Ok(batches) => batches,
        Err(e) => {
            drop(consumer);
            poison_metric(state, records);
            tracing::error!(request_id = %event.context.request_id, error = %e, "Invocation failed.");
            return Err(e);
        }
    };
    let mut reports = Vec::with_capacity(batches.len());
    for batch in &batches {
        reports.push(consumer.consume(batch, now).await);
    }
    drop(consumer);
    let response = partial_batch_response(&reports);
    let (at, failed) = (Utc::now(), response.batch_item_failures.len() as u64);
    state.metrics.emit(|namespace| {
        let mut lines = metric_lines(namespace, &reports, at);
        lines.push(invocation_metric_line(namespace, false, failed, at));
        lines
    });
    info!(
        request_id = %event.context.request_id,
        shards = reports.len(),
        records = reports.iter().map(|r| r.records).sum::<u64>(),
        rows_written = reports.iter().map(|r| r.rows_written).sum::<u64>(),
        quarantined = reports.iter().map(|r| r.quarantined).sum::<u64>(),
        failed = response.batch_item_failures.len(),
        "Invocation done."
    );
    Ok(response)
}

/// The event's shard batches, each checked to be consumable ([`StreamConsumer::check`]) before any
/// is consumed: one poison batch fails the invocation with nothing written.
fn checked_batches(
    consumer: &StreamConsumer,
    event: KinesisEvent,
) -> Result<Vec<ShardBatch>, Error> {
    let batches = shard_batches(event)?;
    for batch in &batches {
        consumer.check(batch).map_err(|e| {
            let sequence =
                |r: Option<&ShardRecord>| r.map_or(String::new(), |r| r.sequence_number.clone());
            Error::Poison(format!(
                "shard {} of stream {:?}, sequence numbers {}..{}: {e}",
                batch.shard,
                batch.stream,
                sequence(batch.records.first()),
                sequence(batch.records.last()),
            ))
        })?;
    }
    Ok(batches)
}

/// The EMF line of an invocation failed as a whole: all its records failed.
fn poison_metric(state: &State, records: u64) {
    state
        .metrics
        .emit(|namespace| [invocation_metric_line(namespace, true, records, Utc::now())]);
}

/// One EMF line per invocation, by function only: `InvocationsFailed` (0 or 1) and `RecordsFailed`
/// (records the mapping must deliver again). The function answers a lake outage with a partial
/// batch response, not an error, so Lambda's `Errors` metric stays at zero: these are what an alarm
/// watches.
pub fn invocation_metric_line(
    namespace: &str,
    failed: bool,
    records_failed: u64,
    at: DateTime<Utc>,
) -> String {
    MetricSet::new(namespace)
        .dimension("Function", "kinesis-consumer")
        .count("InvocationsFailed", u64::from(failed))
        .count("RecordsFailed", records_failed)
        .to_line(at)
}

/// Groups the event's records by stream and shard, each group in delivery order. Every record must
/// name its stream (`eventSourceARN`) and its shard (`eventID`, `<shardId>:<sequenceNumber>`):
/// without them two shards' records would merge into one position.
pub fn shard_batches(event: KinesisEvent) -> Result<Vec<ShardBatch>, Error> {
    let mut batches: Vec<ShardBatch> = Vec::new();
    for (i, record) in event.records.into_iter().enumerate() {
        let sequence_number = record.kinesis.sequence_number;
        let stream = record
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.split_once(":stream/"))
            .map(|(_, name)| name.to_owned())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                Error::Poison(format!(
                    "record {i} (sequence number {sequence_number:?}): eventSourceARN {:?} names no Kinesis stream",
                    record.event_source_arn.as_deref().unwrap_or("")
                ))
            })?;
        let shard = match record.event_id.as_deref().and_then(|id| id.split_once(':')) {
            Some((shard, seq)) if !shard.is_empty() && seq == sequence_number => shard.to_owned(),
            _ => {
                return Err(Error::Poison(format!(
                    "record {i} of stream {stream:?} (sequence number {sequence_number:?}): eventID {:?} is not <shardId>:<that sequence number>",
                    record.event_id.as_deref().unwrap_or("")
                )));
            }
        };
        let item = ShardRecord {
            sequence_number,
            data: record.kinesis.data.0,
        };
        match batches
            .iter_mut()
            .find(|b| b.stream == stream && b.shard == shard)
        {
            Some(batch) => batch.records.push(item),
            None => batches.push(ShardBatch {
                stream,
                shard,
                records: vec![item],
            }),
        }
    }
    Ok(batches)
}

/// `{"batchItemFailures":[{"itemIdentifier":"<sequenceNumber>"}]}` for every record to retry.
pub fn partial_batch_response(reports: &[ShardReport]) -> KinesisEventResponse {
    let mut response = KinesisEventResponse::default();
    for sequence_number in reports.iter().flat_map(|r| &r.failed) {
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(sequence_number.clone());
        response.batch_item_failures.push(failure);
    }
    response
}

/// One EMF line per shard batch: the data-quality and commit metrics, by function and table.
pub fn metric_lines(namespace: &str, reports: &[ShardReport], at: DateTime<Utc>) -> Vec<String> {
    reports
        .iter()
        .map(|r| {
            let table = r.table.map_or("unknown", |t| t.name());
            MetricSet::new(namespace)
                .dimension("Function", "kinesis-consumer")
                .dimension("Table", table)
                .count("RecordsIn", r.records)
                .count("RecordsClean", r.stats.clean)
                .count("RowsWritten", r.rows_written)
                .count("FieldsNulled", r.stats.nulled_total())
                .count("RecordsRejected", r.stats.rejected_total())
                .count(
                    "DuplicatesSkipped",
                    r.stats.duplicates + r.reposts + r.redelivered,
                )
                .count("RecordsFailed", r.failed.len() as u64)
                .metric("CommitMs", Unit::Milliseconds, r.commit_ms as f64)
                .count("CommitRetries", u64::from(r.commit_retries))
                .to_line(at)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_whether_the_event_a_record_or_the_infrastructure_is_at_fault() {
        let event = serde_json::from_str::<serde_json::Value>("[").unwrap_err();
        assert_eq!(Diagnostic::from(Error::Event(event)).error_type, "BadEvent");
        let poison = Error::Poison("record 3 keeps failing".into());
        assert_eq!(Diagnostic::from(poison).error_type, "PoisonBatch");
        let lake = Error::Pinpipe(pinpipe::Error::warehouse("unreachable"));
        assert_eq!(Diagnostic::from(lake).error_type, "Infrastructure");
    }

    const EVENT: &str = r#"{"Records":[
      {"kinesis":{"partitionKey":"1","sequenceNumber":"100","data":"e30=","approximateArrivalTimestamp":1700000000.5},
       "eventID":"shardId-000000000001:100","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-x-pin"},
      {"kinesis":{"partitionKey":"1","sequenceNumber":"200","data":"e30=","approximateArrivalTimestamp":1700000000.5},
       "eventID":"shardId-000000000002:200","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-x-pin"},
      {"kinesis":{"partitionKey":"1","sequenceNumber":"101","data":"bm90IGpzb24=","approximateArrivalTimestamp":1700000000.5},
       "eventID":"shardId-000000000001:101","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/streaming-x-pin"}]}"#;

    #[test]
    fn records_are_grouped_by_stream_and_shard_in_delivery_order() {
        let event: KinesisEvent = serde_json::from_str(EVENT).unwrap();
        let batches = shard_batches(event).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(
            (batches[0].stream.as_str(), batches[0].shard.as_str()),
            ("streaming-x-pin", "shardId-000000000001")
        );
        let seqs: Vec<&str> = batches[0]
            .records
            .iter()
            .map(|r| r.sequence_number.as_str())
            .collect();
        assert_eq!(seqs, ["100", "101"]);
        assert_eq!(batches[0].records[1].data, b"not json");
        assert_eq!(batches[1].shard, "shardId-000000000002");
    }

    #[test]
    fn the_partial_batch_response_lists_failed_sequence_numbers_only() {
        let event: KinesisEvent = serde_json::from_str(EVENT).unwrap();
        let batches = shard_batches(event).unwrap();
        let mut ok = test_report(&batches[0]);
        ok.failed.clear();
        let mut failed = test_report(&batches[1]);
        failed.failed = vec!["200".into()];
        let response = partial_batch_response(&[ok, failed]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "200"}]})
        );
        assert_eq!(
            serde_json::to_value(partial_batch_response(&[])).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    #[test]
    fn each_shard_batch_emits_one_metric_line() {
        let event: KinesisEvent = serde_json::from_str(EVENT).unwrap();
        let report = test_report(&shard_batches(event).unwrap()[0]);
        let lines = metric_lines("pinpipe", &[report], Utc::now());
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["Function"], "kinesis-consumer");
        assert_eq!(v["Table"], "pin");
        assert_eq!(v["RecordsIn"], 2.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            9
        );
    }

    #[test]
    fn a_record_without_its_shard_or_stream_is_poison_not_merged() {
        let event = |record: &str| -> KinesisEvent {
            serde_json::from_str(&format!(r#"{{"Records":[{record}]}}"#)).unwrap()
        };
        let good = r#"{"kinesis":{"partitionKey":"1","sequenceNumber":"100","data":"e30=","approximateArrivalTimestamp":1700000000.5},
           "eventID":"shardId-000000000001:100","eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/s"}"#;
        assert_eq!(shard_batches(event(good)).unwrap().len(), 1);
        for (bad, names) in [
            (
                good.replace(r#""eventID":"shardId-000000000001:100","#, ""),
                "eventID",
            ),
            (
                good.replace("shardId-000000000001:100", "shardId-000000000001"),
                "eventID",
            ),
            (
                good.replace("shardId-000000000001:100", "shardId-000000000001:101"),
                "eventID",
            ),
            (good.replace("stream/s", "table/s"), "eventSourceARN"),
        ] {
            let e = shard_batches(event(&bad)).unwrap_err();
            assert!(matches!(e, Error::Poison(_)), "{e}");
            assert!(
                e.to_string().contains(names) && e.to_string().contains("record 0"),
                "{e}"
            );
        }
    }

    #[test]
    fn every_invocation_emits_its_failures_by_function_alone() {
        let line = invocation_metric_line("pinpipe", false, 3, Utc::now());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["RecordsFailed"], 3.0);
        assert_eq!(v["InvocationsFailed"], 0.0);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function"]])
        );
    }

    fn test_report(batch: &ShardBatch) -> ShardReport {
        ShardReport::new(batch, Some(pinpipe::Table::Pin))
    }
}
