//! Property tests: cleaning is total (never panics) and deterministic over arbitrary input, and
//! follower counts parse right for every generated display shape.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use super::{clean, parse_follower_count, raw::raw_keys};
use crate::Table;

fn table() -> impl Strategy<Value = Table> {
    prop_oneof![Just(Table::Pin), Just(Table::Geo), Just(Table::User)]
}

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
        "[ 0-9.,kKmMbB+-]{0,12}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose keys are mostly the table's own, with arbitrary values.
fn record_like(table: Table) -> impl Strategy<Value = Value> {
    let keys: Vec<&'static str> = raw_keys(table).to_vec();
    prop::collection::vec((prop::sample::select(keys), json_value()), 0..16).prop_map(|fields| {
        let mut m = Map::new();
        for (k, v) in fields {
            m.insert(k.to_owned(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cleaning_arbitrary_bytes_never_panics_and_is_deterministic(
        t in table(),
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        prop_assert_eq!(clean(t, &bytes), clean(t, &bytes));
    }

    #[test]
    fn cleaning_arbitrary_json_never_panics_and_is_deterministic(t in table(), v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        prop_assert_eq!(clean(t, &bytes), clean(t, &bytes));
    }

    #[test]
    fn cleaning_record_shaped_json_never_panics_and_is_deterministic(
        (t, v) in table().prop_flat_map(|t| (Just(t), record_like(t))),
    ) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let first = clean(t, &bytes);
        prop_assert_eq!(&first, &clean(t, &bytes));
        if let Ok(cleaned) = first {
            prop_assert_eq!(cleaned.row.table(), t);
        }
    }

    #[test]
    fn follower_count_plain_digits(n in 0_i64..1_000_000_000_000) {
        prop_assert_eq!(parse_follower_count(&n.to_string()), Some(n));
    }

    #[test]
    fn follower_count_thousands(n in 0_i64..1_000_000, upper in any::<bool>()) {
        let text = format!("{n}{}", if upper { 'K' } else { 'k' });
        prop_assert_eq!(parse_follower_count(&text), Some(n * 1_000));
    }

    #[test]
    fn follower_count_thousands_with_a_fraction(n in 0_i64..1_000_000, frac in "[0-9]{1,5}") {
        // "1.2k" → 1200; digits past the third are cut off
        let padded = format!("{frac:0<3}");
        let want = n * 1_000 + padded[..3].parse::<i64>().unwrap();
        prop_assert_eq!(parse_follower_count(&format!("{n}.{frac}k")), Some(want));
    }

    #[test]
    fn follower_count_millions(n in 0_i64..1_000_000) {
        prop_assert_eq!(parse_follower_count(&format!("{n}M")), Some(n * 1_000_000));
    }

    #[test]
    fn follower_count_with_thousands_separators(n in 0_i64..1_000_000_000) {
        let digits = n.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        prop_assert_eq!(parse_follower_count(&grouped), Some(n));
    }
}
