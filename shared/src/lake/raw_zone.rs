//! The raw zone (spec §4): Kafka batches as received, one JSON-lines object per batch, named like the
//! original's Kafka Connect S3 sink. The landing path ([`RawZone::land`]) creates objects only if
//! absent, so an object never changes once written, and a key never names two different contents:
//! when a delivery meets an object at its first offset whose records differ (the topic was recreated,
//! or the cluster migrated, and offsets started again from 0) it lands under the next *incarnation*
//! of that key, `<topic>+<p>+<offset>.<n>.json`. [`RawZone::put_batch`] writes one object
//! unconditionally (a function of the batch: a redelivery rewrites the same bytes).

use std::sync::Arc;

use chrono::{DateTime, Utc};
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
    /// 0, or n when the key's offset already named other records n times (see the module).
    pub incarnation: u32,
    pub key: String,
    /// Bytes in the object.
    pub size: u64,
    /// When the store created it (objects are never rewritten).
    pub last_modified: DateTime<Utc>,
}

/// More incarnations of one key than this is not a recreated topic but a fault.
const MAX_INCARNATIONS: u32 = 1_000;

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
        Self::key_of(topic, partition, first_offset, 0)
    }

    /// The key of an incarnation: [`RawZone::key`] for 0, `….<n>.json` after.
    pub fn key_of(topic: &str, partition: i32, first_offset: i64, incarnation: u32) -> String {
        let dir =
            format!("topics/{topic}/partition={partition}/{topic}+{partition}+{first_offset:010}");
        match incarnation {
            0 => format!("{dir}.json"),
            n => format!("{dir}.{n}.json"),
        }
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
            .map_err(|source| Error::store(format!("writing {key}"), source))?;
        Ok(key)
    }

    /// Lands one topic partition's records (offset order, as delivered) as immutable objects:
    /// created only if absent, never overwritten. A redelivery finds the object an earlier
    /// delivery created at its first offset holding the same records, skips them, and lands only
    /// the rest, under the offset of the first record not yet landed. An object at that offset
    /// holding *other* records (offsets that started again) is not this delivery's: it lands under
    /// the key's next incarnation instead. So an object, once there, never changes under a reader
    /// (the daily run), and nothing is lost when a retried batch is longer than the first.
    pub async fn land(
        &self,
        topic: &str,
        partition: i32,
        records: &[(i64, &[u8])],
    ) -> Result<Landed> {
        let mut landed = Landed::default();
        let mut next = 0;
        let mut incarnation = 0;
        while let Some((offset, _)) = records.get(next) {
            let key = Self::key_of(topic, partition, *offset, incarnation);
            let path = Path::from(key.as_str());
            let payload = PutPayload::from(Self::encode(records[next..].iter().map(|r| r.1)));
            let create = PutOptions::from(PutMode::Create);
            match self.store.put_opts(&path, payload, create).await {
                Ok(_) => {
                    landed.written.push(key);
                    break;
                }
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let held = self.get(&key).await?;
                    let held_records = bytecount_lines(&held);
                    if held_records == 0 {
                        return Err(Error::raw_zone(format!("{key} exists but holds no record")));
                    }
                    let overlap = held_records.min(records.len() - next);
                    let ours = Self::encode(records[next..next + overlap].iter().map(|r| r.1));
                    if held.starts_with(&ours) {
                        landed.records_found += overlap;
                        next += overlap;
                        incarnation = 0;
                        landed.found.push(key);
                    } else if incarnation < MAX_INCARNATIONS {
                        incarnation += 1;
                    } else {
                        return Err(Error::raw_zone(format!(
                            "{key}: {MAX_INCARNATIONS} objects at this offset hold other records"
                        )));
                    }
                }
                Err(source) => {
                    return Err(Error::store(format!("writing {key}"), source));
                }
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
            .map_err(|source| Error::store(format!("listing {prefix}"), source))?;
        let mut topics: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// Every landed batch of a topic, in (partition, first offset, incarnation) order.
    pub async fn list(&self, topic: &str) -> Result<Vec<RawObject>> {
        let prefix = Path::from(format!("topics/{topic}"));
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|source| Error::store(format!("listing {prefix}"), source))?;
        let mut objects: Vec<RawObject> = metas
            .into_iter()
            .filter_map(|m| {
                let mut object = parse_key(topic, m.location.as_ref())?;
                object.size = m.size;
                object.last_modified = m.last_modified;
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
            .map_err(|source| Error::store(format!("reading {key}"), source))
    }
}

/// Records in an object: one per line.
fn bytecount_lines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Reads `topics/<topic>/partition=<p>/<topic>+<p>+<offset>[.<n>].json` back into its parts.
fn parse_key(topic: &str, key: &str) -> Option<RawObject> {
    let rest = key.strip_prefix(&format!("topics/{topic}/partition="))?;
    let (partition, file) = rest.split_once('/')?;
    let partition: i32 = partition.parse().ok()?;
    let name = file
        .strip_prefix(&format!("{topic}+{partition}+"))?
        .strip_suffix(".json")?;
    let (offset, incarnation) = match name.split_once('.') {
        Some((offset, n)) => (offset, n.parse().ok().filter(|n| *n > 0)?),
        None => (name, 0),
    };
    Some(RawObject {
        topic: topic.to_owned(),
        partition,
        first_offset: offset.parse().ok()?,
        incarnation,
        key: key.to_owned(),
        size: 0,
        last_modified: DateTime::<Utc>::UNIX_EPOCH,
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
        assert_eq!(
            (parsed.partition, parsed.first_offset, parsed.incarnation),
            (2, 340, 0)
        );
        assert_eq!(parse_key("12471ce1b695.geo", &key), None);
        let second = RawZone::key_of("12471ce1b695.pin", 2, 340, 1);
        assert_eq!(
            second,
            "topics/12471ce1b695.pin/partition=2/12471ce1b695.pin+2+0000000340.1.json"
        );
        let parsed = parse_key("12471ce1b695.pin", &second).unwrap();
        assert_eq!(
            (parsed.partition, parsed.first_offset, parsed.incarnation),
            (2, 340, 1)
        );
        for bad in [".0.json", ".x.json", ".-1.json"] {
            let key = format!("topics/t/partition=0/t+0+0000000001{bad}");
            assert_eq!(parse_key("t", &key), None, "{key}");
        }
    }

    #[test]
    fn each_record_is_one_line_whatever_its_whitespace() {
        let bytes = RawZone::encode([b"{\"a\":\n1}".as_slice(), b"{\"b\":2}\r\n"]);
        assert_eq!(bytes, b"{\"a\": 1}\n{\"b\":2}  \n");
    }
}
