//! A load generator for Strata's Datadog-compatible logs intake
//! (`POST /api/v2/logs`), behind the `strata loadgen` subcommand.
//!
//! # What it is
//!
//! `strata-loadgen` pre-generates realistic log batches — about 30 services on
//! 500 hosts, skewed statuses, a couple of hundred message templates (access
//! lines, query timings, cache misses, auth failures, queue lag, GC pauses,
//! stack traces) plus the usual structured attributes (`http.*`,
//! `network.client.ip`, `duration`, `usr.id`, `dd.trace_id`, ...) — serializes
//! and gzips them once, and only then starts the clock. It then sends those
//! bodies round-robin over N keep-alive HTTP/1.1 connections, flat out or at a
//! paced `--rate`, for `--duration` seconds or until `--events` have been
//! sent, printing a progress line to stderr every second. At the end it
//! reports throughput (events/s, MB/s of uncompressed JSON and of wire bytes)
//! and ack latency percentiles (request sent → response fully read).
//!
//! Because the data is skewed like real logs (Zipf-like service, host, user
//! and route choices), it is also meant for compression measurements: the
//! summary carries the average event size and the gzip ratio of the payloads.
//!
//! # What it is not
//!
//! * Not a correctness checker: it only looks at status codes. A request
//!   counts as acked on any 2xx; it never reads the data back.
//! * Not a benchmark of the client: payload generation and compression are
//!   excluded from the measurement, and the sending loop does as little as
//!   possible, so the numbers describe the server. Client-side limits (a
//!   single machine, the number of connections) still apply; if the tool
//!   saturates its own cores, add connections or machines.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(args: strata_loadgen::LoadgenArgs) -> Result<(), strata_loadgen::LoadgenError> {
//! let summary = strata_loadgen::run(&args).await?;
//! summary.print(args.json); // human-readable, or one JSON line with --json
//! # Ok(()) }
//! ```
//!
//! Payloads are deterministic by seed: the same `--seed` (and the same
//! start-time timestamp) gives byte-identical bodies. See [`generate_batch`]
//! and [`generate_batch_json`] to produce realistic events in tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod gen;
mod hist;
mod payload;
mod run;

pub use gen::{
    generate_batch, generate_batch_json, generate_batch_json_spread, template_count,
    DEFAULT_JITTER_MS, HOST_COUNT,
};
pub use hist::LatencyHistogram;
pub use payload::{batch_seed, Payload, PayloadSet};
pub use run::run;

/// Default base URL of the Strata server.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:7600";
/// Run length when neither `--duration` nor `--events` is given.
pub const DEFAULT_DURATION_SECS: f64 = 10.0;
/// gzip level of the pre-built bodies by default (the Datadog Agent's own).
pub const DEFAULT_GZIP_LEVEL: u32 = 6;

/// Options of `strata loadgen`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct LoadgenArgs {
    /// Base URL of the Strata server (plain HTTP); requests go to
    /// <URL>/api/v2/logs.
    #[arg(long, value_name = "URL", default_value = DEFAULT_TARGET)]
    pub target: String,

    /// API key sent as the DD-API-KEY header.
    #[arg(long, value_name = "KEY", env = "DD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Number of concurrent keep-alive connections (one in-flight request
    /// each).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub connections: usize,

    /// How long to send, in seconds (fractions allowed). Defaults to 10,
    /// or to no limit when --events is given.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,

    /// Stop once this many events have been sent (the last request is
    /// shortened to hit the number exactly).
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,

    /// Target rate in events per second across all connections (default:
    /// as fast as the server acks).
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    pub rate: Option<f64>,

    /// Events per request (the Datadog intake accepts up to 1000).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,

    /// RNG seed; the same seed gives byte-identical payloads.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Number of distinct pre-generated batches to cycle through.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub payloads: usize,

    /// Print the summary as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,

    /// Send uncompressed bodies (no Content-Encoding) instead of gzip.
    #[arg(long)]
    pub no_gzip: bool,

    /// gzip level used when pre-compressing the bodies (0-9).
    #[arg(long, value_name = "LEVEL", default_value_t = DEFAULT_GZIP_LEVEL,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    pub gzip_level: u32,

    /// Per-request timeout in seconds (connect, send and full response).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
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
            batch_size: 1000,
            seed: 42,
            payloads: 64,
            json: false,
            no_gzip: false,
            gzip_level: DEFAULT_GZIP_LEVEL,
            timeout: 30.0,
        }
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
    /// Events in requests that were sent (acked or not).
    pub events_sent: u64,
    /// Events in requests answered with a 2xx.
    pub events_acked: u64,
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
    /// Uncompressed JSON bytes acked per second, in MB (1e6 bytes).
    pub mb_per_sec: f64,
    /// Request-body bytes on the wire acked per second, in MB (1e6 bytes).
    pub wire_mb_per_sec: f64,
    /// Median ack latency (send → response complete) of 2xx requests.
    pub latency_ms_p50: f64,
    /// 99th percentile ack latency of 2xx requests.
    pub latency_ms_p99: f64,
    /// Largest ack latency of 2xx requests.
    pub latency_ms_max: f64,
    /// Mean uncompressed JSON size of a generated event, in bytes.
    pub avg_event_bytes: f64,
    /// Uncompressed / wire size of the payloads (1.0 with `--no-gzip`).
    pub compression_ratio: f64,
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
        s.push_str("strata loadgen summary\n");
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
        s.push_str(&format!(
            "  throughput     {:.0} events/s, {:.2} MB/s raw JSON, {:.2} MB/s on the wire\n",
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
mod tests {
    use super::*;
    use clap::Parser;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};

    const NOW: i64 = 1_700_000_000_000;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: LoadgenArgs,
    }

    #[test]
    fn default_args_match_clap_defaults() {
        let mut parsed = Cli::try_parse_from(["loadgen"]).unwrap().args;
        parsed.api_key = None; // DD_API_KEY may be set in the environment
        assert_eq!(parsed, LoadgenArgs::default());

        let a = Cli::try_parse_from([
            "loadgen",
            "--target",
            "http://10.0.0.1:8080",
            "--api-key",
            "k",
            "--connections",
            "8",
            "--duration",
            "2.5",
            "--events",
            "5000",
            "--rate",
            "1e5",
            "--batch-size",
            "500",
            "--seed",
            "7",
            "--payloads",
            "3",
            "--json",
            "--no-gzip",
            "--gzip-level",
            "1",
        ])
        .unwrap()
        .args;
        assert_eq!(a.duration, Some(2.5));
        assert_eq!(a.rate, Some(100_000.0));
        assert_eq!(a.events, Some(5000));
        assert_eq!(a.api_key.as_deref(), Some("k"));
        assert!(a.json && a.no_gzip);
        assert!(Cli::try_parse_from(["loadgen", "--gzip-level", "10"]).is_err());
    }

    #[test]
    fn generate_batch_is_deterministic_by_seed() {
        let batch = |seed| generate_batch(&mut StdRng::seed_from_u64(seed), 500, NOW);
        let json = |seed| generate_batch_json(&mut StdRng::seed_from_u64(seed), 500, NOW);
        assert_eq!(batch(42), batch(42));
        assert_eq!(json(42), json(42));
        assert_ne!(json(42), json(43));
        assert_ne!(batch(42), batch(43));
        // The JSON body and the values describe the same events.
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&json(42)).unwrap();
        assert_eq!(parsed, batch(42));
    }

    #[test]
    fn generated_events_look_realistic() {
        let mut rng = StdRng::seed_from_u64(42);
        let n = 20_000;
        let body = generate_batch_json(&mut rng, n, NOW);
        let events: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(events.len(), n);

        let avg = body.len() as f64 / n as f64;
        assert!((200.0..=450.0).contains(&avg), "average event size {avg}");

        let mut services = HashMap::<String, usize>::new();
        let mut hosts = HashSet::new();
        let mut statuses = HashMap::<String, usize>::new();
        let mut codes = HashMap::<u64, usize>::new();
        let mut messages = HashSet::new();
        let (mut with_http, mut with_trace, mut with_duration, mut with_error) = (0, 0, 0, 0);
        for e in &events {
            for key in [
                "message", "status", "service", "hostname", "ddsource", "ddtags",
            ] {
                assert!(e[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {e}");
            }
            let ts = e["timestamp"].as_i64().unwrap();
            assert!((NOW - 2_000..=NOW).contains(&ts), "{ts}");
            let tags = e["ddtags"].as_str().unwrap();
            assert!(tags.starts_with("env:"), "{tags}");
            assert!(
                tags.contains(",version:") && tags.contains(",region:"),
                "{tags}"
            );
            *services
                .entry(e["service"].as_str().unwrap().into())
                .or_default() += 1;
            hosts.insert(e["hostname"].as_str().unwrap().to_owned());
            *statuses
                .entry(e["status"].as_str().unwrap().into())
                .or_default() += 1;
            messages.insert(e["message"].as_str().unwrap().to_owned());
            if let Some(code) = e["http"]["status_code"].as_u64() {
                with_http += 1;
                *codes.entry(code).or_default() += 1;
                assert!(e["http"]["method"].is_string());
                assert!(e["http"]["url_details"]["path"]
                    .as_str()
                    .unwrap()
                    .starts_with('/'));
            }
            if let Some(id) = e["dd"]["trace_id"].as_str() {
                with_trace += 1;
                id.parse::<u64>().unwrap();
                e["dd"]["span_id"].as_str().unwrap().parse::<u64>().unwrap();
            }
            if e["duration"].as_u64().is_some() {
                with_duration += 1;
            }
            if e["error"]["stack"].is_string() {
                with_error += 1;
                assert!(e["error"]["kind"].is_string());
            }
            if let Some(ip) = e["network"]["client"]["ip"].as_str() {
                assert_eq!(ip.split('.').count(), 4, "{ip}");
            }
        }

        // ~30 services, all of them used, skewed (the top one is far more
        // common than the bottom one).
        assert!(services.len() >= 28, "{} services", services.len());
        let max = *services.values().max().unwrap();
        let min = *services.values().min().unwrap();
        assert!(max > 10 * min, "service skew: max {max}, min {min}");
        assert!(hosts.len() >= 250, "{} hosts", hosts.len());

        let share = |s: &str| *statuses.get(s).unwrap_or(&0) as f64 / n as f64;
        assert!((0.75..0.85).contains(&share("info")), "{statuses:?}");
        assert!((0.07..0.13).contains(&share("warn")), "{statuses:?}");
        assert!((0.04..0.08).contains(&share("error")), "{statuses:?}");
        assert!((0.015..0.05).contains(&share("debug")), "{statuses:?}");
        assert!((0.001..0.015).contains(&share("critical")), "{statuses:?}");

        // http.status_code: mostly 200, some 3xx/4xx/5xx.
        let ok = *codes.get(&200).unwrap_or(&0) as f64 / with_http as f64;
        assert!(ok > 0.5, "{codes:?}");
        for class in [3, 4, 5] {
            assert!(codes.keys().any(|c| c / 100 == class), "{codes:?}");
        }
        assert!(with_http > n / 10, "{with_http}");
        assert!(with_trace > n / 10, "{with_trace}");
        assert!(with_duration > n / 5, "{with_duration}");
        assert!(with_error > 20, "{with_error}");
        // Variable parts make most lines unique.
        assert!(
            messages.len() > n / 2,
            "{} distinct messages",
            messages.len()
        );
    }

    #[test]
    fn summary_prints_as_one_json_line() {
        let s = Summary {
            events_sent: 2000,
            events_acked: 1000,
            requests_ok: 1,
            requests_failed: 1,
            errors_by_status: BTreeMap::from([("503".to_owned(), 1)]),
            elapsed_secs: 1.0,
            events_per_sec: 1000.0,
            mb_per_sec: 0.3,
            wire_mb_per_sec: 0.03,
            latency_ms_p50: 1.5,
            latency_ms_p99: 2.5,
            latency_ms_max: 3.0,
            avg_event_bytes: 300.0,
            compression_ratio: 10.0,
        };
        let line = s.to_json_line();
        assert!(!line.contains('\n'));
        let back: Summary = serde_json::from_str(&line).unwrap();
        assert_eq!(back, s);
        let human = s.human();
        assert!(human.contains("503: 1"), "{human}");
        assert!(human.contains("p99 2.50 ms"), "{human}");
    }
}
