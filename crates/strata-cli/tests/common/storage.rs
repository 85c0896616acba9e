//! Helpers for the storage lifecycle tests (issue 4): `/metrics` samples, a
//! paged search, the catalog as `strata admin segments list --json` prints
//! it, and the segment objects of a local segment directory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::{admin, post, Keys, Server};

/// One sample of the server's `/metrics`, e.g. `strata_compaction_merges_total`
/// or `strata_cache_requests_total{result="hit"}`; `None` when the server does
/// not answer or does not have it.
pub fn metric(server: &Server, sample: &str) -> Option<f64> {
    let text = ureq::get(&server.url("/metrics"))
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    parse_metric(&text, sample)
}

/// The value of `sample` (name plus labels, exactly as exposed) in a
/// Prometheus text page.
pub fn parse_metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            if name == sample {
                value.parse().ok()
            } else {
                None
            }
        })
}

/// Every event matching `query` in `[from, to)`, page after page (1000 a
/// page, following `meta.page.after`). Panics on an error or a partial
/// (`meta.status != "done"`) answer.
pub fn search_all(server: &Server, keys: &Keys, query: &str, from: &str, to: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let mut body = json!({"filter": {"query": query, "from": from, "to": to},
                              "page": {"limit": 1000}});
        if let Some(cursor) = &cursor {
            body["page"]["cursor"] = json!(cursor);
        }
        let (status, text, _) = post(
            &server.url("/api/v2/logs/events/search"),
            &[
                ("DD-API-KEY", &keys.api_key),
                ("DD-APPLICATION-KEY", &keys.app_key),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "search {query:?} failed: {text}");
        let page: Value = serde_json::from_str(&text).unwrap();
        let data = page["data"].as_array().expect("data is an array");
        // A complete empty answer is `{"data":[]}`, without `meta`.
        if !data.is_empty() || !page["meta"].is_null() {
            assert_eq!(
                page["meta"]["status"], "done",
                "search {query:?} gave a partial answer: {text}"
            );
        }
        events.extend(data.iter().cloned());
        match page["meta"]["page"]["after"].as_str() {
            Some(after) if !data.is_empty() => cursor = Some(after.to_string()),
            _ => return events,
        }
    }
    panic!("search {query:?} did not end after 10000 pages");
}

/// `strata admin segments list --tenant default --json` with `flags` (e.g.
/// the server's `--set storage.…` flags): one JSON object per registered
/// segment (`id`, `path`, `rows`, `bytes`, …).
pub fn segments_list(data_dir: &Path, flags: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "segments",
        "list",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--tenant",
        "default",
        "--json",
    ];
    args.extend_from_slice(flags);
    let output = admin(&args);
    assert!(
        output.status.success(),
        "segments list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "segments list printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    value.as_array().expect("a JSON array").clone()
}

/// The `path`s of a `segments_list` answer.
pub fn catalog_paths(segments: &[Value]) -> BTreeSet<String> {
    segments
        .iter()
        .map(|s| s["path"].as_str().expect("path").to_string())
        .collect()
}

/// Every file under `root` (recursively), as `/`-separated paths relative
/// to it: segment objects, and any temporary file a crash left.
pub fn files_under(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                let parts: Vec<String> = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(parts.join("/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
