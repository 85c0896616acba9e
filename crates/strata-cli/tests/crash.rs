//! Ack means durable: concurrent senders, `kill -9` at random moments over 20
//! cycles, restart each time; the export must hold every acknowledged event
//! exactly once and nothing corrupted. Guards issue 2 ("a crash test driving
//! the real binary").

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{export, post_logs, Server};
use rand::{Rng, SeedableRng};

const CYCLES: usize = 20;
const SENDERS: usize = 4;

#[test]
fn kill_9_never_loses_or_duplicates_acknowledged_events() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // Small memtables and WAL files so flushes, segment registration and WAL
    // truncation all happen while the process is being killed.
    let settings = [
        "--set",
        "memtable.flush_bytes=200000",
        "--set",
        "memtable.max_age_secs=0.3",
        "--set",
        "wal.max_file_bytes=100000",
    ];
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test seed {seed} (rerun with CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let acked: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let mut sent_total = 0usize;

    for cycle in 0..CYCLES {
        let server = Server::start(&data_dir, &settings);
        let key = server.keys().api_key;
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for sender in 0..SENDERS {
            let url_server_port = server.port;
            let key = key.clone();
            let stop = Arc::clone(&stop);
            let acked = Arc::clone(&acked);
            handles.push(std::thread::spawn(move || {
                let mut sent = 0usize;
                let mut batch_no = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..50).map(|i| format!("c{cycle}-s{sender}-b{batch_no}-{i}")).collect();
                    let body = serde_json::Value::Array(
                        ids.iter()
                            .map(|id| serde_json::json!({"message": id, "service": format!("svc{}", sender), "status": "info", "n": batch_no}))
                            .collect(),
                    )
                    .to_string();
                    let url = format!("http://127.0.0.1:{url_server_port}/api/v2/logs");
                    let (status, _, _) = common::post(&url, &[("DD-API-KEY", &key), ("Content-Type", "application/json")], body.as_bytes());
                    sent += ids.len();
                    if status == 202 {
                        acked.lock().unwrap().extend(ids);
                    }
                    batch_no += 1;
                }
                sent
            }));
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..900)));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            sent_total += handle.join().unwrap();
        }
    }

    // One clean start so recovery runs after the last kill, then a clean stop.
    let server = Server::start(&data_dir, &settings);
    assert_eq!(
        post_logs(&server, &server.keys().api_key, r#"[{"message":"final"}]"#),
        202
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "graceful stop failed: {stderr}");

    let lines = export(&data_dir, "default");
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids: HashSet<String> = HashSet::new();
    for line in &lines {
        let message = line["message"]
            .as_str()
            .expect("every line has a message")
            .to_string();
        let id = line["id"]
            .as_str()
            .expect("every line has an id")
            .to_string();
        assert!(ids.insert(id.clone()), "event id {id} exported twice");
        *seen.entry(message).or_default() += 1;
    }
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > 1000,
        "too few acknowledged events ({}) to mean anything",
        acked.len()
    );
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged events lost: {missing:?} (of {})",
        acked.len()
    );
    let duplicated: Vec<(&String, &usize)> =
        seen.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(
        duplicated.is_empty(),
        "events exported more than once: {duplicated:?}"
    );
    assert_eq!(seen.get("final"), Some(&1));
    eprintln!(
        "sent {sent_total}, acked {}, exported {}",
        acked.len(),
        lines.len()
    );
    // The cycles must have exercised flushes: some events came from segments.
    let segments = walk_files(&data_dir.join("segments"));
    assert!(
        segments > 0,
        "no segment was ever flushed: the test did not exercise flush + checkpoint"
    );
}

fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}
