//! `strata-tsdb` is the metrics store: per-tenant memtables of metric points
//! (one immutable chunk per WAL record), their flush to columnar metric
//! segments (one Parquet file per tenant and hour bucket, rows sorted by
//! metric, series id and time; layout in [`segment`] and
//! `docs/metrics-format.md`), the catalog of the metastore's `metrics`
//! stream, push-down scans ([`Tsdb::scan`]) that the query engine folds into
//! time buckets as points stream by , compaction
//! ([`compaction`]) and retention ([`Tsdb::expire`]).
//!
//! It is not the WAL (the server appends metric batches to the same WAL as
//! logs and calls [`Tsdb::apply`] from the commit callback), not a decoder
//! (`strata-ingest`, `strata-metrics::statsd`) and not the query language
//! (`strata-metrics-query`).
#![warn(missing_docs)]

pub mod compaction;
mod memtable;
mod scan;
pub mod segment;
pub mod source;
mod store;

pub use memtable::MetricChunk;
pub use scan::{ScanRequest, Summary, Visitor};
pub use store::{segment_path, FlushStats, PreparedChunk, Snapshot, Tsdb, TsdbConfig};

/// Metrics store errors.
#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    /// The segment store failed.
    #[error("storage: {0}")]
    Storage(#[from] strata_storage::StorageError),
    /// The metastore failed.
    #[error("metastore: {0}")]
    Metastore(#[from] strata_metastore::MetastoreError),
    /// Parquet encoding or decoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A segment does not hold what the format promises.
    #[error("corrupt metric segment: {0}")]
    Corrupt(&'static str),
    /// A background task failed.
    #[error("task: {0}")]
    Task(String),
    /// A merge input left the catalog first (another merge or retention won).
    #[error("segment {0} left the catalog")]
    Conflict(String),
}
