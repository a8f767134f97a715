//! `pinpipe emulate`: the original emulator — posts from a source, each as its pin, geo and user
//! requests to the ingest API (batch mode to the topics, stream mode to the streams), over HTTP.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use indicatif::{ProgressBar, ProgressStyle};
use pinpipe::Table;
use pinpipe::emulate::{EmulatedRequest, Mode, post_requests};
use pinpipe::source::{Synthetic, emulator_payload};

use crate::{CliError, open};

#[derive(Debug, Args)]
pub struct Emulate {
    /// The ingest API's base URL (e.g. http://127.0.0.1:8080, or the API Gateway stage URL).
    #[arg(long)]
    api: String,
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,
    /// `embedded` (the synthetic generator) or a directory with pin.jsonl, geo.jsonl, user.jsonl
    /// (replayed in file order: line i of each file is post i).
    #[arg(long, default_value = "embedded")]
    source: String,
    /// Posts to send (all of a directory's when absent; 100 from the generator).
    #[arg(long)]
    posts: Option<u64>,
    /// Posts per second at most (as fast as the API answers when absent).
    #[arg(long)]
    rate: Option<f64>,
    /// Stop starting posts after this many seconds (with --rate: a steady load for a while).
    #[arg(long)]
    duration: Option<f64>,
    /// Posts in flight at once (each post's three rows go in order).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Topics are <prefix>.<table>, streams streaming-<prefix>-<table>.
    #[arg(long, default_value = "12471ce1b695")]
    prefix: String,
    /// The generator's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Batch,
    Stream,
    Both,
}

/// What one request came to.
enum Outcome {
    Ok,
    Refused(String),
    Failed(String),
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Each post's rows in the emulator's payload form (pin, geo, user).
fn source_posts(args: &Emulate) -> Result<Box<dyn Iterator<Item = [Vec<u8>; 3]>>, CliError> {
    if args.source == "embedded" {
        let posts = Synthetic::new(args.seed).take(args.posts.unwrap_or(100) as usize);
        return Ok(Box::new(posts.map(|p| {
            [
                p.emulator_payload(Table::Pin),
                p.emulator_payload(Table::Geo),
                p.emulator_payload(Table::User),
            ]
        })));
    }
    let dir = PathBuf::from(&args.source);
    let lines = |table: Table| -> Result<_, CliError> {
        Ok(BufReader::new(open(&dir.join(format!("{table}.jsonl")))?).lines())
    };
    let (mut pins, mut geos, mut users) =
        (lines(Table::Pin)?, lines(Table::Geo)?, lines(Table::User)?);
    let limit = args.posts.unwrap_or(u64::MAX) as usize;
    let posts = std::iter::from_fn(move || {
        let (pin, geo, user) = (pins.next()?.ok()?, geos.next()?.ok()?, users.next()?.ok()?);
        let payload = |table, line: String| {
            emulator_payload(table, line.as_bytes()).unwrap_or_else(|_| line.into_bytes())
        };
        Some([
            payload(Table::Pin, pin),
            payload(Table::Geo, geo),
            payload(Table::User, user),
        ])
    })
    .take(limit);
    Ok(Box::new(posts))
}

/// Sends one request, retrying a 5xx or a connection failure (the API loses nothing on retry).
async fn send(client: &HttpClient, api: &str, request: &EmulatedRequest) -> Outcome {
    let mut last = String::new();
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        let http = hyper::Request::builder()
            .method(request.method)
            .uri(format!("{}{}", api.trim_end_matches('/'), request.path))
            .header(hyper::header::CONTENT_TYPE, request.content_type)
            .body(Full::new(Bytes::from(request.body.clone())));
        let http = match http {
            Ok(h) => h,
            Err(e) => return Outcome::Failed(format!("{}: {e}", request.path)),
        };
        match client.request(http).await {
            Err(e) => last = format!("{}: {e}", request.path),
            Ok(response) => {
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                    .unwrap_or_default();
                if status.is_success() {
                    return Outcome::Ok;
                }
                if status.is_client_error() {
                    return Outcome::Refused(format!(
                        "{} {}: {body}",
                        status.as_u16(),
                        request.path
                    ));
                }
                last = format!("{} {}: {body}", status.as_u16(), request.path);
            }
        }
    }
    Outcome::Failed(last)
}

pub fn emulate(args: Emulate, stderr: &mut dyn Write) -> Result<(), CliError> {
    let mode = match args.mode {
        ModeArg::Batch => Mode::Batch,
        ModeArg::Stream => Mode::Stream,
        ModeArg::Both => Mode::Both,
    };
    let posts = source_posts(&args)?;
    let expected = (args.source == "embedded").then(|| args.posts.unwrap_or(100));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (sent, ok, refused, failed) = runtime.block_on(async {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let interval = args
            .rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        let start = tokio::time::Instant::now();
        let deadline = args
            .duration
            .map(|secs| start + Duration::from_secs_f64(secs.max(0.0)));
        let (client, api, prefix) = (&client, args.api.as_str(), args.prefix.as_str());
        let results = futures::stream::iter(posts.enumerate())
            .then(|(i, payloads)| async move {
                // post i starts no earlier than i intervals after the first
                if let Some(every) = interval {
                    tokio::time::sleep_until(start + every * i as u32).await;
                }
                payloads
            })
            .take_while(|_| {
                futures::future::ready(deadline.is_none_or(|d| tokio::time::Instant::now() < d))
            })
            .map(|payloads| async move {
                let mut outcomes = Vec::new();
                for request in post_requests(&payloads, prefix, mode) {
                    outcomes.push(send(client, api, &request).await);
                }
                outcomes
            })
            .buffer_unordered(args.concurrency.max(1));
        let (mut sent, mut ok, mut refused, mut failed) = (0u64, 0u64, Vec::new(), Vec::new());
        let mut results = std::pin::pin!(results);
        // drawn only on a terminal
        let bar = match expected {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} posts  {per_sec}  {elapsed_precise}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        while let Some(outcomes) = results.next().await {
            bar.inc(1);
            for outcome in outcomes {
                sent += 1;
                match outcome {
                    Outcome::Ok => ok += 1,
                    Outcome::Refused(m) => refused.push(m),
                    Outcome::Failed(m) => failed.push(m),
                }
            }
        }
        bar.finish_and_clear();
        (sent, ok, refused, failed)
    });
    let secs = started.elapsed().as_secs_f64();
    for message in refused.iter().chain(&failed).take(5) {
        writeln!(stderr, "  {message}")?;
    }
    writeln!(
        stderr,
        "sent {sent} requests in {secs:.2} s ({:.0}/s): {ok} accepted, {} refused, {} failed",
        sent as f64 / secs.max(1e-9),
        refused.len(),
        failed.len()
    )?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {sent} requests failed after 5 attempts",
            failed.len()
        )))
    }
}
