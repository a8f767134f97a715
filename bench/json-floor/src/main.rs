//! The benchmark's floor (`bench/run.sh`), not a product command: parses every non-empty line of
//! the JSON-lines files given into a `serde_json::Value` (dropped at once), on one thread, and
//! prints `{"records", "bytes", "invalid", "ms"}` — the cost of reading the bytes as JSON and
//! nothing else, which the clean is measured against.
//!
//!     json-floor FILE…

use std::io::{BufRead, BufReader};
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: json-floor FILE…");
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    let (mut records, mut bytes, mut invalid) = (0u64, 0u64, 0u64);
    let mut line = Vec::new();
    for path in &files {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("json-floor: {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        loop {
            line.clear();
            let n = match reader.read_until(b'\n', &mut line) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("json-floor: {path}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if n == 0 {
                break;
            }
            bytes += n as u64;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<serde_json::Value>(&line) {
                Ok(_) => records += 1,
                Err(_) => invalid += 1,
            }
        }
    }
    let summary = serde_json::json!({
        "records": records,
        "bytes": bytes,
        "invalid": invalid,
        "ms": started.elapsed().as_millis() as u64,
    });
    println!("{summary}");
    ExitCode::SUCCESS
}
