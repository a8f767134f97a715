//! Helpers for pinpipe's integration tests: where the team's fixtures are, running `pinpipe`, and a
//! real S3-compatible server (moto) on 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use pinpipe::config::AwsConfig;

pub mod cfn;
pub mod fuzz;

/// `../shared/` beside the repository (the team kit: spec, real rows); `PINPIPE_SHARED_DIR` overrides.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("PINPIPE_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

/// A file under `../shared/data/`, checked to exist so a missing kit fails loudly.
pub fn data_file(relative: &str) -> PathBuf {
    let path = shared_dir().join("data").join(relative);
    assert!(
        path.is_file(),
        "fixture {} is missing: the team kit must sit beside the repository as ../shared \
         (or set PINPIPE_SHARED_DIR)",
        path.display()
    );
    path
}

/// Lines of a JSON-lines fixture.
pub fn lines(relative: &str) -> Vec<String> {
    std::fs::read_to_string(data_file(relative))
        .expect("fixture is UTF-8 text")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The real rows of `table` as the original emulator posts them (`index` keys, `isoformat()`
/// datetimes, `json.dumps` separators and escapes).
pub fn emulator_payloads(table: pinpipe::Table) -> Vec<Vec<u8>> {
    lines(&format!("source-rows/{table}.jsonl"))
        .iter()
        .map(|l| pinpipe::source::emulator_payload(table, l.as_bytes()).expect("a real row"))
        .collect()
}

/// What one `pinpipe` run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `pinpipe ARGS` exactly as the binary does (same entry point), with `stdin` as input.
pub fn pinpipe(args: &[&str], stdin: &[u8]) -> Run {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = pinpipe_cli::main_with(
        std::iter::once("pinpipe").chain(args.iter().copied()),
        pinpipe_cli::Stdio {
            stdin: &mut &stdin[..],
            stdout: &mut stdout,
            stderr: &mut stderr,
        },
    );
    Run {
        success: code == std::process::ExitCode::SUCCESS,
        stdout,
        stderr,
    }
}

/// A fresh empty directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pinpipe-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A moto S3 server for this test process, started on first use on a free port of 127.0.0.1 and
/// stopped when the process ends (its harness watches our pipe). Each test takes its own bucket.
pub struct Moto {
    endpoint: String,
    harness: Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>,
}

impl Moto {
    pub fn get() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_harness.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with moto[server] and boto3 (installed by .ci/run)");
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("harness answers");
        assert_eq!(line.trim(), "ready", "moto harness: {line}");
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            harness: Mutex::new((child, stdin, stdout)),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A new, empty bucket.
    pub fn bucket(&self, label: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut guard = self.harness.lock().unwrap_or_else(|e| e.into_inner());
        let (_, stdin, stdout) = &mut *guard;
        writeln!(stdin, "bucket {name}").expect("harness alive");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("harness answers");
        assert_eq!(line.trim(), format!("ok {name}"), "creating bucket {name}");
        name
    }

    /// A Secrets Manager secret holding `value`; returns its ARN.
    pub fn secret(&self, name: &str, value: &str) -> String {
        let mut guard = self.harness.lock().unwrap_or_else(|e| e.into_inner());
        let (_, stdin, stdout) = &mut *guard;
        writeln!(stdin, "secret {name} {value}").expect("harness alive");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("harness answers");
        line.trim()
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("creating secret {name}: {line}"))
            .to_owned()
    }

    /// The AWS settings that point at this server.
    pub fn aws(&self) -> AwsConfig {
        AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.endpoint.clone()),
            kinesis_endpoint_url: Some(self.endpoint.clone()),
            secretsmanager_endpoint_url: Some(self.endpoint.clone()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            session_token: None,
            allow_http: true,
        }
    }

    /// The same settings as environment variables, for child processes.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

/// A program run in the background for as long as this value lives (or the test process): a shell
/// keeps it only while our pipe to it is open.
pub struct Background(Child, Option<ChildStdin>);

impl Background {
    /// Starts `program args…` with its output discarded.
    pub fn start(program: &std::path::Path, args: &[String]) -> Background {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("\"$@\" >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid")
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = child.stdin.take();
        Background(child, stdin)
    }

    /// Waits until `address` accepts connections.
    pub fn wait_for(address: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing listened on {address} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.1.take());
        let _ = self.0.wait();
    }
}

/// A free port of 127.0.0.1.
/// `template.yaml` as JSON, parsed by cfn-lint's decoder (CloudFormation's short tags included).
pub fn template_json() -> serde_json::Value {
    static TEMPLATE: OnceLock<serde_json::Value> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
            let output = Command::new("python3")
                .args([
                    "-c",
                    "import json, sys; from cfnlint.decode import decode; t, m = decode(sys.argv[1]); \
                     assert not m, m; print(json.dumps(t, default=str))",
                ])
                .arg(&path)
                .output()
                .expect("python3 with cfn-lint (installed by .ci/run)");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .clone()
}

/// The CloudFormation `sam deploy` would create from `template.yaml` with these parameter values:
/// the SAM translator, offline (`sam_transform.py`); each set of values is translated once per
/// test process.
pub fn sam_transform(parameters: &serde_json::Value) -> serde_json::Value {
    static DONE: OnceLock<Mutex<std::collections::HashMap<String, serde_json::Value>>> =
        OnceLock::new();
    let key = parameters.to_string();
    let done = DONE.get_or_init(Default::default);
    if let Some(t) = done.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return t.clone();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("sam_transform.py"))
        .arg(root.join("../template.yaml"))
        .arg(&key)
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        .output()
        .expect("python3 with aws-sam-translator (cfn-lint's dependency, installed by .ci/run)");
    assert!(
        output.status.success(),
        "the SAM translator refused the template: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let template: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    done.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, template.clone());
    template
}

/// A Python HTTP stand-in of `tests/` on a free port of 127.0.0.1, in front of a real service:
/// `fault_proxy.py` (S3 failing as S3 does), `strict_kinesis.py` (Kinesis refusing what AWS
/// refuses and moto takes: a stream outside the role's resources, PutRecords' limits) or
/// `strict_s3.py` (S3 refusing what a role's policy does not allow). The script
/// takes the port and then `args`, prints "ready" once listening, and stops on SIGTERM (on drop).
pub struct PythonProxy {
    child: Child,
    endpoint: String,
}

impl PythonProxy {
    pub fn start(script: &str, args: &[&str]) -> PythonProxy {
        let port = free_port();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut child = Command::new("python3")
            .arg(path)
            .arg(port.to_string())
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "{script}");
        PythonProxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for PythonProxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A MariaDB server for this test process (Debian's `mariadb-server`, which `.ci/run` installs): a
/// private instance in a temporary directory on a free port of 127.0.0.1, started on first use and
/// stopped (its directory removed) when the process ends. Each test takes its own database.
pub struct MariaDb {
    port: u16,
    _guard: Mutex<(Child, ChildStdin)>,
}

impl MariaDb {
    pub fn get() -> &'static MariaDb {
        static MARIADB: OnceLock<MariaDb> = OnceLock::new();
        MARIADB.get_or_init(MariaDb::start)
    }

    /// A program on `PATH`, else in `/usr/sbin` or `/usr/bin` (Debian puts mariadbd in sbin).
    fn program(name: &str) -> PathBuf {
        let dirs = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .unwrap_or_default();
        dirs.into_iter()
            .chain(["/usr/sbin".into(), "/usr/bin".into()])
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
            .unwrap_or_else(|| {
                panic!("{name} is not installed (.ci/run installs Debian's mariadb-server)")
            })
    }

    fn start() -> MariaDb {
        let dir = std::env::temp_dir().join(format!("pinpipe-mariadb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let data = dir.join("data");
        let install = Command::new(Self::program("mariadb-install-db"))
            .args([
                "--no-defaults",
                "--user=root",
                "--auth-root-authentication-method=normal",
            ])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            install.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // the shell keeps the server only while our pipe to it is open, then removes its files
        let script = format!(
            "\"$0\" --no-defaults --user=root --datadir={d}/data --socket={d}/sock \
             --pid-file={d}/pid --port={port} --bind-address=127.0.0.1 >{d}/log 2>&1 & pid=$!; \
             cat >/dev/null; kill $pid; wait $pid; rm -rf {d}",
            d = dir.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(Self::program("mariadbd"))
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = child.stdin.take().expect("piped");
        let server = MariaDb {
            port,
            _guard: Mutex::new((child, stdin)),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !server.sql("SELECT 1").status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "mariadbd did not answer on 127.0.0.1:{port} within 60 s: {}",
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        server
    }

    /// Runs SQL with the `mariadb` client as root.
    pub fn sql(&self, statements: &str) -> std::process::Output {
        Command::new(Self::program("mariadb"))
            .args(["-h127.0.0.1", "-uroot", "--batch", "--skip-column-names"])
            .arg("--default-character-set=utf8mb4")
            .arg(format!("-P{}", self.port))
            .arg("-e")
            .arg(statements)
            .output()
            .expect("the mariadb client runs")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new, empty database; returns its URL (`mysql://root@127.0.0.1:PORT/NAME`).
    pub fn database(&self, label: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("{label}_{}", N.fetch_add(1, Ordering::Relaxed));
        let created = self.sql(&format!("CREATE DATABASE `{name}`"));
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
        format!("mysql://root@127.0.0.1:{}/{name}", self.port)
    }
}

/// `pinpipe serve` (the ingest API over HTTP) as its own process, producing to the test's tansu and
/// moto; killed when dropped.
pub struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `pinpipe` (the test's `env!("CARGO_BIN_EXE_pinpipe-test-cli")`) serving.
    pub fn start(pinpipe: &str) -> Server {
        Self::start_with(pinpipe, &[])
    }

    /// [`Server::start`] with more `pinpipe serve` arguments.
    pub fn start_with(pinpipe: &str, args: &[&str]) -> Server {
        let mut command = Command::new(pinpipe);
        command
            .args(["serve", "--port", "0", "--brokers", Tansu::get().brokers()])
            .args(["--kafka-settings", "broker.address.family=v4"])
            .args(args)
            .envs(Moto::get().env())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("pinpipe runs");
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("piped"))
            .read_line(&mut line)
            .expect("pinpipe serve says where it listens");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, url }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kinesis on the moto server: streams with unique names, records put in order.
pub mod kinesis {
    use pinpipe::kinesis::Invoke;
    use serde_json::Value;

    use super::Moto;

    /// A unique stream-name prefix: streams are `streaming-<prefix>-<table>`.
    pub fn unique_prefix(label: &str) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "{label}{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub async fn client(moto: &Moto) -> aws_sdk_kinesis::Client {
        pinpipe::kinesis::kinesis_client(&moto.aws()).await
    }

    pub async fn create_stream(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
        client
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await
            .expect("create stream");
    }

    /// Puts `payloads` in order (PutRecords, 500 at a time; one partition key per call keeps a
    /// multi-shard stream's order per key).
    pub async fn put_all(client: &aws_sdk_kinesis::Client, stream: &str, payloads: &[Vec<u8>]) {
        use aws_sdk_kinesis::primitives::Blob;
        use aws_sdk_kinesis::types::PutRecordsRequestEntry;
        for (n, chunk) in payloads.chunks(500).enumerate() {
            let entries: Vec<PutRecordsRequestEntry> = chunk
                .iter()
                .map(|p| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(p.clone()))
                        .partition_key(format!("k{n}"))
                        .build()
                        .expect("entry")
                })
                .collect();
            let answer = client
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries))
                .send()
                .await
                .expect("put records");
            assert_eq!(answer.failed_record_count(), Some(0), "no entry throttled");
        }
    }

    /// The kinesis-consumer handler in this process, as the runner's function.
    pub struct InProcess(pub kinesis_consumer::State);

    impl Invoke for InProcess {
        async fn invoke(&self, event: Value) -> Result<Value, String> {
            kinesis_consumer::handle_json(&self.0, event)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// A Kafka-protocol broker for this test process: tansu (in-memory storage) on a free port of
/// 127.0.0.1, started on first use and stopped when the process ends (a shell keeps it only while our
/// pipe to it is open). `.ci/run` installs tansu under the cache's `tools/bin` and puts it on `PATH`.
pub struct Tansu {
    brokers: String,
    binary: PathBuf,
    _guard: Mutex<(Child, ChildStdin)>,
}

impl Tansu {
    pub fn get() -> &'static Tansu {
        static TANSU: OnceLock<Tansu> = OnceLock::new();
        TANSU.get_or_init(Tansu::start)
    }

    /// `tansu` on `PATH`, else the cache's install (`~/.cache/pinpipe/tools/bin/tansu`).
    pub fn binary() -> PathBuf {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("tansu"))
                .find(|candidate| candidate.is_file())
        });
        on_path.unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/pinpipe/tools/bin/tansu")
        })
    }

    fn start() -> Tansu {
        let binary = Self::binary();
        assert!(
            binary.is_file(),
            "tansu is not installed (.ci/run installs it: cargo install tansu --locked --features dynostore --root ~/.cache/pinpipe/tools)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let script = format!(
            "\"$0\" broker --listener-url {url} --advertised-listener-url {url} \
             --storage-engine memory://tansu/ >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&binary)
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = child.stdin.take().expect("piped");
        // ready when it accepts connections
        let address = format!("127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not listen on {address} within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Tansu {
            brokers: address,
            binary,
            _guard: Mutex::new((child, stdin)),
        }
    }

    /// `host:port` of the broker.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Creates a topic (`tansu topic create`).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(&self.binary)
            .args(["topic", "create", "--broker"])
            .arg(format!("tcp://{}", self.brokers))
            .arg("--partitions")
            .arg(partitions.to_string())
            .arg(name)
            .stdout(Stdio::null())
            .status()
            .expect("tansu runs");
        assert!(status.success(), "creating topic {name}");
    }

    /// Produces `payloads` to `topic`, payload i to partition i % partitions, in order, and waits
    /// until the broker acknowledged every one.
    pub async fn produce(&self, topic: &str, partitions: i32, payloads: &[Vec<u8>]) {
        self.produce_batched(topic, partitions, payloads, true)
            .await;
    }

    /// [`Tansu::produce`] with every record in a record batch of its own, for consumers that
    /// resume at any offset (a process killed between commits): tansu skips the rest of a batch
    /// when a fetch starts inside it (local-services.md), which real Kafka never does.
    pub async fn produce_one_per_batch(&self, topic: &str, partitions: i32, payloads: &[Vec<u8>]) {
        self.produce_batched(topic, partitions, payloads, false)
            .await;
    }

    async fn produce_batched(
        &self,
        topic: &str,
        partitions: i32,
        payloads: &[Vec<u8>],
        batched: bool,
    ) {
        use rdkafka::config::ClientConfig;
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("broker.address.family", "v4")
            .set("enable.idempotence", "false");
        if batched {
            config.set("linger.ms", "5");
        } else {
            config.set("linger.ms", "0").set("batch.num.messages", "1");
        }
        let producer: FutureProducer = config.create().expect("a producer");
        // enqueued in order (send_result queues at once), then awaited
        let deliveries: Vec<_> = payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(topic)
                    .payload(payload.as_slice())
                    .partition(i as i32 % partitions);
                producer
                    .send_result(record)
                    .unwrap_or_else(|(e, _)| panic!("queueing for {topic}: {e}"))
            })
            .collect();
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => panic!("producing to {topic}: {e}"),
                Err(_) => panic!("producing to {topic}: the producer went away"),
            }
        }
    }
}

/// Reading the lake back in tests: query rows as sorted JSON lines, the insight tables, and the
/// same insights computed independently by `tests/golden/insights.py` (DuckDB).
pub mod insights {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    use pinpipe::lake::{Warehouse, sql};
    use serde_json::Value;

    /// A query's rows as sorted JSON lines.
    pub async fn rows(warehouse: &Warehouse, query: &str) -> Vec<String> {
        let (ctx, _) = sql::session(warehouse).await.unwrap();
        let batches = sql::query(&ctx, query).await.unwrap();
        let mut out = Vec::new();
        sql::write_jsonl(&batches, &mut out).unwrap();
        let mut lines: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    /// The insight rows pinpipe wrote for `run_date`, as (insight, row) JSON values.
    pub async fn insight_rows(warehouse: &Warehouse, run_date: &str) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for name in sql::INSIGHTS {
            let query = format!("SELECT * FROM {name} WHERE run_date = DATE '{run_date}'");
            for line in rows(warehouse, &query).await {
                out.push((name.to_owned(), serde_json::from_str(&line).unwrap()));
            }
        }
        out
    }

    /// The same insights computed by `tests/golden/insights.py` (DuckDB over the batch tables).
    pub fn golden_rows(warehouse_dir: &Path, run_date: &str) -> Vec<(String, Value)> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/insights.py");
        let output = Command::new("python3")
            .arg(script)
            .arg(warehouse_dir)
            .arg(run_date)
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "golden script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["insight"].as_str().unwrap().to_owned(), v["row"].clone())
            })
            .collect()
    }

    /// Rows as comparable text: keys sorted, floats to 9 decimals (medians), per insight, sorted.
    pub fn canonical(rows: &[(String, Value)]) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, row) in rows {
            let fields: BTreeMap<&str, String> = row
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Number(n) if n.is_f64() => format!("{:.9}", n.as_f64().unwrap()),
                        other => other.to_string(),
                    };
                    (k.as_str(), text)
                })
                .collect();
            out.entry(name.clone())
                .or_default()
                .push(format!("{fields:?}"));
        }
        for rows in out.values_mut() {
            rows.sort();
        }
        out
    }

    pub fn assert_insights_match_golden(ours: &[(String, Value)], golden: &[(String, Value)]) {
        let (ours, golden) = (canonical(ours), canonical(golden));
        for name in sql::INSIGHTS {
            assert_eq!(
                ours.get(name),
                golden.get(name),
                "{name}: pinpipe's rows (left) differ from DuckDB's (right)"
            );
        }
    }
}
