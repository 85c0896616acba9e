//! `strata-index` holds the tenants' in-memory tables and turns them into
//! segments: [`Index::apply`] inserts a committed WAL record's events into its
//! tenant's memtable, [`Index::flush_due`] freezes memtables that are too big
//! or too old and writes them as Parquet segments (one per hour bucket, split
//! into one per core when a bucket is large, written in parallel),
//! registered in the metastore together with the tenant's WAL checkpoint in
//! one transaction. [`export`] reads a stopped node's segments and WAL.
//!
//! It is not the WAL (it never writes it; it tells the caller up to which
//! sequence number the WAL may be truncated, [`Index::safe_wal_seq`]) and not
//! the query engine.
//!
//! Invariants:
//! - A tenant's memtable holds exactly its committed records with
//!   `checkpoint < seq`, in seq order: records are applied in seq order by the
//!   WAL writer thread, and a flush takes the whole memtable.
//! - At most one frozen memtable per tenant is being flushed; a failed flush is
//!   retried before any newer data of that tenant is flushed, so checkpoints
//!   never skip a record. The frozen rows stay in memory (the writer borrows
//!   them) until their segments are registered, so queries keep seeing them
//!   and a retry has them.
//! - [`Index::snapshot`] returns a tenant's segments and memtable chunks
//!   taken under one lock; a flush adds its segments to the in-memory catalog
//!   and drops the frozen memtable under that same lock, so a snapshot sees
//!   every row exactly once.
//! - Registration is idempotent: a checkpoint at or below the stored one is
//!   refused (`AlreadyRegistered`), so a retried commit never doubles events.
//! - A segment file is fsynced and renamed into place before it is registered;
//!   files the catalog does not know are orphans of a crash and are deleted at
//!   start ([`SegmentFiles::remove_orphans`]).
#![warn(missing_docs)]

mod export;
mod files;
mod memtable;

pub use export::{export, ExportError, ExportStats};
pub use files::SegmentFiles;
pub use memtable::{FlushStats, Index, IndexConfig, IndexError, MemChunk, Snapshot};
