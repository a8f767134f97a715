//! Clean rows → Arrow, with the §2 schemas (Athena types in the comments).

use std::borrow::Borrow;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::quarantine::{QuarantineRecord, SourceRef};
use crate::record::{CleanRow, GeoRow, PinRow, UserRow};
use crate::{Error, Result, Table};

/// The element field of `coordinates`; Delta and Parquet name list items `element`.
fn coordinate_item() -> Arc<Field> {
    Arc::new(Field::new("element", DataType::Float64, true))
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static PIN: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new("ind", DataType::Int64, false), // bigint
        text("unique_id"),
        text("title"),
        text("description"),
        Field::new("follower_count", DataType::Int64, true), // bigint
        text("poster_name"),
        text("tag_list"),
        text("is_image_or_video"),
        text("image_src"),
        text("save_location"),
        text("category"),
        Field::new("downloaded", DataType::Boolean, true),
    ]))
});

static GEO: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("ind", DataType::Int64, false),
        Field::new("country", DataType::Utf8, true),
        Field::new("coordinates", DataType::List(coordinate_item()), true), // array<double>
        Field::new("timestamp", timestamp_type(), true),
    ]))
});

static USER: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("ind", DataType::Int64, false),
        Field::new("user_name", DataType::Utf8, true),
        Field::new("age", DataType::Int32, true), // int
        Field::new("date_joined", timestamp_type(), true),
    ]))
});

static QUARANTINE: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("table", false),
        text("reason", false),
        text("field", true),
        Field::new("ind", DataType::Int64, true),
        text("message", false),
        text("raw_base64", false),
        text("raw", true),
        // where the record came from: which columns are set depends on `source`
        text("source", false),
        text("topic", true),
        Field::new("partition", DataType::Int32, true),
        Field::new("offset", DataType::Int64, true),
        text("stream", true),
        text("shard", true),
        text("sequence_number", true),
        text("request_id", true),
        text("file_path", true),
        Field::new("file_line", DataType::Int64, true),
        Field::new("rejected_at", timestamp_type(), false),
    ]))
});

/// The quarantine table's schema: every field of a spec §2 rejection.
pub fn quarantine_schema() -> SchemaRef {
    QUARANTINE.clone()
}

/// One batch of quarantine rows.
pub fn quarantine_batch(records: &[QuarantineRecord]) -> Result<RecordBatch> {
    let n = records.len();
    let mut text: Vec<StringBuilder> = (0..13)
        .map(|_| StringBuilder::with_capacity(n, n * 32))
        .collect();
    let mut ind = Int64Builder::with_capacity(n);
    let mut partition = Int32Builder::with_capacity(n);
    let mut offset = Int64Builder::with_capacity(n);
    let mut file_line = Int64Builder::with_capacity(n);
    let mut rejected_at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for r in records {
        let (mut topic, mut stream, mut shard, mut sequence, mut request, mut path) =
            (None, None, None, None, None, None);
        let (mut part, mut off, mut line) = (None, None, None);
        let source = match &r.source {
            SourceRef::File { path: p, line: l } => {
                path = Some(p.as_str());
                line = i64::try_from(*l).ok();
                "file"
            }
            SourceRef::Kafka {
                topic: t,
                partition: p,
                offset: o,
            } => {
                (topic, part, off) = (Some(t.as_str()), Some(*p), Some(*o));
                "kafka"
            }
            SourceRef::Kinesis {
                stream: s,
                shard: h,
                sequence_number: q,
            } => {
                (stream, shard, sequence) = (Some(s.as_str()), Some(h.as_str()), Some(q.as_str()));
                "kinesis"
            }
            SourceRef::Api { request_id } => {
                request = Some(request_id.as_str());
                "api"
            }
        };
        let texts: [Option<&str>; 13] = [
            Some(r.table.name()),
            Some(r.reason),
            r.field,
            Some(&r.message),
            Some(&r.raw_base64),
            r.raw.as_deref(),
            Some(source),
            topic,
            stream,
            shard,
            sequence,
            request,
            path,
        ];
        for (builder, value) in text.iter_mut().zip(texts) {
            builder.append_option(value);
        }
        ind.append_option(r.ind);
        partition.append_option(part);
        offset.append_option(off);
        file_line.append_option(line);
        rejected_at.append_value(r.rejected_at.timestamp_micros());
    }
    let mut t = text
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut next = || t.next().expect("thirteen text builders");
    let (table, reason, field, message, raw_base64, raw, source) =
        (next(), next(), next(), next(), next(), next(), next());
    let (topic, stream, shard, sequence, request, path) =
        (next(), next(), next(), next(), next(), next());
    let columns: Vec<ArrayRef> = vec![
        table,
        reason,
        field,
        Arc::new(ind.finish()),
        message,
        raw_base64,
        raw,
        source,
        topic,
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        stream,
        shard,
        sequence,
        request,
        path,
        Arc::new(file_line.finish()),
        Arc::new(rejected_at.finish()),
    ];
    Ok(RecordBatch::try_new(quarantine_schema(), columns)?)
}

/// The §2 schema of a clean table.
pub fn schema(table: Table) -> SchemaRef {
    match table {
        Table::Pin => PIN.clone(),
        Table::Geo => GEO.clone(),
        Table::User => USER.clone(),
    }
}

/// One batch from clean rows that all belong to `table`;
/// `rows` are the rows or references to them (a batch built from rows that stay where they are).
pub fn to_record_batch<'a, R: Borrow<CleanRow<'a>>>(
    table: Table,
    rows: &[R],
) -> Result<RecordBatch> {
    let mismatch = rows.iter().map(Borrow::borrow).find(|r| r.table() != table);
    if let Some(row) = mismatch {
        return Err(Error::MixedTables {
            expected: table,
            found: row.table(),
        });
    }
    macro_rules! of {
        ($variant:ident) => {
            rows.iter().filter_map(|r| match r.borrow() {
                CleanRow::$variant(row) => Some(row),
                _ => None,
            })
        };
    }
    match table {
        Table::Pin => pin_batch(of!(Pin).map(|row| &**row), rows.len()),
        Table::Geo => geo_batch(of!(Geo), rows.len()),
        Table::User => user_batch(of!(User), rows.len()),
    }
}

/// A pin row's nine text columns, in column order.
fn pin_texts<'r>(r: &'r PinRow<'_>) -> [Option<&'r str>; 9] {
    [
        r.unique_id.as_deref(),
        r.title.as_deref(),
        r.description.as_deref(),
        r.poster_name.as_deref(),
        r.tag_list.as_deref(),
        r.is_image_or_video.as_deref(),
        r.image_src.as_deref(),
        r.save_location.as_deref(),
        r.category.as_deref(),
    ]
}

// Builders are sized exactly (a first pass sums the text bytes): no buffer grows by copying, and
// none holds more memory than its column needs.
fn pin_batch<'r, 'a: 'r>(
    rows: impl Iterator<Item = &'r PinRow<'a>> + Clone,
    n: usize,
) -> Result<RecordBatch> {
    let mut bytes = [0usize; 9];
    for r in rows.clone() {
        for (total, value) in bytes.iter_mut().zip(pin_texts(r)) {
            *total += value.map_or(0, str::len);
        }
    }
    let mut ind = Int64Builder::with_capacity(n);
    let mut text: Vec<StringBuilder> = bytes
        .iter()
        .map(|b| StringBuilder::with_capacity(n, *b))
        .collect();
    let mut followers = Int64Builder::with_capacity(n);
    let mut downloaded = BooleanBuilder::with_capacity(n);
    for r in rows {
        ind.append_value(r.ind);
        for (builder, value) in text.iter_mut().zip(pin_texts(r)) {
            builder.append_option(value);
        }
        followers.append_option(r.follower_count);
        downloaded.append_option(r.downloaded);
    }
    let mut t = text
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut next = || t.next().expect("nine text builders");
    let (unique_id, title, description, poster_name, tag_list) =
        (next(), next(), next(), next(), next());
    let (is_image_or_video, image_src, save_location, category) = (next(), next(), next(), next());
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ind.finish()),
        unique_id,
        title,
        description,
        Arc::new(followers.finish()),
        poster_name,
        tag_list,
        is_image_or_video,
        image_src,
        save_location,
        category,
        Arc::new(downloaded.finish()),
    ];
    Ok(RecordBatch::try_new(schema(Table::Pin), columns)?)
}

fn geo_batch<'r, 'a: 'r>(
    rows: impl Iterator<Item = &'r GeoRow<'a>> + Clone,
    n: usize,
) -> Result<RecordBatch> {
    let country_bytes = rows
        .clone()
        .map(|r| r.country.as_deref().map_or(0, str::len))
        .sum();
    let mut ind = Int64Builder::with_capacity(n);
    let mut country = StringBuilder::with_capacity(n, country_bytes);
    let mut coordinates = ListBuilder::with_capacity(Float64Builder::with_capacity(2 * n), n)
        .with_field(coordinate_item());
    let mut timestamp = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for r in rows {
        ind.append_value(r.ind);
        country.append_option(r.country.as_deref());
        coordinates.values().append_slice(&r.coordinates);
        coordinates.append(true);
        timestamp.append_value(r.timestamp.timestamp_micros());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ind.finish()),
        Arc::new(country.finish()),
        Arc::new(coordinates.finish()),
        Arc::new(timestamp.finish()),
    ];
    Ok(RecordBatch::try_new(schema(Table::Geo), columns)?)
}

fn user_batch<'r, 'a: 'r>(
    rows: impl Iterator<Item = &'r UserRow<'a>> + Clone,
    n: usize,
) -> Result<RecordBatch> {
    let name_bytes = rows
        .clone()
        .map(|r| r.user_name.as_deref().map_or(0, str::len))
        .sum();
    let mut ind = Int64Builder::with_capacity(n);
    let mut user_name = StringBuilder::with_capacity(n, name_bytes);
    let mut age = Int32Builder::with_capacity(n);
    let mut date_joined = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    for r in rows {
        ind.append_value(r.ind);
        user_name.append_option(r.user_name.as_deref());
        age.append_option(r.age);
        date_joined.append_value(r.date_joined.timestamp_micros());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ind.finish()),
        Arc::new(user_name.finish()),
        Arc::new(age.finish()),
        Arc::new(date_joined.finish()),
    ];
    Ok(RecordBatch::try_new(schema(Table::User), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::clean;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};

    #[test]
    fn batches_carry_the_spec_schemas_and_values() {
        let geo = clean(
            Table::Geo,
            br#"{"ind": 7, "timestamp": "2020-08-28 03:52:47", "latitude": -89.9787, "longitude": "-173.293", "country": " Albania "}"#,
        )
        .unwrap();
        let batch = to_record_batch(Table::Geo, &[geo.row]).unwrap();
        assert_eq!(batch.schema(), schema(Table::Geo));
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "Albania");
        let coords = batch.column(2).as_list::<i32>().value(0);
        assert_eq!(
            coords.as_primitive::<Float64Type>().values(),
            &[-89.9787, -173.293]
        );
        assert_eq!(
            batch
                .column(3)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            1_598_586_767_000_000
        );
    }

    #[test]
    fn nulls_stay_nulls_and_columns_follow_the_spec_order() {
        let pin = clean(
            Table::Pin,
            br#"{"index": 1, "title": "No Title Data Available"}"#,
        )
        .unwrap();
        let batch = to_record_batch(Table::Pin, &[pin.row]).unwrap();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, Table::Pin.columns());
        assert!(batch.column(2).is_null(0));
        for t in Table::ALL {
            let names: Vec<_> = schema(t)
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(names, t.columns());
        }
    }

    #[test]
    fn refuses_rows_of_another_table() {
        let user = clean(
            Table::User,
            br#"{"ind": 1, "date_joined": "2015-10-24 11:23:51"}"#,
        )
        .unwrap();
        assert!(matches!(
            to_record_batch(Table::Pin, &[user.row]),
            Err(Error::MixedTables { .. })
        ));
    }
}
