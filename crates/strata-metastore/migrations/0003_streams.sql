-- Strata metastore schema, version 3: data streams. See docs/metastore.md.
-- Segments belong to one stream of a tenant: 'logs' (events) or 'metrics'
-- (metric points). Each stream has its own WAL checkpoint, because a flush of
-- one stream must not mark the other stream's records as stored. The logs
-- checkpoint stays in `checkpoints`; other streams' go to `stream_checkpoints`.
ALTER TABLE segments ADD COLUMN stream TEXT NOT NULL DEFAULT 'logs';
CREATE INDEX segments_stream_tenant_time ON segments(stream, tenant_id, max_ts_ns, min_ts_ns);

CREATE TABLE stream_checkpoints (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    stream          TEXT NOT NULL,
    wal_seq         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, stream)
);
