//! Running the real client scripts of the compatibility tests
//! (`tests/compat/`, installed by `scripts/install-test-deps.sh`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `program` with `args`; panics with its output unless it exits 0.
/// Returns stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} does not run ({e}): run scripts/install-test-deps.sh")
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `python3 tests/compat/<script> args…`.
pub fn python(script: &str, args: &[&str]) -> String {
    let path = format!("{}/tests/compat/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut all = vec![path.as_str()];
    all.extend_from_slice(args);
    run("python3", &all)
}

/// `node tests/compat/otlp-js/<script> args…` (its node_modules come from
/// `npm ci` in scripts/install-test-deps.sh).
pub fn node(script: &str, args: &[&str]) -> String {
    let dir = format!("{}/tests/compat/otlp-js", env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new(&dir).join("node_modules/@opentelemetry").is_dir(),
        "{dir}/node_modules is missing: run scripts/install-test-deps.sh"
    );
    let path = format!("{dir}/{script}");
    let mut all = vec![path.as_str()];
    all.extend_from_slice(args);
    run("node", &all)
}

/// The JSON object a script prints on its last non-empty line.
pub fn last_json(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("no output: {stdout:?}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {line}"))
}
