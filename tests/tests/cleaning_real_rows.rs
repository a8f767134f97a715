//! The 2,262 real posts of ../shared/data/source-rows clean to exactly 2,019 rows per table.

use std::collections::HashMap;

use pinpipe::Table;
use pinpipe::cleaner::{Outcome, TableCleaner};
use pinpipe_tests::lines;
use serde_json::{Value, json};

/// Cleans a table's real rows; returns the kept rows (as JSON) by ind, and the cleaner.
fn clean_real(table: Table) -> (HashMap<i64, Value>, TableCleaner) {
    let mut cleaner = TableCleaner::new(table);
    let mut rows = HashMap::new();
    for line in lines(&format!("source-rows/{table}.jsonl")) {
        if let Outcome::Clean(c) = cleaner.push(line.as_bytes()) {
            rows.insert(c.row.ind(), serde_json::to_value(&c.row).unwrap());
        }
    }
    (rows, cleaner)
}

#[test]
fn all_real_rows_clean_to_2019_per_table_with_none_rejected() {
    for table in Table::ALL {
        let (rows, cleaner) = clean_real(table);
        let s = cleaner.stats();
        assert_eq!(s.read, 2262, "{s}");
        assert_eq!(s.clean, 2019, "{s}");
        assert_eq!(s.rejected_total(), 0, "{s}");
        assert_eq!(s.duplicates, 243, "{s}");
        assert_eq!(rows.len(), 2019);
    }
}

#[test]
fn real_pin_2863_has_its_follower_count_in_full_and_a_bare_save_path() {
    let (rows, _) = clean_real(Table::Pin);
    let pin = &rows[&2863];
    assert_eq!(pin["follower_count"], json!(124000));
    assert_eq!(pin["save_location"], json!("/data/diy-and-crafts"));
    assert_eq!(pin["poster_name"], json!("Of Life & Lisa | Lifestyle Blog"));
    assert_eq!(pin["downloaded"], json!(true));
}

#[test]
fn real_pin_7528_a_story_with_user_info_error_has_every_placeholder_nulled() {
    let (rows, _) = clean_real(Table::Pin);
    let pin = &rows[&7528];
    for column in [
        "title",
        "description",
        "poster_name",
        "follower_count",
        "tag_list",
        "image_src",
    ] {
        assert_eq!(pin[column], Value::Null, "{column}");
    }
    assert_eq!(
        pin["is_image_or_video"],
        json!("multi-video(story page format)")
    );
    assert_eq!(pin["save_location"], json!("/data/mens-fashion"));
    assert_eq!(pin["downloaded"], json!(false));
}

#[test]
fn real_geo_and_user_rows_keep_coordinates_and_utc_times() {
    let (geo, _) = clean_real(Table::Geo);
    assert_eq!(
        geo[&7528],
        json!({"ind": 7528, "country": "Albania", "coordinates": [-89.9787, -173.293],
               "timestamp": "2020-08-28T03:52:47Z"})
    );
    let (user, _) = clean_real(Table::User);
    assert_eq!(
        user[&7528],
        json!({"ind": 7528, "user_name": "Abigail Ali", "age": 20, "date_joined": "2015-10-24T11:23:51Z"})
    );
}

#[test]
fn real_pin_placeholders_are_counted_per_column() {
    let (rows, cleaner) = clean_real(Table::Pin);
    let s = cleaner.stats();
    // every nulled count equals the kept rows whose raw value was that column's placeholder
    let nulls = |column: &str| rows.values().filter(|r| r[column].is_null()).count() as u64;
    for column in [
        "title",
        "description",
        "follower_count",
        "poster_name",
        "tag_list",
        "image_src",
    ] {
        assert!(s.nulled_in(column) > 0, "{column}");
        assert_eq!(s.nulled_in(column), nulls(column), "{column}");
    }
    assert_eq!(s.nulled_in("category"), 0);
}

#[test]
fn real_rows_become_arrow_batches_with_one_row_per_clean_record() {
    for table in Table::ALL {
        let mut cleaner = TableCleaner::new(table);
        let lines = lines(&format!("source-rows/{table}.jsonl"));
        let rows: Vec<_> = lines
            .iter()
            .filter_map(|l| match cleaner.push(l.as_bytes()) {
                Outcome::Clean(c) => Some(c.row),
                _ => None,
            })
            .collect();
        let batch = pinpipe::schema::to_record_batch(table, &rows).unwrap();
        assert_eq!(batch.num_rows(), 2019);
        assert_eq!(batch.schema(), pinpipe::schema::schema(table));
    }
}
