//! End-to-end answers of `run` for hand-checked cases: the response shape,
//! type modifiers, groups, arithmetic, distributions and errors.

mod common;

use std::fmt;

use common::{key, source_of, RawSeries, SKETCH_TOLERANCE};
use strata_metrics::{MetricType, Point, Sketch};
use strata_metrics_query::memory::MemorySource;
use strata_metrics_query::{run, Bucket, FetchRequest, FetchedSeries, QueryError, SeriesSource};

const T0: i64 = 1_700_000_000; // a multiple of 20

fn points(from: i64, step: i64, n: i64, value: impl Fn(i64) -> f64) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            ts_s: from + i * step,
            value: value(i),
        })
        .collect()
}

fn gauge(metric: &str, host: &str, tags: &[&str], pts: Vec<Point>) -> RawSeries {
    typed(metric, host, tags, MetricType::Gauge, 0, pts)
}

fn typed(
    metric: &str,
    host: &str,
    tags: &[&str],
    kind: MetricType,
    interval_s: u32,
    pts: Vec<Point>,
) -> RawSeries {
    RawSeries {
        key: key(metric, host, tags),
        kind,
        interval_s,
        points: pts,
        dist: Vec::new(),
    }
}

fn values(
    source: &MemorySource,
    query: &str,
    from: i64,
    to: i64,
) -> Vec<(Vec<String>, Vec<Option<f64>>)> {
    let answer = run(source, query, from, to).unwrap_or_else(|e| panic!("{query}: {e}"));
    answer
        .series
        .into_iter()
        .map(|s| (s.tag_set, s.pointlist.into_iter().map(|p| p.1).collect()))
        .collect()
}

/// The recorded Datadog answer for `system.cpu.idle{*}` over one day.
#[test]
fn ungrouped_answer_has_the_recorded_shape() {
    let (from, to) = (1_641_343_852, 1_641_430_252);
    let data = [gauge(
        "system.cpu.idle",
        "h1",
        &[],
        points(from - 600, 60, 1500, |_| 91.5),
    )];
    let answer = run(&source_of(&data), "system.cpu.idle{*}", from, to).unwrap();
    let json = serde_json::to_string(&answer).unwrap();
    let prefix = r#"{"status":"ok","resp_version":1,"res_type":"time_series","query":"system.cpu.idle{*}","from_date":1641343852000,"to_date":1641430252000,"group_by":[],"message":"","times":[],"values":[],"series":[{"metric":"system.cpu.idle","display_name":"system.cpu.idle","expression":"system.cpu.idle{*}","scope":"*","tag_set":[],"aggr":null,"attributes":{},"interval":300,"length":288,"query_index":0,"start":1641344100000,"end":1641430499000,"pointlist":[[1641344100000,91.5],[1641344400000,91.5],"#;
    assert!(json.starts_with(prefix), "{json:.700}");
    assert!(
        json.ends_with(r#"[1641430200000,91.5]],"unit":null}]}"#),
        "{}",
        &json[json.len() - 200..]
    );
    let round_trip: strata_metrics_query::QueryResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(round_trip, answer);
}

#[test]
fn grouped_series_carry_scope_and_tag_set() {
    let data = [
        gauge(
            "system.cpu.user",
            "a",
            &["env:prod"],
            points(T0, 20, 3, |_| 1.0),
        ),
        gauge(
            "system.cpu.user",
            "b",
            &["env:prod"],
            points(T0, 20, 3, |_| 3.0),
        ),
        gauge(
            "system.cpu.user",
            "c",
            &["env:dev"],
            points(T0, 20, 3, |_| 100.0),
        ),
    ];
    let answer = run(
        &source_of(&data),
        "avg:system.cpu.user{env:prod} by {host}",
        T0,
        T0 + 59,
    )
    .unwrap();
    assert_eq!(answer.group_by, vec!["host"]);
    let scopes: Vec<(&str, &[String], Option<&str>)> = answer
        .series
        .iter()
        .map(|s| (s.scope.as_str(), s.tag_set.as_slice(), s.aggr.as_deref()))
        .collect();
    assert_eq!(
        scopes,
        vec![
            ("host:a,env:prod", &["host:a".to_string()][..], Some("avg")),
            ("host:b,env:prod", &["host:b".to_string()][..], Some("avg")),
        ]
    );
    assert_eq!(
        values(
            &source_of(&data),
            "avg:system.cpu.user{env:prod}",
            T0,
            T0 + 59
        ),
        vec![(vec![], vec![Some(2.0); 3])]
    );
    // Without a space aggregator: avg, reported as null.
    let answer = run(
        &source_of(&data),
        "system.cpu.user{*} by {env}",
        T0,
        T0 + 59,
    )
    .unwrap();
    assert_eq!(answer.series[0].aggr, None);
    assert_eq!(answer.series[0].scope, "env:dev");
}

#[test]
fn series_without_the_group_tag_go_to_na() {
    let data = [
        gauge("m", "", &["zone:x"], points(T0, 20, 1, |_| 1.0)),
        gauge("m", "", &["other"], points(T0, 20, 1, |_| 2.0)),
        gauge("m", "", &[], points(T0, 20, 1, |_| 4.0)),
    ];
    assert_eq!(
        values(&source_of(&data), "sum:m{*} by {zone}", T0, T0 + 19),
        vec![
            (vec!["zone:N/A".to_string()], vec![Some(6.0)]),
            (vec!["zone:x".to_string()], vec![Some(1.0)]),
        ]
    );
}

/// Datadog's `type_modifiers` page: counts sum and `as_rate` divides by the
/// rollup interval; rates average and `as_count` multiplies by the point
/// interval; gauges ignore both.
#[test]
fn type_modifiers() {
    let data = [
        typed(
            "hits",
            "",
            &[],
            MetricType::Count,
            1,
            points(T0, 1, 60, |_| 1.0),
        ),
        typed(
            "speed",
            "",
            &[],
            MetricType::Rate,
            1,
            points(T0, 1, 60, |_| 0.05),
        ),
        typed(
            "speed10",
            "",
            &[],
            MetricType::Rate,
            10,
            points(T0, 10, 6, |_| 2.0),
        ),
        gauge("temp", "", &[], points(T0, 1, 60, |i| i as f64)),
    ];
    let source = source_of(&data);
    let q = |query: &str| {
        let query = if query.contains("rollup") {
            query.to_string()
        } else {
            format!("{query}.rollup(20)")
        };
        let got = values(&source, &query, T0, T0 + 59);
        assert_eq!(got.len(), 1, "{query}");
        got.into_iter().next().unwrap().1
    };
    let close = |got: Vec<Option<f64>>, want: f64| {
        assert_eq!(got.len(), 3);
        for v in got {
            assert!((v.unwrap() - want).abs() < 1e-9, "{v:?} vs {want}");
        }
    };
    close(q("hits{*}"), 20.0);
    close(q("hits{*}.as_count()"), 20.0);
    close(q("hits{*}.as_rate()"), 1.0);
    close(q("speed{*}"), 0.05);
    close(q("speed{*}.as_count()"), 1.0);
    close(q("speed{*}.as_rate()"), 0.05);
    close(q("speed10{*}"), 2.0);
    close(q("speed10{*}.as_count()"), 40.0);
    close(q("speed10{*}.as_rate()"), 2.0);
    assert_eq!(q("temp{*}"), q("temp{*}.as_count()"));
    assert_eq!(q("temp{*}"), vec![Some(9.5), Some(29.5), Some(49.5)]);
    close(q("hits{*}.rollup(count, 20)"), 20.0);
    // An explicit aggregator replaces the default, the scaling stays.
    close(q("speed10{*}.as_count().rollup(max, 20)"), 20.0);
}

#[test]
fn partial_first_bucket_is_dropped_and_boundaries_start_buckets() {
    let data = [gauge(
        "m",
        "",
        &[],
        vec![
            Point {
                ts_s: T0 - 1,
                value: 1000.0,
            }, // before from
            Point {
                ts_s: T0 + 5,
                value: 500.0,
            }, // partial bucket [T0+5, T0+20)
            Point {
                ts_s: T0 + 20,
                value: 1.0,
            },
            Point {
                ts_s: T0 + 39,
                value: 3.0,
            },
            Point {
                ts_s: T0 + 40,
                value: 10.0,
            },
            Point {
                ts_s: T0 + 61,
                value: 7.0,
            }, // after to
        ],
    )];
    let answer = run(&source_of(&data), "m{*}", T0 + 5, T0 + 60).unwrap();
    let series = &answer.series[0];
    assert_eq!(series.start, (T0 + 20) * 1000);
    assert_eq!(series.end, (T0 + 79) * 1000);
    assert_eq!(
        series.pointlist,
        vec![
            ((T0 + 20) * 1000, Some(2.0)),
            ((T0 + 40) * 1000, Some(10.0))
        ]
    );
}

#[test]
fn arithmetic_joins_and_nulls() {
    let data = [
        gauge("a", "h1", &[], points(T0, 20, 2, |_| 6.0)),
        gauge("a", "h2", &[], points(T0, 20, 2, |_| 2.0)),
        gauge("b", "h1", &[], points(T0, 20, 2, |i| i as f64 * 3.0)),
        gauge("b", "h3", &[], points(T0, 20, 2, |_| 1.0)),
    ];
    let source = source_of(&data);
    // Broadcast of an ungrouped series over groups.
    assert_eq!(
        values(&source, "sum:a{*} by {host} / sum:a{*} * 100", T0, T0 + 39),
        vec![
            (vec!["host:h1".to_string()], vec![Some(75.0), Some(75.0)]),
            (vec!["host:h2".to_string()], vec![Some(25.0), Some(25.0)]),
        ]
    );
    // Join on equal tag sets; division by zero is null.
    assert_eq!(
        values(&source, "a{*} by {host} / b{*} by {host}", T0, T0 + 39),
        vec![(vec!["host:h1".to_string()], vec![None, Some(2.0)])]
    );
    let json = serde_json::to_string(
        &run(&source, "a{*} by {host} / b{*} by {host}", T0, T0 + 39).unwrap(),
    )
    .unwrap();
    assert!(
        json.contains(&format!(
            "[[{},null],[{},2.0]]",
            T0 * 1000,
            (T0 + 20) * 1000
        )),
        "{json}"
    );
    assert_eq!(
        values(&source, "-(2 * a{host:h1} + 1)", T0, T0 + 39),
        vec![(vec![], vec![Some(-13.0), Some(-13.0)])]
    );
    // Grouped by different keys: nothing joins.
    assert!(values(&source, "a{*} by {host} + b{*} by {env}", T0, T0 + 39).is_empty());
}

#[test]
fn several_queries_get_query_indexes() {
    let data = [
        gauge("a", "", &[], points(T0, 20, 1, |_| 1.0)),
        gauge("b", "", &[], points(T0, 20, 1, |_| 2.0)),
    ];
    let answer = run(&source_of(&data), "a{*}, b{*}, c{*}", T0, T0 + 19).unwrap();
    let got: Vec<(usize, &str, &str)> = answer
        .series
        .iter()
        .map(|s| (s.query_index, s.metric.as_str(), s.expression.as_str()))
        .collect();
    assert_eq!(got, vec![(0, "a", "a{*}"), (1, "b", "b{*}")]);
    let answer = run(&source_of(&data), "a{*} + b{*}", T0, T0 + 19).unwrap();
    assert_eq!(answer.series[0].metric, "a{*} + b{*}");
}

#[test]
fn timeshift_and_fill() {
    let data = [gauge(
        "m",
        "",
        &[],
        vec![
            Point {
                ts_s: T0 - 3600,
                value: 5.0,
            },
            Point {
                ts_s: T0,
                value: 1.0,
            },
            Point {
                ts_s: T0 + 60,
                value: 4.0,
            },
        ],
    )];
    let source = source_of(&data);
    assert_eq!(
        values(&source, "timeshift(m{*}, -3600)", T0, T0 + 59),
        vec![(vec![], vec![Some(5.0)])]
    );
    assert_eq!(
        values(&source, "m{*}.fill(linear)", T0, T0 + 79),
        vec![(vec![], vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)])]
    );
    assert_eq!(
        values(&source, "m{*}.fill(zero, 20)", T0, T0 + 79),
        vec![(vec![], vec![Some(1.0), Some(0.0), Some(4.0)])]
    );
}

fn distribution_data() -> Vec<RawSeries> {
    let host_values = |host: &str, lo: u32| RawSeries {
        key: key("latency", host, &["env:prod"]),
        kind: MetricType::Distribution,
        interval_s: 0,
        points: Vec::new(),
        dist: (0..10)
            .map(|i| {
                (
                    T0 + i64::from(i),
                    (lo + i * 50..lo + i * 50 + 50).map(f64::from).collect(),
                )
            })
            .collect(),
    };
    vec![host_values("a", 1), host_values("b", 501)]
}

#[test]
fn distribution_percentiles_read_merged_sketches() {
    let source = source_of(&distribution_data());
    let one = |query: &str| {
        let got = values(&source, query, T0, T0 + 19);
        assert_eq!(got.len(), 1, "{query}");
        got[0].1[0].unwrap()
    };
    let close = |got: f64, want: f64| {
        assert!(
            (got - want).abs() <= want * SKETCH_TOLERANCE,
            "{got} vs {want}"
        );
    };
    // Values 1..=1000 across two hosts; ranks round((n-1)·q).
    close(one("p50:latency{*}"), 500.0);
    close(one("p90:latency{*}"), 900.0);
    close(one("p99:latency{*}"), 990.0);
    close(one("p50:latency{host:a}"), 250.0);
    assert_eq!(one("count:latency{*}"), 1000.0);
    assert_eq!(one("avg:latency{*}"), 500.5);
    assert_eq!(one("latency{*}"), 500.5);
    assert_eq!(one("sum:latency{*}"), 500_500.0);
    assert_eq!(one("min:latency{*}"), 1.0);
    assert_eq!(one("max:latency{*}"), 1000.0);
    let by_host = values(&source, "p50:latency{*} by {host}", T0, T0 + 19);
    assert_eq!(by_host.len(), 2);
    close(by_host[1].1[0].unwrap(), 750.0);
}

#[test]
fn percentiles_need_distributions() {
    let mut data = distribution_data();
    data.push(gauge("cpu", "", &[], points(T0, 1, 5, |_| 1.0)));
    let source = source_of(&data);
    let err = run(&source, "p99:cpu{*}", T0, T0 + 19).unwrap_err();
    assert!(
        matches!(err, QueryError::PercentileOnNonDistribution { .. }),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
    data.push(gauge("latency", "c", &[], points(T0, 1, 5, |_| 1.0)));
    let err = run(&source_of(&data), "avg:latency{*}", T0, T0 + 19).unwrap_err();
    assert!(matches!(err, QueryError::MixedKinds { .. }), "{err}");
}

#[test]
fn client_errors_are_400() {
    let source = MemorySource::new();
    let err = run(&source, "avg:cpu{env:prod AND !host:a}", T0, T0 + 60).unwrap_err();
    assert!(
        matches!(&err, QueryError::Parse(p) if p.position() == 21),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
    let err = run(&source, "cpu{*}", T0 + 60, T0).unwrap_err();
    assert!(matches!(err, QueryError::InvalidRange { .. }));
    assert!(err.is_client_error());
    assert!(run(&source, "cpu{*}", -1, T0).is_err());
    assert!(run(&source, "cpu{*}", T0, i64::MAX).is_err());
}

#[derive(Debug)]
struct Broken;

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("disk on fire")
    }
}

impl std::error::Error for Broken {}

/// A source that fails, or answers with one bucket too many.
struct BadSource {
    fail: bool,
}

impl SeriesSource for BadSource {
    type Error = Broken;

    fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, Broken> {
        if self.fail {
            return Err(Broken);
        }
        Ok(vec![FetchedSeries {
            key: key(request.metric, "", &[]),
            kind: MetricType::Gauge,
            interval_s: 0,
            buckets: vec![Some(Bucket::of(1.0)); request.buckets + 1],
            sketches: Vec::new(),
        }])
    }
}

#[test]
fn source_failures_are_500() {
    let err = run(&BadSource { fail: true }, "cpu{*}", T0, T0 + 60).unwrap_err();
    assert!(matches!(err, QueryError::Source(_)));
    assert_eq!(err.http_status(), 500);
    assert_eq!(
        std::error::Error::source(&err).unwrap().to_string(),
        "disk on fire"
    );
    let err = run(&BadSource { fail: false }, "cpu{*}", T0, T0 + 60).unwrap_err();
    assert!(matches!(err, QueryError::SourceContract(_)), "{err}");
    assert!(!err.is_client_error());
}

#[test]
fn sketches_are_only_fetched_for_percentiles() {
    struct Spy(MemorySource, std::cell::Cell<Option<bool>>);
    impl SeriesSource for Spy {
        type Error = std::convert::Infallible;
        fn fetch(&self, request: &FetchRequest<'_>) -> Result<Vec<FetchedSeries>, Self::Error> {
            self.1.set(Some(request.sketches));
            self.0.fetch(request)
        }
    }
    let spy = Spy(source_of(&distribution_data()), std::cell::Cell::new(None));
    run(&spy, "avg:latency{*}", T0, T0 + 19).unwrap();
    assert_eq!(spy.1.get(), Some(false));
    run(&spy, "p75:latency{*}", T0, T0 + 19).unwrap();
    assert_eq!(spy.1.get(), Some(true));
    let sketch = Sketch::from_values(&[1.0, 2.0]);
    assert_eq!(Bucket::of_sketch(&sketch).map(|b| b.count), Some(2));
}
