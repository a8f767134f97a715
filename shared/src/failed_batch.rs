//! The on-failure destination's objects, as Lambda writes them for a Kinesis event source mapping
//! with an S3 destination (AWS Lambda developer guide, "Retain discarded batch records for a Kinesis
//! Data Streams event source"): one JSON invocation record per discarded batch, under
//! `aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>`, holding the
//! batch's metadata (`KinesisBatchInfo`) and — for S3 only — the whole event in `payload`, an
//! escaped JSON string. Pure: the local runner writes these, `pinpipe redrive` reads them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Error, Result};

/// Where Lambda writes discarded batches in the destination bucket (the IAM policies, the
/// lifecycle rule and the request-metrics filter of `template.yaml` name the same prefix).
pub const PREFIX: &str = "aws/lambda/";

/// Why a batch was discarded (`requestContext.condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl Condition {
    pub fn name(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// A random UUID (v4 layout) as text: mapping ids, request ids, object names.
pub fn random_uuid() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// The object key of a discarded batch of `shard`, written at `at`.
pub fn object_key(mapping_uuid: &str, shard: &str, at: DateTime<Utc>, random: &str) -> String {
    format!(
        "{PREFIX}{mapping_uuid}/{shard}/{}/{}-{random}",
        at.format("%Y/%m/%d"),
        at.format("%Y-%m-%dT%H.%M.%S")
    )
}

/// What the destination is told of a discarded batch, besides the event itself.
#[derive(Clone, Debug)]
pub struct Discarded<'a> {
    pub function_arn: &'a str,
    pub condition: Condition,
    pub invocations: u32,
    /// The last answer's error type, when the function failed (`responseContext.functionError`).
    pub function_error: Option<&'a str>,
    pub stream_arn: &'a str,
    pub shard: &'a str,
    /// Arrival times of the first and last record, seconds since the epoch.
    pub arrivals: (f64, f64),
    pub at: DateTime<Utc>,
}

/// The invocation record Lambda writes to an S3 on-failure destination for `event` (a
/// `KinesisEvent` of one shard).
pub fn invocation_record(discarded: &Discarded<'_>, event: &Value) -> Value {
    let records = event["Records"].as_array().map_or(&[][..], Vec::as_slice);
    let sequence = |r: Option<&Value>| {
        r.and_then(|r| r["kinesis"]["sequenceNumber"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    let instant = |seconds: f64| {
        DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    };
    json!({
        "requestContext": {
            "requestId": random_uuid(),
            "functionArn": discarded.function_arn,
            "condition": discarded.condition.name(),
            "approximateInvokeCount": discarded.invocations,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": discarded.function_error.unwrap_or(""),
        },
        "version": "1.0",
        "timestamp": discarded.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "KinesisBatchInfo": {
            "shardId": discarded.shard,
            "startSequenceNumber": sequence(records.first()),
            "endSequenceNumber": sequence(records.last()),
            "approximateArrivalOfFirstRecord": instant(discarded.arrivals.0),
            "approximateArrivalOfLastRecord": instant(discarded.arrivals.1),
            "batchSize": records.len(),
            "streamArn": discarded.stream_arn,
        },
        "payload": event.to_string(),
    })
}

/// One record of a discarded batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRecord {
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// A discarded Kinesis batch read back from the destination: one shard's records, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedBatch {
    pub stream: String,
    pub shard: String,
    pub condition: String,
    pub records: Vec<FailedRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInfo {
    shard_id: String,
    stream_arn: String,
    batch_size: Option<usize>,
}

#[derive(Deserialize)]
struct RequestContext {
    #[serde(default)]
    condition: String,
}

#[derive(Deserialize)]
struct InvocationRecord {
    #[serde(rename = "requestContext")]
    request_context: RequestContext,
    #[serde(rename = "KinesisBatchInfo")]
    batch: Option<BatchInfo>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "Records")]
    records: Vec<PayloadRecord>,
}

#[derive(Deserialize)]
struct PayloadRecord {
    kinesis: PayloadKinesis,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayloadKinesis {
    sequence_number: String,
    data: String,
}

impl FailedBatch {
    /// Reads the invocation record at `key`. Every record of the payload must belong to the shard
    /// the metadata names (its `eventID` is `<shard>:<sequence number>`) and the payload must hold
    /// as many records as `batchSize` says: a destination object is redriven whole or not at all.
    pub fn parse(key: &str, bytes: &[u8]) -> Result<FailedBatch> {
        let bad = |what: String| Error::redrive(format!("{key}: {what}"));
        let record: InvocationRecord = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a Lambda invocation record: {e}")))?;
        let info = record.batch.ok_or_else(|| {
            bad("no KinesisBatchInfo (not a Kinesis mapping's discarded batch)".into())
        })?;
        let payload = record.payload.ok_or_else(|| {
            bad("no payload (only an S3 destination keeps the records; with SQS or SNS, read them from the stream by sequence number)".into())
        })?;
        let payload: Payload = serde_json::from_str(&payload)
            .map_err(|e| bad(format!("payload is not a Kinesis event: {e}")))?;
        let stream = info
            .stream_arn
            .split_once(":stream/")
            .map(|(_, name)| name.to_owned())
            .filter(|name| !name.is_empty())
            .ok_or_else(|| bad(format!("streamArn {:?} names no stream", info.stream_arn)))?;
        if let Some(size) = info.batch_size
            && size != payload.records.len()
        {
            return Err(bad(format!(
                "batchSize {size} but the payload holds {} records",
                payload.records.len()
            )));
        }
        let mut records = Vec::with_capacity(payload.records.len());
        for (i, r) in payload.records.into_iter().enumerate() {
            let expected = format!("{}:{}", info.shard_id, r.kinesis.sequence_number);
            if r.event_id.as_deref() != Some(expected.as_str()) {
                return Err(bad(format!(
                    "record {i}: eventID {:?} is not {expected:?}",
                    r.event_id.unwrap_or_default()
                )));
            }
            let data = BASE64
                .decode(r.kinesis.data.as_bytes())
                .map_err(|e| bad(format!("record {i}: data is not base64: {e}")))?;
            records.push(FailedRecord {
                sequence_number: r.kinesis.sequence_number,
                data,
            });
        }
        Ok(FailedBatch {
            stream,
            shard: info.shard_id,
            condition: record.request_context.condition,
            records,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Value {
        json!({"Records": [
            {"kinesis": {"sequenceNumber": "100", "data": BASE64.encode(b"{\"a\":1}"), "partitionKey": "k",
                         "approximateArrivalTimestamp": 1_795_780_800.5},
             "eventID": "shardId-000000000003:100",
             "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/streaming-x-pin"},
            {"kinesis": {"sequenceNumber": "101", "data": BASE64.encode(b"not json"), "partitionKey": "k",
                         "approximateArrivalTimestamp": 1_795_780_801.0},
             "eventID": "shardId-000000000003:101",
             "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/streaming-x-pin"}]})
    }

    fn discarded(at: DateTime<Utc>) -> Discarded<'static> {
        Discarded {
            function_arn: "arn:aws:lambda:eu-west-1:123456789012:function:kinesis-consumer",
            condition: Condition::RetryAttemptsExhausted,
            invocations: 11,
            function_error: None,
            stream_arn: "arn:aws:kinesis:eu-west-1:123456789012:stream/streaming-x-pin",
            shard: "shardId-000000000003",
            arrivals: (1_795_780_800.5, 1_795_780_801.0),
            at,
        }
    }

    #[test]
    fn the_object_key_follows_lambdas_naming_convention() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T09:05:07Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            object_key("f89f8514", "shardId-000000000003", at, "r"),
            "aws/lambda/f89f8514/shardId-000000000003/2026/12/03/2026-12-03T09.05.07-r"
        );
    }

    #[test]
    fn an_invocation_record_reads_back_as_the_batch_it_holds() {
        let record = invocation_record(&discarded(Utc::now()), &event());
        assert_eq!(record["KinesisBatchInfo"]["startSequenceNumber"], "100");
        assert_eq!(record["KinesisBatchInfo"]["endSequenceNumber"], "101");
        assert_eq!(record["KinesisBatchInfo"]["batchSize"], 2);
        assert!(record["payload"].is_string(), "an escaped JSON string");
        let batch = FailedBatch::parse("k", record.to_string().as_bytes()).unwrap();
        assert_eq!(batch.stream, "streaming-x-pin");
        assert_eq!(batch.shard, "shardId-000000000003");
        assert_eq!(batch.condition, "RetryAttemptsExhausted");
        assert_eq!(
            batch.records,
            [
                FailedRecord {
                    sequence_number: "100".into(),
                    data: b"{\"a\":1}".to_vec()
                },
                FailedRecord {
                    sequence_number: "101".into(),
                    data: b"not json".to_vec()
                }
            ]
        );
    }

    #[test]
    fn an_object_that_cannot_be_redriven_whole_is_refused_by_its_key() {
        let good = invocation_record(&discarded(Utc::now()), &event());
        let mut no_payload = good.clone();
        no_payload.as_object_mut().unwrap().remove("payload");
        let mut short = good.clone();
        short["KinesisBatchInfo"]["batchSize"] = json!(3);
        let mut other_shard = event();
        other_shard["Records"][1]["eventID"] = json!("shardId-000000000004:101");
        let other_shard = invocation_record(&discarded(Utc::now()), &other_shard);
        for (bad, names) in [
            (no_payload, "no payload"),
            (short, "batchSize 3"),
            (other_shard, "record 1"),
            (json!({"requestContext": {}}), "KinesisBatchInfo"),
        ] {
            let e = FailedBatch::parse("aws/lambda/x/y", bad.to_string().as_bytes()).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("aws/lambda/x/y") && text.contains(names),
                "{text}"
            );
        }
    }
}
