//! A load generator for Strata's log and metric intakes, behind the
//! `strata loadgen` subcommand: logs (`POST /api/v2/logs` by default; OTLP,
//! Elasticsearch bulk or syslog with `--protocol`) and, with `--metrics`,
//! metrics (`POST /api/v2/series` as the Agent's protobuf or as JSON, or
//! DogStatsD datagrams over UDP).
//!
//! # What it is
//!
//! For logs, `strata-loadgen` pre-generates realistic log batches — about 30
//! services on 500 hosts, skewed statuses, a couple of hundred message
//! templates (access lines, query timings, cache misses, auth failures, queue
//! lag, GC pauses, stack traces) plus the usual structured attributes
//! (`http.*`, `network.client.ip`, `duration`, `usr.id`, `dd.trace_id`, ...)
//! — serializes and gzips them once, and only then starts the clock. It then
//! sends those bodies round-robin over N keep-alive HTTP/1.1 connections,
//! flat out or at a paced `--rate`, for `--duration` seconds or until
//! `--events` have been sent, printing a progress line to stderr every
//! second. At the end it reports throughput (events/s, MB/s of uncompressed
//! body and of wire bytes) and ack latency percentiles (request sent →
//! response fully read).
//!
//! The same events can be sent in other shapes (`--protocol`, module
//! [`render`]), so the intakes can be compared on equal data:
//!
//! * `datadog` (default): a JSON array to `/api/v2/logs`, `DD-API-KEY`.
//! * `otlp` / `otlp-json`: an OTLP `ExportLogsServiceRequest` (protobuf or
//!   OTLP/JSON) to `/v1/logs`, events grouped by `service.name` and
//!   `host.name` resource, `DD-API-KEY`. A `partialSuccess` in the answer
//!   counts its rejected records as not acked.
//! * `bulk`: Elasticsearch `_bulk` NDJSON (`create` actions) to `/_bulk`,
//!   `Authorization: ApiKey KEY`. An answer with `"errors":true` counts its
//!   failed items (by `items[].create.status`) as not acked.
//! * `syslog`: RFC 5424 messages over TCP to `--syslog-target` (module
//!   [`syslog`]), octet-counted or newline-framed. TCP acknowledges nothing
//!   a server did with the data, so the run reads the server's
//!   `strata_ingest_events_total{source="syslog"}` from `/metrics` before and
//!   after, and reports the events stored per second and the loss.
//!
//! HTTP bodies are gzip-compressed by default (as OpenTelemetry exporters
//! and Beats do); `--encoding` or `--no-gzip` change that.
//!
//! For metrics (`--metrics`, module [`metrics`]), it draws `--series` series
//! host by host from a catalogue of what an Agent host reports (system.cpu.*,
//! system.disk.*, http.requests by endpoint and status, trace.* by resource,
//! container.* ...) and sends their points at `--interval` resolution, the
//! way the Agent does: payloads of at most 10,000 points, protobuf
//! `MetricPayload` compressed with zstd (or JSON with deflate/gzip), under
//! the intake's size limits. With `--backfill-hours` it streams every point
//! of the last H hours once instead of cycling through pre-built payloads.
//! With `--protocol statsd` (module [`statsd`]) it sends DogStatsD datagrams
//! at a paced rate and reads the server's `/metrics` to report the loss.
//!
//! Because the data is skewed like real logs (Zipf-like service, host, user
//! and route choices), it is also meant for compression measurements: the
//! summary carries the average event size and the compression ratio of the
//! payloads.
//!
//! # What it is not
//!
//! * Not a correctness checker: it looks at status codes (and at the item
//!   errors of bulk and OTLP answers). A request counts as acked on any
//!   2xx; it never reads the data back. (For metrics
//!   it does read the server's own counters of stored and dropped points,
//!   because a 202 does not say that points outside the window were dropped.)
//! * Not a benchmark of the client: payload generation and compression are
//!   excluded from the measurement, and the sending loop does as little as
//!   possible, so the numbers describe the server. Client-side limits (a
//!   single machine, the number of connections) still apply; if the tool
//!   saturates its own cores, add connections or machines. The exception is
//!   `--backfill-hours`, whose payloads are built while the run goes (all of
//!   them would not fit in memory); the summary says how long the senders
//!   waited for the generator.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(args: strata_loadgen::LoadgenArgs) -> Result<(), strata_loadgen::LoadgenError> {
//! let report = strata_loadgen::run(&args).await?;
//! report.print(args.json); // human-readable, or one JSON line with --json
//! # Ok(()) }
//! ```
//!
//! Payloads are deterministic by seed: the same `--seed` (and the same
//! start-time timestamp) gives byte-identical bodies. See [`generate_batch`]
//! and [`generate_batch_json`] to produce realistic events in tests, and
//! [`SeriesCatalog`] for metric series.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod gen;
mod hist;
mod logs;
pub mod metrics;
mod payload;
mod protocol;
pub mod render;
mod run;
mod scrape;
mod series;
mod source;
pub mod statsd;
pub mod syslog;

pub use gen::{
    generate_batch, generate_batch_json, generate_batch_json_spread, template_count,
    DEFAULT_JITTER_MS, HOST_COUNT,
};
pub use hist::LatencyHistogram;
pub use logs::run_logs;
pub use metrics::MetricsSummary;
pub use payload::{batch_seed, Payload, PayloadSet};
pub use protocol::{BodyEncoding, LogsProtocol, MetricsProtocol, Protocol, SyslogFraming};
pub use series::{MetricKind, SeriesCatalog, SeriesSpec, HOST_SERIES};
pub use statsd::StatsdSummary;
pub use syslog::SyslogSummary;

/// Default base URL of the Strata server.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:7600";
/// Run length when neither `--duration` nor `--events` is given.
pub const DEFAULT_DURATION_SECS: f64 = 10.0;
/// gzip level of the pre-built bodies by default (the Datadog Agent's own).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
/// Log events per request by default (the Datadog logs intake's maximum).
pub const DEFAULT_LOG_BATCH: usize = 1000;
/// Metric points per request by default: the Agent's
/// `serializer_max_series_points_per_payload`.
pub const DEFAULT_METRIC_BATCH: usize = 10_000;
/// zstd level of metric payloads by default: the Agent's
/// `serializer_zstd_compressor_level`.
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;
/// DogStatsD lines per second when `--rate` is not given with
/// `--protocol statsd`.
pub const DEFAULT_STATSD_RATE: f64 = 100_000.0;
/// Largest DogStatsD datagram by default: datadogpy's UDP buffer size
/// (`UDP_OPTIMAL_PAYLOAD_LENGTH`, sized to fit a 1500-byte MTU).
pub const DEFAULT_PACKET_SIZE: usize = 1432;
/// Where DogStatsD datagrams go by default (the Agent's port).
pub const DEFAULT_STATSD_TARGET: &str = "127.0.0.1:8125";
/// Where syslog messages go by default (`--protocol syslog`): the address
/// of `strata serve --syslog-listen`'s example, `tcp://127.0.0.1:1514`.
pub const DEFAULT_SYSLOG_TARGET: &str = "127.0.0.1:1514";

/// Options of `strata loadgen`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
#[command(after_help = "\
Examples:
  strata loadgen --api-key $KEY --duration 20
  strata loadgen --protocol otlp --api-key $KEY --duration 20
  strata loadgen --protocol otlp-json --api-key $KEY --events 1000000
  strata loadgen --protocol bulk --api-key $KEY --duration 20 --batch-size 500
  strata loadgen --protocol syslog --syslog-target 127.0.0.1:1514 \\
      --syslog-framing newline --rate 50000 --duration 20
  strata loadgen --metrics --api-key $KEY --duration 20
  strata loadgen --metrics --protocol v2-json --encoding gzip --duration 20
  strata loadgen --metrics --backfill-hours 24 --connections 4
      (the server needs --set metrics.max_past_secs=90000 or more)
  strata loadgen --metrics --protocol statsd --statsd-target 127.0.0.1:8125 \\
      --rate 200000 --duration 10

Logs go to URL/api/v2/logs (datadog), URL/v1/logs (otlp, otlp-json) or
URL/_bulk (bulk); metrics to URL/api/v2/series. A request counts as acked on
a 2xx, less the items a bulk answer with \"errors\":true or an OTLP
partialSuccess reports as rejected. With --protocol syslog nothing is acked:
the summary gives the events sent, the events the server stored (its
strata_ingest_events_total{source=\"syslog\"} from URL/metrics, read until it
stops growing), stored events/s from the first send to the last stored
event, and the loss. Use the same --seed, --batch-size and --connections to
compare protocols on the same events. With --metrics over HTTP, the summary also gives the
points the server says it stored and dropped (from URL/metrics), since a
202 does not say that points outside the server's time window were dropped.
With --protocol statsd, the summary gives the datagrams and lines the server
received (from URL/metrics) and the loss ratio; nothing is acked over UDP.")]
pub struct LoadgenArgs {
    /// Base URL of the Strata server (plain HTTP); requests go to
    /// URL/api/v2/logs, URL/v1/logs or URL/_bulk (see --protocol), or
    /// URL/api/v2/series with --metrics. With --protocol syslog or statsd it
    /// is only used to read URL/metrics (skipped when unreachable).
    #[arg(long, value_name = "URL", default_value = DEFAULT_TARGET)]
    pub target: String,

    /// API key, sent as the DD-API-KEY header (as "Authorization: ApiKey
    /// KEY" with --protocol bulk; not sent with syslog).
    #[arg(long, value_name = "KEY", env = "DD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Number of concurrent keep-alive connections (one in-flight request
    /// each; with --protocol syslog, TCP connections writing in parallel).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub connections: usize,

    /// How long to send, in seconds (fractions allowed). Defaults to 10, or
    /// to no limit when --events is given, or until every point is sent with
    /// --backfill-hours.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Stop once this many log events have been sent (the last request is
    /// shortened to hit the number exactly). Logs only.
    #[arg(long, value_name = "N", conflicts_with = "metrics")]
    pub events: Option<u64>,

    /// Target rate across all connections: log events/s (also for syslog),
    /// metric points/s
    /// (--metrics over HTTP) or DogStatsD lines/s (--protocol statsd,
    /// default 100000). Default for HTTP: as fast as the server acks.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,

    /// Events per request for logs [default: 1000, the logs intake's
    /// maximum] (per write with syslog); points per request with --metrics [default: 10000, the
    /// Agent's maximum per payload]. A metrics payload over the intake's
    /// limits (512,000 bytes compressed, 5,242,880 uncompressed) is split in
    /// halves until it fits, as the Agent starts a new payload when one is
    /// full.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// RNG seed; the same seed gives byte-identical payloads.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Number of distinct pre-generated batches to cycle through (not used
    /// with --backfill-hours, which builds every payload once).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub payloads: usize,

    /// What to send: a logs protocol (datadog, the default; otlp, otlp-json,
    /// bulk or syslog) or, with --metrics, a metrics protocol (v2-protobuf,
    /// the default; v2-json or statsd).
    #[arg(long, value_enum, value_name = "PROTOCOL")]
    pub protocol: Option<Protocol>,

    /// Print the summary as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,

    /// Send uncompressed bodies (no Content-Encoding): the same as
    /// --encoding identity.
    #[arg(long, conflicts_with = "encoding")]
    pub no_gzip: bool,

    /// gzip level used when pre-compressing the bodies (0-9); also the level
    /// of --encoding deflate.
    #[arg(long, value_name = "LEVEL", default_value_t = DEFAULT_GZIP_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub gzip_level: u32,

    /// Per-request timeout in seconds (connect, send and full response;
    /// with syslog, each connect and write).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,

    /// Send metrics instead of logs: Agent-like series over HTTP, or
    /// DogStatsD over UDP (see --protocol).
    #[arg(long, help_heading = "Metrics")]
    pub metrics: bool,

    /// Number of distinct series (for statsd: contexts), drawn host by host
    /// from a catalogue of about 100 series per Agent host (system.cpu.*,
    /// system.disk.* by device, http.requests by endpoint and status, ...),
    /// so 10000 series are about 100 hosts.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "metrics",
        help_heading = "Metrics"
    )]
    pub series: usize,

    /// Seconds between two points of a series.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        requires = "metrics",
        help_heading = "Metrics"
    )]
    pub interval: u64,

    /// Send every point of the last H hours once, oldest first, instead of
    /// cycling through points of the last 30 minutes (10000 series x 24 h at
    /// 10 s = 86.4M points). The server drops points older than
    /// metrics.max_past_secs (default 3600): run it with
    /// --set metrics.max_past_secs= at least H*3600 plus the run's length.
    #[arg(long, value_name = "H", requires = "metrics", help_heading = "Metrics")]
    pub backfill_hours: Option<f64>,

    /// Content-Encoding of HTTP bodies [default: gzip for logs, zstd for
    /// v2-protobuf, deflate for v2-json]. Not used with syslog or statsd.
    #[arg(long, value_enum, value_name = "ENCODING")]
    pub encoding: Option<BodyEncoding>,

    /// zstd level of --encoding zstd (the Agent's default is 1).
    #[arg(long, value_name = "LEVEL", default_value_t = DEFAULT_ZSTD_LEVEL,
          value_parser = clap::value_parser!(i32).range(-7..=22))]
    pub zstd_level: i32,

    /// UDP address DogStatsD datagrams are sent to (--protocol statsd).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_STATSD_TARGET, requires = "metrics",
          help_heading = "Metrics")]
    pub statsd_target: String,

    /// Largest DogStatsD datagram in bytes: lines are buffered up to this
    /// size like datadogpy does (1432 for UDP, 8192 for UDS).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_PACKET_SIZE, requires = "metrics",
          help_heading = "Metrics")]
    pub packet_size: usize,

    /// TCP address syslog messages are sent to (--protocol syslog).
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_SYSLOG_TARGET,
          help_heading = "Syslog")]
    pub syslog_target: String,

    /// How syslog messages are delimited on the stream: octet (RFC 6587
    /// octet counting, "LEN MESSAGE") or newline (one message per line).
    #[arg(long, value_enum, value_name = "FRAMING", default_value_t = SyslogFraming::Octet,
          help_heading = "Syslog")]
    pub syslog_framing: SyslogFraming,
}

impl LoadgenArgs {
    /// `--batch-size`, or its default for the kind of run.
    pub fn effective_batch_size(&self) -> usize {
        match (self.batch_size, self.metrics) {
            (Some(n), _) => n,
            (None, false) => DEFAULT_LOG_BATCH,
            (None, true) => DEFAULT_METRIC_BATCH,
        }
    }

    /// `--encoding`, or the protocol's default (identity with `--no-gzip`):
    /// gzip for logs, zstd for v2-protobuf, deflate for v2-json.
    pub fn effective_encoding(&self) -> BodyEncoding {
        match (self.encoding, self.no_gzip) {
            (Some(encoding), _) => encoding,
            (None, true) => BodyEncoding::Identity,
            (None, false) if !self.metrics => BodyEncoding::Gzip,
            (None, false) => match self.metrics_protocol() {
                MetricsProtocol::V2Json => BodyEncoding::Deflate,
                _ => BodyEncoding::Zstd,
            },
        }
    }

    /// The protocol of a logs run: `--protocol`, or datadog when it is
    /// absent (or is a metrics protocol, which [`Self::check_protocol`]
    /// refuses).
    pub fn logs_protocol(&self) -> LogsProtocol {
        match self.protocol {
            Some(Protocol::Logs(p)) => p,
            _ => LogsProtocol::Datadog,
        }
    }

    /// The protocol of a `--metrics` run: `--protocol`, or v2-protobuf.
    pub fn metrics_protocol(&self) -> MetricsProtocol {
        match self.protocol {
            Some(Protocol::Metrics(p)) => p,
            _ => MetricsProtocol::V2Protobuf,
        }
    }

    /// Checks that `--protocol` is of the run's kind: a logs protocol
    /// without `--metrics`, a metrics protocol with it.
    pub fn check_protocol(&self) -> Result<(), LoadgenError> {
        let reason = match (self.protocol, self.metrics) {
            (Some(Protocol::Logs(p)), true) => {
                format!("{} is a logs protocol; drop --metrics", p.as_str())
            }
            (Some(Protocol::Metrics(p)), false) => {
                format!("{} is a metrics protocol; add --metrics", p.as_str())
            }
            _ => return Ok(()),
        };
        Err(LoadgenError::InvalidArgs {
            flag: "protocol",
            reason,
        })
    }
}

impl Default for LoadgenArgs {
    /// The same values clap produces with no flags (and no `DD_API_KEY`).
    fn default() -> Self {
        Self {
            target: DEFAULT_TARGET.to_owned(),
            api_key: None,
            connections: 4,
            duration: None,
            events: None,
            rate: None,
            batch_size: None,
            seed: 42,
            payloads: 64,
            json: false,
            no_gzip: false,
            gzip_level: DEFAULT_GZIP_LEVEL,
            timeout: 30.0,
            metrics: false,
            protocol: None,
            series: 10_000,
            interval: 10,
            backfill_hours: None,
            encoding: None,
            zstd_level: DEFAULT_ZSTD_LEVEL,
            statsd_target: DEFAULT_STATSD_TARGET.to_owned(),
            packet_size: DEFAULT_PACKET_SIZE,
            syslog_target: DEFAULT_SYSLOG_TARGET.to_owned(),
            syslog_framing: SyslogFraming::Octet,
        }
    }
}

/// What a run reports: one summary type per kind of traffic.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// `strata loadgen` (logs).
    Logs(Summary),
    /// `--metrics` over HTTP (`v2-protobuf`, `v2-json`).
    Metrics(MetricsSummary),
    /// `--metrics --protocol statsd`.
    Statsd(StatsdSummary),
    /// `--protocol syslog`.
    Syslog(SyslogSummary),
}

impl Report {
    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        let value = match self {
            Report::Logs(s) => serde_json::to_string(s),
            Report::Metrics(s) => serde_json::to_string(s),
            Report::Statsd(s) => serde_json::to_string(s),
            Report::Syslog(s) => serde_json::to_string(s),
        };
        value.unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Prints one JSON line when `json`, else a readable multi-line summary.
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json_line());
            return;
        }
        match self {
            Report::Logs(s) => s.print_human(),
            Report::Metrics(s) => print!("{}", s.human()),
            Report::Statsd(s) => print!("{}", s.human()),
            Report::Syslog(s) => print!("{}", s.human()),
        }
    }
}

/// Runs the load test described by `args`: logs by default (over HTTP, or
/// syslog over TCP), metrics over HTTP or DogStatsD with `--metrics` (see
/// [`run_logs`], [`syslog::run_syslog`], [`metrics::run_metrics`] and
/// [`statsd::run_statsd`]). Must be called within a Tokio runtime.
pub async fn run(args: &LoadgenArgs) -> Result<Report, LoadgenError> {
    args.check_protocol()?;
    if !args.metrics {
        return match args.logs_protocol() {
            LogsProtocol::Syslog => syslog::run_syslog(args).await.map(Report::Syslog),
            _ => run_logs(args).await.map(Report::Logs),
        };
    }
    match args.metrics_protocol() {
        MetricsProtocol::V2Protobuf | MetricsProtocol::V2Json => {
            metrics::run_metrics(args).await.map(Report::Metrics)
        }
        MetricsProtocol::Statsd => statsd::run_statsd(args).await.map(Report::Statsd),
    }
}

/// Errors that stop a run before or while it starts. Failed requests during
/// the run are not errors: they are counted in [`Summary`].
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A flag has an unusable value.
    #[error("invalid --{flag}: {reason}")]
    InvalidArgs {
        /// The flag, without dashes.
        flag: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `--target` is not a usable `http://host[:port][/prefix]` URL.
    #[error("invalid --target {target:?}: {reason}")]
    InvalidTarget {
        /// The value given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The pre-flight connection to the target failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port` dialed.
        addr: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Compressing a payload failed.
    #[error("compressing a payload: {0}")]
    Compress(#[source] std::io::Error),
    /// A background task panicked or was cancelled.
    #[error("load generator task failed: {0}")]
    Task(String),
}

/// The outcome of a run. Serializes to the `--json` line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `--protocol`: `datadog`, `otlp`, `otlp-json` or `bulk` (`datadog` in
    /// lines written before the field existed).
    #[serde(default = "datadog")]
    pub protocol: String,
    /// `Content-Encoding` of the bodies (`identity` for none).
    #[serde(default)]
    pub encoding: String,
    /// Events in requests that were sent (acked or not).
    pub events_sent: u64,
    /// Events in requests answered with a 2xx, less those the answer
    /// reports as rejected (`events_rejected`).
    pub events_acked: u64,
    /// Events in 2xx answers reported as rejected: bulk items with an error
    /// status, OTLP `partialSuccess.rejectedLogRecords`.
    #[serde(default)]
    pub events_rejected: u64,
    /// Rejected events by item status (`"400"`, `"429"`, ...; `"otlp"` for
    /// an OTLP partial success). Sums to `events_rejected`.
    #[serde(default)]
    pub rejected_by_status: BTreeMap<String, u64>,
    /// Requests answered with a 2xx.
    pub requests_ok: u64,
    /// Requests that got a non-2xx answer or a transport error, plus failed
    /// connection attempts.
    pub requests_failed: u64,
    /// Failures by HTTP status (`"503"`, `"429"`, ...) or by transport error
    /// (`"connect"`, `"io"`, `"timeout"`). Sums to `requests_failed`.
    pub errors_by_status: BTreeMap<String, u64>,
    /// Wall time from the first request to the last response.
    pub elapsed_secs: f64,
    /// `events_acked / elapsed_secs`.
    pub events_per_sec: f64,
    /// Uncompressed body bytes (JSON, NDJSON or protobuf) of 2xx requests
    /// per second, in MB (1e6 bytes).
    pub mb_per_sec: f64,
    /// Request-body bytes on the wire acked per second, in MB (1e6 bytes).
    pub wire_mb_per_sec: f64,
    /// Median ack latency (send → response complete) of 2xx requests.
    pub latency_ms_p50: f64,
    /// 99th percentile ack latency of 2xx requests.
    pub latency_ms_p99: f64,
    /// Largest ack latency of 2xx requests.
    pub latency_ms_max: f64,
    /// Mean uncompressed body size of a generated event, in bytes.
    pub avg_event_bytes: f64,
    /// Uncompressed / wire size of the payloads (1.0 with `--no-gzip`).
    pub compression_ratio: f64,
}

fn datadog() -> String {
    LogsProtocol::Datadog.as_str().to_owned()
}

impl Summary {
    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// Prints [`Summary::to_json_line`] when `json`, else
    /// [`Summary::print_human`].
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", self.to_json_line());
        } else {
            self.print_human();
        }
    }

    /// Prints a readable multi-line summary to stdout.
    pub fn print_human(&self) {
        print!("{}", self.human());
    }

    fn human(&self) -> String {
        let mut s = String::new();
        let errors = if self.errors_by_status.is_empty() {
            "none".to_owned()
        } else {
            self.errors_by_status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "strata loadgen summary (logs, {}, {})\n",
            self.protocol, self.encoding
        ));
        s.push_str(&format!("  elapsed        {:.2} s\n", self.elapsed_secs));
        s.push_str(&format!(
            "  requests       {} ok, {} failed\n",
            self.requests_ok, self.requests_failed
        ));
        s.push_str(&format!("  errors         {errors}\n"));
        s.push_str(&format!(
            "  events         {} sent, {} acked\n",
            self.events_sent, self.events_acked
        ));
        if self.events_rejected > 0 {
            let by: Vec<String> = self
                .rejected_by_status
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            s.push_str(&format!(
                "  rejected       {} events in 2xx answers ({})\n",
                self.events_rejected,
                by.join(", ")
            ));
        }
        s.push_str(&format!(
            "  throughput     {:.0} events/s, {:.2} MB/s raw body, {:.2} MB/s on the wire\n",
            self.events_per_sec, self.mb_per_sec, self.wire_mb_per_sec
        ));
        s.push_str(&format!(
            "  ack latency    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.latency_ms_p50, self.latency_ms_p99, self.latency_ms_max
        ));
        s.push_str(&format!(
            "  payloads       {:.0} B/event avg, compression x{:.2}\n",
            self.avg_event_bytes, self.compression_ratio
        ));
        s
    }
}

#[cfg(test)]
mod tests;
