//! Backends and their options, and how each becomes an `ObjectStore`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use crate::error::{Result, StorageError};

/// Where segments live.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A directory on the local disk (`root` is created if missing). Writes
    /// are durable: temp file, fsync, rename, fsync of the directory.
    Local {
        /// The segment root, e.g. `DATA_DIR/segments`.
        root: PathBuf,
    },
    /// In memory, for tests; lost at exit.
    Memory,
    /// An S3-compatible object store.
    S3(S3Options),
}

/// S3 settings. The builder starts from the standard `AWS_*` environment
/// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...); every `Some` or non-empty field here overrides
/// them.
#[derive(Clone, Default)]
pub struct S3Options {
    /// Endpoint URL for non-AWS servers (MinIO, s3s, R2...), e.g.
    /// `http://127.0.0.1:9900`.
    pub endpoint: Option<String>,
    /// Bucket name (required).
    pub bucket: String,
    /// Key prefix inside the bucket (`""` for none), without slashes at
    /// either end, e.g. `strata/segments`.
    pub prefix: String,
    /// Region; `""` keeps the environment's (or the default `us-east-1`).
    pub region: String,
    /// Access key id; `None` keeps the environment's.
    pub access_key_id: Option<String>,
    /// Secret access key; `None` keeps the environment's.
    pub secret_access_key: Option<String>,
    /// Path-style requests (`http://host/bucket/key`), which most
    /// self-hosted servers need.
    pub path_style: bool,
    /// Allow plain `http://` endpoints.
    pub allow_http: bool,
}

impl fmt::Debug for S3Options {
    /// The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = self.secret_access_key.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &secret)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The local disk cache of segment byte ranges (footers, column chunks).
///
/// Meant for remote backends (S3): local segments are already served by the
/// OS page cache, so a cache in front of them would only copy bytes twice.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// A directory owned by this cache. Its cache files (`*.bin`, `*.tmp`)
    /// are deleted at open; one store per directory.
    pub dir: PathBuf,
    /// Upper bound of the cached bytes; least recently used ranges are
    /// evicted beyond it.
    pub max_bytes: u64,
}

/// An opened backend.
#[derive(Debug)]
pub(crate) struct OpenedBackend {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) description: String,
    /// Set for the local backend, whose puts bypass `object_store`.
    pub(crate) local: Option<LocalBackend>,
}

/// The local backend's file system and its canonical root.
#[derive(Debug)]
pub(crate) struct LocalBackend {
    pub(crate) fs: Arc<LocalFileSystem>,
    pub(crate) root: PathBuf,
}

pub(crate) fn open_backend(backend: &Backend) -> Result<OpenedBackend> {
    match backend {
        Backend::Local { root } => open_local(root),
        Backend::Memory => Ok(OpenedBackend {
            store: Arc::new(InMemory::new()),
            description: "memory".to_string(),
            local: None,
        }),
        Backend::S3(options) => open_s3(options),
    }
}

fn open_local(root: &std::path::Path) -> Result<OpenedBackend> {
    std::fs::create_dir_all(root).map_err(|error| {
        StorageError::Config(format!(
            "cannot create segment root {}: {error}",
            root.display()
        ))
    })?;
    let local = LocalFileSystem::new_with_prefix(root).map_err(|error| {
        StorageError::Config(format!(
            "cannot open segment root {}: {error}",
            root.display()
        ))
    })?;
    let canonical = std::fs::canonicalize(root)?;
    let local = Arc::new(local);
    let store: Arc<dyn ObjectStore> = Arc::<LocalFileSystem>::clone(&local);
    Ok(OpenedBackend {
        store,
        description: format!("local:{}", root.display()),
        local: Some(LocalBackend {
            fs: local,
            root: canonical,
        }),
    })
}

fn open_s3(options: &S3Options) -> Result<OpenedBackend> {
    let builder = s3_builder(options)?;
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::Endpoint)
        .unwrap_or_else(|| "aws".to_string());
    let s3 = builder
        .build()
        .map_err(|error| StorageError::Config(format!("invalid s3 configuration: {error}")))?;
    let prefix = options.prefix.trim_matches('/');
    let description = if prefix.is_empty() {
        format!("s3://{} ({endpoint})", options.bucket)
    } else {
        format!("s3://{}/{prefix} ({endpoint})", options.bucket)
    };
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        let prefix = ObjectPath::parse(prefix).map_err(|error| {
            StorageError::Config(format!("invalid s3 prefix {prefix:?}: {error}"))
        })?;
        Arc::new(PrefixStore::new(s3, prefix))
    };
    Ok(OpenedBackend {
        store,
        description,
        local: None,
    })
}

/// `AmazonS3Builder::from_env()` overridden by every set field of `options`.
fn s3_builder(options: &S3Options) -> Result<AmazonS3Builder> {
    if options.bucket.is_empty() {
        return Err(StorageError::Config("s3 bucket is empty".to_string()));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&options.bucket);
    if let Some(endpoint) = non_empty(&options.endpoint) {
        builder = builder.with_endpoint(endpoint);
    }
    if !options.region.is_empty() {
        builder = builder.with_region(&options.region);
    }
    if let Some(key) = non_empty(&options.access_key_id) {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = non_empty(&options.secret_access_key) {
        builder = builder.with_secret_access_key(secret);
    }
    if options.path_style {
        builder = builder.with_virtual_hosted_style_request(false);
    }
    if options.allow_http {
        builder = builder.with_allow_http(true);
    }
    Ok(builder)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_debug_redacts_the_secret() {
        let options = S3Options {
            bucket: "b".to_string(),
            secret_access_key: Some("hunter2".to_string()),
            ..S3Options::default()
        };
        let text = format!("{options:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn s3_fields_override_the_environment() {
        let options = S3Options {
            endpoint: Some("http://127.0.0.1:1".to_string()),
            bucket: "bkt".to_string(),
            prefix: "/p/q/".to_string(),
            region: "eu-west-3".to_string(),
            access_key_id: Some("k".to_string()),
            secret_access_key: Some("s".to_string()),
            path_style: true,
            allow_http: true,
        };
        let builder = s3_builder(&options).unwrap();
        let get = |key| builder.get_config_value(&key);
        assert_eq!(
            get(AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(get(AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-3"));
        assert_eq!(get(AmazonS3ConfigKey::Bucket).as_deref(), Some("bkt"));
        assert_eq!(get(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("k"));
        let opened = open_s3(&options).unwrap();
        assert_eq!(opened.description, "s3://bkt/p/q (http://127.0.0.1:1)");
    }

    #[test]
    fn s3_without_bucket_is_a_config_error() {
        let error = open_s3(&S3Options::default()).unwrap_err();
        assert!(matches!(error, StorageError::Config(_)), "{error}");
    }
}
