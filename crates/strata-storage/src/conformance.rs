//! The conformance suite every backend must pass (local, memory, S3, with
//! and without the range cache). [`run_all`] panics with the failing step,
//! like a test helper.
//!
//! Each run uses tenants with a fresh random id (`c<hex>-a`, `c<hex>-ab`,
//! `c<hex>-n`), so runs against a shared bucket never collide, and deletes
//! its objects at the end, also when a step fails.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::thread;

use arrow_array::{Array, Int64Array, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::ProjectionMask;

use crate::error::{Result, StorageError};
use crate::parquet::sample_parquet;
use crate::store::SegmentStore;

const CONCURRENT_THREADS: usize = 32;
const LARGE_OBJECT_BYTES: usize = 5 * 1024 * 1024;

/// Runs every check against `store`. Blocking; panics on the first failure.
pub fn run_all(store: &SegmentStore) {
    let run = Run::new(store);
    round_trip(&run);
    ranges(&run);
    overwrite(&run);
    tenant_isolation(&run);
    delete(&run);
    invalid_paths(&run);
    large_object(&run);
    concurrent(&run);
    parquet_reader(&run);
    run.cleanup();
}

/// One run's tenants; cleans up when dropped (after a panic too).
struct Run<'a> {
    store: &'a SegmentStore,
    /// `c<hex>-a`.
    a: String,
    /// `c<hex>-ab`: shares `a`'s string prefix, not its path prefix.
    ab: String,
    /// `c<hex>-n`: concurrency and large objects.
    n: String,
}

impl<'a> Run<'a> {
    fn new(store: &'a SegmentStore) -> Run<'a> {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(now_nanos());
        hasher.write_u32(std::process::id());
        let id = format!("c{:016x}", hasher.finish());
        Run {
            store,
            a: format!("{id}-a"),
            ab: format!("{id}-ab"),
            n: format!("{id}-n"),
        }
    }

    fn tenants(&self) -> [&str; 3] {
        [&self.a, &self.ab, &self.n]
    }

    fn cleanup(&self) {
        for tenant in self.tenants() {
            let Ok(objects) = self.store.list_blocking(Some(tenant)) else {
                continue;
            };
            for object in objects {
                let _ = self.store.delete_blocking(&object.path);
            }
        }
    }

    fn ok<T>(&self, step: &str, result: Result<T>) -> T {
        match result {
            Ok(value) => value,
            Err(error) => panic!("conformance [{}] {step}: {error}", self.store.describe()),
        }
    }

    fn check(&self, step: &str, condition: bool, detail: String) {
        assert!(
            condition,
            "conformance [{}] {step}: {detail}",
            self.store.describe()
        );
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.cleanup();
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
}

/// Deterministic, incompressible-looking bytes (xorshift).
fn pattern(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    Bytes::from(data)
}

fn round_trip(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.a, 0, "round-trip");
    let data = pattern(1000, 1);
    let size = run.ok("put", run.store.put_blocking(&path, data.clone()));
    run.check("put size", size == 1000, format!("{size}"));
    let read = run.ok("get", run.store.get_blocking(&path));
    run.check("get", read == data, format!("{} bytes differ", read.len()));
    let head = run.ok("head", run.store.head_blocking(&path));
    run.check("head size", head == 1000, format!("{head}"));
    let empty = SegmentStore::segment_path(&run.a, 0, "empty");
    run.ok("put empty", run.store.put_blocking(&empty, Bytes::new()));
    let read = run.ok("get empty", run.store.get_blocking(&empty));
    run.check(
        "get empty",
        read.is_empty(),
        format!("{} bytes", read.len()),
    );
}

fn ranges(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.a, 0, "ranges");
    let data = pattern(4096, 2);
    run.ok("put", run.store.put_blocking(&path, data.clone()));
    let wanted = [0..1, 0..4096, 100..200, 4000..4096, 4095..4096, 17..17];
    for range in wanted {
        let read = run.ok(
            "get_range",
            run.store.get_range_blocking(&path, range.clone()),
        );
        let expected = data.slice(range.start as usize..range.end as usize);
        run.check("get_range", read == expected, format!("range {range:?}"));
    }
    // Twice: the second read may come from the cache.
    let again = run.ok(
        "get_range again",
        run.store.get_range_blocking(&path, 4095..4096),
    );
    run.check(
        "get_range again",
        again == data.slice(4095..),
        String::new(),
    );
    let past_end = run.store.get_range_blocking(&path, 4000..5000);
    run.check(
        "range past the end is refused",
        past_end.is_err(),
        format!("{past_end:?}"),
    );
}

fn overwrite(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.a, 0, "overwrite");
    run.ok("put first", run.store.put_blocking(&path, pattern(300, 3)));
    let first = run.ok(
        "range of first",
        run.store.get_range_blocking(&path, 0..100),
    );
    let second = pattern(200, 4);
    run.ok("put second", run.store.put_blocking(&path, second.clone()));
    let read = run.ok("get", run.store.get_blocking(&path));
    run.check(
        "last writer wins",
        read == second,
        format!("{} bytes", read.len()),
    );
    let range = run.ok(
        "range of second",
        run.store.get_range_blocking(&path, 0..100),
    );
    run.check(
        "no stale range",
        range == second.slice(0..100) && range != first,
        String::new(),
    );
    let head = run.ok("head", run.store.head_blocking(&path));
    run.check("head after overwrite", head == 200, format!("{head}"));
}

fn tenant_isolation(run: &Run<'_>) {
    let a1 = SegmentStore::segment_path(&run.a, 1, "x");
    let a2 = SegmentStore::segment_path(&run.a, 2, "y");
    let ab = SegmentStore::segment_path(&run.ab, 1, "z");
    for (path, len) in [(&a1, 10), (&a2, 20), (&ab, 30)] {
        run.ok("put", run.store.put_blocking(path, pattern(len, 5)));
    }
    let listed = run.ok(
        "list a/",
        run.store.list_blocking(Some(&format!("{}/", run.a))),
    );
    let paths: Vec<&str> = listed.iter().map(|object| object.path.as_str()).collect();
    let only_a = paths
        .iter()
        .all(|path| SegmentStore::tenant_of(path) == Some(run.a.as_str()));
    run.check("list a/ holds only a", only_a, format!("{paths:?}"));
    for wanted in [&a1, &a2] {
        run.check(
            "list a/ finds",
            paths.contains(&wanted.as_str()),
            format!("{wanted} in {paths:?}"),
        );
    }
    let listed_ab = run.ok("list ab", run.store.list_blocking(Some(&run.ab)));
    let ab_paths: Vec<&str> = listed_ab
        .iter()
        .map(|object| object.path.as_str())
        .collect();
    run.check(
        "list ab",
        ab_paths == [ab.as_str()],
        format!("{ab_paths:?}"),
    );
    let sizes = listed_ab
        .first()
        .map(|object| (object.size, object.last_modified_ms));
    let valid = matches!(sizes, Some((30, modified)) if modified > 0);
    run.check("list size and time", valid, format!("{sizes:?}"));
    let nested = run.ok(
        "list a/1",
        run.store.list_blocking(Some(&format!("{}/1", run.a))),
    );
    let nested: Vec<&str> = nested.iter().map(|object| object.path.as_str()).collect();
    run.check("list a/1", nested == [a1.as_str()], format!("{nested:?}"));
}

fn delete(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.a, 3, "deleted");
    run.ok("put", run.store.put_blocking(&path, pattern(64, 6)));
    run.ok("warm range", run.store.get_range_blocking(&path, 0..10));
    run.ok("delete", run.store.delete_blocking(&path));
    let get = run.store.get_blocking(&path);
    let not_found = matches!(get, Err(StorageError::NotFound { .. }));
    run.check("get after delete", not_found, format!("{get:?}"));
    let range = run.store.get_range_blocking(&path, 0..10);
    let not_found = matches!(range, Err(StorageError::NotFound { .. }));
    run.check("get_range after delete", not_found, format!("{range:?}"));
    let head = run.store.head_blocking(&path);
    let not_found = matches!(head, Err(StorageError::NotFound { .. }));
    run.check("head after delete", not_found, format!("{head:?}"));
    run.ok("delete missing", run.store.delete_blocking(&path));
    let listed = run.ok("list", run.store.list_blocking(Some(&run.a)));
    let gone = listed.iter().all(|object| object.path != path);
    run.check("list after delete", gone, format!("{path} still listed"));
}

fn invalid_paths(run: &Run<'_>) {
    let inside = format!("{}/../{}/x", run.a, run.ab);
    let bad = ["", "/abs/x", "a//b", "a/b/", "..", "./x", inside.as_str()];
    for path in bad {
        let refused = |result: Result<()>| matches!(result, Err(StorageError::InvalidPath { .. }));
        let store = run.store;
        let results = [
            store.put_blocking(path, Bytes::from_static(b"x")).map(drop),
            store.get_blocking(path).map(drop),
            store.get_range_blocking(path, 0..1).map(drop),
            store.head_blocking(path).map(drop),
            store.delete_blocking(path),
        ];
        for (index, result) in results.into_iter().enumerate() {
            let detail = format!("{path:?}, method {index}: {result:?}");
            run.check("invalid path refused", refused(result), detail);
        }
    }
    for prefix in ["", "/", "/a", "a/../b"] {
        let listed = run.store.list_blocking(Some(prefix));
        let refused = matches!(listed, Err(StorageError::InvalidPath { .. }));
        run.check(
            "invalid list prefix refused",
            refused,
            format!("{prefix:?}: {listed:?}"),
        );
    }
}

fn large_object(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.n, 0, "large");
    let data = pattern(LARGE_OBJECT_BYTES, 7);
    let size = run.ok("put 5 MiB", run.store.put_blocking(&path, data.clone()));
    run.check(
        "put 5 MiB size",
        size == LARGE_OBJECT_BYTES as u64,
        format!("{size}"),
    );
    let read = run.ok("get 5 MiB", run.store.get_blocking(&path));
    run.check("get 5 MiB", read == data, format!("{} bytes", read.len()));
    let middle = 2_500_000..3_700_000u64;
    let range = run.ok(
        "range of 5 MiB",
        run.store.get_range_blocking(&path, middle.clone()),
    );
    let expected = data.slice(middle.start as usize..middle.end as usize);
    run.check("range of 5 MiB", range == expected, String::new());
}

fn concurrent(run: &Run<'_>) {
    let shared = SegmentStore::segment_path(&run.n, 1, "shared");
    let contents: Vec<Bytes> = (0..CONCURRENT_THREADS)
        .map(|index| pattern(10_000 + index * 17, 100 + index as u64))
        .collect();
    let shared_path = shared.as_str();
    let failures: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = contents
            .iter()
            .enumerate()
            .map(|(index, data)| scope.spawn(move || one_worker(run, index, data, shared_path)))
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| match worker.join() {
                Ok(Ok(())) => None,
                Ok(Err(message)) => Some(message),
                Err(_) => Some("worker panicked".to_string()),
            })
            .collect()
    });
    run.check(
        "concurrent workers",
        failures.is_empty(),
        format!("{failures:?}"),
    );
    let last = run.ok("get shared", run.store.get_blocking(&shared));
    let whole = contents.contains(&last);
    run.check(
        "shared object is one whole write",
        whole,
        format!("{} bytes", last.len()),
    );
}

fn one_worker(run: &Run<'_>, index: usize, data: &Bytes, shared: &str) -> Result<(), String> {
    let path = SegmentStore::segment_path(&run.n, 1, &format!("worker-{index}"));
    let store = run.store;
    let fail = |step: &str, error: StorageError| format!("worker {index} {step}: {error}");
    store
        .put_blocking(&path, data.clone())
        .map_err(|e| fail("put", e))?;
    store
        .put_blocking(shared, data.clone())
        .map_err(|e| fail("put shared", e))?;
    let read = store.get_blocking(&path).map_err(|e| fail("get", e))?;
    if read != *data {
        return Err(format!("worker {index}: get returned other bytes"));
    }
    let range = store
        .get_range_blocking(&path, 10..5000)
        .map_err(|e| fail("range", e))?;
    if range != data.slice(10..5000) {
        return Err(format!("worker {index}: get_range returned other bytes"));
    }
    let size = store.head_blocking(&path).map_err(|e| fail("head", e))?;
    if size != data.len() as u64 {
        return Err(format!("worker {index}: head {size} != {}", data.len()));
    }
    Ok(())
}

fn parquet_reader(run: &Run<'_>) {
    let path = SegmentStore::segment_path(&run.a, 3_600_000_000_000, "segment");
    let size = run.ok(
        "put parquet",
        run.store.put_blocking(&path, sample_parquet(1000)),
    );
    let head = run.ok("head parquet", run.store.head_blocking(&path));
    run.check("parquet size", head == size, format!("{head} != {size}"));
    check_parquet_read(run.store, &path, size);
    let before = run.store.cache_stats();
    check_parquet_read(run.store, &path, size);
    if let (Some(before), Some(after)) = (before, run.store.cache_stats()) {
        let all_hits = after.misses == before.misses && after.hits > before.hits;
        run.check(
            "second parquet read is all hits",
            all_hits,
            format!("{before:?} -> {after:?}"),
        );
    }
}

/// Reads the footer and a projected, row-selected scan of a
/// [`sample_parquet`] object and checks the values. Panics on a mismatch.
pub(crate) fn check_parquet_read(store: &SegmentStore, path: &str, size: u64) {
    let where_ = store.describe();
    let metadata = store
        .read_metadata_blocking(path, size)
        .unwrap_or_else(|error| panic!("conformance [{where_}] parquet footer: {error}"));
    let rows = metadata.metadata().file_metadata().num_rows();
    assert_eq!(rows, 1000, "conformance [{where_}] parquet rows");
    // Columns id and value; rows 150..160 and 990..1000.
    let projection = ProjectionMask::roots(metadata.parquet_schema(), [0, 2]);
    let selection = RowSelection::from(vec![
        RowSelector::skip(150),
        RowSelector::select(10),
        RowSelector::skip(830),
        RowSelector::select(10),
    ]);
    let batches = store
        .read_batches_blocking(path, size, &metadata, Some(projection), Some(selection), 7)
        .unwrap_or_else(|error| panic!("conformance [{where_}] parquet scan: {error}"));
    let mut ids = Vec::new();
    for batch in batches {
        let batch = batch.unwrap_or_else(|error| panic!("conformance [{where_}] batch: {error}"));
        collect_ids(&where_, &batch, &mut ids);
    }
    let expected: Vec<i64> = (150..160).chain(990..1000).collect();
    assert_eq!(ids, expected, "conformance [{where_}] parquet selected ids");
}

fn collect_ids(where_: &str, batch: &RecordBatch, ids: &mut Vec<i64>) {
    assert_eq!(
        batch.num_columns(),
        2,
        "conformance [{where_}] projected columns"
    );
    let int_column = |index: usize| {
        batch
            .column(index)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap_or_else(|| panic!("conformance [{where_}] column {index} is not Int64"))
            .clone()
    };
    let id = int_column(0);
    let value = int_column(1);
    for row in 0..id.len() {
        assert_eq!(
            value.value(row),
            id.value(row) * 10,
            "conformance [{where_}] value column"
        );
        ids.push(id.value(row));
    }
}
