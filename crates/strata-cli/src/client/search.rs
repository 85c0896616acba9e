//! `strata query`: `POST /api/v2/logs/events/search`, following
//! `meta.page.after` cursors with `--all`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::http::Client;
use super::table::{one_line, value_text, Table};
use super::{line_width, warn_about_meta, QueryArgs, SortOrder};

const SEARCH_PATH: &str = "/api/v2/logs/events/search";
/// A search over a wide time range may take a while before the first byte.
const READ_TIMEOUT: Duration = Duration::from_secs(300);
const DEFAULT_LIMIT: u32 = 50;
/// The Datadog maximum for `page.limit`.
const MAX_PAGE: u32 = 1000;

pub(super) fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connect, READ_TIMEOUT)?;
    let default_limit = if args.all { MAX_PAGE } else { DEFAULT_LIMIT };
    let page_limit = args.limit.unwrap_or(default_limit);
    let wanted = if args.all {
        usize::try_from(args.max).unwrap_or(usize::MAX)
    } else {
        page_limit as usize
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut logs: Vec<Value> = Vec::new();
    let mut fetched = 0usize;
    let mut cursor: Option<String> = None;
    let more = loop {
        let remaining = wanted.saturating_sub(fetched);
        let limit = u32::try_from(remaining).unwrap_or(MAX_PAGE).min(page_limit);
        let body = search_request(&args, limit, cursor.as_deref());
        let response = client.post_json(SEARCH_PATH, &body)?;
        warn_about_meta(&response);
        let page = page_data(&response)?;
        if page.is_empty() {
            break false;
        }
        fetched += page.len();
        for log in page {
            if args.json {
                writeln!(out, "{log}")?;
            } else {
                logs.push(log);
            }
        }
        // Flush page by page so that a long --all --json run shows progress.
        out.flush()?;
        cursor = next_cursor(&response);
        if cursor.is_none() {
            break false;
        }
        if !args.all || fetched >= wanted {
            break true;
        }
    };
    if !args.json {
        if logs.is_empty() {
            eprintln!(
                "no logs match {:?} between {} and {}",
                args.query, args.from, args.to
            );
            return Ok(());
        }
        out.write_all(log_table(&logs).render(Some(line_width())).as_bytes())?;
    }
    out.flush()?;
    if more {
        if args.all {
            eprintln!("stopped after --max {} logs; more may match", args.max);
        } else {
            eprintln!(
                "showing the first {fetched} logs; more may match (--all follows the cursor)"
            );
        }
    }
    Ok(())
}

/// The Datadog search body.
fn search_request(args: &QueryArgs, limit: u32, cursor: Option<&str>) -> Value {
    let sort = match args.sort {
        SortOrder::Asc => "timestamp",
        SortOrder::Desc => "-timestamp",
    };
    let mut page = json!({ "limit": limit });
    if let Some(cursor) = cursor {
        page["cursor"] = json!(cursor);
    }
    json!({
        "filter": { "query": args.query, "from": args.from, "to": args.to },
        "sort": sort,
        "page": page,
    })
}

/// `data`, which the last page has as `[]`.
fn page_data(response: &Value) -> anyhow::Result<Vec<Value>> {
    let data = response
        .get("data")
        .and_then(Value::as_array)
        .with_context(|| format!("the search answer has no \"data\" array: {response}"))?;
    Ok(data.clone())
}

fn next_cursor(response: &Value) -> Option<String> {
    response
        .pointer("/meta/page/after")
        .and_then(Value::as_str)
        .filter(|cursor| !cursor.is_empty())
        .map(str::to_string)
}

/// One attribute of a log (`attributes.<name>` of a search `data[]` item)
/// as text, empty when absent.
pub(super) fn log_field(log: &Value, name: &str) -> String {
    let value = log
        .get("attributes")
        .and_then(|attributes| attributes.get(name))
        .unwrap_or(&Value::Null);
    value_text(value, "")
}

fn log_table(logs: &[Value]) -> Table {
    let mut table = Table::new(["TIMESTAMP", "STATUS", "SERVICE", "HOST", "MESSAGE"]);
    for log in logs {
        table.push(vec![
            log_field(log, "timestamp"),
            log_field(log, "status"),
            log_field(log, "service"),
            log_field(log, "host"),
            one_line(&log_field(log, "message")),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: QueryArgs,
    }

    fn parse(argv: &[&str]) -> QueryArgs {
        let mut full = vec!["strata-query"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().args
    }

    fn log(timestamp: &str, service: &str, message: &str) -> Value {
        json!({
            "id": "AQAAAY",
            "type": "log",
            "attributes": {
                "timestamp": timestamp,
                "status": "error",
                "service": service,
                "host": "i-0abc",
                "message": message,
                "tags": ["env:prod"],
                "attributes": {"duration": 12}
            }
        })
    }

    #[test]
    fn request_carries_filter_sort_and_page() {
        let args = parse(&["service:web", "--from", "now-1h", "--sort", "asc"]);
        assert_eq!(
            search_request(&args, 50, None),
            json!({
                "filter": {"query": "service:web", "from": "now-1h", "to": "now"},
                "sort": "timestamp",
                "page": {"limit": 50}
            })
        );
        let args = parse(&[]);
        let body = search_request(&args, 10, Some("abc"));
        assert_eq!(body["sort"], "-timestamp");
        assert_eq!(body["filter"]["query"], "*");
        assert_eq!(body["filter"]["from"], "now-15m");
        assert_eq!(body["page"], json!({"limit": 10, "cursor": "abc"}));
    }

    #[test]
    fn limit_is_bounded_and_max_needs_all() {
        let full = |argv: &[&str]| {
            let mut v = vec!["strata-query"];
            v.extend_from_slice(argv);
            Cli::try_parse_from(v)
        };
        assert!(full(&["--limit", "0"]).is_err());
        assert!(full(&["--limit", "1001"]).is_err());
        assert!(full(&["--max", "10"]).is_err());
        assert!(full(&["--all", "--max", "10"]).is_ok());
    }

    #[test]
    fn cursor_and_data() {
        let response = json!({"data": [log("t", "web", "m")], "meta": {"page": {"after": "c2"}}});
        assert_eq!(next_cursor(&response), Some("c2".to_string()));
        assert_eq!(page_data(&response).unwrap().len(), 1);
        let last = json!({"data": []});
        assert_eq!(next_cursor(&last), None);
        assert!(page_data(&last).unwrap().is_empty());
        assert!(page_data(&json!({"errors": ["x"]})).is_err());
    }

    #[test]
    fn table_has_one_line_per_log() {
        let logs = vec![
            log("2024-05-01T10:00:00.000Z", "web", "GET /\nstack trace"),
            json!({"id": "x", "type": "log", "attributes": {"timestamp": "2024-05-01T09:59:59.000Z"}}),
        ];
        let text = log_table(&logs).render(Some(80));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TIMESTAMP                 STATUS  SERVICE  HOST"));
        assert_eq!(
            lines[1],
            "2024-05-01T10:00:00.000Z  error   web      i-0abc  GET / stack trace"
        );
        assert_eq!(lines[2], "2024-05-01T09:59:59.000Z");
    }
}
