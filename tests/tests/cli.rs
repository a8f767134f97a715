//! The `pinpipe` command as a user runs it (its real entry point, in-process): generate, then
//! clean, through files and standard streams.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use pinpipe_tests::{Run, TempDir, data_file, pinpipe};
use serde_json::Value;

fn run(args: &[&str], stdin: &[u8]) -> Run {
    let out = pinpipe(args, stdin);
    assert!(
        out.success,
        "pinpipe {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn clean_reads_stdin_writes_stdout_and_summarises_on_stderr() {
    let raw = std::fs::read(data_file("source-rows/pin.jsonl")).unwrap();
    let out = run(&["clean", "--table", "pin"], &raw);
    let rows = json_lines(&out.stdout);
    assert_eq!(rows.len(), 2019);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("pin: read 2262, clean 2019, fields nulled "),
        "{stderr}"
    );
    assert!(stderr.contains("follower_count 15"), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("rejected 0, duplicates dropped 243"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    let first = &rows[0];
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 12);
    assert_eq!(first["ind"], 7528);
}

#[test]
fn clean_quarantines_bad_lines_with_reason_line_and_raw_bytes_and_keeps_going() {
    let dir = TempDir::new("rejects");
    let good = br#"{"ind": 1, "timestamp": "2020-08-28 03:52:47", "latitude": 1.5, "longitude": 2, "country": "Chad"}"#;
    let bad: [&[u8]; 4] = [
        b"{\"ind\": 2, \"country\": \"\xff\xfe\"}",
        b"{\"ind\": 3, \"latitude\": ",
        b"[\"an\", \"array\"]",
        br#"{"ind": 4, "timestamp": "2020-08-28 03:52:47", "latitude": 91, "longitude": 2}"#,
    ];
    let mut input = Vec::new();
    for line in [
        good.as_slice(),
        bad[0],
        b"",
        bad[1],
        bad[2],
        bad[3],
        good.as_slice(),
    ] {
        input.extend_from_slice(line);
        input.extend_from_slice(b"\r\n");
    }
    let input_path = dir.path().join("geo.jsonl");
    std::fs::write(&input_path, &input).unwrap();
    let (output, rejects) = (
        dir.path().join("clean.jsonl"),
        dir.path().join("rejects.jsonl"),
    );
    let out = run(
        &[
            "clean",
            "--table",
            "geo",
            "--input",
            input_path.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        b"",
    );
    let rows = json_lines(&std::fs::read(&output).unwrap());
    assert_eq!(rows.len(), 1, "the second good line is a duplicate");
    assert_eq!(rows[0]["coordinates"], serde_json::json!([1.5, 2.0]));
    let rejected = json_lines(&std::fs::read(&rejects).unwrap());
    let got: Vec<(&str, i64)> = rejected
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["line"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("not_utf8", 2),
            ("not_json", 4),
            ("not_object", 5),
            ("out_of_range", 6)
        ]
    );
    for (record, raw) in rejected.iter().zip(bad) {
        assert_eq!(
            BASE64
                .decode(record["raw_base64"].as_str().unwrap())
                .unwrap(),
            raw
        );
        assert_eq!(record["table"], "geo");
        assert_eq!(record["source"], "file");
        assert!(record["rejected_at"].as_str().unwrap().ends_with('Z'));
        assert!(!record["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(rejected[3]["field"], "latitude");
    assert_eq!(rejected[3]["ind"], 4);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("read 6, clean 1"), "{stderr}");
    assert!(
        stderr.contains("rejected 4 (not_utf8 1, not_json 1, not_object 1, out_of_range 1)"),
        "{stderr}"
    );
    assert!(stderr.contains("duplicates dropped 1"), "{stderr}");
}

#[test]
fn clean_reads_kafka_rest_consumer_answers_and_names_offsets_of_rejects() {
    let raw = std::fs::read(data_file("variants/kafka-rest-consumer-user.json")).unwrap();
    let out = run(
        &["clean", "--table", "user", "--input-format", "kafka-rest"],
        &raw,
    );
    let rejected: Vec<Value> =
        json_lines(&out.stderr[..out.stderr.len() - last_line_len(&out.stderr)]);
    let offsets: Vec<i64> = rejected
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [13, 14]);
    assert!(
        rejected
            .iter()
            .all(|r| r["source"] == "kafka" && r["topic"] == "129a67850695.user")
    );
    assert!(!json_lines(&out.stdout).is_empty());
}

/// Length of the summary line at the end of stderr (after the rejection lines).
fn last_line_len(bytes: &[u8]) -> usize {
    let trimmed = &bytes[..bytes.len() - 1];
    bytes.len()
        - trimmed
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
}

#[test]
fn generate_is_byte_identical_for_a_seed_and_cleans_to_one_row_per_distinct_post() {
    let dir = TempDir::new("generate");
    let gen_into = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        run(
            &[
                "generate",
                "--posts",
                "3000",
                "--seed",
                seed,
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        );
        out
    };
    let (a, b, c) = (gen_into("a", "9"), gen_into("b", "9"), gen_into("c", "10"));
    let mut distinct = None;
    for table in ["pin", "geo", "user"] {
        let file = format!("{table}.jsonl");
        let bytes = std::fs::read(a.join(&file)).unwrap();
        assert_eq!(bytes, std::fs::read(b.join(&file)).unwrap(), "{table}");
        assert_ne!(bytes, std::fs::read(c.join(&file)).unwrap(), "{table}");
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 3000);
        let out = run(&["clean", "--table", table], &bytes);
        let rows = json_lines(&out.stdout).len();
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .contains("rejected 0,")
        );
        assert!((2500..3000).contains(&rows), "{rows}");
        assert_eq!(
            *distinct.get_or_insert(rows),
            rows,
            "every table has one row per distinct post"
        );
    }
}

#[test]
fn unknown_tables_are_refused_with_the_choices() {
    let out = pinpipe(&["clean", "--table", "pins"], b"");
    assert!(!out.success);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("expected one of pin, geo, user"),
        "{stderr}"
    );
}

#[test]
fn a_missing_input_file_is_named_in_the_error() {
    let out = pinpipe(
        &[
            "clean",
            "--table",
            "geo",
            "--input",
            "/nonexistent/geo.jsonl",
        ],
        b"",
    );
    assert!(!out.success);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("pinpipe: /nonexistent/geo.jsonl: "),
        "{stderr}"
    );
}

#[test]
fn a_source_dump_line_that_is_not_a_row_is_named_by_file_and_line_with_the_parser_error_kept() {
    use std::error::Error as _;
    let dir = TempDir::new("bad-dump");
    for table in ["pin", "geo", "user"] {
        let from = data_file(&format!("source-rows/{table}.jsonl"));
        std::fs::copy(from, dir.path().join(format!("{table}.jsonl"))).unwrap();
    }
    let geo = dir.path().join("geo.jsonl");
    let mut text = std::fs::read_to_string(&geo).unwrap();
    let second = text.find('\n').unwrap() + 1;
    text.insert_str(second, "{\"ind\": \"not a number\"}\n");
    std::fs::write(&geo, text).unwrap();

    let err = pinpipe::jsonl::read_source_files(dir.path()).expect_err("line 2 is not a geo row");
    assert!(
        err.to_string()
            .starts_with(&format!("not a source row: {}:2: ", geo.display())),
        "{err}"
    );
    let source = err.source().expect("the parser's error is kept");
    assert!(
        source.downcast_ref::<serde_json::Error>().is_some(),
        "{source:?}"
    );
}
