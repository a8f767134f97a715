//! The `pinpipe` binary: logging set up, then the real standard streams handed to
//! [`pinpipe_cli::main_with`] (all in [`pinpipe_cli::main`]).

fn main() -> std::process::ExitCode {
    pinpipe_cli::main()
}
