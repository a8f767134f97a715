//! The batch path end to end: the real posts produced to a Kafka-protocol broker (tansu on
//! 127.0.0.1) in the original emulator's format → the local MSK event-source runner → the
//! msk-consumer handler → the raw zone → the daily run → `tables/batch/*` and the nine insights,
//! equal to an independent DuckDB computation; on a local path and on moto S3.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use pinpipe::Table;
use pinpipe::config::{AwsConfig, MskConsumerConfig};
use pinpipe::daily::{self, DailyOptions, Stages};
use pinpipe::lake::{RawZone, Warehouse};
use pinpipe::routes::TopicRoutes;
use pinpipe_local::Invoke;
use pinpipe_local::kafka::{KafkaRunSummary, KafkaRunner, KafkaRunnerOptions};
use pinpipe_tests::insights::{
    assert_insights_match_golden, canonical, golden_rows, insight_rows, rows,
};
use pinpipe_tests::kinesis::unique_prefix;
use pinpipe_tests::{Moto, Tansu, TempDir, emulator_payloads};
use serde_json::{Value, json};

/// Topics `<prefix>.pin|geo|user` with `partitions` partitions each, holding the 2,262 real rows.
async fn produce_real_posts(tansu: &Tansu, prefix: &str, partitions: i32) -> Vec<String> {
    let mut topics = Vec::new();
    for table in Table::ALL {
        let topic = format!("{prefix}.{table}");
        tansu.create_topic(&topic, partitions as u32);
        tansu
            .produce(&topic, partitions, &emulator_payloads(table))
            .await;
        topics.push(topic);
    }
    topics
}

/// The msk-consumer handler in this process; optionally failing on chosen invocations.
struct Handler {
    state: msk_consumer::State,
    calls: AtomicU64,
    /// Invocation numbers (1-based) that fail as a whole before reaching the handler.
    crash_on: Vec<u64>,
    /// Invocation numbers that fail after the handler landed everything (a timeout or a lost
    /// answer: Lambda delivers the whole batch again).
    lose_answer_on: Vec<u64>,
    /// Invocation numbers whose answer reports the first partition as failed from the middle of
    /// its records although the handler landed them: with `ReportBatchItemFailures` (provisioned
    /// mode) a redelivery starting inside a landed object.
    report_middle_on: Vec<u64>,
    /// A file standing where the raw zone's `topics/` folder goes, so that landing fails until
    /// it is removed before the given invocation.
    blocked_until: Option<(std::path::PathBuf, u64)>,
}

impl Handler {
    fn new(warehouse: &str, aws: &AwsConfig) -> Self {
        let config = MskConsumerConfig {
            warehouse: warehouse.to_owned(),
            routes: TopicRoutes::default(),
            metrics: pinpipe::metrics::Emf::Off,
            aws: aws.clone(),
        };
        Handler {
            state: msk_consumer::State::new(&config).unwrap(),
            calls: AtomicU64::new(0),
            crash_on: Vec::new(),
            lose_answer_on: Vec::new(),
            report_middle_on: Vec::new(),
            blocked_until: None,
        }
    }
}

impl Invoke for Handler {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.crash_on.contains(&call) {
            return Err(format!("invocation {call} crashed (injected)"));
        }
        if let Some((blocker, until)) = &self.blocked_until
            && call == *until
        {
            std::fs::remove_file(blocker).unwrap();
        }
        let answer = pinpipe_local::invoke::call_json(
            |e| msk_consumer::handle(&self.state, e),
            event.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
        if self.lose_answer_on.contains(&call) {
            return Err(format!(
                "invocation {call} timed out after landing (injected)"
            ));
        }
        if self.report_middle_on.contains(&call) {
            let (key, records) = event["records"].as_object().unwrap().iter().next().unwrap();
            let records = records.as_array().unwrap();
            let failed = &records[records.len() / 2];
            return Ok(json!({"batchItemFailures": [
                {"itemIdentifier": {"partition": key, "offset": failed["offset"]}}
            ]}));
        }
        Ok(answer)
    }
}

fn runner_options(tansu: &Tansu, topics: &[String], group: &str) -> KafkaRunnerOptions {
    KafkaRunnerOptions {
        brokers: tansu.brokers().to_owned(),
        topics: topics.to_vec(),
        group_id: group.to_owned(),
        batch_size: 400,
        batching_window: Duration::from_millis(100),
        max_retries: Some(5),
        idle_exit: Some(Duration::from_secs(3)),
        ..KafkaRunnerOptions::default()
    }
}

async fn consume(handler: Handler, options: KafkaRunnerOptions) -> KafkaRunSummary {
    KafkaRunner::new(handler, options)
        .await
        .unwrap()
        .run()
        .await
        .unwrap()
}

/// Records held by the raw zone per topic, checking every object's name (spec §4).
async fn raw_records(warehouse: &Warehouse, topics: &[String]) -> Vec<usize> {
    let raw = RawZone::new(warehouse).unwrap();
    let mut counts = Vec::new();
    for topic in topics {
        let mut records = 0;
        for object in raw.list(topic).await.unwrap() {
            assert_eq!(
                object.key,
                RawZone::key(topic, object.partition, object.first_offset)
            );
            assert!(
                object
                    .key
                    .starts_with(&format!("topics/{topic}/partition="))
            );
            let bytes = raw.get(&object.key).await.unwrap();
            records += bytes.iter().filter(|b| **b == b'\n').count();
        }
        counts.push(records);
    }
    counts
}

fn daily_options(run_date: &str) -> DailyOptions {
    DailyOptions {
        run_date: NaiveDate::parse_from_str(run_date, "%Y-%m-%d").unwrap(),
        now: Utc::now(),
        routes: TopicRoutes::default(),
        budget: Duration::from_secs(600),
        chunk_bytes: daily::DEFAULT_CHUNK_BYTES,
        stages: Stages::ALL,
    }
}

/// Every real record in the raw zone once (2,262 per topic), and the daily run makes 2,019 rows of
/// each table from them.
async fn assert_landed_once_and_cleaned(uri: &str, topics: &[String]) {
    let warehouse = Warehouse::open(uri, &AwsConfig::default()).unwrap();
    assert_eq!(
        raw_records(&warehouse, topics).await,
        [2_262; 3],
        "every record landed, once"
    );
    let report = daily::run(&warehouse, &daily_options("2026-11-27"))
        .await
        .unwrap();
    for c in &report.clean {
        assert_eq!((c.stats.read, c.rows_written), (2_262, 2_019), "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_posts_through_kafka_become_2019_batch_rows_per_table_and_the_golden_insights() {
    let tansu = Tansu::get();
    let moto = Moto::get();
    let local_dir = TempDir::new("batch-path");
    let local_uri = local_dir.path().join("warehouse").display().to_string();
    let s3_uri = format!("s3://{}/lake", moto.bucket("batch-path"));
    let mut insights_by_backend = Vec::new();
    for (backend, uri, aws) in [
        ("local", local_uri.clone(), AwsConfig::default()),
        ("s3", s3_uri, moto.aws()),
    ] {
        let prefix = unique_prefix("batch");
        let topics = produce_real_posts(tansu, &prefix, 2).await;
        let group = format!("{prefix}-group");

        let summary = consume(
            Handler::new(&uri, &aws),
            runner_options(tansu, &topics, &group),
        )
        .await;
        assert_eq!(summary.records(), 3 * 2_262, "{backend}: {summary:?}");
        assert_eq!(summary.failed_invocations, 0, "{backend}");
        let warehouse = Warehouse::open(&uri, &aws).unwrap();
        assert_eq!(
            raw_records(&warehouse, &topics).await,
            [2_262; 3],
            "{backend}"
        );

        // the group's offsets are committed: a second runner finds nothing new
        let again = consume(
            Handler::new(&uri, &aws),
            runner_options(tansu, &topics, &group),
        )
        .await;
        assert_eq!(again.records(), 0, "{backend}: {again:?}");

        let report = daily::run(&warehouse, &daily_options("2026-11-27"))
            .await
            .unwrap();
        for c in &report.clean {
            assert_eq!(
                (c.stats.read, c.rows_written),
                (2_262, 2_019),
                "{backend}: {c:?}"
            );
        }
        for table in Table::ALL {
            let n = rows(
                &warehouse,
                &format!("SELECT count(*) AS n FROM batch_{table}"),
            )
            .await;
            assert_eq!(n, [r#"{"n":2019}"#], "{backend}");
        }
        insights_by_backend.push(insight_rows(&warehouse, "2026-11-27").await);
    }
    let golden = golden_rows(std::path::Path::new(&local_uri), "2026-11-27");
    assert_insights_match_golden(&insights_by_backend[0], &golden);
    assert_eq!(
        canonical(&insights_by_backend[1]),
        canonical(&insights_by_backend[0]),
        "the same insights on moto S3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_invocations_are_retried_whole_without_losing_or_doubling_a_record() {
    let tansu = Tansu::get();
    let dir = TempDir::new("batch-retry");
    let uri = dir.path().join("warehouse").display().to_string();
    let prefix = unique_prefix("retry");
    let topics = produce_real_posts(tansu, &prefix, 2).await;

    let mut handler = Handler::new(&uri, &AwsConfig::default());
    handler.crash_on = vec![1, 4];
    handler.lose_answer_on = vec![2, 6];
    let mut options = runner_options(tansu, &topics, &format!("{prefix}-group"));
    options.batch_size = 250;
    let summary = consume(handler, options).await;
    assert_eq!(summary.records(), 3 * 2_262, "{summary:?}");
    assert_eq!(summary.failed_invocations, 4);
    assert_eq!(summary.partial_failures, 0);

    assert_landed_once_and_cleaned(&uri, &topics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_reach_the_raw_zone_fails_its_invocation_and_lands_whole_once_the_store_is_back()
 {
    let tansu = Tansu::get();
    let dir = TempDir::new("batch-store-down");
    let warehouse_dir = dir.path().join("warehouse");
    let uri = warehouse_dir.display().to_string();
    let prefix = unique_prefix("down");
    let topics = produce_real_posts(tansu, &prefix, 2).await;

    // the raw zone cannot be written until invocation 3: a file where its folder goes
    std::fs::create_dir_all(&warehouse_dir).unwrap();
    let blocker = warehouse_dir.join("topics");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let mut handler = Handler::new(&uri, &AwsConfig::default());
    handler.blocked_until = Some((blocker, 3));
    // template.yaml's MSK mappings: no ReportBatchItemFailures
    let options = runner_options(tansu, &topics, &format!("{prefix}-group"));
    assert!(!options.report_batch_item_failures);
    let runner = KafkaRunner::new(handler, options).await.unwrap();
    let summary = runner.run().await.unwrap();

    assert_eq!(
        summary.failed_invocations, 2,
        "the handler answered the two invocations that could not land with an error: {summary:?}"
    );
    assert_eq!(summary.records(), 3 * 2_262, "{summary:?}");
    assert_landed_once_and_cleaned(&uri, &topics).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_templates_mapping_settings_a_partial_batch_response_acknowledges_the_whole_batch()
 {
    let tansu = Tansu::get();
    let dir = TempDir::new("batch-partial-ignored");
    let uri = dir.path().join("warehouse").display().to_string();
    let prefix = unique_prefix("ignored");
    let topics = produce_real_posts(tansu, &prefix, 1).await;

    let mut handler = Handler::new(&uri, &AwsConfig::default());
    handler.report_middle_on = vec![1, 2];
    let summary = consume(
        handler,
        runner_options(tansu, &topics, &format!("{prefix}-group")),
    )
    .await;
    // Lambda commits the offsets of a finished invocation whatever it answered: nothing is
    // delivered again, so a handler that reported a failure instead of failing would lose it
    assert_eq!(summary.partial_failures, 0, "{summary:?}");
    assert_eq!(summary.failed_invocations, 0, "{summary:?}");
    assert_eq!(summary.records(), 3 * 2_262, "{summary:?}");
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    assert_eq!(raw_records(&warehouse, &topics).await, [2_262; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_starting_inside_a_landed_object_still_leaves_each_batch_row_once() {
    let tansu = Tansu::get();
    let dir = TempDir::new("batch-middle");
    let uri = dir.path().join("warehouse").display().to_string();
    let prefix = unique_prefix("middle");
    let topics = produce_real_posts(tansu, &prefix, 1).await;

    let mut handler = Handler::new(&uri, &AwsConfig::default());
    handler.report_middle_on = vec![1];
    let mut options = runner_options(tansu, &topics, &format!("{prefix}-group"));
    options.batch_size = 200;
    // a mapping in provisioned mode with ReportBatchItemFailures (not template.yaml's)
    options.report_batch_item_failures = true;
    let summary = consume(handler, options).await;
    assert_eq!(summary.records(), 3 * 2_262, "{summary:?}");
    assert_eq!(summary.partial_failures, 1);

    // the raw zone holds the redelivered half-batch twice (records as received, at least once) ...
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let raw = raw_records(&warehouse, &topics).await;
    assert_eq!(raw.iter().sum::<usize>(), 3 * 2_262 + 100, "{raw:?}");
    // ... and the daily run keeps each post once
    let report = daily::run(&warehouse, &daily_options("2026-11-27"))
        .await
        .unwrap();
    for c in &report.clean {
        assert_eq!(c.rows_written, 2_019, "{c:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinpipe_consume_kafka_lands_a_topic_and_resumes_from_the_groups_committed_offsets() {
    let tansu = Tansu::get();
    let dir = TempDir::new("consume-kafka");
    let uri = dir.path().join("warehouse").display().to_string();
    let prefix = unique_prefix("cli");
    let topic = format!("{prefix}.geo");
    tansu.create_topic(&topic, 1);
    let geo = emulator_payloads(Table::Geo);
    tansu.produce(&topic, 1, &geo[..1_000]).await;

    let run = || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
            .args([
                "consume-kafka",
                "--warehouse",
                &uri,
                "--brokers",
                tansu.brokers(),
            ])
            .args(["--topics", &topic, "--group", &format!("{prefix}-g")])
            .args(["--batch-size", "300", "--until-idle", "2"])
            .output()
            .expect("pinpipe runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stderr).unwrap()
    };
    let first = run();
    assert!(
        first.contains(&format!("{topic}-0: 1000 records, committed offset 1000")),
        "{first}"
    );
    // more records arrive; a new runner of the group takes only those
    tansu.produce(&topic, 1, &geo[1_000..]).await;
    let second = run();
    assert!(
        second.contains(&format!("{topic}-0: 1262 records, committed offset 2262")),
        "{second}"
    );

    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    assert_eq!(
        raw_records(&warehouse, std::slice::from_ref(&topic)).await,
        [2_262]
    );
}
