//! The daily run's re-post sweep of a stream table: two shards can admit the same new `ind` at the
//! same moment (each checked the table before the other committed), so a stream table may hold an
//! `ind` twice until the daily maintenance (spec §2). This removes every later copy: the first
//! arrival — the copy whose commit came first; within one commit, the first in the file — stays.
//!
//! One Delta commit per sweep, or none: the files holding later copies are rewritten without them
//! (remove + add, `dataChange`), with the swept snapshot's version as the `txn` of
//! `pinpipe/stream-dedup`. Stream appends are blind appends, so one landing meanwhile is no conflict
//! and keeps its rows (a copy it brings is swept tomorrow); a conflicting commit (another sweep or a
//! compaction removing the same file first) makes the sweep start over from the new snapshot. A
//! sweep that finds nothing writes nothing, so running it twice changes nothing.
//!
//! Commit order is read from the log: the commit that added a file holding a copy. A file that a
//! compaction or an earlier sweep wrote (no new data, or this module's `txn`) counts as older than
//! every append still in the log — its rows were in the table before. Copies race within seconds,
//! so the log is read back only as far as the oldest file holding one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;
use deltalake::kernel::{Action, Transaction};
use deltalake::logstore::get_actions;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
#[allow(deprecated)] // as in ind_index: the object-store reader is all this needs
use deltalake::parquet::arrow::async_reader::ParquetObjectReader;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTableError, ObjectStore, Path};
use futures::{StreamExt, TryStreamExt};
use tracing::{debug, info};

use super::ind_index::read_inds;
use super::table::LakeTable;
use crate::{Error, Result};

/// The `txn` appId a sweep commits with (version: the snapshot it swept).
pub const DEDUP_APP_ID: &str = "pinpipe/stream-dedup";
/// Sweeps started over after a conflicting commit before giving up for today.
const MAX_SWEEPS: u32 = 5;

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// `ind`s held more than once.
    pub inds: u64,
    /// Later copies removed.
    pub removed: u64,
    pub files_rewritten: u64,
    /// The commit that removed them.
    pub version: Option<u64>,
    /// Commits read back from the log to order the copies.
    pub commits_read: u64,
    /// Sweeps started over after a conflict.
    pub restarts: u32,
}

/// The later copies found in one snapshot, and what removing them takes.
#[derive(Debug)]
pub struct Plan {
    /// The snapshot swept.
    pub version: u64,
    pub inds: u64,
    /// Rows to drop, by file (row numbers within the file).
    drop: BTreeMap<String, HashSet<usize>>,
    commits_read: u64,
}

impl Plan {
    pub fn removed(&self) -> u64 {
        self.drop.values().map(|rows| rows.len() as u64).sum()
    }
}

/// Sweeps `table` (a stream table) of later copies, starting over on a conflicting commit.
pub async fn remove_later_copies(table: &mut LakeTable) -> Result<Sweep> {
    let mut restarts = 0;
    loop {
        table.refresh().await?;
        let plan = plan(table).await?;
        match apply(table, &plan).await {
            Ok(mut sweep) => {
                sweep.restarts = restarts;
                return Ok(sweep);
            }
            Err(Error::Delta(DeltaTableError::Transaction { source }))
                if restarts + 1 < MAX_SWEEPS =>
            {
                restarts += 1;
                debug!(table = %table.id(), error = %source, restarts, "Sweep lost a race; starting over.");
            }
            Err(e) => return Err(e),
        }
    }
}

/// Finds the later copies in `table`'s current snapshot.
pub async fn plan(table: &LakeTable) -> Result<Plan> {
    let delta = table.delta();
    let version = delta.version().unwrap_or(0);
    let store = delta.object_store();
    let files: Vec<String> = match delta.snapshot() {
        Ok(snapshot) => snapshot
            .log_data()
            .into_iter()
            .map(|f| f.path().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    // every copy of every ind: (file index, row)
    let columns: Vec<Vec<i64>> = futures::stream::iter(files.iter())
        .map(|path| inds_of(&store, path))
        .buffered(8)
        .try_collect()
        .await?;
    let mut copies: HashMap<i64, Vec<(usize, usize)>> = HashMap::new();
    let mut repeated: Vec<i64> = Vec::new();
    for (file, inds) in columns.iter().enumerate() {
        for (row, ind) in inds.iter().enumerate() {
            let at = copies.entry(*ind).or_default();
            at.push((file, row));
            if at.len() == 2 {
                repeated.push(*ind);
            }
        }
    }
    let mut plan = Plan {
        version,
        inds: repeated.len() as u64,
        drop: BTreeMap::new(),
        commits_read: 0,
    };
    if repeated.is_empty() {
        return Ok(plan);
    }
    // the commit that added each file holding a copy, read back from the newest
    let holding: HashSet<&str> = repeated
        .iter()
        .flat_map(|ind| copies[ind].iter().map(|(file, _)| files[*file].as_str()))
        .collect();
    let mut added_at: HashMap<&str, u64> = HashMap::new();
    let log_store = delta.log_store();
    let mut at = version as i64;
    while added_at.len() < holding.len() && at >= 0 {
        let Some(bytes) = log_store.read_commit_entry(at as u64).await? else {
            break; // cleaned up: what is still unplaced is older than everything read
        };
        plan.commits_read += 1;
        let actions = get_actions(at as u64, &bytes)?;
        let rewrite = actions
            .iter()
            .any(|a| matches!(a, Action::Txn(t) if t.app_id == DEDUP_APP_ID));
        for action in &actions {
            if let Action::Add(add) = action
                && let Some(path) = holding.get(add.path.as_str())
            {
                // a compaction's or a sweep's file holds rows older than any append in the log
                let order = if add.data_change && !rewrite {
                    at as u64
                } else {
                    0
                };
                added_at.entry(path).or_insert(order);
            }
        }
        at -= 1;
    }
    for ind in &repeated {
        let mut held = copies[ind].clone();
        held.sort_by_key(|(file, row)| {
            let path = files[*file].as_str();
            (added_at.get(path).copied().unwrap_or(0), path, *row)
        });
        for (file, row) in held.into_iter().skip(1) {
            plan.drop
                .entry(files[file].clone())
                .or_default()
                .insert(row);
        }
    }
    Ok(plan)
}

/// Rewrites the files of `plan` without their later copies, in one commit against the snapshot the
/// plan was made on.
pub async fn apply(table: &mut LakeTable, plan: &Plan) -> Result<Sweep> {
    let mut sweep = Sweep {
        inds: plan.inds,
        commits_read: plan.commits_read,
        ..Sweep::default()
    };
    if plan.drop.is_empty() {
        return Ok(sweep);
    }
    let store = table.delta().object_store();
    let views: HashMap<String, Action> = table
        .delta()
        .snapshot()?
        .log_data()
        .into_iter()
        .filter(|f| plan.drop.contains_key(f.path().as_ref()))
        .map(|f| (f.path().into_owned(), Action::Remove(f.remove_action(true))))
        .collect();
    let mut actions = Vec::new();
    for (path, rows) in &plan.drop {
        let kept = rows_without(&store, path, rows).await?;
        actions.extend(table.data_files(&kept).await?);
        actions.push(
            views
                .get(path)
                .cloned()
                .ok_or_else(|| Error::warehouse(format!("{path}: not in the swept snapshot")))?,
        );
    }
    // no read predicate: the sweep read only the files it removes, so a concurrent append (any
    // file it adds) is no conflict; a concurrent removal of one of these files still is
    let operation = DeltaOperation::Delete { predicate: None };
    let txn = Transaction::new(DEDUP_APP_ID, plan.version as i64);
    let version = table.commit_actions(actions, vec![txn], operation).await?;
    sweep.removed = plan.removed();
    sweep.files_rewritten = plan.drop.len() as u64;
    sweep.version = Some(version);
    info!(table = %table.id(), inds = sweep.inds, removed = sweep.removed, files = sweep.files_rewritten, version, "Removed later copies of re-posted inds.");
    Ok(sweep)
}

/// The `ind` column of one data file, by its path in the table.
async fn inds_of(store: &Arc<dyn ObjectStore>, path: &str) -> Result<Vec<i64>> {
    read_inds(store, Path::parse(path).map_err(DeltaTableError::from)?).await
}

/// One data file's rows, without the rows numbered in `drop`.
async fn rows_without(
    store: &Arc<dyn ObjectStore>,
    path: &str,
    drop: &HashSet<usize>,
) -> Result<Vec<RecordBatch>> {
    let object = Path::parse(path).map_err(DeltaTableError::from)?;
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store.clone(), object);
    let mut stream = ParquetRecordBatchStreamBuilder::new(reader)
        .await?
        .build()?;
    let mut kept = Vec::new();
    let mut first = 0;
    while let Some(batch) = stream.try_next().await? {
        let keep: BooleanArray = (first..first + batch.num_rows())
            .map(|row| Some(!drop.contains(&row)))
            .collect();
        first += batch.num_rows();
        kept.push(filter_record_batch(&batch, &keep)?);
    }
    Ok(kept)
}
