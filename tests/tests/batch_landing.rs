//! The batch path's landing (`msk-consumer`'s work): a topic partition's Kafka records land in the raw
//! zone as received, in immutable objects; values that are not JSON objects go to the quarantine —
//! each exactly once, however often the batch is delivered. On a local path and on moto S3.

use pinpipe::config::AwsConfig;
use pinpipe::lake::{RawZone, Warehouse, sql};
use pinpipe::landing::{KafkaRecord, Lander, PartitionBatch};
use pinpipe::routes::TopicRoutes;
use pinpipe_tests::{Moto, TempDir, lines};
use serde_json::Value;

fn backends(label: &str) -> Vec<(&'static str, TempDir, Warehouse)> {
    let moto = Moto::get();
    let local = TempDir::new(label);
    let local_wh = Warehouse::open(
        local.path().join("warehouse").to_str().unwrap(),
        &AwsConfig::default(),
    )
    .unwrap();
    let s3 = Warehouse::open(&format!("s3://{}/lake", moto.bucket(label)), &moto.aws()).unwrap();
    vec![("local", local, local_wh), ("s3", TempDir::new(label), s3)]
}

/// A real row with a key whose arrays nest one level deeper than a record may (65, the record the
/// first).
fn too_deep(row: &str) -> Vec<u8> {
    let open = row.trim_end().strip_suffix('}').unwrap();
    format!(r#"{open}, "x": {}1{}}}"#, "[".repeat(64), "]".repeat(64)).into_bytes()
}

/// Offsets 0..n: real geo rows, except a truncated JSON at 2, an array at 5, no value at 6 and a
/// row nested too deep at 7.
fn batch(n: usize) -> PartitionBatch {
    let rows = lines("source-rows/geo.jsonl");
    let records = (0..n)
        .map(|i| KafkaRecord {
            offset: i as i64,
            value: match i {
                2 => Some(b"{\"ind\": 1, \"country\": ".to_vec()),
                5 => Some(b"[1, 2]".to_vec()),
                6 => None,
                7 => Some(too_deep(&rows[i])),
                _ => Some(rows[i].clone().into_bytes()),
            },
        })
        .collect();
    PartitionBatch {
        topic: "12471ce1b695.geo".into(),
        partition: 3,
        records,
    }
}

async fn quarantine_reasons(warehouse: &Warehouse) -> Vec<(i64, String)> {
    let (ctx, _) = sql::session(warehouse).await.unwrap();
    let batches = sql::query(
        &ctx,
        "SELECT \"offset\", reason FROM quarantine ORDER BY \"offset\"",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    sql::write_jsonl(&batches, &mut out).unwrap();
    std::str::from_utf8(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["offset"].as_i64().unwrap(),
                v["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_land_as_received_and_bad_values_are_quarantined_once_however_often_delivered() {
    let rows = lines("source-rows/geo.jsonl");
    for (backend, _dir, warehouse) in backends("landing") {
        let mut lander = Lander::new(warehouse.clone(), TopicRoutes::default()).unwrap();
        let now = chrono::Utc::now();

        let first = lander.land(&batch(8), now).await.unwrap();
        assert_eq!(
            (first.landed, first.found, first.quarantined),
            (4, 0, 4),
            "{backend}"
        );
        assert_eq!(first.objects, [RawZone::key("12471ce1b695.geo", 3, 0)]);
        let expected = [
            (2, "not_json"),
            (5, "not_object"),
            (6, "not_json"),
            (7, "too_deep"),
        ]
        .map(|(o, r)| (o, r.to_owned()))
        .to_vec();
        assert_eq!(quarantine_reasons(&warehouse).await, expected, "{backend}");

        // the same batch again, then a longer one from the same offset
        let again = lander.land(&batch(8), now).await.unwrap();
        assert_eq!(
            (again.landed, again.found, again.quarantined),
            (0, 4, 0),
            "{backend}"
        );
        let longer = lander.land(&batch(12), now).await.unwrap();
        assert_eq!(
            (longer.landed, longer.found, longer.quarantined),
            (4, 4, 0),
            "{backend}"
        );
        assert_eq!(longer.objects, [RawZone::key("12471ce1b695.geo", 3, 8)]);
        assert_eq!(
            quarantine_reasons(&warehouse).await,
            expected,
            "{backend}: once"
        );

        let zone = RawZone::new(&warehouse).unwrap();
        let mut landed = Vec::new();
        for object in zone.list("12471ce1b695.geo").await.unwrap() {
            landed.extend(zone.get(&object.key).await.unwrap());
        }
        let good: Vec<&str> = (0..12)
            .filter(|i| ![2, 5, 6, 7].contains(i))
            .map(|i| rows[i].as_str())
            .collect();
        assert_eq!(
            String::from_utf8(landed).unwrap(),
            format!("{}\n", good.join("\n")),
            "{backend}: every good record once, as received, in offset order"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_topic_is_an_error_for_a_retry_and_lands_nothing() {
    let dir = TempDir::new("landing-unknown");
    let warehouse = Warehouse::open(dir.path().to_str().unwrap(), &AwsConfig::default()).unwrap();
    let mut lander = Lander::new(warehouse.clone(), TopicRoutes::default()).unwrap();
    let mut unknown = batch(3);
    unknown.topic = "clicks".into();
    let error = lander.land(&unknown, chrono::Utc::now()).await.unwrap_err();
    assert!(error.to_string().contains("clicks"), "{error}");
    assert!(
        RawZone::new(&warehouse)
            .unwrap()
            .list("clicks")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_is_a_kafka_event_the_msk_consumer_takes_without_failures() {
    let dir = TempDir::new("landing-events");
    let uri = dir.path().join("warehouse").display().to_string();
    let config = pinpipe::config::MskConsumerConfig {
        warehouse: uri.clone(),
        routes: TopicRoutes::default(),
        metrics: pinpipe::metrics::Emf::Off,
        aws: AwsConfig::default(),
    };
    let state = msk_consumer::State::new(&config).unwrap();
    let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/msk-consumer");
    for name in ["geo.json", "pin.json", "poison.json", "user.json"] {
        let event: Value =
            serde_json::from_slice(&std::fs::read(events.join(name)).unwrap()).unwrap();
        let answer =
            pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&state, e), event.clone())
                .await
                .unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"batchItemFailures": []}),
            "{name}"
        );
        // delivered twice: the same answer, nothing new
        assert_eq!(
            pinpipe_local::invoke::call_json(|e| msk_consumer::handle(&state, e), event)
                .await
                .unwrap(),
            answer
        );
    }
    let warehouse = Warehouse::open(&uri, &AwsConfig::default()).unwrap();
    let zone = RawZone::new(&warehouse).unwrap();
    let mut user_lines = 0;
    for object in zone.list("12471ce1b695.user").await.unwrap() {
        user_lines += zone
            .get(&object.key)
            .await
            .unwrap()
            .iter()
            .filter(|b| **b == b'\n')
            .count();
    }
    assert_eq!(
        user_lines,
        5 + 2,
        "user.json's 5 and poison.json's 2 good records, once"
    );
    let reasons: Vec<String> = quarantine_reasons(&warehouse)
        .await
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(reasons, ["not_json", "not_object", "not_json"]);
}
