//! Clean rows: the §2 columns, in §2 order. Text borrows from the raw input where it can;
//! [`CleanRow::into_owned`] detaches a row to keep it past its input line.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::Table;

/// A clean `pin` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PinRow<'a> {
    pub ind: i64,
    pub unique_id: Option<Cow<'a, str>>,
    pub title: Option<Cow<'a, str>>,
    pub description: Option<Cow<'a, str>>,
    pub follower_count: Option<i64>,
    pub poster_name: Option<Cow<'a, str>>,
    pub tag_list: Option<Cow<'a, str>>,
    pub is_image_or_video: Option<Cow<'a, str>>,
    pub image_src: Option<Cow<'a, str>>,
    pub save_location: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub downloaded: Option<bool>,
}

/// A clean `geo` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GeoRow<'a> {
    pub ind: i64,
    pub country: Option<Cow<'a, str>>,
    /// `[latitude, longitude]`, both in range.
    pub coordinates: [f64; 2],
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: DateTime<Utc>,
}

/// A clean `user` row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserRow<'a> {
    pub ind: i64,
    pub user_name: Option<Cow<'a, str>>,
    pub age: Option<i32>,
    #[serde(serialize_with = "rfc3339")]
    pub date_joined: DateTime<Utc>,
}

/// A clean row of any table; serializes as the bare row object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CleanRow<'a> {
    /// Boxed: a pin row is ~250 bytes, a geo or user row ~60, and the daily run holds a chunk's
    /// rows (~280,000 of geo or user) side by side.
    Pin(Box<PinRow<'a>>),
    Geo(GeoRow<'a>),
    User(UserRow<'a>),
}

impl<'a> CleanRow<'a> {
    pub fn table(&self) -> Table {
        match self {
            CleanRow::Pin(_) => Table::Pin,
            CleanRow::Geo(_) => Table::Geo,
            CleanRow::User(_) => Table::User,
        }
    }

    pub fn ind(&self) -> i64 {
        match self {
            CleanRow::Pin(r) => r.ind,
            CleanRow::Geo(r) => r.ind,
            CleanRow::User(r) => r.ind,
        }
    }

    /// The row with every borrowed string copied, free of the input's lifetime.
    pub fn into_owned(self) -> CleanRow<'static> {
        fn own(s: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
            s.map(|s| Cow::Owned(s.into_owned()))
        }
        match self {
            CleanRow::Pin(r) => CleanRow::Pin(Box::new(PinRow {
                ind: r.ind,
                unique_id: own(r.unique_id),
                title: own(r.title),
                description: own(r.description),
                follower_count: r.follower_count,
                poster_name: own(r.poster_name),
                tag_list: own(r.tag_list),
                is_image_or_video: own(r.is_image_or_video),
                image_src: own(r.image_src),
                save_location: own(r.save_location),
                category: own(r.category),
                downloaded: r.downloaded,
            })),
            CleanRow::Geo(r) => CleanRow::Geo(GeoRow {
                ind: r.ind,
                country: own(r.country),
                coordinates: r.coordinates,
                timestamp: r.timestamp,
            }),
            CleanRow::User(r) => CleanRow::User(UserRow {
                ind: r.ind,
                user_name: own(r.user_name),
                age: r.age,
                date_joined: r.date_joined,
            }),
        }
    }
}

/// RFC 3339 in UTC with `Z`, fraction only when there is one: `2020-08-28T03:52:47Z`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(t))
}

/// The set of a row's columns that cleaning turned to null although the sender gave a value
/// (a placeholder, an unparseable number): the data-quality counters of spec §2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NulledColumns(u16);

impl NulledColumns {
    pub fn insert(&mut self, column: usize) {
        self.0 |= 1 << column;
    }

    pub fn contains(self, column: usize) -> bool {
        self.0 & (1 << column) != 0
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Column indices (into [`Table::columns`]) in order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..16).filter(move |c| self.contains(*c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_rfc3339_utc() {
        let t = DateTime::from_timestamp(1_598_586_767, 0).unwrap();
        assert_eq!(format_timestamp(&t), "2020-08-28T03:52:47Z");
        let t = DateTime::from_timestamp(1_598_586_767, 120_000_000).unwrap();
        assert_eq!(format_timestamp(&t), "2020-08-28T03:52:47.120Z");
    }
}
