//! strata-server (stub)
