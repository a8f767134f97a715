//! The real Lambda binaries, served by cargo-lambda's runtime emulator (`cargo lambda watch`, the
//! local stand-in for the Lambda service) and invoked with the `events/` samples.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use pinpipe::Table;
use pinpipe::config::AwsConfig;
use pinpipe::lake::{LakeTable, TableId, Warehouse, sql};
use pinpipe_tests::TempDir;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo lambda watch` on a free port of 127.0.0.1, in its own process group (it starts cargo and
/// the function as children); the whole group is stopped on drop.
struct Watch {
    child: Child,
    port: u16,
}

impl Watch {
    fn start(envs: &[(&str, String)]) -> Watch {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(port.to_string())
            .current_dir(workspace())
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("cargo-lambda (pip install cargo-lambda; .ci/run installs it)");
        // wait until the emulator listens
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "cargo lambda watch did not listen"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "cargo lambda watch exited: {:?}",
                lines.next()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // keep draining its log so it never blocks on a full pipe
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Watch { child, port }
    }

    fn invoke(&self, function: &str, event_file: &Path) -> Value {
        let out = Command::new("cargo")
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(event_file)
            .current_dir(workspace())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "invoke: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

async fn count(warehouse: &Warehouse, id: TableId) -> i64 {
    assert!(
        LakeTable::open_existing(warehouse, id)
            .await
            .unwrap()
            .is_some(),
        "{id} exists"
    );
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let batches = sql::query(
        &ctx,
        &format!("SELECT count(*) AS n FROM {}", id.sql_name()),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    sql::write_jsonl(&batches, &mut out).unwrap();
    serde_json::from_slice::<Value>(&out).unwrap()["n"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kinesis_consumer_binary_serves_sample_events_under_cargo_lambda() {
    let dir = TempDir::new("lambda-kinesis");
    let warehouse_dir = dir.path().join("warehouse");
    std::fs::create_dir_all(&warehouse_dir).unwrap();
    let watch = Watch::start(&[
        ("PINPIPE_WAREHOUSE", warehouse_dir.display().to_string()),
        ("RUST_LOG", "info".into()),
    ]);
    let events = workspace().join("events/kinesis-consumer");
    let no_failures = serde_json::json!({"batchItemFailures": []});
    assert_eq!(
        watch.invoke("kinesis-consumer", &events.join("poison.json")),
        no_failures
    );
    assert_eq!(
        watch.invoke("kinesis-consumer", &events.join("emulator-format.json")),
        no_failures
    );
    // the same event again: exactly once
    assert_eq!(
        watch.invoke("kinesis-consumer", &events.join("emulator-format.json")),
        no_failures
    );
    drop(watch);

    let warehouse =
        Warehouse::open(warehouse_dir.to_str().unwrap(), &AwsConfig::default()).unwrap();
    assert_eq!(count(&warehouse, TableId::Stream(Table::Geo)).await, 2);
    assert_eq!(count(&warehouse, TableId::Quarantine).await, 2);
    assert_eq!(count(&warehouse, TableId::Stream(Table::User)).await, 3);
}

#[test]
fn the_msk_consumer_binary_lands_sample_events_under_cargo_lambda() {
    let dir = TempDir::new("lambda-msk");
    let warehouse_dir = dir.path().join("warehouse");
    std::fs::create_dir_all(&warehouse_dir).unwrap();
    let watch = Watch::start(&[("PINPIPE_WAREHOUSE", warehouse_dir.display().to_string())]);
    let events = workspace().join("events/msk-consumer");
    let no_failures = serde_json::json!({"batchItemFailures": []});
    assert_eq!(
        watch.invoke("msk-consumer", &events.join("pin.json")),
        no_failures
    );
    assert_eq!(
        watch.invoke("msk-consumer", &events.join("pin.json")),
        no_failures
    );
    drop(watch);
    let objects: Vec<_> =
        std::fs::read_dir(warehouse_dir.join("topics/12471ce1b695.pin/partition=0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(
        objects,
        ["12471ce1b695.pin+0+0000000000.json"],
        "one immutable object, once"
    );
}
