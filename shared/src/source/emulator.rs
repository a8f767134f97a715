//! The original emulator's payloads (spec §1.1): every table's id under `index`, datetimes in
//! Python's `isoformat()` (`2020-08-28T03:52:47`), and `json.dumps`'s defaults — `", "` / `": "`
//! separators and non-ASCII as `\uXXXX` escapes. What its scripts post, byte for byte.

use serde::Serialize;

use super::post::{Post, PythonStyle, SourceGeo, SourcePin, SourceUser};
use crate::{Error, Result, Table};

#[derive(Serialize)]
struct EmulatorGeo<'a> {
    index: i64,
    timestamp: String,
    latitude: f64,
    longitude: f64,
    country: &'a str,
}

#[derive(Serialize)]
struct EmulatorUser<'a> {
    index: i64,
    first_name: &'a str,
    last_name: &'a str,
    age: i64,
    date_joined: String,
}

impl Post {
    /// The post's row of `table` as the original emulator sends it (no newline).
    pub fn emulator_payload(&self, table: Table) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        let written = match table {
            Table::Pin => write_ascii(&self.pin, &mut out),
            Table::Geo => write_ascii(&geo(&self.geo), &mut out),
            Table::User => write_ascii(&user(&self.user), &mut out),
        };
        written.expect("writing plain structs to memory cannot fail");
        out
    }
}

/// A source-format row of `table` (a line of `pinpipe generate`'s files or `../data/source-rows`)
/// re-encoded as the original emulator's payload.
pub fn emulator_payload(table: Table, source_line: &[u8]) -> Result<Vec<u8>> {
    let bad = |e: serde_json::Error| Error::source_row_from(table.to_string(), e);
    let mut out = Vec::with_capacity(source_line.len() + 64);
    match table {
        Table::Pin => {
            let row: SourcePin = serde_json::from_slice(source_line).map_err(bad)?;
            write_ascii(&row, &mut out)
        }
        Table::Geo => {
            let row: SourceGeo = serde_json::from_slice(source_line).map_err(bad)?;
            write_ascii(&geo(&row), &mut out)
        }
        Table::User => {
            let row: SourceUser = serde_json::from_slice(source_line).map_err(bad)?;
            write_ascii(&user(&row), &mut out)
        }
    }
    .map_err(bad)?;
    Ok(out)
}

fn geo(row: &SourceGeo) -> EmulatorGeo<'_> {
    EmulatorGeo {
        index: row.ind,
        timestamp: row.timestamp.replacen(' ', "T", 1),
        latitude: row.latitude,
        longitude: row.longitude,
        country: &row.country,
    }
}

fn user(row: &SourceUser) -> EmulatorUser<'_> {
    EmulatorUser {
        index: row.ind,
        first_name: &row.first_name,
        last_name: &row.last_name,
        age: row.age,
        date_joined: row.date_joined.replacen(' ', "T", 1),
    }
}

fn write_ascii<T: Serialize>(row: &T, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, PythonStyle { ascii: true });
    row.serialize(&mut ser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulator_payloads_use_index_iso_t_datetimes_and_ascii_escapes() {
        let geo = br#"{"ind": 7528, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "C\u00f4te d'Ivoire"}"#;
        assert_eq!(
            String::from_utf8(emulator_payload(Table::Geo, geo).unwrap()).unwrap(),
            r#"{"index": 7528, "timestamp": "2020-08-28T03:52:47", "latitude": -89.9787, "longitude": -173.293, "country": "C\u00f4te d'Ivoire"}"#
        );
        let user = "{\"ind\": 1, \"first_name\": \"Андрей 😀\", \"last_name\": \"B\", \"age\": 20, \"date_joined\": \"2015-10-24 11:23:51\"}";
        assert_eq!(
            String::from_utf8(emulator_payload(Table::User, user.as_bytes()).unwrap()).unwrap(),
            r#"{"index": 1, "first_name": "\u0410\u043d\u0434\u0440\u0435\u0439 \ud83d\ude00", "last_name": "B", "age": 20, "date_joined": "2015-10-24T11:23:51"}"#
        );
        assert!(emulator_payload(Table::Pin, b"{}").is_err());
    }
}
