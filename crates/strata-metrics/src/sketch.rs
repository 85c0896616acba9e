//! The Datadog Agent's DDSketch variant (`pkg/quantile`): relative accuracy
//! 1/128, so sketches from any host or time merge exactly.
//!
//! (Being written: see the module's tests for the contract.)

/// One bucket of a [`Sketch`]: the Agent's key and how many values fell in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bin {
    /// The Agent's bucket key (sign-symmetric; 0 holds values near zero).
    pub key: i32,
    /// Values in the bucket (> 0).
    pub n: u32,
}

/// A distribution summary: exact count, min, max and sum, plus bins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sketch {
    /// Number of values.
    pub count: u64,
    /// Smallest value (0 when empty).
    pub min: f64,
    /// Largest value (0 when empty).
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
    /// Bins, sorted by key, keys unique, counts > 0.
    pub bins: Vec<Bin>,
}
