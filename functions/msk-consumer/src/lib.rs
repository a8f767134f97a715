//! The `msk-consumer` handler: decodes a `KafkaEvent` (records grouped by `"<topic>-<partition>"`,
//! base64 values), hands each topic partition's records to the library's [`Lander`] (raw zone as
//! received; values that are not JSON objects to the quarantine), and answers with the Kafka partial
//! batch response — only partitions that failed for infrastructure reasons are listed.

use std::collections::BTreeMap;

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::MskConsumerConfig;
use pinpipe::lake::Warehouse;
use pinpipe::landing::{KafkaRecord, Lander, LandingReport, PartitionBatch};
use pinpipe::metrics::MetricSet;
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
}

impl From<Error> for Diagnostic {
    fn from(e: Error) -> Diagnostic {
        Diagnostic {
            error_type: "pinpipe::Error".into(),
            error_message: e.to_string(),
        }
    }
}

/// `{"batchItemFailures":[{"itemIdentifier":{"partition":"<topic>-<p>","offset":N}}]}` (spec §3.2;
/// `aws_lambda_events` has no type for it).
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
    metrics_namespace: String,
    /// Print EMF metric lines on stdout (CloudWatch reads them there); off for in-process runners.
    emit_metrics: bool,
}

impl State {
    pub fn new(config: &MskConsumerConfig, emit_metrics: bool) -> Result<Self, Error> {
        let warehouse = Warehouse::open(&config.warehouse, &config.aws)?;
        Ok(State {
            lander: Mutex::new(Lander::new(warehouse, config.routes.clone())?),
            metrics_namespace: config.metrics_namespace.clone(),
            emit_metrics,
        })
    }
}

/// The handler: one topic partition at a time, then the partial batch response.
pub async fn handle(
    state: &State,
    event: LambdaEvent<KafkaEvent>,
) -> Result<KafkaBatchResponse, Error> {
    let now = Utc::now();
    let batches = partition_batches(event.payload);
    let mut lander = state.lander.lock().await;
    let mut reports = Vec::with_capacity(batches.len());
    for batch in &batches {
        reports.push(lander.land(batch, now).await);
    }
    drop(lander);
    if state.emit_metrics {
        for line in metric_lines(&state.metrics_namespace, &reports, Utc::now()) {
            println!("{line}");
        }
    }
    let response = partial_batch_response(&reports);
    info!(
        request_id = %event.context.request_id,
        partitions = reports.len(),
        records = reports.iter().map(|r| r.records).sum::<u64>(),
        landed = reports.iter().map(|r| r.landed).sum::<u64>(),
        quarantined = reports.iter().map(|r| r.quarantined).sum::<u64>(),
        failed = response.batch_item_failures.len(),
        "Invocation done."
    );
    Ok(response)
}

/// The handler over JSON, for local runners that invoke the function in process.
pub async fn handle_json(
    state: &State,
    event: serde_json::Value,
) -> Result<serde_json::Value, Error> {
    let event: KafkaEvent = serde_json::from_value(event)?;
    let response = handle(
        state,
        LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await?;
    Ok(serde_json::to_value(response)?)
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

pub fn partial_batch_response(reports: &[LandingReport]) -> KafkaBatchResponse {
    KafkaBatchResponse {
        batch_item_failures: reports
            .iter()
            .filter_map(|r| {
                r.failed_from.map(|offset| KafkaBatchItemFailure {
                    item_identifier: KafkaItemIdentifier {
                        partition: format!("{}-{}", r.topic, r.partition),
                        offset,
                    },
                })
            })
            .collect(),
    }
}

/// One EMF line per partition batch, by function and topic.
pub fn metric_lines(namespace: &str, reports: &[LandingReport], at: DateTime<Utc>) -> Vec<String> {
    reports
        .iter()
        .map(|r| {
            MetricSet::new(namespace)
                .dimension("Function", "msk-consumer")
                .dimension("Table", r.table.map_or("unknown", |t| t.name()))
                .count("RecordsIn", r.records)
                .count("RecordsLanded", r.landed)
                .count("RecordsRedelivered", r.found)
                .count("RecordsRejected", r.quarantined)
                .count("PartitionsFailed", u64::from(r.failed_from.is_some()))
                .to_line(at)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_partial_batch_response_names_failed_partitions_from_their_first_offset() {
        let failed = LandingReport {
            topic: "12471ce1b695.pin".into(),
            partition: 1,
            failed_from: Some(7),
            ..LandingReport::default()
        };
        let ok = LandingReport::default();
        assert_eq!(
            serde_json::to_value(partial_batch_response(&[ok, failed])).unwrap(),
            serde_json::json!({"batchItemFailures": [
                {"itemIdentifier": {"partition": "12471ce1b695.pin-1", "offset": 7}}]})
        );
        assert_eq!(
            serde_json::to_value(partial_batch_response(&[])).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }
}
