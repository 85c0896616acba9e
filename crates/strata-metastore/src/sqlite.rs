//! The embedded metastore: SQLite through sqlx.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use strata_types::{is_valid_tenant_id, TenantId};

use crate::{
    generate_secret, hash_secret, KeyInfo, KeyKind, Metastore, MetastoreError, PendingDeletion,
    Quota, Result, SegmentRecord, Stream, Tenant,
};

/// SQLite-backed [`Metastore`]. `synchronous = FULL`, so a registered
/// segment survives power loss once `register_segments` returns.
#[derive(Debug, Clone)]
pub struct SqliteMetastore {
    pool: SqlitePool,
}

impl SqliteMetastore {
    /// Opens (creating if missing) the database file and runs migrations.
    pub async fn open(path: &Path) -> Result<SqliteMetastore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options, 4).await
    }

    /// An in-memory database, for tests.
    pub async fn in_memory() -> Result<SqliteMetastore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: every in-memory connection would be its own database.
        Self::connect(options, 1).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<SqliteMetastore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteMetastore { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn tenant_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Tenant> {
    let events: Option<i64> = row.try_get("events_per_sec")?;
    let bytes: Option<i64> = row.try_get("bytes_per_sec")?;
    let retention: Option<i64> = row.try_get("retention_days")?;
    Ok(Tenant {
        retention_days: retention.and_then(|v| u32::try_from(v).ok()),
        id: row.try_get("id")?,
        created_at_ms: row.try_get("created_at_ms")?,
        quota: Quota {
            events_per_sec: events.and_then(|v| u64::try_from(v).ok()),
            bytes_per_sec: bytes.and_then(|v| u64::try_from(v).ok()),
        },
    })
}

fn key_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<KeyInfo> {
    let kind: String = row.try_get("kind")?;
    let digest: Vec<u8> = row.try_get("sha256")?;
    let mut sha256 = [0u8; 32];
    if digest.len() == 32 {
        sha256.copy_from_slice(&digest);
    }
    Ok(KeyInfo {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant_id")?,
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Api),
        sha256,
        created_at_ms: row.try_get("created_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

fn segment_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<SegmentRecord> {
    let rows: i64 = row.try_get("rows")?;
    let size: i64 = row.try_get("size_bytes")?;
    Ok(SegmentRecord {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant_id")?,
        path: row.try_get("path")?,
        hour_bucket_ns: row.try_get("hour_bucket_ns")?,
        min_ts_ns: row.try_get("min_ts_ns")?,
        max_ts_ns: row.try_get("max_ts_ns")?,
        rows: u64::try_from(rows).unwrap_or(0),
        size_bytes: u64::try_from(size).unwrap_or(0),
    })
}

async fn insert_segment(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    stream: Stream,
    tenant: &str,
    segment: &SegmentRecord,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO segments (id, tenant_id, path, hour_bucket_ns, min_ts_ns, max_ts_ns, rows, size_bytes, created_at_ms, stream) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&segment.id)
    .bind(tenant)
    .bind(&segment.path)
    .bind(segment.hour_bucket_ns)
    .bind(segment.min_ts_ns)
    .bind(segment.max_ts_ns)
    .bind(to_i64(segment.rows))
    .bind(to_i64(segment.size_bytes))
    .bind(now_ms)
    .bind(stream.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `TenantNotFound` when an `UPDATE tenants ... WHERE id = ?` changed nothing.
fn tenant_updated(updated: sqlx::sqlite::SqliteQueryResult, tenant: &str) -> Result<()> {
    if updated.rows_affected() == 0 {
        return Err(MetastoreError::TenantNotFound(tenant.to_string()));
    }
    Ok(())
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[async_trait]
impl Metastore for SqliteMetastore {
    async fn create_tenant(&self, id: &str, now_ms: i64) -> Result<Tenant> {
        if !is_valid_tenant_id(id) {
            return Err(MetastoreError::InvalidTenantId(id.to_string()));
        }
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO tenants (id, created_at_ms) VALUES (?, ?)")
                .bind(id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
        if inserted.rows_affected() == 0 {
            return Err(MetastoreError::TenantExists(id.to_string()));
        }
        Ok(Tenant {
            id: id.to_string(),
            created_at_ms: now_ms,
            quota: Quota::default(),
            retention_days: None,
        })
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT * FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn set_quota(&self, tenant: &str, quota: Quota) -> Result<()> {
        let updated =
            sqlx::query("UPDATE tenants SET events_per_sec = ?, bytes_per_sec = ? WHERE id = ?")
                .bind(quota.events_per_sec.map(to_i64))
                .bind(quota.bytes_per_sec.map(to_i64))
                .bind(tenant)
                .execute(&self.pool)
                .await?;
        tenant_updated(updated, tenant)
    }

    async fn create_key(
        &self,
        tenant: &str,
        kind: KeyKind,
        now_ms: i64,
    ) -> Result<(KeyInfo, String)> {
        let exists = sqlx::query("SELECT 1 FROM tenants WHERE id = ?")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Err(MetastoreError::TenantNotFound(tenant.to_string()));
        }
        // Ids are the first 8 hex characters: retry on the rare collision.
        loop {
            let secret = generate_secret(kind);
            let info = KeyInfo {
                id: secret[..8].to_string(),
                tenant: tenant.to_string(),
                kind,
                sha256: hash_secret(&secret),
                created_at_ms: now_ms,
                revoked_at_ms: None,
            };
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO api_keys (id, tenant_id, kind, sha256, created_at_ms) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&info.id)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(info.sha256.as_slice())
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok((info, secret));
            }
        }
    }

    async fn list_keys(&self, tenant: Option<&str>) -> Result<Vec<KeyInfo>> {
        let rows = match tenant {
            Some(t) => {
                sqlx::query("SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at_ms, id")
                    .bind(t)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM api_keys ORDER BY tenant_id, created_at_ms, id")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, key_id: &str, now_ms: i64) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, ?) WHERE id = ?",
        )
        .bind(now_ms)
        .bind(key_id)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(MetastoreError::KeyNotFound(key_id.to_string()));
        }
        Ok(())
    }

    async fn register_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        segments: &[SegmentRecord],
        checkpoint_seq: u64,
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Idempotent: a retry after a commit whose success was not reported
        // must not register the same events twice.
        let current: Option<i64> = match stream {
            Stream::Logs => {
                sqlx::query_scalar("SELECT wal_seq FROM checkpoints WHERE tenant_id = ?")
                    .bind(tenant)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            _ => {
                sqlx::query_scalar(
                    "SELECT wal_seq FROM stream_checkpoints WHERE tenant_id = ? AND stream = ?",
                )
                .bind(tenant)
                .bind(stream.as_str())
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        if !segments.is_empty() && current.is_some_and(|seq| seq >= to_i64(checkpoint_seq)) {
            tx.rollback().await?;
            return Err(MetastoreError::AlreadyRegistered {
                tenant: tenant.to_string(),
                checkpoint_seq,
            });
        }
        for segment in segments {
            insert_segment(&mut tx, stream, tenant, segment, now_ms).await?;
        }
        let upsert = match stream {
            Stream::Logs => sqlx::query(
                "INSERT INTO checkpoints (tenant_id, wal_seq) VALUES (?, ?) \
                 ON CONFLICT(tenant_id) DO UPDATE SET wal_seq = MAX(wal_seq, excluded.wal_seq)",
            )
            .bind(tenant)
            .bind(to_i64(checkpoint_seq)),
            _ => sqlx::query(
                "INSERT INTO stream_checkpoints (tenant_id, wal_seq, stream) VALUES (?, ?, ?) \
                 ON CONFLICT(tenant_id, stream) DO UPDATE SET wal_seq = MAX(wal_seq, excluded.wal_seq)",
            )
            .bind(tenant)
            .bind(to_i64(checkpoint_seq))
            .bind(stream.as_str()),
        };
        upsert.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_stream_segments(
        &self,
        stream: Stream,
        tenant: Option<&str>,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<SegmentRecord>> {
        let rows = match tenant {
            Some(t) => {
                sqlx::query(
                    "SELECT * FROM segments WHERE stream = ? AND tenant_id = ? AND max_ts_ns >= ? AND min_ts_ns <= ? \
                     ORDER BY max_ts_ns DESC, id",
                )
                .bind(stream.as_str())
                .bind(t)
                .bind(from_ns)
                .bind(to_ns)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT * FROM segments WHERE stream = ? AND max_ts_ns >= ? AND min_ts_ns <= ? \
                     ORDER BY max_ts_ns DESC, id",
                )
                .bind(stream.as_str())
                .bind(from_ns)
                .bind(to_ns)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(segment_from_row).collect()
    }

    async fn stream_checkpoints(&self, stream: Stream) -> Result<HashMap<TenantId, u64>> {
        let rows = match stream {
            Stream::Logs => {
                sqlx::query("SELECT tenant_id, wal_seq FROM checkpoints")
                    .fetch_all(&self.pool)
                    .await?
            }
            _ => {
                sqlx::query("SELECT tenant_id, wal_seq FROM stream_checkpoints WHERE stream = ?")
                    .bind(stream.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut out = HashMap::new();
        for row in rows {
            let seq: i64 = row.try_get("wal_seq")?;
            out.insert(row.try_get("tenant_id")?, u64::try_from(seq).unwrap_or(0));
        }
        Ok(out)
    }

    async fn set_retention(&self, tenant: &str, days: Option<u32>) -> Result<()> {
        let updated = sqlx::query("UPDATE tenants SET retention_days = ? WHERE id = ?")
            .bind(days.map(i64::from))
            .bind(tenant)
            .execute(&self.pool)
            .await?;
        tenant_updated(updated, tenant)
    }

    async fn replace_stream_segments(
        &self,
        stream: Stream,
        tenant: &str,
        remove: &[String],
        add: &[SegmentRecord],
        delete_after_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        // BEGIN IMMEDIATE semantics: sqlx starts a deferred transaction, but
        // the first statement below writes, so concurrent swaps serialise.
        let mut tx = self.pool.begin().await?;
        for id in remove {
            let path: Option<String> = sqlx::query_scalar(
                "DELETE FROM segments WHERE id = ? AND tenant_id = ? AND stream = ? RETURNING path",
            )
            .bind(id)
            .bind(tenant)
            .bind(stream.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(path) = path else {
                tx.rollback().await?;
                return Err(MetastoreError::SegmentGone {
                    tenant: tenant.to_string(),
                    segment: id.clone(),
                });
            };
            sqlx::query(
                "INSERT INTO pending_deletions (path, tenant_id, delete_after_ms) VALUES (?, ?, ?) \
                 ON CONFLICT(path) DO UPDATE SET delete_after_ms = MAX(delete_after_ms, excluded.delete_after_ms)",
            )
            .bind(&path)
            .bind(tenant)
            .bind(delete_after_ms)
            .execute(&mut *tx)
            .await?;
        }
        for segment in add {
            insert_segment(&mut tx, stream, tenant, segment, now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deletions(
        &self,
        now_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingDeletion>> {
        let rows = sqlx::query(
            "SELECT path, tenant_id, delete_after_ms FROM pending_deletions \
             WHERE delete_after_ms <= ? ORDER BY delete_after_ms, path LIMIT ?",
        )
        .bind(now_ms.unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingDeletion {
                    path: row.try_get("path")?,
                    tenant: row.try_get("tenant_id")?,
                    delete_after_ms: row.try_get("delete_after_ms")?,
                })
            })
            .collect()
    }

    async fn forget_deletions(&self, paths: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for path in paths {
            sqlx::query("DELETE FROM pending_deletions WHERE path = ?")
                .bind(path)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_passes_conformance() {
        let store = SqliteMetastore::in_memory().await.unwrap();
        crate::conformance::run_all(&store).await;
    }

    #[tokio::test]
    async fn file_backed_passes_conformance_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        {
            let store = SqliteMetastore::open(&path).await.unwrap();
            crate::conformance::run_all(&store).await;
            store.close().await;
        }
        let reopened = SqliteMetastore::open(&path).await.unwrap();
        assert!(!reopened.list_tenants().await.unwrap().is_empty());
    }
}
