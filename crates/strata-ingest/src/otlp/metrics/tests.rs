use prost::Message;
use strata_metrics::{MetricType, Point, SeriesKey, SeriesPoints};

use super::proto::{
    metric::Data, number_data_point::Value, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, FLAG_NO_RECORDED_VALUE,
};
use super::state::{Snapshot, StateKey, StateKind, Step};
use super::*;
use crate::otlp::common::{AnyValue, ArrayValue, KeyValue, Resource};
use crate::ErrorKind;

pub(super) const NOW: i64 = 1_700_000_000;
/// `NOW` in nanoseconds.
pub(super) const T0: u64 = NOW as u64 * 1_000_000_000;
pub(super) const SEC: u64 = 1_000_000_000;

/// A request with one resource (`host.name=h1`, `service.name=api`,
/// `deployment.environment.name=prod`) holding `metrics`.
pub(super) fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    KeyValue::string("host.name", "h1"),
                    KeyValue::string("service.name", "api"),
                    KeyValue::string("deployment.environment.name", "prod"),
                    KeyValue::string("cloud.region", "eu"),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub(super) fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

pub(super) fn pb(request: &ExportMetricsServiceRequest, state: &CumulativeState) -> OtlpMetrics {
    let body = request.encode_to_vec();
    decode_metrics(
        &body,
        Format::Protobuf,
        "t1",
        NOW,
        &MetricsLimits::default(),
        state,
    )
    .expect("protobuf decodes")
}

pub(super) fn json(body: &str, state: &CumulativeState) -> OtlpMetrics {
    decode_metrics(
        body.as_bytes(),
        Format::Json,
        "t1",
        NOW,
        &MetricsLimits::default(),
        state,
    )
    .expect("JSON decodes")
}

/// The resource part of a JSON request around `metrics` (a JSON array).
pub(super) fn json_request(metrics: &str) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
            {{"key":"host.name","value":{{"stringValue":"h1"}}}},
            {{"key":"service.name","value":{{"stringValue":"api"}}}},
            {{"key":"deployment.environment.name","value":{{"stringValue":"prod"}}}},
            {{"key":"cloud.region","value":{{"stringValue":"eu"}}}}]}},
          "scopeMetrics":[{{"scope":{{"name":"lib"}},"metrics":{metrics}}}]}}]}}"#
    )
}

/// Decodes `request` as protobuf and `json_metrics` as JSON, each with a
/// fresh state, and checks they give the same answer.
pub(super) fn both(request: &ExportMetricsServiceRequest, json_metrics: &str) -> OtlpMetrics {
    let from_pb = pb(request, &CumulativeState::new(100));
    let from_json = json(&json_request(json_metrics), &CumulativeState::new(100));
    assert_eq!(from_pb, from_json, "protobuf and JSON differ");
    from_pb
}

pub(super) fn number(time: u64, value: Value, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: time,
        value: Some(value),
        ..Default::default()
    }
}

pub(super) fn key(metric: &str, extra: &[&str]) -> SeriesKey {
    let mut tags = vec!["service:api".to_string(), "env:prod".to_string()];
    tags.extend(extra.iter().map(|t| t.to_string()));
    SeriesKey::new(metric, "h1", tags).unwrap()
}

fn sum(points: Vec<NumberDataPoint>, temporality: AggregationTemporality, monotonic: bool) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality as i32,
        is_monotonic: monotonic,
    })
}

#[test]
fn gauges_with_attributes_as_tags_in_both_formats() {
    let attributes = vec![
        KeyValue::string("code", "200"),
        KeyValue::new("n", AnyValue::int(3)),
        KeyValue::new(
            "list",
            AnyValue {
                value: Some(crate::otlp::common::any_value::Value::ArrayValue(
                    ArrayValue {
                        values: vec![AnyValue::string("a"), AnyValue::int(1)],
                    },
                )),
            },
        ),
        KeyValue::string("empty", ""),
    ];
    let points = vec![
        number(T0, Value::AsDouble(1.5), attributes.clone()),
        number(T0 + SEC, Value::AsInt(-7), attributes),
    ];
    let req = request(vec![metric(
        "http.latency-ms",
        "ms",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )]);
    let attrs = r#"[{"key":"code","value":{"stringValue":"200"}},{"key":"n","value":{"intValue":"3"}},
        {"key":"list","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":1}]}}},
        {"key":"empty","value":{"stringValue":""}}]"#;
    let got = both(
        &req,
        &format!(
            r#"[{{"name":"http.latency-ms","unit":"ms","gauge":{{"dataPoints":[
            {{"attributes":{attrs},"timeUnixNano":"1700000000000000000","asDouble":1.5}},
            {{"attributes":{attrs},"time_unix_nano":1700000001000000000,"asInt":"-7"}}]}}}}]"#
        ),
    );
    assert_eq!(got.rejected, 0, "{}", got.error_message);
    let series = &got.decoded.batch.series;
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0],
        SeriesPoints {
            key: key(
                "http.latency_ms",
                &["code:200", "n:3", "list:[\"a\",1]", "empty"]
            ),
            kind: MetricType::Gauge,
            interval_s: 0,
            unit: "millisecond".into(),
            points: vec![
                Point {
                    ts_s: NOW,
                    value: 1.5
                },
                Point {
                    ts_s: NOW + 1,
                    value: -7.0
                },
            ],
        }
    );
}

#[test]
fn sums_delta_monotonic_are_counts_others_gauges() {
    let mut delta = number(T0, Value::AsInt(4), vec![]);
    delta.start_time_unix_nano = T0 - 10 * SEC;
    let req = request(vec![
        metric(
            "req",
            "",
            sum(vec![delta], AggregationTemporality::Delta, true),
        ),
        metric(
            "queue",
            "By",
            sum(
                vec![number(T0, Value::AsDouble(9.0), vec![])],
                AggregationTemporality::Cumulative,
                false,
            ),
        ),
    ]);
    let got = both(
        &req,
        r#"[{"name":"req","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,
              "dataPoints":[{"startTimeUnixNano":"1699999990000000000","timeUnixNano":"1700000000000000000","asInt":"4"}]}},
            {"name":"queue","unit":"By","sum":{"aggregationTemporality":2,"is_monotonic":false,
              "data_points":[{"timeUnixNano":"1700000000000000000","asDouble":9}]}}]"#,
    );
    let series = &got.decoded.batch.series;
    assert_eq!(series.len(), 2);
    assert_eq!(
        (series[0].kind, series[0].interval_s),
        (MetricType::Count, 10)
    );
    assert_eq!(
        series[0].points,
        vec![Point {
            ts_s: NOW,
            value: 4.0
        }]
    );
    assert_eq!(
        (series[1].kind, series[1].unit.as_str()),
        (MetricType::Gauge, "byte")
    );
    assert_eq!(
        series[1].points,
        vec![Point {
            ts_s: NOW,
            value: 9.0
        }]
    );
}

fn cumulative(start: u64, time: u64, value: f64) -> ExportMetricsServiceRequest {
    let mut point = number(
        time,
        Value::AsDouble(value),
        vec![KeyValue::string("k", "v")],
    );
    point.start_time_unix_nano = start;
    request(vec![metric(
        "total",
        "",
        sum(vec![point], AggregationTemporality::Cumulative, true),
    )])
}

fn counts(got: &OtlpMetrics) -> Vec<(u32, Point)> {
    got.decoded
        .batch
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| (s.interval_s, *p)))
        .collect()
}

#[test]
fn cumulative_sums_become_deltas_across_requests() {
    let state = CumulativeState::new(100);
    let start = T0 - 100 * SEC;
    let at = |s: i64| Point {
        ts_s: NOW + s,
        value: 0.0,
    };
    // First point: the baseline, nothing stored.
    assert!(pb(&cumulative(start, T0, 10.0), &state)
        .decoded
        .batch
        .is_empty());
    // Second: the increase, over the 10 s since the first.
    let got = pb(&cumulative(start, T0 + 10 * SEC, 15.0), &state);
    assert_eq!(
        counts(&got),
        vec![(
            10,
            Point {
                value: 5.0,
                ..at(10)
            }
        )]
    );
    assert_eq!(got.decoded.batch.series[0].kind, MetricType::Count);
    assert_eq!(got.decoded.batch.series[0].key, key("total", &["k:v"]));
    // A retry of the same point is ignored.
    assert!(pb(&cumulative(start, T0 + 10 * SEC, 15.0), &state)
        .decoded
        .batch
        .is_empty());
    // A decrease is a reset: a new baseline, nothing stored.
    assert!(pb(&cumulative(start, T0 + 20 * SEC, 3.0), &state)
        .decoded
        .batch
        .is_empty());
    let got = pb(&cumulative(start, T0 + 30 * SEC, 8.0), &state);
    assert_eq!(
        counts(&got),
        vec![(
            10,
            Point {
                value: 5.0,
                ..at(30)
            }
        )]
    );
    // A new start time is a reset too.
    assert!(pb(&cumulative(T0 + 35 * SEC, T0 + 40 * SEC, 20.0), &state)
        .decoded
        .batch
        .is_empty());
    let got = pb(&cumulative(T0 + 35 * SEC, T0 + 50 * SEC, 20.0), &state);
    assert_eq!(
        counts(&got),
        vec![(
            10,
            Point {
                value: 0.0,
                ..at(50)
            }
        )]
    );
    assert_eq!(got.rejected, 0);
    // Another tenant has its own state.
    let body = cumulative(start, T0 + 60 * SEC, 100.0).encode_to_vec();
    let limits = MetricsLimits::default();
    let other = decode_metrics(&body, Format::Protobuf, "t2", NOW, &limits, &state).unwrap();
    assert!(other.decoded.batch.is_empty());
}

#[test]
fn no_value_and_non_finite_points_are_rejected_and_counted() {
    let mut flagged = number(T0, Value::AsDouble(1.0), vec![]);
    flagged.flags = FLAG_NO_RECORDED_VALUE;
    let mut empty = number(T0, Value::AsDouble(0.0), vec![]);
    empty.value = None;
    let points = vec![
        number(T0, Value::AsDouble(f64::NAN), vec![]),
        empty,
        number(T0, Value::AsDouble(2.0), vec![]),
        number(T0, Value::AsDouble(f64::INFINITY), vec![]),
        flagged,
    ];
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )]);
    let got = both(
        &req,
        r#"[{"name":"g","gauge":{"dataPoints":[
            {"timeUnixNano":"1700000000000000000","asDouble":"NaN"},
            {"timeUnixNano":"1700000000000000000"},
            {"timeUnixNano":"1700000000000000000","asDouble":2.0},
            {"timeUnixNano":"1700000000000000000","asDouble":"Infinity"},
            {"timeUnixNano":"1700000000000000000","asDouble":1.0,"flags":1}]}}]"#,
    );
    assert_eq!(got.rejected, 3);
    let dropped = got.decoded.dropped;
    assert_eq!((dropped.non_finite, dropped.no_value), (2, 2));
    assert!(
        got.error_message.starts_with(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].dataPoints[0]: value NaN is not finite"
        ),
        "{}",
        got.error_message
    );
    assert!(got
        .error_message
        .ends_with("(and 2 more rejected data points)"));
    assert_eq!(got.decoded.batch.point_count(), 1);
}

#[test]
fn points_outside_the_window_are_dropped_and_rejected() {
    let points = vec![
        number(T0 - 7200 * SEC, Value::AsDouble(1.0), vec![]),
        number(T0 + 3600 * SEC, Value::AsDouble(1.0), vec![]),
        number(0, Value::AsDouble(3.0), vec![]),
    ];
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: points,
        }),
    )]);
    let got = pb(&req, &CumulativeState::new(10));
    assert_eq!(got.rejected, 2);
    assert_eq!(
        (got.decoded.dropped.too_old, got.decoded.dropped.too_new),
        (1, 1)
    );
    assert!(
        got.error_message.contains("too old"),
        "{}",
        got.error_message
    );
    // Time 0 is now.
    assert_eq!(
        got.decoded.batch.series[0].points,
        vec![Point {
            ts_s: NOW,
            value: 3.0
        }]
    );
}

#[test]
fn invalid_names_and_unspecified_temporality_are_rejected_per_point() {
    let two = || vec![number(T0, Value::AsDouble(1.0), vec![]); 2];
    let req = request(vec![
        metric("%%%", "", Data::Gauge(Gauge { data_points: two() })),
        metric(
            "c",
            "",
            sum(two(), AggregationTemporality::Unspecified, true),
        ),
        metric("empty", "", Data::Gauge(Gauge::default())),
        Metric {
            name: "no.data".into(),
            ..Default::default()
        },
    ]);
    let got = pb(&req, &CumulativeState::new(10));
    assert_eq!(got.rejected, 4);
    assert!(
        got.error_message.contains("invalid metric name \"%%%\""),
        "{}",
        got.error_message
    );
    assert!(got.decoded.batch.is_empty());
}

#[test]
fn malformed_bodies_are_bad_requests() {
    let state = CumulativeState::new(10);
    let limits = MetricsLimits::default();
    let body = cumulative(T0, T0, 1.0).encode_to_vec();
    for cut in [1, body.len() / 2, body.len() - 1] {
        let error = decode_metrics(&body[..cut], Format::Protobuf, "t", NOW, &limits, &state)
            .expect_err("truncated");
        assert_eq!(error.kind, ErrorKind::BadRequest);
        assert!(
            error.detail.contains("OTLP ExportMetricsServiceRequest"),
            "{}",
            error.detail
        );
    }
    for body in ["", "[", "{\"resourceMetrics\":3}", "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"gauge\":{\"dataPoints\":[{\"asInt\":\"x\"}]}}]}]}]}"] {
        let error = decode_metrics(body.as_bytes(), Format::Json, "t", NOW, &limits, &state)
            .expect_err(body);
        assert_eq!(error.kind, ErrorKind::BadRequest, "{body}");
        assert!(error.detail.contains("ExportMetricsServiceRequest"), "{}", error.detail);
    }
    // An empty protobuf body is an empty request.
    let empty = decode_metrics(b"", Format::Protobuf, "t", NOW, &limits, &state).unwrap();
    assert!(empty.decoded.batch.is_empty());
}

#[test]
fn too_many_points_or_series_is_too_large() {
    let points = (0..10).map(|i| {
        number(
            T0,
            Value::AsInt(i),
            vec![KeyValue::new("i", AnyValue::int(i))],
        )
    });
    let req = request(vec![metric(
        "g",
        "",
        Data::Gauge(Gauge {
            data_points: points.collect(),
        }),
    )]);
    let body = req.encode_to_vec();
    let state = CumulativeState::new(10);
    let few_points = MetricsLimits {
        max_points_per_request: 5,
        ..MetricsLimits::default()
    };
    let few_series = MetricsLimits {
        max_series_per_request: 5,
        ..MetricsLimits::default()
    };
    for limits in [few_points, few_series] {
        let error = decode_metrics(&body, Format::Protobuf, "t", NOW, &limits, &state).unwrap_err();
        assert_eq!(error.kind, ErrorKind::TooLarge, "{}", error.detail);
    }
}

/// A length-delimited protobuf field.
fn len_field(field: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![field << 3 | 2];
    let mut len = payload.len();
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(payload);
    out
}

#[test]
fn decoded_size_is_bounded_before_decoding() {
    // Two-byte empty data points: tiny on the wire, large as structs.
    const POINTS: usize = 600_000;
    let gauge = len_field(1, &[]).repeat(POINTS);
    let metric = [len_field(1, b"g"), len_field(5, &gauge)].concat();
    let body = len_field(1, &len_field(2, &len_field(2, &metric)));
    let state = CumulativeState::new(10);
    let limits = MetricsLimits::default();
    let error = decode_metrics(&body, Format::Protobuf, "t", NOW, &limits, &state).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge, "{}", error.detail);
    let json_points = vec!["{}"; POINTS].join(",");
    let body = json_request(&format!(
        r#"[{{"name":"g","gauge":{{"dataPoints":[{json_points}]}}}}]"#
    ));
    let error =
        decode_metrics(body.as_bytes(), Format::Json, "t", NOW, &limits, &state).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge, "{}", error.detail);
    // The same shape with a few points is fine.
    let gauge = len_field(1, &[]).repeat(10);
    let metric = [len_field(1, b"g"), len_field(5, &gauge)].concat();
    let body = len_field(1, &len_field(2, &len_field(2, &metric)));
    let got = decode_metrics(&body, Format::Protobuf, "t", NOW, &limits, &state).unwrap();
    assert_eq!(got.rejected, 10, "no value");
}

/// Estimated decoded bytes per body byte of 1000 gauge points with these
/// attributes.
fn decoded_ratio(attributes: &[KeyValue]) -> f64 {
    let points: Vec<NumberDataPoint> = (0..1000)
        .map(|i| {
            let mut p = number(T0, Value::AsDouble(f64::from(i)), attributes.to_vec());
            p.start_time_unix_nano = T0 - SEC;
            p
        })
        .collect();
    let data = Data::Gauge(Gauge {
        data_points: points,
    });
    let body = request(vec![metric("g", "", data)]).encode_to_vec();
    budget::protobuf_estimate(&body) as f64 / body.len() as f64
}

#[test]
fn realistic_requests_stay_well_inside_the_decoded_budget() {
    let attributes = [
        KeyValue::string("http.method", "GET"),
        KeyValue::string("http.route", "/api/v1/items"),
        KeyValue::new("http.status_code", AnyValue::int(200)),
    ];
    let ratio = decoded_ratio(&attributes);
    assert!((1.0..4.0).contains(&ratio), "ratio {ratio}");
    // The worst legitimate case: many one-letter attributes.
    let tiny: Vec<_> = (b'a'..=b'j')
        .map(|c| KeyValue::string(char::from(c).to_string(), "v"))
        .collect();
    let ratio = decoded_ratio(&tiny);
    assert!(ratio < budget::BYTES_PER_BODY_BYTE as f64, "ratio {ratio}");
    assert!(decoded_ratio(&[]) < 4.0);
}

#[test]
fn field_numbers_match_the_proto_on_the_wire() {
    // NumberDataPoint { time_unix_nano(3, fixed64) = 5s; as_int(6, sfixed64) = -5;
    // attributes(7) = {key "a"}; flags(8) = 1 }
    let mut wire = vec![0x19];
    wire.extend_from_slice(&(5 * SEC).to_le_bytes());
    wire.push(0x31);
    wire.extend_from_slice(&(-5i64).to_le_bytes());
    wire.extend_from_slice(&[0x3a, 0x03, 0x0a, 0x01, b'a', 0x40, 0x01]);
    let point = NumberDataPoint::decode(wire.as_slice()).unwrap();
    assert_eq!(point.time_unix_nano, 5 * SEC);
    assert_eq!(point.value, Some(Value::AsInt(-5)));
    assert_eq!(point.attributes[0].key, "a");
    assert_eq!(point.flags, 1);
    // ExponentialHistogramDataPoint { scale(6, sint32) = -1; zero_count(7, fixed64) = 2;
    // negative(9) = { offset(1, sint32) = -2; bucket_counts(2, packed uint64) = [1, 300] };
    // zero_threshold(14, double) = 0.5 }
    let mut wire = vec![0x30, 0x01, 0x39];
    wire.extend_from_slice(&2u64.to_le_bytes());
    wire.extend_from_slice(&[0x4a, 0x07, 0x08, 0x03, 0x12, 0x03, 0x01, 0xac, 0x02, 0x71]);
    wire.extend_from_slice(&0.5f64.to_le_bytes());
    let point = proto::ExponentialHistogramDataPoint::decode(wire.as_slice()).unwrap();
    assert_eq!(
        (point.scale, point.zero_count, point.zero_threshold),
        (-1, 2, 0.5)
    );
    let negative = point.negative.unwrap();
    assert_eq!(
        (negative.offset, negative.bucket_counts),
        (-2, vec![1, 300])
    );
}

/// The state key of series `id` (origin 0).
pub(super) fn skey(id: u64, kind: StateKind) -> StateKey {
    StateKey {
        series: id,
        origin: 0,
        kind,
    }
}

#[test]
fn state_evicts_the_least_recently_touched_half() {
    let state = CumulativeState::new(4);
    let advance = |id: u64, time: u64, value: f64| {
        state.advance(
            &mut CumulativeUndo::new("t"),
            skey(id, StateKind::Number),
            0,
            time,
            Snapshot::Number(value),
            |p, c| match (p, c) {
                (Snapshot::Number(p), Snapshot::Number(c)) => Some(c - p),
                _ => None,
            },
        )
    };
    for id in 0..4 {
        assert_eq!(advance(id, 1, 1.0), Step::Baseline);
    }
    assert_eq!(state.len(), 4);
    // Touch 0 and 3; 1 and 2 are now the oldest.
    assert!(matches!(advance(0, 2, 2.0), Step::Delta { delta, prev_time_ns: 1 } if delta == 1.0));
    assert!(matches!(advance(3, 2, 2.0), Step::Delta { .. }));
    assert_eq!(advance(4, 1, 1.0), Step::Baseline);
    assert_eq!(state.len(), 3, "{state:?}");
    assert!(matches!(advance(0, 3, 3.0), Step::Delta { .. }));
    assert!(matches!(advance(3, 3, 3.0), Step::Delta { .. }));
    assert!(matches!(advance(4, 3, 3.0), Step::Delta { .. }));
    assert_eq!(advance(1, 3, 3.0), Step::Baseline, "1 was evicted");
    for id in 10..100 {
        advance(id, 1, 1.0);
        assert!(state.len() <= 4);
    }
    // Through the decoder: many series, the bound holds.
    let state = CumulativeState::new(3);
    for i in 0..10 {
        let mut point = number(
            T0,
            Value::AsDouble(1.0),
            vec![KeyValue::new("i", AnyValue::int(i))],
        );
        point.start_time_unix_nano = T0 - SEC;
        let req = request(vec![metric(
            "c",
            "",
            sum(vec![point], AggregationTemporality::Cumulative, true),
        )]);
        pb(&req, &state);
        assert!(state.len() <= 3);
    }
    // Histograms weigh one unit more per 16 buckets.
    let state = CumulativeState::new(10);
    let buckets = |n: usize| Snapshot::Buckets {
        layout: 0,
        counts: vec![1; n],
        sum: None,
    };
    let histogram = |id: u64, n: usize| {
        let key = skey(id, StateKind::Histogram);
        let undo = &mut CumulativeUndo::new("t");
        state.advance(undo, key, 0, 1, buckets(n), |_, _| Some(()))
    };
    assert_eq!(histogram(1, 160), Step::Baseline);
    assert_eq!(state.len(), 0, "11 units alone exceed the bound");
    histogram(2, 48);
    histogram(3, 48);
    assert_eq!(state.len(), 2);
    histogram(4, 48);
    assert_eq!(state.len(), 2, "12 units: the older half goes");
    let disabled = CumulativeState::new(0);
    assert_eq!(advance_disabled(&disabled), Step::Baseline);
    assert!(disabled.is_empty());
}

fn advance_disabled(state: &CumulativeState) -> Step<f64> {
    for time in 1..3 {
        state.advance(
            &mut CumulativeUndo::new("t"),
            skey(1, StateKind::Number),
            0,
            time,
            Snapshot::Number(1.0),
            |_, _| Some(0.0),
        );
    }
    state.advance(
        &mut CumulativeUndo::new("t"),
        skey(1, StateKind::Number),
        0,
        9,
        Snapshot::Number(1.0),
        |_, _| Some(0.0),
    )
}
