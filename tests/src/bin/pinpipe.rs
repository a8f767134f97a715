//! The `pinpipe` command built inside the test crate (same entry point, `pinpipe_cli::main_with`), so
//! tests can run it as a separate process — with its own environment, and stopped at a failpoint.

use std::io;
use std::process::ExitCode;

fn main() -> ExitCode {
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
