//! `strata admin segments list|stats`: what a tenant's data costs on storage.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;
use strata_metastore::{Metastore, SegmentRecord, SqliteMetastore};
use strata_segment::{column_sizes, ColumnSize};
use strata_storage::SegmentStore;

/// Where the catalog and the segments are: the data directory plus the
/// `[storage]` configuration (file, `STRATA_*` variables, `--set`).
#[derive(Debug, clap::Args)]
pub(crate) struct StoreArgs {
    /// Data directory [default: ./strata-data, or data_dir of the config].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The server's TOML configuration file (for `[storage]`).
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Set any configuration key, e.g. --set storage.backend=s3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Tenant id.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SegmentsCommand {
    /// One line per registered segment of a tenant: id, hour bucket, rows,
    /// bytes, bytes per row and time span (newest first).
    List {
        #[command(flatten)]
        args: StoreArgs,
    },
    /// Totals of a tenant (segments, rows, bytes, compression ratio, time
    /// span) and bytes per column over all its segments; with --segment, the
    /// same for one segment. Reads every footer (one ranged read each).
    Stats {
        #[command(flatten)]
        args: StoreArgs,
        /// One segment id (from `segments list`).
        #[arg(long)]
        segment: Option<String>,
    },
}

pub(crate) async fn run(command: SegmentsCommand) -> anyhow::Result<()> {
    match command {
        SegmentsCommand::List { args } => {
            let (_, segments) = open(&args).await?;
            list(&segments, args.json)
        }
        SegmentsCommand::Stats { args, segment } => {
            let (store, mut segments) = open(&args).await?;
            if let Some(id) = &segment {
                segments.retain(|s| &s.id == id);
                if segments.is_empty() {
                    bail!("tenant {} has no segment {id}", args.tenant);
                }
            }
            stats(&store, &segments, args.json).await
        }
    }
}

async fn open(args: &StoreArgs) -> anyhow::Result<(SegmentStore, Vec<SegmentRecord>)> {
    let config = crate::load_config_parts(
        args.config.as_deref(),
        args.data_dir.as_deref(),
        &args.set,
        None,
    )?;
    if !config.data_dir.is_dir() {
        bail!(
            "data directory {} does not exist",
            config.data_dir.display()
        );
    }
    let metastore = SqliteMetastore::open(&config.data_dir.join("metastore.sqlite")).await?;
    if !metastore
        .list_tenants()
        .await?
        .iter()
        .any(|t| t.id == args.tenant)
    {
        bail!("tenant {} does not exist", args.tenant);
    }
    let segments = metastore
        .list_segments(Some(&args.tenant), i64::MIN, i64::MAX)
        .await?;
    metastore.close().await;
    let mut config = config;
    // Reading footers needs no cache (and must not clear a running server's).
    config.storage.cache_max_bytes = 0;
    let store = strata_server::open_segment_store(&config)?;
    Ok((store, segments))
}

fn iso(ns: i64) -> String {
    strata_types::format_rfc3339_nanos(ns)
}

fn list(segments: &[SegmentRecord], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = segments
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id, "path": s.path, "hour_bucket": iso(s.hour_bucket_ns),
                    "rows": s.rows, "bytes": s.size_bytes,
                    "min_timestamp": iso(s.min_ts_ns), "max_timestamp": iso(s.max_ts_ns),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<36} {:<20} {:>10} {:>12} {:>7}  {:<30} {:<30}",
        "ID", "HOUR", "ROWS", "BYTES", "B/ROW", "MIN TIMESTAMP", "MAX TIMESTAMP"
    );
    for s in segments {
        println!(
            "{:<36} {:<20} {:>10} {:>12} {:>7.1}  {:<30} {:<30}",
            s.id,
            &iso(s.hour_bucket_ns)[..16],
            s.rows,
            s.size_bytes,
            s.size_bytes as f64 / s.rows.max(1) as f64,
            iso(s.min_ts_ns),
            iso(s.max_ts_ns)
        );
    }
    println!("{} segments", segments.len());
    Ok(())
}

/// Column sizes summed over segments, by column name.
#[derive(Debug, Default)]
struct Totals {
    segments: u64,
    rows: u64,
    bytes: u64,
    uncompressed: u64,
    min_ts: i64,
    max_ts: i64,
    columns: BTreeMap<String, ColumnTotal>,
}

/// One column's sizes summed over segments.
#[derive(Debug, Default)]
struct ColumnTotal {
    bytes: u64,
    uncompressed: u64,
    encodings: Vec<String>,
}

async fn stats(store: &SegmentStore, segments: &[SegmentRecord], json: bool) -> anyhow::Result<()> {
    let mut totals = Totals {
        min_ts: i64::MAX,
        max_ts: i64::MIN,
        ..Totals::default()
    };
    for segment in segments {
        let metadata = store
            .read_metadata(&segment.path, segment.size_bytes)
            .await
            .with_context(|| format!("reading the footer of {}", segment.path))?;
        totals.segments += 1;
        totals.rows += segment.rows;
        totals.bytes += segment.size_bytes;
        totals.min_ts = totals.min_ts.min(segment.min_ts_ns);
        totals.max_ts = totals.max_ts.max(segment.max_ts_ns);
        for column in column_sizes(metadata.metadata()) {
            let ColumnSize {
                name,
                compressed_bytes,
                uncompressed_bytes,
                encodings,
            } = column;
            totals.uncompressed += uncompressed_bytes;
            let entry = totals.columns.entry(name).or_default();
            entry.bytes += compressed_bytes;
            entry.uncompressed += uncompressed_bytes;
            for encoding in encodings {
                if !entry.encodings.contains(&encoding) {
                    entry.encodings.push(encoding);
                }
            }
        }
    }
    print_stats(&totals, json)
}

fn print_stats(totals: &Totals, json: bool) -> anyhow::Result<()> {
    let rows = totals.rows.max(1) as f64;
    let ratio = totals.uncompressed as f64 / totals.bytes.max(1) as f64;
    let (from, to) = if totals.segments == 0 {
        (String::new(), String::new())
    } else {
        (iso(totals.min_ts), iso(totals.max_ts))
    };
    let mut columns: Vec<(&String, &ColumnTotal)> = totals.columns.iter().collect();
    columns.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(b.0)));
    if json {
        let columns: Vec<serde_json::Value> = columns
            .iter()
            .map(|(name, column)| {
                serde_json::json!({
                    "name": name, "bytes": column.bytes,
                    "uncompressed_bytes": column.uncompressed,
                    "bytes_per_row": column.bytes as f64 / rows, "encodings": column.encodings,
                })
            })
            .collect();
        let out = serde_json::json!({
            "segments": totals.segments, "rows": totals.rows, "bytes": totals.bytes,
            "uncompressed_bytes": totals.uncompressed, "compression_ratio": ratio,
            "bytes_per_row": totals.bytes as f64 / rows,
            "min_timestamp": from, "max_timestamp": to, "columns": columns,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("segments          {}", totals.segments);
    println!("rows              {}", totals.rows);
    println!(
        "bytes             {} ({:.1} per row)",
        totals.bytes,
        totals.bytes as f64 / rows
    );
    println!(
        "uncompressed      {} (columns before zstd)",
        totals.uncompressed
    );
    println!("compression ratio {ratio:.1}x (uncompressed columns / stored bytes)");
    println!("time span         {from} .. {to}");
    println!();
    println!(
        "{:<40} {:>12} {:>8} {:>7}  ENCODINGS",
        "COLUMN", "BYTES", "B/ROW", "SHARE"
    );
    for (name, column) in columns {
        println!(
            "{:<40} {:>12} {:>8.2} {:>6.1}%  {}",
            name,
            column.bytes,
            column.bytes as f64 / rows,
            100.0 * column.bytes as f64 / totals.bytes.max(1) as f64,
            column.encodings.join(",")
        );
    }
    Ok(())
}
