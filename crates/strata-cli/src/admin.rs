//! `strata admin`: tenants, keys, quotas and export, straight on the data directory.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Subcommand;
use strata_metastore::{KeyKind, Metastore, Quota, SqliteMetastore};

mod segments;

#[derive(Debug, clap::Args)]
pub(crate) struct DataDirArg {
    /// Data directory.
    #[arg(long, env = "STRATA_DATA_DIR", default_value = "./strata-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create or list tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Create, list or revoke API and application keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Set a tenant's ingest quota (token buckets; over it, intake answers 429).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// A tenant's segments: list them, or their sizes per column.
    #[command(subcommand)]
    Segments(segments::SegmentsCommand),
    /// Print every stored event of a tenant (flushed and not yet flushed) as
    /// NDJSON on stdout, each exactly once. Reads the WAL and segments
    /// directly: the server must be stopped (the data directory is locked
    /// while it runs).
    Export {
        #[command(flatten)]
        dir: DataDirArg,
        /// Tenant id.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Start of the time range: epoch ms, ISO 8601, or now-15m / now-1h / now-7d.
        #[arg(long)]
        from: Option<String>,
        /// End of the time range (same forms as --from).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant (1-64 characters of a-z, 0-9, _ and -).
    Create {
        #[command(flatten)]
        dir: DataDirArg,
        /// Tenant id.
        name: String,
    },
    /// List tenants with their quotas and retention.
    List {
        #[command(flatten)]
        dir: DataDirArg,
    },
    /// Set how many days a tenant's events are kept (default: the server's
    /// retention.default_days, 15). A running server drops segments whose
    /// newest event is older at its next retention pass (retention.interval_secs):
    /// first from the catalog, then, after compaction.grace_secs, from storage.
    SetRetention {
        #[command(flatten)]
        dir: DataDirArg,
        /// Tenant id.
        name: String,
        /// Days to keep (at least 1).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "default")]
        days: Option<u32>,
        /// Follow the server default again.
        #[arg(long)]
        default: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create a key and print its secret (shown once).
    Create {
        #[command(flatten)]
        dir: DataDirArg,
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// api (ingest, DD-API-KEY) or app (query, DD-APPLICATION-KEY).
        #[arg(long, value_parser = ["api", "app"])]
        kind: String,
    },
    /// List keys (ids only, never secrets).
    List {
        #[command(flatten)]
        dir: DataDirArg,
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id (its first 8 characters). A running server stops
    /// accepting it within about a second.
    Revoke {
        #[command(flatten)]
        dir: DataDirArg,
        /// Key id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QuotaCommand {
    /// Set the quota; omit a flag (or pass 0) for unlimited.
    Set {
        #[command(flatten)]
        dir: DataDirArg,
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Events per second.
        #[arg(long)]
        events_per_sec: Option<u64>,
        /// Uncompressed bytes per second.
        #[arg(long)]
        bytes_per_sec: Option<u64>,
    },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn open(dir: &DataDirArg) -> anyhow::Result<SqliteMetastore> {
    if !dir.data_dir.is_dir() {
        bail!(
            "data directory {} does not exist (start `strata serve` once to create it)",
            dir.data_dir.display()
        );
    }
    Ok(SqliteMetastore::open(&dir.data_dir.join("metastore.sqlite")).await?)
}

pub(crate) async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Tenant(TenantCommand::Create { dir, name }) => {
            let store = open(&dir).await?;
            let tenant = store.create_tenant(&name, now_ms()).await?;
            println!("created tenant {}", tenant.id);
        }
        AdminCommand::Tenant(TenantCommand::List { dir }) => {
            let store = open(&dir).await?;
            println!(
                "{:<24} {:>16} {:>16} {:>14}",
                "TENANT", "EVENTS/S", "BYTES/S", "RETENTION"
            );
            let fmt = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
            for tenant in store.list_tenants().await? {
                let retention = tenant
                    .retention_days
                    .map_or("default".to_string(), |d| format!("{d} days"));
                println!(
                    "{:<24} {:>16} {:>16} {:>14}",
                    tenant.id,
                    fmt(tenant.quota.events_per_sec),
                    fmt(tenant.quota.bytes_per_sec),
                    retention
                );
            }
        }
        AdminCommand::Tenant(TenantCommand::SetRetention {
            dir,
            name,
            days,
            default,
        }) => {
            if days.is_none() && !default {
                bail!("give --days N, or --default to follow the server's retention.default_days");
            }
            let store = open(&dir).await?;
            store.set_retention(&name, days).await?;
            match days {
                Some(days) => println!("retention of {name}: {days} days"),
                None => println!("retention of {name}: the server default"),
            }
        }
        AdminCommand::Segments(command) => segments::run(command).await?,
        AdminCommand::Key(KeyCommand::Create { dir, tenant, kind }) => {
            let store = open(&dir).await?;
            let kind = KeyKind::parse(&kind).context("--kind must be api or app")?;
            let (info, secret) = store.create_key(&tenant, kind, now_ms()).await?;
            println!("{secret}");
            eprintln!(
                "created {} key {} for tenant {} (the secret above is shown once)",
                kind.as_str(),
                info.id,
                tenant
            );
        }
        AdminCommand::Key(KeyCommand::List { dir, tenant }) => {
            let store = open(&dir).await?;
            println!("{:<10} {:<24} {:<5} {:<8}", "ID", "TENANT", "KIND", "STATE");
            for key in store.list_keys(tenant.as_deref()).await? {
                let state = if key.revoked_at_ms.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<10} {:<24} {:<5} {:<8}",
                    key.id,
                    key.tenant,
                    key.kind.as_str(),
                    state
                );
            }
        }
        AdminCommand::Key(KeyCommand::Revoke { dir, id }) => {
            let store = open(&dir).await?;
            store.revoke_key(&id, now_ms()).await?;
            println!("revoked key {id}");
        }
        AdminCommand::Quota(QuotaCommand::Set {
            dir,
            tenant,
            events_per_sec,
            bytes_per_sec,
        }) => {
            let store = open(&dir).await?;
            let quota = Quota {
                events_per_sec: events_per_sec.filter(|v| *v > 0),
                bytes_per_sec: bytes_per_sec.filter(|v| *v > 0),
            };
            store.set_quota(&tenant, quota).await?;
            println!(
                "quota for {tenant}: events/s {:?}, bytes/s {:?}",
                quota.events_per_sec, quota.bytes_per_sec
            );
        }
        AdminCommand::Export {
            dir,
            tenant,
            from,
            to,
        } => export(&dir.data_dir, &tenant, from, to).await?,
    }
    Ok(())
}

async fn export(
    data_dir: &Path,
    tenant: &str,
    from: Option<String>,
    to: Option<String>,
) -> anyhow::Result<()> {
    let now_ns = now_ms() * 1_000_000;
    let from_ns = from
        .as_deref()
        .map(|s| parse_time(s, now_ns))
        .transpose()?
        .unwrap_or(i64::MIN);
    let to_ns = to
        .as_deref()
        .map(|s| parse_time(s, now_ns))
        .transpose()?
        .unwrap_or(i64::MAX);
    let locked = strata_server::open_data_dir(data_dir, false)?;
    // The segments may be on S3: read [storage] from STRATA_CONFIG and STRATA_*.
    let file = std::env::var_os("STRATA_CONFIG").map(PathBuf::from);
    let mut config = crate::load_config_parts(file.as_deref(), Some(data_dir), &[], None)?;
    config.storage.cache_max_bytes = 0;
    let segments = strata_server::open_segment_store(&config)?;
    let store = SqliteMetastore::open(&locked.metastore_path()).await?;
    if !store.list_tenants().await?.iter().any(|t| t.id == tenant) {
        bail!("tenant {tenant} does not exist");
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
    let stats = strata_index::export(
        &store,
        &segments,
        &locked.wal_dir(),
        tenant,
        from_ns,
        to_ns,
        &mut out,
    )
    .await?;
    eprintln!(
        "exported {} events ({} from {} segments, {} from the WAL)",
        stats.segment_events + stats.wal_events,
        stats.segment_events,
        stats.segments,
        stats.wal_events
    );
    Ok(())
}

/// Parses `now`, `now-15m` (s, m, h, d, w), epoch ms or ISO 8601 to ns.
fn parse_time(raw: &str, now_ns: i64) -> anyhow::Result<i64> {
    let s = raw.trim();
    if let Some(rest) = s.strip_prefix("now") {
        if rest.is_empty() {
            return Ok(now_ns);
        }
        let (sign, amount) = match rest.split_at(1) {
            ("-", a) => (-1, a),
            ("+", a) => (1, a),
            _ => bail!("invalid time {raw:?}: expected now-15m, now-1h, …"),
        };
        let (digits, unit) = amount.split_at(amount.len().saturating_sub(1));
        let n: i64 = digits
            .parse()
            .with_context(|| format!("invalid time {raw:?}"))?;
        let unit_ns: i64 = match unit {
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            _ => bail!("invalid time unit in {raw:?}: use s, m, h, d or w"),
        };
        return Ok(now_ns + sign * n * unit_ns);
    }
    strata_ingest::parse_timestamp_str(s)
        .with_context(|| format!("invalid time {raw:?}: use epoch ms, ISO 8601 or now-1h"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_forms() {
        let now = 10_000_000_000_000;
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("now-15m", now).unwrap(), now - 900_000_000_000);
        assert_eq!(parse_time("now-1h", now).unwrap(), now - 3_600_000_000_000);
        assert_eq!(
            parse_time("1700000000000", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", now).unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time("now-1y", now).is_err());
        assert!(parse_time("soon", now).is_err());
    }
}
