//! The daily run's progress through the raw zone: which raw objects a table (the batch table's
//! rows, or the quarantine's rejections of that table) has taken in.
//!
//! Offsets cannot say it. Objects arrive in any order (a redelivery that starts inside a landed
//! object lands a new object below objects already cleaned), and the same offsets come again with
//! other records when a topic is recreated or a cluster migrated. What identifies an object is its
//! key and the instant the store created it (objects are immutable, and a key names one content
//! while it exists): that pair is new for every object ever landed.
//!
//! So progress is the set of objects done, kept small: every object last modified before
//! `settled_before` is done, and so are the `recent` ones, by key and last-modified instant.
//! `settled_before` moves up only to a point that no object can still appear below: at most the
//! run's clock minus a margin longer than any landing takes ([`RAW_SETTLE`]), and never past an
//! object not yet done. Only objects modified within that margin are listed one by one.
//!
//! A progress is stored as an immutable JSON document under `tables/_progress/`, named by a random
//! id, and the table's commit that takes the objects in records the id as a Delta `txn`
//! ([`SourceKey::RawProgress`]) in the same commit as the rows: the rows and the progress that
//! produced them land together or not at all. A document no commit names (a crash, a lost race) is
//! never read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::{ObjectStore, Path};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::raw_zone::RawObject;
use super::warehouse::{TableId, Warehouse};
use crate::{Error, Result};

/// How long a landing can take from the instant the store stamps on its object to the object
/// being listed: far longer than the msk-consumer's timeout (120 s in `template.yaml`), after
/// which Lambda stops the invocation and its upload with it.
pub const RAW_SETTLE: Duration = Duration::from_secs(15 * 60);

/// The raw objects one table has taken in (see the module).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawProgress {
    /// Every object last modified before this instant (ms since the epoch) is done.
    pub settled_before_ms: i64,
    /// The objects done that were last modified at or after it: key → last modified (ms).
    pub recent: BTreeMap<String, i64>,
}

impl RawProgress {
    /// Whether `object` is done.
    pub fn contains(&self, object: &RawObject) -> bool {
        let modified = object.last_modified.timestamp_millis();
        modified < self.settled_before_ms || self.recent.get(&object.key) == Some(&modified)
    }

    /// This progress with `done` added, settled up to `settled_before` (never back): the caller
    /// passes an instant no object not yet done is modified before.
    pub fn advanced<'a>(
        &self,
        done: impl IntoIterator<Item = &'a RawObject>,
        settled_before: DateTime<Utc>,
    ) -> RawProgress {
        let settled_before_ms = self
            .settled_before_ms
            .max(settled_before.timestamp_millis());
        let mut recent = self.recent.clone();
        recent.extend(
            done.into_iter()
                .map(|o| (o.key.clone(), o.last_modified.timestamp_millis())),
        );
        recent.retain(|_, modified| *modified >= settled_before_ms);
        RawProgress {
            settled_before_ms,
            recent,
        }
    }
}

/// Where a warehouse keeps the progress documents of one table.
#[derive(Clone, Debug)]
pub struct ProgressDocs {
    store: Arc<dyn ObjectStore>,
    dir: String,
}

impl ProgressDocs {
    /// The documents of `table`'s progress through the raw objects feeding `of` (a batch table, or
    /// the quarantine's share of that table's rejections).
    pub fn new(warehouse: &Warehouse, table: TableId, of: crate::Table) -> Result<Self> {
        let kind = match table {
            TableId::Quarantine => "quarantine",
            _ => "batch",
        };
        Ok(ProgressDocs {
            store: warehouse.object_store("")?,
            dir: format!("tables/_progress/{kind}/{of}"),
        })
    }

    fn path(&self, id: i64) -> Path {
        Path::from(format!("{}/{id:016x}.json", self.dir))
    }

    /// The progress a commit named (`None`: nothing done yet).
    pub async fn load(&self, id: Option<i64>) -> Result<RawProgress> {
        let Some(id) = id else {
            return Ok(RawProgress::default());
        };
        let path = self.path(id);
        let read = async { self.store.get(&path).await?.bytes().await };
        let bytes = read
            .await
            .map_err(|source| Error::store(format!("reading progress {path}"), source))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::raw_zone_from(format!("progress {path} is not readable"), e))
    }

    /// Stores `progress` under a new id, for a commit to name.
    pub async fn save(&self, progress: &RawProgress) -> Result<i64> {
        let id = new_id();
        let path = self.path(id);
        let bytes = serde_json::to_vec(progress).map_err(std::io::Error::from)?;
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|source| Error::store(format!("writing progress {path}"), source))?;
        Ok(id)
    }
}

impl ProgressDocs {
    /// Deletes the documents created before `before` except `keep` (the one the table's last
    /// commit names): the others were named by commits since superseded, or by none (a crash, a
    /// lost race), and a run writes its document moments before committing it. Returns how many.
    pub async fn prune(&self, keep: Option<i64>, before: DateTime<Utc>) -> Result<u64> {
        let dir = Path::from(self.dir.as_str());
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|source| Error::store(format!("listing {dir}"), source))?;
        let keep = keep.map(|id| self.path(id));
        let mut deleted = 0;
        for meta in listed {
            if meta.last_modified < before && Some(&meta.location) != keep.as_ref() {
                self.store.delete(&meta.location).await.map_err(|source| {
                    Error::store(format!("deleting {}", meta.location), source)
                })?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// A fresh 63-bit id (a Delta `txn` version is an i64): the clock, the process and a counter,
/// mixed, so that concurrent runs never draw the same.
fn new_id() -> i64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 40)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x & (i64::MAX as u64)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, modified_ms: i64) -> RawObject {
        RawObject {
            topic: "t.pin".into(),
            partition: 0,
            first_offset: 0,
            incarnation: 0,
            key: key.into(),
            size: 1,
            last_modified: DateTime::from_timestamp_millis(modified_ms).unwrap(),
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    #[test]
    fn an_object_is_done_when_settled_or_listed_with_the_same_instant() {
        let progress =
            RawProgress::default().advanced([&object("a", 100), &object("b", 500)], at(200));
        assert_eq!(progress.settled_before_ms, 200);
        assert_eq!(progress.recent.keys().collect::<Vec<_>>(), ["b"]);
        assert!(progress.contains(&object("a", 100)));
        assert!(progress.contains(&object("b", 500)));
        // a key landed again after it expired is another object
        assert!(!progress.contains(&object("b", 900)));
        // an object that arrived late, modified below an object already done, is new
        assert!(!progress.contains(&object("c", 300)));
        // anything modified before the settled instant is done, listed or not
        assert!(progress.contains(&object("z", 150)));
    }

    #[test]
    fn the_settled_instant_never_moves_back_and_drops_what_it_passes() {
        let one = RawProgress::default().advanced([&object("a", 100)], at(50));
        assert_eq!(one.recent.len(), 1);
        let two = one.advanced([&object("b", 300)], at(20));
        assert_eq!(two.settled_before_ms, 50, "never back");
        let three = two.advanced(std::iter::empty(), at(200));
        assert_eq!(three.recent.keys().collect::<Vec<_>>(), ["b"]);
        assert!(three.contains(&object("a", 100)));
    }

    #[test]
    fn ids_are_distinct_and_fit_a_txn_version() {
        let ids: std::collections::HashSet<i64> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| *id >= 0));
    }
}
