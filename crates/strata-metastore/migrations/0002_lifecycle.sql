-- Strata metastore schema, version 2: storage lifecycle. See docs/metastore.md.
-- Objects that left the catalog (compaction inputs, expired segments) and are
-- deleted from storage once `delete_after_ms` has passed, so that queries
-- still reading them never fail.
CREATE TABLE pending_deletions (
    path            TEXT PRIMARY KEY NOT NULL,   -- relative to the segment store root
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    delete_after_ms INTEGER NOT NULL
);
CREATE INDEX pending_deletions_due ON pending_deletions(delete_after_ms);
