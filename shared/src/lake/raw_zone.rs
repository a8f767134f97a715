//! The raw zone (spec §4): Kafka batches as received, one JSON-lines object per batch, named like the
//! original's Kafka Connect S3 sink. Keys and bytes are a function of the batch, so a redelivered
//! batch rewrites the same object with the same bytes.

use std::sync::Arc;

use deltalake::{ObjectStore, Path};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};

use super::warehouse::Warehouse;
use crate::{Error, Result};

/// One landed batch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RawObject {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub key: String,
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

    /// Lands a batch; returns its key.
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
            .filter_map(|m| parse_key(topic, m.location.as_ref()))
            .collect();
        objects.sort();
        Ok(objects)
    }

    /// The bytes of a landed batch.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>> {
        let read = async { self.store.get(&Path::from(key)).await?.bytes().await };
        read.await
            .map(|b| b.to_vec())
            .map_err(|e| Error::RawZone(format!("reading {key}: {e}")))
    }
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
