//! The ingest API's request parsers fuzzed: a million generated requests (`pinpipe_tests::fuzz`)
//! through `ingest-api`'s handler; no panic and no 5xx allowed. Results go to BENCHMARKS.md.
//!
//!     cargo test -p pinpipe-tests --bench fuzz_ingest -- [CASES] [SEED]
//!
//! CASES defaults to 1,000,000 and SEED to 1; a failure is shrunk and printed, and the run exits 1.

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--") && a.parse::<u64>().is_ok());
    let cases: u32 = args.next().map_or(1_000_000, |a| a.parse().unwrap());
    let seed: u64 = args.next().map_or(1, |a| a.parse().unwrap());
    let report = pinpipe_tests::fuzz::run(cases, seed);
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "requests {}, seed {seed}, {seconds:.1} s ({:.0} requests/s)",
        report.requests,
        report.requests as f64 / seconds
    );
    for (status, n) in &report.statuses {
        println!("  {status}: {n}");
    }
    let server_errors: u64 = report
        .statuses
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    println!(
        "panics and failures: {}, 5xx: {server_errors}",
        report.failures.len()
    );
    if !report.failures.is_empty() {
        for failure in &report.failures {
            eprintln!("{failure}");
        }
        std::process::exit(1);
    }
}
