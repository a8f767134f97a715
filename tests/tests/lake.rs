//! The lake on a local path and on a real S3-compatible server (moto): appends land once, survive
//! concurrent writer processes and a writer stopped mid-commit, and an independent reader (delta-rs's
//! Python package) sees the same rows.

use std::collections::BTreeSet;
use std::process::Command;

use pinpipe::Table;
use pinpipe::cleaner::{Outcome, TableCleaner};
use pinpipe::lake::{
    Appended, Checkpoint, LakeTable, Position, SourceKey, TableId, Warehouse, maintenance, sql,
};
use pinpipe::quarantine::{QuarantineRecord, SourceRef};
use pinpipe::record::CleanRow;
use pinpipe_tests::{Moto, TempDir, lines};
use serde_json::Value;

/// A fresh warehouse on each backend: (label, URI, warehouse, moto endpoint for S3).
fn backends(label: &str) -> Vec<(String, TempDir, Warehouse, Option<String>)> {
    let local = TempDir::new(label);
    let local_uri = local.path().join("warehouse");
    let local_wh = Warehouse::open(local_uri.to_str().unwrap(), &Default::default()).unwrap();
    let moto = Moto::get();
    let bucket = moto.bucket(label);
    let s3_wh = Warehouse::open(&format!("s3://{bucket}/lake"), &moto.aws()).unwrap();
    vec![
        ("local".to_owned(), local, local_wh, None),
        (
            "s3".to_owned(),
            TempDir::new(label),
            s3_wh,
            Some(moto.endpoint().to_owned()),
        ),
    ]
}

/// The real pin rows, cleaned and de-duplicated.
fn real_pins() -> Vec<CleanRow<'static>> {
    let mut cleaner = TableCleaner::new(Table::Pin);
    lines("source-rows/pin.jsonl")
        .iter()
        .filter_map(|l| match cleaner.push(l.as_bytes()) {
            Outcome::Clean(c) => Some(c.row.into_owned()),
            _ => None,
        })
        .collect()
}

fn kafka(topic: &str, offset: i64) -> Checkpoint {
    Checkpoint {
        source: SourceKey::Kafka {
            topic: topic.to_owned(),
            partition: 0,
        },
        position: Position::Offset(offset),
    }
}

async fn count(warehouse: &Warehouse, table: &str) -> i64 {
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let batches = sql::query(&ctx, &format!("SELECT count(*) AS n FROM {table}"))
        .await
        .unwrap();
    let mut out = Vec::new();
    sql::write_jsonl(&batches, &mut out).unwrap();
    serde_json::from_slice::<Value>(&out).unwrap()["n"]
        .as_i64()
        .unwrap()
}

/// Rows as the independent reader sees them, after its protocol line.
fn read_independently(
    warehouse: &Warehouse,
    id: TableId,
    endpoint: &Option<String>,
) -> (Value, Vec<Value>) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("read_delta.py");
    let uri = warehouse.url(&id.path()).unwrap().to_string();
    let mut command = Command::new("python3");
    command.arg(script).arg(uri.trim_end_matches('/'));
    if let Some(endpoint) = endpoint {
        command.arg(endpoint);
    }
    let out = command
        .output()
        .expect("python3 with deltalake (installed by .ci/run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap());
    let protocol = lines.next().unwrap();
    (protocol, lines.collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_rows_append_read_back_and_an_independent_reader_sees_the_same() {
    let pins = real_pins();
    for (backend, _dir, warehouse, endpoint) in backends("readback") {
        let mut table = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
            .await
            .unwrap();
        let batch = pinpipe::schema::to_record_batch(Table::Pin, &pins).unwrap();
        let appended = table
            .append(vec![batch], &[kafka("t.pin", 2261)])
            .await
            .unwrap();
        assert!(
            matches!(appended, Appended::Committed { rows: 2019, .. }),
            "{backend}: {appended:?}"
        );
        assert_eq!(count(&warehouse, "batch_pin").await, 2019, "{backend}");

        // every add carries statistics; the protocol stays reader 1 / writer 2
        let snapshot = table.delta().snapshot().unwrap();
        assert_eq!(snapshot.protocol().min_reader_version(), 1, "{backend}");
        assert_eq!(snapshot.protocol().min_writer_version(), 2, "{backend}");
        for add in snapshot.log_data() {
            assert!(
                add.num_records().is_some(),
                "{backend}: an add without stats"
            );
        }

        let (protocol, rows) =
            read_independently(&warehouse, TableId::Batch(Table::Pin), &endpoint);
        assert_eq!(protocol["min_reader_version"], 1);
        assert_eq!(rows.len(), 2019, "{backend}");
        let mut ours: Vec<Value> = pins
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        ours.sort_by_key(|r| r["ind"].as_i64());
        assert_eq!(
            rows, ours,
            "{backend}: the independent reader sees other rows"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_input_twice_lands_once() {
    let pins = real_pins();
    for (backend, _dir, warehouse, endpoint) in backends("twice") {
        let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        let batch = pinpipe::schema::to_record_batch(Table::Pin, &pins[..100]).unwrap();
        let first = table
            .append(vec![batch.clone()], &[kafka("t.pin", 99)])
            .await
            .unwrap();
        assert!(
            matches!(first, Appended::Committed { rows: 100, .. }),
            "{backend}"
        );
        let version = table.version();

        // the same batch again, through a fresh handle as a restarted process would
        let mut again = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        assert_eq!(
            again.committed(&kafka("t.pin", 0).source).await.unwrap(),
            Some(Position::Offset(99))
        );
        assert_eq!(
            again
                .append(vec![batch], &[kafka("t.pin", 99)])
                .await
                .unwrap(),
            Appended::AlreadyCommitted
        );
        assert_eq!(again.version(), version, "{backend}: nothing was committed");
        assert_eq!(count(&warehouse, "stream_pin").await, 100, "{backend}");
        let (_, rows) = read_independently(&warehouse, TableId::Stream(Table::Pin), &endpoint);
        assert_eq!(
            rows.len(),
            100,
            "{backend}: the independent reader sees one copy"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_sequence_numbers_commit_exactly_once() {
    let pins = real_pins();
    let (_, _dir, warehouse, _) = backends("kinesis").remove(0);
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    let shard = SourceKey::Kinesis {
        stream: "streaming-x-pin".into(),
        shard: "shardId-000000000000".into(),
    };
    let seq = "49590338271490256608559692538361571095921575989136588898";
    let at = |s: &str| Checkpoint {
        source: shard.clone(),
        position: Position::sequence(s).unwrap(),
    };
    let batch = pinpipe::schema::to_record_batch(Table::Pin, &pins[..10]).unwrap();
    table.append(vec![batch.clone()], &[at(seq)]).await.unwrap();
    assert_eq!(
        table.committed(&shard).await.unwrap(),
        Position::sequence(seq)
    );
    assert_eq!(
        table.append(vec![batch.clone()], &[at(seq)]).await.unwrap(),
        Appended::AlreadyCommitted
    );
    let earlier = "49590338271490256608559692538361571095921575989136588897";
    assert_eq!(
        table
            .append(vec![batch.clone()], &[at(earlier)])
            .await
            .unwrap(),
        Appended::AlreadyCommitted
    );
    let later = "49590338271490256608559692538361571095921575989136588899";
    assert!(matches!(
        table.append(vec![batch], &[at(later)]).await.unwrap(),
        Appended::Committed { .. }
    ));
    assert_eq!(count(&warehouse, "stream_pin").await, 20);
}

fn writer(
    warehouse: &str,
    id: u32,
    appends: u32,
    env: &[(&'static str, String)],
    failpoint: Option<&str>,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lake_writer"));
    command.args([
        "--warehouse",
        warehouse,
        "--writer",
        &id.to_string(),
        "--appends",
        &appends.to_string(),
    ]);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    if let Some(point) = failpoint {
        command.env("PINPIPE_FAILPOINT", point);
    }
    command
}

fn warehouse_uri(warehouse: &Warehouse) -> String {
    warehouse.root().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_writer_processes_land_all_400_commits() {
    for (backend, _dir, warehouse, endpoint) in backends("concurrent") {
        let env = if endpoint.is_some() {
            Moto::get().env()
        } else {
            Vec::new()
        };
        // create the table first so the writers race on appends, not on creation
        LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        let uri = warehouse_uri(&warehouse);
        let children: Vec<_> = (0..8)
            .map(|id| {
                writer(&uri, id, 50, &env, None)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let (mut versions, mut recovered) = (BTreeSet::new(), 0);
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{backend}: a writer failed");
            for line in std::str::from_utf8(&out.stdout).unwrap().lines() {
                match line.split_once(' ') {
                    Some(("committed", v)) => assert!(
                        versions.insert(v.parse::<u64>().unwrap()),
                        "{backend}: {v} twice"
                    ),
                    Some(("recovered", _)) => recovered += 1,
                    _ => panic!("{backend}: an append did not commit: {line}"),
                }
            }
        }
        assert_eq!(
            versions.len() + recovered,
            400,
            "{backend}: every append committed"
        );
        let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        assert_eq!(table.version(), 400);
        assert_eq!(
            count(&warehouse, "stream_pin").await,
            8 * 50 * 10,
            "{backend}"
        );
        let (ctx, _) = sql::session(&warehouse).await.unwrap();
        let distinct = sql::query(&ctx, "SELECT count(DISTINCT ind) AS n FROM stream_pin")
            .await
            .unwrap();
        let mut out = Vec::new();
        sql::write_jsonl(&distinct, &mut out).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap()["n"],
            4000,
            "{backend}: every row present once"
        );
        for id in 0..8 {
            let source = SourceKey::Kafka {
                topic: format!("writer-{id}"),
                partition: 0,
            };
            assert_eq!(
                table.committed(&source).await.unwrap(),
                Some(Position::Offset(49)),
                "{backend}"
            );
        }
        let (_, rows) = read_independently(&warehouse, TableId::Stream(Table::Pin), &endpoint);
        assert_eq!(
            rows.len(),
            4000,
            "{backend}: the log is valid for another reader"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_before_its_commit_leaves_nothing_visible_and_vacuum_removes_its_files() {
    for (backend, _dir, warehouse, endpoint) in backends("failpoint") {
        let env = if endpoint.is_some() {
            Moto::get().env()
        } else {
            Vec::new()
        };
        let uri = warehouse_uri(&warehouse);
        let stopped = writer(&uri, 1, 1, &env, Some("after-data-files"))
            .output()
            .unwrap();
        assert_eq!(
            stopped.status.code(),
            Some(pinpipe::failpoint::EXIT_CODE),
            "{backend}"
        );
        let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        assert_eq!(
            count(&warehouse, "stream_pin").await,
            0,
            "{backend}: no rows visible"
        );
        let store = warehouse
            .object_store(&TableId::Stream(Table::Pin).path())
            .unwrap();
        let orphans = parquet_files(&store).await;
        assert!(
            !orphans.is_empty(),
            "{backend}: the stopped writer had written data files"
        );

        let retry = writer(&uri, 1, 1, &env, None).output().unwrap();
        assert_eq!(
            String::from_utf8(retry.stdout).unwrap().trim(),
            "committed 1",
            "{backend}"
        );
        let again = writer(&uri, 1, 1, &env, None).output().unwrap();
        assert_eq!(
            String::from_utf8(again.stdout).unwrap().trim(),
            "already",
            "{backend}"
        );
        assert_eq!(
            count(&warehouse, "stream_pin").await,
            10,
            "{backend}: the retry committed once"
        );

        table.refresh().await.unwrap();
        let now = chrono::Utc::now();
        let early = maintenance::vacuum(&mut table, chrono::Duration::days(7), now)
            .await
            .unwrap();
        assert_eq!(
            early.files_deleted, 0,
            "{backend}: nothing younger than the retention goes"
        );
        let later = now + chrono::Duration::days(8);
        let swept = maintenance::vacuum(&mut table, chrono::Duration::days(7), later)
            .await
            .unwrap();
        assert_eq!(swept.files_deleted, orphans.len(), "{backend}");
        let left = parquet_files(&store).await;
        assert!(
            orphans.iter().all(|o| !left.contains(o)),
            "{backend}: orphans removed"
        );
        assert_eq!(left.len(), 1, "{backend}: the committed file stays");
        assert_eq!(count(&warehouse, "stream_pin").await, 10, "{backend}");
        let (_, rows) = read_independently(&warehouse, TableId::Stream(Table::Pin), &endpoint);
        assert_eq!(
            rows.len(),
            10,
            "{backend}: readable by another reader after vacuum"
        );
    }
}

async fn parquet_files(store: &std::sync::Arc<dyn pinpipe::lake::ObjectStore>) -> BTreeSet<String> {
    use futures::TryStreamExt;
    store
        .list(None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .filter(|p| p.ends_with(".parquet") && !p.starts_with("_delta_log"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_rows_carry_every_field_of_a_rejection() {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let raw =
        b"{\"ind\": 5, \"latitude\": 99, \"longitude\": 0, \"timestamp\": \"2020-01-01 00:00:00\"}";
    let rejection = pinpipe::record::clean(Table::Geo, raw).unwrap_err();
    let sources = [
        SourceRef::Kafka {
            topic: "t.geo".into(),
            partition: 3,
            offset: 17,
        },
        SourceRef::Kinesis {
            stream: "streaming-t-geo".into(),
            shard: "shardId-1".into(),
            sequence_number: "4959".into(),
        },
        SourceRef::Api {
            request_id: "req-1".into(),
        },
        SourceRef::File {
            path: "geo.jsonl".into(),
            line: 9,
        },
    ];
    let records: Vec<QuarantineRecord> = sources
        .into_iter()
        .map(|s| QuarantineRecord::new(rejection.clone(), raw, s, at))
        .collect();
    for (backend, _dir, warehouse, endpoint) in backends("quarantine") {
        let mut table = LakeTable::open(&warehouse, TableId::Quarantine)
            .await
            .unwrap();
        let batch = pinpipe::schema::quarantine_batch(&records).unwrap();
        table
            .append(vec![batch], &[kafka("t.geo", 17)])
            .await
            .unwrap();
        let (_, rows) = read_independently(&warehouse, TableId::Quarantine, &endpoint);
        assert_eq!(rows.len(), 4, "{backend}");
        let by_source = |s: &str| rows.iter().find(|r| r["source"] == s).unwrap().clone();
        for row in &rows {
            assert_eq!(row["table"], "geo");
            assert_eq!(row["reason"], "out_of_range");
            assert_eq!(row["field"], "latitude");
            assert_eq!(row["ind"], 5);
            assert!(row["message"].as_str().unwrap().contains("latitude"));
            assert_eq!(row["raw"].as_str().unwrap().as_bytes(), raw);
            assert!(row["raw_base64"].as_str().unwrap().len() > 40);
            assert!(
                row["rejected_at"]
                    .as_str()
                    .unwrap()
                    .starts_with("2023-11-14T22:13:20")
            );
        }
        let k = by_source("kafka");
        assert_eq!(
            (&k["topic"], &k["partition"], &k["offset"]),
            (&Value::from("t.geo"), &Value::from(3), &Value::from(17))
        );
        let s = by_source("kinesis");
        assert_eq!(
            (&s["stream"], &s["shard"], &s["sequence_number"]),
            (
                &Value::from("streaming-t-geo"),
                &Value::from("shardId-1"),
                &Value::from("4959")
            )
        );
        assert_eq!(by_source("api")["request_id"], "req-1");
        let f = by_source("file");
        assert_eq!(
            (&f["file_path"], &f["file_line"]),
            (&Value::from("geo.jsonl"), &Value::from(9))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_posted_inds_are_dropped_before_appending_and_the_index_catches_up_on_new_commits_only()
{
    let pins = real_pins();
    for (backend, _dir, warehouse, endpoint) in backends("reposts") {
        let mut table = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
            .await
            .unwrap();
        let mut index = pinpipe::lake::IndIndex::new();
        let cold = index.catch_up(&table).await.unwrap();
        assert_eq!((cold.files, index.len()), (0, 0), "{backend}");

        // first 100 posts
        let (new, dropped) = index.without_reposts(pins[..100].to_vec());
        assert_eq!((new.len(), dropped), (100, 0));
        let batch = pinpipe::schema::to_record_batch(Table::Pin, &new).unwrap();
        let Appended::Committed { version, .. } = table
            .append(vec![batch], &[kafka("t.pin", 0)])
            .await
            .unwrap()
        else {
            panic!("{backend}: not committed");
        };
        index.committed(version, new.iter().map(CleanRow::ind));
        assert_eq!(index.len(), 100, "{backend}");

        // posts 50..150 again, plus a re-send inside the batch: only 100..150 are new
        let mut again = pins[50..150].to_vec();
        again.push(pins[120].clone());
        let (new, dropped) = index.without_reposts(again);
        assert_eq!((new.len(), dropped), (50, 51), "{backend}");
        assert!(new.iter().all(|r| pins[100..150].contains(r)));

        // another writer appends; a warm index reads that commit's one file, not the table
        let mut other = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
            .await
            .unwrap();
        let batch = pinpipe::schema::to_record_batch(Table::Pin, &new).unwrap();
        other
            .append(vec![batch], &[kafka("t.pin", 1)])
            .await
            .unwrap();
        table.refresh().await.unwrap();
        let warm = index.catch_up(&table).await.unwrap();
        assert_eq!((warm.commits, warm.files), (1, 1), "{backend}");
        assert_eq!(index.len(), 150, "{backend}");
        let mut fresh = pinpipe::lake::IndIndex::new();
        let cold = fresh.catch_up(&table).await.unwrap();
        assert_eq!(
            (cold.files, fresh.len()),
            (2, 150),
            "{backend}: a cold index reads every file"
        );
        assert_eq!(count(&warehouse, "batch_pin").await, 150, "{backend}");
        let (_, rows) = read_independently(&warehouse, TableId::Batch(Table::Pin), &endpoint);
        let inds: BTreeSet<i64> = rows.iter().map(|r| r["ind"].as_i64().unwrap()).collect();
        assert_eq!(inds.len(), 150, "{backend}: no ind twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_index_starts_from_the_newest_snapshot_and_reads_only_the_files_it_does_not_cover() {
    use object_store::ObjectStoreExt;
    use pinpipe::lake::ind_index::{self, snapshot};
    let pins = real_pins();
    let chunks: Vec<&[CleanRow<'static>]> = pins.chunks(pins.len().div_ceil(8)).collect();
    assert_eq!(chunks.len(), 8);
    for (backend, _dir, warehouse, _) in backends("ind-snapshot") {
        let id = TableId::Stream(Table::Pin);
        let mut table = LakeTable::open(&warehouse, id).await.unwrap();
        let append = |rows: &[CleanRow<'static>]| {
            pinpipe::schema::to_record_batch(Table::Pin, rows).unwrap()
        };
        for chunk in &chunks[..6] {
            table.append(vec![append(chunk)], &[]).await.unwrap();
        }
        let store = table.delta().object_store();

        // a cold start that reads at least 3 files writes a snapshot at the version it read
        let mut first = pinpipe::lake::IndIndex::new().snapshot_after(3);
        let cold = first.catch_up(&table).await.unwrap();
        assert_eq!((cold.files, cold.from_snapshot), (6, None), "{backend}");
        assert_eq!(cold.wrote_snapshot, Some(table.version()), "{backend}");
        assert_eq!(
            snapshot::versions(&store).await.unwrap(),
            vec![table.version()]
        );
        let snapshotted = table.version();

        // two more files, then a new cold start: the snapshot and those two files only
        for chunk in &chunks[6..] {
            table.append(vec![append(chunk)], &[]).await.unwrap();
        }
        let mut second = pinpipe::lake::IndIndex::new();
        let cost = second.catch_up(&table).await.unwrap();
        assert_eq!(
            (cost.files, cost.from_snapshot, cost.wrote_snapshot),
            (2, Some(snapshotted), None),
            "{backend}"
        );
        assert_eq!(second.len(), pins.len() as u64, "{backend}");
        let (new, dropped) = second.without_reposts(pins.clone());
        assert_eq!(
            (new.len(), dropped),
            (0, pins.len()),
            "{backend}: every ind known"
        );

        // the daily maintenance snapshots the table as it is and keeps the newest two
        assert_eq!(
            ind_index::snapshot_now(&table).await.unwrap(),
            Some(table.version()),
            "{backend}"
        );
        table
            .append(vec![append(&chunks[0][..1])], &[])
            .await
            .unwrap();
        ind_index::snapshot_now(&table).await.unwrap();
        assert_eq!(
            snapshot::versions(&store).await.unwrap(),
            vec![table.version() - 1, table.version()],
            "{backend}: older snapshots pruned"
        );
        let mut third = pinpipe::lake::IndIndex::new();
        let cost = third.catch_up(&table).await.unwrap();
        assert_eq!((cost.files, cost.from_snapshot), (0, Some(table.version())));

        // a warm index that took in as many files as its threshold writes one as it goes
        let mut warm = pinpipe::lake::IndIndex::new().snapshot_after(3);
        assert_eq!(warm.catch_up(&table).await.unwrap().wrote_snapshot, None);
        for chunk in &chunks[1..4] {
            table.append(vec![append(&chunk[..1])], &[]).await.unwrap();
        }
        let cost = warm.catch_up(&table).await.unwrap();
        assert_eq!(
            (cost.files, cost.wrote_snapshot),
            (3, Some(table.version())),
            "{backend}"
        );

        // a snapshot that does not read back whole costs time, never an ind
        let newest = object_store::path::Path::from(format!(
            "_pinpipe/ind-index/{:020}.inds",
            table.version()
        ));
        let whole = store.get(&newest).await.unwrap().bytes().await.unwrap();
        store
            .put(&newest, whole.slice(..whole.len() - 3).into())
            .await
            .unwrap();
        let mut fourth = pinpipe::lake::IndIndex::new();
        let cost = fourth.catch_up(&table).await.unwrap();
        assert_eq!(
            cost.from_snapshot, None,
            "{backend}: a cut snapshot is not used"
        );
        assert!(cost.files >= 8, "{backend}: every live file read instead");
        assert_eq!(fourth.len(), pins.len() as u64, "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_raw_batch_rewrites_the_same_object_with_the_same_bytes() {
    let records: Vec<String> = lines("source-rows/geo.jsonl").into_iter().take(5).collect();
    for (backend, _dir, warehouse, _) in backends("raw") {
        let zone = pinpipe::lake::RawZone::new(&warehouse).unwrap();
        let topic = "12471ce1b695.geo";
        let key = zone
            .put_batch(topic, 1, 40, records.iter().map(|r| r.as_bytes()))
            .await
            .unwrap();
        assert_eq!(
            key,
            "topics/12471ce1b695.geo/partition=1/12471ce1b695.geo+1+0000000040.json"
        );
        let first = zone.get(&key).await.unwrap();
        let again = zone
            .put_batch(topic, 1, 40, records.iter().map(|r| r.as_bytes()))
            .await
            .unwrap();
        assert_eq!(again, key);
        assert_eq!(zone.get(&key).await.unwrap(), first, "{backend}");
        assert_eq!(
            first,
            format!("{}\n", records.join("\n")).into_bytes(),
            "{backend}: one record per line, as received"
        );
        zone.put_batch(topic, 0, 7, [records[0].as_bytes()])
            .await
            .unwrap();
        zone.put_batch(topic, 1, 3, [records[1].as_bytes()])
            .await
            .unwrap();
        zone.put_batch("other.geo", 0, 0, [records[2].as_bytes()])
            .await
            .unwrap();
        let listed: Vec<(i32, i64)> = zone
            .list(topic)
            .await
            .unwrap()
            .iter()
            .map(|o| (o.partition, o.first_offset))
            .collect();
        assert_eq!(listed, [(0, 7), (1, 3), (1, 40)], "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimize_compacts_small_files_and_a_checkpoint_keeps_every_row() {
    let pins = real_pins();
    let (_, _dir, warehouse, _) = backends("optimize").remove(0);
    let mut table = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
        .await
        .unwrap();
    for (i, chunk) in pins.chunks(200).enumerate() {
        let batch = pinpipe::schema::to_record_batch(Table::Pin, chunk).unwrap();
        table
            .append(vec![batch], &[kafka("t.pin", i as i64)])
            .await
            .unwrap();
    }
    assert_eq!(table.delta().snapshot().unwrap().log_data().num_files(), 11);
    let removed = maintenance::optimize(&mut table).await.unwrap();
    assert_eq!(removed, 11);
    assert_eq!(table.delta().snapshot().unwrap().log_data().num_files(), 1);
    maintenance::checkpoint(&table).await.unwrap();
    let mut reopened = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
        .await
        .unwrap();
    assert_eq!(
        reopened.committed(&kafka("t.pin", 0).source).await.unwrap(),
        Some(Position::Offset(10))
    );
    assert_eq!(count(&warehouse, "batch_pin").await, 2019);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinpipe_sql_answers_in_table_jsonl_and_csv() {
    let pins = real_pins();
    let dir = TempDir::new("sql");
    let root = dir.path().join("warehouse");
    let warehouse = Warehouse::open(root.to_str().unwrap(), &Default::default()).unwrap();
    let mut table = LakeTable::open(&warehouse, TableId::Batch(Table::Pin))
        .await
        .unwrap();
    let batch = pinpipe::schema::to_record_batch(Table::Pin, &pins).unwrap();
    table.append(vec![batch], &[]).await.unwrap();
    let geo_rows: Vec<CleanRow<'static>> = lines("source-rows/geo.jsonl")[..3]
        .iter()
        .map(|l| {
            pinpipe::record::clean(Table::Geo, l.as_bytes())
                .unwrap()
                .row
                .into_owned()
        })
        .collect();
    let mut geo = LakeTable::open(&warehouse, TableId::Batch(Table::Geo))
        .await
        .unwrap();
    geo.append(
        vec![pinpipe::schema::to_record_batch(Table::Geo, &geo_rows).unwrap()],
        &[],
    )
    .await
    .unwrap();

    let uri = root.to_str().unwrap().to_owned();
    let run = |format: &'static str, query: &'static str| {
        let uri = uri.clone();
        std::thread::spawn(move || {
            pinpipe_tests::pinpipe(
                &["sql", "--warehouse", &uri, "--format", format, query],
                b"",
            )
        })
        .join()
        .unwrap()
    };
    let out = run(
        "jsonl",
        "SELECT ind, follower_count, save_location FROM batch_pin WHERE ind = 2863",
    );
    assert!(out.success, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"ind\":2863,\"follower_count\":124000,\"save_location\":\"/data/diy-and-crafts\"}\n"
    );
    let out = run("jsonl", "SELECT * FROM batch_geo WHERE ind = 7528");
    let row: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        row,
        serde_json::json!({"ind": 7528, "country": "Albania", "coordinates": [-89.9787, -173.293], "timestamp": "2020-08-28T03:52:47Z"})
    );
    let out = run("csv", "SELECT count(*) AS n FROM batch_pin");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "n\n2019\n");
    let out = run("table", "SELECT count(*) AS n FROM batch_pin");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("| n    |") && text.contains("| 2019 |"),
        "{text}"
    );
    let out = run("table", "SELECT * FROM stream_pin");
    assert!(!out.success, "tables never written are absent");
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("stream_pin")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landed_raw_objects_are_immutable_and_a_longer_redelivery_lands_only_its_new_records() {
    let rows: Vec<String> = lines("source-rows/user.jsonl")
        .into_iter()
        .take(8)
        .collect();
    let records: Vec<(i64, &[u8])> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (100 + i as i64, r.as_bytes()))
        .collect();
    let topic = "12471ce1b695.user";
    for (backend, _dir, warehouse, _) in backends("landing") {
        let zone = pinpipe::lake::RawZone::new(&warehouse).unwrap();
        // a first delivery of 5 records lands, then its answer is lost
        let first = zone.land(topic, 0, &records[..5]).await.unwrap();
        assert_eq!(
            first.written,
            [pinpipe::lake::RawZone::key(topic, 0, 100)],
            "{backend}"
        );
        // the same batch again: nothing written
        let same = zone.land(topic, 0, &records[..5]).await.unwrap();
        assert_eq!(
            (same.written.len(), same.records_found),
            (0, 5),
            "{backend}"
        );
        // a longer retry from the same offset: only records 105.. land, under their own offset
        let longer = zone.land(topic, 0, &records).await.unwrap();
        assert_eq!(
            longer.written,
            [pinpipe::lake::RawZone::key(topic, 0, 105)],
            "{backend}"
        );
        assert_eq!(longer.records_found, 5);
        // a shorter retry: all of it is there already
        let shorter = zone.land(topic, 0, &records[..3]).await.unwrap();
        assert_eq!(
            (shorter.written.len(), shorter.records_found),
            (0, 3),
            "{backend}"
        );

        let objects = zone.list(topic).await.unwrap();
        let mut landed = Vec::new();
        for object in &objects {
            landed.extend_from_slice(&zone.get(&object.key).await.unwrap());
        }
        assert_eq!(
            landed,
            format!("{}\n", rows.join("\n")).into_bytes(),
            "{backend}: every record once, in offset order, objects unchanged"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_that_open_a_table_for_the_first_time_at_once_all_get_the_one_table() {
    for (backend, _dir, warehouse, _) in backends("first-open") {
        let opens = (0..6).map(|_| {
            let warehouse = warehouse.clone();
            tokio::spawn(async move { LakeTable::open(&warehouse, TableId::Quarantine).await })
        });
        for opened in futures::future::join_all(opens).await {
            let table = opened.unwrap().unwrap_or_else(|e| panic!("{backend}: {e}"));
            assert_eq!(table.version(), 0, "{backend}: one creation, seen by all");
        }
    }
}
