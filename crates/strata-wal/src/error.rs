//! The error type of every fallible WAL operation.

use std::io;
use std::path::PathBuf;

/// Why a WAL operation failed.
///
/// `Io` keeps the underlying [`io::Error`] as its [`source`](std::error::Error::source);
/// print the whole chain (for example `{:#}` with `anyhow`) to see it.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file system operation failed.
    #[error("{context} {}", path.display())]
    Io {
        /// What the WAL was doing, e.g. `"reading WAL file"`.
        context: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed. The WAL accepts nothing more until it
    /// is reopened (which re-reads what really is on disk).
    #[error("the WAL is poisoned: an earlier write or fsync failed")]
    Poisoned,
    /// The WAL was closed (or its writer thread is gone).
    #[error("the WAL is closed")]
    Closed,
    /// A record is damaged somewhere other than at the torn tail of the last
    /// file, or the sequence numbers are not contiguous. Reopen with
    /// `repair: true` to truncate the log at `offset`.
    #[error("corrupt WAL file {} at byte {offset}: {reason}", file.display())]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Where the first bad record starts (0 for problems with the file as a whole).
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A file named like a WAL file has the wrong magic or an unknown version.
    /// Never repaired: the file may not be ours.
    #[error("bad WAL file header in {}: {reason}", file.display())]
    BadHeader {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The replay callback failed (the WAL returns the callback's error
    /// unchanged; callbacks use this variant for their own failures).
    #[error("WAL replay failed: {0}")]
    Replay(String),
    /// The payload is longer than [`MAX_PAYLOAD_BYTES`](crate::MAX_PAYLOAD_BYTES).
    #[error("WAL payload of {len} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl WalError {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WalError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
