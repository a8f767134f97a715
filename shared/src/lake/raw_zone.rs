//! The raw zone (spec §4): Kafka batches as received, one JSON-lines object per batch, named like the
//! original's Kafka Connect S3 sink. The landing path ([`RawZone::land`]) creates objects only if
//! absent, so an object never changes once written and a partition's objects never overlap (the daily
//! run's progress relies on it); [`RawZone::put_batch`] writes one object unconditionally (a function
//! of the batch: a redelivery rewrites the same bytes).

use std::sync::Arc;

use deltalake::{ObjectStore, Path};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::warehouse::Warehouse;
use crate::{Error, Result};

/// One landed batch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawObject {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub key: String,
    /// Bytes in the object.
    pub size: u64,
}

/// What [`RawZone::land`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Landed {
    /// Objects created now.
    pub written: Vec<String>,
    /// Objects an earlier delivery created, whose records were skipped.
    pub found: Vec<String>,
    /// Records skipped because an earlier delivery landed them.
    pub records_found: usize,
}

/// The raw zone of a warehouse.
#[derive(Clone, Debug)]
pub struct RawZone {
    store: Arc<dyn ObjectStore>,
}

impl RawZone {
    pub fn new(warehouse: &Warehouse) -> Result<Self> {
        Ok(RawZone {
            store: warehouse.object_store("")?,
        })
    }

    /// `topics/<topic>/partition=<p>/<topic>+<p>+<first offset, 10 digits>.json`
    pub fn key(topic: &str, partition: i32, first_offset: i64) -> String {
        format!("topics/{topic}/partition={partition}/{topic}+{partition}+{first_offset:010}.json")
    }

    /// The object's bytes: each record on its own line. Line breaks inside a record (only legal
    /// between JSON tokens) become spaces, so every line is exactly one record.
    pub fn encode<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            out.extend(
                record
                    .iter()
                    .map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b }),
            );
            out.push(b'\n');
        }
        out
    }

    /// Writes a batch's object whether or not it exists (not the landing path: see
    /// [`RawZone::land`]); returns its key.
    pub async fn put_batch<'a>(
        &self,
        topic: &str,
        partition: i32,
        first_offset: i64,
        records: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<String> {
        let key = Self::key(topic, partition, first_offset);
        let payload = PutPayload::from(Self::encode(records));
        self.store
            .put(&Path::from(key.as_str()), payload)
            .await
            .map_err(|e| Error::RawZone(format!("writing {key}: {e}")))?;
        Ok(key)
    }

    /// Lands one topic partition's records (offset order, as delivered) as immutable objects:
    /// created only if absent, never overwritten. A redelivery finds the object an earlier delivery
    /// created at its first offset, skips as many records as that object holds (the earlier
    /// delivery was a prefix of the same partition sequence), and lands only the rest, under the
    /// offset of the first record not yet landed. So an object, once there, never changes under a
    /// reader (the daily run), and nothing is lost when a retried batch is longer than the first.
    pub async fn land(
        &self,
        topic: &str,
        partition: i32,
        records: &[(i64, &[u8])],
    ) -> Result<Landed> {
        let mut landed = Landed::default();
        let mut next = 0;
        while let Some((offset, _)) = records.get(next) {
            let key = Self::key(topic, partition, *offset);
            let path = Path::from(key.as_str());
            let payload = PutPayload::from(Self::encode(records[next..].iter().map(|r| r.1)));
            let create = PutOptions::from(PutMode::Create);
            match self.store.put_opts(&path, payload, create).await {
                Ok(_) => {
                    landed.written.push(key);
                    break;
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let held = bytecount_lines(&self.get(&key).await?);
                    if held == 0 {
                        return Err(Error::RawZone(format!("{key} exists but holds no record")));
                    }
                    let skipped = held.min(records.len() - next);
                    landed.records_found += skipped;
                    next += skipped;
                    landed.found.push(key);
                }
                Err(e) => return Err(Error::RawZone(format!("writing {key}: {e}"))),
            }
        }
        Ok(landed)
    }

    /// The topics the raw zone holds objects of (the folders under `topics/`), sorted.
    pub async fn topics(&self) -> Result<Vec<String>> {
        let prefix = Path::from("topics");
        let listed = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| Error::RawZone(format!("listing {prefix}: {e}")))?;
        let mut topics: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// Every landed batch of a topic, in (partition, first offset) order.
    pub async fn list(&self, topic: &str) -> Result<Vec<RawObject>> {
        let prefix = Path::from(format!("topics/{topic}"));
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| Error::RawZone(format!("listing {prefix}: {e}")))?;
        let mut objects: Vec<RawObject> = metas
            .into_iter()
            .filter_map(|m| {
                let mut object = parse_key(topic, m.location.as_ref())?;
                object.size = m.size;
                Some(object)
            })
            .collect();
        objects.sort();
        Ok(objects)
    }

    /// The bytes of a landed batch, as the store read them (not copied again).
    pub async fn get(&self, key: &str) -> Result<bytes::Bytes> {
        let read = async { self.store.get(&Path::from(key)).await?.bytes().await };
        read.await
            .map_err(|e| Error::RawZone(format!("reading {key}: {e}")))
    }
}

/// Records in an object: one per line.
fn bytecount_lines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Reads `topics/<topic>/partition=<p>/<topic>+<p>+<offset>.json` back into its parts.
fn parse_key(topic: &str, key: &str) -> Option<RawObject> {
    let rest = key.strip_prefix(&format!("topics/{topic}/partition="))?;
    let (partition, file) = rest.split_once('/')?;
    let partition: i32 = partition.parse().ok()?;
    let offset = file
        .strip_prefix(&format!("{topic}+{partition}+"))?
        .strip_suffix(".json")?
        .parse()
        .ok()?;
    Some(RawObject {
        topic: topic.to_owned(),
        partition,
        first_offset: offset,
        key: key.to_owned(),
        size: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_kafka_connect_names_and_parse_back() {
        let key = RawZone::key("12471ce1b695.pin", 2, 340);
        assert_eq!(
            key,
            "topics/12471ce1b695.pin/partition=2/12471ce1b695.pin+2+0000000340.json"
        );
        let parsed = parse_key("12471ce1b695.pin", &key).unwrap();
        assert_eq!((parsed.partition, parsed.first_offset), (2, 340));
        assert_eq!(parse_key("12471ce1b695.geo", &key), None);
    }

    #[test]
    fn each_record_is_one_line_whatever_its_whitespace() {
        let bytes = RawZone::encode([b"{\"a\":\n1}".as_slice(), b"{\"b\":2}\r\n"]);
        assert_eq!(bytes, b"{\"a\": 1}\n{\"b\":2}  \n");
    }
}
