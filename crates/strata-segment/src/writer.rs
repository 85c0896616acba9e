//! Writing segments.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, DictionaryArray, ListArray, RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::ZstdLevel;
use parquet::file::metadata::KeyValue;
use rustc_hash::FxHashMap as HashMap;
use strata_types::{hour_bucket, AttrValue};

use crate::{
    columns, meta_keys, overflow, SegmentError, SegmentMeta, SegmentOptions, SegmentRow, SkipIndex,
};

/// The sort key, as written to [`meta_keys::SORT_KEY`].
const SORT_KEY: &str = "service ASC NULLS FIRST, status (severity code) ASC, timestamp ASC, id ASC";

/// The type of an attribute column; the discriminant is the tie-break order
/// when a path's types are equally frequent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str = 0,
    Int = 1,
    Float = 2,
    Bool = 3,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Str, Kind::Int, Kind::Float, Kind::Bool];

    pub(crate) fn of(value: &AttrValue) -> Option<Kind> {
        match value {
            AttrValue::Str(_) => Some(Kind::Str),
            AttrValue::Int(_) => Some(Kind::Int),
            AttrValue::Float(_) => Some(Kind::Float),
            AttrValue::Bool(_) => Some(Kind::Bool),
            AttrValue::Json(_) => None,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Str => DataType::Utf8,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Bool => DataType::Boolean,
        }
    }
}

/// One attribute column: its path (without the `@`) and type.
#[derive(Debug)]
pub(crate) struct AttrColumn<'a> {
    pub(crate) path: &'a str,
    pub(crate) kind: Kind,
}

/// Sorts rows by `(service, status, timestamp, id)` and writes them as one
/// segment to `out`, returning what was written to the footer.
///
/// `service` `None` sorts before every `Some`; `status` sorts by severity code
/// (`Status`'s `Ord`: emergency first, ok last). Every row must be in the
/// same hour bucket (`strata_types::hour_bucket`), otherwise
/// [`SegmentError::MixedHourBuckets`]; no rows is [`SegmentError::Empty`].
/// Options out of range are [`SegmentError::InvalidOptions`]; failures of
/// `out` surface as [`SegmentError::Parquet`]. Nothing is written to `out`
/// before the input has been validated.
pub fn write_segment<W: Write + Send>(
    rows: Vec<SegmentRow>,
    options: &SegmentOptions,
    out: W,
) -> Result<SegmentMeta, SegmentError> {
    let refs: Vec<&SegmentRow> = rows.iter().collect();
    write_segment_refs(&refs, options, out)
}

/// [`write_segment`] over borrowed rows, for callers that keep the rows
/// readable while the segment is written (a frozen memtable stays queryable
/// during its flush without being copied).
pub fn write_segment_refs<W: Write + Send>(
    rows: &[&SegmentRow],
    options: &SegmentOptions,
    out: W,
) -> Result<SegmentMeta, SegmentError> {
    if options.row_group_rows == 0 {
        return Err(SegmentError::InvalidOptions(
            "row_group_rows must be at least 1".to_string(),
        ));
    }
    let level = ZstdLevel::try_new(options.zstd_level).map_err(|e| {
        SegmentError::InvalidOptions(format!("zstd_level {}: {e}", options.zstd_level))
    })?;
    let first = rows.first().ok_or(SegmentError::Empty)?;
    let bucket = hour_bucket(first.event.timestamp_ns);
    let mut min_ts = i64::MAX;
    let mut max_ts = i64::MIN;
    for row in rows {
        let ts = row.event.timestamp_ns;
        let other = hour_bucket(ts);
        if other != bucket {
            return Err(SegmentError::MixedHourBuckets {
                first: bucket,
                other,
            });
        }
        min_ts = min_ts.min(ts);
        max_ts = max_ts.max(ts);
    }

    let sorted = sorted_order(rows);
    let plan = plan_columns(rows, options.max_attribute_columns);
    let schema = build_schema(&plan);

    let index: HashMap<&str, usize> = plan.iter().enumerate().map(|(i, c)| (c.path, i)).collect();
    let props = crate::layout::writer_properties(level, options, &plan, &index, rows);
    let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))?;

    let mut overflow_rows = 0u64;
    let skip_index = beside(
        rows.len() >= SKIP_INDEX_THREAD_MIN_ROWS,
        || SkipIndex::build(rows.iter().map(|r| &r.event)),
        || -> Result<(), SegmentError> {
            for chunk in sorted.chunks(options.row_group_rows) {
                let batch = build_batch(&schema, &plan, &index, chunk, &mut overflow_rows)?;
                writer.write(&batch)?;
            }
            Ok(())
        },
    )?;

    let meta = SegmentMeta {
        rows: rows.len() as u64,
        min_timestamp_ns: min_ts,
        max_timestamp_ns: max_ts,
        hour_bucket_ns: bucket,
        attribute_columns: plan.len(),
        overflow_rows,
    };
    for (key, value) in [
        (meta_keys::VERSION, crate::SEGMENT_VERSION.to_string()),
        (meta_keys::ROWS, meta.rows.to_string()),
        (
            meta_keys::MIN_TIMESTAMP_NS,
            meta.min_timestamp_ns.to_string(),
        ),
        (
            meta_keys::MAX_TIMESTAMP_NS,
            meta.max_timestamp_ns.to_string(),
        ),
        (meta_keys::HOUR_BUCKET_NS, meta.hour_bucket_ns.to_string()),
        (
            meta_keys::ATTRIBUTE_COLUMNS,
            meta.attribute_columns.to_string(),
        ),
        (meta_keys::OVERFLOW_ROWS, meta.overflow_rows.to_string()),
        (meta_keys::SORT_KEY, SORT_KEY.to_string()),
        (meta_keys::SKIP_INDEX, skip_index.to_metadata_value()),
    ] {
        writer.append_key_value_metadata(KeyValue::new(key.to_string(), value));
    }
    writer.close()?;
    Ok(meta)
}

/// Segments with at least this many rows build their skip index on a second
/// thread while the row groups are encoded (about 1 µs per event, some 10%
/// of the encoding); below it a thread costs more than it hides.
const SKIP_INDEX_THREAD_MIN_ROWS: usize = 8 * 1024;

/// Runs `side` (on a scoped thread when `parallel`, else inline first) and
/// `main`, and returns `side`'s result once `main` succeeded. Falls back to
/// running inline when no thread can be started; a panic in `side` is
/// propagated.
fn beside<T: Send, E>(
    parallel: bool,
    side: impl Fn() -> T + Sync,
    main: impl FnOnce() -> Result<(), E>,
) -> Result<T, E> {
    if !parallel {
        let value = side();
        main()?;
        return Ok(value);
    }
    let side = &side;
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("strata-skip-index".to_string())
            .spawn_scoped(scope, side);
        let outcome = main();
        let value = match handle {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => side(),
        };
        outcome.map(|()| value)
    })
}

/// References to `rows` in segment order, `(service, status, timestamp, id)`,
/// without moving the rows: services are ranked once so the sort compares
/// integers, and ties fall back to the id only when the integer key ties
/// (rows usually arrive in id order already).
fn sorted_order<'a>(rows: &[&'a SegmentRow]) -> Vec<&'a SegmentRow> {
    let mut services: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.event.service.as_deref())
        .collect();
    services.sort_unstable();
    services.dedup();
    let rank: HashMap<&str, u32> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32 + 1))
        .collect();
    let mut keyed: Vec<(u32, strata_types::Status, i64, &SegmentRow)> = rows
        .iter()
        .map(|&r| {
            let service = r
                .event
                .service
                .as_deref()
                .map_or(0, |s| rank.get(s).copied().unwrap_or(0));
            (service, r.event.status, r.event.timestamp_ns, r)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then_with(|| a.3.id.cmp(&b.3.id))
    });
    keyed.into_iter().map(|(_, _, _, r)| r).collect()
}

/// Chooses the attribute columns: each path's most frequent type (ties in
/// [`Kind`] order), then the `max_columns` paths with the most values of
/// that type (ties by path). Returned in path order, which is schema order.
fn plan_columns<'a>(rows: &[&'a SegmentRow], max_columns: usize) -> Vec<AttrColumn<'a>> {
    let mut counts: HashMap<&'a str, [u64; 4]> = HashMap::default();
    for &row in rows {
        for (path, value) in &row.event.attributes {
            if let Some(kind) = Kind::of(value) {
                counts.entry(path.as_str()).or_default()[kind as usize] += 1;
            }
        }
    }
    let mut candidates: Vec<(u64, AttrColumn<'_>)> = counts
        .into_iter()
        .filter_map(|(path, per_kind)| {
            let mut best: Option<(u64, Kind)> = None;
            for kind in Kind::ALL {
                let n = per_kind[kind as usize];
                if n > 0 && best.is_none_or(|(m, _)| n > m) {
                    best = Some((n, kind));
                }
            }
            best.map(|(n, kind)| (n, AttrColumn { path, kind }))
        })
        .collect();
    candidates.sort_by(|(n1, c1), (n2, c2)| n2.cmp(n1).then_with(|| c1.path.cmp(c2.path)));
    candidates.truncate(max_columns);
    let mut plan: Vec<AttrColumn<'_>> = candidates.into_iter().map(|(_, c)| c).collect();
    plan.sort_by(|a, b| a.path.cmp(b.path));
    plan
}

fn build_schema(plan: &[AttrColumn<'_>]) -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let mut fields = vec![
        utf8(columns::ID, false),
        Field::new(
            columns::TIMESTAMP,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            columns::STATUS,
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            false,
        ),
        utf8(columns::SERVICE, true),
        utf8(columns::HOST, true),
        utf8(columns::SOURCE, true),
        utf8(columns::TRACE_ID, true),
        utf8(columns::MESSAGE, false),
        Field::new(columns::TAGS, DataType::List(tag_item_field()), false),
    ];
    for column in plan {
        fields.push(Field::new(
            format!("{}{}", columns::ATTRIBUTE_PREFIX, column.path),
            column.kind.data_type(),
            true,
        ));
    }
    fields.push(utf8(columns::OVERFLOW, true));
    Arc::new(Schema::new(fields))
}

fn tag_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Utf8, false))
}

/// Every row's tags, concatenated: the values of the `tags` list column.
fn tag_values(chunk: &[&SegmentRow]) -> StringArray {
    let count = chunk.iter().map(|r| r.event.tags.len()).sum();
    let bytes = chunk
        .iter()
        .flat_map(|r| r.event.tags.iter())
        .map(String::len)
        .sum();
    let mut builder = StringBuilder::with_capacity(count, bytes);
    for tag in chunk.iter().flat_map(|r| r.event.tags.iter()) {
        builder.append_value(tag);
    }
    builder.finish()
}

enum AttrBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
}

impl AttrBuilder {
    fn new(kind: Kind, capacity: usize) -> AttrBuilder {
        match kind {
            Kind::Str => AttrBuilder::Str(StringBuilder::with_capacity(capacity, 0)),
            Kind::Int => AttrBuilder::Int(Int64Builder::with_capacity(capacity)),
            Kind::Float => AttrBuilder::Float(Float64Builder::with_capacity(capacity)),
            Kind::Bool => AttrBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
        }
    }

    /// Appends `value`, which the caller has checked is of this column's
    /// kind, or a null.
    fn append(&mut self, value: Option<&AttrValue>) {
        match (self, value) {
            (AttrBuilder::Str(b), Some(AttrValue::Str(s))) => b.append_value(s),
            (AttrBuilder::Int(b), Some(AttrValue::Int(i))) => b.append_value(*i),
            (AttrBuilder::Float(b), Some(AttrValue::Float(f))) => b.append_value(*f),
            (AttrBuilder::Bool(b), Some(AttrValue::Bool(v))) => b.append_value(*v),
            (AttrBuilder::Str(b), _) => b.append_null(),
            (AttrBuilder::Int(b), _) => b.append_null(),
            (AttrBuilder::Float(b), _) => b.append_null(),
            (AttrBuilder::Bool(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            AttrBuilder::Str(mut b) => Arc::new(b.finish()),
            AttrBuilder::Int(mut b) => Arc::new(b.finish()),
            AttrBuilder::Float(mut b) => Arc::new(b.finish()),
            AttrBuilder::Bool(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Builds one record batch (at most one row group) of already sorted rows.
fn build_batch(
    schema: &SchemaRef,
    plan: &[AttrColumn<'_>],
    index: &HashMap<&str, usize>,
    chunk: &[&SegmentRow],
    overflow_rows: &mut u64,
) -> Result<RecordBatch, SegmentError> {
    let opt_column = |get: for<'r> fn(&'r SegmentRow) -> Option<&'r str>| -> ArrayRef {
        Arc::new(chunk.iter().map(|r| get(r)).collect::<StringArray>())
    };
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|r| r.id.as_str()),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(chunk.iter().map(|r| r.event.timestamp_ns))
                .with_timezone("UTC"),
        ),
        Arc::new(
            chunk
                .iter()
                .map(|r| r.event.status.as_str())
                .collect::<DictionaryArray<Int8Type>>(),
        ),
        opt_column(|r| r.event.service.as_deref()),
        opt_column(|r| r.event.host.as_deref()),
        opt_column(|r| r.event.source.as_deref()),
        opt_column(|r| r.event.trace_id.as_deref()),
        Arc::new(StringArray::from_iter_values(
            chunk.iter().map(|r| r.event.message.as_str()),
        )),
        Arc::new(ListArray::try_new(
            tag_item_field(),
            OffsetBuffer::from_lengths(chunk.iter().map(|r| r.event.tags.len())),
            Arc::new(tag_values(chunk)),
            None,
        )?),
    ];

    let mut builders: Vec<AttrBuilder> = plan
        .iter()
        .map(|c| AttrBuilder::new(c.kind, chunk.len()))
        .collect();
    let mut overflow_column: Vec<Option<String>> = Vec::with_capacity(chunk.len());
    let mut slots: Vec<Option<&AttrValue>> = vec![None; plan.len()];
    let mut seen: Vec<bool> = vec![false; plan.len()];
    let mut spilled: Vec<(&str, &AttrValue)> = Vec::new();
    for row in chunk {
        slots.fill(None);
        seen.fill(false);
        spilled.clear();
        for (path, value) in &row.event.attributes {
            if let Some(&c) = index.get(path.as_str()) {
                // Only a row's first value for a path may take the column, so
                // that repeated paths come back in their original order.
                let first = !seen[c];
                seen[c] = true;
                if first && Kind::of(value) == Some(plan[c].kind) {
                    slots[c] = Some(value);
                    continue;
                }
            }
            spilled.push((path.as_str(), value));
        }
        for (builder, slot) in builders.iter_mut().zip(&slots) {
            builder.append(*slot);
        }
        if spilled.is_empty() {
            overflow_column.push(None);
        } else {
            *overflow_rows += 1;
            overflow_column.push(Some(overflow::encode(&spilled)));
        }
    }
    arrays.extend(builders.into_iter().map(AttrBuilder::finish));
    arrays.push(Arc::new(StringArray::from(overflow_column)));
    Ok(RecordBatch::try_new(Arc::clone(schema), arrays)?)
}
