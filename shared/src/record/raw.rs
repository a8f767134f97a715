//! A raw record as a sender shaped it: one JSON object, its known keys sorted into slots.
//!
//! Field values keep their JSON type ([`Scalar`]), so cleaning can accept `2418` and `"2418"` alike
//! (spec §1.1). Strings borrow from the input where they have no escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::Table;
use crate::limits::MAX_NESTING;

/// The most keys any table knows (pin: `index`, `ind` and eleven columns).
pub const MAX_SLOTS: usize = 13;

/// Slot of the `index` key, in every table.
pub const INDEX: usize = 0;
/// Slot of the `ind` key, in every table.
pub const IND: usize = 1;

/// The keys a table's raw records may carry, in slot order.
pub fn raw_keys(table: Table) -> &'static [&'static str] {
    match table {
        Table::Pin => &[
            "index",
            "ind",
            "unique_id",
            "title",
            "description",
            "poster_name",
            "follower_count",
            "tag_list",
            "is_image_or_video",
            "image_src",
            "downloaded",
            "save_location",
            "category",
        ],
        Table::Geo => &[
            "index",
            "ind",
            "timestamp",
            "latitude",
            "longitude",
            "country",
        ],
        Table::User => &[
            "index",
            "ind",
            "first_name",
            "last_name",
            "age",
            "date_joined",
        ],
    }
}

/// The slot of `key` in [`raw_keys`]: a `match` the compiler turns into a length switch and
/// inline compares (a search of the key list called `memcmp` up to 13 times per key, ~2% of a
/// batch clean).
fn slot_of(table: Table, key: &str) -> Option<usize> {
    match (table, key) {
        (_, "index") => Some(INDEX),
        (_, "ind") => Some(IND),
        (Table::Pin, "unique_id") => Some(2),
        (Table::Pin, "title") => Some(3),
        (Table::Pin, "description") => Some(4),
        (Table::Pin, "poster_name") => Some(5),
        (Table::Pin, "follower_count") => Some(6),
        (Table::Pin, "tag_list") => Some(7),
        (Table::Pin, "is_image_or_video") => Some(8),
        (Table::Pin, "image_src") => Some(9),
        (Table::Pin, "downloaded") => Some(10),
        (Table::Pin, "save_location") => Some(11),
        (Table::Pin, "category") => Some(12),
        (Table::Geo, "timestamp") => Some(2),
        (Table::Geo, "latitude") => Some(3),
        (Table::Geo, "longitude") => Some(4),
        (Table::Geo, "country") => Some(5),
        (Table::User, "first_name") => Some(2),
        (Table::User, "last_name") => Some(3),
        (Table::User, "age") => Some(4),
        (Table::User, "date_joined") => Some(5),
        _ => None,
    }
}

/// A JSON value as sent. `null` is never stored: a null field and a missing one are the same.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    /// An object or an array where a scalar was expected.
    Nested,
}

impl Scalar<'_> {
    /// The value written out for a message, cut to a readable length.
    pub fn describe(&self) -> String {
        const MAX: usize = 60;
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Str(s) if s.chars().count() > MAX => {
                format!("{:?}…", s.chars().take(MAX).collect::<String>())
            }
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Nested => "an object or array".to_owned(),
        }
    }
}

/// One raw record: the values of the table's known keys, by slot.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRecord<'a> {
    pub table: Table,
    slots: [Option<Scalar<'a>>; MAX_SLOTS],
    /// Keys the table does not know; ignored, and counted in metrics.
    pub unknown_keys: u32,
    /// The first known key the object holds twice (the record is rejected for it).
    pub duplicate_key: Option<&'static str>,
    /// The first key whose value nests deeper than [`MAX_NESTING`] (the parse fails for it).
    too_deep: Option<Cow<'a, str>>,
}

impl<'a> RawRecord<'a> {
    /// Takes the value of a slot out (cleaning consumes each field once).
    pub fn take(&mut self, slot: usize) -> Option<Scalar<'a>> {
        self.slots[slot].take()
    }

    pub fn get(&self, slot: usize) -> Option<&Scalar<'a>> {
        self.slots[slot].as_ref()
    }
}

/// Why bytes are not a raw record at all.
#[derive(Debug)]
pub enum ParseError {
    NotUtf8(std::str::Utf8Error),
    NotJson(serde_json::Error),
    /// Valid JSON, but an array, a string, a number, a boolean or null.
    NotObject(&'static str),
    /// An object whose value under this key nests arrays and objects deeper than
    /// [`MAX_NESTING`] levels, the record counting as the first.
    TooDeep(String),
}

/// Parses one raw record of `table` from the bytes of one JSON object.
pub fn parse(table: Table, bytes: &[u8]) -> Result<RawRecord<'_>, ParseError> {
    let mut record = RawRecord::empty(table);
    parse_into(&mut record, bytes)?;
    Ok(record)
}

/// [`parse`] into an empty record the caller holds (`record.table` says which table): a record
/// is ~460 bytes, filled where it lies rather than returned by value through the parser's layers
/// (no change in the clean's time was measurable: BENCHMARKS.md).
pub fn parse_into<'a>(record: &mut RawRecord<'a>, bytes: &'a [u8]) -> Result<(), ParseError> {
    let text = std::str::from_utf8(bytes).map_err(ParseError::NotUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = RecordSeed(record)
        .deserialize(&mut de)
        .map_err(ParseError::NotJson)?;
    de.end().map_err(ParseError::NotJson)?;
    match parsed {
        Parsed::Other(kind) => Err(ParseError::NotObject(kind)),
        Parsed::Object => match record.too_deep.take() {
            Some(key) => Err(ParseError::TooDeep(key.into_owned())),
            None => Ok(()),
        },
    }
}

impl RawRecord<'_> {
    /// A record of `table` with no key yet.
    pub fn empty(table: Table) -> Self {
        RawRecord {
            table,
            slots: Default::default(),
            unknown_keys: 0,
            duplicate_key: None,
            too_deep: None,
        }
    }
}

/// What the bytes held: an object (now in the record) or another JSON value.
enum Parsed {
    Object,
    Other(&'static str),
}

struct RecordSeed<'r, 'de>(&'r mut RawRecord<'de>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(RecordVisitor(self.0))
    }
}

struct RecordVisitor<'r, 'de>(&'r mut RawRecord<'de>);

impl<'de> Visitor<'de> for RecordVisitor<'_, 'de> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let record = self.0;
        let table = record.table;
        let mut seen = 0u32;
        while let Some(Key(key)) = map.next_key()? {
            // the record is the first level; a value may open containers down to the last
            let too_deep = match slot_of(table, &key) {
                Some(slot) => {
                    if seen & (1 << slot) != 0 && record.duplicate_key.is_none() {
                        record.duplicate_key = Some(raw_keys(table)[slot]);
                    }
                    seen |= 1 << slot;
                    let value = map.next_value::<Nullable>()?;
                    record.slots[slot] = value.value;
                    value.too_deep
                }
                None => {
                    record.unknown_keys += 1;
                    map.next_value_seed(Nesting(MAX_NESTING - 1))?
                }
            };
            if too_deep && record.too_deep.is_none() {
                record.too_deep = Some(key);
            }
        }
        Ok(Parsed::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Parsed::Other("an array"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Parsed::Other("a string"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Parsed::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Parsed::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Parsed::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Parsed::Other("a number"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Parsed::Other("null"))
    }
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor).map(Key)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A field value; `None` for JSON null. An object or an array is [`Scalar::Nested`], measured.
struct Nullable<'a> {
    value: Option<Scalar<'a>>,
    /// Whether it nests deeper than a record's field may.
    too_deep: bool,
}

impl<'a> Nullable<'a> {
    fn of(value: Option<Scalar<'a>>) -> Self {
        Nullable {
            value,
            too_deep: false,
        }
    }
}

impl<'de> de::Deserialize<'de> for Nullable<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Nullable<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Bool(v))))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Int(v))))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::UInt(v),
        })))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Float(v))))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Str(Cow::Borrowed(v)))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Str(Cow::Owned(v.to_owned())))))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Nullable::of(Some(Scalar::Str(Cow::Owned(v)))))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Nullable::of(None))
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Nullable::of(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        // this array is the second level: what it holds may go down to the last
        Ok(Nullable {
            value: Some(Scalar::Nested),
            too_deep: NestingVisitor(MAX_NESTING - 1).visit_seq(seq)?,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Nullable {
            value: Some(Scalar::Nested),
            too_deep: NestingVisitor(MAX_NESTING - 1).visit_map(map)?,
        })
    }
}

/// Skips a value, answering whether its arrays and objects nest more than this many levels. Past
/// the limit the rest is skipped without descending further (serde_json's skipping does not
/// recurse), so no input can exhaust the stack.
struct Nesting(usize);

impl<'de> DeserializeSeed<'de> for Nesting {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(NestingVisitor(self.0))
    }
}

/// [`Nesting`]'s visitor: `self.0` levels left, this value's own container counting as one.
struct NestingVisitor(usize);

impl<'de> Visitor<'de> for NestingVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        if self.0 == 0 {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(true);
        }
        let mut too_deep = false;
        while let Some(deep) = seq.next_element_seed(Nesting(self.0 - 1))? {
            too_deep |= deep;
        }
        Ok(too_deep)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        if self.0 == 0 {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(true);
        }
        let mut too_deep = false;
        while map.next_key::<IgnoredAny>()?.is_some() {
            too_deep |= map.next_value_seed(Nesting(self.0 - 1))?;
        }
        Ok(too_deep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_its_slot_and_no_other_key_has_one() {
        for table in Table::ALL {
            for (slot, key) in raw_keys(table).iter().enumerate() {
                assert_eq!(slot_of(table, key), Some(slot), "{table} {key}");
            }
            let others = Table::ALL.iter().flat_map(|t| raw_keys(*t).iter());
            for key in others.filter(|k| !raw_keys(table).contains(k)) {
                assert_eq!(slot_of(table, key), None, "{table} {key}");
            }
            for key in ["", "Ind", "ind ", "indx", "title\0"] {
                assert_eq!(slot_of(table, key), None, "{table} {key:?}");
            }
        }
    }

    #[test]
    fn keeps_json_types_and_borrows_plain_strings() {
        let line =
            br#"{"ind": "2418", "latitude": -88.5, "longitude": 12, "country": "Chad", "x": [1]}"#;
        let r = parse(Table::Geo, line).unwrap();
        assert_eq!(r.get(IND), Some(&Scalar::Str(Cow::Borrowed("2418"))));
        assert!(matches!(r.get(IND), Some(Scalar::Str(Cow::Borrowed(_)))));
        assert_eq!(r.get(3), Some(&Scalar::Float(-88.5)));
        assert_eq!(r.get(4), Some(&Scalar::Int(12)));
        assert_eq!(r.get(INDEX), None);
        assert_eq!(r.unknown_keys, 1);
    }

    #[test]
    fn null_fields_are_absent_and_nested_values_are_marked() {
        let r = parse(
            Table::User,
            br#"{"ind": 1, "age": null, "first_name": {"a": 1}}"#,
        )
        .unwrap();
        assert_eq!(r.get(4), None);
        assert_eq!(r.get(2), Some(&Scalar::Nested));
    }

    #[test]
    fn tells_not_json_from_not_an_object() {
        assert!(matches!(
            parse(Table::Pin, b"[1, 2]"),
            Err(ParseError::NotObject("an array"))
        ));
        assert!(matches!(
            parse(Table::Pin, b"null"),
            Err(ParseError::NotObject("null"))
        ));
        assert!(matches!(
            parse(Table::Pin, b"{\"ind\": 1"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse(Table::Pin, b"{} {}"),
            Err(ParseError::NotJson(_))
        ));
        assert!(matches!(
            parse(Table::Pin, b"{\"ind\": \"\xff\"}"),
            Err(ParseError::NotUtf8(_))
        ));
    }
}
