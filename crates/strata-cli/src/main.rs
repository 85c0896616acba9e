//! The `strata` binary: `serve`, `admin` and `loadgen`. A thin shell over the
//! library crates; `anyhow` lives here and nowhere else. It is not where any
//! protocol, storage or durability logic lives: it parses flags, loads the
//! configuration, sets up logging and the runtime, and calls the libraries.

mod admin;
mod bench;
mod client;

/// mimalloc instead of glibc malloc: the ingest path allocates many small
/// strings per event on several threads, where glibc's per-thread arenas
/// fragment (peak RSS 1.6 GiB for a 0.5 GiB budget in the first benchmark)
/// and spend a quarter of the CPU in malloc/free. See docs/benchmarks.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use strata_config::{Config, LogFormat};

/// Strata: a multi-tenant, Datadog-compatible log platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: Datadog logs and metrics intake on HTTP, DogStatsD on
    /// UDP (--statsd-listen), syslog on TCP and UDP (--syslog-listen), data
    /// in a local directory.
    ///
    /// Configuration is merged from the TOML file (--config or STRATA_CONFIG),
    /// then STRATA_* environment variables (e.g. STRATA_WAL_DURABILITY=none),
    /// then these flags. Unknown keys and variables are errors. On first start
    /// the tenant "default" is created and its keys are printed and written to
    /// DATA_DIR/bootstrap-keys.json. SIGTERM/SIGINT drain, flush and exit 0.
    Serve(ServeArgs),
    /// Tenants, keys, quotas and export (works on the data directory directly).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Send realistic logs (Datadog JSON, OTLP, Elasticsearch bulk or syslog;
    /// or, with --metrics, metrics over HTTP or DogStatsD) to a server and
    /// report throughput and latency.
    Loadgen(strata_loadgen::LoadgenArgs),
    /// Search logs on a running server and print them (a table or NDJSON).
    Query(client::QueryArgs),
    /// Count logs or compute measures (avg, pc99, ...) grouped by facets.
    Aggregate(client::AggregateArgs),
    /// Run a SQL query over the logs on a running server.
    Sql(client::SqlArgs),
    /// Stream matching logs from a running server as they arrive.
    Tail(client::TailArgs),
    /// Query metrics on a running server (`metrics query`, `metrics list`).
    #[command(subcommand)]
    Metrics(client::MetricsCommand),
    /// Benchmarks: `bench query` ingests generated logs, then times queries.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "STRATA_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./strata-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:7600].
    #[arg(long)]
    listen: Option<String>,
    /// Set any configuration key, e.g. --set wal.durability=none (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Repair mode: when WAL recovery finds a corrupt record before the tail
    /// (it refuses to start by default), truncate the WAL there instead. The
    /// records after it are lost and reported at ERROR level. Use once, after
    /// saving a copy of DATA_DIR/wal.
    #[arg(long)]
    repair_wal: bool,
    /// Receive DogStatsD on this UDP address, e.g. 127.0.0.1:8125
    /// (adds one listener to [statsd] listeners).
    #[arg(long, value_name = "ADDR")]
    statsd_listen: Option<String>,
    /// The API key whose tenant owns what --statsd-listen receives
    /// [default: the `default` tenant's key in DATA_DIR/bootstrap-keys.json].
    #[arg(long, value_name = "KEY", requires = "statsd_listen")]
    statsd_api_key: Option<String>,
    /// Receive syslog (RFC 3164 and RFC 5424) on this address, e.g.
    /// tcp://127.0.0.1:1514 or udp://127.0.0.1:1514 (repeatable; each adds
    /// one listener to [syslog] listeners).
    #[arg(long, value_name = "tcp://ADDR|udp://ADDR")]
    syslog_listen: Vec<String>,
    /// The API key whose tenant owns what the --syslog-listen listeners
    /// receive [default: the `default` tenant's key in
    /// DATA_DIR/bootstrap-keys.json].
    #[arg(long, value_name = "KEY", requires = "syslog_listen")]
    syslog_api_key: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Admin(command) => {
            init_tracing(LogFormat::Text, "warn");
            runtime(1)?.block_on(admin::run(command))
        }
        Command::Loadgen(args) => {
            init_tracing(LogFormat::Text, "warn");
            let summary = runtime(0)?.block_on(strata_loadgen::run(&args))?;
            summary.print(args.json);
            Ok(())
        }
        Command::Query(args) => client::query(args),
        Command::Aggregate(args) => client::aggregate(args),
        Command::Sql(args) => client::sql(args),
        Command::Tail(args) => client::tail(args),
        Command::Metrics(command) => client::metrics(command),
        Command::Bench(command) => bench::run(command),
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    Ok(builder.enable_all().build()?)
}

fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STRATA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = load_config_parts(
        args.config.as_deref(),
        args.data_dir.as_deref(),
        &args.set,
        args.listen.as_deref(),
    )?;
    if let Some(listen) = &args.statsd_listen {
        listen
            .parse::<std::net::SocketAddr>()
            .with_context(|| format!("--statsd-listen {listen}"))?;
        config.statsd.listeners.push(strata_config::StatsdListener {
            listen: listen.clone(),
            api_key: args.statsd_api_key.clone().unwrap_or_default(),
        });
    }
    for url in &args.syslog_listen {
        config.syslog.listeners.push(syslog_listener(
            url,
            args.syslog_api_key.as_deref().unwrap_or_default(),
        )?);
    }
    Ok(config)
}

/// A `--syslog-listen` value: `tcp://ADDR` or `udp://ADDR`.
fn syslog_listener(url: &str, api_key: &str) -> anyhow::Result<strata_config::SyslogListener> {
    use strata_config::SyslogProtocol;
    let (protocol, listen) = match url.split_once("://") {
        Some(("tcp", addr)) => (SyslogProtocol::Tcp, addr),
        Some(("udp", addr)) => (SyslogProtocol::Udp, addr),
        _ => anyhow::bail!("--syslog-listen {url}: expected tcp://ADDR or udp://ADDR"),
    };
    listen
        .parse::<std::net::SocketAddr>()
        .with_context(|| format!("--syslog-listen {url}"))?;
    Ok(strata_config::SyslogListener {
        listen: listen.to_string(),
        protocol,
        api_key: api_key.to_string(),
    })
}

/// The configuration from a TOML file, `STRATA_*` variables and `--set`
/// overrides (then `--data-dir` and `--listen`), as `strata serve` reads it.
pub(crate) fn load_config_parts(
    config: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
    set: &[String],
    listen: Option<&str>,
) -> anyhow::Result<Config> {
    let file = match config {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k != "STRATA_LOG")
        .collect();
    let mut overrides = Vec::new();
    for item in set {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("--set {item}: expected KEY=VALUE"))?;
        overrides.push((key.trim().to_string(), value.trim().to_string()));
    }
    if let Some(dir) = data_dir {
        overrides.push(("data_dir".into(), toml_string(&dir.to_string_lossy())));
    }
    if let Some(listen) = listen {
        overrides.push(("listen".into(), toml_string(listen)));
    }
    Ok(Config::load(file.as_deref(), &env, &overrides)?)
}

fn toml_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    init_tracing(config.log.format, &config.log.level);
    if config.wal.durability == strata_config::Durability::None {
        tracing::warn!("wal.durability = none: acknowledged events can be lost on power loss; use for benchmarks only");
    }
    let runtime = runtime(0)?;
    runtime.block_on(strata_server::Server::run(
        config,
        args.repair_wal,
        shutdown_signal(),
    ))?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
