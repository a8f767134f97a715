//! Reading the lake back in tests: query rows as sorted JSON lines, the insight tables, the same
//! insights computed independently by `tests/golden/insights.py` (DuckDB), and the queries the
//! daily function would send to Athena, checked as Trino and run on DuckDB by `tests/golden/trino.py`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use pinpipe::lake::{Warehouse, sql};
use serde_json::Value;

/// A query's rows as sorted JSON lines.
pub async fn rows(warehouse: &Warehouse, query: &str) -> Vec<String> {
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let batches = sql::query(&ctx, query).await.unwrap();
    let mut out = Vec::new();
    sql::write_jsonl(&batches, &mut out).unwrap();
    let mut lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// The insight rows pinpipe wrote for `run_date`, as (insight, row) JSON values.
pub async fn insight_rows(warehouse: &Warehouse, run_date: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for name in pinpipe::insight::INSIGHTS.map(|i| i.name) {
        let query = format!("SELECT * FROM {name} WHERE run_date = DATE '{run_date}'");
        for line in rows(warehouse, &query).await {
            out.push((name.to_owned(), serde_json::from_str(&line).unwrap()));
        }
    }
    out
}

/// The same insights computed by `tests/golden/insights.py` (DuckDB over the batch tables).
pub fn golden_rows(warehouse_dir: &Path, run_date: &str) -> Vec<(String, Value)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/insights.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(warehouse_dir)
        .arg(run_date)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "golden script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_rows(&output.stdout)
}

/// The insights as Athena would compute them: each query of [`pinpipe::insight::athena_sql`]
/// parsed as Trino, checked to call only Trino's functions, translated to DuckDB and run over the
/// batch tables by `tests/golden/trino.py`.
pub fn athena_rows(warehouse_dir: &Path, run_date: &str) -> Vec<(String, Value)> {
    let queries = crate::TempDir::new("athena-sql");
    for insight in pinpipe::insight::INSIGHTS {
        std::fs::write(
            queries.path().join(format!("{}.sql", insight.name)),
            pinpipe::insight::athena_sql(insight),
        )
        .unwrap();
    }
    let output = trino_check(warehouse_dir, run_date, queries.path());
    assert!(
        output.status.success(),
        "trino.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_rows(&output.stdout)
}

/// `tests/golden/trino.py` run on the queries in `sql_dir`.
pub fn trino_check(warehouse_dir: &Path, run_date: &str, sql_dir: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/trino.py");
    Command::new("python3")
        .arg(script)
        .arg(warehouse_dir)
        .arg(run_date)
        .arg(sql_dir)
        .output()
        .expect("python3 runs")
}

/// The insights as DataFusion computes the Athena queries (each one self-contained) over the
/// warehouse's batch tables.
pub async fn athena_sql_on_datafusion(
    warehouse: &Warehouse,
    run_date: &str,
) -> Vec<(String, Value)> {
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let mut out = Vec::new();
    for insight in pinpipe::insight::INSIGHTS {
        let batches = sql::query(&ctx, &pinpipe::insight::athena_sql(insight))
            .await
            .unwrap();
        let (columns, rows) = sql::json_rows(&batches);
        for row in rows {
            let mut object: serde_json::Map<String, Value> =
                columns.iter().cloned().zip(row).collect();
            object.insert("run_date".into(), Value::String(run_date.into()));
            out.push((insight.name.to_owned(), Value::Object(object)));
        }
    }
    out
}

fn parse_rows(stdout: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["insight"].as_str().unwrap().to_owned(), v["row"].clone())
        })
        .collect()
}

/// Rows as comparable text: keys sorted, floats to 9 decimals (medians), per insight, sorted.
pub fn canonical(rows: &[(String, Value)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, row) in rows {
        let fields: BTreeMap<&str, String> = row
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::Number(n) if n.is_f64() => format!("{:.9}", n.as_f64().unwrap()),
                    other => other.to_string(),
                };
                (k.as_str(), text)
            })
            .collect();
        out.entry(name.clone())
            .or_default()
            .push(format!("{fields:?}"));
    }
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

pub fn assert_insights_match_golden(ours: &[(String, Value)], golden: &[(String, Value)]) {
    assert_same_insights("pinpipe's", ours, golden);
}

/// `theirs` (described by `whose`) equal the golden rows, insight by insight.
pub fn assert_same_insights(whose: &str, theirs: &[(String, Value)], golden: &[(String, Value)]) {
    let (theirs, golden) = (canonical(theirs), canonical(golden));
    for name in pinpipe::insight::INSIGHTS.map(|i| i.name) {
        assert_eq!(
            theirs.get(name),
            golden.get(name),
            "{name}: {whose} rows (left) differ from the golden DuckDB computation's (right)"
        );
    }
}
