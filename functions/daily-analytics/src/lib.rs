//! The `daily-analytics` handler: EventBridge Scheduler's `{"time": <the scheduled time>}` (the
//! template's `Input`; run date = its day; an EventBridge rule's event carries the same field) or
//! `{"date": "YYYY-MM-DD"}` for a backfill → [`pinpipe::daily::run`] → a JSON summary of what each
//! stage did, and EMF metric lines on stdout.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pinpipe::config::DailyConfig;
use pinpipe::daily::{self, ComputedOn, DailyOptions, DailyReport, InsightEngine, Stages};
use pinpipe::error::Failure;
use pinpipe::lake::Warehouse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

/// The function's one error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Pinpipe(#[from] pinpipe::Error),
    #[error("not a daily-analytics request: {0}")]
    Event(#[from] serde_json::Error),
    #[error("{0}")]
    Request(String),
}

impl From<Error> for Diagnostic {
    /// The cause, in Lambda's `errorType` ([`Failure`]).
    fn from(e: Error) -> Diagnostic {
        let failure = match &e {
            Error::Event(_) | Error::Request(_) => Failure::BadEvent,
            Error::Pinpipe(_) => Failure::Infrastructure,
        };
        Diagnostic {
            error_type: failure.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// What the function accepts: EventBridge's scheduled event (only `time` is read) or an explicit
/// `date` (a backfill, or a rerun of a given day).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DailyRequest {
    /// `YYYY-MM-DD`; wins over `time`.
    #[serde(default)]
    pub date: Option<String>,
    /// The scheduled event's time, RFC 3339.
    #[serde(default)]
    pub time: Option<String>,
    /// Only these stages (`clean`, `insights`, `maintain`), e.g. `["insights"]` to recompute a
    /// day's insights; all three when absent.
    #[serde(default)]
    pub stages: Option<Vec<String>>,
}

impl DailyRequest {
    /// The run date: `date`, else the day of `time`, else today (UTC).
    pub fn run_date(&self, now: DateTime<Utc>) -> Result<NaiveDate, Error> {
        if let Some(date) = &self.date {
            return NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .map_err(|_| Error::Request(format!("date {date:?} is not a YYYY-MM-DD date")));
        }
        if let Some(time) = &self.time {
            return DateTime::parse_from_rfc3339(time.trim())
                .map(|t| t.with_timezone(&Utc).date_naive())
                .map_err(|_| Error::Request(format!("time {time:?} is not an RFC 3339 time")));
        }
        Ok(now.date_naive())
    }

    /// The stages asked for: all three when the request names none.
    pub fn stages(&self) -> Result<Stages, Error> {
        match &self.stages {
            None => Ok(Stages::ALL),
            Some(names) => Stages::parse(names).map_err(Error::Request),
        }
    }
}

/// The answer: the run's summary.
#[derive(Clone, Debug, Serialize)]
pub struct DailySummary {
    pub run_date: String,
    pub raw_objects: u64,
    /// Raw objects left for the next run (the time budget was spent).
    pub raw_objects_left: u64,
    pub records_in: u64,
    pub rows_written: u64,
    pub quarantined: u64,
    pub duplicates_skipped: u64,
    pub insight_tables_written: Vec<String>,
    pub insight_rows: u64,
    /// Where the insights were computed: `datafusion` (in the function), `athena`, or `none`.
    pub insights_on: ComputedOn,
    /// Megabytes of Parquet in the batch tables (past `PINPIPE_ATHENA_ABOVE_MB`, the insights go
    /// to Athena).
    pub batch_mb: u64,
    pub tables_maintained: usize,
    pub tables_left_for_next_run: Vec<String>,
    pub clean_ms: u64,
    pub insights_ms: u64,
    pub maintenance_ms: u64,
}

impl From<&DailyReport> for DailySummary {
    fn from(r: &DailyReport) -> Self {
        DailySummary {
            run_date: r.run_date.to_string(),
            raw_objects: r.clean.iter().map(|c| c.objects).sum(),
            raw_objects_left: r.clean.iter().map(|c| c.objects_left).sum(),
            records_in: r.clean.iter().map(|c| c.stats.read).sum(),
            rows_written: r.clean.iter().map(|c| c.rows_written).sum(),
            quarantined: r.clean.iter().map(|c| c.quarantined).sum(),
            duplicates_skipped: r.clean.iter().map(|c| c.stats.duplicates + c.reposts).sum(),
            insight_tables_written: r
                .insights
                .iter()
                .filter(|i| i.version.is_some())
                .map(|i| i.name.to_owned())
                .collect(),
            insight_rows: r.insights.iter().map(|i| i.rows).sum(),
            insights_on: r.insights_on,
            batch_mb: r.batch_bytes >> 20,
            tables_maintained: r.maintenance.iter().filter(|m| !m.skipped).count(),
            tables_left_for_next_run: r
                .maintenance
                .iter()
                .filter(|m| m.skipped)
                .map(|m| m.table.clone())
                .collect(),
            clean_ms: r.clean_ms,
            insights_ms: r.insights_ms,
            maintenance_ms: r.maintenance_ms,
        }
    }
}

/// Built once at cold start.
pub struct State {
    warehouse: Warehouse,
    config: DailyConfig,
    /// Where the insights run: Athena's client is built on the first run (it needs the runtime).
    engine: OnceCell<InsightEngine>,
    /// One run at a time per container (a retried event waits for the run in flight).
    running: Mutex<()>,
}

impl State {
    pub fn new(config: &DailyConfig) -> Result<Self, Error> {
        Ok(State {
            warehouse: Warehouse::open(&config.warehouse, &config.aws)?,
            config: config.clone(),
            engine: OnceCell::new(),
            running: Mutex::new(()),
        })
    }

    /// Runs the day's work for a request, with `now` as the clock.
    pub async fn run(
        &self,
        request: &DailyRequest,
        now: DateTime<Utc>,
    ) -> Result<DailyReport, Error> {
        let options = DailyOptions {
            run_date: request.run_date(now)?,
            now,
            routes: self.config.routes.clone(),
            budget: Duration::from_secs(self.config.budget_seconds),
            chunk_bytes: self.config.chunk_mb << 20,
            stages: request.stages()?,
        };
        let _one_at_a_time = self.running.lock().await;
        let engine = self
            .engine
            .get_or_init(|| async {
                match &self.config.athena {
                    None => InsightEngine::Here,
                    Some(athena) => InsightEngine::Athena(std::sync::Arc::new(
                        daily::athena::Athena::connect(&self.config.aws, athena.clone()).await,
                    )),
                }
            })
            .await;
        let report = daily::run_on(&self.warehouse, &options, engine).await?;
        self.config
            .metrics
            .emit(|namespace| report.metric_lines(namespace, Utc::now()));
        Ok(report)
    }
}

/// The handler: a scheduled event (or none) runs the day it names.
pub async fn handle(state: &State, event: LambdaEvent<Value>) -> Result<DailySummary, Error> {
    let payload = event.payload;
    let request: DailyRequest = if payload.is_null() {
        DailyRequest::default()
    } else {
        serde_json::from_value(payload)?
    };
    let report = state.run(&request, Utc::now()).await?;
    Ok(DailySummary::from(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_says_whether_the_request_or_the_infrastructure_is_at_fault() {
        let bad = Error::Request("date 27/11/2026: expected YYYY-MM-DD".into());
        assert_eq!(Diagnostic::from(bad).error_type, "BadEvent");
        let lake = Error::Pinpipe(pinpipe::Error::warehouse("unreachable"));
        assert_eq!(Diagnostic::from(lake).error_type, "Infrastructure");
    }

    fn request(json: &str) -> DailyRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_run_date_is_the_explicit_date_else_the_scheduled_events_day() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T12:00:03Z")
            .unwrap()
            .with_timezone(&Utc);
        let scheduled = request(
            r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events",
                "time":"2026-11-26T12:00:00Z","region":"eu-west-1","resources":[],"detail":{}}"#,
        );
        assert_eq!(scheduled.run_date(now).unwrap().to_string(), "2026-11-26");
        let backfill = request(r#"{"date":"2026-01-31"}"#);
        assert_eq!(backfill.run_date(now).unwrap().to_string(), "2026-01-31");
        assert_eq!(
            request("{}").run_date(now).unwrap().to_string(),
            "2026-11-27"
        );
        let insights_only = request(r#"{"stages":["insights"]}"#).stages().unwrap();
        assert!(insights_only.insights && !insights_only.clean && !insights_only.maintain);
        assert_eq!(request("{}").stages().unwrap(), Stages::ALL);
        let refused = request(r#"{"stages":["vacuum"]}"#).stages().unwrap_err();
        assert!(refused.to_string().contains("vacuum"), "{refused}");
        let bad = request(r#"{"date":"31/01/2026"}"#)
            .run_date(now)
            .unwrap_err();
        assert!(bad.to_string().contains("31/01/2026"), "{bad}");
    }
}
