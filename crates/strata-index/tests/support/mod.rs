//! Shared setup for the storage-lifecycle tests of issue 4 (compaction,
//! retention, deferred deletion, orphans): an [`Index`] over a real WAL and
//! a local or in-memory segment store, a metastore whose
//! `replace_segments` can be made to fail, and helpers that read every row
//! a tenant holds so that tests can compare before and after.
#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use strata_index::{CompactionConfig, Index, IndexConfig};
use strata_metastore::{
    KeyInfo, KeyKind, Metastore, MetastoreError, PendingDeletion, Quota, SegmentRecord,
    SqliteMetastore, Stream, Tenant,
};
use strata_segment::{read_segment, SegmentOptions, SegmentRow};
use strata_storage::{Backend, SegmentStore};
use strata_types::{batch, hour_bucket, AttrValue, Event, Status, HOUR_NS};
use strata_wal::{Wal, WalConfig, WalOptions};

use crate::common::{self, Item};

/// SQLite with injected failures, as a lost connection or a full disk
/// would cause them.
#[derive(Debug, Default)]
pub struct Faults {
    /// `replace_segments` fails and changes nothing.
    pub replace: AtomicBool,
    /// `replace_segments` fails and changes nothing, for this tenant only.
    pub replace_tenant: Mutex<Option<String>>,
    /// `replace_segments` commits, then reports an error (an answer lost
    /// after COMMIT).
    pub replace_after_commit: AtomicBool,
    /// `register_segments` commits, then reports an error.
    pub register_after_commit: AtomicBool,
    /// `register_segments` fails and changes nothing.
    pub register: AtomicBool,
}

/// SQLite, with the [`Faults`] that are set.
#[derive(Debug)]
pub struct Flaky {
    pub inner: SqliteMetastore,
    pub faults: Faults,
}

fn injected() -> MetastoreError {
    MetastoreError::TenantNotFound("injected failure".into())
}

pub fn set(flag: &AtomicBool, on: bool) {
    flag.store(on, Ordering::SeqCst);
}

#[async_trait]
impl Metastore for Flaky {
    async fn create_tenant(&self, id: &str, now_ms: i64) -> Result<Tenant, MetastoreError> {
        self.inner.create_tenant(id, now_ms).await
    }
    async fn list_tenants(&self) -> Result<Vec<Tenant>, MetastoreError> {
        self.inner.list_tenants().await
    }
    async fn set_quota(&self, tenant: &str, quota: Quota) -> Result<(), MetastoreError> {
        self.inner.set_quota(tenant, quota).await
    }
    async fn create_key(
        &self,
        tenant: &str,
        kind: KeyKind,
        now_ms: i64,
    ) -> Result<(KeyInfo, String), MetastoreError> {
        self.inner.create_key(tenant, kind, now_ms).await
    }
    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyInfo>, MetastoreError> {
        self.inner.list_keys(tenant).await
    }
    async fn revoke_key(&self, key_id: &str, now_ms: i64) -> Result<(), MetastoreError> {
        self.inner.revoke_key(key_id, now_ms).await
    }
    async fn register_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        segments: &[SegmentRecord],
        checkpoint_seq: u64,
        now_ms: i64,
    ) -> Result<(), MetastoreError> {
        if self.faults.register.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner
            .register_stream_segments(stream, tenant, segments, checkpoint_seq, now_ms)
            .await?;
        if self.faults.register_after_commit.load(Ordering::SeqCst) {
            return Err(injected());
        }
        Ok(())
    }
    async fn list_stream_segments(
        &self,
        stream: Stream,
        tenant: Option<&str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SegmentRecord>, MetastoreError> {
        self.inner
            .list_stream_segments(stream, tenant, from_ns, to_ns)
            .await
    }
    async fn stream_checkpoints(
        &self,
        stream: Stream,
    ) -> Result<HashMap<String, u64>, MetastoreError> {
        self.inner.stream_checkpoints(stream).await
    }
    async fn set_retention(&self, tenant: &str, days: Option<u32>) -> Result<(), MetastoreError> {
        self.inner.set_retention(tenant, days).await
    }
    async fn replace_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        remove: &[String],
        add: &[SegmentRecord],
        delete_after_ms: i64,
        now_ms: i64,
    ) -> Result<(), MetastoreError> {
        let for_tenant = self.faults.replace_tenant.lock().unwrap().as_deref() == Some(tenant);
        if for_tenant || self.faults.replace.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner
            .replace_stream_segments(stream, tenant, remove, add, delete_after_ms, now_ms)
            .await?;
        if self.faults.replace_after_commit.load(Ordering::SeqCst) {
            return Err(injected());
        }
        Ok(())
    }
    async fn pending_deletions(
        &self,
        now_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingDeletion>, MetastoreError> {
        self.inner.pending_deletions(now_ms, limit).await
    }
    async fn forget_deletions(&self, paths: &[String]) -> Result<(), MetastoreError> {
        self.inner.forget_deletions(paths).await
    }
}

/// Which segment store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `root/segments` on disk (through `common::index_and_wal`).
    Local,
    /// `strata_storage::Backend::Memory`.
    Memory,
}

/// One test's node: index, WAL, metastore, store.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub meta: Arc<Flaky>,
    pub index: Arc<Index>,
    pub wal: Wal<Item>,
}

impl Node {
    /// A node with tenants `a` and `b`.
    pub async fn open(store: Store) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(Flaky {
            inner: SqliteMetastore::open(&dir.path().join("meta.sqlite"))
                .await
                .unwrap(),
            faults: Faults::default(),
        });
        for tenant in ["a", "b"] {
            meta.create_tenant(tenant, 0).await.unwrap();
        }
        let shared = Arc::clone(&meta) as Arc<dyn Metastore>;
        let (index, wal) = match store {
            Store::Local => common::index_and_wal(dir.path(), shared),
            Store::Memory => memory_index_and_wal(dir.path(), shared),
        };
        Node {
            dir,
            meta,
            index,
            wal,
        }
    }

    pub fn store(&self) -> &SegmentStore {
        self.index.store()
    }

    /// Appends one WAL record of `tenant` (applied to the memtable on commit).
    pub async fn write(&self, tenant: &str, events: Vec<Event>) {
        self.wal
            .append(batch::encode(tenant, &events), (tenant.to_string(), events))
            .await
            .unwrap();
    }

    /// Appends one record and flushes every memtable: one new segment per
    /// tenant written to and hour bucket.
    pub async fn write_segment(&self, tenant: &str, events: Vec<Event>) {
        self.write(tenant, events).await;
        self.index.flush_due(true).await.unwrap();
    }

    /// Ids of the metastore's segments, all tenants.
    pub async fn metastore_ids(&self) -> BTreeSet<String> {
        self.meta
            .list_segments(None, i64::MIN, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect()
    }

    /// Ids of the in-memory catalog, all tenants.
    pub fn catalog_ids(&self) -> BTreeSet<String> {
        self.index.catalog_ids().into_iter().collect()
    }

    /// Paths queued for deletion, due or not.
    pub async fn pending_paths(&self) -> BTreeSet<String> {
        self.meta
            .pending_deletions(None, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.path)
            .collect()
    }

    /// Paths of every stored object.
    pub async fn object_paths(&self) -> BTreeSet<String> {
        self.store()
            .list(None)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.path)
            .collect()
    }

    /// Every row `tenant` holds (catalog segments + memtable), canonical.
    pub fn rows(&self, tenant: &str) -> Vec<String> {
        let snapshot = self.index.snapshot(tenant, i64::MIN, i64::MAX);
        let mut rows = Vec::new();
        for segment in &snapshot.segments {
            rows.extend(segment_rows(self.store(), segment).iter().map(canonical));
        }
        for chunk in &snapshot.chunks {
            rows.extend(chunk.rows.iter().map(canonical));
        }
        rows.sort_unstable();
        rows
    }

    /// Segment ids of `tenant` in the in-memory catalog.
    pub fn segment_ids(&self, tenant: &str) -> BTreeSet<String> {
        self.index
            .catalog(tenant)
            .iter()
            .map(|s| s.id.clone())
            .collect()
    }
}

/// `common::index_and_wal` over the in-memory store.
pub fn memory_index_and_wal(root: &Path, metastore: Arc<dyn Metastore>) -> (Arc<Index>, Wal<Item>) {
    let index = Arc::new(Index::new(
        IndexConfig {
            flush_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
            pressure_bytes: 1 << 40,
            segment: SegmentOptions::default(),
        },
        metastore,
        SegmentStore::open(&Backend::Memory, None).unwrap(),
    ));
    let commit = Arc::clone(&index);
    let options = WalOptions::new(
        WalConfig::test_config(&root.join("wal")),
        move |seq, (t, e): Item| {
            commit.apply(seq, &t, e);
        },
    );
    let (wal, _) = Wal::open(options, |_, _| Ok(())).unwrap();
    (index, wal)
}

/// A segment's rows, in stored order.
pub fn segment_rows(store: &SegmentStore, segment: &SegmentRecord) -> Vec<SegmentRow> {
    let bytes = store
        .get_blocking(&segment.path)
        .unwrap_or_else(|e| panic!("segment {} unreadable: {e}", segment.path));
    read_segment(bytes).unwrap()
}

/// A row as comparable text: id and event, attributes sorted by key
/// (segments give them back that way).
pub fn canonical(row: &SegmentRow) -> String {
    let mut event = row.event.clone();
    event.attributes.sort_by(|a, b| a.0.cmp(&b.0));
    format!("{} {event:?}", row.id)
}

/// Ids of a canonical row list.
pub fn ids(rows: &[String]) -> Vec<&str> {
    rows.iter()
        .map(|r| r.split_once(' ').map_or(r.as_str(), |(id, _)| id))
        .collect()
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

pub fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

/// The start of the hour bucket `hours_ago` hours before the current one.
pub fn bucket_hours_ago(hours_ago: i64) -> i64 {
    hour_bucket(now_ns()) - hours_ago * HOUR_NS
}

/// `n` events in hour bucket `bucket` (at `bucket + offset_ms + i` ms), of
/// three services (one missing), several statuses, and attributes whose set
/// and types differ between `tag`s: the merged segment must hold the union.
pub fn events(tag: &str, bucket: i64, offset_ms: i64, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let ts = bucket + (offset_ms + i as i64) * 1_000_000;
            let mut event = Event::new(ts, format!("{tag} event {i}"));
            event.service = [None, Some("web"), Some("api")][i % 3].map(String::from);
            event.status = [Status::Info, Status::Error, Status::Warn, Status::Ok][i % 4];
            event.host = Some(format!("h{}", i % 2));
            event.tags = vec![format!("batch:{tag}"), "env:prod".into()];
            let value = if tag.len().is_multiple_of(2) {
                AttrValue::Int(i as i64 * 10)
            } else {
                AttrValue::Str(format!("{}", i * 10))
            };
            event.attributes.push(("duration".into(), value));
            event
                .attributes
                .push((format!("only.{tag}"), AttrValue::Bool(i % 2 == 0)));
            if i % 5 == 0 {
                event
                    .attributes
                    .push(("nested".into(), AttrValue::Json(format!("[{i},null]"))));
            }
            event
        })
        .collect()
}

/// A compaction policy for tests: every bucket older than its hour is cold
/// at once, `merge_factor` 4.
pub fn config(grace: Duration) -> CompactionConfig {
    CompactionConfig {
        merge_factor: 4,
        max_merge_segments: 16,
        target_segment_rows: 100_000,
        cold_after: Duration::ZERO,
        grace,
        segment: SegmentOptions::compaction(),
    }
}
