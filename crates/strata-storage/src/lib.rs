//! `strata-storage` stores Strata's immutable Parquet segments in an object
//! store: a local directory, memory (tests) or an S3-compatible bucket, all
//! behind `object_store`. [`SegmentStore::open`] takes a [`Backend`] and an
//! optional [`CacheOptions`]; the store puts, gets, lists and deletes
//! objects by path (`{tenant}/{hour_bucket_ns}/{id}.parquet`, see
//! [`SegmentStore::segment_path`]) and reads Parquet footers and projected,
//! row-selected batches through itself ([`SegmentStore::read_metadata_blocking`],
//! [`SegmentStore::read_batches_blocking`], [`StoreFileReader`]).
//! [`conformance::run_all`] is the suite every backend passes.
//!
//! It is not the catalog (it does not know which segments exist or belong to
//! a query: the metastore and `strata-index` do) and it plans no query; it
//! does not write or interpret the segment format (`strata-segment` does).
//!
//! Invariants:
//! - A put is durable when it returns: on local disk the file is written to
//!   `<name>.<unique>.tmp`, fsynced, renamed into place, and its directory
//!   (and any newly created parent up to the root) fsynced; on S3 a PUT is
//!   durable once answered. Crash leftovers end in `.tmp` ([`TMP_SUFFIX`]).
//! - Every object path starts with the tenant id, and listing matches whole
//!   path components, so tenant `a`'s prefix never lists tenant `ab`. Paths
//!   that are empty, absolute, or have empty, `.` or `..` components are
//!   refused before any I/O ([`StorageError::InvalidPath`]).
//! - All backend I/O runs on one process-wide runtime owned by this crate
//!   (two `strata-io` threads, never dropped), so S3 connection pools live on
//!   one runtime whichever runtime or thread calls. Async methods await a
//!   task spawned there; `*_blocking` methods wait for it with
//!   `futures::executor::block_on` and so never panic, whatever the calling
//!   thread (but block it: async code should call the async methods).
//! - The range cache ([`CacheOptions`], for S3; the OS page cache serves local
//!   files) holds byte ranges of immutable objects, so nothing is ever stale;
//!   `put` and `delete` drop the path's cached ranges anyway. It is cleared
//!   at open.
#![warn(missing_docs)]

mod backend;
mod cache;
pub mod conformance;
mod error;
mod local;
mod parquet;
mod runtime;
mod store;

pub use crate::backend::{Backend, CacheOptions, S3Options};
pub use crate::cache::CacheStats;
pub use crate::error::{Result, StorageError};
pub use crate::local::TMP_SUFFIX;
pub use crate::parquet::{BatchIter, StoreFileReader, FOOTER_PREFETCH_BYTES};
pub use crate::store::{ObjectInfo, SegmentStore, StoreStats};
