//! The [`Wal`] handle and its writer thread (group commit).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::format::{encode_record, record_len, MAX_PAYLOAD_BYTES};
use crate::fs::{StdFs, WalFs};
use crate::recovery::{self, ClosedFile, CurrentFile, RecoveryReport};
use crate::WalError;

/// When a record counts as durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each group is written and then `fdatasync`ed before anything is
    /// acknowledged. Rotation, recovery and removal also fsync the files and
    /// the directory. The production setting.
    Fsync,
    /// Groups are written (into the OS page cache) but nothing is ever
    /// fsynced: acknowledged records survive a process crash but not a power
    /// loss or kernel crash. For benchmarks only; [`Wal::open`] logs a warning.
    None,
}

/// Where and how the WAL writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// The directory holding the WAL files (created if missing). The WAL owns
    /// every `wal-*.log` file in it.
    pub dir: PathBuf,
    /// When a record counts as durable.
    pub durability: Durability,
    /// Start a new file once the current one is larger than this (checked
    /// after each group commit, so files can exceed it by one group).
    pub max_file_bytes: u64,
    /// The most bytes (record headers included) one group commit writes. A
    /// record larger than this is written alone.
    pub max_group_bytes: usize,
}

impl WalConfig {
    /// Production defaults: [`Durability::Fsync`], 64 MiB files, 4 MiB groups.
    pub fn new(dir: impl Into<PathBuf>) -> WalConfig {
        WalConfig {
            dir: dir.into(),
            durability: Durability::Fsync,
            max_file_bytes: 64 << 20,
            max_group_bytes: 4 << 20,
        }
    }

    /// A configuration for tests: [`Durability::Fsync`] (fsync is cheap on
    /// small files), 64 KiB files so rotation happens, 1 MiB groups.
    pub fn test_config(dir: &Path) -> WalConfig {
        WalConfig {
            dir: dir.to_path_buf(),
            durability: Durability::Fsync,
            max_file_bytes: 64 << 10,
            max_group_bytes: 1 << 20,
        }
    }
}

/// What one group commit did, passed to [`WalOptions::on_group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    /// Records in the group.
    pub records: usize,
    /// Bytes written (record headers included).
    pub bytes: usize,
    /// Time spent in the one `write` and the one `fdatasync`.
    pub write_and_sync: Duration,
}

/// Called once per durable record, on the writer thread.
pub type OnCommit<T> = Box<dyn FnMut(u64, T) + Send>;
/// Called once per group commit, on the writer thread.
pub type OnGroup = Box<dyn Fn(&GroupStats) + Send + Sync>;

/// Everything [`Wal::open`] needs besides the replay callback. `T` is an
/// opaque item the caller attaches to each record and gets back in
/// `on_commit`.
pub struct WalOptions<T> {
    /// Where and how to write.
    pub config: WalConfig,
    /// Called on the writer thread, once per record, in strictly increasing
    /// seq order, only after the record's group was written and fsynced (or
    /// written, with [`Durability::None`]). Called *before* the appender's
    /// future resolves. Must not block for long (it delays every later
    /// group) and must not call [`Wal::close`]. If it panics, the WAL is
    /// poisoned.
    pub on_commit: OnCommit<T>,
    /// Called once per group commit with its stats (for metrics).
    pub on_group: Option<OnGroup>,
    /// Operator repair mode: recovery truncates the log at a corrupt record
    /// (and deletes later files) instead of failing with
    /// [`WalError::Corrupt`]. Logged at `error!` level with what was dropped.
    pub repair: bool,
}

impl<T> WalOptions<T> {
    /// Options with no `on_group` callback and repair off.
    pub fn new(config: WalConfig, on_commit: impl FnMut(u64, T) + Send + 'static) -> Self {
        WalOptions {
            config,
            on_commit: Box::new(on_commit),
            on_group: None,
            repair: false,
        }
    }
}

impl<T> fmt::Debug for WalOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalOptions")
            .field("config", &self.config)
            .field("on_group", &self.on_group.is_some())
            .field("repair", &self.repair)
            .finish_non_exhaustive()
    }
}

/// State shared by the handles and the writer thread.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    fs: Arc<dyn WalFs>,
    sync: bool,
    poisoned: AtomicBool,
    last_seq: AtomicU64,
    /// Files no longer written, oldest first. The writer pushes at the back,
    /// `remove_through` pops at the front.
    closed_files: Mutex<VecDeque<ClosedFile>>,
    /// Serialises `remove_through` calls.
    removal: Mutex<()>,
}

impl Shared {
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn closed_files(&self) -> MutexGuard<'_, VecDeque<ClosedFile>> {
        self.closed_files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// The error for a request whose writer is gone.
    fn gone(&self) -> WalError {
        if self.is_poisoned() {
            WalError::Poisoned
        } else {
            WalError::Closed
        }
    }
}

/// One queued append.
struct Request<T> {
    payload: Vec<u8>,
    item: T,
    reply: oneshot::Sender<Result<u64, WalError>>,
}

struct Inner<T> {
    shared: Arc<Shared>,
    /// `None` once closed.
    tx: RwLock<Option<mpsc::Sender<Request<T>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// A write-ahead log: see the [crate documentation](crate).
///
/// Cheap to clone: every clone is a handle to the same log. When the last
/// handle is dropped without [`close`](Wal::close), the writer thread still
/// finishes the queued appends and then exits on its own.
pub struct Wal<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Wal<T> {
    fn clone(&self) -> Self {
        Wal {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Wal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.inner.shared;
        f.debug_struct("Wal")
            .field("dir", &shared.dir)
            .field("last_seq", &shared.last_seq.load(Ordering::Acquire))
            .field("poisoned", &shared.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Wal<T> {
    /// Recovers the directory (creating it if missing): calls
    /// `replay(seq, payload)` for every valid record in order, truncates a
    /// torn tail, then starts the writer thread.
    ///
    /// If this fails, `replay` may already have seen a prefix of the records.
    /// Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(
        options: WalOptions<T>,
        replay: impl FnMut(u64, &[u8]) -> Result<(), WalError>,
    ) -> Result<(Wal<T>, RecoveryReport), WalError> {
        Self::open_with_fs(options, Arc::new(StdFs), replay)
    }

    /// [`open`](Wal::open) on another [`WalFs`] (tests use this to inject
    /// I/O failures).
    pub fn open_with_fs(
        options: WalOptions<T>,
        fs: Arc<dyn WalFs>,
        mut replay: impl FnMut(u64, &[u8]) -> Result<(), WalError>,
    ) -> Result<(Wal<T>, RecoveryReport), WalError> {
        let WalOptions {
            config,
            on_commit,
            on_group,
            repair,
        } = options;
        let dir = config.dir.clone();
        let sync = config.durability == Durability::Fsync;
        if !sync {
            tracing::warn!(
                dir = %dir.display(),
                "WAL durability is None: nothing is ever fsynced and acknowledged records \
                 can be lost on power failure; use this for benchmarks only"
            );
        }
        ensure_dir(&*fs, &dir, sync)?;

        let scan = recovery::scan(&*fs, &dir, repair, &mut replay)?;
        let report = scan.report.clone();
        let (current, closed) = recovery::apply(scan, &*fs, &dir, sync)?;
        tracing::info!(
            dir = %dir.display(),
            records = report.records,
            last_seq = report.last_seq,
            files = report.files,
            truncated_bytes = report.truncated_bytes,
            "WAL recovered"
        );

        let shared = Arc::new(Shared {
            dir: dir.clone(),
            fs,
            sync,
            poisoned: AtomicBool::new(false),
            last_seq: AtomicU64::new(report.last_seq),
            closed_files: Mutex::new(closed.into()),
            removal: Mutex::new(()),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            shared: Arc::clone(&shared),
            rx,
            current,
            next_seq: report.last_seq + 1,
            max_file_bytes: config.max_file_bytes,
            max_group_bytes: config.max_group_bytes,
            on_commit,
            on_group,
            buf: Vec::new(),
            carry: None,
        };
        let handle = thread::Builder::new()
            .name("strata-wal-writer".to_string())
            .spawn(move || writer.run())
            .map_err(|e| WalError::io("starting the WAL writer thread for", &dir, e))?;
        let inner = Inner {
            shared,
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
        };
        Ok((
            Wal {
                inner: Arc::new(inner),
            },
            report,
        ))
    }

    /// Queues a record. The returned future resolves to `Ok(seq)` once the
    /// record is durable and `on_commit(seq, item)` has run. It does not
    /// borrow `self`, and the record is queued even if the future is never
    /// polled (dropping the future only drops the answer).
    ///
    /// Errors: [`WalError::Poisoned`] (an earlier write or fsync failed),
    /// [`WalError::Closed`], [`WalError::PayloadTooLarge`] (over
    /// [`MAX_PAYLOAD_BYTES`]).
    pub fn append(
        &self,
        payload: Vec<u8>,
        item: T,
    ) -> impl Future<Output = Result<u64, WalError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let rejected = self.submit(Request {
            payload,
            item,
            reply,
        });
        let shared = Arc::clone(&self.inner.shared);
        async move {
            if let Some(err) = rejected {
                return Err(err);
            }
            match answer.await {
                Ok(result) => result,
                Err(_) => Err(shared.gone()),
            }
        }
    }

    /// Sends a request to the writer; `Some` if it was rejected.
    fn submit(&self, request: Request<T>) -> Option<WalError> {
        let len = request.payload.len();
        if len > MAX_PAYLOAD_BYTES {
            return Some(WalError::PayloadTooLarge {
                len,
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let shared = &self.inner.shared;
        if shared.is_poisoned() {
            return Some(WalError::Poisoned);
        }
        let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
        match tx.as_ref() {
            None => Some(WalError::Closed),
            Some(tx) => tx.send(request).err().map(|_| shared.gone()),
        }
    }

    /// Deletes every closed (rotated-away) file whose records all have seq
    /// `<= seq`, oldest first, fsyncing the directory after each removal (so
    /// a crash never leaves a gap). Never deletes the file currently written.
    /// Returns the number of files removed.
    pub fn remove_through(&self, seq: u64) -> Result<usize, WalError> {
        let shared = &self.inner.shared;
        // One removal at a time; the writer keeps rotating meanwhile (it only
        // pushes at the back, and is never blocked by the fsyncs below).
        let _serial = shared
            .removal
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let victims: Vec<ClosedFile> = shared
            .closed_files()
            .iter()
            .take_while(|file| file.last_seq <= seq)
            .cloned()
            .collect();
        for file in &victims {
            match shared.fs.remove(&file.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(WalError::io("removing WAL file", &file.path, e)),
            }
            shared.closed_files().pop_front();
            tracing::debug!(
                file = %file.path.display(),
                first_seq = file.first_seq,
                last_seq = file.last_seq,
                "removed WAL file"
            );
            if shared.sync {
                shared
                    .fs
                    .sync_dir(&shared.dir)
                    .map_err(|e| WalError::io("syncing WAL directory", &shared.dir, e))?;
            }
        }
        Ok(victims.len())
    }

    /// The highest seq made durable so far: 0 for a new WAL; after a restart
    /// at least the last recovered seq, even if its file was removed.
    pub fn last_seq(&self) -> u64 {
        self.inner.shared.last_seq.load(Ordering::Acquire)
    }

    /// Whether a write or fsync failed: every append now fails with
    /// [`WalError::Poisoned`] until the WAL is reopened.
    pub fn is_poisoned(&self) -> bool {
        self.inner.shared.is_poisoned()
    }

    /// Stops accepting appends (they fail with [`WalError::Closed`]),
    /// finishes the queued ones and joins the writer thread. Blocking.
    /// Returns [`WalError::Poisoned`] if the WAL is poisoned. Calling it
    /// again is harmless.
    pub fn close(&self) -> Result<(), WalError> {
        let tx = self
            .inner
            .tx
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(tx);
        let handle = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            // Called from on_commit on the writer thread itself: it stops on
            // its own once the queue is drained.
            if handle.thread().id() != thread::current().id() && handle.join().is_err() {
                self.inner.shared.poison();
                tracing::error!(dir = %self.inner.shared.dir.display(), "the WAL writer thread panicked");
            }
        }
        if self.inner.shared.is_poisoned() {
            Err(WalError::Poisoned)
        } else {
            Ok(())
        }
    }
}

/// Creates the WAL directory if it is missing, and makes its creation durable.
fn ensure_dir(fs: &dyn WalFs, dir: &Path, sync: bool) -> Result<(), WalError> {
    match fs.list(dir) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs.create_dir_all(dir)
                .map_err(|e| WalError::io("creating WAL directory", dir, e))?;
            if sync {
                let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
                let parent = parent.unwrap_or_else(|| Path::new("."));
                fs.sync_dir(parent)
                    .map_err(|e| WalError::io("syncing the parent of WAL directory", dir, e))?;
            }
            Ok(())
        }
        Err(e) => Err(WalError::io("listing WAL directory", dir, e)),
    }
}

/// Poisons the WAL if the writer thread unwinds (a bug), so waiters see
/// `Poisoned` rather than `Closed`.
struct PoisonOnPanic(Arc<Shared>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.poison();
        }
    }
}

/// The writer thread's state.
struct Writer<T> {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Request<T>>,
    current: CurrentFile,
    next_seq: u64,
    max_file_bytes: u64,
    max_group_bytes: usize,
    on_commit: OnCommit<T>,
    on_group: Option<OnGroup>,
    /// The encoded group, reused.
    buf: Vec<u8>,
    /// A request taken from the queue that did not fit in the last group.
    carry: Option<Request<T>>,
}

impl<T> Writer<T> {
    fn run(mut self) {
        let mut group = Vec::new();
        let _guard = PoisonOnPanic(Arc::clone(&self.shared));
        while self.next_group(&mut group) {
            self.commit(&mut group);
        }
        tracing::debug!(dir = %self.shared.dir.display(), "WAL writer stopped");
    }

    /// Blocks for a first request, then takes whatever else is queued, up to
    /// `max_group_bytes`. `false` once the WAL is closed and drained.
    fn next_group(&mut self, group: &mut Vec<Request<T>>) -> bool {
        let first = match self.carry.take() {
            Some(request) => request,
            None => match self.rx.recv() {
                Ok(request) => request,
                Err(mpsc::RecvError) => return false,
            },
        };
        let mut bytes = record_len(first.payload.len());
        group.push(first);
        while bytes < self.max_group_bytes {
            let Ok(request) = self.rx.try_recv() else {
                break;
            };
            let len = record_len(request.payload.len());
            if bytes + len > self.max_group_bytes {
                self.carry = Some(request);
                break;
            }
            bytes += len;
            group.push(request);
        }
        true
    }

    /// Writes and syncs one group, then runs `on_commit` and answers the waiters.
    fn commit(&mut self, group: &mut Vec<Request<T>>) {
        if self.shared.is_poisoned() {
            for request in group.drain(..) {
                // The receiver may be gone (future dropped): nothing to tell.
                let _ = request.reply.send(Err(WalError::Poisoned));
            }
            return;
        }
        let first_seq = self.next_seq;
        self.buf.clear();
        for (seq, request) in (first_seq..).zip(group.iter()) {
            encode_record(&mut self.buf, seq, &request.payload);
        }
        let started = Instant::now();
        if let Err(err) = self.write_and_sync() {
            self.shared.poison();
            tracing::error!(
                error = %err,
                error.source = ?std::error::Error::source(&err),
                records = group.len(),
                first_seq,
                "WAL write failed: the WAL is poisoned and rejects every append until restarted"
            );
            for request in group.drain(..) {
                let _ = request.reply.send(Err(WalError::Poisoned));
            }
            return;
        }
        let stats = GroupStats {
            records: group.len(),
            bytes: self.buf.len(),
            write_and_sync: started.elapsed(),
        };
        self.next_seq = first_seq + group.len() as u64;
        self.current.len += self.buf.len() as u64;
        self.shared
            .last_seq
            .store(self.next_seq - 1, Ordering::Release);

        let mut replies = Vec::with_capacity(group.len());
        let mut healthy = true;
        for (seq, request) in (first_seq..).zip(group.drain(..)) {
            let Request {
                payload,
                item,
                reply,
            } = request;
            drop(payload);
            if healthy {
                let on_commit = &mut self.on_commit;
                if panic::catch_unwind(AssertUnwindSafe(|| on_commit(seq, item))).is_err() {
                    healthy = false;
                    self.shared.poison();
                    tracing::error!(seq, "WAL on_commit panicked: the WAL is poisoned");
                }
            }
            replies.push((
                reply,
                if healthy {
                    Ok(seq)
                } else {
                    Err(WalError::Poisoned)
                },
            ));
        }
        if let Some(on_group) = &self.on_group {
            if panic::catch_unwind(AssertUnwindSafe(|| on_group(&stats))).is_err() {
                tracing::error!("WAL on_group callback panicked");
            }
        }
        // Rotate before answering, so that once append(seq) resolves, a full
        // file holding seq is already closed and remove_through(seq) can delete it.
        if self.current.len > self.max_file_bytes && !self.shared.is_poisoned() {
            if let Err(err) = self.rotate() {
                self.shared.poison();
                tracing::error!(
                    error = %err,
                    error.source = ?std::error::Error::source(&err),
                    "WAL rotation failed: the WAL is poisoned and rejects every append until restarted"
                );
            }
        }
        for (reply, result) in replies {
            // The receiver may be gone (future dropped): nothing to tell.
            let _ = reply.send(result);
        }
    }

    fn write_and_sync(&mut self) -> Result<(), WalError> {
        let path = &self.current.path;
        self.current
            .file
            .write_all(&self.buf)
            .map_err(|e| WalError::io("writing WAL file", path, e))?;
        if self.shared.sync {
            // Never retried: after a failed fsync the page cache may have
            // dropped the dirty pages, so a retry could "succeed" without the
            // data being on disk (fsyncgate).
            self.current
                .file
                .sync_data()
                .map_err(|e| WalError::io("syncing WAL file", path, e))?;
        }
        Ok(())
    }

    /// Starts a new file whose name carries the next seq; the current one
    /// becomes closed.
    fn rotate(&mut self) -> Result<(), WalError> {
        let shared = &self.shared;
        let new = recovery::create_file(&*shared.fs, &shared.dir, self.next_seq, shared.sync)?;
        let old = std::mem::replace(&mut self.current, new);
        let closed = ClosedFile {
            path: old.path,
            first_seq: old.first_seq,
            last_seq: self.next_seq - 1,
        };
        tracing::debug!(
            closed = %closed.path.display(),
            bytes = old.len,
            next_seq = self.next_seq,
            "rotated WAL file"
        );
        shared
            .closed_files
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(closed);
        Ok(())
    }
}
