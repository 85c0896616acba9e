//! The conformance suite every [`Metastore`] implementation must pass. Call
//! [`run_all`] on a fresh, empty store.

use crate::{KeyKind, KeyRing, Metastore, MetastoreError, Quota, SegmentRecord};

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
