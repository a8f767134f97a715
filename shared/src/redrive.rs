//! `pinpipe redrive --quarantine`: chosen quarantine rows (by reason, by rejection time, by table)
//! cleaned again — after a cleaning rule was fixed — and the rows that now clean written, exactly
//! once, to the table of the path they came by: a Kinesis record to `tables/stream/<table>`, a Kafka
//! record or a file line to `tables/batch/<table>`. A record that is still rejected stays where it is
//! (the quarantine keeps every row it had: it is the audit trail); a rejection at the edge (an API
//! request) has no path to replay and is counted as such.
//!
//! Exactly once, the same way as the paths themselves: the rows go through the table's re-post
//! check (`IndIndex`: an `ind` the table holds is dropped, so a second redrive adds nothing) and
//! commit under a swap of a progress the table names. For a batch table that is its raw-zone
//! progress (`pinpipe/raw-progress/<table>`, the same document under a new id), so a redrive and a
//! daily run never both admit an `ind`: whichever commits second finds the progress moved and
//! chooses its rows again. For a stream table it is `pinpipe/quarantine-redrive/<table>`. A lost
//! answer is recognised by the swap's new id, not committed twice.

use arrow::array::{Array, AsArray};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use tracing::{debug, info};

use crate::cleaner::{Outcome, TableCleaner};
use crate::lake::{
    Commit, LakeTable, ProgressDocs, RowWriter, SourceKey, Swap, TableId, Warehouse, sql,
};
use crate::record::CleanRow;
use crate::{Error, Result, Table};

/// Commits attempted per table before giving up (each lost to a concurrent writer).
const MAX_ATTEMPTS: u32 = 10;

/// Which quarantine rows to redrive (every condition given must hold).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Reason codes (`invalid_field`, `missing_field`, …); empty = any.
    pub reasons: Vec<String>,
    /// Rejected at or after.
    pub since: Option<DateTime<Utc>>,
    /// Rejected before.
    pub until: Option<DateTime<Utc>>,
    /// Tables; empty = all three.
    pub tables: Vec<Table>,
}

impl Selection {
    /// The SQL condition over the quarantine table.
    fn condition(&self) -> Result<String> {
        let mut conditions = vec!["1 = 1".to_owned()];
        if !self.reasons.is_empty() {
            for reason in &self.reasons {
                if reason.is_empty() || !reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    return Err(Error::redrive(format!(
                        "{reason:?} is not a reason code (lower-case letters and _)"
                    )));
                }
            }
            conditions.push(format!("reason IN ('{}')", self.reasons.join("', '")));
        }
        let instant = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
        if let Some(since) = &self.since {
            conditions.push(format!("rejected_at >= TIMESTAMP '{}'", instant(since)));
        }
        if let Some(until) = &self.until {
            conditions.push(format!("rejected_at < TIMESTAMP '{}'", instant(until)));
        }
        if !self.tables.is_empty() {
            let names: Vec<&str> = self.tables.iter().map(|t| t.name()).collect();
            conditions.push(format!("\"table\" IN ('{}')", names.join("', '")));
        }
        Ok(conditions.join(" AND "))
    }
}

/// What a quarantine redrive did to one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRedrive {
    pub table: TableId,
    /// Quarantine rows selected for this table.
    pub records: u64,
    /// Rows that clean now.
    pub clean: u64,
    /// Rows rejected again (left in the quarantine).
    pub still_rejected: u64,
    /// Rows repeating an `ind` earlier in the selection.
    pub duplicates: u64,
    /// Clean rows whose `ind` the table already holds (redriven before, or a re-post).
    pub reposts: u64,
    pub rows_written: u64,
    /// Commits lost to a concurrent writer and chosen again.
    pub restarts: u32,
}

/// What a quarantine redrive did.
#[derive(Clone, Debug, Default)]
pub struct QuarantineRedrive {
    pub selected: u64,
    /// Rows that came by the API (refused at the edge: nothing to replay).
    pub not_replayable: u64,
    pub tables: Vec<TableRedrive>,
}

/// Redrives the quarantine rows `selection` chooses.
pub async fn redrive_quarantine(
    warehouse: &Warehouse,
    selection: &Selection,
) -> Result<QuarantineRedrive> {
    let condition = selection.condition()?;
    let (ctx, names) = sql::session(warehouse).await?;
    let mut report = QuarantineRedrive::default();
    if !names.iter().any(|n| n == "quarantine") {
        return Ok(report);
    }
    let query = format!(
        "SELECT \"table\", source, raw_base64 FROM quarantine WHERE {condition} \
         ORDER BY rejected_at, topic, \"partition\", \"offset\", stream, shard, \
         length(sequence_number), sequence_number, file_path, file_line"
    );
    let batches = sql::query(&ctx, &query).await?;
    // each destination table's raw records, in the order the query gave them
    let mut by_table: Vec<(TableId, Table, Vec<Vec<u8>>)> = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            report.selected += 1;
            let text = |i: usize| string_at(batch.column(i).as_ref(), row);
            let table: Table = text(0).parse()?;
            let id = match text(1).as_str() {
                "kinesis" => TableId::Stream(table),
                "kafka" | "file" => TableId::Batch(table),
                _ => {
                    report.not_replayable += 1;
                    continue;
                }
            };
            let raw = BASE64
                .decode(text(2).as_bytes())
                .map_err(|e| Error::redrive_from("a quarantine row's raw_base64", e))?;
            match by_table.iter_mut().find(|(t, _, _)| *t == id) {
                Some((_, _, raws)) => raws.push(raw),
                None => by_table.push((id, table, vec![raw])),
            }
        }
    }
    for (id, table, raws) in by_table {
        report
            .tables
            .push(redrive_table(warehouse, id, table, &raws).await?);
    }
    Ok(report)
}

/// The text of a string column (any of Arrow's string types) at `row`.
fn string_at(column: &dyn Array, row: usize) -> String {
    if let Some(a) = column.as_string_opt::<i32>() {
        return a.value(row).to_owned();
    }
    if let Some(a) = column.as_string_opt::<i64>() {
        return a.value(row).to_owned();
    }
    column
        .as_string_view_opt()
        .map(|a| a.value(row).to_owned())
        .unwrap_or_default()
}

async fn redrive_table(
    warehouse: &Warehouse,
    id: TableId,
    table: Table,
    raws: &[Vec<u8>],
) -> Result<TableRedrive> {
    let mut cleaner = TableCleaner::new(table);
    let mut rows: Vec<CleanRow<'_>> = Vec::new();
    for raw in raws {
        if let Outcome::Clean(c) = cleaner.push(raw) {
            rows.push(c.row);
        }
    }
    let stats = cleaner.stats().clone();
    let mut report = TableRedrive {
        table: id,
        records: raws.len() as u64,
        clean: stats.clean,
        still_rejected: stats.rejected_total(),
        duplicates: stats.duplicates,
        reposts: 0,
        rows_written: 0,
        restarts: 0,
    };
    let mut writer = RowWriter::open(warehouse, id).await?;
    for attempt in 1..=MAX_ATTEMPTS {
        writer.refresh().await?;
        let prepared = writer.prepare(rows.clone()).await?;
        report.reposts = prepared.reposts();
        if prepared.rows() == 0 {
            break;
        }
        let swap = swap_for(warehouse, writer.lake(), id, table).await?;
        match writer.commit(prepared, &Commit::Swap(swap)).await {
            Ok(written) => {
                report.rows_written = written.rows;
                break;
            }
            Err(Error::ProgressMoved(source)) if attempt < MAX_ATTEMPTS => {
                report.restarts += 1;
                debug!(table = %id, %source, "Another writer committed first; choosing the rows again.");
            }
            Err(e) => return Err(e),
        }
    }
    info!(table = %id, records = report.records, clean = report.clean, still_rejected = report.still_rejected, reposts = report.reposts, rows_written = report.rows_written, "Redrove quarantine rows.");
    Ok(report)
}

/// The progress swap a redrive commits under: a batch table's raw-zone progress moved to a copy of
/// itself (so a concurrent daily run's commit, or ours, finds it moved), or a stream table's own
/// redrive progress.
async fn swap_for(
    warehouse: &Warehouse,
    lake: &mut LakeTable,
    id: TableId,
    table: Table,
) -> Result<Swap> {
    match id {
        TableId::Batch(_) => {
            let source = SourceKey::RawProgress { table };
            let from = lake.committed_id(&source).await?;
            let docs = ProgressDocs::new(warehouse, id, table)?;
            let progress = docs.load(from).await?;
            let to = docs.save(&progress).await?;
            Ok(Swap { source, from, to })
        }
        _ => {
            let source = SourceKey::QuarantineRedrive { table };
            let from = lake.committed_id(&source).await?;
            Ok(Swap {
                source,
                from,
                to: rand::random::<i64>() & i64::MAX,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_becomes_one_sql_condition_and_refuses_what_is_not_a_reason_code() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let selection = Selection {
            reasons: vec!["invalid_field".into(), "missing_field".into()],
            since: Some(at),
            until: None,
            tables: vec![Table::Geo],
        };
        assert_eq!(
            selection.condition().unwrap(),
            "1 = 1 AND reason IN ('invalid_field', 'missing_field') \
             AND rejected_at >= TIMESTAMP '2026-12-01T00:00:00.000000Z' AND \"table\" IN ('geo')"
        );
        let injected = Selection {
            reasons: vec!["x') OR (1=1".into()],
            ..Selection::default()
        };
        assert!(injected.condition().is_err());
    }
}
