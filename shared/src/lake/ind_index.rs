//! The stream path's re-post check: which `ind`s a table already holds, kept warm in memory and
//! caught up from the Delta log, so a warm invocation's cost is its own batch plus the commits made
//! since it last looked — never the whole table.
//!
//! A cold start (a new Lambda container) must know every `ind` of the table. It starts from the
//! newest persisted snapshot of the index (`_pinpipe/ind-index/<version>.inds` beside the table's
//! log: the `ind`s and the data files they came from, [`snapshot`]) and reads the `ind` column of
//! only the live files that snapshot does not cover — many at a time, a small file in one request.
//! A cold start that had to read many files writes a snapshot of its own, so the next one starts
//! from there; the daily maintenance writes one after compacting and prunes the old ones. A missing,
//! unreadable or foreign snapshot only costs time: the files are read instead.
//!
//! The `ind`s are held in a 64-bit Roaring bitmap: source ids are dense (auto-increment keys), so
//! the set costs well under a byte per `ind` where a hash set costs about 16 (BENCHMARKS.md).

use std::collections::HashSet as StdHashSet;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use bytes::Bytes;
use deltalake::ObjectStore;
use deltalake::Path;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
#[allow(deprecated)] // its replacement (a hand-written AsyncFileReader) buys nothing here yet
use deltalake::parquet::arrow::async_reader::ParquetObjectReader;
use foldhash::{HashSet, HashSetExt};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use roaring::RoaringTreemap;
use tracing::{debug, warn};

use super::table::LakeTable;
use crate::record::CleanRow;
use crate::{Error, Result};

/// Data files read at once when the index catches up.
const READ_CONCURRENCY: usize = 64;
/// A data file up to this size is read in one request (footer and column together); a larger one
/// by ranges (its footer, then the `ind` column chunks).
const WHOLE_FILE_BYTES: u64 = 16 << 20;
/// An index that took in at least this many data files since the newest snapshot it knows of
/// writes one (a cold start, or a warm writer following the table through the day), so a cold
/// start never reads much more than this many files, however many the table has.
pub const SNAPSHOT_AFTER_FILES: u64 = 256;

/// The `ind`s of one table as of `version`.
#[derive(Debug)]
pub struct IndIndex {
    inds: RoaringTreemap,
    version: Option<u64>,
    snapshot_after: u64,
    /// Data files taken in since the newest snapshot this index started from or wrote.
    since_snapshot: u64,
    concurrency: usize,
}

impl Default for IndIndex {
    fn default() -> Self {
        IndIndex {
            inds: RoaringTreemap::new(),
            version: None,
            snapshot_after: SNAPSHOT_AFTER_FILES,
            since_snapshot: 0,
            concurrency: READ_CONCURRENCY,
        }
    }
}

/// What catching up cost: data files read and commits replayed, and the snapshots used or written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    pub commits: u64,
    pub files: u64,
    /// The version of the snapshot a cold start began from.
    pub from_snapshot: Option<u64>,
    /// The version of the snapshot this catch-up wrote.
    pub wrote_snapshot: Option<u64>,
}

/// The order-preserving map of an `ind` onto the bitmap's unsigned keys.
fn key(ind: i64) -> u64 {
    (ind as u64) ^ (1 << 63)
}

impl IndIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// An index that took in `files` data files since the newest snapshot it knows of writes one
    /// (`u64::MAX`: never).
    pub fn snapshot_after(mut self, files: u64) -> Self {
        self.snapshot_after = files;
        self
    }

    /// Data files read at once (1: one after another).
    pub fn concurrency(mut self, files: usize) -> Self {
        self.concurrency = files.max(1);
        self
    }

    pub fn len(&self) -> u64 {
        self.inds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inds.is_empty()
    }

    pub fn contains(&self, ind: i64) -> bool {
        self.inds.contains(key(ind))
    }

    /// The table version the index reflects.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Bytes the set of `ind`s takes serialized (close to what it takes in memory).
    pub fn size_bytes(&self) -> usize {
        self.inds.serialized_size()
    }

    /// Brings the index to the table's current version: the first time from the newest snapshot
    /// and the live files it does not cover, afterwards by reading only files added by newer
    /// commits.
    pub async fn catch_up(&mut self, table: &LakeTable) -> Result<CatchUp> {
        let delta = table.delta();
        let Some(current) = delta.version() else {
            return Ok(CatchUp::default());
        };
        let store = delta.object_store();
        let mut cost = CatchUp::default();
        match self.version {
            Some(v) if v >= current => {}
            Some(v) => {
                let log_store = delta.log_store();
                let mut added = Vec::new();
                for version in v + 1..=current {
                    cost.commits += 1;
                    let Some(bytes) = log_store.read_commit_entry(version).await? else {
                        continue;
                    };
                    for action in get_actions(version, &bytes)? {
                        if let Action::Add(add) = action
                            && add.data_change
                        {
                            let path =
                                Path::parse(&add.path).map_err(deltalake::DeltaTableError::from)?;
                            added.push((path, u64::try_from(add.size).ok()));
                        }
                    }
                }
                cost.files = self.read_files(&store, added).await?;
            }
            None => {
                let live = live_files(table)?;
                let covered = match snapshot::newest(&store, current).await {
                    Some(found) => {
                        cost.from_snapshot = Some(found.version);
                        self.inds = found.inds;
                        found.files
                    }
                    None => StdHashSet::new(),
                };
                let unread: Vec<_> = live
                    .into_iter()
                    .filter(|(p, _)| !covered.contains(p.as_ref()))
                    .collect();
                cost.files = self.read_files(&store, unread).await?;
            }
        }
        self.since_snapshot += cost.files;
        self.version = Some(current);
        cost.wrote_snapshot = self.snapshot_if_due(table).await;
        debug!(table = %table.id(), version = current, ?cost, "Ind index caught up.");
        Ok(cost)
    }

    /// Writes a snapshot at the table's version when the index reflects it and took in
    /// [`IndIndex::snapshot_after`] files since the last one; answers its version. Best effort: a
    /// snapshot saves a later cold start time, a failed one costs nothing but a warning.
    pub async fn snapshot_if_due(&mut self, table: &LakeTable) -> Option<u64> {
        if self.since_snapshot < self.snapshot_after || self.version != table.delta().version() {
            return None;
        }
        // written or not, the next attempt comes after as many files again
        self.since_snapshot = 0;
        self.write_snapshot(table).await.unwrap_or_else(|e| {
            warn!(table = %table.id(), error = %e, "Could not write a snapshot of the ind index.");
            None
        })
    }

    /// Writes a snapshot of the index at the table's current version (the daily maintenance, after
    /// compacting): the index must reflect that version.
    pub async fn write_snapshot(&self, table: &LakeTable) -> Result<Option<u64>> {
        let delta = table.delta();
        let Some(current) = delta.version() else {
            return Ok(None);
        };
        if self.version != Some(current) {
            return Err(Error::warehouse(format!(
                "the ind index of {} is at version {:?}, not the table's {current}",
                table.id(),
                self.version
            )));
        }
        let files: Vec<String> = live_files(table)?
            .into_iter()
            .map(|(path, _)| path.to_string())
            .collect();
        snapshot::write(&delta.object_store(), current, &files, &self.inds).await?;
        Ok(Some(current))
    }

    /// Splits rows into those whose `ind` is new (kept in arrival order, first arrival of an `ind`
    /// within the rows wins) and the number of re-posts dropped. This is the batch path's anti-join
    /// on `ind` and the stream path's re-post check: a bitmap probe per row, whatever the table's size.
    pub fn without_reposts<'a>(&self, mut rows: Vec<CleanRow<'a>>) -> (Vec<CleanRow<'a>>, usize) {
        let mut seen = HashSet::with_capacity(rows.len());
        let before = rows.len();
        // in place: rows move only when one before them was dropped
        rows.retain(|r| !self.contains(r.ind()) && seen.insert(r.ind()));
        let dropped = before - rows.len();
        (rows, dropped)
    }

    /// Records `inds` just committed at `version` by this process (no need to read them back), when
    /// no other commit came between.
    pub fn committed(&mut self, version: u64, inds: impl IntoIterator<Item = i64>) {
        if self.version.is_some_and(|v| v + 1 == version) {
            self.inds.extend(inds.into_iter().map(key));
            self.version = Some(version);
            self.since_snapshot += 1;
        }
    }

    /// Reads the `ind` column of `files`, [`READ_CONCURRENCY`] at a time; answers how many.
    async fn read_files(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        files: Vec<(Path, Option<u64>)>,
    ) -> Result<u64> {
        let count = files.len() as u64;
        let mut reads = futures::stream::iter(
            files
                .into_iter()
                .map(|(path, size)| read_inds_sized(store, path, size)),
        )
        .buffer_unordered(self.concurrency);
        while let Some(mut inds) = reads.try_next().await? {
            inds.sort_unstable();
            self.inds.extend(inds.into_iter().map(key));
        }
        Ok(count)
    }
}

/// The table's live data files as of its handle's version, with their sizes.
fn live_files(table: &LakeTable) -> Result<Vec<(Path, Option<u64>)>> {
    Ok(table
        .delta()
        .snapshot()?
        .log_data()
        .into_iter()
        .map(|file| (file.object_store_path(), u64::try_from(file.size()).ok()))
        .collect())
}

/// Snapshots of an index kept per table by [`snapshot_now`]: the newest, and the one before it for
/// a cold start that listed just before the newest was written.
const KEEP_SNAPSHOTS: usize = 2;

/// Snapshots the re-post index of `table` at its current version (the daily maintenance, after
/// compacting, so that consumers' cold starts read only the files written since) and prunes all
/// but the newest snapshots; answers the version snapshotted.
pub async fn snapshot_now(table: &LakeTable) -> Result<Option<u64>> {
    let mut index = IndIndex::new().snapshot_after(u64::MAX);
    let cost = index.catch_up(table).await?;
    let written = match table.delta().version() {
        Some(current) if cost.from_snapshot == Some(current) => Some(current),
        _ => index.write_snapshot(table).await?,
    };
    snapshot::prune(&table.delta().object_store(), KEEP_SNAPSHOTS).await?;
    Ok(written)
}

/// The `ind` column of one data file, in row order (only that column is read).
#[cfg(feature = "sql")]
pub(crate) async fn read_inds(store: &Arc<dyn ObjectStore>, path: Path) -> Result<Vec<i64>> {
    read_inds_sized(store, path, None).await
}

/// [`read_inds`] knowing the file's size: a small file is fetched in one request.
async fn read_inds_sized(
    store: &Arc<dyn ObjectStore>,
    path: Path,
    size: Option<u64>,
) -> Result<Vec<i64>> {
    let mut inds = Vec::new();
    if size.is_some_and(|s| s <= WHOLE_FILE_BYTES) {
        let bytes: Bytes = store
            .get(&path)
            .await
            .map_err(|e| Error::store(format!("reading {path}"), e))?
            .bytes()
            .await
            .map_err(|e| Error::store(format!("reading {path}"), e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["ind"]);
        for batch in builder.with_projection(mask).build()? {
            push_inds(&mut inds, &batch?);
        }
        return Ok(inds);
    }
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store.clone(), path);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["ind"]);
    let mut stream = builder.with_projection(mask).build()?;
    while let Some(batch) = stream.try_next().await? {
        push_inds(&mut inds, &batch);
    }
    Ok(inds)
}

fn push_inds(inds: &mut Vec<i64>, batch: &arrow::record_batch::RecordBatch) {
    let column = batch.column(0).as_primitive::<Int64Type>();
    debug_assert_eq!(column.null_count(), 0, "ind is never null");
    inds.extend(column.iter().flatten());
}

/// Persisted snapshots of an index: `_pinpipe/ind-index/<version, 20 digits>.inds` under the table
/// root (a directory Delta's vacuum leaves alone, as it starts with `_`). Content:
/// `PINPIPE-INDS1\n`, the version (u64 LE), the number of data files (u32 LE), each file's path
/// (u32 LE length, UTF-8), then the `ind`s as a portable 64-bit Roaring bitmap of `ind ^ 2^63`.
pub mod snapshot {
    use super::*;

    const DIR: &str = "_pinpipe/ind-index";
    const MAGIC: &[u8] = b"PINPIPE-INDS1\n";

    /// A snapshot read back.
    #[derive(Debug)]
    pub struct Found {
        pub version: u64,
        pub files: StdHashSet<String>,
        pub inds: RoaringTreemap,
    }

    fn location(version: u64) -> Path {
        Path::from(format!("{DIR}/{version:020}.inds"))
    }

    /// The versions of the snapshots a table has, oldest first.
    pub async fn versions(store: &Arc<dyn ObjectStore>) -> Result<Vec<u64>> {
        let listed: Vec<_> = store
            .list(Some(&Path::from(DIR)))
            .try_collect()
            .await
            .map_err(|e| Error::store(format!("listing {DIR}"), e))?;
        let mut versions: Vec<u64> = listed
            .iter()
            .filter_map(|meta| {
                meta.location
                    .filename()?
                    .strip_suffix(".inds")?
                    .parse()
                    .ok()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// The newest snapshot at or below `version` that reads back whole; `None` when there is none
    /// (or it cannot be read: the caller reads the files instead).
    pub async fn newest(store: &Arc<dyn ObjectStore>, version: u64) -> Option<Found> {
        let versions = match versions(store).await {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "Could not list the ind index's snapshots.");
                return None;
            }
        };
        let newest = versions.into_iter().rev().find(|v| *v <= version)?;
        let read = async {
            let bytes = store
                .get(&location(newest))
                .await
                .map_err(|e| Error::store(format!("reading {}", location(newest)), e))?
                .bytes()
                .await
                .map_err(|e| Error::store(format!("reading {}", location(newest)), e))?;
            decode(&bytes)
        };
        match read.await {
            Ok(found) if found.version == newest => Some(found),
            Ok(found) => {
                warn!(
                    named = newest,
                    holds = found.version,
                    "An ind index snapshot names another version; ignored."
                );
                None
            }
            Err(e) => {
                warn!(version = newest, error = %e, "An ind index snapshot could not be read; ignored.");
                None
            }
        }
    }

    /// Writes the snapshot of `inds` at `version`, covering `files` (the live data files then).
    pub async fn write(
        store: &Arc<dyn ObjectStore>,
        version: u64,
        files: &[String],
        inds: &RoaringTreemap,
    ) -> Result<()> {
        let bytes = encode(version, files, inds)?;
        store
            .put(&location(version), bytes.into())
            .await
            .map_err(|e| Error::store(format!("writing {}", location(version)), e))?;
        Ok(())
    }

    /// Deletes every snapshot but the newest `keep`; answers how many went.
    pub async fn prune(store: &Arc<dyn ObjectStore>, keep: usize) -> Result<usize> {
        let versions = versions(store).await?;
        let old = versions.len().saturating_sub(keep);
        for version in &versions[..old] {
            store
                .delete(&location(*version))
                .await
                .map_err(|e| Error::store(format!("deleting {}", location(*version)), e))?;
        }
        Ok(old)
    }

    /// The snapshot's bytes.
    pub fn encode(version: u64, files: &[String], inds: &RoaringTreemap) -> Result<Vec<u8>> {
        let mut out =
            Vec::with_capacity(MAGIC.len() + 12 + files.iter().map(|f| f.len() + 4).sum::<usize>());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        let count = u32::try_from(files.len())
            .map_err(|_| Error::warehouse("too many data files for one snapshot"))?;
        out.extend_from_slice(&count.to_le_bytes());
        let mut sorted: Vec<&String> = files.iter().collect();
        sorted.sort();
        for file in sorted {
            let len = u32::try_from(file.len())
                .map_err(|_| Error::warehouse("a data file path too long"))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(file.as_bytes());
        }
        inds.serialize_into(&mut out)?;
        Ok(out)
    }

    /// A snapshot from its bytes; an error for anything but a whole, well-formed snapshot.
    pub fn decode(bytes: &[u8]) -> Result<Found> {
        let bad = |what: &str| Error::warehouse(format!("not an ind index snapshot: {what}"));
        let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| bad("no header"))?;
        let (version, rest) = take::<8>(rest).ok_or_else(|| bad("no version"))?;
        let (count, mut rest) = take::<4>(rest).ok_or_else(|| bad("no file count"))?;
        let count = u32::from_le_bytes(count) as usize;
        // each path takes at least its length: a count the bytes cannot hold is refused up front
        if count > rest.len() / 4 {
            return Err(bad("a file count past its end"));
        }
        let mut files = StdHashSet::with_capacity(count);
        for _ in 0..count {
            let (len, after) = take::<4>(rest).ok_or_else(|| bad("a cut path"))?;
            let len = u32::from_le_bytes(len) as usize;
            if after.len() < len {
                return Err(bad("a cut path"));
            }
            let path = std::str::from_utf8(&after[..len]).map_err(|_| bad("a path not UTF-8"))?;
            files.insert(path.to_owned());
            rest = &after[len..];
        }
        let mut reader = rest;
        let inds =
            RoaringTreemap::deserialize_from(&mut reader).map_err(|_| bad("the ind bitmap"))?;
        if !reader.is_empty() {
            return Err(bad("bytes after the ind bitmap"));
        }
        Ok(Found {
            version: u64::from_le_bytes(version),
            files,
            inds,
        })
    }

    fn take<const N: usize>(bytes: &[u8]) -> Option<([u8; N], &[u8])> {
        let head = bytes.get(..N)?.try_into().ok()?;
        Some((head, &bytes[N..]))
    }
}

#[cfg(test)]
mod tests {
    use super::snapshot::{decode, encode};
    use super::*;

    fn inds(values: &[i64]) -> RoaringTreemap {
        values.iter().map(|i| key(*i)).collect()
    }

    #[test]
    fn ind_keys_keep_the_order_of_negative_and_positive_inds() {
        let values = [i64::MIN, -7, -1, 0, 1, 7528, i64::MAX];
        let keys: Vec<u64> = values.iter().map(|i| key(*i)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let files = vec!["part-2.parquet".to_owned(), "part-1.parquet".to_owned()];
        let set = inds(&[-3, 0, 1, 2, 7528, 10_000_000_000]);
        let found = decode(&encode(41, &files, &set).unwrap()).unwrap();
        assert_eq!(found.version, 41);
        assert_eq!(found.files, files.into_iter().collect());
        assert_eq!(found.inds, set);
    }

    #[test]
    fn a_cut_or_altered_snapshot_is_refused_not_half_read() {
        let bytes = encode(9, &["a.parquet".to_owned()], &inds(&[1, 2, 3])).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut} was read");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        let mut huge_count = bytes.clone();
        huge_count[22..26].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge_count).is_err());
        assert!(decode(b"PINPIPE-INDS2\n").is_err());
    }

    #[test]
    fn dense_inds_cost_under_a_byte_each() {
        let mut index = IndIndex::new();
        index.version = Some(0);
        index.committed(1, 1..=1_000_000);
        assert_eq!(index.len(), 1_000_000);
        assert!(index.contains(1) && index.contains(1_000_000) && !index.contains(0));
        assert!(
            index.size_bytes() < 1_000_000,
            "{} bytes",
            index.size_bytes()
        );
    }
}
