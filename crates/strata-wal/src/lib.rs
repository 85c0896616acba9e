//! strata-wal (stub)
