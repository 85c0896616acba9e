use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const T0: i64 = 1_700_000_000; // a window start

fn defaults() -> ListenerDefaults {
    ListenerDefaults {
        host: "agent-host".into(),
        tags: vec![],
    }
}

fn feed(agg: &mut Aggregator, at: i64, datagram: &str) {
    let others = agg.ingest(datagram.as_bytes(), at, &defaults());
    assert!(others.is_empty(), "{others:?}");
}

fn series<'a>(batch: &'a MetricBatch, metric: &str) -> &'a SeriesPoints {
    batch
        .series
        .iter()
        .find(|s| s.key.metric == metric)
        .unwrap_or_else(|| panic!("no series {metric} in {batch:#?}"))
}

fn only_value(batch: &MetricBatch, metric: &str) -> f64 {
    let s = series(batch, metric);
    assert_eq!(s.points.len(), 1, "{s:?}");
    s.points[0].value
}

#[test]
fn counts_sum_scaled_by_sample_rate() {
    let mut agg = Aggregator::new(100);
    feed(
        &mut agg,
        T0 + 1,
        "hits:1|c\nhits:2|c|@0.5\nhits:1:1|c|@0.25",
    );
    let batch = agg.flush(T0 + 10);
    let s = series(&batch, "hits");
    assert_eq!(s.kind, MetricType::Count);
    assert_eq!(s.interval_s, 10);
    assert_eq!(
        s.points,
        [Point {
            ts_s: T0,
            value: 1.0 + 4.0 + 8.0
        }]
    );
    assert_eq!(s.key.host, "agent-host");
}

#[test]
fn gauges_keep_the_last_value() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "temp:10|g");
    feed(&mut agg, T0 + 5, "temp:12:11|g\ntemp:7|g|@0.1");
    let batch = agg.flush(T0 + 10);
    assert_eq!(series(&batch, "temp").kind, MetricType::Gauge);
    assert_eq!(only_value(&batch, "temp"), 7.0);
}

#[test]
fn sets_count_unique_members() {
    let mut agg = Aggregator::new(100);
    feed(
        &mut agg,
        T0,
        "users:alice|s\nusers:bob|s\nusers:alice|s\nusers:a:b|s",
    );
    let batch = agg.flush(T0 + 10);
    assert_eq!(series(&batch, "users").kind, MetricType::Gauge);
    assert_eq!(only_value(&batch, "users"), 3.0);
}

#[test]
fn histograms_follow_the_agent_aggregates() {
    let mut agg = Aggregator::new(100);
    // 1..=20 plus a weighted 100 (rate 0.5: weight 2).
    let values: Vec<String> = (1..=20).map(|v| v.to_string()).collect();
    feed(&mut agg, T0 + 3, &format!("lat:{}|h", values.join(":")));
    feed(&mut agg, T0 + 4, "lat:100|h|@0.5");
    let batch = agg.flush(T0 + 10);
    // count 22: median target (22-1)/2 = 10 -> the 11th value = 11;
    // p95 target (95*22-1)/100 = 20 -> the 21st value = 100.
    assert_eq!(only_value(&batch, "lat.median"), 11.0);
    assert_eq!(only_value(&batch, "lat.95percentile"), 100.0);
    assert_eq!(only_value(&batch, "lat.max"), 100.0);
    assert_eq!(only_value(&batch, "lat.avg"), (210.0 + 200.0) / 22.0);
    let count = series(&batch, "lat.count");
    assert_eq!(count.kind, MetricType::Rate);
    assert_eq!(count.interval_s, 10);
    assert_eq!(count.points[0].value, 2.2);
    for name in ["lat.median", "lat.95percentile", "lat.max", "lat.avg"] {
        assert_eq!(series(&batch, name).kind, MetricType::Gauge);
        assert_eq!(series(&batch, name).unit, "");
    }
    assert_eq!(batch.series.len(), 5);
}

#[test]
fn agent_histogram_small_counts() {
    // Agent histogram_test.go style: one value is every aggregate.
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "one:5|h");
    let batch = agg.flush(T0 + 10);
    for name in ["one.median", "one.95percentile", "one.max", "one.avg"] {
        assert_eq!(only_value(&batch, name), 5.0, "{name}");
    }
    assert_eq!(only_value(&batch, "one.count"), 0.1);
    // Two values: median target (2-1)/2 = 0 -> the first; p95 (190-1)/100 = 1 -> the second.
    feed(&mut agg, T0 + 10, "two:9:3|h");
    let batch = agg.flush(T0 + 20);
    assert_eq!(only_value(&batch, "two.median"), 3.0);
    assert_eq!(only_value(&batch, "two.95percentile"), 9.0);
}

#[test]
fn timers_are_histograms_in_milliseconds() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "req:10:30|ms\nreq:20|h");
    let batch = agg.flush(T0 + 10);
    assert_eq!(only_value(&batch, "req.avg"), 20.0);
    assert_eq!(series(&batch, "req.avg").unit, "millisecond");
    assert_eq!(series(&batch, "req.count").unit, "");
    assert_eq!(agg.counters().type_conflicts, 0);
}

#[test]
fn big_histograms_fall_back_to_a_sketch() {
    let mut agg = Aggregator::new(100);
    let n = 5 * HISTOGRAM_EXACT_SAMPLES;
    for i in 0..n {
        feed(&mut agg, T0, &format!("big:{}|h", i + 1));
    }
    assert_eq!(agg.counters().histogram_fallbacks, 1);
    let batch = agg.flush(T0 + 10);
    assert_eq!(only_value(&batch, "big.max"), n as f64);
    assert_eq!(only_value(&batch, "big.count"), n as f64 / 10.0);
    let exact_avg = (n as f64 + 1.0) / 2.0;
    assert!((only_value(&batch, "big.avg") - exact_avg).abs() < 1e-9);
    let median = only_value(&batch, "big.median");
    assert!((median / exact_avg - 1.0).abs() < 0.025, "{median}");
    // Repeated values compact instead of falling back.
    for i in 0..n {
        feed(&mut agg, T0 + 10, &format!("dup:{}|h", i % 7));
    }
    assert_eq!(agg.counters().histogram_fallbacks, 1);
    let batch = agg.flush(T0 + 20);
    assert_eq!(only_value(&batch, "dup.median"), 3.0);
}

#[test]
fn distributions_become_weighted_sketches() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "size:1:2:3|d|#a\nsize:10|d|@0.25|#a");
    let batch = agg.flush(T0 + 10);
    assert!(batch.series.is_empty());
    assert_eq!(batch.sketches.len(), 1);
    let sp = &batch.sketches[0];
    assert_eq!(sp.key.tags, ["a"]);
    assert_eq!(sp.points.len(), 1);
    let (ts, sketch) = &sp.points[0];
    assert_eq!(*ts, T0);
    assert_eq!(sketch.count, 7);
    assert_eq!(sketch.sum, 46.0);
    let mut expected = Sketch::from_values(&[1.0, 2.0, 3.0]);
    expected.insert_n(10.0, 4);
    assert_eq!(sketch, &expected);
}

#[test]
fn windows_close_at_their_end() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0 + 9, "c:1|c");
    feed(&mut agg, T0 + 10, "c:10|c");
    assert!(agg.flush(T0 + 9).is_empty());
    let batch = agg.flush(T0 + 10);
    assert_eq!(
        series(&batch, "c").points,
        [Point {
            ts_s: T0,
            value: 1.0
        }]
    );
    assert!(agg.flush(T0 + 19).is_empty());
    let batch = agg.flush(T0 + 35);
    assert_eq!(
        series(&batch, "c").points,
        [Point {
            ts_s: T0 + 10,
            value: 10.0
        }]
    );
    assert_eq!(agg.context_count(), 0);
    assert_eq!(window_start(-1), -10);
    assert_eq!(window_start(T0 + 9), T0);
}

#[test]
fn one_flush_emits_several_windows_in_order() {
    let mut agg = Aggregator::new(100);
    for k in [2, 0, 1] {
        feed(&mut agg, T0 + 10 * k, &format!("g:{k}|g"));
    }
    let batch = agg.flush(T0 + 100);
    let ts: Vec<i64> = series(&batch, "g").points.iter().map(|p| p.ts_s).collect();
    assert_eq!(ts, [T0, T0 + 10, T0 + 20]);
    assert_eq!(batch.series.len(), 1);
}

#[test]
fn late_values_join_the_oldest_open_window() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0 + 1, "c:1|c");
    let first = agg.flush(T0 + 20);
    assert_eq!(series(&first, "c").points[0].ts_s, T0);
    // The clock went back: T0+5 belongs to a flushed window.
    feed(&mut agg, T0 + 5, "c:2|c");
    assert_eq!(agg.counters().late_values, 1);
    let second = agg.flush(T0 + 30);
    assert_eq!(
        series(&second, "c").points,
        [Point {
            ts_s: T0 + 20,
            value: 2.0
        }]
    );
}

#[test]
fn host_tags_and_listener_defaults() {
    let mut agg = Aggregator::new(100);
    let defaults = ListenerDefaults {
        host: "listener".into(),
        tags: vec!["env:dev".into()],
    };
    let datagram = "a:1|g|#host:web1,z:1,dd.internal.entity_id:pod\n\
                    b:1|g|#z:1\n\
                    c:1|g|#host:\n\
                    d:1|g|#b:2,host:x,host:y,a:1";
    agg.ingest(datagram.as_bytes(), T0, &defaults);
    let batch = agg.flush(T0 + 10);
    let a = &series(&batch, "a").key;
    assert_eq!(
        (a.host.as_str(), a.tags.clone()),
        ("web1", vec!["env:dev".into(), "z:1".into()])
    );
    assert_eq!(series(&batch, "b").key.host, "listener");
    assert_eq!(series(&batch, "c").key.host, "");
    let d = &series(&batch, "d").key;
    assert_eq!(d.host, "y");
    assert_eq!(d.tags, ["a:1", "b:2", "env:dev"]);
}

#[test]
fn tag_order_does_not_split_contexts() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "c:1|c|#b,a\nc:2|c|#a,b,a");
    assert_eq!(agg.context_count(), 1);
    let batch = agg.flush(T0 + 10);
    assert_eq!(only_value(&batch, "c"), 3.0);
}

#[test]
fn timestamped_values_bypass_windows() {
    let mut agg = Aggregator::new(100);
    feed(
        &mut agg,
        T0 + 500,
        "c:3|c|@0.5|T1600000003\ng:1:2|g|T1600000004\nh:1|h|T1600000005\nd:1|d|T5\ns:x|s|T5",
    );
    assert_eq!(agg.counters().timestamped_unsupported, 3);
    // Emitted on the next flush, whatever its time.
    let batch = agg.flush(T0);
    let c = series(&batch, "c");
    assert_eq!(c.kind, MetricType::Count);
    assert_eq!(
        c.points,
        [Point {
            ts_s: 1_600_000_003,
            value: 3.0
        }]
    );
    let g = series(&batch, "g");
    assert_eq!(g.kind, MetricType::Gauge);
    assert_eq!(g.points.len(), 2);
    assert!(g.points.iter().all(|p| p.ts_s == 1_600_000_004));
    assert_eq!(batch.point_count(), 3);
    assert!(agg.flush(T0 + 1000).is_empty());
}

#[test]
fn context_limit_drops_and_counts() {
    let mut agg = Aggregator::new(2);
    feed(&mut agg, T0, "a:1|c\nb:1|c\nc:1:1|c\na:1|c");
    assert_eq!(agg.context_count(), 2);
    assert_eq!(agg.counters().dropped_contexts, 2);
    let batch = agg.flush(T0 + 10);
    assert_eq!(only_value(&batch, "a"), 2.0);
    // Flushed contexts free their slots.
    feed(&mut agg, T0 + 10, "c:1|c");
    assert_eq!(agg.context_count(), 1);
    // Timestamped points are bounded by the same number.
    feed(&mut agg, T0 + 10, "t:1:2:3|g|T100");
    assert_eq!(agg.counters().dropped_timestamped, 1);
}

#[test]
fn type_conflicts_and_invalid_series() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "x:1|c\nx:2|g\nx:3|h");
    assert_eq!(agg.counters().type_conflicts, 2);
    // Names are normalised; unusable ones are counted.
    let long = "n".repeat(190);
    feed(
        &mut agg,
        T0,
        &format!("9bad name:1|g\n123:1|g\n{long}:1|h\n{long}:1|g"),
    );
    assert_eq!(agg.counters().invalid_series, 2);
    let batch = agg.flush(T0 + 10);
    assert_eq!(only_value(&batch, "bad_name"), 1.0);
    assert_eq!(only_value(&batch, &long), 1.0);
    assert_eq!(only_value(&batch, "x"), 1.0);
}

#[test]
fn ingest_counts_and_returns_events() {
    let mut agg = Aggregator::new(100);
    let datagram = b"a:1|c\n_e{1,1}:t|x\n_sc|chk|0\nbroken\nalso:broken|zz\n\xff\n";
    let others = agg.ingest(datagram, T0, &defaults());
    assert_eq!(others.len(), 2);
    assert!(matches!(others[0], Message::Event(_)));
    assert!(matches!(others[1], Message::ServiceCheck(_)));
    let c = agg.counters();
    assert_eq!(
        (c.datagrams, c.lines, c.metrics, c.events, c.service_checks),
        (1, 6, 1, 1, 1)
    );
    assert_eq!(c.parse_errors_total(), 3);
    assert_eq!(c.parse_errors.get(&ParseErrorKind::MissingType), Some(&1));
    assert_eq!(c.parse_errors.get(&ParseErrorKind::UnknownType), Some(&1));
    assert_eq!(c.parse_errors.get(&ParseErrorKind::NotUtf8), Some(&1));
}

#[test]
fn resolve_host_and_tags_for_events() {
    let d = ListenerDefaults {
        host: "h0".into(),
        tags: vec!["k:v".into()],
    };
    let (host, tags) = resolve_host_and_tags(&["host:h1".into(), "a".into()], &d);
    assert_eq!(
        (host.as_str(), tags),
        ("h1", vec!["a".to_string(), "k:v".to_string()])
    );
    assert_eq!(resolve_host_and_tags(&[], &d).0, "h0");
}

#[test]
fn flush_all_drains_everything_once() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0 + 3, "c:1|c\nd:4|d");
    let batch = agg.flush_all();
    assert_eq!(batch.point_count(), 2);
    assert!(agg.flush_all().is_empty());
    // A later sample for the drained window goes to the next one.
    feed(&mut agg, T0 + 4, "c:1|c");
    assert_eq!(agg.counters().late_values, 1);
    let batch = agg.flush(T0 + 20);
    assert_eq!(series(&batch, "c").points[0].ts_s, T0 + 10);
}

#[test]
fn batches_survive_the_wal_codec() {
    let mut agg = Aggregator::new(100);
    feed(&mut agg, T0, "c:1|c|#a\nlat:1:2|ms\nd:3|d\ns:x|s\ng:1|g|T5");
    let batch = agg.flush(T0 + 10);
    let bytes = crate::codec::encode("tenant", &batch);
    let (tenant, back) = crate::codec::decode(&bytes).expect("decodes");
    assert_eq!(tenant, "tenant");
    assert_eq!(back, batch);
}

#[test]
fn suffix_constant_matches() {
    assert_eq!(
        HISTOGRAM_SUFFIXES.iter().map(|s| s.len()).max(),
        Some(LONGEST_SUFFIX)
    );
}

/// One step of the flush-contract model.
#[derive(Debug, Clone)]
enum Step {
    /// A count `value` for context `ctx` arriving `dt` seconds after the clock.
    Add { ctx: u8, value: u8, dt: i64 },
    /// Advance the clock and flush.
    Flush { advance: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..4, 1u8..10, -15i64..5).prop_map(|(ctx, value, dt)| Step::Add { ctx, value, dt }),
        1 => (0i64..25).prop_map(|advance| Step::Flush { advance }),
    ]
}

proptest! {
    #[test]
    fn flush_contract_nothing_lost_nothing_twice(steps in prop::collection::vec(step(), 1..80)) {
        let mut agg = Aggregator::new(1000);
        let mut now = T0;
        let mut sent: BTreeMap<String, f64> = BTreeMap::new();
        let mut emitted: BTreeMap<String, f64> = BTreeMap::new();
        let mut seen: BTreeSet<(String, i64)> = BTreeSet::new();
        let mut last_flush = i64::MIN;
        let mut collect = |batch: MetricBatch, now: i64, emitted: &mut BTreeMap<String, f64>| {
            for s in batch.series {
                for p in s.points {
                    // Each (series, window) at most once, and only closed windows.
                    assert!(seen.insert((s.key.metric.clone(), p.ts_s)), "twice: {} {}", s.key.metric, p.ts_s);
                    assert!(p.ts_s + WINDOW_S <= now, "open window {} at {now}", p.ts_s);
                    *emitted.entry(s.key.metric.clone()).or_default() += p.value;
                }
            }
        };
        for step in steps {
            match step {
                Step::Add { ctx, value, dt } => {
                    let name = format!("m{ctx}");
                    feed(&mut agg, now + dt, &format!("{name}:{value}|c"));
                    *sent.entry(name).or_default() += f64::from(value);
                }
                Step::Flush { advance } => {
                    now += advance;
                    let batch = agg.flush(now);
                    prop_assert!(now >= last_flush);
                    last_flush = now;
                    collect(batch, now, &mut emitted);
                }
            }
        }
        let rest = agg.flush_all();
        collect(rest, i64::MAX, &mut emitted);
        prop_assert_eq!(sent, emitted);
        prop_assert_eq!(agg.context_count(), 0);
    }
}
