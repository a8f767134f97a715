//! `pinpipe redrive`: the stream mappings' discarded batches back into the stream tables, exactly
//! once (`pinpipe::stream::redrive_failed_batches`).

use std::io::Write;

use clap::Args;
use pinpipe::config::{AwsConfig, StreamRoutes};
use pinpipe::lake::Warehouse;
use pinpipe::stream::{StreamConsumer, redrive_failed_batches};

use crate::CliError;

#[derive(Debug, Args)]
pub struct Redrive {
    /// The warehouse root the stream tables are in: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// The on-failure destination: s3://bucket (the template's lake bucket) or a directory; its
    /// aws/lambda/ objects are read.
    #[arg(long)]
    failed_batches: String,
    /// `stream=table` pairs for streams not named streaming-<prefix>-<table>.
    #[arg(long, default_value = "")]
    stream_tables: String,
}

pub fn redrive(args: Redrive, stdout: &mut dyn Write) -> Result<(), CliError> {
    let aws = AwsConfig::from_env();
    let warehouse = Warehouse::open(&args.warehouse, &aws)?;
    let destination = Warehouse::open(&args.failed_batches, &aws)?;
    let routes = StreamRoutes::parse(&args.stream_tables)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let mut consumer = StreamConsumer::new(warehouse, routes);
        redrive_failed_batches(&mut consumer, &destination, chrono::Utc::now()).await
    })?;
    for b in &report.batches {
        writeln!(
            stdout,
            "{}/{} {}..{}: {} records, {} redriven before, {} rows written, {} already in the table, {} quarantined",
            b.stream,
            b.shard,
            b.first_sequence.as_deref().unwrap_or("-"),
            b.last_sequence.as_deref().unwrap_or("-"),
            b.records,
            b.redelivered,
            b.rows_written,
            b.reposts,
            b.quarantined
        )?;
    }
    writeln!(
        stdout,
        "{} discarded batches found, {} redriven ({} records, {} rows written), {} refused",
        report.objects,
        report.batches.len(),
        report.records(),
        report.rows_written(),
        report.refused.len()
    )?;
    if report.refused.is_empty() {
        return Ok(());
    }
    let refused: Vec<String> = report
        .refused
        .iter()
        .map(|(key, why)| format!("  {key}: {why}"))
        .collect();
    Err(CliError::Failed(format!(
        "{} objects not redriven (left in place):\n{}",
        refused.len(),
        refused.join("\n")
    )))
}
