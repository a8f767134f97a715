//! The record model and exact cleaning of spec §1–§2. Pure: no I/O, no async, no clock, no env.

mod clean;
mod datetime;
mod followers;
pub mod raw;
mod rejection;
mod row;
pub mod text;

pub use clean::{Cleaned, check_json_object, clean, clean_record};
pub use datetime::parse_datetime;
pub use followers::parse_follower_count;
pub use rejection::{Reason, Rejection};
pub use row::{CleanRow, GeoRow, NulledColumns, PinRow, UserRow, format_timestamp};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
