//! The lake's costs, one scenario per process run (so peak RSS is the scenario's own):
//!
//!     cargo bench -p pinpipe --features lake --bench lake -- append   local|s3 [--appends N]
//!     cargo bench -p pinpipe --features lake --bench lake -- versions with|without [--versions N]
//!     cargo bench -p pinpipe --features lake --bench lake -- reposts  ROWS
//!     cargo bench -p pinpipe --features lake --bench lake -- cold-index local|s3 [--files N] [--rows R]
//!     cargo bench -p pinpipe --features lake --bench lake -- ind-memory roaring|hash [--inds N] [--sparse 0|1|2]
//!
//! `s3` starts a moto server on a free port of 127.0.0.1 (needs `moto[server]` and `boto3`).
//! Each run prints one markdown table row for BENCHMARKS.md.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use pinpipe::Table;
use pinpipe::cleaner::{Outcome, TableCleaner};
use pinpipe::config::AwsConfig;
use pinpipe::lake::{
    Checkpoint, Commit, IndIndex, LakeTable, Position, RowWriter, SourceKey, TableId, Warehouse,
    maintenance,
};
use pinpipe::record::CleanRow;
use pinpipe::source::Synthetic;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let scenario = args.first().map(String::as_str).unwrap_or("append");
    let what = args.get(1).cloned().unwrap_or_default();
    runtime.block_on(async {
        match scenario {
            "append" => append(&what, flag("--appends", 20)).await,
            "versions" => versions(what == "with", flag("--versions", 10_000)).await,
            "reposts" => reposts(what.parse().expect("ROWS")).await,
            "cold-index" => cold_index(&what, flag("--files", 5_000), flag("--rows", 100)).await,
            "ind-memory" => ind_memory(&what, flag("--inds", 10_000_000), flag("--sparse", 0)),
            other => panic!("unknown scenario {other}"),
        }
    });
}

/// Generated clean pin rows with inds from `first`.
fn pins(first: i64, n: usize) -> Vec<CleanRow<'static>> {
    let mut cleaner = TableCleaner::new(Table::Pin);
    let mut line = Vec::new();
    let mut rows = Vec::with_capacity(n);
    for (i, mut post) in Synthetic::new(1).take(n).enumerate() {
        post.pin.index = first + i as i64;
        line.clear();
        post.write_line(Table::Pin, &mut line);
        if let Outcome::Clean(c) = cleaner.push(&line[..line.len() - 1]) {
            rows.push(c.row.into_owned());
        }
    }
    rows
}

fn batch(rows: &[CleanRow<'_>]) -> RecordBatch {
    pinpipe::schema::to_record_batch(Table::Pin, rows).unwrap()
}

fn at(offset: i64) -> Checkpoint {
    Checkpoint {
        source: SourceKey::Kafka {
            topic: "bench.pin".into(),
            partition: 0,
        },
        position: Position::Offset(offset),
    }
}

fn local_warehouse(label: &str) -> (Warehouse, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("pinpipe-bench-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (
        Warehouse::open(dir.to_str().unwrap(), &AwsConfig::default()).unwrap(),
        dir,
    )
}

/// Starts moto through the tests' harness and makes a bucket; the harness stops with this process.
fn moto_warehouse() -> (Warehouse, std::process::Child) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/moto_harness.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    writeln!(child.stdin.as_mut().unwrap(), "bucket bench").unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let aws = AwsConfig {
        region: Some("us-east-1".into()),
        endpoint_url: Some(format!("http://127.0.0.1:{port}")),
        kinesis_endpoint_url: None,
        secretsmanager_endpoint_url: None,
        athena_endpoint_url: None,
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
        allow_http: true,
    };
    (Warehouse::open("s3://bench/lake", &aws).unwrap(), child)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// A memory figure of this process from `/proc/self/status`, in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Appending 10,000 clean pin rows, `appends` times, to one table: latency per append.
async fn append(backend: &str, appends: usize) {
    let (warehouse, _keep) = match backend {
        "s3" => {
            let (w, child) = moto_warehouse();
            (w, Some(child))
        }
        _ => (local_warehouse("append").0, None),
    };
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    let mut samples = Vec::new();
    for i in 0..appends {
        let rows = pins(i as i64 * 10_000, 10_000);
        let b = batch(&rows);
        let t = Instant::now();
        table.append(vec![b], &[at(i as i64)]).await.unwrap();
        samples.push(t.elapsed());
    }
    println!(
        "| append 10,000 pin rows ({backend}), {appends} appends | {} | {} | {:.0} MB |",
        ms(percentile(samples.clone(), 0.5)),
        ms(percentile(samples, 0.9)),
        peak_rss_mb()
    );
}

/// A table with `n` versions, with or without checkpoints: then the latency of an append through a
/// warm handle, and of opening the table cold and reading a source position.
///
/// The versions are made quickly rather than through `n` appends (which would spend most of their
/// time listing an ever longer log): after one real append, each further version is a copy of that
/// commit's data file and a commit file adding it — what an append writes — and, with
/// checkpoints, a checkpoint every 100 versions written by delta-rs, as a writer would.
async fn versions(checkpoints: bool, n: usize) {
    let (warehouse, dir) = local_warehouse(if checkpoints { "with" } else { "without" });
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    if !checkpoints {
        maintenance::set_checkpoint_interval(&mut table, 1_000_000_000)
            .await
            .unwrap();
    }
    let row = pins(0, 1);
    let b = batch(&row);
    table.append(vec![b.clone()], &[]).await.unwrap();
    let root = dir.join("tables/stream/pin");
    let log = root.join("_delta_log");
    let template_version = table.version();
    let template =
        std::fs::read_to_string(log.join(format!("{template_version:020}.json"))).unwrap();
    let add: serde_json::Value = template
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v.get("add").is_some())
        .unwrap();
    let data_path = add["add"]["path"].as_str().unwrap().to_owned();
    let built = Instant::now();
    for version in template_version + 1..=n as u64 {
        let path = format!("bench-{version}.parquet");
        std::fs::copy(root.join(&data_path), root.join(&path)).unwrap();
        let mut action = add.clone();
        action["add"]["path"] = serde_json::Value::from(path);
        std::fs::write(
            log.join(format!("{version:020}.json")),
            format!("{action}\n"),
        )
        .unwrap();
        if checkpoints && version % 100 == 0 {
            table.refresh().await.unwrap();
            maintenance::checkpoint(&table).await.unwrap();
        }
    }
    table.refresh().await.unwrap();
    assert_eq!(table.version(), n as u64);
    let build = built.elapsed();
    let (mut warm, mut cold, mut fresh_append) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..20 {
        let t = Instant::now();
        table.append(vec![b.clone()], &[at(i)]).await.unwrap();
        warm.push(t.elapsed());
        let t = Instant::now();
        let mut fresh = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
            .await
            .unwrap();
        fresh.committed(&at(0).source).await.unwrap();
        cold.push(t.elapsed());
        let t = Instant::now();
        fresh.append(vec![b.clone()], &[at(100 + i)]).await.unwrap();
        fresh_append.push(t.elapsed());
    }
    println!(
        "| {n} versions, {} checkpoints (local) | {} | {} | {} | {:.0} MB | built in {:.0} s |",
        if checkpoints { "with" } else { "without" },
        ms(percentile(warm, 0.5)),
        ms(percentile(cold, 0.5)),
        ms(percentile(fresh_append, 0.5)),
        peak_rss_mb(),
        build.as_secs_f64(),
    );
}

/// The re-post check with `existing` rows in the table: a warm index (one new commit by another
/// writer, then 500 incoming rows probed) against a cold one (reads every file).
async fn reposts(existing: usize) {
    let (warehouse, _) = local_warehouse("reposts");
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    let chunk = 10_000.min(existing);
    let mut ind = 0;
    while (ind as usize) < existing {
        table
            .append(vec![batch(&pins(ind, chunk))], &[])
            .await
            .unwrap();
        ind += chunk as i64;
    }
    let t = Instant::now();
    let mut index = IndIndex::new();
    index.catch_up(&table).await.unwrap();
    let cold = t.elapsed();
    let mut warm = Vec::new();
    let mut other = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .unwrap();
    for i in 0..20 {
        other
            .append(vec![batch(&pins(ind, 500))], &[])
            .await
            .unwrap();
        ind += 500;
        // 500 incoming rows: half re-posts, half new
        let incoming = pins(ind - 250 + i, 500);
        let t = Instant::now();
        table.refresh().await.unwrap();
        index.catch_up(&table).await.unwrap();
        let (new, _) = index.without_reposts(incoming);
        warm.push(t.elapsed());
        assert!(!new.is_empty());
    }
    println!(
        "| {existing} existing rows | warm check p50 {} | cold index build {} | {:.0} MB |",
        ms(percentile(warm, 0.5)),
        ms(cold),
        peak_rss_mb()
    );
}

/// A stream table of `files` data files of `rows` rows each (one commit per file, a checkpoint every
/// 100 commits, as the consumers leave it through a day without compaction), then what a fresh
/// consumer's first batch costs: opening the table, building the re-post index cold, appending
/// `rows` rows. Measured three ways: reading the files one after another with no snapshot (the
/// index before issue 20), reading them 64 at a time with no snapshot yet (that first batch writes
/// one), and after 200 more files, from that snapshot.
async fn cold_index(backend: &str, files: usize, rows: usize) {
    let (warehouse, _keep) = match backend {
        "s3" => {
            let (w, child) = moto_warehouse();
            (w, Some(child))
        }
        _ => (local_warehouse("cold-index").0, None),
    };
    let id = TableId::Stream(Table::Pin);
    let mut table = LakeTable::open(&warehouse, id).await.unwrap();
    let built = Instant::now();
    grow(&warehouse, &mut table, files, rows).await;
    let build = built.elapsed();

    // before: one file after another, no snapshot
    let t = Instant::now();
    let mut fresh = LakeTable::open(&warehouse, id).await.unwrap();
    let mut index = IndIndex::new().concurrency(1).snapshot_after(u64::MAX);
    let cost = index.catch_up(&fresh).await.unwrap();
    let first = pins(900_000_000, rows);
    let (new, _) = index.without_reposts(first);
    fresh.append(vec![batch(&new)], &[]).await.unwrap();
    let sequential = t.elapsed();
    assert_eq!(cost.files as usize, files);

    // now: the consumer's own writer, no snapshot yet; peak memory from here on is a consumer's
    let built_peak = peak_rss_mb();
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = 1_000_000_000;
    let parallel = first_batch(&warehouse, id, base, rows).await;
    let snapshots = pinpipe::lake::ind_index::snapshot::versions(&table.delta().object_store())
        .await
        .unwrap();
    assert_eq!(snapshots.len(), usize::from(files >= 256), "{snapshots:?}");

    // the day goes on: 200 more files, then another cold start
    table.refresh().await.unwrap();
    grow(&warehouse, &mut table, 200, rows).await;
    let from_snapshot = first_batch(&warehouse, id, base + 1_000_000, rows).await;

    let t = Instant::now();
    let fresh = LakeTable::open(&warehouse, id).await.unwrap();
    let mut index = IndIndex::new();
    let cost = index.catch_up(&fresh).await.unwrap();
    let rebuilt = t.elapsed();
    println!(
        "| {files} files × {rows} rows ({backend}) | {} | {} | {} | {} files after snapshot v{:?}: {} | {:.2} B/ind | {:.0} MB | built in {:.0} s, {:.0} MB |",
        ms(sequential),
        ms(parallel),
        ms(from_snapshot),
        cost.files,
        cost.from_snapshot,
        ms(rebuilt),
        index.size_bytes() as f64 / index.len() as f64,
        peak_rss_mb(),
        build.as_secs_f64(),
        built_peak
    );
}

/// A fresh consumer's first batch: its writer opened, `rows` new rows from `first` written.
async fn first_batch(warehouse: &Warehouse, id: TableId, first: i64, rows: usize) -> Duration {
    let t = Instant::now();
    let mut writer = RowWriter::open(warehouse, id).await.unwrap();
    let written = writer
        .write(pins(first, rows), &Commit::Position(at(first)))
        .await
        .unwrap();
    assert!(written.rows > 0);
    t.elapsed()
}

/// Adds `files` commits of one `rows`-row data file each (new `ind`s, as a shard batch brings), as
/// fast as the store takes them: data files and commit files written 32 at a time, a checkpoint
/// written by delta-rs every 100 versions, as a writer would.
async fn grow(warehouse: &Warehouse, table: &mut LakeTable, files: usize, rows: usize) {
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    let store = warehouse.object_store(&table.id().path()).unwrap();
    let mut next = table.version() as usize + 1;
    let mut left = files;
    while left > 0 {
        // up to the next multiple of 100: then a checkpoint
        let block = left.min((100 - next % 100) % 100 + 1);
        let writes: Vec<(usize, i64)> = (0..block)
            .map(|i| (next + i, ((next + i) * rows) as i64))
            .collect();
        futures::stream::iter(writes)
            .map(|(v, first)| {
                let store = store.clone();
                async move {
                    let data = parquet_bytes(&batch(&pins(first, rows)));
                    let path = format!("bench-{v}.parquet");
                    let size = data.len();
                    store
                        .put(&object_store::path::Path::from(path.as_str()), data.into())
                        .await
                        .unwrap();
                    let add = serde_json::json!({"add": {
                        "path": path, "partitionValues": {}, "size": size,
                        "modificationTime": 1_700_000_000_000i64, "dataChange": true,
                    }});
                    let commit = serde_json::json!({"commitInfo": {"operation": "WRITE"}});
                    store
                        .put(
                            &object_store::path::Path::from(format!("_delta_log/{v:020}.json")),
                            format!("{commit}\n{add}\n").into_bytes().into(),
                        )
                        .await
                        .unwrap();
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<()>>()
            .await;
        next += block;
        left -= block;
        table.refresh().await.unwrap();
        if (next - 1).is_multiple_of(100) {
            maintenance::checkpoint(table).await.unwrap();
        }
    }
}

fn parquet_bytes(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer =
        deltalake::parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

/// The memory of a set of `n` `ind`s — dense (consecutive ids, as a source database's keys are),
/// `sparse` 1: random ids of a 32-bit key (the source's `INT` primary key), 2: random 64-bit ids —
/// held as the re-post index holds them (`roaring`) or in a hash set: the process's resident memory
/// grown while the set was built, measured before it is dropped.
fn ind_memory(kind: &str, n: usize, sparse: usize) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut ind = |i: usize| match sparse {
        1 => i64::from(rng.random_range(0..i32::MAX)),
        2 => rng.random::<i64>(),
        _ => i as i64,
    };
    let before = rss_mb();
    let t = Instant::now();
    let (len, grown) = match kind {
        "hash" => {
            let mut set = foldhash::HashSet::default();
            for i in 0..n {
                set.insert(ind(i));
            }
            (set.len() as u64, rss_mb() - before)
        }
        _ => {
            // as the re-post index holds them
            let mut set = roaring::RoaringTreemap::new();
            let mut i = 0;
            while i < n {
                let mut chunk: Vec<u64> = (i..(i + 100_000).min(n))
                    .map(|i| (ind(i) as u64) ^ (1 << 63))
                    .collect();
                chunk.sort_unstable();
                set.extend(chunk);
                i += 100_000;
            }
            (set.len(), rss_mb() - before)
        }
    };
    println!(
        "| {kind} | {n} {} inds | {:.2} bytes per ind | {:.0} MB | built in {:.2} s |",
        ["dense", "sparse 32-bit", "sparse 64-bit"][sparse.min(2)],
        grown * 1024.0 * 1024.0 / len as f64,
        grown,
        t.elapsed().as_secs_f64()
    );
}
