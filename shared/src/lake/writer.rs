//! The lake's one exactly-once writer: clean rows and rejections in, each with the source position
//! or progress it reaches; the rest — the table handle, the committed-position check, the re-post
//! index, the Arrow batch, the conditional append and what it did — happens here, the same way for
//! the stream path, the landing, the daily run and the redrive.
//!
//! - [`RowWriter`]: one cleaned table (`tables/stream/<t>` or `tables/batch/<t>`) and its
//!   [`IndIndex`]; rows whose `ind` the table holds are dropped as re-posts before the append.
//! - [`QuarantineWriter`]: the quarantine, opened at the first rejection and kept warm; rejections
//!   at or below the source's committed position (a redelivery) are skipped.

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use tracing::debug;

use super::ind_index::IndIndex;
use super::position::{Position, SourceKey};
use super::table::{Appended, Checkpoint, LakeTable, Swap};
use super::warehouse::{TableId, Warehouse};
use crate::quarantine::QuarantineRecord;
use crate::record::CleanRow;
use crate::{Error, Result, Table, schema};

/// A warm table handle is reloaded from the latest checkpoint after this many appends: delta-rs's
/// incremental updates make a long-lived handle slower with every file (BENCHMARKS.md).
const REOPEN_AFTER_APPENDS: u32 = 100;

/// What an append is conditional on, and what it records with its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The source position the rows reach (only grows): nothing is written when the table holds it.
    Position(Checkpoint),
    /// A progress moved from the one the writer read to its own (the daily run, the redrive):
    /// committed only while the table still names `from` ([`Error::ProgressMoved`] otherwise).
    Swap(Swap),
}

/// What one write did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows added by this call (none when an earlier delivery had committed them).
    pub rows: u64,
    /// Clean rows dropped because the table already held their `ind`.
    pub reposts: u64,
    /// The version holding this append, when this call committed it (or found its own commit whose
    /// answer was lost: a version no later than it); `None` when nothing was committed now.
    pub version: Option<u64>,
    /// Commit attempts beyond the first (lost races).
    pub retries: u32,
    /// Milliseconds the append took (data files and commit).
    pub commit_ms: u64,
}

/// Rows ready to append: re-posts dropped, as one Arrow batch that owns its bytes (so the raw
/// input can go before the append starts, and the append can run on a task of its own).
#[derive(Debug)]
pub struct Prepared {
    /// The rows in arrival order, in one or more parts (built side by side; one data file).
    data: Vec<RecordBatch>,
    inds: Vec<i64>,
    reposts: u64,
}

impl Prepared {
    /// Rows left to append after the re-post check.
    pub fn rows(&self) -> usize {
        self.inds.len()
    }

    /// Clean rows dropped because the table already held their `ind`.
    pub fn reposts(&self) -> u64 {
        self.reposts
    }
}

/// Appends `data` under `commit` and says what that did — the one place an [`Appended`] is read.
/// `inds` are the rows' ids, recorded in `index` when the commit is this call's (a recovered
/// commit's version is only an upper bound: the index reads it on its next catch-up).
async fn append(
    lake: &mut LakeTable,
    data: Vec<RecordBatch>,
    commit: &Commit,
    inds: &[i64],
    index: Option<&mut IndIndex>,
) -> Result<Written> {
    let started = std::time::Instant::now();
    let appended = match commit {
        Commit::Position(checkpoint) => lake.append(data, std::slice::from_ref(checkpoint)).await?,
        Commit::Swap(swap) => lake.append_swapping(data, swap).await?,
    };
    let mut written = Written {
        retries: lake.last_attempts().saturating_sub(1),
        commit_ms: started.elapsed().as_millis() as u64,
        ..Written::default()
    };
    match appended {
        Appended::Committed { version, rows, .. } => {
            if let Some(index) = index {
                index.committed(version, inds.iter().copied());
            }
            written.version = Some(version);
            written.rows = rows as u64;
        }
        Appended::Recovered {
            by_version, rows, ..
        } => {
            written.version = Some(by_version);
            written.rows = rows as u64;
        }
        Appended::AlreadyCommitted | Appended::Nothing => {}
    }
    Ok(written)
}

/// `rows` as Arrow batches in arrival order: copying the rows' bytes into Arrow buffers is a pass
/// over every byte kept, so a large chunk's parts are built on every core side by side.
fn record_batches(table: Table, rows: &[CleanRow<'_>]) -> Result<Vec<RecordBatch>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.len().div_ceil(BUILD_PARALLEL_FROM))
        .max(1);
    let parts: Vec<&[CleanRow<'_>]> = rows.chunks(rows.len().div_ceil(threads).max(1)).collect();
    on_threads(&parts, |part| schema::to_record_batch(table, part))
        .into_iter()
        .collect()
}

/// Rows below this many become one Arrow batch on the calling thread: a thread costs more.
const BUILD_PARALLEL_FROM: usize = 16_384;

/// `work` on each of `parts`, side by side on the rayon pool (the calling thread when there is one
/// part); the results in the parts' order.
fn on_threads<P: Sync, T: Send>(parts: &[P], work: impl Fn(&P) -> T + Sync + Send) -> Vec<T> {
    if parts.len() <= 1 {
        return parts.iter().map(&work).collect();
    }
    parts.par_iter().map(work).collect()
}

/// One cleaned table written exactly once, with its re-post index; kept warm between calls.
#[derive(Debug)]
pub struct RowWriter {
    warehouse: Warehouse,
    id: TableId,
    table: Table,
    lake: LakeTable,
    index: IndIndex,
    appends: u32,
}

impl RowWriter {
    /// Opens (creating if new) a stream or batch table.
    pub async fn open(warehouse: &Warehouse, id: TableId) -> Result<Self> {
        let table = match id {
            TableId::Stream(t) | TableId::Batch(t) => t,
            other => {
                return Err(Error::warehouse(format!(
                    "{other} holds no clean rows of one table"
                )));
            }
        };
        Ok(RowWriter {
            warehouse: warehouse.clone(),
            id,
            table,
            lake: LakeTable::open(warehouse, id).await?,
            index: IndIndex::new(),
            appends: 0,
        })
    }

    /// The table handle (its committed positions and progress, its version).
    pub fn table(&self) -> Table {
        self.table
    }

    pub fn lake(&mut self) -> &mut LakeTable {
        &mut self.lake
    }

    /// Reads the commits made since the handle last looked, reloading a handle that has appended
    /// [`REOPEN_AFTER_APPENDS`] times (or failed) from its latest checkpoint first.
    pub async fn refresh(&mut self) -> Result<()> {
        if self.appends >= REOPEN_AFTER_APPENDS {
            self.lake = LakeTable::open(&self.warehouse, self.id).await?;
            self.appends = 0;
        }
        self.lake.refresh().await
    }

    /// After a failure: the handle is reloaded at the next [`RowWriter::refresh`] (the failure may
    /// have left it half updated); the re-post index stays (it is tagged with the version it
    /// reflects and catches up).
    pub fn reload(&mut self) {
        self.appends = REOPEN_AFTER_APPENDS;
    }

    /// Drops the rows whose `ind` the table holds (as of the handle's version) and builds the batch.
    pub async fn prepare(&mut self, rows: Vec<CleanRow<'_>>) -> Result<Prepared> {
        self.index.catch_up(&self.lake).await?;
        let (rows, reposts) = self.index.without_reposts(rows);
        self.build(rows, reposts)
    }

    /// [`RowWriter::prepare`] for rows whose `ind`s are distinct already (one
    /// [`crate::cleaner::TableCleaner`]'s first arrivals), in arrival order over `parts`, left
    /// where they lie: each part is checked against the table (one bitmap probe a row) and built
    /// into its Arrow batch on a core of its own.
    pub async fn prepare_first_arrivals(
        &mut self,
        parts: &[Vec<&CleanRow<'_>>],
    ) -> Result<Prepared> {
        self.index.catch_up(&self.lake).await?;
        let (index, table) = (&self.index, self.table);
        let built = on_threads(parts, |part| {
            let mut inds = Vec::with_capacity(part.len());
            let mut kept = Vec::with_capacity(part.len());
            for &row in part {
                if !index.contains(row.ind()) {
                    inds.push(row.ind());
                    kept.push(row);
                }
            }
            let reposts = part.len() - kept.len();
            schema::to_record_batch(table, &kept).map(|batch| (batch, inds, reposts))
        });
        let mut prepared = Prepared {
            data: Vec::with_capacity(parts.len()),
            inds: Vec::new(),
            reposts: 0,
        };
        for part in built {
            let (batch, inds, reposts) = part?;
            prepared.data.push(batch);
            prepared.inds.extend(inds);
            prepared.reposts += reposts as u64;
        }
        Ok(prepared)
    }

    fn build(&self, rows: Vec<CleanRow<'_>>, reposts: usize) -> Result<Prepared> {
        let inds: Vec<i64> = rows.iter().map(CleanRow::ind).collect();
        let data = record_batches(self.table, &rows)?;
        Ok(Prepared {
            data,
            inds,
            reposts: reposts as u64,
        })
    }

    /// Appends prepared rows under `commit`.
    pub async fn commit(&mut self, prepared: Prepared, commit: &Commit) -> Result<Written> {
        let Prepared {
            data,
            inds,
            reposts,
        } = prepared;
        let mut written =
            append(&mut self.lake, data, commit, &inds, Some(&mut self.index)).await?;
        self.appends += 1;
        // a writer following a busy table through the day keeps cold starts short
        self.index.snapshot_if_due(&self.lake).await;
        written.reposts = reposts;
        Ok(written)
    }

    /// [`RowWriter::prepare`] then [`RowWriter::commit`].
    pub async fn write(&mut self, rows: Vec<CleanRow<'_>>, commit: &Commit) -> Result<Written> {
        let prepared = self.prepare(rows).await?;
        self.commit(prepared, commit).await
    }
}

/// The quarantine, opened at the first rejection and kept warm between calls.
#[derive(Debug)]
pub struct QuarantineWriter {
    warehouse: Warehouse,
    lake: Option<LakeTable>,
}

impl QuarantineWriter {
    pub fn new(warehouse: &Warehouse) -> Self {
        QuarantineWriter {
            warehouse: warehouse.clone(),
            lake: None,
        }
    }

    /// The quarantine's handle, opened (and created) on first use.
    pub async fn lake(&mut self) -> Result<&mut LakeTable> {
        if self.lake.is_none() {
            self.lake = Some(LakeTable::open(&self.warehouse, TableId::Quarantine).await?);
        }
        self.lake
            .as_mut()
            .ok_or_else(|| Error::warehouse("the quarantine did not open"))
    }

    /// After a failure: the handle is opened again at the next use.
    pub fn reload(&mut self) {
        self.lake = None;
    }

    /// Writes the rejections of one source's batch that come after the position the quarantine
    /// has committed for `source`, with the batch's last position `last` (the quarantine keeps its
    /// own position per source: a crash between the rows' commit and this one doubles nothing).
    /// Each rejection comes with its own position. No rejection: nothing is read or written.
    pub async fn write_after(
        &mut self,
        source: SourceKey,
        last: Position,
        rejections: Vec<(Position, QuarantineRecord)>,
    ) -> Result<Written> {
        if rejections.is_empty() {
            return Ok(Written::default());
        }
        let lake = self.lake().await?;
        lake.refresh().await?;
        let committed = lake.committed(&source).await?;
        let fresh: Vec<QuarantineRecord> = rejections
            .into_iter()
            .filter(|(p, _)| committed.as_ref().is_none_or(|c| p > c))
            .map(|(_, r)| r)
            .collect();
        if fresh.is_empty() {
            debug!(%source, "Every rejection was quarantined before.");
            return Ok(Written::default());
        }
        let data = schema::quarantine_batch(&fresh)?;
        let commit = Commit::Position(Checkpoint {
            source,
            position: last,
        });
        append(lake, vec![data], &commit, &[], None).await
    }

    /// Writes rejections and moves a progress on, in one commit (committed even without a
    /// rejection, so the progress records what was read).
    pub async fn write_swapping(
        &mut self,
        rejections: &[QuarantineRecord],
        swap: &Swap,
    ) -> Result<Written> {
        let data = schema::quarantine_batch(rejections)?;
        let lake = self.lake().await?;
        append(lake, vec![data], &Commit::Swap(swap.clone()), &[], None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::UserRow;
    use arrow::compute::concat_batches;
    use chrono::{TimeZone, Utc};
    use std::borrow::Cow;

    #[test]
    fn a_large_chunk_is_built_in_parts_that_keep_arrival_order() {
        let rows: Vec<CleanRow<'_>> = (0..50_000)
            .map(|i| {
                CleanRow::User(UserRow {
                    ind: 50_000 - i,
                    user_name: (i % 3 != 0).then(|| Cow::Owned(format!("user {i}"))),
                    age: Some((i % 90) as i32),
                    date_joined: Utc.timestamp_opt(1_500_000_000 + i, 0).unwrap(),
                })
            })
            .collect();
        let parts = record_batches(Table::User, &rows).unwrap();
        let whole = schema::to_record_batch(Table::User, &rows).unwrap();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            parts.len(),
            threads.min(4),
            "one part per core, 16,384 rows at least"
        );
        assert_eq!(
            concat_batches(&whole.schema(), &parts).unwrap(),
            whole,
            "the parts, in order, are the rows in arrival order"
        );
    }
}
