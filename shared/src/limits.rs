//! The size limits of every hop a record crosses on its way in, as one set of numbers, and the limits
//! the ingest API enforces so that a request it accepts fits every hop after it (pure constants; the
//! checks at the bottom fail the build if they ever disagree).
//!
//! The hops, with the AWS documentation each number comes from:
//! - API Gateway REST API: request payload at most 10 MB ("Amazon API Gateway quotas").
//! - Lambda, synchronous invocation: the *event* at most 6 MB, 6,291,456 bytes ("Lambda quotas";
//!   the `RequestEntityTooLargeException` names the byte count). API Gateway puts the body into the
//!   proxy event; the template declares every media type binary (`BinaryMediaTypes: ["*/*"]`), so
//!   the body arrives base64-encoded: 4 bytes for every 3, whatever its content, where JSON escaping
//!   could double it. A body the event cannot hold never reaches the function: API Gateway answers
//!   for it, not us, so the API's own limit must stay below.
//! - Kinesis PutRecords: at most 500 records, each record's data plus partition key at most 1 MiB,
//!   the whole request (data plus partition keys) at most 5 MiB; a partition key 1 to 256 characters
//!   ("PutRecords", Kinesis Data Streams API reference).
//! - Kafka (MSK): librdkafka refuses a message whose key plus value plus its v2 record overhead
//!   (36 bytes) exceeds `message.max.bytes` (default 1,000,000) before it is sent; MSK's brokers take
//!   record batches up to 1,048,588 bytes (their default `message.max.bytes`), so the producer's limit
//!   is the lower one.

/// API Gateway REST API: the largest request payload, bytes.
pub const API_GATEWAY_MAX_PAYLOAD: usize = 10 * 1024 * 1024;
/// Lambda: the largest synchronous invocation request (the event), bytes.
pub const LAMBDA_SYNC_MAX_EVENT: usize = 6 * 1024 * 1024;
/// What the proxy event holds besides the body: request context, headers twice (`headers` and
/// `multiValueHeaders`; API Gateway caps a REST request's headers at 10,240 bytes), path and stage.
pub const EVENT_ENVELOPE_RESERVE: usize = 256 * 1024;

/// The ingest API's largest request body, bytes: its base64 plus the envelope fits Lambda's event.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Records in one request at most (PutRecords' limit; the Kafka path takes the same).
pub const MAX_RECORDS: usize = KINESIS_MAX_RECORDS;
/// How deep a record's arrays and objects may nest, the record itself the first level. The readers
/// of what we pass on stop far sooner than JSON does: CPython's `json` recurses (a
/// `RecursionError` near 1,000 levels), Jackson (Spark, Athena's JSON SerDes) refuses past its
/// `maxNestingDepth` (1,000 by default since 2.15), serde_json past 128. A post is flat (its
/// deepest real row nests one level); 64 leaves any sender room and every reader margin. The API
/// refuses a deeper record (422); both consumers quarantine it (`too_deep`).
pub const MAX_NESTING: usize = 64;

/// Kinesis: records in one PutRecords call at most.
pub const KINESIS_MAX_RECORDS: usize = 500;
/// Kinesis: one record's data plus its partition key (UTF-8 bytes) at most.
pub const KINESIS_MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Kinesis: one PutRecords call's data plus partition keys at most.
pub const KINESIS_MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;
/// Kinesis: characters of a partition key at most.
pub const KINESIS_MAX_PARTITION_KEY: usize = 256;

/// librdkafka's default `message.max.bytes` (the producer's limit; the ingest function keeps it).
pub const KAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;
/// librdkafka's allowance for a v2 record's framing, counted against `message.max.bytes`.
pub const KAFKA_RECORD_OVERHEAD: usize = 36;
/// Kafka: one message's key plus value at most.
pub const KAFKA_MAX_KEY_AND_VALUE: usize = KAFKA_MESSAGE_MAX_BYTES - KAFKA_RECORD_OVERHEAD;

/// The base64 length of `n` bytes.
pub const fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

// A body the API accepts reaches the function on AWS.
const _: () = assert!(base64_len(MAX_BODY_BYTES) + EVENT_ENVELOPE_RESERVE <= LAMBDA_SYNC_MAX_EVENT);
const _: () = assert!(MAX_BODY_BYTES <= API_GATEWAY_MAX_PAYLOAD);
// The records of a body the API accepts fit one PutRecords call: each record's data is at most its
// text in the body (base64 data decodes shorter), and its partition key (required) is in the body
// too.
const _: () = assert!(MAX_BODY_BYTES <= KINESIS_MAX_REQUEST_BYTES);
const _: () = assert!(MAX_RECORDS <= KINESIS_MAX_RECORDS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_body_fits_lambdas_event_with_room_for_the_envelope() {
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
        let event = base64_len(MAX_BODY_BYTES) + EVENT_ENVELOPE_RESERVE;
        assert!(event <= LAMBDA_SYNC_MAX_EVENT, "{event}");
        assert_eq!(LAMBDA_SYNC_MAX_EVENT, 6_291_456);
        assert_eq!(KAFKA_MAX_KEY_AND_VALUE, 999_964);
    }
}
