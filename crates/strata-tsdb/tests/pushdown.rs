//! The store's push-down source answers every query exactly like the query
//! crate's reference source (`MemorySource`) over the same points, whether
//! the points are in memtables, in segments or both (issue 5: "rollup and
//! space aggregation compared with a small reference evaluator").

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;
use strata_metastore::{Metastore, SqliteMetastore};
use strata_metrics::{
    MetricBatch, MetricType, Point, SeriesKey, SeriesPoints, Sketch, SketchPoints,
};
use strata_metrics_query::memory::MemorySource;
use strata_storage::{Backend, SegmentStore};
use strata_tsdb::source::TsdbSource;
use strata_tsdb::{Tsdb, TsdbConfig};

const T0: i64 = 1_700_000_000 - 1_700_000_000 % 3600 + 1800;

const QUERIES: &[&str] = &[
    "avg:cpu{*}",
    "sum:cpu{*} by {host}",
    "max:cpu{env:a} by {host}.rollup(max, 120)",
    "min:cpu{!env:a}.rollup(min)",
    "avg:cpu{host:h1 OR host:h2} by {env}",
    "sum:hits{*}.as_count()",
    "sum:hits{*} by {host}.as_rate()",
    "sum:hits{*}.rollup(sum, 300)",
    "avg:cpu{*} by {host} / 2 + 1",
    "sum:hits{*} / sum:cpu{*}",
    "p50:lat{*}",
    "p99:lat{*} by {host}",
    "count:lat{*}",
    "max:lat{env:a}",
    // Buckets of whole rollups: segments answer from their rollup rows.
    "avg:cpu{*} by {host}.rollup(avg, 600)",
    "min:cpu{env:b}.rollup(min, 300)",
    "sum:hits{*} by {env}.rollup(sum, 900).as_rate()",
    "p99:lat{*}.rollup(300)",
    "count:lat{*} by {host}.rollup(1800)",
    "max:lat{*}.rollup(max, 3600)",
];

fn key(metric: &str, host: u8, env: u8) -> SeriesKey {
    SeriesKey::new(
        metric,
        format!("h{host}"),
        vec![format!("env:{}", ["a", "b"][env as usize])],
    )
    .unwrap()
}

#[derive(Debug, Clone)]
struct Sample {
    metric: u8,
    host: u8,
    env: u8,
    offset: i64,
    value: f64,
}

fn sample() -> impl Strategy<Value = Sample> {
    (0u8..3, 0u8..3, 0u8..2, 0i64..7200, -1000i64..1000).prop_map(
        |(metric, host, env, offset, v)| Sample {
            metric,
            host,
            env,
            offset,
            value: v as f64 / 4.0,
        },
    )
}

fn batch(samples: &[Sample]) -> MetricBatch {
    let mut out = MetricBatch::default();
    for s in samples {
        let ts = T0 + s.offset;
        match s.metric {
            0 => out.series.push(SeriesPoints {
                key: key("cpu", s.host, s.env),
                kind: MetricType::Gauge,
                interval_s: 0,
                unit: String::new(),
                points: vec![Point {
                    ts_s: ts,
                    value: s.value,
                }],
            }),
            1 => out.series.push(SeriesPoints {
                key: key("hits", s.host, s.env),
                kind: MetricType::Count,
                interval_s: 10,
                unit: String::new(),
                points: vec![Point {
                    ts_s: ts,
                    value: s.value.abs(),
                }],
            }),
            _ => out.sketches.push(SketchPoints {
                key: key("lat", s.host, s.env),
                points: vec![(
                    ts,
                    Sketch::from_values(&[s.value.abs() + 1.0, s.value.abs() * 2.0 + 1.0]),
                )],
            }),
        }
    }
    out
}

/// Numbers equal within a relative 1e-9 (sums in another order).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

async fn check(samples: Vec<Sample>, flush_at: usize) {
    let dir = tempfile::tempdir().unwrap();
    let meta = Arc::new(
        SqliteMetastore::open(&dir.path().join("m.db"))
            .await
            .unwrap(),
    );
    meta.create_tenant("t", 0).await.unwrap();
    let store = SegmentStore::open(&Backend::Memory, None).unwrap();
    let tsdb = Arc::new(Tsdb::new(
        TsdbConfig::default(),
        meta as Arc<dyn Metastore>,
        store,
    ));
    let mut reference = MemorySource::new();
    for (i, chunk) in samples.chunks(7).enumerate() {
        let batch = batch(chunk);
        reference.push_batch(&batch);
        tsdb.apply(i as u64 + 1, "t", batch);
        if i == flush_at {
            tsdb.flush_due(true).await.unwrap();
        }
    }
    let source = TsdbSource::new(Arc::clone(&tsdb), "t");
    let answers = tokio::task::spawn_blocking(move || {
        QUERIES
            .iter()
            .map(|q| {
                let from = T0 - 600;
                // Not a multiple of the rollup: the last bucket is read raw.
                let to = T0 + 7777;
                let ours = strata_metrics_query::run(&source, q, from, to).unwrap();
                let theirs = strata_metrics_query::run(&reference, q, from, to).unwrap();
                (
                    q,
                    serde_json::to_value(ours).unwrap(),
                    serde_json::to_value(theirs).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (query, ours, theirs) in answers {
        assert!(
            close(&ours, &theirs),
            "{query}\nstore:     {ours}\nreference: {theirs}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_answers_like_the_reference(samples in prop::collection::vec(sample(), 1..120), flush_at in 0usize..20) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(check(samples, flush_at));
    }
}
