//! Syslog listeners (`[syslog] listeners`, `strata serve --syslog-listen`):
//! RFC 3164 and RFC 5424 over TCP (RFC 6587 framing, octet-counted or LF,
//! told apart per frame) and UDP (RFC 5426, one message per datagram).
//! Parsing and framing are `strata_ingest::syslog`; this module owns the
//! sockets, batching and back-pressure. The tenant of a listener is the one
//! of its API key (re-checked for every batch: a revoked key stops it).
//!
//! Messages are batched per TCP connection (and per UDP listener) up to
//! `syslog.batch_max_lines` / `batch_max_bytes` / `batch_max_wait_ms`;
//! a batch is one WAL record and goes through the write path every intake
//! shares (memory reservation, parse and encode on the decode pool, quota,
//! group commit with fsync, `strata_ingest_events_total{source="syslog"}`).
//!
//! Delivery (syslog has no acknowledgement): a message is stored once its
//! batch is fsynced. A TCP connection has at most one batch committing and
//! one filling: it keeps being read into the next batch while the previous
//! one commits (batches are stored in order), and is not read once that next
//! batch is full until the previous one is stored — also while a refused
//! batch (quota, memory budget) waits to be retried: the sender is
//! back-pressured by TCP flow control and nothing it sent is dropped. A
//! crash (or `kill -9`) loses what was read but not yet fsynced — at most
//! two batches per connection plus a partial frame — and what sits in
//! socket buffers; the sender has written it and will not send
//! it again. On UDP, a refused batch is dropped and counted
//! (`strata_syslog_dropped_total{protocol="udp",reason}`), as is loss in the
//! kernel (not counted here). On shutdown the listeners stop accepting and
//! reading, commit every pending batch (retrying a refused one for up to
//! 5 s), then the server exits.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::{IntCounterVec, IntGauge, Registry};
use strata_config::SyslogProtocol;
use strata_ingest::syslog::{parse_frame, Frame, Framer, Framing};
use strata_metastore::KeyKind;
use strata_types::AttrValue;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::error::ApiError;
use crate::metrics::{counter_vec, gauge};
use crate::state::{AppState, ServeError};
use crate::write_path::{commit_events, decode_blocking, reserve, EventBatch};

/// Largest datagram read (UDP's maximum payload).
const MAX_DATAGRAM: usize = 65_535;
/// Bytes read from a TCP connection at once.
const READ_BUFFER: usize = 64 << 10;
/// Receive buffer asked for a UDP socket.
const UDP_RECV_BUFFER: usize = 8 << 20;
/// UDP batches of one listener being committed at once.
const UDP_INFLIGHT: usize = 4;
/// First and longest pause before a refused TCP batch is tried again.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// After shutdown begins, how long a refused batch is still retried.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Memory reserved per message on top of its bytes (the decoded event).
const EVENT_OVERHEAD: u64 = 1024;

/// Syslog metrics (part of [`crate::metrics::Metrics`]).
#[derive(Debug, Clone)]
pub struct SyslogMetrics {
    /// `strata_syslog_messages_total{protocol}`: messages stored (fsynced).
    pub messages: IntCounterVec,
    /// `strata_syslog_parse_errors_total{protocol,reason}`: malformed
    /// messages stored raw with the `parse_error:syslog` tag.
    pub parse_errors: IntCounterVec,
    /// `strata_syslog_truncated_total{protocol}`: messages cut at
    /// `syslog.max_line_bytes`.
    pub truncated: IntCounterVec,
    /// `strata_syslog_dropped_total{protocol,reason}`: messages not stored.
    pub dropped: IntCounterVec,
    /// `strata_syslog_connections_total{result}`: TCP connections
    /// `accepted`, or `refused` over `syslog.max_connections`.
    pub connections: IntCounterVec,
    /// `strata_syslog_connections_closed_total{reason}`: `eof`, `idle`,
    /// `error`, `shutdown`, or why a batch could not be stored.
    pub closed: IntCounterVec,
    /// `strata_syslog_open_connections`.
    pub open: IntGauge,
    /// `strata_syslog_backpressure_total{reason}`: times a TCP batch was
    /// refused (`quota`, `memory`) and is retried; its connection stops
    /// being read once the next batch is full.
    pub backpressure: IntCounterVec,
}

impl SyslogMetrics {
    pub(crate) fn new(registry: &Registry) -> SyslogMetrics {
        let vec =
            |name: &str, help: &str, labels: &[&str]| counter_vec(registry, name, help, labels);
        SyslogMetrics {
            messages: vec(
                "strata_syslog_messages_total",
                "Syslog messages stored (fsynced)",
                &["protocol"],
            ),
            parse_errors: vec(
                "strata_syslog_parse_errors_total",
                "Malformed syslog messages stored raw, by reason",
                &["protocol", "reason"],
            ),
            truncated: vec(
                "strata_syslog_truncated_total",
                "Syslog messages cut at syslog.max_line_bytes",
                &["protocol"],
            ),
            dropped: vec(
                "strata_syslog_dropped_total",
                "Syslog messages not stored, by reason",
                &["protocol", "reason"],
            ),
            connections: vec(
                "strata_syslog_connections_total",
                "Syslog TCP connections accepted or refused",
                &["result"],
            ),
            closed: vec(
                "strata_syslog_connections_closed_total",
                "Syslog TCP connections closed, by reason",
                &["reason"],
            ),
            open: gauge(
                registry,
                "strata_syslog_open_connections",
                "Open syslog TCP connections",
            ),
            backpressure: vec(
                "strata_syslog_backpressure_total",
                "Pauses of a syslog TCP connection while a refused batch waits",
                &["reason"],
            ),
        }
    }
}

/// The running listeners.
#[derive(Debug)]
pub(crate) struct SyslogListeners {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl SyslogListeners {
    /// Stops accepting and reading, commits every pending batch, and
    /// returns once every connection is closed.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What every connection of one listener shares.
#[derive(Debug)]
struct Listener {
    state: Arc<AppState>,
    /// The API key, authenticated again for every batch.
    key: String,
    protocol: SyslogProtocol,
    max_line: usize,
    batch_lines: usize,
    batch_bytes: usize,
    batch_wait: Duration,
    idle: Duration,
}

/// Binds and starts every configured listener. A listener whose API key is
/// unknown, or whose address cannot be bound, is a start-up error.
pub(crate) async fn start(state: &Arc<AppState>) -> Result<SyslogListeners, ServeError> {
    let (stop, stopped) = watch::channel(false);
    let section = &state.config.syslog;
    let permits = Arc::new(Semaphore::new(section.max_connections as usize));
    let mut tasks = Vec::new();
    for config in &section.listeners {
        let err = |e: String| ServeError::Syslog(format!("listener {}: {e}", config.listen));
        let key = match config.api_key.as_str() {
            "" => bootstrap_api_key(state)?,
            key => key.to_string(),
        };
        let Some(auth) = state.keyring().authenticate(&key, KeyKind::Api) else {
            return Err(err("the api_key is not a valid API key".into()));
        };
        let addr: SocketAddr = config.listen.parse().map_err(|e| err(format!("{e}")))?;
        let listener = Arc::new(Listener {
            state: Arc::clone(state),
            key,
            protocol: config.protocol,
            max_line: section.max_line_bytes as usize,
            batch_lines: section.batch_max_lines as usize,
            // One batch is one WAL record: never above the request limit.
            batch_bytes: section
                .batch_max_bytes
                .min(state.config.limits.max_request_bytes)
                .max(section.max_line_bytes) as usize,
            batch_wait: Duration::from_millis(section.batch_max_wait_ms),
            idle: Duration::from_secs_f64(section.idle_timeout_secs),
        });
        let stopped = stopped.clone();
        let task = match config.protocol {
            SyslogProtocol::Tcp => {
                let tcp = TcpListener::bind(addr)
                    .await
                    .map_err(|e| err(e.to_string()))?;
                let local = tcp.local_addr()?;
                tracing::info!(addr = %local, tenant = %auth.tenant, "syslog listening on TCP");
                let permits = Arc::clone(&permits);
                tokio::spawn(accept_loop(listener, tcp, permits, stopped))
            }
            SyslogProtocol::Udp => {
                let socket = bind_udp(addr).map_err(|e| err(e.to_string()))?;
                let local = socket.local_addr()?;
                tracing::info!(addr = %local, tenant = %auth.tenant, "syslog listening on UDP");
                tokio::spawn(udp_loop(listener, socket, stopped))
            }
        };
        tasks.push(task);
    }
    Ok(SyslogListeners { stop, tasks })
}

/// The `default` tenant's API key written at first start.
fn bootstrap_api_key(state: &AppState) -> Result<String, ServeError> {
    let path = state.config.data_dir.join(crate::BOOTSTRAP_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ServeError::Syslog(format!(
            "a listener without api_key uses {}: {e}",
            path.display()
        ))
    })?;
    let keys: crate::BootstrapKeys = serde_json::from_str(&text)
        .map_err(|e| ServeError::Syslog(format!("{}: {e}", path.display())))?;
    Ok(keys.api_key)
}

/// A UDP socket with a larger receive buffer (capped by the kernel).
fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(error) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(%error, "could not raise the syslog UDP receive buffer");
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One message as read, with when and from whom.
#[derive(Debug)]
struct Received {
    frame: Frame,
    at_ns: i64,
    peer: IpAddr,
}

/// Messages read but not yet committed.
#[derive(Debug, Default)]
struct Pending {
    messages: Vec<Received>,
    bytes: usize,
    wire: u64,
    since: Option<Instant>,
}

impl Pending {
    fn push(&mut self, frame: Frame, at_ns: i64, peer: IpAddr) {
        self.bytes += frame.bytes.len();
        self.since.get_or_insert_with(Instant::now);
        self.messages.push(Received { frame, at_ns, peer });
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn full(&self, listener: &Listener) -> bool {
        self.messages.len() >= listener.batch_lines || self.bytes >= listener.batch_bytes
    }

    /// When the batch must be committed (`None` when empty).
    fn due(&self, listener: &Listener) -> Option<Instant> {
        self.since.map(|t| t + listener.batch_wait)
    }

    fn take(&mut self) -> Batch {
        // The next batch is likely the size of this one.
        let capacity = self.messages.len();
        let pending = std::mem::replace(
            self,
            Pending {
                messages: Vec::with_capacity(capacity),
                ..Pending::default()
            },
        );
        Batch {
            messages: Arc::new(pending.messages),
            bytes: pending.bytes as u64,
            wire: pending.wire,
        }
    }
}

/// A batch being committed (kept until stored, to be parsed again on retry).
#[derive(Debug, Clone)]
struct Batch {
    messages: Arc<Vec<Received>>,
    bytes: u64,
    wire: u64,
}

/// Why a batch was not stored.
#[derive(Debug)]
enum Refused {
    /// Try again after the pause (quota, memory budget).
    Retry(Duration, &'static str),
    /// It cannot be stored (WAL failed, shutting down, key revoked).
    Fatal(&'static str),
}

fn refusal(error: ApiError) -> Refused {
    match error.reason {
        "quota" => {
            let secs = error
                .headers
                .iter()
                .find(|(name, _)| *name == "retry-after")
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(1);
            Refused::Retry(Duration::from_secs(secs), "quota")
        }
        "memory" => Refused::Retry(RETRY_MIN, "memory"),
        reason => Refused::Fatal(reason),
    }
}

/// Parse counts of a stored batch.
#[derive(Debug, Default)]
struct ParseStats {
    errors: Vec<(String, u64)>,
    truncated: u64,
}

/// Parses `messages` into an encoded batch for `tenant` (decode pool).
fn parse_batch(
    tenant: &str,
    messages: &[Received],
    max_line: usize,
    bytes: u64,
    wire: u64,
) -> (EventBatch, ParseStats) {
    let mut stats = ParseStats::default();
    let mut events = Vec::with_capacity(messages.len());
    // The peers of a batch are one (TCP) or few (UDP): formatted once each.
    let mut peer: Option<(IpAddr, String)> = None;
    for received in messages {
        let mut event = parse_frame(&received.frame, received.at_ns, max_line);
        for (key, value) in &event.attributes {
            match (key.as_str(), value) {
                ("syslog.parse_error", AttrValue::Str(reason)) => {
                    match stats.errors.iter_mut().find(|(r, _)| r == reason) {
                        Some((_, n)) => *n += 1,
                        None => stats.errors.push((reason.clone(), 1)),
                    }
                }
                ("syslog.truncated", _) => stats.truncated += 1,
                _ => {}
            }
        }
        let ip = match &peer {
            Some((ip, text)) if *ip == received.peer => text.clone(),
            _ => {
                let text = received.peer.to_string();
                peer = Some((received.peer, text.clone()));
                text
            }
        };
        event
            .attributes
            .push(("network.client.ip".into(), AttrValue::Str(ip)));
        events.push(event);
    }
    (EventBatch::encode(tenant, events, bytes, wire), stats)
}

/// One attempt to store `batch` through the shared write path.
async fn commit(listener: &Listener, batch: &Batch) -> Result<(), Refused> {
    let state = &listener.state;
    let Some(core) = state.core.get() else {
        return Err(Refused::Retry(RETRY_MIN, "recovering"));
    };
    if core.wal.is_poisoned() {
        return Err(Refused::Fatal("wal_poisoned"));
    }
    let Some(auth) = state.keyring().authenticate(&listener.key, KeyKind::Api) else {
        return Err(Refused::Fatal("revoked_key"));
    };
    let count = batch.messages.len() as u64;
    let reservation =
        reserve(state, core, batch.bytes * 2 + count * EVENT_OVERHEAD).map_err(refusal)?;
    let messages = Arc::clone(&batch.messages);
    let (tenant, max_line) = (auth.tenant.clone(), listener.max_line);
    let (bytes, wire) = (batch.bytes, batch.wire);
    let (encoded, stats) = decode_blocking(state, move || {
        Ok(parse_batch(&tenant, &messages, max_line, bytes, wire))
    })
    .await
    .map_err(refusal)?;
    commit_events(state, core, &auth.tenant, reservation, encoded, "syslog")
        .await
        .map_err(refusal)?;
    let metrics = &state.metrics.syslog;
    let protocol = listener.protocol.as_str();
    metrics
        .messages
        .with_label_values(&[protocol])
        .inc_by(count);
    for (reason, n) in &stats.errors {
        metrics
            .parse_errors
            .with_label_values(&[protocol, reason])
            .inc_by(*n);
    }
    metrics
        .truncated
        .with_label_values(&[protocol])
        .inc_by(stats.truncated);
    Ok(())
}

impl Listener {
    fn dropped(&self, reason: &str, count: usize) {
        self.state
            .metrics
            .syslog
            .dropped
            .with_label_values(&[self.protocol.as_str(), reason])
            .inc_by(count as u64);
    }

    /// Commits `batch`, retrying while it is refused for quota or memory
    /// (the connection stops being read once its next batch fills up). Once
    /// `stopped` is set, retries last at most [`SHUTDOWN_GRACE`]. Returns
    /// why it gave up (the batch is then counted as dropped).
    async fn commit_until_stored(
        &self,
        batch: Batch,
        stopped: &watch::Receiver<bool>,
    ) -> Result<(), &'static str> {
        let mut pause = RETRY_MIN;
        let mut give_up_at = None;
        loop {
            let reason = match commit(self, &batch).await {
                Ok(()) => return Ok(()),
                Err(Refused::Fatal(reason)) => {
                    tracing::warn!(
                        reason,
                        messages = batch.messages.len(),
                        "syslog batch dropped"
                    );
                    self.dropped(reason, batch.messages.len());
                    return Err(reason);
                }
                Err(Refused::Retry(wait, reason)) => {
                    pause = wait.max(pause).min(RETRY_MAX);
                    reason
                }
            };
            self.state
                .metrics
                .syslog
                .backpressure
                .with_label_values(&[reason])
                .inc();
            if *stopped.borrow() {
                let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + SHUTDOWN_GRACE);
                if Instant::now() >= deadline {
                    self.dropped("shutdown", batch.messages.len());
                    return Err("shutdown");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
    }
}

/// Accepts TCP connections until stopped, then waits for every connection
/// to commit what it read.
async fn accept_loop(
    listener: Arc<Listener>,
    tcp: TcpListener,
    permits: Arc<Semaphore>,
    mut stopped: watch::Receiver<bool>,
) {
    let metrics = &listener.state.metrics.syslog;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => {
                        metrics.connections.with_label_values(&["accepted"]).inc();
                        let connection = Connection {
                            listener: Arc::clone(&listener),
                            stream,
                            peer,
                            stopped: stopped.clone(),
                            _permit: permit,
                        };
                        connections.spawn(connection.run());
                    }
                    Err(_) => {
                        metrics.connections.with_label_values(&["refused"]).inc();
                        tracing::warn!(%peer, "syslog connection refused: syslog.max_connections reached");
                        drop(stream);
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "syslog accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(tcp);
    while connections.join_next().await.is_some() {}
}

/// One TCP connection.
#[derive(Debug)]
struct Connection {
    listener: Arc<Listener>,
    stream: TcpStream,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

/// What ended a read.
enum Read {
    Bytes(usize),
    Timer,
    Closed(&'static str),
}

/// The batch of a connection being committed (at most one at a time, so
/// batches are stored in the order they were read).
type Inflight = Pin<Box<dyn Future<Output = Result<(), &'static str>> + Send>>;

/// What woke a connection up.
enum Step {
    Read(Read),
    Committed(Result<(), &'static str>),
}

impl Connection {
    async fn run(mut self) {
        let listener = Arc::clone(&self.listener);
        let metrics = &listener.state.metrics.syslog;
        metrics.open.inc();
        let mut framer = Framer::new(listener.max_line);
        let mut buffer = vec![0u8; READ_BUFFER];
        let mut pending = Pending::default();
        let mut inflight: Option<Inflight> = None;
        let mut frames = Vec::new();
        let mut last_read = Instant::now();
        let reason = loop {
            let idle_at = last_read + listener.idle;
            // While a batch commits, the filling one waits for it (its
            // completion wakes us up), unless it fills up.
            let wake = match pending.due(&listener) {
                Some(due) if inflight.is_none() => due.min(idle_at),
                _ => idle_at,
            };
            let step = tokio::select! {
                done = async { inflight.as_mut().expect("inflight").await }, if inflight.is_some() => {
                    Step::Committed(done)
                }
                read = self.read(&mut buffer, wake) => Step::Read(read),
            };
            match step {
                Step::Committed(done) => {
                    inflight = None;
                    if let Err(reason) = done {
                        self.drop_pending(reason, &mut pending);
                        break reason;
                    }
                    last_read = last_read.max(Instant::now());
                }
                Step::Read(Read::Bytes(n)) => {
                    pending.wire += n as u64;
                    framer.push(&buffer[..n], &mut frames);
                    if let Err(reason) = self.add(&mut frames, &mut pending, &mut inflight).await {
                        break reason;
                    }
                    // Idle counts from here: time spent waiting on a
                    // refused batch is ours, not the sender's.
                    last_read = Instant::now();
                }
                // What is pending is committed below.
                Step::Read(Read::Timer) if Instant::now() >= idle_at => break "idle",
                Step::Read(Read::Timer) => {}
                Step::Read(Read::Closed(reason)) => {
                    if reason == "eof" {
                        let at_ns = now_ns();
                        if let Some(frame) = framer.finish() {
                            pending.push(frame, at_ns, self.peer.ip());
                        }
                    }
                    break reason;
                }
            }
            let due = pending
                .due(&listener)
                .is_some_and(|due| Instant::now() >= due);
            if pending.full(&listener) || (due && inflight.is_none()) {
                if let Err(reason) = self.dispatch(&mut pending, &mut inflight).await {
                    break reason;
                }
                last_read = last_read.max(Instant::now());
            }
        };
        let mut stored = Ok(());
        if let Some(previous) = inflight.take() {
            stored = previous.await;
            if let Err(reason) = stored {
                self.drop_pending(reason, &mut pending);
            }
        }
        if stored.is_ok() && !pending.is_empty() {
            let _ = listener
                .commit_until_stored(pending.take(), &self.stopped)
                .await;
        }
        if !framer.is_idle() {
            // A partial frame at shutdown or on an error: never complete.
            listener.dropped("incomplete_frame", 1);
        }
        tracing::debug!(peer = %self.peer, reason, "syslog connection closed");
        metrics.closed.with_label_values(&[reason]).inc();
        metrics.open.dec();
    }

    /// Starts committing `pending` once the batch before it is stored (the
    /// connection is not read meanwhile). When that one could not be
    /// stored, neither is `pending`: it is counted as dropped.
    async fn dispatch(
        &self,
        pending: &mut Pending,
        inflight: &mut Option<Inflight>,
    ) -> Result<(), &'static str> {
        if let Some(previous) = inflight.take() {
            if let Err(reason) = previous.await {
                self.drop_pending(reason, pending);
                return Err(reason);
            }
        }
        let listener = Arc::clone(&self.listener);
        let stopped = self.stopped.clone();
        let batch = pending.take();
        *inflight = Some(Box::pin(async move {
            listener.commit_until_stored(batch, &stopped).await
        }));
        Ok(())
    }

    /// Counts what is pending as dropped for `reason`.
    fn drop_pending(&self, reason: &'static str, pending: &mut Pending) {
        if !pending.is_empty() {
            self.listener.dropped(reason, pending.messages.len());
        }
        *pending = Pending::default();
    }

    /// Adds the frames of one read to `pending`, handing every batch that
    /// fills up to [`Connection::dispatch`] (the rest of the read waits for
    /// the batch before it to be stored).
    async fn add(
        &self,
        frames: &mut Vec<Frame>,
        pending: &mut Pending,
        inflight: &mut Option<Inflight>,
    ) -> Result<(), &'static str> {
        let listener = &self.listener;
        let at_ns = now_ns();
        let peer = self.peer.ip();
        let mut frames = frames.drain(..);
        while let Some(frame) = frames.next() {
            pending.push(frame, at_ns, peer);
            if pending.full(listener) {
                if let Err(reason) = self.dispatch(pending, inflight).await {
                    listener.dropped(reason, frames.len());
                    return Err(reason);
                }
            }
        }
        Ok(())
    }

    /// Reads until `wake`, or until the listener stops.
    async fn read(&mut self, buffer: &mut [u8], wake: Instant) -> Read {
        if *self.stopped.borrow() {
            return Read::Closed("shutdown");
        }
        let wake = tokio::time::Instant::from_std(wake);
        tokio::select! {
            _ = self.stopped.changed() => Read::Closed("shutdown"),
            read = tokio::time::timeout_at(wake, self.stream.read(buffer)) => match read {
                Err(_) => Read::Timer,
                Ok(Ok(0)) => Read::Closed("eof"),
                Ok(Ok(n)) => Read::Bytes(n),
                Ok(Err(_)) => Read::Closed("error"),
            },
        }
    }
}

/// Receives datagrams until stopped; each is one message. Batches are
/// committed in the background (at most [`UDP_INFLIGHT`] at once) so the
/// socket keeps being read while the WAL syncs.
async fn udp_loop(listener: Arc<Listener>, socket: UdpSocket, mut stopped: watch::Receiver<bool>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let mut pending = Pending::default();
    let mut inflight = JoinSet::new();
    loop {
        let due = pending.due(&listener);
        let sleep_until = tokio::time::Instant::from_std(due.unwrap_or_else(Instant::now));
        tokio::select! {
            _ = stopped.changed() => break,
            Some(_) = inflight.join_next(), if !inflight.is_empty() => continue,
            _ = tokio::time::sleep_until(sleep_until), if due.is_some() => {}
            received = socket.recv_from(&mut buffer) => match received {
                Ok((0, _)) => continue,
                Ok((n, peer)) => {
                    let frame = Frame {
                        bytes: buffer[..n].to_vec(),
                        truncated: false,
                        framing: Framing::LineFeed,
                    };
                    pending.push(frame, now_ns(), peer.ip());
                    pending.wire += n as u64;
                }
                Err(error) => {
                    tracing::debug!(%error, "syslog UDP receive failed");
                    continue;
                }
            },
        }
        let due = pending
            .due(&listener)
            .is_some_and(|due| Instant::now() >= due);
        if pending.full(&listener) || due {
            while inflight.len() >= UDP_INFLIGHT {
                let _ = inflight.join_next().await;
            }
            inflight.spawn(commit_datagrams(Arc::clone(&listener), pending.take()));
        }
    }
    if !pending.is_empty() {
        inflight.spawn(commit_datagrams(Arc::clone(&listener), pending.take()));
    }
    while inflight.join_next().await.is_some() {}
}

/// Stores a UDP batch once; a refused one is dropped and counted.
async fn commit_datagrams(listener: Arc<Listener>, batch: Batch) {
    let reason = match commit(&listener, &batch).await {
        Ok(()) => return,
        Err(Refused::Retry(_, reason) | Refused::Fatal(reason)) => reason,
    };
    tracing::debug!(
        reason,
        messages = batch.messages.len(),
        "syslog UDP batch dropped"
    );
    listener.dropped(reason, batch.messages.len());
}
