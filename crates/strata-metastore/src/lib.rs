//! strata-metastore (stub)
