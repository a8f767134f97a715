//! The `pinpipe` binary: logging set up, then the real standard streams handed to
//! [`pinpipe_cli::main_with`] (all in [`pinpipe_cli::main`]).

/// mimalloc: freed buffers are reused, not handed back to the kernel and page-faulted in
/// again (the daily clean's per-chunk buffers: see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pinpipe_cli::main()
}
