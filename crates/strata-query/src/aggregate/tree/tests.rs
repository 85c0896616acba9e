//! The scan-free pipeline: events → normalised rows → DataFusion → tree,
//! against hand-computed answers. (Time range and query filtering are the
//! engine's; `tests/aggregate.rs` covers them over a real index.)

use std::sync::Arc;

use serde_json::{json, Value};
use strata_types::{AttrValue, Event, Status};

use super::*;
use crate::aggregate::exec::finest_groups;
use crate::aggregate::rows::{schema, RowBuilder};
use crate::aggregate::AggregateRequest;

/// 2024-01-01T00:00:00Z.
const NOW: i64 = 1_704_067_200_000;
/// Ten minutes before NOW, in ns: the events' base time (minute-aligned).
const BASE_NS: i64 = (NOW - 600_000) * 1_000_000;

fn event(
    offset_s: i64,
    service: &str,
    status: Status,
    duration: Option<AttrValue>,
    host: &str,
    env: Option<&str>,
) -> Event {
    let mut event = Event::new(
        BASE_NS + offset_s * 1_000_000_000,
        format!("{service} event"),
    );
    event.service = Some(service.into());
    event.status = status;
    event.host = Some(host.into());
    if let Some(env) = env {
        event.tags.push(format!("env:{env}"));
    }
    if let Some(duration) = duration {
        event.attributes.push(("duration".into(), duration));
    }
    event
}

/// The fixture: 7 events, 3 services.
///
/// | # | t    | service | status | @duration | host | env  |
/// |---|------|---------|--------|-----------|------|------|
/// | 1 | 0s   | web     | info   | 100       | h1   | prod |
/// | 2 | 30s  | web     | error  | 200       | h2   | prod |
/// | 3 | 70s  | web     | info   | 300.0     | h1   | dev  |
/// | 4 | 75s  | api     | info   | 50        | h3   | prod |
/// | 5 | 130s | api     | warn   | "150"     | h3   | —    |
/// | 6 | 200s | db      | error  | —         | h4   | dev  |
/// | 7 | 210s | db      | info   | "fast"    | h4   | prod |
fn fixture() -> Vec<Event> {
    use AttrValue::{Float, Int, Str};
    vec![
        event(0, "web", Status::Info, Some(Int(100)), "h1", Some("prod")),
        event(30, "web", Status::Error, Some(Int(200)), "h2", Some("prod")),
        event(
            70,
            "web",
            Status::Info,
            Some(Float(300.0)),
            "h1",
            Some("dev"),
        ),
        event(75, "api", Status::Info, Some(Int(50)), "h3", Some("prod")),
        event(
            130,
            "api",
            Status::Warn,
            Some(Str("150".into())),
            "h3",
            None,
        ),
        event(200, "db", Status::Error, None, "h4", Some("dev")),
        event(
            210,
            "db",
            Status::Info,
            Some(Str("fast".into())),
            "h4",
            Some("prod"),
        ),
    ]
}

/// Runs `request` over `events` (in batches of 3, so DataFusion merges
/// partial states) and returns the buckets as JSON.
async fn run(request: &str, events: &[Event]) -> Value {
    let request: AggregateRequest = serde_json::from_str(request).unwrap();
    let plan = Plan::new(&request, NOW).unwrap();
    let schema = schema(&plan);
    let (tx, rx) = tokio::sync::mpsc::channel(events.len() + 1);
    let mut builder = RowBuilder::new(&plan, Arc::clone(&schema));
    for chunk in events.chunks(3) {
        for event in chunk {
            builder.push(event);
        }
        tx.send(builder.finish().unwrap()).await.unwrap();
    }
    drop(tx);
    let batches = finest_groups(&plan, schema, rx).await.unwrap();
    let finest = decode(&plan, &batches).unwrap();
    serde_json::to_value(buckets(&plan, &finest)).unwrap()
}

fn minute(n: i64) -> String {
    iso_ms(NOW - 600_000 + n * 60_000)
}

#[tokio::test]
async fn count_by_status_sorts_by_count_descending() {
    let got = run(r#"{"group_by":[{"facet":"status"}]}"#, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"status": "info"}, "computes": {"c0": 4}},
            {"by": {"status": "error"}, "computes": {"c0": 2}},
            {"by": {"status": "warn"}, "computes": {"c0": 1}},
        ])
    );
}

#[tokio::test]
async fn no_group_by_is_one_bucket_and_no_event_is_no_bucket() {
    let got = run("{}", &fixture()).await;
    assert_eq!(got, json!([{"by": {}, "computes": {"c0": 7}}]));
    assert_eq!(run("{}", &[]).await, json!([]));
    let grouped = r#"{"group_by":[{"facet":"service","total":true}],
                      "compute":[{"aggregation":"count","type":"timeseries"}]}"#;
    assert_eq!(run(grouped, &[]).await, json!([]));
}

#[tokio::test]
async fn numeric_aggregations_by_service() {
    let request = r#"{"compute":[
        {"aggregation":"sum","metric":"@duration"},
        {"aggregation":"avg","metric":"@duration"},
        {"aggregation":"min","metric":"@duration"},
        {"aggregation":"max","metric":"@duration"},
        {"aggregation":"count","metric":"@duration"},
        {"aggregation":"count"}],
        "group_by":[{"facet":"service"}]}"#;
    let got = run(request, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"service": "web"}, "computes": {"c0": 600, "c1": 200, "c2": 100, "c3": 300, "c4": 3, "c5": 3}},
            {"by": {"service": "api"}, "computes": {"c0": 200, "c1": 100, "c2": 50, "c3": 150, "c4": 2, "c5": 2}},
            // "fast" is a value (count) but not a number (sum, avg, …).
            {"by": {"service": "db"}, "computes": {"c0": null, "c1": null, "c2": null, "c3": null, "c4": 1, "c5": 2}},
        ])
    );
}

#[tokio::test]
async fn percentiles_are_within_sketch_accuracy() {
    let events: Vec<Event> = (1..=1000)
        .map(|i| {
            event(
                i % 600,
                "web",
                Status::Info,
                Some(AttrValue::Int(i)),
                "h",
                None,
            )
        })
        .collect();
    let request = r#"{"compute":[
        {"aggregation":"median","metric":"@duration"},
        {"aggregation":"pc75","metric":"@duration"},
        {"aggregation":"pc90","metric":"@duration"},
        {"aggregation":"pc95","metric":"@duration"},
        {"aggregation":"pc98","metric":"@duration"},
        {"aggregation":"pc99","metric":"@duration"}]}"#;
    let got = run(request, &events).await;
    let computes = &got[0]["computes"];
    // Rank floor(q * 999) of 1..=1000 is the value floor(q * 999) + 1.
    for (key, q) in [
        ("c0", 0.5),
        ("c1", 0.75),
        ("c2", 0.9),
        ("c3", 0.95),
        ("c4", 0.98),
        ("c5", 0.99),
    ] {
        let exact = (q * 999.0_f64).floor() + 1.0;
        let estimate = computes[key].as_f64().unwrap();
        assert!(
            (estimate - exact).abs() <= 0.01 * exact,
            "{key}: {estimate} vs {exact}"
        );
    }
}

#[tokio::test]
async fn cardinality_is_exact_and_typed() {
    let request = r#"{"compute":[
        {"aggregation":"cardinality","metric":"host"},
        {"aggregation":"cardinality","metric":"@duration"},
        {"aggregation":"cardinality","metric":"@nope"}]}"#;
    let got = run(request, &fixture()).await;
    // @duration: 100, 200, 300, 50, "150", "fast".
    assert_eq!(
        got,
        json!([{"by": {}, "computes": {"c0": 4, "c1": 6, "c2": 0}}])
    );
    let by_service = run(
        r#"{"compute":[{"aggregation":"cardinality","metric":"host"}],
            "group_by":[{"facet":"service","sort":{"aggregation":"cardinality","metric":"host","order":"asc"}}]}"#,
        &fixture(),
    )
    .await;
    assert_eq!(
        by_service,
        json!([
            {"by": {"service": "api"}, "computes": {"c0": 1}},
            {"by": {"service": "db"}, "computes": {"c0": 1}},
            {"by": {"service": "web"}, "computes": {"c0": 2}},
        ])
    );
}

#[tokio::test]
async fn nested_group_by_applies_limits_per_parent() {
    let request = r#"{"group_by":[
        {"facet":"service","limit":2},
        {"facet":"env","limit":1,"sort":{"type":"alphabetical","order":"asc"}}]}"#;
    let got = run(request, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"service": "web", "env": "dev"}, "computes": {"c0": 1}},
            {"by": {"service": "api", "env": "prod"}, "computes": {"c0": 1}},
        ])
    );
    let descending = r#"{"group_by":[
        {"facet":"service","sort":{"type":"alphabetical","order":"desc"}},
        {"facet":"status","limit":1}]}"#;
    let got = run(descending, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"service": "web", "status": "info"}, "computes": {"c0": 2}},
            // Ties on count fall back to the value, ascending.
            {"by": {"service": "db", "status": "error"}, "computes": {"c0": 1}},
            {"by": {"service": "api", "status": "info"}, "computes": {"c0": 1}},
        ])
    );
}

#[tokio::test]
async fn sort_by_a_measure_that_is_not_computed() {
    let desc = r#"{"group_by":[{"facet":"service",
        "sort":{"aggregation":"avg","metric":"@duration","order":"desc"}}]}"#;
    let got = run(desc, &fixture()).await;
    let services: Vec<&Value> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["by"]["service"])
        .collect();
    assert_eq!(services, [&json!("web"), &json!("api"), &json!("db")]);
    let asc = r#"{"group_by":[{"facet":"service",
        "sort":{"aggregation":"max","metric":"@duration","order":"asc"}}]}"#;
    let got = run(asc, &fixture()).await;
    let services: Vec<&Value> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["by"]["service"])
        .collect();
    // A null measure sorts last in both orders.
    assert_eq!(services, [&json!("api"), &json!("web"), &json!("db")]);
    assert_eq!(got[0]["computes"], json!({"c0": 2}));
}

#[tokio::test]
async fn missing_groups_events_without_the_facet() {
    let without = run(r#"{"group_by":[{"facet":"env"}]}"#, &fixture()).await;
    assert_eq!(
        without,
        json!([
            {"by": {"env": "prod"}, "computes": {"c0": 4}},
            {"by": {"env": "dev"}, "computes": {"c0": 2}},
        ])
    );
    let with = run(
        r#"{"group_by":[{"facet":"env","missing":"none"}]}"#,
        &fixture(),
    )
    .await;
    assert_eq!(
        with,
        json!([
            {"by": {"env": "prod"}, "computes": {"c0": 4}},
            {"by": {"env": "dev"}, "computes": {"c0": 2}},
            {"by": {"env": "none"}, "computes": {"c0": 1}},
        ])
    );
    let numeric = run(
        r#"{"group_by":[{"facet":"@duration","missing":-1,"sort":{"type":"alphabetical"}}]}"#,
        &fixture(),
    )
    .await;
    let values: Vec<&Value> = numeric
        .as_array()
        .unwrap()
        .iter()
        .map(|b| &b["by"]["@duration"])
        .collect();
    // Numbers first (numerically; 300.0 is 300), then strings.
    assert_eq!(
        values,
        [
            &json!(-1),
            &json!(50),
            &json!(100),
            &json!(200),
            &json!(300),
            &json!("150"),
            &json!("fast")
        ]
    );
}

#[tokio::test]
async fn totals_cover_every_event_of_the_parent() {
    let request = r#"{"group_by":[
        {"facet":"service","total":"all"},
        {"facet":"status"}]}"#;
    let got = run(request, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"service": "web", "status": "info"}, "computes": {"c0": 2}},
            {"by": {"service": "web", "status": "error"}, "computes": {"c0": 1}},
            {"by": {"service": "api", "status": "info"}, "computes": {"c0": 1}},
            {"by": {"service": "api", "status": "warn"}, "computes": {"c0": 1}},
            {"by": {"service": "db", "status": "error"}, "computes": {"c0": 1}},
            {"by": {"service": "db", "status": "info"}, "computes": {"c0": 1}},
            {"by": {"service": "all", "status": "info"}, "computes": {"c0": 4}},
            {"by": {"service": "all", "status": "error"}, "computes": {"c0": 2}},
            {"by": {"service": "all", "status": "warn"}, "computes": {"c0": 1}},
        ])
    );
    let inner = r#"{"group_by":[{"facet":"service","limit":1},{"facet":"status","total":true}]}"#;
    assert_eq!(
        run(inner, &fixture()).await,
        json!([
            {"by": {"service": "web", "status": "info"}, "computes": {"c0": 2}},
            {"by": {"service": "web", "status": "error"}, "computes": {"c0": 1}},
            {"by": {"service": "web", "status": "*"}, "computes": {"c0": 3}},
        ])
    );
    // Beyond the limit and without the facet: still in the total.
    let limited = r#"{"group_by":[{"facet":"env","limit":1,"total":0}]}"#;
    assert_eq!(
        run(limited, &fixture()).await,
        json!([
            {"by": {"env": "prod"}, "computes": {"c0": 4}},
            {"by": {"env": 0}, "computes": {"c0": 7}},
        ])
    );
}

#[tokio::test]
async fn histogram_buckets_numeric_values() {
    let request = r#"{"compute":[{"aggregation":"count"},{"aggregation":"max","metric":"@duration"}],
        "group_by":[{"facet":"@duration","histogram":{"interval":100,"min":0,"max":250}}]}"#;
    let got = run(request, &fixture()).await;
    // 300 is above max; "fast" is not a number; event 6 has no value.
    assert_eq!(
        got,
        json!([
            {"by": {"@duration": 0}, "computes": {"c0": 1, "c1": 50}},
            {"by": {"@duration": 100}, "computes": {"c0": 2, "c1": 150}},
            {"by": {"@duration": 200}, "computes": {"c0": 1, "c1": 200}},
        ])
    );
    let fractional = r#"{"group_by":[{"facet":"@duration","histogram":{"interval":0.5,"min":99.75,"max":100.9},"missing":"n/a"}]}"#;
    assert_eq!(
        run(fractional, &fixture()).await,
        json!([
            {"by": {"@duration": 99.75}, "computes": {"c0": 1}},
            {"by": {"@duration": "n/a"}, "computes": {"c0": 1}},
        ])
    );
}

#[tokio::test]
async fn timeseries_points_are_aligned_and_skip_empty_buckets() {
    let request = r#"{"filter":{"from":"now-10m"},
        "compute":[{"aggregation":"count","type":"timeseries","interval":"1m"},
                   {"aggregation":"count"},
                   {"aggregation":"avg","metric":"@duration","type":"timeseries","interval":"2m"}],
        "group_by":[{"facet":"service"}]}"#;
    let got = run(request, &fixture()).await;
    assert_eq!(
        got,
        json!([
            {"by": {"service": "web"}, "computes": {
                "c0": [{"time": minute(0), "value": 2}, {"time": minute(1), "value": 1}],
                "c1": 3,
                "c2": [{"time": minute(0), "value": 200}]}},
            {"by": {"service": "api"}, "computes": {
                "c0": [{"time": minute(1), "value": 1}, {"time": minute(2), "value": 1}],
                "c1": 2,
                "c2": [{"time": minute(0), "value": 50}, {"time": minute(2), "value": 150}]}},
            {"by": {"service": "db"}, "computes": {
                "c0": [{"time": minute(3), "value": 2}],
                "c1": 2,
                "c2": []}},
        ])
    );
    assert_eq!(minute(0), "2023-12-31T23:50:00.000Z");
}

#[test]
fn value_order_and_numbers() {
    let mut values = vec![
        json!("b"),
        json!(true),
        json!(10),
        json!("a"),
        json!(-2.5),
        json!(false),
    ];
    values.sort_by(compare_values);
    assert_eq!(
        values,
        vec![
            json!(-2.5),
            json!(10),
            json!(false),
            json!(true),
            json!("a"),
            json!("b")
        ]
    );
    assert_eq!(number(Agg::Sum, Some(345.0)), json!(345));
    assert_eq!(number(Agg::Avg, Some(0.25)), json!(0.25));
    assert_eq!(number(Agg::Avg, None), Value::Null);
    assert_eq!(number(Agg::Count, None), json!(0));
    assert_eq!(number(Agg::Max, Some(1e20)), json!(1e20));
    assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso_ms(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
}
