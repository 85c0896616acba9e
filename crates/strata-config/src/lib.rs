//! `strata-config` is the node configuration of `strata serve`: one TOML file,
//! then `STRATA_*` environment variables, then command-line overrides, merged
//! in that order and validated strictly (unknown keys are errors everywhere).
//!
//! It is not where configuration is *used*: it only parses and validates. The
//! environment map is passed in by the caller, never read from a global, so
//! tests can build any configuration.
//!
//! Every leaf key has an environment variable named `STRATA_` + its dotted
//! path upper-cased with `.` replaced by `_`, e.g. `wal.durability` →
//! `STRATA_WAL_DURABILITY`. [`Config::env_keys`] lists them.
//!
//! ```
//! use std::collections::BTreeMap;
//! use strata_config::Config;
//! let env = BTreeMap::from([("STRATA_WAL_DURABILITY".to_string(), "none".to_string())]);
//! let config = Config::load(Some("listen = \"127.0.0.1:9000\""), &env, &[]).unwrap();
//! assert_eq!(config.listen, "127.0.0.1:9000");
//! assert_eq!(config.wal.durability, strata_config::Durability::None);
//! ```
#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod lifecycle;
mod metrics;
mod syslog;

pub use lifecycle::{
    CompactionSection, RetentionSection, S3Section, StorageBackend, StorageSection,
};
pub use metrics::{MetricsSection, StatsdListener, StatsdSection};
pub use syslog::{SyslogListener, SyslogProtocol, SyslogSection};

/// The default HTTP listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7600";

/// Errors while loading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file does not parse or has unknown keys or wrong types.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A `STRATA_*` variable names no configuration key.
    #[error("unknown environment variable {name}; known variables: {known}")]
    UnknownEnv {
        /// The variable.
        name: String,
        /// Every known variable, comma-separated.
        known: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid value for {key}: {reason}")]
    Value {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

/// WAL durability mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledge only after fsync (the default).
    Fsync,
    /// Never fsync: an acknowledged event can be lost on power loss. Benchmarks only.
    None,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole node configuration. See `README.md` for the reference table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data directory: WAL, segments, metastore, bootstrap keys.
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub listen: String,
    /// Write-ahead log.
    pub wal: WalSection,
    /// Memtables and flushing.
    pub memtable: MemtableSection,
    /// Segment files.
    pub segment: SegmentSection,
    /// Request limits and back-pressure.
    pub limits: LimitsSection,
    /// Query limits and live tail.
    pub query: QuerySection,
    /// Where segments are stored, and the read cache.
    pub storage: StorageSection,
    /// Background merging of small segments.
    pub compaction: CompactionSection,
    /// How long events are kept.
    pub retention: RetentionSection,
    /// The metrics store.
    pub metrics: MetricsSection,
    /// DogStatsD listeners.
    pub statsd: StatsdSection,
    /// Syslog listeners.
    pub syslog: SyslogSection,
    /// Logging.
    pub log: LogSection,
}

/// `[wal]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalSection {
    /// `fsync` (default) or `none`.
    pub durability: Durability,
    /// Rotate WAL files after this many bytes.
    pub max_file_bytes: u64,
    /// At most this many bytes are written per group commit.
    pub max_group_bytes: u64,
}

/// `[memtable]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemtableSection {
    /// Flush a tenant's memtable once it holds this many bytes.
    pub flush_bytes: u64,
    /// Flush a tenant's memtable once its oldest event is this old (seconds).
    pub max_age_secs: f64,
}

/// `[segment]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SegmentSection {
    /// At most this many typed attribute columns per segment; the rest overflow.
    pub max_attribute_columns: u64,
    /// Rows per Parquet row group.
    pub row_group_rows: u64,
    /// zstd level for segment pages.
    pub zstd_level: i32,
}

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Memory budget for memtables plus in-flight requests; above it ingest answers 503.
    pub memory_budget_bytes: u64,
    /// Maximum decompressed request body (Datadog: 5 MB).
    pub max_request_bytes: u64,
    /// Maximum log size; longer messages are truncated (Datadog: 1 MB).
    pub max_log_bytes: u64,
    /// Maximum items per JSON array (Datadog: 1000).
    pub max_batch_items: u64,
    /// Maximum concurrent HTTP connections.
    pub max_connections: u64,
    /// Seconds a client may take to send a whole request.
    pub request_timeout_secs: f64,
    /// Seconds a connection may take to send a request's headers (idle
    /// keep-alive connections included); then it is closed.
    pub header_timeout_secs: f64,
}

/// `[query]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuerySection {
    /// Queries one tenant may run at once; more are answered 429.
    pub max_concurrent_per_tenant: u64,
    /// Seconds one query may run; then it answers with what it has
    /// (`meta.status = "timeout"`).
    pub timeout_secs: f64,
    /// Rows one query may examine; then it answers with what it has.
    pub scan_budget_rows: u64,
    /// Memtable chunks (WAL records) a live-tail subscriber may lag behind
    /// before it is told it dropped events.
    pub tail_buffer_records: u64,
    /// Live-tail subscribers per node.
    pub max_tail_subscribers: u64,
}

impl Default for QuerySection {
    fn default() -> Self {
        QuerySection {
            max_concurrent_per_tenant: 8,
            timeout_secs: 30.0,
            scan_budget_rows: 200_000_000,
            tail_buffer_records: 1024,
            max_tail_subscribers: 256,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `strata=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./strata-data"),
            listen: DEFAULT_LISTEN.to_string(),
            wal: WalSection::default(),
            memtable: MemtableSection::default(),
            segment: SegmentSection::default(),
            limits: LimitsSection::default(),
            query: QuerySection::default(),
            storage: StorageSection::default(),
            compaction: CompactionSection::default(),
            retention: RetentionSection::default(),
            metrics: MetricsSection::default(),
            statsd: StatsdSection::default(),
            syslog: SyslogSection::default(),
            log: LogSection::default(),
        }
    }
}

impl Default for WalSection {
    fn default() -> Self {
        WalSection {
            durability: Durability::Fsync,
            max_file_bytes: 64 << 20,
            max_group_bytes: 16 << 20,
        }
    }
}

impl Default for MemtableSection {
    fn default() -> Self {
        MemtableSection {
            flush_bytes: 128 << 20,
            max_age_secs: 60.0,
        }
    }
}

impl Default for SegmentSection {
    fn default() -> Self {
        SegmentSection {
            max_attribute_columns: 256,
            row_group_rows: 65_536,
            zstd_level: 6,
        }
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            memory_budget_bytes: 512 << 20,
            max_request_bytes: 5_000_000,
            max_log_bytes: 1_000_000,
            max_batch_items: 1000,
            max_connections: 1024,
            request_timeout_secs: 30.0,
            header_timeout_secs: 10.0,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            level: "info".to_string(),
        }
    }
}

impl Config {
    /// The local segment directory (`storage.path`, or `DATA_DIR/segments`).
    pub fn segments_dir(&self) -> PathBuf {
        if self.storage.path.is_empty() {
            self.data_dir.join("segments")
        } else {
            PathBuf::from(&self.storage.path)
        }
    }

    /// The read cache directory (`storage.cache_dir`, or `DATA_DIR/cache`).
    pub fn cache_dir(&self) -> PathBuf {
        if self.storage.cache_dir.is_empty() {
            self.data_dir.join("cache")
        } else {
            PathBuf::from(&self.storage.cache_dir)
        }
    }

    /// A configuration for tests: small memtables so flushes happen quickly.
    pub fn test_config(data_dir: PathBuf) -> Config {
        let mut config = Config {
            data_dir,
            listen: "127.0.0.1:0".into(),
            ..Config::default()
        };
        config.memtable.flush_bytes = 1 << 20;
        config.memtable.max_age_secs = 1.0;
        config
    }

    /// Merges `file` (TOML text), then every `STRATA_*` entry of `env`, then
    /// `overrides` (dotted key, TOML value text), and validates the result.
    pub fn load(
        file: Option<&str>,
        env: &BTreeMap<String, String>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut root = match file {
            Some(text) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            None => toml::Table::new(),
        };
        // Validate the file alone first so its errors name the file's keys.
        toml::Value::Table(root.clone())
            .try_into::<Config>()
            .map_err(|e| ConfigError::Invalid(format!("config file: {e}")))?;
        let keys = Self::keys();
        for (name, value) in env {
            if !name.starts_with("STRATA_") || name == "STRATA_CONFIG" {
                continue;
            }
            let Some(path) = keys.iter().find(|k| env_name(k) == *name) else {
                let known = keys
                    .iter()
                    .map(|k| env_name(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ConfigError::UnknownEnv {
                    name: name.clone(),
                    known,
                });
            };
            set_path(&mut root, path, value);
        }
        for (key, value) in overrides {
            if !keys.contains(key) {
                return Err(ConfigError::Invalid(format!("unknown key {key}")));
            }
            set_path(&mut root, key, value);
        }
        let config: Config = toml::Value::Table(root)
            .try_into()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Every leaf key as a dotted path, e.g. `wal.durability`.
    pub fn keys() -> Vec<String> {
        let mut out = Vec::new();
        let value = toml::Value::try_from(Config::default())
            .unwrap_or(toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(table) = value {
            collect_keys(&table, "", &mut out);
        }
        out
    }

    /// Every `STRATA_*` variable with its key.
    pub fn env_keys() -> Vec<(String, String)> {
        Self::keys()
            .into_iter()
            .map(|k| (env_name(&k), k))
            .collect()
    }

    /// The listen address as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|e| ConfigError::Value {
            key: "listen",
            reason: format!("{}: {e}", self.listen),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let positive = [
            ("wal.max_file_bytes", self.wal.max_file_bytes),
            ("wal.max_group_bytes", self.wal.max_group_bytes),
            ("memtable.flush_bytes", self.memtable.flush_bytes),
            ("segment.row_group_rows", self.segment.row_group_rows),
            (
                "limits.memory_budget_bytes",
                self.limits.memory_budget_bytes,
            ),
            ("limits.max_request_bytes", self.limits.max_request_bytes),
            ("limits.max_log_bytes", self.limits.max_log_bytes),
            ("limits.max_batch_items", self.limits.max_batch_items),
            ("limits.max_connections", self.limits.max_connections),
            (
                "query.max_concurrent_per_tenant",
                self.query.max_concurrent_per_tenant,
            ),
            ("query.scan_budget_rows", self.query.scan_budget_rows),
            ("query.tail_buffer_records", self.query.tail_buffer_records),
            (
                "query.max_tail_subscribers",
                self.query.max_tail_subscribers,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::Value {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        if self.memtable.max_age_secs.is_nan() || self.memtable.max_age_secs <= 0.0 {
            return Err(ConfigError::Value {
                key: "memtable.max_age_secs",
                reason: "must be > 0".into(),
            });
        }
        if self.limits.header_timeout_secs.is_nan() || self.limits.header_timeout_secs <= 0.0 {
            return Err(ConfigError::Value {
                key: "limits.header_timeout_secs",
                reason: "must be > 0".into(),
            });
        }
        if self.query.timeout_secs.is_nan() || self.query.timeout_secs <= 0.0 {
            return Err(ConfigError::Value {
                key: "query.timeout_secs",
                reason: "must be > 0".into(),
            });
        }
        if self.limits.request_timeout_secs.is_nan() || self.limits.request_timeout_secs <= 0.0 {
            return Err(ConfigError::Value {
                key: "limits.request_timeout_secs",
                reason: "must be > 0".into(),
            });
        }
        if !(1..=22).contains(&self.segment.zstd_level) {
            return Err(ConfigError::Value {
                key: "segment.zstd_level",
                reason: "must be 1..=22".into(),
            });
        }
        if self.limits.memory_budget_bytes < 2 * self.limits.max_request_bytes {
            return Err(ConfigError::Value {
                key: "limits.memory_budget_bytes",
                reason: "must be at least twice limits.max_request_bytes".into(),
            });
        }
        if !(1..=22).contains(&self.metrics.zstd_level)
            || self.metrics.flush_bytes == 0
            || self.metrics.max_age_secs.is_nan()
            || self.metrics.max_age_secs <= 0.0
        {
            return Err(ConfigError::Value {
                key: "metrics",
                reason: "zstd_level must be 1..=22, flush_bytes and max_age_secs > 0".into(),
            });
        }
        self.statsd.validate()?;
        self.syslog.validate()?;
        lifecycle::validate(&self.storage, &self.compaction, &self.retention)
    }
}

fn env_name(key: &str) -> String {
    format!("STRATA_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn collect_keys(table: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => collect_keys(inner, &path, out),
            _ => out.push(path),
        }
    }
}

/// Sets `path` to `raw`, parsed as a TOML value when it is one (numbers,
/// booleans, quoted strings), else taken as a bare string.
fn set_path(root: &mut toml::Table, path: &str, raw: &str) {
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(leaf) = parts.pop() else { return };
    let mut node = root;
    for part in parts {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(inner) = entry else {
            return;
        };
        node = inner;
    }
    node.insert(leaf.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn defaults_are_valid() {
        let config = Config::load(None, &no_env(), &[]).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from("./strata-data"));
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let err = Config::load(Some("listn = \"x\""), &no_env(), &[]).unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
        let err = Config::load(Some("[wal]\nfsync = true"), &no_env(), &[]).unwrap_err();
        assert!(err.to_string().contains("fsync"), "{err}");
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let file = "[wal]\ndurability = \"fsync\"\n[memtable]\nflush_bytes = 1000";
        let env = BTreeMap::from([
            ("STRATA_WAL_DURABILITY".to_string(), "none".to_string()),
            (
                "STRATA_MEMTABLE_FLUSH_BYTES".to_string(),
                "2000".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ]);
        let flags = vec![("memtable.flush_bytes".to_string(), "3000".to_string())];
        let config = Config::load(Some(file), &env, &flags).unwrap();
        assert_eq!(config.wal.durability, Durability::None);
        assert_eq!(config.memtable.flush_bytes, 3000);
    }

    #[test]
    fn unknown_env_is_an_error() {
        let env = BTreeMap::from([("STRATA_WAL_DURABLE".to_string(), "none".to_string())]);
        let err = Config::load(None, &env, &[]).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownEnv { .. }), "{err}");
        assert!(err.to_string().contains("STRATA_WAL_DURABILITY"));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::load(Some("listen = \"nope\""), &no_env(), &[]).is_err());
        assert!(Config::load(Some("[wal]\ndurability = \"sometimes\""), &no_env(), &[]).is_err());
        assert!(Config::load(Some("[limits]\nmax_batch_items = 0"), &no_env(), &[]).is_err());
        let env = BTreeMap::from([(
            "STRATA_LIMITS_MAX_BATCH_ITEMS".to_string(),
            "many".to_string(),
        )]);
        assert!(Config::load(None, &env, &[]).is_err());
    }

    #[test]
    fn every_key_has_an_env_name() {
        let keys = Config::env_keys();
        assert!(keys.contains(&("STRATA_DATA_DIR".to_string(), "data_dir".to_string())));
        assert!(keys.contains(&("STRATA_LOG_FORMAT".to_string(), "log.format".to_string())));
        assert!(keys.len() >= 18);
    }
}
