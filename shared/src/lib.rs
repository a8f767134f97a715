//! pinpipe's library: everything that is not trigger glue.
//!
//! Rooms, each with one job (see ARCHITECTURE.md):
//! - [`record`]: the record model and exact cleaning of spec §1–§2 — pure: no I/O, no clock, no env.
//! - [`cleaner`]: a table's stream of raw lines → clean rows, rejections and duplicates, with counters.
//! - [`schema`]: clean rows → Arrow `RecordBatch`es with the §2 schemas.
//! - [`quarantine`]: rejected records with their raw bytes, source coordinates, reason and time.
//! - [`jsonl`]: JSON-lines files in and out — the source dump format, `pinpipe clean`'s outputs.
//! - [`source`]: where posts come from — the embedded synthetic generator, the source-row format and
//!   the Kafka REST consumer envelope.

pub mod cleaner;
pub mod error;
pub mod jsonl;
pub mod quarantine;
pub mod record;
pub mod schema;
pub mod source;
pub mod table;

pub use error::{Error, Result};
pub use table::Table;
