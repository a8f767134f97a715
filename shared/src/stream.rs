//! The stream path: one shard's batch of Kinesis records → clean rows in `tables/stream/<table>`,
//! exactly once per shard, and rejections in the quarantine.
//!
//! Exactly once: the shard's last sequence number is committed with the rows (a Delta `txn`, see
//! [`crate::lake::position`]); records at or below the committed sequence number are a redelivery and
//! are skipped. The quarantine keeps its own position per shard, so a crash between the two commits
//! loses nothing and doubles nothing on the retry. Re-posted records (an `ind` the table holds) are
//! dropped against a warm [`IndIndex`] that only reads what other writers committed since it looked.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::cleaner::{CleanStats, Outcome, TableCleaner};
use crate::failed_batch::{self, FailedBatch};
use crate::lake::{
    Checkpoint, Commit, Position, QuarantineWriter, RowWriter, SourceKey, TableId, Warehouse,
};
use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::record::CleanRow;
pub use crate::routes::StreamRoutes;
use crate::{Error, Result, Table};

/// One Kinesis record: its sequence number and its data (the JSON of one source record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRecord {
    pub sequence_number: String,
    pub data: Vec<u8>,
}

/// Records of one shard, in the shard's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardBatch {
    pub stream: String,
    pub shard: String,
    pub records: Vec<ShardRecord>,
}

/// What became of one shard batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardReport {
    pub stream: String,
    pub shard: String,
    pub table: Option<Table>,
    pub first_sequence: Option<String>,
    pub last_sequence: Option<String>,
    /// Records in the batch.
    pub records: u64,
    /// Records at or below the shard's committed position: delivered before, skipped.
    pub redelivered: u64,
    /// Cleaning counters over the batch (read, clean, in-batch duplicates, rejections, nulled fields).
    pub stats: CleanStats,
    /// Clean rows dropped because the table already held their `ind`.
    pub reposts: u64,
    /// Rows this invocation added to the stream table.
    pub rows_written: u64,
    /// Rejections this invocation added to the quarantine.
    pub quarantined: u64,
    /// The stream table's version holding this batch, when it committed now or before.
    pub version: Option<u64>,
    pub commit_ms: u64,
    pub commit_retries: u32,
    /// Sequence numbers to report back as failed (an infrastructure failure: retry them).
    pub failed: Vec<String>,
    pub error: Option<String>,
}

impl ShardReport {
    /// An empty report for `batch`, before anything is done.
    pub fn new(batch: &ShardBatch, table: Option<Table>) -> Self {
        ShardReport {
            stream: batch.stream.clone(),
            shard: batch.shard.clone(),
            table,
            first_sequence: batch.records.first().map(|r| r.sequence_number.clone()),
            last_sequence: batch.records.last().map(|r| r.sequence_number.clone()),
            records: batch.records.len() as u64,
            redelivered: 0,
            stats: CleanStats::new(table.unwrap_or(Table::Pin)),
            reposts: 0,
            rows_written: 0,
            quarantined: 0,
            version: None,
            commit_ms: 0,
            commit_retries: 0,
            failed: Vec::new(),
            error: None,
        }
    }
}

/// The stream path's state: warm table handles and re-post indexes, kept across invocations.
#[derive(Debug)]
pub struct StreamConsumer {
    warehouse: Warehouse,
    routes: StreamRoutes,
    tables: HashMap<Table, RowWriter>,
    quarantine: QuarantineWriter,
}

impl StreamConsumer {
    pub fn new(warehouse: Warehouse, routes: StreamRoutes) -> Self {
        StreamConsumer {
            quarantine: QuarantineWriter::new(&warehouse),
            warehouse,
            routes,
            tables: HashMap::new(),
        }
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// Whether `batch` can be consumed at all, before anything is written: its stream is routed to
    /// a table and its sequence numbers are decimal and strictly increasing. A batch that fails
    /// here is poison as a whole (a mapping on a stream no table reads, a hand-made event): no
    /// retry can help and merging it would corrupt the shard's position, so the caller fails the
    /// invocation loudly instead of consuming it.
    pub fn check(&self, batch: &ShardBatch) -> Result<Table> {
        let table = self
            .routes
            .table_for(&batch.stream)
            .ok_or_else(|| Error::UnknownStream(batch.stream.clone()))?;
        sequence_positions(batch)?;
        Ok(table)
    }

    /// Consumes one shard batch. Never fails as a whole: a bad record is quarantined; an
    /// infrastructure failure (the lake unreachable, a commit that kept losing) lists the batch's
    /// sequence numbers in [`ShardReport::failed`] so that the event source delivers them again.
    pub async fn consume(&mut self, batch: &ShardBatch, now: DateTime<Utc>) -> ShardReport {
        let source = SourceKey::Kinesis {
            stream: batch.stream.clone(),
            shard: batch.shard.clone(),
        };
        self.consume_from(source, batch, now).await
    }

    /// Consumes a discarded batch again (`pinpipe redrive`), through the same path as
    /// [`StreamConsumer::consume`] but under the shard's redrive position
    /// ([`SourceKey::Redrive`]): the shard's live position is past these records, the redrive
    /// position is not. Records at or below it were redriven before and are skipped; a row whose
    /// `ind` the table already holds (the batch committed in the attempt that timed out) is a
    /// re-post and dropped.
    pub async fn redrive(&mut self, batch: &ShardBatch, now: DateTime<Utc>) -> ShardReport {
        let source = SourceKey::Redrive {
            stream: batch.stream.clone(),
            shard: batch.shard.clone(),
        };
        self.consume_from(source, batch, now).await
    }

    async fn consume_from(
        &mut self,
        source: SourceKey,
        batch: &ShardBatch,
        now: DateTime<Utc>,
    ) -> ShardReport {
        let table = self.routes.table_for(&batch.stream);
        let mut report = ShardReport::new(batch, table);
        if batch.records.is_empty() {
            return report;
        }
        let result = match table {
            Some(table) => {
                self.try_consume(table, source, batch, now, &mut report)
                    .await
            }
            None => Err(Error::UnknownStream(batch.stream.clone())),
        };
        if let Err(e) = result {
            // reload the handles next time (the failure may have left one half-updated); the
            // re-post index stays: it is tagged with the version it reflects and catches up
            if let Some(writer) = table.and_then(|t| self.tables.get_mut(&t)) {
                writer.reload();
            }
            self.quarantine.reload();
            warn!(stream = %batch.stream, shard = %batch.shard, error = %e, "Shard batch failed; its records will be retried.");
            report.failed = batch
                .records
                .iter()
                .map(|r| r.sequence_number.clone())
                .collect();
            report.error = Some(e.to_string());
        }
        info!(
            stream = %report.stream,
            shard = %report.shard,
            table = report.table.map(Table::name),
            first_sequence = report.first_sequence.as_deref(),
            last_sequence = report.last_sequence.as_deref(),
            records = report.records,
            redelivered = report.redelivered,
            clean = report.stats.clean,
            fields_nulled = report.stats.nulled_total(),
            rejected = report.stats.rejected_total(),
            duplicates = report.stats.duplicates,
            reposts = report.reposts,
            rows_written = report.rows_written,
            quarantined = report.quarantined,
            version = report.version,
            commit_ms = report.commit_ms,
            commit_retries = report.commit_retries,
            failed = report.failed.len(),
            "Consumed shard batch."
        );
        report
    }

    async fn try_consume(
        &mut self,
        table: Table,
        source: SourceKey,
        batch: &ShardBatch,
        now: DateTime<Utc>,
        report: &mut ShardReport,
    ) -> Result<()> {
        let positions = sequence_positions(batch)?;
        let Some(last) = positions.last().cloned() else {
            return Ok(());
        };
        let mut cleaner = TableCleaner::new(table);
        let outcomes: Vec<Outcome<'_>> = batch
            .records
            .iter()
            .map(|r| cleaner.push(&r.data))
            .collect();
        report.stats = cleaner.stats().clone();

        // the rows, with the shard's position
        let writer = match self.tables.entry(table) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(RowWriter::open(&self.warehouse, TableId::Stream(table)).await?)
            }
        };
        writer.refresh().await?;
        let fresh = first_after(&positions, writer.lake().committed(&source).await?.as_ref());
        report.redelivered = fresh as u64;
        if fresh < positions.len() {
            let rows: Vec<CleanRow<'_>> = outcomes[fresh..]
                .iter()
                .filter_map(|o| match o {
                    Outcome::Clean(c) => Some(c.row.clone()),
                    _ => None,
                })
                .collect();
            let commit = Commit::Position(Checkpoint {
                source: source.clone(),
                position: last.clone(),
            });
            let written = writer.write(rows, &commit).await?;
            report.reposts = written.reposts;
            report.rows_written = written.rows;
            report.version = written.version;
            report.commit_ms = written.commit_ms;
            report.commit_retries = written.retries;
        }
        crate::failpoint::hit("after-stream-commit");

        // the rejections, with the quarantine's own position for the shard
        let rejections = outcomes
            .iter()
            .zip(&positions)
            .zip(&batch.records)
            .filter_map(|((o, position), record)| match o {
                Outcome::Rejected(rejection) => Some((
                    position.clone(),
                    QuarantineRecord::new(
                        rejection.clone(),
                        &record.data,
                        SourceRef::Kinesis {
                            stream: batch.stream.clone(),
                            shard: batch.shard.clone(),
                            sequence_number: record.sequence_number.clone(),
                        },
                        now,
                    ),
                )),
                _ => None,
            })
            .collect();
        let written = self
            .quarantine
            .write_after(source, last, rejections)
            .await?;
        report.quarantined = written.rows;
        crate::failpoint::hit("after-quarantine-commit");
        Ok(())
    }
}

/// What `pinpipe redrive` did with the on-failure destination's objects.
#[derive(Clone, Debug, Default)]
pub struct RedriveReport {
    /// Discarded-batch objects found.
    pub objects: u64,
    /// Objects that cannot be redriven, with why (left in place).
    pub refused: Vec<(String, String)>,
    /// One report per redriven batch, in the order redriven.
    pub batches: Vec<ShardReport>,
}

impl RedriveReport {
    pub fn records(&self) -> u64 {
        self.batches.iter().map(|b| b.records).sum()
    }

    pub fn rows_written(&self) -> u64 {
        self.batches.iter().map(|b| b.rows_written).sum()
    }
}

/// Replays every discarded Kinesis batch under `destination` (the on-failure destination's root:
/// the bucket, or a local directory; objects under [`failed_batch::PREFIX`]) through
/// [`StreamConsumer::redrive`], each shard's batches in sequence order, so a record lands once
/// however often this runs. Objects are read, never deleted (the bucket's lifecycle expires them).
/// An object that is not a whole Kinesis batch of a routed stream is refused and reported; a batch
/// the lake cannot take now fails the redrive (run it again).
pub async fn redrive_failed_batches(
    consumer: &mut StreamConsumer,
    destination: &Warehouse,
    now: DateTime<Utc>,
) -> Result<RedriveReport> {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    let store = destination.object_store("")?;
    let prefix = object_store::path::Path::from(failed_batch::PREFIX);
    let listed = |e: object_store::Error| Error::store(format!("listing {prefix}"), e);
    let mut keys: Vec<object_store::path::Path> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location)
        .try_collect()
        .await
        .map_err(listed)?;
    keys.sort();
    let mut report = RedriveReport {
        objects: keys.len() as u64,
        ..RedriveReport::default()
    };
    let mut batches: Vec<(Position, ShardBatch)> = Vec::new();
    for key in keys {
        let read = async { store.get(&key).await?.bytes().await };
        let bytes = read
            .await
            .map_err(|e| Error::store(format!("reading {key}"), e))?;
        let parsed = FailedBatch::parse(key.as_ref(), &bytes).and_then(|failed| {
            let batch = ShardBatch {
                stream: failed.stream,
                shard: failed.shard,
                records: failed
                    .records
                    .into_iter()
                    .map(|r| ShardRecord {
                        sequence_number: r.sequence_number,
                        data: r.data,
                    })
                    .collect(),
            };
            consumer.check(&batch)?;
            // checked: every sequence number is a position
            let first = batch
                .records
                .first()
                .and_then(|r| Position::sequence(&r.sequence_number))
                .ok_or_else(|| Error::redrive(format!("{key}: no records")))?;
            Ok((first, batch))
        });
        match parsed {
            Ok(found) => batches.push(found),
            Err(e) => {
                warn!(object = %key, error = %e, "Not redriven.");
                report.refused.push((key.to_string(), e.to_string()));
            }
        }
    }
    batches.sort_by(|(a, x), (b, y)| {
        (&x.stream, &x.shard)
            .cmp(&(&y.stream, &y.shard))
            .then(a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
    });
    for (_, batch) in &batches {
        let shard_report = consumer.redrive(batch, now).await;
        if let Some(e) = &shard_report.error {
            return Err(Error::redrive(format!(
                "{} {} from sequence number {}: {e}; run the redrive again (what did commit is skipped)",
                batch.stream,
                batch.shard,
                shard_report.first_sequence.as_deref().unwrap_or("")
            )));
        }
        report.batches.push(shard_report);
    }
    Ok(report)
}

/// The batch's sequence numbers as positions, checked to be valid and strictly increasing (the
/// order a shard delivers in; the exactly-once bookkeeping relies on it).
fn sequence_positions(batch: &ShardBatch) -> Result<Vec<Position>> {
    let mut positions: Vec<Position> = Vec::with_capacity(batch.records.len());
    for record in &batch.records {
        let position = Position::sequence(&record.sequence_number).ok_or_else(|| {
            Error::InvalidSequence(format!(
                "{:?} in shard {} of {}: not a decimal sequence number",
                record.sequence_number, batch.shard, batch.stream
            ))
        })?;
        if positions.last().is_some_and(|p| *p >= position) {
            return Err(Error::InvalidSequence(format!(
                "{} in shard {} of {}: not after the record before it",
                record.sequence_number, batch.shard, batch.stream
            )));
        }
        positions.push(position);
    }
    Ok(positions)
}

/// Index of the first position after `committed` (all of them when nothing is committed).
fn first_after(positions: &[Position], committed: Option<&Position>) -> usize {
    match committed {
        None => 0,
        Some(c) => positions.partition_point(|p| p <= c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_must_be_decimal_and_increasing() {
        let batch = |seqs: &[&str]| ShardBatch {
            stream: "s".into(),
            shard: "shardId-000000000000".into(),
            records: seqs
                .iter()
                .map(|s| ShardRecord {
                    sequence_number: (*s).into(),
                    data: Vec::new(),
                })
                .collect(),
        };
        assert_eq!(
            sequence_positions(&batch(&["1", "2", "10"])).unwrap().len(),
            3
        );
        assert!(sequence_positions(&batch(&["2", "1"])).is_err());
        assert!(sequence_positions(&batch(&["1", "1"])).is_err());
        assert!(sequence_positions(&batch(&["x"])).is_err());
    }

    #[test]
    fn only_positions_after_the_committed_one_are_fresh() {
        let p: Vec<Position> = ["5", "7", "9"]
            .iter()
            .map(|s| Position::sequence(s).unwrap())
            .collect();
        assert_eq!(first_after(&p, None), 0);
        assert_eq!(first_after(&p, Some(&Position::sequence("4").unwrap())), 0);
        assert_eq!(first_after(&p, Some(&Position::sequence("7").unwrap())), 2);
        assert_eq!(first_after(&p, Some(&Position::sequence("9").unwrap())), 3);
        assert_eq!(first_after(&p, Some(&Position::sequence("8").unwrap())), 2);
    }
}
