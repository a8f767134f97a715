//! The embedded synthetic source: posts with the value domains, placeholder rates and formats of
//! spec §1, deterministic from a seed, with no database and no data files.
//!
//! Each post is a pure function of `(seed, ind)` (its own ChaCha stream), so a re-sent post is
//! simply generated again, and any prefix of the sequence is the same whatever comes after it.

use chrono::{DateTime, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::domains::{CATEGORIES, COUNTRIES};
use super::post::{Post, SourceGeo, SourcePin, SourceUser};
use super::vocabulary::*;

/// Share of sent posts that are re-sends of an earlier post (243 of 2,262 in the real rows).
pub const RESEND_RATE: f64 = 0.107;

/// An endless, deterministic sequence of sent posts: fresh posts get the next `ind` (1, 2, …);
/// about [`RESEND_RATE`] of them are an earlier post sent again, identical, as the original
/// emulator's random row picker produced them.
#[derive(Clone, Debug)]
pub struct Synthetic {
    seed: u64,
    sequence: ChaCha8Rng,
    fresh: i64,
}

impl Synthetic {
    pub fn new(seed: u64) -> Self {
        let mut sequence = ChaCha8Rng::seed_from_u64(seed);
        sequence.set_stream(0); // posts use streams 1.., one per ind
        Synthetic {
            seed,
            sequence,
            fresh: 0,
        }
    }

    /// How many distinct posts have been produced so far.
    pub fn distinct(&self) -> i64 {
        self.fresh
    }

    /// The post with this `ind` under this seed (the same every time).
    pub fn post(seed: u64, ind: i64) -> Post {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(ind as u64);
        make_post(&mut rng, ind)
    }
}

impl Iterator for Synthetic {
    type Item = Post;

    fn next(&mut self) -> Option<Post> {
        let resend = self.fresh > 0 && self.sequence.random_bool(RESEND_RATE);
        let ind = if resend {
            self.sequence.random_range(1..=self.fresh)
        } else {
            self.fresh += 1;
            self.fresh
        };
        Some(Synthetic::post(self.seed, ind))
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

const STORY: &str = "multi-video(story page format)";
const STORY_DESCRIPTION: &str = "No description available Story format";

/// How a post's pin looks, with the rates seen in the real rows.
enum Shape {
    Image,
    Video,
    /// A story post whose details came through.
    Story,
    /// A story post whose image failed (not downloaded).
    StoryNoImage,
    /// A story post whose user info failed: every placeholder at once.
    StoryUserInfoError,
}

fn make_post(rng: &mut ChaCha8Rng, ind: i64) -> Post {
    let c = rng.random_range(0..CATEGORIES.len());
    let category = CATEGORIES[c];
    let shape = match rng.random::<f64>() {
        x if x < 0.900 => Shape::Image,
        x if x < 0.930 => Shape::Video,
        x if x < 0.9745 => Shape::Story,
        x if x < 0.992 => Shape::StoryNoImage,
        _ => Shape::StoryUserInfoError,
    };
    let uie = matches!(shape, Shape::StoryUserInfoError);
    let image_ok = matches!(shape, Shape::Image | Shape::Video | Shape::Story);

    let title = if uie {
        "No Title Data Available".to_owned()
    } else if rng.random_bool(0.0005) {
        String::new()
    } else {
        title(rng, c)
    };
    let description = match shape {
        Shape::Image | Shape::Video if rng.random_bool(0.015) => "No description available".into(),
        Shape::Image | Shape::Video => description(rng),
        _ => STORY_DESCRIPTION.into(),
    };
    let (poster_name, follower_count) = if uie {
        ("User Info Error".to_owned(), "User Info Error".to_owned())
    } else {
        (poster_name(rng), follower_count(rng))
    };
    let tag_list = if uie || rng.random_bool(0.007) {
        "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e".to_owned()
    } else {
        tags(rng, c)
    };
    let image_src = if image_ok {
        let hex: String = (0..16)
            .map(|_| format!("{:02x}", rng.random::<u8>()))
            .collect();
        format!(
            "https://i.pinimg.com/originals/{}/{}/{}/{hex}.jpg",
            &hex[0..2],
            &hex[2..4],
            &hex[4..6]
        )
    } else {
        "Image src error.".to_owned()
    };
    let is_image_or_video = match shape {
        Shape::Image => "image",
        Shape::Video => "video",
        _ => STORY,
    };
    let unique_id = uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string();

    let pin = SourcePin {
        index: ind,
        unique_id,
        title,
        description,
        poster_name,
        follower_count,
        tag_list,
        is_image_or_video: is_image_or_video.to_owned(),
        image_src,
        downloaded: i64::from(image_ok),
        save_location: format!("Local save in /data/{category}"),
        category: category.to_owned(),
    };
    let geo = SourceGeo {
        ind,
        timestamp: datetime(rng, (2017, 10, 20), (2022, 10, 18), 1.0),
        latitude: six_significant(rng.random_range(-90.0..=90.0)),
        longitude: six_significant(rng.random_range(-180.0..=180.0)),
        country: pick(rng, &COUNTRIES).to_owned(),
    };
    let user = SourceUser {
        ind,
        first_name: pick(rng, FIRST_NAMES).to_owned(),
        last_name: pick(rng, LAST_NAMES).to_owned(),
        age: age(rng),
        // skewed to the first months, as in the source
        date_joined: datetime(rng, (2015, 10, 21), (2017, 10, 18), 2.5),
    };
    Post { pin, geo, user }
}

/// Ages 20–60 skewed to 20 as in the source: about 19% are 20, 11% are 21, 8% are over 50.
fn age(rng: &mut ChaCha8Rng) -> i64 {
    // weights per age, in tenths: 20, 21, 22–24, 25–35, 36–50, 51–60
    const BANDS: [(i64, i64, u32); 6] = [
        (20, 20, 190),
        (21, 21, 110),
        (22, 24, 50),
        (25, 35, 26),
        (36, 50, 14),
        (51, 60, 8),
    ];
    let total: u32 = BANDS
        .iter()
        .map(|(lo, hi, w)| (hi - lo + 1) as u32 * w)
        .sum();
    let mut x = rng.random_range(0..total);
    for (lo, hi, w) in BANDS {
        let band = (hi - lo + 1) as u32 * w;
        if x < band {
            return lo + i64::from(x / w);
        }
        x -= band;
    }
    unreachable!("x < total")
}

fn title(rng: &mut ChaCha8Rng, c: usize) -> String {
    if rng.random_bool(0.06) {
        return pick(rng, NON_ASCII).to_owned();
    }
    let mut t = format!(
        "{} {} {} {}",
        pick(rng, OPENERS),
        pick(rng, ADJECTIVES),
        pick(rng, NOUNS[c]),
        pick(rng, AUDIENCES)
    );
    match rng.random_range(0..100) {
        0..=2 => t.push('…'),
        3 => t.push(' '),
        4 => t = "Untitled".to_owned(),
        _ => {}
    }
    t
}

fn description(rng: &mut ChaCha8Rng) -> String {
    let mut d = String::new();
    for i in 0..rng.random_range(1..=3) {
        if i > 0 {
            d.push(' ');
        }
        if rng.random_bool(0.12) {
            d.push_str(pick(rng, NON_ASCII));
            d.push('.');
        } else {
            d.push_str(pick(rng, SENTENCES));
        }
    }
    match rng.random_range(0..100) {
        // cut off by the site: an ellipsis and a no-break space
        0..=36 => {
            d.pop();
            d.push_str("…\u{a0}");
        }
        37 => d.push('…'),
        38..=40 => d = "Art.".to_owned(),
        _ => {}
    }
    d
}

fn poster_name(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..10) {
        0..=3 => format!("{} {}", pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)),
        4..=7 => format!("{} {}", pick(rng, POSTER_TOPICS), pick(rng, POSTER_WORDS)),
        _ => format!(
            "{} {} | {} {}",
            pick(rng, POSTER_TOPICS),
            pick(rng, POSTER_WORDS),
            pick(rng, ADJECTIVES),
            pick(rng, POSTER_WORDS)
        ),
    }
}

/// Display shapes with the real rows' rates: `Nk` 74%, plain digits 18% (a few `0`), `NM` 8%.
fn follower_count(rng: &mut ChaCha8Rng) -> String {
    match rng.random::<f64>() {
        x if x < 0.745 => format!("{}k", rng.random_range(1..=999)),
        x if x < 0.925 => {
            if rng.random_bool(0.03) {
                "0".to_owned()
            } else {
                rng.random_range(1..=999).to_string()
            }
        }
        _ => {
            let m = [1, 1, 2, 2, 2, 2, 3, 4, 5, 5, 6, 8, 15][rng.random_range(0..13)];
            format!("{m}M")
        }
    }
}

fn tags(rng: &mut ChaCha8Rng, c: usize) -> String {
    let n = if rng.random_bool(0.985) {
        9
    } else {
        rng.random_range(3..=8)
    };
    (0..n)
        .map(|_| {
            let noun = pick(rng, NOUNS[c]);
            if rng.random_bool(0.5) {
                format!("{} {noun}", pick(rng, ADJECTIVES))
            } else {
                noun.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A datetime in `[from, to)` as `2020-08-28 03:52:47`; `skew` > 1 crowds it towards `from`.
fn datetime(rng: &mut ChaCha8Rng, from: (i32, u32, u32), to: (i32, u32, u32), skew: f64) -> String {
    let day = |(y, m, d)| {
        NaiveDate::from_ymd_opt(y, m, d)
            .expect("generator dates are valid")
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp()
    };
    let (start, end) = (day(from), day(to));
    let offset = ((end - start) as f64 * rng.random::<f64>().powf(skew)) as i64;
    let t: DateTime<Utc> = DateTime::from_timestamp(start + offset, 0).expect("in range");
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Rounds to six significant digits, as the source's coordinates are.
fn six_significant(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let magnitude = x.abs().log10().floor() as i32 + 1;
    let decimals = (6 - magnitude).clamp(0, 12) as usize;
    format!("{x:.decimals$}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_posts_and_other_seed_other_posts() {
        let a: Vec<Post> = Synthetic::new(7).take(200).collect();
        let b: Vec<Post> = Synthetic::new(7).take(200).collect();
        let c: Vec<Post> = Synthetic::new(8).take(200).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn resent_posts_are_identical_to_their_first_sending() {
        let posts: Vec<Post> = Synthetic::new(1).take(2_000).collect();
        let mut first = std::collections::HashMap::new();
        let mut resent = 0;
        for p in &posts {
            match first.get(&p.ind()) {
                Some(earlier) => {
                    assert_eq!(earlier, p);
                    resent += 1;
                }
                None => {
                    first.insert(p.ind(), p.clone());
                }
            }
        }
        assert!((150..280).contains(&resent), "{resent} re-sends of 2000");
    }

    #[test]
    fn coordinates_have_six_significant_digits() {
        assert_eq!(six_significant(-89.978_712_3), -89.9787);
        assert_eq!(six_significant(-0.375_174_44), -0.375174);
        assert_eq!(six_significant(-173.293_49), -173.293);
        assert_eq!(six_significant(5.0), 5.0);
    }
}
