//! The batch path under the faults S3 and Lambda really have: generated posts produced to a Kafka
//! broker (tansu) → `pinpipe consume-kafka` (the msk-consumer handler, fed as Lambda's MSK event
//! source feeds it) → the raw zone on S3 → `pinpipe daily` → `tables/batch/*`, with every S3 call
//! going through `fault_proxy.py` (503 SlowDown, slow calls, PUTs that land but lose their answer)
//! and each process killed with SIGKILL at random points, then run again until it finishes. An
//! independent reader (delta-rs's Python package, straight to moto) then finds every distinct post
//! exactly once in each batch table: none lost, none doubled.
//!
//! `PINPIPE_FAULT_POSTS` sets the number of posts (3,000 by default; BENCHMARKS.md has a 100,000-post
//! run), `PINPIPE_FAULT_SEED` the seed of the faults and the kill points, `PINPIPE_FAULT_LOGS` a
//! folder to keep every run's log in.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pinpipe::Table;
use pinpipe_tests::kinesis::unique_prefix;
use pinpipe_tests::{Moto, PythonProxy, Tansu, TempDir};
use serde_json::Value;

/// Runs killed at a random point before one is let finish.
const KILLS: u32 = 3;
/// No run may take longer than this (a hung process fails the test instead of hanging it).
const RUN_LIMIT: Duration = Duration::from_secs(240);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*) for the kill points: the seed reproduces a run.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `pinpipe args` until a run exits successfully: the first `KILLS` runs are killed with
/// SIGKILL at a random point (0.2–`within` s in) unless they finish first. Returns how many were
/// killed.
fn run_until_done(
    args: &[String],
    env: &[(&str, String)],
    draw: &mut Draw,
    within: f64,
    logs: &Path,
) -> u32 {
    let mut killed = 0;
    for attempt in 0.. {
        let log = logs.join(format!("{}-{attempt}.log", args[0]));
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("pinpipe");
        let kill_at =
            (attempt < KILLS).then(|| Duration::from_secs_f64(0.2 + draw.next() * within));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            let elapsed = started.elapsed();
            if kill_at.is_some_and(|at| elapsed >= at) {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
                break None;
            }
            assert!(
                elapsed < RUN_LIMIT,
                "pinpipe {args:?} ran over {RUN_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        match status {
            Some(s) if s.success() => return killed,
            Some(s) => assert!(attempt < KILLS + 3, "pinpipe {args:?} keeps failing: {s}"),
            None => {}
        }
    }
    unreachable!()
}

/// The ids of a generated source file, in order (line i was produced to partition i % 3).
fn source_inds(dir: &Path, table: Table) -> Vec<i64> {
    let text = std::fs::read_to_string(dir.join(format!("{table}.jsonl"))).unwrap();
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            v.get("index")
                .or_else(|| v.get("ind"))
                .unwrap()
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// Where the first few of `inds` were produced: (ind, partition, offset) of their first sending.
fn whereabouts(produced: &[i64], inds: &BTreeSet<i64>) -> Vec<(i64, usize, usize)> {
    inds.iter()
        .take(10)
        .map(|ind| {
            let line = produced.iter().position(|i| i == ind).unwrap_or(usize::MAX);
            (*ind, line % 3, line / 3)
        })
        .collect()
}

/// Each row's `ind` as delta-rs's Python package reads the table (not our code).
fn table_inds(uri: &str, endpoint: &str) -> Vec<i64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("read_delta.py");
    let output = Command::new("python3")
        .arg(script)
        .args([uri, endpoint])
        .output()
        .expect("python3 with deltalake");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["ind"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_s3_faults_and_kill_9_every_generated_post_is_one_batch_row() {
    let posts = env_or("PINPIPE_FAULT_POSTS", 3_000);
    let seed = env_or("PINPIPE_FAULT_SEED", 20_261_203);
    let (tansu, moto) = (Tansu::get(), Moto::get());
    let dir = TempDir::new("faults");
    let source = dir.path().join("source");
    let generated = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .args(["generate", "--posts", &posts.to_string(), "--out"])
        .arg(&source)
        .output()
        .unwrap();
    assert!(generated.status.success());

    let prefix = unique_prefix("faults");
    let mut topics = Vec::new();
    for table in Table::ALL {
        let topic = format!("{prefix}.{table}");
        tansu.create_topic(&topic, 3);
        let text = std::fs::read(source.join(format!("{table}.jsonl"))).unwrap();
        let payloads: Vec<Vec<u8>> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        // one record per batch: the landing resumes wherever a kill left its offsets, and tansu
        // skips the rest of a batch a fetch starts inside (real Kafka does not)
        tansu.produce_one_per_batch(&topic, 3, &payloads).await;
        topics.push(topic);
    }

    // stopped (and its counts printed) when dropped
    let proxy = PythonProxy::start("fault_proxy.py", &[moto.endpoint(), &seed.to_string()]);
    let uri = format!("s3://{}/lake", moto.bucket("faults"));
    let env: Vec<(&str, String)> = moto
        .env()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_ENDPOINT_URL" => (k, proxy.endpoint().to_owned()),
            _ => (k, v),
        })
        .collect();
    let mut draw = Draw(seed | 1);

    let land: Vec<String> = [
        "consume-kafka",
        "--warehouse",
        &uri,
        "--brokers",
        tansu.brokers(),
        "--topics",
        &topics.join(","),
        "--group",
        &format!("{prefix}-msk"),
        "--batch-size",
        "500",
        "--batching-window",
        "0.2",
        "--until-idle",
        "3",
    ]
    .map(str::to_owned)
    .into();
    let logs = std::env::var("PINPIPE_FAULT_LOGS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("logs"));
    std::fs::create_dir_all(&logs).unwrap();
    let landing_kills = run_until_done(&land, &env, &mut draw, 4.0, &logs);
    let daily: Vec<String> = ["daily", "--warehouse", &uri, "--chunk-mb", "1"]
        .map(str::to_owned)
        .into();
    let daily_kills = run_until_done(&daily, &env, &mut draw, 6.0, &logs);
    drop(proxy);

    let mut found = HashMap::new();
    for table in Table::ALL {
        let produced = source_inds(&source, table);
        let expected: BTreeSet<i64> = produced.iter().copied().collect();
        let inds = table_inds(&format!("{uri}/tables/batch/{table}"), moto.endpoint());
        let distinct: BTreeSet<i64> = inds.iter().copied().collect();
        let kills = format!("kills: landing {landing_kills}, daily {daily_kills}");
        assert_eq!(
            inds.len(),
            distinct.len(),
            "{table}: no post twice ({kills})"
        );
        let missing: BTreeSet<i64> = expected.difference(&distinct).copied().collect();
        let extra: BTreeSet<i64> = distinct.difference(&expected).copied().collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{table}: {} posts missing, {} unknown ({kills}); missing (ind, partition, offset): {:?}",
            missing.len(),
            extra.len(),
            whereabouts(&produced, &missing)
        );
        found.insert(table, inds.len());
    }
    eprintln!(
        "faults: {posts} posts, seed {seed}, landing killed {landing_kills}×, daily killed {daily_kills}×, rows {found:?}"
    );
}
