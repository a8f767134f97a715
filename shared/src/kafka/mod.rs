//! Kafka at the edge of the batch path: with feature `msk`, the brokers of an MSK cluster and its
//! auth modes ([`msk`]) the ingest API's producer connects with (the local event-source runner that
//! consumes topics is `pinpipe_local::kafka`).

#[cfg(feature = "msk")]
pub mod msk;
