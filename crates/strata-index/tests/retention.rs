//! Retention and the orphan sweep (issue 4, storage lifecycle): expired
//! segments leave the metastore and the in-memory catalog first and storage
//! only after the grace period, per tenant (an override for one tenant, the
//! default for the others), never touching the memtable; the sweep at start
//! deletes objects that are neither registered nor queued for deletion
//! (crash leftovers, temp files) and keeps everything else.

mod common;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use strata_index::{lifecycle, Compactor, IoLimiter};
use strata_metastore::Metastore;
use support::{bucket_hours_ago, config, events, now_ms, Node, Store};

const DAY_HOURS: i64 = 24;

/// Tenant `a`: three segments older than a day (two buckets), one recent,
/// old rows in the memtable; tenant `b`: one old and one recent segment.
async fn aged(store: Store) -> Node {
    let node = Node::open(store).await;
    let old = bucket_hours_ago(3 * DAY_HOURS);
    let older = bucket_hours_ago(5 * DAY_HOURS);
    node.write_segment("a", events("old", old, 0, 4)).await;
    node.write_segment("a", events("old", old, 100, 5)).await;
    node.write_segment("a", events("older", older, 0, 6)).await;
    node.write_segment("a", events("new", bucket_hours_ago(2), 0, 7))
        .await;
    node.write_segment("b", events("bold", old, 0, 3)).await;
    node.write_segment("b", events("bnew", bucket_hours_ago(2), 0, 2))
        .await;
    node.write("a", events("memold", old, 900, 2)).await;
    node
}

async fn retention(store: Store) {
    let node = aged(store).await;
    let before_b = node.rows("b");
    let b_segments = node.segment_ids("b");
    let memtable_before: Vec<_> = node
        .index
        .snapshot("a", i64::MIN, i64::MAX)
        .chunks
        .iter()
        .map(|c| (c.seq, c.rows.len()))
        .collect();
    let expired: Vec<_> = node
        .index
        .catalog("a")
        .into_iter()
        .filter(|s| s.rows != 7)
        .collect();
    let expired_ids: BTreeSet<String> = expired.iter().map(|s| s.id.clone()).collect();
    let expired_paths: BTreeSet<String> = expired.iter().map(|s| s.path.clone()).collect();
    let expired_rows: usize = expired.iter().map(|s| s.rows as usize).sum();
    let rows_before = node.rows("a").len();

    let days = HashMap::from([("a".to_string(), 1)]);
    let grace = Duration::from_secs(2);
    let stats = lifecycle::expire(&node.index, &days, 7, grace)
        .await
        .unwrap();
    assert_eq!(stats.segments, 3, "{stats:?}");
    assert_eq!(stats.rows, 15);
    assert_eq!(
        stats.removed.iter().cloned().collect::<BTreeSet<_>>(),
        expired_ids
    );

    // The catalog first: metastore and in-memory catalog agree at once.
    let catalog = node.index.catalog("a");
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog[0].rows, 7);
    assert_eq!(node.catalog_ids(), node.metastore_ids().await);
    assert_eq!(node.rows("a").len(), rows_before - expired_rows);
    // Tenant b (default 7 days) and the memtable are untouched.
    assert_eq!(node.segment_ids("b"), b_segments);
    assert_eq!(node.rows("b"), before_b);
    let memtable_after: Vec<_> = node
        .index
        .snapshot("a", i64::MIN, i64::MAX)
        .chunks
        .iter()
        .map(|c| (c.seq, c.rows.len()))
        .collect();
    assert_eq!(
        memtable_after, memtable_before,
        "retention touched the memtable"
    );

    // Storage after the grace period only.
    assert_eq!(node.pending_paths().await, expired_paths);
    let deadline = node
        .meta
        .pending_deletions(None, 100)
        .await
        .unwrap()
        .iter()
        .map(|d| d.delete_after_ms)
        .min()
        .unwrap();
    let early = lifecycle::delete_due(&*node.meta, node.store())
        .await
        .unwrap();
    if now_ms() < deadline {
        assert_eq!(early, 0, "deleted before the grace period ended");
        for path in &expired_paths {
            node.store().get_blocking(path).unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(
        (deadline + 50 - now_ms()).max(0) as u64
    ))
    .await;
    let late = lifecycle::delete_due(&*node.meta, node.store())
        .await
        .unwrap();
    assert_eq!(early + late, 3);
    let objects = node.object_paths().await;
    assert!(
        objects.is_disjoint(&expired_paths),
        "expired objects survived"
    );
    assert_eq!(objects.len(), 3, "a's recent segment and b's two remain");
    assert!(node.pending_paths().await.is_empty());

    let again = lifecycle::expire(&node.index, &days, 7, grace)
        .await
        .unwrap();
    assert_eq!(again.segments, 0, "a second pass has nothing to do");
}

#[tokio::test]
async fn retention_leaves_the_catalog_first_and_storage_after_grace_on_local_store() {
    retention(Store::Local).await;
}

#[tokio::test]
async fn retention_leaves_the_catalog_first_and_storage_after_grace_on_memory_store() {
    retention(Store::Memory).await;
}

#[tokio::test]
async fn the_orphan_sweep_keeps_registered_and_queued_objects() {
    for store in [Store::Local, Store::Memory] {
        let node = Node::open(store).await;
        let cold = bucket_hours_ago(4);
        for k in 0..3 {
            node.write_segment("a", events("sweep", cold, k * 100, 4))
                .await;
        }
        node.write_segment("b", events("bee", cold, 0, 4)).await;
        let compactor = Compactor::new(
            Arc::clone(&node.index),
            config(Duration::from_secs(3600)),
            Arc::new(IoLimiter::new(u64::MAX)),
        );
        assert_eq!(compactor.run_once().await.unwrap().merges, 1);
        let queued = node.pending_paths().await;
        assert_eq!(queued.len(), 3);
        let keep = node.object_paths().await;
        let rows_a = node.rows("a");

        // Crash leftovers: an unregistered segment (of a known and of an
        // unknown tenant) and, on disk, a temp file of an interrupted put.
        let orphan = format!("a/{cold}/0190aaaa-orphan.parquet");
        let stray = format!("zz/{cold}/0190bbbb-stray.parquet");
        for path in [&orphan, &stray] {
            node.store()
                .put(path, Bytes::from_static(b"PAR1"))
                .await
                .unwrap();
        }
        let mut planted = 2;
        if store == Store::Local {
            let dir = node.dir.path().join(format!("segments/a/{cold}"));
            std::fs::write(dir.join("0190cccc.parquet.4242-7.tmp"), b"half").unwrap();
            planted += 1;
        }
        assert_eq!(node.object_paths().await.len(), keep.len() + planted);

        let removed = lifecycle::remove_orphans(&*node.meta, node.store())
            .await
            .unwrap();
        assert_eq!(removed, planted, "{store:?}");
        assert_eq!(node.object_paths().await, keep, "{store:?}");
        assert!(queued.is_subset(&keep));
        assert_eq!(node.rows("a"), rows_a);
        assert_eq!(
            lifecycle::remove_orphans(&*node.meta, node.store())
                .await
                .unwrap(),
            0
        );
    }
}

#[tokio::test]
async fn a_tenant_whose_retention_fails_does_not_block_the_others() {
    let node = aged(Store::Local).await;
    *node.meta.faults.replace_tenant.lock().unwrap() = Some("a".into());
    let a_segments = node.segment_ids("a");
    // Both tenants keep one day: b's old segment is due too.
    let days = HashMap::from([("a".to_string(), 1), ("b".to_string(), 1)]);
    let error = lifecycle::expire(&node.index, &days, 7, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("injected"), "{error}");
    assert_eq!(node.segment_ids("a"), a_segments, "a failed: unchanged");
    let b = node.index.catalog("b");
    assert_eq!(b.len(), 1, "b's old segment expired all the same");
    assert_eq!(b[0].rows, 2);
    assert_eq!(node.catalog_ids(), node.metastore_ids().await);

    *node.meta.faults.replace_tenant.lock().unwrap() = None;
    let stats = lifecycle::expire(&node.index, &days, 7, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(stats.segments, 3, "the next pass catches up");
}
