//! Source positions as Delta application transactions (`txn`), so that a batch's rows and the
//! position it reached commit together, and a redelivered batch commits nothing.
//!
//! A `txn` is an `(appId, version: i64)` pair. Offsets fit a version; Kinesis sequence numbers (up to
//! 128-bit numbers written as up to 56 decimal digits) do not, so a sequence number is split into
//! 18-digit chunks, most significant first, each the version of its own `appId` (`…#0`, `…#1`, …),
//! all written in the same commit. Reading the chunks back gives the exact number; comparing
//! decimal strings by (length, digits) orders them as numbers.

use std::cmp::Ordering;
use std::fmt;

/// Where a batch came from: one ordered stream of records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceKey {
    /// An MSK topic partition (stream path of Kafka records, or the raw zone's landing).
    Kafka { topic: String, partition: i32 },
    /// A Kinesis shard.
    Kinesis { stream: String, shard: String },
    /// A Kinesis shard's discarded batches, replayed from the on-failure destination by
    /// `pinpipe redrive`: a position of its own, since the shard's live position has moved past them.
    Redrive { stream: String, shard: String },
    /// Quarantine rows a stream table took in by `pinpipe redrive --quarantine`: the id of the
    /// last redrive's commit, swapped by each (`crate::redrive`).
    QuarantineRedrive { table: crate::Table },
    /// The raw objects a table has taken in (the daily batch run): the id of a progress document
    /// (`lake::raw_progress`), per batch table.
    RawProgress { table: crate::Table },
    /// What an insight table's run-date partition was computed from: a fingerprint of the batch
    /// tables' progress (the daily run), per run date.
    InsightInputs { run_date: chrono::NaiveDate },
}

impl SourceKey {
    /// The `appId` prefix of this source in a table's log.
    pub fn app_id(&self) -> String {
        match self {
            SourceKey::Kafka { topic, partition } => format!("pinpipe/kafka/{topic}/{partition}"),
            SourceKey::Kinesis { stream, shard } => format!("pinpipe/kinesis/{stream}/{shard}"),
            SourceKey::Redrive { stream, shard } => format!("pinpipe/redrive/{stream}/{shard}"),
            SourceKey::RawProgress { table } => format!("pinpipe/raw-progress/{table}"),
            SourceKey::InsightInputs { run_date } => format!("pinpipe/insights/{run_date}"),
            SourceKey::QuarantineRedrive { table } => {
                format!("pinpipe/quarantine-redrive/{table}")
            }
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.app_id())
    }
}

/// How far a source has been committed: the last offset, or the last sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    Offset(i64),
    /// A decimal sequence number, without leading zeros.
    Sequence(String),
}

/// Digits per chunk: 10^18 - 1 < i64::MAX.
const CHUNK: usize = 18;
/// Up to 72 digits (Kinesis uses 56).
pub const MAX_SEQUENCE_DIGITS: usize = 4 * CHUNK;

impl Position {
    /// A sequence number from its decimal text; `None` unless 1–72 ASCII digits.
    pub fn sequence(text: &str) -> Option<Position> {
        if text.is_empty()
            || text.len() > MAX_SEQUENCE_DIGITS
            || !text.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let trimmed = text.trim_start_matches('0');
        Some(Position::Sequence(
            if trimmed.is_empty() { "0" } else { trimmed }.to_owned(),
        ))
    }

    /// The `txn` actions (appId, version) that record this position for `source`.
    pub fn to_txns(&self, source: &SourceKey) -> Vec<(String, i64)> {
        let base = source.app_id();
        match self {
            Position::Offset(o) => vec![(base, *o)],
            Position::Sequence(digits) => {
                let padded = format!("{digits:0>width$}", width = MAX_SEQUENCE_DIGITS);
                (0..MAX_SEQUENCE_DIGITS / CHUNK)
                    .map(|i| {
                        let chunk = &padded[i * CHUNK..(i + 1) * CHUNK];
                        let version = chunk.parse().expect("18 ASCII digits fit an i64");
                        (format!("{base}#{i}"), version)
                    })
                    .collect()
            }
        }
    }

    /// The `appId`s [`Position::to_txns`] writes for a source of this kind.
    pub fn app_ids(source: &SourceKey) -> Vec<String> {
        let base = source.app_id();
        match source {
            SourceKey::Kinesis { .. } | SourceKey::Redrive { .. } => (0..MAX_SEQUENCE_DIGITS
                / CHUNK)
                .map(|i| format!("{base}#{i}"))
                .collect(),
            _ => vec![base],
        }
    }

    /// Rebuilds a position from the versions read for [`Position::app_ids`] (in that order);
    /// `None` when the source never committed.
    pub fn from_versions(source: &SourceKey, versions: &[Option<i64>]) -> Option<Position> {
        match source {
            SourceKey::Kinesis { .. } | SourceKey::Redrive { .. } => {
                if versions.iter().all(Option::is_none) {
                    return None;
                }
                let digits: String = versions
                    .iter()
                    .map(|v| format!("{:0>width$}", v.unwrap_or(0), width = CHUNK))
                    .collect();
                Position::sequence(&digits)
            }
            _ => versions.first().copied().flatten().map(Position::Offset),
        }
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Position::Offset(a), Position::Offset(b)) => Some(a.cmp(b)),
            (Position::Sequence(a), Position::Sequence(b)) => {
                Some(a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Offset(o) => write!(f, "offset {o}"),
            Position::Sequence(s) => write!(f, "sequence number {s}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard() -> SourceKey {
        SourceKey::Kinesis {
            stream: "streaming-x-pin".into(),
            shard: "shardId-000000000000".into(),
        }
    }

    #[test]
    fn kinesis_sequence_numbers_round_trip_through_txn_versions() {
        for text in [
            "49590338271490256608559692538361571095921575989136588898",
            "1",
            "0",
            "000123",
            &"9".repeat(72),
        ] {
            let p = Position::sequence(text).unwrap();
            let txns = p.to_txns(&shard());
            assert_eq!(txns.len(), 4);
            assert!(
                txns.iter()
                    .all(|(id, v)| id.starts_with("pinpipe/kinesis/") && *v >= 0)
            );
            let versions: Vec<Option<i64>> = txns.iter().map(|(_, v)| Some(*v)).collect();
            assert_eq!(Position::from_versions(&shard(), &versions), Some(p));
        }
        assert_eq!(
            Position::from_versions(&shard(), &[None, None, None, None]),
            None
        );
    }

    #[test]
    fn sequence_numbers_order_as_numbers() {
        let p = |s| Position::sequence(s).unwrap();
        assert!(
            p("49590338271490256608559692538361571095921575989136588898")
                < p("49590338271490256608559692538361571095921575989136588899")
        );
        assert!(p("9") < p("10"));
        assert!(p("0099") == p("99"));
        assert!(Position::Offset(3) < Position::Offset(4));
        assert_eq!(Position::Offset(3).partial_cmp(&p("3")), None);
    }

    #[test]
    fn only_digit_strings_are_sequence_numbers() {
        for bad in ["", "12a", "-1", " 1", &"1".repeat(73)] {
            assert_eq!(Position::sequence(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn offsets_are_one_txn_named_by_topic_and_partition() {
        let source = SourceKey::Kafka {
            topic: "x.pin".into(),
            partition: 2,
        };
        assert_eq!(
            Position::Offset(41).to_txns(&source),
            vec![("pinpipe/kafka/x.pin/2".to_owned(), 41)]
        );
        assert_eq!(
            Position::from_versions(&source, &[Some(41)]),
            Some(Position::Offset(41))
        );
    }
}
