//! How each column is encoded: the Parquet writer properties of a segment
//! (`docs/segment-format.md` §5).
//!
//! Chosen by measurement (`strata bench compression`, docs/benchmarks.md
//! "Storage (issue 4)"): zstd over large pages, no dictionary where values
//! rarely repeat, and for those columns the encoding that leaves zstd the
//! most regular bytes.

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::format::SortingColumn;
use parquet::schema::types::ColumnPath;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use strata_types::AttrValue;

use crate::writer::{AttrColumn, Kind};
use crate::{columns, SegmentOptions, SegmentRow};

/// Largest data page before compression. Each page is one zstd frame, so a
/// larger page gives zstd more history to match against: 8 MiB instead of
/// parquet-rs' 1 MiB is 2.7% smaller at level 9 on loadgen data and 3.6% at
/// level 19, and faster to write (fewer zstd contexts set up).
pub(crate) const DATA_PAGE_BYTES: usize = 8 << 20;

/// Rows sampled (evenly spaced over the input, which compaction hands over
/// as sorted runs of its input segments) to decide whether an attribute
/// column gets a dictionary.
pub(crate) const DICTIONARY_SAMPLE_ROWS: usize = 8192;

/// Leaf index of the `service` column, declared as the row groups' sorting
/// column (the only one whose byte order matches the sort).
const SERVICE_LEAF: i32 = 3;

/// The Parquet writer properties of one segment.
///
/// Fixed columns: `id` DELTA_BYTE_ARRAY (ids sorted by time share long
/// prefixes), `timestamp` DELTA_BINARY_PACKED, `trace_id`
/// DELTA_LENGTH_BYTE_ARRAY (lengths apart from the bytes), `message` PLAIN;
/// none of them with a dictionary. The other fixed columns keep
/// dictionaries. An attribute column whose sampled values are mostly
/// distinct ([`high_cardinality`]) gets no dictionary and
/// DELTA_LENGTH_BYTE_ARRAY (strings) or BYTE_STREAM_SPLIT (integers,
/// floats); the others keep dictionaries.
pub(crate) fn writer_properties(
    level: ZstdLevel,
    options: &SegmentOptions,
    plan: &[AttrColumn<'_>],
    index: &HashMap<&str, usize>,
    rows: &[&SegmentRow],
) -> WriterProperties {
    let path = ColumnPath::from;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(options.row_group_rows)
        .set_data_page_size_limit(DATA_PAGE_BYTES)
        // Pages are cut by size only: a row group's rows fit in one page
        // unless they are more than DATA_PAGE_BYTES.
        .set_data_page_row_count_limit(options.row_group_rows.max(1))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Min/max of free text and random ids prune nothing (free-text search
        // uses the skip index's token filter) and cost a string comparison
        // per value.
        .set_column_statistics_enabled(path(columns::MESSAGE), EnabledStatistics::None)
        .set_column_statistics_enabled(path(columns::TRACE_ID), EnabledStatistics::None)
        .set_column_statistics_enabled(path(columns::OVERFLOW), EnabledStatistics::None)
        .set_dictionary_enabled(true)
        .set_sorting_columns(Some(vec![SortingColumn::new(SERVICE_LEAF, false, true)]));
    // Messages, ids, trace ids and timestamps are high-cardinality: a
    // dictionary would overflow and fall back to plain, costing CPU on every
    // flush for nothing zstd does not already get.
    for (column, encoding) in [
        (columns::ID, Encoding::DELTA_BYTE_ARRAY),
        (columns::TIMESTAMP, Encoding::DELTA_BINARY_PACKED),
        (columns::TRACE_ID, Encoding::DELTA_LENGTH_BYTE_ARRAY),
        (columns::MESSAGE, Encoding::PLAIN),
    ] {
        builder = builder
            .set_column_dictionary_enabled(path(column), false)
            .set_column_encoding(path(column), encoding);
    }
    let distinct = high_cardinality(plan, index, rows);
    for (column, high) in plan.iter().zip(distinct) {
        let encoding = match column.kind {
            Kind::Str => Encoding::DELTA_LENGTH_BYTE_ARRAY,
            Kind::Int | Kind::Float => Encoding::BYTE_STREAM_SPLIT,
            Kind::Bool => continue,
        };
        if high {
            let name = ColumnPath::from(format!("{}{}", columns::ATTRIBUTE_PREFIX, column.path));
            builder = builder
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_encoding(name, encoding);
        }
    }
    builder.build()
}

/// For each planned attribute column, whether more than half of its values
/// in [`DICTIONARY_SAMPLE_ROWS`] evenly spaced rows are distinct (a
/// dictionary would hold nearly every value once more). Only the values that
/// will land in the column are counted: a row's first value for the path, of
/// the column's type.
pub(crate) fn high_cardinality(
    plan: &[AttrColumn<'_>],
    index: &HashMap<&str, usize>,
    rows: &[&SegmentRow],
) -> Vec<bool> {
    let mut values = vec![0usize; plan.len()];
    let mut strings: Vec<HashSet<&str>> = vec![HashSet::default(); plan.len()];
    let mut bits: Vec<HashSet<u64>> = vec![HashSet::default(); plan.len()];
    let mut seen = vec![false; plan.len()];
    let step = rows.len().div_ceil(DICTIONARY_SAMPLE_ROWS).max(1);
    for row in rows.iter().step_by(step) {
        seen.fill(false);
        for (path, value) in &row.event.attributes {
            let Some(&c) = index.get(path.as_str()) else {
                continue;
            };
            if std::mem::replace(&mut seen[c], true) || Kind::of(value) != Some(plan[c].kind) {
                continue;
            }
            values[c] += 1;
            match value {
                AttrValue::Str(s) => {
                    strings[c].insert(s);
                }
                // Same bits, same value for the dictionary (NaN payloads too).
                AttrValue::Int(i) => {
                    bits[c].insert(*i as u64);
                }
                AttrValue::Float(f) => {
                    bits[c].insert(f.to_bits());
                }
                AttrValue::Bool(_) | AttrValue::Json(_) => {}
            }
        }
    }
    (0..plan.len())
        .map(|c| values[c] > 0 && 2 * (strings[c].len() + bits[c].len()) > values[c])
        .collect()
}
