//! Cleaning, spec §2: one raw record in, one clean row or one rejection out. Pure and total:
//! no I/O, no clock, never a panic, whatever the bytes.

use std::borrow::Cow;

use super::datetime::parse_datetime;
use super::followers::parse_follower_count;
use super::raw::{self, IND, INDEX, ParseError, RawRecord, Scalar};
use super::rejection::{Reason, Rejection};
use super::row::{CleanRow, GeoRow, NulledColumns, PinRow, UserRow};
use super::text::{is_blank, strip, strip_cow};
use crate::Table;

/// A clean row, with the columns cleaning nulled and the unknown keys it ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct Cleaned<'a> {
    pub row: CleanRow<'a>,
    pub nulled: NulledColumns,
    pub unknown_keys: u32,
}

/// Cleans the bytes of one raw record of `table` (one JSON object, any §1.1 variant).
pub fn clean(table: Table, bytes: &[u8]) -> Result<Cleaned<'_>, Rejection> {
    let mut record = RawRecord::empty(table);
    raw::parse_into(&mut record, bytes).map_err(|e| parse_rejection(table, e))?;
    clean_fields(&mut record)
}

/// Cleans an already parsed raw record.
pub fn clean_record(mut record: RawRecord<'_>) -> Result<Cleaned<'_>, Rejection> {
    clean_fields(&mut record)
}

/// Cleans a parsed record where it lies (its fields are taken out).
fn clean_fields<'a>(record: &mut RawRecord<'a>) -> Result<Cleaned<'a>, Rejection> {
    let table = record.table;
    if let Some(key) = record.duplicate_key {
        let ind = match key {
            "index" | "ind" => None,
            _ => take_ind(record).ok(),
        };
        return Err(Rejection {
            table,
            reason: Reason::DuplicateKey,
            field: Some(key),
            ind,
            message: format!(
                "{table} record has {key} twice: which value was meant cannot be known, so neither is taken"
            ),
        });
    }
    let ind = take_ind(record)?;
    let mut nulled = NulledColumns::default();
    let row = match table {
        Table::Pin => CleanRow::Pin(Box::new(clean_pin(ind, record, &mut nulled))),
        Table::Geo => CleanRow::Geo(clean_geo(ind, record, &mut nulled)?),
        Table::User => CleanRow::User(clean_user(ind, record, &mut nulled)?),
    };
    Ok(Cleaned {
        row,
        nulled,
        unknown_keys: record.unknown_keys,
    })
}

/// Checks that the bytes are one JSON object (what the raw zone keeps); the cleaning rules come later.
pub fn check_json_object(table: Table, bytes: &[u8]) -> Result<(), Rejection> {
    raw::parse(table, bytes)
        .map(|_| ())
        .map_err(|e| parse_rejection(table, e))
}

fn parse_rejection(table: Table, error: ParseError) -> Rejection {
    let (reason, message) = match error {
        ParseError::NotUtf8(e) => (
            Reason::NotUtf8,
            format!("{table} record is not valid UTF-8 ({e})"),
        ),
        ParseError::NotJson(e) => (Reason::NotJson, format!("{table} record is not JSON ({e})")),
        ParseError::NotObject(kind) => (
            Reason::NotObject,
            format!("{table} record is {kind}, not a JSON object"),
        ),
        ParseError::TooDeep(key) => (
            Reason::TooDeep,
            format!(
                "{table} record nests arrays and objects deeper than {} levels under key {key:?}",
                crate::limits::MAX_NESTING
            ),
        ),
    };
    Rejection {
        table,
        reason,
        field: None,
        ind: None,
        message,
    }
}

/// `ind` from `index` or `ind` (spec §1.1); both present must agree.
fn take_ind(record: &mut RawRecord<'_>) -> Result<i64, Rejection> {
    let table = record.table;
    let reject = |reason, field, message| Rejection {
        table,
        reason,
        field: Some(field),
        ind: None,
        message,
    };
    let mut found: Option<(&'static str, i64)> = None;
    for (slot, key) in [(INDEX, "index"), (IND, "ind")] {
        let Some(value) = record.take(slot) else {
            continue;
        };
        let Some(ind) = integer(&value) else {
            return Err(reject(
                Reason::InvalidInd,
                key,
                format!(
                    "{table} record: {key} {} is not an integer",
                    value.describe()
                ),
            ));
        };
        match found {
            Some((first, other)) if other != ind => {
                return Err(reject(
                    Reason::ConflictingInd,
                    key,
                    format!("{table} record: {first} {other} and {key} {ind} disagree"),
                ));
            }
            _ => found = Some((key, ind)),
        }
    }
    found.map(|(_, ind)| ind).ok_or_else(|| {
        reject(
            Reason::MissingInd,
            "ind",
            format!("{table} record has no index or ind"),
        )
    })
}

/// An integer or an integer string (white space around it allowed); floats are not integers.
fn integer(value: &Scalar<'_>) -> Option<i64> {
    match value {
        Scalar::Int(i) => Some(*i),
        Scalar::Str(s) => {
            let s = strip(s);
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

/// A text field: blank → null; numbers and booleans become their JSON text; objects → null.
fn text<'a>(value: Option<Scalar<'a>>) -> Text<'a> {
    match value {
        None => Text::Missing,
        Some(Scalar::Str(s)) if is_blank(&s) => Text::Nulled,
        Some(Scalar::Str(s)) => Text::Value(s),
        Some(Scalar::Int(i)) => Text::Value(Cow::Owned(i.to_string())),
        Some(Scalar::UInt(u)) => Text::Value(Cow::Owned(u.to_string())),
        Some(Scalar::Float(f)) => Text::Value(Cow::Owned(f.to_string())),
        Some(Scalar::Bool(b)) => Text::Value(Cow::Borrowed(if b { "true" } else { "false" })),
        Some(Scalar::Nested) => Text::Nulled,
    }
}

enum Text<'a> {
    Missing,
    Nulled,
    Value(Cow<'a, str>),
}

impl<'a> Text<'a> {
    /// Nulls the value when it is one of the field's placeholders (compared trimmed).
    fn without(self, placeholders: &[&str]) -> Text<'a> {
        match self {
            Text::Value(s) if placeholders.contains(&strip(&s)) => Text::Nulled,
            other => other,
        }
    }

    fn map(self, f: impl FnOnce(Cow<'a, str>) -> Text<'a>) -> Text<'a> {
        match self {
            Text::Value(s) => f(s),
            other => other,
        }
    }

    /// The column value, noting in `nulled` when a sent value became null.
    fn column(self, nulled: &mut NulledColumns, column: usize) -> Option<Cow<'a, str>> {
        match self {
            Text::Missing => None,
            Text::Nulled => {
                nulled.insert(column);
                None
            }
            Text::Value(s) => Some(s),
        }
    }
}

/// Spec §1.2 placeholders.
const NO_TITLE: &[&str] = &["No Title Data Available"];
const NO_DESCRIPTION: &[&str] = &[
    "No description available Story format",
    "No description available",
];
const USER_INFO_ERROR: &[&str] = &["User Info Error"];
const NO_TAGS: &[&str] = &["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"];
const IMAGE_SRC_ERROR: &[&str] = &["Image src error."];
const SAVE_LOCATION_PREFIX: &str = "Local save in ";

/// Pin raw slots (see [`raw::raw_keys`]) and clean columns (see [`Table::columns`]).
mod pin {
    pub const UNIQUE_ID: usize = 2;
    pub const TITLE: usize = 3;
    pub const DESCRIPTION: usize = 4;
    pub const POSTER_NAME: usize = 5;
    pub const FOLLOWER_COUNT: usize = 6;
    pub const TAG_LIST: usize = 7;
    pub const IS_IMAGE_OR_VIDEO: usize = 8;
    pub const IMAGE_SRC: usize = 9;
    pub const DOWNLOADED: usize = 10;
    pub const SAVE_LOCATION: usize = 11;
    pub const CATEGORY: usize = 12;

    pub mod col {
        pub const UNIQUE_ID: usize = 1;
        pub const TITLE: usize = 2;
        pub const DESCRIPTION: usize = 3;
        pub const FOLLOWER_COUNT: usize = 4;
        pub const POSTER_NAME: usize = 5;
        pub const TAG_LIST: usize = 6;
        pub const IS_IMAGE_OR_VIDEO: usize = 7;
        pub const IMAGE_SRC: usize = 8;
        pub const SAVE_LOCATION: usize = 9;
        pub const CATEGORY: usize = 10;
        pub const DOWNLOADED: usize = 11;
    }
}

fn clean_pin<'a>(ind: i64, r: &mut RawRecord<'a>, nulled: &mut NulledColumns) -> PinRow<'a> {
    use pin::col;
    let follower_count = match r.take(pin::FOLLOWER_COUNT) {
        None => None,
        Some(value) => {
            let count = match &value {
                Scalar::Int(i) => (*i >= 0).then_some(*i),
                Scalar::Str(s) => parse_follower_count(s),
                Scalar::Float(f) if f.is_finite() && *f >= 0.0 && *f < 9.2e18 => Some(*f as i64),
                _ => None,
            };
            if count.is_none() {
                nulled.insert(col::FOLLOWER_COUNT);
            }
            count
        }
    };
    let downloaded = match r.take(pin::DOWNLOADED) {
        None => None,
        Some(value) => {
            let flag = match &value {
                Scalar::Bool(b) => Some(*b),
                Scalar::Int(0) => Some(false),
                Scalar::Int(1) => Some(true),
                Scalar::Str(s) => match strip(s) {
                    "0" | "false" => Some(false),
                    "1" | "true" => Some(true),
                    _ => None,
                },
                _ => None,
            };
            if flag.is_none() {
                nulled.insert(col::DOWNLOADED);
            }
            flag
        }
    };
    let save_location = text(r.take(pin::SAVE_LOCATION)).map(|s| {
        let path: Cow<'a, str> = match s {
            Cow::Borrowed(b) => Cow::Borrowed(b.strip_prefix(SAVE_LOCATION_PREFIX).unwrap_or(b)),
            Cow::Owned(o) => match o.strip_prefix(SAVE_LOCATION_PREFIX) {
                Some(p) => Cow::Owned(p.to_owned()),
                None => Cow::Owned(o),
            },
        };
        if is_blank(&path) {
            Text::Nulled
        } else {
            Text::Value(path)
        }
    });
    PinRow {
        ind,
        unique_id: text(r.take(pin::UNIQUE_ID)).column(nulled, col::UNIQUE_ID),
        title: text(r.take(pin::TITLE))
            .without(NO_TITLE)
            .column(nulled, col::TITLE),
        description: text(r.take(pin::DESCRIPTION))
            .without(NO_DESCRIPTION)
            .column(nulled, col::DESCRIPTION),
        follower_count,
        poster_name: text(r.take(pin::POSTER_NAME))
            .without(USER_INFO_ERROR)
            .column(nulled, col::POSTER_NAME),
        tag_list: text(r.take(pin::TAG_LIST))
            .without(NO_TAGS)
            .column(nulled, col::TAG_LIST),
        is_image_or_video: text(r.take(pin::IS_IMAGE_OR_VIDEO))
            .column(nulled, col::IS_IMAGE_OR_VIDEO),
        image_src: text(r.take(pin::IMAGE_SRC))
            .without(IMAGE_SRC_ERROR)
            .column(nulled, col::IMAGE_SRC),
        save_location: save_location.column(nulled, col::SAVE_LOCATION),
        category: text(r.take(pin::CATEGORY)).column(nulled, col::CATEGORY),
        downloaded,
    }
}

mod geo {
    pub const TIMESTAMP: usize = 2;
    pub const LATITUDE: usize = 3;
    pub const LONGITUDE: usize = 4;
    pub const COUNTRY: usize = 5;

    pub mod col {
        pub const COUNTRY: usize = 1;
    }
}

fn clean_geo<'a>(
    ind: i64,
    r: &mut RawRecord<'a>,
    nulled: &mut NulledColumns,
) -> Result<GeoRow<'a>, Rejection> {
    let latitude = coordinate(ind, r, geo::LATITUDE, "latitude", 90.0)?;
    let longitude = coordinate(ind, r, geo::LONGITUDE, "longitude", 180.0)?;
    let timestamp = datetime(ind, r, geo::TIMESTAMP, "timestamp")?;
    let country = text(r.take(geo::COUNTRY))
        .map(|s| Text::Value(strip_cow(s)))
        .column(nulled, geo::col::COUNTRY);
    Ok(GeoRow {
        ind,
        country,
        coordinates: [latitude, longitude],
        timestamp,
    })
}

mod user {
    pub const FIRST_NAME: usize = 2;
    pub const LAST_NAME: usize = 3;
    pub const AGE: usize = 4;
    pub const DATE_JOINED: usize = 5;

    pub mod col {
        pub const USER_NAME: usize = 1;
        pub const AGE: usize = 2;
    }
}

fn clean_user<'a>(
    ind: i64,
    r: &mut RawRecord<'a>,
    nulled: &mut NulledColumns,
) -> Result<UserRow<'a>, Rejection> {
    let date_joined = datetime(ind, r, user::DATE_JOINED, "date_joined")?;
    let first = text(r.take(user::FIRST_NAME));
    let last = text(r.take(user::LAST_NAME));
    let any_sent = !matches!((&first, &last), (Text::Missing, Text::Missing));
    let name_part = |t: Text<'a>| match t {
        Text::Value(s) => Some(strip_cow(s)),
        _ => None,
    };
    let user_name = match (name_part(first), name_part(last)) {
        (Some(f), Some(l)) => Some(Cow::Owned(format!("{f} {l}"))),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => {
            if any_sent {
                nulled.insert(user::col::USER_NAME);
            }
            None
        }
    };
    let age = match r.take(user::AGE) {
        None => None,
        Some(value) => {
            let age = integer(&value)
                .filter(|a| (0..=130).contains(a))
                .map(|a| a as i32);
            if age.is_none() {
                nulled.insert(user::col::AGE);
            }
            age
        }
    };
    Ok(UserRow {
        ind,
        user_name,
        age,
        date_joined,
    })
}

/// A required field of the record being cleaned; its rejections name the record and the field.
struct Required {
    table: Table,
    ind: i64,
    field: &'static str,
}

impl Required {
    /// Takes the field's value out of the record, or rejects the record as missing it.
    fn take<'a>(
        r: &mut RawRecord<'a>,
        ind: i64,
        slot: usize,
        field: &'static str,
    ) -> Result<(Scalar<'a>, Required), Rejection> {
        let required = Required {
            table: r.table,
            ind,
            field,
        };
        match r.take(slot) {
            Some(value) => Ok((value, required)),
            None => Err(required.reject(Reason::MissingField, "is missing".to_owned())),
        }
    }

    fn reject(&self, reason: Reason, detail: String) -> Rejection {
        let Required { table, ind, field } = *self;
        Rejection {
            table,
            reason,
            field: Some(field),
            ind: Some(ind),
            message: format!("{table} record ind {ind}: {field} {detail}"),
        }
    }
}

/// A required coordinate: a number or numeric string within ±`limit`.
fn coordinate(
    ind: i64,
    r: &mut RawRecord<'_>,
    slot: usize,
    field: &'static str,
    limit: f64,
) -> Result<f64, Rejection> {
    let (value, required) = Required::take(r, ind, slot, field)?;
    let number = match &value {
        Scalar::Int(i) => Some(*i as f64),
        Scalar::UInt(u) => Some(*u as f64),
        Scalar::Float(f) => Some(*f),
        Scalar::Str(s) => strip(s).parse::<f64>().ok(),
        _ => None,
    };
    let Some(number) = number.filter(|n| !n.is_nan()) else {
        let detail = format!("{} is not a number", value.describe());
        return Err(required.reject(Reason::InvalidField, detail));
    };
    if !(-limit..=limit).contains(&number) {
        let detail = format!("{number} is outside -{limit}..{limit}");
        return Err(required.reject(Reason::OutOfRange, detail));
    }
    Ok(number)
}

/// A required datetime in any §1.1 format.
fn datetime(
    ind: i64,
    r: &mut RawRecord<'_>,
    slot: usize,
    field: &'static str,
) -> Result<chrono::DateTime<chrono::Utc>, Rejection> {
    let (value, required) = Required::take(r, ind, slot, field)?;
    if let Scalar::Str(s) = &value
        && let Some(t) = parse_datetime(s)
    {
        return Ok(t);
    }
    let detail = format!(
        "{} is not a datetime like 2020-08-28 03:52:47",
        value.describe()
    );
    Err(required.reject(Reason::InvalidField, detail))
}
