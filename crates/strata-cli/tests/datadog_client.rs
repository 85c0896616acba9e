//! Wire compatibility with the real Datadog Python client
//! (`datadog-api-client`, installed by `scripts/install-test-deps.sh`).
//! Issue 2: "point an unmodified Datadog client at it".

mod common;

use std::process::Command;

use common::{export, Server};

#[test]
fn python_datadog_api_client_submits_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/send_logs.py");
    let output = Command::new("python3")
        .args([script, &server.url(""), &server.keys().api_key])
        .output()
        .expect("python3 runs (scripts/install-test-deps.sh installs the client)");
    assert!(
        output.status.success(),
        "the Datadog client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, stderr) = server.terminate();
    assert!(status.success(), "{stderr}");
    let lines = export(dir.path(), "default");
    let find = |m: &str| {
        lines
            .iter()
            .find(|l| l["message"] == m)
            .unwrap_or_else(|| panic!("{m} not stored"))
    };
    let first = find("python-client-identity");
    assert_eq!(first["status"], "error");
    assert_eq!(first["host"], "h1");
    assert_eq!(first["source"], "nginx");
    assert_eq!(
        first["tags"],
        serde_json::json!(["env:prod", "version:1", "team:a"])
    );
    assert_eq!(find("python-client-gzip")["attributes"]["duration"], 12);
    find("python-client-deflate");
    assert!(lines
        .iter()
        .all(|l| l["message"] != "python-client-forbidden"));
}

/// Issue 3: the real client reads logs back (search, GET list, cursor paging,
/// aggregate) and its response models accept our shapes.
#[test]
fn python_datadog_api_client_reads_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.keys();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/query_logs.py");
    let output = Command::new("python3")
        .args([script, &server.url(""), &keys.api_key, &keys.app_key])
        .output()
        .expect("python3 runs (scripts/install-test-deps.sh installs the client)");
    assert!(
        output.status.success(),
        "the Datadog client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
