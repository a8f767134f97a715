//! The stream path end to end: records in Kinesis (moto on 127.0.0.1) → the event-source runner →
//! the kinesis-consumer handler → `tables/stream/*` on a local path and on moto S3, exactly once.

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::Duration;

use pinpipe::Table;
use pinpipe::config::{AwsConfig, StreamConsumerConfig};
use pinpipe::lake::{LakeTable, TableId, Warehouse, sql};
use pinpipe::routes::StreamRoutes;
use pinpipe::source::Synthetic;
use pinpipe_local::kinesis::{EventRecord, Runner, RunnerOptions, kinesis_event};
use pinpipe_tests::kinesis::{InProcess, client, create_stream, put_all, unique_prefix};
use pinpipe_tests::{Moto, TempDir, data_file, emulator_payloads, pinpipe};
use serde_json::{Value, json};

/// A warehouse URI on each backend, with the AWS settings that reach it.
fn backends(label: &str) -> Vec<(&'static str, TempDir, String, AwsConfig)> {
    let moto = Moto::get();
    let local = TempDir::new(label);
    let local_uri = local.path().join("warehouse").display().to_string();
    vec![
        ("local", local, local_uri, AwsConfig::default()),
        (
            "s3",
            TempDir::new(label),
            format!("s3://{}/lake", moto.bucket(label)),
            moto.aws(),
        ),
    ]
}

fn consumer_state(warehouse: &str, aws: &AwsConfig) -> kinesis_consumer::State {
    let config = StreamConsumerConfig {
        warehouse: warehouse.to_owned(),
        routes: StreamRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        aws: aws.clone(),
    };
    kinesis_consumer::State::new(&config).unwrap()
}

/// `pinpipe clean` of the real rows of `table`, by `ind`.
fn cleaned_by_pinpipe_clean(table: Table) -> BTreeMap<i64, Value> {
    let input = data_file(&format!("source-rows/{table}.jsonl"));
    let run = pinpipe(
        &[
            "clean",
            "--table",
            table.name(),
            "--input",
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert!(run.success, "{}", String::from_utf8_lossy(&run.stderr));
    by_ind(&run.stdout)
}

fn by_ind(jsonl: &[u8]) -> BTreeMap<i64, Value> {
    let mut rows = BTreeMap::new();
    for line in std::str::from_utf8(jsonl).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        let ind = row["ind"].as_i64().unwrap();
        assert!(rows.insert(ind, row).is_none(), "ind {ind} appears twice");
    }
    rows
}

async fn query(warehouse: &Warehouse, sql_text: &str) -> Vec<u8> {
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let batches = sql::query(&ctx, sql_text).await.unwrap();
    let mut out = Vec::new();
    sql::write_jsonl(&batches, &mut out).unwrap();
    out
}

async fn stream_rows(warehouse: &Warehouse, table: Table) -> BTreeMap<i64, Value> {
    by_ind(&query(warehouse, &format!("SELECT * FROM stream_{table}")).await)
}

async fn row_count(warehouse: &Warehouse, id: TableId) -> usize {
    match LakeTable::open_existing(warehouse, id).await.unwrap() {
        None => 0,
        Some(_) => {
            let out = query(
                warehouse,
                &format!("SELECT count(*) AS n FROM {}", id.sql_name()),
            )
            .await;
            serde_json::from_slice::<Value>(&out).unwrap()["n"]
                .as_u64()
                .unwrap() as usize
        }
    }
}

fn options(streams: &[String], batch_size: usize) -> RunnerOptions {
    RunnerOptions {
        streams: streams.to_vec(),
        batch_size,
        until_caught_up: true,
        poll_interval: Duration::from_millis(20),
        ..RunnerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_posts_in_the_emulator_format_land_once_in_each_stream_table_equal_to_pinpipe_clean() {
    let moto = Moto::get();
    let kinesis = client(moto).await;
    for (backend, _dir, uri, aws) in backends("stream-real") {
        let prefix = unique_prefix("real");
        let streams: Vec<String> = Table::ALL
            .iter()
            .map(|t| format!("streaming-{prefix}-{t}"))
            .collect();
        for (table, stream) in Table::ALL.iter().zip(&streams) {
            create_stream(&kinesis, stream, 1).await;
            put_all(&kinesis, stream, &emulator_payloads(*table)).await;
        }
        let runner = Runner::new(
            kinesis.clone(),
            InProcess(consumer_state(&uri, &aws)),
            options(&streams, 250),
        );
        let summary = runner.run().await.unwrap();
        assert_eq!(summary.records(), 3 * 2262, "{backend}");
        assert!(
            summary
                .shards
                .iter()
                .all(|s| s.failed_invocations == 0 && s.partial_failures == 0)
        );

        let warehouse = Warehouse::open(&uri, &aws).unwrap();
        for table in Table::ALL {
            let rows = stream_rows(&warehouse, table).await;
            assert_eq!(rows.len(), 2019, "{backend} {table}");
            assert_eq!(
                rows,
                cleaned_by_pinpipe_clean(table),
                "{backend} {table}: row for row"
            );
        }
        assert_eq!(
            row_count(&warehouse, TableId::Quarantine).await,
            0,
            "{backend}"
        );

        // everything delivered again from the start, in other batch sizes: nothing changes
        let again = Runner::new(
            kinesis.clone(),
            InProcess(consumer_state(&uri, &aws)),
            options(&streams, 77),
        );
        assert_eq!(again.run().await.unwrap().records(), 3 * 2262);
        for table in Table::ALL {
            assert_eq!(
                row_count(&warehouse, TableId::Stream(table)).await,
                2019,
                "{backend} {table} after a full redelivery"
            );
        }
    }
}

/// Distinct synthetic posts (the generator re-sends some; these are unique by `ind`).
fn distinct_posts(n: usize, seed: u64) -> Vec<pinpipe::source::Post> {
    let mut seen = HashSet::new();
    Synthetic::new(seed)
        .filter(|p| seen.insert(p.ind()))
        .take(n)
        .collect()
}

fn event_records(payloads: &[Vec<u8>], first_sequence: u64) -> Vec<EventRecord> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| EventRecord {
            partition_key: format!("k{i}"),
            sequence_number: (first_sequence + i as u64).to_string(),
            data: p.clone(),
            approximate_arrival: 1_795_780_800.0,
        })
        .collect()
}

fn event(stream: &str, records: &[EventRecord]) -> Value {
    kinesis_event(
        &format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"),
        "us-east-1",
        "shardId-000000000000",
        records,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_adds_nothing_and_an_overlapping_one_adds_only_its_new_records() {
    let posts = distinct_posts(20, 11);
    let payloads: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.emulator_payload(Table::User))
        .collect();
    let records = event_records(&payloads, 49_659_871_205_443_160);
    let stream = "streaming-redelivery-user";
    for (backend, _dir, uri, aws) in backends("stream-redelivery") {
        let state = consumer_state(&uri, &aws);
        let warehouse = Warehouse::open(&uri, &aws).unwrap();
        let first = event(stream, &records[..10]);
        let no_failures = json!({"batchItemFailures": []});
        assert_eq!(
            pinpipe_local::invoke::call_json(
                |e| kinesis_consumer::handle(&state, e),
                first.clone()
            )
            .await
            .unwrap(),
            no_failures
        );
        assert_eq!(
            row_count(&warehouse, TableId::Stream(Table::User)).await,
            10,
            "{backend}"
        );

        assert_eq!(
            pinpipe_local::invoke::call_json(
                |e| kinesis_consumer::handle(&state, e),
                first.clone()
            )
            .await
            .unwrap(),
            no_failures
        );
        assert_eq!(
            row_count(&warehouse, TableId::Stream(Table::User)).await,
            10,
            "{backend}: same event twice"
        );

        // a cold start (fresh state) sees the same committed position
        let cold = consumer_state(&uri, &aws);
        assert_eq!(
            pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&cold, e), first)
                .await
                .unwrap(),
            no_failures
        );
        assert_eq!(
            row_count(&warehouse, TableId::Stream(Table::User)).await,
            10,
            "{backend}: after a cold start"
        );

        let overlapping = event(stream, &records[5..]);
        assert_eq!(
            pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&cold, e), overlapping)
                .await
                .unwrap(),
            no_failures
        );
        let rows = stream_rows(&warehouse, Table::User).await;
        let expected: Vec<i64> = {
            let mut v: Vec<i64> = posts.iter().map(|p| p.ind()).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(
            rows.keys().copied().collect::<Vec<_>>(),
            expected,
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10000_record_batch_with_one_malformed_record_lands_9999_rows_and_one_quarantine_row() {
    let posts = distinct_posts(9_999, 12);
    let mut payloads: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.emulator_payload(Table::Pin))
        .collect();
    let poison = b"{\"index\": 77, \"unique_id\": \"9e3f\", \"title\": \"cut off".to_vec();
    payloads.insert(5_000, poison.clone());
    let records = event_records(&payloads, 1_000_000);
    let poison_sequence = records[5_000].sequence_number.clone();
    for (backend, _dir, uri, aws) in backends("stream-poison") {
        let state = consumer_state(&uri, &aws);
        let answer = pinpipe_local::invoke::call_json(
            |e| kinesis_consumer::handle(&state, e),
            event("streaming-poison-pin", &records),
        )
        .await
        .unwrap();
        assert_eq!(answer, json!({"batchItemFailures": []}), "{backend}");
        let warehouse = Warehouse::open(&uri, &aws).unwrap();
        assert_eq!(
            row_count(&warehouse, TableId::Stream(Table::Pin)).await,
            9_999,
            "{backend}"
        );
        let quarantined = query(&warehouse, "SELECT * FROM quarantine").await;
        let rows: Vec<Value> = std::str::from_utf8(&quarantined)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 1, "{backend}");
        let row = &rows[0];
        assert_eq!(row["table"], "pin");
        assert_eq!(row["source"], "kinesis");
        assert_eq!(row["stream"], "streaming-poison-pin");
        assert_eq!(row["shard"], "shardId-000000000000");
        assert_eq!(row["sequence_number"], poison_sequence.as_str());
        assert_eq!(row["reason"], "not_json");
        assert_eq!(row["raw"], std::str::from_utf8(&poison).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_nested_too_deep_or_with_two_ids_are_quarantined_with_their_reasons_and_the_rest_land()
 {
    let payloads = emulator_payloads(Table::Geo);
    let good = &payloads[..4];
    let text = |p: &[u8]| std::str::from_utf8(p).unwrap().trim_end().to_owned();
    // a real row with 64 arrays under a new key (65 levels), and real rows with a second id
    let open = text(&payloads[4]);
    let open = open.strip_suffix('}').unwrap();
    let too_deep = format!(r#"{open}, "x": {}1{}}}"#, "[".repeat(64), "]".repeat(64));
    let at_limit = format!(
        r#"{}, "x": {}1{}}}"#,
        text(&payloads[5]).strip_suffix('}').unwrap(),
        "[".repeat(63),
        "]".repeat(63)
    );
    let two_indexes = text(&payloads[6]).replacen("{", r#"{"index": 999999999, "#, 1);
    let ind_and_index = text(&payloads[7]).replacen("{", r#"{"ind": 999999999, "#, 1);
    let mut all: Vec<Vec<u8>> = good.to_vec();
    for bad in [&too_deep, &at_limit, &two_indexes, &ind_and_index] {
        all.push(bad.clone().into_bytes());
    }
    let dir = TempDir::new("stream-deep");
    let uri = dir.path().join("warehouse").display().to_string();
    let state = consumer_state(&uri, &AwsConfig::default());
    let answer = pinpipe_local::invoke::call_json(
        |e| kinesis_consumer::handle(&state, e),
        event("streaming-deep-geo", &event_records(&all, 1)),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    assert_eq!(
        stream_rows(&warehouse, Table::Geo).await.len(),
        5,
        "the four good rows and the one at the limit"
    );
    let reasons = query(
        &warehouse,
        "SELECT reason, raw FROM quarantine ORDER BY sequence_number",
    )
    .await;
    let rows: Vec<Value> = std::str::from_utf8(&reasons)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["raw"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("too_deep", too_deep.as_str()),
            ("duplicate_key", two_indexes.as_str()),
            ("conflicting_ind", ind_and_index.as_str()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_each_commit_and_before_the_answer_then_the_retries_add_nothing() {
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let stream = format!("streaming-{}-user", unique_prefix("crash"));
    create_stream(&kinesis, &stream, 1).await;
    // the real users, with one malformed record inside the first batch
    let mut payloads = emulator_payloads(Table::User);
    let poison = b"{\"index\": 3, \"first_name\": ".to_vec();
    payloads.insert(100, poison.clone());
    put_all(&kinesis, &stream, &payloads).await;
    let dir = TempDir::new("stream-crash");
    let warehouse_uri = dir.path().join("warehouse").display().to_string();
    let checkpoints = dir.path().join("checkpoints.json");
    let consume = |failpoint: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"));
        command
            .args([
                "consume-kinesis",
                "--warehouse",
                &warehouse_uri,
                "--streams",
                &stream,
            ])
            .args(["--batch-size", "500", "--until-caught-up", "--checkpoints"])
            .arg(&checkpoints)
            .envs(moto.env())
            .env_remove("PINPIPE_FAILPOINT");
        if let Some(point) = failpoint {
            command.env("PINPIPE_FAILPOINT", point);
        }
        command.output().unwrap()
    };
    let warehouse = Warehouse::open(&warehouse_uri, &AwsConfig::default()).unwrap();
    let users = TableId::Stream(Table::User);

    // 1. the rows commit, then the process dies before the quarantine commit and the answer
    let crashed = consume(Some("after-stream-commit"));
    assert_eq!(crashed.status.code(), Some(pinpipe::failpoint::EXIT_CODE));
    assert!(
        !checkpoints.exists(),
        "the runner never heard back, so it moved on nowhere"
    );
    let first_batch_rows = row_count(&warehouse, users).await;
    assert!(
        first_batch_rows > 0 && first_batch_rows < 500,
        "the first batch committed: {first_batch_rows}"
    );
    assert_eq!(row_count(&warehouse, TableId::Quarantine).await, 0);

    // 2. redelivered: the rows are skipped, the quarantine commits, the process dies before answering
    let crashed = consume(Some("after-quarantine-commit"));
    assert_eq!(crashed.status.code(), Some(pinpipe::failpoint::EXIT_CODE));
    assert!(!checkpoints.exists());
    assert_eq!(row_count(&warehouse, users).await, first_batch_rows);
    assert_eq!(row_count(&warehouse, TableId::Quarantine).await, 1);

    // 3. redelivered again, then everything else
    let retried = consume(None);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert!(
        String::from_utf8_lossy(&retried.stderr).contains("consumed 2263 records"),
        "the retry redelivered the first batch too: {}",
        String::from_utf8_lossy(&retried.stderr)
    );
    let rows = stream_rows(&warehouse, Table::User).await;
    assert_eq!(
        rows,
        cleaned_by_pinpipe_clean(Table::User),
        "every row once"
    );
    let quarantined = query(&warehouse, "SELECT raw, reason FROM quarantine").await;
    let row: Value = serde_json::from_slice(&quarantined).unwrap();
    assert_eq!(row["raw"], std::str::from_utf8(&poison).unwrap());
    assert_eq!(row["reason"], "not_json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_a_kinesis_event_the_handler_takes_without_failures() {
    let dir = TempDir::new("stream-events");
    let uri = dir.path().join("warehouse").display().to_string();
    let state = consumer_state(&uri, &AwsConfig::default());
    let events =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/kinesis-consumer");
    let mut names: Vec<String> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "emulator-format.json",
            "geo.json",
            "pin.json",
            "poison.json",
            "user.json"
        ]
    );
    for name in &names {
        let event: Value =
            serde_json::from_slice(&std::fs::read(events.join(name)).unwrap()).unwrap();
        let answer =
            pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&state, e), event)
                .await
                .unwrap();
        assert_eq!(answer, json!({"batchItemFailures": []}), "{name}");
    }
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    // the samples come from `pinpipe generate --posts 8 --seed 2026`, whose 4th post re-sends the
    // 1st: pin.json's 5 records are 4 rows; poison.json's 2 good records re-post geo.json's inds 1
    // and 2; emulator-format.json adds users 5, 6 and 7 to user.json's 4
    assert_eq!(row_count(&warehouse, TableId::Stream(Table::Pin)).await, 4);
    assert_eq!(row_count(&warehouse, TableId::Stream(Table::Geo)).await, 4);
    assert_eq!(row_count(&warehouse, TableId::Stream(Table::User)).await, 7);
    let reasons = query(
        &warehouse,
        "SELECT reason FROM quarantine ORDER BY sequence_number",
    )
    .await;
    assert_eq!(
        String::from_utf8(reasons).unwrap(),
        "{\"reason\":\"not_json\"}\n{\"reason\":\"missing_ind\"}\n"
    );
}

/// The handler behind a lake that is down for the first `down_for` invocations: a file stands
/// where the warehouse's `tables` folder goes.
struct LakeDown {
    inner: InProcess,
    blocker: std::path::PathBuf,
    down_for: u32,
    invocations: std::sync::atomic::AtomicU32,
}

impl pinpipe_local::kinesis::Invoke for LakeDown {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let answer = self.inner.invoke(event).await;
        let n = self
            .invocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n == self.down_for {
            std::fs::remove_file(&self.blocker).unwrap();
        }
        answer
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_discarded_while_the_lake_was_down_is_redriven_once_however_often_the_redrive_runs()
{
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let stream = format!("streaming-{}-geo", unique_prefix("redrive"));
    create_stream(&kinesis, &stream, 1).await;
    put_all(&kinesis, &stream, &emulator_payloads(Table::Geo)).await;
    let dir = TempDir::new("stream-redrive");
    let uri = dir.path().join("warehouse").display().to_string();
    let aws = AwsConfig::default();
    let warehouse = Warehouse::open(&uri, &aws).unwrap();
    let blocker = dir.path().join("warehouse/tables");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let destination_uri = format!("s3://{}", moto.bucket("redrive"));
    let destination = Warehouse::open(&destination_uri, &moto.aws()).unwrap();

    // MaximumRetryAttempts 10: the first batch fails 11 times, then goes to the destination
    let handler = LakeDown {
        inner: InProcess(consumer_state(&uri, &aws)),
        blocker,
        down_for: 11,
        invocations: Default::default(),
    };
    let runner = Runner::new(
        kinesis,
        handler,
        RunnerOptions {
            max_retries: Some(10),
            max_backoff: Duration::from_millis(20),
            ..options(std::slice::from_ref(&stream), 300)
        },
    )
    .with_on_failure(std::sync::Arc::new(destination.clone()));
    let summary = runner.run().await.unwrap();
    let shard = &summary.shards[0];
    assert_eq!(
        (
            shard.partial_failures,
            shard.discarded_batches,
            shard.discarded_records
        ),
        (11, 1, 300),
        "the lake down for 11 invocations: one batch out of retries"
    );
    assert_eq!(shard.records, 2262, "the shard moved on past it");
    let before = stream_rows(&warehouse, Table::Geo).await;
    let expected = cleaned_by_pinpipe_clean(Table::Geo);
    assert!(
        before.len() < expected.len(),
        "the discarded batch is missing"
    );

    // the first redrive through the binary, as an operator runs it
    let output = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .args(["redrive", "--warehouse", &uri, "--failed-batches"])
        .arg(&destination_uri)
        .envs(moto.env())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("1 discarded batches found, 1 redriven (300 records"),
        "{said}"
    );
    let quarantined = row_count(&warehouse, TableId::Quarantine).await;
    assert_eq!(stream_rows(&warehouse, Table::Geo).await, expected);

    // and again, in process: nothing more
    let mut consumer = pinpipe::stream::StreamConsumer::new(
        Warehouse::open(&uri, &aws).unwrap(),
        StreamRoutes::default(),
    );
    let second =
        pinpipe::stream::redrive_failed_batches(&mut consumer, &destination, chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(second.objects, 1);
    assert!(second.refused.is_empty(), "{:?}", second.refused);
    assert_eq!(
        (second.batches[0].redelivered, second.rows_written()),
        (300, 0),
        "everything redriven before"
    );
    assert_eq!(stream_rows(&warehouse, Table::Geo).await, expected);
    assert_eq!(
        row_count(&warehouse, TableId::Quarantine).await,
        quarantined
    );
}

/// The handler behind faults an event source mapping must survive: the first invocation fails
/// outright; the third handles only the first half of its batch and reports the rest as failed.
struct Faulty {
    inner: InProcess,
    invocations: std::sync::atomic::AtomicU32,
}

impl pinpipe_local::kinesis::Invoke for Faulty {
    async fn invoke(&self, mut event: Value) -> Result<Value, String> {
        let n = self
            .invocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        match n {
            1 => Err("injected: the function crashed".into()),
            3 => {
                let records = event["Records"].as_array_mut().unwrap();
                let half = records.len() / 2;
                let failed = records[half]["kinesis"]["sequenceNumber"].clone();
                records.truncate(half);
                self.inner.invoke(event).await?;
                Ok(json!({"batchItemFailures": [{"itemIdentifier": failed}]}))
            }
            _ => self.inner.invoke(event).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_retries_a_failed_invocation_and_resumes_a_partial_failure_from_the_failed_record()
 {
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let stream = format!("streaming-{}-geo", unique_prefix("faults"));
    create_stream(&kinesis, &stream, 1).await;
    put_all(&kinesis, &stream, &emulator_payloads(Table::Geo)).await;
    let dir = TempDir::new("stream-faults");
    let uri = dir.path().join("warehouse").display().to_string();
    let faulty = Faulty {
        inner: InProcess(consumer_state(&uri, &AwsConfig::default())),
        invocations: Default::default(),
    };
    let runner = Runner::new(kinesis, faulty, options(std::slice::from_ref(&stream), 300));
    let summary = runner.run().await.unwrap();
    let shard = &summary.shards[0];
    assert_eq!((shard.failed_invocations, shard.partial_failures), (1, 1));
    assert_eq!(shard.records, 2262, "every record acknowledged once");
    assert_eq!(shard.batches, 8);
    assert_eq!(
        (shard.invocations, shard.bisections),
        (11, 1),
        "8 batches; the failed one split in two (BisectBatchOnFunctionError), its second half resumed after a partial failure"
    );
    assert_eq!(shard.discarded_records, 0);
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    assert_eq!(
        stream_rows(&warehouse, Table::Geo).await,
        cleaned_by_pinpipe_clean(Table::Geo)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_lake_fails_every_record_of_the_batch_for_a_retry_and_never_errs() {
    let moto = Moto::get();
    let posts = distinct_posts(5, 13);
    let payloads: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.emulator_payload(Table::Geo))
        .collect();
    let records = event_records(&payloads, 700);
    let missing = consumer_state("s3://no-such-bucket-for-pinpipe/lake", &moto.aws());
    let answer = pinpipe_local::invoke::call_json(
        |e| kinesis_consumer::handle(&missing, e),
        event("streaming-down-geo", &records),
    )
    .await
    .unwrap();
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["700", "701", "702", "703", "704"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_batch_fails_its_invocation_loudly_and_writes_nothing() {
    let posts = distinct_posts(5, 17);
    let payloads: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.emulator_payload(Table::Geo))
        .collect();
    let records = event_records(&payloads, 700);
    let dir = TempDir::new("stream-poison");
    let uri = dir.path().join("warehouse").display().to_string();
    let state = consumer_state(&uri, &AwsConfig::default());
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();

    // a stream no table reads: a mapping's configuration error, not five bad records
    let unrouted = pinpipe_local::invoke::call_json(
        |e| kinesis_consumer::handle(&state, e),
        event("clickstream", &records),
    )
    .await
    .unwrap_err();
    assert!(unrouted.to_string().contains("clickstream"), "{unrouted}");
    // equal and descending sequence numbers: no position can be committed for them
    let mut repeated = records.clone();
    repeated[3].sequence_number = repeated[2].sequence_number.clone();
    let mut descending = records.clone();
    descending.swap(1, 3);
    for (what, bad) in [("repeated", repeated), ("descending", descending)] {
        let e = pinpipe_local::invoke::call_json(
            |e| kinesis_consumer::handle(&state, e),
            event("streaming-up-geo", &bad),
        )
        .await
        .unwrap_err();
        assert!(
            e.to_string().contains("not after the record before it"),
            "{what}: {e}"
        );
    }
    // a record without an eventID would merge two shards' positions
    let mut no_id = event("streaming-up-geo", &records);
    no_id["Records"][4]
        .as_object_mut()
        .unwrap()
        .remove("eventID");
    let e = pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&state, e), no_id)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("record 4"), "{e}");
    for id in [TableId::Stream(Table::Geo), TableId::Quarantine] {
        assert_eq!(
            row_count(&warehouse, id).await,
            0,
            "{id:?}: nothing written"
        );
    }

    let answer = pinpipe_local::invoke::call_json(
        |e| kinesis_consumer::handle(&state, e),
        event("streaming-up-geo", &records),
    )
    .await
    .unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    assert_eq!(row_count(&warehouse, TableId::Stream(Table::Geo)).await, 5);
}

/// One Delta batch of clean pin rows, from posts in the emulator's format.
fn pin_rows(posts: &[pinpipe::source::Post]) -> arrow::record_batch::RecordBatch {
    let payloads: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| p.emulator_payload(Table::Pin))
        .collect();
    let mut cleaner = pinpipe::cleaner::TableCleaner::new(Table::Pin);
    let rows: Vec<_> = payloads
        .iter()
        .map(|p| match cleaner.push(p) {
            pinpipe::cleaner::Outcome::Clean(c) => c.row,
            other => panic!("{other:?}"),
        })
        .collect();
    pinpipe::schema::to_record_batch(Table::Pin, &rows).unwrap()
}

/// What two kinesis-consumers leave when each checked the table for an `ind` before the other
/// committed it: one commit per shard, both holding the `ind`.
async fn racing_shards_commit(
    table: &mut LakeTable,
    first: &[pinpipe::source::Post],
    second: &[pinpipe::source::Post],
    sequence: &str,
) {
    for (shard, posts) in [
        ("shardId-000000000000", first),
        ("shardId-000000000001", second),
    ] {
        let checkpoint = pinpipe::lake::Checkpoint {
            source: pinpipe::lake::SourceKey::Kinesis {
                stream: "streaming-race-pin".into(),
                shard: shard.into(),
            },
            position: pinpipe::lake::Position::sequence(sequence).unwrap(),
        };
        table
            .append(vec![pin_rows(posts)], &[checkpoint])
            .await
            .unwrap();
    }
}

/// The same post under another title: which copy stayed is then visible.
fn titled(post: &pinpipe::source::Post, title: &str) -> pinpipe::source::Post {
    let mut post = post.clone();
    post.pin.title = title.to_owned();
    post
}

async fn titles(warehouse: &Warehouse) -> Vec<(i64, String)> {
    let out = query(
        warehouse,
        "SELECT ind, title FROM stream_pin ORDER BY ind, title",
    )
    .await;
    std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["ind"].as_i64().unwrap(),
                v["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ind_two_shards_admitted_at_once_is_one_row_after_the_daily_run_and_it_is_the_first_arrival()
 {
    use pinpipe::daily::{DailyOptions, Stages};
    let posts = distinct_posts(9, 23);
    let dir = TempDir::new("stream-race");
    let uri = dir.path().join("warehouse").display().to_string();
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    let first = titled(&posts[0], "first arrival");
    let second = titled(&posts[0], "second arrival");
    racing_shards_commit(
        &mut table,
        &[posts[1].clone(), first, posts[2].clone()],
        &[posts[3].clone(), second, posts[4].clone()],
        "10",
    )
    .await;
    assert_eq!(row_count(&warehouse, TableId::Stream(Table::Pin)).await, 6);

    let maintain = DailyOptions {
        run_date: chrono::Utc::now().date_naive(),
        now: chrono::Utc::now(),
        routes: pinpipe::routes::TopicRoutes::default(),
        budget: Duration::from_secs(600),
        chunk_bytes: 1 << 20,
        stages: Stages::parse(&["maintain"]).unwrap(),
    };
    let swept = |report: &pinpipe::daily::DailyReport| {
        report
            .maintenance
            .iter()
            .find(|m| m.table == "tables/stream/pin")
            .unwrap()
            .duplicates_removed
    };
    let run = pinpipe::daily::run(&warehouse, &maintain).await.unwrap();
    assert_eq!(swept(&run), 1);
    let expected: Vec<(i64, String)> = {
        let mut v: Vec<(i64, String)> = posts[..5]
            .iter()
            .map(|p| {
                let title = if p.ind() == posts[0].ind() {
                    "first arrival"
                } else {
                    p.pin.title.as_str()
                };
                (p.ind(), title.to_owned())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        titles(&warehouse).await,
        expected,
        "one row per ind, the first arrival's"
    );
    let again = pinpipe::daily::run(&warehouse, &maintain).await.unwrap();
    assert_eq!(swept(&again), 0, "a second run finds nothing");
    assert_eq!(titles(&warehouse).await, expected);

    // a sweep racing a stream append: the append keeps its rows, the sweep still commits
    table.refresh().await.unwrap();
    racing_shards_commit(
        &mut table,
        &[titled(&posts[5], "first arrival")],
        &[posts[6].clone(), titled(&posts[5], "second arrival")],
        "20",
    )
    .await;
    let mut sweeper = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    let plan = pinpipe::lake::dedup::plan(&sweeper).await.unwrap();
    assert_eq!(plan.removed(), 1);
    racing_shards_commit(&mut table, &[posts[7].clone()], &[posts[8].clone()], "30").await;
    let sweep = pinpipe::lake::dedup::apply(&mut sweeper, &plan)
        .await
        .unwrap();
    assert_eq!(sweep.removed, 1);
    let rows = titles(&warehouse).await;
    let inds: Vec<i64> = rows.iter().map(|(ind, _)| *ind).collect();
    let mut all: Vec<i64> = posts.iter().map(pinpipe::source::Post::ind).collect();
    all.sort_unstable();
    assert_eq!(
        inds, all,
        "every ind once, the concurrent append's included"
    );
    assert!(rows.contains(&(posts[5].ind(), "first arrival".to_owned())));
}

/// A quarantine row as an earlier cleaning rule left it: the record's raw bytes, rejected then.
fn old_rejection(
    table: Table,
    raw: &[u8],
    source: pinpipe::quarantine::SourceRef,
    reason: &'static str,
    at: &str,
) -> pinpipe::quarantine::QuarantineRecord {
    use base64::Engine;
    pinpipe::quarantine::QuarantineRecord {
        table,
        source,
        reason,
        field: Some("title"),
        ind: None,
        message: "rejected by an earlier rule".into(),
        raw_base64: base64::engine::general_purpose::STANDARD.encode(raw),
        raw: std::str::from_utf8(raw).ok().map(str::to_owned),
        rejected_at: chrono::DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&chrono::Utc),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_rows_chosen_by_reason_and_time_are_redriven_into_their_paths_table_once() {
    use pinpipe::quarantine::SourceRef;
    let posts = distinct_posts(8, 29);
    let dir = TempDir::new("quarantine-redrive");
    let uri = dir.path().join("warehouse").display().to_string();
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let kinesis = |seq: u64| SourceRef::Kinesis {
        stream: "streaming-x-pin".into(),
        shard: "shardId-000000000000".into(),
        sequence_number: seq.to_string(),
    };
    let kafka = |offset: i64| SourceRef::Kafka {
        topic: "x.geo".into(),
        partition: 0,
        offset,
    };
    let pin = |i: usize| posts[i].emulator_payload(Table::Pin);
    let geo = |i: usize| posts[i].emulator_payload(Table::Geo);
    let user = |i: usize| posts[i].emulator_payload(Table::User);
    let november = "2026-11-01T10:00:00Z";
    let rows = vec![
        old_rejection(Table::Pin, &pin(0), kinesis(1), "invalid_field", november),
        old_rejection(Table::Pin, &pin(1), kinesis(2), "invalid_field", november),
        old_rejection(Table::Pin, &pin(2), kinesis(3), "invalid_field", november),
        // rejected for good reason: rejected again
        old_rejection(Table::Pin, b"not json", kinesis(4), "not_json", november),
        old_rejection(
            Table::Geo,
            &geo(3),
            kafka(7),
            "invalid_field",
            "2026-11-02T10:00:00Z",
        ),
        old_rejection(
            Table::Geo,
            &geo(4),
            kafka(8),
            "invalid_field",
            "2026-11-02T10:00:00Z",
        ),
        // not chosen: another reason, and too early
        old_rejection(Table::User, &user(5), kafka(9), "missing_field", november),
        old_rejection(
            Table::Pin,
            &pin(6),
            kinesis(0),
            "invalid_field",
            "2026-10-01T10:00:00Z",
        ),
    ];
    let mut quarantine = LakeTable::open(&warehouse, TableId::Quarantine)
        .await
        .unwrap();
    quarantine
        .append(vec![pinpipe::schema::quarantine_batch(&rows).unwrap()], &[])
        .await
        .unwrap();
    // one of them reached the stream table another way meanwhile
    let mut stream_pin = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    stream_pin
        .append(vec![pin_rows(&posts[..1])], &[])
        .await
        .unwrap();

    // the CLI runs its own runtime: from a blocking thread, as from a shell
    let redrive = || {
        let uri = uri.clone();
        async move {
            let run = tokio::task::spawn_blocking(move || {
                pinpipe(
                    &[
                        "redrive",
                        "--warehouse",
                        &uri,
                        "--quarantine",
                        "--reason",
                        "invalid_field,not_json",
                        "--since",
                        "2026-10-15T00:00:00Z",
                    ],
                    b"",
                )
            })
            .await
            .unwrap();
            assert!(run.success, "{}", String::from_utf8_lossy(&run.stderr));
            String::from_utf8(run.stdout).unwrap()
        }
    };
    let first = redrive().await;
    assert!(
        first.contains("tables/stream/pin: 4 quarantine rows, 3 clean now (2 rows written, 1 already in the table, 0 repeated), 1 still rejected"),
        "{first}"
    );
    assert!(
        first.contains("tables/batch/geo: 2 quarantine rows, 2 clean now (2 rows written"),
        "{first}"
    );
    let pin_inds = || async {
        stream_rows(&warehouse, Table::Pin)
            .await
            .keys()
            .copied()
            .collect::<Vec<i64>>()
    };
    let sorted = |idx: &[usize]| {
        let mut v: Vec<i64> = idx.iter().map(|i| posts[*i].ind()).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(pin_inds().await, sorted(&[0, 1, 2]));
    assert_eq!(row_count(&warehouse, TableId::Batch(Table::Geo)).await, 2);
    assert_eq!(row_count(&warehouse, TableId::Batch(Table::User)).await, 0);

    let second = redrive().await;
    assert!(
        second.contains("6 quarantine rows selected, 0 rows written"),
        "{second}"
    );
    assert_eq!(pin_inds().await, sorted(&[0, 1, 2]));
    assert_eq!(row_count(&warehouse, TableId::Batch(Table::Geo)).await, 2);
    assert_eq!(
        row_count(&warehouse, TableId::Quarantine).await,
        8,
        "the audit trail stays"
    );
}

/// Records every event's data in order; takes `outage` down at its first invocation.
struct DownAfterFirst {
    outage: pinpipe_tests::Outage,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl pinpipe_local::Invoke for DownAfterFirst {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        use base64::Engine;
        let mut seen = self.seen.lock().unwrap();
        if seen.is_empty() {
            self.outage.down();
        }
        for record in event["Records"].as_array().unwrap() {
            let data = record["kinesis"]["data"].as_str().unwrap();
            seen.push(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .unwrap(),
            );
        }
        Ok(json!({"batchItemFailures": []}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_rides_out_kinesis_dropping_its_connections_and_delivers_every_record_once() {
    let moto = Moto::get();
    let direct = client(moto).await;
    let stream = format!("streaming-{}-geo", unique_prefix("outage"));
    create_stream(&direct, &stream, 1).await;
    let payloads = emulator_payloads(Table::Geo);
    put_all(&direct, &stream, &payloads[..10]).await;
    // the runner reaches Kinesis through a hop that goes down once the first batch is delivered
    let outage = pinpipe_tests::Outage::start(moto.endpoint()).await;
    let mut aws = moto.aws();
    aws.kinesis_endpoint_url = Some(outage.endpoint().to_owned());
    let through = pinpipe::kinesis::kinesis_client(&aws).await;
    let seen = std::sync::Arc::default();
    let invoker = DownAfterFirst {
        outage: outage.clone(),
        seen: std::sync::Arc::clone(&seen),
    };
    let runner = Runner::new(
        through,
        invoker,
        RunnerOptions {
            max_backoff: Duration::from_millis(200),
            ..options(std::slice::from_ref(&stream), 5)
        },
    );
    let run = runner.run();
    tokio::pin!(run);
    let summary = tokio::select! {
        // a runner that gives up during the outage ends here, with its error
        ended = &mut run => ended,
        // GetRecords and GetShardIterator refused again and again (the SDK retries each 3 times)
        () = outage.refused_at_least(12) => {
            put_all(&direct, &stream, &payloads[10..20]).await;
            outage.up();
            run.await
        }
    };
    let summary = summary.expect("the runner rides the outage out");
    assert_eq!(summary.shards[0].records, 20);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        &payloads[..20],
        "every record once, in order"
    );
}
