//! `strata-segment` writes and reads Strata's **segments**: immutable Parquet
//! files holding one tenant's events of one hour bucket, sorted by
//! `(service, status, timestamp, id)` and compressed with zstd.
//!
//! A segment has fixed columns for the [`Event`] fields (`id`, `timestamp`,
//! `status`, `service`, `host`, `source`, `trace_id`, `message`, `tags`), one
//! typed column per frequent attribute path (`@http.status_code`, ...) and an
//! `_overflow` column that holds, as tagged JSON, every attribute that did not
//! get a column. Reading a segment back restores every [`Event`] exactly (its
//! attributes sorted by key). The byte-level layout is specified in
//! `docs/segment-format.md` at the repository root; the [`columns`] and
//! [`meta_keys`] modules name its columns and footer keys.
//!
//! What it is not: it does no object-storage I/O (callers hand it a writer or
//! the bytes of a whole file), keeps no catalog of segments (that is
//! `strata-metastore`), and plans or runs no queries.
//!
//! Key items: [`write_segment`], [`read_segment`], [`read_meta`],
//! [`SegmentOptions`], [`SegmentRow`], [`SegmentMeta`], [`SegmentError`],
//! [`column_sizes`] (where a segment's bytes go),
//! and the [`SkipIndex`] every segment carries in its footer so that queries
//! can skip segments without reading them ([`read_skip_index`]).
//!
//! ```
//! use strata_segment::{read_meta, read_segment, write_segment, SegmentOptions, SegmentRow};
//! use strata_types::{event_id, AttrValue, Event, Status};
//!
//! let mut event = Event::new(1_700_000_000_000_000_000, "GET /health".to_string());
//! event.status = Status::Ok;
//! event.service = Some("web".to_string());
//! event.tags = vec!["env:prod".to_string()];
//! event.attributes.push(("http.status_code".to_string(), AttrValue::Int(200)));
//! let rows = vec![SegmentRow { id: event_id(1, 0), event: event.clone() }];
//!
//! let mut file = Vec::new();
//! let meta = write_segment(rows, &SegmentOptions::default(), &mut file).unwrap();
//! assert_eq!(meta.rows, 1);
//! assert_eq!(meta.attribute_columns, 1);
//!
//! let bytes = bytes::Bytes::from(file);
//! assert_eq!(read_meta(bytes.clone()).unwrap(), meta);
//! let back = read_segment(bytes).unwrap();
//! assert_eq!(back[0].id, event_id(1, 0));
//! assert_eq!(back[0].event, event);
//! ```
#![warn(missing_docs)]

mod layout;
mod overflow;
mod reader;
mod sizes;
pub mod skip_index;
mod writer;

use strata_types::Event;

pub use reader::{read_meta, read_segment};
pub use sizes::{column_sizes, read_column_sizes, ColumnSize};
pub use skip_index::{read_skip_index, SkipIndex};
pub use writer::{write_segment, write_segment_refs};

/// The segment format version this crate writes and reads, stored under
/// [`meta_keys::VERSION`].
pub const SEGMENT_VERSION: &str = "1";

/// Column names of a segment.
pub mod columns {
    /// Event id, `Utf8`, non-null.
    pub const ID: &str = "id";
    /// Event time, `Timestamp(Nanosecond, "UTC")`, non-null.
    pub const TIMESTAMP: &str = "timestamp";
    /// Status name (`Status::as_str`), `Dictionary(Int8, Utf8)`, non-null.
    pub const STATUS: &str = "status";
    /// Service, `Utf8`, nullable.
    pub const SERVICE: &str = "service";
    /// Host, `Utf8`, nullable.
    pub const HOST: &str = "host";
    /// Source, `Utf8`, nullable.
    pub const SOURCE: &str = "source";
    /// Trace id, `Utf8`, nullable.
    pub const TRACE_ID: &str = "trace_id";
    /// Message, `Utf8`, non-null.
    pub const MESSAGE: &str = "message";
    /// Tags, `List<Utf8>` (non-null items), non-null.
    pub const TAGS: &str = "tags";
    /// Attributes without a column, tagged JSON object, `Utf8`, nullable.
    pub const OVERFLOW: &str = "_overflow";
    /// Prefix of attribute column names: path `http.status_code` is column
    /// `@http.status_code`.
    pub const ATTRIBUTE_PREFIX: &str = "@";
}

/// Parquet footer key-value metadata keys written by [`write_segment`].
pub mod meta_keys {
    /// Format version, [`SEGMENT_VERSION`](crate::SEGMENT_VERSION).
    pub const VERSION: &str = "strata.segment.version";
    /// Number of rows, decimal.
    pub const ROWS: &str = "strata.rows";
    /// Smallest event timestamp (ns), decimal.
    pub const MIN_TIMESTAMP_NS: &str = "strata.min_timestamp_ns";
    /// Largest event timestamp (ns), decimal.
    pub const MAX_TIMESTAMP_NS: &str = "strata.max_timestamp_ns";
    /// Start of the segment's hour bucket (ns), decimal.
    pub const HOUR_BUCKET_NS: &str = "strata.hour_bucket_ns";
    /// Number of `@` attribute columns, decimal.
    pub const ATTRIBUTE_COLUMNS: &str = "strata.attribute_columns";
    /// Number of rows whose `_overflow` is not null, decimal.
    pub const OVERFLOW_ROWS: &str = "strata.overflow_rows";
    /// Human-readable sort key, informational only.
    pub const SORT_KEY: &str = "strata.sort_key";
    /// The skip index ([`SkipIndex`](crate::SkipIndex)): base64 of its
    /// versioned binary encoding. Absent in segments written before it
    /// existed.
    pub const SKIP_INDEX: &str = "strata.skip_index";
}

/// How [`write_segment`] lays a segment out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Most `@` attribute columns one segment may have; the most frequent
    /// paths get them, the rest go to `_overflow`. `0` puts every attribute
    /// in `_overflow`. Default 256.
    pub max_attribute_columns: usize,
    /// Rows per Parquet row group, at least 1. Default 65,536.
    pub row_group_rows: usize,
    /// zstd compression level, 1 to 22. Default 6: flushes are on the ingest
    /// path. Compaction uses 9 ([`SegmentOptions::compaction`]); levels above
    /// 9 cost 4-20x the CPU for 1-8% smaller segments (docs/benchmarks.md,
    /// "Storage (issue 4)").
    pub zstd_level: i32,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            max_attribute_columns: 256,
            row_group_rows: 64 * 1024,
            zstd_level: 6,
        }
    }
}

impl SegmentOptions {
    /// The options compaction writes its large merged segments with: zstd
    /// level 9 (about 45 MB/s of raw input per core, a flush's cost; level 6
    /// is 2.5% larger, 12 is 1.5% smaller at a quarter of the speed) and
    /// row groups of 131,072 rows (1% smaller than 65,536). Measured by
    /// `strata bench compression` (docs/benchmarks.md, "Storage (issue 4)").
    pub fn compaction() -> Self {
        SegmentOptions {
            zstd_level: 9,
            row_group_rows: 128 * 1024,
            ..SegmentOptions::default()
        }
    }
}

/// One stored event and its id (see `strata_types::event_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    /// The event's stable id.
    pub id: String,
    /// The event.
    pub event: Event,
}

/// What a segment holds, as written to its footer metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentMeta {
    /// Number of rows (events).
    pub rows: u64,
    /// Smallest event timestamp, ns since the epoch.
    pub min_timestamp_ns: i64,
    /// Largest event timestamp, ns since the epoch.
    pub max_timestamp_ns: i64,
    /// Start of the hour bucket every event is in (`strata_types::hour_bucket`).
    pub hour_bucket_ns: i64,
    /// Number of `@` attribute columns.
    pub attribute_columns: usize,
    /// Number of rows with at least one attribute in `_overflow`.
    pub overflow_rows: u64,
}

/// Why a segment could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// [`write_segment`] was given no rows.
    #[error("a segment needs at least one row")]
    Empty,
    /// [`write_segment`] was given rows from more than one hour bucket.
    #[error("rows span more than one hour bucket ({first} and {other})")]
    MixedHourBuckets {
        /// The bucket of the first row.
        first: i64,
        /// Another bucket found.
        other: i64,
    },
    /// [`SegmentOptions`] are out of range.
    #[error("invalid segment options: {0}")]
    InvalidOptions(String),
    /// The segment's format version is not one this crate reads.
    #[error("unsupported segment version {0:?}")]
    UnsupportedVersion(String),
    /// A footer metadata key is missing or does not parse.
    #[error("segment metadata {key}: {problem}")]
    Metadata {
        /// The key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The file's columns, values or `_overflow` JSON do not follow the format.
    #[error("corrupt segment: {0}")]
    Corrupt(String),
    /// The Parquet library failed (including I/O on the writer).
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The Arrow library failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// Decodes one row's `_overflow` text (§4 of the format) into `(path, value)`
/// pairs, keys ascending. For readers that work on record batches directly.
pub fn decode_overflow(text: &str) -> Result<Vec<(String, strata_types::AttrValue)>, SegmentError> {
    let mut out = Vec::new();
    overflow::decode(text, &mut out)?;
    Ok(out)
}

/// The rows of one record batch read from a segment (all columns), as
/// [`read_segment`] would return them.
pub fn batch_rows(batch: &arrow_array::RecordBatch) -> Result<Vec<SegmentRow>, SegmentError> {
    let mut rows = Vec::with_capacity(batch.num_rows());
    reader::read_batch(batch, &mut rows)?;
    Ok(rows)
}
