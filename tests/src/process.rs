//! Processes the tests start: programs kept for as long as a value lives, free ports, and the
//! Python stand-ins in front of moto (`fault_proxy.py`, `strict_kinesis.py`, `strict_s3.py`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};

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
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
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
