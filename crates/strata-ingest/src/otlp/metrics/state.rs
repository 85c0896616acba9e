//! The per-series memory that turns cumulative OTLP points into deltas.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// Which conversion a remembered point belongs to (part of the state key, so
/// a metric that changes kind starts over instead of mixing snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum StateKind {
    /// A monotonic cumulative sum, or a summary's `.count` / `.sum`.
    Number,
    /// An explicit-bucket histogram.
    Histogram,
    /// An exponential histogram.
    Exponential,
}

/// The last cumulative snapshot seen for one series.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Snapshot {
    /// A running total.
    Number(f64),
    /// Explicit-bucket counts; `layout` is a hash of the bounds, so a point
    /// with other bounds reads as a reset.
    Buckets {
        /// Hash of the explicit bounds' bits.
        layout: u64,
        /// Count per bucket.
        counts: Vec<u64>,
        /// The running sum, when sent.
        sum: Option<f64>,
    },
    /// Exponential-histogram counts.
    Exponential {
        /// The scale; another scale reads as a reset.
        scale: i32,
        /// Values in the zero bucket.
        zero: u64,
        /// Index of `positive[0]`.
        pos_offset: i64,
        /// Positive bucket counts.
        positive: Vec<u64>,
        /// Index of `negative[0]`.
        neg_offset: i64,
        /// Negative bucket counts (by magnitude).
        negative: Vec<u64>,
        /// The running sum, when sent.
        sum: Option<f64>,
    },
}

impl Snapshot {
    /// What the snapshot counts against [`CumulativeState`]'s bound: one,
    /// plus one per 16 buckets.
    fn units(&self) -> usize {
        let buckets = match self {
            Snapshot::Number(_) => 0,
            Snapshot::Buckets { counts, .. } => counts.len(),
            Snapshot::Exponential {
                positive, negative, ..
            } => positive.len().saturating_add(negative.len()),
        };
        1 + buckets / 16
    }
}

/// What [`CumulativeState::advance`] decided for a cumulative point.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step<T> {
    /// First point of the series, a reset, or a new start time: the point
    /// became the baseline and nothing is emitted.
    Baseline,
    /// The delta since the previous point, and that point's time (ns).
    Delta {
        /// What the caller's `diff` computed.
        delta: T,
        /// `time_unix_nano` of the previous point.
        prev_time_ns: u64,
    },
    /// Not newer than the remembered point (a retry or out of order):
    /// ignored, the state is unchanged.
    Stale,
}

#[derive(Debug)]
struct Entry {
    touched: u64,
    units: usize,
    start_ns: u64,
    time_ns: u64,
    snapshot: Snapshot,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<String, HashMap<(u64, StateKind), Entry>>,
    len: usize,
    units: usize,
    clock: u64,
}

/// Cumulative-to-delta memory shared by every OTLP metrics request of a
/// server: for each `(tenant, series, kind)` the start time, time and value
/// (or bucket counts) of the last cumulative point.
///
/// It lives in memory only. After a restart (or an eviction) the next
/// cumulative point of each series is a baseline again, so the increase
/// between the last point before the restart and that one is not counted.
///
/// It is bounded by `max_entries` units: a counter (or a summary's count or
/// sum) is one unit, a histogram one plus one per 16 buckets, so the memory
/// stays around `max_entries` × 200 bytes whatever the histograms look
/// like. When a point takes the total over the bound, the least recently
/// touched half of all entries (every tenant together) is evicted in one
/// pass, so eviction costs O(n) once per n/2 new series; the entry just
/// touched is kept unless it alone exceeds the bound. An evicted series
/// starts again from a baseline. With `max_entries == 0` nothing is
/// remembered and cumulative points never produce a delta.
pub struct CumulativeState {
    inner: Mutex<Inner>,
    max_entries: usize,
}

impl fmt::Debug for CumulativeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CumulativeState")
            .field("len", &self.len())
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

impl Default for CumulativeState {
    /// [`CumulativeState::DEFAULT_MAX_ENTRIES`] series.
    fn default() -> CumulativeState {
        CumulativeState::new(CumulativeState::DEFAULT_MAX_ENTRIES)
    }
}

impl CumulativeState {
    /// A sensible bound for one server: 1,000,000 units (a million
    /// counters, a few hundred MB at most).
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    /// An empty state remembering at most `max_entries` units (series;
    /// histograms count one more per 16 buckets).
    pub fn new(max_entries: usize) -> CumulativeState {
        CumulativeState {
            inner: Mutex::new(Inner::default()),
            max_entries,
        }
    }

    /// How many series are remembered (at most [`Self::max_entries`]).
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether no series is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound given at construction.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Forgets every series (the same as a restart).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.tenants.clear();
        inner.len = 0;
        inner.units = 0;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `snapshot` for the series and says what to emit. `diff`
    /// computes the delta from the previous snapshot to this one, or `None`
    /// when the series was reset (a value went down, the layout changed).
    /// A point whose start time differs from the remembered one is a reset.
    pub(super) fn advance<T>(
        &self,
        tenant: &str,
        key: (u64, StateKind),
        start_ns: u64,
        time_ns: u64,
        snapshot: Snapshot,
        diff: impl FnOnce(&Snapshot, &Snapshot) -> Option<T>,
    ) -> Step<T> {
        if self.max_entries == 0 {
            return Step::Baseline;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.clock = inner.clock.wrapping_add(1);
        let touched = inner.clock;
        let units = snapshot.units();
        let step = match inner.tenants.get_mut(tenant).and_then(|m| m.get_mut(&key)) {
            Some(entry) => {
                entry.touched = touched;
                if time_ns <= entry.time_ns {
                    return Step::Stale;
                }
                let delta = if start_ns == entry.start_ns {
                    diff(&entry.snapshot, &snapshot)
                } else {
                    None
                };
                let prev_time_ns = entry.time_ns;
                inner.units = inner
                    .units
                    .saturating_sub(entry.units)
                    .saturating_add(units);
                *entry = Entry {
                    touched,
                    units,
                    start_ns,
                    time_ns,
                    snapshot,
                };
                match delta {
                    Some(delta) => Step::Delta {
                        delta,
                        prev_time_ns,
                    },
                    None => Step::Baseline,
                }
            }
            None => {
                let entry = Entry {
                    touched,
                    units,
                    start_ns,
                    time_ns,
                    snapshot,
                };
                let series = inner.tenants.entry(tenant.to_owned()).or_default();
                series.insert(key, entry);
                inner.len += 1;
                inner.units = inner.units.saturating_add(units);
                Step::Baseline
            }
        };
        // The entry just touched is the newest: it goes last.
        while inner.units > self.max_entries && inner.len > 0 {
            inner.evict_older_half();
        }
        step
    }
}

impl Inner {
    /// Drops the least recently touched half of the entries (rounded down,
    /// at least one).
    fn evict_older_half(&mut self) {
        let mut stamps: Vec<u64> = self
            .tenants
            .values()
            .flat_map(|m| m.values().map(|e| e.touched))
            .collect();
        if stamps.is_empty() {
            return;
        }
        // Stamps are unique: this removes exactly `remove` entries.
        let remove = (stamps.len() / 2).max(1);
        let (_, threshold, _) = stamps.select_nth_unstable(remove - 1);
        let threshold = *threshold;
        let (mut len, mut units) = (0, 0usize);
        self.tenants.retain(|_, series| {
            series.retain(|_, e| e.touched > threshold);
            len += series.len();
            units = series
                .values()
                .fold(units, |u, e| u.saturating_add(e.units));
            !series.is_empty()
        });
        self.len = len;
        self.units = units;
    }
}
