//! strata-ingest (stub)
