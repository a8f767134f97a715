use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// One record as the event source mapping puts it into an event.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub partition_key: String,
    pub sequence_number: String,
    pub data: Vec<u8>,
    /// Seconds since the epoch, with milliseconds.
    pub approximate_arrival: f64,
}

/// The Lambda `KinesisEvent` JSON for records of one shard, as AWS sends it.
pub fn kinesis_event(
    stream_arn: &str,
    region: &str,
    shard: &str,
    records: &[EventRecord],
) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": BASE64.encode(&r.data),
                    "approximateArrivalTimestamp": r.approximate_arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{shard}:{}", r.sequence_number),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::000000000000:role/pinpipe-local-runner",
                "awsRegion": region,
                "eventSourceARN": stream_arn,
            })
        })
        .collect();
    json!({ "Records": records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_base64_data_and_the_shard_in_the_event_id() {
        let event = kinesis_event(
            "arn:aws:kinesis:us-east-1:000000000000:stream/streaming-x-pin",
            "us-east-1",
            "shardId-000000000000",
            &[EventRecord {
                partition_key: "k".into(),
                sequence_number: "4959".into(),
                data: b"{}".to_vec(),
                approximate_arrival: 1_700_000_000.25,
            }],
        );
        let r = &event["Records"][0];
        assert_eq!(r["kinesis"]["data"], "e30=");
        assert_eq!(r["eventID"], "shardId-000000000000:4959");
        assert_eq!(
            r["kinesis"]["approximateArrivalTimestamp"],
            1_700_000_000.25
        );
        assert_eq!(
            r["eventSourceARN"],
            "arn:aws:kinesis:us-east-1:000000000000:stream/streaming-x-pin"
        );
    }
}
