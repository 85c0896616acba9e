//! `[storage]`, `[compaction]` and `[retention]`: where segments live and how
//! they age.

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Where segments are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// A local directory (`storage.path`, default `DATA_DIR/segments`).
    Local,
    /// An S3-compatible object store (`[storage.s3]`).
    S3,
}

/// `[storage]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `local` (default) or `s3`.
    pub backend: StorageBackend,
    /// Local backend: the segment directory; empty means `DATA_DIR/segments`.
    pub path: String,
    /// Read cache directory for remote segments; empty means `DATA_DIR/cache`.
    pub cache_dir: String,
    /// Size bound of the read cache of segment byte ranges (S3 backend only:
    /// local files are cached by the OS); 0 disables it.
    pub cache_max_bytes: u64,
    /// S3-compatible object store.
    pub s3: S3Section,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            backend: StorageBackend::Local,
            path: String::new(),
            cache_dir: String::new(),
            cache_max_bytes: 1 << 30,
            s3: S3Section::default(),
        }
    }
}

/// `[storage.s3]`. Empty strings fall back to the standard `AWS_*`
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Section {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`; empty means AWS.
    pub endpoint: String,
    /// Bucket (required with `backend = "s3"`).
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `strata/prod`; every object key is
    /// `<prefix>/<tenant>/...`.
    pub prefix: String,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Path-style addressing (`endpoint/bucket/key`), as most S3-compatible
    /// servers want; `false` uses virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Allow a plain `http://` endpoint.
    pub allow_http: bool,
}

impl Default for S3Section {
    fn default() -> Self {
        S3Section {
            endpoint: String::new(),
            bucket: String::new(),
            prefix: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            path_style: true,
            allow_http: false,
        }
    }
}

/// `[compaction]`: size-tiered merging of one tenant's segments of one hour
/// bucket. See `docs/decisions.md` ("Compaction").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompactionSection {
    /// Run compaction in the background.
    pub enabled: bool,
    /// Seconds between planning passes.
    pub interval_secs: f64,
    /// Tier width and trigger: segments whose row counts are within this
    /// factor of each other form a tier, and a tier with this many segments
    /// is merged.
    pub merge_factor: u64,
    /// Most segments one merge reads.
    pub max_merge_segments: u64,
    /// Segments with at least this many rows are final; a merge writes at
    /// most this many rows (it holds them in memory while it sorts).
    pub target_segment_rows: u64,
    /// An hour bucket that ended this many seconds ago has all of its small
    /// segments merged, whatever their tiers.
    pub cold_after_secs: f64,
    /// zstd level of merged segments (flush uses `segment.zstd_level`).
    pub zstd_level: i32,
    /// Rows per Parquet row group of merged segments.
    pub row_group_rows: u64,
    /// Replaced segments are deleted from storage this many seconds after the
    /// swap, so that queries already reading them finish.
    pub grace_secs: f64,
    /// Storage bytes per second (read plus written) that compaction and
    /// retention may use together.
    pub max_bytes_per_sec: u64,
}

impl Default for CompactionSection {
    fn default() -> Self {
        CompactionSection {
            enabled: true,
            interval_secs: 10.0,
            merge_factor: 4,
            max_merge_segments: 32,
            target_segment_rows: 300_000,
            cold_after_secs: 900.0,
            zstd_level: 9,
            row_group_rows: 131_072,
            grace_secs: 300.0,
            max_bytes_per_sec: 128 << 20,
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Days a tenant's events are kept unless `strata admin tenant
    /// set-retention` says otherwise (Datadog's standard plan: 15).
    pub default_days: u64,
    /// Seconds between retention passes.
    pub interval_secs: f64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            default_days: 15,
            interval_secs: 60.0,
        }
    }
}

pub(crate) fn validate(
    storage: &StorageSection,
    compaction: &CompactionSection,
    retention: &RetentionSection,
) -> Result<(), ConfigError> {
    if storage.backend == StorageBackend::S3 && storage.s3.bucket.is_empty() {
        return Err(ConfigError::Value {
            key: "storage.s3.bucket",
            reason: "required when storage.backend = \"s3\"".into(),
        });
    }
    let positive_secs = [
        ("compaction.interval_secs", compaction.interval_secs),
        ("compaction.grace_secs", compaction.grace_secs),
        ("retention.interval_secs", retention.interval_secs),
    ];
    for (key, value) in positive_secs {
        if value.is_nan() || value <= 0.0 {
            return Err(ConfigError::Value {
                key,
                reason: "must be > 0".into(),
            });
        }
    }
    if compaction.cold_after_secs.is_nan() || compaction.cold_after_secs < 0.0 {
        return Err(ConfigError::Value {
            key: "compaction.cold_after_secs",
            reason: "must be >= 0".into(),
        });
    }
    let positive = [
        (
            "compaction.target_segment_rows",
            compaction.target_segment_rows,
        ),
        ("compaction.row_group_rows", compaction.row_group_rows),
        ("compaction.max_bytes_per_sec", compaction.max_bytes_per_sec),
        ("retention.default_days", retention.default_days),
    ];
    for (key, value) in positive {
        if value == 0 {
            return Err(ConfigError::Value {
                key,
                reason: "must be greater than 0".into(),
            });
        }
    }
    if compaction.merge_factor < 2 {
        return Err(ConfigError::Value {
            key: "compaction.merge_factor",
            reason: "must be at least 2".into(),
        });
    }
    if compaction.max_merge_segments < 2 {
        return Err(ConfigError::Value {
            key: "compaction.max_merge_segments",
            reason: "must be at least 2".into(),
        });
    }
    if !(1..=22).contains(&compaction.zstd_level) {
        return Err(ConfigError::Value {
            key: "compaction.zstd_level",
            reason: "must be 1..=22".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::Config;

    #[test]
    fn s3_needs_a_bucket_and_env_sets_it() {
        let err =
            Config::load(Some("[storage]\nbackend = \"s3\""), &BTreeMap::new(), &[]).unwrap_err();
        assert!(err.to_string().contains("storage.s3.bucket"), "{err}");
        let env = BTreeMap::from([
            ("STRATA_STORAGE_BACKEND".to_string(), "s3".to_string()),
            ("STRATA_STORAGE_S3_BUCKET".to_string(), "logs".to_string()),
            (
                "STRATA_STORAGE_S3_ENDPOINT".to_string(),
                "http://127.0.0.1:9000".to_string(),
            ),
        ]);
        let config = Config::load(None, &env, &[]).unwrap();
        assert_eq!(config.storage.s3.bucket, "logs");
        assert_eq!(config.storage.s3.endpoint, "http://127.0.0.1:9000");
        assert!(config.storage.s3.path_style);
    }

    #[test]
    fn lifecycle_values_are_checked() {
        let none = BTreeMap::new();
        for bad in [
            "[compaction]\nmerge_factor = 1",
            "[compaction]\nzstd_level = 30",
            "[compaction]\ngrace_secs = 0",
            "[retention]\ndefault_days = 0",
            "[storage]\nbackend = \"memory\"",
        ] {
            assert!(Config::load(Some(bad), &none, &[]).is_err(), "{bad}");
        }
        let config = Config::load(None, &none, &[]).unwrap();
        assert_eq!(config.retention.default_days, 15);
        assert!(config.compaction.enabled);
    }
}
