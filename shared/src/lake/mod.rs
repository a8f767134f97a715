//! The lake (spec §4): Delta tables, the raw zone and the quarantine under one warehouse root — a
//! local directory or `s3://bucket/prefix`.
//!
//! Exactly once: every append carries the source positions it reaches as Delta `txn` actions in the
//! same commit ([`position`]); an append whose positions the table already holds writes nothing.

#[cfg(feature = "sql")]
pub mod dedup;
pub mod ind_index;
pub mod maintenance;
#[cfg(feature = "sql")]
pub mod partition;
pub mod position;
pub mod raw_progress;
mod raw_zone;
#[cfg(feature = "sql")]
pub mod sql;
mod table;
mod warehouse;
mod writer;

/// The object store the lake reads and writes through.
pub use deltalake::ObjectStore;
/// The Arrow version the lake's batches use (deltalake's, with its CSV and pretty-print parts).
pub use deltalake::arrow;
/// The errors of the crates the lake is built on, kept as sources by [`crate::Error`].
#[cfg(feature = "sql")]
pub use deltalake::datafusion::error::DataFusionError;
pub use deltalake::{DeltaTableError, parquet::errors::ParquetError};
pub use ind_index::{CatchUp, IndIndex};
pub use position::{Position, SourceKey};
pub use raw_progress::{ProgressDocs, RAW_SETTLE, RawProgress};
pub use raw_zone::{Landed, RawObject, RawZone};
pub use table::{Appended, Checkpoint, LakeTable, Swap};
pub use warehouse::{TableId, Warehouse};
pub use writer::{Commit, Prepared, QuarantineWriter, RowWriter, Written};
