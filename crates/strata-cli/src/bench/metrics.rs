//! `strata bench metrics`: writes SERIES series × HOURS hours of points at
//! INTERVAL seconds into a metrics store (one flushed segment per hour, as
//! compaction leaves them), then times dashboard queries in process: parse,
//! push-down scan, evaluation and the JSON answer, as `GET /api/v1/query`
//! runs them (without the HTTP hop).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use strata_metastore::{Metastore, SqliteMetastore};
use strata_metrics::{MetricBatch, MetricType, Point, SeriesKey, SeriesPoints};
use strata_storage::{Backend, SegmentStore};
use strata_tsdb::source::TsdbSource;
use strata_tsdb::{Tsdb, TsdbConfig};

/// Options of `strata bench metrics`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Example (the issue 5 figure: 10,000 series x 24 h at 10 s = 86.4M points):
  strata bench metrics --series 10000 --hours 24 --interval 10

Series are bench.cpu{host:hN,core:C}: SERIES/10 hosts x 10 cores. Queries:
  m1 avg:bench.cpu{*} by {host}      over the whole range (default rollup)
  m2 avg:bench.cpu{*}                 over the whole range
  m3 max:bench.cpu{host:h7} by {core} over the whole range
  m4 avg:bench.cpu{*} by {host}       over the last hour")]
pub(crate) struct BenchMetricsArgs {
    /// Number of series.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of data.
    #[arg(long, default_value_t = 24)]
    hours: i64,
    /// Seconds between two points of a series.
    #[arg(long, default_value_t = 10)]
    interval: i64,
    /// Timed runs per query (the first is reported apart as cold).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Directory for the store [default: a temporary directory].
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also time every query on raw points only (no rollup rows), the
    /// baseline the rollups are measured against.
    #[arg(long)]
    compare_raw: bool,
}

fn hour_batch(series: usize, hour_start: i64, interval: i64) -> MetricBatch {
    let hosts = (series / 10).max(1);
    let per_hour = (3600 / interval.max(1)) as usize;
    let mut out = MetricBatch::default();
    for s in 0..series {
        let (host, core) = (s % hosts, s / hosts);
        let key = SeriesKey::new(
            "bench.cpu",
            format!("h{host}"),
            vec![format!("core:{core}"), "env:bench".into()],
        )
        .expect("valid key");
        let points = (0..per_hour)
            .map(|i| {
                let ts = hour_start + i as i64 * interval;
                Point {
                    ts_s: ts,
                    value: ((ts / interval + s as i64) % 100) as f64,
                }
            })
            .collect();
        out.series.push(SeriesPoints {
            key,
            kind: MetricType::Gauge,
            interval_s: 0,
            unit: "percent".into(),
            points,
        });
    }
    out
}

pub(crate) fn run(args: BenchMetricsArgs) -> anyhow::Result<()> {
    let temp = tempfile_dir(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let meta = Arc::new(runtime.block_on(SqliteMetastore::open(&temp.join("metastore.db")))?);
    runtime.block_on(meta.create_tenant("bench", 0)).ok();
    let store = SegmentStore::open(
        &Backend::Local {
            root: temp.join("segments"),
        },
        None,
    )?;
    let config = TsdbConfig {
        row_group_rows: 131_072,
        ..TsdbConfig::default()
    };
    let tsdb = Arc::new(Tsdb::new(config, meta as Arc<dyn Metastore>, store));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let end = now - now % 3600;
    let start = end - args.hours * 3600;
    let write_started = Instant::now();
    let mut points = 0u64;
    for h in 0..args.hours {
        let batch = hour_batch(args.series, start + h * 3600, args.interval);
        points += batch.point_count() as u64;
        tsdb.apply(h as u64 + 1, "bench", batch);
        runtime.block_on(tsdb.flush_due(true))?;
        eprint!("\rwrote hour {}/{}", h + 1, args.hours);
    }
    let write_secs = write_started.elapsed().as_secs_f64();
    let (_, _, bytes) = tsdb.catalog_totals();
    eprintln!(
        "\rwrote {points} points in {write_secs:.1} s ({:.0} points/s, {:.2} B/point)",
        points as f64 / write_secs,
        bytes as f64 / points as f64
    );
    let queries = [
        ("m1", "avg:bench.cpu{*} by {host}", start),
        ("m2", "avg:bench.cpu{*}", start),
        ("m3", "max:bench.cpu{host:h7} by {core}", start),
        ("m4", "avg:bench.cpu{*} by {host}", end - 3600),
    ];
    let source = TsdbSource::new(Arc::clone(&tsdb), "bench");
    let raw = TsdbSource::new(Arc::clone(&tsdb), "bench").without_rollups();
    let mut report = Vec::new();
    let mut runs: Vec<(String, &str, i64, &TsdbSource)> = Vec::new();
    for (name, query, from) in queries {
        runs.push((name.to_string(), query, from, &source));
        if args.compare_raw {
            runs.push((format!("{name}-raw"), query, from, &raw));
        }
    }
    for (name, query, from, source) in runs {
        let mut times = Vec::new();
        let mut series = 0;
        for _ in 0..args.runs.max(1) {
            let started = Instant::now();
            let answer = strata_metrics_query::run(source, query, from, end - 1)
                .with_context(|| format!("{name}: {query}"))?;
            let body = serde_json::to_vec(&answer)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            series = answer.series.len();
            std::hint::black_box(body);
        }
        let cold = times[0];
        let mut warm = times[1..].to_vec();
        warm.sort_by(f64::total_cmp);
        let median = warm.get(warm.len() / 2).copied().unwrap_or(cold);
        println!("{name:<6} {query:<38} series={series:<5} cold={cold:>8.1} ms  warm median={median:>8.1} ms");
        report.push(serde_json::json!({"name": name, "query": query, "series": series, "cold_ms": cold, "warm_median_ms": median}));
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({"points": points, "write_secs": write_secs, "bytes": bytes, "queries": report})
        );
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    Ok(())
}

fn tempfile_dir(args: &BenchMetricsArgs) -> anyhow::Result<std::path::PathBuf> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("strata-bench-metrics-{}", std::process::id())),
    };
    if dir.exists() {
        anyhow::bail!("{} exists: pass an empty --dir", dir.display());
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
