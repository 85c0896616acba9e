//! DogStatsD listeners (`[statsd] listeners`, `strata serve --statsd-listen`).
//!
//! One thread per listener receives datagrams on a UDP socket with a large
//! receive buffer (`statsd.recv_buffer_bytes`), parses and aggregates them
//! like the Agent (`strata_metrics::statsd::Aggregator`, 10 s windows), and
//! every second hands the closed windows to the WAL as one metrics record
//! (events and service checks go to the WAL as log events at once). The
//! thread never waits for an fsync: appends run as tasks on the runtime.
//!
//! What DogStatsD promises is what UDP promises: nothing is acknowledged.
//! A window is durable once its record is fsynced, about one second after
//! the window closes; a crash before that loses the open windows (at most
//! 10 s + 1 s of aggregates). Malformed lines are counted
//! (`strata_statsd_parse_errors_total{reason}`) and skipped. Loss in the
//! kernel shows as `strata_statsd_packets_total` below what was sent.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use strata_metastore::KeyKind;
use strata_metrics::statsd::{
    resolve_host_and_tags, Aggregator, AlertType, ListenerDefaults, Message, StatsdCounters,
};
use strata_metrics::MetricBatch;
use strata_types::{Event, Status};

use crate::state::{now_secs, AppState, Committed, ServeError};

/// Largest datagram read (UDP's maximum payload).
const MAX_DATAGRAM: usize = 65_535;

/// The running listeners.
#[derive(Debug)]
pub(crate) struct StatsdListeners {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl StatsdListeners {
    /// Stops every listener after it wrote its open windows to the WAL.
    pub(crate) async fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Binds and starts every configured listener. A listener whose API key is
/// unknown is a start-up error: its metrics would have no tenant.
pub(crate) async fn start(state: &Arc<AppState>) -> Result<StatsdListeners, ServeError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let section = &state.config.statsd;
    for listener in &section.listeners {
        let key = match listener.api_key.as_str() {
            "" => bootstrap_api_key(state)?,
            key => key.to_string(),
        };
        let Some(auth) = state.keyring().authenticate(&key, KeyKind::Api) else {
            return Err(ServeError::Statsd(format!(
                "statsd listener {}: the api_key is not a valid API key",
                listener.listen
            )));
        };
        let addr: SocketAddr = listener
            .listen
            .parse()
            .map_err(|e| ServeError::Statsd(format!("statsd listener {}: {e}", listener.listen)))?;
        let socket = bind(addr, section.recv_buffer_bytes as usize)?;
        let local = socket.local_addr()?;
        tracing::info!(addr = %local, tenant = %auth.tenant, "DogStatsD listening");
        let worker = Worker {
            state: Arc::clone(state),
            tenant: auth.tenant,
            label: local.to_string(),
            socket,
            stop: Arc::clone(&stop),
            runtime: tokio::runtime::Handle::current(),
            aggregator: Aggregator::new(section.max_contexts as usize),
            exported: StatsdCounters::default(),
            pending: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("statsd-{local}"))
            .spawn(move || worker.run())?;
        threads.push(thread);
    }
    Ok(StatsdListeners { stop, threads })
}

/// The `default` tenant's API key written at first start.
fn bootstrap_api_key(state: &AppState) -> Result<String, ServeError> {
    let path = state.config.data_dir.join(crate::BOOTSTRAP_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ServeError::Statsd(format!(
            "a listener without api_key uses {}: {e}",
            path.display()
        ))
    })?;
    let keys: crate::BootstrapKeys = serde_json::from_str(&text)
        .map_err(|e| ServeError::Statsd(format!("{}: {e}", path.display())))?;
    Ok(keys.api_key)
}

/// A UDP socket with `SO_RCVBUF` raised (the kernel caps it at
/// `net.core.rmem_max`; the granted size is logged).
fn bind(addr: SocketAddr, recv_buffer: usize) -> Result<UdpSocket, ServeError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(error) = socket.set_recv_buffer_size(recv_buffer) {
        tracing::warn!(%error, recv_buffer, "could not set the DogStatsD receive buffer");
    }
    socket.bind(&addr.into())?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    if granted < recv_buffer {
        tracing::warn!(
            requested = recv_buffer,
            granted,
            "DogStatsD receive buffer capped by the kernel (raise net.core.rmem_max)"
        );
    }
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    Ok(socket)
}

struct Worker {
    state: Arc<AppState>,
    tenant: String,
    label: String,
    socket: UdpSocket,
    stop: Arc<AtomicBool>,
    runtime: tokio::runtime::Handle,
    aggregator: Aggregator,
    exported: StatsdCounters,
    pending: Vec<tokio::task::JoinHandle<()>>,
}

impl Worker {
    fn run(mut self) {
        let defaults = ListenerDefaults::default();
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let mut last_flush = Instant::now();
        let packets = self
            .state
            .metrics
            .tsdb
            .statsd_packets
            .with_label_values(&[&self.label]);
        let bytes = self
            .state
            .metrics
            .tsdb
            .statsd_bytes
            .with_label_values(&[&self.label]);
        while !self.stop.load(Ordering::SeqCst) {
            match self.socket.recv(&mut buffer) {
                Ok(n) => {
                    packets.inc();
                    bytes.inc_by(n as u64);
                    let others = self
                        .aggregator
                        .ingest(&buffer[..n], now_secs() as i64, &defaults);
                    if !others.is_empty() {
                        self.store_events(others, &defaults);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => {
                    tracing::warn!(%error, listener = %self.label, "DogStatsD receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if last_flush.elapsed() >= Duration::from_secs(1) {
                last_flush = Instant::now();
                let batch = self.aggregator.flush(now_secs() as i64);
                self.store_metrics(batch);
                self.export_counters();
            }
        }
        let batch = self.aggregator.flush_all();
        self.store_metrics(batch);
        self.export_counters();
        let pending = std::mem::take(&mut self.pending);
        self.runtime.block_on(async {
            for task in pending {
                let _ = task.await;
            }
        });
    }

    fn store_metrics(&mut self, batch: MetricBatch) {
        if batch.is_empty() {
            return;
        }
        let points = batch.point_count() as u64;
        let payload = strata_metrics::codec::encode(&self.tenant, &batch);
        let Some(core) = self.state.core.get() else {
            return;
        };
        let chunk = core.tsdb.prepare(&self.tenant, batch);
        let item = Committed {
            tenant: self.tenant.clone(),
            events: Vec::new(),
            metrics: Some(chunk),
            heap_bytes: 0,
            reservation: None,
        };
        self.append(payload, item, points, true);
    }

    fn store_events(&mut self, messages: Vec<Message>, defaults: &ListenerDefaults) {
        let now_ns = (now_secs() * 1e9) as i64;
        let events: Vec<Event> = messages
            .into_iter()
            .filter_map(|m| to_event(m, defaults, now_ns))
            .collect();
        if events.is_empty() {
            return;
        }
        let count = events.len() as u64;
        let payload = strata_types::batch::encode(&self.tenant, &events);
        let heap_bytes = events.iter().map(|e| e.heap_size() as u64).sum();
        let item = Committed {
            tenant: self.tenant.clone(),
            events,
            metrics: None,
            heap_bytes,
            reservation: None,
        };
        self.append(payload, item, count, false);
    }

    fn append(&mut self, payload: Vec<u8>, item: Committed, count: u64, metrics: bool) {
        self.pending.retain(|t| !t.is_finished());
        let state = Arc::clone(&self.state);
        self.pending.push(self.runtime.spawn(async move {
            let Some(core) = state.core.get() else {
                return;
            };
            match core.wal.append(payload, item).await {
                Ok(_) if metrics => state
                    .metrics
                    .tsdb
                    .points_in
                    .with_label_values(&["dogstatsd"])
                    .inc_by(count),
                Ok(_) => state
                    .metrics
                    .events_in
                    .with_label_values(&["dogstatsd"])
                    .inc_by(count),
                Err(error) => {
                    tracing::error!(%error, "DogStatsD window not stored: the WAL refused it");
                    state.metrics.tsdb.statsd_flush_failures.inc();
                }
            }
        }));
    }

    /// Adds what the aggregator counted since the last export to `/metrics`.
    fn export_counters(&mut self) {
        let now = self.aggregator.counters().clone();
        let m = &self.state.metrics.tsdb;
        let delta = |a: u64, b: u64| a.saturating_sub(b);
        m.statsd_messages
            .with_label_values(&["metric"])
            .inc_by(delta(now.metrics, self.exported.metrics));
        m.statsd_messages
            .with_label_values(&["event"])
            .inc_by(delta(now.events, self.exported.events));
        m.statsd_messages
            .with_label_values(&["service_check"])
            .inc_by(delta(now.service_checks, self.exported.service_checks));
        for (kind, n) in &now.parse_errors {
            let before = self.exported.parse_errors.get(kind).copied().unwrap_or(0);
            if *n > before {
                m.statsd_errors
                    .with_label_values(&[kind.as_str()])
                    .inc_by(n - before);
            }
        }
        m.statsd_dropped_contexts
            .inc_by(delta(now.dropped_contexts, self.exported.dropped_contexts));
        self.exported = now;
    }
}

/// A DogStatsD event or service check as a stored event (`source:event`,
/// `source:service_check`).
fn to_event(message: Message, defaults: &ListenerDefaults, now_ns: i64) -> Option<Event> {
    let at = |ts: Option<i64>| ts.map_or(now_ns, |s| s.saturating_mul(1_000_000_000));
    match message {
        Message::Event(e) => {
            let (host, tags) = resolve_host_and_tags(&e.tags, defaults);
            let mut event = Event::new(at(e.timestamp_s), format!("{}\n{}", e.title, e.text));
            event.status = match e.alert_type {
                AlertType::Error => Status::Error,
                AlertType::Warning => Status::Warn,
                AlertType::Success => Status::Ok,
                AlertType::Info => Status::Info,
            };
            event.host = e.hostname.or((!host.is_empty()).then_some(host));
            event.source = Some("event".into());
            event.tags = tags;
            let attr = |v: String| strata_types::AttrValue::Str(v);
            event.attributes.push(("title".into(), attr(e.title)));
            event.attributes.push(("text".into(), attr(e.text)));
            if let Some(key) = e.aggregation_key {
                event.attributes.push(("aggregation_key".into(), attr(key)));
            }
            if let Some(source) = e.source_type {
                event
                    .attributes
                    .push(("source_type_name".into(), attr(source)));
            }
            Some(event)
        }
        Message::ServiceCheck(c) => {
            let (host, tags) = resolve_host_and_tags(&c.tags, defaults);
            let message = match &c.message {
                Some(m) => format!("{}: {m}", c.name),
                None => c.name.clone(),
            };
            let mut event = Event::new(at(c.timestamp_s), message);
            event.status = match c.status.code() {
                0 => Status::Ok,
                1 => Status::Warn,
                2 => Status::Critical,
                _ => Status::Info,
            };
            event.host = c.hostname.or((!host.is_empty()).then_some(host));
            event.source = Some("service_check".into());
            event.tags = tags;
            event
                .attributes
                .push(("check".into(), strata_types::AttrValue::Str(c.name)));
            event.attributes.push((
                "status_code".into(),
                strata_types::AttrValue::Int(i64::from(c.status.code())),
            ));
            Some(event)
        }
        Message::Metric(_) => None,
    }
}
