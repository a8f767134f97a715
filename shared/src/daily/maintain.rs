//! The daily run's third stage: every table of the lake compacted, checkpointed and vacuumed, table
//! by table until the time budget is spent (the rest waits for tomorrow; nothing is half done:
//! each step is one Delta commit or none). A stream table is first swept of later copies of
//! re-posted `ind`s ([`crate::lake::dedup`]), before its compaction mixes their files. A cleaned
//! table's re-post index is then snapshotted at the compacted version (and older snapshots pruned),
//! so a stream consumer's cold start reads only the files written since
//! ([`crate::lake::IndIndex`]).

use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::lake::maintenance::{self, MIN_RETENTION};
use crate::lake::{LakeTable, ProgressDocs, SourceKey, TableId, Warehouse, dedup, ind_index};
use crate::{Result, Table};

/// What maintenance did to one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub table: String,
    /// Not reached within the budget.
    pub skipped: bool,
    /// Small files compacted away.
    pub files_compacted: u64,
    /// Files vacuum deleted (older than the retention, referenced by no version within it).
    pub files_vacuumed: u64,
    /// Later copies of re-posted `ind`s removed (stream tables).
    pub duplicates_removed: u64,
    /// The version of the re-post index's snapshot written (cleaned tables).
    pub ind_snapshot: Option<u64>,
    pub version: u64,
    pub ms: u64,
}

/// Maintains the cleaned tables, the quarantine and the insight tables that exist, in that order,
/// starting no table after `deadline`.
pub async fn maintain_all(
    warehouse: &Warehouse,
    now: DateTime<Utc>,
    deadline: Instant,
) -> Result<Vec<MaintenanceReport>> {
    let paths: Vec<String> = TableId::every().map(TableId::path).collect();
    let mut reports = Vec::new();
    for path in paths {
        if Instant::now() >= deadline {
            warn!(table = %path, "Maintenance budget spent; table left for the next run.");
            reports.push(MaintenanceReport {
                table: path,
                skipped: true,
                files_compacted: 0,
                files_vacuumed: 0,
                duplicates_removed: 0,
                ind_snapshot: None,
                version: 0,
                ms: 0,
            });
            continue;
        }
        let started = Instant::now();
        // a cleaned table (stream or batch), as opposed to the quarantine or an insight table
        let cleaned = TableId::every()
            .find(|id| id.path() == path && matches!(id, TableId::Stream(_) | TableId::Batch(_)));
        let mut duplicates_removed = 0;
        if let Some(id @ TableId::Stream(_)) = cleaned
            && let Some(mut stream) = LakeTable::open_existing(warehouse, id).await?
        {
            duplicates_removed = dedup::remove_later_copies(&mut stream).await?.removed;
        }
        let Some(mut table) = LakeTable::load_existing(warehouse, &path).await? else {
            continue;
        };
        let files_compacted = maintenance::optimize(&mut table).await?;
        maintenance::checkpoint(&table).await?;
        let vacuumed = maintenance::vacuum(&mut table, MIN_RETENTION, now).await?;
        let mut ind_snapshot = None;
        if let Some(id) = cleaned
            && let Some(cleaned) = LakeTable::open_existing(warehouse, id).await?
        {
            ind_snapshot = ind_index::snapshot_now(&cleaned).await?;
        }
        let report = MaintenanceReport {
            table: path,
            skipped: false,
            files_compacted,
            files_vacuumed: vacuumed.files_deleted as u64,
            duplicates_removed,
            ind_snapshot,
            version: table.version().unwrap_or_default(),
            ms: started.elapsed().as_millis() as u64,
        };
        info!(
            table = %report.table,
            files_compacted = report.files_compacted,
            files_vacuumed = report.files_vacuumed,
            duplicates_removed = report.duplicates_removed,
            ind_snapshot = ?report.ind_snapshot,
            version = report.version,
            ms = report.ms,
            "Maintained table."
        );
        crate::failpoint::hit("daily-after-maintain-table");
        reports.push(report);
    }
    if Instant::now() < deadline {
        prune_progress(warehouse, now).await?;
    }
    Ok(reports)
}

/// Deletes the raw-progress documents no table names any more, a day after they were written.
async fn prune_progress(warehouse: &Warehouse, now: DateTime<Utc>) -> Result<()> {
    let before = now - chrono::Duration::days(1);
    let mut deleted = 0;
    for table in Table::ALL {
        for id in [TableId::Batch(table), TableId::Quarantine] {
            let current = match LakeTable::open_existing(warehouse, id).await? {
                Some(mut lake) => lake.committed_id(&SourceKey::RawProgress { table }).await?,
                None => None,
            };
            deleted += ProgressDocs::new(warehouse, id, table)?
                .prune(current, before)
                .await?;
        }
    }
    info!(deleted, "Pruned raw-progress documents no table names.");
    Ok(())
}
