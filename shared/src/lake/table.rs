//! One Delta table of the lake: created on first use with its §2 schema, appended to exactly once
//! per source position.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitConflictError, CommitProperties, TransactionError,
};
use deltalake::kernel::{Action, StructType, Transaction};
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use tracing::debug;

use super::position::{Position, SourceKey};
use super::warehouse::{TableId, Warehouse};
use crate::{Error, Result};

/// delta-rs's own retries within one commit attempt (each steps over versions others committed).
const MAX_COMMIT_RETRIES: usize = 10;
/// Our attempts around those, with backoff: a busy table never fails an append for contention.
const MAX_APPEND_ATTEMPTS: u32 = 30;

/// Errors after which the append may be tried again: lost races, lost answers, and a log listing
/// that momentarily missed a version being written (seen on local directories under load).
fn is_retryable(error: &Error) -> bool {
    match error {
        Error::Delta(
            DeltaTableError::Transaction {
                source:
                    TransactionError::MaxCommitAttempts(_)
                    | TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction),
            }
            | DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::InvalidVersion(_)
            | DeltaTableError::ObjectStore { .. },
        ) => true,
        Error::Delta(DeltaTableError::KernelError(e)) => e.to_string().contains("is not available"),
        _ => false,
    }
}

/// Exponential backoff with full jitter: up to 20 ms × 2^attempt, capped at 2 s.
fn backoff(attempt: u32) -> std::time::Duration {
    use rand::{Rng, SeedableRng};
    let cap = (20_u64 << attempt.min(7)).min(2_000);
    // seeded from the clock and the process: writers racing each other must not draw alike
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seed = u64::from(nanos) ^ (u64::from(std::process::id()) << 32);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    std::time::Duration::from_millis(rng.random_range(0..=cap))
}

/// Table properties every pinpipe table is created with.
pub(crate) fn table_properties() -> HashMap<String, Option<String>> {
    [
        // a checkpoint every 100 commits keeps a snapshot load bounded on the stream path
        ("delta.checkpointInterval", "100"),
        // vacuum never removes files younger than a week (readers and retries in flight)
        ("delta.deletedFileRetentionDuration", "interval 7 days"),
        ("delta.logRetentionDuration", "interval 30 days"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
    .collect()
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Appended {
    /// The rows and positions are in the table at this version.
    Committed {
        version: u64,
        rows: usize,
        files: usize,
    },
    /// An attempt's answer was lost (a dropped connection, a lost race report) but its commit
    /// landed: the positions are in the table, once, at a version no later than `by_version`.
    Recovered {
        by_version: u64,
        rows: usize,
        files: usize,
    },
    /// Every position was committed before (a redelivery): nothing was written.
    AlreadyCommitted,
    /// No rows and no positions: nothing to do.
    Nothing,
}

/// A source position to record with an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub source: SourceKey,
    pub position: Position,
}

/// A progress to move on with an append, from the one the writer read to its own: the append
/// commits only if the table still names `from` (see [`LakeTable::append_swapping`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    pub source: SourceKey,
    /// The progress id the writer's work is based on (`None`: the source never committed).
    pub from: Option<i64>,
    /// The progress id its commit names.
    pub to: i64,
}

/// What an append is conditional on.
#[derive(Clone, Copy, Debug)]
enum Guard<'a> {
    /// Positions that only grow: skip what is committed already.
    Positions(&'a [Checkpoint]),
    /// A progress that moves from one id to another: commit only from `from`.
    Swap(&'a Swap),
}

impl Guard<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Guard::Positions(c) if c.is_empty())
    }

    fn txns(&self) -> Vec<Transaction> {
        match self {
            Guard::Positions(checkpoints) => checkpoints
                .iter()
                .flat_map(|c| c.position.to_txns(&c.source))
                .map(|(app_id, version)| Transaction::new(app_id, version))
                .collect(),
            Guard::Swap(swap) => vec![Transaction::new(swap.source.app_id(), swap.to)],
        }
    }
}

/// An open Delta table of the lake.
#[derive(Debug)]
pub struct LakeTable {
    id: TableId,
    table: DeltaTable,
    /// Commit attempts the last append made (1 = no retry).
    last_attempts: u32,
    /// Source positions read from the log, kept current from new commits only.
    txns: TxnCache,
}

/// The `txn` versions this handle has read, as of a table version: a position check replays only
/// the commits made since, instead of the whole log segment per `appId` (which on S3 costs a GET
/// per commit since the last checkpoint, for every `appId`, on every append).
#[derive(Debug, Default)]
struct TxnCache {
    version: Option<u64>,
    versions: HashMap<String, Option<i64>>,
}

/// Beyond this many new commits, the cache is dropped and rebuilt from the snapshot instead.
const TXN_CACHE_MAX_REPLAY: u64 = 200;

impl LakeTable {
    /// Opens the table if it exists.
    pub async fn open_existing(warehouse: &Warehouse, id: TableId) -> Result<Option<Self>> {
        let table = Self::load_existing(warehouse, &id.path()).await?;
        Ok(table.map(|table| LakeTable {
            id,
            table,
            last_attempts: 0,
            txns: TxnCache::default(),
        }))
    }

    /// Loads the Delta table at `path` under the warehouse, if there is one.
    pub(crate) async fn load_existing(
        warehouse: &Warehouse,
        path: &str,
    ) -> Result<Option<DeltaTable>> {
        let url = warehouse.url(path)?;
        if let Ok(dir) = url.to_file_path()
            && !dir.is_dir()
        {
            return Ok(None);
        }
        let mut table = DeltaTableBuilder::from_url(url)?
            .with_storage_options(warehouse.storage_options().clone())
            .build()?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the table, creating it with its schema if it does not exist yet.
    pub async fn open(warehouse: &Warehouse, id: TableId) -> Result<Self> {
        let url = warehouse.url(&id.path())?;
        if let Ok(dir) = url.to_file_path() {
            std::fs::create_dir_all(dir)?;
        }
        let mut table = DeltaTableBuilder::from_url(url)?
            .with_storage_options(warehouse.storage_options().clone())
            .build()?;
        match table.load().await {
            Ok(()) => {}
            Err(DeltaTableError::NotATable(_)) => {
                let Some(schema) = id.schema() else {
                    return Err(Error::warehouse(format!(
                        "{id} is created by its first write, not opened empty"
                    )));
                };
                let schema = StructType::try_from_arrow(schema.as_ref())?;
                let created = table
                    .create()
                    .with_table_name(id.sql_name())
                    .with_columns(schema.fields().cloned())
                    .with_configuration(table_properties())
                    // no retry: a creation that lost the race must not rebase onto the winner's
                    // (it would commit a second creation as version 1)
                    .with_commit_properties(
                        CommitProperties::default()
                            .with_cleanup_expired_logs(Some(false))
                            .with_max_retries(0),
                    )
                    .with_save_mode(SaveMode::Ignore)
                    .await;
                table = match created {
                    Ok(t) => t,
                    // another writer may have created it first: delta-rs reports that as the
                    // version existing, or (when its retry rebased onto the other creation) as a
                    // protocol change; either way the table is there now
                    Err(e) => {
                        let mut t = table;
                        if t.load().await.is_err() {
                            return Err(e.into());
                        }
                        t
                    }
                };
            }
            Err(e) => return Err(e.into()),
        }
        Ok(LakeTable {
            id,
            table,
            last_attempts: 0,
            txns: TxnCache::default(),
        })
    }

    pub fn id(&self) -> TableId {
        self.id
    }

    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// Takes the table state an operation (vacuum, optimize) returned.
    pub(crate) fn replace(&mut self, table: DeltaTable) {
        self.table = table;
    }

    /// Commit attempts the last append made: 1 when it committed at once, more after lost races.
    pub fn last_attempts(&self) -> u32 {
        self.last_attempts
    }

    /// The table version this handle has seen.
    pub fn version(&self) -> u64 {
        self.table.version().unwrap_or_default()
    }

    /// Bytes of Parquet in the table's live files, as of this handle's version.
    pub fn size_bytes(&self) -> Result<u64> {
        Ok(self
            .table
            .snapshot()?
            .log_data()
            .into_iter()
            .map(|file| u64::try_from(file.size()).unwrap_or(0))
            .sum())
    }

    /// Reads the commits made since this handle last looked (only those: never the whole log).
    pub async fn refresh(&mut self) -> Result<()> {
        self.table.update_incremental(None).await?;
        Ok(())
    }

    /// The position this table has committed for a source, if any, as of this handle's version.
    pub async fn committed(&mut self, source: &SourceKey) -> Result<Option<Position>> {
        self.catch_up_txns().await?;
        let app_ids = Position::app_ids(source);
        let mut versions = Vec::with_capacity(app_ids.len());
        for app_id in app_ids {
            let version = match self.txns.versions.get(&app_id) {
                Some(known) => *known,
                None => {
                    let snapshot = self.table.snapshot()?;
                    let version = snapshot
                        .transaction_version(self.table.log_store().as_ref(), &app_id)
                        .await?;
                    self.txns.versions.insert(app_id, version);
                    version
                }
            };
            versions.push(version);
        }
        Ok(Position::from_versions(source, &versions))
    }

    /// The id a progress source (`SourceKey::RawProgress`) names in this table, if any.
    pub async fn committed_id(&mut self, source: &SourceKey) -> Result<Option<i64>> {
        Ok(match self.committed(source).await? {
            Some(Position::Offset(id)) => Some(id),
            _ => None,
        })
    }

    /// Applies the `txn` actions of commits made since the cache's version; starts over from the
    /// snapshot when too many came (or the log no longer holds them).
    async fn catch_up_txns(&mut self) -> Result<()> {
        let current = self.version();
        let from = match self.txns.version {
            Some(v) if v >= current => return Ok(()),
            Some(v) if current - v <= TXN_CACHE_MAX_REPLAY => v + 1,
            _ => {
                self.txns = TxnCache {
                    version: Some(current),
                    versions: HashMap::new(),
                };
                return Ok(());
            }
        };
        let log_store = self.table.log_store();
        for version in from..=current {
            let Some(bytes) = log_store.read_commit_entry(version).await? else {
                // cleaned up: forget everything and ask the snapshot again
                self.txns = TxnCache {
                    version: Some(current),
                    versions: HashMap::new(),
                };
                return Ok(());
            };
            for action in deltalake::logstore::get_actions(version, &bytes)? {
                if let Action::Txn(txn) = action
                    && self.txns.versions.contains_key(&txn.app_id)
                {
                    self.txns.versions.insert(txn.app_id, Some(txn.version));
                }
            }
        }
        self.txns.version = Some(current);
        Ok(())
    }

    /// Appends `batches` together with the source positions they reach, in one commit. When the
    /// table already holds every position (a redelivered batch), nothing is written. Positions
    /// partly committed before are a caller error: filter the batch with [`LakeTable::committed`].
    pub async fn append(
        &mut self,
        batches: Vec<RecordBatch>,
        checkpoints: &[Checkpoint],
    ) -> Result<Appended> {
        self.append_guarded(batches, Guard::Positions(checkpoints))
            .await
    }

    /// Appends `batches` and moves a progress from `swap.from` to `swap.to`, in one commit — only
    /// while the table still names `swap.from`. When another writer moved it meanwhile (a
    /// concurrent run won the race), nothing is written and the answer is
    /// [`Error::ProgressMoved`]: the caller's rows were chosen against a state that is gone, and
    /// must be chosen again from the winner's. An earlier attempt of this append that did land
    /// (its answer lost) is recognised by `swap.to`.
    pub async fn append_swapping(
        &mut self,
        batches: Vec<RecordBatch>,
        swap: &Swap,
    ) -> Result<Appended> {
        self.append_guarded(batches, Guard::Swap(swap)).await
    }

    async fn append_guarded(
        &mut self,
        batches: Vec<RecordBatch>,
        guard: Guard<'_>,
    ) -> Result<Appended> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        self.last_attempts = 0;
        if rows == 0 && guard.is_empty() {
            return Ok(Appended::Nothing);
        }
        let mut adds: Option<Vec<Action>> = None;
        for attempt in 1..=MAX_APPEND_ATTEMPTS {
            self.last_attempts = attempt;
            // see other writers' commits first: the position check needs them, and a commit
            // attempt starting from a stale version would have to step over each one
            match self.refresh().await {
                Err(e) if is_retryable(&e) && attempt < MAX_APPEND_ATTEMPTS => {
                    debug!(table = %self.id, attempt, error = %e, "Reading the log failed; retrying.");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                other => other?,
            }
            match self.unseen(guard).await? {
                Unseen::All => {}
                Unseen::None if attempt == 1 => return Ok(Appended::AlreadyCommitted),
                // an earlier attempt of ours did commit (its answer was lost): done
                Unseen::None => return Ok(self.appended_by_us(rows, adds.as_ref())),
                Unseen::Some(source) => return Err(Error::PartlyCommitted(source.to_string())),
            }
            if adds.is_none() {
                adds = Some(self.write_files(&batches).await?);
                crate::failpoint::hit("after-data-files");
            }
            let files = adds.as_ref().map_or(0, Vec::len);
            let actions = adds.clone().unwrap_or_default();
            match self.commit(actions, guard.txns()).await {
                Ok(version) => {
                    return Ok(Appended::Committed {
                        version,
                        rows,
                        files,
                    });
                }
                Err(e) if is_retryable(&e) && attempt < MAX_APPEND_ATTEMPTS => {
                    // lost a race (or the answer): back off with jitter, then look again; the data
                    // files are reused, and the positions tell whether the commit landed after all
                    let pause = backoff(attempt);
                    debug!(table = %self.id, attempt, error = %e, ?pause, "Append did not commit; retrying.");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The answer for an append whose commit landed although its attempt reported an error.
    fn appended_by_us(&self, rows: usize, adds: Option<&Vec<Action>>) -> Appended {
        Appended::Recovered {
            by_version: self.version(),
            rows,
            files: adds.map_or(0, Vec::len),
        }
    }

    async fn unseen(&mut self, guard: Guard<'_>) -> Result<Unseen> {
        let checkpoints = match guard {
            Guard::Positions(checkpoints) => checkpoints,
            Guard::Swap(swap) => {
                let committed = self.committed_id(&swap.source).await?;
                return if committed == Some(swap.to) {
                    Ok(Unseen::None)
                } else if committed == swap.from {
                    Ok(Unseen::All)
                } else {
                    Err(Error::ProgressMoved(swap.source.to_string()))
                };
            }
        };
        let mut committed = Vec::new();
        for c in checkpoints {
            if self
                .committed(&c.source)
                .await?
                .is_some_and(|p| p >= c.position)
            {
                committed.push(&c.source);
            }
        }
        Ok(match committed.first() {
            None => Unseen::All,
            Some(_) if committed.len() == checkpoints.len() => Unseen::None,
            Some(source) => Unseen::Some((*source).clone()),
        })
    }

    /// Writes Parquet data files (with per-file statistics) and returns their add actions: one
    /// file per batch, encoded side by side (Parquet encoding is a pass over every byte on one
    /// thread; the daily run's chunks come in one part per core, and their appends are the chain a
    /// large table's clean waits on).
    async fn write_files(&self, batches: &[RecordBatch]) -> Result<Vec<Action>> {
        let batches: Vec<RecordBatch> = batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .cloned()
            .collect();
        let mut writers = Vec::with_capacity(batches.len());
        for batch in batches {
            let writer = RecordBatchWriter::for_table(&self.table)?
                .with_writer_properties(writer_properties());
            writers.push((writer, batch));
        }
        let encode = |(mut writer, batch): (RecordBatchWriter, RecordBatch)| async move {
            writer.write(batch).await?;
            writer.flush().await
        };
        // one part (every stream append) is encoded here; more, each on a task of its own
        let mut files = Vec::with_capacity(writers.len());
        if writers.len() <= 1 {
            for part in writers {
                files.push(encode(part).await?);
            }
        } else {
            let running: Vec<_> = writers
                .into_iter()
                .map(|part| tokio::spawn(encode(part)))
                .collect();
            for task in running {
                let written = task
                    .await
                    .map_err(|e| Error::warehouse_from("a data-file write stopped", e))?;
                files.push(written?);
            }
        }
        Ok(files.into_iter().flatten().map(Action::Add).collect())
    }

    /// Commits add actions with the positions' txn actions. Hot path: may write a checkpoint at
    /// the table's interval, never lists or cleans up the log.
    async fn commit(&mut self, adds: Vec<Action>, txns: Vec<Transaction>) -> Result<u64> {
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: None,
            predicate: None,
        };
        self.commit_actions(adds, txns, operation).await
    }

    /// Writes Parquet data files for `batches` (with statistics) and returns their add actions,
    /// for a commit of the caller's own ([`LakeTable::commit_actions`]).
    pub(crate) async fn data_files(&self, batches: &[RecordBatch]) -> Result<Vec<Action>> {
        self.write_files(batches).await
    }

    /// Commits `actions` and `txns` as `operation` against this handle's snapshot, with delta-rs's
    /// conflict checks (a blind append by another writer is no conflict; a file this commit removes
    /// that another removed first is).
    pub(crate) async fn commit_actions(
        &mut self,
        actions: Vec<Action>,
        txns: Vec<Transaction>,
        operation: DeltaOperation,
    ) -> Result<u64> {
        let properties = CommitProperties::default()
            .with_application_transactions(txns)
            .with_max_retries(MAX_COMMIT_RETRIES)
            .with_cleanup_expired_logs(Some(false));
        let snapshot = self.table.snapshot()?;
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await?;
        let version = committed.version();
        self.table.update_incremental(Some(version)).await?;
        Ok(version)
    }
}

/// delta-rs's Parquet settings (Snappy), without a dictionary for the columns whose values are
/// distinct in every file (`ind`, a pin's `unique_id`): interning a value that never repeats costs
/// a hash and a compare per row and a dictionary page as large as the data, for nothing.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_created_by(format!("pinpipe {}", env!("CARGO_PKG_VERSION")))
        .set_compression(Compression::SNAPPY)
        .set_column_dictionary_enabled(ColumnPath::from("ind"), false)
        .set_column_dictionary_enabled(ColumnPath::from("unique_id"), false)
        .build()
}

enum Unseen {
    All,
    None,
    Some(SourceKey),
}
