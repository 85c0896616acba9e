//! Issue 4, end to end against the real binary, on the local backend and on a
//! real S3-compatible server: ingest → flush → compact → query → restart →
//! retention → deferred deletion. Guards that compaction changes no search
//! answer and reduces the segment count, that the S3 read cache serves a
//! repeated query, that a restart reads every segment back from the bucket,
//! that events older than the tenant's retention (`strata admin tenant
//! set-retention`) leave search after a retention pass, and that their
//! objects (and those replaced by merges) leave storage after the grace
//! period, leaving exactly the registered segments.
//!
//! The S3 test reads `S3_TEST_ENDPOINT` (e.g. `http://127.0.0.1:9900`),
//! `S3_TEST_BUCKET`, `S3_TEST_ACCESS_KEY` and `S3_TEST_SECRET_KEY` (as printed
//! by `scripts/s3-server.sh start`; `scripts/test.sh` exports them). Without
//! an endpoint it is skipped, unless `S3_TEST_REQUIRED=1`, which makes it fail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::storage::{catalog_paths, files_under, metric, now_ms, search_all, segments_list};
use common::{admin, post_logs, Keys, Server, BIN};
use serde_json::{json, Value};
use strata_storage::{Backend, S3Options, SegmentStore};

const HOUR_MS: i64 = 3_600_000;
/// Ingest rounds, each flushed on its own: one small segment per round and bucket.
const ROUNDS: usize = 10;
const RECENT_PER_ROUND: usize = 60;
const OLD_PER_ROUND: usize = 7;

#[test]
fn local_ingest_flush_compact_query_retention() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let segments_dir = data_dir.join("segments");
    run(&Target {
        data_dir: data_dir.clone(),
        storage_flags: Vec::new(),
        storage_env: Vec::new(),
        objects: Box::new(move || files_under(&segments_dir)),
        s3: false,
    });
}

#[test]
fn s3_ingest_flush_compact_query_retention() {
    let Some(options) = s3_options("s3_ingest_flush_compact_query_retention") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("storage.backend", "s3".to_string()),
        ("storage.s3.endpoint", options.endpoint.clone().unwrap()),
        ("storage.s3.bucket", options.bucket.clone()),
        ("storage.s3.prefix", options.prefix.clone()),
        (
            "storage.s3.access_key_id",
            options.access_key_id.clone().unwrap(),
        ),
        (
            "storage.s3.secret_access_key",
            options.secret_access_key.clone().unwrap(),
        ),
        ("storage.s3.allow_http", "true".to_string()),
    ];
    let storage_flags = settings
        .iter()
        .flat_map(|(key, value)| ["--set".to_string(), format!("{key}={value}")])
        .collect();
    // `strata admin export` takes no --set: the same settings as STRATA_* variables.
    let storage_env = settings
        .iter()
        .map(|(key, value)| {
            (
                format!("STRATA_{}", key.to_uppercase().replace('.', "_")),
                value.clone(),
            )
        })
        .collect();
    let store = SegmentStore::open(&Backend::S3(options.clone()), None).unwrap();
    let list = move || -> BTreeSet<String> {
        store
            .list_blocking(None)
            .expect("listing the test bucket")
            .into_iter()
            .map(|o| o.path)
            .collect()
    };
    let target = Target {
        data_dir: dir.path().join("data"),
        storage_flags,
        storage_env,
        objects: Box::new(list),
        s3: true,
    };
    run(&target);
    // Leave the bucket as we found it.
    let store = SegmentStore::open(&Backend::S3(options), None).unwrap();
    for object in store.list_blocking(None).unwrap_or_default() {
        let _ = store.delete_blocking(&object.path);
    }
}

/// The S3 test server's options under a prefix unique to this run, or
/// `None` (after printing why) when the test is skipped.
fn s3_options(test: &str) -> Option<S3Options> {
    let endpoint = std::env::var("S3_TEST_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        let required = std::env::var("S3_TEST_REQUIRED").is_ok_and(|value| value == "1");
        assert!(
            !required,
            "S3 server not configured: S3_TEST_REQUIRED=1 but S3_TEST_ENDPOINT is unset \
             (run scripts/s3-server.sh start)"
        );
        println!("{test}: skipped, S3_TEST_ENDPOINT is unset (see scripts/s3-server.sh)");
        return None;
    };
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(S3Options {
        endpoint: Some(endpoint),
        bucket: var("S3_TEST_BUCKET", "strata-test"),
        prefix: format!("e2e-{}-{nanos}", std::process::id()),
        region: "us-east-1".to_string(),
        access_key_id: Some(var("S3_TEST_ACCESS_KEY", "strata")),
        secret_access_key: Some(var("S3_TEST_SECRET_KEY", "strata-secret")),
        path_style: true,
        allow_http: true,
    })
}

struct Target {
    data_dir: PathBuf,
    /// `--set storage.…` flags for the server and `strata admin segments`.
    storage_flags: Vec<String>,
    /// The same settings as `STRATA_*` variables (for `strata admin export`).
    storage_env: Vec<(String, String)>,
    /// Paths of the segment objects in storage, as the catalog names them.
    objects: Box<dyn Fn() -> BTreeSet<String>>,
    s3: bool,
}

impl Target {
    fn start(&self, settings: &[&str]) -> Server {
        let mut flags: Vec<&str> = self.storage_flags.iter().map(String::as_str).collect();
        for setting in settings {
            flags.extend(["--set", setting]);
        }
        Server::start(&self.data_dir, &flags)
    }

    fn segments(&self) -> Vec<Value> {
        let flags: Vec<&str> = self.storage_flags.iter().map(String::as_str).collect();
        segments_list(&self.data_dir, &flags)
    }
}

/// Ingest and the first flushes, with compaction off.
const NO_COMPACTION: &[&str] = &["memtable.max_age_secs=0.2", "compaction.enabled=false"];
/// Compaction and retention passes every fraction of a second.
const LIFECYCLE: &[&str] = &[
    "memtable.max_age_secs=0.2",
    "compaction.interval_secs=0.2",
    "compaction.cold_after_secs=0",
    "compaction.grace_secs=1",
    "retention.interval_secs=0.5",
];

fn run(target: &Target) {
    let hour = now_ms() / HOUR_MS * HOUR_MS;
    // A closed hour bucket (so compaction may merge it at once) and one three
    // days old (beyond the one-day retention set below).
    let recent_ms = hour - 2 * HOUR_MS;
    let old_ms = hour - 72 * HOUR_MS;
    let old_bucket = format!("/{}/", old_ms * 1_000_000);
    let from = (hour - 8 * 24 * HOUR_MS).to_string();

    // 1. Ingest in rounds, each flushed to its own segments.
    let server = target.start(NO_COMPACTION);
    let keys = server.keys();
    let mut expected = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut logs = Vec::new();
        for i in 0..RECENT_PER_ROUND {
            let message = format!("recent r{round} e{i}");
            logs.push(
                json!({"message": message, "service": "web", "status": "info",
                             "timestamp": recent_ms + (round * 1000 + i) as i64 * 50,
                             "http": {"status_code": 200 + i % 3}}),
            );
            expected.insert(message);
        }
        for i in 0..OLD_PER_ROUND {
            let message = format!("old r{round} e{i}");
            logs.push(
                json!({"message": message, "service": "batch", "status": "warn",
                             "timestamp": old_ms + (round * 100 + i) as i64 * 1000}),
            );
            expected.insert(message);
        }
        let body = Value::Array(logs).to_string();
        assert_eq!(post_logs(&server, &keys.api_key, &body), 202);
        wait_for(
            "the memtable to be flushed",
            Duration::from_secs(60),
            || metric(&server, "strata_memtable_events") == Some(0.0),
        );
    }
    let before = all_events(&server, &keys, &from);
    assert_eq!(messages(&before), expected, "search before compaction");
    assert_eq!(
        search_all(&server, &keys, "service:batch", &from, "now").len(),
        ROUNDS * OLD_PER_ROUND
    );
    let flushed = target.segments();
    assert!(
        flushed.len() >= 2 * ROUNDS,
        "{} segments after {ROUNDS} flushed rounds of two buckets",
        flushed.len()
    );
    assert_eq!((target.objects)(), catalog_paths(&flushed));
    let (status, stderr) = server.terminate();
    assert!(status.success(), "graceful stop failed: {stderr}");

    // 2. Compaction: one segment per bucket, the same answers.
    let server = target.start(LIFECYCLE);
    wait_for(
        "compaction to leave one segment per bucket",
        Duration::from_secs(60),
        || target.segments().len() == 2,
    );
    assert!(metric(&server, "strata_compaction_merges_total").unwrap() >= 2.0);
    let compacted = all_events(&server, &keys, &from);
    assert_eq!(compacted, before, "compaction changed the search answer");
    // The replaced segments leave storage after the grace period.
    wait_for(
        "the replaced segments to be deleted",
        Duration::from_secs(60),
        || (target.objects)() == catalog_paths(&target.segments()),
    );
    let deleted = metric(&server, "strata_segment_objects_deleted_total").unwrap();
    assert!(
        deleted >= (flushed.len() - 2) as f64,
        "{deleted} objects deleted, {} replaced",
        flushed.len() - 2
    );
    if target.s3 {
        assert_s3_only(&target.data_dir);
        // A repeated query is served by the read cache.
        let hits = metric(&server, r#"strata_cache_requests_total{result="hit"}"#).unwrap();
        assert_eq!(all_events(&server, &keys, &from), before);
        let hits_after = metric(&server, r#"strata_cache_requests_total{result="hit"}"#).unwrap();
        assert!(
            hits_after > hits,
            "a repeated query did not hit the read cache ({hits} → {hits_after})"
        );
    }
    let (status, stderr) = server.terminate();
    assert!(status.success(), "graceful stop failed: {stderr}");

    // 3. A restart reads the same data back (from the bucket: the cache is
    // cleared at start and there is no local copy).
    let server = target.start(LIFECYCLE);
    assert_eq!(all_events(&server, &keys, &from), before, "after a restart");
    if target.s3 {
        assert_s3_only(&target.data_dir);
        let misses = metric(&server, r#"strata_cache_requests_total{result="miss"}"#).unwrap();
        let gets = metric(&server, r#"strata_storage_requests_total{op="get"}"#).unwrap();
        assert!(
            misses > 0.0 && gets > 0.0,
            "the restarted server did not read from S3 (misses {misses}, gets {gets})"
        );
    }

    // 4. Retention: a one-day retention drops the three-day-old events.
    let old_paths: BTreeSet<String> = catalog_paths(&target.segments())
        .into_iter()
        .filter(|p| p.contains(&old_bucket))
        .collect();
    assert_eq!(old_paths.len(), 1, "one compacted segment of old events");
    let deleted_before = metric(&server, "strata_segment_objects_deleted_total").unwrap();
    let output = admin(&[
        "tenant",
        "set-retention",
        "default",
        "--days",
        "1",
        "--data-dir",
        target.data_dir.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "set-retention failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    wait_for(
        "the old events to leave search",
        Duration::from_secs(60),
        || search_all(&server, &keys, "service:batch", &from, "now").is_empty(),
    );
    let kept: Vec<Value> = before
        .iter()
        .filter(|e| e["attributes"]["service"] != "batch")
        .cloned()
        .collect();
    assert_eq!(kept.len(), ROUNDS * RECENT_PER_ROUND);
    assert_eq!(all_events(&server, &keys, &from), kept, "after retention");
    assert_eq!(
        metric(&server, "strata_retention_segments_total"),
        Some(1.0)
    );
    assert_eq!(
        metric(&server, "strata_retention_events_total"),
        Some((ROUNDS * OLD_PER_ROUND) as f64)
    );
    // The expired object leaves the catalog at once and storage after the
    // grace period.
    assert!(catalog_paths(&target.segments()).is_disjoint(&old_paths));
    wait_for(
        "the expired segment to be deleted from storage",
        Duration::from_secs(60),
        || (target.objects)().is_disjoint(&old_paths),
    );
    wait_for(
        "strata_segment_objects_deleted_total to count it",
        Duration::from_secs(30),
        || {
            metric(&server, "strata_segment_objects_deleted_total").unwrap()
                >= deleted_before + old_paths.len() as f64
        },
    );
    let remaining = target.segments();
    assert_eq!(remaining.len(), 1);
    assert_eq!((target.objects)(), catalog_paths(&remaining));
    let (status, stderr) = server.terminate();
    assert!(status.success(), "graceful stop failed: {stderr}");

    // 5. Offline export (server stopped) agrees.
    let exported = export_with_env(&target.data_dir, &target.storage_env);
    let exported: BTreeSet<String> = exported
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(exported, messages(&kept), "export after retention");
}

/// Every event of the tenant, sorted by id (whole search items, so two
/// answers compare on every attribute).
fn all_events(server: &Server, keys: &Keys, from: &str) -> Vec<Value> {
    let mut by_id = BTreeMap::new();
    for event in search_all(server, keys, "*", from, "now") {
        let id = event["id"].as_str().expect("id").to_string();
        assert!(
            by_id.insert(id.clone(), event).is_none(),
            "event {id} returned twice"
        );
    }
    by_id.into_values().collect()
}

fn messages(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["attributes"]["message"].as_str().unwrap().to_string())
        .collect()
}

/// With the S3 backend nothing is stored locally but the read cache.
fn assert_s3_only(data_dir: &Path) {
    let parquet: Vec<String> = files_under(data_dir)
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect();
    assert!(
        parquet.is_empty(),
        "segments stored locally with the S3 backend: {parquet:?}"
    );
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `strata admin export --tenant default` with extra environment variables.
fn export_with_env(data_dir: &Path, env: &[(String, String)]) -> Vec<Value> {
    let output = Command::new(BIN)
        .args([
            "admin",
            "export",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--tenant",
            "default",
        ])
        .env_remove("STRATA_DATA_DIR")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run strata admin export");
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
        .collect()
}
