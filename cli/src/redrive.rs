//! `pinpipe redrive`: the stream mappings' discarded batches back into the stream tables
//! (`pinpipe::stream::redrive_failed_batches`), or chosen quarantine rows cleaned again into their
//! path's table (`pinpipe::redrive`) — exactly once, however often it runs.

use std::io::Write;

use clap::Args;
use pinpipe::config::AwsConfig;
use pinpipe::lake::Warehouse;
use pinpipe::routes::StreamRoutes;
use pinpipe::stream::{StreamConsumer, redrive_failed_batches};

use crate::CliError;

#[derive(Debug, Args)]
pub struct Redrive {
    /// The warehouse root the stream tables are in: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// The on-failure destination: s3://bucket (the template's lake bucket) or a directory; its
    /// aws/lambda/ objects are read.
    #[arg(
        long,
        required_unless_present = "quarantine",
        conflicts_with = "quarantine"
    )]
    failed_batches: Option<String>,
    /// Redrive quarantine rows instead: clean them again (after a rule was fixed) into the table
    /// of the path they came by; the rows still rejected stay.
    #[arg(long)]
    quarantine: bool,
    /// With --quarantine: only rows with these reason codes (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', requires = "quarantine")]
    reason: Vec<String>,
    /// With --quarantine: only rows rejected at or after this instant (RFC 3339).
    #[arg(long, requires = "quarantine")]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// With --quarantine: only rows rejected before this instant (RFC 3339).
    #[arg(long, requires = "quarantine")]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// With --quarantine: only these tables (pin, geo, user).
    #[arg(long, value_delimiter = ',', requires = "quarantine")]
    table: Vec<pinpipe::Table>,
    /// `stream=table` pairs for streams not named streaming-<prefix>-<table>.
    #[arg(long, default_value = "")]
    stream_tables: String,
}

pub fn redrive(args: Redrive, stdout: &mut dyn Write) -> Result<(), CliError> {
    let aws = AwsConfig::from_env();
    let warehouse = Warehouse::open(&args.warehouse, &aws)?;
    let Some(failed_batches) = &args.failed_batches else {
        return quarantine(&args, &warehouse, stdout);
    };
    let destination = Warehouse::open(failed_batches, &aws)?;
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

fn quarantine(
    args: &Redrive,
    warehouse: &Warehouse,
    stdout: &mut dyn Write,
) -> Result<(), CliError> {
    let selection = pinpipe::redrive::Selection {
        reasons: args.reason.clone(),
        since: args.since,
        until: args.until,
        tables: args.table.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(pinpipe::redrive::redrive_quarantine(warehouse, &selection))?;
    for t in &report.tables {
        writeln!(
            stdout,
            "{}: {} quarantine rows, {} clean now ({} rows written, {} already in the table, {} repeated), {} still rejected",
            t.table, t.records, t.clean, t.rows_written, t.reposts, t.duplicates, t.still_rejected
        )?;
    }
    writeln!(
        stdout,
        "{} quarantine rows selected, {} rows written, {} refused at the edge (nothing to replay)",
        report.selected,
        report.tables.iter().map(|t| t.rows_written).sum::<u64>(),
        report.not_replayable
    )?;
    Ok(())
}
