//! The stream path's costs, one scenario per process run (so peak RSS is the scenario's own):
//!
//!     cargo bench -p pinpipe-tests --bench stream -- event   local|s3 [--iterations N] [--records N]
//!     cargo bench -p pinpipe-tests --bench stream -- runner  local|s3 [--posts N] [--batch-size N]
//!     cargo bench -p pinpipe-tests --bench stream -- latency local|s3 [--rate R] [--seconds S]
//!     cargo bench -p pinpipe-tests --bench stream -- freshness local|s3 [--posts N] [--rate R]
//!         [--window-ms W] [--batch-size N]
//!
//! Kinesis is moto on a free port of 127.0.0.1 (started by the harness, as in the tests); `s3` puts
//! the lake on the same moto server. Each run prints one markdown table row for BENCHMARKS.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pinpipe::Table;
use pinpipe::config::{AwsConfig, StreamConsumerConfig};
use pinpipe::routes::StreamRoutes;
use pinpipe::source::{Post, Synthetic};
use pinpipe_local::kinesis::{EventRecord, Invoke, Runner, RunnerOptions, kinesis_event};
use pinpipe_tests::kinesis::{InProcess, client, create_stream, put_all, unique_prefix};
use pinpipe_tests::{Moto, TempDir};
use serde_json::Value;

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
    let scenario = args
        .first()
        .map(String::as_str)
        .unwrap_or("event")
        .to_owned();
    let backend = args.get(1).cloned().unwrap_or_else(|| "local".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = TempDir::new("bench-stream");
        let (uri, aws) = match backend.as_str() {
            "local" => (
                dir.path().join("wh").display().to_string(),
                AwsConfig::default(),
            ),
            "s3" => {
                let moto = Moto::get();
                (format!("s3://{}/lake", moto.bucket("bench")), moto.aws())
            }
            other => panic!("unknown backend {other}"),
        };
        match scenario.as_str() {
            "event" => {
                event(
                    &backend,
                    &uri,
                    &aws,
                    flag("--iterations", 10),
                    flag("--records", 10_000),
                )
                .await
            }
            "runner" => {
                runner(
                    &backend,
                    &uri,
                    &aws,
                    flag("--posts", 20_000),
                    flag("--batch-size", 500),
                )
                .await
            }
            "latency" => {
                latency(
                    &backend,
                    &uri,
                    &aws,
                    flag("--rate", 200),
                    flag("--seconds", 30),
                )
                .await
            }
            "freshness" => {
                freshness(
                    &backend,
                    &uri,
                    &aws,
                    Freshness {
                        posts: flag("--posts", 10_000),
                        rate: flag("--rate", 100),
                        window: Duration::from_millis(flag("--window-ms", 1_000) as u64),
                        batch_size: flag("--batch-size", 500),
                    },
                )
                .await
            }
            other => panic!("unknown scenario {other}"),
        }
    });
}

fn state(uri: &str, aws: &AwsConfig) -> kinesis_consumer::State {
    let config = StreamConsumerConfig {
        warehouse: uri.to_owned(),
        routes: StreamRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        aws: aws.clone(),
    };
    kinesis_consumer::State::new(&config).unwrap()
}

/// Generated posts with distinct inds from `first` (the generator's re-sends renumbered).
fn posts(first: i64, n: usize, seed: u64) -> Vec<Post> {
    Synthetic::new(seed)
        .take(n)
        .enumerate()
        .map(|(i, mut post)| {
            let ind = first + i as i64;
            post.pin.index = ind;
            post.geo.ind = ind;
            post.user.ind = ind;
            post
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One 10,000-record pin event → committed, handled `iterations` times with new records (a warm
/// function; the first invocation is also the cold one).
async fn event(backend: &str, uri: &str, aws: &AwsConfig, iterations: usize, records: usize) {
    let state = state(uri, aws);
    let mut times = Vec::new();
    let mut first = 0.0;
    for it in 0..iterations {
        let batch: Vec<EventRecord> = posts((it * records) as i64, records, it as u64)
            .iter()
            .enumerate()
            .map(|(i, p)| EventRecord {
                partition_key: i.to_string(),
                sequence_number: (1_000_000_000 + it * records + i).to_string(),
                data: p.emulator_payload(Table::Pin),
                approximate_arrival: 0.0,
            })
            .collect();
        let event = kinesis_event(
            "arn:aws:kinesis:us-east-1:123456789012:stream/streaming-bench-pin",
            "us-east-1",
            "shardId-000000000000",
            &batch,
        );
        let started = Instant::now();
        let answer =
            pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&state, e), event)
                .await
                .unwrap();
        let ms = started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
        if it == 0 {
            first = ms;
        } else {
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "| 10,000-record pin event → committed, {backend} | {records} records × {iterations} | first (cold) {first:.0} ms | warm p50 {:.0} ms, max {:.0} ms | peak RSS {:.0} MB |",
        percentile(&times, 0.5),
        times.last().copied().unwrap_or(f64::NAN),
        peak_rss_mb()
    );
}

/// Posts already in three streams (one shard each), consumed by the runner through the handler.
async fn runner(backend: &str, uri: &str, aws: &AwsConfig, n: usize, batch_size: usize) {
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let prefix = unique_prefix("bench");
    let all = posts(0, n, 7);
    let mut streams = Vec::new();
    for table in Table::ALL {
        let stream = format!("streaming-{prefix}-{table}");
        create_stream(&kinesis, &stream, 1).await;
        let payloads: Vec<Vec<u8>> = all.iter().map(|p| p.emulator_payload(table)).collect();
        put_all(&kinesis, &stream, &payloads).await;
        streams.push(stream);
    }
    let options = RunnerOptions {
        streams,
        batch_size,
        until_caught_up: true,
        ..RunnerOptions::default()
    };
    let runner = Runner::new(kinesis, InProcess(state(uri, aws)), options);
    let summary = runner.run().await.unwrap();
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "| runner end to end, {backend} | {} records (3 streams × {n}), batch size {batch_size} | {secs:.1} s | {:.0} records/s | peak RSS {:.0} MB |",
        summary.records(),
        summary.records() as f64 / secs,
        peak_rss_mb()
    );
}

/// Marks when each sequence number's batch was acknowledged (its rows committed, so queryable).
struct Timed {
    inner: InProcess,
    acked: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Invoke for Timed {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let answer = self.inner.invoke(event.clone()).await?;
        let now = Instant::now();
        let mut acked = self.acked.lock().unwrap();
        for record in event["Records"].as_array().into_iter().flatten() {
            if let Some(seq) = record["kinesis"]["sequenceNumber"].as_str() {
                acked.insert(seq.to_owned(), now);
            }
        }
        Ok(answer)
    }
}

/// A steady producer (PutRecord at `rate` posts/s to the pin stream) while the runner consumes:
/// post → committed (queryable) latency per record.
async fn latency(backend: &str, uri: &str, aws: &AwsConfig, rate: usize, seconds: usize) {
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let stream = format!("streaming-{}-pin", unique_prefix("latency"));
    create_stream(&kinesis, &stream, 1).await;
    let options = RunnerOptions {
        streams: vec![stream.clone()],
        batch_size: 100,
        batching_window: Duration::ZERO,
        poll_interval: Duration::from_millis(250),
        ..RunnerOptions::default()
    };
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let timed = Timed {
        inner: InProcess(state(uri, aws)),
        acked: acked.clone(),
    };
    let runner = Runner::new(kinesis.clone(), timed, options);
    let total = rate * seconds;
    let measure = async {
        let mut put_at = HashMap::new();
        put_steadily(
            &kinesis,
            &stream,
            &posts(0, total, 9),
            rate,
            |_, seq, at| {
                put_at.insert(seq, at);
            },
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            {
                let acked = acked.lock().unwrap();
                if put_at.keys().all(|k| acked.contains_key(k)) {
                    let mut ms: Vec<f64> = put_at
                        .iter()
                        .map(|(seq, at)| acked[seq].duration_since(*at).as_secs_f64() * 1e3)
                        .collect();
                    ms.sort_by(f64::total_cmp);
                    break ms;
                }
            }
            assert!(
                Instant::now() < deadline,
                "every record acknowledged within 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let ms = tokio::select! {
        ms = measure => ms,
        result = runner.run() => panic!("the runner stopped: {result:?}"),
    };
    println!(
        "| post → queryable, {backend} | {total} posts at {rate}/s, batch size 100, window 0, poll 250 ms | p50 {:.0} ms | p95 {:.0} ms | max {:.0} ms |",
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

/// Puts `posts` (their pin records) at a steady `rate`/s, one PutRecord and partition key each;
/// tells `on_put` each post, its sequence number and when its call started. Returns how long it took.
async fn put_steadily(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    posts: &[Post],
    rate: usize,
    mut on_put: impl FnMut(&Post, String, Instant),
) -> Duration {
    use aws_sdk_kinesis::primitives::Blob;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    for (i, post) in posts.iter().enumerate() {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let at = Instant::now();
        let answer = kinesis
            .put_record()
            .stream_name(stream)
            .partition_key(i.to_string())
            .data(Blob::new(post.emulator_payload(Table::Pin)))
            .send()
            .await
            .unwrap();
        on_put(post, answer.sequence_number().to_owned(), at);
    }
    started.elapsed()
}

struct Freshness {
    posts: usize,
    rate: usize,
    window: Duration,
    batch_size: usize,
}

/// Post → queryable as a reader sees it: a steady producer puts `posts` pin posts at `rate`/s
/// (PutRecord, one partition key each, to a 2-shard stream) while the runner consumes with the
/// template's batch size and a batching window; a separate reader refreshes its own handle of the
/// stream table every 50 ms and reads the `ind`s of each new commit (`IndIndex`, what any query
/// would see). Freshness per post = first seen by the reader − the PutRecord call's start.
async fn freshness(backend: &str, uri: &str, aws: &AwsConfig, f: Freshness) {
    use pinpipe::lake::{IndIndex, LakeTable, TableId, Warehouse};
    let moto = Moto::get();
    let kinesis = client(moto).await;
    let stream = format!("streaming-{}-pin", unique_prefix("fresh"));
    create_stream(&kinesis, &stream, 2).await;
    let options = RunnerOptions {
        streams: vec![stream.clone()],
        batch_size: f.batch_size,
        batching_window: f.window,
        poll_interval: Duration::from_millis(250),
        ..RunnerOptions::default()
    };
    let runner = Runner::new(kinesis.clone(), InProcess(state(uri, aws)), options);
    let warehouse = Warehouse::open(uri, aws).unwrap();
    let sent = posts(0, f.posts, 13);
    let put_at: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let produce = {
        let put_at = put_at.clone();
        async move {
            put_steadily(&kinesis, &stream, &sent, f.rate, |post, _, at| {
                put_at.lock().unwrap().insert(post.ind(), at);
            })
            .await
        }
    };
    let read = async {
        let mut seen: HashMap<i64, Instant> = HashMap::new();
        let mut index = IndIndex::new();
        let mut table: Option<LakeTable> = None;
        let deadline = Instant::now() + Duration::from_secs(f.posts as u64 / f.rate as u64 + 120);
        while seen.len() < f.posts {
            assert!(Instant::now() < deadline, "every post queryable in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
            let lake = match &mut table {
                Some(t) => t,
                None => match LakeTable::open_existing(&warehouse, TableId::Stream(Table::Pin))
                    .await
                    .unwrap()
                {
                    Some(t) => table.insert(t),
                    None => continue,
                },
            };
            lake.refresh().await.unwrap();
            index.catch_up(lake).await.unwrap();
            let now = Instant::now();
            for ind in 0..f.posts as i64 {
                if !seen.contains_key(&ind) && index.contains(ind) {
                    seen.insert(ind, now);
                }
            }
        }
        seen
    };
    let (produced, seen) = tokio::select! {
        both = async { tokio::join!(produce, read) } => both,
        result = runner.run() => panic!("the runner stopped: {result:?}"),
    };
    let put_at = put_at.lock().unwrap();
    let mut ms: Vec<f64> = seen
        .iter()
        .map(|(ind, at)| at.duration_since(put_at[ind]).as_secs_f64() * 1e3)
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "| post → queryable, {backend} | {} posts at {}/s ({:.1} s), 2 shards, batch size {}, window {} ms, poll 250 ms, reader every 50 ms | p50 {:.0} ms | p95 {:.0} ms | max {:.0} ms |",
        f.posts,
        f.rate,
        produced.as_secs_f64(),
        f.batch_size,
        f.window.as_millis(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}
