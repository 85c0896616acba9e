//! `strata bench query`: the query benchmark.
//!
//! 1. Generates `--events` realistic Datadog logs with `strata-loadgen`'s
//!    generator (each 1000-event batch from its own seed), their timestamps
//!    spread over the last 24 h, oldest first, and gzips them: all before the
//!    clock starts. A rare token goes into the message of 10 events.
//! 2. Starts `strata serve` (this executable) on a fresh data directory and
//!    a free loopback port, or uses `--url`.
//! 3. Ingests everything through the real intake (`POST /api/v2/logs`) over
//!    several connections, while a probe posts one event every 200 ms and
//!    searches for it until it is visible (ingest-to-visible freshness).
//! 4. Waits until a count over the range returns every acked event, and (by
//!    default) until the memtables are flushed.
//! 5. Runs nine queries through the Datadog read API, each once cold and
//!    `--runs` times warm, and reports the median, min and max wall time of
//!    the HTTP round trip, and `meta.status` (a `timeout` is flagged).
//! 6. Writes the results as JSON (`--json`), and with `--export` stops the
//!    server and exports the stored events as NDJSON, which
//!    `bench/query_suite.py` loads into chDB and DuckDB to run the same
//!    queries and print the ratios.

mod compression;
mod ingest;
mod metrics;
mod server;
mod suite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use ingest::{now_ms, PHRASE, SERVICE};
use server::{Api, ServerProcess};
use suite::{fmt_ms, QueryResult};

/// `strata bench …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Ingest N generated events through the HTTP intake, then time nine
    /// Datadog log queries (median of warm runs) and ingest-to-visible
    /// freshness.
    Query(BenchQueryArgs),
    /// Write generated logs and text files as flush- and compaction-sized
    /// segments; report the ratio to raw, bytes per row per column, MB/s.
    Compression(compression::BenchCompressionArgs),
    /// Write SERIES x HOURS of metric points into a metrics store, then time
    /// dashboard queries (`GET /api/v1/query` in process).
    Metrics(metrics::BenchMetricsArgs),
}

/// Options of `strata bench query`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata bench query --events 1000000
  strata bench query --json /tmp/strata-q.json --export /tmp/strata-q.ndjson
  python3 bench/query_suite.py --strata /tmp/strata-q.json --data /tmp/strata-q.ndjson
  strata bench query --url http://127.0.0.1:7690 --data-dir D --queries-only --range-from-json /tmp/strata-q.json

The queries (the range is the 24 h of generated data):
  q1 count by status per 1-minute bucket        q6 count of @http.status_code:>=500 service:checkout
  q2 top 10 services by error count             q7 distinct @usr.id
  q3 p50/p95/p99 of @duration by service        q8 newest 100 of one host
  q4 a rare token, newest 100                   q9 env:prod status:error by service per 5 minutes
  q5 count of the phrase \"connection refused\"")]
pub(crate) struct BenchQueryArgs {
    /// Events to generate and ingest.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Benchmark a running server at this URL instead of starting one
    /// (--export is then unavailable). Keys: --api-key/--app-key, or
    /// DATA_DIR/bootstrap-keys.json with --data-dir.
    #[arg(long)]
    url: Option<String>,
    /// API key for --url.
    #[arg(long, env = "DD_API_KEY", hide_env_values = true, requires = "url")]
    api_key: Option<String>,
    /// Application key for --url.
    #[arg(long, env = "DD_APP_KEY", hide_env_values = true, requires = "url")]
    app_key: Option<String>,
    /// Data directory of the started server; must not exist or be empty. It
    /// is kept [default: ./strata-bench-data/run-<unix time>, deleted at the
    /// end unless --keep-data]. The server's log goes next to it
    /// (DATA_DIR.serve.log).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the default data directory at the end.
    #[arg(long)]
    keep_data: bool,
    /// Configuration for the started server (repeatable), e.g. --set
    /// wal.durability=none.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Concurrent intake connections.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    connections: u64,
    /// Events per intake request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1000))]
    batch_size: u64,
    /// Generator seed: the same seed gives the same events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// gzip level of the intake bodies.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=9))]
    gzip_level: u32,
    /// Hours of event time the data covers, ending at the start of the run.
    #[arg(long, default_value_t = 24.0)]
    span_hours: f64,
    /// Warm runs per query (after one cold run).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    runs: u64,
    /// Milliseconds between freshness probes during ingest; 0 disables them.
    #[arg(long, default_value_t = 200)]
    probe_interval_ms: u64,
    /// Run the queries right after the data is visible, without waiting for
    /// the memtables to be flushed.
    #[arg(long)]
    no_settle: bool,
    /// Write the results as JSON to this file (read by bench/query_suite.py).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// After the run, stop the server and export the stored events as NDJSON
    /// to this file (`strata admin export`), for bench/query_suite.py.
    #[arg(long, value_name = "PATH")]
    export: Option<PathBuf>,
    /// Only run the queries, on the data a previous run ingested into the
    /// server at --url (no generation, ingest or waits). The range, token
    /// and host come from --range-from-json, or are derived from
    /// --range-end-ms with the same --events, --batch-size, --seed and
    /// --span-hours as the run that ingested.
    #[arg(long, requires = "url")]
    queries_only: bool,
    /// With --queries-only: the --json output of the run that ingested the
    /// data (its `params`).
    #[arg(
        long,
        value_name = "PATH",
        requires = "queries_only",
        conflicts_with = "range_end_ms"
    )]
    range_from_json: Option<PathBuf>,
    /// With --queries-only: the end of the ingested data's range (epoch ms;
    /// `params.to_ms - 1` of that run).
    #[arg(long, value_name = "MS", requires = "queries_only")]
    range_end_ms: Option<i64>,
    /// Run only these queries (comma-separated ids, e.g. q1,q4).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    only: Vec<String>,
}

/// Runs a `strata bench` command.
pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Query(args) => query(args),
        BenchCommand::Compression(args) => compression::run(args),
        BenchCommand::Metrics(args) => metrics::run(args),
    }
}

/// Whether `dir` does not exist or is an empty directory.
fn is_fresh(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
    }
}

fn query(args: BenchQueryArgs) -> anyhow::Result<()> {
    if args.url.is_some() && args.export.is_some() {
        bail!("--export needs the server this command starts (it stops it to export); drop --url");
    }
    if !(args.span_hours.is_finite() && args.span_hours > 0.0) {
        bail!("--span-hours must be a positive number");
    }
    if let Some(id) = args
        .only
        .iter()
        .find(|id| !suite::IDS.contains(&id.as_str()))
    {
        bail!("--only: unknown query {id} (the ids are q1 … q9)");
    }
    if args.queries_only && args.range_from_json.is_none() && args.range_end_ms.is_none() {
        bail!("--queries-only needs --range-from-json or --range-end-ms");
    }
    let (data_dir, delete_at_end) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            PathBuf::from("strata-bench-data").join(format!("run-{}", now_ms() / 1000)),
            !args.keep_data && args.url.is_none(),
        ),
    };
    if args.url.is_none() && !is_fresh(&data_dir) {
        bail!(
            "--data-dir {} is not empty: the benchmark needs a fresh data directory",
            data_dir.display()
        );
    }

    // 1. The data, before anything is timed.
    let span_ms = (args.span_hours * 3_600_000.0) as i64;
    if args.queries_only {
        let previous = match &args.range_from_json {
            Some(path) => Some(
                serde_json::from_str::<Value>(
                    &std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                )
                .with_context(|| format!("parsing {}", path.display()))?,
            ),
            None => None,
        };
        let data = ingest::stored(
            previous.as_ref(),
            args.events,
            args.batch_size as usize,
            args.seed,
            span_ms,
            args.range_end_ms.unwrap_or(0),
        )?;
        return queries_only(&args, &data_dir, &data, previous.as_ref());
    }
    let end_ms = now_ms();
    eprintln!("bench: generating {} events", args.events);
    let data = ingest::generate(
        args.events,
        args.batch_size as usize,
        args.seed,
        args.gzip_level,
        span_ms,
        end_ms,
    )?;
    eprintln!(
        "bench: {} batches, {:.1} MB JSON ({:.0} B/event), {:.1} MB gzip; token {} in {} events, host {}",
        data.batches.len(),
        data.raw_bytes() as f64 / 1e6,
        data.raw_bytes() as f64 / data.events() as f64,
        data.wire_bytes() as f64 / 1e6,
        data.token,
        data.needle_events,
        data.host
    );

    // 2. The server.
    let mut process = None;
    let api = match &args.url {
        Some(url) => url_api(&args, url, &data_dir)?,
        None => {
            if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let started = ServerProcess::start(&data_dir, &args.set)?;
            eprintln!(
                "bench: strata serve on {} (data {}, log {})",
                started.url,
                data_dir.display(),
                started.log.display()
            );
            let keys = server::read_keys(&data_dir)?;
            let api = Api {
                base: started.url.clone(),
                api_key: keys.api_key,
                app_key: keys.app_key,
            };
            process = Some(started);
            api
        }
    };

    // 3. Ingest, with the freshness probe.
    let probe = (args.probe_interval_ms > 0).then(|| Duration::from_millis(args.probe_interval_ms));
    let (mut ingest_report, freshness) =
        ingest::ingest(&api, &data, args.connections as usize, probe)?;
    if ingest_report.events_failed > 0 {
        eprintln!(
            "bench: WARNING: {} events were never acked",
            ingest_report.events_failed
        );
    }

    // 4. Visible, then settled.
    ingest_report.all_visible_after_ms = ingest::wait_visible(
        &api,
        &data,
        ingest_report.events_acked,
        Duration::from_secs(600),
    )?;
    let rss_after_ingest = process.as_ref().and_then(ServerProcess::peak_rss_mib);
    let settled_ms = if args.no_settle {
        None
    } else {
        eprintln!("bench: waiting for the memtables to be flushed (--no-settle skips this)");
        let settled = ingest::settle(&api, Duration::from_secs(300));
        if settled.is_none() {
            eprintln!("bench: WARNING: the memtables were not empty after 300 s; running anyway");
        }
        settled
    };

    // 5. The suite.
    let results = suite::run(&api, &data, args.runs as usize, &args.only);
    let peak_rss = process.as_ref().and_then(ServerProcess::peak_rss_mib);

    // 6. Report.
    let report = json!({
        "tool": "strata bench query",
        "strata_version": env!("CARGO_PKG_VERSION"),
        "events": data.events(),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "gzip_level": args.gzip_level,
        "span_hours": args.span_hours,
        "runs": args.runs,
        "params": params_json(&data),
        "ingest": ingest_report,
        "freshness": freshness,
        "server": {
            "url": api.base,
            "started": process.is_some(),
            "set": args.set,
            "peak_rss_mib_after_ingest": rss_after_ingest,
            "peak_rss_mib": peak_rss,
            "settled_after_ms": settled_ms,
        },
        "queries": results,
        "export": args.export,
    });
    print!(
        "{}",
        human(&report, &results, args.events, args.runs as usize)
    );
    write_json(args.json.as_deref(), &report)?;

    // 7. Stop, export, clean up.
    if let Some(mut started) = process.take() {
        eprintln!("bench: stopping the server (SIGTERM)");
        started.stop(Duration::from_secs(300))?;
        if let Some(path) = &args.export {
            eprintln!("bench: exporting to {}", path.display());
            server::export(&data_dir, path)?;
        }
        if delete_at_end {
            std::fs::remove_dir_all(&data_dir)
                .with_context(|| format!("removing {}", data_dir.display()))?;
            let _ = std::fs::remove_file(&started.log);
            // ./strata-bench-data itself, when no other run is left in it.
            if let Some(parent) = data_dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
    check(&results)
}

/// The server at `--url` with the keys of `--api-key`/`--app-key` or of
/// `--data-dir`.
fn url_api(args: &BenchQueryArgs, url: &str, data_dir: &Path) -> anyhow::Result<Api> {
    let (api_key, app_key) = match (&args.api_key, &args.app_key) {
        (Some(a), Some(b)) => (a.clone(), b.clone()),
        _ => {
            let keys = server::read_keys(data_dir)
                .context("with --url, pass --api-key and --app-key or --data-dir of that server")?;
            (keys.api_key, keys.app_key)
        }
    };
    Ok(Api {
        base: server::base_url(url),
        api_key,
        app_key,
    })
}

/// What the queries were run with, for `bench/query_suite.py`.
fn params_json(data: &ingest::Dataset) -> Value {
    json!({
        "from_ms": data.from_ms,
        "to_ms": data.to_ms,
        "token": data.token,
        "needle_events": data.needle_events,
        "phrase": PHRASE,
        "service": SERVICE,
        "host": data.host,
    })
}

fn write_json(path: Option<&Path>, report: &Value) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: results written to {}", path.display());
    }
    Ok(())
}

fn check(results: &[QueryResult]) -> anyhow::Result<()> {
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.id)
        .collect();
    if !failed.is_empty() {
        bail!("queries failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `--queries-only`: the suite on the data already in the server at --url.
/// The first run of the first query is the coldest: nothing is read before it.
fn queries_only(
    args: &BenchQueryArgs,
    data_dir: &Path,
    data: &ingest::Dataset,
    previous: Option<&Value>,
) -> anyhow::Result<()> {
    let url = args.url.as_deref().context("--queries-only needs --url")?;
    let api = url_api(args, url, data_dir)?;
    let results = suite::run(&api, data, args.runs as usize, &args.only);
    let events = previous
        .and_then(|p| p["events"].as_u64())
        .unwrap_or(args.events);
    let report = json!({
        "tool": "strata bench query",
        "strata_version": env!("CARGO_PKG_VERSION"),
        "queries_only": true,
        "events": events,
        "seed": previous.map_or(json!(args.seed), |p| p["seed"].clone()),
        "span_hours": previous.map_or(json!(args.span_hours), |p| p["span_hours"].clone()),
        "runs": args.runs,
        "params": params_json(data),
        "ingest": null,
        "freshness": null,
        "server": {"url": api.base, "started": false},
        "queries": results,
    });
    print!("{}", human(&report, &results, events, args.runs as usize));
    write_json(args.json.as_deref(), &report)?;
    check(&results)
}

/// A short text of a digest for the table.
fn answer_text(digest: &Value) -> String {
    let Some(fields) = digest.as_object() else {
        return "-".into();
    };
    if let Some(top) = fields.get("top").and_then(Value::as_array) {
        let first = top
            .first()
            .map(|t| format!(", first {}={}", t[0].as_str().unwrap_or("?"), t[1]))
            .unwrap_or_default();
        return format!("{} groups{first}", top.len());
    }
    fields
        .iter()
        .filter(|(k, _)| *k != "service")
        .map(|(k, v)| format!("{k}={}", short(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A JSON value for the table, numbers rounded to 3 significant digits.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let digits = (2 - f.abs().log10().floor() as i32).max(0) as usize;
            format!("{f:.digits$}")
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(short).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// The header, ingest, visibility, freshness and RSS lines of a run that
/// ingested.
fn ingest_text(report: &Value, events: u64, runs: usize) -> String {
    let mut s = String::new();
    let ingest = &report["ingest"];
    let fresh = &report["freshness"];
    let server = &report["server"];
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let o = |v: &Value| v.as_f64();
    s.push_str(&format!(
        "strata bench query: {events} events over {} h (seed {}), {} connections, 1 cold + {runs} warm runs\n",
        report["span_hours"], report["seed"], ingest["connections"]
    ));
    s.push_str(&format!(
        "ingest     {} acked in {:.1} s: {:.0} events/s, {:.1} MB/s raw JSON; request ack p50 {:.1} ms, p99 {:.1} ms; {} busy (503/429) retries, {} failed events\n",
        ingest["events_acked"],
        f(&ingest["elapsed_secs"]),
        f(&ingest["events_per_sec"]),
        f(&ingest["raw_mb_per_sec"]),
        f(&ingest["ack_p50_ms"]),
        f(&ingest["ack_p99_ms"]),
        ingest["retried_busy"],
        ingest["events_failed"],
    ));
    s.push_str(&format!(
        "visible    every acked event counted {} ms after the last ack; memtables flushed after {} ms\n",
        fmt_ms(o(&ingest["all_visible_after_ms"])),
        fmt_ms(o(&server["settled_after_ms"])),
    ));
    s.push_str(&format!(
        "freshness  ack -> visible in search during ingest: p50 {} ms, p99 {} ms, max {} ms over {} probes ({} never visible, {} posts refused)\n",
        fmt_ms(o(&fresh["visible_p50_ms"])),
        fmt_ms(o(&fresh["visible_p99_ms"])),
        fmt_ms(o(&fresh["visible_max_ms"])),
        fresh["probes"],
        fresh["not_visible"],
        fresh["refused"],
    ));
    s.push_str(&format!(
        "           send -> visible: p50 {} ms, p99 {} ms (probe post ack p50 {} ms, p99 {} ms)\n",
        fmt_ms(o(&fresh["sent_visible_p50_ms"])),
        fmt_ms(o(&fresh["sent_visible_p99_ms"])),
        fmt_ms(o(&fresh["probe_ack_p50_ms"])),
        fmt_ms(o(&fresh["probe_ack_p99_ms"])),
    ));
    if server["started"] == true {
        s.push_str(&format!(
            "server     peak RSS {} MiB after ingest, {} MiB at the end\n",
            fmt_ms(o(&server["peak_rss_mib_after_ingest"])),
            fmt_ms(o(&server["peak_rss_mib"])),
        ));
    }
    s
}

fn human(report: &Value, results: &[QueryResult], events: u64, runs: usize) -> String {
    let mut s = String::new();
    let ingest = &report["ingest"];
    let fresh = &report["freshness"];
    let o = |v: &Value| v.as_f64();
    if ingest.is_null() {
        s.push_str(&format!(
            "strata bench query --queries-only: {events} stored events over {} h (seed {}), 1 cold + {runs} warm runs\n",
            report["span_hours"], report["seed"]
        ));
    } else {
        s.push_str(&ingest_text(report, events, runs));
    }
    s.push_str(&format!(
        "params     token {}, phrase \"{}\", service {}, host {}\n\n",
        report["params"]["token"].as_str().unwrap_or("?"),
        PHRASE,
        SERVICE,
        report["params"]["host"].as_str().unwrap_or("?"),
    ));
    s.push_str(&format!(
        "{:<3} {:<44} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<7} answer\n",
        "id", "query", "cold ms", "median", "min", "max", "server", "status"
    ));
    for r in results {
        let status = if r.error.is_some() {
            "ERROR".to_string()
        } else if r.status != "done" {
            format!("{}!", r.status.to_uppercase())
        } else {
            r.status.clone()
        };
        let answer = match &r.error {
            Some(error) => error.clone(),
            None => answer_text(&r.digest),
        };
        s.push_str(&format!(
            "{:<3} {:<44} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<7} {answer}\n",
            r.id,
            r.name,
            fmt_ms(r.cold_ms),
            fmt_ms(r.median_ms),
            fmt_ms(r.min_ms),
            fmt_ms(r.max_ms),
            fmt_ms(r.server_median_ms),
            status,
        ));
    }
    s.push_str(
        "(wall time of the HTTP round trip in ms; \"server\" is the median of meta.elapsed)\n",
    );
    let needle = results
        .iter()
        .find(|r| r.id == "q4")
        .and_then(|r| r.median_ms);
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "n/a",
    };
    s.push_str(&format!(
        "targets    newest-100 needle search (q4) < 50 ms: {} ms, {}; p99 ingest-to-visible (send -> visible) < 1 s: {} ms, {}\n",
        fmt_ms(needle),
        verdict(needle.map(|ms| ms < 50.0)),
        fmt_ms(o(&fresh["sent_visible_p99_ms"])),
        verdict(
            o(&fresh["sent_visible_p99_ms"]).map(|ms| ms < 1000.0 && fresh["not_visible"] == 0)
        ),
    ));
    if results.iter().any(|r| r.status != "done") {
        s.push_str(
            "WARNING    at least one query answered meta.status = timeout (partial results)\n",
        );
    }
    s
}
