//! Generated requests for the ingest API's parsers (proptest): the original emulator's real bodies
//! mutated (bytes flipped, inserted, deleted, spliced, truncated; JSON tokens dropped in; values
//! swapped for odd ones), arbitrary JSON in every envelope, raw bytes; every endpoint, with odd
//! paths, content types and base64 event bodies. [`run`] answers each through `ingest-api`'s own
//! handler over in-process sinks and counts what came back; the property is that no request panics
//! and none gets a 5xx (in-process sinks never fail, so a 5xx could only be a parser's fault).
//! `benches/fuzz_ingest.rs` runs a million; `tests/ingest_fuzz.rs` a fast slice of it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ingest_api::State;
use pinpipe::Table;
use pinpipe::routes::{StreamRoutes, TopicRoutes};
use pinpipe_local::MemoryLog;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// The prefix of the generated requests' topics and streams.
pub const PREFIX: &str = "fuzz";

/// One generated request, as API Gateway would hand it over.
#[derive(Clone, Debug)]
pub struct FuzzRequest {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Sent in the Lambda event as base64 (`isBase64Encoded`), as the template's API does.
    pub base64: bool,
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct FuzzReport {
    pub requests: u64,
    /// Requests per answer status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests whose handler panicked, or whose answer was a 5xx, or not a JSON object.
    pub failures: Vec<String>,
    pub elapsed: Duration,
}

/// Real bodies of the original emulator for every endpoint: the seeds mutations start from.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for table in Table::ALL {
        for payload in crate::emulator_payloads(table).into_iter().take(40) {
            let payload = String::from_utf8(payload).unwrap();
            out.push((
                format!("/topics/{PREFIX}.{table}"),
                format!(r#"{{"records": [{{"value": {payload}}}]}}"#).into_bytes(),
            ));
            out.push((
                format!("/streams/streaming-{PREFIX}-{table}/record"),
                format!(
                    r#"{{"StreamName": "streaming-{PREFIX}-{table}", "Data": {payload}, "PartitionKey": "partition-1"}}"#
                )
                .into_bytes(),
            ));
            out.push((
                format!("/streams/streaming-{PREFIX}-{table}/records"),
                format!(
                    r#"{{"records": [{{"data": "{}", "partition-key": "p"}}, {{"data": {payload}}}]}}"#,
                    BASE64.encode(&payload)
                )
                .into_bytes(),
            ));
        }
    }
    out
}

/// Tokens that break parsers: structure, odd numbers, escapes, invalid UTF-8.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\",
    b"null",
    b"true",
    b"-0",
    b"1.0",
    b"1e400",
    b"-1e-400",
    b"99999999999999999999999",
    b"-9223372036854775809",
    b"\"\\ud800\"",
    b"\"\\u0000\"",
    b"\"\xff\xfe\"",
    b"\xc3\x28",
    b"\"index\": 1, \"index\": 2",
    b"\"records\": []",
    b"\"partition\": 2147483648",
    b"\"partition\": 1",
    b"\"data\": \"%%%\"",
    b"\"Data\": \"e30=\"",
    b"\"PartitionKey\": \"\"",
];

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2020-08-28 03:52:47")),
        Just(json!("7528")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("index".to_owned()),
                    Just("ind".to_owned()),
                    Just("value".to_owned()),
                    Just("data".to_owned()),
                    Just("records".to_owned()),
                    Just("partition".to_owned()),
                    Just("key".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Clone, Debug)]
enum Edit {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index, Index),
    Duplicate(Index, Index),
    Token(Index, Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, n)| Edit::Duplicate(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Edit::Token(i, t)),
        any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(mut body: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = body.len();
        match e {
            Edit::Flip(i, b) if len > 0 => body[i.index(len)] ^= b | 1,
            Edit::Insert(i, b) => body.insert(i.index(len + 1), *b),
            Edit::Delete(i, n) if len > 0 => {
                let start = i.index(len);
                let end = (start + n.index(16) + 1).min(len);
                body.drain(start..end);
            }
            Edit::Duplicate(i, n) if len > 0 => {
                let start = i.index(len);
                let end = (start + n.index(64) + 1).min(len);
                let piece = body[start..end].to_vec();
                body.splice(end..end, piece);
            }
            Edit::Token(i, t) => {
                let at = i.index(len + 1);
                let token = TOKENS[t.index(TOKENS.len())];
                body.splice(at..at, token.iter().copied());
            }
            Edit::Truncate(i) if len > 0 => body.truncate(i.index(len)),
            _ => {}
        }
    }
    body
}

/// Paths: the real ones, and odd ones (stage prefixes, escapes, unknown names, other endpoints).
fn path(seed_path: String) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(seed_path.clone()),
        1 => Just(format!("/prod{seed_path}")),
        1 => Just(seed_path.replace(PREFIX, "f%75zz")),
        1 => Just(seed_path.replace(PREFIX, "%zz%f")),
        1 => "/[a-z%/.{}]{0,24}",
        1 => Just(seed_path.replace("/record", "/record/x")),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(Some("application/json".to_owned())),
        4 => Just(Some("application/vnd.kafka.json.v2+json".to_owned())),
        1 => Just(Some("application/JSON; charset=utf-8".to_owned())),
        1 => Just(None),
        1 => ".{0,20}".prop_map(Some),
    ]
}

/// The generated requests.
pub fn requests() -> impl Strategy<Value = FuzzRequest> {
    let seeds = seeds();
    let seeded = prop::sample::select(seeds).prop_flat_map(|(seed_path, seed_body)| {
        (
            path(seed_path),
            prop_oneof![
                // a real body, mutated
                6 => prop::collection::vec(edit(), 1..8)
                    .prop_map(move |edits| apply(seed_body.clone(), &edits)),
                // any JSON in the topic and stream envelopes
                2 => json_value().prop_map(|v| {
                    serde_json::json!({"records": [{"value": v.clone(), "data": v}]})
                        .to_string()
                        .into_bytes()
                }),
                1 => json_value().prop_map(|v| v.to_string().into_bytes()),
                // raw bytes
                1 => prop::collection::vec(any::<u8>(), 0..256),
                // more records than a request may hold
                1 => (490usize..520).prop_map(|n| {
                    let one = r#"{"value": {"index": 1}, "data": {"index": 1}}"#;
                    format!(r#"{{"records": [{}]}}"#, vec![one; n].join(",")).into_bytes()
                }),
            ],
        )
    });
    (
        seeded,
        prop_oneof![
            8 => Just("POST"),
            8 => Just("PUT"),
            1 => Just("GET"),
            1 => Just("post")
        ],
        content_type(),
        any::<bool>(),
    )
        .prop_map(|((path, body), method, content_type, base64)| {
            let method = if path.contains("/streams/") && method == "POST" {
                "PUT"
            } else if path.contains("/topics/") && method == "PUT" {
                "POST"
            } else {
                method
            };
            FuzzRequest {
                method: method.to_owned(),
                path,
                content_type,
                body,
                base64,
            }
        })
}

/// The handler over in-process topics and streams named for [`PREFIX`] (2 partitions each).
fn state() -> State {
    let topics = Table::ALL.map(|t| format!("{PREFIX}.{t}"));
    let streams = Table::ALL.map(|t| format!("streaming-{PREFIX}-{t}"));
    State::with_sinks(
        Arc::new(MemoryLog::new(topics, 2)),
        Arc::new(MemoryLog::new(streams, 2)),
        TopicRoutes::default(),
        StreamRoutes::default(),
    )
}

/// The Lambda event API Gateway makes of a request.
fn event(request: &FuzzRequest) -> aws_lambda_events::apigw::ApiGatewayProxyRequest {
    use aws_lambda_events::http::{HeaderMap, HeaderValue, Method};
    let mut event = aws_lambda_events::apigw::ApiGatewayProxyRequest::default();
    event.http_method = Method::from_bytes(request.method.as_bytes()).unwrap_or(Method::POST);
    event.path = Some(request.path.clone());
    let mut headers = HeaderMap::new();
    if let Some(content_type) = &request.content_type
        && let Ok(value) = HeaderValue::from_str(content_type)
    {
        headers.insert("content-type", value);
    }
    event.headers = headers;
    event.is_base64_encoded = request.base64;
    event.body = Some(if request.base64 {
        BASE64.encode(&request.body)
    } else {
        // API Gateway hands a text body over as a string: lossy for bytes that are not UTF-8
        String::from_utf8_lossy(&request.body).into_owned()
    });
    event
}

/// Answers `cases` generated requests (from `seed`) through the function's handler; stops at the
/// first failure, which proptest shrinks to a smallest failing request.
pub fn run(cases: u32, seed: u64) -> FuzzReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = std::cell::RefCell::new(FuzzReport::default());
    let state = std::cell::RefCell::new(state());
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 2_000,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let started = Instant::now();
    let outcome = runner.run(&requests(), |request| {
        {
            let mut r = report.borrow_mut();
            r.requests += 1;
            // the in-process logs keep what they take: start afresh now and then
            if r.requests % 20_000 == 0 {
                *state.borrow_mut() = self::state();
            }
        }
        let state = state.borrow();
        let invocation =
            lambda_runtime::LambdaEvent::new(event(&request), lambda_runtime::Context::default());
        let response = runtime
            .block_on(ingest_api::handle(&state, invocation))
            .map_err(|e| TestCaseError::fail(format!("the handler failed: {e}")))?;
        let status = u16::try_from(response.status_code).unwrap_or(0);
        *report.borrow_mut().statuses.entry(status).or_default() += 1;
        let body = match &response.body {
            Some(aws_lambda_events::encodings::Body::Text(text)) => text.clone(),
            other => return Err(TestCaseError::fail(format!("not a text body: {other:?}"))),
        };
        let answer: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {body}")))?;
        prop_assert!(answer.is_object(), "{body}");
        prop_assert!(
            (200..500).contains(&status),
            "{status} for {} {}: {body}",
            request.method,
            request.path
        );
        if status != 200 {
            prop_assert!(
                answer["error_code"]
                    .as_u64()
                    .is_some_and(|c| c / 100 == u64::from(status)),
                "{body}"
            );
        }
        Ok(())
    });
    let mut report = report.into_inner();
    report.elapsed = started.elapsed();
    if let Err(e) = outcome {
        report.failures.push(e.to_string());
    }
    report
}
