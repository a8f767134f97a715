//! The daily run's first stage: raw-zone objects not cleaned yet → `tables/batch/<table>`, exactly
//! once, rejections to the quarantine.
//!
//! Progress is kept per raw topic partition as a Delta `txn` ([`SourceKey::RawZone`]) in the same
//! commit as the rows: the first offset of the last object cleaned. Raw objects are immutable and a
//! partition's objects never overlap ([`RawZone::land`]), so "objects after the committed first
//! offset" are exactly the ones not cleaned yet. The quarantine keeps its own position per
//! partition, so a crash between the two commits neither loses nor doubles a rejection. Objects are
//! cleaned in chunks of bounded size (one commit per chunk), so memory does not grow with a day's
//! volume. Re-posted records (an `ind` the batch table holds) are dropped against an [`IndIndex`].

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use tracing::{info, warn};

use crate::cleaner::{CleanStats, Outcome, TableCleaner};
use crate::config::TopicRoutes;
use crate::lake::{
    Appended, Checkpoint, IndIndex, LakeTable, Position, RawObject, RawZone, SourceKey, TableId,
    Warehouse,
};
use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::record::CleanRow;
use crate::{Result, Table, schema};

/// Raw objects fetched at once.
const FETCH_CONCURRENCY: usize = 16;

/// A raw topic partition and the first offset of the last object the batch table holds.
pub type Progress = BTreeMap<(Table, String, i32), i64>;

/// What the cleaning stage did for one table.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchCleanReport {
    pub table: Table,
    /// Raw objects read (new to the table or to the quarantine).
    pub objects: u64,
    /// Raw objects not read because the run's time budget was spent (the next run takes them).
    pub objects_left: u64,
    /// Cleaning counters over the records read.
    pub stats: CleanStats,
    /// Clean rows dropped because the table already held their `ind`.
    pub reposts: u64,
    pub rows_written: u64,
    pub quarantined: u64,
    /// Commits made to the batch table.
    pub commits: u64,
    /// The batch table's version after the stage.
    pub version: u64,
    pub ms: u64,
}

/// One raw object to read, and which of the two destinations still need it.
#[derive(Clone, Debug)]
struct Pending {
    object: RawObject,
    rows: bool,
    rejections: bool,
}

/// Cleans every raw object no batch table or quarantine holds yet, the tables side by side.
/// `chunk_bytes` bounds the raw bytes held (and committed) at once; no chunk starts after
/// `deadline` (the rest is left for the next run). Returns a report per table and the progress every
/// batch table has reached (all partitions, new or not).
pub async fn clean_new_raw(
    warehouse: &Warehouse,
    routes: &TopicRoutes,
    now: DateTime<Utc>,
    chunk_bytes: u64,
    deadline: Instant,
) -> Result<(Vec<BatchCleanReport>, Progress)> {
    let raw = RawZone::new(warehouse)?;
    let mut topics: BTreeMap<Table, Vec<String>> = BTreeMap::new();
    for topic in raw.topics().await? {
        match routes.table_for(&topic) {
            Some(table) => topics.entry(table).or_default().push(topic),
            None => warn!(%topic, "Raw topic feeds no table; its objects are left alone."),
        }
    }
    // the quarantine, created here if new: three tasks creating it at once would race (one wins,
    // the others find it, and deltalake logs each lost race as an error)
    LakeTable::open(warehouse, TableId::Quarantine).await?;
    // the three tables clean side by side (each on its own task: cleaning is CPU work)
    let mut tasks = Vec::new();
    for table in Table::ALL {
        let topics = topics.get(&table).cloned().unwrap_or_default();
        let (warehouse, raw) = (warehouse.clone(), raw.clone());
        tasks.push(tokio::spawn(async move {
            let mut progress = Progress::new();
            let report = clean_table(
                &warehouse,
                &raw,
                table,
                &topics,
                now,
                (chunk_bytes, deadline),
                &mut progress,
            )
            .await?;
            Ok::<_, crate::Error>((report, progress))
        }));
    }
    let mut reports = Vec::new();
    let mut progress = Progress::new();
    for task in tasks {
        let (report, table_progress) = task
            .await
            .map_err(|e| crate::Error::Warehouse(format!("a cleaning task stopped: {e}")))??;
        reports.push(report);
        progress.extend(table_progress);
    }
    Ok((reports, progress))
}

async fn clean_table(
    warehouse: &Warehouse,
    raw: &RawZone,
    table: Table,
    topics: &[String],
    now: DateTime<Utc>,
    (chunk_bytes, deadline): (u64, Instant),
    progress: &mut Progress,
) -> Result<BatchCleanReport> {
    let started = Instant::now();
    let mut lake = LakeTable::open(warehouse, TableId::Batch(table)).await?;
    let mut quarantine = LakeTable::open(warehouse, TableId::Quarantine).await?;
    let mut pending = Vec::new();
    for topic in topics {
        let mut committed: HashMap<i32, (Option<i64>, Option<i64>)> = HashMap::new();
        for object in raw.list(topic).await? {
            let source = source_of(&object);
            let (rows_at, rejections_at) = match committed.get(&object.partition) {
                Some(known) => *known,
                None => {
                    let rows_at = offset(lake.committed(&source).await?);
                    let rejections_at = offset(quarantine.committed(&source).await?);
                    committed.insert(object.partition, (rows_at, rejections_at));
                    (rows_at, rejections_at)
                }
            };
            if let Some(at) = rows_at {
                progress.insert((table, topic.clone(), object.partition), at);
            }
            let rows = rows_at.is_none_or(|at| object.first_offset > at);
            let rejections = rejections_at.is_none_or(|at| object.first_offset > at);
            if rows || rejections {
                pending.push(Pending {
                    object,
                    rows,
                    rejections,
                });
            }
        }
    }

    let mut report = BatchCleanReport {
        table,
        objects: 0,
        objects_left: 0,
        stats: CleanStats::new(table),
        reposts: 0,
        rows_written: 0,
        quarantined: 0,
        commits: 0,
        version: lake.version(),
        ms: 0,
    };
    let mut cleaner = TableCleaner::new(table);
    let mut index = IndIndex::new();
    // One chunk's rows are written (Parquet encoding, the commit) on a task of their own while
    // this one fetches and cleans the next chunk: the two halves of the work share the cores.
    let mut writer = BatchWriter::Idle(lake);
    let chunks = chunks(&pending, chunk_bytes);
    for (i, chunk) in chunks.iter().enumerate() {
        if Instant::now() >= deadline {
            report.objects_left = chunks[i..].iter().map(|c| c.len() as u64).sum();
            warn!(
                table = table.name(),
                objects_left = report.objects_left,
                "Time budget spent (or cleaning not asked for); the remaining raw objects wait for the next run."
            );
            break;
        }
        report.objects += chunk.len() as u64;
        let fetches: Vec<_> = chunk.iter().map(|p| raw.get(&p.object.key)).collect();
        let bodies: Vec<bytes::Bytes> = futures::stream::iter(fetches)
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await?;
        let records = bodies.iter().map(|b| lines(b).count()).sum();
        let mut rows: Vec<CleanRow<'_>> = Vec::with_capacity(records);
        let mut rejected = Vec::new();
        for (p, body) in chunk.iter().zip(&bodies) {
            for (line, bytes) in lines(body).enumerate() {
                match cleaner.push(bytes) {
                    Outcome::Clean(c) if p.rows => rows.push(c.row),
                    Outcome::Rejected(r) if p.rejections => {
                        let source = SourceRef::File {
                            path: p.object.key.clone(),
                            line: line as u64 + 1,
                        };
                        rejected.push(QuarantineRecord::new(r, bytes, source, now));
                    }
                    _ => {}
                }
            }
        }

        // the rows, with each partition's position: once the chunk before is committed (the
        // re-post check needs the table as that commit left it), on a task of their own
        let checkpoints = positions(chunk.iter().filter(|p| p.rows));
        if !checkpoints.is_empty() {
            let lake = writer.ready(&mut index, &mut report, progress).await?;
            index.catch_up(&lake).await?;
            let (rows, reposts) = index.without_reposts(rows);
            report.reposts += reposts as u64;
            let inds: Vec<i64> = rows.iter().map(CleanRow::ind).collect();
            let data = schema::to_record_batch(table, &rows)?;
            // the Arrow batch owns its bytes: the raw ones can go before the write starts
            drop(rows);
            writer = BatchWriter::Appending(InFlight::start(lake, data, inds, checkpoints));
        }

        // the rejections, with the quarantine's own position per partition (committed even
        // without a rejection, so that a later run does not read these objects again for it)
        let checkpoints = positions(chunk.iter().filter(|p| p.rejections));
        if !checkpoints.is_empty() {
            let data = schema::quarantine_batch(&rejected)?;
            if let Appended::Committed { rows, .. } | Appended::Recovered { rows, .. } =
                quarantine.append(vec![data], &checkpoints).await?
            {
                report.quarantined += rows as u64;
            }
            crate::failpoint::hit("daily-after-quarantine-commit");
        }
    }
    let lake = writer.ready(&mut index, &mut report, progress).await?;
    report.stats = cleaner.stats().clone();
    report.version = lake.version();
    report.ms = started.elapsed().as_millis() as u64;
    info!(
        table = table.name(),
        objects = report.objects,
        objects_left = report.objects_left,
        records = report.stats.read,
        clean = report.stats.clean,
        duplicates = report.stats.duplicates,
        rejected = report.stats.rejected_total(),
        reposts = report.reposts,
        rows_written = report.rows_written,
        quarantined = report.quarantined,
        commits = report.commits,
        version = report.version,
        ms = report.ms,
        "Cleaned new raw objects."
    );
    Ok(report)
}

/// The batch table: ready for the next append, or busy with one.
enum BatchWriter {
    Idle(LakeTable),
    Appending(InFlight),
}

impl BatchWriter {
    /// The table, once any append in flight is done (and counted).
    async fn ready(
        self,
        index: &mut IndIndex,
        report: &mut BatchCleanReport,
        progress: &mut Progress,
    ) -> Result<LakeTable> {
        match self {
            BatchWriter::Idle(lake) => Ok(lake),
            BatchWriter::Appending(append) => append.finish(index, report, progress).await,
        }
    }
}

/// A chunk's rows being appended to the batch table on a task of its own.
struct InFlight {
    task: tokio::task::JoinHandle<(LakeTable, Result<Appended>)>,
    inds: Vec<i64>,
    checkpoints: Vec<Checkpoint>,
}

impl InFlight {
    fn start(
        mut lake: LakeTable,
        data: arrow::record_batch::RecordBatch,
        inds: Vec<i64>,
        checkpoints: Vec<Checkpoint>,
    ) -> Self {
        let positions = checkpoints.clone();
        let task = tokio::spawn(async move {
            let appended = lake.append(vec![data], &positions).await;
            (lake, appended)
        });
        InFlight {
            task,
            inds,
            checkpoints,
        }
    }

    /// Waits for the append; counts it, records the positions reached, and gives the table back.
    async fn finish(
        self,
        index: &mut IndIndex,
        report: &mut BatchCleanReport,
        progress: &mut Progress,
    ) -> Result<LakeTable> {
        let (lake, appended) = self
            .task
            .await
            .map_err(|e| crate::Error::Warehouse(format!("an append task stopped: {e}")))?;
        match appended? {
            Appended::Committed { version, .. } => {
                index.committed(version, self.inds.iter().copied());
                report.rows_written += self.inds.len() as u64;
                report.commits += 1;
            }
            Appended::Recovered { .. } => {
                report.rows_written += self.inds.len() as u64;
                report.commits += 1;
            }
            Appended::AlreadyCommitted | Appended::Nothing => {}
        }
        for c in &self.checkpoints {
            if let (SourceKey::RawZone { topic, partition }, Position::Offset(at)) =
                (&c.source, &c.position)
            {
                progress.insert((report.table, topic.clone(), *partition), *at);
            }
        }
        crate::failpoint::hit("daily-after-clean-commit");
        Ok(lake)
    }
}

fn source_of(object: &RawObject) -> SourceKey {
    SourceKey::RawZone {
        topic: object.topic.clone(),
        partition: object.partition,
    }
}

fn offset(position: Option<Position>) -> Option<i64> {
    match position {
        Some(Position::Offset(o)) => Some(o),
        _ => None,
    }
}

/// Each partition's last object among `objects`, as a position to commit.
fn positions<'a>(objects: impl Iterator<Item = &'a Pending>) -> Vec<Checkpoint> {
    let mut last: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for p in objects {
        let at = last
            .entry((p.object.topic.clone(), p.object.partition))
            .or_insert(p.object.first_offset);
        *at = (*at).max(p.object.first_offset);
    }
    last.into_iter()
        .map(|((topic, partition), at)| Checkpoint {
            source: SourceKey::RawZone { topic, partition },
            position: Position::Offset(at),
        })
        .collect()
}

/// Consecutive runs of objects of at most `max_bytes` each (at least one object per run).
fn chunks(pending: &[Pending], max_bytes: u64) -> Vec<&[Pending]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, p) in pending.iter().enumerate() {
        if i > start && bytes + p.object.size > max_bytes {
            out.push(&pending[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += p.object.size;
    }
    if start < pending.len() {
        out.push(&pending[start..]);
    }
    out
}

/// The records of a raw object: one per line (the landing writes no empty line; a trailing
/// newline ends the last record).
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let ends = memchr::memchr_iter(b'\n', body).chain((!body.is_empty()).then_some(body.len()));
    let mut start = 0;
    ends.map(move |end| {
        let line = &body[start..end];
        start = end + 1;
        line
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(partition: i32, first_offset: i64, size: u64) -> Pending {
        Pending {
            object: RawObject {
                topic: "t.pin".into(),
                partition,
                first_offset,
                key: String::new(),
                size,
            },
            rows: true,
            rejections: true,
        }
    }

    #[test]
    fn chunks_hold_at_most_the_byte_budget_and_at_least_one_object() {
        let objects = [
            pending(0, 0, 60),
            pending(0, 5, 60),
            pending(0, 9, 200),
            pending(1, 0, 10),
        ];
        let sizes: Vec<usize> = chunks(&objects, 100).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [1, 1, 1, 1]);
        let sizes: Vec<usize> = chunks(&objects, 1000).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [4]);
        assert!(chunks(&[], 10).is_empty());
    }

    #[test]
    fn a_chunk_commits_the_last_object_of_each_partition() {
        let objects = [pending(0, 0, 1), pending(0, 5, 1), pending(1, 3, 1)];
        let positions: Vec<(String, Position)> = positions(objects.iter())
            .into_iter()
            .map(|c| (c.source.app_id(), c.position))
            .collect();
        assert_eq!(
            positions,
            [
                ("pinpipe/raw/t.pin/0".to_owned(), Position::Offset(5)),
                ("pinpipe/raw/t.pin/1".to_owned(), Position::Offset(3)),
            ]
        );
    }

    #[test]
    fn every_line_of_an_object_is_one_record() {
        let all: Vec<&[u8]> = lines(b"{\"a\":1}\n{\"b\":2}\n").collect();
        assert_eq!(all, [b"{\"a\":1}".as_slice(), b"{\"b\":2}"]);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"x").count(), 1);
        assert_eq!(
            lines(b"a\n\nb").collect::<Vec<_>>(),
            [b"a".as_slice(), b"", b"b"]
        );
    }
}
