//! strata-index (stub)
