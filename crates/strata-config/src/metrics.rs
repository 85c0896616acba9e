//! `[metrics]` and `[statsd]`: the metrics store and the DogStatsD listeners.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// A tenant's metrics memtable is flushed to a segment at this size.
    pub flush_bytes: u64,
    /// ... or this long after its first point arrived.
    pub max_age_secs: f64,
    /// zstd level of flushed metric segments (compaction uses
    /// `compaction.zstd_level`).
    pub zstd_level: i32,
    /// Points older than this (relative to arrival) are dropped and counted
    /// (`strata_metric_points_dropped_total`); Datadog drops points more than
    /// one hour old. Raise it to backfill.
    pub max_past_secs: u64,
    /// Points further than this in the future are dropped and counted
    /// (Datadog: 10 minutes).
    pub max_future_secs: u64,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            flush_bytes: 64 << 20,
            max_age_secs: 60.0,
            zstd_level: 3,
            max_past_secs: 3600,
            max_future_secs: 600,
        }
    }
}

/// One DogStatsD listener: a UDP address and the API key whose tenant owns
/// everything it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdListener {
    /// UDP address, e.g. `127.0.0.1:8125`.
    pub listen: String,
    /// An API key (secret); its tenant owns the listener's metrics. Empty:
    /// the `default` tenant's key from `DATA_DIR/bootstrap-keys.json`.
    #[serde(default)]
    pub api_key: String,
}

/// `[statsd]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsdSection {
    /// Listeners, e.g. `[{ listen = "127.0.0.1:8125", api_key = "…" }]`
    /// (`strata serve --statsd-listen ADDR --statsd-api-key KEY` adds one).
    pub listeners: Vec<StatsdListener>,
    /// Socket receive buffer requested with SO_RCVBUF (the kernel may cap
    /// it at `net.core.rmem_max`; the granted size is logged).
    pub recv_buffer_bytes: u64,
    /// Most aggregation contexts (metric, tags, host) of one listener per
    /// window; new contexts beyond it are dropped and counted.
    pub max_contexts: u64,
}

impl Default for StatsdSection {
    fn default() -> Self {
        StatsdSection {
            listeners: Vec::new(),
            recv_buffer_bytes: 16 << 20,
            max_contexts: 1_000_000,
        }
    }
}

impl StatsdSection {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for listener in &self.listeners {
            listener
                .listen
                .parse::<std::net::SocketAddr>()
                .map_err(|e| ConfigError::Value {
                    key: "statsd.listeners",
                    reason: format!("{}: {e}", listener.listen),
                })?;
        }
        if self.max_contexts == 0 {
            return Err(ConfigError::Value {
                key: "statsd.max_contexts",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }
}
