//! `pinpipe demo`, the README's first command: the whole pipeline on this machine with no AWS and no
//! network — its nine insights printed, equal to the golden ones on the real rows, and an HTML report
//! that headless Chromium renders (the screenshot is kept as a test artifact).

use std::path::{Path, PathBuf};
use std::process::Command;

use pinpipe::config::AwsConfig;
use pinpipe::lake::Warehouse;
use pinpipe_tests::TempDir;
use pinpipe_tests::insights::{canonical, golden_rows, insight_rows};

const RUN_DATE: &str = "2026-11-27";

/// `pinpipe demo ARGS…` as the binary runs; (stdout, stderr).
fn demo(args: &[&str]) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .arg("demo")
        .args(args)
        // no AWS anywhere: a stray endpoint or profile must not matter
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("pinpipe runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{stderr}");
    (stdout, stderr)
}

/// Where test artifacts are kept: `$CARGO_TARGET_DIR/test-artifacts` (or target/…).
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn chromium() -> Command {
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
    ]);
    command
}

#[test]
fn the_demo_prints_the_nine_insights_and_writes_a_report_chromium_renders() {
    let dir = TempDir::new("demo");
    let warehouse = dir.path().join("lake");
    let uri = warehouse.display().to_string();
    let (stdout, stderr) = demo(&["--warehouse", &uri, "--posts", "400", "--date", RUN_DATE]);
    assert!(
        stderr.contains("posted 400 posts: 2400 of 2400 requests accepted"),
        "{stderr}"
    );
    for insight in pinpipe::insight::INSIGHTS.map(|i| i.name) {
        assert!(
            stdout.contains(&format!("\n{insight} — ")) || stdout.starts_with(insight),
            "{insight} printed:\n{stdout}"
        );
    }

    // the report renders: nine charts with bars in Chromium's DOM, and a screenshot
    let report = warehouse.join("report.html");
    let url = format!("file://{}", report.display());
    let dom = chromium()
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs (Debian's chromium package; .ci/run installs it)");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg").count(), 9, "one chart per insight");
    assert!(dom.matches("class=\"bar\"").count() >= 9);
    let screenshot = artifacts().join("demo-report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium()
        .arg("--window-size=1100,2400")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "a page with charts, not a blank one");

    // a second demo into the same directory replaces the first
    demo(&["--warehouse", &uri, "--posts", "50", "--date", RUN_DATE]);
    assert!(report.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_on_the_real_rows_computes_the_golden_insights() {
    let dir = TempDir::new("demo-real");
    let uri = dir.path().join("lake").display().to_string();
    let rows = pinpipe_tests::data_file("source-rows/pin.jsonl");
    let source = rows.parent().unwrap().display().to_string();
    let (_, stderr) = tokio::task::spawn_blocking({
        let uri = uri.clone();
        move || demo(&["--warehouse", &uri, "--source", &source, "--date", RUN_DATE])
    })
    .await
    .unwrap();
    assert!(
        stderr.contains("posted 2262 posts: 13572 of 13572 requests accepted"),
        "{stderr}"
    );
    assert!(
        stderr.contains("6057 rows written from 6786 raw records (0 quarantined)"),
        "2,019 distinct posts of 2,262, three tables: {stderr}"
    );
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let ours = canonical(&insight_rows(&warehouse, RUN_DATE).await);
    let golden = canonical(&golden_rows(Path::new(&uri), RUN_DATE));
    assert_eq!(ours.len(), 9);
    assert_eq!(ours, golden);
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_an_earlier_demo() {
    let dir = TempDir::new("demo-refuse");
    std::fs::write(dir.path().join("precious.txt"), b"keep me").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
        .args(["demo", "--posts", "5", "--warehouse"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not an earlier demo's warehouse"));
    assert!(dir.path().join("precious.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_through_a_real_broker_kinesis_and_s3_computes_what_it_computes_in_process() {
    use pinpipe::Table;
    use pinpipe_tests::kinesis::{client, create_stream};
    use pinpipe_tests::{Moto, Tansu};
    let (tansu, moto) = (Tansu::get(), Moto::get());
    let kinesis = client(moto).await;
    for table in Table::ALL {
        tansu.create_topic(&format!("12471ce1b695.{table}"), 2);
        create_stream(&kinesis, &format!("streaming-12471ce1b695-{table}"), 1).await;
    }
    let s3 = format!("s3://{}/demo", moto.bucket("demo"));
    let run = {
        let (s3, brokers, env) = (s3.clone(), tansu.brokers().to_owned(), moto.env());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_pinpipe-test-cli"))
                .args([
                    "demo",
                    "--warehouse",
                    &s3,
                    "--posts",
                    "300",
                    "--date",
                    RUN_DATE,
                ])
                .args(["--brokers", &brokers, "--kinesis"])
                .envs(env)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains("msk-consumer landed 900 records"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kinesis-consumer cleaned 900 records"),
        "{stderr}"
    );

    let dir = TempDir::new("demo-in-process");
    let local = dir.path().join("lake").display().to_string();
    let local_run = local.clone();
    tokio::task::spawn_blocking(move || {
        demo(&[
            "--warehouse",
            &local_run,
            "--posts",
            "300",
            "--date",
            RUN_DATE,
        ])
    })
    .await
    .unwrap();
    let through_services =
        insight_rows(&Warehouse::open(&s3, &moto.aws()).unwrap(), RUN_DATE).await;
    let in_process = insight_rows(
        &Warehouse::open(&local, &AwsConfig::default()).unwrap(),
        RUN_DATE,
    )
    .await;
    assert!(!in_process.is_empty());
    assert_eq!(canonical(&through_services), canonical(&in_process));
}
