//! A flush whose registration fails loses nothing and doubles nothing: the
//! frozen rows stay in memory until the retry registers them,
//! exactly once. Regression test for the issue 2
//! review ("a retried flush can permanently lose acknowledged events").

use std::sync::Arc;

mod common;
mod support;

use strata_index::export;
use strata_metastore::{Metastore, SqliteMetastore};
use strata_types::{batch, Event};
use support::{set, Flaky};

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
        faults: Default::default(),
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

    set(&store.faults.register, true);
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
    set(&store.faults.register, false);
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
