//! The `pinpipe` binary: the real standard streams handed to [`pinpipe_cli::main_with`].

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
    // logs on stderr, quiet unless RUST_LOG asks (e.g. RUST_LOG=info for every batch)
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,deltalake=error".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
    let (stdin, stdout, stderr) = (io::stdin(), io::stdout(), io::stderr());
    pinpipe_cli::main_with(
        std::env::args_os(),
        pinpipe_cli::Stdio {
            stdin: &mut stdin.lock(),
            stdout: &mut stdout.lock(),
            stderr: &mut stderr.lock(),
        },
    )
}
