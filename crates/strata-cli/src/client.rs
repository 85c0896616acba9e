//! `strata query`, `aggregate`, `sql`, `tail` and `metrics`: command-line
//! clients of a running server's query API (the Datadog logs search and
//! aggregate endpoints, `/api/v1/sql`, the `/api/v2/logs/tail` event stream,
//! and the metrics query and list endpoints).
//!
//! Everything here is synchronous (`ureq`): one request at a time, no runtime.
//! The pure parts (compute specs, tables, SSE lines) live in the submodules
//! with their unit tests; the HTTP round trips are covered by the integration
//! tests against the real binary.

mod aggregate;
mod http;
mod metrics;
mod search;
mod sql;
mod table;
mod tail;

use std::io::IsTerminal;
use std::path::PathBuf;

use aggregate::ComputeSpec;
pub(crate) use metrics::MetricsCommand;

/// Where the server is and how to authenticate; shared by every client command.
#[derive(Debug, clap::Args)]
pub(crate) struct Connect {
    /// Server base URL.
    #[arg(long, env = "DD_URL", default_value = "http://127.0.0.1:7600")]
    url: String,
    /// API key, sent as DD-API-KEY [default: api_key from
    /// DATA_DIR/bootstrap-keys.json].
    #[arg(long, env = "DD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Application key, sent as DD-APPLICATION-KEY [default: app_key from
    /// DATA_DIR/bootstrap-keys.json].
    #[arg(long, env = "DD_APP_KEY", hide_env_values = true)]
    app_key: Option<String>,
    /// The server's data directory. Only read when a key is not given: `strata
    /// serve` writes the first tenant's keys to DATA_DIR/bootstrap-keys.json
    /// on its first start, so on the server's own machine no key flags are
    /// needed.
    #[arg(long, default_value = "./strata-data")]
    data_dir: PathBuf,
}

/// Newest or oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SortOrder {
    /// Oldest first (`"sort":"timestamp"`).
    Asc,
    /// Newest first (`"sort":"-timestamp"`).
    Desc,
}

/// Search logs and print them, newest first.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata query 'service:web status:error' --from now-1h
  strata query '@http.status_code:>=500 -host:canary*' --limit 200 --sort asc
  strata query 'env:prod' --all --max 50000 --json | jq -r .attributes.message

The table shows timestamp, status, service, host and the message (one line,
cut to the terminal width or 120 characters); --json prints every log as the
server returned it, one JSON object per line (NDJSON).")]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    connect: Connect,
    /// Datadog log search query, e.g. 'service:web status:error "timed out"'.
    #[arg(default_value = "*")]
    query: String,
    /// Start of the time range: now-15m / now-1h / now-7d, ISO 8601 or epoch ms.
    #[arg(long, default_value = "now-15m")]
    from: String,
    /// End of the time range (same forms as --from).
    #[arg(long, default_value = "now")]
    to: String,
    /// Logs per request, 1-1000 [default: 50, or 1000 with --all]. Without
    /// --all this is also the number of logs printed.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    /// Sort by timestamp.
    #[arg(long, value_enum, default_value_t = SortOrder::Desc)]
    sort: SortOrder,
    /// Follow the result cursor page after page, up to --max logs.
    #[arg(long)]
    all: bool,
    /// With --all: stop after this many logs.
    #[arg(long, default_value_t = 10_000, requires = "all",
          value_parser = clap::value_parser!(u64).range(1..))]
    max: u64,
    /// Print NDJSON (one log object per line) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Count logs or compute measures over them, optionally grouped by facets.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata aggregate 'status:error' --group-by service
  strata aggregate 'service:web' --compute count --compute 'avg:@duration' \\
      --compute 'pc99:@duration' --group-by host --limit 5 --from now-1h
  strata aggregate '*' --group-by service --group-by status --interval 5m

One row per bucket: the group-by values, then one column per --compute (the
server's c0, c1, ...). With --interval every compute is a timeseries and each
bucket prints one row per time step. Values are rounded to 3 decimals in the
table; --json prints each bucket exactly as returned, one per line (NDJSON).")]
pub(crate) struct AggregateArgs {
    #[command(flatten)]
    connect: Connect,
    /// Datadog log search query selecting the logs to aggregate.
    #[arg(default_value = "*")]
    query: String,
    /// Start of the time range: now-15m / now-1h / now-7d, ISO 8601 or epoch ms.
    #[arg(long, default_value = "now-15m")]
    from: String,
    /// End of the time range (same forms as --from).
    #[arg(long, default_value = "now")]
    to: String,
    /// What to compute, repeatable [default: count]: count, or
    /// AGGREGATION:METRIC where AGGREGATION is one of cardinality, sum, min,
    /// max, avg, median, pc75, pc90, pc95, pc98, pc99 (e.g. avg:@duration,
    /// pc99:@duration, cardinality:@usr.id). AGGREGATION(METRIC) works too.
    #[arg(long = "compute", value_name = "SPEC", value_parser = ComputeSpec::parse)]
    computes: Vec<ComputeSpec>,
    /// Facet to group by, e.g. service, status, host or @http.status_code.
    /// Repeat to nest groups (the first is the outermost).
    #[arg(long = "group-by", value_name = "FACET")]
    group_by: Vec<String>,
    /// Buckets kept per --group-by level: the top N by log count.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// Make every compute a timeseries with this step, e.g. 1m, 5m, 1h.
    #[arg(long)]
    interval: Option<String>,
    /// Print NDJSON (one bucket per line) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Run a SQL query over the logs and print the result.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata sql 'SELECT service, count(*) AS n FROM logs GROUP BY service ORDER BY n DESC'
  strata sql 'SELECT * FROM logs LIMIT 5' --json

The table is aligned, numbers to the right, NULL for missing values; --json
prints one object per row ({\"column\": value, ...}), NDJSON.")]
pub(crate) struct SqlArgs {
    #[command(flatten)]
    connect: Connect,
    /// The SQL statement.
    sql: String,
    /// Print NDJSON (one object per row) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Stream matching logs as they arrive, until Ctrl-C.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  strata tail 'service:web status:error'
  strata tail --json | jq -c '.attributes | {service, message}'

One line per log: timestamp, status, service and message (cut to the terminal
width when printing to a terminal). When this client reads too slowly the
server drops logs for it and a warning says how many on stderr. The command
ends with an error when the server closes the stream or stays silent (not even
a keep-alive) for two minutes.")]
pub(crate) struct TailArgs {
    #[command(flatten)]
    connect: Connect,
    /// Datadog log search query, e.g. 'service:web status:error'.
    #[arg(default_value = "*")]
    query: String,
    /// Print NDJSON (one log object per line) instead of text lines.
    #[arg(long)]
    json: bool,
}

/// `strata query`.
pub(crate) fn query(args: QueryArgs) -> anyhow::Result<()> {
    quiet_on_broken_pipe(search::run(args))
}

/// `strata aggregate`.
pub(crate) fn aggregate(args: AggregateArgs) -> anyhow::Result<()> {
    quiet_on_broken_pipe(aggregate::run(args))
}

/// `strata sql`.
pub(crate) fn sql(args: SqlArgs) -> anyhow::Result<()> {
    quiet_on_broken_pipe(sql::run(args))
}

/// `strata metrics query` and `strata metrics list`.
pub(crate) fn metrics(command: MetricsCommand) -> anyhow::Result<()> {
    quiet_on_broken_pipe(metrics::run(command))
}

/// `strata tail`.
pub(crate) fn tail(args: TailArgs) -> anyhow::Result<()> {
    quiet_on_broken_pipe(tail::run(args))
}

/// `strata query … | head` closes our stdout early: that is the reader's
/// choice, not a failure. (Rust ignores SIGPIPE, so the write returns EPIPE.)
fn quiet_on_broken_pipe(result: anyhow::Result<()>) -> anyhow::Result<()> {
    let Err(error) = result else {
        return Ok(());
    };
    let broken_pipe = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return Ok(());
    }
    Err(error)
}

/// Width that a table line may take: $COLUMNS, else the terminal's width
/// when stdout is one, else 120.
fn line_width() -> usize {
    const FALLBACK: usize = 120;
    if let Some(columns) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
    {
        return columns;
    }
    if !std::io::stdout().is_terminal() {
        return FALLBACK;
    }
    terminal_columns().unwrap_or(FALLBACK)
}

/// The terminal's width from `stty size` (prints "ROWS COLS"): the
/// workspace denies `unsafe_code`, which rules out the TIOCGWINSZ ioctl, and
/// a dependency for one number is not worth it.
fn terminal_columns() -> Option<usize> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let output = std::process::Command::new("stty")
        .arg("size")
        .stdin(tty)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let columns = text.split_whitespace().nth(1)?.parse::<usize>().ok()?;
    (columns > 0).then_some(columns)
}

/// Reports `meta.status: "timeout"` and `meta.warnings` of a response on
/// stderr: the results printed are then partial.
fn warn_about_meta(response: &serde_json::Value) {
    let Some(meta) = response.get("meta") else {
        return;
    };
    if meta.get("status").and_then(|s| s.as_str()) == Some("timeout") {
        eprintln!("warning: the query timed out on the server; the results are partial");
    }
    let Some(warnings) = meta.get("warnings").and_then(|w| w.as_array()) else {
        return;
    };
    for warning in warnings {
        let text = ["title", "detail"]
            .iter()
            .filter_map(|key| warning.get(*key).and_then(|v| v.as_str()))
            .collect::<Vec<_>>()
            .join(": ");
        if text.is_empty() {
            eprintln!("warning: {warning}");
        } else {
            eprintln!("warning: {text}");
        }
    }
}
