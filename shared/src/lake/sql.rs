//! `pinpipe sql`: DataFusion over every table of a warehouse, under the names of spec §5 and the
//! issue: `batch_pin`, `stream_geo`, `quarantine`, … (tables not written yet are simply absent).

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, NaiveDate};
use deltalake::datafusion::config::Dialect;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::SessionContext;
use serde_json::{Number, Value};

use super::table::LakeTable;
use super::warehouse::{TableId, Warehouse};
use crate::insight::Insight;
use crate::record::format_timestamp;
use crate::{Result, Table};

/// A DataFusion session with every existing table of the warehouse registered: the cleaned tables,
/// the quarantine and the insights. Returns the registered names.
pub async fn session(warehouse: &Warehouse) -> Result<(SessionContext, Vec<String>)> {
    let ctx = SessionContext::new();
    let mut names = Vec::new();
    for id in TableId::every() {
        let name = id.sql_name();
        if let Some(delta) = LakeTable::load_existing(warehouse, &id.path()).await? {
            delta.update_datafusion_session(&ctx.state())?;
            ctx.register_table(name.as_str(), delta.table_provider().await?)?;
            names.push(name);
        }
    }
    Ok((ctx, names))
}

/// The version of the Delta table at `path` under the warehouse, if there is one.
pub async fn table_version(warehouse: &Warehouse, path: &str) -> Result<Option<u64>> {
    Ok(LakeTable::load_existing(warehouse, path)
        .await?
        .and_then(|t| t.version()))
}

/// Runs `queries` in order over the batch tables (each created empty where none exists yet), each
/// result registered under its query's name for the queries after it; returns each one's rows (at
/// least one, possibly empty, batch: a day without rows still has a schema).
pub async fn run_in_order(
    warehouse: &Warehouse,
    queries: &[Insight],
) -> Result<Vec<Vec<RecordBatch>>> {
    let ctx = SessionContext::new();
    for table in Table::ALL {
        let id = TableId::Batch(table);
        let lake = LakeTable::open(warehouse, id).await?;
        let delta = lake.delta();
        delta.update_datafusion_session(&ctx.state())?;
        ctx.register_table(id.sql_name().as_str(), delta.table_provider().await?)?;
    }
    let mut results = Vec::with_capacity(queries.len());
    for query in queries {
        let frame = ctx.sql(query.sql).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let mut batches = frame.collect().await?;
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
        let table = MemTable::try_new(schema, vec![batches.clone()])?;
        ctx.register_table(query.name, Arc::new(table))?;
        results.push(batches);
    }
    Ok(results)
}

/// Runs one query.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

/// The tables a query reads, as DataFusion resolves them (the names its WITH clauses define are
/// not tables): what an engine running it must be allowed to read.
pub fn tables_read(sql: &str) -> Result<Vec<String>> {
    let state = SessionContext::new().state();
    let statement = state.sql_to_statement(sql, &Dialect::Generic)?;
    let mut names: Vec<String> = state
        .resolve_table_references(&statement)?
        .into_iter()
        .map(|t| t.table().to_owned())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Writes rows as JSON lines with `pinpipe clean`'s value formats: RFC 3339 UTC timestamps,
/// `YYYY-MM-DD` dates, lists as arrays, nulls as `null`.
pub fn write_jsonl(batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    for batch in batches {
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let object: Vec<(&str, Value)> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| (field.name().as_str(), json_value(column, row)))
                .collect();
            serde_json::to_writer(&mut *out, &InOrder(&object)).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// The rows as JSON values (the same formats), with the column names in order.
pub fn json_rows(batches: &[RecordBatch]) -> (Vec<String>, Vec<Vec<Value>>) {
    let columns = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| json_value(c, row)).collect());
        }
    }
    (columns, rows)
}

/// A JSON object whose keys keep the columns' order.
struct InOrder<'a>(&'a [(&'a str, Value)]);

impl serde::Serialize for InOrder<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn json_value(array: &ArrayRef, row: usize) -> Value {
    use arrow::datatypes::*;
    if array.is_null(row) {
        return Value::Null;
    }
    macro_rules! int {
        ($t:ty) => {
            Value::from(array.as_primitive::<$t>().value(row))
        };
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(row)),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::from(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Value::from(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Value::from(array.as_string_view().value(row)),
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .map_or(Value::Null, |d| Value::from(d.to_string()))
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => {
                    array.as_primitive::<TimestampSecondType>().value(row) * 1_000_000
                }
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row) * 1_000
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => {
                    array.as_primitive::<TimestampNanosecondType>().value(row) / 1_000
                }
            };
            DateTime::from_timestamp_micros(v)
                .map_or(Value::Null, |t| Value::from(format_timestamp(&t)))
        }
        DataType::List(_) => list(&array.as_list::<i32>().value(row)),
        DataType::LargeList(_) => list(&array.as_list::<i64>().value(row)),
        _ => {
            let formatter =
                arrow::util::display::ArrayFormatter::try_new(array.as_ref(), &Default::default());
            formatter.map_or(Value::Null, |f| Value::from(f.value(row).to_string()))
        }
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn list(values: &ArrayRef) -> Value {
    Value::Array((0..values.len()).map(|i| json_value(values, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_athena_query_reads_batch_tables_only_and_not_the_names_it_defines() {
        for insight in crate::insight::INSIGHTS {
            let read = tables_read(&crate::insight::athena_sql(insight)).unwrap();
            assert!(!read.is_empty(), "{}", insight.name);
            assert!(
                read.iter().all(|t| t.starts_with("batch_")),
                "{}: {read:?}",
                insight.name
            );
        }
        let read = tables_read(
            "WITH a AS (SELECT ind FROM batch_pin) \
             SELECT EXTRACT(YEAR FROM date_joined) FROM a JOIN batch_user u USING (ind)",
        )
        .unwrap();
        assert_eq!(read, ["batch_pin", "batch_user"]);
    }
}
