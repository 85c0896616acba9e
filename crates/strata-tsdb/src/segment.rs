//! Metric segments: one Parquet file per (tenant, hour bucket) flush or
//! merge, rows sorted by (metric, series id, timestamp). The byte-level
//! layout is in `docs/metrics-format.md`.
//!
//! Columns (all required except `sketch`):
//!
//! | column | Arrow | Parquet encoding | why |
//! |---|---|---|---|
//! | `metric` | Utf8 | dictionary + RLE | sorted: one run per metric; row-group min/max prune by name |
//! | `series_id` | UInt64 | DELTA_BINARY_PACKED | sorted: runs of equal ids |
//! | `host` | Utf8 | dictionary + RLE | one run per series |
//! | `tags` | Utf8 (JSON array) | dictionary + RLE | one run per series |
//! | `kind` | UInt8 | dictionary + RLE | [`MetricType::code`] |
//! | `interval_s` | UInt32 | dictionary + RLE | |
//! | `unit` | Utf8 | dictionary + RLE | |
//! | `ts` | Int64 (s) | DELTA_BINARY_PACKED | regular intervals delta to ~0 bits |
//! | `value` | Float64 | BYTE_STREAM_SPLIT | exponent bytes compress apart |
//! | `sketch` | Binary, nullable | PLAIN | `strata_metrics::codec::put_sketch`, distributions only |
//! | `res` | UInt32 | RLE | 0 for raw points, [`ROLLUP_SECONDS`] for rollup rows |
//! | `count` | UInt64, nullable | | rollup rows: number of values |
//! | `min` | Float64, nullable | BYTE_STREAM_SPLIT | rollup rows: smallest value |
//! | `max` | Float64, nullable | BYTE_STREAM_SPLIT | rollup rows: largest value |
//!
//! Raw rows come first; then, in row groups of their own, one **rollup row**
//! per series and [`ROLLUP_SECONDS`] bucket (`ts` = bucket start, `value` =
//! sum, `count`/`min`/`max`, `sketch` = the merged sketch of a
//! distribution). A query whose buckets are whole multiples of the rollup
//! reads these instead of the raw points: a 24 h dashboard at the default
//! 5-minute interval reads 30 times fewer rows at 10 s resolution. Every
//! flush and merge recomputes the rollups from the raw rows, so they never
//! drift from them.
//!
//! The footer's key-value metadata holds `strata.metrics.version` and
//! `strata.metrics.names` (a JSON array of the segment's metric names), so
//! a scan for one metric skips segments without it from the footer alone.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int64Builder, StringDictionaryBuilder, UInt32Builder,
    UInt64Builder, UInt8Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::format::SortingColumn;
use parquet::schema::types::ColumnPath;
use strata_metrics::{MetricType, Sketch};

use crate::TsdbError;

/// Format version written in the footer.
pub const FORMAT_VERSION: &str = "2";
/// Width of the rollup rows' buckets, seconds.
pub const ROLLUP_SECONDS: i64 = 300;
/// Footer key of the format version.
pub const VERSION_KEY: &str = "strata.metrics.version";
/// Footer key of the JSON array of metric names.
pub const NAMES_KEY: &str = "strata.metrics.names";

/// Column indices, in schema order.
pub(crate) mod col {
    pub const METRIC: usize = 0;
    pub const SERIES_ID: usize = 1;
    pub const HOST: usize = 2;
    pub const TAGS: usize = 3;
    pub const KIND: usize = 4;
    pub const INTERVAL: usize = 5;
    pub const UNIT: usize = 6;
    pub const TS: usize = 7;
    pub const VALUE: usize = 8;
    pub const SKETCH: usize = 9;
    pub const RES: usize = 10;
    pub const COUNT: usize = 11;
    pub const MIN: usize = 12;
    pub const MAX: usize = 13;
}

/// The Arrow schema of every metric segment.
pub fn schema() -> SchemaRef {
    let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("metric", dict(), false),
        Field::new("series_id", DataType::UInt64, false),
        Field::new("host", dict(), false),
        Field::new("tags", dict(), false),
        Field::new("kind", DataType::UInt8, false),
        Field::new("interval_s", DataType::UInt32, false),
        Field::new("unit", dict(), false),
        Field::new("ts", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
        Field::new("sketch", DataType::Binary, true),
        Field::new("res", DataType::UInt32, false),
        Field::new("count", DataType::UInt64, true),
        Field::new("min", DataType::Float64, true),
        Field::new("max", DataType::Float64, true),
    ]))
}

/// What a series row carries besides its point.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// The key.
    pub key: strata_metrics::SeriesKey,
    /// The stable id of the key.
    pub id: u64,
    /// Type.
    pub kind: MetricType,
    /// Interval in seconds of counts and rates (0 when unknown).
    pub interval_s: u32,
    /// Unit, empty when none.
    pub unit: String,
    /// The tags as stored in the `tags` column (a JSON array).
    pub tags_json: String,
}

impl SeriesInfo {
    /// Builds the info of a key.
    pub fn new(
        key: strata_metrics::SeriesKey,
        kind: MetricType,
        interval_s: u32,
        unit: String,
    ) -> SeriesInfo {
        let tags_json = serde_json::to_string(&key.tags).unwrap_or_else(|_| "[]".into());
        SeriesInfo {
            id: key.id(),
            key,
            kind,
            interval_s,
            unit,
            tags_json,
        }
    }
}

/// One row to write: a series, a timestamp, a value and maybe a sketch.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The series.
    pub series: &'a SeriesInfo,
    /// Seconds since the epoch.
    pub ts_s: i64,
    /// The value (a distribution's sum).
    pub value: f64,
    /// The sketch of a distribution point.
    pub sketch: Option<&'a Sketch>,
}

/// Sorts rows in segment order: metric, series id, timestamp. The
/// (metric, id) order of the distinct series is computed once; rows then
/// sort by an integer rank and the timestamp.
pub fn sort_rows(rows: &mut [Row<'_>]) {
    let mut ranks: rustc_hash::FxHashMap<u64, u32> = rustc_hash::FxHashMap::default();
    let mut distinct: Vec<(&str, u64)> = Vec::new();
    for row in rows.iter() {
        ranks.entry(row.series.id).or_insert_with(|| {
            distinct.push((row.series.key.metric.as_str(), row.series.id));
            0
        });
    }
    distinct.sort_unstable();
    for (rank, (_, id)) in distinct.iter().enumerate() {
        ranks.insert(*id, rank as u32);
    }
    rows.sort_unstable_by_key(|r| (ranks[&r.series.id], r.ts_s));
}

/// Encodes sorted rows as a segment file.
pub fn write(
    rows: &[Row<'_>],
    zstd_level: i32,
    row_group_rows: usize,
) -> Result<Vec<u8>, TsdbError> {
    let schema = schema();
    let mut names: Vec<&str> = rows.iter().map(|r| r.series.key.metric.as_str()).collect();
    names.dedup();
    let names_json = serde_json::to_string(&names).unwrap_or_else(|_| "[]".into());
    let properties = properties(zstd_level, row_group_rows, names_json)?;
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, Arc::clone(&schema), Some(properties))?;
    for chunk in rows.chunks(row_group_rows.max(1)) {
        writer.write(&batch(&schema, chunk)?)?;
    }
    // Rollup rows never share a row group with raw rows, so a scan picks
    // one kind by the `res` statistics alone.
    writer.flush()?;
    let rollups = rollups(rows);
    for chunk in rollups.chunks(row_group_rows.max(1)) {
        writer.write(&rollup_batch(&schema, chunk)?)?;
    }
    writer.close()?;
    Ok(out)
}

fn properties(
    zstd_level: i32,
    row_group_rows: usize,
    names_json: String,
) -> Result<WriterProperties, TsdbError> {
    let level = ZstdLevel::try_new(zstd_level)?;
    let path = |name: &str| ColumnPath::from(name);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(row_group_rows.max(1))
        .set_data_page_size_limit(1 << 20)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: col::METRIC as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_column_dictionary_enabled(path("series_id"), false)
        .set_column_encoding(path("series_id"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(path("ts"), false)
        .set_column_encoding(path("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(path("value"), false)
        .set_column_encoding(path("value"), Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(path("sketch"), false)
        .set_column_statistics_enabled(path("sketch"), EnabledStatistics::None)
        .set_column_statistics_enabled(path("value"), EnabledStatistics::None)
        .set_column_dictionary_enabled(path("min"), false)
        .set_column_encoding(path("min"), Encoding::BYTE_STREAM_SPLIT)
        .set_column_dictionary_enabled(path("max"), false)
        .set_column_encoding(path("max"), Encoding::BYTE_STREAM_SPLIT)
        .set_column_statistics_enabled(path("min"), EnabledStatistics::None)
        .set_column_statistics_enabled(path("max"), EnabledStatistics::None)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(VERSION_KEY.to_string(), FORMAT_VERSION.to_string()),
            KeyValue::new(NAMES_KEY.to_string(), names_json),
        ]))
        .build())
}

fn batch(schema: &SchemaRef, rows: &[Row<'_>]) -> Result<RecordBatch, TsdbError> {
    let n = rows.len();
    let mut metric = StringDictionaryBuilder::<Int32Type>::new();
    let mut host = StringDictionaryBuilder::<Int32Type>::new();
    let mut tags = StringDictionaryBuilder::<Int32Type>::new();
    let mut unit = StringDictionaryBuilder::<Int32Type>::new();
    let mut series_id = UInt64Builder::with_capacity(n);
    let mut kind = UInt8Builder::with_capacity(n);
    let mut interval = UInt32Builder::with_capacity(n);
    let mut ts = Int64Builder::with_capacity(n);
    let mut value = Float64Builder::with_capacity(n);
    let mut sketch = BinaryBuilder::new();
    let mut encoded = Vec::new();
    for row in rows {
        let s = row.series;
        metric.append_value(&s.key.metric);
        host.append_value(&s.key.host);
        tags.append_value(&s.tags_json);
        unit.append_value(&s.unit);
        series_id.append_value(s.id);
        kind.append_value(s.kind.code());
        interval.append_value(s.interval_s);
        ts.append_value(row.ts_s);
        value.append_value(row.value);
        match row.sketch {
            Some(sk) => {
                encoded.clear();
                strata_metrics::codec::put_sketch(&mut encoded, sk);
                sketch.append_value(&encoded);
            }
            None => sketch.append_null(),
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(metric.finish()),
        Arc::new(series_id.finish()),
        Arc::new(host.finish()),
        Arc::new(tags.finish()),
        Arc::new(kind.finish()),
        Arc::new(interval.finish()),
        Arc::new(unit.finish()),
        Arc::new(ts.finish()),
        Arc::new(value.finish()),
        Arc::new(sketch.finish()),
        Arc::new(arrow_array::UInt32Array::from(vec![0u32; n])),
        Arc::new(arrow_array::UInt64Array::new_null(n)),
        Arc::new(arrow_array::Float64Array::new_null(n)),
        Arc::new(arrow_array::Float64Array::new_null(n)),
    ];
    debug_assert!(columns.iter().all(|c| c.len() == n));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// One rollup row: a series' values in one [`ROLLUP_SECONDS`] bucket.
#[derive(Debug, Clone)]
pub(crate) struct Rollup<'a> {
    series: &'a SeriesInfo,
    ts_s: i64,
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    sketch: Option<Sketch>,
}

/// The rollup rows of raw rows sorted by series and time (same order).
pub(crate) fn rollups<'a>(rows: &[Row<'a>]) -> Vec<Rollup<'a>> {
    let mut out: Vec<Rollup<'a>> = Vec::new();
    for row in rows {
        let bucket = row.ts_s - row.ts_s.rem_euclid(ROLLUP_SECONDS);
        let (count, min, max) = match row.sketch {
            Some(s) => (s.count, s.min, s.max),
            None => (1, row.value, row.value),
        };
        match out.last_mut() {
            Some(last) if last.series.id == row.series.id && last.ts_s == bucket => {
                last.sum += row.value;
                last.count += count;
                last.min = last.min.min(min);
                last.max = last.max.max(max);
                if let (Some(merged), Some(sketch)) = (last.sketch.as_mut(), row.sketch) {
                    merged.merge(sketch);
                }
            }
            _ => out.push(Rollup {
                series: row.series,
                ts_s: bucket,
                sum: row.value,
                count,
                min,
                max,
                sketch: row.sketch.cloned(),
            }),
        }
    }
    out
}

fn rollup_batch(schema: &SchemaRef, rows: &[Rollup<'_>]) -> Result<RecordBatch, TsdbError> {
    let raw: Vec<Row<'_>> = rows
        .iter()
        .map(|r| Row {
            series: r.series,
            ts_s: r.ts_s,
            value: r.sum,
            sketch: r.sketch.as_ref(),
        })
        .collect();
    let base = batch(schema, &raw)?;
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = base.columns()[..col::RES].to_vec();
    columns.push(Arc::new(arrow_array::UInt32Array::from(vec![
        ROLLUP_SECONDS
            as u32;
        n
    ])));
    columns.push(Arc::new(arrow_array::UInt64Array::from_iter_values(
        rows.iter().map(|r| r.count),
    )));
    columns.push(Arc::new(arrow_array::Float64Array::from_iter_values(
        rows.iter().map(|r| r.min),
    )));
    columns.push(Arc::new(arrow_array::Float64Array::from_iter_values(
        rows.iter().map(|r| r.max),
    )));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// The metric names listed in a segment's footer, if present.
pub fn footer_names(metadata: &parquet::file::metadata::ParquetMetaData) -> Option<Vec<String>> {
    let kv = metadata.file_metadata().key_value_metadata()?;
    let names = kv.iter().find(|kv| kv.key == NAMES_KEY)?.value.as_deref()?;
    serde_json::from_str(names).ok()
}
