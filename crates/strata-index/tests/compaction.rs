//! Compaction (issue 4, storage lifecycle) keeps every row exactly once:
//! merging a tenant's small segments of one hour bucket swaps inputs for one
//! sorted output in the metastore and in the in-memory catalog together,
//! loses and doubles nothing, leaves other tenants, other buckets and the
//! memtable alone, keeps the inputs readable for the grace period and
//! deletes them only when due. Also guards the size-tiered policy through
//! `Compactor::run_once`, a merge that loses a race (conflict) and a merge
//! whose metastore swap fails, on the local and the in-memory store.

mod common;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use strata_index::compaction::plan;
use strata_index::{lifecycle, CompactionStats, Compactor, IoLimiter};
use strata_metastore::{Metastore, SegmentRecord};
use strata_segment::read_meta;
use support::{bucket_hours_ago, config, events, ids, now_ms, now_ns, segment_rows, Node, Store};

fn compactor(node: &Node, grace: Duration) -> Compactor {
    Compactor::new(
        Arc::clone(&node.index),
        config(grace),
        Arc::new(IoLimiter::new(u64::MAX)),
    )
}

/// Asserts that a merged segment is readable, sorted by (service, status,
/// timestamp, id), and that its catalog row tells the truth.
fn assert_well_formed(node: &Node, segment: &SegmentRecord) {
    let rows = segment_rows(node.store(), segment);
    let keys: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.event.service.clone(),
                r.event.status,
                r.event.timestamp_ns,
                r.id.clone(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "merged segment {} is not sorted", segment.id);
    let bytes = node.store().get_blocking(&segment.path).unwrap();
    assert_eq!(bytes.len() as u64, segment.size_bytes);
    let meta = read_meta(bytes).unwrap();
    assert_eq!(meta.rows, segment.rows);
    assert_eq!(meta.min_timestamp_ns, segment.min_ts_ns);
    assert_eq!(meta.max_timestamp_ns, segment.max_ts_ns);
    assert_eq!(meta.hour_bucket_ns, segment.hour_bucket_ns);
    assert!(segment.path.starts_with("a/"), "{}", segment.path);
}

/// Catalog and metastore agree, and every catalog object exists.
async fn assert_consistent(node: &Node) {
    assert_eq!(
        node.catalog_ids(),
        node.metastore_ids().await,
        "catalog vs metastore"
    );
    let objects = node.object_paths().await;
    for tenant in ["a", "b"] {
        for segment in node.index.catalog(tenant) {
            assert!(
                objects.contains(&segment.path),
                "{} is missing",
                segment.path
            );
        }
    }
}

/// Tenant `a`: five small segments in a cold bucket, one alone in another
/// bucket, memtable rows; tenant `b`: one segment in the same cold bucket
/// and memtable rows.
async fn two_tenants(store: Store) -> (Node, i64) {
    let node = Node::open(store).await;
    let cold = bucket_hours_ago(5);
    for (k, tag) in ["one", "four", "three", "sixx", "fives"].iter().enumerate() {
        node.write_segment("a", events(tag, cold, k as i64 * 100, 3 + k))
            .await;
    }
    node.write_segment("a", events("lone", bucket_hours_ago(7), 0, 4))
        .await;
    node.write_segment("b", events("bee", cold, 0, 6)).await;
    node.write("a", events("mem", cold, 900, 3)).await;
    node.write("b", events("bmem", cold, 900, 2)).await;
    (node, cold)
}

async fn invariants(store: Store) {
    let (node, cold) = two_tenants(store).await;
    let before_a = node.rows("a");
    let before_b = node.rows("b");
    let b_segments = node.segment_ids("b");
    let old_snapshot = node.index.snapshot("a", i64::MIN, i64::MAX);
    let inputs: Vec<Arc<SegmentRecord>> = node
        .index
        .catalog("a")
        .into_iter()
        .filter(|s| s.hour_bucket_ns == cold)
        .collect();
    assert_eq!(inputs.len(), 5);
    assert_eq!(node.index.catalog("a").len(), 6);
    let input_ids: BTreeSet<String> = inputs.iter().map(|s| s.id.clone()).collect();
    let input_paths: BTreeSet<String> = inputs.iter().map(|s| s.path.clone()).collect();

    let grace = Duration::from_secs(3);
    let stats = compactor(&node, grace).run_once().await.unwrap();
    assert_eq!(stats.merges, 1, "{stats:?}");
    assert_eq!(stats.segments_in, 5);
    assert_eq!(stats.segments_out, 1);
    assert_eq!(stats.rows, 3 + 4 + 5 + 6 + 7);
    assert_eq!(stats.conflicts, 0);
    assert_eq!(
        stats.removed.iter().cloned().collect::<BTreeSet<_>>(),
        input_ids
    );

    // Same rows, once each; fewer segments; other tenant and bucket alone.
    let after_a = node.rows("a");
    assert_eq!(after_a, before_a, "tenant a's rows changed");
    let unique: BTreeSet<&str> = ids(&after_a).into_iter().collect();
    assert_eq!(unique.len(), after_a.len(), "a row is held twice");
    assert_eq!(node.rows("b"), before_b);
    assert_eq!(node.segment_ids("b"), b_segments, "tenant b was touched");
    let catalog = node.index.catalog("a");
    assert_eq!(catalog.len(), 2, "five inputs became one");
    assert!(catalog.iter().all(|s| !input_ids.contains(&s.id)));
    let merged: Vec<_> = catalog
        .iter()
        .filter(|s| s.hour_bucket_ns == cold)
        .collect();
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].rows, 25);
    assert_well_formed(&node, merged[0]);
    assert_consistent(&node).await;

    // Grace: the inputs are queued, still readable by an older snapshot.
    assert_eq!(node.pending_paths().await, input_paths);
    let mut old_rows: Vec<String> = old_snapshot
        .segments
        .iter()
        .flat_map(|s| segment_rows(node.store(), s))
        .chain(old_snapshot.chunks.iter().flat_map(|c| c.rows.clone()))
        .map(|r| support::canonical(&r))
        .collect();
    old_rows.sort_unstable();
    assert_eq!(old_rows, before_a, "a snapshot from before the swap");
    assert_deleted_only_when_due(&node, &input_paths).await;
    assert_eq!(node.rows("a"), before_a);
    assert_consistent(&node).await;

    let again = compactor(&node, grace).run_once().await.unwrap();
    assert_eq!(again, CompactionStats::default(), "nothing left to merge");
}

/// `delete_due` leaves queued objects alone until their deadline, then
/// deletes exactly them and forgets them.
async fn assert_deleted_only_when_due(node: &Node, paths: &BTreeSet<String>) {
    let pending = node.meta.pending_deletions(None, 100).await.unwrap();
    let deadline = pending.iter().map(|d| d.delete_after_ms).min().unwrap();
    let deleted = lifecycle::delete_due(&*node.meta, node.store())
        .await
        .unwrap();
    if now_ms() < deadline {
        assert_eq!(deleted, 0, "deleted before the grace period ended");
        for path in paths {
            node.store().get_blocking(path).unwrap();
        }
    }
    let wait = deadline + 50 - now_ms();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let deleted = deleted
        + lifecycle::delete_due(&*node.meta, node.store())
            .await
            .unwrap();
    assert_eq!(deleted, paths.len());
    for path in paths {
        assert!(node.store().get_blocking(path).is_err(), "{path} survived");
    }
    assert!(node.pending_paths().await.is_empty());
    let objects = node.object_paths().await;
    let catalog: BTreeSet<String> = ["a", "b"]
        .iter()
        .flat_map(|t| node.index.catalog(t))
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(objects, catalog, "storage holds exactly the catalog");
}

#[tokio::test]
async fn compaction_keeps_every_row_exactly_once_on_local_store() {
    invariants(Store::Local).await;
}

#[tokio::test]
async fn compaction_keeps_every_row_exactly_once_on_memory_store() {
    invariants(Store::Memory).await;
}

#[tokio::test]
async fn a_hot_bucket_merges_a_full_tier_and_nothing_less() {
    let node = Node::open(Store::Local).await;
    let hot = bucket_hours_ago(0);
    // merge_factor 4: 5..8 rows are tier 1, 40 rows tier 2.
    for (k, n) in [5, 6, 7].into_iter().enumerate() {
        node.write_segment("a", events("tier", hot, k as i64 * 100, n))
            .await;
    }
    node.write_segment("a", events("big", hot, 500, 40)).await;
    let mut config = config(Duration::from_secs(60));
    config.cold_after = Duration::from_secs(3600);
    let compactor = Compactor::new(
        Arc::clone(&node.index),
        config,
        Arc::new(IoLimiter::new(u64::MAX)),
    );
    let stats = compactor.run_once().await.unwrap();
    assert_eq!(stats.merges, 0, "three of a tier are not merged: {stats:?}");
    assert_eq!(node.index.catalog("a").len(), 4);

    node.write_segment("a", events("tier", hot, 300, 8)).await;
    let before = node.rows("a");
    let big = node
        .index
        .catalog("a")
        .into_iter()
        .find(|s| s.rows == 40)
        .unwrap();
    let stats = compactor.run_once().await.unwrap();
    assert_eq!(stats.merges, 1, "{stats:?}");
    assert_eq!(stats.segments_in, 4);
    assert_eq!(stats.rows, 26);
    let catalog = node.index.catalog("a");
    let mut sizes: Vec<u64> = catalog.iter().map(|s| s.rows).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![26, 40], "the other tier is left alone");
    assert!(catalog.iter().any(|s| s.id == big.id));
    assert_eq!(node.rows("a"), before);
    assert_consistent(&node).await;
    // 26 and 40 are both tier 2: two of a tier, hot bucket, nothing to do.
    assert_eq!(compactor.run_once().await.unwrap().merges, 0);
}

#[tokio::test]
async fn a_second_merge_of_the_same_inputs_is_a_conflict() {
    for store in [Store::Local, Store::Memory] {
        let node = Node::open(store).await;
        let cold = bucket_hours_ago(3);
        for k in 0..3 {
            node.write_segment("a", events("race", cold, k * 100, 5))
                .await;
        }
        let before = node.rows("a");
        let compactor = compactor(&node, Duration::from_secs(60));
        let jobs = plan(&node.index.catalog("a"), now_ns(), &config(Duration::ZERO));
        assert_eq!(jobs.len(), 1);
        let mut stats = CompactionStats::default();
        compactor.merge(&jobs[0], &mut stats).await.unwrap();
        compactor.merge(&jobs[0], &mut stats).await.unwrap();
        assert_eq!((stats.merges, stats.conflicts), (1, 1), "{stats:?}");
        let catalog = node.index.catalog("a");
        assert_eq!(catalog.len(), 1, "exactly one merged segment");
        assert_eq!(catalog[0].rows, 15);
        assert_eq!(node.rows("a"), before);
        assert_consistent(&node).await;
        // The loser's output is gone: storage is the catalog plus the queue.
        let mut expected = node.pending_paths().await;
        expected.insert(catalog[0].path.clone());
        assert_eq!(node.object_paths().await, expected, "{store:?}");
    }
}

#[tokio::test]
async fn a_merge_whose_input_expired_first_is_a_conflict() {
    let node = Node::open(Store::Local).await;
    let old = bucket_hours_ago(24 * 3);
    for k in 0..3 {
        node.write_segment("a", events("old", old, k * 100, 5))
            .await;
    }
    node.write("a", events("mem", old, 900, 2)).await;
    let jobs = plan(&node.index.catalog("a"), now_ns(), &config(Duration::ZERO));
    assert_eq!(jobs.len(), 1);
    let days = HashMap::from([("a".to_string(), 1)]);
    let expired = lifecycle::expire(&node.index, &days, 30, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(expired.segments, 3);
    let mut stats = CompactionStats::default();
    compactor(&node, Duration::from_secs(60))
        .merge(&jobs[0], &mut stats)
        .await
        .unwrap();
    assert_eq!((stats.merges, stats.conflicts), (0, 1), "{stats:?}");
    assert!(
        node.index.catalog("a").is_empty(),
        "the merge resurrected rows"
    );
    assert_consistent(&node).await;
    assert_eq!(node.rows("a").len(), 2, "only the memtable is left");
    assert_eq!(node.object_paths().await, node.pending_paths().await);
}

#[tokio::test]
async fn a_failed_swap_changes_nothing_and_a_later_run_succeeds() {
    for store in [Store::Local, Store::Memory] {
        let (node, _) = two_tenants(store).await;
        let before_a = node.rows("a");
        let catalog = node.catalog_ids();
        let objects = node.object_paths().await;
        let compactor = compactor(&node, Duration::from_secs(60));

        support::set(&node.meta.faults.replace, true);
        let error = compactor.run_once().await.unwrap_err();
        assert!(error.to_string().contains("injected"), "{error}");
        assert_eq!(node.catalog_ids(), catalog, "{store:?}: catalog changed");
        assert_eq!(node.metastore_ids().await, catalog);
        assert_eq!(node.object_paths().await, objects, "the output is removed");
        assert!(node.pending_paths().await.is_empty());
        assert_eq!(node.rows("a"), before_a);

        support::set(&node.meta.faults.replace, false);
        let stats = compactor.run_once().await.unwrap();
        assert_eq!((stats.merges, stats.segments_in), (1, 5), "{stats:?}");
        assert_eq!(node.rows("a"), before_a);
        assert_consistent(&node).await;
        assert_eq!(node.pending_paths().await.len(), 5);
    }
}
