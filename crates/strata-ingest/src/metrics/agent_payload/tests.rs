use prost::Message;
use strata_metrics::{MetricType as Kind, Point};

use super::*;
use crate::metrics::DroppedPoints;
use crate::ErrorKind;

const NOW: i64 = 1_700_000_000;

fn series(body: &[u8]) -> Result<DecodedMetrics, IngestError> {
    decode_series_v2_protobuf(body, NOW, &MetricsLimits::default())
}

fn sketches(body: &[u8]) -> Result<DecodedMetrics, IngestError> {
    decode_sketches_protobuf(body, NOW, &MetricsLimits::default())
}

fn bad(result: Result<DecodedMetrics, IngestError>) -> String {
    let error = result.expect_err("should be refused");
    assert_eq!(error.kind, ErrorKind::BadRequest, "{error}");
    error.detail
}

/// Protobuf wire format by hand, to check field numbers independently of prost.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(field: u64, wire_type: u64, out: &mut Vec<u8>) {
    varint(field << 3 | wire_type, out);
}

fn len_field(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    tag(field, 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn varint_field(field: u64, v: u64, out: &mut Vec<u8>) {
    tag(field, 0, out);
    varint(v, out);
}

fn double_field(field: u64, v: f64, out: &mut Vec<u8>) {
    tag(field, 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn series_msg(metric: &str, kind: MetricType, points: &[(i64, f64)]) -> MetricSeries {
    MetricSeries {
        resources: vec![Resource {
            r#type: "host".into(),
            name: "h1".into(),
        }],
        metric: metric.into(),
        tags: vec!["env:prod".into()],
        points: points
            .iter()
            .map(|&(timestamp, value)| MetricPoint { value, timestamp })
            .collect(),
        r#type: kind as i32,
        unit: String::new(),
        source_type_name: String::new(),
        interval: 0,
        metadata: None,
    }
}

#[test]
fn hand_assembled_metric_payload_matches_the_proto_field_numbers() {
    // MetricSeries, each field numbered as in agent_payload.proto.
    let mut resource = Vec::new();
    len_field(1, b"host", &mut resource); // Resource.type = 1
    len_field(2, b"h1", &mut resource); // Resource.name = 2
    let mut point = Vec::new();
    double_field(1, 1.5, &mut point); // MetricPoint.value = 1 (double)
    varint_field(2, NOW as u64, &mut point); // MetricPoint.timestamp = 2 (int64)
    let mut origin = Vec::new();
    varint_field(4, 10, &mut origin); // Origin.origin_product = 4
    varint_field(5, 11, &mut origin); // Origin.origin_category = 5
    varint_field(6, 12, &mut origin); // Origin.origin_service = 6
    let mut metadata = Vec::new();
    len_field(1, &origin, &mut metadata); // Metadata.origin = 1
    let mut s = Vec::new();
    len_field(1, &resource, &mut s); // resources = 1
    len_field(2, b"a.b", &mut s); // metric = 2
    len_field(3, b"env:prod", &mut s); // tags = 3
    len_field(3, b"role:db", &mut s);
    len_field(4, &point, &mut s); // points = 4
    varint_field(5, 1, &mut s); // type = 5 (COUNT = 1)
    len_field(6, b"byte", &mut s); // unit = 6
    len_field(7, b"mysql", &mut s); // source_type_name = 7
    varint_field(8, 10, &mut s); // interval = 8
    len_field(9, &metadata, &mut s); // metadata = 9
    len_field(15, b"unknown field, skipped", &mut s);
    let mut body = Vec::new();
    len_field(1, &s, &mut body); // MetricPayload.series = 1

    let payload = MetricPayload::decode(body.as_slice()).unwrap();
    let m = &payload.series[0];
    assert_eq!(
        (m.resources[0].r#type.as_str(), m.resources[0].name.as_str()),
        ("host", "h1")
    );
    assert_eq!(m.metric, "a.b");
    assert_eq!(m.tags, vec!["env:prod", "role:db"]);
    assert_eq!(
        m.points,
        vec![MetricPoint {
            value: 1.5,
            timestamp: NOW
        }]
    );
    assert_eq!(m.r#type(), MetricType::Count);
    assert_eq!(
        (m.unit.as_str(), m.source_type_name.as_str(), m.interval),
        ("byte", "mysql", 10)
    );
    let origin = m
        .metadata
        .as_ref()
        .and_then(|md| md.origin.as_ref())
        .unwrap();
    assert_eq!(
        (
            origin.origin_product,
            origin.origin_category,
            origin.origin_service
        ),
        (10, 11, 12)
    );

    let decoded = series(&body).unwrap();
    let [got] = decoded.batch.series.as_slice() else {
        panic!("{decoded:?}")
    };
    assert_eq!(got.key.metric, "a.b");
    assert_eq!(got.key.host, "h1");
    assert_eq!(got.key.tags, vec!["env:prod", "role:db"]);
    assert_eq!(
        (got.kind, got.interval_s, got.unit.as_str()),
        (Kind::Count, 10, "byte")
    );
    assert_eq!(
        got.points,
        vec![Point {
            ts_s: NOW,
            value: 1.5
        }]
    );
}

#[test]
fn hand_assembled_sketch_payload_matches_the_proto_field_numbers() {
    let mut k = Vec::new(); // packed sint32 (zigzag)
    for key in [1338, -3, 1338] {
        varint(zigzag(key), &mut k);
    }
    let mut n = Vec::new(); // packed uint32
    for count in [2u64, 1, 1] {
        varint(count, &mut n);
    }
    let mut dog = Vec::new();
    varint_field(1, NOW as u64, &mut dog); // ts = 1
    varint_field(2, 4, &mut dog); // cnt = 2
    double_field(3, -0.5, &mut dog); // min = 3
    double_field(4, 12.0, &mut dog); // max = 4
    double_field(5, 5.0, &mut dog); // avg = 5
    double_field(6, 20.0, &mut dog); // sum = 6
    len_field(7, &k, &mut dog); // k = 7
    len_field(8, &n, &mut dog); // n = 8
    let mut origin = Vec::new();
    varint_field(4, 10, &mut origin);
    let mut metadata = Vec::new();
    len_field(1, &origin, &mut metadata);
    let mut sk = Vec::new();
    len_field(1, b"req.latency", &mut sk); // metric = 1
    len_field(2, b"h1", &mut sk); // host = 2
    len_field(4, b"env:x", &mut sk); // tags = 4
    len_field(7, &dog, &mut sk); // dogsketches = 7
    len_field(8, &metadata, &mut sk); // metadata = 8
    let mut common = Vec::new();
    len_field(1, b"7.50.0", &mut common); // CommonMetadata.agent_version = 1
    len_field(6, b"secret", &mut common); // CommonMetadata.api_key = 6
    let mut body = Vec::new();
    len_field(1, &sk, &mut body); // SketchPayload.sketches = 1
    len_field(2, &common, &mut body); // SketchPayload.metadata = 2

    let payload = SketchPayload::decode(body.as_slice()).unwrap();
    let s = &payload.sketches[0];
    assert_eq!((s.metric.as_str(), s.host.as_str()), ("req.latency", "h1"));
    assert_eq!(s.tags, vec!["env:x"]);
    let d = &s.dogsketches[0];
    assert_eq!(
        (d.ts, d.cnt, d.min, d.max, d.avg, d.sum),
        (NOW, 4, -0.5, 12.0, 5.0, 20.0)
    );
    assert_eq!(d.k, vec![1338, -3, 1338]);
    assert_eq!(d.n, vec![2, 1, 1]);
    assert_eq!(
        s.metadata
            .as_ref()
            .and_then(|m| m.origin.as_ref())
            .unwrap()
            .origin_product,
        10
    );
    let common = payload.metadata.as_ref().unwrap();
    assert_eq!(
        (common.agent_version.as_str(), common.api_key.as_str()),
        ("7.50.0", "secret")
    );

    let decoded = sketches(&body).unwrap();
    let [got] = decoded.batch.sketches.as_slice() else {
        panic!("{decoded:?}")
    };
    assert_eq!(
        (got.key.metric.as_str(), got.key.host.as_str()),
        ("req.latency", "h1")
    );
    let (ts, sketch) = &got.points[0];
    assert_eq!(*ts, NOW);
    assert_eq!(
        sketch,
        &StrataSketch::from_agent(4, -0.5, 12.0, 20.0, &[-3, 1338], &[1, 3]).unwrap()
    );
}

#[test]
fn unpacked_repeated_numbers_are_accepted_too() {
    let mut dog = Vec::new();
    varint_field(1, NOW as u64, &mut dog);
    varint_field(2, 3, &mut dog);
    double_field(3, 1.0, &mut dog);
    double_field(4, 2.0, &mut dog);
    double_field(6, 4.0, &mut dog);
    for key in [100, 200] {
        varint_field(7, zigzag(key), &mut dog); // k, one tag per element
    }
    for count in [1, 2] {
        varint_field(8, count, &mut dog);
    }
    let mut sk = Vec::new();
    len_field(1, b"d", &mut sk);
    len_field(7, &dog, &mut sk);
    let mut body = Vec::new();
    len_field(1, &sk, &mut body);
    let decoded = sketches(&body).unwrap();
    let bins: Vec<(i32, u32)> = decoded.batch.sketches[0].points[0]
        .1
        .bins
        .iter()
        .map(|b| (b.key, b.n))
        .collect();
    assert_eq!(bins, vec![(100, 1), (200, 2)]);
}

#[test]
fn prost_round_trip_of_an_agent_like_payload() {
    let mut count = series_msg(
        "http.requests",
        MetricType::Count,
        &[(NOW - 20, 3.0), (NOW - 10, 4.0)],
    );
    count.interval = 10;
    count.unit = "request".into();
    let payload = MetricPayload {
        series: vec![
            count,
            series_msg("system.load.1", MetricType::Gauge, &[(NOW, 0.25)]),
            series_msg("x.rate", MetricType::Rate, &[(NOW, 1.0)]),
            series_msg("x.none", MetricType::Unspecified, &[(NOW, 1.0)]),
        ],
    };
    let decoded = series(&payload.encode_to_vec()).unwrap();
    let kinds: Vec<Kind> = decoded.batch.series.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::Count, Kind::Gauge, Kind::Rate, Kind::Unspecified]
    );
    let first = &decoded.batch.series[0];
    assert_eq!((first.interval_s, first.unit.as_str()), (10, "request"));
    assert_eq!(first.points.len(), 2);
    assert_eq!(decoded.batch.point_count(), 5);
}

#[test]
fn non_finite_and_out_of_window_points_are_dropped() {
    let payload = MetricPayload {
        series: vec![
            series_msg(
                "a",
                MetricType::Gauge,
                &[
                    (NOW, f64::NAN),
                    (NOW, f64::INFINITY),
                    (NOW - 7200, 1.0),
                    (NOW + 3600, 1.0),
                    (NOW, 2.0),
                ],
            ),
            series_msg("b", MetricType::Gauge, &[(0, 1.0)]),
        ],
    };
    let decoded = series(&payload.encode_to_vec()).unwrap();
    assert_eq!(decoded.dropped.non_finite, 2);
    assert_eq!(decoded.dropped.too_old, 2);
    assert_eq!(decoded.dropped.too_new, 1);
    assert_eq!(decoded.batch.series.len(), 1);
    assert_eq!(
        decoded.batch.series[0].points,
        vec![Point {
            ts_s: NOW,
            value: 2.0
        }]
    );
}

#[test]
fn series_errors() {
    let mut wrong_type = series_msg("a", MetricType::Gauge, &[(NOW, 1.0)]);
    wrong_type.r#type = 9;
    let mut negative_interval = series_msg("a", MetricType::Count, &[(NOW, 1.0)]);
    negative_interval.interval = -10;
    let good = series_msg("ok", MetricType::Gauge, &[(NOW, 1.0)]);
    let cases = [
        (wrong_type, "series[1].type: 9 is not"),
        (negative_interval, "series[1].interval: -10 is not"),
        (
            series_msg("", MetricType::Gauge, &[]),
            "series[1].metric: invalid metric name \"\"",
        ),
        (
            series_msg("...", MetricType::Gauge, &[]),
            "series[1].metric: invalid metric name",
        ),
    ];
    for (bad_series, expected) in cases {
        let body = MetricPayload {
            series: vec![good.clone(), bad_series],
        }
        .encode_to_vec();
        let detail = bad(series(&body));
        assert!(
            detail.starts_with(expected),
            "{detail:?} should start with {expected:?}"
        );
    }
}

#[test]
fn malformed_protobuf_is_a_400() {
    let body = MetricPayload {
        series: vec![series_msg("a.b", MetricType::Gauge, &[(NOW, 1.0)])],
    }
    .encode_to_vec();
    for end in 1..body.len() {
        let detail = bad(series(&body[..end]));
        assert!(
            detail.starts_with("invalid protobuf MetricPayload"),
            "{detail}"
        );
    }
    // metric (field 2) sent as a varint: wrong wire type.
    let mut s = Vec::new();
    varint_field(2, 7, &mut s);
    let mut wrong_wire = Vec::new();
    len_field(1, &s, &mut wrong_wire);
    assert!(bad(series(&wrong_wire)).contains("invalid wire type"));
    // A metric name that is not UTF-8.
    let mut s = Vec::new();
    len_field(2, &[0xff, 0xfe], &mut s);
    let mut not_utf8 = Vec::new();
    len_field(1, &s, &mut not_utf8);
    assert!(bad(series(&not_utf8)).starts_with("invalid protobuf MetricPayload"));
    // JSON sent to the protobuf decoder.
    assert!(bad(series(br#"{"series":[]}"#)).starts_with("invalid protobuf"));
    assert!(bad(sketches(&[0x0a, 0x05, 0x0a])).starts_with("invalid protobuf SketchPayload"));
    // An empty body is an empty payload.
    assert_eq!(series(b"").unwrap(), DecodedMetrics::default());
}

fn dog(ts: i64, cnt: i64, k: &[i32], n: &[u32]) -> Dogsketch {
    Dogsketch {
        ts,
        cnt,
        min: 1.0,
        max: 2.0,
        avg: 1.5,
        sum: 1.5 * cnt as f64,
        k: k.to_vec(),
        n: n.to_vec(),
    }
}

fn sketch_msg(metric: &str, dogsketches: Vec<Dogsketch>) -> Sketch {
    Sketch {
        metric: metric.into(),
        host: "h".into(),
        distributions: vec![],
        tags: vec!["host:tag-not-host".into()],
        dogsketches,
        metadata: None,
    }
}

#[test]
fn sketches_drop_and_refuse() {
    let mut nan = dog(NOW, 1, &[1], &[1]);
    nan.sum = f64::NAN;
    let payload = SketchPayload {
        sketches: vec![
            sketch_msg(
                "d",
                vec![
                    dog(NOW, 2, &[1, 2], &[1, 1]),
                    nan,
                    dog(NOW, 0, &[], &[]),
                    dog(NOW - 3601, 1, &[1], &[1]),
                ],
            ),
            sketch_msg("empty", vec![dog(NOW + 601, 1, &[1], &[1])]),
        ],
        metadata: None,
    };
    let decoded = sketches(&payload.encode_to_vec()).unwrap();
    assert_eq!(
        decoded.dropped,
        DroppedPoints {
            too_old: 1,
            too_new: 1,
            non_finite: 1,
            no_value: 1,
        }
    );
    let [got] = decoded.batch.sketches.as_slice() else {
        panic!("{decoded:?}")
    };
    assert_eq!(got.key.host, "h");
    assert_eq!(got.key.tags, vec!["host:tag-not-host"]);
    assert_eq!(got.points[0].1.count, 2);

    let mut deprecated = sketch_msg("d", vec![]);
    deprecated.distributions.push(Distribution::default());
    let cases = [
        (
            sketch_msg("d", vec![dog(NOW, -1, &[], &[])]),
            "sketches[1].dogsketches[0]: sketch count -1",
        ),
        (
            sketch_msg("d", vec![dog(NOW, 1, &[1, 2], &[1])]),
            "sketches[1].dogsketches[0]: sketch has 2 keys",
        ),
        (
            sketch_msg("d", vec![dog(NOW, 1, &[40000], &[1])]),
            "sketches[1].dogsketches[0]: sketch key 40000",
        ),
        (
            sketch_msg("d", vec![dog(NOW, 1, &[1], &[1]), dog(NOW, 5, &[1], &[1])]),
            "sketches[1].dogsketches[1]: sketch count 5",
        ),
        (
            sketch_msg("", vec![]),
            "sketches[1].metric: invalid metric name",
        ),
        (deprecated, "sketches[1].distributions: the deprecated"),
    ];
    for (bad_sketch, expected) in cases {
        let body = SketchPayload {
            sketches: vec![sketch_msg("ok", vec![]), bad_sketch],
            metadata: None,
        }
        .encode_to_vec();
        let detail = bad(sketches(&body));
        assert!(
            detail.starts_with(expected),
            "{detail:?} should start with {expected:?}"
        );
    }
}

#[test]
fn protobuf_limits_are_413() {
    let limits = MetricsLimits {
        max_points_per_request: 2,
        max_series_per_request: 1,
        ..MetricsLimits::default()
    };
    let body = MetricPayload {
        series: vec![series_msg(
            "a",
            MetricType::Gauge,
            &[(NOW, 1.0), (NOW, 2.0), (NOW, 3.0)],
        )],
    }
    .encode_to_vec();
    let error = decode_series_v2_protobuf(&body, NOW, &limits).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error.detail.starts_with("series[0]: more than 2 points"),
        "{error}"
    );
    let body = SketchPayload {
        sketches: vec![sketch_msg("a", vec![]), sketch_msg("b", vec![])],
        metadata: None,
    }
    .encode_to_vec();
    let error = decode_sketches_protobuf(&body, NOW, &limits).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error.detail.starts_with("sketches[1]: more than 1 series"),
        "{error}"
    );
}
