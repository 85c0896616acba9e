//! The HTTP side of the client commands: keys, requests, and turning the
//! server's `{"errors":["…"]}` answers into readable errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use strata_server::{BootstrapKeys, BOOTSTRAP_FILE};

use super::Connect;

/// An authenticated connection to one server.
#[derive(Debug)]
pub(super) struct Client {
    agent: ureq::Agent,
    base_url: String,
    api_key: String,
    app_key: String,
    /// The bootstrap keys file when a key came from it, to name it when the
    /// server refuses the key.
    keys_file: Option<PathBuf>,
}

impl Client {
    /// `read_timeout` bounds each wait for bytes from the server, not the
    /// whole request, so a long stream stays open as long as data (or
    /// keep-alives) arrive.
    pub(super) fn new(connect: &Connect, read_timeout: Duration) -> anyhow::Result<Client> {
        let keys = resolve_keys(connect)?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(read_timeout)
            .timeout_write(Duration::from_secs(60))
            .user_agent(concat!("strata-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base_url: base_url(&connect.url),
            api_key: keys.api_key,
            app_key: keys.app_key,
            keys_file: keys.file,
        })
    }

    /// POSTs `body` as JSON and parses the JSON answer.
    pub(super) fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base_url);
        let request = self.authorized(self.agent.post(&url));
        let response = request
            .send_json(body)
            .map_err(|error| self.request_error(error))?;
        let value: Value = response
            .into_json()
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok(value)
    }

    /// GETs `path?query` and returns the body as a stream, for Server-Sent
    /// Events.
    pub(super) fn get_stream(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<Box<dyn Read + Send + Sync>> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .authorized(self.agent.get(&url))
            .set("Accept", "text/event-stream");
        for (name, value) in query {
            request = request.query(name, value);
        }
        let response = request.call().map_err(|error| self.request_error(error))?;
        Ok(response.into_reader())
    }

    fn authorized(&self, request: ureq::Request) -> ureq::Request {
        request
            .set("DD-API-KEY", &self.api_key)
            .set("DD-APPLICATION-KEY", &self.app_key)
    }

    fn request_error(&self, error: ureq::Error) -> anyhow::Error {
        let transport = match error {
            ureq::Error::Status(code, response) => {
                let reason = response.status_text().to_string();
                let body = response.into_string().unwrap_or_default();
                let message = server_error_message(&body).unwrap_or_else(|| reason.clone());
                let mut text = format!("server answered {code} {reason}: {message}");
                if code == 401 || code == 403 {
                    text.push_str(&self.key_hint());
                }
                return anyhow!(text);
            }
            ureq::Error::Transport(transport) => transport,
        };
        if transport.kind() == ureq::ErrorKind::ConnectionFailed {
            return anyhow!("{transport} (is `strata serve` running there? see --url)");
        }
        // The transport error starts with the URL.
        anyhow!("request failed: {transport}")
    }

    fn key_hint(&self) -> String {
        match &self.keys_file {
            Some(path) => format!(
                " (keys not given as flags were read from {}; \
                 pass --api-key and --app-key for another tenant)",
                path.display()
            ),
            None => " (check --api-key and --app-key, \
                     or DD_API_KEY and DD_APP_KEY in the environment)"
                .to_string(),
        }
    }
}

#[derive(Debug)]
struct Keys {
    api_key: String,
    app_key: String,
    file: Option<PathBuf>,
}

/// Keys from the flags (or their environment variables), the missing ones
/// from `DATA_DIR/bootstrap-keys.json`.
fn resolve_keys(connect: &Connect) -> anyhow::Result<Keys> {
    let api_key = non_empty(connect.api_key.as_deref());
    let app_key = non_empty(connect.app_key.as_deref());
    if let (Some(api_key), Some(app_key)) = (api_key, app_key) {
        return Ok(Keys {
            api_key: api_key.to_string(),
            app_key: app_key.to_string(),
            file: None,
        });
    }
    let path = connect.data_dir.join(BOOTSTRAP_FILE);
    let bootstrap = read_bootstrap_keys(&path)?;
    Ok(Keys {
        api_key: api_key.map(str::to_string).unwrap_or(bootstrap.api_key),
        app_key: app_key.map(str::to_string).unwrap_or(bootstrap.app_key),
        file: Some(path),
    })
}

fn read_bootstrap_keys(path: &Path) -> anyhow::Result<BootstrapKeys> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "no keys: pass --api-key and --app-key (or set DD_API_KEY and DD_APP_KEY), \
             or point --data-dir at the server's data directory ({} does not exist)",
            path.display()
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("reading the keys in {}", path.display()))
        }
    };
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// An empty `DD_API_KEY=` counts as not set.
fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `--url` without the trailing slash; `host:port` gets `http://`.
fn base_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// The message of a `{"errors":[…]}` body (all of them, `errors[0]` first),
/// or the body itself, shortened, when it is not that shape.
pub(super) fn server_error_message(body: &str) -> Option<String> {
    const MAX_RAW: usize = 300;
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    let errors = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|value| value.get("errors").and_then(Value::as_array).cloned());
    let Some(errors) = errors else {
        return Some(super::table::truncate(
            &super::table::one_line(body),
            MAX_RAW,
        ));
    };
    let mut messages = Vec::new();
    for error in &errors {
        let message = match error {
            Value::String(text) => text.clone(),
            Value::Object(fields) => ["detail", "title", "message"]
                .iter()
                .find_map(|key| fields.get(*key).and_then(Value::as_str))
                .map_or_else(|| error.to_string(), str::to_string),
            other => other.to_string(),
        };
        messages.push(message);
    }
    if messages.is_empty() {
        return None;
    }
    Some(messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_takes_the_errors_array() {
        assert_eq!(
            server_error_message(r#"{"errors":["invalid query: unexpected ')' at 12"]}"#),
            Some("invalid query: unexpected ')' at 12".to_string())
        );
        assert_eq!(
            server_error_message(r#"{"errors":["first","second"]}"#),
            Some("first; second".to_string())
        );
        assert_eq!(
            server_error_message(
                r#"{"errors":[{"title":"Bad Request","detail":"no such facet"}]}"#
            ),
            Some("no such facet".to_string())
        );
    }

    #[test]
    fn error_message_falls_back_to_the_body() {
        assert_eq!(server_error_message(""), None);
        assert_eq!(server_error_message(r#"{"errors":[]}"#), None);
        assert_eq!(
            server_error_message("upstream\nexploded\n"),
            Some("upstream exploded".to_string())
        );
        let long = "x".repeat(1000);
        assert_eq!(server_error_message(&long).unwrap().chars().count(), 300);
        assert_eq!(
            server_error_message(r#"{"error":"other shape"}"#),
            Some(r#"{"error":"other shape"}"#.to_string())
        );
    }

    #[test]
    fn base_url_is_normalised() {
        assert_eq!(base_url("http://127.0.0.1:7600/"), "http://127.0.0.1:7600");
        assert_eq!(base_url("localhost:7600"), "http://localhost:7600");
        assert_eq!(
            base_url(" https://logs.example.com "),
            "https://logs.example.com"
        );
    }

    #[test]
    fn empty_keys_count_as_missing() {
        assert_eq!(non_empty(Some("")), None);
        assert_eq!(non_empty(Some("  ")), None);
        assert_eq!(non_empty(Some("abc")), Some("abc"));
        assert_eq!(non_empty(None), None);
    }
}
