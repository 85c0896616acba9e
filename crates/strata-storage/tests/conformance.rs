//! Every backend passes the same suite: local, memory, local with the range
//! cache, and S3 (with and without the cache) against a real S3-compatible
//! server started by `scripts/s3-server.sh start`.
//!
//! The S3 tests read `S3_TEST_ENDPOINT` (e.g. `http://127.0.0.1:9900`),
//! `S3_TEST_BUCKET` (default `strata-test`), `S3_TEST_ACCESS_KEY` and
//! `S3_TEST_SECRET_KEY` (defaults match the script). Without an endpoint they
//! are skipped, unless `S3_TEST_REQUIRED=1`, which makes them fail.

use strata_storage::{conformance, Backend, CacheOptions, S3Options, SegmentStore};

const CACHE_BYTES: u64 = 64 * 1024 * 1024;

fn cache_in(dir: &tempfile::TempDir) -> CacheOptions {
    CacheOptions {
        dir: dir.path().join("cache"),
        max_bytes: CACHE_BYTES,
    }
}

#[test]
fn local() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("segments");
    let store = SegmentStore::open(&Backend::Local { root: root.clone() }, None).unwrap();
    assert!(store.is_local());
    assert_eq!(store.describe(), format!("local:{}", root.display()));
    conformance::run_all(&store);
    assert!(store.cache_stats().is_none());
}

#[test]
fn memory() {
    let store = SegmentStore::open(&Backend::Memory, None).unwrap();
    conformance::run_all(&store);
}

#[test]
fn local_with_cache() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::Local {
        root: dir.path().join("segments"),
    };
    let store = SegmentStore::open(&backend, Some(cache_in(&dir))).unwrap();
    conformance::run_all(&store);
    let stats = store.cache_stats().unwrap();
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
}

/// The S3 test server's options, or `None` (after printing why) when the
/// test should be skipped.
fn s3_options(test: &str) -> Option<S3Options> {
    let endpoint = std::env::var("S3_TEST_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty());
    let Some(endpoint) = endpoint else {
        let required = std::env::var("S3_TEST_REQUIRED").is_ok_and(|value| value == "1");
        assert!(
            !required,
            "S3 server not configured: S3_TEST_REQUIRED=1 but S3_TEST_ENDPOINT is unset \
             (run scripts/s3-server.sh start)"
        );
        println!("{test}: skipped, S3_TEST_ENDPOINT is unset (see scripts/s3-server.sh)");
        return None;
    };
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    Some(S3Options {
        endpoint: Some(endpoint),
        bucket: var("S3_TEST_BUCKET", "strata-test"),
        prefix: "conformance".to_string(),
        region: "us-east-1".to_string(),
        access_key_id: Some(var("S3_TEST_ACCESS_KEY", "strata")),
        secret_access_key: Some(var("S3_TEST_SECRET_KEY", "strata-secret")),
        path_style: true,
        allow_http: true,
    })
}

#[test]
fn s3() {
    let Some(options) = s3_options("s3") else {
        return;
    };
    let store = SegmentStore::open(&Backend::S3(options), None).unwrap();
    assert!(!store.is_local());
    assert!(
        store.describe().starts_with("s3://"),
        "{}",
        store.describe()
    );
    conformance::run_all(&store);
}

#[test]
fn s3_with_cache() {
    let Some(options) = s3_options("s3_with_cache") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = SegmentStore::open(&Backend::S3(options), Some(cache_in(&dir))).unwrap();
    conformance::run_all(&store);
    let stats = store.cache_stats().unwrap();
    assert!(stats.hits > 0 && stats.misses > 0, "{stats:?}");
}

/// `ListObjectsV2` answers at most 1,000 keys per page: a listing past that
/// must follow continuation tokens. Only for S3; local and memory have no
/// pages.
#[test]
fn s3_list_follows_pages() {
    let Some(mut options) = s3_options("s3_list_follows_pages") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    options.prefix = format!("paging-{nanos:x}");
    let store = SegmentStore::open(&Backend::S3(options), None).unwrap();
    const OBJECTS: usize = 1_050;
    const THREADS: usize = 16;
    let put_share = |thread: usize| {
        for index in (thread..OBJECTS).step_by(THREADS) {
            let path = SegmentStore::segment_path("t", 0, &format!("{index:05}"));
            store
                .put_blocking(&path, bytes::Bytes::from_static(b"x"))
                .unwrap();
        }
    };
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || put_share(thread));
        }
    });
    let listed = store.list_blocking(Some("t")).unwrap();
    let result = listed.len();
    for object in &listed {
        store.delete_blocking(&object.path).unwrap();
    }
    assert_eq!(result, OBJECTS);
    assert!(store.list_blocking(None).unwrap().is_empty());
}
