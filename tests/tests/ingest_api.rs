//! The ingest API (`ingest-api`'s handler, in process) against a real Kafka-protocol broker (tansu)
//! and moto Kinesis: the original emulator's exact requests are answered 200 and their records land
//! byte for byte; a corpus of bad requests is refused with a 4xx naming what is wrong, and produces
//! nothing.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ingest_api::{Answer, State, respond};
use pinpipe::Table;
use pinpipe::config::{IngestConfig, KafkaConnection};
use pinpipe::ingest::OutRecord;
use pinpipe::routes::{StreamNames, StreamRoutes, TopicRoutes};
use pinpipe::sink::{KafkaSink, KinesisSink, SinkError};
use pinpipe_tests::kinesis::{client, create_stream, unique_prefix};
use pinpipe_tests::{Moto, PythonProxy, Server, Tansu, emulator_payloads};
use serde_json::{Value, json};

const KAFKA_JSON: &str = "application/vnd.kafka.json.v2+json";

struct Setup {
    state: State,
    prefix: String,
    /// Public stream names → the stack's streams, as the template configures the function.
    names: StreamNames,
    /// The same, as `pinpipe serve --kinesis-streams` takes it.
    names_text: String,
    /// moto's Kinesis, directly (to read what landed).
    kinesis: aws_sdk_kinesis::Client,
    /// What the handler's Kinesis client talks to: moto behind the AWS-strict double.
    _strict: PythonProxy,
}

/// The ARNs of the streams the template lets the ingest function's role write, for a stack whose
/// `Prefix` is `prefix` (in moto's account and region): the resources of the role's
/// `kinesis:PutRecords` statement, each stream's `Name` with the prefix put in.
fn granted_stream_arns(prefix: &str) -> Vec<String> {
    fn find<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(map) => {
                let puts = map.get("Action").is_some_and(|a| {
                    a.as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "kinesis:PutRecords"))
                });
                if puts {
                    out.push(&map["Resource"]);
                }
                map.values().for_each(|inner| find(inner, out));
            }
            Value::Array(items) => items.iter().for_each(|i| find(i, out)),
            _ => {}
        }
    }
    let template = pinpipe_tests::template_json();
    let mut resources = Vec::new();
    find(
        &template["Resources"]["IngestApiFunction"]["Properties"]["Policies"],
        &mut resources,
    );
    assert_eq!(resources.len(), 1, "one statement puts into the streams");
    resources[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let logical = r["Fn::GetAtt"][0].as_str().expect("a stream's ARN");
            let stream = &template["Resources"][logical];
            assert_eq!(stream["Type"], "AWS::Kinesis::Stream", "{logical}");
            let name = stream["Properties"]["Name"]["Fn::Sub"].as_str().unwrap();
            format!(
                "arn:aws:kinesis:us-east-1:123456789012:stream/{}",
                stack_sub(name, prefix)
            )
        })
        .collect()
}

/// The stack's `Stage` in these tests.
const STAGE: &str = "test";

/// A `!Sub` string of the template with the stack's parameters and the streams' names put in.
fn stack_sub(text: &str, prefix: &str) -> String {
    let template = pinpipe_tests::template_json();
    let mut out = text.replace("${Prefix}", prefix).replace("${Stage}", STAGE);
    for logical in ["PinStream", "GeoStream", "UserStream"] {
        let name = template["Resources"][logical]["Properties"]["Name"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .replace("${Prefix}", prefix)
            .replace("${Stage}", STAGE);
        out = out.replace(&format!("${{{logical}}}"), &name);
    }
    out
}

/// The ingest function's `PINPIPE_KINESIS_STREAMS` in a stack whose `Prefix` is `prefix`.
fn stack_stream_names(prefix: &str) -> String {
    let template = pinpipe_tests::template_json();
    let value = &template["Resources"]["IngestApiFunction"]["Properties"]["Environment"]["Variables"]
        ["PINPIPE_KINESIS_STREAMS"]["Fn::Sub"];
    stack_sub(
        value
            .as_str()
            .expect("the function maps public stream names"),
        prefix,
    )
}

/// Topics `<prefix>.pin|geo|user` (1 partition) and streams `streaming-<prefix>-pin|geo|user`
/// (1 shard), and the handler's state pointed at them: Kafka at tansu, Kinesis at moto behind the
/// AWS-strict double granting what the template grants.
async fn setup(label: &str) -> Setup {
    setup_granting(label, None).await
}

/// [`setup`], the role granting the streams of `also` (a stack's prefix) besides the test's own.
async fn setup_granting(label: &str, also: Option<&str>) -> Setup {
    let (tansu, moto) = (Tansu::get(), Moto::get());
    let prefix = unique_prefix(label);
    let kinesis = client(moto).await;
    let prefixes: Vec<&str> = std::iter::once(prefix.as_str()).chain(also).collect();
    let names_text = prefixes
        .iter()
        .map(|p| stack_stream_names(p))
        .collect::<Vec<_>>()
        .join(",");
    let names = StreamNames::parse(&names_text).unwrap();
    for table in Table::ALL {
        tansu.create_topic(&format!("{prefix}.{table}"), 1);
        for p in &prefixes {
            // the stack's streams, whose names carry the stage (an `also` stack's may exist)
            let _ = kinesis
                .create_stream()
                .stream_name(names.physical(&format!("streaming-{p}-{table}")))
                .shard_count(1)
                .send()
                .await;
        }
    }
    let granted: Vec<String> = prefixes
        .iter()
        .flat_map(|p| granted_stream_arns(p))
        .collect();
    let strict = PythonProxy::start("strict_kinesis.py", &[moto.endpoint(), &granted.join(",")]);
    let mut aws = moto.aws();
    aws.kinesis_endpoint_url = Some(strict.endpoint().to_owned());
    let config = IngestConfig {
        kafka: KafkaConnection {
            brokers: Some(tansu.brokers().to_owned()),
            settings: vec![("broker.address.family".into(), "v4".into())],
            ..KafkaConnection::default()
        },
        topics: TopicRoutes::default(),
        streams: StreamRoutes::default(),
        stream_names: names.clone(),
        aws,
    };
    Setup {
        state: State::new(&config).await.unwrap(),
        prefix,
        names,
        names_text,
        kinesis,
        _strict: strict,
    }
}

impl Setup {
    /// The stack's stream a public stream name is put into.
    fn physical(&self, public: &str) -> String {
        self.names.physical(public).to_owned()
    }
}

/// Every message of a topic (one partition), read from the beginning until 2 s pass without one.
fn topic_messages(topic: &str) -> Vec<Vec<u8>> {
    read_topic(Tansu::get().brokers(), &[], topic, Duration::from_secs(2))
}

/// Every message of partition 0 of `topic` on `brokers` (with extra client `settings`), read from
/// the beginning until `quiet` passes without one.
fn read_topic(
    brokers: &str,
    settings: &[(&str, &str)],
    topic: &str,
    quiet: Duration,
) -> Vec<Vec<u8>> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("broker.address.family", "v4")
        .set("group.id", format!("{topic}-reader"))
        .set("enable.auto.commit", "false");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create().unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    while let Some(message) = consumer.poll(quiet) {
        out.push(message.unwrap().payload().unwrap_or_default().to_vec());
    }
    out
}

/// Every record of a one-shard stream, from the start.
async fn stream_records(kinesis: &aws_sdk_kinesis::Client, stream: &str) -> Vec<Vec<u8>> {
    use aws_sdk_kinesis::types::ShardIteratorType;
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let mut out = Vec::new();
    loop {
        let page = kinesis
            .get_records()
            .shard_iterator(&iterator)
            .send()
            .await
            .unwrap();
        if page.records().is_empty() {
            break;
        }
        out.extend(page.records().iter().map(|r| r.data().as_ref().to_vec()));
        match page.next_shard_iterator {
            Some(next) => iterator = next,
            None => break,
        }
    }
    out
}

/// The original emulator's request bodies for the first `n` real posts of a table: Python's
/// `json.dumps` of `{"records": [{"value": row}]}` and of `{"StreamName", "Data", "PartitionKey"}`.
fn emulator_bodies(table: Table, prefix: &str, n: usize) -> Vec<(Vec<u8>, String, String)> {
    emulator_payloads(table)
        .into_iter()
        .take(n)
        .map(|payload| {
            let payload = String::from_utf8(payload).unwrap();
            let topic_body = format!(r#"{{"records": [{{"value": {payload}}}]}}"#);
            let stream_body = format!(
                r#"{{"StreamName": "streaming-{prefix}-{table}", "Data": {payload}, "PartitionKey": "partition-1"}}"#
            );
            (payload.into_bytes(), topic_body, stream_body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_emulators_requests_get_200_and_their_records_land_byte_for_byte() {
    let s = setup("ingest").await;
    for table in Table::ALL {
        let topic = format!("{}.{table}", s.prefix);
        let stream = format!("streaming-{}-{table}", s.prefix);
        let bodies = emulator_bodies(table, &s.prefix, 20);
        for (i, (_, topic_body, stream_body)) in bodies.iter().enumerate() {
            let answer = respond(
                &s.state,
                "POST",
                &format!("/topics/{topic}"),
                Some(KAFKA_JSON),
                topic_body.as_bytes(),
            )
            .await;
            assert_eq!(answer.status, 200, "{table} {i}: {}", answer.body);
            assert_eq!(
                answer.body,
                json!({"offsets": [{"partition": 0, "offset": i, "error_code": null, "error": null}],
                       "key_schema_id": null, "value_schema_id": null})
            );
            let answer = respond(
                &s.state,
                "PUT",
                &format!("/streams/{stream}/record"),
                Some("application/json"),
                stream_body.as_bytes(),
            )
            .await;
            assert_eq!(answer.status, 200, "{table} {i}: {}", answer.body);
            assert_eq!(answer.body["ShardId"], "shardId-000000000000");
            let sequence = answer.body["SequenceNumber"].as_str().unwrap();
            assert!(
                !sequence.is_empty() && sequence.bytes().all(|b| b.is_ascii_digit()),
                "{sequence}"
            );
        }
        // the batch form of the stream endpoint, with Data as base64
        let batch: Vec<Value> = bodies
            .iter()
            .map(|(payload, _, _)| json!({"data": BASE64.encode(payload), "partition-key": "p"}))
            .collect();
        let answer = respond(
            &s.state,
            "PUT",
            &format!("/streams/{stream}/records"),
            Some("application/json"),
            json!({"records": batch}).to_string().as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["FailedRecordCount"], 0);
        assert_eq!(answer.body["Records"].as_array().unwrap().len(), 20);

        let payloads: Vec<Vec<u8>> = bodies.into_iter().map(|(p, _, _)| p).collect();
        assert_eq!(
            topic_messages(&topic),
            payloads,
            "{table}: the topic holds the values as sent"
        );
        let in_stream = stream_records(&s.kinesis, &s.physical(&stream)).await;
        assert_eq!(in_stream[..20], payloads[..], "{table}: PutRecord");
        assert_eq!(
            in_stream[20..],
            payloads[..],
            "{table}: PutRecords from base64"
        );
    }
}

/// A pin value of exactly `n` bytes.
fn value_of(n: usize) -> String {
    let head = r#"{"index": 1, "title": ""#;
    format!("{head}{}\"}}", "x".repeat(n - head.len() - 2))
}

/// A request: method, path, content type, body.
type Request = (String, String, Option<String>, Vec<u8>);

/// Requests that must be refused, each with the status it must get.
fn bad_requests(prefix: &str) -> Vec<(Request, u16)> {
    let pin = format!("{prefix}.pin");
    let stream = format!("streaming-{prefix}-geo");
    let good = r#"{"index": 1, "category": "art"}"#;
    let topic = |body: String| {
        (
            "POST".to_owned(),
            format!("/topics/{pin}"),
            Some(KAFKA_JSON.to_owned()),
            body.into_bytes(),
        )
    };
    let put = |suffix: &str, body: String| {
        (
            "PUT".to_owned(),
            format!("/streams/{stream}/{suffix}"),
            Some("application/json".to_owned()),
            body.into_bytes(),
        )
    };
    let mut cases: Vec<(Request, u16)> = vec![
        // the envelope
        (topic("".into()), 400),
        (topic("not json".into()), 400),
        (topic("{".into()), 400),
        (topic("[]".into()), 400),
        (topic("null".into()), 400),
        (topic("42".into()), 400),
        (topic("{}".into()), 422),
        (topic(r#"{"records": []}"#.into()), 422),
        (topic(r#"{"records": {}}"#.into()), 400),
        (topic(r#"{"records": "x"}"#.into()), 400),
        (topic(r#"{"records": null}"#.into()), 422),
        (topic(r#"{"value": {"index": 1}}"#.into()), 422),
        // the records
        (topic(r#"{"records": [1]}"#.into()), 422),
        (topic(r#"{"records": [null]}"#.into()), 422),
        (topic(r#"{"records": [{}]}"#.into()), 422),
        (topic(r#"{"records": [{"key": "k"}]}"#.into()), 422),
        (topic(r#"{"records": [{"value": null}]}"#.into()), 422),
        (topic(r#"{"records": [{"value": 1}]}"#.into()), 422),
        (topic(r#"{"records": [{"value": "text"}]}"#.into()), 422),
        (topic(r#"{"records": [{"value": [1, 2]}]}"#.into()), 422),
        (topic(r#"{"records": [{"value": {}}]}"#.into()), 422),
        (
            topic(r#"{"records": [{"value": {"title": "no id"}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": null}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": "seven"}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": 1.5}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": 1e400}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": 99999999999999999999999}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": true}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": {"nested": [1, {"deep": 2}]}}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": 1, "ind": 2}}]}"#.into()),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}}}, {{"value": 7}}]}}"#
            )),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}, "partition": -1}}]}}"#
            )),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}, "partition": 99999999999}}]}}"#
            )),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}, "partition": "zero"}}]}}"#
            )),
            422,
        ),
        // a partition the topic (1 partition) does not have, after a good record: the Kafka REST
        // proxy's 40402, and the good record not produced either
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}, "partition": 0}}, {{"value": {good}, "partition": 1}}]}}"#
            )),
            404,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}, "partition": 7}}]}}"#
            )),
            404,
        ),
        // ambiguous or not integral ids
        (
            topic(r#"{"records": [{"value": {"index": 7000304, "index": 7000305}}]}"#.into()),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"ind": 7000304, "index": 7000305}}]}"#.into()),
            422,
        ),
        // nested one level deeper than a record may (65, the record the first)
        (
            topic(format!(
                r#"{{"records": [{{"value": {{"index": 1, "x": {}1{}}}}}]}}"#,
                "[".repeat(64),
                "]".repeat(64)
            )),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {{"index": 1, "x": {}1{}}}}}]}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            )),
            422,
        ),
        (
            topic(
                r#"{"records": [{"value": {"index": 1, "category": "a", "category": "b"}}]}"#
                    .into(),
            ),
            422,
        ),
        (
            topic(r#"{"records": [{"value": {"index": 1.0}}]}"#.into()),
            422,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {good}}}], "records": []}}"#
            )),
            400,
        ),
        // one byte over a Kafka message and over a Kinesis record
        (
            topic(format!(
                r#"{{"records": [{{"value": {}}}]}}"#,
                value_of(pinpipe::limits::KAFKA_MAX_KEY_AND_VALUE + 1)
            )),
            413,
        ),
        (
            put(
                "records",
                format!(
                    r#"{{"records": [{{"data": {}, "partition-key": "k"}}]}}"#,
                    value_of(pinpipe::limits::KINESIS_MAX_RECORD_BYTES)
                ),
            ),
            413,
        ),
        // limits
        (
            topic(format!(
                r#"{{"records": [{}]}}"#,
                vec![format!(r#"{{"value": {good}}}"#); 10_000].join(",")
            )),
            413,
        ),
        (
            topic(format!(
                r#"{{"records": [{{"value": {{"index": 1, "title": "{}"}}}}]}}"#,
                "x".repeat(2_000_000)
            )),
            413,
        ),
    ];
    // not UTF-8, as a whole body and inside a value
    let mut invalid_utf8 = br#"{"records": [{"value": {"index": 1, "title": ""#.to_vec();
    invalid_utf8.extend([0xff, 0xfe]);
    invalid_utf8.extend(br#""}}]}"#);
    cases.push((
        (
            "POST".into(),
            format!("/topics/{pin}"),
            Some(KAFKA_JSON.into()),
            invalid_utf8,
        ),
        400,
    ));
    cases.push((
        (
            "POST".into(),
            format!("/topics/{pin}"),
            Some(KAFKA_JSON.into()),
            vec![0xc3, 0x28],
        ),
        400,
    ));
    // content types, methods, routes, unknown destinations
    let body = format!(r#"{{"records": [{{"value": {good}}}]}}"#).into_bytes();
    for (method, path, content_type, status) in [
        ("POST", format!("/topics/{pin}"), None, 415),
        ("POST", format!("/topics/{pin}"), Some("text/plain"), 415),
        (
            "POST",
            format!("/topics/{pin}"),
            Some("application/xml"),
            415,
        ),
        (
            "POST",
            format!("/topics/{pin}"),
            Some("application/x-www-form-urlencoded"),
            415,
        ),
        ("GET", format!("/topics/{pin}"), Some(KAFKA_JSON), 405),
        ("DELETE", format!("/topics/{pin}"), Some(KAFKA_JSON), 405),
        ("PUT", format!("/topics/{pin}"), Some(KAFKA_JSON), 405),
        ("POST", "/topics".to_owned(), Some(KAFKA_JSON), 404),
        // an endpoint is routed alone or after one stage, nothing else
        (
            "POST",
            format!("/x/y/z/topics/{pin}"),
            Some(KAFKA_JSON),
            404,
        ),
        (
            "POST",
            format!("/streams/{stream}/record/topics/{pin}"),
            Some(KAFKA_JSON),
            404,
        ),
        (
            "POST",
            format!("/prod/v1/topics/{pin}"),
            Some(KAFKA_JSON),
            404,
        ),
        ("POST", "/".to_owned(), Some(KAFKA_JSON), 404),
        (
            "POST",
            format!("/topics/{prefix}.pins"),
            Some(KAFKA_JSON),
            404,
        ),
        ("POST", "/topics/pin".to_owned(), Some(KAFKA_JSON), 404),
        (
            "POST",
            format!("/topics/{prefix}x.pin"),
            Some(KAFKA_JSON),
            404,
        ),
        (
            "POST",
            format!("/streams/{stream}/record"),
            Some("application/json"),
            405,
        ),
    ] {
        cases.push((
            (
                method.into(),
                path,
                content_type.map(str::to_owned),
                body.clone(),
            ),
            status,
        ));
    }
    // the stream endpoints
    let data = r#"{"Data": {"ind": 1, "country": "Chad"}, "PartitionKey": "p"}"#.to_owned();
    cases.extend([
        (put("record", "".into()), 400),
        (put("record", "[]".into()), 400),
        (put("record", r#"{"StreamName": "x"}"#.into()), 422),
        (
            put(
                "record",
                r#"{"StreamName": "streaming-other-geo", "Data": {"ind": 1}}"#.to_owned(),
            ),
            422,
        ),
        (put("record", r#"{"Data": 5}"#.into()), 422),
        (put("record", r#"{"Data": "not base64 %%"}"#.into()), 422),
        (
            put(
                "record",
                format!(r#"{{"Data": "{}"}}"#, BASE64.encode("not json")),
            ),
            422,
        ),
        (
            put(
                "record",
                format!(r#"{{"Data": "{}"}}"#, BASE64.encode("[1]")),
            ),
            422,
        ),
        (
            put("record", r#"{"Data": {"country": "no id"}}"#.into()),
            422,
        ),
        (
            put(
                "record",
                r#"{"Data": {"ind": 1}, "PartitionKey": ""}"#.into(),
            ),
            422,
        ),
        (
            put(
                "record",
                format!(
                    r#"{{"Data": {{"ind": 1}}, "PartitionKey": "{}"}}"#,
                    "k".repeat(257)
                ),
            ),
            422,
        ),
        // ambiguous ids and too deep a record, as JSON and as base64
        (
            put(
                "record",
                r#"{"Data": {"ind": 1, "ind": 2, "country": "Chad"}, "PartitionKey": "p"}"#
                    .into(),
            ),
            422,
        ),
        (
            put(
                "records",
                format!(
                    r#"{{"records": [{{"data": "{}", "partition-key": "p"}}]}}"#,
                    BASE64.encode(r#"{"index": 1, "ind": 2}"#)
                ),
            ),
            422,
        ),
        (
            put(
                "record",
                format!(
                    r#"{{"Data": "{}", "PartitionKey": "p"}}"#,
                    BASE64.encode(format!(
                        r#"{{"ind": 1, "x": {}1{}}}"#,
                        "{\"a\": ".repeat(10_000),
                        "}".repeat(10_000)
                    ))
                ),
            ),
            422,
        ),
        // Kinesis requires a partition key
        (
            put("record", r#"{"Data": {"ind": 1, "country": "Chad"}}"#.into()),
            422,
        ),
        (
            put(
                "records",
                r#"{"records": [{"data": {"ind": 1, "country": "Chad"}, "partition-key": "p"}, {"data": {"ind": 2, "country": "Chad"}}]}"#.into(),
            ),
            422,
        ),
        (put("records", "{}".into()), 422),
        (put("records", r#"{"records": []}"#.into()), 422),
        (
            put("records", r#"{"records": [{"partition-key": "p"}]}"#.into()),
            422,
        ),
        (
            put(
                "records",
                format!(
                    r#"{{"records": [{}]}}"#,
                    vec![r#"{"data": {"ind": 1}}"#; 501].join(",")
                ),
            ),
            413,
        ),
        (
            (
                "PUT".into(),
                format!("/streams/streaming-{prefix}-nope/record"),
                Some("application/json".into()),
                data.clone().into_bytes(),
            ),
            404,
        ),
        (
            (
                "PUT".into(),
                format!("/streams/streaming-{prefix}x-geo/record"),
                Some("application/json".into()),
                data.into_bytes(),
            ),
            // a stream of another prefix: outside the role's resources, AccessDenied on AWS
            403,
        ),
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corpus_of_bad_requests_gets_precise_4xx_answers_and_produces_nothing() {
    let s = setup("refuse").await;
    let cases = bad_requests(&s.prefix);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for ((method, path, content_type, body), status) in &cases {
        let Answer {
            status: got,
            body: answer,
        } = respond(&s.state, method, path, content_type.as_deref(), body).await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        assert_eq!(
            got, *status,
            "{method} {path} {content_type:?} {shown}: {answer}"
        );
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            answer["error_code"]
                .as_u64()
                .is_some_and(|c| c / 100 == u64::from(*status)),
            "{shown}: {answer}"
        );
        assert!(
            message.len() > 10,
            "{shown}: a message that says what is wrong: {answer}"
        );
        if message.starts_with("record ") {
            assert!(
                message.contains("field `") || message.contains(": not a {"),
                "{shown}: names the field, or says the record is not an object: {message}"
            );
        }
    }
    // nothing reached the broker or the streams
    for table in Table::ALL {
        assert!(
            topic_messages(&format!("{}.{table}", s.prefix)).is_empty(),
            "{table}"
        );
        let stream = s.physical(&format!("streaming-{}-{table}", s.prefix));
        assert!(
            stream_records(&s.kinesis, &stream).await.is_empty(),
            "{table}"
        );
    }
    // and no topic or stream was created for an unknown name
    let names: Vec<String> = s
        .kinesis
        .list_streams()
        .send()
        .await
        .unwrap()
        .stream_names()
        .to_vec();
    assert!(
        !names
            .iter()
            .any(|n| n.contains(&format!("{}x", s.prefix)) || n.ends_with("-nope"))
    );
}

const GOOD_PIN: &str = r#"{"index": 7528, "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf", "category": "mens-fashion"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outside_the_roles_resources_is_refused_403_as_aws_refuses_it_and_gets_nothing() {
    let s = setup("denied").await;
    // a stream of another stack's prefix: it exists, so moto alone would take the records
    let foreign = format!("streaming-{}-pin", unique_prefix("other"));
    create_stream(&s.kinesis, &foreign, 1).await;
    let requests = [
        (
            "record",
            format!(r#"{{"StreamName": "{foreign}", "Data": {GOOD_PIN}, "PartitionKey": "p"}}"#),
        ),
        (
            "records",
            format!(r#"{{"records": [{{"data": {GOOD_PIN}, "partition-key": "p"}}]}}"#),
        ),
    ];
    for (suffix, body) in &requests {
        let answer = respond(
            &s.state,
            "PUT",
            &format!("/streams/{foreign}/{suffix}"),
            Some("application/json"),
            body.as_bytes(),
        )
        .await;
        assert_eq!(answer.status, 403, "{suffix}: {}", answer.body);
        assert_eq!(answer.body["error_code"], 40301);
        let message = answer.body["message"].as_str().unwrap();
        assert!(message.contains(&foreign), "{message}");
    }
    assert!(stream_records(&s.kinesis, &foreign).await.is_empty());
    // the API's own stream, through the same double: taken
    let own = format!("streaming-{}-pin", s.prefix);
    let answer = respond(
        &s.state,
        "PUT",
        &format!("/streams/{own}/records"),
        Some("application/json"),
        requests[1].1.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        stream_records(&s.kinesis, &s.physical(&own)).await,
        [GOOD_PIN.as_bytes()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_record_of_one_mib_with_its_key_lands_and_one_byte_more_is_a_4xx_never_a_retry() {
    use pinpipe::limits::KINESIS_MAX_RECORD_BYTES as MIB;
    let s = setup("mib").await;
    let stream = format!("streaming-{}-pin", s.prefix);
    let put =
        |value: String| format!(r#"{{"records": [{{"data": {value}, "partition-key": "k"}}]}}"#);
    let at = value_of(MIB - 1);
    let answer = respond(
        &s.state,
        "PUT",
        &format!("/streams/{stream}/records"),
        Some("application/json"),
        put(at.clone()).as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let over = value_of(MIB);
    let answer = respond(
        &s.state,
        "PUT",
        &format!("/streams/{stream}/records"),
        Some("application/json"),
        put(over.clone()).as_bytes(),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["error_code"].clone()),
        (413, json!(41301))
    );
    // were the API's check looser, Kinesis (the strict double) would refuse the record: a 4xx too
    let mut aws = Moto::get().aws();
    aws.kinesis_endpoint_url = Some(s._strict.endpoint().to_owned());
    let sink = KinesisSink::new(pinpipe::kinesis::kinesis_client(&aws).await);
    let record = OutRecord {
        table: Table::Pin,
        key: Some("k".into()),
        partition: None,
        value: over.into_bytes(),
    };
    let physical = s.physical(&stream);
    let refused = sink.put_records(&physical, &[record]).await.unwrap_err();
    assert!(matches!(refused, SinkError::Invalid(_)), "{refused:?}");
    assert_eq!(ingest_api::sink_error(refused, 40402).status, 422);
    assert_eq!(
        stream_records(&s.kinesis, &physical).await,
        [at.into_bytes()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_message_at_librdkafkas_limit_lands_and_librdkafka_refuses_one_byte_more_as_the_api_does()
 {
    use pinpipe::limits::KAFKA_MAX_KEY_AND_VALUE;
    let s = setup("kmax").await;
    let topic = format!("{}.pin", s.prefix);
    let at = value_of(KAFKA_MAX_KEY_AND_VALUE);
    let answer = respond(
        &s.state,
        "POST",
        &format!("/topics/{topic}"),
        Some(KAFKA_JSON),
        format!(r#"{{"records": [{{"value": {at}}}]}}"#).as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let over = value_of(KAFKA_MAX_KEY_AND_VALUE + 1);
    let answer = respond(
        &s.state,
        "POST",
        &format!("/topics/{topic}"),
        Some(KAFKA_JSON),
        format!(r#"{{"records": [{{"value": {over}}}]}}"#).as_bytes(),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body["error_code"].clone()),
        (413, json!(41301))
    );
    // librdkafka, with the producer's default message.max.bytes, draws its line at the same byte
    let sink = KafkaSink::new(
        Tansu::get().brokers(),
        &[("broker.address.family".into(), "v4".into())],
        None,
    )
    .unwrap();
    let record = OutRecord {
        table: Table::Pin,
        key: None,
        partition: None,
        value: over.into_bytes(),
    };
    let refused = sink.produce(&topic, &[record]).await.unwrap_err();
    assert!(matches!(refused, SinkError::TooLarge(_)), "{refused:?}");
    assert_eq!(ingest_api::sink_error(refused, 40401).status, 413);
    assert_eq!(topic_messages(&topic), [at.into_bytes()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kinesis_endpoint_that_never_answers_is_a_503_once_the_sinks_timeout_passes() {
    // accepts connections and never answers them
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(64).collect();
        drop(held);
    });
    let mut aws = Moto::get().aws();
    aws.kinesis_endpoint_url = Some(format!("http://{address}"));
    let sink = KinesisSink::with_timeout(
        pinpipe::kinesis::kinesis_client(&aws).await,
        Duration::from_secs(1),
    );
    let record = OutRecord {
        table: Table::Pin,
        key: Some("k".into()),
        partition: None,
        value: GOOD_PIN.as_bytes().to_vec(),
    };
    // the SDK alone would wait for an answer indefinitely: the bound is the sink's
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        sink.put_records("streaming-x-pin", &[record]),
    )
    .await
    .expect("the sink gives up by itself");
    let refused = outcome.unwrap_err();
    assert!(matches!(refused, SinkError::Unavailable(_)), "{refused:?}");
    assert_eq!(ingest_api::sink_error(refused, 40402).status, 503);
}

#[test]
fn twenty_thousand_generated_requests_never_panic_and_never_get_a_5xx() {
    // the fast slice of `benches/fuzz_ingest.rs` (a million, in BENCHMARKS.md)
    let report = pinpipe_tests::fuzz::run(20_000, 7);
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert_eq!(report.requests, 20_000);
    assert!(
        report.statuses.keys().all(|s| (200..500).contains(s)),
        "{:?}",
        report.statuses
    );
    // the generator reaches past the envelope: accepted records, refused records, refused bodies
    for status in [200, 400, 404, 413, 415, 422] {
        assert!(
            report.statuses.get(&status) > Some(&0),
            "no {status}: {:?}",
            report.statuses
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ingest_api_sample_event_gets_its_documented_answer() {
    use aws_lambda_events::apigw::ApiGatewayProxyResponse;
    use aws_lambda_events::encodings::Body;
    // the samples' own topics and streams: the template's default prefix
    let sample_prefix = pinpipe_tests::template_json()["Parameters"]["Prefix"]["Default"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = setup_granting("events", Some(&sample_prefix)).await;
    for table in Table::ALL {
        Tansu::get().create_topic(&format!("{sample_prefix}.{table}"), 1);
    }
    let expected = [
        ("topic-pin.json", 200),
        ("topic-geo-batch.json", 200),
        ("stream-record-user.json", 200),
        ("stream-records-pin.json", 200),
        ("bad-missing-id.json", 422),
        ("bad-unknown-topic.json", 404),
        ("bad-content-type.json", 415),
        ("bad-too-many-records.json", 413),
        ("bad-base64-body.json", 400),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/ingest-api");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut named: Vec<String> = expected.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    assert_eq!(files, named, "every sample event has an expected answer");
    for (name, status) in expected {
        // as the binary takes it: any JSON, told apart from CloudFormation's requests
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let event = lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
        let response = ingest_api::dispatch(&s.state, event).await.unwrap();
        let response: ApiGatewayProxyResponse = serde_json::from_value(response).unwrap();
        let body = match response.body {
            Some(Body::Text(text)) => text,
            other => panic!("{name}: a JSON text body, not {other:?}"),
        };
        assert_eq!(response.status_code, i64::from(status), "{name}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        if status == 200 {
            assert!(
                body.get("offsets")
                    .or(body.get("SequenceNumber"))
                    .or(body.get("Records"))
                    .is_some(),
                "{name}: {body}"
            );
        } else {
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{name}: {body}"
            );
        }
    }
}

/// CloudFormation's end of a custom resource: a stand-in for the pre-signed `ResponseURL` on
/// 127.0.0.1 that takes PUTs, answers each with `status`, and hands over what it got (the request
/// head and the JSON body).
struct ResponseUrl {
    url: String,
    got: std::sync::mpsc::Receiver<(String, Value)>,
}

impl ResponseUrl {
    fn start(status: u16) -> ResponseUrl {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/cloudformation-response/stack?X-Amz-Signature=abc",
            listener.local_addr().unwrap()
        );
        let (tx, got) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                // handed over before the answer: once the client has its answer, so has the test
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if tx.send((head, body)).is_err() {
                    return;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        ResponseUrl { url, got }
    }

    /// The one answer a request got (none yet is a failure: `dispatch` sends before it returns).
    fn answer(&self) -> (String, Value) {
        self.got.try_recv().expect("CloudFormation was answered")
    }
}

/// CloudFormation's request for the stack's `KafkaTopics` resource (as it sends it: the property
/// values are strings).
fn topics_request(kind: &str, url: &str, topics: &[String], partitions: &str) -> Value {
    let mut event = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:pinpipe-ingest",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/pinpipe/6f1e",
        "RequestId": format!("req-{kind}"),
        "ResourceType": "Custom::KafkaTopics",
        "LogicalResourceId": "KafkaTopics",
        "ResourceProperties": {"ServiceToken": "arn", "Topics": topics, "Partitions": partitions},
    });
    if kind != "Create" {
        event["PhysicalResourceId"] = topics.join(",").into();
    }
    event
}

async fn invoke(state: &State, event: Value) -> Result<Value, ingest_api::Error> {
    ingest_api::dispatch(
        state,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
}

/// One record (post `index`) for `partition` of `topic`, through the API.
async fn post_to_partition(state: &State, topic: &str, index: i64, partition: i32) -> Answer {
    let body = json!({"records": [{"value": {"index": index}, "partition": partition}]});
    let path = format!("/topics/{topic}");
    respond(
        state,
        "POST",
        &path,
        Some(KAFKA_JSON),
        body.to_string().as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stacks_kafka_topics_resource_creates_what_the_cluster_lacks_and_always_answers_cloudformation()
 {
    let s = setup("cfn").await;
    // topics the broker lacks (the setup made <prefix>.<table> with one partition each)
    let topics: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("{}n.{t}", s.prefix))
        .collect();
    let cloudformation = ResponseUrl::start(200);
    let create = topics_request("Create", &cloudformation.url, &topics, "3");
    assert_eq!(invoke(&s.state, create).await.unwrap(), Value::Null);
    let (head, answer) = cloudformation.answer();
    assert!(
        head.starts_with("PUT /cloudformation-response/stack?X-Amz-Signature=abc "),
        "{head}"
    );
    assert!(
        !head.to_ascii_lowercase().contains("content-type"),
        "the URL is signed without a content type: {head}"
    );
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], topics.join(","));
    assert_eq!(answer["RequestId"], "req-Create");
    assert_eq!(answer["LogicalResourceId"], "KafkaTopics");
    // the topics exist with three partitions: a record for partition 2 lands, for 3 is refused
    for (partition, status) in [(2, 200), (3, 404)] {
        let answer = post_to_partition(&s.state, &topics[0], 1, partition).await;
        assert_eq!(
            answer.status, status,
            "partition {partition}: {:?}",
            answer.body
        );
    }
    // again (an update, a redeploy): the topics exist, nothing changes, CloudFormation hears success
    let update = topics_request("Update", &cloudformation.url, &topics, "3");
    invoke(&s.state, update).await.unwrap();
    assert_eq!(cloudformation.answer().1["Status"], "SUCCESS");
    // a bad property fails the resource, saying why, and keeps the physical id
    let bad = topics_request("Update", &cloudformation.url, &topics, "0");
    invoke(&s.state, bad).await.unwrap();
    let (_, answer) = cloudformation.answer();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(
        answer["Reason"]
            .as_str()
            .unwrap()
            .contains("Partitions \"0\""),
        "{answer}"
    );
    assert_eq!(answer["PhysicalResourceId"], topics.join(","));
    // a delete leaves the topics (they hold the batch path's records) and succeeds
    let delete = topics_request("Delete", &cloudformation.url, &topics, "3");
    invoke(&s.state, delete).await.unwrap();
    assert_eq!(cloudformation.answer().1["Status"], "SUCCESS");
    let after = post_to_partition(&s.state, &topics[0], 2, 2).await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    // an answer CloudFormation did not take fails the invocation (Lambda retries it), not silently
    let refusing = ResponseUrl::start(403);
    let create = topics_request("Create", &refusing.url, &topics, "3");
    let error = invoke(&s.state, create).await.unwrap_err();
    assert!(error.to_string().contains("403"), "{error}");
    // an event that is neither kind is an error naming both, never a panic
    let error = invoke(&s.state, json!({"hello": 1})).await.unwrap_err();
    assert!(
        error.to_string().contains("neither an API Gateway request"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_still_answers_cloudformation_and_tries_again_next_time() {
    // SCRAM credentials from a secret that does not exist: the producers cannot be built
    let moto = Moto::get();
    let config = IngestConfig {
        kafka: KafkaConnection {
            brokers: Some(Tansu::get().brokers().to_owned()),
            auth: pinpipe::config::KafkaAuth::SaslScram,
            secret_id: Some("no-such-secret".into()),
            ..KafkaConnection::default()
        },
        topics: TopicRoutes::default(),
        streams: StreamRoutes::default(),
        stream_names: StreamNames::default(),
        aws: moto.aws(),
    };
    let state = tokio::sync::OnceCell::new();
    let cloudformation = ResponseUrl::start(200);
    let topics = vec!["cannot-start.pin".to_owned()];
    let create = topics_request("Create", &cloudformation.url, &topics, "1");
    let event = lambda_runtime::LambdaEvent::new(create, lambda_runtime::Context::default());
    let answered = ingest_api::serve(&config, &state, event).await.unwrap();
    assert_eq!(answered, Value::Null);
    let (_, answer) = cloudformation.answer();
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().unwrap();
    assert!(
        reason.contains("could not start") && reason.contains("no-such-secret"),
        "{reason}"
    );
    // an API request gets the error (API Gateway answers 502), and nothing was kept: the next
    // invocation builds the state again
    let api = json!({"httpMethod": "POST", "path": "/topics/cannot-start.pin",
                     "headers": {"content-type": KAFKA_JSON}, "body": "{}"});
    let event = lambda_runtime::LambdaEvent::new(api, lambda_runtime::Context::default());
    let error = ingest_api::serve(&config, &state, event).await.unwrap_err();
    assert!(error.to_string().contains("no-such-secret"), "{error}");
    assert!(state.get().is_none());
}

/// `pinpipe serve`, configured as the template configures the function for `s`'s stack.
fn serve(s: &Setup) -> Server {
    Server::start_with(
        env!("CARGO_BIN_EXE_pinpipe-test-cli"),
        &["--kinesis-streams", &s.names_text],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinpipe_serve_answers_the_original_emulators_python_requests_over_http() {
    let s = setup("serve").await;
    let server = serve(&s);
    let bodies = emulator_bodies(Table::Geo, &s.prefix, 1);
    let (payload, topic_body, stream_body) = &bodies[0];
    // what the original emulator does: requests.request(method, url, headers=…, data=payload)
    let script = r#"
import json, sys, urllib.request, urllib.error
url, method, content_type, body = sys.argv[1:5]
request = urllib.request.Request(url, data=body.encode(), method=method, headers={"Content-Type": content_type})
try:
    with urllib.request.urlopen(request) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"#;
    let call = |method: &str, path: String, content_type: &str, body: &str| {
        let output = std::process::Command::new("python3")
            .args([
                "-c",
                script,
                &format!("{}{path}", server.url()),
                method,
                content_type,
                body,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let (status, body) = text.trim().split_once(' ').unwrap();
        (
            status.parse::<u16>().unwrap(),
            serde_json::from_str::<Value>(body).unwrap(),
        )
    };
    let topic = format!("{}.geo", s.prefix);
    let (status, body) = call("POST", format!("/topics/{topic}"), KAFKA_JSON, topic_body);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], 0);
    let stream = format!("streaming-{}-geo", s.prefix);
    let (status, body) = call(
        "PUT",
        format!("/streams/{stream}/record"),
        "application/json",
        stream_body,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ShardId"], "shardId-000000000000");
    let (status, body) = call(
        "POST",
        format!("/topics/{topic}"),
        KAFKA_JSON,
        r#"{"records": [{"value": {"country": "Chad"}}]}"#,
    );
    assert_eq!(
        (status, body["error_code"].as_u64()),
        (422, Some(42201)),
        "{body}"
    );

    assert_eq!(topic_messages(&topic), std::slice::from_ref(payload));
    assert_eq!(
        stream_records(&s.kinesis, &s.physical(&stream)).await,
        std::slice::from_ref(payload)
    );
}

/// Sends `head` (a request's header lines, without the blank line) to `server` and reads the first
/// status line it answers.
fn first_status_line(stream: &mut std::net::TcpStream, head: &str) -> String {
    use std::io::{Read, Write};
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .unwrap();
    // a bound on a server that never answers, so the test fails rather than hangs
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // byte by byte: what follows the line stays in the stream for the caller
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        let n = stream.read(&mut byte).unwrap();
        assert!(
            n > 0,
            "the connection closed before a status line: {line:?}"
        );
        line.push(byte[0]);
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

/// What `stream` sends up to the end of a JSON answer (the body's closing brace).
fn read_json_answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    // a bound on a server that never answers, so the test fails rather than hangs
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = String::new();
    while !(answer.contains("\r\n\r\n") && answer.trim_end().ends_with('}')) {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed before the answer: {answer}");
        answer.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinpipe_serve_refuses_a_declared_body_over_the_limit_before_asking_for_it() {
    use pinpipe::limits::MAX_BODY_BYTES;
    use std::io::Write;
    let s = setup("expect").await;
    let server = serve(&s);
    let address = server.url().trim_start_matches("http://").to_owned();
    let topic = format!("{}.geo", s.prefix);
    let head = |length: usize| {
        format!(
            "POST /topics/{topic} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {KAFKA_JSON}\r\n\
             Expect: 100-continue\r\nContent-Length: {length}"
        )
    };
    // 20 MB declared, and one byte over the limit: 413 at once, not `100 Continue`
    for length in [20_000_000, MAX_BODY_BYTES + 1] {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let line = first_status_line(&mut stream, &head(length));
        assert!(line.starts_with("HTTP/1.1 413"), "{length}: {line}");
        let rest = read_json_answer(&mut stream);
        assert!(rest.contains("41301"), "{rest}");
        assert!(
            rest.contains(&format!("the body is {length} bytes")),
            "{rest}"
        );
    }
    // a body within the limit is asked for and taken, as before
    let body = r#"{"records": [{"value": {"index": 7000304, "country": "Chad"}}]}"#;
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    let line = first_status_line(&mut stream, &head(body.len()));
    assert_eq!(line, "HTTP/1.1 100 Continue");
    stream.write_all(body.as_bytes()).unwrap();
    let answer = read_json_answer(&mut stream);
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"offsets\""), "{answer}");
    assert_eq!(topic_messages(&topic).len(), 1);
}

/// Everything `stream` receives until the server closes it. A server that never closes fails the
/// test after a minute rather than hanging it.
fn until_closed(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server kept the connection open ({e}); it sent {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// `pinpipe serve` with `args`, and a way to open a raw connection to it.
fn serve_raw(args: &[&str]) -> (Server, impl Fn() -> std::net::TcpStream) {
    let server = Server::start_with(env!("CARGO_BIN_EXE_pinpipe-test-cli"), args);
    let address = server.url().trim_start_matches("http://").to_owned();
    (server, move || {
        std::net::TcpStream::connect(&address).unwrap()
    })
}

#[test]
fn pinpipe_serve_answers_a_begun_request_that_stalls_408_and_closes_silent_and_idle_connections() {
    use std::io::Write;
    let (_server, connect) = serve_raw(&["--header-timeout-secs", "1", "--body-timeout-secs", "1"]);
    // a head left partial
    let mut partial_head = connect();
    partial_head
        .write_all(b"POST /topics/x.pin HTTP/1.1\r\nHost: a\r\nContent-")
        .unwrap();
    // a body left partial
    let mut partial_body = connect();
    partial_body
        .write_all(
            b"POST /topics/x.pin HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"records\"",
        )
        .unwrap();
    // nothing at all
    let mut silent = connect();
    // a request answered, then nothing (keep-alive)
    let mut idle = connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let first = read_json_answer(&mut idle);
    assert!(first.starts_with("HTTP/1.1 404"), "{first}");

    let head = until_closed(&mut partial_head);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.contains("40801") && head.contains("head did not arrive"),
        "{head}"
    );
    let body = until_closed(&mut partial_body);
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(
        body.contains("40801") && body.contains("body did not arrive"),
        "{body}"
    );
    assert_eq!(until_closed(&mut silent), "", "closed without an answer");
    assert_eq!(
        until_closed(&mut idle),
        "",
        "closed without a second answer"
    );
}

#[test]
fn pinpipe_serve_answers_a_connection_over_its_cap_503_and_still_serves_the_ones_it_holds() {
    use std::io::Write;
    let (_server, connect) = serve_raw(&["--max-connections", "2", "--header-timeout-secs", "300"]);
    // the server accepts in order: the first two take the two places
    let mut held = [connect(), connect()];
    let mut third = connect();
    let refused = until_closed(&mut third);
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("50303"), "{refused}");
    for stream in &mut held {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let answer = read_json_answer(stream);
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinpipe_emulate_replays_real_rows_through_pinpipe_serve_into_both_paths() {
    let s = setup("emulate").await;
    let server = serve(&s);
    let rows = pinpipe_tests::data_file("source-rows/pin.jsonl");
    let dir = rows.parent().unwrap().to_str().unwrap().to_owned();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .args([
            "emulate",
            "--api",
            server.url(),
            "--mode",
            "both",
            "--source",
            &dir,
        ])
        .args(["--posts", "30", "--prefix", &s.prefix, "--concurrency", "1"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("sent 30 posts, 180 requests") && report.contains("180 accepted"),
        "{report}"
    );
    for table in Table::ALL {
        let expected: Vec<Vec<u8>> = emulator_bodies(table, &s.prefix, 30)
            .into_iter()
            .map(|(payload, _, _)| payload)
            .collect();
        let topic = format!("{}.{table}", s.prefix);
        assert_eq!(topic_messages(&topic), expected, "{table}: in file order");
        let stream = s.physical(&format!("streaming-{}-{table}", s.prefix));
        assert_eq!(
            stream_records(&s.kinesis, &stream).await,
            expected,
            "{table}"
        );
    }
}

/// A tansu broker reached only through TLS: socat terminates TLS (a self-signed certificate for
/// 127.0.0.1) in front of it, and the broker advertises the TLS port.
struct TlsBroker {
    _processes: (pinpipe_tests::Background, pinpipe_tests::Background),
    _dir: pinpipe_tests::TempDir,
    address: String,
    ca: String,
}

impl TlsBroker {
    fn start(topic: &str) -> TlsBroker {
        use pinpipe_tests::{Background, TempDir, free_port};
        let dir = TempDir::new("tls-broker");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs (.ci/run installs it)");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let (plain, tls) = (free_port(), free_port());
        let broker = Background::start(
            &Tansu::binary(),
            &[
                "broker".into(),
                "--listener-url".into(),
                format!("tcp://127.0.0.1:{plain}"),
                "--advertised-listener-url".into(),
                format!("tcp://127.0.0.1:{tls}"),
                "--storage-engine".into(),
                "memory://tansu/".into(),
            ],
        );
        Background::wait_for(&format!("127.0.0.1:{plain}"));
        let terminator = Background::start(
            std::path::Path::new("socat"),
            &[
                format!(
                    "OPENSSL-LISTEN:{tls},bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
                    cert.display(),
                    key.display()
                ),
                format!("TCP:127.0.0.1:{plain}"),
            ],
        );
        Background::wait_for(&format!("127.0.0.1:{tls}"));
        let created = std::process::Command::new(Tansu::binary())
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{plain}"))
            .args(["--partitions", "1", topic])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(created.success());
        TlsBroker {
            _processes: (broker, terminator),
            address: format!("127.0.0.1:{tls}"),
            ca: cert.display().to_string(),
            _dir: dir,
        }
    }

    fn messages(&self, topic: &str) -> Vec<Vec<u8>> {
        let tls = [
            ("security.protocol", "ssl"),
            ("ssl.ca.location", self.ca.as_str()),
        ];
        read_topic(&self.address, &tls, topic, Duration::from_secs(3))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_broker_takes_records_with_its_ca_configured_and_is_never_reached_unverified() {
    let topic = format!("{}.pin", unique_prefix("tls"));
    let broker = TlsBroker::start(&topic);
    let state = |ca: Option<&str>| {
        let config = IngestConfig {
            kafka: KafkaConnection {
                brokers: Some(broker.address.clone()),
                auth: pinpipe::config::KafkaAuth::Tls,
                ca_location: ca.map(str::to_owned),
                settings: vec![("broker.address.family".into(), "v4".into())],
                ..KafkaConnection::default()
            },
            topics: TopicRoutes::default(),
            streams: StreamRoutes::default(),
            stream_names: StreamNames::default(),
            aws: Moto::get().aws(),
        };
        async move { State::new(&config).await.unwrap() }
    };
    let payload = &emulator_payloads(Table::Pin)[0];
    let body = format!(
        r#"{{"records": [{{"value": {}}}]}}"#,
        String::from_utf8_lossy(payload)
    );
    let path = format!("/topics/{topic}");

    let verified = state(Some(&broker.ca)).await;
    let answer = respond(&verified, "POST", &path, Some(KAFKA_JSON), body.as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["offsets"][0]["offset"], 0);

    // the system's roots do not know the self-signed certificate: retry later, nothing produced
    let unverified = state(None).await;
    let answer = respond(
        &unverified,
        "POST",
        &path,
        Some(KAFKA_JSON),
        body.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);

    assert_eq!(broker.messages(&topic), std::slice::from_ref(payload));
}

#[test]
fn the_msk_iam_token_is_the_connect_url_botocore_presigns() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use pinpipe::kafka::msk::iam_token;
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let credentials = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("IQoJb3JpZ2luX2VjE/session+token=".into()),
        None,
        "test",
    );
    let (token, _) = iam_token(credentials, "eu-west-1", at).unwrap();
    let ours = String::from_utf8(URL_SAFE_NO_PAD.decode(token).unwrap()).unwrap();
    // botocore's SigV4 query signer at the same instant (what AWS's Python MSK IAM signer uses)
    let script = r#"
import datetime, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
botocore.auth.get_current_datetime = lambda: datetime.datetime(2026, 11, 18, 11, 6, 40)
request = AWSRequest(method="GET", url="https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect")
credentials = Credentials(sys.argv[1], sys.argv[2], sys.argv[3])
botocore.auth.SigV4QueryAuth(credentials, "kafka-cluster", "eu-west-1", expires=900).add_auth(request)
print(request.url)
"#;
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ])
        .arg("IQoJb3JpZ2luX2VjE/session+token=")
        .output()
        .expect("python3 with boto3 (installed by .ci/run)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = String::from_utf8(output.stdout).unwrap();
    let query = |url: &str| -> std::collections::BTreeMap<String, String> {
        let (base, query) = url.trim().split_once('?').unwrap();
        assert_eq!(base, "https://kafka.eu-west-1.amazonaws.com/");
        query
            .split('&')
            .filter(|p| !p.starts_with("User-Agent="))
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect()
    };
    let (ours, theirs) = (query(&ours), query(&theirs));
    assert_eq!(ours.len(), 8, "{ours:?}");
    assert_eq!(ours, theirs, "the same signed query, signature included");
}

#[test]
fn the_emulators_iam_signature_for_an_api_request_is_the_one_botocore_computes() {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    let url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/topics/12471ce1b695.pin";
    let body = r#"{"records": [{"value": {"index": 1}}]}"#;
    let credentials = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("IQoJb3JpZ2luX2VjE/session+token=".into()),
        None,
        "test",
    );
    let ours = pinpipe::sigv4::sign_headers(
        credentials,
        "execute-api",
        "eu-west-1",
        &pinpipe::sigv4::Request {
            method: "POST",
            url,
            headers: &[("content-type", KAFKA_JSON)],
            body: body.as_bytes(),
        },
        at,
    )
    .unwrap();
    let ours: std::collections::BTreeMap<String, String> = ours
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    let script = r#"
import datetime, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
botocore.auth.get_current_datetime = lambda: datetime.datetime(2026, 11, 18, 11, 6, 40)
url, content_type, body = sys.argv[1:4]
request = AWSRequest(method="POST", url=url, data=body.encode(), headers={"Content-Type": content_type})
botocore.auth.SigV4Auth(Credentials(*sys.argv[4:7]), "execute-api", "eu-west-1").add_auth(request)
for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
    print(request.headers[name])
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, url, KAFKA_JSON, body])
        .args(["AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"])
        .arg("IQoJb3JpZ2luX2VjE/session+token=")
        .output()
        .expect("python3 with boto3 (installed by .ci/run)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = String::from_utf8(output.stdout).unwrap();
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(
        ours["authorization"], theirs[0],
        "signature and signed headers"
    );
    assert_eq!(ours["x-amz-date"], theirs[1]);
    assert_eq!(ours["x-amz-security-token"], theirs[2]);
}
