//! Offline export: every stored event of a tenant, flushed and unflushed,
//! each exactly once, read straight from the segment files and the WAL.
//!
//! Exactly-once comes from the checkpoint invariant: a WAL record of tenant
//! `T` with `seq <= checkpoint(T)` is in a registered segment, and one with
//! `seq > checkpoint(T)` is in none. Unregistered segment files (crash
//! leftovers) are never read because only catalog rows are listed.

use std::io::Write;
use std::path::Path;

use strata_metastore::{Metastore, MetastoreError};
use strata_segment::SegmentError;
use strata_storage::{SegmentStore, StorageError};
use strata_types::event_id;

/// Export errors.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The catalog could not be read.
    #[error("metastore: {0}")]
    Metastore(#[from] MetastoreError),
    /// A segment file could not be read.
    #[error("segment {path}: {source}")]
    SegmentIo {
        /// Relative path.
        path: String,
        /// Cause.
        source: StorageError,
    },
    /// A segment file could not be decoded.
    #[error("segment {path}: {source}")]
    Segment {
        /// Relative path.
        path: String,
        /// Cause.
        source: SegmentError,
    },
    /// The WAL could not be read.
    #[error("wal: {0}")]
    Wal(#[from] strata_wal::WalError),
    /// Writing the output failed.
    #[error("output: {0}")]
    Output(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Events from segments.
    pub segment_events: u64,
    /// Events from the WAL (not yet flushed).
    pub wal_events: u64,
    /// Segments read.
    pub segments: u64,
}

/// Writes every event of `tenant` with `from_ns <= timestamp <= to_ns` as one
/// JSON object per line (see `strata_types::Event::to_json`).
pub async fn export(
    metastore: &dyn Metastore,
    store: &SegmentStore,
    wal_dir: &Path,
    tenant: &str,
    from_ns: i64,
    to_ns: i64,
    out: &mut (dyn Write + Send),
) -> Result<ExportStats, ExportError> {
    let mut stats = ExportStats::default();
    let in_range = |ts: i64| from_ns <= ts && ts <= to_ns;
    for segment in metastore
        .list_segments(Some(tenant), from_ns, to_ns)
        .await?
    {
        let bytes = store
            .get(&segment.path)
            .await
            .map_err(|source| ExportError::SegmentIo {
                path: segment.path.clone(),
                source,
            })?;
        let rows = strata_segment::read_segment(bytes).map_err(|source| ExportError::Segment {
            path: segment.path.clone(),
            source,
        })?;
        stats.segments += 1;
        for row in rows.iter().filter(|r| in_range(r.event.timestamp_ns)) {
            serde_json::to_writer(&mut *out, &row.event.to_json(&row.id))
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            stats.segment_events += 1;
        }
    }
    let checkpoint = metastore
        .checkpoints()
        .await?
        .get(tenant)
        .copied()
        .unwrap_or(0);
    if wal_dir.exists() {
        strata_wal::read_dir(wal_dir, |seq, payload| {
            // Metric batches share the WAL; export writes events only.
            if seq <= checkpoint || !strata_types::batch::is_log_batch(payload) {
                return Ok(());
            }
            let batch = strata_types::batch::decode(payload)
                .map_err(|e| strata_wal::WalError::Replay(format!("record {seq}: {e}")))?;
            if batch.tenant != tenant {
                return Ok(());
            }
            for (index, event) in batch.events.iter().enumerate() {
                if !in_range(event.timestamp_ns) {
                    continue;
                }
                let line = event.to_json(&event_id(seq, index as u32));
                let written = serde_json::to_writer(&mut *out, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                written.map_err(|e| strata_wal::WalError::Replay(format!("output: {e}")))?;
                stats.wal_events += 1;
            }
            Ok(())
        })?;
    }
    out.flush()?;
    Ok(stats)
}
