//! The ingest API's requests and answers (spec §3.1), pure: a method, a path, a content type and a
//! body in; the records to produce (or a 4xx naming the record and the field) out; the answer shapes
//! of the Kafka REST proxy and of Kinesis. Producing is the caller's (the `ingest-api` function).
//!
//! A record is accepted when its value is a JSON object of a known table with a usable id (`index`
//! or `ind`) within the size limit. Everything else about it (a bad latitude, a date in the future…)
//! is for the cleaning downstream, which keeps rejections as data in the quarantine.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::Table;
use crate::record::{Reason, Rejection, clean};
use crate::routes::{StreamRoutes, TopicRoutes};

use crate::limits::{KAFKA_MAX_KEY_AND_VALUE, KINESIS_MAX_RECORD_BYTES};
pub use crate::limits::{
    KINESIS_MAX_PARTITION_KEY as MAX_PARTITION_KEY, MAX_BODY_BYTES, MAX_RECORDS,
};

/// Which endpoint a request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /topics/{topic}`
    Topic(String),
    /// `PUT /streams/{stream}/record`
    StreamRecord(String),
    /// `PUT /streams/{stream}/records`
    StreamRecords(String),
}

/// A refusal: HTTP status, the Kafka REST proxy's `error_code` convention, and a message that names
/// the record (0-based index in `records`) and the field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error_code: u32,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, error_code: u32, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_code,
            message: message.into(),
        }
    }

    fn bad_body(message: impl Into<String>) -> Self {
        Self::new(400, 40001, message)
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, 42201, message)
    }

    fn too_large(message: impl Into<String>) -> Self {
        Self::new(413, 41301, message)
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Value {
        json!({"error_code": self.error_code, "message": self.message})
    }
}

/// One record to produce: the destination table and the bytes of its JSON object, exactly as sent
/// (the `Data` of a Kinesis request sent as base64 is decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    pub table: Table,
    /// Kafka: the record's key (its JSON text), if any. Kinesis: the partition key.
    pub key: Option<String>,
    /// Kafka: the partition the client asked for, if any.
    pub partition: Option<i32>,
    pub value: Vec<u8>,
}

/// Finds the endpoint from the method and path. The path may start with a stage (`/prod/topics/…`,
/// as a stage URL of the original's API reads, and as `pinpipe serve` receives it): one segment of
/// a stage name's characters (letters, digits, `-`, `_`; at most 128). Nothing else is routed: not
/// a longer prefix, nor an endpoint inside another's path.
pub fn route(method: &str, path: &str) -> Result<Endpoint, ApiError> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let endpoint_parts = match parts.as_slice() {
        [stage, rest @ ..] if is_stage(stage) => rest,
        all => all,
    };
    let endpoint = match endpoint_parts {
        ["topics", topic] => Some(("POST", Endpoint::Topic(decode(topic)))),
        ["streams", stream, "record"] => Some(("PUT", Endpoint::StreamRecord(decode(stream)))),
        ["streams", stream, "records"] => Some(("PUT", Endpoint::StreamRecords(decode(stream)))),
        _ => None,
    };
    match endpoint {
        None => Err(ApiError::new(
            404,
            40400,
            format!(
                "no endpoint at {path}: use POST /topics/{{topic}}, PUT /streams/{{stream}}/record or PUT /streams/{{stream}}/records"
            ),
        )),
        Some((expected, _)) if !method.eq_ignore_ascii_case(expected) => Err(ApiError::new(
            405,
            40501,
            format!("{method} is not allowed on {path}: use {expected}"),
        )),
        Some((_, endpoint)) => Ok(endpoint),
    }
}

/// An API Gateway stage name (letters, digits, `-`, `_`; 1 to 128), and not the first segment of
/// an endpoint.
fn is_stage(segment: &str) -> bool {
    (1..=128).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && segment != "topics"
        && segment != "streams"
}

/// Percent-decoding of a path segment (topic and stream names are plain ASCII; `%2E` is a dot).
fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = segment.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks the content type: JSON (`application/json`, the Kafka REST proxy's
/// `application/vnd.kafka.json.v2+json` and `application/vnd.kafka.v2+json`), parameters allowed.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(content_type) = content_type else {
        return Err(ApiError::new(
            415,
            41501,
            "no Content-Type: send application/vnd.kafka.json.v2+json or application/json",
        ));
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json"
        | "application/vnd.kafka.json.v2+json"
        | "application/vnd.kafka.v2+json" => Ok(()),
        _ => Err(ApiError::new(
            415,
            41501,
            format!(
                "Content-Type {content_type:?} is not supported: send application/vnd.kafka.json.v2+json or application/json"
            ),
        )),
    }
}

#[derive(Deserialize)]
struct ProduceRequest<'a> {
    #[serde(borrow)]
    records: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct ProduceRecord<'a> {
    #[serde(borrow)]
    key: Option<&'a RawValue>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
    partition: Option<i64>,
}

/// A `POST /topics/{topic}` request → its records.
pub fn topic_records(
    topic: &str,
    content_type: Option<&str>,
    body: &[u8],
    routes: &TopicRoutes,
) -> Result<Vec<OutRecord>, ApiError> {
    let table = routes.table_for(topic).ok_or_else(|| {
        ApiError::new(
            404,
            40401,
            format!(
                "topic {topic:?} not found: topics are <prefix>.pin, <prefix>.geo and <prefix>.user"
            ),
        )
    })?;
    check_content_type(content_type)?;
    let records = envelope(body, |b| {
        serde_json::from_slice::<ProduceRequest<'_>>(b).map(|r| r.records)
    })?;
    records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let record: ProduceRecord<'_> = serde_json::from_str(raw.get()).map_err(|e| {
                ApiError::invalid(format!(
                    "record {i}: not a {{\"value\": {{…}}}} object ({e})"
                ))
            })?;
            let value = record.value.ok_or_else(|| {
                ApiError::invalid(format!("record {i}: field `value` is missing"))
            })?;
            let partition = match record.partition {
                None => None,
                Some(p) => Some(i32::try_from(p).ok().filter(|p| *p >= 0).ok_or_else(|| {
                    ApiError::invalid(format!(
                        "record {i}, field `partition`: {p} is not a partition number"
                    ))
                })?),
            };
            let key = record
                .key
                .map(|k| k.get().to_owned())
                .filter(|k| k != "null");
            let key_len = key.as_ref().map_or(0, String::len);
            let value = checked_value(table, i, "value", value.get().as_bytes(), |len| {
                (key_len + len > KAFKA_MAX_KEY_AND_VALUE).then(|| {
                    format!(
                        "record {i}, field `value`: key and value are {} bytes; a Kafka message holds at most {KAFKA_MAX_KEY_AND_VALUE} (librdkafka's message.max.bytes, 1,000,000, less 36 bytes of framing)",
                        key_len + len
                    )
                })
            })?;
            Ok(OutRecord {
                table,
                key,
                partition,
                value,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct PutRecord<'a> {
    #[serde(rename = "StreamName")]
    stream_name: Option<String>,
    #[serde(rename = "Data", alias = "data", borrow)]
    data: Option<&'a RawValue>,
    #[serde(
        rename = "PartitionKey",
        alias = "partition-key",
        alias = "partitionKey"
    )]
    partition_key: Option<String>,
}

#[derive(Deserialize)]
struct PutRecords<'a> {
    #[serde(alias = "Records", borrow)]
    records: Option<Vec<&'a RawValue>>,
}

/// A `PUT /streams/{stream}/record` request → its one record.
pub fn stream_record(
    stream: &str,
    content_type: Option<&str>,
    body: &[u8],
    routes: &StreamRoutes,
) -> Result<OutRecord, ApiError> {
    let table = stream_table(stream, routes)?;
    check_content_type(content_type)?;
    size_of_body(body)?;
    let record: PutRecord<'_> = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_body(format!(
            "the body is not a JSON object of StreamName, Data, PartitionKey ({e})"
        ))
    })?;
    if let Some(named) = &record.stream_name
        && named != stream
    {
        return Err(ApiError::invalid(format!(
            "field `StreamName`: {named:?} is not the stream of the path, {stream:?}"
        )));
    }
    put_record(table, 0, "Data", &record)
}

/// A `PUT /streams/{stream}/records` request → its records.
pub fn stream_records(
    stream: &str,
    content_type: Option<&str>,
    body: &[u8],
    routes: &StreamRoutes,
) -> Result<Vec<OutRecord>, ApiError> {
    let table = stream_table(stream, routes)?;
    check_content_type(content_type)?;
    let records = envelope(body, |b| {
        serde_json::from_slice::<PutRecords<'_>>(b).map(|r| r.records)
    })?;
    records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let record: PutRecord<'_> = serde_json::from_str(raw.get()).map_err(|e| {
                ApiError::invalid(format!(
                    "record {i}: not a {{\"data\": {{…}}, \"partition-key\": \"…\"}} object ({e})"
                ))
            })?;
            put_record(table, i, "data", &record)
        })
        .collect()
}

fn stream_table(stream: &str, routes: &StreamRoutes) -> Result<Table, ApiError> {
    routes.table_for(stream).ok_or_else(|| {
        ApiError::new(
            404,
            40402,
            format!(
                "stream {stream:?} not found: streams are streaming-<prefix>-pin, -geo and -user"
            ),
        )
    })
}

fn put_record(
    table: Table,
    i: usize,
    field: &str,
    record: &PutRecord<'_>,
) -> Result<OutRecord, ApiError> {
    let data = record
        .data
        .ok_or_else(|| ApiError::invalid(format!("record {i}: field `{field}` is missing")))?;
    // Data is the JSON object itself, or (as Kinesis' own API sends it) the base64 of its bytes
    let bytes = match serde_json::from_str::<Value>(data.get()) {
        Ok(Value::String(encoded)) => BASE64.decode(encoded.trim()).map_err(|e| {
            ApiError::invalid(format!(
                "record {i}, field `{field}`: a string that is not base64 ({e}); send the JSON object, or its base64"
            ))
        })?,
        _ => data.get().as_bytes().to_vec(),
    };
    // Kinesis requires a partition key of 1 to 256 characters: a record without one is refused, as
    // Kinesis would refuse it, not given one the client did not choose (the data is checked first,
    // so a record with both wrong hears of its data)
    let key_field = if field == "Data" {
        "PartitionKey"
    } else {
        "partition-key"
    };
    if let Some(k) = &record.partition_key
        && (k.is_empty() || k.chars().count() > MAX_PARTITION_KEY)
    {
        return Err(ApiError::invalid(format!(
            "record {i}, field `{key_field}`: must be 1 to {MAX_PARTITION_KEY} characters"
        )));
    }
    let key_len = record.partition_key.as_ref().map_or(0, String::len);
    let value = checked_value(table, i, field, &bytes, |len| {
        (key_len + len > KINESIS_MAX_RECORD_BYTES).then(|| {
            format!(
                "record {i}, field `{field}`: data and partition key are {} bytes; a Kinesis record holds at most {KINESIS_MAX_RECORD_BYTES}",
                key_len + len
            )
        })
    })?;
    let Some(key) = record.partition_key.clone() else {
        return Err(ApiError::invalid(format!(
            "record {i}: field `{key_field}` is missing (Kinesis requires a partition key)"
        )));
    };
    Ok(OutRecord {
        table,
        key: Some(key),
        partition: None,
        value,
    })
}

/// The request's `records`: present, not empty, at most [`MAX_RECORDS`]; the body within
/// [`MAX_BODY_BYTES`] and JSON.
fn envelope<'a>(
    body: &'a [u8],
    parse: impl Fn(&'a [u8]) -> serde_json::Result<Option<Vec<&'a RawValue>>>,
) -> Result<Vec<&'a RawValue>, ApiError> {
    size_of_body(body)?;
    let records = parse(body)
        .map_err(|e| {
            ApiError::bad_body(format!(
                "the body is not a JSON object with `records` ({e})"
            ))
        })?
        .ok_or_else(|| ApiError::invalid("field `records` is missing"))?;
    if records.is_empty() {
        return Err(ApiError::invalid(
            "field `records` is empty: send 1 to 500 records",
        ));
    }
    if records.len() > MAX_RECORDS {
        return Err(ApiError::too_large(format!(
            "{} records in one request: send at most {MAX_RECORDS}",
            records.len()
        )));
    }
    Ok(records)
}

fn size_of_body(body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_body("the body is empty"));
    }
    body_length(body.len() as u64)
}

/// A body of `length` bytes is within [`MAX_BODY_BYTES`]: what a server checks of a request's
/// `Content-Length` before it reads the body (or asks for it, `Expect: 100-continue`).
pub fn body_length(length: u64) -> Result<(), ApiError> {
    if length > MAX_BODY_BYTES as u64 {
        return Err(ApiError::too_large(format!(
            "the body is {length} bytes: at most {MAX_BODY_BYTES}"
        )));
    }
    Ok(())
}

/// A record's value: within its path's size limit (`too_large` says why a length is over it), a
/// JSON object of `table` with a usable id and no known key twice. Rejections the cleaning would make
/// for other fields are not the API's business.
fn checked_value(
    table: Table,
    i: usize,
    field: &str,
    bytes: &[u8],
    too_large: impl Fn(usize) -> Option<String>,
) -> Result<Vec<u8>, ApiError> {
    if let Some(message) = too_large(bytes.len()) {
        return Err(ApiError::too_large(message));
    }
    match clean(table, bytes) {
        Ok(_) => Ok(bytes.to_vec()),
        Err(Rejection {
            reason,
            field: bad,
            message,
            ..
        }) => match reason {
            Reason::NotUtf8 | Reason::NotJson | Reason::NotObject | Reason::TooDeep => Err(
                ApiError::invalid(format!("record {i}, field `{field}`: {message}")),
            ),
            Reason::MissingInd
            | Reason::InvalidInd
            | Reason::ConflictingInd
            | Reason::DuplicateKey => Err(ApiError::invalid(format!(
                "record {i}, field `{field}.{}`: {message}",
                bad.unwrap_or("index")
            ))),
            // a field the cleaning will null or reject: accepted, the quarantine keeps it
            _ => Ok(bytes.to_vec()),
        },
    }
}

/// The Kafka REST proxy's produce answer for records written at (partition, offset).
pub fn topic_answer(offsets: &[(i32, i64)]) -> Value {
    let offsets: Vec<Value> = offsets
        .iter()
        .map(|(partition, offset)| {
            json!({"partition": partition, "offset": offset, "error_code": null, "error": null})
        })
        .collect();
    json!({"offsets": offsets, "key_schema_id": null, "value_schema_id": null})
}

/// Kinesis' PutRecord answer.
pub fn stream_record_answer(sequence_number: &str, shard_id: &str) -> Value {
    json!({"SequenceNumber": sequence_number, "ShardId": shard_id})
}

/// Kinesis' PutRecords answer (every record put: the API answers only when all are).
pub fn stream_records_answer(records: &[(String, String)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence_number, shard_id)| stream_record_answer(sequence_number, shard_id))
        .collect();
    json!({"FailedRecordCount": 0, "Records": records})
}

#[cfg(test)]
mod tests {
    use super::*;

    const KAFKA: Option<&str> = Some("application/vnd.kafka.json.v2+json");
    const PIN: &str = r#"{"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "category": "mens-fashion"}"#;

    fn topic(body: &str) -> Result<Vec<OutRecord>, ApiError> {
        topic_records(
            "12471ce1b695.pin",
            KAFKA,
            body.as_bytes(),
            &TopicRoutes::default(),
        )
    }

    #[test]
    fn only_an_endpoint_or_one_stage_before_it_is_routed() {
        let stage_name = "a".repeat(128);
        for path in [
            "/prod/topics/a.pin",
            "/dev_2-b/topics/a.pin",
            &format!("/{stage_name}/topics/a.pin"),
        ] {
            assert_eq!(
                route("POST", path).unwrap(),
                Endpoint::Topic("a.pin".into()),
                "{path}"
            );
        }
        for path in [
            "/x/y/z/topics/a.pin",
            "/prod/v1/topics/a.pin",
            "/streams/streaming-x-pin/record/topics/a.pin",
            "/topics/a.pin/topics/a.pin",
            "/pr.od/topics/a.pin",
            &format!("/{stage_name}a/topics/a.pin"),
            "/streams/topics/a.pin",
            "/topics/a.pin/extra",
        ] {
            let refused = route("POST", path).unwrap_err();
            assert_eq!((refused.status, refused.error_code), (404, 40400), "{path}");
        }
        assert!(route("PUT", "/x/y/streams/streaming-x-geo/records").is_err());
    }

    #[test]
    fn a_stream_record_without_a_partition_key_is_refused_naming_the_field() {
        let routes = StreamRoutes::default();
        let one = stream_record(
            "streaming-x-pin",
            Some("application/json"),
            format!(r#"{{"StreamName": "streaming-x-pin", "Data": {PIN}}}"#).as_bytes(),
            &routes,
        )
        .unwrap_err();
        assert_eq!(one.status, 422);
        assert!(
            one.message
                .contains("record 0: field `PartitionKey` is missing"),
            "{}",
            one.message
        );
        let batch = stream_records(
            "streaming-x-pin",
            Some("application/json"),
            format!(
                r#"{{"records": [{{"data": {PIN}, "partition-key": "k"}}, {{"data": {PIN}}}]}}"#
            )
            .as_bytes(),
            &routes,
        )
        .unwrap_err();
        assert_eq!(batch.status, 422);
        assert!(
            batch
                .message
                .contains("record 1: field `partition-key` is missing"),
            "{}",
            batch.message
        );
    }

    #[test]
    fn endpoints_are_found_from_the_end_of_the_path_with_their_methods() {
        assert_eq!(
            route("POST", "/topics/12471ce1b695.pin").unwrap(),
            Endpoint::Topic("12471ce1b695.pin".into())
        );
        assert_eq!(
            route("PUT", "/prod/streams/streaming-x-geo/record").unwrap(),
            Endpoint::StreamRecord("streaming-x-geo".into())
        );
        assert_eq!(
            route("put", "/streams/streaming-x-geo/records").unwrap(),
            Endpoint::StreamRecords("streaming-x-geo".into())
        );
        assert_eq!(route("GET", "/topics/a.pin").unwrap_err().status, 405);
        assert_eq!(route("POST", "/brokers").unwrap_err().status, 404);
        assert_eq!(
            route("POST", "/topics/a%2Epin").unwrap(),
            Endpoint::Topic("a.pin".into())
        );
    }

    #[test]
    fn the_original_emulators_topic_body_is_accepted_byte_for_byte() {
        let body = format!(r#"{{"records": [{{"value": {PIN}}}]}}"#);
        let records = topic(&body).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].table, Table::Pin);
        assert_eq!(records[0].value, PIN.as_bytes());
        assert_eq!(
            (records[0].key.as_deref(), records[0].partition),
            (None, None)
        );
    }

    #[test]
    fn refusals_name_the_record_and_the_field() {
        let cases = [
            ("{", 400, "not a JSON object with `records`"),
            ("{}", 422, "`records` is missing"),
            (r#"{"records": []}"#, 422, "`records` is empty"),
            (
                r#"{"records": [{"value": 1}]}"#,
                422,
                "record 0, field `value`",
            ),
            (
                r#"{"records": [{"key": "k"}]}"#,
                422,
                "record 0: field `value` is missing",
            ),
            (
                r#"{"records": [{"value": {"title": "x"}}]}"#,
                422,
                "record 0, field `value.ind`",
            ),
            (
                r#"{"records": [{"value": {"index": "seven"}}]}"#,
                422,
                "record 0, field `value.index`",
            ),
            (
                r#"{"records": [{"value": {"index": 1}, "partition": -1}]}"#,
                422,
                "field `partition`",
            ),
        ];
        for (body, status, needle) in cases {
            let e = topic(body).unwrap_err();
            assert_eq!(e.status, status, "{body}: {e:?}");
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        let second_bad = format!(r#"{{"records": [{{"value": {PIN}}}, {{"value": [1]}}]}}"#);
        assert!(
            topic(&second_bad)
                .unwrap_err()
                .message
                .starts_with("record 1")
        );
    }

    #[test]
    fn limits_are_refused_with_413_and_unknown_topics_with_404() {
        let many = format!(
            r#"{{"records": [{}]}}"#,
            vec![format!(r#"{{"value": {PIN}}}"#); 501].join(",")
        );
        assert_eq!(topic(&many).unwrap_err().status, 413);
        let big = format!(
            r#"{{"records": [{{"value": {{"index": 1, "title": "{}"}}}}]}}"#,
            "x".repeat(KAFKA_MAX_KEY_AND_VALUE)
        );
        assert_eq!(topic(&big).unwrap_err().error_code, 41301);
        let unknown =
            topic_records("12471ce1b695.pins", KAFKA, b"{}", &TopicRoutes::default()).unwrap_err();
        assert_eq!((unknown.status, unknown.error_code), (404, 40401));
        let text = topic_records("a.pin", Some("text/plain"), b"{}", &TopicRoutes::default());
        assert_eq!(text.unwrap_err().status, 415);
    }

    /// A pin value of exactly `n` bytes.
    fn pin_of(n: usize) -> String {
        let head = r#"{"index": 1, "title": ""#;
        format!("{head}{}\"}}", "x".repeat(n - head.len() - 2))
    }

    fn stream_batch(body: &str) -> Result<Vec<OutRecord>, ApiError> {
        stream_records(
            "streaming-x-pin",
            Some("application/json"),
            body.as_bytes(),
            &StreamRoutes::default(),
        )
    }

    /// A pin whose unknown key `x` nests to `levels` levels, the record the first.
    fn nested_pin(levels: usize) -> String {
        let inner = levels - 1;
        format!(
            r#"{{"index": 7528, "x": {}1{}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        )
    }

    #[test]
    fn a_record_nesting_deeper_than_64_levels_is_refused_on_every_endpoint_and_64_is_taken() {
        let routes = StreamRoutes::default();
        let record = |pin: &str| {
            stream_record(
                "streaming-x-pin",
                Some("application/json"),
                format!(r#"{{"Data": {pin}, "PartitionKey": "p"}}"#).as_bytes(),
                &routes,
            )
        };
        let encoded = |pin: &str| {
            stream_batch(&format!(
                r#"{{"records": [{{"data": "{}", "partition-key": "p"}}]}}"#,
                BASE64.encode(pin)
            ))
        };
        let at = nested_pin(64);
        assert!(topic(&format!(r#"{{"records": [{{"value": {at}}}]}}"#)).is_ok());
        assert!(record(&at).is_ok());
        assert!(encoded(&at).is_ok());
        for levels in [65, 10_000] {
            let over = nested_pin(levels);
            let answers = [
                (
                    "value",
                    topic(&format!(
                        r#"{{"records": [{{"value": {{"index": 1}}}}, {{"value": {over}}}]}}"#
                    ))
                    .unwrap_err(),
                ),
                ("Data", record(&over).unwrap_err()),
                ("data", encoded(&over).unwrap_err()),
            ];
            for (field, e) in answers {
                assert_eq!((e.status, e.error_code), (422, 42201), "{}", e.message);
                let record = if field == "value" { 1 } else { 0 };
                assert!(
                    e.message
                        .starts_with(&format!("record {record}, field `{field}`: ")),
                    "{}",
                    e.message
                );
                assert!(e.message.contains("deeper than 64 levels"), "{}", e.message);
            }
        }
    }

    #[test]
    fn a_kafka_message_may_hold_key_and_value_up_to_librdkafkas_limit_and_not_one_byte_more() {
        let at = pin_of(KAFKA_MAX_KEY_AND_VALUE);
        assert_eq!(at.len(), 999_964);
        let ok = topic(&format!(r#"{{"records": [{{"value": {at}}}]}}"#)).unwrap();
        assert_eq!(ok[0].value.len(), KAFKA_MAX_KEY_AND_VALUE);
        let over = pin_of(KAFKA_MAX_KEY_AND_VALUE + 1);
        let e = topic(&format!(r#"{{"records": [{{"value": {over}}}]}}"#)).unwrap_err();
        assert_eq!((e.status, e.error_code), (413, 41301), "{}", e.message);
        assert!(
            e.message.starts_with("record 0, field `value`"),
            "{}",
            e.message
        );
        // the key counts: "k" is 3 bytes of JSON text
        let keyed = pin_of(KAFKA_MAX_KEY_AND_VALUE - 3);
        topic(&format!(
            r#"{{"records": [{{"key": "k", "value": {keyed}}}]}}"#
        ))
        .unwrap();
        let keyed = pin_of(KAFKA_MAX_KEY_AND_VALUE - 2);
        let e = topic(&format!(
            r#"{{"records": [{{"key": "k", "value": {keyed}}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(e.status, 413);
    }

    #[test]
    fn a_kinesis_record_may_hold_data_and_partition_key_up_to_one_mib_and_not_one_byte_more() {
        let mib = KINESIS_MAX_RECORD_BYTES;
        // an explicit key of 2 bytes
        let at = pin_of(mib - 2);
        let ok = stream_batch(&format!(
            r#"{{"records": [{{"data": {at}, "partition-key": "pk"}}]}}"#
        ));
        assert_eq!(ok.unwrap()[0].value.len(), mib - 2);
        let over = pin_of(mib - 1);
        let e = stream_batch(&format!(
            r#"{{"records": [{{"data": {over}, "partition-key": "pk"}}]}}"#
        ))
        .unwrap_err();
        assert_eq!((e.status, e.error_code), (413, 41301), "{}", e.message);
        assert!(
            e.message.starts_with("record 0, field `data`"),
            "{}",
            e.message
        );
        // a one-byte key leaves one byte more for the data
        let at = pin_of(mib - 1);
        let ok = stream_batch(&format!(
            r#"{{"records": [{{"data": {at}, "partition-key": "k"}}]}}"#
        ))
        .unwrap();
        assert_eq!(ok[0].key.as_deref(), Some("k"));
        let over = pin_of(mib);
        let e = stream_batch(&format!(
            r#"{{"records": [{{"data": {over}, "partition-key": "k"}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(e.status, 413, "{}", e.message);
        // base64 data counts decoded
        let at = pin_of(mib - 2);
        let encoded = format!(
            r#"{{"Data": "{}", "PartitionKey": "pk"}}"#,
            BASE64.encode(&at)
        );
        let one = stream_record(
            "streaming-x-pin",
            Some("application/json"),
            encoded.as_bytes(),
            &StreamRoutes::default(),
        );
        assert_eq!(one.unwrap().value.len(), mib - 2);
    }

    #[test]
    fn a_body_may_be_up_to_max_body_bytes_and_not_one_byte_more() {
        let value = pin_of(900_000);
        let records = vec![format!(r#"{{"value": {value}}}"#); 4].join(",");
        let body = |len: usize| {
            let head = format!(r#"{{"records": [{records}]"#);
            format!("{head}{}}}", " ".repeat(len - head.len() - 1))
        };
        let at = body(MAX_BODY_BYTES);
        assert_eq!(at.len(), 4 * 1024 * 1024);
        assert_eq!(topic(&at).unwrap().len(), 4);
        let e = topic(&body(MAX_BODY_BYTES + 1)).unwrap_err();
        assert_eq!((e.status, e.error_code), (413, 41301), "{}", e.message);
        let e = stream_batch(&body(MAX_BODY_BYTES + 1)).unwrap_err();
        assert_eq!(e.status, 413, "{}", e.message);
    }

    #[test]
    fn a_key_sent_twice_is_refused_in_the_envelope_and_in_the_record() {
        let cases = [
            (
                format!(r#"{{"records": [{{"value": {PIN}}}], "records": []}}"#),
                400,
                "duplicate field `records`",
            ),
            (
                format!(r#"{{"records": [{{"value": {PIN}, "value": {PIN}}}]}}"#),
                422,
                "record 0",
            ),
            (
                r#"{"records": [{"value": {"index": 1, "title": "a", "title": "b"}}]}"#.to_owned(),
                422,
                "record 0, field `value.title`",
            ),
            (
                r#"{"records": [{"value": {"index": 1, "index": 2}}]}"#.to_owned(),
                422,
                "record 0, field `value.index`",
            ),
        ];
        for (body, status, needle) in cases {
            let e = topic(&body).unwrap_err();
            assert_eq!(e.status, status, "{body}: {}", e.message);
            assert!(e.message.contains(needle), "{body}: {}", e.message);
        }
        let both = format!(r#"{{"records": [{{"data": {PIN}, "Data": {PIN}}}]}}"#);
        let e = stream_batch(&both).unwrap_err();
        assert_eq!(e.status, 422, "{}", e.message);
        assert!(e.message.contains("duplicate field"), "{}", e.message);
    }

    #[test]
    fn a_negative_index_is_accepted_and_an_index_with_a_fraction_is_refused() {
        let ok = topic(r#"{"records": [{"value": {"index": -3}}]}"#).unwrap();
        assert_eq!(ok.len(), 1);
        let keyed =
            stream_batch(r#"{"records": [{"data": {"index": -3}, "partition-key": "-3"}]}"#)
                .unwrap();
        assert_eq!(keyed[0].value, br#"{"index": -3}"#);
        for index in ["1.0", "\"1.0\"", "1e3", "-0.0"] {
            let body = format!(r#"{{"records": [{{"value": {{"index": {index}}}}}]}}"#);
            let e = topic(&body).unwrap_err();
            assert_eq!(e.status, 422, "{body}");
            assert!(
                e.message.contains("field `value.index`"),
                "{body}: {}",
                e.message
            );
        }
    }

    #[test]
    fn a_stream_record_takes_its_data_as_an_object_or_as_base64() {
        let routes = StreamRoutes::default();
        let json_body = format!(
            r#"{{"StreamName": "streaming-x-pin", "Data": {PIN}, "PartitionKey": "partition-1"}}"#
        );
        let record = stream_record(
            "streaming-x-pin",
            Some("application/json"),
            json_body.as_bytes(),
            &routes,
        )
        .unwrap();
        assert_eq!(
            (record.value.as_slice(), record.key.as_deref()),
            (PIN.as_bytes(), Some("partition-1"))
        );
        let encoded = format!(
            r#"{{"Data": "{}", "PartitionKey": "p"}}"#,
            BASE64.encode(PIN)
        );
        let record = stream_record(
            "streaming-x-pin",
            Some("application/json"),
            encoded.as_bytes(),
            &routes,
        )
        .unwrap();
        assert_eq!(
            (record.value.as_slice(), record.key.as_deref()),
            (PIN.as_bytes(), Some("p"))
        );
        let wrong = format!(r#"{{"StreamName": "streaming-y-pin", "Data": {PIN}}}"#);
        let e = stream_record(
            "streaming-x-pin",
            Some("application/json"),
            wrong.as_bytes(),
            &routes,
        )
        .unwrap_err();
        assert!(e.message.contains("StreamName"), "{}", e.message);
        let batch = format!(
            r#"{{"records": [{{"data": {PIN}, "partition-key": "p"}}, {{"data": "%%%"}}]}}"#
        );
        let e = stream_records(
            "streaming-x-pin",
            Some("application/json"),
            batch.as_bytes(),
            &routes,
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("record 1, field `data`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn answers_have_the_documented_shapes() {
        assert_eq!(
            topic_answer(&[(0, 41)]),
            json!({"offsets": [{"partition": 0, "offset": 41, "error_code": null, "error": null}],
                   "key_schema_id": null, "value_schema_id": null})
        );
        assert_eq!(
            stream_records_answer(&[("1".into(), "shardId-000000000000".into())]),
            json!({"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "shardId-000000000000"}]})
        );
        assert_eq!(
            ApiError::invalid("x").body(),
            json!({"error_code": 42201, "message": "x"})
        );
    }
}
