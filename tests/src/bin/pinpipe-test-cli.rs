//! The `pinpipe` command built inside the test crate (the same `pinpipe_cli::main` as the real
//! binary), so tests can run it as a separate process — with its own environment, and stopped at a
//! failpoint.

fn main() -> std::process::ExitCode {
    pinpipe_cli::main()
}
