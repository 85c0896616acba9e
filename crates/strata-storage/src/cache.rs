//! A local disk cache of segment byte ranges, bounded in bytes, evicting the
//! least recently used range.
//!
//! Layout: one file per cached range directly under `CacheOptions::dir`,
//! named `<sha256(path, start, end) truncated to 128 bits, hex>-<n>.bin`,
//! where `n` is a process-wide sequence number: a range cached again after
//! an eviction gets a new file, so an eviction never deletes a file that a
//! later insert of the same range wrote. Files are written as `<name>.tmp`
//! and renamed into place. The index (key → file, size, recency) lives in
//! memory only, so the directory's cache files are deleted at open: after a
//! crash there is no state to trust.
//!
//! Correctness rests on segments being immutable: a cached range never goes
//! stale. `put` and `delete` of a path drop its entries anyway (so tests that
//! overwrite an object stay correct); a read that races a put of the same
//! path may cache either version.
//!
//! Concurrency: file I/O happens outside the index lock. Two misses of the
//! same range both fetch and both write their own file; the second insert
//! finds the first and deletes its own file. A hit whose file was evicted
//! meanwhile (or is shorter than expected) is treated as a miss.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::backend::CacheOptions;
use crate::error::{Result, StorageError};
use crate::runtime::run_blocking_io;

/// Process-wide, so two caches never name a file alike.
static FILE_SEQ: AtomicU64 = AtomicU64::new(0);

const CACHE_FILE_SUFFIX: &str = ".bin";
const CACHE_TMP_SUFFIX: &str = ".tmp";

/// Counters of a [`crate::SegmentStore`]'s range cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Ranges served from the cache.
    pub hits: u64,
    /// Ranges fetched from the backend.
    pub misses: u64,
    /// Bytes served from the cache.
    pub hit_bytes: u64,
    /// Bytes fetched from the backend through the cache.
    pub miss_bytes: u64,
    /// Ranges evicted to stay under the size bound.
    pub evictions: u64,
    /// Ranges cached now.
    pub entries: u64,
    /// Bytes cached now.
    pub bytes: u64,
}

/// `(path, start, end)`; ordered by path first so a path's entries are one
/// `BTreeMap` range.
type Key = (String, u64, u64);

#[derive(Debug)]
struct Entry {
    file: PathBuf,
    size: u64,
    tick: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: BTreeMap<Key, Entry>,
    /// tick → key, oldest first.
    recency: BTreeMap<u64, Key>,
    next_tick: u64,
    bytes: u64,
    hits: u64,
    misses: u64,
    hit_bytes: u64,
    miss_bytes: u64,
    evictions: u64,
}

impl Index {
    fn touch(&mut self, key: &Key) -> Option<(PathBuf, u64)> {
        let tick = self.next_tick;
        let entry = self.entries.get_mut(key)?;
        self.recency.remove(&entry.tick);
        entry.tick = tick;
        self.recency.insert(tick, key.clone());
        self.next_tick += 1;
        Some((entry.file.clone(), entry.size))
    }

    fn remove(&mut self, key: &Key) -> Option<PathBuf> {
        let entry = self.entries.remove(key)?;
        self.recency.remove(&entry.tick);
        self.bytes -= entry.size;
        Some(entry.file)
    }

    /// Evicts least recently used entries until `incoming` more bytes fit.
    fn evict_for(&mut self, incoming: u64, max_bytes: u64, doomed: &mut Vec<PathBuf>) {
        while self.bytes + incoming > max_bytes {
            let Some((_, key)) = self.recency.pop_first() else {
                return;
            };
            if let Some(entry) = self.entries.remove(&key) {
                self.bytes -= entry.size;
                self.evictions += 1;
                doomed.push(entry.file);
            }
        }
    }
}

/// The range cache. Cheap to share behind the store's `Arc`.
#[derive(Debug)]
pub(crate) struct RangeCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

impl RangeCache {
    /// Opens the cache, deleting the cache files a previous run left.
    pub(crate) fn open(options: &CacheOptions) -> Result<RangeCache> {
        fs::create_dir_all(&options.dir).map_err(|error| {
            StorageError::Config(format!(
                "cannot create cache dir {}: {error}",
                options.dir.display()
            ))
        })?;
        let removed = clear_cache_files(&options.dir)?;
        if removed > 0 {
            tracing::info!(dir = %options.dir.display(), removed, "cleared range cache");
        }
        Ok(RangeCache {
            dir: options.dir.clone(),
            max_bytes: options.max_bytes,
            index: Mutex::new(Index::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // The index is consistent after every statement that a panic could
        // interrupt, so a poisoned lock is still usable.
        self.index
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the cached range, counting a hit, or `None` (not counted: the
    /// caller fetches and calls [`RangeCache::insert`], which counts the miss).
    pub(crate) async fn lookup(&self, path: &str, range: &Range<u64>) -> Option<Bytes> {
        let key: Key = (path.to_string(), range.start, range.end);
        let (file, size) = self.lock().touch(&key)?;
        let to_read = file.clone();
        let read = run_blocking_io(move || Ok(fs::read(&to_read)?)).await;
        match read {
            Ok(data) if data.len() as u64 == size => {
                let mut index = self.lock();
                index.hits += 1;
                index.hit_bytes += size;
                Some(Bytes::from(data))
            }
            _ => {
                // Evicted or replaced meanwhile, or a damaged file: drop the
                // entry (if it is still the one we read) and fetch again.
                let doomed = {
                    let mut index = self.lock();
                    let same = index.entries.get(&key).map(|entry| entry.file == file);
                    if same == Some(true) {
                        index.remove(&key)
                    } else {
                        None
                    }
                };
                remove_files(doomed.into_iter().collect()).await;
                None
            }
        }
    }

    /// Stores a range fetched after a miss. Failures to write are logged and
    /// ignored: the cache is an optimisation, the bytes are already fetched.
    pub(crate) async fn insert(&self, path: &str, range: &Range<u64>, data: Bytes) {
        let size = data.len() as u64;
        {
            let mut index = self.lock();
            index.misses += 1;
            index.miss_bytes += size;
        }
        if size == 0 || size > self.max_bytes {
            return;
        }
        let key: Key = (path.to_string(), range.start, range.end);
        let file = self.file_for(&key);
        let target = file.clone();
        let written = run_blocking_io(move || write_cache_file(&target, &data)).await;
        if let Err(error) = written {
            tracing::warn!(%error, path, "cannot write range cache file");
            return;
        }
        let mut doomed = Vec::new();
        {
            let mut index = self.lock();
            if index.entries.contains_key(&key) {
                // A concurrent miss of the same range won.
                doomed.push(file);
            } else {
                index.evict_for(size, self.max_bytes, &mut doomed);
                let tick = index.next_tick;
                index.next_tick += 1;
                index.recency.insert(tick, key.clone());
                index.entries.insert(key, Entry { file, size, tick });
                index.bytes += size;
            }
        }
        remove_files(doomed).await;
    }

    /// Drops every cached range of `path`.
    pub(crate) async fn invalidate(&self, path: &str) {
        let doomed = {
            let mut index = self.lock();
            let first: Key = (path.to_string(), 0, 0);
            let last: Key = (path.to_string(), u64::MAX, u64::MAX);
            let keys: Vec<Key> = index
                .entries
                .range(first..=last)
                .map(|(key, _)| key.clone())
                .collect();
            let mut doomed = Vec::with_capacity(keys.len());
            for key in &keys {
                doomed.extend(index.remove(key));
            }
            doomed
        };
        remove_files(doomed).await;
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let index = self.lock();
        CacheStats {
            hits: index.hits,
            misses: index.misses,
            hit_bytes: index.hit_bytes,
            miss_bytes: index.miss_bytes,
            evictions: index.evictions,
            entries: index.entries.len() as u64,
            bytes: index.bytes,
        }
    }

    fn file_for(&self, key: &Key) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(key.0.as_bytes());
        hasher.update([0u8]);
        hasher.update(key.1.to_le_bytes());
        hasher.update(key.2.to_le_bytes());
        let digest = hasher.finalize();
        let short = &digest[..16];
        let seq = FILE_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{seq}{CACHE_FILE_SUFFIX}", hex::encode(short));
        self.dir.join(name)
    }
}

fn write_cache_file(file: &Path, data: &[u8]) -> Result<()> {
    let mut tmp_name = file.as_os_str().to_owned();
    tmp_name.push(CACHE_TMP_SUFFIX);
    let tmp = PathBuf::from(tmp_name);
    // No fsync: the cache is cleared at open, so it never outlives a crash.
    let written = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, file));
    if let Err(error) = written {
        let _ = fs::remove_file(&tmp);
        return Err(error.into());
    }
    Ok(())
}

async fn remove_files(files: Vec<PathBuf>) {
    if files.is_empty() {
        return;
    }
    let removed = run_blocking_io(move || {
        for file in files {
            if let Err(error) = fs::remove_file(&file) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(%error, file = %file.display(), "cannot remove range cache file");
                }
            }
        }
        Ok(())
    })
    .await;
    if let Err(error) = removed {
        tracing::warn!(%error, "cannot remove range cache files");
    }
}

/// Deletes the cache's own files (`*.bin`, `*.tmp`) in `dir`; other files
/// are left alone so a misconfigured `dir` cannot wipe unrelated data.
fn clear_cache_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.ends_with(CACHE_FILE_SUFFIX) || name.ends_with(CACHE_TMP_SUFFIX);
        if ours && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::block_on;
    use std::sync::Arc;

    fn cache(dir: &Path, max_bytes: u64) -> Arc<RangeCache> {
        let options = CacheOptions {
            dir: dir.to_path_buf(),
            max_bytes,
        };
        Arc::new(RangeCache::open(&options).unwrap())
    }

    fn files_in(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn hit_after_insert_and_lru_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), 10);
        let c = Arc::clone(&cache);
        block_on(async move {
            assert!(c.lookup("t/a", &(0..4)).await.is_none());
            c.insert("t/a", &(0..4), Bytes::from_static(b"abcd")).await;
            c.insert("t/b", &(0..4), Bytes::from_static(b"efgh")).await;
            // Touch a, so b is the least recently used.
            assert_eq!(c.lookup("t/a", &(0..4)).await.unwrap(), "abcd");
            c.insert("t/c", &(0..4), Bytes::from_static(b"ijkl")).await;
            assert!(c.lookup("t/b", &(0..4)).await.is_none());
            assert_eq!(c.lookup("t/c", &(0..4)).await.unwrap(), "ijkl");
            Ok(())
        })
        .unwrap();
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.evictions), (2, 3, 1));
        assert_eq!((stats.entries, stats.bytes), (2, 8));
        assert_eq!(files_in(dir.path()), 2);
    }

    #[test]
    fn invalidate_drops_only_that_path_and_open_clears_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("keep.txt"), b"not ours").unwrap();
        fs::write(dir.path().join("stale-1.bin"), b"old").unwrap();
        let cache = cache(dir.path(), 100);
        assert_eq!(files_in(dir.path()), 1);
        let c = Arc::clone(&cache);
        block_on(async move {
            c.insert("t/a", &(0..2), Bytes::from_static(b"ab")).await;
            c.insert("t/a", &(2..4), Bytes::from_static(b"cd")).await;
            c.insert("t/ab", &(0..2), Bytes::from_static(b"xy")).await;
            c.invalidate("t/a").await;
            assert!(c.lookup("t/a", &(0..2)).await.is_none());
            assert_eq!(c.lookup("t/ab", &(0..2)).await.unwrap(), "xy");
            Ok(())
        })
        .unwrap();
        assert_eq!(cache.stats().entries, 1);
        assert_eq!(files_in(dir.path()), 2);
    }

    #[test]
    fn a_vanished_file_is_a_miss_and_oversized_ranges_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache(dir.path(), 4);
        let c = Arc::clone(&cache);
        let path = dir.path().to_path_buf();
        block_on(async move {
            c.insert("t/a", &(0..3), Bytes::from_static(b"abc")).await;
            for entry in fs::read_dir(&path)? {
                fs::remove_file(entry?.path())?;
            }
            assert!(c.lookup("t/a", &(0..3)).await.is_none());
            c.insert("t/big", &(0..5), Bytes::from_static(b"abcde"))
                .await;
            Ok(())
        })
        .unwrap();
        assert_eq!((cache.stats().entries, cache.stats().bytes), (0, 0));
    }
}
