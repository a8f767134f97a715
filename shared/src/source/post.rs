//! One post as the source database holds it and the original emulator sends it.

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::ser::Formatter;

use crate::Table;

/// A `pinterest_data` row; keys in the emulator's order (it calls the id `index`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourcePin {
    #[serde(alias = "ind")]
    pub index: i64,
    pub unique_id: String,
    pub title: String,
    pub description: String,
    pub poster_name: String,
    pub follower_count: String,
    pub tag_list: String,
    pub is_image_or_video: String,
    pub image_src: String,
    pub downloaded: i64,
    pub save_location: String,
    pub category: String,
}

/// A `geolocation_data` row; `timestamp` as `2020-08-28 03:52:47`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceGeo {
    #[serde(alias = "index")]
    pub ind: i64,
    pub timestamp: String,
    pub latitude: f64,
    pub longitude: f64,
    pub country: String,
}

/// A `user_data` row; `date_joined` as `2015-10-24 11:23:51`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceUser {
    #[serde(alias = "index")]
    pub ind: i64,
    pub first_name: String,
    pub last_name: String,
    pub age: i64,
    pub date_joined: String,
}

/// One post: a row of each table sharing one id.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub pin: SourcePin,
    pub geo: SourceGeo,
    pub user: SourceUser,
}

impl Post {
    pub fn ind(&self) -> i64 {
        self.pin.index
    }

    /// Appends the post's row of `table` as one source-format JSON line (with the newline).
    pub fn write_line(&self, table: Table, out: &mut Vec<u8>) {
        let written = match table {
            Table::Pin => write_source_line(&self.pin, out),
            Table::Geo => write_source_line(&self.geo, out),
            Table::User => write_source_line(&self.user, out),
        };
        written.expect("writing plain structs to memory cannot fail");
    }
}

/// Writes a row as the source rows are written (Python's `json.dumps(row, ensure_ascii=False)`:
/// `", "` and `": "` separators, non-ASCII as is), plus a newline.
pub fn write_source_line<T: Serialize>(row: &T, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, PythonStyle { ascii: false });
    row.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(())
}

/// Python's `json.dumps` separators (`", "`, `": "`); with `ascii`, its default `ensure_ascii=True`
/// too (non-ASCII as `\uXXXX`, UTF-16 surrogate pairs beyond the BMP).
pub(super) struct PythonStyle {
    pub ascii: bool,
}

impl Formatter for PythonStyle {
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ascii {
            return w.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(i) = rest.find(|c: char| !c.is_ascii()) {
            w.write_all(&rest.as_bytes()[..i])?;
            let c = rest[i..].chars().next().expect("found a char at i");
            let mut units = [0_u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            rest = &rest[i + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rows_the_way_the_emulator_dumps_them() {
        let geo = SourceGeo {
            ind: 7528,
            timestamp: "2020-08-28 03:52:47".into(),
            latitude: -89.9787,
            longitude: -173.293,
            country: "Albania".into(),
        };
        let mut out = Vec::new();
        write_source_line(&geo, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ind\": 7528, \"timestamp\": \"2020-08-28 03:52:47\", \"latitude\": -89.9787, \
             \"longitude\": -173.293, \"country\": \"Albania\"}\n"
        );
    }
}
