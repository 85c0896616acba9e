use strata_metrics::{MetricType, Point, Sketch};

use super::*;
use crate::ErrorKind;

const NOW: i64 = 1_700_000_000;

fn v2(body: &str) -> Result<DecodedMetrics, IngestError> {
    decode_series_v2_json(body.as_bytes(), NOW, &MetricsLimits::default())
}

fn v1(body: &str) -> Result<DecodedMetrics, IngestError> {
    decode_series_v1(body.as_bytes(), NOW, &MetricsLimits::default())
}

fn dist(body: &str) -> Result<DecodedMetrics, IngestError> {
    decode_distribution_points(body.as_bytes(), NOW, &MetricsLimits::default())
}

fn bad(result: Result<DecodedMetrics, IngestError>) -> String {
    let error = result.expect_err("should be refused");
    assert_eq!(error.kind, ErrorKind::BadRequest, "{error}");
    error.detail
}

#[test]
fn v2_json_as_the_python_client_sends_it() {
    // Captured from datadog-api-client-python (reference §2), timestamp moved to NOW.
    let body = format!(
        r#"{{"series":[{{"resources":[{{"name":"h1","type":"host"}}],"tags":["env:prod"],"type":3,"unit":"byte","metric":"a.b","points":[{{"timestamp":{NOW},"value":1.5}}]}}]}}"#
    );
    let decoded = v2(&body).unwrap();
    assert_eq!(decoded.dropped_points(), 0);
    let [series] = decoded.batch.series.as_slice() else {
        panic!("one series expected: {decoded:?}")
    };
    assert_eq!(series.key.metric, "a.b");
    assert_eq!(series.key.host, "h1");
    assert_eq!(series.key.tags, vec!["env:prod"]);
    assert_eq!(series.kind, MetricType::Gauge);
    assert_eq!(series.unit, "byte");
    assert_eq!(series.interval_s, 0);
    assert_eq!(
        series.points,
        vec![Point {
            ts_s: NOW,
            value: 1.5
        }]
    );
    assert!(decoded.batch.sketches.is_empty());
}

#[test]
fn v2_json_every_field_and_unknown_ones() {
    let body = format!(
        r#"{{"series":[{{"metric":"my.count","type":1,"interval":10,"source_type_name":"mysql",
        "metadata":{{"origin":{{"metric_type":1,"product":10,"service":11}}}},"extra":[1,{{"x":null}}],
        "resources":[{{"name":"db","type":"database"}},{{"name":"h2","type":"host"}}],
        "tags":["b","a:1","host:not-the-host","a:1"],
        "points":[{{"timestamp":{t1},"value":2}},{{"timestamp":{t2}.9,"value":3.25}},{{"timestamp":{NOW},"value":null}},{{"timestamp":{NOW}}}]}},
        {{"metric":"r","type":2,"points":[{{"timestamp":{NOW},"value":-1e300}}]}},
        {{"metric":"u","type":0,"points":[{{"timestamp":{NOW},"value":0}}]}}],"other":true}}"#,
        t1 = NOW - 10,
        t2 = NOW - 5,
    );
    let decoded = v2(&body).unwrap();
    assert_eq!(decoded.dropped.no_value, 2);
    let [count, rate, unspecified] = decoded.batch.series.as_slice() else {
        panic!("three series expected: {decoded:?}")
    };
    assert_eq!(count.key.host, "h2");
    // Kept as sent, then sorted and de-duplicated by SeriesKey; `host:` stays a tag.
    assert_eq!(count.key.tags, vec!["a:1", "b", "host:not-the-host"]);
    assert_eq!((count.kind, count.interval_s), (MetricType::Count, 10));
    assert_eq!(
        count.points,
        vec![
            Point {
                ts_s: NOW - 10,
                value: 2.0
            },
            Point {
                ts_s: NOW - 5,
                value: 3.25
            },
        ]
    );
    assert_eq!(rate.kind, MetricType::Rate);
    assert_eq!(rate.key.host, "");
    assert_eq!(unspecified.kind, MetricType::Unspecified);
}

#[test]
fn points_outside_the_window_are_dropped_and_counted() {
    let body = format!(
        r#"{{"series":[{{"metric":"a","points":[{{"timestamp":{},"value":1}},{{"timestamp":{},"value":2}},{{"timestamp":{},"value":3}},{{"timestamp":{},"value":4}}]}},
        {{"metric":"gone","points":[{{"timestamp":0,"value":1}}]}}]}}"#,
        NOW - 3600,
        NOW - 3601,
        NOW + 600,
        NOW + 601,
    );
    let decoded = v2(&body).unwrap();
    assert_eq!(decoded.dropped.too_old, 2);
    assert_eq!(decoded.dropped.too_new, 1);
    assert_eq!(decoded.dropped_points(), 3);
    // The series left without points is omitted.
    let [series] = decoded.batch.series.as_slice() else {
        panic!("{decoded:?}")
    };
    let kept: Vec<i64> = series.points.iter().map(|p| p.ts_s).collect();
    assert_eq!(kept, vec![NOW - 3600, NOW + 600]);

    // A backfilling store widens the window.
    let wide = MetricsLimits {
        max_past_s: u64::MAX,
        max_future_s: u64::MAX,
        ..MetricsLimits::default()
    };
    let decoded = decode_series_v2_json(body.as_bytes(), NOW, &wide).unwrap();
    assert_eq!(decoded.dropped_points(), 0);
    assert_eq!(decoded.batch.point_count(), 5);
}

#[test]
fn v2_json_errors_name_the_series_and_field() {
    let p = format!(r#""points":[{{"timestamp":{NOW},"value":1}}]"#);
    let cases = [
        (
            format!(r#"{{"series":[{{"metric":"a",{p}}},{{"metric":"b","type":4,{p}}}]}}"#),
            "series[1].type: 4 is not",
        ),
        (
            format!(r#"{{"series":[{{"metric":"a","type":"gauge",{p}}}]}}"#),
            "series[0].type: invalid type: string",
        ),
        (
            format!(r#"{{"series":[{{{p}}}]}}"#),
            "series[0].metric: missing",
        ),
        (
            format!(r#"{{"series":[{{"metric":5,{p}}}]}}"#),
            "series[0].metric: invalid type: integer",
        ),
        (
            format!(r#"{{"series":[{{"metric":"!!!",{p}}}]}}"#),
            "series[0].metric: invalid metric name \"!!!\"",
        ),
        (
            format!(r#"{{"series":[{{"metric":"a","tags":"env:x",{p}}}]}}"#),
            "series[0].tags: invalid type",
        ),
        (
            format!(r#"{{"series":[{{"metric":"a","tags":["ok",1],{p}}}]}}"#),
            "series[0].tags: invalid type: integer",
        ),
        (
            format!(r#"{{"series":[{{"metric":"a","interval":-1,{p}}}]}}"#),
            "series[0].interval: -1 is not",
        ),
        (
            format!(r#"{{"series":[{{"metric":"a","resources":{{}},{p}}}]}}"#),
            "series[0].resources:",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"value":1}]}]}"#.to_string(),
            "series[0].points[0].timestamp: missing",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":"now","value":1}]}]}"#.to_string(),
            "series[0].points[0]: invalid type: string",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":1,"value":"1"}]}]}"#.to_string(),
            "series[0].points[0]: invalid type: string",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":1e300,"value":1}]}]}"#.to_string(),
            "series[0].points[0]: timestamp 1e300 is out of range",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":1,"value":1e999}]}]}"#.to_string(),
            "series[0].points[0]:",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":1,"val"#.to_string(),
            "series[0].points[0]: EOF",
        ),
        (
            r#"{"series":{}}"#.to_string(),
            "invalid JSON body: invalid type: map, expected an array of series",
        ),
        (
            r#"[{"metric":"a"}]"#.to_string(),
            "invalid JSON body: invalid type: sequence",
        ),
        (
            r#"{"metrics":[]}"#.to_string(),
            "the body has no \"series\" array",
        ),
        (
            r#"{"series":[]} x"#.to_string(),
            "invalid JSON body: trailing characters",
        ),
        ("not json".to_string(), "invalid JSON body"),
        (" \n".to_string(), "empty request body"),
    ];
    for (body, expected) in cases {
        let detail = bad(v2(&body));
        assert!(
            detail.starts_with(expected),
            "{body}\n  gave {detail:?}\n  want {expected:?}"
        );
    }
}

#[test]
fn metric_names_are_normalised_before_validation() {
    let body = format!(
        r#"{{"series":[{{"metric":"9my metric-x","points":[{{"timestamp":{NOW},"value":1}}]}}]}}"#
    );
    let decoded = v2(&body).unwrap();
    assert_eq!(decoded.batch.series[0].key.metric, "my_metric_x");
}

#[test]
fn v1_as_datadogpy_sends_it() {
    // Captured from datadogpy 0.53 (reference §2), timestamp moved to NOW.
    let body = format!(
        r#"{{"series":[{{"metric":"my.series","points":[[{NOW},15.0]],"tags":["env:x"],"type":"count","interval":10,"host":"h1"}}]}}"#
    );
    let decoded = v1(&body).unwrap();
    let [series] = decoded.batch.series.as_slice() else {
        panic!("{decoded:?}")
    };
    assert_eq!(series.key.metric, "my.series");
    assert_eq!(series.key.host, "h1");
    assert_eq!(series.key.tags, vec!["env:x"]);
    assert_eq!((series.kind, series.interval_s), (MetricType::Count, 10));
    assert_eq!(
        series.points,
        vec![Point {
            ts_s: NOW,
            value: 15.0
        }]
    );
}

#[test]
fn v1_points_types_nulls_and_floats() {
    let body = format!(
        r#"{{"series":[{{"metric":"g","points":[[{NOW}.75,1],[{NOW},null],[{t},-2.5e3]],"type":"","interval":null,"host":null,"tags":null,"device":"sda"}},
        {{"metric":"G2","points":[[{NOW},1]],"type":"Gauge"}},{{"metric":"r","points":[[{NOW},1]],"type":"rate"}},{{"metric":"n","points":[[{NOW},1]]}}]}}"#,
        t = NOW - 1,
    );
    let decoded = v1(&body).unwrap();
    assert_eq!(decoded.dropped.no_value, 1);
    let kinds: Vec<MetricType> = decoded.batch.series.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            MetricType::Unspecified,
            MetricType::Gauge,
            MetricType::Rate,
            MetricType::Unspecified
        ]
    );
    assert_eq!(
        decoded.batch.series[0].points,
        vec![
            Point {
                ts_s: NOW,
                value: 1.0
            },
            Point {
                ts_s: NOW - 1,
                value: -2500.0
            }
        ]
    );
    assert_eq!(decoded.batch.series[1].key.metric, "G2");
}

#[test]
fn v1_errors() {
    let cases = [
        (
            r#"{"series":[{"metric":"a","points":[[1,2,3]]}]}"#,
            "series[0].points[0]: invalid length 3",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1]]}]}"#,
            "series[0].points[0]: invalid length 1",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[null,1]]}]}"#,
            "series[0].points[0]: invalid type: null",
        ),
        (
            r#"{"series":[{"metric":"a","points":[{"timestamp":1,"value":1}]}]}"#,
            "series[0].points[0]: invalid type: map",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1,1]],"type":"histogram"}]}"#,
            "series[0].type: \"histogram\" is not",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1,1]],"type":"distribution"}]}"#,
            "series[0].type: distributions go to",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1,1]],"type":3}]}"#,
            "series[0].type: invalid type: integer",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1,1]],"host":["h"]}]}"#,
            "series[0].host: invalid type: sequence",
        ),
        (
            r#"{"series":[{"metric":"a","points":[[1,1]],"interval":4294967296}]}"#,
            "series[0].interval: 4294967296 is not",
        ),
    ];
    for (body, expected) in cases {
        let detail = bad(v1(body));
        assert!(
            detail.starts_with(expected),
            "{body}\n  gave {detail:?}\n  want {expected:?}"
        );
    }
}

#[test]
fn limits_are_413_and_count_dropped_points() {
    let limits = MetricsLimits {
        max_points_per_request: 3,
        max_series_per_request: 2,
        ..MetricsLimits::default()
    };
    let body = r#"{"series":[{"metric":"a","points":[[1,1],[2,2]]},{"metric":"b","points":[[3,null],[4,4]]}]}"#;
    let error = decode_series_v1(body.as_bytes(), NOW, &limits).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error
            .detail
            .starts_with("series[1].points[1]: more than 3 points"),
        "{error}"
    );

    let body = r#"{"series":[{"metric":"a","points":[]},{"metric":"b","points":[]},{"metric":"c","points":[]}]}"#;
    let error = decode_series_v1(body.as_bytes(), NOW, &limits).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error.detail.starts_with("series[2]: more than 2 series"),
        "{error}"
    );

    let body = r#"{"series":[{"metric":"a","points":[[1,[1,2]],[2,[3,4]]]}]}"#;
    let error = decode_distribution_points(body.as_bytes(), NOW, &limits).unwrap_err();
    assert_eq!(error.kind, ErrorKind::TooLarge);
    assert!(
        error
            .detail
            .starts_with("series[0].points[1]: more than 3 points"),
        "{error}"
    );
}

#[test]
fn distribution_points_become_one_sketch_per_point() {
    let body = format!(
        r#"{{"series":[{{"metric":"req.latency","points":[[{NOW},[1.0,2.0,3.0]],[{t},7]],"host":"h1","tags":["env:x"],"type":"distribution"}}]}}"#,
        t = NOW - 10,
    );
    let decoded = dist(&body).unwrap();
    assert!(decoded.batch.series.is_empty());
    let [series] = decoded.batch.sketches.as_slice() else {
        panic!("{decoded:?}")
    };
    assert_eq!(series.key.metric, "req.latency");
    assert_eq!(series.key.host, "h1");
    assert_eq!(series.key.tags, vec!["env:x"]);
    assert_eq!(
        series.points,
        vec![
            (NOW, Sketch::from_values(&[1.0, 2.0, 3.0])),
            (NOW - 10, Sketch::from_values(&[7.0]))
        ]
    );
    assert_eq!(series.points[0].1.count, 3);
    assert_eq!(series.points[0].1.sum, 6.0);
}

#[test]
fn distribution_points_drops_and_errors() {
    let body = format!(
        r#"{{"series":[{{"metric":"d","points":[[{NOW},[]],[0,[1]],[{NOW},[2]]]}},{{"metric":"e","type":"","points":[[{NOW},[]]]}}]}}"#
    );
    let decoded = dist(&body).unwrap();
    assert_eq!(decoded.dropped.no_value, 2);
    assert_eq!(decoded.dropped.too_old, 1);
    assert_eq!(decoded.batch.sketches.len(), 1);
    assert_eq!(decoded.batch.point_count(), 1);

    let cases = [
        (
            r#"{"series":[{"metric":"d","points":[[1,[1,null]]]}]}"#,
            "series[0].points[0]: invalid type: null",
        ),
        (
            r#"{"series":[{"metric":"d","points":[[1,"x"]]}]}"#,
            "series[0].points[0]: invalid type: string",
        ),
        (
            r#"{"series":[{"metric":"d","points":[[1]]}]}"#,
            "series[0].points[0]: a distribution point is",
        ),
        (
            r#"{"series":[{"metric":"d","points":[[1,[1],[2]]]}]}"#,
            "series[0].points[0]: a distribution point is",
        ),
        (
            r#"{"series":[{"metric":"d","points":[[1,[1]]],"type":"gauge"}]}"#,
            "series[0].type: \"gauge\" is not",
        ),
        (
            r#"{"series":[{"metric":"","points":[[1,[1]]]}]}"#,
            "series[0].metric: invalid metric name",
        ),
    ];
    for (body, expected) in cases {
        let detail = bad(dist(body));
        assert!(
            detail.starts_with(expected),
            "{body}\n  gave {detail:?}\n  want {expected:?}"
        );
    }
}

#[test]
fn decoders_never_panic_on_prefixes() {
    // Every prefix of valid bodies: an error or a value, never a panic.
    let bodies = [
        format!(
            r#"{{"series":[{{"metric":"a.b","type":3,"points":[{{"timestamp":{NOW},"value":1.5}}],"resources":[{{"name":"h","type":"host"}}],"tags":["x"]}}]}}"#
        ),
        format!(r#"{{"series":[{{"metric":"a","points":[[{NOW},[1,2]],[{NOW},3]],"host":"h"}}]}}"#),
    ];
    for body in &bodies {
        for end in 0..=body.len() {
            let prefix = &body.as_bytes()[..end];
            let limits = MetricsLimits::default();
            let _ = decode_series_v2_json(prefix, NOW, &limits);
            let _ = decode_series_v1(prefix, NOW, &limits);
            let _ = decode_distribution_points(prefix, NOW, &limits);
        }
    }
}
