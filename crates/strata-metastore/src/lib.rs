//! `strata-metastore` is Strata's control-plane catalog: tenants and their
//! quotas, hashed API and application keys, the segment catalog and the
//! per-tenant WAL checkpoints, behind one [`Metastore`] trait.
//!
//! It is not the data path: events never go through it, only the rows that
//! say which segments exist. The embedded implementation is
//! [`SqliteMetastore`] (a file in the data directory, migrations embedded);
//! PostgreSQL will implement the same trait and pass the same conformance
//! suite ([`conformance`]).
//!
//! Secrets are never stored: a key's id is its first 8 characters and the
//! catalog keeps the SHA-256 of the whole secret. [`KeyRing`] authenticates
//! a presented secret by id lookup, then a constant-time hash comparison.
#![warn(missing_docs)]

pub mod conformance;
mod keys;
mod sqlite;

use std::collections::HashMap;

use async_trait::async_trait;
use strata_types::TenantId;

pub use keys::{generate_secret, hash_secret, AuthenticatedKey, KeyRing};
pub use sqlite::SqliteMetastore;

/// Metastore errors.
#[derive(Debug, thiserror::Error)]
pub enum MetastoreError {
    /// The backing database failed.
    #[error("metastore database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error("metastore migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The named tenant does not exist.
    #[error("tenant {0} not found")]
    TenantNotFound(String),
    /// The tenant already exists.
    #[error("tenant {0} already exists")]
    TenantExists(String),
    /// The tenant id is not valid.
    #[error("invalid tenant id {0:?}: use 1-64 characters of a-z, 0-9, _ and -")]
    InvalidTenantId(String),
    /// No key has this id.
    #[error("key {0} not found")]
    KeyNotFound(String),
    /// A segment to replace is no longer in the catalog (another compaction
    /// or retention pass replaced it first); nothing changed.
    #[error("segment {segment} of tenant {tenant} is no longer in the catalog")]
    SegmentGone {
        /// Tenant.
        tenant: String,
        /// The missing segment id.
        segment: String,
    },
    /// The tenant's checkpoint is already at or past this registration's:
    /// these events are registered (a retry of a commit that succeeded).
    #[error("segments up to WAL seq {checkpoint_seq} of tenant {tenant} are already registered")]
    AlreadyRegistered {
        /// Tenant.
        tenant: String,
        /// The checkpoint of the refused registration.
        checkpoint_seq: u64,
    },
}

/// `Result` with [`MetastoreError`].
pub type Result<T, E = MetastoreError> = std::result::Result<T, E>;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// API key: ingest (`DD-API-KEY`).
    Api,
    /// Application key: read/query (`DD-APPLICATION-KEY`).
    App,
}

impl KeyKind {
    /// `api` or `app`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Api => "api",
            KeyKind::App => "app",
        }
    }

    /// Parses `api` or `app`.
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "api" => Some(KeyKind::Api),
            "app" => Some(KeyKind::App),
            _ => None,
        }
    }
}

/// A tenant's data stream: segments and WAL checkpoints are kept per stream,
/// so each stream flushes on its own schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Log events (and events, service checks, spans stored as events).
    Logs,
    /// Metric points and sketches.
    Metrics,
}

impl Stream {
    /// Every stream.
    pub const ALL: [Stream; 2] = [Stream::Logs, Stream::Metrics];

    /// The name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Logs => "logs",
            Stream::Metrics => "metrics",
        }
    }
}

/// Per-tenant ingest quota; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Events per second.
    pub events_per_sec: Option<u64>,
    /// Uncompressed bytes per second.
    pub bytes_per_sec: Option<u64>,
}

/// A tenant row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Tenant id.
    pub id: TenantId,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Ingest quota.
    pub quota: Quota,
    /// Retention in days; `None` follows the node default
    /// (`retention.default_days`).
    pub retention_days: Option<u32>,
}

/// A key row (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Key id: the secret's first 8 characters.
    pub id: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Kind.
    pub kind: KeyKind,
    /// SHA-256 of the secret.
    pub sha256: [u8; 32],
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
}

/// A segment to register or registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    /// Segment id.
    pub id: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Object path relative to the segment store root; starts with the tenant id.
    pub path: String,
    /// Hour bucket start, ns.
    pub hour_bucket_ns: i64,
    /// Smallest event timestamp, ns.
    pub min_ts_ns: i64,
    /// Largest event timestamp, ns.
    pub max_ts_ns: i64,
    /// Number of events.
    pub rows: u64,
    /// File size in bytes.
    pub size_bytes: u64,
}

/// A storage object that left the catalog and waits for its deletion time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDeletion {
    /// Object path relative to the segment store root.
    pub path: String,
    /// Owning tenant.
    pub tenant: TenantId,
    /// Not deleted before this time, ms since the epoch.
    pub delete_after_ms: i64,
}

/// The catalog. All methods are transactional on their own.
#[async_trait]
pub trait Metastore: Send + Sync + std::fmt::Debug {
    /// Creates a tenant.
    async fn create_tenant(&self, id: &str, now_ms: i64) -> Result<Tenant>;
    /// All tenants, by id.
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    /// Sets a tenant's ingest quota.
    async fn set_quota(&self, tenant: &str, quota: Quota) -> Result<()>;
    /// Creates a key and returns its row and its secret (shown once).
    async fn create_key(
        &self,
        tenant: &str,
        kind: KeyKind,
        now_ms: i64,
    ) -> Result<(KeyInfo, String)>;
    /// Keys of one tenant or of all, revoked ones included.
    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyInfo>>;
    /// Revokes a key by id.
    async fn revoke_key(&self, key_id: &str, now_ms: i64) -> Result<()>;
    /// Registers segments of `stream` and advances the tenant's WAL
    /// checkpoint of that stream to `checkpoint_seq`, in one transaction:
    /// either all of it happens or none. Non-empty `segments` with a
    /// checkpoint at or below the stored one are refused with
    /// [`MetastoreError::AlreadyRegistered`] and change nothing.
    async fn register_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        segments: &[SegmentRecord],
        checkpoint_seq: u64,
        now_ms: i64,
    ) -> Result<()>;
    /// Segments of `stream` of a tenant (or of all tenants) overlapping
    /// `[from_ns, to_ns]`, newest first.
    async fn list_stream_segments(
        &self,
        stream: Stream,
        tenant: Option<&str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SegmentRecord>>;
    /// Every tenant's WAL checkpoint of `stream`.
    async fn stream_checkpoints(&self, stream: Stream) -> Result<HashMap<TenantId, u64>>;
    /// [`Metastore::register_stream_segments`] for [`Stream::Logs`].
    async fn register_segments(
        &self,
        tenant: &str,
        segments: &[SegmentRecord],
        checkpoint_seq: u64,
        now_ms: i64,
    ) -> Result<()> {
        self.register_stream_segments(Stream::Logs, tenant, segments, checkpoint_seq, now_ms)
            .await
    }
    /// [`Metastore::list_stream_segments`] for [`Stream::Logs`].
    async fn list_segments(
        &self,
        tenant: Option<&str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SegmentRecord>> {
        self.list_stream_segments(Stream::Logs, tenant, from_ns, to_ns)
            .await
    }
    /// [`Metastore::stream_checkpoints`] for [`Stream::Logs`].
    async fn checkpoints(&self) -> Result<HashMap<TenantId, u64>> {
        self.stream_checkpoints(Stream::Logs).await
    }
    /// Sets a tenant's retention in days (`None`: the node default).
    async fn set_retention(&self, tenant: &str, days: Option<u32>) -> Result<()>;
    /// In ONE transaction: removes the segments `remove` (ids) of `tenant`
    /// from the catalog, queues their objects for deletion after
    /// `delete_after_ms`, and registers `add` in `stream`. Compaction swaps its inputs for
    /// its output with it; retention drops expired segments with an empty
    /// `add`. If any id of `remove` is not in the catalog, nothing changes
    /// and the answer is [`MetastoreError::SegmentGone`]. The WAL checkpoint
    /// is not touched: the rows were already registered.
    async fn replace_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        remove: &[String],
        add: &[SegmentRecord],
        delete_after_ms: i64,
        now_ms: i64,
    ) -> Result<()>;
    /// [`Metastore::replace_stream_segments`] for [`Stream::Logs`].
    async fn replace_segments(
        &self,
        tenant: &str,
        remove: &[String],
        add: &[SegmentRecord],
        delete_after_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        self.replace_stream_segments(Stream::Logs, tenant, remove, add, delete_after_ms, now_ms)
            .await
    }
    /// Queued deletions, oldest deadline first; only those due at `now_ms`
    /// when it is `Some`, at most `limit`.
    async fn pending_deletions(
        &self,
        now_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingDeletion>>;
    /// Forgets queued deletions whose objects are gone.
    async fn forget_deletions(&self, paths: &[String]) -> Result<()>;
}
