//! The conformance suite every [`Metastore`] implementation must pass. Call
//! [`run_all`] on a fresh, empty store.

use crate::{KeyKind, KeyRing, Metastore, MetastoreError, Quota, SegmentRecord, Stream};

fn segment(tenant: &str, id: &str, min: i64, max: i64) -> SegmentRecord {
    SegmentRecord {
        id: id.to_string(),
        tenant: tenant.to_string(),
        path: format!("{tenant}/0/{id}.parquet"),
        hour_bucket_ns: 0,
        min_ts_ns: min,
        max_ts_ns: max,
        rows: 10,
        size_bytes: 100,
    }
}

/// Runs every check. Panics on the first failure (it is a test helper).
pub async fn run_all(store: &dyn Metastore) {
    tenants(store).await;
    keys(store).await;
    segments_and_checkpoints(store).await;
    retention(store).await;
    replace_and_deletions(store).await;
    streams(store).await;
}

async fn retention(store: &dyn Metastore) {
    let tenant = |tenants: Vec<crate::Tenant>| {
        tenants
            .into_iter()
            .find(|t| t.id == "conf-a")
            .expect("conf-a listed")
    };
    let before = tenant(store.list_tenants().await.expect("list"));
    assert_eq!(
        before.retention_days, None,
        "default retention is the node's"
    );
    store
        .set_retention("conf-a", Some(3))
        .await
        .expect("set retention");
    let after = tenant(store.list_tenants().await.expect("list"));
    assert_eq!(after.retention_days, Some(3));
    assert_eq!(
        after.quota, before.quota,
        "retention leaves the quota alone"
    );
    store.set_retention("conf-a", None).await.expect("reset");
    assert_eq!(
        tenant(store.list_tenants().await.expect("list")).retention_days,
        None
    );
    assert!(matches!(
        store.set_retention("nope", Some(1)).await,
        Err(MetastoreError::TenantNotFound(_))
    ));
}

async fn replace_and_deletions(store: &dyn Metastore) {
    let ids = |segments: Vec<SegmentRecord>| {
        let mut ids: Vec<String> = segments.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let list = || store.list_segments(Some("conf-a"), i64::MIN, i64::MAX);
    // conf-a holds s1 and s2 (segments_and_checkpoints); merge them into m1.
    let merged = segment("conf-a", "m1", 100, 400);
    let checkpoint = store.checkpoints().await.expect("checkpoints");
    store
        .replace_segments(
            "conf-a",
            &["s1".to_string(), "s2".to_string()],
            std::slice::from_ref(&merged),
            500,
            2,
        )
        .await
        .expect("replace");
    assert_eq!(ids(list().await.expect("list")), vec!["m1"]);
    assert_eq!(
        store.checkpoints().await.expect("checkpoints"),
        checkpoint,
        "a swap leaves checkpoints alone"
    );
    // A second swap naming a segment that is gone changes nothing.
    let gone = store
        .replace_segments(
            "conf-a",
            &["m1".to_string(), "s1".to_string()],
            &[segment("conf-a", "m2", 100, 400)],
            600,
            3,
        )
        .await;
    assert!(matches!(gone, Err(MetastoreError::SegmentGone { .. })));
    assert_eq!(ids(list().await.expect("list")), vec!["m1"]);
    // Another tenant's segment cannot be replaced through this tenant.
    let foreign = store
        .replace_segments("conf-a", &["s3".to_string()], &[], 600, 3)
        .await;
    assert!(matches!(foreign, Err(MetastoreError::SegmentGone { .. })));
    assert_eq!(
        store
            .list_segments(Some("conf-b"), i64::MIN, i64::MAX)
            .await
            .expect("list b")
            .len(),
        1
    );
    // The replaced objects wait for their deadline.
    assert!(store
        .pending_deletions(Some(499), 10)
        .await
        .expect("due")
        .is_empty());
    let due = store.pending_deletions(Some(500), 10).await.expect("due");
    let mut paths: Vec<String> = due.iter().map(|d| d.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["conf-a/0/s1.parquet", "conf-a/0/s2.parquet"],
        "both inputs queued"
    );
    assert!(due
        .iter()
        .all(|d| d.tenant == "conf-a" && d.delete_after_ms == 500));
    assert_eq!(
        store.pending_deletions(None, 1).await.expect("all").len(),
        1
    );
    store
        .forget_deletions(&paths[..1])
        .await
        .expect("forget one");
    assert_eq!(
        store.pending_deletions(None, 10).await.expect("all").len(),
        1
    );
    // Retention: drop with nothing added.
    store
        .replace_segments("conf-a", &["m1".to_string()], &[], 700, 4)
        .await
        .expect("drop");
    assert!(list().await.expect("list").is_empty());
    let pending = store.pending_deletions(None, 10).await.expect("all");
    assert_eq!(pending.len(), 2);
    let all: Vec<String> = pending.into_iter().map(|d| d.path).collect();
    store.forget_deletions(&all).await.expect("forget");
    assert!(store
        .pending_deletions(None, 10)
        .await
        .expect("all")
        .is_empty());
}

async fn tenants(store: &dyn Metastore) {
    store
        .create_tenant("conf-a", 1)
        .await
        .expect("create tenant");
    assert!(matches!(
        store.create_tenant("conf-a", 2).await,
        Err(MetastoreError::TenantExists(_))
    ));
    assert!(matches!(
        store.create_tenant("Bad/Id", 2).await,
        Err(MetastoreError::InvalidTenantId(_))
    ));
    store
        .create_tenant("conf-b", 3)
        .await
        .expect("create tenant");
    let quota = Quota {
        events_per_sec: Some(100),
        bytes_per_sec: None,
    };
    store.set_quota("conf-a", quota).await.expect("set quota");
    assert!(matches!(
        store.set_quota("nope", quota).await,
        Err(MetastoreError::TenantNotFound(_))
    ));
    let tenants = store.list_tenants().await.expect("list");
    let a = tenants
        .iter()
        .find(|t| t.id == "conf-a")
        .expect("conf-a listed");
    assert_eq!(a.quota, quota);
    assert!(tenants.iter().any(|t| t.id == "conf-b"));
}

async fn keys(store: &dyn Metastore) {
    let (api, api_secret) = store
        .create_key("conf-a", KeyKind::Api, 10)
        .await
        .expect("api key");
    let (app, app_secret) = store
        .create_key("conf-a", KeyKind::App, 11)
        .await
        .expect("app key");
    let (_, other_secret) = store
        .create_key("conf-b", KeyKind::Api, 12)
        .await
        .expect("b key");
    assert!(matches!(
        store.create_key("nope", KeyKind::Api, 1).await,
        Err(MetastoreError::TenantNotFound(_))
    ));
    let listed = store.list_keys(Some("conf-a")).await.expect("list keys");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.tenant == "conf-a"));
    let ring = KeyRing::new(store.list_keys(None).await.expect("all keys"));
    assert_eq!(
        ring.authenticate(&api_secret, KeyKind::Api)
            .expect("api auth")
            .tenant,
        "conf-a"
    );
    assert_eq!(
        ring.authenticate(&app_secret, KeyKind::App)
            .expect("app auth")
            .key_id,
        app.id
    );
    assert_eq!(
        ring.authenticate(&other_secret, KeyKind::Api)
            .expect("b auth")
            .tenant,
        "conf-b"
    );
    store.revoke_key(&api.id, 20).await.expect("revoke");
    assert!(matches!(
        store.revoke_key("zzzzzzzz", 20).await,
        Err(MetastoreError::KeyNotFound(_))
    ));
    let ring = KeyRing::new(store.list_keys(None).await.expect("all keys"));
    assert!(
        ring.authenticate(&api_secret, KeyKind::Api).is_none(),
        "revoked key still authenticates"
    );
    let revoked = store
        .list_keys(Some("conf-a"))
        .await
        .expect("list")
        .into_iter()
        .find(|k| k.id == api.id);
    assert_eq!(revoked.expect("still listed").revoked_at_ms, Some(20));
}

async fn segments_and_checkpoints(store: &dyn Metastore) {
    let a1 = segment("conf-a", "s1", 100, 200);
    let a2 = segment("conf-a", "s2", 300, 400);
    store
        .register_segments("conf-a", &[a1.clone(), a2.clone()], 7, 1)
        .await
        .expect("register");
    store
        .register_segments("conf-b", &[segment("conf-b", "s3", 100, 400)], 9, 1)
        .await
        .expect("register b");
    let all_a = store
        .list_segments(Some("conf-a"), i64::MIN, i64::MAX)
        .await
        .expect("list");
    assert_eq!(
        all_a,
        vec![a2.clone(), a1.clone()],
        "newest first, tenant-scoped"
    );
    let overlap = store
        .list_segments(Some("conf-a"), 150, 250)
        .await
        .expect("list range");
    assert_eq!(overlap, vec![a1.clone()]);
    assert_eq!(
        store
            .list_segments(Some("conf-a"), 201, 299)
            .await
            .expect("gap")
            .len(),
        0
    );
    assert_eq!(
        store
            .list_segments(None, i64::MIN, i64::MAX)
            .await
            .expect("all")
            .len(),
        3
    );
    let checkpoints = store.checkpoints().await.expect("checkpoints");
    assert_eq!(checkpoints.get("conf-a"), Some(&7));
    assert_eq!(checkpoints.get("conf-b"), Some(&9));
    // A duplicate segment id fails the whole transaction: the checkpoint must not move.
    let dup = store
        .register_segments(
            "conf-a",
            &[segment("conf-a", "s9", 1, 2), a1.clone()],
            50,
            1,
        )
        .await;
    assert!(dup.is_err());
    assert_eq!(
        store
            .checkpoints()
            .await
            .expect("checkpoints")
            .get("conf-a"),
        Some(&7)
    );
    assert_eq!(
        store
            .list_segments(Some("conf-a"), i64::MIN, i64::MAX)
            .await
            .expect("list")
            .len(),
        2
    );
    // A registration at or below the stored checkpoint is a retry: refused, nothing changes.
    let retry = store
        .register_segments("conf-a", &[segment("conf-a", "s8", 1, 2)], 7, 1)
        .await;
    assert!(matches!(
        retry,
        Err(MetastoreError::AlreadyRegistered { .. })
    ));
    let listed = store
        .list_segments(Some("conf-a"), i64::MIN, i64::MAX)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    // Checkpoints never go backwards.
    store
        .register_segments("conf-a", &[], 3, 1)
        .await
        .expect("empty register");
    assert_eq!(
        store
            .checkpoints()
            .await
            .expect("checkpoints")
            .get("conf-a"),
        Some(&7)
    );
}

/// Streams are separate catalogs with separate checkpoints (issue 5): a
/// metrics flush never advances the logs checkpoint, listing one stream
/// never shows the other's segments, and a swap cannot remove another
/// stream's segment.
async fn streams(store: &dyn Metastore) {
    store.create_tenant("conf-s", 1).await.expect("tenant");
    let logs = segment("conf-s", "s-logs", 0, 10);
    let mut metric = segment("conf-s", "s-metric", 0, 10);
    metric.path = "conf-s/metrics/0/s-metric.parquet".into();
    store
        .register_segments("conf-s", std::slice::from_ref(&logs), 5, 1)
        .await
        .expect("logs");
    store
        .register_stream_segments(
            Stream::Metrics,
            "conf-s",
            std::slice::from_ref(&metric),
            3,
            1,
        )
        .await
        .expect("metrics at a lower seq than the logs checkpoint");
    assert_eq!(
        store.checkpoints().await.expect("ckpt").get("conf-s"),
        Some(&5)
    );
    let metric_ckpt = store
        .stream_checkpoints(Stream::Metrics)
        .await
        .expect("metric ckpt");
    assert_eq!(metric_ckpt.get("conf-s"), Some(&3));
    let listed = store
        .list_segments(Some("conf-s"), 0, 10)
        .await
        .expect("list");
    assert_eq!(listed, vec![logs.clone()]);
    let listed = store
        .list_stream_segments(Stream::Metrics, None, 0, 10)
        .await
        .expect("list metrics");
    assert_eq!(listed, vec![metric.clone()]);
    assert!(matches!(
        store
            .register_stream_segments(
                Stream::Metrics,
                "conf-s",
                std::slice::from_ref(&metric),
                3,
                2
            )
            .await,
        Err(MetastoreError::AlreadyRegistered { .. })
    ));
    assert!(matches!(
        store
            .replace_segments("conf-s", &["s-metric".to_string()], &[], 9, 2)
            .await,
        Err(MetastoreError::SegmentGone { .. })
    ));
    let mut merged = segment("conf-s", "s-metric2", 0, 10);
    merged.path = "conf-s/metrics/0/s-metric2.parquet".into();
    store
        .replace_stream_segments(
            Stream::Metrics,
            "conf-s",
            &["s-metric".to_string()],
            std::slice::from_ref(&merged),
            9,
            2,
        )
        .await
        .expect("swap metrics");
    let listed = store
        .list_stream_segments(Stream::Metrics, Some("conf-s"), 0, 10)
        .await
        .expect("list metrics");
    assert_eq!(listed, vec![merged]);
    assert_eq!(
        store
            .list_segments(Some("conf-s"), 0, 10)
            .await
            .expect("list"),
        vec![logs]
    );
}
