//! The `kinesis-consumer` handler: decodes a `KinesisEvent`, hands each shard's records to the
//! library's [`StreamConsumer`], and answers with the Kinesis partial batch response — only records
//! that failed for infrastructure reasons are listed; a bad record is quarantined, not failed.

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::StreamConsumerConfig;
use pinpipe::lake::Warehouse;
use pinpipe::metrics::{MetricSet, Unit};
use pinpipe::stream::{ShardBatch, ShardRecord, ShardReport, StreamConsumer};
use tokio::sync::Mutex;
use tracing::info;

/// The function's one error type: only cold-start problems (configuration, the warehouse URI).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("not a Kinesis event: {0}")]
    Event(#[from] serde_json::Error),
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Diagnostic {
        Diagnostic {
            error_type: "pinpipe::Error".into(),
            error_message: e.to_string(),
        }
    }
}

/// Built once at cold start: the warm table handles live here between invocations.
pub struct State {
    consumer: Mutex<StreamConsumer>,
    metrics_namespace: String,
    /// Print EMF metric lines on stdout (CloudWatch reads them there); off for in-process runners.
    emit_metrics: bool,
}

impl State {
    pub fn new(config: &StreamConsumerConfig, emit_metrics: bool) -> Result<Self, Error> {
        let warehouse = Warehouse::open(&config.warehouse, &config.aws)?;
        Ok(State {
            consumer: Mutex::new(StreamConsumer::new(warehouse, config.routes.clone())),
            metrics_namespace: config.metrics_namespace.clone(),
            emit_metrics,
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
    let batches = shard_batches(event.payload);
    let mut consumer = state.consumer.lock().await;
    let mut reports = Vec::with_capacity(batches.len());
    for batch in &batches {
        reports.push(consumer.consume(batch, now).await);
    }
    drop(consumer);
    if state.emit_metrics {
        for line in metric_lines(&state.metrics_namespace, &reports, Utc::now()) {
            println!("{line}");
        }
    }
    let response = partial_batch_response(&reports);
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

/// The handler over JSON, as the Lambda runtime sees it: for local runners that invoke the function
/// in process with the event JSON an event source mapping would send.
pub async fn handle_json(
    state: &State,
    event: serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let event: KinesisEvent = serde_json::from_value(event)?;
    let response = handle(
        state,
        LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await?;
    Ok(serde_json::to_value(response)?)
}

/// Groups the event's records by stream and shard, each group in delivery order.
pub fn shard_batches(event: KinesisEvent) -> Vec<ShardBatch> {
    let mut batches: Vec<ShardBatch> = Vec::new();
    for record in event.records {
        let stream = record
            .event_source_arn
            .as_deref()
            .and_then(|arn| arn.split_once(":stream/"))
            .map_or("", |(_, name)| name)
            .to_owned();
        let shard = record
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map_or("", |(shard, _)| shard)
            .to_owned();
        let item = ShardRecord {
            sequence_number: record.kinesis.sequence_number,
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
    batches
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
        let batches = shard_batches(event);
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
        let batches = shard_batches(event);
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
        let report = test_report(&shard_batches(event)[0]);
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

    fn test_report(batch: &ShardBatch) -> ShardReport {
        ShardReport::new(batch, Some(pinpipe::Table::Pin))
    }
}
