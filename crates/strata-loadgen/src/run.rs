//! The sending side: connections, pacing, accounting and progress.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{
    HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST, USER_AGENT,
};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::hist::LatencyHistogram;
use crate::payload::{Payload, PayloadSet};
use crate::{LoadgenArgs, LoadgenError, Summary, DEFAULT_DURATION_SECS};

/// A connection that keeps failing to connect for this long gives up, so an
/// `--events` run against a dead server ends instead of spinning forever.
const GIVE_UP_AFTER: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

const DD_API_KEY: HeaderName = HeaderName::from_static("dd-api-key");

/// Where requests go.
#[derive(Debug, Clone)]
struct Target {
    /// `host:port` to dial.
    addr: String,
    /// `Host` header value.
    host: HeaderValue,
    /// Origin-form request target, e.g. `/api/v2/logs`.
    path: Uri,
}

fn parse_target(target: &str) -> Result<Target, LoadgenError> {
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
    let base = uri.path().trim_end_matches('/');
    let path = if base.ends_with("/api/v2/logs") {
        base.to_owned()
    } else {
        format!("{base}/api/v2/logs")
    };
    Ok(Target {
        addr: format!("{host}:{port}"),
        host: HeaderValue::from_str(&host_header).map_err(|e| bad(&format!("{e}")))?,
        path: path.parse().map_err(|e| bad(&format!("{e}")))?,
    })
}

fn invalid(flag: &'static str, reason: &str) -> LoadgenError {
    LoadgenError::InvalidArgs {
        flag,
        reason: reason.to_owned(),
    }
}

fn positive_secs(flag: &'static str, v: f64) -> Result<Duration, LoadgenError> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(flag, "must be a positive number of seconds"))
    }
}

/// Counters shared by all connections.
#[derive(Debug, Default)]
struct Stats {
    events_sent: AtomicU64,
    events_acked: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    raw_bytes_acked: AtomicU64,
    wire_bytes_acked: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
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
}

/// Global pacing: each request reserves the next free slot in a schedule
/// spaced by `events / rate`.
#[derive(Debug)]
struct Pacer {
    secs_per_event: f64,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    fn reserve(&self, events: usize) -> Instant {
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + Duration::from_secs_f64(events as f64 * self.secs_per_event));
        slot
    }
}

#[derive(Debug)]
struct Shared {
    target: Target,
    api_key: Option<HeaderValue>,
    gzip: bool,
    payloads: PayloadSet,
    next_payload: AtomicUsize,
    event_limit: Option<u64>,
    events_claimed: AtomicU64,
    deadline: Option<Instant>,
    pacer: Option<Pacer>,
    timeout: Duration,
    stats: Stats,
    latency_us: LatencyHistogram,
}

impl Shared {
    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Picks the next payload round-robin, honouring `--events`.
    fn claim(&self) -> Option<&Payload> {
        let all = self.payloads.payloads();
        let full = all.first()?.events() as u64;
        if let Some(limit) = self.event_limit {
            let mut cur = self.events_claimed.load(Ordering::Relaxed);
            loop {
                if cur >= limit {
                    return None;
                }
                let take = full.min(limit - cur);
                match self.events_claimed.compare_exchange_weak(
                    cur,
                    cur + take,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if take < full => return self.payloads.remainder(),
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        }
        let i = self.next_payload.fetch_add(1, Ordering::Relaxed);
        Some(&all[i % all.len()])
    }

    fn request(&self, payload: &Payload) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(payload.body().clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.target.path.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.target.host.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CONTENT_LENGTH, HeaderValue::from(payload.wire_len()));
        h.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("strata-loadgen/", env!("CARGO_PKG_VERSION"))),
        );
        if self.gzip {
            h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Some(key) = &self.api_key {
            h.insert(DD_API_KEY, key.clone());
        }
        req
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

async fn connect(target: &Target, timeout: Duration) -> io::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(target.addr.as_str()))
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
            match connect(&shared.target, shared.timeout).await {
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
        let Some(payload) = shared.claim() else { break };
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
        let events = payload.events() as u64;
        shared
            .stats
            .events_sent
            .fetch_add(events, Ordering::Relaxed);
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
            Ok(Ok((status, _))) if status.is_success() => {
                shared.latency_us.record(micros);
                stats.requests_ok.fetch_add(1, Ordering::Relaxed);
                stats.events_acked.fetch_add(events, Ordering::Relaxed);
                stats
                    .raw_bytes_acked
                    .fetch_add(payload.raw_len() as u64, Ordering::Relaxed);
                stats
                    .wire_bytes_acked
                    .fetch_add(payload.wire_len() as u64, Ordering::Relaxed);
            }
            Ok(Ok((status, body))) => {
                stats.failure(status.as_str(), &String::from_utf8_lossy(&body));
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
                sender = None;
            }
            Err(_) => {
                stats.failure("timeout", "no complete response within --timeout");
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
        let acked = stats.events_acked.load(Ordering::Relaxed);
        let rate = (acked - last_acked) as f64 / (now - last_at).as_secs_f64().max(1e-9);
        (last_at, last_acked) = (now, acked);
        eprintln!(
            "[{:>6.1}s] {:>9.0} events/s  acked {:>10}  sent {:>10}  errors {:>6}  p99 {:>8.2} ms",
            (now - start).as_secs_f64(),
            rate,
            acked,
            stats.events_sent.load(Ordering::Relaxed),
            stats.requests_failed.load(Ordering::Relaxed),
            shared.latency_us.percentile(99.0) as f64 / 1000.0,
        );
    }
}

/// Runs the load test described by `args` and returns its summary.
///
/// Pre-generates and compresses `--payloads` batches (seeded by `--seed`,
/// timestamped at the current time), checks that the target accepts TCP
/// connections, then starts the clock and sends from `--connections`
/// keep-alive connections until `--duration` elapses or `--events` have been
/// sent, waiting for in-flight requests. A progress line goes to stderr once
/// per second. Ctrl-C stops sending early and still returns the summary.
///
/// Failed requests do not make this fail; they are counted in the summary.
/// Errors are bad arguments, an unreachable target at start, or a panicked
/// task. Must be called within a Tokio runtime.
pub async fn run(args: &LoadgenArgs) -> Result<Summary, LoadgenError> {
    let target = parse_target(&args.target)?;
    if args.connections == 0 {
        return Err(invalid("connections", "must be at least 1"));
    }
    if args.batch_size == 0 {
        return Err(invalid("batch-size", "must be at least 1"));
    }
    if args.payloads == 0 {
        return Err(invalid("payloads", "must be at least 1"));
    }
    if args.events == Some(0) {
        return Err(invalid("events", "must be at least 1"));
    }
    let duration = match (args.duration, args.events) {
        (Some(d), _) => Some(positive_secs("duration", d)?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs_f64(DEFAULT_DURATION_SECS)),
    };
    let timeout = positive_secs("timeout", args.timeout)?;
    let pacer = match args.rate {
        None => None,
        Some(r) if r.is_finite() && r > 0.0 => Some(Pacer {
            secs_per_event: 1.0 / r,
            next: Mutex::new(None),
        }),
        Some(_) => {
            return Err(invalid(
                "rate",
                "must be a positive number of events per second",
            ))
        }
    };
    let api_key = match &args.api_key {
        None => None,
        Some(k) => {
            let mut v = HeaderValue::from_str(k)
                .map_err(|_| invalid("api-key", "contains characters not allowed in a header"))?;
            v.set_sensitive(true);
            Some(v)
        }
    };
    let gzip = !args.no_gzip;

    // Build every body before the clock starts.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let remainder = args
        .events
        .map_or(0, |n| (n % args.batch_size as u64) as usize);
    let (seed, count, batch, level) = (
        args.seed,
        args.payloads,
        args.batch_size,
        gzip.then_some(args.gzip_level),
    );
    let payloads = tokio::task::spawn_blocking(move || {
        PayloadSet::build(seed, count, batch, now_ms, level, remainder)
    })
    .await
    .map_err(|e| LoadgenError::Task(e.to_string()))??;
    eprintln!(
        "loadgen: {} batches x {} events pre-generated: {:.1} MB JSON ({:.0} B/event), {}; {} connections -> {}{}",
        payloads.payloads().len(),
        batch,
        payloads.raw_bytes() as f64 / 1e6,
        payloads.avg_event_bytes(),
        match level {
            Some(l) => format!(
                "{:.2} MB gzip level {l} (x{:.1})",
                payloads.wire_bytes() as f64 / 1e6,
                payloads.compression_ratio()
            ),
            None => "sent uncompressed".to_owned(),
        },
        args.connections,
        args.target,
        if api_key.is_none() { " (no API key)" } else { "" },
    );

    // Fail fast on a wrong address rather than counting connect errors.
    connect(&target, timeout.min(Duration::from_secs(5)))
        .await
        .map_err(|source| LoadgenError::Connect {
            addr: target.addr.clone(),
            source,
        })?;

    let start = Instant::now();
    let shared = Arc::new(Shared {
        target,
        api_key,
        gzip,
        payloads,
        next_payload: AtomicUsize::new(0),
        event_limit: args.events,
        events_claimed: AtomicU64::new(0),
        deadline: duration.map(|d| start + d),
        pacer,
        timeout,
        stats: Stats::default(),
        latency_us: LatencyHistogram::new(),
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
    let tasks: Vec<_> = (0..args.connections)
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
    let acked = load(&st.events_acked);
    Ok(Summary {
        events_sent: load(&st.events_sent),
        events_acked: acked,
        requests_ok: load(&st.requests_ok),
        requests_failed: load(&st.requests_failed),
        errors_by_status: st.errors(),
        elapsed_secs: elapsed,
        events_per_sec: acked as f64 / elapsed,
        mb_per_sec: load(&st.raw_bytes_acked) as f64 / elapsed / 1e6,
        wire_mb_per_sec: load(&st.wire_bytes_acked) as f64 / elapsed / 1e6,
        latency_ms_p50: ms(shared.latency_us.percentile(50.0)),
        latency_ms_p99: ms(shared.latency_us.percentile(99.0)),
        latency_ms_max: ms(shared.latency_us.max()),
        avg_event_bytes: shared.payloads.avg_event_bytes(),
        compression_ratio: shared.payloads.compression_ratio(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Response, StatusCode};
    use std::convert::Infallible;
    use std::io::Read as _;
    use tokio::net::TcpListener;

    /// What the test server saw.
    #[derive(Debug, Default)]
    struct Seen {
        requests: AtomicU64,
        /// Events per request body, in arrival order.
        batches: Mutex<Vec<usize>>,
        bad: Mutex<Vec<String>>,
    }

    /// A tiny intake: 202 `{}` to everything, 503 to every 10th request.
    /// Checks the path, headers and that the body is a JSON array.
    async fn serve(seen: Arc<Seen>, expect_gzip: bool) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move { Ok::<_, Infallible>(handle(req, &seen, expect_gzip).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    async fn handle(
        req: Request<Incoming>,
        seen: &Seen,
        expect_gzip: bool,
    ) -> Response<Full<Bytes>> {
        let mut problems = Vec::new();
        if req.uri().path() != "/api/v2/logs" || req.method() != Method::POST {
            problems.push(format!("{} {}", req.method(), req.uri()));
        }
        let h = req.headers();
        if h.get("dd-api-key").and_then(|v| v.to_str().ok()) != Some("test-key") {
            problems.push("missing DD-API-KEY".into());
        }
        if h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/json") {
            problems.push("content-type".into());
        }
        let gzip = h.get(CONTENT_ENCODING).is_some_and(|v| v == "gzip");
        if gzip != expect_gzip {
            problems.push(format!("content-encoding gzip={gzip}"));
        }
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let raw = if gzip {
            let mut out = Vec::new();
            GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
            out
        } else {
            body.to_vec()
        };
        match serde_json::from_slice::<Vec<serde_json::Value>>(&raw) {
            Ok(events) => seen.batches.lock().unwrap().push(events.len()),
            Err(e) => problems.push(format!("body: {e}")),
        }
        seen.bad.lock().unwrap().extend(problems);
        let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let (status, body) = match n % 10 {
            0 => (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"errors":["Service Unavailable"]}"#,
            ),
            _ => (StatusCode::ACCEPTED, "{}"),
        };
        let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *resp.status_mut() = status;
        resp
    }

    fn args(target: String) -> LoadgenArgs {
        LoadgenArgs {
            target,
            api_key: Some("test-key".into()),
            connections: 2,
            payloads: 4,
            ..LoadgenArgs::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_counts_acks_and_503s() {
        let seen = Arc::new(Seen::default());
        let target = serve(Arc::clone(&seen), true).await;
        let s = run(&LoadgenArgs {
            events: Some(20_000),
            ..args(target)
        })
        .await
        .unwrap();

        assert!(
            seen.bad.lock().unwrap().is_empty(),
            "{:?}",
            seen.bad.lock().unwrap()
        );
        assert_eq!(seen.requests.load(Ordering::SeqCst), 20);
        assert_eq!(s.requests_ok + s.requests_failed, 20, "{s:?}");
        assert_eq!(s.requests_failed, 2, "{s:?}");
        assert_eq!(s.errors_by_status.get("503"), Some(&2), "{s:?}");
        assert_eq!(s.errors_by_status.values().sum::<u64>(), s.requests_failed);
        assert_eq!(s.events_sent, 20_000);
        assert_eq!(s.events_acked, 1000 * s.requests_ok);
        assert!(seen.batches.lock().unwrap().iter().all(|&n| n == 1000));
        assert!(
            s.events_per_sec > 0.0 && s.mb_per_sec > s.wire_mb_per_sec,
            "{s:?}"
        );
        assert!(
            s.latency_ms_p50 > 0.0 && s.latency_ms_p50 <= s.latency_ms_p99,
            "{s:?}"
        );
        assert!(s.latency_ms_p99 <= s.latency_ms_max * 1.01, "{s:?}");
        assert!(s.compression_ratio > 3.0, "{s:?}");
        assert!((200.0..=450.0).contains(&s.avg_event_bytes), "{s:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_hits_events_exactly_without_gzip() {
        let seen = Arc::new(Seen::default());
        let target = serve(Arc::clone(&seen), false).await;
        let s = run(&LoadgenArgs {
            events: Some(2_500),
            no_gzip: true,
            ..args(target)
        })
        .await
        .unwrap();
        assert!(
            seen.bad.lock().unwrap().is_empty(),
            "{:?}",
            seen.bad.lock().unwrap()
        );
        let mut batches = seen.batches.lock().unwrap().clone();
        batches.sort_unstable();
        assert_eq!(batches, [500, 1000, 1000]);
        assert_eq!(s.events_sent, 2_500);
        assert_eq!(s.events_acked, 2_500);
        assert_eq!(s.requests_ok, 3);
        assert!(s.errors_by_status.is_empty());
        assert_eq!(s.compression_ratio, 1.0);
        assert!((s.mb_per_sec - s.wire_mb_per_sec).abs() < 1e-9);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_paces_to_rate_for_duration() {
        let seen = Arc::new(Seen::default());
        let target = serve(Arc::clone(&seen), true).await;
        // 10k events/s in batches of 500 = one request every 50 ms: about
        // 12 requests in 0.6 s.
        let s = run(&LoadgenArgs {
            duration: Some(0.6),
            rate: Some(10_000.0),
            batch_size: 500,
            ..args(target)
        })
        .await
        .unwrap();
        let requests = s.requests_ok + s.requests_failed;
        assert!((6..=14).contains(&requests), "{s:?}");
        assert_eq!(s.events_sent, 500 * requests);
        assert!(s.elapsed_secs >= 0.5 && s.elapsed_secs < 3.0, "{s:?}");
    }

    #[tokio::test]
    async fn run_fails_fast_when_nothing_listens() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = run(&LoadgenArgs {
            payloads: 1,
            batch_size: 10,
            ..args(format!("http://{addr}"))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, LoadgenError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn run_rejects_bad_arguments() {
        let base = args("http://127.0.0.1:9".into());
        for bad in [
            LoadgenArgs {
                connections: 0,
                ..base.clone()
            },
            LoadgenArgs {
                batch_size: 0,
                ..base.clone()
            },
            LoadgenArgs {
                duration: Some(-1.0),
                ..base.clone()
            },
            LoadgenArgs {
                rate: Some(0.0),
                ..base.clone()
            },
            LoadgenArgs {
                events: Some(0),
                ..base.clone()
            },
        ] {
            let err = run(&bad).await.unwrap_err();
            assert!(matches!(err, LoadgenError::InvalidArgs { .. }), "{err}");
        }
        for target in [
            "https://example.com",
            "127.0.0.1:7600",
            "ftp://x",
            "http://",
        ] {
            let err = run(&args(target.into())).await.unwrap_err();
            assert!(
                matches!(err, LoadgenError::InvalidTarget { .. }),
                "{target}: {err}"
            );
        }
    }

    #[test]
    fn targets_resolve_to_the_logs_path() {
        let t = parse_target("http://127.0.0.1:7600").unwrap();
        assert_eq!(t.addr, "127.0.0.1:7600");
        assert_eq!(t.host, "127.0.0.1:7600");
        assert_eq!(t.path, "/api/v2/logs");
        let t = parse_target("http://logs.internal/strata/").unwrap();
        assert_eq!(t.addr, "logs.internal:80");
        assert_eq!(t.host, "logs.internal");
        assert_eq!(t.path, "/strata/api/v2/logs");
        let t = parse_target("http://[::1]:8080/api/v2/logs").unwrap();
        assert_eq!(t.addr, "[::1]:8080");
        assert_eq!(t.path, "/api/v2/logs");
    }

    #[tokio::test]
    async fn pacer_spaces_requests() {
        let p = Pacer {
            secs_per_event: 1e-3,
            next: Mutex::new(None),
        };
        let a = p.reserve(100);
        let b = p.reserve(100);
        let c = p.reserve(50);
        assert_eq!(b - a, Duration::from_millis(100));
        assert_eq!(c - b, Duration::from_millis(100));
    }
}
