//! Regression tests of the issue 6 review: rollback of cumulative state,
//! bucket limits and tenant fairness, per-instance baselines, bounded
//! sketch work, charged JSON lists, one rejection per summary point and
//! names normalised once per metric.

use std::time::Instant;

use prost::Message;
use strata_metrics::Point;

use super::proto::{
    metric::Data, number_data_point::Value, AggregationTemporality, Buckets, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, ValueAtQuantile,
};
use super::state::{Snapshot, StateKind, Step};
use super::tests::{json, json_request, key, metric, number, pb, request, skey, NOW, SEC, T0};
use super::*;
use crate::otlp::common::KeyValue;
use crate::ErrorKind;

fn monotonic(points: Vec<NumberDataPoint>) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: true,
    })
}

/// A cumulative point of `total` (start `T0 - 100 s`).
fn point(time: u64, value: f64) -> NumberDataPoint {
    let mut point = number(time, Value::AsDouble(value), vec![]);
    point.start_time_unix_nano = T0 - 100 * SEC;
    point
}

fn total(points: Vec<NumberDataPoint>) -> ExportMetricsServiceRequest {
    request(vec![metric("total", "", monotonic(points))])
}

/// The count points stored, as `(interval, value)`.
fn deltas(got: &OtlpMetrics) -> Vec<(u32, f64)> {
    let series = &got.decoded.batch.series;
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (s.interval_s, p.value)))
        .collect()
}

fn decode(
    request: &ExportMetricsServiceRequest,
    limits: &MetricsLimits,
    state: &CumulativeState,
) -> Result<OtlpMetrics, IngestError> {
    let body = request.encode_to_vec();
    decode_metrics(&body, Format::Protobuf, "t1", NOW, limits, state)
}

#[test]
fn issue_6_review_rollback_lets_a_retry_count_the_increase() {
    let state = CumulativeState::new(100);
    assert!(pb(&total(vec![point(T0, 10.0)]), &state).undo.len() == 1);
    let second = total(vec![point(T0 + 10 * SEC, 15.0)]);
    let got = pb(&second, &state);
    assert_eq!(deltas(&got), vec![(10, 5.0)]);
    // The server could not store it (429, 503, WAL): the retry counts again.
    state.rollback(got.undo);
    let retry = pb(&second, &state);
    assert_eq!(deltas(&retry), vec![(10, 5.0)]);
    // Without the rollback, the retry is stale and stores nothing.
    assert!(deltas(&pb(&second, &state)).is_empty());

    // Two points of one series in one request: both are undone.
    let two = total(vec![point(T0 + 20 * SEC, 17.0), point(T0 + 30 * SEC, 20.0)]);
    let got = pb(&two, &state);
    assert_eq!(deltas(&got), vec![(10, 2.0), (10, 3.0)]);
    state.rollback(got.undo);
    assert_eq!(deltas(&pb(&two, &state)), vec![(10, 2.0), (10, 3.0)]);

    // A concurrent request advanced the series after this one: the
    // rollback leaves it (restoring would count its increase twice).
    let first = pb(&total(vec![point(T0 + 40 * SEC, 25.0)]), &state);
    let later = pb(&total(vec![point(T0 + 50 * SEC, 31.0)]), &state);
    assert_eq!(deltas(&later), vec![(10, 6.0)]);
    state.rollback(first.undo);
    let next = pb(&total(vec![point(T0 + 60 * SEC, 32.0)]), &state);
    assert_eq!(deltas(&next), vec![(10, 1.0)]);
    assert_eq!(state.len(), 1);
}

#[test]
fn issue_6_review_a_decode_error_leaves_the_state_as_it_was() {
    let state = CumulativeState::new(100);
    pb(&total(vec![point(T0, 10.0)]), &state);
    let limits = MetricsLimits {
        max_points_per_request: 2,
        ..MetricsLimits::default()
    };
    let mut req = total(vec![point(T0 + 10 * SEC, 15.0)]);
    let gauge = Data::Gauge(Gauge {
        data_points: vec![number(T0, Value::AsInt(1), vec![]); 2],
    });
    req.resource_metrics[0].scope_metrics[0]
        .metrics
        .push(metric("g", "", gauge));
    let error = decode(&req, &limits, &state).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge, "{error:?}");
    // The first point was applied, then undone: it still counts.
    let got = pb(&total(vec![point(T0 + 10 * SEC, 15.0)]), &state);
    assert_eq!(deltas(&got), vec![(10, 5.0)]);
    // A new series set during the failed decode is forgotten again.
    let state = CumulativeState::new(100);
    assert!(decode(&req, &limits, &state).is_err());
    assert!(state.is_empty());
}

fn histogram_point(buckets: usize, count_each: u64, bounds: impl Fn(usize) -> f64) -> Data {
    let counts = vec![count_each; buckets];
    Data::Histogram(Histogram {
        data_points: vec![HistogramDataPoint {
            time_unix_nano: T0,
            count: counts.iter().sum(),
            bucket_counts: counts,
            explicit_bounds: (1..buckets).map(bounds).collect(),
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Delta as i32,
    })
}

fn exponential_point(positive: usize, negative: usize) -> Data {
    let side = |n: usize| {
        Some(Buckets {
            offset: -5,
            bucket_counts: vec![1; n],
        })
    };
    Data::ExponentialHistogram(ExponentialHistogram {
        data_points: vec![ExponentialHistogramDataPoint {
            time_unix_nano: T0,
            count: (positive + negative) as u64,
            scale: 3,
            positive: side(positive),
            negative: side(negative),
            ..Default::default()
        }],
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
    })
}

#[test]
fn issue_6_review_histogram_points_have_at_most_4096_buckets() {
    let state = CumulativeState::new(100_000);
    let req = request(vec![
        metric("ok", "", histogram_point(4096, 1, |i| i as f64)),
        metric("big", "", histogram_point(4097, 1, |i| i as f64)),
        metric("exp_ok", "", exponential_point(4096, 4096)),
        metric("exp_pos", "", exponential_point(4097, 0)),
        metric("exp_neg", "", exponential_point(1, 4097)),
    ]);
    let got = pb(&req, &state);
    assert_eq!(got.rejected, 3, "{}", got.error_message);
    assert!(
        got.error_message
            .starts_with("resourceMetrics[0].scopeMetrics[0].metrics[1].dataPoints[0]: histogram has 4097 buckets (at most 4096)"),
        "{}",
        got.error_message
    );
    let sketches = &got.decoded.batch.sketches;
    assert_eq!(
        sketches.len(),
        1,
        "the cumulative exponential is a baseline"
    );
    assert_eq!(sketches[0].points[0].1.count, 4096);
    assert_eq!(state.len(), 1, "only exp_ok has a baseline");
    let req = request(vec![metric("exp_neg", "", exponential_point(1, 4097))]);
    let got = pb(&req, &state);
    assert!(
        got.error_message
            .ends_with("exponential histogram has 4097 negative buckets (at most 4096)"),
        "{}",
        got.error_message
    );
}

fn number_step(state: &CumulativeState, tenant: &str, id: u64, time: u64) -> Step<f64> {
    state.advance(
        &mut CumulativeUndo::new(tenant),
        skey(id, StateKind::Number),
        0,
        time,
        Snapshot::Number(time as f64),
        |p, c| match (p, c) {
            (Snapshot::Number(p), Snapshot::Number(c)) => Some(c - p),
            _ => None,
        },
    )
}

#[test]
fn issue_6_review_one_tenant_cannot_evict_the_others() {
    let state = CumulativeState::new(12);
    for id in 0..3 {
        number_step(&state, "small", id, 1);
        number_step(&state, "other", id, 1);
    }
    // "big" floods: it only ever evicts its own entries.
    for id in 0..1000 {
        number_step(&state, "big", id, 1);
        assert!(state.len() <= 12);
    }
    for tenant in ["small", "other"] {
        for id in 0..3 {
            let step = number_step(&state, tenant, id, 2);
            assert!(
                matches!(step, Step::Delta { .. }),
                "{tenant} {id}: {step:?}"
            );
        }
    }
    // The flood's newest series survive too.
    assert!(matches!(
        number_step(&state, "big", 999, 2),
        Step::Delta { .. }
    ));
    // A single tenant may use the whole bound.
    let state = CumulativeState::new(12);
    for id in 0..12 {
        number_step(&state, "only", id, 1);
    }
    assert_eq!(state.len(), 12);
}

/// A request from one process: `instance` and `start` differ per process.
fn instance(instance: &str, scope_version: &str, start: u64, time: u64, value: f64) -> Vec<u8> {
    let mut req = total(vec![NumberDataPoint {
        start_time_unix_nano: start,
        ..point(time, value)
    }]);
    let rm: &mut ResourceMetrics = &mut req.resource_metrics[0];
    if let Some(resource) = rm.resource.as_mut() {
        let id = KeyValue::string("service.instance.id", instance);
        resource.attributes.insert(0, id);
    }
    let sm: &mut ScopeMetrics = &mut rm.scope_metrics[0];
    if let Some(scope) = sm.scope.as_mut() {
        scope.version = scope_version.into();
    }
    req.encode_to_vec()
}

#[test]
fn issue_6_review_two_instances_of_one_service_keep_their_baselines() {
    let state = CumulativeState::new(100);
    let run = |body: Vec<u8>| {
        let limits = MetricsLimits::default();
        let got = decode_metrics(&body, Format::Protobuf, "t1", NOW, &limits, &state).unwrap();
        let series = &got.decoded.batch.series;
        assert!(series.iter().all(|s| s.key == key("total", &[])));
        deltas(&got)
    };
    let (a, b) = (T0 - 100 * SEC, T0 - 50 * SEC);
    assert!(run(instance("a", "1", a, T0, 10.0)).is_empty());
    assert!(run(instance("b", "1", b, T0, 100.0)).is_empty());
    assert_eq!(
        run(instance("a", "1", a, T0 + 10 * SEC, 12.0)),
        vec![(10, 2.0)]
    );
    assert_eq!(
        run(instance("b", "1", b, T0 + 10 * SEC, 107.0)),
        vec![(10, 7.0)]
    );
    // Another scope version is another origin too.
    assert!(run(instance("a", "2", a, T0 + 20 * SEC, 15.0)).is_empty());
    assert_eq!(
        run(instance("a", "1", a, T0 + 20 * SEC, 15.0)),
        vec![(10, 3.0)]
    );
    // The attributes' order does not matter.
    let body = instance("a", "1", a, T0 + 30 * SEC, 16.0);
    let mut req = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
    if let Some(resource) = req.resource_metrics[0].resource.as_mut() {
        resource.attributes.reverse();
    }
    assert_eq!(run(req.encode_to_vec()), vec![(10, 1.0)]);
    assert_eq!(state.len(), 3);
}

#[test]
fn issue_6_review_a_4096_bucket_point_is_cheap() {
    // Wide buckets (about seven sketch keys each), every one spread over
    // the 32 values: the most work a point can ask for.
    let data = histogram_point(4096, 1000, |i| 1.15f64.powi(i as i32));
    let points = 16;
    let req = request(
        (0..points)
            .map(|i| metric(&format!("h{i}"), "", data.clone()))
            .collect(),
    );
    let started = Instant::now();
    let got = pb(&req, &CumulativeState::new(100));
    let elapsed = started.elapsed();
    assert_eq!(got.rejected, 0, "{}", got.error_message);
    let sketches = &got.decoded.batch.sketches;
    assert_eq!(sketches.len(), points);
    for series in sketches {
        let sketch = &series.points[0].1;
        assert_eq!(sketch.count, 4096 * 1000);
        let binned: u64 = sketch.bins.iter().map(|b| u64::from(b.n)).sum();
        assert_eq!(binned, 4096 * 1000);
        assert!(sketch.bins.windows(2).all(|w| w[0].key < w[1].key));
    }
    // Debug builds included: well under a second for all of them.
    assert!(
        elapsed.as_secs_f64() < 2.0,
        "{elapsed:?} for {points} points"
    );
    // Narrow buckets share one key: the same counts, far fewer bins.
    let narrow = histogram_point(4096, 1000, |i| 1000.0 + i as f64 * 1e-3);
    let got = pb(
        &request(vec![metric("n", "", narrow)]),
        &CumulativeState::new(1),
    );
    let sketch = &got.decoded.batch.sketches[0].points[0].1;
    assert_eq!(sketch.count, 4096 * 1000);
    assert!(sketch.bins.len() <= 3, "{:?}", sketch.bins);
}

#[test]
fn issue_6_review_json_bucket_lists_are_charged_to_the_budget() {
    let list = vec!["0"; 200].join(",");
    for (body, kind) in [
        (format!(r#"{{"bucketCounts":[{list}]}}"#), "bucketCounts"),
        (
            format!(r#"{{"explicitBounds":[{list}]}}"#),
            "explicitBounds",
        ),
    ] {
        let budget = JsonBudget::start(1000);
        let got: Result<HistogramDataPoint, _> = serde_json::from_str(&body);
        assert!(got.is_err() && budget.exceeded(), "{kind} not charged");
    }
    let budget = JsonBudget::start(1000);
    let body = format!(r#"{{"offset":1,"bucketCounts":[{list}]}}"#);
    assert!(serde_json::from_str::<Buckets>(&body).is_err() && budget.exceeded());
    drop(budget);
    // Within the budget (and with null) they decode as before.
    let budget = JsonBudget::start(1 << 20);
    let point: HistogramDataPoint =
        serde_json::from_str(r#"{"bucketCounts":["1",2],"explicitBounds":[0.5],"count":3}"#)
            .unwrap();
    assert_eq!(
        (point.bucket_counts, point.explicit_bounds),
        (vec![1, 2], vec![0.5])
    );
    let point: HistogramDataPoint =
        serde_json::from_str(r#"{"bucketCounts":null,"explicitBounds":null}"#).unwrap();
    assert!(point.bucket_counts.is_empty() && !budget.exceeded());
}

#[test]
fn issue_6_review_a_summary_point_is_rejected_once() {
    let quantiles = vec![
        ValueAtQuantile {
            quantile: 0.5,
            value: f64::NAN,
        },
        ValueAtQuantile {
            quantile: 0.9,
            value: f64::INFINITY,
        },
        ValueAtQuantile {
            quantile: 0.99,
            value: 3.0,
        },
    ];
    let many_tags: Vec<KeyValue> = (0..1000)
        .map(|i| KeyValue::string(format!("k{i}"), "v"))
        .collect();
    let point = |attributes: Vec<KeyValue>| SummaryDataPoint {
        attributes,
        time_unix_nano: T0,
        count: 3,
        sum: 6.0,
        quantile_values: quantiles.clone(),
        ..Default::default()
    };
    let data = Data::Summary(Summary {
        data_points: vec![point(vec![]), point(many_tags.clone()), point(many_tags)],
    });
    let got = pb(
        &request(vec![metric("rpc", "", data)]),
        &CumulativeState::new(100),
    );
    // Point 0: two bad quantiles; points 1 and 2: every output's tags.
    assert_eq!(got.rejected, 3, "{}", got.error_message);
    assert!(got
        .error_message
        .ends_with("(and 2 more rejected data points)"));
    assert_eq!(
        got.decoded.dropped.non_finite, 6,
        "each quantile is dropped"
    );
    let stored = &got.decoded.batch.series;
    assert_eq!(stored.len(), 1, "point 0's good quantile");
    assert_eq!(stored[0].key, key("rpc.quantile", &["quantile:0.99"]));
}

#[test]
fn issue_6_review_names_are_normalised_once_per_metric() {
    let gauge = Data::Gauge(Gauge {
        data_points: vec![
            number(T0, Value::AsInt(1), vec![]),
            number(T0 + SEC, Value::AsInt(2), vec![]),
        ],
    });
    let summary = Data::Summary(Summary {
        data_points: vec![SummaryDataPoint {
            time_unix_nano: T0,
            count: 1,
            sum: 2.0,
            quantile_values: vec![ValueAtQuantile {
                quantile: 0.5,
                value: 2.0,
            }],
            ..Default::default()
        }],
    });
    let long = format!("a{}", "b".repeat(250));
    let req = request(vec![
        metric("9http latency", "", gauge),
        metric("rpc-time", "", summary.clone()),
        metric(&long, "", summary),
    ]);
    let got = pb(&req, &CumulativeState::new(100));
    assert_eq!(got.rejected, 0, "{}", got.error_message);
    let names: Vec<&str> = got
        .decoded
        .batch
        .series
        .iter()
        .map(|s| s.key.metric.as_str())
        .collect();
    // A name over 200 characters is cut with its suffix, as before.
    let cut = &long[..200];
    assert_eq!(names, ["http_latency", "rpc_time.quantile", cut]);
    assert_eq!(
        got.decoded.batch.series[0].points,
        vec![
            Point {
                ts_s: NOW,
                value: 1.0
            },
            Point {
                ts_s: NOW + 1,
                value: 2.0
            }
        ]
    );
    let from_json = json(
        &json_request(r#"[{"name":"9http latency","gauge":{"dataPoints":[{"asInt":1}]}}]"#),
        &CumulativeState::new(1),
    );
    assert_eq!(from_json.decoded.batch.series[0].key.metric, "http_latency");
}
