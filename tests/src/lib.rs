//! Helpers for pinpipe's integration tests: where the team's fixtures are, and the `pinpipe` binary.

use std::path::PathBuf;
use std::process::Command;

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

/// The `pinpipe` binary that `cargo test --workspace` built beside this test executable.
pub fn pinpipe() -> Command {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("pinpipe{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is not built: run the tests with `cargo test --workspace`",
        bin.display()
    );
    Command::new(bin)
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
