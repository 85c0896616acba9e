//! Histograms, exponential histograms and summaries.

use strata_metrics::{MetricType, Point, Sketch};

use super::proto::{
    metric::Data, AggregationTemporality, Buckets, ExponentialHistogram,
    ExponentialHistogramDataPoint, Histogram, HistogramDataPoint, Summary, SummaryDataPoint,
    ValueAtQuantile,
};
use super::tests::{both, json_request, key, metric, pb, request, NOW, SEC, T0};
use super::*;
use crate::otlp::common::KeyValue;

fn close(got: f64, want: f64, relative: f64) -> bool {
    (got - want).abs() <= relative * want.abs().max(1e-12)
}

fn only_sketch(got: &OtlpMetrics) -> &Sketch {
    assert_eq!(got.rejected, 0, "{}", got.error_message);
    let sketches = &got.decoded.batch.sketches;
    assert_eq!(sketches.len(), 1, "{got:?}");
    assert_eq!(sketches[0].points.len(), 1);
    &sketches[0].points[0].1
}

fn histogram(points: Vec<HistogramDataPoint>, temporality: AggregationTemporality) -> Data {
    Data::Histogram(Histogram {
        data_points: points,
        aggregation_temporality: temporality as i32,
    })
}

fn explicit(counts: &[u64], sum: Option<f64>, time: u64) -> HistogramDataPoint {
    HistogramDataPoint {
        attributes: vec![KeyValue::string("route", "/a")],
        start_time_unix_nano: T0 - 100 * SEC,
        time_unix_nano: time,
        count: counts.iter().sum(),
        sum,
        bucket_counts: counts.to_vec(),
        explicit_bounds: vec![1.0, 5.0, 10.0],
        ..Default::default()
    }
}

#[test]
fn delta_histograms_become_sketches_in_both_formats() {
    let mut point = explicit(&[1, 2, 3, 0], Some(30.0), T0);
    point.min = Some(0.5);
    point.max = Some(9.0);
    let req = request(vec![metric(
        "lat",
        "ms",
        histogram(vec![point], AggregationTemporality::Delta),
    )]);
    let got = both(
        &req,
        r#"[{"name":"lat","unit":"ms","histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA",
            "dataPoints":[{"attributes":[{"key":"route","value":{"stringValue":"/a"}}],
              "startTimeUnixNano":"1699999900000000000","timeUnixNano":"1700000000000000000",
              "count":"6","sum":30,"bucketCounts":["1","2",3,"0"],"explicitBounds":[1,5.0,10],
              "min":0.5,"max":9}]}}]"#,
    );
    assert_eq!(got.decoded.batch.sketches[0].key, key("lat", &["route:/a"]));
    assert_eq!(got.decoded.batch.sketches[0].points[0].0, NOW);
    let sketch = only_sketch(&got);
    assert_eq!(
        (sketch.count, sketch.sum, sketch.min, sketch.max),
        (6, 30.0, 0.5, 9.0)
    );
    // Three of six values are at most 5: the median is in (1, 5].
    let median = sketch.quantile(0.5).unwrap();
    assert!((1.0..=5.0 * 1.03).contains(&median), "{median}");
    // Everything stays inside [min, max].
    assert!(sketch.quantile(0.01).unwrap() >= 0.5);
    assert!(sketch.quantile(0.99).unwrap() <= 9.0);
}

#[test]
fn histogram_without_min_max_or_buckets() {
    // No min/max: the open buckets collapse onto their finite bound.
    let point = explicit(&[2, 0, 0, 1], None, T0);
    let req = request(vec![metric(
        "h",
        "",
        histogram(vec![point], AggregationTemporality::Delta),
    )]);
    let sketch = only_sketch(&pb(&req, &CumulativeState::new(10))).clone();
    assert_eq!((sketch.count, sketch.min, sketch.max), (3, 1.0, 10.0));
    assert!(close(sketch.sum, 12.0, 1e-12), "{}", sketch.sum);
    // Count and sum only: the mean, count times.
    let point = HistogramDataPoint {
        time_unix_nano: T0,
        count: 4,
        sum: Some(10.0),
        ..Default::default()
    };
    let req = request(vec![metric(
        "h",
        "",
        histogram(vec![point], AggregationTemporality::Delta),
    )]);
    let sketch = only_sketch(&pb(&req, &CumulativeState::new(10))).clone();
    assert_eq!(
        (sketch.count, sketch.sum, sketch.min, sketch.max),
        (4, 10.0, 2.5, 2.5)
    );
    // An empty histogram stores nothing and is not an error.
    let point = explicit(&[0, 0, 0, 0], Some(0.0), T0);
    let req = request(vec![metric(
        "h",
        "",
        histogram(vec![point], AggregationTemporality::Delta),
    )]);
    let got = pb(&req, &CumulativeState::new(10));
    assert!(got.decoded.batch.is_empty() && got.rejected == 0);
}

#[test]
fn bad_histogram_layouts_are_rejected() {
    let mut short = explicit(&[1, 2], None, T0);
    short.explicit_bounds = vec![1.0, 5.0, 10.0];
    let mut unordered = explicit(&[1, 2, 3, 4], None, T0);
    unordered.explicit_bounds = vec![1.0, 10.0, 5.0];
    let mut infinite = explicit(&[1, 2, 3, 4], None, T0);
    infinite.explicit_bounds = vec![1.0, 5.0, f64::INFINITY];
    let points = vec![short, unordered, infinite];
    let req = request(vec![
        metric("h", "", histogram(points, AggregationTemporality::Delta)),
        metric(
            "u",
            "",
            histogram(
                vec![explicit(&[1, 0, 0, 0], None, T0)],
                AggregationTemporality::Unspecified,
            ),
        ),
    ]);
    let got = pb(&req, &CumulativeState::new(10));
    assert_eq!(got.rejected, 4, "{}", got.error_message);
    assert!(
        got.error_message.contains("bucketCounts has 2 entries"),
        "{}",
        got.error_message
    );
    assert!(got.decoded.batch.is_empty());
}

#[test]
fn cumulative_histograms_store_bucket_deltas() {
    let state = CumulativeState::new(10);
    let req = |counts: &[u64], sum: f64, time: u64| {
        let point = explicit(counts, Some(sum), time);
        request(vec![metric(
            "h",
            "",
            histogram(vec![point], AggregationTemporality::Cumulative),
        )])
    };
    assert!(pb(&req(&[1, 1, 0, 0], 5.0, T0), &state)
        .decoded
        .batch
        .is_empty());
    let got = pb(&req(&[2, 4, 1, 0], 20.0, T0 + 10 * SEC), &state);
    let sketch = only_sketch(&got);
    assert_eq!((sketch.count, sketch.sum), (5, 15.0));
    // min and max cover the deltas' values only (bucket-derived).
    assert!(sketch.min >= 1.0 && sketch.max <= 10.0, "{sketch:?}");
    // A bucket going down is a reset.
    assert!(pb(&req(&[0, 4, 1, 0], 20.0, T0 + 20 * SEC), &state)
        .decoded
        .batch
        .is_empty());
    let got = pb(&req(&[0, 4, 1, 2], 50.0, T0 + 30 * SEC), &state);
    assert_eq!(only_sketch(&got).count, 2);
}

fn exponential(
    points: Vec<ExponentialHistogramDataPoint>,
    temporality: AggregationTemporality,
) -> Data {
    Data::ExponentialHistogram(ExponentialHistogram {
        data_points: points,
        aggregation_temporality: temporality as i32,
    })
}

fn buckets(offset: i32, counts: &[u64]) -> Option<Buckets> {
    Some(Buckets {
        offset,
        bucket_counts: counts.to_vec(),
    })
}

#[test]
fn exponential_histograms_at_scale_0() {
    let point = ExponentialHistogramDataPoint {
        time_unix_nano: T0,
        scale: 0,
        zero_count: 4,
        count: 10,
        positive: buckets(0, &[1, 2]),
        negative: buckets(1, &[3]),
        ..Default::default()
    };
    let req = request(vec![metric(
        "e",
        "",
        exponential(vec![point], AggregationTemporality::Delta),
    )]);
    let got = both(
        &req,
        r#"[{"name":"e","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[
            {"timeUnixNano":"1700000000000000000","scale":0,"zeroCount":"4","count":"10",
             "positive":{"offset":0,"bucketCounts":["1","2"]},"negative":{"offset":1,"bucketCounts":[3]}}]}}]"#,
    );
    let sketch = only_sketch(&got);
    let root2 = 2f64.sqrt();
    assert_eq!(sketch.count, 10);
    // Bucket midpoints: √2 (once), 2√2 (twice), −2√2 (three times), 0 (four).
    assert!(
        close(sketch.sum, root2 + 4.0 * root2 - 6.0 * root2, 1e-9),
        "{}",
        sketch.sum
    );
    assert!(close(sketch.min, -2.0 * root2, 1e-9) && close(sketch.max, 2.0 * root2, 1e-9));
    assert_eq!(sketch.quantile(0.5), Some(0.0));
    let low = sketch.quantile(0.1).unwrap();
    assert!(close(low, -2.0 * root2, 0.03), "{low}");
}

#[test]
fn exponential_histograms_at_scale_3_with_min_max_sum() {
    let point = ExponentialHistogramDataPoint {
        time_unix_nano: T0,
        scale: 3,
        zero_count: 2,
        positive: buckets(8, &[5]),
        negative: buckets(-8, &[1]),
        sum: Some(10.0),
        min: Some(-0.6),
        max: Some(2.1),
        ..Default::default()
    };
    let req = request(vec![metric(
        "e",
        "",
        exponential(vec![point], AggregationTemporality::Delta),
    )]);
    let sketch = only_sketch(&pb(&req, &CumulativeState::new(10))).clone();
    assert_eq!(
        (sketch.count, sketch.sum, sketch.min, sketch.max),
        (8, 10.0, -0.6, 2.1)
    );
    // Bucket 8 at scale 3 is (2, 2^(9/8)]: midpoint 2^(8.5/8) ≈ 2.0885.
    let high = sketch.quantile(0.9).unwrap();
    assert!(close(high, 2f64.powf(8.5 / 8.0), 0.03), "{high}");
    // Bucket −8 on the negative side: −2^(−7.5/8) ≈ −0.522.
    let low = sketch.quantile(0.0001).unwrap();
    assert!((-0.6..=-0.5).contains(&low), "{low}");
    // Scales outside −10..=20 are refused.
    let point = ExponentialHistogramDataPoint {
        time_unix_nano: T0,
        scale: 21,
        positive: buckets(0, &[1]),
        ..Default::default()
    };
    let req = request(vec![metric(
        "e",
        "",
        exponential(vec![point], AggregationTemporality::Delta),
    )]);
    let got = pb(&req, &CumulativeState::new(10));
    assert_eq!(got.rejected, 1);
    assert!(
        got.error_message.contains("scale 21"),
        "{}",
        got.error_message
    );
}

#[test]
fn cumulative_exponential_histograms_realign_buckets() {
    let state = CumulativeState::new(10);
    let req = |scale: i32, offset: i32, counts: &[u64], zero: u64, time: u64| {
        let point = ExponentialHistogramDataPoint {
            start_time_unix_nano: T0 - 100 * SEC,
            time_unix_nano: time,
            scale,
            zero_count: zero,
            positive: buckets(offset, counts),
            ..Default::default()
        };
        request(vec![metric(
            "e",
            "",
            exponential(vec![point], AggregationTemporality::Cumulative),
        )])
    };
    assert!(pb(&req(0, 0, &[1, 1], 1, T0), &state)
        .decoded
        .batch
        .is_empty());
    // The range grew down by one bucket: deltas are by index.
    let got = pb(&req(0, -1, &[2, 1, 3], 2, T0 + 10 * SEC), &state);
    let sketch = only_sketch(&got);
    assert_eq!(sketch.count, 5, "2 at index −1, 2 at index 1, 1 zero");
    assert!(close(sketch.min, 0.0, 0.0) && close(sketch.max, 2f64.powf(1.5), 1e-9));
    // A scale change is a reset.
    assert!(pb(&req(1, 0, &[9, 9, 9], 3, T0 + 20 * SEC), &state)
        .decoded
        .batch
        .is_empty());
}

fn summary(count: u64, sum: f64, time: u64) -> Data {
    let quantile = |quantile: f64, value: f64| ValueAtQuantile { quantile, value };
    Data::Summary(Summary {
        data_points: vec![SummaryDataPoint {
            start_time_unix_nano: T0 - 100 * SEC,
            time_unix_nano: time,
            count,
            sum,
            quantile_values: vec![
                quantile(0.5, 10.0),
                quantile(0.99, 50.0),
                quantile(1.0, 70.0),
            ],
            ..Default::default()
        }],
    })
}

#[test]
fn summaries_give_counts_sums_and_quantile_gauges() {
    let req = request(vec![metric("rpc.duration", "s", summary(100, 2000.0, T0))]);
    let got = both(
        &req,
        r#"[{"name":"rpc.duration","unit":"s","summary":{"dataPoints":[{
            "startTimeUnixNano":"1699999900000000000","timeUnixNano":"1700000000000000000",
            "count":"100","sum":2000,"quantileValues":[{"quantile":0.5,"value":10},
            {"quantile":0.99,"value":50},{"quantile":1,"value":"70"}]}]}}]"#,
    );
    let series = &got.decoded.batch.series;
    let keys: Vec<_> = series
        .iter()
        .map(|s| (s.key.clone(), s.kind, s.points.clone()))
        .collect();
    let gauge = |q: &str, value: f64| {
        let tag = format!("quantile:{q}");
        (
            key("rpc.duration.quantile", &[&tag]),
            MetricType::Gauge,
            vec![Point { ts_s: NOW, value }],
        )
    };
    // The first point of the cumulative count and sum is a baseline.
    assert_eq!(
        keys,
        vec![gauge("0.5", 10.0), gauge("0.99", 50.0), gauge("1", 70.0)]
    );
    assert_eq!(series[0].unit, "second");
    let state = CumulativeState::new(10);
    pb(&req, &state);
    let next = request(vec![metric(
        "rpc.duration",
        "s",
        summary(150, 2600.0, T0 + 10 * SEC),
    )]);
    let got = pb(&next, &state);
    let counts: Vec<_> = got
        .decoded
        .batch
        .series
        .iter()
        .filter(|s| s.kind == MetricType::Count)
        .map(|s| (s.key.metric.as_str(), s.interval_s, s.points[0].value))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("rpc.duration.count", 10, 50.0),
            ("rpc.duration.sum", 10, 600.0)
        ]
    );
}

#[test]
fn non_finite_summaries_and_quantiles_are_rejected() {
    let mut data = summary(1, f64::NAN, T0);
    let req = request(vec![metric("s", "", data.clone())]);
    let got = pb(&req, &CumulativeState::new(10));
    assert_eq!((got.rejected, got.decoded.dropped.non_finite), (1, 1));
    if let Data::Summary(s) = &mut data {
        s.data_points[0].sum = 1.0;
        s.data_points[0].quantile_values[1].value = f64::INFINITY;
    }
    let got = pb(
        &request(vec![metric("s", "", data)]),
        &CumulativeState::new(10),
    );
    assert_eq!((got.rejected, got.decoded.dropped.non_finite), (1, 1));
    assert_eq!(got.decoded.batch.point_count(), 2, "two quantiles kept");
}

/// What the fuzz target checks, for one decode.
fn check_invariants(got: &OtlpMetrics, limits: &MetricsLimits) {
    let batch = &got.decoded.batch;
    assert!(batch.point_count() <= limits.max_points_per_request);
    assert_eq!(got.rejected == 0, got.error_message.is_empty());
    for series in &batch.series {
        assert!(!series.points.is_empty());
        assert!(series.points.iter().all(|p| p.value.is_finite()));
    }
    for series in &batch.sketches {
        for (_, sketch) in &series.points {
            assert!(sketch.count > 0 && sketch.min <= sketch.max && sketch.sum.is_finite());
        }
    }
    let encoded = strata_metrics::codec::encode("fuzz", batch);
    let (_, round) = strata_metrics::codec::decode(&encoded).expect("own encoding decodes");
    assert_eq!(round.point_count(), batch.point_count());
}

#[test]
fn mangled_bodies_never_panic() {
    let mut point = explicit(&[1, 2, 3, 0], Some(30.0), T0);
    point.min = Some(0.5);
    let exp = ExponentialHistogramDataPoint {
        time_unix_nano: T0,
        scale: 3,
        zero_count: 2,
        positive: buckets(8, &[5, 1]),
        negative: buckets(-8, &[1]),
        ..Default::default()
    };
    let req = request(vec![
        metric(
            "h",
            "ms",
            histogram(vec![point], AggregationTemporality::Cumulative),
        ),
        metric(
            "e",
            "",
            exponential(vec![exp], AggregationTemporality::Delta),
        ),
        metric("s", "s", summary(10, 5.0, T0)),
    ]);
    let body = req.encode_to_vec();
    let limits = MetricsLimits {
        max_points_per_request: 50,
        ..MetricsLimits::default()
    };
    let state = CumulativeState::new(3);
    let decode = |bytes: &[u8]| {
        for format in [Format::Protobuf, Format::Json] {
            if let Ok(got) = decode_metrics(bytes, format, "t", NOW, &limits, &state) {
                check_invariants(&got, &limits);
            }
        }
    };
    for i in 0..body.len() {
        decode(&body[..i]);
        for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut mangled = body.clone();
            mangled[i] = byte;
            decode(&mangled);
        }
    }
    let json = json_request(
        r#"[{"name":"e","exponentialHistogram":{"aggregationTemporality":1,"dataPoints":[
            {"timeUnixNano":"1700000000000000000","scale":-10,"zeroCount":"4",
             "positive":{"offset":2147483647,"bucketCounts":["18446744073709551615","1"]},
             "negative":{"offset":-2147483648,"bucketCounts":[3]}}]}}]"#,
    );
    for i in 0..json.len() {
        decode(&json.as_bytes()[..i]);
    }
    decode(json.as_bytes());
    assert!(state.len() <= 3);
}
