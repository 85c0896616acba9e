//! The `GET /api/v1/query` answer, shaped exactly like Datadog's recorded
//! one (`datadog-api-client-python`
//! `tests/v1/cassettes/test_scenarios/test_query_timeseries_points_returns_ok_response.yaml`).

use serde::{Deserialize, Serialize};

use crate::ast::{Expr, Expression, Query, SpaceAgg};
use crate::interval::Grid;
use crate::series::Series;

/// The whole answer (`res_type: "time_series"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryResponse {
    /// Always `"ok"` (errors are not a `QueryResponse`).
    pub status: String,
    /// Always 1.
    pub resp_version: u32,
    /// Always `"time_series"`.
    pub res_type: String,
    /// The query text, as received.
    pub query: String,
    /// `from`, milliseconds.
    pub from_date: i64,
    /// `to`, milliseconds.
    pub to_date: i64,
    /// The `by` keys of all metric queries, first occurrence order.
    pub group_by: Vec<String>,
    /// Always empty.
    pub message: String,
    /// Always empty (a field of Datadog's answer that it leaves empty too).
    pub times: Vec<i64>,
    /// Always empty.
    pub values: Vec<f64>,
    /// One entry per (expression, group) with at least one point, ordered by
    /// `query_index`, then by tag set.
    pub series: Vec<SeriesResponse>,
}

impl QueryResponse {
    /// The answer for evaluated series.
    pub fn new(
        query: &Query,
        query_text: &str,
        from_s: i64,
        to_s: i64,
        series: Vec<SeriesResponse>,
    ) -> QueryResponse {
        let mut group_by: Vec<String> = Vec::new();
        for expression in &query.expressions {
            for metric_query in expression.expr.metric_queries() {
                for key in &metric_query.group_by {
                    if !group_by.contains(key) {
                        group_by.push(key.clone());
                    }
                }
            }
        }
        QueryResponse {
            status: "ok".to_string(),
            resp_version: 1,
            res_type: "time_series".to_string(),
            query: query_text.to_string(),
            from_date: from_s * 1000,
            to_date: to_s * 1000,
            group_by,
            message: String::new(),
            times: Vec::new(),
            values: Vec::new(),
            series,
        }
    }
}

/// One series of the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesResponse {
    /// The metric name for a plain metric query; the expression text for
    /// arithmetic and functions.
    pub metric: String,
    /// Same as `metric`.
    pub display_name: String,
    /// The top-level expression's text, trimmed.
    pub expression: String,
    /// Ungrouped: the (first) metric query's scope text (`*`). Grouped: the
    /// group tags, then the scope text unless it is `*`
    /// (`host:a,env:prod`).
    pub scope: String,
    /// The group tags (`["host:a"]`); empty when ungrouped.
    pub tag_set: Vec<String>,
    /// The (first) metric query's space aggregator, `null` when it had none.
    pub aggr: Option<String>,
    /// Always `{}`.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Bucket width, seconds.
    pub interval: i64,
    /// Number of points in `pointlist`.
    pub length: usize,
    /// Index of the top-level expression (comma-separated queries).
    pub query_index: usize,
    /// Start of the first bucket of the query window, milliseconds.
    pub start: i64,
    /// Start of the last bucket + interval − 1 s, milliseconds.
    pub end: i64,
    /// `[timestamp_ms, value]` per bucket with data, in time order; the
    /// value is `null` when undefined (division by zero, `log10(0)`).
    /// Buckets without data are left out.
    pub pointlist: Vec<(i64, Option<f64>)>,
    /// Always `null`: units are metric metadata this crate does not hold.
    pub unit: serde_json::Value,
}

/// The answer's series for one top-level expression; empty series dropped.
pub(crate) fn series_responses(
    query_index: usize,
    expression: &Expression,
    grid: &Grid,
    series: Vec<Series>,
) -> Vec<SeriesResponse> {
    let queries = expression.expr.metric_queries();
    let first = queries.first();
    let metric = match &expression.expr {
        Expr::Metric(query) => query.metric.clone(),
        _ => expression.text.clone(),
    };
    let aggr = first.and_then(|q| q.space_agg).map(SpaceAgg::name);
    let scope_text = first.map(|q| q.scope.text()).unwrap_or("*");
    let buckets = i64::try_from(grid.buckets).unwrap_or(0);
    let start = grid.start_s * 1000;
    let end = (grid.start_s + buckets * grid.interval_s - 1) * 1000;
    let mut out = Vec::with_capacity(series.len());
    for one in series {
        let pointlist: Vec<(i64, Option<f64>)> = one
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, value)| {
                let value = (*value)?;
                Some((
                    grid.bucket_start(i) * 1000,
                    value.is_finite().then_some(value),
                ))
            })
            .collect();
        if pointlist.is_empty() {
            continue;
        }
        out.push(SeriesResponse {
            metric: metric.clone(),
            display_name: metric.clone(),
            expression: expression.text.clone(),
            scope: scope_string(&one.tag_set, scope_text),
            tag_set: one.tag_set,
            aggr: aggr.clone(),
            attributes: serde_json::Map::new(),
            interval: grid.interval_s,
            length: pointlist.len(),
            query_index,
            start,
            end,
            pointlist,
            unit: serde_json::Value::Null,
        });
    }
    out
}

fn scope_string(tag_set: &[String], scope_text: &str) -> String {
    if tag_set.is_empty() {
        return scope_text.to_string();
    }
    let mut scope = tag_set.join(",");
    if scope_text != "*" {
        scope.push(',');
        scope.push_str(scope_text);
    }
    scope
}
