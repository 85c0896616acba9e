//! `Engine::search` and `Engine::aggregate` against the naive reference
//! evaluator of `tests/reference`, over a real index whose data is split
//! across several Parquet segments (two hour buckets, small row groups) and
//! the memtable, with a second tenant alongside.
//!
//! The property test generates events with the awkward cases made common
//! (timestamp ties and exact range boundaries, missing attributes, mixed
//! types per path, arrays and arrays of objects, unicode, escaping-worthy
//! values) and queries as *text* from a grammar of the syntax, parses them
//! with `strata_query::parse` and compares every page of every search, in
//! both orders, and a grouped aggregation. The deterministic tests below
//! pin each edge case with hand-written answers, so that a failure reads
//! as a sentence.

mod reference;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use reference::Stored;
use serde_json::{json, Value};
use strata_index::{Index, IndexConfig};
use strata_metastore::{Metastore, SqliteMetastore};
use strata_query::{
    AggregateRequest, Completeness, Engine, Field, Predicate, Query, QueryLimits, SearchParams,
};
use strata_segment::{SegmentOptions, SegmentRow};
use strata_types::{event_id, AttrValue, Event, Status};

const TENANT: &str = "acme";
const OTHER: &str = "other";
/// 2 ms before 2024-01-01T00:00:00Z: the generated timestamps straddle an
/// hour boundary, so one flush writes two segments.
const BASE_MS: i64 = 1_704_067_200_000 - 2;
const BASE_NS: i64 = BASE_MS * 1_000_000;
/// Later than every event: `now` of the aggregations.
const NOW_MS: i64 = BASE_MS + 3_600_000;
/// Group of the events without a service in the aggregations.
const MISSING: &str = "(no service)";

// Known engine disagreements. Each is pinned by a deterministic test at the
// end of this file (which fails while it is open); while one is open, its
// inputs are kept out of the property test so that the property test keeps
// looking for *other* disagreements. Set to `true` once the engine is fixed.

/// `empty_reserved_fields_have_no_value`: empty `message`/`host` values are
/// not generated while this is `false`.
const EMPTY_RESERVED_SETTLED: bool = true;
/// `exists_sees_deeper_attribute_columns`: queries with `@a:*` on a path
/// that has deeper generated paths (`@http`, `@user`, `@items`) are skipped
/// while this is `false`.
const DEEPER_COLUMNS_FIXED: bool = true;

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

/// One WAL record: whose, which events, and whether to flush after it.
#[derive(Debug, Clone)]
struct Record {
    tenant: &'static str,
    events: Vec<Event>,
    flush_after: bool,
}

struct Fixture {
    _dir: tempfile::TempDir,
    index: Arc<Index>,
    engine: Arc<Engine>,
    /// Every event written, in write order, with its id.
    stored: Vec<Stored>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

async fn new_index(root: &Path) -> Arc<Index> {
    let metastore = SqliteMetastore::open(&root.join("meta.sqlite"))
        .await
        .unwrap();
    for tenant in [TENANT, OTHER] {
        metastore.create_tenant(tenant, 0).await.unwrap();
    }
    Arc::new(Index::new(
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
                root: root.join("segments"),
            },
            None,
        )
        .unwrap(),
    ))
}

/// Applies the records in order (sequence numbers from 1), flushing every
/// tenant after the records that ask for it.
async fn build(records: &[Record]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let index = new_index(dir.path()).await;
    let mut stored = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let seq = i as u64 + 1;
        for (j, event) in record.events.iter().enumerate() {
            stored.push(Stored {
                tenant: record.tenant.to_string(),
                id: event_id(seq, j as u32),
                event: event.clone(),
            });
        }
        index.apply(seq, record.tenant, record.events.clone());
        if record.flush_after {
            index.flush_due(true).await.unwrap();
        }
    }
    let engine = Arc::new(Engine::new(Arc::clone(&index), QueryLimits::default()));
    Fixture {
        _dir: dir,
        index,
        engine,
        stored,
    }
}

/// An event comparable across storage: attributes in a canonical order
/// (segments give them back sorted by key).
fn canonical(event: &Event) -> Event {
    let mut event = event.clone();
    event
        .attributes
        .sort_by(|a, b| (&a.0, format!("{:?}", a.1)).cmp(&(&b.0, format!("{:?}", b.1))));
    event
}

// ---------------------------------------------------------------------------
// Engine vs reference
// ---------------------------------------------------------------------------

/// Every page of a search, following cursors; checks the page shapes.
async fn engine_pages(
    f: &Fixture,
    tenant: &str,
    query: &str,
    (from_ms, to_ms): (i64, i64),
    ascending: bool,
    limit: usize,
) -> Result<Vec<Vec<SegmentRow>>, String> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let result = f
            .engine
            .search(
                tenant,
                SearchParams {
                    query: query.to_string(),
                    from_ms,
                    to_ms,
                    ascending,
                    limit,
                    cursor: cursor.take(),
                },
            )
            .await
            .map_err(|e| format!("search {query:?} failed: {e}"))?;
        if result.status != Completeness::Done {
            return Err(format!("search {query:?}: status {:?}", result.status));
        }
        if result.events.len() > limit {
            return Err(format!("search {query:?}: page longer than {limit}"));
        }
        let full = result.events.len() == limit;
        if full != result.next.is_some() {
            return Err(format!(
                "search {query:?}: page of {} (limit {limit}) with next = {:?}",
                result.events.len(),
                result.next
            ));
        }
        let empty = result.events.is_empty();
        if !empty || pages.is_empty() {
            pages.push(result.events);
        }
        match result.next {
            Some(next) if !empty => cursor = Some(next),
            _ => break,
        }
        if pages.len() > 200 {
            return Err(format!("search {query:?}: more than 200 pages"));
        }
    }
    Ok(pages)
}

fn describe(stored: &[Stored], ids: &[String]) -> String {
    ids.iter()
        .map(|id| match stored.iter().find(|s| &s.id == id) {
            Some(s) => format!("  {id} {:?}\n", s.event),
            None => format!("  {id} (unknown id)\n"),
        })
        .collect()
}

/// Search in both orders, following cursors, against the reference.
async fn compare_search(
    f: &Fixture,
    tenant: &str,
    text: &str,
    range: (i64, i64),
    limit: usize,
) -> Result<(), String> {
    let query = strata_query::parse(text).map_err(|e| e.to_string())?;
    for ascending in [true, false] {
        let want = reference::search(&f.stored, tenant, &query, range.0, range.1, ascending);
        let pages = engine_pages(f, tenant, text, range, ascending, limit).await?;
        let got: Vec<String> = pages.iter().flatten().map(|r| r.id.clone()).collect();
        if got != want {
            let extra: Vec<String> = got.iter().filter(|i| !want.contains(i)).cloned().collect();
            let lost: Vec<String> = want.iter().filter(|i| !got.contains(i)).cloned().collect();
            return Err(format!(
                "search {text:?} (parsed {query:?}) tenant {tenant} range {range:?} \
                 ascending {ascending} limit {limit}:\n engine {got:?}\n reference {want:?}\n\
                 engine only:\n{}reference only:\n{}",
                describe(&f.stored, &extra),
                describe(&f.stored, &lost)
            ));
        }
        for row in pages.iter().flatten() {
            let original = f.stored.iter().find(|s| s.id == row.id).unwrap();
            if canonical(&row.event) != canonical(&original.event) {
                return Err(format!(
                    "search {text:?}: event {} came back as {:?}, written as {:?}",
                    row.id, row.event, original.event
                ));
            }
        }
    }
    Ok(())
}

fn close(got: &Value, want: Option<f64>) -> bool {
    match (got.as_f64(), want) {
        (None, None) => got.is_null(),
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        _ => false,
    }
}

/// Count, count(@n), sum/min/max/avg(@n) grouped by service, against the
/// reference.
async fn compare_aggregate(
    f: &Fixture,
    tenant: &str,
    text: &str,
    (from_ms, to_ms): (i64, i64),
) -> Result<(), String> {
    let query = strata_query::parse(text).map_err(|e| e.to_string())?;
    let request: AggregateRequest = serde_json::from_value(json!({
        "compute": [
            {"aggregation": "count"},
            {"aggregation": "count", "metric": "@n"},
            {"aggregation": "sum", "metric": "@n"},
            {"aggregation": "min", "metric": "@n"},
            {"aggregation": "max", "metric": "@n"},
            {"aggregation": "avg", "metric": "@n"},
        ],
        "filter": {"query": text, "from": from_ms.to_string(), "to": to_ms.to_string()},
        "group_by": [{"facet": "service", "missing": MISSING, "limit": 1000}],
    }))
    .unwrap();
    let response = f
        .engine
        .aggregate(tenant, &request, NOW_MS)
        .await
        .map_err(|e| format!("aggregate {text:?} failed: {e}"))?;
    if response.status != Completeness::Done {
        return Err(format!("aggregate {text:?}: status {:?}", response.status));
    }
    let want =
        reference::aggregate_by_service(&f.stored, tenant, &query, from_ms, to_ms, "n", MISSING);
    let mut got: BTreeMap<String, Value> = BTreeMap::new();
    for bucket in &response.buckets {
        let key = bucket.by.get("service").cloned().unwrap_or(Value::Null);
        got.insert(key.to_string(), Value::Object(bucket.computes.clone()));
    }
    let fail = |what: &str| {
        Err(format!(
            "aggregate {text:?} (parsed {query:?}) tenant {tenant} range {:?}: {what}\n \
             engine {got:?}\n reference {want:?}",
            (from_ms, to_ms)
        ))
    };
    if got.keys().collect::<Vec<_>>() != want.keys().collect::<Vec<_>>() {
        return fail("different groups");
    }
    for (key, group) in &want {
        let c = &got[key];
        let counts = c["c0"] == json!(group.count) && c["c1"] == json!(group.with_metric);
        let numbers = close(&c["c2"], group.sum())
            && close(&c["c3"], group.min())
            && close(&c["c4"], group.max())
            && close(&c["c5"], group.avg());
        if !counts || !numbers {
            return fail(&format!("group {key} differs"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

const TS_OFFSETS_NS: [i64; 6] = [
    0, 1_000_000, // The hour boundary.
    2_000_000, 3_000_000, 3_500_000, 4_000_000,
];

const MESSAGE_WORDS: &[&str] = &[
    "error",
    "ERROR",
    "Error",
    "timeout",
    "échec",
    "ÉCHEC",
    "日本",
    "日本語",
    "naïve",
    "foo-bar",
    "foo",
    "bar",
    "foobar",
    "/api/v1",
    "a_b",
    "a:b",
    "hello world",
    "*star",
    "200",
    "200.5",
    "GET",
    "x.foo",
    "[ERROR]",
    "user=alice",
    "ti-ut",
    "10.0.0.7",
];
const SEPARATORS: &[&str] = &[" ", " ", " ", "-", "/", ", ", "."];
const TAGS: &[&str] = &[
    "env:prod",
    "env:test",
    "team:a",
    "solo",
    "ip:10.2.3.4",
    "env:prod",
];

fn status() -> impl Strategy<Value = Status> {
    select(vec![
        Status::Info,
        Status::Info,
        Status::Error,
        Status::Warn,
        Status::Ok,
        Status::Debug,
        Status::Emergency,
    ])
}

fn text_option(values: &[&'static str]) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(select(values.to_vec()).prop_map(String::from))
}

fn attr(values: Vec<AttrValue>) -> impl Strategy<Value = Option<AttrValue>> {
    proptest::option::weighted(0.5, select(values))
}

fn s(text: &str) -> AttrValue {
    AttrValue::Str(text.to_string())
}

fn j(text: &str) -> AttrValue {
    AttrValue::Json(text.to_string())
}

fn message() -> impl Strategy<Value = String> {
    // An empty message only once the empty-reserved-field issue is settled.
    let min_words = usize::from(!EMPTY_RESERVED_SETTLED);
    prop::collection::vec((select(MESSAGE_WORDS), select(SEPARATORS)), min_words..5).prop_map(
        |parts| {
            let mut text = String::new();
            for (i, (word, sep)) in parts.iter().enumerate() {
                if i > 0 {
                    text.push_str(sep);
                }
                text.push_str(word);
            }
            text
        },
    )
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(TAGS.to_vec(), 0..=3)
        .prop_map(|tags| tags.into_iter().map(String::from).collect())
}

fn code_values() -> Vec<AttrValue> {
    vec![
        AttrValue::Int(200),
        s("200"),
        AttrValue::Float(200.5),
        AttrValue::Bool(true),
        AttrValue::Int(404),
        s("abc"),
        AttrValue::Float(200.0),
        s("200.0"),
        AttrValue::Int(-2),
    ]
}

/// The aggregated metric: numbers, numeric and other strings, booleans,
/// arrays (first value counts), `null`.
fn n_values() -> Vec<AttrValue> {
    vec![
        AttrValue::Int(3),
        AttrValue::Int(-2),
        AttrValue::Int(10),
        AttrValue::Float(2.5),
        s("7"),
        s("x"),
        s("1e1"),
        AttrValue::Bool(false),
        j("[4,\"y\"]"),
        j("[\"y\",4]"),
        j("[]"),
        j("null"),
    ]
}

fn arr_values() -> Vec<AttrValue> {
    vec![
        j("[1,2,\"x\"]"),
        j("[]"),
        j("null"),
        j("{}"),
        s("x"),
        j("[[3],{\"k\":\"x\"}]"),
    ]
}

fn items_values() -> Vec<AttrValue> {
    vec![
        j(r#"[{"name":"a"},{"name":"b"}]"#),
        j(r#"[{"name":"c","id":1}]"#),
        j(r#"[{"name":"hello world"},{"other":"a"}]"#),
        j("[]"),
    ]
}

fn method_values() -> Vec<AttrValue> {
    vec![
        s("GET"),
        s("post"),
        s("hello world"),
        s("a:b"),
        s("*star"),
        s("échec"),
        s("ÉCHEC"),
        s(""),
    ]
}

fn ip_values() -> Vec<AttrValue> {
    vec![
        s("10.1.2.3"),
        s("192.168.1.20"),
        s("::ffff:10.9.9.9"),
        s("2001:db8::5"),
        s("garbage"),
        AttrValue::Int(7),
        j(r#"["10.0.0.1","8.8.8.8"]"#),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let head = (
        select(TS_OFFSETS_NS.to_vec()),
        status(),
        text_option(&["web", "api", "Web", "db-main"]),
        text_option(if EMPTY_RESERVED_SETTLED {
            &["h1", "h2", "10.0.0.7", ""]
        } else {
            &["h1", "h2", "10.0.0.7"]
        }),
        text_option(&["nginx"]),
        text_option(&["abc123"]),
    );
    let body = (message(), tags());
    let attrs = (
        attr(code_values()),
        proptest::option::weighted(0.1, select(code_values())),
        attr(n_values()),
        attr(arr_values()),
        attr(items_values()),
        proptest::option::weighted(0.2, select(vec![s("a"), s("z")])),
        attr(method_values()),
        attr(ip_values()),
        attr(vec![s("alice"), s("Bob"), s("")]),
        proptest::option::weighted(0.3, select(vec![AttrValue::Int(1), AttrValue::Int(2)])),
    );
    (head, body, attrs).prop_map(|(head, body, attrs)| {
        let (offset, status, service, host, source, trace_id) = head;
        let (message, tags) = body;
        let (code, code2, n, arr, items, items_flat, method, ip, user_name, user_id) = attrs;
        let mut event = Event::new(BASE_NS + offset, message);
        event.status = status;
        event.service = service;
        event.host = host;
        event.source = source;
        event.trace_id = trace_id;
        event.tags = tags;
        let paths = [
            ("code", code),
            ("code", code2),
            ("n", n),
            ("arr", arr),
            ("items", items),
            ("items.name", items_flat),
            ("http.method", method),
            ("ip", ip),
            ("user.name", user_name),
            ("user.id", user_id),
        ];
        for (path, value) in paths {
            if let Some(value) = value {
                event.attributes.push((path.to_string(), value));
            }
        }
        event
    })
}

/// Four to six records: the first two are the tenant's, non-empty and
/// flushed (so there are always several segments), the last is the
/// tenant's, non-empty and stays in the memtable; the middle ones may be
/// the other tenant's and may be flushed.
fn records() -> impl Strategy<Value = Vec<Record>> {
    let tenant = |events: Vec<Event>, flush_after: bool| Record {
        tenant: TENANT,
        events,
        flush_after,
    };
    (
        prop::collection::vec(event(), 1..10),
        prop::collection::vec(event(), 1..10),
        prop::collection::vec(
            (
                prop::bool::weighted(0.3),
                prop::collection::vec(event(), 0..10),
                any::<bool>(),
            ),
            1..4,
        ),
        prop::collection::vec(event(), 1..10),
    )
        .prop_map(move |(first, second, middle, last)| {
            let mut records = vec![tenant(first, true), tenant(second, true)];
            for (other, events, flush_after) in middle {
                records.push(Record {
                    tenant: if other { OTHER } else { TENANT },
                    events,
                    flush_after,
                });
            }
            records.push(tenant(last, false));
            records
        })
}

const FREE_WORDS: &[&str] = &[
    "error",
    "ERROR",
    "Error",
    "timeout",
    "échec",
    "ÉCHEC",
    "echec",
    "日本",
    "naïve",
    "NAÏVE",
    "naive",
    "foo",
    "bar",
    "foo-bar",
    "\\-bar",
    "/api/v1",
    "/api",
    "api",
    "v1",
    "a_b",
    "a",
    "b",
    "oo",
    "200",
    "200.5",
    "a\\:b",
    "hello\\ world",
    "hello",
    "world",
    "\\*star",
    "star",
    "x.foo",
    "[ERROR]",
    "user=alice",
    "GET",
    "get",
    "ti",
    "ut",
    "10.0.0.7",
];
const PHRASES: &[&str] = &[
    "\"hello world\"",
    "\"foo-bar\"",
    "\"*star\"",
    "\"a:b\"",
    "\"error timeout\"",
    "\"日本\"",
    "\"ÉCHEC naïve\"",
    "\"\"",
    "\"foo bar\"",
    "\"200.5\"",
    "\"world\"",
];
const WILDCARDS: &[&str] = &[
    "fo*", "*bar", "f?o", "err*", "ÉCH*", "éch?c", "ti*ut", "a?b", "*api*", "日*", "?", "foo*bar",
    "*.foo", "/api/*", "20?", "n*ve", "*", "*star", "hel*ld",
];
const FIELDS: &[&str] = &[
    "service",
    "host",
    "status",
    "source",
    "trace_id",
    "message",
    "tags",
    "env",
    "team",
    "solo",
    "ip",
    "@code",
    "@n",
    "@arr",
    "@items",
    "@items.name",
    "@http.method",
    "@http",
    "@ip",
    "@user.name",
    "@user",
    "*",
    "@nope",
];
const VALUES: &[&str] = &[
    "web",
    "Web",
    "api",
    "db-main",
    "h1",
    "10.0.0.7",
    "nginx",
    "abc123",
    "error",
    "ERR",
    "3",
    "info",
    "warn",
    "ok",
    "prod",
    "test",
    "a",
    "b",
    "c",
    "x",
    "y",
    "z",
    "env:prod",
    "solo",
    "200",
    "200.0",
    "200.5",
    "-2",
    "2.5",
    "4",
    "7",
    "abc",
    "true",
    "false",
    "GET",
    "get",
    "post",
    "alice",
    "Bob",
    "échec",
    "ÉCHEC",
    "hello\\ world",
    "a\\:b",
    "\\*star",
    "\"hello world\"",
    "\"a:b\"",
    "\"\"",
    "\"*star\"",
    "*",
    "w*",
    "*b",
    "?",
    "2*",
    "e*",
    "*a*",
    "20?",
    "*world",
    "ÉCH*",
    "[200 TO 300]",
    "{200 TO 404]",
    "[* TO 200}",
    "[a TO z]",
    "{b TO *]",
    "[1 TO 4]",
    "{-2 TO 2.5}",
    "[error TO info]",
    "[* TO *]",
    ">200",
    ">=200",
    "<3",
    "<=2.5",
    ">b",
    ">=-2",
    "<web",
    ">\"\"",
];
const CIDRS: &[&str] = &[
    "CIDR(@ip, 10.0.0.0/8)",
    "CIDR(@ip, 192.168.1.0/24, 2001:db8::/32)",
    "CIDR(host, 10.0.0.0/8)",
    "CIDR(@ip, 10.9.9.9)",
    "CIDR(@ip, ::ffff:0:0/96)",
    "CIDR(@ip, 0.0.0.0/0)",
    "CIDR(ip, 10.2.0.0/16)",
];

fn leaf_query() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(FREE_WORDS).prop_map(String::from),
        1 => select(PHRASES).prop_map(String::from),
        2 => select(WILDCARDS).prop_map(String::from),
        8 => (select(FIELDS), select(VALUES)).prop_map(|(f, v)| format!("{f}:{v}")),
        1 => select(CIDRS).prop_map(String::from),
        1 => (select(FIELDS), select(VALUES), select(VALUES))
            .prop_map(|(f, a, b)| format!("{f}:({a} OR {b})")),
    ]
}

fn query_text() -> impl Strategy<Value = String> {
    leaf_query().prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.clone().prop_map(|a| format!("NOT {a}")),
            inner.clone().prop_map(|a| format!("-{a}")),
            inner.clone().prop_map(|a| format!("({a})")),
        ]
    })
}

/// A search range in ms: usually everything, often a few ms with ends on
/// event timestamps, sometimes empty.
fn range() -> impl Strategy<Value = (i64, i64)> {
    prop_oneof![
        3 => Just((BASE_MS - 1, BASE_MS + 10)),
        2 => (-1i64..=5, 0i64..=4).prop_map(|(from, len)| (BASE_MS + from, BASE_MS + from + len)),
    ]
}

/// One generated case: every query in both orders and aggregated, and the
/// first one again for the other tenant.
async fn check_case(
    records: &[Record],
    queries: &[String],
    ranges: &[(i64, i64)],
    limit: usize,
) -> Result<(), String> {
    let f = build(records).await;
    let snapshot = f.index.snapshot(TENANT, i64::MIN, i64::MAX);
    if snapshot.segments.len() < 2 || snapshot.chunks.is_empty() {
        return Err(format!(
            "fixture not split: {} segments, {} memtable chunks",
            snapshot.segments.len(),
            snapshot.chunks.len()
        ));
    }
    let parsed: Vec<(&String, &(i64, i64))> = queries
        .iter()
        .zip(ranges)
        .filter(|(text, _)| match strata_query::parse(text) {
            Ok(query) => DEEPER_COLUMNS_FIXED || !exists_above_deeper_paths(&query),
            Err(_) => false,
        })
        .collect();
    for (text, range) in &parsed {
        compare_search(&f, TENANT, text, **range, limit).await?;
        compare_aggregate(&f, TENANT, text, **range).await?;
    }
    if let Some((text, range)) = parsed.first() {
        compare_search(&f, OTHER, text, **range, limit).await?;
        compare_aggregate(&f, OTHER, text, **range).await?;
    }
    Ok(())
}

/// Whether `query` tests `@a:*` where `a` is a strict prefix of a generated
/// attribute path (see [`DEEPER_COLUMNS_FIXED`]).
fn exists_above_deeper_paths(query: &Query) -> bool {
    match query {
        Query::And(items) | Query::Or(items) => items.iter().any(exists_above_deeper_paths),
        Query::Not(inner) => exists_above_deeper_paths(inner),
        Query::Match {
            field: Field::Attribute(path),
            predicate: Predicate::Exists,
        } => ["http", "user", "items"].contains(&path.as_str()),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn search_and_aggregate_agree_with_the_reference(
        records in records(),
        queries in prop::collection::vec(query_text(), 4),
        ranges in prop::collection::vec(range(), 4),
        limit in select(vec![1usize, 2, 3, 7, 1000]),
    ) {
        runtime()
            .block_on(check_case(&records, &queries, &ranges, limit))
            .map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------
// Deterministic edge cases
// ---------------------------------------------------------------------------

/// The whole range of the deterministic fixtures.
const ALL: (i64, i64) = (BASE_MS - 1, BASE_MS + 100);

/// Event `i` of a deterministic fixture: `i` ms after `BASE_MS`, so index
/// order is time order.
fn ev(i: usize, message: &str, attributes: &[(&str, AttrValue)]) -> Event {
    let mut event = Event::new(BASE_NS + i as i64 * 1_000_000, message.to_string());
    event.attributes = attributes
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    event
}

/// The tenant's events spread over two flushed records (two flushes, and
/// the timestamps straddle an hour boundary: several segments) and the
/// memtable: event `i` goes to record `i % 3`. The other tenant gets a copy
/// of every event. Returns the fixture and the id of each event.
async fn split(events: &[Event]) -> (Fixture, Vec<String>) {
    let part = |r: usize| -> Vec<Event> {
        events
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 == r)
            .map(|(_, e)| e.clone())
            .collect()
    };
    let records = vec![
        Record {
            tenant: TENANT,
            events: part(0),
            flush_after: true,
        },
        Record {
            tenant: OTHER,
            events: events.to_vec(),
            flush_after: false,
        },
        Record {
            tenant: TENANT,
            events: part(1),
            flush_after: true,
        },
        Record {
            tenant: TENANT,
            events: part(2),
            flush_after: false,
        },
    ];
    let seqs = [1u64, 3, 4];
    let ids = (0..events.len())
        .map(|i| event_id(seqs[i % 3], (i / 3) as u32))
        .collect();
    (build(&records).await, ids)
}

fn labels(ids: &[String], all: &[String]) -> Vec<usize> {
    ids.iter()
        .map(|id| all.iter().position(|a| a == id).unwrap_or(usize::MAX))
        .collect()
}

/// `query` matches exactly the events `want` (indices, ascending), says the
/// reference, and the engine agrees in both orders.
async fn expect(f: &Fixture, ids: &[String], query: &str, want: &[usize]) {
    let parsed = strata_query::parse(query).unwrap();
    let reference = reference::search(&f.stored, TENANT, &parsed, ALL.0, ALL.1, true);
    assert_eq!(
        labels(&reference, ids),
        want,
        "the reference answers {query:?} wrongly"
    );
    for ascending in [true, false] {
        let pages = engine_pages(f, TENANT, query, ALL, ascending, 1000)
            .await
            .unwrap();
        let got: Vec<String> = pages.iter().flatten().map(|r| r.id.clone()).collect();
        let mut want = want.to_vec();
        if !ascending {
            want.reverse();
        }
        assert_eq!(
            labels(&got, ids),
            want,
            "the engine answers {query:?} wrongly (ascending: {ascending})"
        );
    }
}

fn run<F: std::future::Future<Output = ()>>(test: F) {
    runtime().block_on(test);
}

#[test]
fn missing_attributes() {
    run(async {
        let events = [
            ev(0, "m0", &[("code", AttrValue::Int(200))]),
            ev(1, "m1", &[]),
            ev(2, "m2", &[("code", j("null"))]),
            ev(3, "m3", &[("code", j("[]"))]),
            ev(4, "m4", &[("code", s(""))]),
            ev(5, "m5", &[("code.sub", AttrValue::Int(1))]),
            ev(6, "m6", &[("code", j("{}"))]),
        ];
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "@code:*", &[0, 4, 5]).await;
        expect(&f, &ids, "-@code:*", &[1, 2, 3, 6]).await;
        expect(&f, &ids, "@code:200", &[0]).await;
        expect(&f, &ids, "-@code:200", &[1, 2, 3, 4, 5, 6]).await;
        expect(&f, &ids, "@code:\"\"", &[4]).await;
        expect(&f, &ids, "@code.sub:1", &[5]).await;
        expect(&f, &ids, "@code:[* TO *]", &[0, 4]).await;
        expect(&f, &ids, "@nope:*", &[]).await;
        expect(&f, &ids, "NOT @nope:*", &[0, 1, 2, 3, 4, 5, 6]).await;
    });
}

#[test]
fn arrays_and_arrays_of_objects() {
    run(async {
        let events = [
            ev(0, "a0", &[("arr", j(r#"[1,2,"x"]"#))]),
            ev(1, "a1", &[("items", j(r#"[{"name":"a"},{"name":"b"}]"#))]),
            ev(2, "a2", &[("items.name", s("a"))]),
            ev(
                3,
                "a3",
                &[("items", j(r#"[{"name":"c","tags":["a","d"]}]"#))],
            ),
            ev(4, "a4", &[("arr", j("[]"))]),
            ev(5, "a5", &[("arr", j(r#"[[3],{"k":"x"}]"#))]),
        ];
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "@arr:x", &[0]).await;
        expect(&f, &ids, "@arr:2", &[0]).await;
        expect(&f, &ids, "@arr:3", &[5]).await;
        expect(&f, &ids, "@arr:>1", &[0, 5]).await;
        expect(&f, &ids, "@arr.k:x", &[5]).await;
        expect(&f, &ids, "@arr:*", &[0, 5]).await;
        expect(&f, &ids, "-@arr:*", &[1, 2, 3, 4]).await;
        expect(&f, &ids, "@items.name:a", &[1, 2]).await;
        expect(&f, &ids, "@items.name:b", &[1]).await;
        expect(&f, &ids, "@items.name:c", &[3]).await;
        expect(&f, &ids, "@items.tags:d", &[3]).await;
        expect(&f, &ids, "@items.name:[a TO b]", &[1, 2]).await;
        expect(&f, &ids, "@items:*", &[1, 2, 3]).await;
        expect(&f, &ids, "*:x", &[0, 5]).await;
        expect(&f, &ids, "*:a", &[1, 2, 3]).await;
    });
}

#[test]
fn mixed_types_per_attribute() {
    run(async {
        let events = [
            ev(0, "t0", &[("code", AttrValue::Int(200))]),
            ev(1, "t1", &[("code", s("200"))]),
            ev(2, "t2", &[("code", AttrValue::Float(200.5))]),
            ev(3, "t3", &[("code", AttrValue::Bool(true))]),
            ev(4, "t4", &[("code", AttrValue::Float(200.0))]),
            ev(5, "t5", &[("code", s("200.0"))]),
            ev(6, "t6", &[("code", s("abc"))]),
            ev(7, "t7", &[("code", AttrValue::Int(404))]),
        ];
        let (f, ids) = split(&events).await;
        // Numbers compare numerically; a string attribute as text.
        expect(&f, &ids, "@code:200", &[0, 1, 4]).await;
        expect(&f, &ids, "@code:\"200\"", &[0, 1, 4]).await;
        expect(&f, &ids, "@code:200.0", &[0, 4, 5]).await;
        expect(&f, &ids, "@code:200.5", &[2]).await;
        expect(&f, &ids, "@code:true", &[3]).await;
        // Comparisons: numeric when both sides are numbers (numeric strings
        // included), else lexical ("true" and "abc" sort after "200").
        expect(&f, &ids, "@code:>=200", &[0, 1, 2, 3, 4, 5, 6, 7]).await;
        expect(&f, &ids, "@code:>200", &[2, 3, 6, 7]).await;
        expect(&f, &ids, "@code:[200 TO 300}", &[0, 1, 2, 4, 5]).await;
        expect(&f, &ids, "@code:{200 TO 404]", &[2, 7]).await;
        expect(&f, &ids, "@code:<3", &[]).await;
        // Wildcards look at the text form.
        expect(&f, &ids, "@code:2*", &[0, 1, 2, 4, 5]).await;
        expect(&f, &ids, "@code:a*", &[6]).await;
    });
}

#[test]
fn unicode_free_text() {
    run(async {
        let events = [
            ev(0, "ÉCHEC total", &[]),
            ev(1, "un échec", &[("http.method", s("échec"))]),
            ev(2, "naïve approach", &[]),
            ev(3, "日本 東京", &[]),
            ev(4, "日本語", &[]),
            ev(5, "echec", &[]),
        ];
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "échec", &[0, 1]).await;
        expect(&f, &ids, "ÉCHEC", &[0, 1]).await;
        expect(&f, &ids, "echec", &[5]).await;
        expect(&f, &ids, "naïve", &[2]).await;
        expect(&f, &ids, "NAÏVE", &[2]).await;
        expect(&f, &ids, "naive", &[]).await;
        expect(&f, &ids, "日本", &[3]).await;
        // 本 is inside the word 日本: no match.
        expect(&f, &ids, "本", &[]).await;
        expect(&f, &ids, "日本*", &[3, 4]).await;
        expect(&f, &ids, "éch?c", &[0, 1]).await;
        expect(&f, &ids, "ÉCH*", &[0, 1]).await;
        expect(&f, &ids, "\"un ÉCHEC\"", &[1]).await;
        expect(&f, &ids, "message:ÉCHEC", &[0, 1]).await;
        expect(&f, &ids, "*:ÉCHEC", &[0, 1]).await;
        // Attributes compare case-sensitively.
        expect(&f, &ids, "@http.method:ÉCHEC", &[]).await;
        expect(&f, &ids, "@http.method:échec", &[1]).await;
    });
}

#[test]
fn escaping_and_punctuation() {
    run(async {
        let events = [
            ev(0, "a:b c", &[]),
            ev(1, "hello world", &[]),
            ev(2, "*star", &[]),
            ev(3, "star", &[]),
            ev(4, "x", &[("http.method", s("a:b"))]),
            ev(5, "x", &[("http.method", s("hello world"))]),
            ev(6, "x", &[("http.method", s("*star"))]),
            ev(7, "foo-bar /api/v1 a_b", &[]),
        ];
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "a\\:b", &[0]).await;
        expect(&f, &ids, "hello\\ world", &[1]).await;
        expect(&f, &ids, "\"hello world\"", &[1]).await;
        expect(&f, &ids, "\\*star", &[2]).await;
        expect(&f, &ids, "\"*star\"", &[2]).await;
        expect(&f, &ids, "star", &[2, 3]).await;
        expect(&f, &ids, "*star", &[2, 3]).await;
        expect(&f, &ids, "@http.method:a\\:b", &[4]).await;
        expect(&f, &ids, "@http.method:\"a:b\"", &[4]).await;
        expect(&f, &ids, "@http.method:hello\\ world", &[5]).await;
        expect(&f, &ids, "@http.method:\\*star", &[6]).await;
        expect(&f, &ids, "@http.method:*star", &[6]).await;
        expect(&f, &ids, "@http.method:\\*st*", &[6]).await;
        expect(&f, &ids, "foo", &[7]).await;
        expect(&f, &ids, "bar", &[7]).await;
        expect(&f, &ids, "\\-bar", &[7]).await;
        expect(&f, &ids, "/api", &[7]).await;
        expect(&f, &ids, "/api/v1", &[7]).await;
        expect(&f, &ids, "a_b", &[7]).await;
        // `a_b` is one word; `a` in `a:b c` is a whole word.
        expect(&f, &ids, "a", &[0]).await;
        expect(&f, &ids, "x", &[4, 5, 6]).await;
    });
}

#[test]
fn reserved_fields_status_and_tags() {
    run(async {
        let mut events = vec![
            ev(0, "s0", &[]),
            ev(1, "s1", &[]),
            ev(2, "s2", &[]),
            ev(3, "s3", &[]),
        ];
        events[0].status = Status::Error;
        events[0].tags = vec!["env:prod".into(), "solo".into()];
        events[0].service = Some("web".into());
        events[1].status = Status::Warn;
        events[1].tags = vec!["env:test".into(), "team:a".into()];
        events[1].service = Some("Web".into());
        events[2].tags = vec!["env:prod".into(), "env:test".into()];
        events[3].status = Status::Emergency;
        events[3].service = Some("api".into());
        events[3].source = Some("nginx".into());
        events[3].trace_id = Some("abc123".into());
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "status:ERR", &[0]).await;
        expect(&f, &ids, "status:3", &[0]).await;
        expect(&f, &ids, "status:error", &[0]).await;
        expect(&f, &ids, "status:warning", &[1]).await;
        expect(&f, &ids, "status:W*", &[1]).await;
        expect(&f, &ids, "status:e*", &[0, 3]).await;
        expect(&f, &ids, "status:fatal", &[3]).await;
        expect(&f, &ids, "status:[a TO f]", &[0, 3]).await;
        expect(&f, &ids, "env:prod", &[0, 2]).await;
        expect(&f, &ids, "tags:env:prod", &[0, 2]).await;
        expect(&f, &ids, "env:*", &[0, 1, 2]).await;
        expect(&f, &ids, "-env:*", &[3]).await;
        expect(&f, &ids, "tags:solo", &[0]).await;
        expect(&f, &ids, "solo:*", &[]).await;
        expect(&f, &ids, "tags:*", &[0, 1, 2]).await;
        expect(&f, &ids, "team:a", &[1]).await;
        expect(&f, &ids, "env:(prod OR test)", &[0, 1, 2]).await;
        expect(&f, &ids, "env:prod env:test", &[2]).await;
        expect(&f, &ids, "service:web", &[0]).await;
        expect(&f, &ids, "service:Web", &[1]).await;
        expect(&f, &ids, "service:*", &[0, 1, 3]).await;
        expect(&f, &ids, "service:w*", &[0]).await;
        expect(&f, &ids, "source:nginx", &[3]).await;
        expect(&f, &ids, "trace_id:abc123", &[3]).await;
    });
}

#[test]
fn cidr_on_attributes_and_host() {
    run(async {
        let mut events = vec![
            ev(0, "c0", &[("ip", s("10.1.2.3"))]),
            ev(1, "c1", &[("ip", s("::ffff:10.9.9.9"))]),
            ev(2, "c2", &[("ip", j(r#"["8.8.8.8","10.0.0.1"]"#))]),
            ev(3, "c3", &[("ip", s("garbage"))]),
            ev(4, "c4", &[("ip", AttrValue::Int(7))]),
            ev(5, "c5", &[("ip", s("2001:db8::5"))]),
            ev(6, "c6", &[("ip", s("192.168.1.20"))]),
        ];
        events[5].host = Some("10.0.0.7".into());
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "CIDR(@ip, 10.0.0.0/8)", &[0, 1, 2]).await;
        expect(
            &f,
            &ids,
            "CIDR(@ip, 192.168.1.0/24, 2001:db8::/32)",
            &[5, 6],
        )
        .await;
        expect(&f, &ids, "CIDR(host, 10.0.0.0/8)", &[5]).await;
        expect(&f, &ids, "-CIDR(@ip, 10.0.0.0/8)", &[3, 4, 5, 6]).await;
        expect(&f, &ids, "CIDR(@ip, 0.0.0.0/0)", &[0, 1, 2, 6]).await;
    });
}

/// Events exactly on the ends of the time range and of attribute ranges.
#[test]
fn range_boundaries() {
    run(async {
        // Offsets in ns from BASE: on and next to whole milliseconds; 2 ms
        // is an hour boundary.
        let offsets = [
            0, 999_999, 1_000_000, 2_000_000, 2_999_999, 3_000_000, 4_000_000,
        ];
        let events: Vec<Event> = offsets
            .iter()
            .enumerate()
            .map(|(i, offset)| {
                let mut e = Event::new(BASE_NS + offset, format!("r{i}"));
                e.service = Some("web".into());
                e.attributes.push(("n".into(), AttrValue::Int(i as i64)));
                e
            })
            .collect();
        let (f, ids) = split(&events).await;
        let search = |from: i64, to: i64| {
            let f = &f;
            let ids = &ids;
            async move {
                let pages =
                    engine_pages(f, TENANT, "*", (BASE_MS + from, BASE_MS + to), true, 1000)
                        .await
                        .unwrap();
                let got: Vec<String> = pages.iter().flatten().map(|r| r.id.clone()).collect();
                labels(&got, ids)
            }
        };
        assert_eq!(search(1, 3).await, vec![2, 3, 4], "[+1ms, +3ms)");
        assert_eq!(search(0, 1).await, vec![0, 1], "[+0ms, +1ms)");
        assert_eq!(search(3, 5).await, vec![5, 6], "[+3ms, +5ms)");
        assert_eq!(search(2, 2).await, Vec::<usize>::new(), "empty range");
        assert_eq!(
            search(2, 3).await,
            vec![3, 4],
            "[+2ms, +3ms) across the hour"
        );
        for (from, to) in [(1, 3), (0, 1), (2, 2), (-1, 10)] {
            compare_search(&f, TENANT, "*", (BASE_MS + from, BASE_MS + to), 2)
                .await
                .unwrap();
            compare_aggregate(&f, TENANT, "*", (BASE_MS + from, BASE_MS + to))
                .await
                .unwrap();
        }
        let request: AggregateRequest = serde_json::from_value(json!({
            "compute": [{"aggregation": "count"}, {"aggregation": "sum", "metric": "@n"}],
            "filter": {"from": (BASE_MS + 1).to_string(), "to": (BASE_MS + 3).to_string()},
        }))
        .unwrap();
        let response = f.engine.aggregate(TENANT, &request, NOW_MS).await.unwrap();
        assert_eq!(
            serde_json::to_value(&response.buckets).unwrap(),
            json!([{"by": {}, "computes": {"c0": 3, "c1": 9}}])
        );
        expect(&f, &ids, "@n:[2 TO 4]", &[2, 3, 4]).await;
        expect(&f, &ids, "@n:{2 TO 4}", &[3]).await;
        expect(&f, &ids, "@n:[2 TO 4}", &[2, 3]).await;
        expect(&f, &ids, "@n:{2 TO 4]", &[3, 4]).await;
        expect(&f, &ids, "@n:>=5", &[5, 6]).await;
        expect(&f, &ids, "@n:>5", &[6]).await;
        expect(&f, &ids, "@n:[* TO 1]", &[0, 1]).await;
        expect(&f, &ids, "@n:{5 TO *}", &[6]).await;
    });
}

/// The numbers rules of aggregate.rs: numeric strings count, booleans and
/// text do not, an array counts by its first value, `null` is no value.
#[test]
fn aggregate_numeric_rules() {
    run(async {
        let web = [
            AttrValue::Int(3),
            AttrValue::Float(2.5),
            s("7"),
            s("x"),
            AttrValue::Bool(false),
            j(r#"[4,"y"]"#),
            j(r#"["y",4]"#),
            j("null"),
        ];
        let mut events: Vec<Event> = web
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let mut e = ev(i, "w", &[("n", n.clone())]);
                e.service = Some("web".into());
                e
            })
            .collect();
        let mut no_metric = ev(8, "w", &[]);
        no_metric.service = Some("web".into());
        events.push(no_metric);
        for (i, n) in [(9, AttrValue::Int(10)), (10, s("1e1"))] {
            let mut e = ev(i, "a", &[("n", n)]);
            e.service = Some("api".into());
            events.push(e);
        }
        events.push(ev(11, "none", &[("n", AttrValue::Int(-2))]));
        let (f, _) = split(&events).await;
        compare_aggregate(&f, TENANT, "*", ALL).await.unwrap();
        let request: AggregateRequest = serde_json::from_value(json!({
            "compute": [
                {"aggregation": "count"},
                {"aggregation": "count", "metric": "@n"},
                {"aggregation": "sum", "metric": "@n"},
                {"aggregation": "min", "metric": "@n"},
                {"aggregation": "max", "metric": "@n"},
                {"aggregation": "avg", "metric": "@n"},
            ],
            "filter": {"from": ALL.0.to_string(), "to": ALL.1.to_string()},
            "group_by": [{"facet": "service", "missing": MISSING, "sort": {"type": "alphabetical"}}],
        }))
        .unwrap();
        let response = f.engine.aggregate(TENANT, &request, NOW_MS).await.unwrap();
        assert_eq!(
            serde_json::to_value(&response.buckets).unwrap(),
            json!([
                {"by": {"service": MISSING}, "computes": {"c0": 1, "c1": 1, "c2": -2, "c3": -2, "c4": -2, "c5": -2}},
                {"by": {"service": "api"}, "computes": {"c0": 2, "c1": 2, "c2": 20, "c3": 10, "c4": 10, "c5": 10}},
                {"by": {"service": "web"}, "computes": {"c0": 9, "c1": 7, "c2": 16.5, "c3": 2.5, "c4": 7, "c5": 4.125}},
            ])
        );
    });
}

/// Every storage kind holds part of the answer: two flushes over an hour
/// boundary (several segments) and the memtable.
#[test]
fn data_split_across_memtable_and_segments() {
    run(async {
        let events: Vec<Event> = (0..12)
            .map(|i| {
                let mut e = ev(
                    i % 5,
                    &format!("split {i}"),
                    &[("n", AttrValue::Int(i as i64))],
                );
                e.service = Some(["web", "api"][i % 2].into());
                e
            })
            .collect();
        let (f, ids) = split(&events).await;
        let snapshot = f.index.snapshot(TENANT, i64::MIN, i64::MAX);
        assert!(
            snapshot.segments.len() >= 3,
            "{} segments",
            snapshot.segments.len()
        );
        assert!(!snapshot.chunks.is_empty(), "no memtable chunk");
        expect(
            &f,
            &ids,
            "split",
            &sorted_by_time(&f, &ids, (0..12).collect()),
        )
        .await;
        for query in ["*", "split", "service:web", "@n:>=6"] {
            compare_search(&f, TENANT, query, ALL, 1000).await.unwrap();
            compare_aggregate(&f, TENANT, query, ALL).await.unwrap();
        }
    });
}

/// `want` (indices) in `(timestamp, id)` order.
fn sorted_by_time(f: &Fixture, ids: &[String], mut want: Vec<usize>) -> Vec<usize> {
    let ts = |i: usize| {
        f.stored
            .iter()
            .find(|s| s.id == ids[i] && s.tenant == TENANT)
            .unwrap()
            .event
            .timestamp_ns
    };
    want.sort_by(|&a, &b| (ts(a), &ids[a]).cmp(&(ts(b), &ids[b])));
    want
}

/// A segment's skip index never hides a match: every value below exists
/// only in the first flushed segment.
#[test]
fn skip_index_never_hides_a_match() {
    run(async {
        let mut rare = ev(
            0,
            "zebra crossing",
            &[
                ("code", AttrValue::Int(777)),
                ("http.method", s("PATCH")),
                ("arr", j("[777]")),
                ("sn", s("12")),
                ("items", j(r#"[{"name":"zed"}]"#)),
                ("f", AttrValue::Float(0.25)),
            ],
        );
        rare.service = Some("rare-svc".into());
        rare.host = Some("rare-host".into());
        rare.source = Some("rare-src".into());
        rare.trace_id = Some("tr-rare".into());
        rare.tags = vec!["team:rare".into()];
        rare.status = Status::Emergency;
        let ordinary = |i: usize| {
            let mut e = ev(
                i,
                "ordinary log line",
                &[
                    ("code", AttrValue::Int(200)),
                    ("http.method", s("GET")),
                    ("arr", j("[1]")),
                    ("sn", s("3")),
                    ("items", j(r#"[{"name":"a"}]"#)),
                    ("f", AttrValue::Float(1.5)),
                ],
            );
            e.service = Some("web".into());
            e.host = Some("h1".into());
            e.tags = vec!["team:a".into()];
            e
        };
        let records = vec![
            Record {
                tenant: TENANT,
                events: vec![rare, ordinary(1)],
                flush_after: true,
            },
            Record {
                tenant: TENANT,
                events: vec![ordinary(2), ordinary(3)],
                flush_after: true,
            },
            Record {
                tenant: TENANT,
                events: vec![ordinary(4)],
                flush_after: false,
            },
        ];
        let f = build(&records).await;
        let ids: Vec<String> = f.stored.iter().map(|s| s.id.clone()).collect();
        for query in [
            "zebra",
            "ZEBRA",
            "Zeb*",
            "\"zebra crossing\"",
            "crossing zebra",
            "zebra OR nothing",
            "-ordinary",
            "service:rare-svc",
            "NOT service:web",
            "host:rare-host",
            "source:rare-src",
            "team:rare",
            "tags:team:rare",
            "trace_id:tr-rare",
            "status:emergency",
            "@code:777",
            "@code:>700",
            "@code:[770 TO 780]",
            "@http.method:PATCH",
            "@http.method:PAT*",
            "*:PATCH",
            "*:zebra",
            "@arr:777",
            "@arr:>500",
            "@sn:12",
            "@sn:>10",
            "@items.name:zed",
            "@f:<0.5",
            "@f:0.25",
        ] {
            expect(&f, &ids, query, &[0]).await;
            compare_aggregate(&f, TENANT, query, ALL).await.unwrap();
        }
    });
}

#[test]
fn tenants_are_isolated() {
    run(async {
        let mine: Vec<Event> = (0..6).map(|i| ev(i, "shared words", &[])).collect();
        let mut theirs = mine.clone();
        theirs.push(ev(6, "leak only theirs", &[]));
        let records = vec![
            Record {
                tenant: TENANT,
                events: mine[..3].to_vec(),
                flush_after: false,
            },
            Record {
                tenant: OTHER,
                events: theirs,
                flush_after: true,
            },
            Record {
                tenant: TENANT,
                events: mine[3..].to_vec(),
                flush_after: false,
            },
        ];
        let f = build(&records).await;
        let ids: Vec<String> = f.stored.iter().map(|s| s.id.clone()).collect();
        expect(&f, &ids, "leak", &[]).await;
        expect(&f, &ids, "shared", &[0, 1, 2, 10, 11, 12]).await;
        for tenant in [TENANT, OTHER] {
            for query in ["*", "leak", "shared"] {
                compare_search(&f, tenant, query, ALL, 4).await.unwrap();
                compare_aggregate(&f, tenant, query, ALL).await.unwrap();
            }
        }
        let other = reference::search(
            &f.stored,
            OTHER,
            &strata_query::parse("leak").unwrap(),
            ALL.0,
            ALL.1,
            true,
        );
        assert_eq!(other.len(), 1);
    });
}

// ---------------------------------------------------------------------------
// Engine disagreements found by the property test (minimal repros)
// ---------------------------------------------------------------------------

/// Regression (found by the property test, since fixed in search.rs): a
/// source that lies wholly before the cursor must be skipped, not end the
/// scan, because the sources are sorted by `min_ts` (ascending) / `max_ts`
/// (descending), not by their other end, so a later source can still hold
/// events after the cursor.
#[test]
fn cursor_pages_reach_every_source() {
    run(async {
        // Ascending: chunk 1 = [0ms], chunk 2 = [1ms, 1ms]; limit 2.
        let records = vec![
            Record {
                tenant: TENANT,
                events: vec![ev(0, "a", &[])],
                flush_after: false,
            },
            Record {
                tenant: TENANT,
                events: vec![ev(1, "b", &[]), ev(1, "c", &[])],
                flush_after: false,
            },
        ];
        let f = build(&records).await;
        let pages = engine_pages(&f, TENANT, "*", ALL, true, 2).await.unwrap();
        let got: Vec<&str> = pages
            .iter()
            .flatten()
            .map(|r| r.event.message.as_str())
            .collect();
        assert_eq!(got, ["a", "b", "c"], "ascending, limit 2");
        // Descending: chunk 1 = [5ms, 10ms], chunk 2 = [9ms, 4ms, 1ms]; limit 4.
        let records = vec![
            Record {
                tenant: TENANT,
                events: vec![ev(5, "5", &[]), ev(10, "10", &[])],
                flush_after: false,
            },
            Record {
                tenant: TENANT,
                events: vec![ev(9, "9", &[]), ev(4, "4", &[]), ev(1, "1", &[])],
                flush_after: false,
            },
        ];
        let f = build(&records).await;
        let pages = engine_pages(&f, TENANT, "*", ALL, false, 4).await.unwrap();
        let got: Vec<&str> = pages
            .iter()
            .flatten()
            .map(|r| r.event.message.as_str())
            .collect();
        assert_eq!(got, ["10", "9", "5", "4", "1"], "descending, limit 4");
    });
}

/// Settled (matcher.rs): "a reserved field that is empty counts as missing"
/// (matcher module doc) for every test: `host:*`, equality, comparisons and
/// ranges, and the message as seen by `*:` (`*:<=2.5` once matched events
/// with an empty message and no attributes; the property test found it in
/// CI). See [`EMPTY_RESERVED_SETTLED`].
#[test]
fn empty_reserved_fields_have_no_value() {
    run(async {
        let mut events = vec![ev(0, "", &[]), ev(1, "x", &[]), ev(2, "y", &[])];
        events[0].host = Some(String::new());
        events[1].host = Some("h1".into());
        let (f, ids) = split(&events).await;
        expect(&f, &ids, "host:*", &[1]).await;
        expect(&f, &ids, "-host:*", &[0, 2]).await;
        expect(&f, &ids, "message:*", &[1, 2]).await;
        expect(&f, &ids, "host:\"\"", &[]).await;
        expect(&f, &ids, "host:<h", &[]).await;
        expect(&f, &ids, "message:<a", &[]).await;
        // Found by this property test in CI (issue 3's engine): `*:` skips
        // an empty message too.
        expect(&f, &ids, "*:<=2.5", &[]).await;
        expect(&f, &ids, "*:>=x", &[1, 2]).await;
    });
}

/// KNOWN ENGINE BUG (needs.rs, used by search and aggregate): `@a:*` holds
/// when only deeper paths (`a.b`) exist (matcher module doc), but the
/// segment column projection decodes only the columns of `a` and of its
/// dotted prefixes (and `_overflow`), not the typed columns `@a.*`, so in a
/// segment where `a.b` has its own column the match is missed. See
/// [`DEEPER_COLUMNS_FIXED`].
#[test]
fn exists_sees_deeper_attribute_columns() {
    run(async {
        let events: Vec<Event> = (0..6)
            .map(|i| ev(i, "u", &[("user.name", s("alice"))]))
            .collect();
        let (f, ids) = split(&events).await;
        expect(
            &f,
            &ids,
            "@user:*",
            &sorted_by_time(&f, &ids, (0..6).collect()),
        )
        .await;
        compare_aggregate(&f, TENANT, "@user:*", ALL).await.unwrap();
    });
}
