//! The daily run's table maintenance: compaction, a checkpoint, and vacuum (Full mode, never
//! inside the 7-day retention).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::VacuumMode;

use deltalake::DeltaTable;

use super::table::LakeTable;
use crate::Result;

/// A table maintenance can work on: a [`LakeTable`] or a bare Delta table (the insight tables).
pub trait Maintained {
    fn delta(&self) -> &DeltaTable;
    /// Takes the table state an operation returned.
    fn replace(&mut self, table: DeltaTable);
}

impl Maintained for LakeTable {
    fn delta(&self) -> &DeltaTable {
        LakeTable::delta(self)
    }

    fn replace(&mut self, table: DeltaTable) {
        LakeTable::replace(self, table);
    }
}

impl Maintained for DeltaTable {
    fn delta(&self) -> &DeltaTable {
        self
    }

    fn replace(&mut self, table: DeltaTable) {
        *self = table;
    }
}

/// Files younger than this are never vacuumed.
pub const MIN_RETENTION: Duration = Duration::days(7);

/// What vacuum did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vacuumed {
    pub files_deleted: usize,
}

/// Writes a checkpoint at the table's current version.
pub async fn checkpoint(table: &impl Maintained) -> Result<()> {
    deltalake::checkpoints::create_checkpoint(table.delta(), None).await?;
    Ok(())
}

/// Removes files no version within `retention` (at least [`MIN_RETENTION`]) refers to, including
/// files never committed (a writer that stopped before its commit). `now` is the caller's clock.
pub async fn vacuum(
    table: &mut impl Maintained,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Vacuumed> {
    let retention = retention.max(MIN_RETENTION);
    let clock = Arc::new(FixedClock(now.timestamp_millis()));
    let (delta, metrics) = table
        .delta()
        .clone()
        .vacuum()
        .with_mode(VacuumMode::Full)
        .with_retention_period(retention)
        .with_clock(clock)
        .with_commit_properties(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
        .await?;
    table.replace(delta);
    Ok(Vacuumed {
        files_deleted: metrics.files_deleted.len(),
    })
}

#[derive(Debug)]
struct FixedClock(i64);

impl deltalake::operations::vacuum::Clock for FixedClock {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

/// Compacts small files into larger ones (bin-packing), keeping every row.
#[cfg(feature = "sql")]
pub async fn optimize(table: &mut impl Maintained) -> Result<u64> {
    let (delta, metrics) = table
        .delta()
        .clone()
        .optimize()
        .with_commit_properties(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
        .await?;
    table.replace(delta);
    Ok(metrics.num_files_removed)
}

/// Sets how many commits apart the writers write checkpoints (`delta.checkpointInterval`).
pub async fn set_checkpoint_interval(table: &mut impl Maintained, commits: u64) -> Result<()> {
    let properties = [("delta.checkpointInterval".to_owned(), commits.to_string())].into();
    let delta = table
        .delta()
        .clone()
        .set_tbl_properties()
        .with_properties(properties)
        .with_commit_properties(CommitProperties::default().with_cleanup_expired_logs(Some(false)))
        .await?;
    table.replace(delta);
    Ok(())
}
