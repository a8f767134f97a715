//! Where posts come from, and the source format they travel in (spec §1): the original emulator's
//! keys, key order and datetime format.

mod domains;
mod emulator;
pub mod kafka_rest;
#[cfg(feature = "mysql")]
pub mod mysql;
mod post;
pub mod synthetic;
mod vocabulary;

pub use domains::{CATEGORIES, COUNTRIES};
pub use emulator::emulator_payload;
#[cfg(feature = "mysql")]
pub use mysql::MysqlSource;
pub use post::{Post, SourceGeo, SourcePin, SourceUser, write_source_line};
pub use synthetic::Synthetic;
