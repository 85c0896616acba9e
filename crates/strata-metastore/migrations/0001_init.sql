-- Strata metastore schema, version 1. See docs/metastore.md.
CREATE TABLE tenants (
    id              TEXT PRIMARY KEY NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    events_per_sec  INTEGER,          -- ingest quota, NULL = unlimited
    bytes_per_sec   INTEGER,          -- ingest quota, NULL = unlimited
    retention_days  INTEGER
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY NOT NULL,   -- first 8 characters of the secret
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL CHECK (kind IN ('api', 'app')),
    sha256          BLOB NOT NULL,               -- SHA-256 of the whole secret
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE segments (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    path            TEXT NOT NULL UNIQUE,        -- relative to the segment store root
    hour_bucket_ns  INTEGER NOT NULL,
    min_ts_ns       INTEGER NOT NULL,
    max_ts_ns       INTEGER NOT NULL,
    rows            INTEGER NOT NULL,
    size_bytes      INTEGER NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX segments_tenant_time ON segments(tenant_id, max_ts_ns, min_ts_ns);

-- Per tenant, the highest WAL sequence number whose events are in registered segments.
CREATE TABLE checkpoints (
    tenant_id       TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    wal_seq         INTEGER NOT NULL
);
