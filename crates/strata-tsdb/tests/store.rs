//! The metrics store end to end on a real local segment store and a real
//! SQLite metastore: memtable and segments answer the same, flush survives
//! a reopen, compaction keeps every point, retention drops old segments.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use strata_index::compaction::CompactionConfig;
use strata_index::lifecycle::IoLimiter;
use strata_metastore::{Metastore, SqliteMetastore, Stream};
use strata_metrics::{
    MetricBatch, MetricType, Point, SeriesKey, SeriesPoints, Sketch, SketchPoints,
};
use strata_segment::SegmentOptions;
use strata_storage::{Backend, SegmentStore};
use strata_tsdb::segment::SeriesInfo;
use strata_tsdb::{ScanRequest, Tsdb, TsdbConfig, Visitor};

const T0: i64 = 1_700_000_000 - 1_700_000_000 % 3600;

struct Collect {
    want_host: Option<String>,
    points: Vec<(String, String, i64, f64, Option<u64>)>,
}

impl Visitor for Collect {
    fn wants(&mut self, key: &SeriesKey) -> bool {
        self.want_host.as_ref().is_none_or(|h| *h == key.host)
    }
    fn point(&mut self, series: &Arc<SeriesInfo>, ts_s: i64, value: f64, sketch: Option<&Sketch>) {
        self.points.push((
            series.key.metric.clone(),
            series.key.host.clone(),
            ts_s,
            value,
            sketch.map(|s| s.count),
        ));
    }
}

fn scan(
    tsdb: &Tsdb,
    tenant: &str,
    metric: &str,
    host: Option<&str>,
) -> Vec<(String, String, i64, f64, Option<u64>)> {
    let mut visitor = Collect {
        want_host: host.map(str::to_string),
        points: Vec::new(),
    };
    let request = ScanRequest {
        metric,
        from_s: T0 - 10 * 3600,
        to_s: T0 + 10 * 3600,
        sketches: true,
        rollup_until_s: None,
    };
    tsdb.scan(tenant, &request, &mut visitor).unwrap();
    visitor.points.sort_by(|a, b| a.partial_cmp(b).unwrap());
    visitor.points
}

fn batch(hosts: usize, points: usize, start: i64) -> MetricBatch {
    let mut series = Vec::new();
    for h in 0..hosts {
        for metric in ["cpu.user", "mem.used"] {
            series.push(SeriesPoints {
                key: SeriesKey::new(metric, format!("h{h}"), vec![format!("env:e{}", h % 2)])
                    .unwrap(),
                kind: MetricType::Gauge,
                interval_s: 0,
                unit: String::new(),
                points: (0..points)
                    .map(|i| Point {
                        ts_s: start + i as i64 * 10,
                        value: (h * 1000 + i) as f64,
                    })
                    .collect(),
            });
        }
    }
    let key = SeriesKey::new("latency", "h0", vec![]).unwrap();
    MetricBatch {
        series,
        sketches: vec![SketchPoints {
            key,
            points: vec![(start, Sketch::from_values(&[1.0, 2.0, 3.0]))],
        }],
    }
}

struct Node {
    _dir: tempfile::TempDir,
    meta: Arc<SqliteMetastore>,
    store: SegmentStore,
}

impl Node {
    async fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let meta = Arc::new(
            SqliteMetastore::open(&dir.path().join("meta.db"))
                .await
                .unwrap(),
        );
        meta.create_tenant("acme", 0).await.unwrap();
        meta.create_tenant("other", 0).await.unwrap();
        let store = SegmentStore::open(
            &Backend::Local {
                root: dir.path().join("segments"),
            },
            None,
        )
        .unwrap();
        Node {
            _dir: dir,
            meta,
            store,
        }
    }

    async fn tsdb(&self) -> Arc<Tsdb> {
        let tsdb = Tsdb::new(
            TsdbConfig::default(),
            Arc::clone(&self.meta) as Arc<dyn Metastore>,
            self.store.clone(),
        );
        let segments = self
            .meta
            .list_stream_segments(Stream::Metrics, None, i64::MIN, i64::MAX)
            .await
            .unwrap();
        tsdb.load_catalog(segments);
        Arc::new(tsdb)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memtable_and_segments_answer_the_same() {
    let node = Node::new().await;
    let tsdb = node.tsdb().await;
    tsdb.apply(1, "acme", batch(3, 50, T0));
    tsdb.apply(2, "acme", batch(3, 50, T0 + 3300)); // crosses an hour bucket
    tsdb.apply(3, "other", batch(1, 5, T0));
    let before = scan(&tsdb, "acme", "cpu.user", None);
    assert_eq!(before.len(), 300);
    let one_host = scan(&tsdb, "acme", "cpu.user", Some("h1"));
    assert_eq!(one_host.len(), 100);
    assert_eq!(tsdb.safe_wal_seq(), 0);

    assert!(tsdb.memtable_bytes() > 0);
    let stats = tsdb.flush_due(true).await.unwrap();
    assert!(stats.segments >= 3, "{stats:?}"); // two buckets for acme, one for other
    assert_eq!(
        tsdb.memtable_bytes(),
        0,
        "flushed memtables are no longer counted"
    );
    assert_eq!(tsdb.safe_wal_seq(), 3);
    assert_eq!(scan(&tsdb, "acme", "cpu.user", None), before);
    assert_eq!(scan(&tsdb, "acme", "cpu.user", Some("h1")), one_host);
    let sketches = scan(&tsdb, "acme", "latency", None);
    assert_eq!(sketches.len(), 2);
    assert!(sketches.iter().all(|p| p.4 == Some(3) && p.3 == 6.0));
    assert!(scan(&tsdb, "acme", "nope", None).is_empty());

    // Tenant isolation: the other tenant's points never show.
    assert_eq!(scan(&tsdb, "other", "cpu.user", None).len(), 5);

    // A reopened store reads the registered segments.
    let reopened = node.tsdb().await;
    assert_eq!(scan(&reopened, "acme", "cpu.user", None), before);
    let checkpoints = node.meta.stream_checkpoints(Stream::Metrics).await.unwrap();
    assert_eq!(checkpoints.get("acme"), Some(&2));
    assert_eq!(node.meta.checkpoints().await.unwrap().get("acme"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_point_and_retention_drops_old_segments() {
    let node = Node::new().await;
    let tsdb = node.tsdb().await;
    for i in 0..6 {
        tsdb.apply(i + 1, "acme", batch(2, 20, T0 + i as i64 * 200));
        tsdb.flush_due(true).await.unwrap();
    }
    let before = scan(&tsdb, "acme", "mem.used", None);
    let sketches = scan(&tsdb, "acme", "latency", None);
    assert_eq!(tsdb.catalog("acme").len(), 6);
    let config = CompactionConfig {
        merge_factor: 4,
        max_merge_segments: 32,
        target_segment_rows: 1_000_000,
        cold_after: Duration::from_secs(0),
        grace: Duration::from_secs(0),
        segment: SegmentOptions::default(),
    };
    let io = IoLimiter::new(u64::MAX / 4);
    let stats = tsdb.compact_once(&config, 9, &io).await.unwrap();
    assert_eq!(stats.merges, 1, "{stats:?}");
    assert_eq!(tsdb.catalog("acme").len(), 1);
    assert_eq!(scan(&tsdb, "acme", "mem.used", None), before);
    assert_eq!(scan(&tsdb, "acme", "latency", None), sketches);
    let listed = node
        .meta
        .list_stream_segments(Stream::Metrics, Some("acme"), i64::MIN, i64::MAX)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        node.meta.pending_deletions(None, 100).await.unwrap().len(),
        6
    );

    // Everything is older than one day: retention drops it.
    let dropped = tsdb
        .expire(&HashMap::new(), 1, Duration::from_secs(0))
        .await
        .unwrap();
    assert_eq!(dropped, 1);
    assert!(scan(&tsdb, "acme", "mem.used", None).is_empty());
    assert!(node
        .meta
        .list_stream_segments(Stream::Metrics, Some("acme"), i64::MIN, i64::MAX)
        .await
        .unwrap()
        .is_empty());
}
