//! Tables written a partition at a time: an insight's run-date partition replaced whole, with the
//! fingerprint of what it was computed from in the same commit (`txn`
//! `pinpipe/insights/<run date>`), so a rerun from the same inputs writes nothing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use deltalake::DeltaTable;
use deltalake::datafusion::prelude::{col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;

use super::position::SourceKey;
use super::table::{LakeTable, table_properties};
use super::warehouse::{TableId, Warehouse};
use crate::Result;
use crate::insight::Insight;

/// Whether the insight's table holds the run date's partition computed from `inputs`.
pub async fn is_current(
    warehouse: &Warehouse,
    insight: Insight,
    run_date: NaiveDate,
    inputs: i64,
) -> Result<bool> {
    let Some(mut table) = LakeTable::open_existing(warehouse, TableId::Insight(insight)).await?
    else {
        return Ok(false);
    };
    let committed = table
        .committed_id(&SourceKey::InsightInputs { run_date })
        .await?;
    Ok(committed == Some(inputs))
}

/// Writes `batches` (an insight's rows) as the run date's partition of its table, replacing what
/// the partition held, with the inputs' fingerprint; creates the table (partitioned by
/// `run_date`) on its first write. Returns the version written.
pub async fn replace_run_date(
    warehouse: &Warehouse,
    insight: Insight,
    batches: &[RecordBatch],
    run_date: NaiveDate,
    inputs: i64,
) -> Result<u64> {
    let url = warehouse.url(&TableId::Insight(insight).path())?;
    if let Ok(dir) = url.to_file_path() {
        std::fs::create_dir_all(dir)?;
    }
    let table =
        DeltaTable::try_from_url_with_storage_options(url, warehouse.storage_options().clone())
            .await?;
    let exists = table.version().is_some();
    let batches = with_run_date(batches, run_date)?;
    let app_id = SourceKey::InsightInputs { run_date }.app_id();
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new(app_id, inputs))
        .with_cleanup_expired_logs(Some(false));
    let write = table.write(batches).with_commit_properties(properties);
    let write = if exists {
        let day = ScalarValue::Date32(Some(days_since_epoch(run_date)));
        write
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(col("run_date").eq(lit(day)))
    } else {
        write
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(["run_date"])
            .with_table_name(insight.name)
            .with_configuration(table_properties())
    };
    let written = write.await?;
    Ok(written.version().unwrap_or_default())
}

/// The batches with a `run_date` column, every column nullable (the tables' schema stays the same
/// whatever a day's query plan inferred), and at least one batch (an empty day still has a schema).
fn with_run_date(batches: &[RecordBatch], run_date: NaiveDate) -> Result<Vec<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut fields: Vec<Field> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    fields.push(Field::new("run_date", DataType::Date32, true));
    let schema = Arc::new(Schema::new(fields));
    let day = days_since_epoch(run_date);
    batches
        .iter()
        .map(|b| {
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns.push(Arc::new(Date32Array::from(vec![day; b.num_rows()])));
            Ok(RecordBatch::try_new(schema.clone(), columns)?)
        })
        .collect()
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dates_are_days_since_the_unix_epoch() {
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()),
            1
        );
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()),
            20_784
        );
    }

    #[test]
    fn the_run_date_column_is_added_and_every_column_made_nullable() {
        use arrow::array::Int64Array;
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1_i64, 2]))]).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let out = with_run_date(&[batch], day).unwrap();
        let schema = out[0].schema();
        assert!(schema.field(0).is_nullable());
        assert_eq!(schema.field(1).name(), "run_date");
        let dates = out[0]
            .column(1)
            .as_any()
            .downcast_ref::<Date32Array>()
            .unwrap();
        assert_eq!(dates.values().to_vec(), vec![days_since_epoch(day); 2]);
        assert!(with_run_date(&[], day).unwrap().is_empty());
    }
}
