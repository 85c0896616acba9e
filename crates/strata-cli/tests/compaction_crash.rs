//! Issue 4: `kill -9` at any point of a compaction loses nothing and
//! duplicates nothing. The real binary runs with aggressive compaction (cold
//! buckets, merge factor 2, a pass every 0.2 s, a 0.5 s grace period) while
//! small acknowledged requests of events a few hours old (several hour
//! buckets) keep creating small segments; it is killed with SIGKILL at random
//! moments and while a segment object is being written, and restarted each
//! time. At the end the search API and `strata admin export` must both hold
//! every acknowledged event exactly once, `strata admin segments list` must
//! agree with the export, and the segment directory must hold exactly the
//! registered segments (the orphan sweep at start and the deferred deletion
//! of replaced segments worked). Guards the merge swap (one metastore
//! transaction), recovery's orphan sweep and `delete_due`.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::storage::{catalog_paths, files_under, metric, now_ms, search_all, segments_list};
use common::{export, post, post_logs, Server};
use rand::{Rng, SeedableRng};
use serde_json::json;

const CYCLES: usize = 12;
const SENDERS: usize = 2;
const EVENTS_PER_REQUEST: usize = 10;
/// Closed hour buckets the events fall in (so compaction treats them as cold).
const BUCKETS: i64 = 4;
const HOUR_MS: i64 = 3_600_000;
const MERGES: &str = "strata_compaction_merges_total";
/// Compaction's "segments merged" lines go to the stderr file.
const LOG: &str = "warn,strata_index::compaction=info";
const SETTINGS: &[&str] = &[
    "--set",
    "memtable.max_age_secs=0.2",
    "--set",
    "compaction.interval_secs=0.2",
    "--set",
    "compaction.cold_after_secs=0",
    "--set",
    "compaction.merge_factor=2",
    "--set",
    "compaction.grace_secs=0.5",
    "--set",
    "compaction.target_segment_rows=4000",
    "--set",
    "wal.max_file_bytes=200000",
];

#[test]
fn kill_9_during_compaction_never_loses_or_duplicates_events() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let segments_dir = data_dir.join("segments");
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("compaction crash test seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // The oldest of BUCKETS closed hour buckets before the current one.
    let base_ms = (now_ms() / HOUR_MS - BUCKETS) * HOUR_MS;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let sent: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut kills_while_writing = 0;
    let mut merges_before_kills = 0.0;

    for cycle in 0..CYCLES {
        let server = Server::start_logged(&data_dir, LOG, SETTINGS);
        let key = server.keys().api_key;
        let stop = Arc::new(AtomicBool::new(false));
        let mut senders = Vec::new();
        for sender in 0..SENDERS {
            let url = server.url("/api/v2/logs");
            let key = key.clone();
            let stop = Arc::clone(&stop);
            let acked = Arc::clone(&acked);
            let sent = Arc::clone(&sent);
            senders.push(std::thread::spawn(move || {
                let mut batch = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let messages: Vec<String> = (0..EVENTS_PER_REQUEST)
                        .map(|i| format!("k{cycle}-s{sender}-b{batch}-{i}"))
                        .collect();
                    let logs: Vec<serde_json::Value> = messages
                        .iter()
                        .enumerate()
                        .map(|(i, message)| {
                            let n = batch * EVENTS_PER_REQUEST as i64 + i as i64;
                            let ts = base_ms
                                + (n % BUCKETS) * HOUR_MS
                                + (n * 7919 + sender as i64 * 131) % HOUR_MS;
                            json!({"message": message, "service": format!("svc{sender}"),
                                   "status": "info", "timestamp": ts, "cycle": cycle})
                        })
                        .collect();
                    let body = serde_json::Value::Array(logs).to_string();
                    sent.lock().unwrap().extend(messages.iter().cloned());
                    let (status, _, _) = post(
                        &url,
                        &[("DD-API-KEY", &key), ("Content-Type", "application/json")],
                        body.as_bytes(),
                    );
                    if status == 202 {
                        acked.lock().unwrap().extend(messages);
                    }
                    batch += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }));
        }
        // Merges must be running in this very process before it is killed.
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(&server, MERGES).unwrap_or(0.0) < 1.0 {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: no merge within 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Then SIGKILL: on odd cycles as soon as a segment object is being
        // written (a `.tmp` file exists: a merge output or a flush), else at a
        // random moment.
        let wait = Duration::from_millis(rng.gen_range(0..1500));
        let merges = metric(&server, MERGES).unwrap_or(0.0);
        if cycle % 2 == 1 {
            let deadline = Instant::now() + wait + Duration::from_secs(3);
            while Instant::now() < deadline {
                if files_under(&segments_dir)
                    .iter()
                    .any(|f| f.ends_with(".tmp"))
                {
                    kills_while_writing += 1;
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        } else {
            std::thread::sleep(wait);
        }
        server.kill9();
        merges_before_kills += merges;
        stop.store(true, Ordering::Relaxed);
        for sender in senders {
            sender.join().unwrap();
        }
    }

    // A last start runs recovery and the orphan sweep after the last kill.
    let server = Server::start_logged(&data_dir, LOG, SETTINGS);
    let keys = server.keys();
    let final_message = format!(r#"[{{"message":"final","timestamp":{}}}]"#, now_ms());
    assert_eq!(post_logs(&server, &keys.api_key, &final_message), 202);
    acked.lock().unwrap().insert("final".to_string());
    sent.lock().unwrap().insert("final".to_string());
    // Once compaction settles and the grace period is over, the directory
    // holds exactly the registered segments.
    wait_until_directory_is_the_catalog(&data_dir, Duration::from_secs(3));

    let acked = acked.lock().unwrap().clone();
    let sent = sent.lock().unwrap().clone();
    assert!(
        acked.len() > 2000,
        "too few acknowledged events ({}) to mean anything",
        acked.len()
    );
    let from = (base_ms - HOUR_MS).to_string();
    let found = search_all(&server, &keys, "*", &from, "now");
    let searched = exactly_once(
        "search",
        found.iter().map(|e| {
            (
                e["id"].as_str().expect("id").to_string(),
                e["attributes"]["message"]
                    .as_str()
                    .expect("message")
                    .to_string(),
            )
        }),
        &acked,
        &sent,
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "graceful stop failed: {stderr}");

    let lines = export(&data_dir, "default");
    let exported = exactly_once(
        "export",
        lines.iter().map(|line| {
            (
                line["id"].as_str().expect("id").to_string(),
                line["message"].as_str().expect("message").to_string(),
            )
        }),
        &acked,
        &sent,
    );
    assert_eq!(
        searched, exported,
        "search and export disagree on the stored events"
    );
    let catalog = segments_list(&data_dir, &[]);
    let rows: u64 = catalog.iter().map(|s| s["rows"].as_u64().unwrap()).sum();
    assert_eq!(
        rows as usize,
        lines.len(),
        "segments list and export disagree (the graceful stop flushed everything)"
    );
    assert_eq!(
        files_under(&segments_dir),
        catalog_paths(&catalog),
        "the segment directory holds unregistered or lacks registered objects"
    );

    let log = std::fs::read_to_string(data_dir.join("server.stderr.log")).unwrap();
    let merges = log.matches("segments merged").count();
    let orphans = log
        .matches("removing an unregistered segment object left by a crash")
        .count();
    assert!(
        merges >= CYCLES,
        "only {merges} merges committed over {CYCLES} cycles"
    );
    eprintln!(
        "{CYCLES} kill -9s ({kills_while_writing} while a segment object was being written), \
         {merges} merges committed ({merges_before_kills} seen in /metrics just before the kills), \
         {orphans} orphaned objects swept at start; sent {}, acked {}, stored {} in {} segments",
        sent.len(),
        acked.len(),
        exported.len(),
        catalog.len()
    );
}

/// Checks that `(id, message)` pairs have unique ids and messages, hold every
/// acknowledged message and only messages that were sent (a request cut by
/// the kill may be stored without its acknowledgement). Returns the ids.
fn exactly_once(
    what: &str,
    events: impl Iterator<Item = (String, String)>,
    acked: &HashSet<String>,
    sent: &HashSet<String>,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut messages = HashSet::new();
    for (id, message) in events {
        assert!(ids.insert(id.clone()), "{what}: event id {id} twice");
        assert!(
            sent.contains(&message),
            "{what}: {message:?} was never sent"
        );
        assert!(
            messages.insert(message.clone()),
            "{what}: {message:?} (id {id}) twice"
        );
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|m| !messages.contains(*m))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: acknowledged events lost: {missing:?} (of {})",
        acked.len()
    );
    ids
}

/// Waits (at most 90 s) until the objects under `DATA_DIR/segments` have
/// been exactly the catalog's segments for `stable` in a row (longer than
/// the grace period plus a lifecycle tick).
fn wait_until_directory_is_the_catalog(data_dir: &Path, stable: Duration) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut since: Option<Instant> = None;
    loop {
        let catalog = catalog_paths(&segments_list(data_dir, &[]));
        let files = files_under(&data_dir.join("segments"));
        if files == catalog {
            let first = *since.get_or_insert_with(Instant::now);
            if first.elapsed() >= stable {
                return;
            }
        } else {
            since = None;
            if Instant::now() >= deadline {
                let extra: Vec<&String> = files.difference(&catalog).take(10).collect();
                let lacking: Vec<&String> = catalog.difference(&files).take(10).collect();
                panic!(
                    "after 90 s the segment directory still differs from the catalog: \
                     unregistered files {extra:?}, registered but absent {lacking:?}"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
