//! strata-config (stub)
