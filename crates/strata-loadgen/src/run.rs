//! The HTTP sending side shared by logs and metrics runs: connections,
//! pacing, accounting and progress. [`drive`] sends the bodies of a
//! [`Source`] to one path; the logs run ([`crate::run_logs`]) and the
//! metrics run ([`crate::metrics`]) are built on it.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST,
    USER_AGENT,
};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::hist::LatencyHistogram;
use crate::payload::Payload;
use crate::source::{claim_cycle, retryable, Claimed, InFlight, MAX_ATTEMPTS};
pub(crate) use crate::source::{Source, Stream};
use crate::{LoadgenArgs, LoadgenError};

/// A connection that keeps failing to connect for this long gives up, so an
/// `--events` run against a dead server ends instead of spinning forever.
pub(crate) const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
/// Longest wait between two failed connects.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Wait after a first failed connect (doubled after each next one).
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(50);

const DD_API_KEY: HeaderName = HeaderName::from_static("dd-api-key");

/// The logs intake path.
pub(crate) const LOGS_PATH: &str = "/api/v2/logs";
/// The metrics intake path.
pub(crate) const SERIES_PATH: &str = "/api/v2/series";
/// The OTLP/HTTP logs path.
pub(crate) const OTLP_LOGS_PATH: &str = "/v1/logs";
/// The Elasticsearch bulk path.
pub(crate) const BULK_PATH: &str = "/_bulk";

/// Where requests go.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port` to dial.
    pub(crate) addr: String,
    /// `Host` header value.
    pub(crate) host: HeaderValue,
    /// The URL's path prefix without a trailing slash (usually empty).
    base: String,
}

impl Target {
    /// The origin-form request target of `path` (e.g. `/api/v2/logs`)
    /// under the URL's prefix.
    pub(crate) fn uri(&self, path: &str) -> Result<Uri, LoadgenError> {
        let full = format!("{}{path}", self.base);
        full.parse().map_err(|e| LoadgenError::InvalidTarget {
            target: full.clone(),
            reason: format!("{e}"),
        })
    }
}

/// Parses `--target`. A URL that already ends in one of the intake paths
/// is cut back to its prefix, so `http://h:1/api/v2/logs` works too.
pub(crate) fn parse_target(target: &str) -> Result<Target, LoadgenError> {
    let bad = |reason: &str| LoadgenError::InvalidTarget {
        target: target.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = target.parse().map_err(|e| bad(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported; point --target at a plain-HTTP listener",
            ))
        }
        Some(other) => return Err(bad(&format!("unsupported scheme {other:?}"))),
        None => return Err(bad("expected http://host[:port]")),
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("missing host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let host_header = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut base = uri.path().trim_end_matches('/');
    for known in [LOGS_PATH, SERIES_PATH, OTLP_LOGS_PATH, BULK_PATH] {
        base = base.strip_suffix(known).unwrap_or(base);
    }
    Ok(Target {
        addr: format!("{host}:{port}"),
        host: HeaderValue::from_str(&host_header).map_err(|e| bad(&format!("{e}")))?,
        base: base.to_owned(),
    })
}

pub(crate) fn invalid(flag: &'static str, reason: &str) -> LoadgenError {
    LoadgenError::InvalidArgs {
        flag,
        reason: reason.to_owned(),
    }
}

pub(crate) fn positive_secs(flag: &'static str, v: f64) -> Result<Duration, LoadgenError> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(flag, "must be a positive number of seconds"))
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The validated flags every HTTP run shares.
#[derive(Debug)]
pub(crate) struct SendOptions {
    pub(crate) connections: usize,
    /// `None`: until the source runs dry.
    pub(crate) duration: Option<Duration>,
    /// Items (events or points) per second, `None` for flat out.
    pub(crate) rate: Option<f64>,
    pub(crate) timeout: Duration,
    pub(crate) api_key: Option<HeaderValue>,
}

impl SendOptions {
    /// Checks `--connections`, `--duration` (or `default_duration` when it
    /// is absent), `--timeout`, `--rate` and `--api-key`.
    pub(crate) fn from_args(
        args: &LoadgenArgs,
        default_duration: Option<Duration>,
    ) -> Result<SendOptions, LoadgenError> {
        if args.connections == 0 {
            return Err(invalid("connections", "must be at least 1"));
        }
        let duration = match args.duration {
            Some(d) => Some(positive_secs("duration", d)?),
            None => default_duration,
        };
        let timeout = positive_secs("timeout", args.timeout)?;
        let rate = match args.rate {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(r),
            Some(_) => return Err(invalid("rate", "must be a positive number per second")),
        };
        let api_key = match &args.api_key {
            None => None,
            Some(k) => {
                let mut v = HeaderValue::from_str(k).map_err(|_| {
                    invalid("api-key", "contains characters not allowed in a header")
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(SendOptions {
            connections: args.connections,
            duration,
            rate,
            timeout,
            api_key,
        })
    }
}

/// Counters shared by all connections.
#[derive(Debug, Default)]
struct Stats {
    items_sent: AtomicU64,
    items_acked: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    raw_bytes_acked: AtomicU64,
    wire_bytes_acked: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    items_rejected: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    /// Counts a failure; the first failure of each kind is explained on
    /// stderr (e.g. the body of the first 401).
    fn failure(&self, key: &str, detail: &str) {
        self.requests_failed.fetch_add(1, Ordering::Relaxed);
        let first = {
            let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
            let n = errors.entry(key.to_owned()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            let detail: String = detail.chars().take(300).collect();
            eprintln!("loadgen: first {key} error: {}", detail.trim());
        }
    }

    fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Counts items a 2xx answer rejected, by status; the first rejection
    /// of each status is explained on stderr.
    fn rejected(&self, rejected: &[(String, u64)], detail: &str) {
        let mut first = Vec::new();
        {
            let mut map = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
            for (status, n) in rejected {
                let count = map.entry(status.clone()).or_insert(0);
                if *count == 0 {
                    first.push(status.as_str());
                }
                *count += n;
            }
        }
        let total: u64 = rejected.iter().map(|(_, n)| n).sum();
        self.items_rejected.fetch_add(total, Ordering::Relaxed);
        for status in first {
            let detail: String = detail.chars().take(300).collect();
            eprintln!(
                "loadgen: first items rejected with {status}: {}",
                detail.trim()
            );
        }
    }
}

/// Global pacing: each request reserves the next free slot in a schedule
/// spaced by `items / rate`.
#[derive(Debug)]
pub(crate) struct Pacer {
    secs_per_item: f64,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A schedule of `rate` items per second.
    pub(crate) fn new(rate: f64) -> Pacer {
        Pacer {
            secs_per_item: 1.0 / rate,
            next: Mutex::new(None),
        }
    }

    /// The time at which `items` more items may go.
    pub(crate) fn reserve(&self, items: usize) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + Duration::from_secs_f64(items as f64 * self.secs_per_item));
        slot
    }
}

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `DD-API-KEY: KEY`.
    DdApiKey,
    /// `Authorization: ApiKey KEY` (Elasticsearch).
    EsApiKey,
}

/// Reads the body of a 2xx answer: the items it rejected, by status (empty
/// when all were taken), or why the body is not an answer of the protocol.
pub(crate) type AnswerCheck = fn(&[u8]) -> Result<Vec<(String, u64)>, String>;

/// What is sent where, and how it is labelled.
#[derive(Debug)]
pub(crate) struct HttpJob {
    /// Server and path prefix.
    pub(crate) target: Target,
    /// The intake path, e.g. [`LOGS_PATH`].
    pub(crate) path: &'static str,
    /// `Content-Type` of every body.
    pub(crate) content_type: &'static str,
    /// `Content-Encoding` of every body, if any.
    pub(crate) content_encoding: Option<&'static str>,
    /// The bodies.
    pub(crate) source: Source,
    /// What the items are called in progress lines (`events`, `points`).
    pub(crate) unit: &'static str,
    /// How the API key is sent.
    pub(crate) auth: Auth,
    /// Reads 2xx answers, for protocols that report rejected items in them.
    pub(crate) check: Option<AnswerCheck>,
}

/// What [`drive`] measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) items_sent: u64,
    pub(crate) items_acked: u64,
    pub(crate) requests_ok: u64,
    pub(crate) requests_failed: u64,
    pub(crate) errors_by_status: BTreeMap<String, u64>,
    pub(crate) elapsed_secs: f64,
    pub(crate) raw_bytes_acked: u64,
    pub(crate) wire_bytes_acked: u64,
    pub(crate) latency_ms_p50: f64,
    pub(crate) latency_ms_p99: f64,
    pub(crate) latency_ms_max: f64,
    /// Time the senders waited for a [`Source::Stream`] generator.
    pub(crate) generator_wait_secs: f64,
    /// Items of [`Source::Stream`] bodies that failed for good (an answer
    /// that is not worth retrying, or [`MAX_ATTEMPTS`] failures).
    pub(crate) items_given_up: u64,
    /// Items in 2xx answers that the answer reports as rejected.
    pub(crate) items_rejected: u64,
    /// `items_rejected` by item status.
    pub(crate) rejected_by_status: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Shared {
    target: Target,
    path: Uri,
    content_type: HeaderValue,
    content_encoding: Option<HeaderValue>,
    /// The authentication header, if there is an API key.
    auth: Option<(HeaderName, HeaderValue)>,
    check: Option<AnswerCheck>,
    source: Source,
    next_payload: AtomicUsize,
    items_claimed: AtomicU64,
    deadline: Option<Instant>,
    pacer: Option<Pacer>,
    timeout: Duration,
    stats: Stats,
    latency_us: LatencyHistogram,
    unit: &'static str,
    /// Stream bodies to send again, with their failed sends so far.
    retry: Mutex<VecDeque<(Payload, u32)>>,
    /// Stream bodies claimed and not yet answered.
    in_flight: AtomicU64,
    items_given_up: AtomicU64,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The next body: round-robin (honouring `--events`), or a stream
    /// body to send again, or the stream's next. `None` when there is
    /// nothing left to send or on stop.
    async fn claim(&self, stop: &mut watch::Receiver<bool>) -> Option<Claimed<'_>> {
        let (set, limit) = match &self.source {
            Source::Cycle { set, limit } => (set, *limit),
            Source::Stream(stream) => return self.claim_stream(stream, stop).await,
        };
        let payload = claim_cycle(set, limit, &self.items_claimed, &self.next_payload)?;
        Some(Claimed {
            payload,
            attempts: 0,
            in_flight: None,
        })
    }

    fn in_flight(&self, payload: Payload, attempts: u32) -> Claimed<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Claimed {
            payload,
            attempts,
            in_flight: Some(InFlight(&self.in_flight)),
        }
    }

    /// Bodies to send again first, then the stream; once the stream is dry,
    /// waits while bodies are in flight (one may fail and come back).
    async fn claim_stream(
        &self,
        stream: &Stream,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Claimed<'_>> {
        loop {
            if *stop.borrow() || self.past_deadline() {
                return None;
            }
            let again = self
                .retry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            if let Some((payload, attempts)) = again {
                return Some(self.in_flight(payload, attempts));
            }
            let deadline = self.deadline;
            let next = tokio::select! {
                p = stream.next() => p,
                _ = stop.wait_for(|s| *s) => return None,
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => return None,
            };
            if let Some(payload) = next {
                return Some(self.in_flight(payload, 0));
            }
            let retry_empty = self
                .retry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if retry_empty && self.in_flight.load(Ordering::SeqCst) == 0 {
                return None;
            }
            if self
                .sleep_or_stop(Instant::now() + Duration::from_millis(20), stop)
                .await
            {
                return None;
            }
        }
    }

    /// After a failed send of a stream body: queue it again, or count its
    /// items as given up. Cycle bodies are not resent (the next one is).
    fn failed(&self, claimed: &Claimed<'_>, status: Option<u16>) {
        if claimed.in_flight.is_none() {
            return;
        }
        if retryable(status) && claimed.attempts + 1 < MAX_ATTEMPTS {
            self.retry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back((claimed.payload.clone(), claimed.attempts + 1));
        } else {
            self.items_given_up
                .fetch_add(claimed.payload.events() as u64, Ordering::Relaxed);
        }
    }

    fn request(&self, payload: &Payload) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(payload.body().clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.target.host.clone());
        h.insert(CONTENT_TYPE, self.content_type.clone());
        h.insert(CONTENT_LENGTH, HeaderValue::from(payload.wire_len()));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("strata-loadgen/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(encoding) = &self.content_encoding {
            h.insert(CONTENT_ENCODING, encoding.clone());
        }
        if let Some((name, value)) = &self.auth {
            h.insert(name.clone(), value.clone());
        }
        req
    }

    /// Counts a 2xx answer: its latency, and its items as acked less those
    /// the answer rejects. False when the body is not a valid answer (the
    /// request is then counted as failed).
    fn answered(&self, payload: &Payload, micros: u64, body: &[u8]) -> bool {
        let items = payload.events() as u64;
        let rejected = match self.check.map(|check| check(body)) {
            None => Vec::new(),
            Some(Ok(rejected)) => rejected,
            Some(Err(reason)) => {
                self.stats.failure("bad-answer", &reason);
                return false;
            }
        };
        let stats = &self.stats;
        self.latency_us.record(micros);
        stats.requests_ok.fetch_add(1, Ordering::Relaxed);
        let n_rejected = rejected.iter().map(|(_, n)| n).sum::<u64>().min(items);
        stats
            .items_acked
            .fetch_add(items - n_rejected, Ordering::Relaxed);
        if n_rejected > 0 {
            stats.rejected(&rejected, &String::from_utf8_lossy(body));
        }
        stats
            .raw_bytes_acked
            .fetch_add(payload.raw_len() as u64, Ordering::Relaxed);
        stats
            .wire_bytes_acked
            .fetch_add(payload.wire_len() as u64, Ordering::Relaxed);
        true
    }

    /// Sleeps until `at` (capped at the deadline); true if told to stop.
    async fn sleep_or_stop(&self, at: Instant, stop: &mut watch::Receiver<bool>) -> bool {
        let at = self.deadline.map_or(at, |d| at.min(d));
        tokio::select! {
            _ = tokio::time::sleep_until(at) => false,
            _ = stop.wait_for(|s| *s) => true,
        }
    }
}

/// The header carrying `key` as `auth` says.
fn auth_header(key: HeaderValue, auth: Auth) -> (HeaderName, HeaderValue) {
    match auth {
        Auth::DdApiKey => (DD_API_KEY, key),
        Auth::EsApiKey => {
            let mut value = b"ApiKey ".to_vec();
            value.extend_from_slice(key.as_bytes());
            // "ApiKey " before a valid header value is a valid header value.
            let mut value = HeaderValue::from_bytes(&value).unwrap_or(key);
            value.set_sensitive(true);
            (AUTHORIZATION, value)
        }
    }
}

/// Opens one HTTP/1.1 connection to `addr`.
pub(crate) async fn connect(addr: &str, timeout: Duration) -> io::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the peer closes; errors surface
        // on the sender.
        let _ = conn.await;
    });
    Ok(sender)
}

/// One connection's send loop.
async fn connection_task(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut failing_since: Option<Instant> = None;
    loop {
        if *stop.borrow() || shared.past_deadline() {
            break;
        }
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            sender = None;
            match connect(&shared.target.addr, shared.timeout).await {
                Ok(s) => {
                    sender = Some(s);
                    backoff = FIRST_BACKOFF;
                    failing_since = None;
                }
                Err(e) => {
                    shared.stats.failure("connect", &e.to_string());
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GIVE_UP_AFTER {
                        eprintln!(
                            "loadgen: a connection gave up after {}s of failed connects",
                            GIVE_UP_AFTER.as_secs()
                        );
                        break;
                    }
                    if shared
                        .sleep_or_stop(Instant::now() + backoff, &mut stop)
                        .await
                    {
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        if s.ready().await.is_err() {
            // Closed by the peer between requests: reconnect, no request lost.
            sender = None;
            continue;
        }
        let Some(claimed) = shared.claim(&mut stop).await else {
            break;
        };
        let payload = &claimed.payload;
        if let Some(pacer) = &shared.pacer {
            let at = pacer.reserve(payload.events());
            if shared.deadline.is_some_and(|d| at >= d) {
                break;
            }
            if shared.sleep_or_stop(at, &mut stop).await {
                break;
            }
        }

        let req = shared.request(payload);
        let items = payload.events() as u64;
        shared.stats.items_sent.fetch_add(items, Ordering::Relaxed);
        let sent_at = Instant::now();
        let result = tokio::time::timeout(shared.timeout, async {
            let resp = s.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        })
        .await;
        let micros = sent_at.elapsed().as_micros() as u64;
        let stats = &shared.stats;
        match result {
            Ok(Ok((status, body))) if status.is_success() => {
                if !shared.answered(payload, micros, &body) {
                    shared.failed(&claimed, Some(status.as_u16()));
                }
            }
            Ok(Ok((status, body))) => {
                stats.failure(status.as_str(), &String::from_utf8_lossy(&body));
                shared.failed(&claimed, Some(status.as_u16()));
                drop(claimed);
                // Back-pressure answers ask the client to retry later; a real
                // Datadog client backs off, and hammering a busy server would
                // only steal CPU from it on a shared machine.
                let pressure = status.as_u16() == 429 || status.as_u16() == 503;
                if pressure
                    && shared
                        .sleep_or_stop(Instant::now() + PRESSURE_BACKOFF, &mut stop)
                        .await
                {
                    break;
                }
            }
            Ok(Err(e)) => {
                let key = if e.is_timeout() { "timeout" } else { "io" };
                stats.failure(key, &e.to_string());
                shared.failed(&claimed, None);
                sender = None;
            }
            Err(_) => {
                stats.failure("timeout", "no complete response within --timeout");
                shared.failed(&claimed, None);
                sender = None;
            }
        }
    }
}

/// Pause of one connection after a 429 or 503.
const PRESSURE_BACKOFF: Duration = Duration::from_millis(100);

async fn progress(shared: Arc<Shared>, start: Instant) {
    let period = Duration::from_secs(1);
    let mut tick = tokio::time::interval_at(start + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut last_at, mut last_acked) = (start, 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let stats = &shared.stats;
        let acked = stats.items_acked.load(Ordering::Relaxed);
        let rate = (acked - last_acked) as f64 / (now - last_at).as_secs_f64().max(1e-9);
        (last_at, last_acked) = (now, acked);
        eprintln!(
            "[{:>6.1}s] {:>9.0} {}/s  acked {:>10}  sent {:>10}  errors {:>6}  p99 {:>8.2} ms",
            (now - start).as_secs_f64(),
            rate,
            shared.unit,
            acked,
            stats.items_sent.load(Ordering::Relaxed),
            stats.requests_failed.load(Ordering::Relaxed),
            shared.latency_us.percentile(99.0) as f64 / 1000.0,
        );
    }
}

/// Sends `job`'s bodies from `opts.connections` keep-alive connections until
/// the duration elapses or the source runs dry, waiting for in-flight
/// requests. Checks first that the target accepts TCP connections. A
/// progress line goes to stderr once per second; Ctrl-C stops early and
/// still returns the outcome.
pub(crate) async fn drive(job: HttpJob, opts: SendOptions) -> Result<Outcome, LoadgenError> {
    let path = job.target.uri(job.path)?;
    let auth = opts.api_key.map(|key| auth_header(key, job.auth));
    // Fail fast on a wrong address rather than counting connect errors.
    connect(&job.target.addr, opts.timeout.min(Duration::from_secs(5)))
        .await
        .map_err(|source| LoadgenError::Connect {
            addr: job.target.addr.clone(),
            source,
        })?;

    let start = Instant::now();
    let shared = Arc::new(Shared {
        target: job.target,
        path,
        content_type: HeaderValue::from_static(job.content_type),
        content_encoding: job.content_encoding.map(HeaderValue::from_static),
        auth,
        check: job.check,
        source: job.source,
        next_payload: AtomicUsize::new(0),
        items_claimed: AtomicU64::new(0),
        deadline: opts.duration.map(|d| start + d),
        pacer: opts.rate.map(Pacer::new),
        timeout: opts.timeout,
        stats: Stats::default(),
        latency_us: LatencyHistogram::new(),
        unit: job.unit,
        retry: Mutex::new(VecDeque::new()),
        in_flight: AtomicU64::new(0),
        items_given_up: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    let ctrl_c = tokio::spawn({
        let stop_tx = Arc::clone(&stop_tx);
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("loadgen: interrupted; waiting for in-flight requests");
                stop_tx.send_replace(true);
            }
        }
    });
    let progress = tokio::spawn(progress(Arc::clone(&shared), start));
    let tasks: Vec<_> = (0..opts.connections)
        .map(|_| tokio::spawn(connection_task(Arc::clone(&shared), stop_rx.clone())))
        .collect();
    let mut failed = None;
    for t in tasks {
        if let Err(e) = t.await {
            failed = Some(e.to_string());
        }
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    progress.abort();
    ctrl_c.abort();
    drop(stop_tx);
    if let Some(e) = failed {
        return Err(LoadgenError::Task(e));
    }

    let st = &shared.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let ms = |us: u64| us as f64 / 1000.0;
    let rejected_by_status = st
        .rejected
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let generator_wait_secs = match &shared.source {
        Source::Stream(stream) => load(&stream.wait_us) as f64 / 1e6,
        Source::Cycle { .. } => 0.0,
    };
    Ok(Outcome {
        items_sent: load(&st.items_sent),
        items_acked: load(&st.items_acked),
        requests_ok: load(&st.requests_ok),
        requests_failed: load(&st.requests_failed),
        errors_by_status: st.errors(),
        elapsed_secs: elapsed,
        raw_bytes_acked: load(&st.raw_bytes_acked),
        wire_bytes_acked: load(&st.wire_bytes_acked),
        latency_ms_p50: ms(shared.latency_us.percentile(50.0)),
        latency_ms_p99: ms(shared.latency_us.percentile(99.0)),
        latency_ms_max: ms(shared.latency_us.max()),
        generator_wait_secs,
        items_given_up: load(&shared.items_given_up),
        items_rejected: load(&st.items_rejected),
        rejected_by_status,
    })
}

#[cfg(test)]
mod tests;
