//! Topics and streams held in this process: what `pinpipe demo` (and the ingest fuzz test)
//! produces to when no broker or stream endpoint is configured — the sinks' in-process twin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use pinpipe::ingest::OutRecord;
use pinpipe::sink::{SinkError, SinkFuture, StreamSink, TopicSink};

/// One record of a partition or shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRecord {
    pub key: Option<String>,
    pub value: Vec<u8>,
}

/// Named logs of `partitions` partitions each (Kafka topics or Kinesis streams): records are
/// appended in order — to the partition asked for, else the one their key hashes to, else the
/// next in turn — and numbered from 0 in each partition. Only the names it was made with exist.
#[derive(Debug)]
pub struct MemoryLog {
    partitions: usize,
    logs: Mutex<HashMap<String, Vec<Vec<MemoryRecord>>>>,
    turn: AtomicUsize,
}

impl MemoryLog {
    pub fn new(names: impl IntoIterator<Item = String>, partitions: usize) -> Self {
        let partitions = partitions.max(1);
        MemoryLog {
            partitions,
            logs: Mutex::new(
                names
                    .into_iter()
                    .map(|n| (n, vec![Vec::new(); partitions]))
                    .collect(),
            ),
            turn: AtomicUsize::new(0),
        }
    }

    /// Appends the records in order; each one's (partition, offset).
    pub fn append(
        &self,
        name: &str,
        records: &[OutRecord],
    ) -> Result<Vec<(usize, u64)>, SinkError> {
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(partitions) = logs.get_mut(name) else {
            return Err(SinkError::NotFound(format!(
                "{name:?} does not exist (the API never creates topics or streams)"
            )));
        };
        // every record checked before the first is appended: a refused request appends nothing
        for (i, record) in records.iter().enumerate() {
            if let Some(p) = record.partition
                && usize::try_from(p).is_ok_and(|p| p >= self.partitions)
            {
                return Err(SinkError::NoPartition(format!(
                    "record {i}, field `partition`: {name:?} has {} partitions, 0 to {}",
                    self.partitions,
                    self.partitions - 1
                )));
            }
        }
        let mut placed = Vec::with_capacity(records.len());
        for record in records {
            let partition = match (record.partition, &record.key) {
                (Some(p), _) => p as usize,
                (None, Some(key)) => fnv(key.as_bytes()) as usize % self.partitions,
                (None, None) => self.turn.fetch_add(1, Ordering::Relaxed) % self.partitions,
            };
            let log = &mut partitions[partition];
            placed.push((partition, log.len() as u64));
            log.push(MemoryRecord {
                key: record.key.clone(),
                value: record.value.clone(),
            });
        }
        Ok(placed)
    }

    /// Every partition's records, in order (partition i at index i); `None` for an unknown name.
    pub fn partitions(&self, name: &str) -> Option<Vec<Vec<MemoryRecord>>> {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        logs.get(name).cloned()
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        let logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<String> = logs.keys().cloned().collect();
        names.sort();
        names
    }
}

impl TopicSink for MemoryLog {
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(i32, i64)>> {
        let placed = self.append(topic, records).map(|placed| {
            placed
                .into_iter()
                .map(|(p, o)| (p as i32, o as i64))
                .collect()
        });
        Box::pin(std::future::ready(placed))
    }
}

/// As a stream, a record's number in its shard is its sequence number (56 digits, as Kinesis').
impl StreamSink for MemoryLog {
    fn put_records<'a>(
        &'a self,
        stream: &'a str,
        records: &'a [OutRecord],
    ) -> SinkFuture<'a, Vec<(String, String)>> {
        let placed = self.append(stream, records).map(|placed| {
            placed
                .into_iter()
                .map(|(shard, n)| (format!("{n:056}"), format!("shardId-{shard:012}")))
                .collect()
        });
        Box::pin(std::future::ready(placed))
    }
}

/// FNV-1a: a stable hash for placing keyed records.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinpipe::Table;

    fn record(key: Option<&str>, partition: Option<i32>, value: &str) -> OutRecord {
        OutRecord {
            table: Table::Pin,
            key: key.map(str::to_owned),
            partition,
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn records_keep_their_order_per_partition_and_unknown_names_are_not_created() {
        let log = MemoryLog::new(["t".to_owned()], 2);
        let placed = log
            .append(
                "t",
                &[
                    record(None, Some(1), "a"),
                    record(Some("k"), None, "b"),
                    record(Some("k"), None, "c"),
                    record(None, Some(1), "d"),
                ],
            )
            .unwrap();
        assert_eq!(placed[0], (1, 0));
        assert_eq!(placed[1].0, placed[2].0, "one key, one partition");
        assert_eq!(placed[2].1, placed[1].1 + 1);
        let partitions = log.partitions("t").unwrap();
        assert_eq!(partitions[0].len() + partitions[1].len(), 4);
        assert!(matches!(
            log.append("u", &[record(None, None, "x")]),
            Err(SinkError::NotFound(_))
        ));
        let before = log.partitions("t").unwrap();
        assert!(matches!(
            log.append("t", &[record(None, Some(0), "x"), record(None, Some(2), "y")]),
            Err(SinkError::NoPartition(m)) if m.starts_with("record 1, field `partition`")
        ));
        assert_eq!(log.partitions("t").unwrap(), before, "nothing appended");
        assert_eq!(log.names(), ["t"]);
    }
}
