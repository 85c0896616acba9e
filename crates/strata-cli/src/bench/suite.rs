//! The nine queries, how they are timed, and the digest of each answer that
//! `bench/query_suite.py` compares with ClickHouse (chDB) and DuckDB.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::ingest::{Dataset, PHRASE, SERVICE};
use super::server::{agent, Api};

const SEARCH: &str = "/api/v2/logs/events/search";
const AGGREGATE: &str = "/api/v2/logs/analytics/aggregate";

/// How an answer is summarised for the cross-engine check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Timeseries per group: groups, points, sum of values.
    Timeseries,
    /// Grouped count: `[[value, count], ...]` in order.
    Top,
    /// Percentiles by group: groups, and the values of [`SERVICE`].
    Percentiles,
    /// Search: hits, newest and oldest timestamps.
    Search,
    /// One number: `c0` of the single bucket.
    Scalar,
}

/// One query of the suite.
#[derive(Debug)]
struct Spec {
    id: &'static str,
    name: &'static str,
    path: &'static str,
    body: Value,
    shape: Shape,
}

/// The timings and answer digest of one query.
#[derive(Debug, Serialize)]
pub(super) struct QueryResult {
    /// `q1` … `q9`, the same ids as in `bench/query_suite.py`.
    pub(super) id: &'static str,
    /// What it does.
    pub(super) name: &'static str,
    /// The endpoint.
    pub(super) path: &'static str,
    /// The request body.
    pub(super) request: Value,
    /// The first run.
    pub(super) cold_ms: Option<f64>,
    /// The warm runs, in order.
    pub(super) runs_ms: Vec<f64>,
    /// Median of the warm runs.
    pub(super) median_ms: Option<f64>,
    /// Fastest warm run.
    pub(super) min_ms: Option<f64>,
    /// Slowest warm run.
    pub(super) max_ms: Option<f64>,
    /// Median of the server's own `meta.elapsed` over the warm runs.
    pub(super) server_median_ms: Option<f64>,
    /// `done`, or `timeout` if any run answered `meta.status: timeout`.
    pub(super) status: String,
    /// The answer summarised (of the last run).
    pub(super) digest: Value,
    /// Why the query failed, if it did.
    pub(super) error: Option<String>,
}

fn specs(data: &Dataset) -> Vec<Spec> {
    let filter = |query: &str| json!({"query": query, "from": data.from_ms.to_string(), "to": data.to_ms.to_string()});
    let search = |query: &str| json!({"filter": filter(query), "sort": "-timestamp", "page": {"limit": 100}});
    let count =
        |query: &str| json!({"compute": [{"aggregation": "count"}], "filter": filter(query)});
    let pct = |aggregation: &str| json!({"aggregation": aggregation, "metric": "@duration"});
    vec![
        Spec {
            id: "q1",
            name: "count by status per 1 min over 24 h",
            path: AGGREGATE,
            body: json!({
                "compute": [{"aggregation": "count", "type": "timeseries", "interval": "1m"}],
                "filter": filter("*"),
                "group_by": [{"facet": "status", "limit": 10}],
            }),
            shape: Shape::Timeseries,
        },
        Spec {
            id: "q2",
            name: "top 10 services by error count",
            path: AGGREGATE,
            body: json!({
                "compute": [{"aggregation": "count"}],
                "filter": filter("status:error"),
                "group_by": [{"facet": "service", "limit": 10,
                              "sort": {"aggregation": "count", "order": "desc"}}],
            }),
            shape: Shape::Top,
        },
        Spec {
            id: "q3",
            name: "p50/p95/p99 of @duration by service",
            path: AGGREGATE,
            body: json!({
                "compute": [pct("median"), pct("pc95"), pct("pc99")],
                "filter": filter("*"),
                "group_by": [{"facet": "service", "limit": 100}],
            }),
            shape: Shape::Percentiles,
        },
        Spec {
            id: "q4",
            name: "rare token, newest 100",
            path: SEARCH,
            body: search(&data.token),
            shape: Shape::Search,
        },
        Spec {
            id: "q5",
            name: "phrase count",
            path: AGGREGATE,
            body: count(&format!("\"{PHRASE}\"")),
            shape: Shape::Scalar,
        },
        Spec {
            id: "q6",
            name: "count @http.status_code:>=500 service:X",
            path: AGGREGATE,
            body: count(&format!("@http.status_code:>=500 service:{SERVICE}")),
            shape: Shape::Scalar,
        },
        Spec {
            id: "q7",
            name: "distinct @usr.id",
            path: AGGREGATE,
            body: json!({
                "compute": [{"aggregation": "cardinality", "metric": "@usr.id"}],
                "filter": filter("*"),
            }),
            shape: Shape::Scalar,
        },
        Spec {
            id: "q8",
            name: "newest 100 for one host",
            path: SEARCH,
            body: search(&format!("host:{}", data.host)),
            shape: Shape::Search,
        },
        Spec {
            id: "q9",
            name: "env:prod status:error by service per 5 min",
            path: AGGREGATE,
            body: json!({
                "compute": [{"aggregation": "count", "type": "timeseries", "interval": "5m"}],
                "filter": filter("env:prod status:error"),
                "group_by": [{"facet": "service", "limit": 100}],
            }),
            shape: Shape::Timeseries,
        },
    ]
}

/// The ids of the queries, in order.
pub(super) const IDS: [&str; 9] = ["q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"];

/// Runs every query (or those in `only`, when not empty) once cold and
/// `runs` times warm, one at a time.
pub(super) fn run(api: &Api, data: &Dataset, runs: usize, only: &[String]) -> Vec<QueryResult> {
    let agent = agent(Duration::from_secs(600));
    specs(data)
        .into_iter()
        .filter(|spec| only.is_empty() || only.iter().any(|id| id == spec.id))
        .map(|spec| {
            eprintln!("bench: {} {}", spec.id, spec.name);
            run_one(api, &agent, spec, runs)
        })
        .collect()
}

fn run_one(api: &Api, agent: &ureq::Agent, spec: Spec, runs: usize) -> QueryResult {
    let mut result = QueryResult {
        id: spec.id,
        name: spec.name,
        path: spec.path,
        request: spec.body.clone(),
        cold_ms: None,
        runs_ms: Vec::new(),
        median_ms: None,
        min_ms: None,
        max_ms: None,
        server_median_ms: None,
        status: "done".into(),
        digest: Value::Null,
        error: None,
    };
    let mut server = Vec::new();
    for run in 0..=runs {
        let answer = match api.read(agent, spec.path, &spec.body) {
            Ok(answer) => answer,
            Err(error) => {
                result.error = Some(format!("{error:#}"));
                break;
            }
        };
        // An empty, complete search page carries no meta: that is "done".
        let status = answer.body["meta"]["status"].as_str().unwrap_or("done");
        if status != "done" {
            result.status = status.to_string();
        }
        if run == 0 {
            result.cold_ms = Some(answer.ms);
        } else {
            result.runs_ms.push(answer.ms);
            if let Some(elapsed) = answer.body["meta"]["elapsed"].as_f64() {
                server.push(elapsed);
            }
        }
        result.digest = digest(spec.shape, &answer.body);
    }
    let mut warm = result.runs_ms.clone();
    warm.sort_by(f64::total_cmp);
    result.median_ms = median(&warm);
    result.min_ms = warm.first().copied();
    result.max_ms = warm.last().copied();
    server.sort_by(f64::total_cmp);
    result.server_median_ms = median(&server);
    result
}

/// Median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn digest(shape: Shape, body: &Value) -> Value {
    let empty = Vec::new();
    let buckets = body["data"]["buckets"].as_array().unwrap_or(&empty);
    let first_by = |b: &Value| {
        b["by"]
            .as_object()
            .and_then(|m| m.values().next().cloned())
            .unwrap_or(Value::Null)
    };
    match shape {
        Shape::Timeseries => {
            let (mut points, mut total) = (0usize, 0f64);
            for bucket in buckets {
                for point in bucket["computes"]["c0"].as_array().unwrap_or(&empty) {
                    points += 1;
                    total += point["value"].as_f64().unwrap_or(0.0);
                }
            }
            json!({"groups": buckets.len(), "points": points, "total": total as u64})
        }
        Shape::Top => {
            let top: Vec<Value> = buckets
                .iter()
                .map(|b| json!([first_by(b), b["computes"]["c0"]]))
                .collect();
            json!({"top": top})
        }
        Shape::Percentiles => {
            let of = buckets
                .iter()
                .find(|b| first_by(b) == SERVICE)
                .map(|b| {
                    let c = &b["computes"];
                    json!([c["c0"], c["c1"], c["c2"]])
                })
                .unwrap_or(Value::Null);
            json!({"groups": buckets.len(), "service": SERVICE, "p50_p95_p99": of})
        }
        Shape::Search => {
            let data = body["data"].as_array().unwrap_or(&empty);
            let ts =
                |e: Option<&Value>| e.map_or(Value::Null, |e| e["attributes"]["timestamp"].clone());
            json!({"hits": data.len(), "newest": ts(data.first()), "oldest": ts(data.last())})
        }
        Shape::Scalar => {
            let value = buckets
                .first()
                .map_or(json!(0), |b| b["computes"]["c0"].clone());
            json!({"value": value})
        }
    }
}

/// Milliseconds for the table: 3 significant-ish digits.
pub(super) fn fmt_ms(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) if v < 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_specs() {
        let data = crate::bench::ingest::stored(None, 1000, 1000, 42, 3_600_000, 1_700_000_000_000)
            .unwrap();
        let ids: Vec<&str> = specs(&data).iter().map(|s| s.id).collect();
        assert_eq!(ids, IDS);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), Some(3.0));
    }

    #[test]
    fn digests() {
        let ts = json!({"data": {"buckets": [
            {"by": {"status": "info"}, "computes": {"c0": [{"time": "t", "value": 3}, {"time": "u", "value": 4}]}},
            {"by": {"status": "error"}, "computes": {"c0": [{"time": "t", "value": 1}]}},
        ]}});
        assert_eq!(
            digest(Shape::Timeseries, &ts),
            json!({"groups": 2, "points": 3, "total": 8})
        );
        let top = json!({"data": {"buckets": [{"by": {"service": "a"}, "computes": {"c0": 5}}]}});
        assert_eq!(digest(Shape::Top, &top), json!({"top": [["a", 5]]}));
        assert_eq!(
            digest(Shape::Scalar, &json!({"data": {"buckets": []}})),
            json!({"value": 0})
        );
        let search = json!({"data": [
            {"attributes": {"timestamp": "b"}}, {"attributes": {"timestamp": "a"}}
        ]});
        assert_eq!(
            digest(Shape::Search, &search),
            json!({"hits": 2, "newest": "b", "oldest": "a"})
        );
    }
}
