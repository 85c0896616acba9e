//! The server under test: a `strata serve` child process of the current
//! executable on a free loopback port, and a small synchronous HTTP client
//! for its intake, read API and metrics.

use std::fs::File;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use strata_server::{BootstrapKeys, BOOTSTRAP_FILE};

/// Where the server is and the keys of its `default` tenant.
#[derive(Debug, Clone)]
pub(super) struct Api {
    /// `http://host:port`, no trailing slash.
    pub(super) base: String,
    /// Sent as `DD-API-KEY`.
    pub(super) api_key: String,
    /// Sent as `DD-APPLICATION-KEY`.
    pub(super) app_key: String,
}

/// One answered read request.
#[derive(Debug)]
pub(super) struct Answer {
    /// The parsed JSON body.
    pub(super) body: Value,
    /// Wall time from sending the request to the last byte of the answer.
    pub(super) ms: f64,
}

/// An HTTP agent with one idle connection kept per host: use one per thread.
pub(super) fn agent(read_timeout: Duration) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(read_timeout)
        .timeout_write(Duration::from_secs(60))
        .user_agent(concat!("strata-bench/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl Api {
    /// POSTs a JSON body to a read endpoint (both keys) and times the round
    /// trip up to the last byte of the answer (parsing excluded).
    pub(super) fn read(
        &self,
        agent: &ureq::Agent,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Answer> {
        let url = format!("{}{path}", self.base);
        let text = body.to_string();
        let start = Instant::now();
        let response = agent
            .post(&url)
            .set("DD-API-KEY", &self.api_key)
            .set("DD-APPLICATION-KEY", &self.app_key)
            .set("Content-Type", "application/json")
            .send_string(&text);
        let response = match response {
            Ok(response) => response,
            Err(ureq::Error::Status(code, response)) => {
                let detail = response.into_string().unwrap_or_default();
                bail!(
                    "POST {path} answered {code}: {}",
                    detail.chars().take(300).collect::<String>()
                );
            }
            Err(error) => return Err(error).with_context(|| format!("POST {path}")),
        };
        let mut bytes = Vec::new();
        response
            .into_reader()
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading the answer of POST {path}"))?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let body = serde_json::from_slice(&bytes)
            .with_context(|| format!("parsing the answer of POST {path}"))?;
        Ok(Answer { body, ms })
    }

    /// POSTs one intake request (`DD-API-KEY` only). `Ok(status)` for any
    /// HTTP answer, `Err` for transport failures.
    pub(super) fn intake(
        &self,
        agent: &ureq::Agent,
        body: &[u8],
        gzip: bool,
    ) -> Result<u16, String> {
        let mut request = agent
            .post(&format!("{}/api/v2/logs", self.base))
            .set("DD-API-KEY", &self.api_key)
            .set("Content-Type", "application/json");
        if gzip {
            request = request.set("Content-Encoding", "gzip");
        }
        let response = match request.send_bytes(body) {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(transport)) => return Err(transport.to_string()),
        };
        let status = response.status();
        // Read the answer to the end so the connection is reused.
        let _ = response.into_string();
        Ok(status)
    }

    /// The value of an unlabelled gauge in `/metrics`, if present.
    pub(super) fn metric(&self, agent: &ureq::Agent, name: &str) -> Option<f64> {
        let text = agent
            .get(&format!("{}/metrics", self.base))
            .call()
            .ok()?
            .into_string()
            .ok()?;
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(' ')?;
            rest.trim().parse().ok()
        })
    }
}

/// `--url` without the trailing slash; `host:port` gets `http://`.
pub(super) fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Reads `DATA_DIR/bootstrap-keys.json`.
pub(super) fn read_keys(data_dir: &Path) -> anyhow::Result<BootstrapKeys> {
    let path = data_dir.join(BOOTSTRAP_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A `strata serve` child process. Dropping it stops the server (SIGTERM,
/// then SIGKILL after 30 s).
#[derive(Debug)]
pub(super) struct ServerProcess {
    child: Option<Child>,
    /// Its base URL.
    pub(super) url: String,
    /// Its stdout and stderr.
    pub(super) log: PathBuf,
}

impl ServerProcess {
    /// Starts `strata serve` on a free loopback port with `--data-dir
    /// data_dir` and the given `--set` overrides, and waits until
    /// `/health/ready` answers 200.
    pub(super) fn start(data_dir: &Path, sets: &[String]) -> anyhow::Result<ServerProcess> {
        let exe = exe()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let mut log = data_dir.as_os_str().to_owned();
        log.push(".serve.log");
        let log = PathBuf::from(log);
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"));
        for set in sets {
            command.arg("--set").arg(set);
        }
        if std::env::var_os("STRATA_LOG").is_none() {
            command.env("STRATA_LOG", "warn");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting `strata serve`")?;
        let mut server = ServerProcess {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(Duration::from_secs(120))?;
        Ok(server)
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let agent = agent(Duration::from_secs(2));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "`strata serve` exited with {status} before it was ready; its log ({}):\n{}",
                        self.log.display(),
                        self.log_tail()
                    );
                }
            }
            let url = format!("{}/health/ready", self.url);
            if agent.get(&url).call().is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "`strata serve` not ready after {timeout:?}; its log ({}):\n{}",
                    self.log.display(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Peak resident set size of the server so far (`VmHWM`), in MiB.
    pub(super) fn peak_rss_mib(&self) -> Option<f64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Sends SIGTERM (the server drains and flushes) and waits up to
    /// `timeout` for it to exit, then kills it.
    pub(super) fn stop(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // No libc (unsafe is denied in this workspace): kill(1) sends it.
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        if !sent.is_ok_and(|s| s.success()) {
            let _ = child.kill();
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "`strata serve` exited with {status}; see {}",
                        self.log.display()
                    );
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("`strata serve` did not stop within {timeout:?} of SIGTERM; killed it");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Err(error) = self.stop(Duration::from_secs(30)) {
                eprintln!("bench: {error:#}");
            }
        }
    }
}

/// This executable. When it was replaced on disk while running (a rebuild),
/// Linux names it `PATH (deleted)`: the new file at PATH is used then.
fn exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the strata executable")?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

/// Runs `strata admin export --data-dir DIR --tenant default > path` (the
/// server must be stopped).
pub(super) fn export(data_dir: &Path, path: &Path) -> anyhow::Result<()> {
    let exe = exe()?;
    let out = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let status = Command::new(exe)
        .args(["admin", "export", "--tenant", "default", "--data-dir"])
        .arg(data_dir)
        .stdout(out)
        .status()
        .context("running `strata admin export`")?;
    if !status.success() {
        bail!("`strata admin export` exited with {status}");
    }
    Ok(())
}
