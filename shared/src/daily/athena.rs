//! The insight stage on Athena (engine v3, Trino), for batch tables past
//! [`AthenaConfig::above_mb`]: each stale insight's self-contained query
//! ([`crate::insight::athena_sql`], the same SQL files DataFusion runs) runs in the stack's
//! workgroup over the Glue tables of the batch Delta tables. Its rows — a few hundred at most, one
//! per country, category, year or age group — come back through `GetQueryResults` and are written
//! as the same Delta insight tables the in-function path writes ([`super::insights::write`]), so a
//! reader sees one layout and one history whichever engine computed a day.
//!
//! - A run's queries are all started at once, then polled (100 ms, doubling to 2 s).
//! - `StartQueryExecution` carries a `ClientRequestToken` unique to the run, the insight and the
//!   attempt: a call the SDK retries (throttled, a dropped connection) starts no second query.
//! - The SDK retries throttling and transient errors (standard mode, 5 attempts, 200 ms initial
//!   backoff) and bounds every call (10 s an attempt, 30 s in all).
//! - A query that fails with an error Athena marks retryable runs again, up to
//!   [`AthenaConfig::attempts`] runs; one still queued or running [`AthenaConfig::timeout_seconds`]
//!   after it started is stopped (`StopQueryExecution`). Either way the run fails, naming the
//!   insight and the query, after writing the insights that did finish.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use aws_sdk_athena::Client;
use aws_sdk_athena::config::retry::RetryConfig;
use aws_sdk_athena::config::timeout::TimeoutConfig;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState};
use chrono::NaiveDate;
use tracing::{info, warn};

use super::insights::Computed;
use crate::config::{AthenaConfig, AwsConfig};
use crate::insight::{Insight, athena_sql};
use crate::{Error, Result};

/// The first pause between two looks at a running query; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(2);
/// Rows per `GetQueryResults` page (Athena's maximum).
const PAGE_ROWS: i32 = 1000;

/// The Athena operations this module calls: the daily function's role is granted exactly these
/// (`template.yaml`), and the stub's tests see no other.
pub const CALLS: [&str; 4] = [
    "StartQueryExecution",
    "GetQueryExecution",
    "GetQueryResults",
    "StopQueryExecution",
];

/// An Athena client for the insights, built once per function instance.
#[derive(Clone, Debug)]
pub struct Athena {
    client: Client,
    config: AthenaConfig,
}

/// How a query ended.
enum Ended {
    Succeeded,
    Failed { retryable: bool, message: String },
}

impl Athena {
    /// The client for `config`'s workgroup, talking to `aws.athena_endpoint_url` when given.
    pub async fn connect(aws: &AwsConfig, config: AthenaConfig) -> Athena {
        let sdk = crate::aws::sdk_config(aws, aws.athena_endpoint_url.as_deref()).await;
        let client_config = aws_sdk_athena::config::Builder::from(&sdk)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(5)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build();
        Athena {
            client: Client::from_conf(client_config),
            config,
        }
    }

    /// Bytes of the batch tables above which the insights run here.
    pub fn above_bytes(&self) -> u64 {
        self.config.above_mb.saturating_mul(1 << 20)
    }

    /// Runs the `insights` at once; each one's rows or why it has none, in the same order.
    pub async fn compute(
        &self,
        insights: &[Insight],
        run_date: NaiveDate,
    ) -> Vec<Result<Computed>> {
        let run: u64 = rand::random();
        futures::future::join_all(
            insights
                .iter()
                .map(|insight| self.run(*insight, run_date, run)),
        )
        .await
    }

    /// One insight's query, run again while Athena calls its failure retryable (up to the
    /// configured attempts).
    async fn run(&self, insight: Insight, run_date: NaiveDate, run: u64) -> Result<Computed> {
        let sql = athena_sql(insight);
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let id = self
                .start(&sql, &request_token(insight, run_date, run, attempt))
                .await
                .map_err(|e| {
                    Error::athena_from(format!("{}: starting its query", insight.name), e)
                })?;
            match self.wait(insight, &id, started).await? {
                Ended::Succeeded => {
                    let batches = vec![self.results(insight, &id).await?];
                    info!(
                        insight = insight.name,
                        query = %id,
                        attempt,
                        ms = started.elapsed().as_millis() as u64,
                        "Athena computed the insight."
                    );
                    return Ok(Computed { insight, batches });
                }
                Ended::Failed {
                    retryable: true,
                    message,
                } if attempt < self.config.attempts => {
                    warn!(insight = insight.name, query = %id, attempt, %message,
                        "Athena query failed with a retryable error; running it again.");
                    attempt += 1;
                }
                Ended::Failed { retryable, message } => {
                    return Err(Error::athena(format!(
                        "{}: query {id} failed (attempt {attempt} of {}, {}): {message}",
                        insight.name,
                        self.config.attempts,
                        if retryable {
                            "retryable"
                        } else {
                            "not retryable"
                        }
                    )));
                }
            }
        }
    }

    async fn start(
        &self,
        sql: &str,
        token: &str,
    ) -> std::result::Result<String, aws_sdk_athena::Error> {
        let started = self
            .client
            .start_query_execution()
            .query_string(sql)
            .client_request_token(token)
            .work_group(&self.config.workgroup)
            .query_execution_context(
                QueryExecutionContext::builder()
                    .catalog(&self.config.catalog)
                    .database(&self.config.database)
                    .build(),
            )
            .send()
            .await?;
        Ok(started.query_execution_id().unwrap_or_default().to_owned())
    }

    /// Polls the query until it ends; stops it once the timeout has passed.
    async fn wait(&self, insight: Insight, id: &str, started: Instant) -> Result<Ended> {
        let timeout = Duration::from_secs(self.config.timeout_seconds);
        let mut pause = FIRST_POLL;
        loop {
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| {
                    Error::athena_from(
                        format!("{}: reading the state of query {id}", insight.name),
                        aws_sdk_athena::Error::from(e),
                    )
                })?;
            let status = execution.query_execution().and_then(|q| q.status());
            let state = status.and_then(|s| s.state());
            match state {
                Some(QueryExecutionState::Succeeded) => return Ok(Ended::Succeeded),
                Some(QueryExecutionState::Failed) => {
                    let error = status.and_then(|s| s.athena_error());
                    let message = error
                        .and_then(|e| e.error_message())
                        .or_else(|| status.and_then(|s| s.state_change_reason()))
                        .unwrap_or("Athena gave no reason");
                    return Ok(Ended::Failed {
                        retryable: error.is_some_and(|e| e.retryable()),
                        message: message.to_owned(),
                    });
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(Error::athena(format!(
                        "{}: query {id} was cancelled (by someone else: this run did not stop it)",
                        insight.name
                    )));
                }
                _ => {}
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                let stopped = self
                    .client
                    .stop_query_execution()
                    .query_execution_id(id)
                    .send()
                    .await;
                if let Err(e) = stopped {
                    warn!(insight = insight.name, query = %id, error = %aws_sdk_athena::Error::from(e),
                        "Could not stop an Athena query that ran out of time.");
                }
                return Err(Error::athena(format!(
                    "{}: query {id} still {} after {} s (PINPIPE_ATHENA_TIMEOUT_SECONDS); stopped it",
                    insight.name,
                    state.map_or("unknown", |s| s.as_str()),
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// Every row of a query that succeeded, as one batch typed by Athena's column types.
    async fn results(&self, insight: Insight, id: &str) -> Result<RecordBatch> {
        let mut columns: Option<Vec<(String, String)>> = None;
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .get_query_results()
                .query_execution_id(id)
                .max_results(PAGE_ROWS)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    Error::athena_from(
                        format!("{}: reading the results of query {id}", insight.name),
                        aws_sdk_athena::Error::from(e),
                    )
                })?;
            if let Some(set) = page.result_set() {
                let first_page = columns.is_none();
                let names = columns.get_or_insert_with(|| {
                    set.result_set_metadata()
                        .map(|m| {
                            m.column_info()
                                .iter()
                                .map(|c| (c.name().to_owned(), c.r#type().to_owned()))
                                .collect()
                        })
                        .unwrap_or_default()
                });
                for (i, row) in set.rows().iter().enumerate() {
                    let values: Vec<Option<String>> = row
                        .data()
                        .iter()
                        .map(|d| d.var_char_value().map(str::to_owned))
                        .collect();
                    // a SELECT's first row holds the column labels
                    if first_page && i == 0 && is_header(&values, names) {
                        continue;
                    }
                    rows.push(values);
                }
            }
            next = page.next_token().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        to_batch(&columns.unwrap_or_default(), &rows)
            .map_err(|e| Error::athena(format!("{}: query {id}: {e}", insight.name)))
    }
}

/// A `ClientRequestToken` (32 to 128 characters) naming the insight, the run date, the run and the
/// attempt: the SDK's retries of one call reuse it; another run or attempt never does.
pub fn request_token(insight: Insight, run_date: NaiveDate, run: u64, attempt: u32) -> String {
    format!("pinpipe-{}-{run_date}-{run:016x}-{attempt}", insight.name)
}

fn is_header(values: &[Option<String>], columns: &[(String, String)]) -> bool {
    values.len() == columns.len()
        && values
            .iter()
            .zip(columns)
            .all(|(v, (name, _))| v.as_deref() == Some(name.as_str()))
}

/// Athena's text values (`GetQueryResults`' `VarCharValue`, absent for NULL) as an Arrow batch,
/// each column typed by its Athena type.
pub fn to_batch(
    columns: &[(String, String)],
    rows: &[Vec<Option<String>>],
) -> std::result::Result<RecordBatch, String> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (c, (name, athena_type)) in columns.iter().enumerate() {
        let texts = rows.iter().enumerate().map(|(r, row)| {
            row.get(c)
                .ok_or_else(|| format!("row {r} has {} values, not {}", row.len(), columns.len()))
                .map(Option::as_deref)
        });
        let parse = |what: &str| {
            let what = what.to_owned();
            move |(r, text): (usize, &str)| {
                format!("column {name}, row {r}: {text:?} is not {what}")
            }
        };
        let (data_type, array): (DataType, ArrayRef) = match athena_type.as_str() {
            "varchar" | "char" | "string" => (
                DataType::Utf8,
                Arc::new(texts.collect::<std::result::Result<StringArray, _>>()?),
            ),
            "bigint" => (
                DataType::Int64,
                Arc::new(
                    typed(texts, |t| t.parse::<i64>().ok(), parse("a bigint"))?
                        .into_iter()
                        .collect::<Int64Array>(),
                ),
            ),
            "integer" | "int" | "smallint" | "tinyint" => (
                DataType::Int32,
                Arc::new(
                    typed(texts, |t| t.parse::<i32>().ok(), parse("an integer"))?
                        .into_iter()
                        .collect::<Int32Array>(),
                ),
            ),
            "double" | "real" | "float" => (
                DataType::Float64,
                Arc::new(
                    typed(texts, |t| t.parse::<f64>().ok(), parse("a double"))?
                        .into_iter()
                        .collect::<Float64Array>(),
                ),
            ),
            "boolean" => (
                DataType::Boolean,
                Arc::new(
                    typed(texts, |t| t.parse::<bool>().ok(), parse("a boolean"))?
                        .into_iter()
                        .collect::<BooleanArray>(),
                ),
            ),
            "date" => (
                DataType::Date32,
                Arc::new(
                    typed(texts, days_since_epoch, parse("a date (YYYY-MM-DD)"))?
                        .into_iter()
                        .collect::<Date32Array>(),
                ),
            ),
            other => {
                return Err(format!(
                    "column {name} has Athena type {other:?}, which no insight table holds"
                ));
            }
        };
        fields.push(Field::new(name, data_type, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| e.to_string())
}

/// Each text parsed by `parse` (NULL stays NULL); the first that does not parse, described.
fn typed<'a, T>(
    texts: impl Iterator<Item = std::result::Result<Option<&'a str>, String>>,
    parse: impl Fn(&str) -> Option<T>,
    describe: impl Fn((usize, &str)) -> String,
) -> std::result::Result<Vec<Option<T>>, String> {
    texts
        .enumerate()
        .map(|(r, text)| match text? {
            None => Ok(None),
            Some(t) => parse(t).map(Some).ok_or_else(|| describe((r, t))),
        })
        .collect()
}

fn days_since_epoch(text: &str) -> Option<i32> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((day - epoch).num_days()).ok()
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int32Type, Int64Type};

    use super::*;
    use crate::insight::INSIGHTS;

    fn text(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn athenas_text_values_become_typed_columns_with_nulls_kept() {
        let columns = [
            ("age_group", "varchar"),
            ("join_year", "integer"),
            ("number", "bigint"),
            ("median_follower_count", "double"),
        ]
        .map(|(n, t)| (n.to_owned(), t.to_owned()));
        let rows = [
            text(&[
                Some("25-35"),
                Some("2016"),
                Some("9007199254740993"),
                Some("500002.5"),
            ]),
            // Athena prints large doubles in Java's notation; a NULL has no VarCharValue
            text(&[None, None, Some("-3"), Some("1.0E7")]),
        ];
        let batch = to_batch(&columns, &rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(0).as_string::<i32>().value(0), "25-35");
        assert!(batch.column(0).is_null(1) && batch.column(1).is_null(1));
        assert_eq!(batch.column(1).as_primitive::<Int32Type>().value(0), 2016);
        let numbers = batch.column(2).as_primitive::<Int64Type>();
        assert_eq!(
            (numbers.value(0), numbers.value(1)),
            (9_007_199_254_740_993, -3)
        );
        let medians = batch.column(3).as_primitive::<Float64Type>();
        assert_eq!((medians.value(0), medians.value(1)), (500_002.5, 1.0e7));
    }

    #[test]
    fn a_value_that_is_not_its_columns_type_or_an_unknown_type_is_refused_by_name() {
        let columns = [("category_count".to_owned(), "bigint".to_owned())];
        let bad = to_batch(&columns, &[text(&[Some("12")]), text(&[Some("lots")])]).unwrap_err();
        assert!(
            bad.contains("category_count") && bad.contains("row 1") && bad.contains("lots"),
            "{bad}"
        );
        let odd = [("where".to_owned(), "map(varchar,varchar)".to_owned())];
        let bad = to_batch(&odd, &[]).unwrap_err();
        assert!(bad.contains("where") && bad.contains("map"), "{bad}");
        let short = to_batch(&columns, &[vec![]]).unwrap_err();
        assert!(short.contains("row 0"), "{short}");
    }

    #[test]
    fn only_a_first_row_holding_the_column_names_is_taken_for_the_header() {
        let columns = [("country", "varchar"), ("category_count", "bigint")]
            .map(|(n, t)| (n.to_owned(), t.to_owned()));
        assert!(is_header(
            &text(&[Some("country"), Some("category_count")]),
            &columns
        ));
        assert!(!is_header(&text(&[Some("Chad"), Some("3")]), &columns));
        assert!(!is_header(&text(&[Some("country")]), &columns));
    }

    #[test]
    fn every_request_token_fits_athenas_limits_and_differs_by_run_and_attempt() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        for insight in INSIGHTS {
            let token = request_token(insight, day, u64::MAX, u32::MAX);
            assert!((32..=128).contains(&token.len()), "{token}");
            let short = request_token(insight, day, 0, 1);
            assert!((32..=128).contains(&short.len()), "{short}");
            assert_ne!(short, request_token(insight, day, 0, 2));
            assert_ne!(short, request_token(insight, day, 1, 1));
        }
    }
}
