//! Process lifecycle: data directory, recovery, background tasks, shutdown.

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use strata_config::Config;
use strata_index::{Index, IndexConfig};
use strata_ingest::TokenBucket;
use strata_metastore::{KeyRing, Metastore, SqliteMetastore, Stream};
use strata_segment::SegmentOptions;
use strata_types::Event;
use strata_wal::{Durability, GroupStats, Wal, WalConfig, WalOptions};
use tokio::sync::Notify;

use crate::bootstrap::bootstrap;
use crate::metrics::Metrics;

/// Fatal errors of `strata serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory cannot be used.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The metastore failed.
    #[error(transparent)]
    Metastore(#[from] strata_metastore::MetastoreError),
    /// WAL recovery or the WAL failed.
    #[error("write-ahead log: {0}")]
    Wal(#[from] strata_wal::WalError),
    /// WAL recovery found a corrupt record before the tail.
    #[error(
        "write-ahead log: {0}; nothing was changed. Save a copy of the WAL directory, then start once \
         with --repair-wal to truncate the log at that record (the records after it are lost)"
    )]
    WalCorrupt(strata_wal::WalError),
    /// Binding or serving failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// Invalid configuration.
    #[error(transparent)]
    Config(#[from] strata_config::ConfigError),
    /// A DogStatsD listener cannot start.
    #[error("statsd: {0}")]
    Statsd(String),
    /// A syslog listener cannot start.
    #[error("syslog: {0}")]
    Syslog(String),
    /// The segment store cannot be opened or read.
    #[error("segment storage: {0}")]
    Storage(#[from] strata_storage::StorageError),
    /// The orphan sweep at start failed.
    #[error("segment storage: {0}")]
    Index(#[from] strata_index::IndexError),
}

/// A data directory held exclusively by this process (advisory lock on
/// `DATA_DIR/strata.lock`, released when dropped or when the process dies).
#[derive(Debug)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// The metastore file.
    pub fn metastore_path(&self) -> PathBuf {
        self.path.join("metastore.sqlite")
    }
    /// The WAL directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.path.join("wal")
    }
}

/// Opens the segment store `config` names: the local directory
/// (`storage.path`, default `DATA_DIR/segments`), or an S3-compatible bucket
/// with a read cache of byte ranges in `storage.cache_dir`.
pub fn open_segment_store(config: &Config) -> Result<strata_storage::SegmentStore, ServeError> {
    use strata_config::StorageBackend;
    use strata_storage::{Backend, CacheOptions, S3Options, SegmentStore};
    let section = &config.storage;
    let store = match section.backend {
        StorageBackend::Local => SegmentStore::open(
            &Backend::Local {
                root: config.segments_dir(),
            },
            None,
        )?,
        StorageBackend::S3 => {
            let s3 = &section.s3;
            let some = |v: &String| (!v.is_empty()).then(|| v.clone());
            let backend = Backend::S3(S3Options {
                endpoint: some(&s3.endpoint),
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone(),
                region: s3.region.clone(),
                access_key_id: some(&s3.access_key_id),
                secret_access_key: some(&s3.secret_access_key),
                path_style: s3.path_style,
                allow_http: s3.allow_http,
            });
            let cache = (section.cache_max_bytes > 0).then(|| CacheOptions {
                dir: config.cache_dir(),
                max_bytes: section.cache_max_bytes,
            });
            SegmentStore::open(&backend, cache)?
        }
    };
    Ok(store)
}

/// Locks `path` (creating it when `create`), or fails clearly when another
/// Strata process holds it.
pub fn open_data_dir(path: &Path, create: bool) -> Result<DataDir, ServeError> {
    let err = |reason: String| ServeError::DataDir {
        path: path.to_path_buf(),
        reason,
    };
    if create {
        std::fs::create_dir_all(path).map_err(|e| err(format!("cannot create: {e}")))?;
    } else if !path.is_dir() {
        return Err(err("does not exist".into()));
    }
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join("strata.lock"))
        .map_err(|e| err(format!("cannot open lock file: {e}")))?;
    match lock.try_lock() {
        Ok(()) => Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
        }),
        Err(std::fs::TryLockError::WouldBlock) => Err(err(
            "is locked by a running strata process (stop it first, e.g. with SIGTERM)".into(),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(err(format!("cannot lock: {e}"))),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What travels with a WAL record to `on_commit`: the events to apply to the
/// tenant's memtable, their measured heap size, and the request's memory
/// reservation, released once they are applied (the memtable counts them).
#[derive(Debug)]
pub(crate) struct Committed {
    pub(crate) tenant: String,
    pub(crate) events: Vec<Event>,
    /// A metrics record's points, already in memtable form (then `events`
    /// is empty).
    pub(crate) metrics: Option<strata_tsdb::PreparedChunk>,
    pub(crate) heap_bytes: u64,
    pub(crate) reservation: Option<crate::intake::Reservation>,
}

/// Quota buckets of one tenant.
#[derive(Debug)]
pub(crate) struct TenantQuota {
    pub(crate) events: Option<TokenBucket>,
    pub(crate) bytes: Option<TokenBucket>,
}

/// What exists once recovery is done.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) wal: Wal<Committed>,
    pub(crate) index: Arc<Index>,
    pub(crate) engine: Arc<strata_query::Engine>,
    pub(crate) tsdb: Arc<strata_tsdb::Tsdb>,
}

impl Core {
    /// The WAL may delete records up to here: both stores have them in segments.
    pub(crate) fn safe_wal_seq(&self) -> u64 {
        self.index.safe_wal_seq().min(self.tsdb.safe_wal_seq())
    }

    /// Bytes held by both stores' memtables (counted against the memory budget).
    pub(crate) fn memtable_bytes(&self) -> u64 {
        self.index.memtable_bytes() + self.tsdb.memtable_bytes()
    }
}

/// Shared by every handler.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) core: OnceLock<Core>,
    pub(crate) metastore: Arc<SqliteMetastore>,
    pub(crate) keyring: RwLock<Arc<KeyRing>>,
    pub(crate) quotas: Mutex<HashMap<String, TenantQuota>>,
    pub(crate) inflight_bytes: AtomicU64,
    pub(crate) metrics: Metrics,
    pub(crate) flush_wanted: Notify,
    /// Concurrent request decodes (one per core).
    pub(crate) decode_permits: tokio::sync::Semaphore,
    /// Live-tail fan-out.
    pub(crate) tail: crate::tail::TailHub,
    /// Last values of OTLP cumulative series, to store deltas (memory only).
    pub(crate) otlp_cumulative: Arc<strata_ingest::otlp::metrics::CumulativeState>,
}

impl AppState {
    pub(crate) fn keyring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.keyring.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sets the gauges read from live state (memtables, in-flight bytes).
    pub(crate) fn update_gauges(&self) {
        if let Some(core) = self.core.get() {
            self.metrics
                .memtable_bytes
                .set(core.index.memtable_bytes() as i64);
            self.metrics
                .memtable_events
                .set(core.index.memtable_events() as i64);
            let (bytes, points) = core.tsdb.memtable_totals();
            self.metrics.tsdb.memtable_bytes.set(bytes as i64);
            self.metrics.tsdb.memtable_points.set(points as i64);
            let (segments, rows, bytes) = core.tsdb.catalog_totals();
            self.metrics.tsdb.segments.set(segments as i64);
            self.metrics.tsdb.segment_points.set(rows as i64);
            self.metrics.tsdb.segment_bytes.set(bytes as i64);
            let (segments, rows, bytes) = core.index.catalog_totals();
            self.metrics.segments.set(segments as i64);
            self.metrics.segment_events.set(rows as i64);
            self.metrics.segment_bytes.set(bytes as i64);
            let store = core.index.store();
            self.metrics
                .storage
                .observe_store(store.stats(), store.cache_stats());
        }
        self.metrics
            .inflight_bytes
            .set(self.inflight_bytes.load(Ordering::Relaxed) as i64);
        self.metrics
            .tail_subscribers
            .set(self.tail.subscribers() as i64);
    }

    /// Reloads keys and quotas from the metastore (revocations and quota
    /// changes made with `strata admin` take effect within a second).
    async fn refresh(&self) -> Result<(), strata_metastore::MetastoreError> {
        let keys = self.metastore.list_keys(None).await?;
        *self.keyring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(KeyRing::new(keys));
        let tenants = self.metastore.list_tenants().await?;
        let now = now_secs();
        let mut quotas = self.quotas.lock().unwrap_or_else(|p| p.into_inner());
        for tenant in tenants {
            let entry = quotas.entry(tenant.id.clone()).or_insert(TenantQuota {
                events: None,
                bytes: None,
            });
            sync_bucket(&mut entry.events, tenant.quota.events_per_sec, now);
            sync_bucket(&mut entry.bytes, tenant.quota.bytes_per_sec, now);
        }
        Ok(())
    }
}

fn sync_bucket(bucket: &mut Option<TokenBucket>, rate: Option<u64>, now: f64) {
    match (bucket.as_ref().map(TokenBucket::rate), rate) {
        (current, Some(rate)) if current != Some(rate) => {
            *bucket = Some(TokenBucket::new(rate, now))
        }
        (_, None) => *bucket = None,
        _ => {}
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Runs `strata serve` until `shutdown` resolves, then drains, flushes and
    /// returns. `repair_wal` lets recovery truncate the WAL at a corrupt record
    /// (losing what follows it, logged at ERROR) instead of refusing to start.
    pub async fn run(
        config: Config,
        repair_wal: bool,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let data_dir = open_data_dir(&config.data_dir, true)?;
        let metastore = Arc::new(SqliteMetastore::open(&data_dir.metastore_path()).await?);
        bootstrap(metastore.as_ref(), &data_dir.path, now_ms()).await?;
        let state = Arc::new(AppState {
            config: config.clone(),
            core: OnceLock::new(),
            metastore: Arc::clone(&metastore),
            keyring: RwLock::new(Arc::new(KeyRing::default())),
            quotas: Mutex::new(HashMap::new()),
            inflight_bytes: AtomicU64::new(0),
            metrics: Metrics::new(),
            flush_wanted: Notify::new(),
            decode_permits: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            tail: crate::tail::TailHub::new(
                config.query.tail_buffer_records as usize,
                config.query.max_tail_subscribers as usize,
            ),
            otlp_cumulative: Arc::new(strata_ingest::otlp::metrics::CumulativeState::new(
                crate::otlp_intake::CUMULATIVE_SERIES,
            )),
        });
        state.refresh().await?;
        let tcp = tokio::net::TcpListener::bind(config.listen_addr()?).await?;
        tracing::info!(addr = %tcp.local_addr()?, data_dir = %data_dir.path.display(), "listening");
        let listener =
            crate::listener::LimitedListener::new(tcp, config.limits.max_connections as usize);
        let app = crate::intake::router(Arc::clone(&state));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let request_timeout = Duration::from_secs_f64(config.limits.request_timeout_secs);
        let header_timeout = Duration::from_secs_f64(config.limits.header_timeout_secs);
        let tail = state.tail.clone();
        let http = tokio::spawn(async move {
            let graceful = async move {
                shutdown.await;
                tail.close();
                tracing::info!("shutdown requested: draining in-flight requests");
            };
            crate::listener::serve(listener, app, header_timeout, request_timeout, graceful).await;
            Ok::<(), std::io::Error>(())
        });

        let store = open_segment_store(&config)?;
        tracing::info!(store = %store.describe(), "segment store");
        let orphans = strata_index::lifecycle::remove_orphans(metastore.as_ref(), &store).await?;
        if orphans > 0 {
            tracing::warn!(
                orphans,
                "removed unregistered segment objects left by a crash"
            );
        }
        let recovery_state = Arc::clone(&state);
        let wal_dir = data_dir.wal_dir();
        let core = tokio::task::spawn_blocking(move || {
            recover(&recovery_state, &wal_dir, store, repair_wal)
        })
        .await
        .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
        let core = match core {
            Ok(core) => core,
            Err(error) => {
                http.abort();
                return Err(error);
            }
        };
        let index = Arc::clone(&core.index);
        let tsdb = Arc::clone(&core.tsdb);
        let _ = state.core.set(core);
        tracing::info!("ready");
        let statsd = crate::statsd::start(&state).await?;
        let syslog = crate::syslog::start(&state).await?;

        let lifecycle = tokio::spawn(crate::lifecycle::lifecycle_loop(
            Arc::clone(&state),
            stop_rx.clone(),
        ));
        let background = tokio::spawn(background_loop(Arc::clone(&state), stop_rx));
        let served = http
            .await
            .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
        // DogStatsD windows still open and pending syslog batches are
        // written to the WAL first.
        statsd.stop().await;
        syslog.stop().await;
        let _ = stop_tx.send(true);
        let _ = background.await;
        let _ = lifecycle.await;
        served?;

        tracing::info!("flushing memtables before exit");
        let flushed = index.flush_due(true).await;
        if let Err(error) = &flushed {
            tracing::error!(%error, "final flush failed; unflushed events stay in the WAL and are recovered at next start");
        }
        let metrics_flushed = tsdb.flush_due(true).await;
        if let Err(error) = &metrics_flushed {
            tracing::error!(%error, "final metrics flush failed; unflushed points stay in the WAL and are recovered at next start");
        }
        if let Some(core) = state.core.get() {
            if flushed.is_ok() && metrics_flushed.is_ok() {
                core.wal.remove_through(core.safe_wal_seq())?;
            }
            core.wal.close()?;
        }
        metastore.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// WAL recovery: replays every record past its tenant's checkpoint into the
/// memtables, then starts the WAL writer.
fn recover(
    state: &Arc<AppState>,
    wal_dir: &Path,
    store: strata_storage::SegmentStore,
    repair_wal: bool,
) -> Result<Core, ServeError> {
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let metastore = Arc::clone(&state.metastore);
    let (checkpoints, segments, metric_checkpoints, metric_segments) = runtime.block_on(async {
        let checkpoints = metastore.checkpoints().await?;
        let segments = metastore.list_segments(None, i64::MIN, i64::MAX).await?;
        let metric_checkpoints = metastore.stream_checkpoints(Stream::Metrics).await?;
        let metric_segments = metastore
            .list_stream_segments(Stream::Metrics, None, i64::MIN, i64::MAX)
            .await?;
        Ok::<_, ServeError>((checkpoints, segments, metric_checkpoints, metric_segments))
    })?;

    let config = &state.config;
    let index = Arc::new(Index::new(
        IndexConfig {
            flush_bytes: config.memtable.flush_bytes,
            max_age: Duration::from_secs_f64(config.memtable.max_age_secs),
            pressure_bytes: config.limits.memory_budget_bytes / 2,
            segment: SegmentOptions {
                max_attribute_columns: config.segment.max_attribute_columns as usize,
                row_group_rows: config.segment.row_group_rows as usize,
                zstd_level: config.segment.zstd_level,
            },
        },
        Arc::clone(&metastore) as Arc<dyn Metastore>,
        store.clone(),
    ));
    index.load_catalog(segments);
    let tsdb = Arc::new(strata_tsdb::Tsdb::new(
        strata_tsdb::TsdbConfig {
            flush_bytes: config.metrics.flush_bytes,
            max_age: Duration::from_secs_f64(config.metrics.max_age_secs),
            zstd_level: config.metrics.zstd_level,
            row_group_rows: config.segment.row_group_rows as usize,
            pressure_bytes: config.limits.memory_budget_bytes / 2,
        },
        Arc::clone(&metastore) as Arc<dyn Metastore>,
        store,
    ));
    tsdb.load_catalog(metric_segments);
    let commit_index = Arc::clone(&index);
    let commit_tsdb = Arc::clone(&tsdb);
    let tail = state.tail.clone();
    let mut options = WalOptions::new(
        WalConfig {
            dir: wal_dir.to_path_buf(),
            durability: match config.wal.durability {
                strata_config::Durability::Fsync => Durability::Fsync,
                strata_config::Durability::None => Durability::None,
            },
            max_file_bytes: config.wal.max_file_bytes,
            max_group_bytes: config.wal.max_group_bytes as usize,
        },
        move |seq, item: Committed| {
            if let Some(chunk) = item.metrics {
                commit_tsdb.apply_prepared(seq, &item.tenant, chunk);
                // Lets the logs index's safe WAL sequence move past it.
                commit_index.apply_measured(seq, &item.tenant, Vec::new(), 0);
                drop(item.reservation);
                return;
            }
            commit_tsdb.note_applied(seq);
            let chunk =
                commit_index.apply_measured(seq, &item.tenant, item.events, item.heap_bytes);
            drop(item.reservation);
            if let Some(chunk) = chunk {
                tail.publish(item.tenant, chunk);
            }
        },
    );
    options.repair = repair_wal;
    let metrics = state.metrics.clone();
    options.on_group = Some(Box::new(move |stats: &GroupStats| {
        metrics
            .wal_sync_seconds
            .observe(stats.write_and_sync.as_secs_f64());
        metrics.wal_group_records.observe(stats.records as f64);
        metrics.wal_group_bytes.observe(stats.bytes as f64);
    }));
    let replay_index = Arc::clone(&index);
    let replay_tsdb = Arc::clone(&tsdb);
    let mut replayed_events = 0u64;
    let mut replayed_points = 0u64;
    let opened = Wal::open(options, |seq, payload| {
        if strata_metrics::codec::is_metrics_payload(payload) {
            let (tenant, batch) = strata_metrics::codec::decode(payload)
                .map_err(|e| strata_wal::WalError::Replay(format!("record {seq}: {e}")))?;
            replay_index.apply(seq, &tenant, Vec::new());
            if seq <= metric_checkpoints.get(&tenant).copied().unwrap_or(0) {
                replay_tsdb.note_applied(seq);
                return Ok(());
            }
            replayed_points += batch.point_count() as u64;
            replay_tsdb.apply(seq, &tenant, batch);
            return Ok(());
        }
        replay_tsdb.note_applied(seq);
        let batch = strata_types::batch::decode(payload)
            .map_err(|e| strata_wal::WalError::Replay(format!("record {seq}: {e}")))?;
        if seq <= checkpoints.get(&batch.tenant).copied().unwrap_or(0) {
            return Ok(());
        }
        replayed_events += batch.events.len() as u64;
        replay_index.apply(seq, &batch.tenant, batch.events);
        Ok(())
    });
    let (wal, report) = match opened {
        Ok(opened) => opened,
        Err(error @ strata_wal::WalError::Corrupt { .. }) => {
            return Err(ServeError::WalCorrupt(error))
        }
        Err(error) => return Err(error.into()),
    };
    let highest = checkpoints
        .values()
        .chain(metric_checkpoints.values())
        .copied()
        .max()
        .unwrap_or(0);
    skip_flushed_sequence_numbers(&runtime, &wal, report.last_seq, highest)?;
    let engine = Arc::new(
        strata_query::Engine::new(
            Arc::clone(&index),
            strata_query::QueryLimits {
                max_concurrent_per_tenant: config.query.max_concurrent_per_tenant as usize,
                timeout: Duration::from_secs_f64(config.query.timeout_secs),
                scan_budget_rows: config.query.scan_budget_rows,
            },
        )
        .with_metrics(Arc::clone(&tsdb)),
    );
    tracing::info!(
        records = report.records,
        replayed_events,
        replayed_points,
        truncated_bytes = report.truncated_bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "recovery done"
    );
    Ok(Core {
        wal,
        index,
        engine,
        tsdb,
    })
}

/// A WAL that ends below a tenant's checkpoint (repaired with
/// `--repair-wal`, or lost) would hand out sequence numbers that replay and
/// export treat as already flushed. Appending empty records up to the highest
/// checkpoint first makes every new record's seq larger than any checkpoint.
fn skip_flushed_sequence_numbers(
    runtime: &tokio::runtime::Handle,
    wal: &Wal<Committed>,
    wal_last_seq: u64,
    highest: u64,
) -> Result<(), ServeError> {
    if wal_last_seq >= highest {
        return Ok(());
    }
    let gap = highest - wal_last_seq;
    tracing::warn!(
        wal_last_seq,
        highest_checkpoint = highest,
        gap,
        "the WAL ends below the catalog's checkpoints (repaired or lost WAL); skipping sequence numbers"
    );
    let empty = strata_types::batch::encode("", &[]);
    runtime.block_on(async {
        let mut pending = tokio::task::JoinSet::new();
        for _ in 0..gap {
            let nothing = Committed {
                tenant: String::new(),
                events: Vec::new(),
                metrics: None,
                heap_bytes: 0,
                reservation: None,
            };
            pending.spawn(wal.append(empty.clone(), nothing));
            if pending.len() >= 4096 {
                if let Some(done) = pending.join_next().await {
                    done.map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))??;
                }
            }
        }
        while let Some(done) = pending.join_next().await {
            done.map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))??;
        }
        Ok::<_, ServeError>(())
    })
}

/// Flushes due memtables, truncates the WAL, refreshes keys and gauges.
async fn background_loop(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(core) = state.core.get() else { return };
    let mut last_refresh = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = state.flush_wanted.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let started = Instant::now();
        match core.index.flush_due(false).await {
            Ok(stats) if stats.memtables > 0 => {
                state
                    .metrics
                    .flush_seconds
                    .observe(started.elapsed().as_secs_f64());
                if let Err(error) = core.wal.remove_through(core.safe_wal_seq()) {
                    tracing::error!(%error, "WAL truncation failed");
                }
            }
            Ok(_) => {}
            Err(_) => state.metrics.flush_failures.inc(),
        }
        let started = Instant::now();
        match core.tsdb.flush_due(false).await {
            Ok(stats) if stats.memtables > 0 => {
                state
                    .metrics
                    .tsdb
                    .flush_seconds
                    .observe(started.elapsed().as_secs_f64());
                if let Err(error) = core.wal.remove_through(core.safe_wal_seq()) {
                    tracing::error!(%error, "WAL truncation failed");
                }
            }
            Ok(_) => {}
            Err(_) => state.metrics.flush_failures.inc(),
        }
        state.update_gauges();
        if last_refresh.elapsed() >= Duration::from_secs(1) {
            last_refresh = Instant::now();
            if let Err(error) = state.refresh().await {
                tracing::warn!(%error, "key and quota refresh failed");
            }
        }
    }
}
