//! Memtable flush, checkpoints, WAL truncation bookkeeping and export,
//! against a real WAL, real segment files and the SQLite metastore.

mod common;

use std::sync::Arc;

use strata_index::{export, Index};
use strata_metastore::{Metastore, SqliteMetastore};
use strata_types::{batch, Event, HOUR_NS};
use strata_wal::Wal;

const T0: i64 = 1_700_000_000_000_000_000;

fn events(tag: &str, n: usize, ts: i64) -> Vec<Event> {
    (0..n)
        .map(|i| Event::new(ts + i as i64, format!("{tag}-{i}")))
        .collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    metastore: Arc<SqliteMetastore>,
    index: Arc<Index>,
    wal: Wal<(String, Vec<Event>)>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let metastore = Arc::new(
        SqliteMetastore::open(&root.join("meta.sqlite"))
            .await
            .unwrap(),
    );
    for tenant in ["a", "b"] {
        metastore.create_tenant(tenant, 0).await.unwrap();
    }
    let (index, wal) = common::index_and_wal(&root, Arc::clone(&metastore) as Arc<dyn Metastore>);
    Fixture {
        _dir: dir,
        root,
        metastore,
        index,
        wal,
    }
}

async fn append(f: &Fixture, tenant: &str, events: Vec<Event>) -> u64 {
    let payload = batch::encode(tenant, &events);
    f.wal
        .append(payload, (tenant.to_string(), events))
        .await
        .unwrap()
}

async fn exported(f: &Fixture, tenant: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    export(
        f.metastore.as_ref(),
        f.index.store(),
        &f.root.join("wal"),
        tenant,
        i64::MIN,
        i64::MAX,
        &mut out,
    )
    .await
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn flush_registers_segments_per_hour_and_export_sees_everything_once() {
    let f = fixture().await;
    let s1 = append(&f, "a", events("a1", 10, T0)).await;
    let s2 = append(&f, "b", events("b1", 5, T0)).await;
    // Same tenant, the next hour: a second segment from one flush.
    let s3 = append(&f, "a", events("a2", 3, T0 + HOUR_NS)).await;
    assert_eq!((s1, s2, s3), (1, 2, 3));
    assert_eq!(f.index.memtable_events(), 18);
    assert_eq!(
        f.index.safe_wal_seq(),
        0,
        "nothing flushed: nothing may be truncated"
    );
    assert_eq!(
        exported(&f, "a").await.len(),
        13,
        "unflushed events export from the WAL"
    );

    let stats = f.index.flush_due(true).await.unwrap();
    assert_eq!(stats.memtables, 2);
    assert_eq!(stats.events, 18);
    assert!(
        stats.segments >= 3,
        "one segment per tenant and hour bucket"
    );
    assert_eq!(f.index.memtable_events(), 0);
    assert_eq!(f.index.memtable_bytes(), 0);
    assert_eq!(f.index.safe_wal_seq(), 3);
    let checkpoints = f.metastore.checkpoints().await.unwrap();
    assert_eq!(checkpoints.get("a"), Some(&3));
    assert_eq!(checkpoints.get("b"), Some(&2));

    // New data after the flush: exported from the WAL, the flushed part from segments.
    append(&f, "a", events("a3", 2, T0)).await;
    assert_eq!(f.index.safe_wal_seq(), 3);
    let a = exported(&f, "a").await;
    let mut ids: Vec<&str> = a.iter().map(|l| l["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 15, "every event of tenant a exactly once");
    assert!(
        a.iter()
            .all(|l| l["message"].as_str().unwrap().starts_with('a')),
        "no event of tenant b"
    );
    assert_eq!(exported(&f, "b").await.len(), 5);
    f.wal.close().unwrap();
}

#[tokio::test]
async fn safe_wal_seq_waits_for_the_slowest_tenant() {
    let f = fixture().await;
    append(&f, "a", events("a", 1, T0)).await; // seq 1
    append(&f, "b", events("b", 1, T0)).await; // seq 2
    append(&f, "a", events("a", 1, T0)).await; // seq 3
    assert_eq!(f.index.safe_wal_seq(), 0);
    f.wal.close().unwrap();
}

#[tokio::test]
async fn flush_due_respects_size_and_force() {
    let f = fixture().await;
    append(&f, "a", events("a", 3, T0)).await;
    let stats = f.index.flush_due(false).await.unwrap();
    assert_eq!(stats.memtables, 0, "not over size or age: nothing flushed");
    assert!(!f.index.needs_flush());
    let stats = f.index.flush_due(true).await.unwrap();
    assert_eq!(stats.memtables, 1);
    f.wal.close().unwrap();
}

#[tokio::test]
async fn large_flush_is_split_across_threads_and_loses_nothing() {
    let f = fixture().await;
    for batch in 0..60 {
        append(&f, "a", events(&format!("big{batch}"), 1000, T0)).await;
    }
    let stats = f.index.flush_due(true).await.unwrap();
    assert_eq!(stats.events, 60_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        assert!(
            stats.segments >= 2,
            "60k rows on {cores} cores should be written in parallel"
        );
    }
    let rows: u64 = f
        .metastore
        .list_segments(Some("a"), i64::MIN, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|s| s.rows)
        .sum();
    assert_eq!(rows, 60_000);
    let mut ids: Vec<String> = exported(&f, "a")
        .await
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60_000);
    f.wal.close().unwrap();
}
