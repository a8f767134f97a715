//! Cleaning throughput: 1,000,000 generated pin records through the library's cleaning (what
//! `pinpipe clean` does per line), side by side with a raw `serde_json` parse of the same bytes.
//!
//!     cargo bench -p pinpipe --bench clean [-- --records N --runs R]
//!
//! Prints a markdown table for BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use pinpipe::Table;
use pinpipe::cleaner::{Outcome, TableCleaner};
use pinpipe::source::Synthetic;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let records = arg("--records", 1_000_000);
    let runs = arg("--runs", 5);

    let mut input = Vec::new();
    for post in Synthetic::new(42).take(records) {
        post.write_line(Table::Pin, &mut input);
    }
    let lines: Vec<&[u8]> = input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mb = input.len() as f64 / 1e6;
    eprintln!("{records} pin records, {mb:.1} MB of source-format JSON lines, best of {runs} runs");

    let cases: [(&str, &dyn Fn() -> usize); 4] = [
        (
            "serde_json parse to `IgnoredAny` (validation only)",
            &|| {
                lines
                    .iter()
                    .filter(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok())
                    .count()
            },
        ),
        ("serde_json parse to `Value` (baseline)", &|| {
            lines
                .iter()
                .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
                .count()
        }),
        ("pinpipe clean + de-duplicate (library)", &|| {
            let mut cleaner = TableCleaner::new(Table::Pin);
            lines
                .iter()
                .filter(|l| matches!(cleaner.push(l), Outcome::Clean(_)))
                .count()
        }),
        (
            "pinpipe clean + de-duplicate + JSON lines out (`pinpipe clean`)",
            &|| {
                let mut cleaner = TableCleaner::new(Table::Pin);
                let mut out = Vec::with_capacity(input.len());
                for l in &lines {
                    if let Outcome::Clean(c) = cleaner.push(l) {
                        serde_json::to_writer(&mut out, &c.row).expect("in memory");
                        out.push(b'\n');
                    }
                }
                black_box(&out);
                cleaner.stats().clean as usize
            },
        ),
    ];

    let mut results = Vec::new();
    for (name, case) in cases {
        let mut best = Duration::MAX;
        for _ in 0..runs {
            let t = Instant::now();
            black_box(case());
            best = best.min(t.elapsed());
        }
        results.push((name, best));
    }
    let baseline = results[1].1.as_secs_f64();
    println!(
        "| work ({records} pin records, {mb:.0} MB) | best time | records/s | MB/s | time vs serde_json `Value` |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, t) in results {
        let s = t.as_secs_f64();
        println!(
            "| {name} | {s:.3} s | {:.2} M | {:.0} | {:.2}× |",
            records as f64 / s / 1e6,
            mb / s,
            s / baseline
        );
    }
}
