//! First start: the `default` tenant and its keys.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use strata_metastore::{KeyKind, Metastore, MetastoreError};

/// File name of the bootstrap keys, in the data directory (mode 0600).
pub const BOOTSTRAP_FILE: &str = "bootstrap-keys.json";

/// `{"tenant":"default","api_key":"…","app_key":"…"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapKeys {
    /// Always `default`.
    pub tenant: String,
    /// API key (ingest).
    pub api_key: String,
    /// Application key (query).
    pub app_key: String,
}

/// Creates the `default` tenant and its keys when the metastore has no
/// tenant, prints them once and writes them to `BOOTSTRAP_FILE`.
pub(crate) async fn bootstrap(
    metastore: &dyn Metastore,
    data_dir: &Path,
    now_ms: i64,
) -> Result<Option<BootstrapKeys>, MetastoreError> {
    if !metastore.list_tenants().await?.is_empty() {
        return Ok(None);
    }
    metastore.create_tenant("default", now_ms).await?;
    let (_, api_key) = metastore
        .create_key("default", KeyKind::Api, now_ms)
        .await?;
    let (_, app_key) = metastore
        .create_key("default", KeyKind::App, now_ms)
        .await?;
    let keys = BootstrapKeys {
        tenant: "default".into(),
        api_key,
        app_key,
    };
    let path = data_dir.join(BOOTSTRAP_FILE);
    if let Err(error) = write_private(&path, &keys) {
        tracing::error!(path = %path.display(), %error, "could not write the bootstrap keys file");
    }
    println!(
        "Created tenant \"default\".\n  API key (DD-API-KEY):                  {}\n  Application key (DD-APPLICATION-KEY): {}\nThey are shown once; a copy is in {} (mode 0600).",
        keys.api_key,
        keys.app_key,
        path.display()
    );
    Ok(Some(keys))
}

fn write_private(path: &Path, keys: &BootstrapKeys) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(
        serde_json::to_string(keys)
            .map_err(std::io::Error::from)?
            .as_bytes(),
    )?;
    file.write_all(b"\n")?;
    file.sync_all()
}
