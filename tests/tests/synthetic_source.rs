//! The embedded synthetic source reproduces the value domains and dirt rates of the real rows
//! (spec §1), measured through cleaning, and is deterministic from its seed.

use std::collections::{BTreeSet, HashMap};

use pinpipe::Table;
use pinpipe::cleaner::{CleanStats, Outcome, TableCleaner};
use pinpipe::source::{Post, Synthetic};
use pinpipe_tests::lines;
use serde_json::Value;

const POSTS: usize = 20_000;

/// Kept clean rows (as JSON) and counters of one table's raw lines.
struct Cleaned {
    rows: Vec<Value>,
    stats: CleanStats,
}

fn clean_lines<'a>(table: Table, raw: impl Iterator<Item = &'a [u8]>) -> Cleaned {
    let mut cleaner = TableCleaner::new(table);
    let mut rows = Vec::new();
    for line in raw {
        if let Outcome::Clean(c) = cleaner.push(line) {
            rows.push(serde_json::to_value(&c.row).unwrap());
        }
    }
    Cleaned {
        rows,
        stats: cleaner.stats().clone(),
    }
}

fn generated(table: Table, posts: &[Post]) -> (Cleaned, Vec<Vec<u8>>) {
    let raw: Vec<Vec<u8>> = posts
        .iter()
        .map(|p| {
            let mut line = Vec::new();
            p.write_line(table, &mut line);
            line.pop();
            line
        })
        .collect();
    (clean_lines(table, raw.iter().map(Vec::as_slice)), raw)
}

fn real(table: Table) -> Cleaned {
    let text = lines(&format!("source-rows/{table}.jsonl"));
    clean_lines(table, text.iter().map(|l| l.as_bytes()))
}

fn posts() -> Vec<Post> {
    Synthetic::new(2024).take(POSTS).collect()
}

/// The generator's share is within 30% (plus 0.4 points of sampling slack) of the real share.
fn assert_close(what: &str, generated: f64, real: f64) {
    assert!(
        (generated - real).abs() <= 0.3 * real + 0.004,
        "{what}: generated {:.2}% vs real {:.2}%",
        generated * 100.0,
        real * 100.0
    );
}

fn share(rows: &[Value], pred: impl Fn(&Value) -> bool) -> f64 {
    rows.iter().filter(|r| pred(r)).count() as f64 / rows.len() as f64
}

#[test]
fn generated_posts_clean_without_rejections_and_resend_like_the_emulator() {
    let posts = posts();
    for table in Table::ALL {
        let (g, _) = generated(table, &posts);
        assert_eq!(g.stats.rejected_total(), 0, "{}", g.stats);
        let r = real(table);
        assert_close(
            "re-sent posts",
            g.stats.duplicates as f64 / g.stats.read as f64,
            r.stats.duplicates as f64 / r.stats.read as f64,
        );
    }
}

#[test]
fn generated_pins_have_the_13_categories_and_their_save_locations() {
    let (g, _) = generated(Table::Pin, &posts());
    let want: BTreeSet<String> = lines("categories.txt").into_iter().collect();
    let got: BTreeSet<String> = g
        .rows
        .iter()
        .map(|r| r["category"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want);
    for row in &g.rows {
        assert_eq!(
            row["save_location"].as_str().unwrap(),
            format!("/data/{}", row["category"].as_str().unwrap())
        );
    }
}

#[test]
fn generated_pin_placeholder_rates_match_the_real_rows() {
    let (g, _) = generated(Table::Pin, &posts());
    let r = real(Table::Pin);
    for column in [
        "title",
        "description",
        "follower_count",
        "poster_name",
        "tag_list",
        "image_src",
    ] {
        assert_close(
            &format!("{column} nulled"),
            g.stats.nulled_in(column) as f64 / g.stats.clean as f64,
            r.stats.nulled_in(column) as f64 / r.stats.clean as f64,
        );
    }
    for kind in ["image", "video", "multi-video(story page format)"] {
        assert_close(
            kind,
            share(&g.rows, |row| row["is_image_or_video"] == kind),
            share(&r.rows, |row| row["is_image_or_video"] == kind),
        );
    }
    assert_close(
        "not downloaded",
        share(&g.rows, |row| row["downloaded"] == false),
        share(&r.rows, |row| row["downloaded"] == false),
    );
}

#[test]
fn generated_follower_counts_have_the_real_display_shapes() {
    let posts = posts();
    let real_raw: Vec<Value> = lines("source-rows/pin.jsonl")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shape = |s: &str| -> &'static str {
        if s == "User Info Error" {
            "error"
        } else if s.ends_with('k') && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            "thousands"
        } else if s.ends_with('M') && s[..s.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            "millions"
        } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            "digits"
        } else {
            "other"
        }
    };
    let shares = |counts: Vec<&'static str>| {
        let n = counts.len() as f64;
        let mut m: HashMap<&str, f64> = HashMap::new();
        for c in counts {
            *m.entry(c).or_default() += 1.0 / n;
        }
        m
    };
    let g = shares(posts.iter().map(|p| shape(&p.pin.follower_count)).collect());
    let r = shares(
        real_raw
            .iter()
            .map(|v| shape(v["follower_count"].as_str().unwrap()))
            .collect(),
    );
    assert!(!g.contains_key("other") && !r.contains_key("other"));
    for s in ["thousands", "millions", "digits", "error"] {
        assert_close(s, g.get(s).copied().unwrap_or(0.0), r[s]);
    }
    assert!(posts.iter().any(|p| p.pin.follower_count == "0"));
}

#[test]
fn generated_geo_rows_use_the_country_list_valid_coordinates_and_2017_to_2022() {
    let (g, _) = generated(Table::Geo, &posts());
    let countries: BTreeSet<String> = lines("countries.txt").into_iter().collect();
    let got: BTreeSet<String> = g
        .rows
        .iter()
        .map(|r| r["country"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        got.is_subset(&countries),
        "{:?}",
        got.difference(&countries).collect::<Vec<_>>()
    );
    assert_eq!(
        got.len(),
        countries.len(),
        "all 237 countries appear in {POSTS} posts"
    );
    for row in &g.rows {
        let ts = row["timestamp"].as_str().unwrap();
        assert!(("2017-10-20".."2022-10-19").contains(&ts), "{ts}");
        let [lat, lon] = [0, 1].map(|i| row["coordinates"][i].as_f64().unwrap());
        assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
    }
    let years: BTreeSet<&str> = g
        .rows
        .iter()
        .map(|r| &r["timestamp"].as_str().unwrap()[..4])
        .collect();
    assert_eq!(
        years,
        BTreeSet::from(["2017", "2018", "2019", "2020", "2021", "2022"])
    );
}

#[test]
fn generated_users_are_20_to_60_skewed_to_20_and_joined_2015_to_2017() {
    let (g, _) = generated(Table::User, &posts());
    let r = real(Table::User);
    let mut by_age: HashMap<i64, usize> = HashMap::new();
    for row in &g.rows {
        let age = row["age"].as_i64().unwrap();
        assert!((20..=60).contains(&age), "{age}");
        *by_age.entry(age).or_default() += 1;
        let joined = row["date_joined"].as_str().unwrap();
        assert!(("2015-10-21".."2017-10-19").contains(&joined), "{joined}");
        assert!(row["user_name"].as_str().unwrap().contains(' '));
    }
    let mode = by_age.iter().max_by_key(|(_, n)| **n).map(|(a, _)| *a);
    assert_eq!(mode, Some(20));
    assert_close(
        "age 20",
        share(&g.rows, |u| u["age"] == 20),
        share(&r.rows, |u| u["age"] == 20),
    );
    assert_close(
        "age over 50",
        share(&g.rows, |u| u["age"].as_i64() > Some(50)),
        share(&r.rows, |u| u["age"].as_i64() > Some(50)),
    );
    let joined_2015 = |u: &Value| u["date_joined"].as_str().unwrap().starts_with("2015");
    assert_close(
        "joined in 2015",
        share(&g.rows, joined_2015),
        share(&r.rows, joined_2015),
    );
}

#[test]
fn generated_text_has_non_ascii_and_cut_off_descriptions() {
    let (g, _) = generated(Table::Pin, &posts());
    let non_ascii = |column: &'static str| {
        move |row: &Value| row[column].as_str().is_some_and(|s| !s.is_ascii())
    };
    assert!(share(&g.rows, non_ascii("title")) > 0.03);
    assert!(share(&g.rows, non_ascii("description")) > 0.1);
    let cut = |row: &Value| {
        row["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("…\u{a0}"))
    };
    assert_close(
        "descriptions cut with …+NBSP",
        share(&g.rows, cut),
        share(&real(Table::Pin).rows, cut),
    );
    assert!(g.rows.iter().any(|r| r["title"] == "Untitled"));
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let bytes = |seed| {
        let mut out = Vec::new();
        for post in Synthetic::new(seed).take(3_000) {
            for t in Table::ALL {
                post.write_line(t, &mut out);
            }
        }
        out
    };
    assert_eq!(bytes(5), bytes(5));
    assert_ne!(bytes(5), bytes(6));
}
