//! `Engine::aggregate` over a real index: events split across Parquet
//! segments (small row groups, two hour buckets) and the memtable, checked
//! against answers computed by hand from the same fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use strata_index::{Index, IndexConfig};
use strata_metastore::{Metastore, SqliteMetastore};
use strata_query::{
    AggregateRequest, AggregateResponse, Completeness, Engine, QueryError, QueryLimits,
};
use strata_segment::SegmentOptions;
use strata_types::{AttrValue, Event, Status};

const TENANT: &str = "acme";
const OTHER: &str = "other";
/// 2023-12-31T23:50:00Z: the fixture's first event. The range is
/// `[START, START + 15m)`, across the 00:00 hour boundary.
const START_MS: i64 = 1_704_066_600_000;
const END_MS: i64 = START_MS + 15 * 60_000;
/// Later than every event: `now` of the requests.
const NOW_MS: i64 = END_MS + 3_600_000;
const EVENTS: i64 = 60;
const SERVICES: [&str; 3] = ["web", "api", "db"];

/// Event `i` of the fixture, every 15 seconds from `START_MS`:
///
/// - service `SERVICES[i % 3]`, status `error` when `i % 4 == 0` else `info`;
/// - `@duration` = `i * 10` (an integer), except: none when `i % 5 == 0`,
///   the string `"<i*10>"` when `i % 7 == 3`, the text `"slow"` when `i == 59`;
/// - host `h<i % 7>`; tag `env:prod` when `i` is even, `env:dev` when
///   `i % 6 == 1`, no env tag otherwise.
fn fixture_event(i: i64) -> Event {
    let mut event = Event::new((START_MS + i * 15_000) * 1_000_000, format!("event {i}"));
    event.service = Some(SERVICES[(i % 3) as usize].to_string());
    event.status = if i % 4 == 0 {
        Status::Error
    } else {
        Status::Info
    };
    event.host = Some(format!("h{}", i % 7));
    if i % 2 == 0 {
        event.tags.push("env:prod".into());
    } else if i % 6 == 1 {
        event.tags.push("env:dev".into());
    }
    event.tags.push("team:core".into());
    let duration = if i == 59 {
        Some(AttrValue::Str("slow".into()))
    } else if i % 5 == 0 {
        None
    } else if i % 7 == 3 {
        Some(AttrValue::Str((i * 10).to_string()))
    } else {
        Some(AttrValue::Int(i * 10))
    };
    if let Some(duration) = duration {
        event.attributes.push(("duration".into(), duration));
    }
    event
}

/// The numeric `@duration` of event `i`, as the API reads it.
fn duration(i: i64) -> Option<f64> {
    (i != 59 && i % 5 != 0).then_some((i * 10) as f64)
}

fn env(i: i64) -> Option<&'static str> {
    if i % 2 == 0 {
        Some("prod")
    } else if i % 6 == 1 {
        Some("dev")
    } else {
        None
    }
}

fn service(i: i64) -> &'static str {
    SERVICES[(i % 3) as usize]
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
}

async fn index(root: &Path) -> Arc<Index> {
    let metastore = Arc::new(
        SqliteMetastore::open(&root.join("meta.sqlite"))
            .await
            .unwrap(),
    );
    for tenant in [TENANT, OTHER] {
        metastore.create_tenant(tenant, 0).await.unwrap();
    }
    Arc::new(Index::new(
        IndexConfig {
            flush_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
            pressure_bytes: 1 << 40,
            segment: SegmentOptions {
                row_group_rows: 8,
                ..SegmentOptions::default()
            },
        },
        metastore as Arc<dyn Metastore>,
        strata_storage::SegmentStore::open(
            &strata_storage::Backend::Local {
                root: root.join("segments"),
            },
            None,
        )
        .unwrap(),
    ))
}

async fn fixture_with(limits: QueryLimits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let index = index(root).await;
    let all: Vec<Event> = (0..EVENTS).map(fixture_event).collect();
    // Outside the range: just before it and exactly at its (exclusive) end.
    let mut early = Event::new((START_MS - 1) * 1_000_000, "too early".into());
    early.service = Some("web".into());
    let mut late = Event::new(END_MS * 1_000_000, "too late".into());
    late.service = Some("web".into());
    // Another tenant, same time range: never seen.
    let foreign: Vec<Event> = (0..10).map(fixture_event).collect();
    index.apply(1, TENANT, all[..20].to_vec());
    index.apply(2, TENANT, vec![early]);
    index.apply(3, OTHER, foreign);
    assert_eq!(index.flush_due(true).await.unwrap().segments, 2);
    // Across the hour boundary: one segment per hour.
    index.apply(4, TENANT, all[20..45].to_vec());
    assert_eq!(index.flush_due(true).await.unwrap().segments, 2);
    index.apply(5, TENANT, all[45..].to_vec());
    index.apply(6, TENANT, vec![late]);
    let engine = Arc::new(Engine::new(index, limits));
    Fixture { _dir: dir, engine }
}

async fn fixture() -> Fixture {
    fixture_with(QueryLimits::default()).await
}

/// `body` with the fixture's range filled in unless it has a filter.
fn request(body: Value) -> AggregateRequest {
    let mut body = body;
    let object = body.as_object_mut().unwrap();
    object
        .entry("filter")
        .or_insert_with(|| json!({"from": START_MS.to_string(), "to": END_MS.to_string()}));
    serde_json::from_value(body).unwrap()
}

async fn aggregate(f: &Fixture, body: Value) -> AggregateResponse {
    f.engine
        .aggregate(TENANT, &request(body), NOW_MS)
        .await
        .unwrap()
}

async fn buckets(f: &Fixture, body: Value) -> Value {
    let response = aggregate(f, body).await;
    assert_eq!(response.status, Completeness::Done);
    serde_json::to_value(response.buckets).unwrap()
}

async fn bad_request(f: &Fixture, body: Value) -> String {
    match f.engine.aggregate(TENANT, &request(body), NOW_MS).await {
        Err(e) => {
            assert!(e.is_client_error(), "{e}");
            e.to_string()
        }
        Ok(response) => panic!("expected an error, got {response:?}"),
    }
}

fn number(value: f64) -> Value {
    if value.fract() == 0.0 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

#[tokio::test]
async fn aggregate_count_by_status_across_segments_and_memtable() {
    let f = fixture().await;
    let errors = (0..EVENTS).filter(|i| i % 4 == 0).count();
    let got = buckets(&f, json!({"group_by": [{"facet": "status"}]})).await;
    assert_eq!(
        got,
        json!([
            {"by": {"status": "info"}, "computes": {"c0": EVENTS as usize - errors}},
            {"by": {"status": "error"}, "computes": {"c0": errors}},
        ])
    );
    // Everything, one bucket; the events outside the range are not counted.
    let total = buckets(&f, json!({"compute": [{"aggregation": "count"}]})).await;
    assert_eq!(total, json!([{"by": {}, "computes": {"c0": EVENTS}}]));
}

#[tokio::test]
async fn aggregate_numeric_aggregations_of_duration_by_service() {
    let f = fixture().await;
    let got = buckets(
        &f,
        json!({
            "compute": [
                {"aggregation": "sum", "metric": "@duration"},
                {"aggregation": "avg", "metric": "@duration"},
                {"aggregation": "min", "metric": "@duration"},
                {"aggregation": "max", "metric": "@duration"},
                {"aggregation": "count", "metric": "@duration"},
                {"aggregation": "median", "metric": "@duration"},
                {"aggregation": "pc90", "metric": "@duration"},
                {"aggregation": "pc99", "metric": "@duration"},
            ],
            "group_by": [{"facet": "service", "sort": {"type": "alphabetical"}}]
        }),
    )
    .await;
    let got = got.as_array().unwrap();
    let mut names: Vec<&str> = SERVICES.to_vec();
    names.sort_unstable();
    assert_eq!(got.len(), 3);
    for (bucket, name) in got.iter().zip(names) {
        assert_eq!(bucket["by"], json!({"service": name}));
        let mut values: Vec<f64> = (0..EVENTS)
            .filter(|&i| service(i) == name)
            .filter_map(duration)
            .collect();
        values.sort_by(f64::total_cmp);
        let having = (0..EVENTS)
            .filter(|&i| service(i) == name && (i == 59 || i % 5 != 0))
            .count();
        let sum: f64 = values.iter().sum();
        let c = &bucket["computes"];
        assert_eq!(c["c0"], number(sum), "{name} sum");
        let avg = c["c1"].as_f64().unwrap();
        assert!((avg - sum / values.len() as f64).abs() < 1e-9, "{name} avg");
        assert_eq!(c["c2"], number(values[0]), "{name} min");
        assert_eq!(c["c3"], number(values[values.len() - 1]), "{name} max");
        assert_eq!(c["c4"], json!(having), "{name} count of events having it");
        for (key, q) in [("c5", 0.5), ("c6", 0.9), ("c7", 0.99)] {
            let exact = values[(q * (values.len() - 1) as f64).floor() as usize];
            let estimate = c[key].as_f64().unwrap();
            assert!(
                (estimate - exact).abs() <= 0.01 * exact,
                "{name} {key}: {estimate} vs {exact}"
            );
        }
    }
}

#[tokio::test]
async fn aggregate_query_and_range_filter_the_events() {
    let f = fixture().await;
    let web = buckets(
        &f,
        json!({"filter": {
        "query": "service:web status:error",
        "from": START_MS.to_string(), "to": END_MS.to_string()}}),
    )
    .await;
    let expected = (0..EVENTS)
        .filter(|&i| service(i) == "web" && i % 4 == 0)
        .count();
    assert_eq!(web, json!([{"by": {}, "computes": {"c0": expected}}]));
    // Only the first five minutes (to is exclusive: event 20 is out).
    let first = buckets(
        &f,
        json!({"filter": {
        "from": START_MS.to_string(), "to": (START_MS + 300_000).to_string()}}),
    )
    .await;
    assert_eq!(first, json!([{"by": {}, "computes": {"c0": 20}}]));
    // The default range (now-15m .. now) holds nothing of the fixture.
    let recent = f
        .engine
        .aggregate(TENANT, &serde_json::from_str("{}").unwrap(), NOW_MS)
        .await
        .unwrap();
    assert!(recent.buckets.is_empty());
    assert_eq!(recent.status, Completeness::Done);
}

#[tokio::test]
async fn aggregate_empty_results_have_no_buckets() {
    let f = fixture().await;
    let none = buckets(
        &f,
        json!({"filter": {"query": "service:nope",
        "from": START_MS.to_string(), "to": END_MS.to_string()},
        "group_by": [{"facet": "service", "total": true}]}),
    )
    .await;
    assert_eq!(none, json!([]));
    let unknown_tenant = f
        .engine
        .aggregate("nobody", &request(json!({})), NOW_MS)
        .await
        .unwrap();
    assert!(unknown_tenant.buckets.is_empty());
}

#[tokio::test]
async fn aggregate_nested_group_by_with_limits_and_sorts() {
    let f = fixture().await;
    let got = buckets(
        &f,
        json!({
            "compute": [{"aggregation": "count"}, {"aggregation": "max", "metric": "@duration"}],
            "group_by": [
                {"facet": "service", "limit": 2,
                 "sort": {"aggregation": "max", "metric": "@duration", "order": "desc"}},
                {"facet": "host", "limit": 2, "sort": {"type": "alphabetical", "order": "desc"}}
            ]
        }),
    )
    .await;
    // Max numeric @duration per service (59 is "slow", 55 and 50 have none).
    let max_of = |name: &str| {
        (0..EVENTS)
            .filter(|&i| service(i) == name)
            .filter_map(duration)
            .fold(f64::MIN, f64::max)
    };
    let mut services: Vec<&str> = SERVICES.to_vec();
    services.sort_by(|a, b| max_of(b).total_cmp(&max_of(a)));
    let mut expected = Vec::new();
    for name in &services[..2] {
        let hosts: BTreeSet<i64> = (0..EVENTS)
            .filter(|&i| service(i) == *name)
            .map(|i| i % 7)
            .collect();
        for host in hosts.iter().rev().take(2) {
            let events: Vec<i64> = (0..EVENTS)
                .filter(|&i| service(i) == *name && i % 7 == *host)
                .collect();
            let max = events
                .iter()
                .filter_map(|&i| duration(i))
                .fold(f64::MIN, f64::max);
            expected.push(json!({
                "by": {"service": name, "host": format!("h{host}")},
                "computes": {"c0": events.len(), "c1": number(max)}
            }));
        }
    }
    assert_eq!(got, Value::Array(expected));
}

#[tokio::test]
async fn aggregate_missing_and_total_buckets() {
    let f = fixture().await;
    let count_env = |value: Option<&str>| (0..EVENTS).filter(|&i| env(i) == value).count();
    let without = buckets(&f, json!({"group_by": [{"facet": "env"}]})).await;
    assert_eq!(
        without,
        json!([
            {"by": {"env": "prod"}, "computes": {"c0": count_env(Some("prod"))}},
            {"by": {"env": "dev"}, "computes": {"c0": count_env(Some("dev"))}},
        ])
    );
    let with = buckets(
        &f,
        json!({"group_by": [{"facet": "env", "missing": "n/a", "limit": 1, "total": true}]}),
    )
    .await;
    assert_eq!(
        with,
        json!([
            {"by": {"env": "prod"}, "computes": {"c0": count_env(Some("prod"))}},
            {"by": {"env": "*"}, "computes": {"c0": EVENTS}},
        ])
    );
    let nested = buckets(
        &f,
        json!({"group_by": [
            {"facet": "team", "total": "everyone"},
            {"facet": "env", "missing": "n/a", "sort": {"type": "alphabetical"}}]}),
    )
    .await;
    let env_buckets = |team: &str| {
        [("dev", Some("dev")), ("n/a", None), ("prod", Some("prod"))].map(|(name, value)| {
            json!({"by": {"team": team, "env": name}, "computes": {"c0": count_env(value)}})
        })
    };
    let mut expected = env_buckets("core").to_vec();
    expected.extend(env_buckets("everyone"));
    assert_eq!(nested, Value::Array(expected));
}

#[tokio::test]
async fn aggregate_histogram_of_duration() {
    let f = fixture().await;
    let got = buckets(
        &f,
        json!({"group_by": [{"facet": "@duration",
            "histogram": {"interval": 100, "min": 100, "max": 399}}]}),
    )
    .await;
    let mut expected: BTreeMap<i64, usize> = BTreeMap::new();
    for value in (0..EVENTS).filter_map(duration) {
        if (100.0..=399.0).contains(&value) {
            *expected
                .entry(100 + ((value as i64 - 100) / 100) * 100)
                .or_default() += 1;
        }
    }
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|(bucket, n)| json!({"by": {"@duration": bucket}, "computes": {"c0": n}}))
        .collect();
    assert_eq!(expected.len(), 3);
    assert_eq!(got, Value::Array(expected));
}

#[tokio::test]
async fn aggregate_timeseries_buckets_by_service() {
    let f = fixture().await;
    let got = buckets(
        &f,
        json!({
            "compute": [
                {"aggregation": "count", "type": "timeseries", "interval": "5m"},
                {"aggregation": "sum", "metric": "@duration", "type": "timeseries", "interval": "5m"},
                {"aggregation": "count"}
            ],
            "group_by": [{"facet": "service", "sort": {"type": "alphabetical"}}]
        }),
    )
    .await;
    let times = [
        "2023-12-31T23:50:00.000Z",
        "2023-12-31T23:55:00.000Z",
        "2024-01-01T00:00:00.000Z",
    ];
    let mut names: Vec<&str> = SERVICES.to_vec();
    names.sort_unstable();
    let expected: Vec<Value> = names
        .iter()
        .map(|name| {
            let mut counts = Vec::new();
            let mut sums = Vec::new();
            for (slot, time) in times.iter().enumerate() {
                let events: Vec<i64> = (slot as i64 * 20..slot as i64 * 20 + 20)
                    .filter(|&i| service(i) == *name)
                    .collect();
                counts.push(json!({"time": time, "value": events.len()}));
                let values: Vec<f64> = events.iter().filter_map(|&i| duration(i)).collect();
                if !values.is_empty() {
                    sums.push(json!({"time": time, "value": number(values.iter().sum())}));
                }
            }
            json!({"by": {"service": name}, "computes": {
                "c0": counts, "c1": sums, "c2": EVENTS / 3}})
        })
        .collect();
    assert_eq!(got, Value::Array(expected));
}

#[tokio::test]
async fn aggregate_cardinality_and_events_without_the_metric() {
    let f = fixture().await;
    let got = buckets(
        &f,
        json!({"compute": [
            {"aggregation": "cardinality", "metric": "host"},
            {"aggregation": "cardinality", "metric": "env"},
            {"aggregation": "cardinality", "metric": "@duration"},
            {"aggregation": "avg", "metric": "@missing"},
            {"aggregation": "count", "metric": "@missing"},
            {"aggregation": "pc99", "metric": "@missing"}]}),
    )
    .await;
    // Every event with a @duration has a distinct one (numbers and strings).
    let durations = (0..EVENTS).filter(|&i| i == 59 || i % 5 != 0).count();
    assert_eq!(
        got,
        json!([{"by": {}, "computes": {
            "c0": 7, "c1": 2, "c2": durations, "c3": null, "c4": 0, "c5": null}}])
    );
}

#[tokio::test]
async fn aggregate_bad_requests_are_client_errors() {
    let f = fixture().await;
    let unknown = bad_request(
        &f,
        json!({"compute": [{"aggregation": "p50", "metric": "@d"}]}),
    )
    .await;
    assert!(unknown.contains("p50"), "{unknown}");
    let no_metric = bad_request(&f, json!({"compute": [{"aggregation": "avg"}]})).await;
    assert!(no_metric.contains("metric"), "{no_metric}");
    let product = bad_request(
        &f,
        json!({"group_by": [{"facet": "service", "limit": 101}, {"facet": "host", "limit": 100}]}),
    )
    .await;
    assert!(product.contains("10000"), "{product}");
    let histogram = bad_request(
        &f,
        json!({"group_by": [{"facet": "@duration", "histogram": {"interval": 1, "min": 0, "max": 1000}}]}),
    )
    .await;
    assert!(histogram.contains("buckets"), "{histogram}");
    let syntax = f
        .engine
        .aggregate(
            TENANT,
            &request(json!({"filter": {"query": "service:(web"}})),
            NOW_MS,
        )
        .await;
    assert!(matches!(syntax, Err(QueryError::Syntax(_))), "{syntax:?}");
    let time = bad_request(&f, json!({"filter": {"from": "yesterday"}})).await;
    assert!(!time.is_empty());
}

#[tokio::test]
async fn aggregate_a_spent_budget_returns_a_partial_answer() {
    let f = fixture_with(QueryLimits {
        scan_budget_rows: 30,
        ..QueryLimits::default()
    })
    .await;
    let response = aggregate(&f, json!({})).await;
    assert_eq!(response.status, Completeness::Timeout);
    let counted = response
        .buckets
        .first()
        .map_or(0, |b| b.computes["c0"].as_u64().unwrap());
    assert!(counted < EVENTS as u64, "{counted}");
}
