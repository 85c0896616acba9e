//! A metastore answer lost after COMMIT (issue 4, storage lifecycle): when
//! `replace_segments` or `register_segments` committed but reported an
//! error (as a connection lost during COMMIT does), compaction and flush
//! must not delete the objects the catalog now points to. Regression tests:
//! both used to delete them, so the rows vanished once the merge inputs'
//! grace period was over (compaction) or at once (flush).

mod common;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use strata_index::{lifecycle, Compactor, IoLimiter};
use support::{bucket_hours_ago, config, events, set, Node, Store};

/// Every registered segment's object exists and the catalogs agree.
async fn assert_catalog_readable(node: &Node) {
    assert_eq!(node.catalog_ids(), node.metastore_ids().await);
    let objects = node.object_paths().await;
    for tenant in ["a", "b"] {
        for segment in node.index.catalog(tenant) {
            assert!(objects.contains(&segment.path), "{} is gone", segment.path);
        }
    }
}

#[tokio::test]
async fn a_merge_whose_swap_committed_despite_an_error_keeps_its_output() {
    for store in [Store::Local, Store::Memory] {
        let node = Node::open(store).await;
        let cold = bucket_hours_ago(3);
        for k in 0..4 {
            node.write_segment("a", events("lost", cold, k * 100, 5))
                .await;
        }
        let before = node.rows("a");
        let inputs: BTreeSet<String> = node
            .index
            .catalog("a")
            .iter()
            .map(|s| s.path.clone())
            .collect();
        let compactor = Compactor::new(
            Arc::clone(&node.index),
            config(Duration::ZERO),
            Arc::new(IoLimiter::new(u64::MAX)),
        );
        set(&node.meta.faults.replace_after_commit, true);
        let stats = compactor.run_once().await.unwrap();
        set(&node.meta.faults.replace_after_commit, false);
        assert_eq!(stats.merges, 1, "{store:?}: the swap did happen: {stats:?}");
        assert_eq!(node.index.catalog("a").len(), 1);
        assert_catalog_readable(&node).await;
        assert_eq!(node.pending_paths().await, inputs);
        // Grace 0: the inputs go now; the rows must survive in the output.
        assert_eq!(
            lifecycle::delete_due(&*node.meta, node.store())
                .await
                .unwrap(),
            4
        );
        assert_catalog_readable(&node).await;
        assert_eq!(node.rows("a"), before, "{store:?}");
    }
}

#[tokio::test]
async fn a_flush_whose_registration_committed_despite_an_error_keeps_its_segments() {
    for store in [Store::Local, Store::Memory] {
        let node = Node::open(store).await;
        node.write("a", events("acked", bucket_hours_ago(1), 0, 7))
            .await;
        node.write("a", events("acked", bucket_hours_ago(0), 0, 3))
            .await;
        let before = node.rows("a");
        set(&node.meta.faults.register_after_commit, true);
        let flushed = node.index.flush_due(true).await;
        set(&node.meta.faults.register_after_commit, false);
        let stats = flushed.unwrap();
        assert_eq!((stats.segments, stats.events), (2, 10), "{store:?}");
        assert_eq!(node.index.memtable_events(), 0);
        assert_catalog_readable(&node).await;
        assert_eq!(node.rows("a"), before, "{store:?}");
        let again = node.index.flush_due(true).await.unwrap();
        assert_eq!(again.events, 0, "nothing is flushed twice");
        assert_eq!(node.rows("a"), before);
    }
}
