//! `strata-wal` is Strata's write-ahead log: a durable, append-only log of
//! opaque payloads with group commit and crash recovery. An ingest request is
//! acknowledged only once its batch is a record here; after a crash, the
//! records are replayed so nothing acknowledged is lost.
//!
//! It is **not** a queue (nothing is consumed or acknowledged per record: the
//! caller deletes whole old files with [`Wal::remove_through`] once their
//! records are stored elsewhere), and it does not interpret payloads (Strata
//! stores `strata_types::batch`-encoded bytes in it, but any bytes will do).
//!
//! # Key types
//!
//! - [`Wal`]: the log. [`Wal::open`] recovers the directory and starts the
//!   writer thread; [`Wal::append`] queues a record and returns a future that
//!   resolves to its sequence number once the record is durable.
//! - [`WalOptions`] / [`WalConfig`] / [`Durability`]: how to open it, with the
//!   `on_commit` callback that receives each record's seq and caller item.
//! - [`RecoveryReport`]: what recovery found. [`GroupStats`]: one group commit.
//! - [`read_dir`]: a read-only scan for offline tools.
//! - [`WalError`]: every error. [`WalFs`] / [`WalFile`]: the file operations,
//!   replaceable for fault injection.
//!
//! # Group commit
//!
//! One writer thread takes the first queued append, then everything else
//! already queued (up to [`WalConfig::max_group_bytes`]), writes the whole
//! group with one `write` and makes it durable with one `fdatasync`: one fsync
//! serves many concurrent requests. Then, in seq order, it calls `on_commit`
//! for each record, then resolves each record's future. If the write or the
//! fsync fails, the WAL is **poisoned** for good (a failed fsync is never
//! retried: the kernel may have dropped the dirty pages, see "fsyncgate"):
//! that group and every later append fail with [`WalError::Poisoned`] until
//! the process reopens the WAL, which re-reads what is really on disk.
//!
//! Sequence numbers start at 1 and increase by exactly 1 per record, across
//! restarts and file removals.
//!
//! # On-disk format
//!
//! Little-endian throughout. Files are named `wal-<first seq, 20 zero-padded
//! digits>.log`, e.g. `wal-00000000000000000001.log`: the seq the file's first
//! record has (or will have). Each file is a 16-byte header followed by
//! records:
//!
//! ```text
//! file header (16 bytes)
//!   0..8    magic        b"STRATAWL"
//!   8..12   version      u32 = 1
//!   12..16  reserved     u32 = 0 (ignored on read)
//! record (16 + payload_len bytes)
//!   0..4    payload_len  u32, at most 64 MiB (MAX_PAYLOAD_BYTES)
//!   4..8    crc          u32, CRC32C over the 8 seq bytes then the payload
//!   8..16   seq          u64
//!   16..    payload      payload_len bytes
//! ```
//!
//! # Recovery
//!
//! Files are read in seq order; the seqs must be contiguous (each file starts
//! right after the previous one ends, each record is previous + 1).
//!
//! - **Torn tail**: in the last file, an invalid record (incomplete, or with a
//!   bad CRC or length) after which no valid record follows is the
//!   unacknowledged tail of an interrupted write: the file is truncated there
//!   (and fsynced), reported in [`RecoveryReport::truncated_bytes`] and logged
//!   at `warn!`. A last file shorter than its header (or with an all-zero
//!   header) was being created: its header is rewritten.
//! - **Corruption**: an invalid record followed by a valid one, any invalid
//!   record in an earlier file, a record whose seq is not previous + 1, or a
//!   gap between files is [`WalError::Corrupt`], unless
//!   [`WalOptions::repair`] is set: then the log is cut there (later files are
//!   deleted), logged at `error!`, and the dropped seqs are handed out again.
//! - **Foreign files**: a wrong magic or unknown version is
//!   [`WalError::BadHeader`], even in repair mode.
//!
//! `docs/wal-format.md` in the repository has the full description.
//!
//! # Example
//!
//! ```
//! use strata_wal::{Wal, WalConfig, WalOptions};
//! use std::sync::{Arc, Mutex};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let committed = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&committed);
//! let options = WalOptions::new(WalConfig::test_config(dir.path()), move |seq, request: &str| {
//!     // Runs on the writer thread once the record is durable.
//!     sink.lock().unwrap().push((seq, request));
//! });
//! let (wal, report) = Wal::open(options, |_, _| Ok(()))?;
//! assert_eq!(report.last_seq, 0);
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let seq = runtime.block_on(wal.append(b"hello".to_vec(), "request-1"))?;
//! assert_eq!(seq, 1);
//! assert_eq!(*committed.lock().unwrap(), vec![(1, "request-1")]);
//! wal.close()?;
//!
//! // After a restart, every record is replayed.
//! let mut replayed = Vec::new();
//! let options = WalOptions::new(WalConfig::test_config(dir.path()), |_, _: &str| {});
//! let (wal, report) = Wal::open(options, |seq, payload| {
//!     replayed.push((seq, payload.to_vec()));
//!     Ok(())
//! })?;
//! assert_eq!(replayed, vec![(1, b"hello".to_vec())]);
//! assert_eq!(report.last_seq, 1);
//! assert_eq!(runtime.block_on(wal.append(b"again".to_vec(), "request-2"))?, 2);
//! wal.close()?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod format;
mod fs;
mod recovery;
mod wal;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::WalError;
pub use format::{FILE_HEADER_BYTES, MAGIC, MAX_PAYLOAD_BYTES, RECORD_HEADER_BYTES, VERSION};
pub use fs::{StdFs, WalFile, WalFs};
pub use recovery::RecoveryReport;
pub use wal::{Durability, GroupStats, OnCommit, OnGroup, Wal, WalConfig, WalOptions};

/// Read-only scan for offline tools (`strata admin export` runs while the
/// server is stopped): calls `f(seq, payload)` for every valid record, in
/// order.
///
/// A torn tail in the last file is tolerated: the scan stops there, modifies
/// nothing, and reports the ignored bytes in
/// [`RecoveryReport::truncated_bytes`]. A corrupt record anywhere else is
/// [`WalError::Corrupt`]; a missing directory is [`WalError::Io`].
pub fn read_dir(
    dir: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), WalError>,
) -> Result<RecoveryReport, WalError> {
    read_dir_with_fs(&StdFs, dir, &mut f)
}

/// [`read_dir`] on another [`WalFs`].
pub fn read_dir_with_fs(
    fs: &dyn WalFs,
    dir: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), WalError>,
) -> Result<RecoveryReport, WalError> {
    let scan = recovery::scan(fs, dir, false, &mut f)?;
    Ok(scan.report)
}
