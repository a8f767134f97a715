//! The MSK trigger's `KafkaEvent` JSON: records grouped by `"<topic>-<partition>"`, keys and values
//! base64, timestamps in milliseconds, headers as signed bytes (spec §3.2).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

/// One consumed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch, and whether the producer or the broker set it.
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A `KafkaEvent` holding `records` (in the order given within each partition).
pub fn kafka_event(
    event_source_arn: &str,
    bootstrap_servers: &str,
    records: &[EventRecord],
) -> Value {
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        let headers: Vec<Value> = r
            .headers
            .iter()
            .map(|(name, bytes)| {
                let signed: Vec<i8> = bytes.iter().map(|b| *b as i8).collect();
                let mut header = Map::new();
                header.insert(name.clone(), json!(signed));
                Value::Object(header)
            })
            .collect();
        grouped
            .entry(format!("{}-{}", r.topic, r.partition))
            .or_default()
            .push(json!({
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp,
                "timestampType": if r.log_append_time { "LOG_APPEND_TIME" } else { "CREATE_TIME" },
                "key": r.key.as_ref().map(|k| BASE64.encode(k)),
                "value": r.value.as_ref().map(|v| BASE64.encode(v)),
                "headers": headers,
            }));
    }
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": event_source_arn,
        "bootstrapServers": bootstrap_servers,
        "records": grouped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_grouped_by_topic_partition_with_base64_values_and_signed_header_bytes() {
        let record = |partition, offset, value: Option<&[u8]>| EventRecord {
            topic: "p.pin".into(),
            partition,
            offset,
            timestamp: 1_700_000_000_000,
            log_append_time: false,
            key: None,
            value: value.map(<[u8]>::to_vec),
            headers: vec![("h".into(), vec![1, 255])],
        };
        let event = kafka_event(
            "arn:aws:kafka:local",
            "127.0.0.1:9092",
            &[
                record(0, 5, Some(b"{}")),
                record(1, 2, None),
                record(0, 6, Some(b"x")),
            ],
        );
        assert_eq!(event["eventSource"], "aws:kafka");
        let p0 = event["records"]["p.pin-0"].as_array().unwrap();
        assert_eq!(p0.len(), 2);
        assert_eq!(p0[0]["value"], "e30=");
        assert_eq!(p0[1]["offset"], 6);
        assert_eq!(p0[0]["headers"], json!([{"h": [1, -1]}]));
        assert_eq!(event["records"]["p.pin-1"][0]["value"], Value::Null);
        assert_eq!(p0[0]["timestampType"], "CREATE_TIME");
    }
}
