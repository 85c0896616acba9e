//! `strata loadgen --protocol syslog`: RFC 5424 messages over TCP, and the
//! events the server says it stored.
//!
//! The messages are the generated events of the other logs protocols
//! ([`crate::render::syslog_message`]), built before the clock starts into
//! `--payloads` buffers of `--batch-size` framed messages (octet counting
//! by default, `--syslog-framing newline` for one per line). `--connections`
//! TCP connections write those buffers round-robin, flat out or paced to
//! `--rate` events/s, for `--duration` or until `--events` have been
//! written, then close their write side.
//!
//! TCP acknowledges bytes, not stored events, so the stored count is read
//! from the server: `strata_ingest_events_total{source="syslog"}` on
//! `--target`/metrics, before the run and then every 100 ms after the last
//! write, until it reaches the count sent, or stays still for 3 s once the
//! server has closed every connection (it has read all there was; a server
//! pausing a connection under back-pressure is still reading), or for 30 s
//! if it does not close them. The summary gives events sent per second
//! (over the writing), events stored per second (from the first write to
//! when the last stored event was seen, so up to one poll late) and the
//! loss, sent − stored. Another syslog sender to the same server would be
//! counted too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::logs::{logs_format, pregenerate};
use crate::payload::{Payload, PayloadSet};
use crate::run::{
    invalid, parse_target, positive_secs, Pacer, Target, FIRST_BACKOFF, GIVE_UP_AFTER, MAX_BACKOFF,
};
use crate::scrape::{self, Samples};
use crate::source::claim_cycle;
use crate::{LoadgenArgs, LoadgenError, LogsProtocol, DEFAULT_DURATION_SECS};

/// The server's counter of stored events, and its label for syslog.
pub const STORED_COUNTER: &str = "strata_ingest_events_total";
/// The `source` label of [`STORED_COUNTER`] the syslog listener counts with.
pub const STORED_LABEL: &str = "source=\"syslog\"";
/// Time between two reads of the stored count after the last write.
const POLL: Duration = Duration::from_millis(100);
/// The stored count is final once it stays still this long after the
/// server closed the connections ...
const QUIET: Duration = Duration::from_secs(3);
/// ... or this long if it does not close them.
const QUIET_OPEN: Duration = Duration::from_secs(30);
/// Longest wait for the stored count after the last write.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// The outcome of a `--protocol syslog` run. Serializes to the `--json`
/// line; `events_acked` and `events_per_sec` mean what they mean for the
/// HTTP protocols' [`crate::Summary`] (stored events, not written ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyslogSummary {
    /// Always `syslog`.
    pub protocol: String,
    /// `--syslog-target`.
    pub syslog_target: String,
    /// `octet` or `newline`.
    pub framing: String,
    /// TCP connections writing in parallel.
    pub connections: usize,
    /// Events in writes that completed.
    pub events_sent: u64,
    /// Bytes in writes that completed.
    pub bytes_sent: u64,
    /// Events in writes that failed (some of them may have reached the
    /// server).
    pub events_failed: u64,
    /// Failed connects and writes by kind (`connect`, `timeout`, an I/O
    /// error kind such as `ConnectionReset`).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Wall time from the first write to the last.
    pub elapsed_secs: f64,
    /// `events_sent / elapsed_secs`.
    pub sent_per_sec: f64,
    /// `bytes_sent / elapsed_secs`, in MB (1e6 bytes).
    pub mb_per_sec: f64,
    /// Events the server stored during the run (the increase of
    /// `strata_ingest_events_total{source="syslog"}`); `None` when
    /// `--target`/metrics was not readable.
    pub events_acked: Option<u64>,
    /// `events_sent - events_acked` (0 if the server counted more).
    pub events_lost: Option<u64>,
    /// From the first write to the read that first saw the final stored
    /// count.
    pub stored_elapsed_secs: Option<f64>,
    /// `events_acked / stored_elapsed_secs`: the rate to compare with the
    /// HTTP protocols' `events_per_sec`.
    pub events_per_sec: Option<f64>,
    /// Mean size of a framed message, in bytes.
    pub avg_event_bytes: f64,
}

impl SyslogSummary {
    /// The summary as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// A readable multi-line summary.
    pub fn human(&self) -> String {
        let mut s = format!(
            "strata loadgen summary (logs, syslog over TCP -> {}, {} framing)\n",
            self.syslog_target, self.framing
        );
        s.push_str(&format!(
            "  elapsed        {:.2} s writing over {} connections\n",
            self.elapsed_secs, self.connections
        ));
        s.push_str(&format!(
            "  sent           {} events ({:.1} MB), {} in failed writes\n",
            self.events_sent,
            self.bytes_sent as f64 / 1e6,
            self.events_failed
        ));
        let errors = if self.errors_by_kind.is_empty() {
            "none".to_owned()
        } else {
            let all: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            all.join(", ")
        };
        s.push_str(&format!("  errors         {errors}\n"));
        s.push_str(&format!(
            "  throughput     {:.0} events/s sent, {:.2} MB/s\n",
            self.sent_per_sec, self.mb_per_sec
        ));
        let stored = match (
            self.events_acked,
            self.events_lost,
            self.events_per_sec,
            self.stored_elapsed_secs,
        ) {
            (Some(n), Some(lost), Some(rate), Some(secs)) => format!(
                "{n} events ({lost} lost, {:.3}%), {rate:.0} events/s stored over {secs:.2} s",
                lost as f64 * 100.0 / self.events_sent.max(1) as f64
            ),
            _ => "not measured (/metrics not readable; see --target)".to_owned(),
        };
        s.push_str(&format!("  stored         {stored}\n"));
        s.push_str(&format!(
            "  payloads       {:.0} B/event avg\n",
            self.avg_event_bytes
        ));
        s
    }
}

/// The state the connections share.
#[derive(Debug)]
struct Shared {
    addr: String,
    set: PayloadSet,
    limit: Option<u64>,
    claimed: AtomicU64,
    next: AtomicUsize,
    pacer: Option<Pacer>,
    deadline: Option<Instant>,
    timeout: Duration,
    events_sent: AtomicU64,
    bytes_sent: AtomicU64,
    events_failed: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    /// When the last write completed.
    last_write: Mutex<Option<Instant>>,
    /// Connections still writing.
    writers: AtomicUsize,
    /// Set to end the wait for the server to close the connections.
    quit: watch::Sender<bool>,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn failure(&self, key: &str, detail: &str) {
        let first = {
            let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
            let n = errors.entry(key.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            eprintln!("loadgen: first syslog {key} error: {detail}");
        }
    }

    /// Sleeps until `at` (capped at the deadline); true if told to stop.
    async fn sleep_or_stop(&self, at: Instant, stop: &mut watch::Receiver<bool>) -> bool {
        let at = self.deadline.map_or(at, |d| at.min(d));
        tokio::select! {
            _ = tokio::time::sleep_until(at) => false,
            _ = stop.wait_for(|s| *s) => true,
        }
    }

    /// Writes one buffer; false (and the connection is to be dropped) on
    /// failure.
    async fn write(&self, stream: &mut TcpStream, payload: &Payload) -> bool {
        let events = payload.events() as u64;
        match tokio::time::timeout(self.timeout, stream.write_all(payload.body())).await {
            Ok(Ok(())) => {
                self.events_sent.fetch_add(events, Ordering::Relaxed);
                self.bytes_sent
                    .fetch_add(payload.wire_len() as u64, Ordering::Relaxed);
                *self
                    .last_write
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                true
            }
            Ok(Err(e)) => {
                self.events_failed.fetch_add(events, Ordering::Relaxed);
                self.failure(&format!("{:?}", e.kind()), &e.to_string());
                false
            }
            Err(_) => {
                self.events_failed.fetch_add(events, Ordering::Relaxed);
                self.failure("timeout", "a write did not complete within --timeout");
                false
            }
        }
    }
}

async fn connect(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// One connection's write loop; reconnects after a failure, gives up after
/// [`GIVE_UP_AFTER`] of failed connects, closes its write side at the end.
async fn connection_task(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut stream: Option<TcpStream> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut failing_since: Option<Instant> = None;
    loop {
        if *stop.borrow() || shared.past_deadline() {
            break;
        }
        let Some(s) = stream.as_mut() else {
            match connect(&shared.addr, shared.timeout).await {
                Ok(s) => {
                    stream = Some(s);
                    (backoff, failing_since) = (FIRST_BACKOFF, None);
                }
                Err(e) => {
                    shared.failure("connect", &e.to_string());
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GIVE_UP_AFTER
                        || shared
                            .sleep_or_stop(Instant::now() + backoff, &mut stop)
                            .await
                    {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        };
        let Some(payload) = claim_cycle(&shared.set, shared.limit, &shared.claimed, &shared.next)
        else {
            break;
        };
        if let Some(pacer) = &shared.pacer {
            let at = pacer.reserve(payload.events());
            if shared.deadline.is_some_and(|d| at >= d) || shared.sleep_or_stop(at, &mut stop).await
            {
                break;
            }
        }
        if !shared.write(s, &payload).await {
            stream = None;
        }
    }
    shared.writers.fetch_sub(1, Ordering::SeqCst);
    if let Some(s) = stream {
        drain(s, &shared).await;
    }
}

/// Closes the write side, then reads until the server closes the
/// connection (it has read everything) or until told to quit.
async fn drain(mut stream: TcpStream, shared: &Shared) {
    if tokio::time::timeout(shared.timeout, stream.shutdown())
        .await
        .is_err()
    {
        return;
    }
    let mut quit = shared.quit.subscribe();
    let mut buffer = [0u8; 4096];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            _ = quit.wait_for(|q| *q) => return,
            _ = tokio::time::sleep(MAX_WAIT) => return,
        }
    }
}

async fn progress(shared: Arc<Shared>, start: Instant) {
    let period = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(start + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut last_at, mut last_sent) = (start, 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let sent = shared.events_sent.load(Ordering::Relaxed);
        let rate = (sent - last_sent) as f64 / (now - last_at).as_secs_f64().max(1e-9);
        (last_at, last_sent) = (now, sent);
        let errors: u64 = shared
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .sum();
        eprintln!(
            "[{:>6.1}s] {rate:>9.0} events/s  sent {sent:>10}  errors {errors:>6}",
            (now - start).as_secs_f64(),
        );
    }
}

/// The server's stored syslog events, `None` when `/metrics` is not
/// readable (0 when it is but has no syslog sample yet).
async fn stored(target: &Target) -> Option<u64> {
    let text = scrape::fetch(target, Duration::from_secs(5)).await.ok()?;
    let n = Samples::parse(&text)
        .sum(STORED_COUNTER, &[STORED_LABEL])
        .unwrap_or(0.0);
    Some(n as u64)
}

/// Reads the stored count until it reaches `before + sent`, or stays still
/// for [`QUIET`] once `closed()` (the server closed the connections), or
/// for [`QUIET_OPEN`]: the increase, and when its final value was first
/// seen.
async fn settle(
    target: &Target,
    before: u64,
    sent: u64,
    closed: impl Fn() -> bool,
) -> Option<(u64, Instant)> {
    let began = Instant::now();
    let mut last = stored(target).await?;
    let mut seen_at = Instant::now();
    let mut closed_at = None;
    while last.saturating_sub(before) < sent && began.elapsed() < MAX_WAIT {
        if closed() {
            let at = *closed_at.get_or_insert_with(Instant::now);
            if seen_at.max(at).elapsed() >= QUIET {
                break;
            }
        }
        if seen_at.elapsed() >= QUIET_OPEN {
            break;
        }
        tokio::time::sleep(POLL).await;
        if let Some(now) = stored(target).await.filter(|n| *n != last) {
            (last, seen_at) = (now, Instant::now());
        }
    }
    Some((last.saturating_sub(before), seen_at))
}

/// Runs `strata loadgen --protocol syslog` and returns its summary.
///
/// Builds the messages, checks that `--syslog-target` accepts a TCP
/// connection, reads the stored count from `--target`/metrics (skipped,
/// with a note, when unreachable), writes for `--duration` (default 10 s) or
/// until `--events`, then waits for the stored count to settle. Ctrl-C
/// stops writing early. Errors are bad arguments, an unreachable syslog
/// target at start, or a panicked task. Must be called within a Tokio
/// runtime.
pub async fn run_syslog(args: &LoadgenArgs) -> Result<SyslogSummary, LoadgenError> {
    let plan = Plan::from_args(args).await?;
    let format = logs_format(args);
    let set = pregenerate(args, format, &format!("tcp://{}", plan.addr)).await?;
    let avg_event_bytes = set.avg_event_bytes();
    // Fail fast on a wrong address rather than counting connect errors.
    connect(&plan.addr, plan.timeout.min(Duration::from_secs(5)))
        .await
        .map_err(|source| LoadgenError::Connect {
            addr: plan.addr.clone(),
            source,
        })?;
    let before = stored(&plan.target).await;
    if before.is_none() {
        eprintln!(
            "loadgen: cannot read {}/metrics; the events stored will not be measured",
            args.target.trim_end_matches('/')
        );
    }

    let connections = args.connections;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        addr: plan.addr.clone(),
        set,
        limit: args.events,
        claimed: AtomicU64::new(0),
        next: AtomicUsize::new(0),
        pacer: plan.pacer,
        deadline: plan.duration.map(|d| start + d),
        timeout: plan.timeout,
        events_sent: AtomicU64::new(0),
        bytes_sent: AtomicU64::new(0),
        events_failed: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        last_write: Mutex::new(None),
        writers: AtomicUsize::new(connections),
        quit: watch::channel(false).0,
    });
    let sending = tokio::spawn({
        let shared = Arc::clone(&shared);
        async move { send(&shared, connections, start).await }
    });
    while shared.writers.load(Ordering::SeqCst) > 0 && !sending.is_finished() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = shared.events_sent.load(Ordering::Relaxed);
    let settled = match before {
        Some(b) => {
            eprintln!("loadgen: writes done; reading {STORED_COUNTER} until it settles");
            settle(&plan.target, b, sent, || sending.is_finished()).await
        }
        None => None,
    };
    if !sending.is_finished() {
        if before.is_none() {
            // Nothing to measure: give the server a moment to read the rest.
            let _ = tokio::time::timeout(QUIET, async {
                while !sending.is_finished() {
                    tokio::time::sleep(POLL).await;
                }
            })
            .await;
        }
        shared.quit.send_replace(true);
    }
    sending
        .await
        .map_err(|e| LoadgenError::Task(e.to_string()))??;
    let mut summary = summarize(args, &shared, start, settled);
    summary.avg_event_bytes = avg_event_bytes;
    Ok(summary)
}

/// The checked flags of a syslog run.
#[derive(Debug)]
struct Plan {
    /// `--target`, for `/metrics`.
    target: Target,
    /// `--syslog-target`.
    addr: String,
    timeout: Duration,
    duration: Option<Duration>,
    pacer: Option<Pacer>,
}

impl Plan {
    async fn from_args(args: &LoadgenArgs) -> Result<Plan, LoadgenError> {
        args.check_protocol()?;
        if args.logs_protocol() != LogsProtocol::Syslog {
            return Err(invalid("protocol", "run_syslog needs --protocol syslog"));
        }
        if args.encoding.is_some() {
            return Err(invalid("encoding", "syslog messages are sent uncompressed"));
        }
        if args.connections == 0 {
            return Err(invalid("connections", "must be at least 1"));
        }
        let target = parse_target(&args.target)?;
        let timeout = positive_secs("timeout", args.timeout)?;
        let duration = match (args.duration, args.events) {
            (Some(d), _) => Some(positive_secs("duration", d)?),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs_f64(DEFAULT_DURATION_SECS)),
        };
        let pacer = match args.rate {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(Pacer::new(r)),
            Some(_) => return Err(invalid("rate", "must be a positive number per second")),
        };
        let addr = args.syslog_target.clone();
        if tokio::net::lookup_host(&addr).await.is_err() {
            let reason = format!("{addr:?} is not a HOST:PORT");
            return Err(invalid("syslog-target", &reason));
        }
        Ok(Plan {
            target,
            addr,
            timeout,
            duration,
            pacer,
        })
    }
}

/// The summary of a finished run (`avg_event_bytes` left at 0).
fn summarize(
    args: &LoadgenArgs,
    shared: &Shared,
    start: Instant,
    settled: Option<(u64, Instant)>,
) -> SyslogSummary {
    let last_write = *shared
        .last_write
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let elapsed = last_write
        .map_or(0.0, |t| (t - start).as_secs_f64())
        .max(1e-9);
    let sent = shared.events_sent.load(Ordering::Relaxed);
    let bytes = shared.bytes_sent.load(Ordering::Relaxed);
    let errors_by_kind = shared
        .errors
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let stored_secs = settled.map(|(_, at)| (at - start).as_secs_f64().max(1e-9));
    SyslogSummary {
        protocol: LogsProtocol::Syslog.as_str().to_owned(),
        syslog_target: shared.addr.clone(),
        framing: args.syslog_framing.as_str().to_owned(),
        connections: args.connections,
        events_sent: sent,
        bytes_sent: bytes,
        events_failed: shared.events_failed.load(Ordering::Relaxed),
        errors_by_kind,
        elapsed_secs: elapsed,
        sent_per_sec: sent as f64 / elapsed,
        mb_per_sec: bytes as f64 / elapsed / 1e6,
        events_acked: settled.map(|(n, _)| n),
        events_lost: settled.map(|(n, _)| sent.saturating_sub(n)),
        stored_elapsed_secs: stored_secs,
        events_per_sec: settled
            .zip(stored_secs)
            .map(|((n, _), secs)| n as f64 / secs),
        avg_event_bytes: 0.0,
    }
}

/// Runs the connections (and the progress line, and Ctrl-C) to the end:
/// until they are done writing and the server closed them (or
/// [`Shared::quit`]).
async fn send(
    shared: &Arc<Shared>,
    connections: usize,
    start: Instant,
) -> Result<(), LoadgenError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let ctrl_c = tokio::spawn({
        let stop_tx = Arc::clone(&stop_tx);
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: interrupted; finishing the writes in progress");
                stop_tx.send_replace(true);
            }
        }
    });
    let progress = tokio::spawn(progress(Arc::clone(shared), start));
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection_task(Arc::clone(shared), stop_rx.clone())))
        .collect();
    let mut failed = None;
    for t in tasks {
        if let Err(e) = t.await {
            failed = Some(e.to_string());
        }
    }
    progress.abort();
    ctrl_c.abort();
    match failed {
        Some(e) => Err(LoadgenError::Task(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
