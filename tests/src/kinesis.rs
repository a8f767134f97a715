//! Kinesis on the moto server: streams with unique names, records put in order.

use pinpipe_local::kinesis::Invoke;
use serde_json::Value;

use crate::Moto;

/// A unique stream-name prefix: streams are `streaming-<prefix>-<table>`.
pub fn unique_prefix(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{label}{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn client(moto: &Moto) -> aws_sdk_kinesis::Client {
    pinpipe::kinesis::kinesis_client(&moto.aws()).await
}

pub async fn create_stream(client: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
}

/// Puts `payloads` in order (PutRecords, 500 at a time; one partition key per call keeps a
/// multi-shard stream's order per key).
pub async fn put_all(client: &aws_sdk_kinesis::Client, stream: &str, payloads: &[Vec<u8>]) {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    for (n, chunk) in payloads.chunks(500).enumerate() {
        let entries: Vec<PutRecordsRequestEntry> = chunk
            .iter()
            .map(|p| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(p.clone()))
                    .partition_key(format!("k{n}"))
                    .build()
                    .expect("entry")
            })
            .collect();
        let answer = client
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .expect("put records");
        assert_eq!(answer.failed_record_count(), Some(0), "no entry throttled");
    }
}

/// The kinesis-consumer handler in this process, as the runner's function.
pub struct InProcess(pub kinesis_consumer::State);

impl Invoke for InProcess {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        pinpipe_local::invoke::call_json(|e| kinesis_consumer::handle(&self.0, e), event)
            .await
            .map_err(|e| e.to_string())
    }
}
