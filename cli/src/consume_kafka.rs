//! `pinpipe consume-kafka`: the local MSK event source, feeding the real msk-consumer handler in process.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use pinpipe::config::{AwsConfig, MskConsumerConfig};
use pinpipe::routes::TopicRoutes;
use pinpipe_local::Invoke;
use pinpipe_local::kafka::{KafkaRunner, KafkaRunnerOptions};
use serde_json::Value;

use crate::CliError;

#[derive(Debug, Args)]
pub struct ConsumeKafka {
    /// The warehouse root the handler writes to: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// Bootstrap brokers, host:port, comma-separated.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Topics to read, comma-separated (e.g. 12471ce1b695.pin,12471ce1b695.geo,12471ce1b695.user).
    #[arg(long, value_delimiter = ',', required = true)]
    topics: Vec<String>,
    /// The consumer group whose committed offsets say where to resume.
    #[arg(long, default_value = "pinpipe-msk-consumer")]
    group: String,
    /// Records per invocation (BatchSize), 1–10000.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Seconds to gather records before invoking with a partial batch (MaximumBatchingWindowInSeconds).
    #[arg(long, default_value_t = 0.5)]
    batching_window: f64,
    /// Start partitions without a committed offset at new records only (default: the earliest).
    #[arg(long)]
    latest: bool,
    /// Retries of a failing batch before stopping; retries forever when absent.
    #[arg(long)]
    max_retries: Option<u32>,
    /// Stop once no record arrived for this many seconds, instead of polling forever.
    #[arg(long)]
    until_idle: Option<f64>,
    /// `topic=table` pairs for topics not named <prefix>.<table>.
    #[arg(long, default_value = "")]
    topic_tables: String,
}

/// The msk-consumer handler, invoked in this process.
pub(crate) struct InProcess(pub(crate) msk_consumer::State);

impl Invoke for InProcess {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&self.0, e), event)
            .await
            .map_err(|e| e.to_string())
    }
}

pub fn consume_kafka(args: ConsumeKafka, stderr: &mut dyn Write) -> Result<(), CliError> {
    let config = MskConsumerConfig {
        warehouse: args.warehouse.clone(),
        routes: TopicRoutes::parse(&args.topic_tables)?,
        metrics: pinpipe::metrics::Emf::Off,
        aws: AwsConfig::from_env(),
    };
    let options = KafkaRunnerOptions {
        brokers: args.brokers,
        topics: args.topics,
        group_id: args.group,
        batch_size: args.batch_size.clamp(1, 10_000),
        batching_window: Duration::from_secs_f64(args.batching_window.max(0.0)),
        from_earliest: !args.latest,
        max_retries: args.max_retries,
        idle_exit: args.until_idle.map(|s| Duration::from_secs_f64(s.max(0.0))),
        ..KafkaRunnerOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(async {
        let state = msk_consumer::State::new(&config)
            .map_err(|e| pinpipe::Error::config_from("starting the function", e))?;
        KafkaRunner::new(InProcess(state), options)
            .await?
            .run()
            .await
    })?;
    for p in &summary.partitions {
        writeln!(
            stderr,
            "{}-{}: {} records, committed offset {}",
            p.topic,
            p.partition,
            p.records,
            p.committed.map_or("-".into(), |o| o.to_string())
        )?;
    }
    let secs = summary.elapsed.as_secs_f64();
    writeln!(
        stderr,
        "consumed {} records from {} partitions in {secs:.2} s: {} invocations ({} failed, {} partial)",
        summary.records(),
        summary.partitions.len(),
        summary.invocations,
        summary.failed_invocations,
        summary.partial_failures
    )?;
    Ok(())
}
