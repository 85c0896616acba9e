//! [`SegmentStore`]: paths, validation, counters and the backend calls.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::backend::{open_backend, Backend, CacheOptions, LocalBackend};
use crate::cache::{CacheStats, RangeCache};
use crate::error::{Result, StorageError};
use crate::local::write_durably;
use crate::runtime::{block_on, run, run_blocking_io};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's path, relative to the store (starts with the tenant id).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix epoch milliseconds.
    pub last_modified_ms: i64,
}

/// Counters of requests that reached the backend (cache hits are not
/// counted here; see [`CacheStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Whole-object and range reads (one per range).
    pub gets: u64,
    /// Bytes read.
    pub get_bytes: u64,
    /// Writes.
    pub puts: u64,
    /// Bytes written.
    pub put_bytes: u64,
    /// Deletes (including of missing objects).
    pub deletes: u64,
    /// Listings.
    pub lists: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    get_bytes: AtomicU64,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, value: u64) {
        counter.fetch_add(value, Ordering::Relaxed);
    }

    fn snapshot(&self) -> StoreStats {
        StoreStats {
            gets: self.gets.load(Ordering::Relaxed),
            get_bytes: self.get_bytes.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            put_bytes: self.put_bytes.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
            lists: self.lists.load(Ordering::Relaxed),
        }
    }
}

/// The object store of immutable segments. Cheap to clone (an `Arc`).
///
/// Every request runs on the crate's I/O runtime. The async methods may be
/// awaited from any runtime; the `*_blocking` methods are for threads that
/// are not running async code (`spawn_blocking` tasks, plain threads, tests).
#[derive(Clone)]
pub struct SegmentStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    description: String,
    local: Option<LocalBackend>,
    cache: Option<RangeCache>,
    counters: Counters,
}

impl fmt::Debug for SegmentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SegmentStore")
            .field("backend", &self.inner.description)
            .field("cache", &self.inner.cache)
            .finish()
    }
}

impl SegmentStore {
    /// Opens `backend`, with a local range cache in front of
    /// [`SegmentStore::get_range`] when `cache` is given (meant for S3: local
    /// files are served by the OS page cache).
    pub fn open(backend: &Backend, cache: Option<CacheOptions>) -> Result<SegmentStore> {
        let opened = open_backend(backend)?;
        let cache = match cache {
            Some(options) => Some(RangeCache::open(&options)?),
            None => None,
        };
        tracing::info!(backend = %opened.description, cached = cache.is_some(), "opened segment store");
        let inner = Inner {
            store: opened.store,
            description: opened.description,
            local: opened.local,
            cache,
            counters: Counters::default(),
        };
        Ok(SegmentStore {
            inner: Arc::new(inner),
        })
    }

    /// `local:/path`, `memory` or `s3://bucket/prefix (endpoint)`.
    pub fn describe(&self) -> String {
        self.inner.description.clone()
    }

    /// True for the local-disk backend.
    pub fn is_local(&self) -> bool {
        self.inner.local.is_some()
    }

    /// The path of a segment: `{tenant}/{hour_bucket_ns}/{id}.parquet`. It
    /// starts with the tenant id, the tenant's prefix.
    pub fn segment_path(tenant: &str, hour_bucket_ns: i64, id: &str) -> String {
        format!("{tenant}/{hour_bucket_ns}/{id}.parquet")
    }

    /// The tenant of an object path: its first component.
    pub fn tenant_of(path: &str) -> Option<&str> {
        let (tenant, _) = path.split_once('/')?;
        if tenant.is_empty() {
            return None;
        }
        Some(tenant)
    }

    /// Request counters.
    pub fn stats(&self) -> StoreStats {
        self.inner.counters.snapshot()
    }

    /// Range cache counters, if a cache is configured.
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.cache.as_ref().map(RangeCache::stats)
    }

    /// Writes an object, durably before it returns (local: fsync of file and
    /// directories; S3: a PUT is durable when answered). Returns its size.
    pub async fn put(&self, path: &str, data: Bytes) -> Result<u64> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.put(&location, data).await }).await
    }

    /// Blocking [`SegmentStore::put`].
    pub fn put_blocking(&self, path: &str, data: Bytes) -> Result<u64> {
        let (inner, location) = self.prepare(path)?;
        block_on(async move { inner.put(&location, data).await })
    }

    /// Reads a whole object.
    pub async fn get(&self, path: &str) -> Result<Bytes> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.get(&location).await }).await
    }

    /// Blocking [`SegmentStore::get`].
    pub fn get_blocking(&self, path: &str) -> Result<Bytes> {
        let (inner, location) = self.prepare(path)?;
        block_on(async move { inner.get(&location).await })
    }

    /// Reads `range` of an object, through the range cache if one is
    /// configured. A range past the end is an error.
    pub async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.get_range(&location, range).await }).await
    }

    /// Blocking [`SegmentStore::get_range`].
    pub fn get_range_blocking(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        let (inner, location) = self.prepare(path)?;
        block_on(async move { inner.get_range(&location, range).await })
    }

    /// Reads several ranges of one object (concurrently through the cache;
    /// without one, `object_store` coalesces nearby ranges).
    pub async fn get_ranges(&self, path: &str, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.get_ranges(&location, ranges).await }).await
    }

    /// The size of an object.
    pub async fn head(&self, path: &str) -> Result<u64> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.head(&location).await }).await
    }

    /// Blocking [`SegmentStore::head`].
    pub fn head_blocking(&self, path: &str) -> Result<u64> {
        let (inner, location) = self.prepare(path)?;
        block_on(async move { inner.head(&location).await })
    }

    /// Deletes an object and its cached ranges; a missing object is not an
    /// error.
    pub async fn delete(&self, path: &str) -> Result<()> {
        let (inner, location) = self.prepare(path)?;
        run(async move { inner.delete(&location).await }).await
    }

    /// Blocking [`SegmentStore::delete`].
    pub fn delete_blocking(&self, path: &str) -> Result<()> {
        let (inner, location) = self.prepare(path)?;
        block_on(async move { inner.delete(&location).await })
    }

    /// Lists every object under `prefix` recursively, sorted by path.
    /// `prefix` matches whole path components (`"a"` and `"a/"` list `a/…`,
    /// never `ab/…`); `None` lists everything. On the local backend a write
    /// in progress (or a crash's leftover) shows up as a `*.tmp` object.
    pub async fn list(&self, prefix: Option<&str>) -> Result<Vec<ObjectInfo>> {
        let (inner, prefix) = self.prepare_prefix(prefix)?;
        run(async move { inner.list(prefix).await }).await
    }

    /// Blocking [`SegmentStore::list`].
    pub fn list_blocking(&self, prefix: Option<&str>) -> Result<Vec<ObjectInfo>> {
        let (inner, prefix) = self.prepare_prefix(prefix)?;
        block_on(async move { inner.list(prefix).await })
    }

    fn prepare(&self, path: &str) -> Result<(Arc<Inner>, Location)> {
        let object = validate_path(path)?;
        let location = Location {
            path: path.to_string(),
            object,
        };
        Ok((Arc::clone(&self.inner), location))
    }

    fn prepare_prefix(&self, prefix: Option<&str>) -> Result<(Arc<Inner>, Option<ObjectPath>)> {
        let prefix = match prefix {
            None => None,
            // An empty prefix is refused rather than read as "everything":
            // a tenant id that is accidentally empty must not list all tenants.
            Some(text) => Some(validate_path(text.strip_suffix('/').unwrap_or(text))?),
        };
        Ok((Arc::clone(&self.inner), prefix))
    }
}

/// A validated path: ours (for errors and the cache) and the backend's.
struct Location {
    path: String,
    object: ObjectPath,
}

/// Refuses paths that could escape a tenant's prefix or that backends treat
/// differently: empty, leading or trailing `/`, empty, `.` or `..`
/// components, control characters.
pub(crate) fn validate_path(path: &str) -> Result<ObjectPath> {
    let refuse = |reason: &'static str| StorageError::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(refuse("empty path"));
    }
    if path.starts_with('/') {
        return Err(refuse("leading '/'"));
    }
    if path.ends_with('/') {
        return Err(refuse("trailing '/'"));
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err(refuse("empty component"));
        }
        if component == "." || component == ".." {
            return Err(refuse("'.' or '..' component"));
        }
        if component.chars().any(char::is_control) {
            return Err(refuse("control character"));
        }
    }
    ObjectPath::parse(path).map_err(|_| refuse("not a valid object path"))
}

impl Inner {
    async fn put(&self, location: &Location, data: Bytes) -> Result<u64> {
        let size = data.len() as u64;
        let map_err = |error| StorageError::from_object_store(&location.path, error);
        if let Some(local) = &self.local {
            let file = local
                .fs
                .path_to_filesystem(&location.object)
                .map_err(map_err)?;
            let root = local.root.clone();
            run_blocking_io(move || Ok(write_durably(&root, &file, &data)?)).await?;
        } else {
            let payload = PutPayload::from(data);
            self.store
                .put(&location.object, payload)
                .await
                .map_err(map_err)?;
        }
        if let Some(cache) = &self.cache {
            cache.invalidate(&location.path).await;
        }
        Counters::add(&self.counters.puts, 1);
        Counters::add(&self.counters.put_bytes, size);
        Ok(size)
    }

    async fn get(&self, location: &Location) -> Result<Bytes> {
        let map_err = |error| StorageError::from_object_store(&location.path, error);
        let result = self.store.get(&location.object).await.map_err(map_err)?;
        let data = result.bytes().await.map_err(map_err)?;
        Counters::add(&self.counters.gets, 1);
        Counters::add(&self.counters.get_bytes, data.len() as u64);
        Ok(data)
    }

    async fn get_range(&self, location: &Location, range: Range<u64>) -> Result<Bytes> {
        check_range(&location.path, &range)?;
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        if let Some(cache) = &self.cache {
            if let Some(data) = cache.lookup(&location.path, &range).await {
                return Ok(data);
            }
        }
        let data = self.fetch_range(location, range.clone()).await?;
        if let Some(cache) = &self.cache {
            cache.insert(&location.path, &range, data.clone()).await;
        }
        Ok(data)
    }

    async fn fetch_range(&self, location: &Location, range: Range<u64>) -> Result<Bytes> {
        let expected = range.end - range.start;
        let data = self
            .store
            .get_range(&location.object, range)
            .await
            .map_err(|error| StorageError::from_object_store(&location.path, error))?;
        if data.len() as u64 != expected {
            return Err(StorageError::Internal(format!(
                "backend returned {} bytes for a range of {expected} of {}",
                data.len(),
                location.path
            )));
        }
        Counters::add(&self.counters.gets, 1);
        Counters::add(&self.counters.get_bytes, expected);
        Ok(data)
    }

    async fn get_ranges(&self, location: &Location, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        for range in &ranges {
            check_range(&location.path, range)?;
        }
        if self.cache.is_some() {
            let reads = ranges
                .into_iter()
                .map(|range| self.get_range(location, range));
            return futures::future::try_join_all(reads).await;
        }
        let parts = self
            .store
            .get_ranges(&location.object, &ranges)
            .await
            .map_err(|error| StorageError::from_object_store(&location.path, error))?;
        let bytes: u64 = parts.iter().map(|part| part.len() as u64).sum();
        Counters::add(&self.counters.gets, parts.len() as u64);
        Counters::add(&self.counters.get_bytes, bytes);
        Ok(parts)
    }

    async fn head(&self, location: &Location) -> Result<u64> {
        let meta = self
            .store
            .head(&location.object)
            .await
            .map_err(|error| StorageError::from_object_store(&location.path, error))?;
        Ok(meta.size)
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        if let Some(cache) = &self.cache {
            cache.invalidate(&location.path).await;
        }
        Counters::add(&self.counters.deletes, 1);
        match self.store.delete(&location.object).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(StorageError::from_object_store(&location.path, error)),
        }
    }

    async fn list(&self, prefix: Option<ObjectPath>) -> Result<Vec<ObjectInfo>> {
        Counters::add(&self.counters.lists, 1);
        let shown = prefix.as_ref().map(ToString::to_string).unwrap_or_default();
        let metas: Vec<object_store::ObjectMeta> = self
            .store
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|error| StorageError::from_object_store(&shown, error))?;
        let mut objects: Vec<ObjectInfo> = metas
            .into_iter()
            .map(|meta| ObjectInfo {
                path: meta.location.to_string(),
                size: meta.size,
                last_modified_ms: meta.last_modified.timestamp_millis(),
            })
            .collect();
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(objects)
    }
}

fn check_range(path: &str, range: &Range<u64>) -> Result<()> {
    if range.start > range.end {
        return Err(StorageError::InvalidRange {
            path: path.to_string(),
            start: range.start,
            end: range.end,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_paths_start_with_the_tenant() {
        let path = SegmentStore::segment_path("acme", 3_600_000_000_000, "01J");
        assert_eq!(path, "acme/3600000000000/01J.parquet");
        assert_eq!(SegmentStore::tenant_of(&path), Some("acme"));
        assert_eq!(SegmentStore::tenant_of("acme"), None);
        assert_eq!(SegmentStore::tenant_of("/x"), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in ["", "/a/b", "a/b/", "a//b", "a/../b", "..", "./a", "a/\nb"] {
            let error = validate_path(path).unwrap_err();
            assert!(
                matches!(error, StorageError::InvalidPath { .. }),
                "{path:?}: {error}"
            );
        }
        assert!(validate_path("t/0/x.parquet").is_ok());
    }

    #[test]
    fn memory_round_trip_and_counters() {
        let store = SegmentStore::open(&Backend::Memory, None).unwrap();
        assert_eq!(store.describe(), "memory");
        assert!(!store.is_local());
        store
            .put_blocking("t/0/a", Bytes::from_static(b"hello"))
            .unwrap();
        assert_eq!(store.get_range_blocking("t/0/a", 1..3).unwrap(), "el");
        assert_eq!(store.get_range_blocking("t/0/a", 2..2).unwrap(), "");
        let reversed = Range { start: 3, end: 2 };
        let error = store.get_range_blocking("t/0/a", reversed).unwrap_err();
        assert!(
            matches!(error, StorageError::InvalidRange { .. }),
            "{error}"
        );
        let error = store.list_blocking(Some("")).unwrap_err();
        assert!(matches!(error, StorageError::InvalidPath { .. }), "{error}");
        let stats = store.stats();
        assert_eq!(
            (stats.puts, stats.put_bytes, stats.gets, stats.get_bytes),
            (1, 5, 1, 2)
        );
    }

    #[test]
    fn async_methods_work_from_a_foreign_runtime() {
        let store = SegmentStore::open(&Backend::Memory, None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            store.put("t/0/a", Bytes::from_static(b"x")).await.unwrap();
            assert_eq!(store.get("t/0/a").await.unwrap(), "x");
            assert_eq!(store.head("t/0/a").await.unwrap(), 1);
            store.delete("t/0/a").await.unwrap();
            assert!(store.get("t/0/a").await.unwrap_err().is_not_found());
        });
    }
}
