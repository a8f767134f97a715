//! Where the emulator's posts come from: the embedded generator, a JSON-lines directory (replayed in
//! file order) or the source database (random ids, as the original picks rows, or every id in
//! order) — each post as its three payloads in the original emulator's form.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use futures::stream::{self, BoxStream, StreamExt};

use crate::config::{AwsConfig, SourceSpec};
#[cfg(feature = "mysql")]
use crate::source::MysqlSource;
use crate::source::{Post, Synthetic, emulator_payload};
use crate::{Error, Result, Table};

/// One post's payloads: pin, geo, user.
pub type Payloads = [Vec<u8>; 3];

/// Which rows of the database the emulator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// A random id each time, with repeats, like the original (`random.randint` over the rows).
    Random,
    /// Every id once, ascending.
    InOrder,
}

/// A source of posts.
pub enum PostSource {
    /// The embedded synthetic generator with this seed.
    Embedded { seed: u64 },
    /// A directory with `pin.jsonl`, `geo.jsonl` and `user.jsonl`: line i of each is post i. A
    /// source-format line is re-encoded as the emulator sends it; any other line goes as it is (to
    /// replay other senders' variants).
    Dir(PathBuf),
    /// The source database.
    #[cfg(feature = "mysql")]
    Mysql {
        source: MysqlSource,
        pick: Pick,
        seed: u64,
    },
}

/// Ids per database round trip.
#[cfg(feature = "mysql")]
const IDS_PER_FETCH: usize = 200;

/// Posts sent from an endless source when neither a count nor a duration is given.
pub const DEFAULT_POSTS: u64 = 100;

impl PostSource {
    /// Whether the source never ends by itself (the generator, random picks).
    pub fn is_endless(&self) -> bool {
        match self {
            PostSource::Embedded { .. } => true,
            PostSource::Dir(_) => false,
            #[cfg(feature = "mysql")]
            PostSource::Mysql { pick, .. } => *pick == Pick::Random,
        }
    }

    /// How many posts to send: `posts` when given; else all of a finite source, and
    /// [`DEFAULT_POSTS`] of an endless one unless a duration bounds the run.
    pub fn limit(&self, posts: Option<u64>, has_duration: bool) -> Option<u64> {
        posts.or((self.is_endless() && !has_duration).then_some(DEFAULT_POSTS))
    }

    /// Opens the source `spec` names: `seed` seeds the generator and random picks; a database is
    /// reached with `secret_id`'s credentials when given.
    pub async fn open(
        spec: &SourceSpec,
        seed: u64,
        pick: Pick,
        secret_id: Option<&str>,
        aws: &AwsConfig,
    ) -> Result<Self> {
        let _ = (pick, secret_id, aws);
        Ok(match spec {
            SourceSpec::Embedded => PostSource::Embedded { seed },
            SourceSpec::Dir(dir) => PostSource::Dir(dir.clone()),
            #[cfg(feature = "mysql")]
            SourceSpec::Mysql(url) => {
                let source = match secret_id {
                    Some(id) => MysqlSource::connect_secret(url, id, aws).await?,
                    None => MysqlSource::connect(url).await?,
                };
                PostSource::Mysql { source, pick, seed }
            }
            #[cfg(not(feature = "mysql"))]
            SourceSpec::Mysql(_) => {
                return Err(Error::config(
                    "this build has no MySQL source (feature mysql)",
                ));
            }
        })
    }

    /// The posts' payloads, `limit` at most (a generator or random picks never end by themselves).
    pub async fn payloads(
        self,
        limit: Option<u64>,
    ) -> Result<BoxStream<'static, Result<Payloads>>> {
        let limit = limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let posts: BoxStream<'static, Result<Payloads>> = match self {
            PostSource::Embedded { seed } => {
                stream::iter(Synthetic::new(seed).map(|p| Ok(payloads(&p)))).boxed()
            }
            PostSource::Dir(dir) => dir_payloads(dir)?.boxed(),
            #[cfg(feature = "mysql")]
            PostSource::Mysql { source, pick, seed } => {
                mysql_payloads(source, pick, seed).await?.boxed()
            }
        };
        Ok(posts.take(limit).boxed())
    }
}

fn payloads(post: &Post) -> Payloads {
    [
        post.emulator_payload(Table::Pin),
        post.emulator_payload(Table::Geo),
        post.emulator_payload(Table::User),
    ]
}

fn dir_payloads(dir: PathBuf) -> Result<impl futures::Stream<Item = Result<Payloads>>> {
    let open = |table: Table| -> Result<_> {
        let path = dir.join(format!("{table}.jsonl"));
        let file = std::fs::File::open(&path)
            .map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
        Ok(BufReader::new(file).lines())
    };
    let (mut pins, mut geos, mut users) =
        (open(Table::Pin)?, open(Table::Geo)?, open(Table::User)?);
    Ok(stream::iter(std::iter::from_fn(move || {
        let next = |lines: &mut std::io::Lines<BufReader<std::fs::File>>, table: Table| {
            lines.next().map(|l| -> Result<Vec<u8>> {
                let l = l?;
                Ok(emulator_payload(table, l.as_bytes()).unwrap_or_else(|_| l.into_bytes()))
            })
        };
        match (
            next(&mut pins, Table::Pin),
            next(&mut geos, Table::Geo),
            next(&mut users, Table::User),
        ) {
            (Some(pin), Some(geo), Some(user)) => {
                Some((|| -> Result<Payloads> { Ok([pin?, geo?, user?]) })())
            }
            _ => None,
        }
    })))
}

#[cfg(feature = "mysql")]
async fn mysql_payloads(
    source: MysqlSource,
    pick: Pick,
    seed: u64,
) -> Result<impl futures::Stream<Item = Result<Payloads>>> {
    let ids = source.ids().await?;
    if ids.is_empty() {
        return Err(Error::config(
            "the source database's pinterest_data table is empty (fill it with pinpipe seed-db)",
        ));
    }
    use rand::{Rng, SeedableRng};
    let mut rng = match pick {
        Pick::Random => Some(rand_chacha::ChaCha8Rng::seed_from_u64(seed)),
        Pick::InOrder => None,
    };
    let mut next = 0_usize;
    let batches = stream::unfold(source, move |source| {
        let batch: Vec<i64> = match &mut rng {
            Some(rng) => (0..IDS_PER_FETCH)
                .map(|_| ids[rng.random_range(0..ids.len())])
                .collect(),
            None => {
                let end = (next + IDS_PER_FETCH).min(ids.len());
                let batch = ids[next..end].to_vec();
                next = end;
                batch
            }
        };
        async move {
            if batch.is_empty() {
                return None;
            }
            let posts = source.posts(&batch).await;
            Some((posts, source))
        }
    });
    Ok(batches.flat_map(|posts| match posts {
        Ok(posts) => {
            stream::iter(posts.iter().map(|p| Ok(payloads(p))).collect::<Vec<_>>()).boxed()
        }
        Err(e) => stream::iter([Err(e)]).boxed(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_source_sends_a_hundred_posts_unless_told_and_a_finite_one_sends_all() {
        let embedded = PostSource::Embedded { seed: 1 };
        assert_eq!(embedded.limit(None, false), Some(DEFAULT_POSTS));
        assert_eq!(embedded.limit(None, true), None);
        assert_eq!(embedded.limit(Some(7), true), Some(7));
        let dir = PostSource::Dir("rows".into());
        assert_eq!(dir.limit(None, false), None);
    }

    #[tokio::test]
    async fn the_generator_gives_each_post_as_its_three_emulator_payloads() {
        let posts: Vec<Payloads> = PostSource::Embedded { seed: 9 }
            .payloads(Some(3))
            .await
            .unwrap()
            .map(|p| p.unwrap())
            .collect()
            .await;
        let expected: Vec<Payloads> = Synthetic::new(9).take(3).map(|p| payloads(&p)).collect();
        assert_eq!(posts, expected);
        assert!(posts[0][1].starts_with(b"{\"index\": "));
    }
}
