//! The daily run (`daily-analytics`' work, `pinpipe daily`): raw objects → `tables/batch/*` exactly
//! once → the nine insight tables, equal to an independent DuckDB computation; idempotent, resumable
//! after a crash at any stage; on a local path and on moto S3.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use futures::TryStreamExt;
use pinpipe::Table;
use pinpipe::config::{AwsConfig, DailyConfig};
use pinpipe::daily::{self, ComputedOn, DailyOptions, DailyReport, Stages};
use pinpipe::insight::{INSIGHTS, athena_sql};
use pinpipe::lake::{RawZone, TableId, Warehouse, sql};
use pinpipe::landing::{KafkaRecord, Lander, PartitionBatch};
use pinpipe::routes::TopicRoutes;
use pinpipe_tests::athena::{AthenaStub, Call, DATABASE, WORKGROUP};
use pinpipe_tests::insights::{
    assert_insights_match_golden, assert_same_insights, athena_rows, athena_sql_on_datafusion,
    canonical, golden_rows, insight_rows, rows, trino_check,
};
use pinpipe_tests::{Moto, TempDir, emulator_payloads};
use serde_json::{Value, json};

const PREFIX: &str = "12471ce1b695";

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn options(run_date: &str, chunk_bytes: u64) -> DailyOptions {
    DailyOptions {
        run_date: date(run_date),
        now: Utc::now(),
        routes: TopicRoutes::default(),
        budget: Duration::from_secs(600),
        chunk_bytes,
        stages: Stages::ALL,
    }
}

/// Lands `payloads` on `<PREFIX>.<table>` as the msk-consumer does: spread over `partitions`
/// partitions (record i to partition i % partitions), `per_object` records per delivery.
async fn land(
    warehouse: &Warehouse,
    table: Table,
    payloads: &[Vec<u8>],
    partitions: usize,
    first_offset: i64,
    per_object: usize,
) {
    let mut lander = Lander::new(warehouse.clone(), TopicRoutes::default()).unwrap();
    for partition in 0..partitions {
        let records: Vec<KafkaRecord> = payloads
            .iter()
            .skip(partition)
            .step_by(partitions)
            .enumerate()
            .map(|(i, p)| KafkaRecord {
                offset: first_offset + i as i64,
                value: Some(p.clone()),
            })
            .collect();
        for chunk in records.chunks(per_object) {
            let batch = PartitionBatch {
                topic: format!("{PREFIX}.{table}"),
                partition: partition as i32,
                records: chunk.to_vec(),
            };
            lander.land(&batch, Utc::now()).await.unwrap();
        }
    }
}

async fn land_real_rows(warehouse: &Warehouse, partitions: usize, per_object: usize) {
    for table in Table::ALL {
        land(
            warehouse,
            table,
            &emulator_payloads(table),
            partitions,
            0,
            per_object,
        )
        .await;
    }
}

async fn count(warehouse: &Warehouse, table: &str) -> u64 {
    let row = rows(warehouse, &format!("SELECT count(*) AS n FROM {table}")).await;
    serde_json::from_str::<Value>(&row[0]).unwrap()["n"]
        .as_u64()
        .unwrap()
}

/// Everything a run leaves that a reader sees: batch rows, quarantine rows (without the time of
/// rejection), and every insight table's rows.
async fn lake_state(warehouse: &Warehouse) -> BTreeMap<String, Vec<String>> {
    let mut state = BTreeMap::new();
    for table in Table::ALL {
        let name = format!("batch_{table}");
        state.insert(
            name.clone(),
            rows(warehouse, &format!("SELECT * FROM {name}")).await,
        );
    }
    state.insert(
        "quarantine".into(),
        rows(warehouse, "SELECT * EXCLUDE (rejected_at) FROM quarantine").await,
    );
    for name in pinpipe::insight::INSIGHTS.map(|i| i.name) {
        state.insert(
            name.into(),
            rows(warehouse, &format!("SELECT * FROM {name}")).await,
        );
    }
    state
}

fn local_warehouse(dir: &TempDir) -> (String, Warehouse) {
    let uri = dir.path().join("warehouse").display().to_string();
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    (uri, warehouse)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_posts_in_the_raw_zone_become_2019_batch_rows_per_table_and_insights_equal_to_duckdb()
{
    let dir = TempDir::new("daily-real");
    let (uri, warehouse) = local_warehouse(&dir);
    land_real_rows(&warehouse, 2, 250).await;

    let report = daily::run(&warehouse, &options("2026-11-27", 64 << 10))
        .await
        .unwrap();
    for c in &report.clean {
        assert_eq!(c.stats.read, 2_262, "{:?}", c.table);
        assert_eq!(c.rows_written, 2_019, "{:?}", c.table);
        assert!(c.commits > 1, "small chunks make several commits: {c:?}");
    }
    for table in Table::ALL {
        assert_eq!(count(&warehouse, &format!("batch_{table}")).await, 2_019);
    }
    // the batch rows are `pinpipe clean`'s rows (one partition keeps the file's arrival order
    // per table; with two, the same rows arrive, and re-sent copies are identical)
    for table in Table::ALL {
        let path = pinpipe_tests::data_file(&format!("source-rows/{table}.jsonl"));
        let run = pinpipe_tests::pinpipe(
            &[
                "clean",
                "--table",
                table.name(),
                "--input",
                path.to_str().unwrap(),
            ],
            b"",
        );
        assert!(run.success);
        let mut expected: Vec<String> = String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        expected.sort();
        let ours = rows(&warehouse, &format!("SELECT * FROM batch_{table}")).await;
        assert_eq!(ours, expected, "{table}");
    }

    let ours = insight_rows(&warehouse, "2026-11-27").await;
    assert!(ours.len() > 9, "every insight has rows: {}", ours.len());
    let golden = golden_rows(Path::new(&uri), "2026-11-27");
    assert_insights_match_golden(&ours, &golden);
    assert_athena_queries_match(&warehouse, &uri, &golden).await;
}

/// The queries the daily function sends to Athena give the golden rows too: checked as Trino and
/// run on DuckDB (`tests/golden/trino.py`), and run as they are on DataFusion.
async fn assert_athena_queries_match(warehouse: &Warehouse, uri: &str, golden: &[(String, Value)]) {
    let translated = athena_rows(Path::new(uri), "2026-11-27");
    assert_same_insights("the Athena queries' (Trino → DuckDB)", &translated, golden);
    let on_datafusion = athena_sql_on_datafusion(warehouse, "2026-11-27").await;
    assert_same_insights(
        "the Athena queries' (on DataFusion)",
        &on_datafusion,
        golden,
    );
}

/// Source rows built to hit the insights' edges: tied categories and posters, even-sized groups
/// (medians between two values), every age-group boundary, join years just outside 2015–2020.
fn edge_rows() -> BTreeMap<Table, Vec<Vec<u8>>> {
    let mut pins = Vec::new();
    let mut geos = Vec::new();
    let mut users = Vec::new();
    let posts = [
        // ind, country, category, poster, followers, age, join year, post year
        (1, "Aruba", "art", "ann", "10", 17, 2014, 2017),
        (2, "Aruba", "art", "bob", "20", 18, 2015, 2018),
        (3, "Aruba", "diy", "cid", "20", 24, 2015, 2019),
        (4, "Aruba", "diy", "dee", "5", 25, 2016, 2020),
        (5, "Benin", "travel", "eve", "1M", 35, 2020, 2022),
        (6, "Benin", "travel", "fay", "1M", 36, 2020, 2023),
        (7, "Benin", "art", "gus", "3k", 50, 2021, 2021),
        (8, "Chad", "art", "hal", "7", 51, 2019, 2018),
        (9, "Chad", "diy", "ivy", "9", 90, 2019, 2018),
        (10, "Chad", "quotes", "jon", "1M", 40, 2018, 2018),
        // no follower count: left out of the 25-35 median (nulls ignored), not counted as a value
        (11, "Chad", "diy", "kim", "User Info Error", 30, 2016, 2018),
        // the only poster who joined in 2017, without a follower count: that year's median is null
        (15, "Chad", "art", "lee", "User Info Error", 45, 2017, 2019),
    ];
    for (ind, country, category, poster, followers, age, joined, posted) in posts {
        pins.push(
            json!({"index": ind, "unique_id": format!("u{ind}"), "title": "t",
            "description": "d", "poster_name": poster, "follower_count": followers,
            "tag_list": "a,b", "is_image_or_video": "image", "image_src": "https://x/y.jpg",
            "downloaded": 1, "save_location": "Local save in /data/x", "category": category}),
        );
        geos.push(
            json!({"ind": ind, "timestamp": format!("{posted}-06-01 10:00:00"),
            "latitude": 1.5, "longitude": 2.5, "country": country}),
        );
        users.push(
            json!({"ind": ind, "first_name": "F", "last_name": "L", "age": age,
            "date_joined": format!("{joined}-03-04 05:06:07")}),
        );
    }
    // a rejection per table (kept in the quarantine), and a user without a pin
    pins.push(json!({"index": "eleven"}));
    geos.push(
        json!({"ind": 12, "timestamp": "2020-01-01 00:00:00", "latitude": 500,
        "longitude": 0, "country": "Chad"}),
    );
    users.push(
        json!({"ind": 13, "first_name": "A", "last_name": "B", "age": 30,
        "date_joined": "not a date"}),
    );
    users.push(
        json!({"ind": 14, "first_name": "A", "last_name": "B", "age": 30,
        "date_joined": "2016-01-01 00:00:00"}),
    );
    let bytes = |v: Vec<Value>| v.iter().map(|v| v.to_string().into_bytes()).collect();
    [
        (Table::Pin, bytes(pins)),
        (Table::Geo, bytes(geos)),
        (Table::User, bytes(users)),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ties_medians_and_age_group_edges_match_an_independent_duckdb_computation() {
    let dir = TempDir::new("daily-edges");
    let (uri, warehouse) = local_warehouse(&dir);
    for (table, payloads) in edge_rows() {
        land(&warehouse, table, &payloads, 1, 0, 4).await;
    }
    let report = daily::run(&warehouse, &options("2026-11-27", 1 << 20))
        .await
        .unwrap();
    assert_eq!(
        report.clean.iter().map(|c| c.quarantined).sum::<u64>(),
        3,
        "{:?}",
        report.clean
    );
    let ours = insight_rows(&warehouse, "2026-11-27").await;
    let golden = golden_rows(Path::new(&uri), "2026-11-27");
    assert_insights_match_golden(&ours, &golden);
    assert_athena_queries_match(&warehouse, &uri, &golden).await;

    // spot checks a reader can follow by hand
    let by_name = canonical(&ours);
    let aruba = &by_name["popular_category_by_country"];
    assert_eq!(
        aruba.iter().filter(|r| r.contains("Aruba")).count(),
        2,
        "{aruba:?}"
    );
    let top = &by_name["top_user_overall"];
    assert_eq!(top.len(), 3, "three posters tie at 1M followers: {top:?}");
    let medians = &by_name["median_followers_by_age_group"];
    // 18-24: bob 20 and cid 20 → 20; 25-35: dee 5 and eve 1,000,000 → 500,002.5
    assert!(
        medians
            .iter()
            .any(|r| r.contains("25-35") && r.contains("500002.500000000")),
        "{medians:?}"
    );
    let by_year = &by_name["median_followers_by_join_year"];
    assert!(
        by_year
            .iter()
            .any(|r| r.contains("2017") && r.contains("\"median_follower_count\": \"null\"")),
        "{by_year:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_changes_nothing_and_a_new_day_cleans_only_the_new_objects() {
    let moto = Moto::get();
    let dir = TempDir::new("daily-idem");
    let (_, local) = local_warehouse(&dir);
    let s3 = Warehouse::open(
        &format!("s3://{}/lake", moto.bucket("daily-idem")),
        &moto.aws(),
    )
    .unwrap();
    for (backend, warehouse) in [("local", local), ("s3", s3)] {
        let payloads: BTreeMap<Table, Vec<Vec<u8>>> = Table::ALL
            .into_iter()
            .map(|t| (t, emulator_payloads(t)))
            .collect();
        // day one: the first 1,500 posts
        for (table, p) in &payloads {
            land(&warehouse, *table, &p[..1_500], 1, 0, 500).await;
        }
        let first = daily::run(&warehouse, &options("2026-11-26", 1 << 20))
            .await
            .unwrap();
        let state = lake_state(&warehouse).await;
        let versions = table_versions(&warehouse).await;

        let again = daily::run(&warehouse, &options("2026-11-26", 1 << 20))
            .await
            .unwrap();
        assert_nothing_done(&again, backend);
        assert_eq!(
            table_versions(&warehouse).await,
            versions,
            "{backend}: no table moved"
        );
        assert_eq!(lake_state(&warehouse).await, state, "{backend}");

        // day two: the other 762 posts arrive in new objects
        for (table, p) in &payloads {
            land(&warehouse, *table, &p[1_500..], 1, 1_500, 500).await;
        }
        let second = daily::run(&warehouse, &options("2026-11-27", 1 << 20))
            .await
            .unwrap();
        for c in &second.clean {
            assert_eq!(
                c.objects, 2,
                "{backend}: only the new objects are read: {c:?}"
            );
            assert_eq!(c.stats.read, 762, "{backend}");
        }
        for table in Table::ALL {
            assert_eq!(
                count(&warehouse, &format!("batch_{table}")).await,
                2_019,
                "{backend}"
            );
        }
        let written = |r: &DailyReport| r.insights.iter().filter(|i| i.version.is_some()).count();
        assert_eq!((written(&first), written(&second)), (9, 9), "{backend}");
        // both days' partitions are there, each from its own day's data
        let day_one = insight_rows(&warehouse, "2026-11-26").await;
        let day_two = insight_rows(&warehouse, "2026-11-27").await;
        assert!(!day_one.is_empty() && !day_two.is_empty(), "{backend}");
        assert_ne!(
            canonical(&day_one).get("users_joined_by_year"),
            canonical(&day_two).get("users_joined_by_year")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_without_a_rejection_cost_the_quarantine_one_commit_per_table_not_one_per_chunk() {
    let dir = TempDir::new("daily-quarantine-commits");
    let (_, warehouse) = local_warehouse(&dir);
    for table in Table::ALL {
        // real posts the record cleaner takes (none rejected), three objects of 300
        let clean: Vec<Vec<u8>> = emulator_payloads(table)
            .into_iter()
            .filter(|p| pinpipe::record::clean(table, p).is_ok())
            .take(900)
            .collect();
        land(&warehouse, table, &clean, 1, 0, 300).await;
    }
    // one object per chunk, the cleaning alone (maintenance would commit to the quarantine too)
    let clean_only = DailyOptions {
        stages: Stages::parse(&["clean"]).unwrap(),
        ..options("2026-11-26", 1)
    };
    let report = daily::run(&warehouse, &clean_only).await.unwrap();
    for c in &report.clean {
        assert_eq!((c.objects, c.quarantined, c.commits), (3, 0, 3), "{c:?}");
    }
    let quarantine = table_versions(&warehouse)
        .await
        .into_iter()
        .find(|(name, _)| name == "quarantine");
    assert_eq!(
        quarantine,
        Some(("quarantine".to_string(), Some(3))),
        "created, then one commit per table"
    );
    // the quarantine's progress is committed all the same: a second run reads no object again
    let again = daily::run(&warehouse, &clean_only).await.unwrap();
    assert_nothing_done(&again, "local");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_run_one_at_a_time_leave_what_one_whole_run_leaves() {
    let dir = TempDir::new("daily-stages");
    let whole = Warehouse::open(
        &dir.path().join("whole").display().to_string(),
        &AwsConfig::default(),
    )
    .unwrap();
    let staged = Warehouse::open(
        &dir.path().join("staged").display().to_string(),
        &AwsConfig::default(),
    )
    .unwrap();
    land_real_rows(&whole, 2, 400).await;
    land_real_rows(&staged, 2, 400).await;
    daily::run(&whole, &options("2026-11-26", 1 << 20))
        .await
        .unwrap();

    let only = |names: &[&str]| DailyOptions {
        stages: Stages::parse(names).unwrap(),
        ..options("2026-11-26", 1 << 20)
    };
    // maintenance alone cleans nothing and leaves every raw object for later
    let maintained = daily::run(&staged, &only(&["maintain"])).await.unwrap();
    for c in &maintained.clean {
        assert_eq!((c.objects, c.rows_written), (0, 0), "{c:?}");
        assert_eq!(c.objects_left, 6, "{c:?}");
    }
    assert!(maintained.insights.is_empty());
    let cleaned = daily::run(&staged, &only(&["clean"])).await.unwrap();
    assert_eq!(
        cleaned.clean.iter().map(|c| c.rows_written).sum::<u64>(),
        3 * 2_019
    );
    assert!(cleaned.insights.is_empty() && cleaned.maintenance.is_empty());
    let computed = daily::run(&staged, &only(&["insights", "maintain"]))
        .await
        .unwrap();
    assert_eq!(
        computed.clean.iter().map(|c| c.objects).sum::<u64>(),
        0,
        "nothing left to clean"
    );
    assert_eq!(
        computed
            .insights
            .iter()
            .filter(|i| i.version.is_some())
            .count(),
        9
    );
    assert_eq!(lake_state(&staged).await, lake_state(&whole).await);
}

fn assert_nothing_done(report: &DailyReport, backend: &str) {
    for c in &report.clean {
        assert_eq!(
            (c.objects, c.rows_written, c.commits),
            (0, 0, 0),
            "{backend}: {c:?}"
        );
    }
    assert!(
        report.insights.iter().all(|i| i.version.is_none()),
        "{backend}: {:?}",
        report.insights
    );
    assert!(
        report
            .maintenance
            .iter()
            .all(|m| m.files_compacted == 0 && m.files_vacuumed == 0),
        "{backend}: {:?}",
        report.maintenance
    );
}

/// Every table's version (the cleaned tables, the quarantine, the insight tables).
async fn table_versions(warehouse: &Warehouse) -> Vec<(String, Option<u64>)> {
    let mut out = Vec::new();
    let (ctx, names) = sql::session(warehouse).await.unwrap();
    drop(ctx);
    for name in names {
        let path = pinpipe::lake::TableId::every()
            .find(|id| id.sql_name() == name)
            .unwrap()
            .path();
        out.push((name, sql::table_version(warehouse, &path).await.unwrap()));
    }
    out
}

/// Runs `pinpipe daily` as its own process (the test build, with failpoints).
fn pinpipe_daily(warehouse: &str, run_date: &str, failpoint: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"));
    command.args([
        "daily",
        "--warehouse",
        warehouse,
        "--date",
        run_date,
        "--chunk-mb",
        "1",
    ]);
    command.env_remove("PINPIPE_FAILPOINT");
    // info lines come from worker threads: the binary must not hold stderr's lock against them
    command.env("RUST_LOG", "info");
    if let Some(point) = failpoint {
        command.env("PINPIPE_FAILPOINT", point);
    }
    command.output().expect("pinpipe runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_in_any_stage_then_a_rerun_leaves_exactly_what_one_clean_run_leaves() {
    let reference_dir = TempDir::new("daily-crash-ref");
    let (reference_uri, reference) = local_warehouse(&reference_dir);
    let edges = edge_rows();
    let fill = |warehouse: Warehouse| {
        let edges = edges.clone();
        async move {
            land_real_rows(&warehouse, 2, 300).await;
            for (table, payloads) in edges {
                land(&warehouse, table, &payloads, 1, 10_000, 4).await;
            }
        }
    };
    fill(reference.clone()).await;
    let clean = pinpipe_daily(&reference_uri, "2026-11-27", None);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let expected = lake_state(&reference).await;
    assert_eq!(expected["quarantine"].len(), 3);

    for point in [
        "daily-after-clean-commit",
        "daily-after-quarantine-commit",
        "daily-after-insight",
        "daily-before-maintenance",
        "daily-after-maintain-table",
    ] {
        let dir = TempDir::new("daily-crash");
        let (uri, warehouse) = local_warehouse(&dir);
        fill(warehouse.clone()).await;
        let crashed = pinpipe_daily(&uri, "2026-11-27", Some(point));
        assert_eq!(
            crashed.status.code(),
            Some(pinpipe::failpoint::EXIT_CODE),
            "{point}: {}",
            String::from_utf8_lossy(&crashed.stderr)
        );
        let rerun = pinpipe_daily(&uri, "2026-11-27", None);
        assert!(
            rerun.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(
            lake_state(&warehouse).await,
            expected,
            "after a crash at {point}"
        );
    }
    // the raw zone is what the lander wrote, untouched by the daily run
    let raw = RawZone::new(&reference).unwrap();
    assert_eq!(raw.topics().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_daily_analytics_sample_event_runs_through_the_handler() {
    let dir = TempDir::new("daily-events");
    let (uri, warehouse) = local_warehouse(&dir);
    land_real_rows(&warehouse, 1, 1_000).await;
    let config = pinpipe::config::DailyConfig {
        warehouse: uri,
        routes: TopicRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        budget_seconds: 600,
        chunk_mb: 64,
        athena: None,
        aws: AwsConfig::default(),
    };
    let state = daily_analytics::State::new(&config).unwrap();
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/daily-analytics");
    let mut seen = Vec::new();
    for name in ["scheduled.json", "backfill.json", "bad-date.json"] {
        let payload: Value =
            serde_json::from_str(&std::fs::read_to_string(events.join(name)).unwrap()).unwrap();
        let answer =
            pinpipe_local::invoke::call(|e| daily_analytics::handle(&state, e), payload, None)
                .await;
        match name {
            "scheduled.json" => {
                let summary = answer.unwrap();
                assert_eq!(summary.run_date, "2026-11-27");
                assert_eq!(summary.rows_written, 3 * 2_019);
                assert_eq!(summary.insight_tables_written.len(), 9);
            }
            "backfill.json" => {
                let summary = answer.unwrap();
                assert_eq!(summary.run_date, "2026-11-01");
                assert_eq!(summary.rows_written, 0, "nothing new to clean");
                assert_eq!(summary.insight_tables_written.len(), 9);
            }
            _ => {
                let error = answer.unwrap_err().to_string();
                assert!(error.contains("27/11/2026"), "{error}");
            }
        }
        seen.push(name.to_owned());
    }
    let mut files: Vec<String> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    seen.sort();
    assert_eq!(files, seen, "every sample event is exercised");
    let day_one = insight_rows(&warehouse, "2026-11-27").await;
    let backfilled = insight_rows(&warehouse, "2026-11-01").await;
    assert_eq!(day_one.len(), backfilled.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_time_budget_leaves_the_raw_objects_for_the_next_run_and_loses_none() {
    let dir = TempDir::new("daily-budget");
    let (_, warehouse) = local_warehouse(&dir);
    land_real_rows(&warehouse, 1, 500).await;
    let mut no_time = options("2026-11-26", 1 << 20);
    no_time.budget = Duration::ZERO;
    let starved = daily::run(&warehouse, &no_time).await.unwrap();
    for c in &starved.clean {
        assert_eq!(
            (c.objects, c.objects_left, c.rows_written),
            (0, 5, 0),
            "{c:?}"
        );
    }
    assert!(starved.maintenance.iter().all(|m| m.skipped));
    let next = daily::run(&warehouse, &options("2026-11-27", 1 << 20))
        .await
        .unwrap();
    for c in &next.clean {
        assert_eq!(
            (c.objects, c.objects_left, c.rows_written),
            (5, 0, 2_019),
            "{c:?}"
        );
    }
}

/// Real row `i % 2,262` of `payloads` (as the emulator sent it) with `ind` (its `index`) set to
/// `ind`: every record a post of its own.
fn post(payloads: &[Vec<u8>], i: usize, ind: usize) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&payloads[i % payloads.len()]).unwrap();
    value["index"] = json!(ind);
    serde_json::to_vec(&value).unwrap()
}

/// One delivery to partition 0 of `<PREFIX>.pin`: offsets `offsets`, the record at offset `o`
/// being post `ind(o)`.
async fn deliver(
    lander: &mut Lander,
    offsets: std::ops::Range<i64>,
    ind: impl Fn(i64) -> usize,
) -> pinpipe::landing::LandingReport {
    let payloads = emulator_payloads(Table::Pin);
    let batch = PartitionBatch {
        topic: format!("{PREFIX}.pin"),
        partition: 0,
        records: offsets
            .map(|o| KafkaRecord {
                offset: o,
                value: Some(post(&payloads, o as usize, ind(o))),
            })
            .collect(),
    };
    lander.land(&batch, Utc::now()).await.unwrap()
}

/// `count(*)` and `count(DISTINCT ind)` of a table.
async fn counts(warehouse: &Warehouse, table: &str) -> (u64, u64) {
    let row = rows(
        warehouse,
        &format!("SELECT count(*) AS n, count(DISTINCT ind) AS d FROM {table}"),
    )
    .await;
    let v: Value = serde_json::from_str(&row[0]).unwrap();
    (v["n"].as_u64().unwrap(), v["d"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_objects_arriving_below_cleaned_ones_and_offsets_that_start_again_are_each_cleaned_once()
 {
    for (backend, _dir, warehouse) in [
        {
            let dir = TempDir::new("daily-rewind");
            let (_, warehouse) = local_warehouse(&dir);
            ("local", dir, warehouse)
        },
        {
            let moto = Moto::get();
            let uri = format!("s3://{}/lake", moto.bucket("daily-rewind"));
            let warehouse = Warehouse::open(&uri, &moto.aws()).unwrap();
            ("s3", TempDir::new("daily-rewind-s3"), warehouse)
        },
    ] {
        let mut lander = Lander::new(warehouse.clone(), TopicRoutes::default()).unwrap();
        let same = |o: i64| o as usize;
        deliver(&mut lander, 0..200, same).await;
        deliver(&mut lander, 200..400, same).await;
        let first = daily::run(&warehouse, &options("2026-11-26", 1 << 20))
            .await
            .unwrap();
        assert_eq!(first.clean[0].rows_written, 400, "{backend}");

        // the group's offsets rewound into a landed object: [100, 500) lands as a new object
        // below the objects cleaned, then [500, 600)
        let rewound = deliver(&mut lander, 100..500, same).await;
        assert_eq!(
            rewound.objects,
            [RawZone::key(&format!("{PREFIX}.pin"), 0, 100)],
            "{backend}"
        );
        deliver(&mut lander, 500..600, same).await;
        let second = daily::run(&warehouse, &options("2026-11-27", 1 << 20))
            .await
            .unwrap();
        assert_eq!(second.clean[0].rows_written, 200, "{backend}: {second:?}");
        assert_eq!(
            counts(&warehouse, "batch_pin").await,
            (600, 600),
            "{backend}"
        );

        // the topic is recreated: offsets start again from 0 with other posts
        let recreated = |o: i64| 10_000 + o as usize;
        let again = deliver(&mut lander, 0..100, recreated).await;
        assert_eq!(
            again.objects,
            [RawZone::key_of(&format!("{PREFIX}.pin"), 0, 0, 1)],
            "{backend}: the key's next incarnation"
        );
        assert_eq!(again.found, 0, "{backend}");
        let more = deliver(&mut lander, 100..150, recreated).await;
        assert_eq!(more.landed, 50, "{backend}");
        // redelivered: found, not landed again
        let redelivered = deliver(&mut lander, 0..150, recreated).await;
        assert_eq!(
            (redelivered.landed, redelivered.found),
            (0, 150),
            "{backend}"
        );
        let third = daily::run(&warehouse, &options("2026-11-28", 1 << 20))
            .await
            .unwrap();
        assert_eq!(third.clean[0].rows_written, 150, "{backend}: {third:?}");
        assert_eq!(
            counts(&warehouse, "batch_pin").await,
            (750, 750),
            "{backend}"
        );
        let new = rows(
            &warehouse,
            "SELECT count(*) AS n FROM batch_pin WHERE ind >= 10000",
        )
        .await;
        assert_eq!(new, [r#"{"n":150}"#], "{backend}: every new record");

        // and nothing is cleaned twice
        let fourth = daily::run(&warehouse, &options("2026-11-29", 1 << 20))
            .await
            .unwrap();
        assert_eq!(fourth.clean[0].objects, 0, "{backend}");

        // two days on, maintenance keeps only the progress documents the tables name
        let mut later = options("2026-11-30", 1 << 20);
        later.now = Utc::now() + chrono::Duration::days(2);
        daily::run(&warehouse, &later).await.unwrap();
        let store = warehouse.object_store("").unwrap();
        for kind in ["batch", "quarantine"] {
            let prefix = object_store::path::Path::from(format!("tables/_progress/{kind}/pin"));
            let docs: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
            assert_eq!(docs.len(), 1, "{backend}: {kind}: {docs:?}");
        }
        assert_eq!(
            counts(&warehouse, "batch_pin").await,
            (750, 750),
            "{backend}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daily_runs_at_once_with_other_chunk_sizes_write_each_row_once_and_miss_none() {
    const POSTS: usize = 6_000;
    let dir = TempDir::new("daily-concurrent");
    let (_, warehouse) = local_warehouse(&dir);
    for table in Table::ALL {
        let real = emulator_payloads(table);
        let payloads: Vec<Vec<u8>> = (0..POSTS).map(|i| post(&real, i, i)).collect();
        land(&warehouse, table, &payloads, 2, 0, 150).await;
    }
    let mut small = options("2026-11-27", 1 << 20);
    let mut large = options("2026-11-27", 32 << 20);
    for o in [&mut small, &mut large] {
        o.stages = Stages {
            clean: true,
            insights: false,
            maintain: false,
        };
    }
    let (a, b) = tokio::join!(
        daily::run(&warehouse, &small),
        daily::run(&warehouse, &large)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    for table in Table::ALL {
        assert_eq!(
            counts(&warehouse, &format!("batch_{table}")).await,
            (POSTS as u64, POSTS as u64),
            "{table}: every post once; restarts {:?} {:?}",
            a.clean.iter().map(|c| c.restarts).collect::<Vec<_>>(),
            b.clean.iter().map(|c| c.restarts).collect::<Vec<_>>()
        );
    }
    let written: u64 = a.clean.iter().chain(&b.clean).map(|c| c.rows_written).sum();
    assert_eq!(
        written,
        3 * POSTS as u64,
        "between them, each row written once"
    );
}

#[test]
fn a_query_calling_a_function_trino_lacks_fails_the_offline_athena_check() {
    // what the median and year queries were written with before they were made portable
    for (call, named) in [
        (
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY follower_count)",
            "PERCENTILE_CONT",
        ),
        ("date_part('year', date_joined)", "date_part"),
    ] {
        let dir = TempDir::new("trino-refused");
        let sql = format!("SELECT {call} AS x FROM batch_user");
        std::fs::write(dir.path().join("refused.sql"), sql).unwrap();
        let output = trino_check(dir.path(), "2026-11-27", dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{call}: {stderr}");
        assert!(
            stderr.contains(named) && stderr.contains("refused"),
            "{call}: {stderr}"
        );
    }
}

fn athena_config(uri: &str, stub: &AthenaStub, timeout_seconds: u64) -> DailyConfig {
    DailyConfig {
        warehouse: uri.to_owned(),
        routes: TopicRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        budget_seconds: 600,
        chunk_mb: 64,
        athena: Some(AthenaStub::config(timeout_seconds)),
        aws: stub.aws(),
    }
}

fn day(run_date: &str) -> daily_analytics::DailyRequest {
    daily_analytics::DailyRequest {
        date: Some(run_date.into()),
        time: None,
        stages: None,
    }
}

/// Every `StartQueryExecution` the stub answered 200, per insight, in order.
fn started(calls: &[Call]) -> BTreeMap<String, Vec<Call>> {
    let mut by_insight: BTreeMap<String, Vec<Call>> = BTreeMap::new();
    for insight in INSIGHTS {
        by_insight.insert(
            insight.name.into(),
            calls
                .iter()
                .filter(|c| c.started(insight.name))
                .cloned()
                .collect(),
        );
    }
    by_insight
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_size_the_insights_run_on_athena_through_retries_and_land_as_the_golden_delta_rows()
 {
    let dir = TempDir::new("daily-athena");
    let (uri, warehouse) = local_warehouse(&dir);
    land_real_rows(&warehouse, 2, 250).await;
    for (table, payloads) in edge_rows() {
        land(&warehouse, table, &payloads, 1, 10_000, 4).await;
    }
    // the day before, below the size: DataFusion cleans and writes the insight tables
    let before = daily::run(&warehouse, &options("2026-11-26", 1 << 20))
        .await
        .unwrap();
    assert_eq!(before.insights_on, ComputedOn::DataFusion);

    let stub = AthenaStub::start(
        Path::new(&uri),
        json!({"throttle_first_start": true, "fail_once": ["popular_category_by_country"],
               "page_rows": 3}),
    );
    let state = daily_analytics::State::new(&athena_config(&uri, &stub, 60)).unwrap();
    let report = state.run(&day("2026-11-27"), Utc::now()).await.unwrap();
    assert_eq!(report.insights_on, ComputedOn::Athena);
    assert!(report.batch_bytes > 0);
    assert_eq!(
        report
            .insights
            .iter()
            .filter(|i| i.version.is_some())
            .count(),
        9,
        "{:?}",
        report.insights
    );

    // Athena's rows, written into the tables DataFusion wrote the day before, are the golden
    // rows, and the day before's are still the same rows
    let ours = insight_rows(&warehouse, "2026-11-27").await;
    let golden = golden_rows(Path::new(&uri), "2026-11-27");
    assert_insights_match_golden(&ours, &golden);
    let day_before = insight_rows(&warehouse, "2026-11-26").await;
    assert_insights_match_golden(&day_before, &golden_rows(Path::new(&uri), "2026-11-26"));

    let calls = stub.calls();
    // the throttled start was retried by the SDK with the same token: one query, not two
    let throttled: Vec<&Call> = calls.iter().filter(|c| c.status == 400).collect();
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert_eq!(
        throttled[0].response["__type"], "TooManyRequestsException",
        "{throttled:?}"
    );
    let token = throttled[0].token();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.op == "StartQueryExecution" && c.status == 200 && c.token() == token)
            .count(),
        1,
        "the throttled start is retried once with its token"
    );
    // one query per insight, and a second for the one whose first ended FAILED (retryable)
    for (insight, starts) in started(&calls) {
        let expected = if insight == "popular_category_by_country" {
            2
        } else {
            1
        };
        assert_eq!(starts.len(), expected, "{insight}: {starts:?}");
        let tokens: std::collections::BTreeSet<&str> = starts.iter().map(Call::token).collect();
        assert_eq!(tokens.len(), expected, "a rerun is a new query: {starts:?}");
        let sql = athena_sql(*INSIGHTS.iter().find(|i| i.name == insight).unwrap());
        for start in &starts {
            assert_eq!(start.request["QueryString"], sql.as_str(), "{insight}");
            assert_eq!(start.request["WorkGroup"], WORKGROUP);
            assert_eq!(start.request["QueryExecutionContext"]["Database"], DATABASE);
        }
    }
    // more rows than a page: the results were read page by page
    assert!(
        calls
            .iter()
            .any(|c| c.op == "GetQueryResults" && c.request["NextToken"].is_string()),
        "no paged results read"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.op == "GetQueryResults" && c.status != 200),
        "results asked for before a query finished"
    );

    // no call the function's role is not granted (template.yaml grants `athena::CALLS`)
    for call in &calls {
        assert!(
            daily::athena::CALLS.contains(&call.op.as_str()),
            "{}",
            call.op
        );
    }

    // the same day again: every insight is current, Athena is not asked
    let again = state.run(&day("2026-11-27"), Utc::now()).await.unwrap();
    assert_eq!(again.insights_on, ComputedOn::None);
    assert_eq!(
        stub.calls().len(),
        calls.len(),
        "a current day costs no query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_athena_query_past_its_timeout_is_stopped_and_a_rerun_computes_only_what_is_missing() {
    let dir = TempDir::new("daily-athena-hang");
    let (uri, warehouse) = local_warehouse(&dir);
    land_real_rows(&warehouse, 1, 1_000).await;
    let hung = "users_joined_by_year";
    let stub = AthenaStub::start(Path::new(&uri), json!({ "hang": [hung] }));
    let state = daily_analytics::State::new(&athena_config(&uri, &stub, 10)).unwrap();
    let error = state
        .run(&day("2026-11-27"), Utc::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(hung) && error.contains("stopped"), "{error}");
    let calls = stub.calls();
    let query_id = calls
        .iter()
        .find(|c| c.started(hung))
        .expect("the hung query was started")
        .response["QueryExecutionId"]
        .clone();
    assert!(
        calls
            .iter()
            .any(|c| c.op == "StopQueryExecution" && c.request["QueryExecutionId"] == query_id),
        "the query past its timeout is stopped: {calls:?}"
    );
    // the eight that finished are written; the hung one is not
    for insight in INSIGHTS {
        let version = sql::table_version(&warehouse, &TableId::Insight(insight).path())
            .await
            .unwrap();
        assert_eq!(version.is_some(), insight.name != hung, "{}", insight.name);
    }
    drop(stub);

    // the next run (Athena healthy again) computes only the missing one
    let healthy = AthenaStub::start(Path::new(&uri), json!({}));
    let state = daily_analytics::State::new(&athena_config(&uri, &healthy, 60)).unwrap();
    let report = state.run(&day("2026-11-27"), Utc::now()).await.unwrap();
    assert_eq!(report.insights_on, ComputedOn::Athena);
    let written: Vec<&str> = report
        .insights
        .iter()
        .filter(|i| i.version.is_some())
        .map(|i| i.name)
        .collect();
    assert_eq!(written, [hung]);
    let starts = started(&healthy.calls());
    assert!(
        starts
            .iter()
            .all(|(insight, s)| s.len() == usize::from(insight == hung)),
        "{starts:?}"
    );
    let ours = insight_rows(&warehouse, "2026-11-27").await;
    let golden = golden_rows(Path::new(&uri), "2026-11-27");
    assert_insights_match_golden(&ours, &golden);
}
