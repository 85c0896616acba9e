//! The query suite answers identically before and after compaction (issue 4,
//! storage lifecycle): searches (both orders, every page through cursors),
//! aggregations (counts with a missing group, timeseries, percentiles,
//! cardinality, nested groups) and SQL run over many small flushed
//! segments in two hour buckets plus the memtable, with a second tenant
//! alongside; then a `Compactor` merges the segments, the replaced objects
//! are deleted (grace 0), and every answer must be the same, byte for byte.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use strata_index::{lifecycle, CompactionConfig, Compactor, Index, IndexConfig, IoLimiter};
use strata_metastore::{Metastore, SqliteMetastore};
use strata_query::{AggregateRequest, Completeness, Engine, QueryLimits, SearchParams};
use strata_segment::SegmentOptions;
use strata_types::{AttrValue, Event, Status};

const TENANT: &str = "acme";
const OTHER: &str = "other";
/// 2024-01-01T00:00:00Z: the events straddle this hour boundary, so every
/// flush writes two segments.
const HOUR_MS: i64 = 1_704_067_200_000;
const FROM_MS: i64 = HOUR_MS - 3_600_000;
const TO_MS: i64 = HOUR_MS + 3_600_000;
/// Later than every event: `now` of the aggregations.
const NOW_MS: i64 = TO_MS + 3_600_000;
/// Flushed records of the tenant, each of `PER_RECORD` events.
const FLUSHES: usize = 8;
const PER_RECORD: usize = 23;

/// Event `i`: timestamps in `[HOUR - 30m, HOUR + 30m)`, with ties (pairs of
/// events share one), a missing service, several statuses, a `@duration`
/// that is an integer, a float, a numeric string or missing, and
/// single-typed `@bytes` and `@http.method`.
fn event(i: usize, tag: &str) -> Event {
    let second = (i / 2 * 773) % 3600;
    let ts_ms = HOUR_MS - 1_800_000 + second as i64 * 1000;
    let words = [
        "GET /api ok",
        "error: timeout",
        "retry later",
        "user=alice done",
    ];
    let mut event = Event::new(ts_ms * 1_000_000, format!("{} {tag} {i}", words[i % 4]));
    event.service = [Some("web"), Some("api"), Some("db"), None][i % 4].map(String::from);
    event.status = [
        Status::Info,
        Status::Error,
        Status::Warn,
        Status::Info,
        Status::Debug,
    ][i % 5];
    event.host = Some(format!("h{}", i % 5));
    event.tags = vec![
        ["env:prod", "env:test"][i % 2].to_string(),
        format!("batch:{tag}"),
    ];
    let duration = match i % 6 {
        0 => None,
        1 => Some(AttrValue::Float(i as f64 + 0.5)),
        2 => Some(AttrValue::Str((i * 3).to_string())),
        _ => Some(AttrValue::Int(i as i64 * 7)),
    };
    if let Some(duration) = duration {
        event.attributes.push(("duration".into(), duration));
    }
    event
        .attributes
        .push(("bytes".into(), AttrValue::Int(i as i64 * 11 % 1000)));
    let method = ["GET", "POST"][i % 3 % 2];
    event
        .attributes
        .push(("http.method".into(), AttrValue::Str(method.into())));
    // Issue 6: every ninth event is a span, for the `spans` view (whose
    // `duration` is left out of the suite: `@duration` here is mixed-type,
    // the known `_overflow` disagreement below).
    if i.is_multiple_of(9) {
        event.source = Some("span".into());
        event.trace_id = Some(format!("{:032x}", i / 18));
        event
            .attributes
            .push(("span_id".into(), AttrValue::Str(format!("{i:016x}"))));
        if !i.is_multiple_of(18) {
            let parent = format!("{:016x}", i - 9);
            event
                .attributes
                .push(("parent_id".into(), AttrValue::Str(parent)));
        }
    }
    if i.is_multiple_of(7) {
        event
            .attributes
            .push((format!("rare.{tag}"), AttrValue::Bool(i.is_multiple_of(2))));
    }
    event
}

struct Fixture {
    _dir: tempfile::TempDir,
    index: Arc<Index>,
    engine: Arc<Engine>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let metastore = SqliteMetastore::open(&dir.path().join("meta.sqlite"))
        .await
        .unwrap();
    for tenant in [TENANT, OTHER] {
        metastore.create_tenant(tenant, 0).await.unwrap();
    }
    let index = Arc::new(Index::new(
        IndexConfig {
            flush_bytes: 1 << 30,
            max_age: Duration::from_secs(3600),
            pressure_bytes: 1 << 40,
            segment: SegmentOptions {
                row_group_rows: 4,
                ..SegmentOptions::default()
            },
        },
        Arc::new(metastore) as Arc<dyn Metastore>,
        strata_storage::SegmentStore::open(
            &strata_storage::Backend::Local {
                root: dir.path().join("segments"),
            },
            None,
        )
        .unwrap(),
    ));
    let mut seq = 0;
    let mut next = |n: usize| {
        seq += 1;
        (seq, (seq as usize - 1) * n)
    };
    for flush in 0..FLUSHES {
        let (s, first) = next(PER_RECORD);
        let events = (first..first + PER_RECORD)
            .map(|i| event(i, &format!("f{flush}")))
            .collect();
        index.apply(s, TENANT, events);
        if flush % 3 == 0 {
            let (s, first) = next(PER_RECORD);
            let events = (first..first + 5).map(|i| event(i, "other")).collect();
            index.apply(s, OTHER, events);
        }
        index.flush_due(true).await.unwrap();
    }
    for _ in 0..2 {
        let (s, first) = next(PER_RECORD);
        let events = (first..first + PER_RECORD)
            .map(|i| event(i, "mem"))
            .collect();
        index.apply(s, TENANT, events);
    }
    let engine = Arc::new(Engine::new(Arc::clone(&index), QueryLimits::default()));
    Fixture {
        _dir: dir,
        index,
        engine,
    }
}

const SEARCHES: &[&str] = &[
    "*",
    "service:web",
    "status:error",
    "@duration:>100",
    "error",
    "-service:db",
    "env:prod @http.method:GET",
    "host:h1 OR host:h2",
    "@duration:*",
    "-@duration:*",
];

/// Every page of a search (limit 7), in both orders, following cursors:
/// the rows in full, the cursors and the statuses.
async fn search_pages(f: &Fixture, tenant: &str, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (from_ms, to_ms) in [(FROM_MS, TO_MS), (HOUR_MS - 600_000, HOUR_MS + 60_000)] {
        for ascending in [true, false] {
            let mut cursor = None;
            for _ in 0..200 {
                let params = SearchParams {
                    query: query.to_string(),
                    from_ms,
                    to_ms,
                    ascending,
                    limit: 7,
                    cursor: cursor.take(),
                };
                let page = f.engine.search(tenant, params).await.unwrap();
                assert_eq!(page.status, Completeness::Done, "{query}");
                out.push(format!(
                    "{:?} {:?} {:?}",
                    page.events, page.next, page.status
                ));
                match page.next {
                    Some(next) if !page.events.is_empty() => cursor = Some(next),
                    _ => break,
                }
            }
        }
    }
    out
}

fn aggregations() -> Vec<Value> {
    vec![
        json!({"group_by": [{"facet": "service", "missing": "(none)", "limit": 100}]}),
        json!({
            "compute": [
                {"aggregation": "count", "type": "timeseries", "interval": "5m"},
                {"aggregation": "sum", "metric": "@duration", "type": "timeseries", "interval": "10m"}
            ],
            "group_by": [{"facet": "service", "missing": "(none)", "sort": {"type": "alphabetical"}}]
        }),
        json!({
            "compute": [
                {"aggregation": "median", "metric": "@duration"},
                {"aggregation": "pc90", "metric": "@duration"},
                {"aggregation": "pc99", "metric": "@duration"},
                {"aggregation": "min", "metric": "@duration"},
                {"aggregation": "max", "metric": "@duration"},
                {"aggregation": "avg", "metric": "@duration"},
                {"aggregation": "sum", "metric": "@duration"}
            ],
            "group_by": [{"facet": "status"}]
        }),
        json!({
            "compute": [
                {"aggregation": "count"},
                {"aggregation": "cardinality", "metric": "host"},
                {"aggregation": "cardinality", "metric": "@duration"},
                {"aggregation": "cardinality", "metric": "env"}
            ]
        }),
        json!({
            "compute": [{"aggregation": "count"}, {"aggregation": "max", "metric": "@duration"}],
            "filter": {"query": "-status:debug", "from": FROM_MS.to_string(), "to": TO_MS.to_string()},
            "group_by": [
                {"facet": "service", "limit": 2, "total": true,
                 "sort": {"aggregation": "max", "metric": "@duration", "order": "desc"}},
                {"facet": "@http.method", "sort": {"type": "alphabetical", "order": "desc"}}
            ]
        }),
    ]
}

async fn aggregate(f: &Fixture, tenant: &str, body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut()
        .unwrap()
        .entry("filter")
        .or_insert_with(|| json!({"from": FROM_MS.to_string(), "to": TO_MS.to_string()}));
    let request: AggregateRequest = serde_json::from_value(body).unwrap();
    let response = f.engine.aggregate(tenant, &request, NOW_MS).await.unwrap();
    assert_eq!(response.status, Completeness::Done);
    serde_json::to_value(&response.buckets).unwrap()
}

const SQL: &[&str] = &[
    "SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY n DESC, service",
    "SELECT status, count(*) AS n, min(timestamp) AS first, max(timestamp) AS last \
     FROM logs GROUP BY status ORDER BY status",
    "SELECT id, timestamp, service, host, message, tags FROM logs \
     WHERE timestamp >= '2023-12-31T23:50:00Z' AND timestamp < '2024-01-01T00:05:00Z' \
     ORDER BY timestamp DESC, id LIMIT 40",
    // DataFusion reads any identifier that starts with `@` as a variable,
    // quoted or not: attribute columns are reachable qualified only.
    "SELECT logs.\"@http.method\" AS method, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1",
    "SELECT service, sum(logs.\"@bytes\") AS total, max(logs.\"@bytes\") AS top \
     FROM logs GROUP BY service ORDER BY service",
    "SELECT count(*) AS n, count(DISTINCT host) AS hosts FROM logs WHERE service = 'web'",
    "SELECT start, trace_id, span_id, parent_id, name, service, status, kind \
     FROM spans WHERE start >= '2023-12-31T23:40:00Z' ORDER BY start, span_id LIMIT 30",
    "SELECT c.trace_id, c.span_id, p.name AS parent FROM spans c JOIN spans p \
     ON c.parent_id = p.span_id AND c.trace_id = p.trace_id ORDER BY c.span_id",
];

async fn sql(f: &Fixture, tenant: &str, text: &str) -> String {
    let result = f.engine.sql(tenant, text).await.unwrap();
    assert_eq!(result.status, Completeness::Done, "{text}");
    format!(
        "{:?} {:?} truncated={}",
        result.columns, result.rows, result.truncated
    )
}

/// Every answer of the suite, labelled, for both tenants.
async fn answers(f: &Fixture) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tenant in [TENANT, OTHER] {
        for query in SEARCHES {
            for (i, page) in search_pages(f, tenant, query).await.into_iter().enumerate() {
                out.push((format!("{tenant} search {query:?} page {i}"), page));
            }
        }
        for (i, body) in aggregations().iter().enumerate() {
            let answer = aggregate(f, tenant, body).await;
            out.push((format!("{tenant} aggregate #{i}"), answer.to_string()));
        }
        for text in SQL {
            out.push((format!("{tenant} sql {text:?}"), sql(f, tenant, text).await));
        }
    }
    out
}

/// Merges every segment of both tenants (one per hour bucket), deletes the
/// replaced objects at once (grace 0) and drops their cached footers.
async fn compact(f: &Fixture) {
    let before = f.index.catalog(TENANT).len();
    assert_eq!(before, 2 * FLUSHES, "two hour buckets per flush");
    assert!(f.index.catalog(OTHER).len() > 2);
    let config = CompactionConfig {
        merge_factor: 4,
        max_merge_segments: 64,
        target_segment_rows: 1_000_000,
        cold_after: Duration::ZERO,
        grace: Duration::ZERO,
        segment: SegmentOptions {
            row_group_rows: 16,
            ..SegmentOptions::compaction()
        },
    };
    let io = Arc::new(IoLimiter::new(u64::MAX));
    let stats = Compactor::new(Arc::clone(&f.index), config, io)
        .run_once()
        .await
        .unwrap();
    assert_eq!(stats.conflicts, 0);
    assert_eq!(f.index.catalog(TENANT).len(), 2, "one segment per bucket");
    assert_eq!(f.index.catalog(OTHER).len(), 2);
    // The answers that follow come from the merged segments and the
    // memtable only: the replaced objects are gone.
    let deleted = lifecycle::delete_due(&*f.index.metastore(), f.index.store())
        .await
        .unwrap();
    assert_eq!(deleted as u64, stats.segments_in);
    f.engine.retain_segments(&f.index.catalog_ids());
}

#[tokio::test]
async fn the_query_suite_answers_identically_before_and_after_compaction() {
    let f = fixture().await;
    let before = answers(&f).await;
    compact(&f).await;
    let after = answers(&f).await;
    assert_eq!(before.len(), after.len(), "a different number of pages");
    // The spans view is not empty: span rows with their parent's name.
    let joined = before
        .iter()
        .find(|(label, _)| label.starts_with("acme sql") && label.contains("JOIN spans"))
        .expect("the spans join");
    assert!(joined.1.contains("\"0000000000000009\""), "{}", joined.1);
    for ((label, want), (_, got)) in before.iter().zip(&after) {
        assert_eq!(got, want, "{label} changed after compaction");
    }
}

/// Known disagreement, outside compaction: SQL does not see the values a
/// segment keeps in `_overflow` (the minority types of a mixed-type path),
/// so which `@duration` values SQL counts depends on how rows are spread
/// over segments, and merging changes it (tenant `other`: counts per
/// service and the type of `max` change). Search and aggregate read
/// `_overflow` and agree. Remove `ignore` once SQL reads `_overflow`.
#[tokio::test]
#[ignore = "SQL ignores _overflow values: answers depend on the segment layout"]
async fn sql_over_a_mixed_type_attribute_is_independent_of_the_segment_layout() {
    let f = fixture().await;
    let text = "SELECT service, count(logs.\"@duration\") AS n, \
                max(logs.\"@duration\") AS top FROM logs GROUP BY service ORDER BY service";
    let before = sql(&f, OTHER, text).await;
    compact(&f).await;
    assert_eq!(sql(&f, OTHER, text).await, before);
}
