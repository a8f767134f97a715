//! `pinpipe daily`: the daily-analytics function's work, run here (same library, same handler state).

use std::io::Write;

use chrono::Utc;
use clap::Args;
use pinpipe::config::{AwsConfig, DailyConfig};
use pinpipe::routes::TopicRoutes;

use crate::CliError;

#[derive(Debug, Args)]
pub struct Daily {
    /// The warehouse root: a local directory or s3://bucket/prefix.
    #[arg(long)]
    warehouse: String,
    /// The run date (YYYY-MM-DD) the insight partitions are written under; today (UTC) when absent.
    #[arg(long)]
    date: Option<String>,
    /// `topic=table` pairs for raw topics not named <prefix>.<table>.
    #[arg(long, default_value = "")]
    topic_tables: String,
    /// No cleaning chunk and no table's maintenance starts later than this many seconds into the run.
    #[arg(long, default_value_t = 420)]
    budget_seconds: u64,
    /// Raw megabytes cleaned and committed at once.
    #[arg(long, default_value_t = pinpipe::daily::DEFAULT_CHUNK_MB)]
    chunk_mb: u64,
    /// Only these stages, comma-separated: clean, insights, maintain.
    #[arg(long, value_delimiter = ',', default_value = "clean,insights,maintain")]
    stages: Vec<String>,
}

/// Runs the day and prints the function's JSON summary on stdout.
pub fn daily(args: Daily, stdout: &mut dyn Write) -> Result<(), CliError> {
    let config = DailyConfig {
        warehouse: args.warehouse,
        routes: TopicRoutes::parse(&args.topic_tables)?,
        metrics: pinpipe::metrics::Emf::Off,
        budget_seconds: args.budget_seconds,
        chunk_mb: args.chunk_mb.max(1),
        // the insights stay in this process (the function's Athena settings come from its template)
        athena: None,
        aws: AwsConfig::from_env(),
    };
    let request = daily_analytics::DailyRequest {
        date: args.date,
        time: None,
        stages: Some(args.stages),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let summary = runtime
        .block_on(async {
            let state = daily_analytics::State::new(&config)?;
            let report = state.run(&request, Utc::now()).await?;
            Ok::<_, daily_analytics::Error>(daily_analytics::DailySummary::from(&report))
        })
        .map_err(|e| match e {
            daily_analytics::Error::Pinpipe(e) => CliError::Pinpipe(e),
            other => CliError::Failed(other.to_string()),
        })?;
    serde_json::to_writer_pretty(&mut *stdout, &summary).map_err(std::io::Error::from)?;
    writeln!(stdout)?;
    Ok(())
}
