//! Quarantine records (spec §2 "Rejections"): everything needed to understand and replay a
//! rejected record — its raw bytes, where it came from, why, and when.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Table;
use crate::record::{Rejection, format_timestamp};

/// Where a record was read: the coordinates that let anyone find it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum SourceRef {
    /// A line of a JSON-lines file (1-based).
    File {
        path: String,
        line: u64,
    },
    Kafka {
        topic: String,
        partition: i32,
        offset: i64,
    },
    Kinesis {
        stream: String,
        shard: String,
        sequence_number: String,
    },
    Api {
        request_id: String,
    },
}

/// One rejected record, as written to the quarantine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QuarantineRecord {
    pub table: Table,
    #[serde(flatten)]
    pub source: SourceRef,
    pub reason: &'static str,
    pub field: Option<&'static str>,
    pub ind: Option<i64>,
    pub message: String,
    /// The raw bytes, base64: always there, whatever the bytes were.
    pub raw_base64: String,
    /// The raw bytes as text, where they are UTF-8 (for people reading the quarantine).
    pub raw: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub rejected_at: DateTime<Utc>,
}

impl QuarantineRecord {
    pub fn new(
        rejection: Rejection,
        raw: &[u8],
        source: SourceRef,
        rejected_at: DateTime<Utc>,
    ) -> Self {
        QuarantineRecord {
            table: rejection.table,
            source,
            reason: rejection.reason.code(),
            field: rejection.field,
            ind: rejection.ind,
            message: rejection.message,
            raw_base64: BASE64.encode(raw),
            raw: std::str::from_utf8(raw).ok().map(str::to_owned),
            rejected_at,
        }
    }
}

impl Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::clean;

    #[test]
    fn quarantine_records_keep_raw_bytes_source_reason_and_time() {
        let raw = b"{\"ind\": 5, \"latitude\": 99}\xff";
        let rejection = clean(Table::Geo, raw).unwrap_err();
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let source = SourceRef::File {
            path: "geo.jsonl".into(),
            line: 3,
        };
        let q = QuarantineRecord::new(rejection, raw, source, at);
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["table"], "geo");
        assert_eq!(v["source"], "file");
        assert_eq!(v["line"], 3);
        assert_eq!(v["reason"], "not_utf8");
        assert_eq!(v["raw"], serde_json::Value::Null);
        assert_eq!(
            BASE64.decode(v["raw_base64"].as_str().unwrap()).unwrap(),
            raw
        );
        assert_eq!(v["rejected_at"], "2023-11-14T22:13:20Z");
    }
}
