//! The stream path's re-post check: which `ind`s a table already holds, kept warm in memory and
//! caught up from the Delta log, so a warm invocation's cost is its own batch plus the commits made
//! since it last looked — never the whole table. A cold start reads the `ind` column once.

use foldhash::{HashSet, HashSetExt};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use deltalake::ObjectStore;
use deltalake::Path;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use deltalake::parquet::arrow::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::arrow::ProjectionMask;
#[allow(deprecated)] // its replacement (a hand-written AsyncFileReader) buys nothing here yet
use deltalake::parquet::arrow::async_reader::ParquetObjectReader;
use futures::TryStreamExt;
use std::sync::Arc;

use super::table::LakeTable;
use crate::Result;
use crate::record::CleanRow;

/// The `ind`s of one table as of `version`.
#[derive(Debug, Default)]
pub struct IndIndex {
    inds: HashSet<i64>,
    version: Option<u64>,
}

/// What catching up cost: data files read and commits replayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    pub commits: u64,
    pub files: u64,
}

impl IndIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.inds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inds.is_empty()
    }

    pub fn contains(&self, ind: i64) -> bool {
        self.inds.contains(&ind)
    }

    /// The table version the index reflects.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Brings the index to the table's current version: the first time by reading the `ind`
    /// column of every data file, afterwards by reading only files added by newer commits.
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
                            self.read_file(&store, path).await?;
                            cost.files += 1;
                        }
                    }
                }
            }
            None => {
                let paths: Vec<Path> = delta
                    .snapshot()?
                    .log_data()
                    .into_iter()
                    .map(|add| add.object_store_path())
                    .collect();
                for path in paths {
                    self.read_file(&store, path).await?;
                    cost.files += 1;
                }
            }
        }
        self.version = Some(current);
        Ok(cost)
    }

    /// Splits rows into those whose `ind` is new (kept in arrival order, first arrival of an `ind`
    /// within the rows wins) and the number of re-posts dropped. This is the batch path's anti-join
    /// on `ind` and the stream path's re-post check: a hash probe per row, whatever the table's size.
    pub fn without_reposts<'a>(&self, mut rows: Vec<CleanRow<'a>>) -> (Vec<CleanRow<'a>>, usize) {
        let mut seen = HashSet::with_capacity(rows.len());
        let before = rows.len();
        // in place: rows move only when one before them was dropped
        rows.retain(|r| !self.inds.contains(&r.ind()) && seen.insert(r.ind()));
        let dropped = before - rows.len();
        (rows, dropped)
    }

    /// Records `inds` just committed at `version` by this process (no need to read them back), when
    /// no other commit came between.
    pub fn committed(&mut self, version: u64, inds: impl IntoIterator<Item = i64>) {
        if self.version.is_some_and(|v| v + 1 == version) {
            self.inds.extend(inds);
            self.version = Some(version);
        }
    }

    async fn read_file(&mut self, store: &Arc<dyn ObjectStore>, path: Path) -> Result<()> {
        self.inds.extend(read_inds(store, path).await?);
        Ok(())
    }
}

/// The `ind` column of one data file, in row order (only that column is read).
pub(crate) async fn read_inds(store: &Arc<dyn ObjectStore>, path: Path) -> Result<Vec<i64>> {
    #[allow(deprecated)]
    let reader = ParquetObjectReader::new(store.clone(), path);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["ind"]);
    let mut stream = builder.with_projection(mask).build()?;
    let mut inds = Vec::new();
    while let Some(batch) = stream.try_next().await? {
        let column = batch.column(0).as_primitive::<Int64Type>();
        debug_assert_eq!(column.null_count(), 0, "ind is never null");
        inds.extend(column.iter().flatten());
    }
    Ok(inds)
}
