//! The `pinpipe` binary: the real standard streams handed to [`pinpipe_cli::main_with`].

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
