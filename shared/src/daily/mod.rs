//! The daily run (the `daily-analytics` function and `pinpipe daily`): three stages, each safe to
//! stop anywhere and run again.
//!
//! 1. [`batch`]: raw-zone objects not cleaned yet → `tables/batch/*` and the quarantine, exactly
//!    once (each table's progress through the raw zone, committed with the rows).
//! 2. [`insights`]: the nine insight tables for the run date, skipped where already computed from
//!    the same inputs; computed here with DataFusion, or on Athena ([`athena`], feature `athena`)
//!    once the batch tables outgrow one function.
//! 3. [`maintain`]: compaction, checkpoints and vacuum of every table, within a time budget.

#[cfg(feature = "athena")]
pub mod athena;
pub mod batch;
pub mod insights;
pub mod maintain;

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use tracing::info;

pub use self::batch::{BatchCleanReport, Progress};
pub use self::insights::InsightReport;
pub use self::maintain::MaintenanceReport;
use crate::lake::{LakeTable, TableId, Warehouse};
use crate::metrics::{MetricSet, Unit};
use crate::routes::TopicRoutes;
use crate::{Result, Table};

/// Raw bytes cleaned and committed at once (bounds the run's memory whatever the day's volume).
pub const DEFAULT_CHUNK_BYTES: u64 = DEFAULT_CHUNK_MB << 20;
pub use crate::config::DEFAULT_CHUNK_MB;

/// How one daily run goes.
#[derive(Clone, Debug)]
pub struct DailyOptions {
    /// The date the insight partitions are written under.
    pub run_date: NaiveDate,
    /// The run's clock (vacuum's retention is measured from it; quarantine times).
    pub now: DateTime<Utc>,
    pub routes: TopicRoutes,
    /// No cleaning chunk and no table's maintenance starts after this long (from the run's start);
    /// what is left waits for the next run.
    pub budget: Duration,
    pub chunk_bytes: u64,
    /// The stages to run ([`Stages::ALL`] on the schedule).
    pub stages: Stages,
}

/// Which of the three stages a run does. A stage left out is not a failure: cleaning left out
/// still reads every batch table's progress (the insights' inputs), and the raw objects it did not
/// clean wait for the next run; maintenance left out waits for the next run too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stages {
    pub clean: bool,
    pub insights: bool,
    pub maintain: bool,
}

impl Stages {
    pub const ALL: Stages = Stages {
        clean: true,
        insights: true,
        maintain: true,
    };
    pub const NAMES: [&str; 3] = ["clean", "insights", "maintain"];

    /// The stages named (`clean`, `insights`, `maintain`, in any order); none named is an error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> std::result::Result<Stages, String> {
        let mut stages = Stages {
            clean: false,
            insights: false,
            maintain: false,
        };
        for name in names {
            match name.as_ref().trim() {
                "clean" => stages.clean = true,
                "insights" => stages.insights = true,
                "maintain" => stages.maintain = true,
                other => {
                    return Err(format!(
                        "stage {other:?} is not one of {}",
                        Self::NAMES.join(", ")
                    ));
                }
            }
        }
        if stages
            == (Stages {
                clean: false,
                insights: false,
                maintain: false,
            })
        {
            return Err(format!(
                "no stage named (choose from {})",
                Self::NAMES.join(", ")
            ));
        }
        Ok(stages)
    }
}

impl Default for Stages {
    fn default() -> Self {
        Stages::ALL
    }
}

/// Where the insight stage computes.
#[derive(Clone, Debug, Default)]
pub enum InsightEngine {
    /// DataFusion in this process, whatever the tables' size (the laptop; no Athena configured).
    #[default]
    Here,
    /// Athena when the batch tables hold more than its threshold; DataFusion here below it.
    #[cfg(feature = "athena")]
    Athena(std::sync::Arc<athena::Athena>),
}

/// Which engine computed a run's insights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComputedOn {
    /// Nothing was computed: every insight was current, or the stage was left out.
    None,
    DataFusion,
    Athena,
}

/// What a daily run did.
#[derive(Clone, Debug)]
pub struct DailyReport {
    pub run_date: NaiveDate,
    pub clean: Vec<BatchCleanReport>,
    /// The fingerprint of the insights' inputs (every batch table's raw-zone progress).
    pub inputs: i64,
    pub insights: Vec<InsightReport>,
    /// Where the insights were computed.
    pub insights_on: ComputedOn,
    /// Bytes of Parquet in the three batch tables after cleaning (what decides the engine).
    pub batch_bytes: u64,
    pub maintenance: Vec<MaintenanceReport>,
    pub clean_ms: u64,
    pub insights_ms: u64,
    pub maintenance_ms: u64,
}

impl DailyReport {
    /// CloudWatch EMF lines: one for the run, one per batch table. Only a run that succeeded has a
    /// report, so the run's line carries `RunsSucceeded` (a dead man's switch watches for it) and
    /// the raw objects left for the next run, over all tables.
    pub fn metric_lines(&self, namespace: &str, at: DateTime<Utc>) -> Vec<String> {
        let mut lines = vec![
            MetricSet::new(namespace)
                .dimension("Function", "daily-analytics")
                .count("RunsSucceeded", 1)
                .count(
                    "RawObjectsLeft",
                    self.clean.iter().map(|c| c.objects_left).sum(),
                )
                .metric("CleanMs", Unit::Milliseconds, self.clean_ms as f64)
                .metric("InsightsMs", Unit::Milliseconds, self.insights_ms as f64)
                .metric(
                    "MaintenanceMs",
                    Unit::Milliseconds,
                    self.maintenance_ms as f64,
                )
                .count(
                    "InsightTablesWritten",
                    self.insights.iter().filter(|i| i.version.is_some()).count() as u64,
                )
                .count(
                    "TablesMaintained",
                    self.maintenance.iter().filter(|m| !m.skipped).count() as u64,
                )
                .count(
                    "DuplicatesRemoved",
                    self.maintenance.iter().map(|m| m.duplicates_removed).sum(),
                )
                .count(
                    "TablesNotMaintained",
                    self.maintenance.iter().filter(|m| m.skipped).count() as u64,
                )
                .to_line(at),
        ];
        for c in &self.clean {
            lines.push(
                MetricSet::new(namespace)
                    .dimension("Function", "daily-analytics")
                    .dimension("Table", c.table.name())
                    .count("RawObjects", c.objects)
                    .count("RawObjectsLeft", c.objects_left)
                    .count("RecordsIn", c.stats.read)
                    .count("RecordsClean", c.stats.clean)
                    .count("RowsWritten", c.rows_written)
                    .count("FieldsNulled", c.stats.nulled_total())
                    .count("RecordsRejected", c.stats.rejected_total())
                    .count("DuplicatesSkipped", c.stats.duplicates + c.reposts)
                    .to_line(at),
            );
        }
        lines
    }
}

/// Runs the stages `options` names, in order, the insights here.
pub async fn run(warehouse: &Warehouse, options: &DailyOptions) -> Result<DailyReport> {
    run_on(warehouse, options, &InsightEngine::Here).await
}

/// Runs the stages `options` names, in order, the insights on `engine`.
pub async fn run_on(
    warehouse: &Warehouse,
    options: &DailyOptions,
    engine: &InsightEngine,
) -> Result<DailyReport> {
    let started = Instant::now();
    let deadline = started + options.budget;
    let stages = options.stages;
    // with cleaning left out, a deadline already passed: the progress is read, nothing is cleaned
    let clean_deadline = if stages.clean { deadline } else { started };
    let (clean, progress) = batch::clean_new_raw(
        warehouse,
        &options.routes,
        options.now,
        options.chunk_bytes,
        clean_deadline,
    )
    .await?;
    let clean_ms = started.elapsed().as_millis() as u64;

    let at = Instant::now();
    let inputs = fingerprint(&progress);
    let batch_bytes = batch_bytes(warehouse).await?;
    let (insights, insights_on) = if stages.insights {
        publish_insights(warehouse, options.run_date, inputs, engine, batch_bytes).await?
    } else {
        (Vec::new(), ComputedOn::None)
    };
    let insights_ms = at.elapsed().as_millis() as u64;
    crate::failpoint::hit("daily-before-maintenance");

    let at = Instant::now();
    let maintenance = if stages.maintain {
        maintain::maintain_all(warehouse, options.now, deadline).await?
    } else {
        Vec::new()
    };
    let maintenance_ms = at.elapsed().as_millis() as u64;

    let report = DailyReport {
        run_date: options.run_date,
        clean,
        inputs,
        insights,
        insights_on,
        batch_bytes,
        maintenance,
        clean_ms,
        insights_ms,
        maintenance_ms,
    };
    info!(
        run_date = %report.run_date,
        rows_written = report.clean.iter().map(|c| c.rows_written).sum::<u64>(),
        quarantined = report.clean.iter().map(|c| c.quarantined).sum::<u64>(),
        raw_objects = report.clean.iter().map(|c| c.objects).sum::<u64>(),
        raw_objects_left = report.clean.iter().map(|c| c.objects_left).sum::<u64>(),
        insight_tables_written = report.insights.iter().filter(|i| i.version.is_some()).count(),
        insights_on = ?report.insights_on,
        batch_bytes,
        tables_maintained = report.maintenance.iter().filter(|m| !m.skipped).count(),
        clean_ms,
        insights_ms,
        maintenance_ms,
        "Daily run done."
    );
    Ok(report)
}

/// Bytes of Parquet in the three batch tables (their live files), 0 for a table not written yet.
pub async fn batch_bytes(warehouse: &Warehouse) -> Result<u64> {
    let mut bytes = 0;
    for table in Table::ALL {
        if let Some(lake) = LakeTable::open_existing(warehouse, TableId::Batch(table)).await? {
            bytes += lake.size_bytes()?;
        }
    }
    Ok(bytes)
}

/// Computes and writes the insights whose run-date partition is not current for `inputs`, on
/// `engine`; says where they were computed.
async fn publish_insights(
    warehouse: &Warehouse,
    run_date: NaiveDate,
    inputs: i64,
    engine: &InsightEngine,
    batch_bytes: u64,
) -> Result<(Vec<InsightReport>, ComputedOn)> {
    let mut stale = Vec::new();
    for insight in crate::insight::INSIGHTS {
        if !crate::lake::partition::is_current(warehouse, insight, run_date, inputs).await? {
            stale.push(insight);
        }
    }
    let unchanged = |insight: &crate::insight::Insight| InsightReport {
        name: insight.name,
        rows: 0,
        version: None,
    };
    if stale.is_empty() {
        return Ok((
            crate::insight::INSIGHTS.iter().map(unchanged).collect(),
            ComputedOn::None,
        ));
    }
    #[cfg(feature = "athena")]
    if let InsightEngine::Athena(athena) = engine
        && batch_bytes > athena.above_bytes()
    {
        // only the stale ones: each is a query of its own, paid for by the bytes it scans
        let mut results = athena.compute(&stale, run_date).await.into_iter();
        let mut reports = Vec::new();
        let mut failed = None;
        for insight in crate::insight::INSIGHTS {
            if !stale.contains(&insight) {
                reports.push(unchanged(&insight));
                continue;
            }
            match results.next() {
                Some(Ok(computed)) => {
                    let version = insights::write(warehouse, &computed, run_date, inputs).await?;
                    crate::failpoint::hit("daily-after-insight");
                    reports.push(InsightReport {
                        name: insight.name,
                        rows: computed.rows(),
                        version: Some(version),
                    });
                }
                Some(Err(e)) => {
                    failed.get_or_insert(e);
                }
                None => {}
            }
        }
        // the insights that finished are written; the run fails for the others
        return match failed {
            Some(e) => Err(e),
            None => Ok((reports, ComputedOn::Athena)),
        };
    }
    let _ = (engine, batch_bytes);
    let mut reports = Vec::new();
    for computed in insights::compute(warehouse).await? {
        let version = if stale.contains(&computed.insight) {
            let version = insights::write(warehouse, &computed, run_date, inputs).await?;
            crate::failpoint::hit("daily-after-insight");
            Some(version)
        } else {
            None
        };
        reports.push(InsightReport {
            name: computed.insight.name,
            rows: computed.rows(),
            version,
        });
    }
    Ok((reports, ComputedOn::DataFusion))
}

/// A stable fingerprint of the batch tables' progress (FNV-1a, 63 bits: a Delta `txn` version).
pub fn fingerprint(progress: &Progress) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (table, id) in progress {
        let entry = format!("{table}\t{id}\n");
        for byte in entry.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    (hash & (i64::MAX as u64)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Table;

    #[test]
    fn the_fingerprint_changes_with_any_tables_progress_and_only_then() {
        let mut progress = Progress::new();
        let empty = fingerprint(&progress);
        progress.insert(Table::Pin, 10);
        let one = fingerprint(&progress);
        assert_ne!(empty, one);
        assert_eq!(one, fingerprint(&progress.clone()));
        progress.insert(Table::Pin, 11);
        assert_ne!(one, fingerprint(&progress));
        progress.insert(Table::Geo, 11);
        assert_ne!(one, fingerprint(&progress));
        assert!(fingerprint(&progress) >= 0);
    }

    #[test]
    fn stages_are_named_in_any_order_and_an_unknown_or_empty_list_is_refused() {
        let two = Stages::parse(&["maintain", " clean"]).unwrap();
        assert!(two.clean && two.maintain && !two.insights);
        assert_eq!(
            Stages::parse(&["clean", "insights", "maintain"]).unwrap(),
            Stages::ALL
        );
        let unknown = Stages::parse(&["clean", "compact"]).unwrap_err();
        assert!(unknown.contains("\"compact\""), "{unknown}");
        assert!(Stages::parse::<&str>(&[]).is_err());
    }
}
