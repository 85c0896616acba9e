//! `strata loadgen --metrics --protocol statsd`: DogStatsD datagrams over
//! UDP at a paced rate, and the loss the server saw.
//!
//! Lines look like what datadogpy sends: `name:value|type[|@rate]|#tags`,
//! with counters, gauges, histograms and distributions over `--series`
//! contexts ([`SeriesCatalog::statsd`]: application metrics by pod), about
//! one line in ten sampled at `@0.5`. They are packed, `\n`-terminated, into
//! datagrams of at most `--packet-size` bytes (datadogpy's buffering: 1432
//! bytes for UDP). The datagrams are built before the clock starts and sent
//! in a loop from one thread with a blocking socket, paced to `--rate` lines
//! per second (credit-based: the sender catches up after each sleep, so the
//! average rate is exact and bursts last well under a millisecond).
//!
//! UDP acknowledges nothing, so the loss is read from the server: its
//! `strata_statsd_packets_total` (datagrams received) and
//! `strata_statsd_messages_total{kind="metric"}` (lines parsed) from
//! `--target`/metrics before and after the run. On a loopback target the
//! kernel's own `RcvbufErrors` (`/proc/net/snmp`) are reported too: that is
//! where datagrams are dropped when the server reads too slowly.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::run::{invalid, parse_target, positive_secs, Target};
use crate::scrape::{self, Samples};
use crate::series::{MetricKind, SeriesCatalog, SeriesSpec};
use crate::{LoadgenArgs, LoadgenError, DEFAULT_DURATION_SECS, DEFAULT_STATSD_RATE};

/// Fewest lines built before the clock starts (more when there are more
/// contexts: every context appears at least once per cycle).
const MIN_LINES: usize = 20_000;
/// Smallest `--packet-size` accepted (one line must fit).
const MIN_PACKET: usize = 64;

/// One DogStatsD line for `spec` with `value` (no newline).
pub fn statsd_line(spec: &SeriesSpec, value: f64, sample_rate: Option<f64>) -> String {
    let mut line = String::with_capacity(128);
    let _ = write!(
        line,
        "{}:{}|{}",
        spec.metric,
        format_value(value),
        spec.kind.statsd_symbol()
    );
    if let Some(rate) = sample_rate {
        let _ = write!(line, "|@{rate}");
    }
    if !spec.tags.is_empty() {
        line.push_str("|#");
        line.push_str(&spec.tags.join(","));
    }
    line
}

/// Integers without a fraction, other values with up to 4 decimals.
fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let fixed = format!("{value:.4}");
    fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Pre-built datagrams, sent in a loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Datagrams {
    datagrams: Vec<Vec<u8>>,
    /// Lines in each datagram.
    lines: Vec<u32>,
}

impl Datagrams {
    /// Builds at least `min_lines` lines (a whole number of passes over the
    /// contexts, each pass in a seeded random order) packed into datagrams
    /// of at most `packet_size` bytes. Deterministic by `seed`.
    pub fn build(
        catalog: &SeriesCatalog,
        min_lines: usize,
        packet_size: usize,
        seed: u64,
    ) -> Datagrams {
        let mut rng = StdRng::seed_from_u64(seed);
        let contexts = catalog.len().max(1);
        let passes = min_lines.div_ceil(contexts).max(1);
        let mut order: Vec<usize> = (0..catalog.len()).collect();
        let mut out = Datagrams {
            datagrams: Vec::new(),
            lines: Vec::new(),
        };
        let mut current = Vec::with_capacity(packet_size);
        let mut in_current = 0u32;
        // Values move from line to line (any base works: only the shape of
        // the values matters, DogStatsD lines carry no timestamp).
        let mut ts: i64 = 1_700_000_000;
        for _ in 0..passes {
            order.shuffle(&mut rng);
            for &index in &order {
                let Some(spec) = catalog.series().get(index) else {
                    continue;
                };
                ts += 1;
                let sampled = matches!(
                    spec.kind,
                    MetricKind::Count | MetricKind::Histogram | MetricKind::Distribution
                ) && rng.gen_ratio(1, 10);
                let line = statsd_line(spec, spec.value_at(ts), sampled.then_some(0.5));
                // datadogpy flushes when the line and its newline would not
                // fit any more.
                if !current.is_empty() && current.len() + line.len() + 1 > packet_size {
                    out.datagrams.push(std::mem::take(&mut current));
                    out.lines.push(in_current);
                    in_current = 0;
                }
                current.extend_from_slice(line.as_bytes());
                current.push(b'\n');
                in_current += 1;
            }
        }
        if !current.is_empty() {
            out.datagrams.push(current);
            out.lines.push(in_current);
        }
        out
    }

    /// The datagrams, in sending order.
    pub fn datagrams(&self) -> &[Vec<u8>] {
        &self.datagrams
    }

    /// Total lines.
    pub fn line_count(&self) -> u64 {
        self.lines.iter().map(|&n| u64::from(n)).sum()
    }

    /// Total bytes.
    pub fn byte_count(&self) -> u64 {
        self.datagrams.iter().map(|d| d.len() as u64).sum()
    }
}

/// What the sending thread did.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sent {
    lines: u64,
    datagrams: u64,
    bytes: u64,
    /// Failed `send` calls by error kind (e.g. `ConnectionRefused` when
    /// nothing listens on a loopback port).
    errors: BTreeMap<String, u64>,
    elapsed_secs: f64,
}

/// Counters the progress line reads while the thread sends.
#[derive(Debug, Default)]
struct Live {
    lines: AtomicU64,
    datagrams: AtomicU64,
}

/// Sends `datagrams` in a loop from a socket connected to `target`, paced to
/// `rate` lines per second, for `duration` or until `stop`.
fn send_paced(
    socket: &UdpSocket,
    datagrams: &Datagrams,
    rate: f64,
    duration: Duration,
    stop: &AtomicBool,
    live: &Live,
) -> Sent {
    let mut sent = Sent::default();
    let start = Instant::now();
    let all = datagrams.datagrams.iter().zip(&datagrams.lines).cycle();
    let mut next_due = 0.0f64; // seconds from start at which the next datagram is due
    for (datagram, &lines) in all {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed >= duration.as_secs_f64() {
            break;
        }
        if next_due > elapsed {
            // Sleep until the datagram is due (or the end); the credit
            // carried over keeps the average rate exact.
            let wait = (next_due - elapsed).min(duration.as_secs_f64() - elapsed);
            std::thread::sleep(Duration::from_secs_f64(wait.max(0.0)));
            if start.elapsed() >= duration {
                break;
            }
        }
        match socket.send(datagram) {
            Ok(n) => {
                sent.bytes += n as u64;
                sent.datagrams += 1;
                sent.lines += u64::from(lines);
            }
            Err(error) => {
                *sent
                    .errors
                    .entry(format!("{:?}", error.kind()))
                    .or_insert(0) += 1;
            }
        }
        next_due += f64::from(lines) / rate;
        live.lines.store(sent.lines, Ordering::Relaxed);
        live.datagrams.store(sent.datagrams, Ordering::Relaxed);
    }
    sent.elapsed_secs = start.elapsed().as_secs_f64().max(1e-9);
    sent
}

/// The outcome of a `--protocol statsd` run. Serializes to the `--json`
/// line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsdSummary {
    /// Where the datagrams went.
    pub statsd_target: String,
    /// Distinct contexts (metric + tags).
    pub contexts: usize,
    /// Largest datagram, bytes.
    pub packet_size: usize,
    /// `--rate`, lines per second.
    pub rate_target: f64,
    /// Lines in datagrams handed to the kernel.
    pub lines_sent: u64,
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Bytes of those datagrams.
    pub bytes_sent: u64,
    /// Failed `send` calls by error kind.
    pub send_errors: BTreeMap<String, u64>,
    /// Wall time of the sending loop.
    pub elapsed_secs: f64,
    /// `lines_sent / elapsed_secs`.
    pub lines_per_sec: f64,
    /// `datagrams_sent / elapsed_secs`.
    pub datagrams_per_sec: f64,
    /// `bytes_sent / elapsed_secs`, in MB (1e6 bytes).
    pub mb_per_sec: f64,
    /// Mean lines per datagram.
    pub avg_lines_per_datagram: f64,
    /// Datagrams the server received during the run
    /// (`strata_statsd_packets_total`); `None` when `/metrics` was not
    /// readable. Includes other senders' datagrams, if any.
    pub server_datagrams_received: Option<u64>,
    /// Metric lines the server parsed (`strata_statsd_messages_total{kind="metric"}`).
    pub server_lines_parsed: Option<u64>,
    /// Malformed lines the server skipped (`strata_statsd_parse_errors_total`).
    pub server_parse_errors: Option<u64>,
    /// `1 - received / sent` datagrams (0 when nothing was lost).
    pub datagram_loss_ratio: Option<f64>,
    /// `1 - parsed / sent` lines.
    pub line_loss_ratio: Option<f64>,
    /// Increase of the kernel's UDP `RcvbufErrors` (datagrams dropped
    /// because a socket's receive buffer was full), for a loopback target.
    pub kernel_rcvbuf_errors: Option<u64>,
}

impl StatsdSummary {
    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable multi-line summary.
    pub fn human(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "strata loadgen summary (metrics, statsd -> {})\n",
            self.statsd_target
        ));
        s.push_str(&format!("  elapsed        {:.2} s\n", self.elapsed_secs));
        s.push_str(&format!(
            "  contexts       {}, datagrams of at most {} B, {:.1} lines/datagram\n",
            self.contexts, self.packet_size, self.avg_lines_per_datagram
        ));
        s.push_str(&format!(
            "  sent           {} lines in {} datagrams ({:.1} MB)\n",
            self.lines_sent,
            self.datagrams_sent,
            self.bytes_sent as f64 / 1e6
        ));
        s.push_str(&format!(
            "  throughput     {:.0} lines/s (target {:.0}), {:.0} datagrams/s, {:.2} MB/s\n",
            self.lines_per_sec, self.rate_target, self.datagrams_per_sec, self.mb_per_sec
        ));
        let errors = if self.send_errors.is_empty() {
            "none".to_owned()
        } else {
            self.send_errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!("  send errors    {errors}\n"));
        let server = match (
            self.server_datagrams_received,
            self.server_lines_parsed,
            self.datagram_loss_ratio,
            self.line_loss_ratio,
        ) {
            (Some(d), Some(l), Some(dl), Some(ll)) => format!(
                "{d} datagrams received ({:.3}% lost), {l} lines parsed ({:.3}% lost), {} parse errors",
                dl * 100.0,
                ll * 100.0,
                self.server_parse_errors.unwrap_or(0)
            ),
            _ => "not measured (/metrics not readable; see --target)".to_owned(),
        };
        s.push_str(&format!("  server         {server}\n"));
        if let Some(n) = self.kernel_rcvbuf_errors {
            s.push_str(&format!(
                "  kernel         {n} UDP receive-buffer drops (RcvbufErrors)\n"
            ));
        }
        s
    }
}

/// The server's DogStatsD counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ServerCounters {
    datagrams: u64,
    lines: u64,
    parse_errors: u64,
}

async fn server_counters(target: &Target, listener: &str) -> Option<ServerCounters> {
    let text = scrape::fetch(target, Duration::from_secs(5)).await.ok()?;
    let samples = Samples::parse(&text);
    let label = format!("listener=\"{listener}\"");
    // The listener label is the bound address; fall back to every listener
    // when the target was written differently (a host name, 0.0.0.0, ...).
    let datagrams = samples
        .sum("strata_statsd_packets_total", &[&label])
        .or_else(|| samples.sum("strata_statsd_packets_total", &[]))
        .unwrap_or(0.0);
    let lines = samples
        .sum("strata_statsd_messages_total", &["kind=\"metric\""])
        .unwrap_or(0.0);
    let parse_errors = samples
        .sum("strata_statsd_parse_errors_total", &[])
        .unwrap_or(0.0);
    Some(ServerCounters {
        datagrams: datagrams as u64,
        lines: lines as u64,
        parse_errors: parse_errors as u64,
    })
}

/// Reads the counters until they stop moving: the server counts datagrams
/// as it reads them and exports parsed lines once a second, so a busy
/// server is still catching up when the sender stops.
async fn settled_counters(target: &Target, listener: &str) -> Option<ServerCounters> {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut last = server_counters(target, listener).await?;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let now = server_counters(target, listener).await?;
        if now == last {
            return Some(now);
        }
        last = now;
    }
    Some(last)
}

/// The kernel's UDP `RcvbufErrors` counter (Linux), if readable.
fn kernel_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let column = header
        .split_whitespace()
        .position(|h| h == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

fn resolve(target: &str) -> Result<SocketAddr, LoadgenError> {
    let bad = |reason: String| invalid("statsd-target", &format!("{target:?}: {reason}"));
    let mut addrs = target.to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| bad("resolves to no address".into()))
}

/// Runs `strata loadgen --metrics --protocol statsd` and returns its
/// summary.
///
/// Builds the datagrams, reads the server's counters from
/// `<--target>/metrics` (skipped, with a note, when unreachable), sends at
/// `--rate` lines per second (default 100,000) for `--duration` seconds
/// (default 10), waits for the server's counters to settle and reads them
/// again. Ctrl-C stops sending early. Errors are bad arguments or a socket
/// that cannot be opened. Must be called within a Tokio runtime.
pub async fn run_statsd(args: &LoadgenArgs) -> Result<StatsdSummary, LoadgenError> {
    args.check_protocol()?;
    let addr = resolve(&args.statsd_target)?;
    let target = parse_target(&args.target)?;
    if args.series == 0 {
        return Err(invalid("series", "must be at least 1"));
    }
    if args.packet_size < MIN_PACKET || args.packet_size > 65_507 {
        return Err(invalid("packet-size", "must be between 64 and 65507 bytes"));
    }
    let duration = positive_secs("duration", args.duration.unwrap_or(DEFAULT_DURATION_SECS))?;
    let rate = args.rate.unwrap_or(DEFAULT_STATSD_RATE);
    if !(rate.is_finite() && rate > 0.0) {
        return Err(invalid(
            "rate",
            "must be a positive number of lines per second",
        ));
    }

    let (series, seed, packet_size) = (args.series, args.seed, args.packet_size);
    let datagrams = tokio::task::spawn_blocking(move || {
        let catalog = SeriesCatalog::statsd(series, seed);
        Datagrams::build(&catalog, MIN_LINES.max(series), packet_size, seed)
    })
    .await
    .map_err(|e| LoadgenError::Task(e.to_string()))?;
    let line_count = datagrams.line_count();
    eprintln!(
        "loadgen: {} datagrams pre-generated ({line_count} lines over {series} contexts, {:.1} lines/datagram); sending {rate:.0} lines/s for {:.1} s -> udp://{addr}",
        datagrams.datagrams().len(),
        line_count as f64 / datagrams.datagrams().len().max(1) as f64,
        duration.as_secs_f64(),
    );

    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .and_then(|s| s.connect(addr).map(|()| s))
        .map_err(|source| LoadgenError::Connect {
            addr: addr.to_string(),
            source,
        })?;

    let listener = addr.to_string();
    let before = server_counters(&target, &listener).await;
    if before.is_none() {
        eprintln!(
            "loadgen: cannot read {}/metrics; the loss ratio will not be measured",
            args.target.trim_end_matches('/')
        );
    }
    let kernel_before = addr.ip().is_loopback().then(kernel_rcvbuf_errors).flatten();

    let stop = Arc::new(AtomicBool::new(false));
    let live = Arc::new(Live::default());
    let ctrl_c = tokio::spawn({
        let stop = Arc::clone(&stop);
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: interrupted");
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    let progress = tokio::spawn(progress(Arc::clone(&live)));
    let sender = tokio::task::spawn_blocking({
        let (stop, live) = (Arc::clone(&stop), Arc::clone(&live));
        move || send_paced(&socket, &datagrams, rate, duration, &stop, &live)
    });
    let sent = sender.await.map_err(|e| LoadgenError::Task(e.to_string()));
    progress.abort();
    let sent = sent?;

    let after = match before {
        Some(_) => settled_counters(&target, &listener).await,
        None => None,
    };
    ctrl_c.abort();
    let kernel_after = addr.ip().is_loopback().then(kernel_rcvbuf_errors).flatten();

    let delta = match (before, after) {
        (Some(b), Some(a)) => Some(ServerCounters {
            datagrams: a.datagrams.saturating_sub(b.datagrams),
            lines: a.lines.saturating_sub(b.lines),
            parse_errors: a.parse_errors.saturating_sub(b.parse_errors),
        }),
        _ => None,
    };
    let loss = |received: u64, sent: u64| {
        if sent == 0 {
            0.0
        } else {
            (1.0 - received as f64 / sent as f64).max(0.0)
        }
    };
    let elapsed = sent.elapsed_secs;
    Ok(StatsdSummary {
        statsd_target: addr.to_string(),
        contexts: series,
        packet_size,
        rate_target: rate,
        lines_sent: sent.lines,
        datagrams_sent: sent.datagrams,
        bytes_sent: sent.bytes,
        send_errors: sent.errors,
        elapsed_secs: elapsed,
        lines_per_sec: sent.lines as f64 / elapsed,
        datagrams_per_sec: sent.datagrams as f64 / elapsed,
        mb_per_sec: sent.bytes as f64 / elapsed / 1e6,
        avg_lines_per_datagram: sent.lines as f64 / sent.datagrams.max(1) as f64,
        server_datagrams_received: delta.map(|d| d.datagrams),
        server_lines_parsed: delta.map(|d| d.lines),
        server_parse_errors: delta.map(|d| d.parse_errors),
        datagram_loss_ratio: delta.map(|d| loss(d.datagrams, sent.datagrams)),
        line_loss_ratio: delta.map(|d| loss(d.lines, sent.lines)),
        kernel_rcvbuf_errors: kernel_before
            .zip(kernel_after)
            .map(|(b, a)| a.saturating_sub(b)),
    })
}

async fn progress(live: Arc<Live>) {
    let start = tokio::time::Instant::now();
    let period = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(start + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last = 0u64;
    loop {
        tick.tick().await;
        let lines = live.lines.load(Ordering::Relaxed);
        eprintln!(
            "[{:>6.1}s] {:>9} lines/s  sent {:>10} lines  {:>9} datagrams",
            start.elapsed().as_secs_f64(),
            lines - last,
            lines,
            live.datagrams.load(Ordering::Relaxed),
        );
        last = lines;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_metrics::statsd::{parse_datagram, Message};

    #[test]
    fn lines_look_like_datadogpy() {
        let catalog = SeriesCatalog::statsd(40, 3);
        let spec = &catalog.series()[0];
        let line = statsd_line(spec, 3.0, Some(0.5));
        assert!(line.starts_with("app.page.views:3|c|@0.5|#env:"), "{line}");
        assert!(line.contains(",pod_name:"), "{line}");
        assert_eq!(format_value(12.5), "12.5");
        assert_eq!(format_value(0.123456), "0.1235");
        assert_eq!(format_value(1e6), "1000000");
    }

    #[test]
    fn datagrams_parse_without_errors_and_fit_the_packet_size() {
        let catalog = SeriesCatalog::statsd(1_000, 42);
        let built = Datagrams::build(&catalog, 5_000, DEFAULT_PACKET, 42);
        assert_eq!(built.line_count(), 5_000);
        let mut kinds = BTreeMap::<&str, usize>::new();
        let mut sampled = 0;
        let mut parsed = 0u64;
        for (datagram, &lines) in built.datagrams.iter().zip(&built.lines) {
            assert!(datagram.len() <= DEFAULT_PACKET, "{}", datagram.len());
            assert!(datagram.ends_with(b"\n"));
            let results = parse_datagram(datagram);
            assert_eq!(results.len(), lines as usize);
            for result in results {
                let Ok(Message::Metric(metric)) = result else {
                    panic!("{result:?} in {}", String::from_utf8_lossy(datagram));
                };
                *kinds.entry(metric.kind.symbol()).or_default() += 1;
                if metric.sample_rate < 1.0 {
                    sampled += 1;
                }
                assert!(metric.tags.iter().any(|t| t.starts_with("service:")));
                parsed += 1;
            }
        }
        assert_eq!(parsed, 5_000);
        for kind in ["c", "g", "h", "d"] {
            assert!(kinds.get(kind).is_some_and(|n| *n > 100), "{kinds:?}");
        }
        assert!(sampled > 100, "{sampled}");
        // Datagrams are full: about 1432 / 130 lines each.
        let per = built.line_count() as f64 / built.datagrams.len() as f64;
        assert!(per > 6.0, "{per} lines/datagram");
        // Deterministic by seed.
        assert_eq!(Datagrams::build(&catalog, 5_000, DEFAULT_PACKET, 42), built);
        assert_ne!(Datagrams::build(&catalog, 5_000, DEFAULT_PACKET, 43), built);
    }

    const DEFAULT_PACKET: usize = crate::DEFAULT_PACKET_SIZE;
    const STATSD: crate::Protocol = crate::Protocol::Metrics(crate::MetricsProtocol::Statsd);

    #[test]
    fn sender_paces_to_the_rate() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(receiver.local_addr().unwrap()).unwrap();
        let catalog = SeriesCatalog::statsd(200, 1);
        let built = Datagrams::build(&catalog, 2_000, DEFAULT_PACKET, 1);
        let counting = std::thread::spawn(move || {
            let mut buffer = [0u8; 65_536];
            let (mut datagrams, mut lines) = (0u64, 0u64);
            while let Ok(n) = receiver.recv(&mut buffer) {
                datagrams += 1;
                lines += parse_datagram(&buffer[..n]).len() as u64;
            }
            (datagrams, lines)
        });
        let sent = send_paced(
            &socket,
            &built,
            20_000.0,
            Duration::from_millis(500),
            &AtomicBool::new(false),
            &Live::default(),
        );
        // 20k lines/s for 0.5 s: about 10k lines (the datagram in flight at
        // the deadline may add one).
        assert!((9_000..=11_000).contains(&sent.lines), "{sent:?}");
        assert!(sent.errors.is_empty(), "{sent:?}");
        let (datagrams, lines) = counting.join().unwrap();
        assert_eq!(datagrams, sent.datagrams);
        assert_eq!(lines, sent.lines);
    }

    #[tokio::test]
    async fn run_statsd_reports_without_a_server_to_read() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", free.local_addr().unwrap());
        drop(free);
        let args = LoadgenArgs {
            metrics: true,
            protocol: Some(STATSD),
            statsd_target: receiver.local_addr().unwrap().to_string(),
            target: dead,
            series: 100,
            duration: Some(0.2),
            rate: Some(5_000.0),
            ..LoadgenArgs::default()
        };
        let s = run_statsd(&args).await.unwrap();
        assert!(s.lines_sent > 500 && s.lines_sent < 1_500, "{s:?}");
        assert_eq!(s.server_datagrams_received, None);
        assert_eq!(s.datagram_loss_ratio, None);
        assert!(s.human().contains("not measured"));
        // Floats may differ in the last digit after a JSON round trip.
        let back: StatsdSummary = serde_json::from_str(&s.to_json_line()).unwrap();
        assert_eq!(back.lines_sent, s.lines_sent);
        assert_eq!(back.send_errors, s.send_errors);
    }

    #[tokio::test]
    async fn run_statsd_rejects_bad_arguments() {
        let base = LoadgenArgs {
            metrics: true,
            protocol: Some(STATSD),
            ..LoadgenArgs::default()
        };
        for bad in [
            LoadgenArgs {
                statsd_target: "nowhere".into(),
                ..base.clone()
            },
            LoadgenArgs {
                packet_size: 10,
                ..base.clone()
            },
            LoadgenArgs {
                rate: Some(-1.0),
                ..base.clone()
            },
            LoadgenArgs {
                series: 0,
                ..base.clone()
            },
        ] {
            let err = run_statsd(&bad).await.unwrap_err();
            assert!(matches!(err, LoadgenError::InvalidArgs { .. }), "{err}");
        }
    }
}
