//! strata-segment (stub)
