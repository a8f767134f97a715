//! `pinpipe consume-kinesis`: the local Kinesis event source, feeding the real handler in process.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use pinpipe::config::{AwsConfig, StreamConsumerConfig};
use pinpipe::kinesis::kinesis_client;
use pinpipe::lake::Warehouse;
use pinpipe::routes::StreamRoutes;
use pinpipe_local::kinesis::{Invoke, Runner, RunnerOptions, StartingPosition};
use serde_json::Value;

use crate::CliError;

#[derive(Debug, Args)]
pub struct ConsumeKinesis {
    /// The warehouse root the handler writes to: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// Streams to read, comma-separated (e.g. streaming-12471ce1b695-pin,…-geo,…-user).
    #[arg(long, value_delimiter = ',', required = true)]
    streams: Vec<String>,
    /// Records per invocation (BatchSize), 1–10000.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Seconds to gather records before invoking with a partial batch (MaximumBatchingWindowInSeconds).
    #[arg(long, default_value_t = 0.0)]
    batching_window: f64,
    #[arg(long, value_enum, default_value_t = Start::TrimHorizon)]
    starting_position: Start,
    /// Retries of a failing batch before it is discarded (MaximumRetryAttempts); retries forever
    /// when absent, as the template's mappings do.
    #[arg(long)]
    max_retries: Option<u32>,
    /// Records older than this many seconds are discarded without an invocation
    /// (MaximumRecordAgeInSeconds, the template's 86400); -1 keeps them however old.
    #[arg(long, default_value_t = 86_400, allow_negative_numbers = true)]
    max_record_age: i64,
    /// The on-failure destination (the lake's bucket, s3://bucket, or a directory): discarded
    /// batches are written under aws/lambda/ as Lambda writes them, for `pinpipe redrive`. Without
    /// one, a discarded batch stops the runner instead.
    #[arg(long)]
    on_failure: Option<String>,
    /// A JSON file keeping each shard's last acknowledged sequence number across runs.
    #[arg(long)]
    checkpoints: Option<PathBuf>,
    /// Stop once every shard is read to its end, instead of polling forever.
    #[arg(long)]
    until_caught_up: bool,
    /// `stream=table` pairs for streams not named streaming-<prefix>-<table>.
    #[arg(long, default_value = "")]
    stream_tables: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Start {
    TrimHorizon,
    Latest,
}

/// The kinesis-consumer handler, invoked in this process.
pub(crate) struct InProcess(pub(crate) kinesis_consumer::State);

impl Invoke for InProcess {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&self.0, e), event)
            .await
            .map_err(|e| e.to_string())
    }
}

pub fn consume_kinesis(args: ConsumeKinesis, stderr: &mut dyn Write) -> Result<(), CliError> {
    let aws = AwsConfig::from_env();
    let config = StreamConsumerConfig {
        warehouse: args.warehouse.clone(),
        routes: StreamRoutes::parse(&args.stream_tables)?,
        metrics: pinpipe::metrics::Emf::Off,
        aws: aws.clone(),
    };
    let options = RunnerOptions {
        streams: args.streams,
        batch_size: args.batch_size,
        batching_window: Duration::from_secs_f64(args.batching_window.max(0.0)),
        starting_position: match args.starting_position {
            Start::TrimHorizon => StartingPosition::TrimHorizon,
            Start::Latest => StartingPosition::Latest,
        },
        max_retries: args.max_retries,
        max_record_age: u64::try_from(args.max_record_age)
            .ok()
            .map(Duration::from_secs),
        checkpoints: args.checkpoints,
        until_caught_up: args.until_caught_up,
        ..RunnerOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async {
        let state = kinesis_consumer::State::new(&config)
            .map_err(|e| pinpipe::Error::config_from("starting the function", e))?;
        let client = kinesis_client(&aws).await;
        let mut runner = Runner::new(client, InProcess(state), options);
        if let Some(uri) = &args.on_failure {
            runner = runner.with_on_failure(Arc::new(Warehouse::open(uri, &aws)?));
        }
        runner.run().await
    })?;
    let secs = summary.elapsed.as_secs_f64();
    for shard in &summary.shards {
        writeln!(
            stderr,
            "{}/{}: {} records in {} batches, {} invocations ({} failed, {} partial), {} records discarded, last sequence {}",
            shard.stream,
            shard.shard,
            shard.records,
            shard.batches,
            shard.invocations,
            shard.failed_invocations,
            shard.partial_failures,
            shard.discarded_records,
            shard.last_sequence.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(
        stderr,
        "consumed {} records from {} shards in {secs:.2} s ({:.0} records/s)",
        summary.records(),
        summary.shards.len(),
        summary.records() as f64 / secs.max(1e-9)
    )?;
    Ok(())
}
