//! Table-driven tests of every §2 rule, §1.2 placeholder, §1.1 variant and rejection reason.
//! Each case is raw JSON in, and the clean row (as `pinpipe clean` prints it) or a reason out.

use serde_json::{Value, json};

use super::*;
use crate::Table;

/// A full, clean-as-sent pin record; cases override fields of it.
fn pin(overrides: Value) -> String {
    let mut base = json!({
        "index": 2863, "unique_id": "9bf39437-42a6-4f02-99a0-9a0383d8cd70",
        "title": "Summer Crafts", "description": "Keep the kids busy.",
        "poster_name": "Of Life & Lisa", "follower_count": "124k",
        "tag_list": "Summer,Kids", "is_image_or_video": "image",
        "image_src": "https://i.pinimg.com/originals/b3/x.jpg", "downloaded": 1,
        "save_location": "Local save in /data/diy-and-crafts", "category": "diy-and-crafts"
    });
    merge(&mut base, overrides);
    base.to_string()
}

fn geo(overrides: Value) -> String {
    let mut base = json!({"ind": 7528, "timestamp": "2020-08-28 03:52:47",
                          "latitude": -89.9787, "longitude": -173.293, "country": "Albania"});
    merge(&mut base, overrides);
    base.to_string()
}

fn user(overrides: Value) -> String {
    let mut base = json!({"ind": 7528, "first_name": "Abigail", "last_name": "Ali",
                          "age": 20, "date_joined": "2015-10-24 11:23:51"});
    merge(&mut base, overrides);
    base.to_string()
}

/// Sets the override's keys; a key set to the string "<absent>" is removed.
fn merge(base: &mut Value, overrides: Value) {
    let obj = base.as_object_mut().unwrap();
    for (k, v) in overrides.as_object().unwrap() {
        if v == "<absent>" {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
}

/// Cleans `raw` and returns (the clean column `column`, whether cleaning nulled it).
fn column(table: Table, raw: &str, column: &str) -> (Value, bool) {
    let cleaned =
        clean(table, raw.as_bytes()).unwrap_or_else(|r| panic!("{raw} was rejected: {r}"));
    let row = serde_json::to_value(&cleaned.row).unwrap();
    let index = table.columns().iter().position(|c| *c == column).unwrap();
    (row[column].clone(), cleaned.nulled.contains(index))
}

fn check_column(table: Table, column_name: &str, cases: &[(String, Value)]) {
    for (raw, want) in cases {
        let (got, _) = column(table, raw, column_name);
        assert_eq!(&got, want, "{table}.{column_name} from {raw}");
    }
}

#[test]
fn pin_text_placeholders_and_blanks_become_null_and_are_counted_as_nulled() {
    let cases = [
        ("title", json!("No Title Data Available")),
        ("title", json!("")),
        ("title", json!("   ")),
        (
            "description",
            json!("No description available Story format"),
        ),
        ("description", json!("No description available")),
        ("description", json!("\u{a0}")),
        ("poster_name", json!("User Info Error")),
        ("tag_list", json!("N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e")),
        ("image_src", json!("Image src error.")),
        ("image_src", json!("")),
        ("unique_id", json!("")),
        ("category", json!(" ")),
        ("is_image_or_video", json!("")),
        ("follower_count", json!("User Info Error")),
        ("follower_count", json!("")),
        ("follower_count", json!("lots")),
        ("downloaded", json!("yes")),
        ("downloaded", json!(2)),
        ("save_location", json!("Local save in ")),
        ("title", json!({"nested": true})),
    ];
    for (field, value) in cases {
        let raw = pin(json!({ field: value }));
        let (got, nulled) = column(Table::Pin, &raw, field);
        assert_eq!(got, Value::Null, "{field} = {value}");
        assert!(nulled, "{field} = {value} should count as nulled");
    }
}

#[test]
fn pin_missing_or_null_fields_are_null_but_not_counted_as_nulled() {
    for field in [
        "title",
        "description",
        "follower_count",
        "downloaded",
        "image_src",
    ] {
        for raw in [
            pin(json!({ field: "<absent>" })),
            pin(json!({ field: null })),
        ] {
            let (got, nulled) = column(Table::Pin, &raw, field);
            assert_eq!(got, Value::Null, "{raw}");
            assert!(!nulled, "{raw}");
        }
    }
}

#[test]
fn pin_real_content_that_looks_thin_is_kept_as_sent() {
    let cases = [
        ("title", json!("Untitled")),
        ("description", json!("Art.")),
        ("description", json!("Creative and…\u{a0}")),
        ("title", json!("trailing space ")),
        ("title", json!("Новогодний декор 🎄")),
        ("poster_name", json!("User Info")),
        ("is_image_or_video", json!("multi-video(story page format)")),
        ("tag_list", json!("No Tags Available")),
    ];
    for (field, value) in cases {
        let (got, nulled) = column(Table::Pin, &pin(json!({ field: value.clone() })), field);
        assert_eq!(got, value, "{field}");
        assert!(!nulled);
    }
}

#[test]
fn pin_placeholders_match_with_surrounding_white_space() {
    let (got, _) = column(
        Table::Pin,
        &pin(json!({"poster_name": " User Info Error "})),
        "poster_name",
    );
    assert_eq!(got, Value::Null);
}

#[test]
fn pin_follower_count_reads_display_shapes_numbers_and_strings() {
    let cases: Vec<(String, Value)> = [
        (json!("124k"), json!(124000)),
        (json!("1.2k"), json!(1200)),
        (json!("15M"), json!(15000000)),
        (json!("2B"), json!(2000000000)),
        (json!("0"), json!(0)),
        (json!("1,234"), json!(1234)),
        (json!(437), json!(437)),
        (json!(-5), Value::Null),
        (json!(true), Value::Null),
    ]
    .into_iter()
    .map(|(v, want)| (pin(json!({ "follower_count": v })), want))
    .collect();
    check_column(Table::Pin, "follower_count", &cases);
}

#[test]
fn pin_downloaded_accepts_numbers_strings_and_booleans() {
    let cases: Vec<(String, Value)> = [
        (json!(1), json!(true)),
        (json!(0), json!(false)),
        (json!("1"), json!(true)),
        (json!("0"), json!(false)),
        (json!(true), json!(true)),
        (json!(false), json!(false)),
        (json!("true"), json!(true)),
        (json!("false"), json!(false)),
        (json!(1.0), Value::Null),
        (json!("no"), Value::Null),
    ]
    .into_iter()
    .map(|(v, want)| (pin(json!({ "downloaded": v })), want))
    .collect();
    check_column(Table::Pin, "downloaded", &cases);
}

#[test]
fn pin_save_location_loses_its_prefix_and_keeps_other_paths() {
    let cases: Vec<(String, Value)> = [
        (json!("Local save in /data/art"), json!("/data/art")),
        (json!("/data/art"), json!("/data/art")),
        (json!("Saved in /data/art"), json!("Saved in /data/art")),
    ]
    .into_iter()
    .map(|(v, want)| (pin(json!({ "save_location": v })), want))
    .collect();
    check_column(Table::Pin, "save_location", &cases);
}

#[test]
fn pin_clean_row_has_every_column_in_spec_order() {
    let raw = pin(json!({}));
    let cleaned = clean(Table::Pin, raw.as_bytes()).unwrap();
    let text = serde_json::to_string(&cleaned.row).unwrap();
    assert_eq!(
        text,
        r#"{"ind":2863,"unique_id":"9bf39437-42a6-4f02-99a0-9a0383d8cd70","title":"Summer Crafts","description":"Keep the kids busy.","follower_count":124000,"poster_name":"Of Life & Lisa","tag_list":"Summer,Kids","is_image_or_video":"image","image_src":"https://i.pinimg.com/originals/b3/x.jpg","save_location":"/data/diy-and-crafts","category":"diy-and-crafts","downloaded":true}"#
    );
    assert!(cleaned.nulled.is_empty());
}

#[test]
fn text_fields_sent_as_numbers_or_booleans_become_their_text() {
    let (got, _) = column(Table::Pin, &pin(json!({"title": 2020})), "title");
    assert_eq!(got, json!("2020"));
    let (got, _) = column(Table::Pin, &pin(json!({"category": true})), "category");
    assert_eq!(got, json!("true"));
}

#[test]
fn ind_comes_from_index_or_ind_as_number_or_integer_string() {
    for raw in [
        r#"{"ind": 2418, "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"index": 2418, "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"ind": "2418", "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"index": " 2418 ", "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"index": 2418, "ind": "2418", "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"ind": "+2418", "date_joined": "2015-10-24 11:23:51"}"#,
    ] {
        let cleaned = clean(Table::User, raw.as_bytes()).unwrap();
        assert_eq!(cleaned.row.ind(), 2418, "{raw}");
    }
}

#[test]
fn each_rejection_reason_names_the_record_and_field() {
    let not_utf8: &[u8] = b"{\"ind\": 1, \"country\": \"\xc3\x28\"}";
    let cases: Vec<(Table, Vec<u8>, Reason, Option<&str>)> = vec![
        (Table::Geo, not_utf8.to_vec(), Reason::NotUtf8, None),
        (Table::Geo, b"{\"ind\": 1,".to_vec(), Reason::NotJson, None),
        (Table::Geo, b"".to_vec(), Reason::NotJson, None),
        (
            Table::Geo,
            b"{\"ind\": 1} x".to_vec(),
            Reason::NotJson,
            None,
        ),
        (Table::Geo, b"[1, 2]".to_vec(), Reason::NotObject, None),
        (Table::Geo, b"\"text\"".to_vec(), Reason::NotObject, None),
        (Table::Geo, b"42".to_vec(), Reason::NotObject, None),
        (
            Table::Geo,
            format!(r#"{{"ind": 1, "x": {}1{}}}"#, "[".repeat(64), "]".repeat(64)).into_bytes(),
            Reason::TooDeep,
            None,
        ),
        (
            Table::Pin,
            pin(json!({"index": "<absent>"})).into(),
            Reason::MissingInd,
            Some("ind"),
        ),
        (
            Table::Pin,
            pin(json!({"index": null})).into(),
            Reason::MissingInd,
            Some("ind"),
        ),
        (
            Table::Pin,
            pin(json!({"index": "abc"})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"index": 12.5})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"index": 12.0})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"index": ""})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"index": u64::MAX})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"index": [1]})).into(),
            Reason::InvalidInd,
            Some("index"),
        ),
        (
            Table::Pin,
            pin(json!({"ind": 7})).into(),
            Reason::ConflictingInd,
            Some("ind"),
        ),
        (
            Table::Geo,
            br#"{"ind": 1, "ind": 2, "timestamp": "2020-08-28 03:52:47", "latitude": 1, "longitude": 2, "country": "Albania"}"#.to_vec(),
            Reason::DuplicateKey,
            Some("ind"),
        ),
        (
            Table::Geo,
            geo(json!({"latitude": "<absent>"})).into(),
            Reason::MissingField,
            Some("latitude"),
        ),
        (
            Table::Geo,
            geo(json!({"longitude": null})).into(),
            Reason::MissingField,
            Some("longitude"),
        ),
        (
            Table::Geo,
            geo(json!({"latitude": "north"})).into(),
            Reason::InvalidField,
            Some("latitude"),
        ),
        (
            Table::Geo,
            geo(json!({"latitude": "NaN"})).into(),
            Reason::InvalidField,
            Some("latitude"),
        ),
        (
            Table::Geo,
            geo(json!({"longitude": true})).into(),
            Reason::InvalidField,
            Some("longitude"),
        ),
        (
            Table::Geo,
            geo(json!({"latitude": 90.5})).into(),
            Reason::OutOfRange,
            Some("latitude"),
        ),
        (
            Table::Geo,
            geo(json!({"latitude": "-91"})).into(),
            Reason::OutOfRange,
            Some("latitude"),
        ),
        (
            Table::Geo,
            geo(json!({"longitude": 180.0001})).into(),
            Reason::OutOfRange,
            Some("longitude"),
        ),
        (
            Table::Geo,
            geo(json!({"longitude": "inf"})).into(),
            Reason::OutOfRange,
            Some("longitude"),
        ),
        (
            Table::Geo,
            geo(json!({"timestamp": "<absent>"})).into(),
            Reason::MissingField,
            Some("timestamp"),
        ),
        (
            Table::Geo,
            geo(json!({"timestamp": "28/08/2020"})).into(),
            Reason::InvalidField,
            Some("timestamp"),
        ),
        (
            Table::Geo,
            geo(json!({"timestamp": 1598586767})).into(),
            Reason::InvalidField,
            Some("timestamp"),
        ),
        (
            Table::User,
            user(json!({"date_joined": null})).into(),
            Reason::MissingField,
            Some("date_joined"),
        ),
        (
            Table::User,
            user(json!({"date_joined": "2015-13-01 00:00:00"})).into(),
            Reason::InvalidField,
            Some("date_joined"),
        ),
    ];
    let covered: std::collections::HashSet<Reason> = cases.iter().map(|c| c.2).collect();
    assert_eq!(covered.len(), Reason::ALL.len(), "every reason has a case");
    for (table, raw, reason, field) in cases {
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let rejection = clean(table, &raw).expect_err(&shown);
        assert_eq!(rejection.reason, reason, "{shown}: {rejection}");
        assert_eq!(rejection.field, field, "{shown}");
        assert_eq!(rejection.table, table);
        assert!(
            rejection.message.starts_with(table.name()),
            "{}",
            rejection.message
        );
        if let Some(field) = field {
            assert!(rejection.message.contains(field), "{}", rejection.message);
        }
    }
}

#[test]
fn a_known_key_sent_twice_is_rejected_even_with_equal_values_and_unknown_keys_may_repeat() {
    let twice =
        r#"{"ind": 5, "first_name": "A", "first_name": "A", "date_joined": "2015-10-24 11:23:51"}"#;
    let r = clean(Table::User, twice.as_bytes()).unwrap_err();
    assert_eq!(
        (r.reason, r.field, r.ind),
        (Reason::DuplicateKey, Some("first_name"), Some(5))
    );
    let index_and_ind_twice =
        r#"{"index": 5, "ind": 5, "index": 5, "date_joined": "2015-10-24 11:23:51"}"#;
    let r = clean(Table::User, index_and_ind_twice.as_bytes()).unwrap_err();
    assert_eq!(
        (r.reason, r.field, r.ind),
        (Reason::DuplicateKey, Some("index"), None)
    );
    let unknown_twice = r#"{"ind": 5, "x": 1, "x": 2, "date_joined": "2015-10-24 11:23:51"}"#;
    assert_eq!(
        clean(Table::User, unknown_twice.as_bytes())
            .unwrap()
            .unknown_keys,
        2
    );
}

#[test]
fn a_negative_ind_is_an_integer_and_a_fraction_is_not_even_when_it_is_zero() {
    for raw in [
        r#"{"ind": -7, "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"index": "-7", "date_joined": "2015-10-24 11:23:51"}"#,
    ] {
        assert_eq!(
            clean(Table::User, raw.as_bytes()).unwrap().row.ind(),
            -7,
            "{raw}"
        );
    }
    for raw in [
        r#"{"ind": 1.0, "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"ind": "1.0", "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"ind": 1e3, "date_joined": "2015-10-24 11:23:51"}"#,
        r#"{"ind": -0.0, "date_joined": "2015-10-24 11:23:51"}"#,
    ] {
        let r = clean(Table::User, raw.as_bytes()).unwrap_err();
        assert_eq!(r.reason, Reason::InvalidInd, "{raw}");
    }
}

#[test]
fn rejections_after_ind_carry_the_ind() {
    let r = clean(Table::Geo, geo(json!({"latitude": 95})).as_bytes()).unwrap_err();
    assert_eq!(r.ind, Some(7528));
    assert!(r.message.contains("7528"), "{}", r.message);
}

#[test]
fn geo_coordinates_are_latitude_then_longitude_from_numbers_or_strings() {
    let cases: Vec<(String, Value)> = vec![
        (geo(json!({})), json!([-89.9787, -173.293])),
        (
            geo(json!({"latitude": "-88.4642", "longitude": "-171.061"})),
            json!([-88.4642, -171.061]),
        ),
        (
            geo(json!({"latitude": 13, "longitude": " 51.7244 "})),
            json!([13.0, 51.7244]),
        ),
        (
            geo(json!({"latitude": 90, "longitude": -180})),
            json!([90.0, -180.0]),
        ),
        (
            geo(json!({"latitude": "1e1", "longitude": 0})),
            json!([10.0, 0.0]),
        ),
    ];
    check_column(Table::Geo, "coordinates", &cases);
}

#[test]
fn geo_country_is_trimmed_and_blank_is_null() {
    let cases: Vec<(String, Value)> = vec![
        (geo(json!({"country": " Chad\u{a0}"})), json!("Chad")),
        (
            geo(json!({"country": "Antarctica (the territory South of 60 deg S)"})),
            json!("Antarctica (the territory South of 60 deg S)"),
        ),
        (geo(json!({"country": ""})), Value::Null),
        (geo(json!({"country": "<absent>"})), Value::Null),
    ];
    check_column(Table::Geo, "country", &cases);
    assert!(column(Table::Geo, &geo(json!({"country": " "})), "country").1);
}

#[test]
fn geo_timestamp_accepts_every_sender_format_as_utc() {
    for ts in [
        "2020-08-28 03:52:47",
        "2020-08-28T03:52:47",
        "2020-08-28T03:52:47Z",
        "2020-08-28T03:52:47+00:00",
        "2020-08-28T03:52:47.000",
        "2020-08-28T04:52:47+01:00",
    ] {
        let (got, _) = column(Table::Geo, &geo(json!({ "timestamp": ts })), "timestamp");
        assert_eq!(got, json!("2020-08-28T03:52:47Z"), "{ts}");
    }
}

#[test]
fn user_name_joins_trimmed_first_and_last_or_keeps_the_one_present() {
    let cases: Vec<(String, Value)> = vec![
        (user(json!({})), json!("Abigail Ali")),
        (
            user(json!({"first_name": " Abigail ", "last_name": "Ali "})),
            json!("Abigail Ali"),
        ),
        (user(json!({"last_name": "<absent>"})), json!("Abigail")),
        (user(json!({"first_name": ""})), json!("Ali")),
        (
            user(json!({"first_name": null, "last_name": "  "})),
            Value::Null,
        ),
        (
            user(json!({"first_name": "<absent>", "last_name": "<absent>"})),
            Value::Null,
        ),
    ];
    check_column(Table::User, "user_name", &cases);
    assert!(
        column(
            Table::User,
            &user(json!({"first_name": "", "last_name": ""})),
            "user_name"
        )
        .1
    );
    assert!(
        !column(
            Table::User,
            &user(json!({"first_name": null, "last_name": null})),
            "user_name"
        )
        .1
    );
}

#[test]
fn user_age_is_an_integer_from_0_to_130() {
    let cases: Vec<(String, Value)> = [
        (json!(20), json!(20)),
        (json!("27"), json!(27)),
        (json!(0), json!(0)),
        (json!(130), json!(130)),
        (json!(131), Value::Null),
        (json!(-1), Value::Null),
        (json!("twenty"), Value::Null),
        (json!(20.5), Value::Null),
        (json!(null), Value::Null),
    ]
    .into_iter()
    .map(|(v, want)| (user(json!({ "age": v })), want))
    .collect();
    check_column(Table::User, "age", &cases);
}

#[test]
fn unknown_keys_are_ignored_and_counted() {
    let raw = user(json!({"extra": 1, "other": [2]}));
    let cleaned = clean(Table::User, raw.as_bytes()).unwrap();
    assert_eq!(cleaned.unknown_keys, 2);
    let keys_in_any_order = r#"{"date_joined": "2015-10-24 11:23:51", "age": 20, "last_name": "Ali", "first_name": "Abigail", "ind": 7528}"#;
    assert_eq!(
        clean(Table::User, keys_in_any_order.as_bytes())
            .unwrap()
            .row,
        clean(Table::User, user(json!({})).as_bytes()).unwrap().row
    );
}

#[test]
fn escaped_strings_clean_like_plain_ones() {
    let escaped = r#"{"ind": 1, "country": "Cura\u00e7ao", "latitude": 1, "longitude": 2, "timestamp": "2020-08-28 03:52:47"}"#;
    let (got, _) = column(Table::Geo, escaped, "country");
    assert_eq!(got, json!("Curaçao"));
}

#[test]
fn deeply_nested_json_is_handled_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        clean(Table::Pin, deep.as_bytes()).unwrap_err().reason,
        Reason::NotObject
    );
    let in_field = format!(r#"{{"ind": 1, "title": {deep}}}"#);
    assert_eq!(
        clean(Table::Pin, in_field.as_bytes()).unwrap_err().reason,
        Reason::TooDeep
    );
    let unknown = format!(r#"{{"ind": 1, "date_joined": "2015-10-24 11:23:51", "x": {deep}}}"#);
    assert_eq!(
        clean(Table::User, unknown.as_bytes()).unwrap_err().reason,
        Reason::TooDeep
    );
    let unclosed = "[".repeat(100_000);
    assert_eq!(
        clean(Table::Geo, unclosed.as_bytes()).unwrap_err().reason,
        Reason::NotJson
    );
    let unclosed_in_field = format!(r#"{{"ind": 1, "x": {unclosed}"#);
    assert_eq!(
        clean(Table::Geo, unclosed_in_field.as_bytes())
            .unwrap_err()
            .reason,
        Reason::NotJson
    );
}

/// A user record whose value under `key` nests `levels` levels, the record counting as the first,
/// alternating arrays and objects.
fn nested_user(key: &str, levels: usize) -> String {
    let (mut open, mut close) = (String::new(), String::new());
    for level in 2..=levels {
        if level % 2 == 0 {
            open.push('[');
            close.insert(0, ']');
        } else {
            open.push_str(r#"{"k": "#);
            close.insert(0, '}');
        }
    }
    let value = if levels < 2 {
        "1".to_owned()
    } else {
        format!("{open}1{close}")
    };
    format!(
        r#"{{"ind": 5, "first_name": "A", "date_joined": "2015-10-24 11:23:51", "{key}": {value}}}"#
    )
}

#[test]
fn a_record_nesting_64_levels_cleans_and_one_nesting_65_is_rejected_too_deep_naming_the_key() {
    use crate::limits::MAX_NESTING;
    assert_eq!(MAX_NESTING, 64);
    for key in ["last_name", "extra"] {
        for levels in [1, 2, MAX_NESTING - 1, MAX_NESTING] {
            let raw = nested_user(key, levels);
            assert!(
                clean(Table::User, raw.as_bytes()).is_ok(),
                "{key} at {levels}"
            );
            assert!(check_json_object(Table::User, raw.as_bytes()).is_ok());
        }
        for levels in [MAX_NESTING + 1, MAX_NESTING + 2, 10_000] {
            let raw = nested_user(key, levels);
            let rejection = clean(Table::User, raw.as_bytes()).unwrap_err();
            assert_eq!(rejection.reason, Reason::TooDeep, "{key} at {levels}");
            assert_eq!(rejection.reason.code(), "too_deep");
            assert!(
                rejection
                    .message
                    .contains(&format!("deeper than 64 levels under key \"{key}\"")),
                "{}",
                rejection.message
            );
            assert_eq!(
                check_json_object(Table::User, raw.as_bytes())
                    .unwrap_err()
                    .reason,
                Reason::TooDeep,
                "the raw zone's check refuses it too"
            );
        }
    }
}
