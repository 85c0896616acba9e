//! Lifecycle, admin, tenants, quotas, back-pressure and observability against
//! the real binary (issue 2).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{admin, export, post, post_logs, Server, BIN};

fn dir_arg(dir: &std::path::Path) -> String {
    dir.to_str().unwrap().to_string()
}

#[test]
fn bootstrap_health_metrics_and_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys_file = dir.path().join("bootstrap-keys.json");
    let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys_file).unwrap()).unwrap();
    assert_eq!(keys["tenant"], "default");
    assert_eq!(keys["api_key"].as_str().unwrap().len(), 32);
    assert_eq!(keys["app_key"].as_str().unwrap().len(), 40);

    assert_eq!(
        ureq::get(&server.url("/health/live"))
            .call()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        ureq::get(&server.url("/health/ready"))
            .call()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        post_logs(
            &server,
            &server.keys().api_key,
            r#"[{"message":"m1"},{"message":"m2"}]"#
        ),
        202
    );
    let metrics = ureq::get(&server.url("/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for name in [
        "strata_http_requests_total{route=\"/api/v2/logs\",status=\"202\"} 1",
        "strata_ingest_events_total{source=\"datadog_logs\"} 2",
        "strata_ingest_bytes_total",
        "strata_wal_fsync_seconds_bucket",
        "strata_wal_group_records_bucket",
        "strata_memtable_bytes",
        "strata_flush_seconds",
        "strata_segments",
        "strata_segment_bytes",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    // Export refuses a directory a running server holds.
    let locked = admin(&["export", "--data-dir", &dir_arg(dir.path())]);
    assert!(!locked.status.success());
    assert!(String::from_utf8_lossy(&locked.stderr).contains("locked by a running strata process"));

    let (status, _) = server.terminate();
    assert!(status.success(), "SIGTERM must exit 0");
    // The graceful stop flushed: the events are in a segment, not only in the WAL.
    let output = admin(&["export", "--data-dir", &dir_arg(dir.path())]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("2 from 1 segments, 0 from the WAL"),
        "{stderr}"
    );

    // A restart does not create new keys.
    let again = Server::start(dir.path(), &[]);
    assert_eq!(again.keys().api_key, keys["api_key"].as_str().unwrap());
    again.terminate();
    assert_eq!(export(dir.path(), "default").len(), 2);
}

#[test]
fn config_is_strict() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strata.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[wal]\nfsink = true\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fsink"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["serve"])
        .env("STRATA_WAL_DURABLE", "none")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("STRATA_WAL_DURABILITY"));
    let out = Command::new(BIN)
        .args(["serve", "--set", "nope=1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn tenants_are_isolated_and_quotas_answer_429() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let d = dir_arg(dir.path());
    assert!(admin(&["tenant", "create", "--data-dir", &d, "acme"])
        .status
        .success());
    assert!(
        !admin(&["tenant", "create", "--data-dir", &d, "acme"])
            .status
            .success(),
        "duplicate tenant"
    );
    assert!(!admin(&["tenant", "create", "--data-dir", &d, "Bad/Name"])
        .status
        .success());
    let listed = String::from_utf8(admin(&["tenant", "list", "--data-dir", &d]).stdout).unwrap();
    assert!(
        listed.contains("acme") && listed.contains("default"),
        "{listed}"
    );
    let created = admin(&[
        "key",
        "create",
        "--data-dir",
        &d,
        "--tenant",
        "acme",
        "--kind",
        "api",
    ]);
    let acme_key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(acme_key.len(), 32);
    let keys =
        String::from_utf8(admin(&["key", "list", "--data-dir", &d, "--tenant", "acme"]).stdout)
            .unwrap();
    assert!(
        keys.contains(&acme_key[..8]) && !keys.contains(&acme_key),
        "list shows ids, never secrets: {keys}"
    );

    let url = server.url("/api/v2/logs");
    wait_for(&url, &acme_key, 202);
    assert_eq!(
        post_logs(&server, &acme_key, r#"[{"message":"acme-secret"}]"#),
        202
    );
    assert_eq!(
        post_logs(
            &server,
            &server.keys().api_key,
            r#"[{"message":"default-event"}]"#
        ),
        202
    );

    // Quota: 100 events/s for acme; a burst goes over and gets 429 with rate-limit headers.
    assert!(admin(&[
        "quota",
        "set",
        "--data-dir",
        &d,
        "--tenant",
        "acme",
        "--events-per-sec",
        "100"
    ])
    .status
    .success());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let batch = format!("[{}]", vec![r#"{"message":"acme-burst"}"#; 80].join(","));
    let mut saw_429 = false;
    for _ in 0..10 {
        let (status, text, response) = post(&url, &[("DD-API-KEY", &acme_key)], batch.as_bytes());
        if status == 429 {
            assert!(text.contains("quota"), "{text}");
            assert_eq!(response.header("x-ratelimit-limit"), Some("100"));
            assert_eq!(response.header("x-ratelimit-remaining"), Some("0"));
            assert!(response.header("x-ratelimit-reset").is_some());
            saw_429 = true;
            break;
        }
        assert_eq!(status, 202);
    }
    assert!(saw_429, "a burst over the quota was never refused");
    // The other tenant is not limited by acme's quota.
    let other = batch.replace("acme-burst", "default-burst");
    assert_eq!(post_logs(&server, &server.keys().api_key, &other), 202);

    server.terminate();
    let acme = export(dir.path(), "acme");
    let default = export(dir.path(), "default");
    assert!(acme.iter().any(|l| l["message"] == "acme-secret"));
    assert!(acme.iter().all(|l| l["message"] != "default-event"));
    assert!(default
        .iter()
        .all(|l| l["message"] != "acme-secret" && l["message"] != "acme-burst"));
    assert!(!admin(&["export", "--data-dir", &d, "--tenant", "nobody"])
        .status
        .success());
}

#[test]
fn memory_budget_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--set",
            "limits.max_request_bytes=100000",
            "--set",
            "limits.memory_budget_bytes=600000",
            "--set",
            "memtable.flush_bytes=100000000",
            "--set",
            "memtable.max_age_secs=3600",
        ],
    );
    let key = server.keys().api_key;
    let batch = format!(
        "[{}]",
        vec![format!(r#"{{"message":"{}"}}"#, "z".repeat(500)); 150].join(",")
    );
    let mut refused = None;
    for _ in 0..200 {
        let (status, text, response) = post(
            &server.url("/api/v2/logs"),
            &[("DD-API-KEY", &key)],
            batch.as_bytes(),
        );
        if status == 503 {
            refused = Some((text, response.header("retry-after").map(str::to_string)));
            break;
        }
        assert_eq!(status, 202, "{text}");
    }
    let (text, retry_after) = refused.expect("never hit the memory budget");
    assert!(text.contains("memory budget"), "{text}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Pressure makes the server flush; ingest resumes by itself.
    let mut resumed = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if post(
            &server.url("/api/v2/logs"),
            &[("DD-API-KEY", &key)],
            batch.as_bytes(),
        )
        .0 == 202
        {
            resumed = true;
            break;
        }
    }
    assert!(
        resumed,
        "ingest never resumed after the memory budget was hit"
    );
    server.terminate();
}

fn wait_for(url: &str, key: &str, want: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while post(url, &[("DD-API-KEY", key)], br#"[{"message":"probe"}]"#).0 != want {
        assert!(std::time::Instant::now() < deadline, "never got {want}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A corrupt WAL record before the tail is reported loudly: the server
/// refuses to start and names the file and offset; `--repair-wal` truncates
/// there and starts (issue 2, "never skipped silently"). After a repair below
/// the flushed checkpoint, new records must still get sequence numbers above
/// it, or replay would skip them as already flushed.
#[test]
fn corrupt_wal_record_refuses_start_until_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let keep = ["--set", "memtable.max_age_secs=3600"];
    let server = Server::start(dir.path(), &keep);
    let key = server.keys().api_key;
    assert_eq!(post_logs(&server, &key, r#"[{"message":"first"}]"#), 202);
    assert_eq!(post_logs(&server, &key, r#"[{"message":"second"}]"#), 202);
    // A graceful stop flushes both (checkpoint 2); the WAL file keeps them.
    let (status, _) = server.terminate();
    assert!(status.success());

    let wal = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&wal).unwrap();
    // File header (16 bytes), then the first record's header (16 bytes): flip a payload byte.
    bytes[16 + 16 + 2] ^= 0xff;
    std::fs::write(&wal, &bytes).unwrap();

    let listen = format!("127.0.0.1:{}", common::free_port());
    let refused = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            &dir_arg(dir.path()),
            "--listen",
            &listen,
        ])
        .args(keep)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "started on a corrupt WAL");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("corrupt WAL file") && stderr.contains("--repair-wal"),
        "{stderr}"
    );

    let repaired = Server::start(
        dir.path(),
        &["--repair-wal", "--set", "memtable.max_age_secs=3600"],
    );
    assert_eq!(
        post_logs(&repaired, &key, r#"[{"message":"after-repair"}]"#),
        202
    );
    repaired.kill9();
    let again = Server::start(dir.path(), &keep);
    again.terminate();
    let lines = export(dir.path(), "default");
    let count = |m: &str| lines.iter().filter(|l| l["message"] == m).count();
    assert_eq!(count("first"), 1, "flushed events survive a WAL repair");
    assert_eq!(count("second"), 1);
    assert_eq!(
        count("after-repair"),
        1,
        "an acknowledged event after a repair was lost or doubled"
    );
}

/// Idle or slow connections cannot hold the connection limit: a connection
/// that sends no complete headers is closed after `limits.header_timeout_secs`.
#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--set",
            "limits.max_connections=1",
            "--set",
            "limits.header_timeout_secs=1",
        ],
    );
    let key = server.keys().api_key;
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.write_all(b"POST /api/v2/logs HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // The only connection slot is taken; the real request waits, then gets it.
    assert_eq!(
        post_logs(&server, &key, r#"[{"message":"after-idle"}]"#),
        202
    );
    let mut rest = Vec::new();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let read = idle.read_to_end(&mut rest);
    assert!(read.is_ok(), "the idle connection was not closed: {read:?}");
    server.terminate();
}
