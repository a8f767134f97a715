//! CloudWatch Embedded Metric Format: one JSON log line that CloudWatch turns into metrics, with no
//! API call on the hot path. Pure: the caller gives the time and prints the line.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// Where a function's EMF lines go, chosen by its configuration: standard output under a namespace
/// (on Lambda, where CloudWatch reads them), or nowhere (a local run, whose report counts the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Emf {
    Stdout { namespace: String },
    Off,
}

impl Emf {
    /// Standard output under `namespace`.
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Emf::Stdout {
            namespace: namespace.into(),
        }
    }

    /// Prints the lines `lines` makes for the namespace; makes none when off.
    pub fn emit<I: IntoIterator<Item = String>>(&self, lines: impl FnOnce(&str) -> I) {
        if let Emf::Stdout { namespace } = self {
            for line in lines(namespace) {
                println!("{line}");
            }
        }
    }
}

/// A metric's unit, as CloudWatch names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document: dimensions (e.g. function and table) and the values measured under them.
#[derive(Clone, Debug, Default)]
pub struct MetricSet {
    namespace: String,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, f64)>,
}

impl MetricSet {
    pub fn new(namespace: &str) -> Self {
        MetricSet {
            namespace: namespace.to_owned(),
            ..Self::default()
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn metric(mut self, name: &str, unit: Unit, value: f64) -> Self {
        self.metrics.push((name.to_owned(), unit, value));
        self
    }

    pub fn count(self, name: &str, value: u64) -> Self {
        self.metric(name, Unit::Count, value as f64)
    }

    /// The EMF JSON line (without a newline).
    pub fn to_line(&self, at: DateTime<Utc>) -> String {
        let mut doc = Map::new();
        let names: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [names],
                    "Metrics": definitions,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            doc.insert(name.clone(), Value::from(value.as_str()));
        }
        for (name, _, value) in &self.metrics {
            doc.insert(name.clone(), json!(value));
        }
        Value::Object(doc).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_line_declares_its_metrics_and_carries_their_values() {
        let at = DateTime::from_timestamp(1_700_000_000, 5_000_000).unwrap();
        let line = MetricSet::new("pinpipe")
            .dimension("Function", "kinesis-consumer")
            .dimension("Table", "pin")
            .count("RecordsIn", 10)
            .metric("CommitMs", Unit::Milliseconds, 25.0)
            .to_line(at);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_005_i64);
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "pinpipe");
        assert_eq!(cw["Dimensions"], json!([["Function", "Table"]]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "CommitMs", "Unit": "Milliseconds"})
        );
        assert_eq!(
            (v["Table"].as_str(), v["RecordsIn"].as_f64()),
            (Some("pin"), Some(10.0))
        );
        assert_eq!(v["CommitMs"], 25.0);
    }
}
