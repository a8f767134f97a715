//! `pinpipe emulate`: the original emulator — posts from a source, each as its pin, geo and user
//! requests to the ingest API (batch mode to the topics, stream mode to the streams), over HTTP(S).

use std::io::Write;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use pinpipe::config::{AwsConfig, DEFAULT_PREFIX, SourceSpec};
use pinpipe::emulate::{ATTEMPTS, EmulateOptions, Mode, Pick, PostSource};

use crate::CliError;

#[derive(Debug, Args)]
pub struct Emulate {
    /// The ingest API's base URL (e.g. http://127.0.0.1:8080, or the API Gateway stage URL).
    #[arg(long)]
    api: String,
    /// An API Gateway API key, sent as x-api-key (default: PINPIPE_API_KEY).
    #[arg(long, env = "PINPIPE_API_KEY")]
    api_key: Option<String>,
    /// Sign requests with SigV4 (an API with IAM auth), with the AWS environment's credentials.
    #[arg(long)]
    iam_auth: bool,
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,
    /// `embedded` (the synthetic generator), a directory with pin.jsonl, geo.jsonl, user.jsonl
    /// (replayed in file order: line i of each file is post i), or the source database,
    /// mysql://user:password@host:port/database.
    #[arg(long, default_value = "embedded")]
    source: String,
    /// With a database source: an RDS secret in Secrets Manager holding its user name and password.
    #[arg(long)]
    source_secret_id: Option<String>,
    /// Which database rows: random ids with repeats, like the original, or every post once.
    #[arg(long, value_enum, default_value_t = PickArg::Random)]
    pick: PickArg,
    /// Posts to send (all of a directory's or, with --pick in-order, of the database's; else 100
    /// unless --duration is given).
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
    #[arg(long, default_value = DEFAULT_PREFIX)]
    prefix: String,
    /// Seeds the generator and the database's random picks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ModeArg {
    Batch,
    Stream,
    Both,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PickArg {
    Random,
    InOrder,
}

pub fn emulate(args: Emulate, stderr: &mut dyn Write) -> Result<(), CliError> {
    let mode = match args.mode {
        ModeArg::Batch => Mode::Batch,
        ModeArg::Stream => Mode::Stream,
        ModeArg::Both => Mode::Both,
    };
    let pick = match args.pick {
        PickArg::Random => Pick::Random,
        PickArg::InOrder => Pick::InOrder,
    };
    if let Some(rate) = args.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(CliError::Failed(format!(
            "--rate {rate}: give a positive number of posts per second"
        )));
    }
    let duration = match args.duration {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return Err(CliError::Failed(format!(
                "--duration {s}: give a number of seconds"
            )));
        }
        d => d.map(Duration::from_secs_f64),
    };
    let spec = SourceSpec::parse(&args.source);
    let options = EmulateOptions {
        api: args.api.clone(),
        api_key: args.api_key.clone(),
        sign: None,
        mode,
        prefix: args.prefix.clone(),
        rate: args.rate,
        duration,
        concurrency: args.concurrency.max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async {
        let source = PostSource::open(
            &spec,
            args.seed,
            pick,
            args.source_secret_id.as_deref(),
            &AwsConfig::from_env(),
        )
        .await?;
        let limit = source.limit(args.posts, duration.is_some());
        let mut options = options;
        if args.iam_auth {
            options.sign =
                Some(pinpipe::emulate::ApiSigning::from_environment(&AwsConfig::from_env()).await?);
        }
        let posts = source.payloads(limit).await?;
        // drawn only on a terminal
        let bar = match limit {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} posts  {per_sec}  {elapsed_precise}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let summary = pinpipe::emulate::emulate(posts, &options, &|| bar.inc(1)).await;
        bar.finish_and_clear();
        summary
    })?;
    for message in &summary.examples {
        writeln!(stderr, "  {message}")?;
    }
    writeln!(
        stderr,
        "sent {} posts, {} requests in {:.2} s ({:.0}/s): {} accepted, {} refused, {} failed",
        summary.posts,
        summary.requests,
        summary.seconds,
        summary.requests as f64 / summary.seconds.max(1e-9),
        summary.accepted,
        summary.refused,
        summary.failed
    )?;
    if summary.failed == 0 {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {} requests failed after {ATTEMPTS} attempts",
            summary.failed, summary.requests
        )))
    }
}
