//! A flush whose registration fails loses nothing and doubles nothing: the
//! frozen rows stay in memory until the retry registers them,
//! exactly once. Regression test for the issue 2
//! review ("a retried flush can permanently lose acknowledged events").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

mod common;

use async_trait::async_trait;
use strata_index::export;
use strata_metastore::{
    KeyInfo, KeyKind, Metastore, MetastoreError, PendingDeletion, Quota, SegmentRecord,
    SqliteMetastore, Tenant,
};
use strata_types::{batch, Event};

/// SQLite, except that `register_segments` fails while `fail` is set.
#[derive(Debug)]
struct Flaky {
    inner: SqliteMetastore,
    fail: AtomicBool,
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
    async fn register_segments(
        &self,
        tenant: &str,
        segments: &[SegmentRecord],
        checkpoint_seq: u64,
        now_ms: i64,
    ) -> Result<(), MetastoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(MetastoreError::TenantNotFound("injected failure".into()));
        }
        self.inner
            .register_segments(tenant, segments, checkpoint_seq, now_ms)
            .await
    }
    async fn list_segments(
        &self,
        tenant: Option<&str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SegmentRecord>, MetastoreError> {
        self.inner.list_segments(tenant, from_ns, to_ns).await
    }
    async fn checkpoints(&self) -> Result<HashMap<String, u64>, MetastoreError> {
        self.inner.checkpoints().await
    }
    async fn set_retention(&self, tenant: &str, days: Option<u32>) -> Result<(), MetastoreError> {
        self.inner.set_retention(tenant, days).await
    }
    async fn replace_segments(
        &self,
        tenant: &str,
        remove: &[String],
        add: &[SegmentRecord],
        delete_after_ms: i64,
        now_ms: i64,
    ) -> Result<(), MetastoreError> {
        self.inner
            .replace_segments(tenant, remove, add, delete_after_ms, now_ms)
            .await
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

fn events(tag: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::new(1_700_000_000_000_000_000 + i as i64, format!("{tag}-{i}")))
        .collect()
}

fn files_under(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn failed_registration_is_retried_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Arc::new(Flaky {
        inner: SqliteMetastore::open(&root.join("meta.sqlite"))
            .await
            .unwrap(),
        fail: AtomicBool::new(false),
    });
    store.create_tenant("a", 0).await.unwrap();
    let (index, wal) = common::index_and_wal(root, Arc::clone(&store) as Arc<dyn Metastore>);
    let append = |tag: &str, n: usize| {
        let events = events(tag, n);
        wal.append(batch::encode("a", &events), ("a".to_string(), events))
    };
    for tag in ["one", "two", "three"] {
        append(tag, 100).await.unwrap();
    }

    store.fail.store(true, Ordering::SeqCst);
    assert!(index.flush_due(true).await.is_err());
    assert!(
        index.flush_due(true).await.is_err(),
        "the retry fails again"
    );
    assert_eq!(
        files_under(&root.join("segments")),
        0,
        "unregistered files are removed at once"
    );
    assert_eq!(index.memtable_events(), 300, "the frozen rows still count");
    assert_eq!(
        index.safe_wal_seq(),
        0,
        "nothing may be truncated while the flush is pending"
    );

    // New data lands in the active memtable behind the frozen one.
    append("four", 50).await.unwrap();
    store.fail.store(false, Ordering::SeqCst);
    let first = index.flush_due(true).await.unwrap();
    assert_eq!(first.events, 300, "the frozen memtable goes first");
    let second = index.flush_due(true).await.unwrap();
    assert_eq!(second.events, 50);
    assert_eq!(store.checkpoints().await.unwrap().get("a"), Some(&4));

    let mut out = Vec::new();
    let stats = export(
        &*store,
        index.store(),
        &root.join("wal"),
        "a",
        i64::MIN,
        i64::MAX,
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(stats.segment_events, 350);
    assert_eq!(stats.wal_events, 0);
    let mut ids: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 350, "every event exactly once");
    wal.close().unwrap();
}
