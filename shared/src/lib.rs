//! pinpipe's library: everything that is not trigger glue.
//!
//! Rooms, each with one job (see ARCHITECTURE.md):
//! - [`record`]: the record model and exact cleaning of spec §1–§2 — pure: no I/O, no clock, no env.
//! - [`cleaner`]: a table's stream of raw lines → clean rows, rejections and duplicates, with counters.
//! - [`schema`]: clean rows → Arrow `RecordBatch`es with the §2 schemas.
//! - [`quarantine`]: rejected records with their raw bytes, source coordinates, reason and time.
//! - [`jsonl`]: JSON-lines files in and out — the source dump format, `pinpipe clean`'s outputs.
//! - [`lake`] (feature `lake`): Delta tables, the raw zone and the quarantine on a path or S3,
//!   appended exactly once; [`lake::sql`] (feature `sql`) queries them with DataFusion.
//! - [`stream`] (feature `lake`): the stream path — a shard's Kinesis records into the stream
//!   tables, exactly once; [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`kinesis`] (feature `kinesis`): the Kinesis client; [`kafka`] (feature `msk`): an MSK
//!   cluster's brokers and auth. (The local event-source runners, the events they build and the
//!   demo's report are laptop tooling: the `pinpipe-local` crate.)
//! - [`landing`] (feature `lake`): the batch path's landing — a topic partition's Kafka records into
//!   the raw zone, bad values to the quarantine.
//! - [`daily`] (feature `sql`): the daily run — new raw objects into the batch tables, the nine
//!   insights, table maintenance.
//! - [`redrive`] (feature `sql`): chosen quarantine rows cleaned again into their path's table,
//!   exactly once.
//! - [`failed_batch`]: the objects Lambda writes to a stream mapping's S3 on-failure destination,
//!   pure; [`stream::redrive`] replays them exactly once.
//! - [`emulate`]: the original emulator's HTTP requests for a post, pure.
//! - [`ingest`]: the ingest API's requests and answers (spec §3.1) — validation, pure.
//! - [`limits`]: the size limits of every hop (API Gateway, Lambda, Kinesis, Kafka) and the API's own.
//! - [`sink`]: handing accepted records to Kafka (feature `kafka`) and Kinesis (feature `kinesis`),
//!   behind the `TopicSink` / `StreamSink` traits.
//! - [`logs`] (feature `lambda-logs`): the functions' JSON logs.
//! - [`config`]: the environment, read once into typed config.
//! - [`source`]: where posts come from — the embedded synthetic generator, the source-row format and
//!   the Kafka REST consumer envelope.

#[cfg(any(
    feature = "kinesis",
    feature = "secrets",
    feature = "sigv4",
    feature = "athena"
))]
pub mod aws;
pub mod cleaner;
pub mod config;
#[cfg(feature = "custom-resource")]
pub mod custom_resource;
#[cfg(feature = "sql")]
pub mod daily;
pub mod emulate;
pub mod error;
pub mod failed_batch;
pub mod failpoint;
#[cfg(feature = "https")]
pub mod https;
pub mod ingest;
pub mod insight;
pub mod jsonl;
#[cfg(feature = "msk")]
pub mod kafka;
#[cfg(feature = "kinesis")]
pub mod kinesis;
#[cfg(feature = "lake")]
pub mod lake;
#[cfg(feature = "lake")]
pub mod landing;
pub mod limits;
#[cfg(feature = "lambda-logs")]
pub mod logs;
pub mod metrics;
pub mod quarantine;
pub mod record;
#[cfg(feature = "sql")]
pub mod redrive;
pub mod routes;
pub mod schema;
#[cfg(feature = "sigv4")]
pub mod sigv4;
pub mod sink;
pub mod source;
#[cfg(feature = "lake")]
pub mod stream;
pub mod table;

pub use error::{BoxError, Error, Result};
/// The Arrow version pinpipe's batches use (deltalake's, with its CSV and pretty-print parts when the
/// lake is in).
#[cfg(feature = "lake")]
pub use lake::arrow;
pub use table::Table;
