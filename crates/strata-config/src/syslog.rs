//! `[syslog]`: syslog listeners (RFC 3164 and RFC 5424 over TCP and UDP).

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The transport of a syslog listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// TCP (RFC 6587: octet-counted or LF-terminated frames).
    Tcp,
    /// UDP (RFC 5426: one message per datagram).
    Udp,
}

impl SyslogProtocol {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            SyslogProtocol::Tcp => "tcp",
            SyslogProtocol::Udp => "udp",
        }
    }
}

/// One syslog listener: an address, a transport, and the API key whose
/// tenant owns everything it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogListener {
    /// Address, e.g. `127.0.0.1:1514`.
    pub listen: String,
    /// `tcp` (default) or `udp`.
    #[serde(default = "default_protocol")]
    pub protocol: SyslogProtocol,
    /// An API key (secret); its tenant owns the listener's events. Empty:
    /// the `default` tenant's key from `DATA_DIR/bootstrap-keys.json`.
    #[serde(default)]
    pub api_key: String,
}

fn default_protocol() -> SyslogProtocol {
    SyslogProtocol::Tcp
}

/// `[syslog]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    /// Listeners, e.g. `[{ listen = "127.0.0.1:1514", protocol = "tcp",
    /// api_key = "…" }]` (`strata serve --syslog-listen tcp://ADDR` adds one).
    pub listeners: Vec<SyslogListener>,
    /// Longest message kept, in bytes (a TCP frame or a datagram); longer
    /// ones are cut there and flagged `syslog.truncated`.
    pub max_line_bytes: u64,
    /// Open TCP connections over all syslog listeners; more are closed at
    /// once and counted.
    pub max_connections: u64,
    /// A TCP connection that sends nothing for this long is closed.
    pub idle_timeout_secs: f64,
    /// A batch (one WAL record) is committed at this many messages ...
    pub batch_max_lines: u64,
    /// ... or this many message bytes (clamped to `limits.max_request_bytes`:
    /// the memory budget is sized for requests) ...
    pub batch_max_bytes: u64,
    /// ... or this long after its first message arrived.
    pub batch_max_wait_ms: u64,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection {
            listeners: Vec::new(),
            max_line_bytes: 64 << 10,
            max_connections: 1024,
            idle_timeout_secs: 300.0,
            batch_max_lines: 1000,
            batch_max_bytes: 1 << 20,
            batch_max_wait_ms: 20,
        }
    }
}

impl SyslogSection {
    /// Checks the listeners and bounds.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let value = |key: &'static str, reason: String| ConfigError::Value { key, reason };
        let mut seen = std::collections::HashSet::new();
        for listener in &self.listeners {
            let addr = listener
                .listen
                .parse::<std::net::SocketAddr>()
                .map_err(|e| value("syslog.listeners", format!("{}: {e}", listener.listen)))?;
            if !seen.insert((addr, listener.protocol)) {
                return Err(value(
                    "syslog.listeners",
                    format!("{} {addr} is listed twice", listener.protocol.as_str()),
                ));
            }
        }
        if !(480..=16 << 20).contains(&self.max_line_bytes) {
            return Err(value(
                "syslog.max_line_bytes",
                "must be 480 (RFC 5424's minimum) to 16777216".into(),
            ));
        }
        if self.max_connections == 0 || self.batch_max_lines == 0 {
            return Err(value(
                "syslog",
                "max_connections and batch_max_lines must be greater than 0".into(),
            ));
        }
        let timeout = self.idle_timeout_secs;
        if !timeout.is_finite() || timeout <= 0.0 {
            return Err(value("syslog.idle_timeout_secs", "must be > 0".into()));
        }
        if self.batch_max_wait_ms > 10_000 {
            return Err(value(
                "syslog.batch_max_wait_ms",
                "must be at most 10000".into(),
            ));
        }
        // Above limits.max_request_bytes is not an error: the listeners clamp
        // to it, so lowering the request limit alone never stops a start.
        if self.batch_max_bytes < self.max_line_bytes {
            return Err(value(
                "syslog.batch_max_bytes",
                "must be at least syslog.max_line_bytes".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::Config;

    #[test]
    fn listeners_and_limits() {
        let file = r#"
            [syslog]
            listeners = [{ listen = "127.0.0.1:1514", protocol = "udp", api_key = "k" },
                         { listen = "127.0.0.1:1514" }]
            max_line_bytes = 2048
            idle_timeout_secs = 0.5
        "#;
        let config = Config::load(Some(file), &BTreeMap::new(), &[]).unwrap();
        let listeners = &config.syslog.listeners;
        assert_eq!(listeners[0].protocol, SyslogProtocol::Udp);
        assert_eq!(listeners[1].protocol, SyslogProtocol::Tcp);
        assert_eq!(listeners[1].api_key, "");
        assert_eq!(config.syslog.max_line_bytes, 2048);
        assert_eq!(config.syslog.batch_max_lines, 1000);

        for bad in [
            "[syslog]\nlisteners = [{ listen = \"nope\" }]",
            "[syslog]\nlisteners = [{ listen = \"127.0.0.1:1\", protocol = \"sctp\" }]",
            "[syslog]\nlisteners = [{ listen = \"127.0.0.1:1\" }, { listen = \"127.0.0.1:1\" }]",
            "[syslog]\nmax_line_bytes = 10",
            "[syslog]\nidle_timeout_secs = 0",
            "[syslog]\nbatch_max_lines = 0",
            "[syslog]\nbatch_max_bytes = 100",
            "[syslog]\nport = 514",
        ] {
            assert!(
                Config::load(Some(bad), &BTreeMap::new(), &[]).is_err(),
                "{bad}"
            );
        }
        let env = BTreeMap::from([(
            "STRATA_SYSLOG_BATCH_MAX_WAIT_MS".to_string(),
            "5".to_string(),
        )]);
        let config = Config::load(None, &env, &[]).unwrap();
        assert_eq!(config.syslog.batch_max_wait_ms, 5);
    }
}
