//! `strata-index` holds the tenants' in-memory tables and turns them into
//! segments: [`Index::apply`] inserts a committed WAL record's events into its
//! tenant's memtable, [`Index::flush_due`] freezes memtables that are too big
//! or too old and writes them as Parquet segments (one per hour bucket, split
//! into one per core when a bucket is large, written in parallel),
//! registered in the metastore together with the tenant's WAL checkpoint in
//! one transaction. [`compaction`] merges a tenant's small segments of one
//! hour bucket (size-tiered) and swaps them in one transaction; [`lifecycle`]
//! holds retention, deferred deletion of replaced objects, the orphan sweep
//! and the I/O bound of that background work. [`export`] reads a stopped
//! node's segments and WAL.
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
//! - A segment object is durable (fsynced and renamed, or acknowledged by the
//!   object store) before it is registered; objects that are neither in the
//!   catalog nor queued for deletion are orphans of a crash and are deleted at
//!   start ([`lifecycle::remove_orphans`]).
//! - Compaction and retention change the catalog only through
//!   `Metastore::replace_segments` (one transaction) followed by
//!   [`Index::swap_segments`] (one lock): a snapshot holds every row exactly
//!   once, before and after. Replaced objects are deleted only after a grace
//!   period longer than a query may run.
#![warn(missing_docs)]

pub mod compaction;
mod export;
pub mod lifecycle;
mod memtable;

pub use compaction::{CompactionConfig, CompactionStats, Compactor, MergeJob};
pub use export::{export, ExportError, ExportStats};
pub use lifecycle::{IoLimiter, RetentionStats};
pub use memtable::{FlushStats, Index, IndexConfig, IndexError, MemChunk, Snapshot};
