//! The daily run's first stage: raw-zone objects not cleaned yet → `tables/batch/<table>`, exactly
//! once, rejections to the quarantine.
//!
//! Which objects a table has taken in is a [`RawProgress`] (see `lake::raw_progress`): the objects
//! done, by key and creation instant, so that an object is cleaned once whatever order objects
//! arrive in — one landed below objects already cleaned (a redelivery starting inside a landed
//! object), or at offsets that started again (a recreated topic). Each chunk of objects is one
//! append whose commit moves the table's progress from the document the run read to a new one
//! ([`Swap`]), so the rows and the progress land together. The quarantine keeps its own progress
//! per table, so a crash between the two commits neither loses nor doubles a rejection. Objects
//! are cleaned in chunks of bounded size, oldest first, so memory does not grow with a day's
//! volume. Re-posted records (an `ind` the batch table holds) are dropped against an [`IndIndex`].
//!
//! Two runs at once (the schedule and a `pinpipe daily`, or a retry of a run that timed out) clean
//! the same objects; the first commit wins, and the other finds the progress moved
//! ([`crate::Error::ProgressMoved`]): it drops its chunk and starts the table over from the
//! winner's progress and rows, so no row is written twice.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use tracing::{debug, info, warn};

use crate::cleaner::{CleanStats, Outcome, TableCleaner, clean_all};
use crate::lake::{
    Commit, LakeTable, Prepared, ProgressDocs, QuarantineWriter, RAW_SETTLE, RawObject,
    RawProgress, RawZone, RowWriter, SourceKey, Swap, TableId, Warehouse, Written,
};
use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::record::CleanRow;
use crate::routes::TopicRoutes;
use crate::{Result, Table};

/// Raw objects fetched at once.
const FETCH_CONCURRENCY: usize = 16;

/// Each batch table's progress through the raw zone: the id of the progress document its last
/// cleaning commit named (absent: nothing cleaned yet).
pub type Progress = BTreeMap<Table, i64>;

/// Restarts of one table's cleaning after losing a race to another run. Each loss means the other
/// run committed a chunk, so this bounds nothing real; it only stops a fault from looping forever.
const MAX_RESTARTS: u32 = 10_000;

/// What the cleaning stage did for one table.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchCleanReport {
    pub table: Table,
    /// Raw objects read (new to the table or to the quarantine).
    pub objects: u64,
    /// Raw objects not read because the run's time budget was spent (the next run takes them).
    pub objects_left: u64,
    /// Cleaning counters over the records read (a chunk lost to another run, and read again after
    /// the restart, counts twice; so do its raw objects in `objects`).
    pub stats: CleanStats,
    /// Clean rows dropped because the table already held their `ind`.
    pub reposts: u64,
    pub rows_written: u64,
    pub quarantined: u64,
    /// Commits made to the batch table.
    pub commits: u64,
    /// The batch table's version after the stage.
    pub version: u64,
    /// Times the table's cleaning started over after another run committed first.
    pub restarts: u32,
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
            let started = Instant::now();
            let mut report = BatchCleanReport::new(table);
            let progress = loop {
                let mut cleaner = TableCleaner::new(table);
                let cleaned = clean_table(
                    &warehouse,
                    &raw,
                    table,
                    &topics,
                    now,
                    (chunk_bytes, deadline),
                    (&mut cleaner, &mut report),
                )
                .await;
                // counted whether the attempt finished or lost a race: its commits stand
                report.stats.merge(cleaner.stats());
                match cleaned {
                    Err(crate::Error::ProgressMoved(source)) if report.restarts < MAX_RESTARTS => {
                        report.restarts += 1;
                        info!(table = table.name(), %source, restarts = report.restarts, "Another run cleaned first; starting the table over from its progress.");
                    }
                    other => break other?,
                }
            };
            report.ms = started.elapsed().as_millis() as u64;
            log_report(&report);
            Ok::<_, crate::Error>((report, progress))
        }));
    }
    let mut reports = Vec::new();
    let mut progress = Progress::new();
    for task in tasks {
        let (report, table_progress) = task
            .await
            .map_err(|e| crate::Error::warehouse_from("a cleaning task stopped", e))??;
        if let Some(id) = table_progress {
            progress.insert(report.table, id);
        }
        reports.push(report);
    }
    Ok((reports, progress))
}

impl BatchCleanReport {
    fn new(table: Table) -> Self {
        BatchCleanReport {
            table,
            objects: 0,
            objects_left: 0,
            stats: CleanStats::new(table),
            reposts: 0,
            rows_written: 0,
            quarantined: 0,
            commits: 0,
            version: 0,
            restarts: 0,
            ms: 0,
        }
    }
}

fn log_report(report: &BatchCleanReport) {
    info!(
        table = report.table.name(),
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
        restarts = report.restarts,
        ms = report.ms,
        "Cleaned new raw objects."
    );
}

/// One progress the chunks move on: the batch table's (its rows) or the quarantine's share for
/// the table (its rejections).
struct Side {
    docs: ProgressDocs,
    id: Option<i64>,
    done: RawProgress,
}

impl Side {
    /// The progress `lake` names now.
    async fn read(warehouse: &Warehouse, lake: &mut LakeTable, table: Table) -> Result<Side> {
        let docs = ProgressDocs::new(warehouse, lake.id(), table)?;
        let id = lake.committed_id(&SourceKey::RawProgress { table }).await?;
        let done = docs.load(id).await?;
        Ok(Side { docs, id, done })
    }

    /// Stores the progress with `objects` taken in, settled up to `settled`, and returns the swap
    /// that commits it (the attempt ends if that commit fails, so the side moves on now).
    async fn take_in<'a>(
        &mut self,
        table: Table,
        objects: impl Iterator<Item = &'a RawObject>,
        settled: DateTime<Utc>,
    ) -> Result<Swap> {
        let next = self.done.advanced(objects, settled);
        let to = self.docs.save(&next).await?;
        let swap = Swap {
            source: SourceKey::RawProgress { table },
            from: self.id,
            to,
        };
        (self.id, self.done) = (Some(to), next);
        Ok(swap)
    }
}

/// Cleans the table's objects not taken in yet, from the progress the tables hold now; returns the
/// batch table's progress id at the end. [`crate::Error::ProgressMoved`]: another run committed
/// first (what this attempt committed before stays, and is counted in `report`). `cleaner` is
/// this attempt's: a restart must not take the lost chunk's records for duplicates.
async fn clean_table(
    warehouse: &Warehouse,
    raw: &RawZone,
    table: Table,
    topics: &[String],
    now: DateTime<Utc>,
    (chunk_bytes, deadline): (u64, Instant),
    (cleaner, report): (&mut TableCleaner, &mut BatchCleanReport),
) -> Result<Option<i64>> {
    let mut rows_writer = RowWriter::open(warehouse, TableId::Batch(table)).await?;
    let mut quarantine = QuarantineWriter::new(warehouse);
    let mut rows_side = Side::read(warehouse, rows_writer.lake(), table).await?;
    let mut rejections_side = Side::read(warehouse, quarantine.lake().await?, table).await?;

    let mut pending = Vec::new();
    for topic in topics {
        for object in raw.list(topic).await? {
            let rows = !rows_side.done.contains(&object);
            let rejections = !rejections_side.done.contains(&object);
            if rows || rejections {
                pending.push(Pending {
                    object,
                    rows,
                    rejections,
                });
            }
        }
    }
    // oldest first: the progress then settles as far as the objects cleaned allow
    pending.sort_by(|a, b| {
        (a.object.last_modified, &a.object.key).cmp(&(b.object.last_modified, &b.object.key))
    });
    // no object can appear modified before this any more (see `lake::raw_progress`)
    let horizon = now - chrono::Duration::from_std(RAW_SETTLE).unwrap_or_default();

    report.version = rows_writer.lake().version();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // One chunk's rows are written (Parquet encoding, the commit) on a task of their own while
    // this one fetches and cleans the next chunk: the two halves of the work share the cores.
    let mut writer = BatchWriter::Idle(Box::new(rows_writer));
    let chunks = chunks(&pending, chunk_bytes);
    // The next chunk's objects are read while this one is cleaned.
    let mut next = chunks.first().map(|chunk| Fetch::start(raw, chunk));
    // chunks taken in; objects read whose rejections (none) the quarantine's progress waits for
    let mut done = 0;
    let mut unquarantined: Vec<&RawObject> = Vec::new();
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
        let started = Instant::now();
        let bodies = match next.take() {
            Some(fetch) => fetch.finish().await?,
            None => Vec::new(),
        };
        let fetched = started.elapsed();
        next = chunks.get(i + 1).map(|chunk| Fetch::start(raw, chunk));
        // (object, line) of every record, and its bytes, in arrival order
        let (at, records): (Vec<(usize, usize)>, Vec<&[u8]>) = bodies
            .iter()
            .enumerate()
            .flat_map(|(object, body)| {
                lines(body)
                    .enumerate()
                    .map(move |(line, bytes)| ((object, line), bytes))
            })
            .unzip();
        // parsing and cleaning on every core; first arrival decided in order, each outcome settled
        // where it lies: the rows stay in the cleaners' runs, and the Arrow parts are built from
        // them (a pin row is ~250 bytes; this loop is the one part of the clean on one thread)
        let mut runs = clean_all(table, &records, threads);
        let mut parts: Vec<Vec<&CleanRow<'_>>> = Vec::with_capacity(runs.len());
        let mut rejected = Vec::new();
        let mut n = 0;
        for run in runs.iter_mut() {
            let mut part = Vec::with_capacity(run.len());
            for outcome in run.iter_mut() {
                cleaner.settle_in_place(outcome);
                let ((object, line), bytes) = (at[n], records[n]);
                let p = &chunk[object];
                match &*outcome {
                    Outcome::Clean(c) if p.rows => part.push(&c.row),
                    Outcome::Rejected(r) if p.rejections => {
                        let source = SourceRef::File {
                            path: p.object.key.clone(),
                            line: line as u64 + 1,
                        };
                        rejected.push(QuarantineRecord::new(r.clone(), bytes, source, now));
                    }
                    _ => {}
                }
                n += 1;
            }
            parts.push(part);
        }
        let later = &chunks[i + 1..];
        let cleaned = started.elapsed();

        // the rows, with the progress they reach: once the chunk before is committed (the re-post
        // check needs the table as that commit left it), on a task of their own
        if chunk.iter().any(|p| p.rows) {
            let objects = chunk.iter().filter(|p| p.rows).map(|p| &p.object);
            let settled = settled(horizon, later, |p| p.rows);
            let swap = rows_side.take_in(table, objects, settled).await?;
            let mut rows_writer = writer.ready(report).await?;
            let ready = started.elapsed();
            // the Arrow batch owns its bytes: the raw ones can go before the write starts
            // first arrivals of one cleaner: distinct already
            let prepared = rows_writer.prepare_first_arrivals(&parts).await?;
            debug!(table = table.name(), chunk = i, ?fetched, ?cleaned, ?ready, prepared = ?started.elapsed(), "A chunk cleaned and prepared; its append starts.");
            report.reposts += prepared.reposts();
            writer = BatchWriter::Appending(InFlight::start(rows_writer, prepared, swap));
        }

        // the rejections, with the quarantine's own progress for this table: committed with the
        // chunk's rejections, and once at the end for the chunks that had none (so that a later run
        // does not read these objects again for it); a commit per chunk without a rejection would
        // put a quarantine commit on every chunk's path, the three tables' racing for one log
        unquarantined.extend(chunk.iter().filter(|p| p.rejections).map(|p| &p.object));
        if !rejected.is_empty() {
            let quarantined = quarantine_commit(
                (&mut quarantine, &mut rejections_side),
                table,
                (&mut unquarantined, &rejected),
                settled(horizon, later, |p| p.rejections),
            )
            .await;
            match quarantined {
                Ok(rows) => report.quarantined += rows,
                Err(e) => {
                    // the rows' append in flight finishes (and is counted) before this returns
                    writer.ready(report).await?;
                    return Err(e);
                }
            }
        }
        done = i + 1;
    }
    if !unquarantined.is_empty() {
        let quarantined = quarantine_commit(
            (&mut quarantine, &mut rejections_side),
            table,
            (&mut unquarantined, &[]),
            settled(horizon, &chunks[done..], |p| p.rejections),
        )
        .await;
        if let Err(e) = quarantined {
            writer.ready(report).await?;
            return Err(e);
        }
    }
    let mut rows_writer = writer.ready(report).await?;
    report.version = rows_writer.lake().version();
    Ok(rows_side.id)
}

/// Commits `rejections` (possibly none) to the quarantine with its progress for `table` moved past
/// `objects` (emptied), settled up to `settled`; returns the rows written.
async fn quarantine_commit(
    (quarantine, side): (&mut QuarantineWriter, &mut Side),
    table: Table,
    (objects, rejections): (&mut Vec<&RawObject>, &[QuarantineRecord]),
    settled: DateTime<Utc>,
) -> Result<u64> {
    let swap = side.take_in(table, objects.drain(..), settled).await?;
    let written = quarantine.write_swapping(rejections, &swap).await?;
    crate::failpoint::hit("daily-after-quarantine-commit");
    Ok(written.rows)
}

/// The instant the progress may settle up to after a chunk: the horizon, or earlier if an object
/// still to be taken in (in a later chunk, or left for the next run) was modified before it.
fn settled(
    horizon: DateTime<Utc>,
    later: &[&[Pending]],
    needed: impl Fn(&Pending) -> bool,
) -> DateTime<Utc> {
    later
        .iter()
        .flat_map(|c| c.iter())
        .filter(|p| needed(p))
        .map(|p| p.object.last_modified)
        .min()
        .map_or(horizon, |oldest| oldest.min(horizon))
}

/// A chunk's raw objects being read on a task of their own (stopped if dropped unfinished).
struct Fetch(tokio::task::JoinHandle<Result<Vec<bytes::Bytes>>>);

impl Fetch {
    fn start(raw: &RawZone, chunk: &[Pending]) -> Self {
        let raw = raw.clone();
        let keys: Vec<String> = chunk.iter().map(|p| p.object.key.clone()).collect();
        Fetch(tokio::spawn(async move {
            let reads = keys.into_iter().map(|key| {
                let raw = raw.clone();
                async move { raw.get(&key).await }
            });
            futures::stream::iter(reads)
                .buffered(FETCH_CONCURRENCY)
                .try_collect()
                .await
        }))
    }

    async fn finish(mut self) -> Result<Vec<bytes::Bytes>> {
        (&mut self.0)
            .await
            .map_err(|e| crate::Error::warehouse_from("a raw-object read stopped", e))?
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The batch table: ready for the next append, or busy with one.
enum BatchWriter {
    Idle(Box<RowWriter>),
    Appending(InFlight),
}

impl BatchWriter {
    /// The table, once any append in flight is done (and counted).
    async fn ready(self, report: &mut BatchCleanReport) -> Result<RowWriter> {
        match self {
            BatchWriter::Idle(writer) => Ok(*writer),
            BatchWriter::Appending(append) => append.finish(report).await,
        }
    }
}

/// A chunk's rows being appended to the batch table on a task of its own.
struct InFlight {
    task: tokio::task::JoinHandle<(RowWriter, Result<Written>)>,
}

impl InFlight {
    fn start(mut writer: RowWriter, prepared: Prepared, swap: Swap) -> Self {
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let written = writer.commit(prepared, &Commit::Swap(swap)).await;
            debug!(table = writer.table().name(), took = ?started.elapsed(), "A chunk appended.");
            (writer, written)
        });
        InFlight { task }
    }

    /// Waits for the append; counts it and gives the table back.
    async fn finish(self, report: &mut BatchCleanReport) -> Result<RowWriter> {
        let (writer, written) = self
            .task
            .await
            .map_err(|e| crate::Error::warehouse_from("an append task stopped", e))?;
        let written = written?;
        report.rows_written += written.rows;
        if written.version.is_some() {
            report.commits += 1;
        }
        crate::failpoint::hit("daily-after-clean-commit");
        Ok(writer)
    }
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
                incarnation: 0,
                key: String::new(),
                size,
                last_modified: DateTime::from_timestamp_millis(first_offset).unwrap(),
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
    fn the_progress_settles_no_further_than_the_oldest_object_still_to_take_in() {
        let objects = [pending(0, 500, 1), pending(0, 100, 1), pending(1, 300, 1)];
        let later: Vec<&[Pending]> = vec![&objects[..1], &objects[1..]];
        let horizon = DateTime::from_timestamp_millis(400).unwrap();
        let at = |p: &[&[Pending]], needed: fn(&Pending) -> bool| {
            settled(horizon, p, needed).timestamp_millis()
        };
        assert_eq!(at(&later, |_| true), 100);
        assert_eq!(at(&later, |p| p.object.partition == 1), 300);
        assert_eq!(at(&later, |_| false), 400, "nothing left: the horizon");
        assert_eq!(at(&later[..1], |_| true), 400, "newer than the horizon");
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
