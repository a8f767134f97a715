//! The lake's costs, one scenario per process run (so peak RSS is the scenario's own):
//!
//!     cargo bench -p pinpipe --features lake --bench lake -- append   local|s3 [--appends N]
//!     cargo bench -p pinpipe --features lake --bench lake -- versions with|without [--versions N]
//!     cargo bench -p pinpipe --features lake --bench lake -- reposts  ROWS
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
    Checkpoint, IndIndex, LakeTable, Position, SourceKey, TableId, Warehouse, maintenance,
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
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
        allow_http: true,
    };
    (Warehouse::open("s3://bench/lake", &aws).unwrap(), child)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
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
