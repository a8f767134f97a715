//! The Kafka REST proxy's consumer answer (`GET /consumers/.../records`): a JSON array of
//! `{"topic", "key", "value", "partition", "offset"}` — one of the §1.1 shapes records arrive in.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Error, Result};

/// One consumed record; `value` keeps the record's JSON text exactly as sent.
#[derive(Debug, Deserialize)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub value: Box<RawValue>,
}

/// Reads a consumer answer into its records, in order.
pub fn parse_consumer_records(body: &[u8]) -> Result<Vec<ConsumedRecord>> {
    serde_json::from_slice(body).map_err(Error::KafkaRestEnvelope)
}
