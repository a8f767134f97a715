//! Crash points for tests that stop a process at a precise step (a writer between writing its data
//! files and committing). Compiled in only with the `failpoints` feature; inert unless
//! `PINPIPE_FAILPOINT` names the point (the one place outside `config` that reads the environment,
//! and only in test builds).

/// Exit code of a process stopped at a failpoint.
pub const EXIT_CODE: i32 = 86;

/// Stops the process here if `PINPIPE_FAILPOINT` is `name`.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    // the one reader of the environment besides `config::env` (test-only, inert when unset)
    #[allow(clippy::disallowed_methods)]
    let point = std::env::var("PINPIPE_FAILPOINT");
    if point.as_deref() == Ok(name) {
        eprintln!("pinpipe: stopped at failpoint {name}");
        std::process::exit(EXIT_CODE);
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
