//! Rollup intervals and the time grid of a query.
//!
//! Default rollup interval by the span `to - from` (Datadog documents the
//! first three rows, `dashboards/functions/rollup` and the recorded
//! `GET /api/v1/query` answer; the rest extend them):
//!
//! | span            | interval |
//! |-----------------|----------|
//! | ≤ 1 hour        | 20 s     |
//! | ≤ 4 hours       | 60 s     |
//! | ≤ 1 day         | 300 s    |
//! | ≤ 2 days        | 600 s    |
//! | ≤ 1 week        | 3600 s   |
//! | longer          | 14400 s  |
//!
//! Whatever the table or an explicit `.rollup(…, seconds)` says, a series
//! never has more than [`MAX_POINTS`] buckets: a smaller interval is raised
//! to the smallest multiple of itself that fits (Datadog does the same with
//! its own, lower, limit). An explicit interval smaller than the data's
//! resolution is allowed; its buckets are simply often empty.

/// Most buckets (points) per series in an answer.
pub const MAX_POINTS: i64 = 1500;

/// Latest accepted timestamp, seconds (9999-12-31T23:59:59Z). Keeping
/// times below this keeps every millisecond conversion far from overflow.
pub const MAX_TIMESTAMP_S: i64 = 253_402_300_799;

/// The default rollup interval for a span of `span_s` seconds (the table
/// above, before the [`MAX_POINTS`] cap).
pub fn default_interval(span_s: i64) -> i64 {
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    match span_s {
        s if s <= HOUR => 20,
        s if s <= 4 * HOUR => 60,
        s if s <= DAY => 300,
        s if s <= 2 * DAY => 600,
        s if s <= 7 * DAY => 3600,
        _ => 14_400,
    }
}

/// The interval actually used for a span: `explicit` (a `.rollup` interval)
/// or the default, raised to a multiple of itself if it would give more
/// than [`MAX_POINTS`] buckets.
pub fn effective_interval(span_s: i64, explicit: Option<i64>) -> i64 {
    let span_s = span_s.max(0);
    let base = explicit.unwrap_or_else(|| default_interval(span_s)).max(1);
    // `span / interval + 1` buckets at most, so interval >= span / (MAX - 1).
    let floor =
        span_s.div_euclid(MAX_POINTS - 1) + i64::from(span_s.rem_euclid(MAX_POINTS - 1) != 0);
    if base >= floor {
        return base;
    }
    floor.div_euclid(base) * base + if floor.rem_euclid(base) == 0 { 0 } else { base }
}

/// The buckets of one evaluation: `buckets` buckets of `interval_s` seconds,
/// bucket `i` covering `[start_s + i·interval_s, start_s + (i+1)·interval_s)`,
/// the last one cut at `to_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Start of bucket 0, seconds.
    pub start_s: i64,
    /// Bucket width, seconds (> 0).
    pub interval_s: i64,
    /// Number of buckets (at most [`MAX_POINTS`]).
    pub buckets: usize,
    /// The query's `from`, seconds (points before `start_s` are not read).
    pub from_s: i64,
    /// The query's `to`, seconds (inclusive).
    pub to_s: i64,
}

impl Grid {
    /// The grid for `[from_s, to_s]`: the first bucket starts at `from_s`
    /// rounded up to a multiple of `interval_s`, as in Datadog's answers;
    /// the last is the one containing `to_s`. Points between `from_s` and
    /// that first start belong to a partial bucket, which is dropped (as
    /// Datadog does). Needs `0 <= from_s <= to_s <= MAX_TIMESTAMP_S` and
    /// `interval_s > 0`.
    pub fn new(from_s: i64, to_s: i64, interval_s: i64) -> Grid {
        assert!(interval_s > 0, "interval must be positive");
        assert!(
            (0..=MAX_TIMESTAMP_S).contains(&from_s) && (from_s..=MAX_TIMESTAMP_S).contains(&to_s),
            "time range out of bounds"
        );
        let rounded_down = from_s.div_euclid(interval_s) * interval_s;
        let start_s = if rounded_down == from_s {
            from_s
        } else {
            rounded_down + interval_s
        };
        let buckets = if start_s > to_s {
            0
        } else {
            (to_s - start_s) / interval_s + 1
        };
        Grid {
            start_s,
            interval_s,
            buckets: usize::try_from(buckets).unwrap_or(0),
            from_s,
            to_s,
        }
    }

    /// The same buckets moved by `shift_s` seconds (for `timeshift`): the
    /// start is no longer aligned to the interval.
    pub fn shifted(&self, shift_s: i64) -> Grid {
        Grid {
            start_s: self.start_s + shift_s,
            from_s: self.from_s + shift_s,
            to_s: self.to_s + shift_s,
            ..*self
        }
    }

    /// Start of bucket `i`, seconds.
    pub fn bucket_start(&self, i: usize) -> i64 {
        self.start_s + i64::try_from(i).unwrap_or(i64::MAX / 2) * self.interval_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table() {
        assert_eq!(default_interval(3600), 20);
        assert_eq!(default_interval(3601), 60);
        assert_eq!(default_interval(4 * 3600), 60);
        assert_eq!(default_interval(86_400), 300);
        assert_eq!(default_interval(2 * 86_400), 600);
        assert_eq!(default_interval(7 * 86_400), 3600);
        assert_eq!(default_interval(30 * 86_400), 14_400);
    }

    #[test]
    fn never_more_than_max_points() {
        for span in [
            0,
            1,
            3600,
            86_400,
            30 * 86_400,
            365 * 86_400,
            10 * 365 * 86_400,
        ] {
            for explicit in [None, Some(1), Some(7), Some(60), Some(86_400)] {
                let interval = effective_interval(span, explicit);
                let grid = Grid::new(1_000_000_000, 1_000_000_000 + span, interval);
                assert!(grid.buckets as i64 <= MAX_POINTS, "{span} {explicit:?}");
                if let Some(e) = explicit {
                    assert_eq!(interval % e, 0);
                }
            }
        }
        assert_eq!(effective_interval(3600, Some(1)), 3);
        assert_eq!(effective_interval(3600, Some(5)), 5);
    }

    /// The recorded Datadog answer: 1 day from 1641343852 gives 288
    /// buckets of 300 s starting at 1641344100 and ending at 1641430499.
    #[test]
    fn recorded_grid() {
        let (from, to) = (1_641_343_852, 1_641_430_252);
        let grid = Grid::new(from, to, effective_interval(to - from, None));
        assert_eq!(grid.interval_s, 300);
        assert_eq!(grid.start_s, 1_641_344_100);
        assert_eq!(grid.buckets, 288);
        assert_eq!(grid.bucket_start(287) + 300 - 1, 1_641_430_499);
    }

    #[test]
    fn empty_and_aligned_grids() {
        let grid = Grid::new(101, 110, 20);
        assert_eq!(grid.buckets, 0);
        let grid = Grid::new(100, 100, 20);
        assert_eq!((grid.start_s, grid.buckets), (100, 1));
    }
}
