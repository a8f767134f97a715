//! The team's fixtures (`../shared/`: real rows, read in place), temporary directories, and the
//! `pinpipe` command run in process.

use std::path::PathBuf;

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
