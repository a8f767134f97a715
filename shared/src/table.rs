//! The three source tables of spec §1.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// One of the three tables a post spans; a post is one row of each, sharing `ind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Pin,
    Geo,
    User,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Pin, Table::Geo, Table::User];

    /// Our name: `pin`, `geo`, `user` (topic and stream suffixes, table directories).
    pub fn name(self) -> &'static str {
        match self {
            Table::Pin => "pin",
            Table::Geo => "geo",
            Table::User => "user",
        }
    }

    /// The table's name in the source MySQL database.
    pub fn source_name(self) -> &'static str {
        match self {
            Table::Pin => "pinterest_data",
            Table::Geo => "geolocation_data",
            Table::User => "user_data",
        }
    }

    /// The clean columns, in spec §2 order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Pin => &[
                "ind",
                "unique_id",
                "title",
                "description",
                "follower_count",
                "poster_name",
                "tag_list",
                "is_image_or_video",
                "image_src",
                "save_location",
                "category",
                "downloaded",
            ],
            Table::Geo => &["ind", "country", "coordinates", "timestamp"],
            Table::User => &["ind", "user_name", "age", "date_joined"],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Table {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Table::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| Error::UnknownTable(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_round_trip() {
        for t in Table::ALL {
            assert_eq!(t.name().parse::<Table>().unwrap(), t);
        }
        assert!("pins".parse::<Table>().is_err());
    }
}
