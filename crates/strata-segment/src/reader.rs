//! Reading segments.

use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, Int8Type, TimestampNanosecondType};
use arrow_array::{
    Array, ArrayAccessor, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use strata_types::{AttrValue, Event, Status};

use crate::{columns, meta_keys, overflow, SegmentError, SegmentMeta, SegmentRow};

/// Reads a whole segment back, in its stored (sorted) order.
///
/// Every event comes back as written, except that its attributes are sorted
/// by key (stable: a path repeated in one event keeps its order). Fails with
/// [`SegmentError::UnsupportedVersion`] for another format version,
/// [`SegmentError::Metadata`] when the footer keys are missing, and
/// [`SegmentError::Corrupt`] when columns or values break the format.
pub fn read_segment(bytes: Bytes) -> Result<Vec<SegmentRow>, SegmentError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let meta = meta_from(builder.metadata())?;
    // The footer's count is only a hint: never trust it for a huge allocation.
    let capacity = usize::try_from(meta.rows.min(1 << 20)).unwrap_or(0);
    let reader = builder.build()?;
    let mut rows = Vec::with_capacity(capacity);
    for batch in reader {
        read_batch(&batch?, &mut rows)?;
    }
    if rows.len() as u64 != meta.rows {
        return Err(SegmentError::Corrupt(format!(
            "footer says {} rows, file holds {}",
            meta.rows,
            rows.len()
        )));
    }
    Ok(rows)
}

/// Reads only the footer's key-value metadata (see [`crate::meta_keys`]).
///
/// Fails like [`read_segment`] for a foreign version or missing keys, and
/// with [`SegmentError::Parquet`] when the bytes are not a Parquet file.
pub fn read_meta(bytes: Bytes) -> Result<SegmentMeta, SegmentError> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(&bytes)?;
    meta_from(&metadata)
}

fn meta_from(metadata: &ParquetMetaData) -> Result<SegmentMeta, SegmentError> {
    let kv: HashMap<&str, Option<&str>> = metadata
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| (kv.key.as_str(), kv.value.as_deref()))
                .collect()
        })
        .unwrap_or_default();
    let get = |key: &'static str| -> Result<&str, SegmentError> {
        kv.get(key)
            .copied()
            .flatten()
            .ok_or_else(|| SegmentError::Metadata {
                key,
                problem: "missing".to_string(),
            })
    };
    let version = get(meta_keys::VERSION)?;
    if version != crate::SEGMENT_VERSION {
        return Err(SegmentError::UnsupportedVersion(version.to_string()));
    }
    fn parse<T: std::str::FromStr>(key: &'static str, text: &str) -> Result<T, SegmentError> {
        text.parse().map_err(|_| SegmentError::Metadata {
            key,
            problem: format!("not a number: {text:?}"),
        })
    }
    Ok(SegmentMeta {
        rows: parse(meta_keys::ROWS, get(meta_keys::ROWS)?)?,
        min_timestamp_ns: parse(
            meta_keys::MIN_TIMESTAMP_NS,
            get(meta_keys::MIN_TIMESTAMP_NS)?,
        )?,
        max_timestamp_ns: parse(
            meta_keys::MAX_TIMESTAMP_NS,
            get(meta_keys::MAX_TIMESTAMP_NS)?,
        )?,
        hour_bucket_ns: parse(meta_keys::HOUR_BUCKET_NS, get(meta_keys::HOUR_BUCKET_NS)?)?,
        attribute_columns: parse(
            meta_keys::ATTRIBUTE_COLUMNS,
            get(meta_keys::ATTRIBUTE_COLUMNS)?,
        )?,
        overflow_rows: parse(meta_keys::OVERFLOW_ROWS, get(meta_keys::OVERFLOW_ROWS)?)?,
    })
}

fn corrupt(what: impl Into<String>) -> SegmentError {
    SegmentError::Corrupt(what.into())
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, SegmentError> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| corrupt(format!("missing column {name}")))
}

fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
    nullable: bool,
) -> Result<&'a StringArray, SegmentError> {
    let array = column(batch, name)?;
    let strings = array
        .as_string_opt::<i32>()
        .ok_or_else(|| corrupt(format!("column {name} is {}, not Utf8", array.data_type())))?;
    if !nullable && strings.null_count() > 0 {
        return Err(corrupt(format!("column {name} has nulls")));
    }
    Ok(strings)
}

fn opt_string(array: &StringArray, i: usize) -> Option<String> {
    array.is_valid(i).then(|| array.value(i).to_string())
}

/// The `status` column: `Dictionary(Int8, Utf8)` as written, or plain `Utf8`.
enum StatusColumn<'a> {
    Dict(arrow_array::TypedDictionaryArray<'a, Int8Type, StringArray>),
    Plain(&'a StringArray),
}

impl StatusColumn<'_> {
    fn get(&self, i: usize) -> Result<Status, SegmentError> {
        let name = match self {
            StatusColumn::Dict(d) => d.value(i),
            StatusColumn::Plain(s) => s.value(i),
        };
        Status::from_name(name).ok_or_else(|| corrupt(format!("unknown status {name:?}")))
    }
}

/// A typed `@path` column.
enum AttrColumn<'a> {
    Str(&'a StringArray),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Bool(&'a BooleanArray),
}

impl AttrColumn<'_> {
    fn get(&self, i: usize) -> Option<AttrValue> {
        match self {
            AttrColumn::Str(a) => a
                .is_valid(i)
                .then(|| AttrValue::Str(a.value(i).to_string())),
            AttrColumn::Int(a) => a.is_valid(i).then(|| AttrValue::Int(a.value(i))),
            AttrColumn::Float(a) => a.is_valid(i).then(|| AttrValue::Float(a.value(i))),
            AttrColumn::Bool(a) => a.is_valid(i).then(|| AttrValue::Bool(a.value(i))),
        }
    }
}

pub(crate) fn read_batch(
    batch: &RecordBatch,
    rows: &mut Vec<SegmentRow>,
) -> Result<(), SegmentError> {
    let ids = string_column(batch, columns::ID, false)?;
    let timestamps_array = column(batch, columns::TIMESTAMP)?;
    let timestamps = timestamps_array
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| {
            corrupt(format!(
                "column timestamp is {}, not Timestamp(ns)",
                timestamps_array.data_type()
            ))
        })?;
    let status_array = column(batch, columns::STATUS)?;
    let status = match status_array.data_type() {
        DataType::Utf8 => StatusColumn::Plain(string_column(batch, columns::STATUS, false)?),
        _ => StatusColumn::Dict(
            status_array
                .as_dictionary_opt::<Int8Type>()
                .and_then(|d| d.downcast_dict::<StringArray>())
                .ok_or_else(|| {
                    corrupt(format!(
                        "column status is {}, not Dictionary(Int8, Utf8)",
                        status_array.data_type()
                    ))
                })?,
        ),
    };
    let services = string_column(batch, columns::SERVICE, true)?;
    let hosts = string_column(batch, columns::HOST, true)?;
    let sources = string_column(batch, columns::SOURCE, true)?;
    let trace_ids = string_column(batch, columns::TRACE_ID, true)?;
    let messages = string_column(batch, columns::MESSAGE, false)?;
    let tags_array = column(batch, columns::TAGS)?;
    let tags = tags_array
        .as_list_opt::<i32>()
        .ok_or_else(|| corrupt(format!("column tags is {}", tags_array.data_type())))?;
    let tag_values = tags
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| corrupt("tags items are not Utf8"))?;
    let overflow = string_column(batch, columns::OVERFLOW, true)?;
    for (name, array) in [
        (columns::TIMESTAMP, timestamps_array),
        (columns::STATUS, status_array),
        (columns::TAGS, tags_array),
    ] {
        if array.null_count() > 0 {
            return Err(corrupt(format!("column {name} has nulls")));
        }
    }
    if tag_values.null_count() > 0 {
        return Err(corrupt("tags items have nulls"));
    }

    let mut attrs: Vec<(&str, AttrColumn<'_>)> = Vec::new();
    for (field, array) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        let Some(path) = field.name().strip_prefix(columns::ATTRIBUTE_PREFIX) else {
            continue;
        };
        let typed = match array.data_type() {
            DataType::Utf8 => array.as_string_opt::<i32>().map(AttrColumn::Str),
            DataType::Int64 => array.as_primitive_opt::<Int64Type>().map(AttrColumn::Int),
            DataType::Float64 => array
                .as_primitive_opt::<Float64Type>()
                .map(AttrColumn::Float),
            DataType::Boolean => array.as_boolean_opt().map(AttrColumn::Bool),
            _ => None,
        }
        .ok_or_else(|| {
            corrupt(format!(
                "attribute column {} has type {}",
                field.name(),
                array.data_type()
            ))
        })?;
        attrs.push((path, typed));
    }

    let offsets = tags.value_offsets();
    for i in 0..batch.num_rows() {
        let mut attributes: Vec<(String, AttrValue)> = attrs
            .iter()
            .filter_map(|(path, col)| col.get(i).map(|v| (path.to_string(), v)))
            .collect();
        if overflow.is_valid(i) {
            overflow::decode(overflow.value(i), &mut attributes)?;
        }
        // Stable: a column value (a path's first occurrence) stays ahead of
        // that path's overflow values.
        attributes.sort_by(|a, b| a.0.cmp(&b.0));
        let (start, end) = (offsets[i], offsets[i + 1]);
        let tag_range = usize::try_from(start).map_err(|_| corrupt("negative tag offset"))?
            ..usize::try_from(end).map_err(|_| corrupt("negative tag offset"))?;
        let event = Event {
            timestamp_ns: timestamps.value(i),
            status: status.get(i)?,
            service: opt_string(services, i),
            host: opt_string(hosts, i),
            source: opt_string(sources, i),
            trace_id: opt_string(trace_ids, i),
            message: messages.value(i).to_string(),
            tags: tag_range.map(|j| tag_values.value(j).to_string()).collect(),
            attributes,
        };
        rows.push(SegmentRow {
            id: ids.value(i).to_string(),
            event,
        });
    }
    Ok(())
}
