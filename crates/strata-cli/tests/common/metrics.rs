//! Helpers for the metrics tests (issue 5): reading `/api/v1/query` answers.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{metrics_query, Keys, Server};

pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `GET /api/v1/query`; panics unless 200.
pub fn query(server: &Server, keys: &Keys, from: i64, to: i64, text: &str) -> Value {
    let (status, body) = metrics_query(server, keys, from, to, text);
    assert_eq!(status, 200, "{text}: {body}");
    assert_eq!(body["status"], "ok", "{text}: {body}");
    body
}

/// Every non-null value of every series of a query answer.
pub fn values(answer: &Value) -> Vec<f64> {
    answer["series"]
        .as_array()
        .unwrap_or_else(|| panic!("no series: {answer}"))
        .iter()
        .flat_map(|s| s["pointlist"].as_array().unwrap().iter())
        .filter_map(|p| p[1].as_f64())
        .collect()
}

/// The single value of an answer with one series of one point.
pub fn single(answer: &Value) -> f64 {
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "one series expected: {answer}");
    let points = series[0]["pointlist"].as_array().unwrap();
    assert_eq!(points.len(), 1, "one point expected: {answer}");
    points[0][1]
        .as_f64()
        .unwrap_or_else(|| panic!("null: {answer}"))
}

/// `tag_set` joined with `,` → the sum of that series' points.
pub fn by_group(answer: &Value) -> BTreeMap<String, f64> {
    answer["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let tags: Vec<&str> = s["tag_set"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let sum = s["pointlist"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p[1].as_f64())
                .sum();
            (tags.join(","), sum)
        })
        .collect()
}

/// The Agent's quantile of sorted data: the value at rank
/// `round_half_even(q·(n−1))` (what a DDSketch estimates).
pub fn rank_quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * (sorted.len() - 1) as f64).round_ties_even() as usize;
    sorted[rank]
}
