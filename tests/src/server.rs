//! `pinpipe serve` as its own process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::{Moto, Tansu};

/// `pinpipe serve` (the ingest API over HTTP) as its own process, producing to the test's tansu and
/// moto; killed when dropped.
pub struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `pinpipe` (the test's `env!("CARGO_BIN_EXE_pinpipe-test-cli")`) serving.
    pub fn start(pinpipe: &str) -> Server {
        Self::start_with(pinpipe, &[])
    }

    /// [`Server::start`] with more `pinpipe serve` arguments.
    pub fn start_with(pinpipe: &str, args: &[&str]) -> Server {
        let mut command = Command::new(pinpipe);
        command
            .args(["serve", "--port", "0", "--brokers", Tansu::get().brokers()])
            .args(["--kafka-settings", "broker.address.family=v4"])
            .args(args)
            .envs(Moto::get().env())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("pinpipe runs");
        let mut line = String::new();
        BufReader::new(child.stderr.take().expect("piped"))
            .read_line(&mut line)
            .expect("pinpipe serve says where it listens");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Server { child, url }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
