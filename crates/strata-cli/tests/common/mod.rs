//! Helpers for integration tests that drive the real `strata` binary.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod compat;
pub mod metrics;
pub mod storage;

pub const BIN: &str = env!("CARGO_BIN_EXE_strata");

pub struct Keys {
    pub api_key: String,
    pub app_key: String,
}

/// A running `strata serve`.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub data_dir: PathBuf,
}

fn stderr_path(data_dir: &Path) -> PathBuf {
    std::fs::create_dir_all(data_dir).unwrap();
    data_dir.join("server.stderr.log")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_on(data_dir, free_port(), extra)
    }

    pub fn start_on(data_dir: &Path, port: u16, extra: &[&str]) -> Server {
        Self::spawn(data_dir, port, extra, "warn")
    }

    /// Like [`Server::start`] with `STRATA_LOG` set to `log`, e.g.
    /// `"warn,strata_index::compaction=info"` to see every merge in the
    /// stderr file.
    pub fn start_logged(data_dir: &Path, log: &str, extra: &[&str]) -> Server {
        Self::spawn(data_dir, free_port(), extra, log)
    }

    fn spawn(data_dir: &Path, port: u16, extra: &[&str], log: &str) -> Server {
        let mut command = Command::new(BIN);
        command
            .args([
                "serve",
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(extra)
            .env("STRATA_LOG", log)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(stderr_path(data_dir))
                    .unwrap(),
            ));
        for (key, _) in std::env::vars() {
            if key.starts_with("STRATA_") && key != "STRATA_LOG" {
                command.env_remove(key);
            }
        }
        let child = command.spawn().expect("spawn strata serve");
        let server = Server {
            child,
            port,
            data_dir: data_dir.to_path_buf(),
        };
        server.wait_ready();
        server
    }

    /// The server's stderr, kept in a file beside the data directory (a pipe
    /// nobody reads could fill up and block the server); appended to by restarts.
    pub fn stderr_path(&self) -> PathBuf {
        stderr_path(&self.data_dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = ureq::get(&self.url("/health/ready"))
                .timeout(Duration::from_secs(1))
                .call()
            {
                if response.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server on port {} did not become ready", self.port);
    }

    pub fn keys(&self) -> Keys {
        let text = std::fs::read_to_string(self.data_dir.join("bootstrap-keys.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        Keys {
            api_key: value["api_key"].as_str().unwrap().to_string(),
            app_key: value["app_key"].as_str().unwrap().to_string(),
        }
    }

    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status and stderr.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = self.child.wait().unwrap();
        let stderr = std::fs::read_to_string(self.stderr_path()).unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Server {
    /// A test that panics must not leave its server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Posts a body; returns (status, body text, headers we care about).
pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, ureq::Response) {
    let mut request = ureq::post(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        request = request.set(k, v);
    }
    match request.send_bytes(body) {
        Ok(response) => {
            let status = response.status();
            let text = response.into_string().unwrap_or_default();
            (status, text, ureq::Response::new(status, "OK", "").unwrap())
        }
        Err(ureq::Error::Status(status, response)) => {
            let copy = clone_headers(status, &response);
            let text = response.into_string().unwrap_or_default();
            (status, text, copy)
        }
        Err(error) => (
            0,
            error.to_string(),
            ureq::Response::new(599, "transport", "").unwrap(),
        ),
    }
}

fn clone_headers(status: u16, response: &ureq::Response) -> ureq::Response {
    let mut raw = format!("HTTP/1.1 {status} X\r\n");
    for name in response.headers_names() {
        if let Some(value) = response.header(&name) {
            raw.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    raw.push_str("\r\n");
    raw.parse()
        .unwrap_or_else(|_| ureq::Response::new(status, "X", "").unwrap())
}

pub fn post_logs(server: &Server, key: &str, body: &str) -> u16 {
    post(
        &server.url("/api/v2/logs"),
        &[("DD-API-KEY", key), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .0
}

/// Runs `strata admin …` to completion.
pub fn admin(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("admin")
        .args(args)
        .env_remove("STRATA_DATA_DIR")
        .output()
        .expect("run strata admin")
}

/// Exports a tenant; panics if the export fails.
pub fn export(data_dir: &Path, tenant: &str) -> Vec<serde_json::Value> {
    let output = admin(&[
        "export",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--tenant",
        tenant,
    ]);
    assert!(
        output.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("corrupt export line {line:?}: {e}"))
        })
        .collect()
}

/// GETs a URL; returns the status and the body parsed as JSON (`Null` when
/// the body is not JSON, status 0 on a transport error).
pub fn get_json(url: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut request = ureq::get(url).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        request = request.set(k, v);
    }
    let (status, text) = match request.call() {
        Ok(response) => (
            response.status(),
            response.into_string().unwrap_or_default(),
        ),
        Err(ureq::Error::Status(status, response)) => {
            (status, response.into_string().unwrap_or_default())
        }
        Err(error) => return (0, serde_json::Value::String(error.to_string())),
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// A UDP port nobody listens on right now (for `--statsd-listen`).
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sum of every sample of a Prometheus metric on the server's
/// `GET /metrics` whose labels contain `label` (`""` for all), e.g.
/// `prometheus_sum(&server, "strata_statsd_parse_errors_total", "")`.
pub fn prometheus_sum(server: &Server, name: &str, label: &str) -> f64 {
    let text = ureq::get(&server.url("/metrics"))
        .timeout(Duration::from_secs(10))
        .call()
        .expect("GET /metrics")
        .into_string()
        .unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((metric, labels)) => (metric, labels),
                None => (series, ""),
            };
            (metric == name && labels.contains(label)).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Percent-encodes a query-string value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /api/v1/query?from&to&query` with the tenant's API and application
/// keys; returns the status and the JSON answer.
pub fn metrics_query(
    server: &Server,
    keys: &Keys,
    from: i64,
    to: i64,
    query: &str,
) -> (u16, serde_json::Value) {
    let url = format!(
        "{}?from={from}&to={to}&query={}",
        server.url("/api/v1/query"),
        url_encode(query)
    );
    get_json(
        &url,
        &[
            ("DD-API-KEY", &keys.api_key),
            ("DD-APPLICATION-KEY", &keys.app_key),
        ],
    )
}
