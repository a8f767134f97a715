//! moto (S3, Kinesis, Secrets Manager) for this test process, through `moto_harness.py`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use pinpipe::config::AwsConfig;

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
            athena_endpoint_url: None,
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
