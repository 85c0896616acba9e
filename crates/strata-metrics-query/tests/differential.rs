//! `run` over `MemorySource` (push-down buckets) must equal the naive
//! reference evaluator over raw points, for random data and queries.

mod common;

use common::{answer_of, assert_close, key, reference, source_of, RawSeries};
use proptest::prelude::*;
use strata_metrics::{MetricType, Point};
use strata_metrics_query::run;

const FROM: i64 = 1_000_000_000;

const HOSTS: &[&str] = &["", "h1", "h2"];
const TAGS: &[&str] = &["env:a", "env:b", "zone:x", "solo", "host:h3"];

fn series_strategy(
    metric: &'static str,
    kind: MetricType,
    span: i64,
) -> impl Strategy<Value = RawSeries> {
    let points = prop::collection::vec((-60..span + 60, -50i32..50), 0..40);
    let dist = prop::collection::vec(
        (-60..span + 60, prop::collection::vec(1u32..5000, 0..6)),
        0..16,
    );
    (
        prop::sample::select(HOSTS),
        prop::sample::subsequence(TAGS, 0..=3),
        prop::sample::select(&[0u32, 10, 15][..]),
        points,
        dist,
    )
        .prop_map(move |(host, tags, interval_s, points, dist)| RawSeries {
            key: key(metric, host, &tags),
            kind,
            interval_s,
            points: if kind == MetricType::Distribution {
                Vec::new()
            } else {
                points
                    .into_iter()
                    .map(|(t, v)| Point {
                        ts_s: FROM + t,
                        value: f64::from(v),
                    })
                    .collect()
            },
            dist: if kind == MetricType::Distribution {
                dist.into_iter()
                    .map(|(t, v)| {
                        (
                            FROM + t,
                            v.into_iter().map(|x| f64::from(x) / 10.0).collect(),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
}

fn data_strategy(span: i64) -> impl Strategy<Value = Vec<RawSeries>> {
    (
        prop::collection::vec(series_strategy("g", MetricType::Gauge, span), 0..6),
        prop::collection::vec(series_strategy("c", MetricType::Count, span), 0..6),
        prop::collection::vec(series_strategy("r", MetricType::Rate, span), 0..6),
        prop::collection::vec(series_strategy("d", MetricType::Distribution, span), 0..6),
    )
        .prop_map(|(g, c, r, d)| {
            // One series per key, as a store would hold it.
            let mut all: Vec<RawSeries> = Vec::new();
            for s in g.into_iter().chain(c).chain(r).chain(d) {
                if !all.iter().any(|o| o.key == s.key) {
                    all.push(s);
                }
            }
            all
        })
}

fn metric_query_strategy(
    metrics: &'static [&'static str],
    aggs: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let scopes = &[
        "*",
        "env:a",
        "!env:b",
        "env:a,host:h1",
        "env IN (a,b)",
        "host:h*",
        "solo",
        "NOT zone:x",
        "env:a OR zone:x",
    ][..];
    let bys = &[
        "",
        " by {env}",
        " by {host}",
        " by {env,host}",
        " by {zone}",
    ][..];
    let rollups = &[
        "",
        ".rollup(avg)",
        ".rollup(sum, 60)",
        ".rollup(max, 120)",
        ".rollup(count)",
        ".rollup(min, 30)",
        ".rollup(45)",
    ][..];
    let modifiers = &["", ".as_count()", ".as_rate()"][..];
    let fills = &[
        "",
        ".fill(zero)",
        ".fill(last, 60)",
        ".fill(linear)",
        ".fill(null)",
        ".fill(zero, 20)",
    ][..];
    (
        prop::sample::select(aggs),
        prop::sample::select(metrics),
        prop::sample::select(scopes),
        prop::sample::select(bys),
        prop::sample::select(rollups),
        prop::sample::select(modifiers),
        prop::sample::select(fills),
    )
        .prop_map(|(agg, metric, scope, by, rollup, modifier, fill)| {
            format!("{agg}{metric}{{{scope}}}{by}{rollup}{modifier}{fill}")
        })
}

fn expression_strategy() -> impl Strategy<Value = String> {
    let q = || {
        metric_query_strategy(
            &["g", "c", "r", "d"],
            &["", "avg:", "sum:", "min:", "max:", "count:"],
        )
    };
    let ops = &["+", "-", "*", "/"][..];
    prop_oneof![
        3 => q(),
        2 => (q(), prop::sample::select(ops), q()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        1 => (q(), prop::sample::select(ops), -3i32..4).prop_map(|(a, op, n)| format!("{a} {op} {n}")),
        1 => (q(), q(), -2i32..3).prop_map(|(a, b, n)| format!("({a} - {n}) / {b} * 100")),
        1 => (
            prop::sample::select(&["abs", "log10", "cumsum", "diff", "per_second", "per_minute"][..]),
            q()
        )
            .prop_map(|(f, a)| format!("{f}({a})")),
        1 => (q(), prop::sample::select(&[-60i64, 30, -3600][..])).prop_map(|(a, s)| format!("timeshift({a}, {s})")),
        1 => (q(), q()).prop_map(|(a, b)| format!("{a}, -{b}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn push_down_equals_reference(
        (span, offset, data, query) in (prop::sample::select(&[300i64, 1800, 3600, 5000][..]), 0i64..90)
            .prop_flat_map(|(span, offset)| (Just(span), Just(offset), data_strategy(span), expression_strategy())),
    ) {
        let from = FROM + offset;
        let to = from + span;
        let source = source_of(&data);
        let got = run(&source, &query, from, to).unwrap_or_else(|e| panic!("{query}: {e}"));
        let want = reference(&data, &query, from, to);
        assert_close(&answer_of(&got), &want, 1e-9, &query);
    }

    /// Percentiles read merged sketches: within the sketch's accuracy of the
    /// exact rank statistic; count/sum/min/max/avg read exact summaries.
    #[test]
    fn distributions_match_exact_statistics(
        offset in 0i64..90,
        data in data_strategy(3600),
        query in metric_query_strategy(&["d"], &["p50:", "p75:", "p90:", "p99:", "p5:", "count:", "sum:", "min:", "max:", "avg:", ""]),
    ) {
        let from = FROM + offset;
        let to = from + 3600;
        let source = source_of(&data);
        let got = run(&source, &query, from, to).unwrap_or_else(|e| panic!("{query}: {e}"));
        let want = reference(&data, &query, from, to);
        let rel = if query.starts_with('p') { common::SKETCH_TOLERANCE } else { 1e-9 };
        assert_close(&answer_of(&got), &want, rel, &query);
    }
}

proptest! {
    /// Whatever the text, `run` answers or refuses; it never panics.
    #[test]
    fn run_never_panics(
        text in prop_oneof![
            "[a-z0-9:{}()!,.* +/-]{0,40}",
            "(avg|p50|count|sum):(g|d|c)\\{[a-z:*!, ]{0,12}\\}( by \\{[a-z,]{0,8}\\})?(\\.(rollup|fill|as_rate|as_count)\\([a-z0-9, ]{0,10}\\)){0,2}",
        ],
        data in data_strategy(600),
    ) {
        let _ = run(&source_of(&data), &text, FROM, FROM + 600);
    }
}
