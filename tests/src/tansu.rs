//! tansu, the Kafka-protocol broker, for this test process.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

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
