//! Every raw shape of spec §1.1 cleans to the same row as the source format
//! (../shared/data/variants: numbers as strings, `T` datetimes, Kafka REST consumer envelopes).

use std::collections::HashMap;

use pinpipe::Table;
use pinpipe::record::{CleanRow, Reason, clean};
use pinpipe::source::kafka_rest::parse_consumer_records;
use pinpipe_tests::{data_file, lines};

/// The clean rows of the real source rows, first arrival per ind.
fn source_rows(table: Table, text: &[String]) -> HashMap<i64, CleanRow<'static>> {
    let mut rows = HashMap::new();
    for line in text {
        let row = clean(table, line.as_bytes()).unwrap().row.into_owned();
        rows.entry(row.ind()).or_insert(row);
    }
    rows
}

#[test]
fn stringly_typed_rows_with_t_datetimes_clean_like_the_source_rows() {
    for table in Table::ALL {
        let source = lines(&format!("source-rows/{table}.jsonl"));
        let source = source_rows(table, &source);
        let variant = lines(&format!("variants/stringly-typed-iso-T-{table}.jsonl"));
        assert!(variant.len() > 100);
        let mut compared = 0;
        for line in &variant {
            let row = clean(table, line.as_bytes())
                .unwrap_or_else(|r| panic!("{table}: {line} rejected: {r}"))
                .row;
            if let Some(expected) = source.get(&row.ind()) {
                assert_eq!(&row, expected, "{table}: {line}");
                compared += 1;
            }
        }
        assert_eq!(
            compared,
            variant.len(),
            "every variant row is also a source row"
        );
    }
}

#[test]
fn kafka_rest_consumer_records_clean_like_the_source_rows() {
    for table in Table::ALL {
        let source = lines(&format!("source-rows/{table}.jsonl"));
        let source = source_rows(table, &source);
        let body = std::fs::read(data_file(&format!(
            "variants/kafka-rest-consumer-{table}.json"
        )))
        .unwrap();
        let records = parse_consumer_records(&body).unwrap();
        assert!(records.len() > 40, "{table}: {}", records.len());
        let (mut compared, mut rejected) = (0, Vec::new());
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.topic, format!("129a67850695.{table}"));
            assert_eq!(record.offset, records[0].offset + i as i64);
            match clean(table, record.value.get().as_bytes()) {
                Ok(cleaned) => {
                    if let Some(expected) = source.get(&cleaned.row.ind()) {
                        assert_eq!(&cleaned.row, expected);
                        compared += 1;
                    }
                }
                Err(rejection) => rejected.push((record.offset, rejection)),
            }
        }
        assert!(
            compared * 10 >= records.len() * 9,
            "{table}: {compared} of {}",
            records.len()
        );
        if table == Table::User {
            // a pin and a geo record were sent to the user topic: quarantined, not crashed on
            let got: Vec<_> = rejected
                .iter()
                .map(|(o, r)| (*o, r.reason, r.field))
                .collect();
            assert_eq!(
                got,
                [13, 14].map(|o| (o, Reason::MissingField, Some("date_joined")))
            );
        } else {
            assert!(rejected.is_empty(), "{table}: {rejected:?}");
        }
    }
}

#[test]
fn index_and_ind_are_the_same_id_in_every_table() {
    // the original emulator sends `index` for geo and user too
    for table in [Table::Geo, Table::User] {
        for line in lines(&format!("source-rows/{table}.jsonl")).iter().take(50) {
            let renamed = line.replacen("\"ind\":", "\"index\":", 1);
            assert_ne!(&renamed, line);
            assert_eq!(
                clean(table, renamed.as_bytes()).unwrap().row,
                clean(table, line.as_bytes()).unwrap().row
            );
        }
    }
}

/// What the original emulator's `json.dumps` makes of a source row: `index` first, `isoformat()`
/// datetimes, default separators, ASCII escapes — computed by Python itself.
const PYTHON_EMULATOR: &str = r#"
import json, sys
for line in sys.stdin:
    row = json.loads(line)
    out = {"index": row.pop("index", None) if "index" in row else row.pop("ind")}
    for k, v in row.items():
        out[k] = v.replace(" ", "T", 1) if k in ("timestamp", "date_joined") else v
    print(json.dumps(out))
"#;

#[test]
fn emulator_payloads_of_the_real_rows_are_byte_for_byte_what_python_json_dumps_writes() {
    use std::process::{Command, Stdio};
    for table in Table::ALL {
        let path = data_file(&format!("source-rows/{table}.jsonl"));
        let out = Command::new("python3")
            .args(["-c", PYTHON_EMULATOR])
            .stdin(std::fs::File::open(&path).unwrap())
            .stderr(Stdio::inherit())
            .output()
            .expect("python3");
        assert!(out.status.success());
        let expected: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        let ours: Vec<String> = lines(&format!("source-rows/{table}.jsonl"))
            .iter()
            .map(|l| {
                String::from_utf8(pinpipe::source::emulator_payload(table, l.as_bytes()).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(ours.len(), 2262);
        assert_eq!(ours, expected, "{table}");
        if table == Table::Pin {
            assert!(
                ours.iter().any(|l| l.contains("\\u")),
                "real pins have non-ASCII text"
            );
        }
    }
}
