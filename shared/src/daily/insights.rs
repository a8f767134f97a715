//! The daily run's second stage: the nine insight tables of spec §5 ([`crate::insight`]), computed
//! with DataFusion SQL over the batch tables and written to `tables/analytics/<name>`, replacing the
//! run date's partition ([`crate::lake::partition`]).
//!
//! Each write carries a `txn` (`pinpipe/insights/<run date>`) whose version fingerprints the inputs
//! (every batch table's raw-zone progress): a table already written for this date from the same
//! inputs is left alone, so a rerun writes nothing and a run stopped halfway finishes only the rest.

use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use tracing::info;

use crate::Result;
use crate::insight::{INSIGHTS, Insight, VIEWS};
use crate::lake::{Warehouse, partition, sql};

/// What the insight stage did for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsightReport {
    pub name: &'static str,
    /// Rows of the run date's partition.
    pub rows: u64,
    /// The version written now; `None` when the partition was already current.
    pub version: Option<u64>,
}

/// One computed insight.
#[derive(Clone, Debug)]
pub struct Computed {
    pub insight: Insight,
    pub batches: Vec<RecordBatch>,
}

impl Computed {
    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// Computes the nine insights from the batch tables (created empty where none exists yet).
pub async fn compute(warehouse: &Warehouse) -> Result<Vec<Computed>> {
    let queries: Vec<Insight> = VIEWS.into_iter().chain(INSIGHTS).collect();
    let results = sql::run_in_order(warehouse, &queries).await?;
    Ok(INSIGHTS
        .into_iter()
        .zip(results.into_iter().skip(VIEWS.len()))
        .map(|(insight, batches)| Computed { insight, batches })
        .collect())
}

/// Writes an insight as the run date's partition of its table (replacing what the partition held),
/// with the inputs' fingerprint. Returns the version written.
pub async fn write(
    warehouse: &Warehouse,
    computed: &Computed,
    run_date: NaiveDate,
    inputs: i64,
) -> Result<u64> {
    let started = Instant::now();
    let version = partition::replace_run_date(
        warehouse,
        computed.insight,
        &computed.batches,
        run_date,
        inputs,
    )
    .await?;
    info!(
        insight = computed.insight.name,
        %run_date,
        rows = computed.rows(),
        version,
        ms = started.elapsed().as_millis() as u64,
        "Wrote insight partition."
    );
    Ok(version)
}
