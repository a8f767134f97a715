//! The edge and the whole pipeline over real servers: the source database (MariaDB) seeded with the
//! real rows → `emulate-posting` (in process) → `pinpipe serve` (the ingest API over HTTP) → tansu
//! topics and moto Kinesis streams → the local event-source runners → `msk-consumer` and
//! `kinesis-consumer` → the daily run → insight tables equal to the golden ones (DuckDB over the real
//! rows landed directly). Also: the database source reads back exactly what was seeded, whatever
//! column types the original's database used, with credentials from Secrets Manager.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use pinpipe::Table;
use pinpipe::config::{
    AwsConfig, EmulateConfig, MskConsumerConfig, SourceSpec, StreamConsumerConfig,
};
use pinpipe::daily::{self, DailyOptions, Stages};
use pinpipe::emulate::{Payloads, Pick, PostSource};
use pinpipe::lake::Warehouse;
use pinpipe::routes::{StreamRoutes, TopicRoutes};
use pinpipe::source::MysqlSource;
use pinpipe_local::Invoke;
use pinpipe_local::kafka::{KafkaRunner, KafkaRunnerOptions};
use pinpipe_local::kinesis::{Runner, RunnerOptions};
use pinpipe_tests::insights::{canonical, golden_rows, insight_rows, rows};
use pinpipe_tests::kinesis::{InProcess, client, create_stream, unique_prefix};
use pinpipe_tests::{MariaDb, Moto, Server, Tansu, TempDir, data_file};
use serde_json::{Value, json};

const RUN_DATE: &str = "2026-11-27";

fn source_rows_dir() -> String {
    data_file("source-rows/pin.jsonl")
        .parent()
        .unwrap()
        .display()
        .to_string()
}

/// `pinpipe ARGS…` as its own process (these tests run inside a runtime); returns its stderr.
fn pinpipe(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .args(args)
        .output()
        .expect("pinpipe runs");
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "pinpipe {args:?}: {report}");
    report
}

/// `pinpipe seed-db --url URL ARGS…`; returns its report.
fn seed_db(url: &str, args: &[&str]) -> String {
    pinpipe(&[&["seed-db", "--url", url], args].concat())
}

async fn all_payloads(source: PostSource, limit: Option<u64>) -> Vec<Payloads> {
    source
        .payloads(limit)
        .await
        .unwrap()
        .map(|p| p.unwrap())
        .collect()
        .await
}

fn ind_of(payload: &[u8]) -> i64 {
    serde_json::from_slice::<Value>(payload).unwrap()["index"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_rows_seeded_into_mariadb_come_back_as_the_same_emulator_payloads() {
    let url = MariaDb::get().database("seeded");
    let report = seed_db(&url, &["--from", &source_rows_dir()]);
    assert!(
        report.contains("seeded 2019 new posts of 2262 given; the database holds 2019 posts"),
        "{report}"
    );
    // seeding again adds nothing
    let again = seed_db(&url, &["--from", &source_rows_dir()]);
    assert!(again.contains("seeded 0 new posts of 2262"), "{again}");

    // the directory's posts, first of each id, in id order: what the database must give back
    let from_files = all_payloads(PostSource::Dir(source_rows_dir().into()), None).await;
    let mut expected: BTreeMap<i64, Payloads> = BTreeMap::new();
    for post in from_files {
        expected.entry(ind_of(&post[0])).or_insert(post);
    }
    let db = MysqlSource::connect(&url).await.unwrap();
    let from_db = all_payloads(
        PostSource::Mysql {
            source: db,
            pick: Pick::InOrder,
            seed: 0,
        },
        None,
    )
    .await;
    assert_eq!(from_db.len(), 2019);
    let expected: Vec<Payloads> = expected.into_values().collect();
    for (ours, theirs) in from_db.iter().zip(&expected) {
        for (table, (a, b)) in Table::ALL.iter().zip(ours.iter().zip(theirs)) {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b),
                "{table}: byte for byte"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_float_coordinates_and_text_datetimes_reads_as_the_original_driver_read_it()
{
    let maria = MariaDb::get();
    let url = maria.database("float_columns");
    let name = url.rsplit('/').next().unwrap();
    let created = maria.sql(&format!(
        "USE `{name}`;
         CREATE TABLE pinterest_data (`index` BIGINT, unique_id TEXT, title TEXT, description TEXT,
           poster_name TEXT, follower_count TEXT, tag_list TEXT, is_image_or_video TEXT,
           image_src TEXT, downloaded TINYINT, save_location TEXT, category TEXT) CHARSET utf8mb4;
         CREATE TABLE geolocation_data (ind INT, `timestamp` VARCHAR(32), latitude FLOAT,
           longitude FLOAT, country TEXT) CHARSET utf8mb4;
         CREATE TABLE user_data (ind SMALLINT, first_name TEXT, last_name TEXT, age VARCHAR(8),
           date_joined TIMESTAMP NULL) CHARSET utf8mb4;
         INSERT INTO pinterest_data VALUES (7528, 'fbe53c66-3442-4773-b19e-d3ec6f54dddf',
           'Ёлка 🎄', '', 'User Info Error', '5k', 'a,b', 'image', 'Image src error.', 1,
           'Local save in /data/art', 'art');
         INSERT INTO geolocation_data VALUES (7528, '2020-08-28 03:52:47', -89.9787, -173.293,
           'Albania');
         INSERT INTO user_data VALUES (7528, 'Abigail', 'Ali', '20', '2015-10-24 11:23:51');
         INSERT INTO pinterest_data (`index`) VALUES (9);"
    ));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let db = MysqlSource::connect(&url).await.unwrap();
    assert_eq!(db.ids().await.unwrap(), [9, 7528]);
    // post 9 has no geo or user row: left out, not an error
    let posts = db.posts(&[9, 7528, 7528]).await.unwrap();
    assert_eq!(posts.len(), 2, "7528 twice, 9 left out");
    let post = &posts[0];
    assert_eq!(
        (post.geo.latitude, post.geo.longitude),
        (-89.9787, -173.293),
        "FLOAT as MySQL prints it, not the widened single"
    );
    assert_eq!(post.geo.timestamp, "2020-08-28 03:52:47");
    assert_eq!(post.user.date_joined, "2015-10-24 11:23:51");
    assert_eq!((post.user.age, post.pin.downloaded), (20, 1));
    assert_eq!(
        String::from_utf8(post.emulator_payload(Table::Pin)).unwrap(),
        "{\"index\": 7528, \"unique_id\": \"fbe53c66-3442-4773-b19e-d3ec6f54dddf\", \"title\": \
         \"\\u0401\\u043b\\u043a\\u0430 \\ud83c\\udf84\", \"description\": \"\", \"poster_name\": \
         \"User Info Error\", \"follower_count\": \"5k\", \"tag_list\": \"a,b\", \
         \"is_image_or_video\": \"image\", \"image_src\": \"Image src error.\", \"downloaded\": 1, \
         \"save_location\": \"Local save in /data/art\", \"category\": \"art\"}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_picks_are_ids_of_the_database_with_repeats_and_a_seed_repeats_the_picks() {
    let url = MariaDb::get().database("random_picks");
    let report = seed_db(&url, &["--posts", "50", "--seed", "3"]);
    assert!(report.contains("the database holds 50 posts"), "{report}");
    let db = MysqlSource::connect(&url).await.unwrap();
    let ids: BTreeSet<i64> = db.ids().await.unwrap().into_iter().collect();
    let picks = |seed| {
        let db = db.clone();
        async move {
            let source = PostSource::Mysql {
                source: db,
                pick: Pick::Random,
                seed,
            };
            assert_eq!(
                source.limit(None, false),
                Some(100),
                "endless: 100 by default"
            );
            all_payloads(source, Some(300))
                .await
                .iter()
                .map(|p| ind_of(&p[0]))
                .collect::<Vec<_>>()
        }
    };
    let first = picks(7).await;
    assert_eq!(first.len(), 300);
    assert!(first.iter().all(|id| ids.contains(id)));
    let distinct: BTreeSet<i64> = first.iter().copied().collect();
    assert!(distinct.len() < 300, "50 posts picked 300 times repeat");
    assert!(
        distinct.len() > 40,
        "picks spread over the table: {}",
        distinct.len()
    );
    assert_eq!(picks(7).await, first);
    assert_ne!(picks(8).await, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_credentials_come_from_an_rds_secret_in_secrets_manager() {
    let (maria, moto) = (MariaDb::get(), Moto::get());
    let url = maria.database("secret");
    seed_db(&url, &["--posts", "5"]);
    let name = url.rsplit('/').next().unwrap();
    let user = format!("reader_{name}");
    let granted = maria.sql(&format!(
        "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 's3cret!';
         GRANT SELECT ON `{name}`.* TO '{user}'@'127.0.0.1';"
    ));
    assert!(granted.status.success());
    // an RDS-managed secret holds the user name and password; the URL gives host and database
    let secret = moto.secret(
        &format!("rds-{name}"),
        &json!({"username": user, "password": "s3cret!"}).to_string(),
    );
    let bare = format!("mysql://127.0.0.1:{}/{name}", maria.port());
    let db = MysqlSource::connect_secret(&bare, &secret, &moto.aws())
        .await
        .unwrap();
    assert_eq!(db.ids().await.unwrap().len(), 5);
    let wrong = moto.secret(
        &format!("rds-{name}-wrong"),
        &json!({"username": user, "password": "guess"}).to_string(),
    );
    let refused = MysqlSource::connect_secret(&bare, &wrong, &moto.aws())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("Access denied"), "{refused}");
    let missing = MysqlSource::connect_secret(&bare, "no-such-secret", &moto.aws())
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no-such-secret"), "{missing}");
}

/// The emulate-posting handler's state: the database at `db_url` posted to `server` (no API key,
/// no signing), topics and streams named after `prefix`.
async fn emulator(server: &Server, db_url: String, prefix: &str) -> emulate_posting::State {
    emulate_posting::State::start(EmulateConfig {
        api_url: server.url().to_owned(),
        api_key: None,
        api_key_secret_id: None,
        api_iam: false,
        source: SourceSpec::Mysql(db_url),
        source_secret_id: None,
        prefix: prefix.to_owned(),
        aws: Moto::get().aws(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulators_api_key_is_read_once_at_cold_start_and_a_missing_one_stops_the_start() {
    let moto = Moto::get();
    let config = |secret: &str| EmulateConfig {
        api_url: "http://127.0.0.1:9".into(),
        api_key: None,
        api_key_secret_id: Some(secret.to_owned()),
        api_iam: false,
        source: SourceSpec::Embedded,
        source_secret_id: None,
        prefix: "cold".into(),
        aws: moto.aws(),
    };
    let error = emulate_posting::State::start(config("no-such-api-key"))
        .await
        .err()
        .expect("a missing secret fails the cold start, not each invocation")
        .to_string();
    assert!(error.contains("no-such-api-key"), "{error}");
    let secret = moto.secret("emulator-api-key", "k3y");
    assert!(emulate_posting::State::start(config(&secret)).await.is_ok());
}

/// The msk-consumer handler in this process.
struct MskInProcess(msk_consumer::State);

impl Invoke for MskInProcess {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&self.0, e), event)
            .await
            .map_err(|e| e.to_string())
    }
}

fn daily_options() -> DailyOptions {
    DailyOptions {
        run_date: NaiveDate::parse_from_str(RUN_DATE, "%Y-%m-%d").unwrap(),
        now: Utc::now(),
        routes: TopicRoutes::default(),
        budget: Duration::from_secs(600),
        chunk_bytes: daily::DEFAULT_CHUNK_BYTES,
        stages: Stages::ALL,
    }
}

/// The golden insights: the real rows landed straight in a raw zone, the daily run, and DuckDB's
/// insights over the batch tables it cleaned (the batch path's golden test).
async fn golden_insights(dir: &TempDir) -> BTreeMap<String, Vec<String>> {
    let uri = dir.path().join("reference").display().to_string();
    pinpipe(&[
        "land",
        "--warehouse",
        &uri,
        "--source",
        &source_rows_dir(),
        "--partitions",
        "2",
    ]);
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    daily::run(&warehouse, &daily_options()).await.unwrap();
    canonical(&golden_rows(std::path::Path::new(&uri), RUN_DATE))
}

async fn count(warehouse: &Warehouse, table: &str) -> String {
    rows(warehouse, &format!("SELECT count(*) AS n FROM {table}"))
        .await
        .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rows_from_mariadb_through_the_emulator_and_the_ingest_api_end_as_the_golden_insights()
{
    let (tansu, moto) = (Tansu::get(), Moto::get());
    let dir = TempDir::new("end-to-end");
    let prefix = unique_prefix("e2e");
    let kinesis = client(moto).await;
    let (mut topics, mut streams) = (Vec::new(), Vec::new());
    for table in Table::ALL {
        topics.push(format!("{prefix}.{table}"));
        tansu.create_topic(&topics[topics.len() - 1], 2);
        streams.push(format!("streaming-{prefix}-{table}"));
        create_stream(&kinesis, &streams[streams.len() - 1], 2).await;
    }

    // the source database, seeded with the real rows
    let db_url = MariaDb::get().database("e2e");
    seed_db(&db_url, &["--from", &source_rows_dir()]);

    // emulate-posting (its handler, in process) → pinpipe serve → tansu and moto Kinesis
    let server = Server::start(env!("CARGO_BIN_EXE_pinpipe-test-cli"));
    let emulator = emulator(&server, db_url, &prefix).await;
    let summary = pinpipe_local::invoke::call(
        |e| emulate_posting::handle(&emulator, e),
        json!({"mode": "both", "pick": "in-order", "concurrency": 8}),
        Some(Duration::from_secs(900)),
    )
    .await
    .unwrap();
    assert_eq!(
        (summary.posts, summary.requests, summary.accepted),
        (2019, 6 * 2019, 6 * 2019),
        "{summary:?}"
    );
    drop(server);

    // the consumers, fed by the local event-source runners, into one warehouse
    let uri = format!("s3://{}/lake", moto.bucket("e2e"));
    let aws = moto.aws();
    let msk = msk_consumer::State::new(&MskConsumerConfig {
        warehouse: uri.clone(),
        routes: TopicRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        aws: aws.clone(),
    })
    .unwrap();
    let landed = KafkaRunner::new(
        MskInProcess(msk),
        KafkaRunnerOptions {
            brokers: tansu.brokers().to_owned(),
            topics: topics.clone(),
            group_id: format!("{prefix}-msk"),
            batch_size: 500,
            batching_window: Duration::from_millis(100),
            max_retries: Some(5),
            idle_exit: Some(Duration::from_secs(3)),
            ..KafkaRunnerOptions::default()
        },
    )
    .await
    .unwrap()
    .run()
    .await
    .unwrap();
    assert_eq!(landed.records(), 3 * 2019, "{landed:?}");
    assert_eq!(landed.failed_invocations, 0);
    let stream_consumer = kinesis_consumer::State::new(&StreamConsumerConfig {
        warehouse: uri.clone(),
        routes: StreamRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        aws: aws.clone(),
    })
    .unwrap();
    let streamed = Runner::new(
        kinesis.clone(),
        InProcess(stream_consumer),
        RunnerOptions {
            streams: streams.clone(),
            batch_size: 500,
            until_caught_up: true,
            poll_interval: Duration::from_millis(20),
            ..RunnerOptions::default()
        },
    )
    .run()
    .await
    .unwrap();
    assert_eq!(streamed.records(), 3 * 2019);

    // the daily run
    let warehouse = Warehouse::open(&uri, &aws).unwrap();
    let report = daily::run(&warehouse, &daily_options()).await.unwrap();
    for c in &report.clean {
        assert_eq!(
            (c.stats.read, c.rows_written, c.quarantined),
            (2019, 2019, 0),
            "{c:?}"
        );
    }
    for table in Table::ALL {
        for kind in ["batch", "stream"] {
            assert_eq!(
                count(&warehouse, &format!("{kind}_{table}")).await,
                r#"{"n":2019}"#,
                "{kind}_{table}"
            );
        }
    }
    assert_eq!(count(&warehouse, "quarantine").await, r#"{"n":0}"#);
    let ours = canonical(&insight_rows(&warehouse, RUN_DATE).await);
    let golden = golden_insights(&dir).await;
    assert_eq!(ours.len(), 9, "nine insight tables: {:?}", ours.keys());
    assert_eq!(ours, golden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_emulate_posting_sample_event_runs_through_the_handler() {
    let (tansu, moto) = (Tansu::get(), Moto::get());
    let prefix = unique_prefix("events");
    let kinesis = client(moto).await;
    for table in Table::ALL {
        tansu.create_topic(&format!("{prefix}.{table}"), 1);
        create_stream(&kinesis, &format!("streaming-{prefix}-{table}"), 1).await;
    }
    let db_url = MariaDb::get().database("events");
    seed_db(&db_url, &["--posts", "300"]);
    let server = Server::start(env!("CARGO_BIN_EXE_pinpipe-test-cli"));
    let state = emulator(&server, db_url, &prefix).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/emulate-posting");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let event: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        // the 60 s steady run gets an invocation with 8 s left: it stops starting posts after 3 s
        // (5 s are kept to answer); the others have all the time they need
        let remaining = if name == "stream-steady-rate.json" {
            Duration::from_secs(8)
        } else {
            Duration::from_secs(900)
        };
        let answer = pinpipe_local::invoke::call(
            |e| emulate_posting::handle(&state, e),
            event,
            Some(remaining),
        )
        .await;
        if let Some(field) = name
            .strip_prefix("bad-")
            .and_then(|n| n.strip_suffix(".json"))
        {
            let message = answer.unwrap_err().to_string();
            assert!(message.contains(field), "{name}: {message}");
            continue;
        }
        let summary = answer.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (summary.refused, summary.failed, summary.accepted),
            (0, 0, summary.requests),
            "{name}: {summary:?}"
        );
        let (posts, per_post) = match name.as_str() {
            "default.json" | "scheduled.json" => (100, 6),
            "batch-posts.json" => (50, 3),
            "replay-database.json" => (200, 6),
            "stream-steady-rate.json" => {
                // 2 a second for 3 s: posts start at 0, 0.5, …, 3.0 s at most
                assert!((1..=7).contains(&summary.posts), "{name}: {summary:?}");
                assert!(
                    summary.seconds < 8.0,
                    "{name} answered in time: {summary:?}"
                );
                (summary.posts, 3)
            }
            other => panic!("{other}: a sample event this test does not know"),
        };
        assert_eq!(
            (summary.posts, summary.requests),
            (posts, posts * per_post),
            "{name}"
        );
    }
    assert_eq!(seen, 7);
}
