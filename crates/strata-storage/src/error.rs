//! The crate's one error type.

use parquet::errors::ParquetError;

/// What went wrong in a storage operation. Callers act on the variant
/// (`NotFound` is an answer, `ObjectStore`/`Io` may be retried), never on
/// the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist.
    #[error("object not found: {path}")]
    NotFound {
        /// The path that was asked for.
        path: String,
    },
    /// A path or list prefix was refused before any I/O (empty, absolute,
    /// `.`/`..` or empty components, control characters).
    #[error("invalid object path {path:?}: {reason}")]
    InvalidPath {
        /// The refused path.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A byte range with `start > end`.
    #[error("invalid byte range {start}..{end} of {path}")]
    InvalidRange {
        /// The object.
        path: String,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// Local file I/O failed (durable local writes, the range cache).
    #[error("storage i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The object store (local, memory or S3) failed.
    #[error("object store error: {0}")]
    ObjectStore(#[source] object_store::Error),
    /// The backend could not be configured.
    #[error("storage configuration error: {0}")]
    Config(String),
    /// Parquet metadata or data could not be decoded.
    #[error("parquet error: {0}")]
    Parquet(#[source] ParquetError),
    /// An I/O task on the storage runtime panicked or was cancelled: a bug.
    #[error("storage runtime error: {0}")]
    Internal(String),
}

/// `Result` with [`StorageError`] as the default error.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Maps an `object_store` error about `path` (our path, without the
    /// backend's prefix) to a [`StorageError`], turning "not found" into
    /// [`StorageError::NotFound`].
    pub(crate) fn from_object_store(path: &str, error: object_store::Error) -> StorageError {
        match error {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                path: path.to_string(),
            },
            other => StorageError::ObjectStore(other),
        }
    }

    /// True for [`StorageError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

impl From<ParquetError> for StorageError {
    /// A `StorageError` that travelled through the Parquet reader (as
    /// `ParquetError::External`) comes back as itself.
    fn from(error: ParquetError) -> StorageError {
        match error {
            ParquetError::External(inner) => match inner.downcast::<StorageError>() {
                Ok(storage) => *storage,
                Err(other) => StorageError::Parquet(ParquetError::External(other)),
            },
            other => StorageError::Parquet(other),
        }
    }
}

impl From<StorageError> for ParquetError {
    fn from(error: StorageError) -> ParquetError {
        ParquetError::External(Box::new(error))
    }
}

impl From<tokio::task::JoinError> for StorageError {
    fn from(error: tokio::task::JoinError) -> StorageError {
        StorageError::Internal(format!("i/o task failed: {error}"))
    }
}
