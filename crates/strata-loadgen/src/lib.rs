//! strata-loadgen (stub)
