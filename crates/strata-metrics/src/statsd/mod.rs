//! DogStatsD: the line parser and the Agent-like 10 s aggregator.
//!
//! (Being written.)
