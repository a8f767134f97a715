//! A private MariaDB for this test process.

use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

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
