//! Reading the lake back in tests: query rows as sorted JSON lines, the insight tables, and the
//! same insights computed independently by `tests/golden/insights.py` (DuckDB).

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
    String::from_utf8(output.stdout)
        .unwrap()
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
    let (ours, golden) = (canonical(ours), canonical(golden));
    for name in pinpipe::insight::INSIGHTS.map(|i| i.name) {
        assert_eq!(
            ours.get(name),
            golden.get(name),
            "{name}: pinpipe's rows (left) differ from DuckDB's (right)"
        );
    }
}
