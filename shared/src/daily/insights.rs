//! The daily run's second stage: the nine insight tables of spec §5, computed with DataFusion SQL
//! (`shared/sql/`) over the batch tables and written to `tables/analytics/<name>`, replacing the run
//! date's partition.
//!
//! Each write carries a `txn` (`pinpipe/insights/<run date>`) whose version fingerprints the inputs
//! (every batch table's raw-zone progress): a table already written for this date from the same
//! inputs is left alone, so a rerun writes nothing and a run stopped halfway finishes only the rest.

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Date32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use deltalake::DeltaTable;
use deltalake::datafusion::datasource::MemTable;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use tracing::info;

use crate::lake::sql::INSIGHTS;
use crate::lake::{LakeTable, TableId, Warehouse};
use crate::{Result, Table};

/// The joins every insight starts from, materialised once per run: (name, SQL).
pub const VIEWS: [(&str, &str); 2] = [
    ("pin_geo", include_str!("../../sql/pin_geo.sql")),
    ("pin_user", include_str!("../../sql/pin_user.sql")),
];

/// The nine insights' SQL, in [`INSIGHTS`] order (a query may read the ones before it).
pub const QUERIES: [&str; 9] = [
    include_str!("../../sql/insights/popular_category_by_country.sql"),
    include_str!("../../sql/insights/posts_per_category_by_year.sql"),
    include_str!("../../sql/insights/top_user_by_country.sql"),
    include_str!("../../sql/insights/top_user_overall.sql"),
    include_str!("../../sql/insights/popular_category_by_age_group.sql"),
    include_str!("../../sql/insights/median_followers_by_age_group.sql"),
    include_str!("../../sql/insights/users_joined_by_year.sql"),
    include_str!("../../sql/insights/median_followers_by_join_year.sql"),
    include_str!("../../sql/insights/median_followers_by_age_group_and_join_year.sql"),
];

/// What the insight stage did for one table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsightReport {
    pub name: &'static str,
    /// Rows of the run date's partition.
    pub rows: u64,
    /// The version written now; `None` when the partition was already current.
    pub version: Option<u64>,
}

/// One computed insight.
#[derive(Clone, Debug)]
pub struct Computed {
    pub name: &'static str,
    pub batches: Vec<RecordBatch>,
}

impl Computed {
    pub fn rows(&self) -> u64 {
        self.batches.iter().map(|b| b.num_rows() as u64).sum()
    }
}

/// `tables/analytics/<name>`.
pub fn path(name: &str) -> String {
    format!("tables/analytics/{name}")
}

/// The `appId` whose version fingerprints the inputs of a run date's partition.
pub fn app_id(run_date: NaiveDate) -> String {
    format!("pinpipe/insights/{run_date}")
}

/// Computes the nine insights from the batch tables (created empty where none exists yet).
pub async fn compute(warehouse: &Warehouse) -> Result<Vec<Computed>> {
    let ctx = SessionContext::new();
    for table in Table::ALL {
        let id = TableId::Batch(table);
        let lake = LakeTable::open(warehouse, id).await?;
        let delta = lake.delta();
        delta.update_datafusion_session(&ctx.state())?;
        ctx.register_table(id.sql_name().as_str(), delta.table_provider().await?)?;
    }
    for (name, sql) in VIEWS {
        materialize(&ctx, name, sql).await?;
    }
    let mut computed = Vec::with_capacity(INSIGHTS.len());
    for (name, sql) in INSIGHTS.into_iter().zip(QUERIES) {
        let batches = materialize(&ctx, name, sql).await?;
        computed.push(Computed { name, batches });
    }
    Ok(computed)
}

/// Runs `sql` and registers its result under `name` for the queries after it; the result has at
/// least one (possibly empty) batch, so that its schema is known even on a day without rows.
async fn materialize(ctx: &SessionContext, name: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    let frame = ctx.sql(sql).await?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await?;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema.clone()));
    }
    let table = MemTable::try_new(schema, vec![batches.clone()])?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(batches)
}

/// Whether `tables/analytics/<name>` holds the run date's partition computed from `inputs`.
pub async fn is_current(
    warehouse: &Warehouse,
    name: &str,
    run_date: NaiveDate,
    inputs: i64,
) -> Result<bool> {
    let Some(table) = LakeTable::load_existing(warehouse, &path(name)).await? else {
        return Ok(false);
    };
    let version = table
        .snapshot()?
        .transaction_version(table.log_store().as_ref(), &app_id(run_date))
        .await?;
    Ok(version == Some(inputs))
}

/// Writes an insight as the run date's partition of its table (replacing what the partition held),
/// with the inputs' fingerprint. Returns the version written.
pub async fn write(
    warehouse: &Warehouse,
    insight: &Computed,
    run_date: NaiveDate,
    inputs: i64,
) -> Result<u64> {
    let started = Instant::now();
    let path = path(insight.name);
    let url = warehouse.url(&path)?;
    if let Ok(dir) = url.to_file_path() {
        std::fs::create_dir_all(dir)?;
    }
    let table =
        DeltaTable::try_from_url_with_storage_options(url, warehouse.storage_options().clone())
            .await?;
    let exists = table.version().is_some();
    let batches = with_run_date(&insight.batches, run_date)?;
    let properties = CommitProperties::default()
        .with_application_transaction(Transaction::new(app_id(run_date), inputs))
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
            .with_configuration(crate::lake::table_properties())
    };
    let written = write.await?;
    let version = written.version().unwrap_or_default();
    info!(
        insight = insight.name,
        %run_date,
        rows = insight.rows(),
        version,
        ms = started.elapsed().as_millis() as u64,
        "Wrote insight partition."
    );
    Ok(version)
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
    fn every_insight_has_its_sql_file_and_each_file_names_its_output_columns() {
        for (name, sql) in INSIGHTS.iter().zip(QUERIES) {
            assert!(sql.contains("SELECT"), "{name}");
        }
        assert!(QUERIES[3].contains("top_user_by_country"));
        assert_eq!(INSIGHTS[2], "top_user_by_country");
    }

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
}
