//! Issue 5: the SQL endpoint's `metrics` table answers over the metrics
//! store (memtable and segments alike), for the caller's tenant only.

mod common;

use common::{post, Server};

fn sql(server: &Server, api: &str, app: &str, query: &str) -> serde_json::Value {
    let body = serde_json::json!({ "query": query }).to_string();
    let (status, text, _) = post(
        &server.url("/api/v1/sql"),
        &[
            ("DD-API-KEY", api),
            ("DD-APPLICATION-KEY", app),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{query}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn sql_metrics_table_reads_points_before_and_after_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--set", "metrics.max_age_secs=0.5"]);
    let keys = server.keys();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = serde_json::json!({"series": [
        {"metric": "sql.test", "points": [[now - 60, 1.0], [now - 50, 2.0]], "host": "h1", "tags": ["env:prod"], "type": "gauge"},
        {"metric": "sql.test", "points": [[now - 60, 10.0]], "host": "h2", "type": "gauge"},
        {"metric": "sql.other", "points": [[now - 60, 5.0]], "host": "h1", "type": "count", "interval": 10},
    ]});
    let (status, text, _) = post(
        &server.url("/api/v1/series"),
        &[
            ("DD-API-KEY", &keys.api_key),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(status, 202, "{text}");
    let query = "SELECT host, sum(value) AS total, count(*) AS n FROM metrics \
                 WHERE metric = 'sql.test' GROUP BY host ORDER BY host";
    let expected = serde_json::json!([["h1", 3.0, 2], ["h2", 10.0, 1]]);
    let answer = sql(&server, &keys.api_key, &keys.app_key, query);
    assert_eq!(answer["rows"], expected, "from the memtable: {answer}");

    // After the memtable flushed (max age 0.5 s), the segment answers the same.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let answer = sql(&server, &keys.api_key, &keys.app_key, query);
    assert_eq!(answer["rows"], expected, "from a segment: {answer}");
    let all = sql(
        &server,
        &keys.api_key,
        &keys.app_key,
        "SELECT metric, type, interval_s, tags FROM metrics ORDER BY metric, host, timestamp",
    );
    assert_eq!(all["rows"].as_array().unwrap().len(), 4, "{all}");
    assert_eq!(
        all["rows"][0],
        serde_json::json!(["sql.other", "count", 10, []])
    );
    assert_eq!(
        all["rows"][1],
        serde_json::json!(["sql.test", "gauge", 0, ["env:prod"]])
    );
}
