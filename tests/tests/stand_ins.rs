//! The local stand-ins hold to what the AWS services guarantee, so that a green test means the
//! code is right, not that the stand-in was kind (or, as here, harsher than AWS in a way that makes
//! a correct test flaky).

use std::collections::HashSet;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use pinpipe_tests::Moto;
use pinpipe_tests::kinesis::{client, create_stream, unique_prefix};

/// Kinesis never loses a record it acknowledged. moto 5.2 numbers a shard's records without a
/// lock, so concurrent writers to one shard could share a sequence number and the later write
/// replaced the earlier one (the cause of the end-to-end test's 6,056 of 6,057 stream records);
/// `moto_server.py` makes shard writes atomic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_to_one_shard_keep_every_acknowledged_record() {
    // full PutRecords calls: moto copies a shard's keys for every record it numbers, so the race
    // window grows with the shard (20-record calls lost nothing in some runs; these lose ~4%)
    const WRITERS: usize = 8;
    const CALLS: usize = 8;
    const RECORDS: usize = 500;
    let kinesis = client(Moto::get()).await;
    let stream = format!("streaming-{}-pin", unique_prefix("race"));
    create_stream(&kinesis, &stream, 1).await;

    let writers = (0..WRITERS).map(|writer| {
        let (kinesis, stream) = (kinesis.clone(), stream.clone());
        tokio::spawn(async move {
            let mut sequence_numbers = Vec::new();
            for call in 0..CALLS {
                let entries = (0..RECORDS).map(|i| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(format!("{writer}-{call}-{i}")))
                        .partition_key("one-shard")
                        .build()
                        .unwrap()
                });
                let answer = kinesis
                    .put_records()
                    .stream_name(&stream)
                    .set_records(Some(entries.collect()))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.failed_record_count(), Some(0));
                sequence_numbers.extend(
                    answer
                        .records()
                        .iter()
                        .map(|r| r.sequence_number().unwrap().to_owned()),
                );
            }
            sequence_numbers
        })
    });
    let mut acknowledged = Vec::new();
    for writer in writers.collect::<Vec<_>>() {
        acknowledged.extend(writer.await.unwrap());
    }
    let total = WRITERS * CALLS * RECORDS;
    assert_eq!(acknowledged.len(), total);
    let distinct: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(
        distinct.len(),
        total,
        "each acknowledged record has its own number"
    );

    let shard = kinesis
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_owned();
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_name(&stream)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_owned);
    let mut readable = HashSet::new();
    while let Some(it) = iterator {
        let answer = kinesis
            .get_records()
            .shard_iterator(it)
            .limit(10_000)
            .send()
            .await
            .unwrap();
        if answer.records().is_empty() {
            break;
        }
        readable.extend(answer.records().iter().map(|r| r.data().as_ref().to_vec()));
        iterator = answer.next_shard_iterator().map(str::to_owned);
    }
    assert_eq!(
        readable.len(),
        total,
        "every acknowledged record is readable"
    );
}
