//! Kinesis at the edge of the stream path: the SDK client the ingest API's sink puts records with
//! (the local event-source runner that reads shards is `pinpipe_local::kinesis`).

mod client;

pub use client::kinesis_client;
