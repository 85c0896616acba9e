//! The process-wide I/O runtime: every request to a backend runs here.
//!
//! Why one runtime of our own: `object_store`'s S3 client keeps a connection
//! pool whose sockets are bound to the runtime that created them. Callers come
//! from several runtimes (the server's, DataFusion's) and from plain threads
//! (`spawn_blocking` tasks, tests); routing every request through one runtime
//! keeps the pool valid and lets blocking callers wait without needing a
//! runtime of their own. The runtime is never dropped, so it can never be
//! dropped from inside an async context.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::{Result, StorageError};

/// Built on first use; an error to build it is kept and reported to every
/// caller (it only happens when threads cannot be spawned).
static IO: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn build_runtime() -> std::result::Result<Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("strata-io")
        .enable_all()
        .build()
        .map_err(|error| error.to_string())
}

/// The I/O runtime.
pub(crate) fn io_runtime() -> Result<&'static Runtime> {
    match IO.get_or_init(build_runtime) {
        Ok(runtime) => Ok(runtime),
        Err(message) => Err(StorageError::Internal(format!(
            "cannot start the storage i/o runtime: {message}"
        ))),
    }
}

/// Spawns `future` on the I/O runtime.
pub(crate) fn spawn<F, T>(future: F) -> Result<JoinHandle<Result<T>>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Ok(io_runtime()?.spawn(future))
}

/// Runs `future` on the I/O runtime and awaits it from any runtime.
///
/// If the caller's future is dropped, the spawned one still runs to the end
/// (a put started is a put finished).
pub(crate) async fn run<F, T>(future: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    spawn(future)?.await?
}

/// Runs `future` on the I/O runtime and blocks the calling thread until it
/// is done. Never panics, whichever thread calls it; but calling it from an
/// async task blocks that task's worker thread, so async code should use the
/// async methods instead.
pub(crate) fn block_on<F, T>(future: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = spawn(future)?;
    futures::executor::block_on(handle)?
}

/// Runs blocking file I/O on the I/O runtime's blocking pool.
pub(crate) async fn run_blocking_io<F, T>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    io_runtime()?.spawn_blocking(work).await?
}
