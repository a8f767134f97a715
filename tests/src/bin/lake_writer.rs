//! A writer process for the lake's concurrency and crash tests: appends `--appends` batches of
//! `--rows` generated pin rows to a table, each batch recorded as the next offset of its own source
//! (`writer-<id>`), so a rerun commits only what is missing.
//!
//!     lake_writer --warehouse URI --writer ID --appends N [--rows R]
//!
//! AWS settings come from the environment. Prints `committed V`, `recovered V` or `already` per
//! append.

use pinpipe::Table;
use pinpipe::cleaner::{Outcome, TableCleaner};
use pinpipe::config::AwsConfig;
use pinpipe::lake::{Appended, Checkpoint, LakeTable, Position, SourceKey, TableId, Warehouse};
use pinpipe::record::CleanRow;
use pinpipe::source::Synthetic;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("{name} is required"))
            .clone()
    };
    let warehouse = arg("--warehouse");
    let writer: i64 = arg("--writer").parse().expect("--writer is a number");
    let appends: i64 = arg("--appends").parse().expect("--appends is a number");
    let rows: usize = args
        .iter()
        .position(|a| a == "--rows")
        .map_or(10, |i| args[i + 1].parse().expect("--rows is a number"));

    let warehouse = Warehouse::open(&warehouse, &AwsConfig::from_env()).expect("warehouse");
    let mut table = LakeTable::open(&warehouse, TableId::Stream(Table::Pin))
        .await
        .expect("open table");
    for i in 0..appends {
        let batch = pins(writer, i, rows);
        let checkpoint = Checkpoint {
            source: SourceKey::Kafka {
                topic: format!("writer-{writer}"),
                partition: 0,
            },
            position: Position::Offset(i),
        };
        match table
            .append(vec![batch], &[checkpoint])
            .await
            .expect("append")
        {
            Appended::Committed { version, .. } => println!("committed {version}"),
            Appended::Recovered { by_version, .. } => println!("recovered {by_version}"),
            Appended::AlreadyCommitted => println!("already"),
            Appended::Nothing => println!("nothing"),
        }
    }
}

/// `rows` clean pin rows with inds unique to (writer, append): writer × 1,000,000 + append × rows + j.
fn pins(writer: i64, append: i64, rows: usize) -> arrow::record_batch::RecordBatch {
    let mut cleaner = TableCleaner::new(Table::Pin);
    let mut out = Vec::new();
    let mut line = Vec::new();
    for (j, mut post) in (0..rows).zip(Synthetic::new(7)) {
        post.pin.index = writer * 1_000_000 + append * rows as i64 + j as i64;
        line.clear();
        post.write_line(Table::Pin, &mut line);
        if let Outcome::Clean(c) = cleaner.push(&line[..line.len() - 1]) {
            out.push(c.row.into_owned());
        }
    }
    let rows: Vec<CleanRow<'static>> = out;
    pinpipe::schema::to_record_batch(Table::Pin, &rows).expect("batch")
}
