//! The per-series memory that turns cumulative OTLP points into deltas.
//!
//! **Keys.** An entry is kept per tenant and [`StateKey`]: the stored
//! series' id, the kind of conversion, and an origin hash of the full
//! resource attributes and the scope's name and version, so two processes
//! of one service on one host (same stored series, different
//! `service.instance.id` or `process.pid`) keep separate baselines.
//!
//! **Bound and fairness.** The state holds at most `max_entries` units (a
//! counter is one unit, a histogram one more per 16 buckets). When a point
//! takes the total over the bound, the tenant holding the most units loses
//! its least recently touched half, and again until the total fits. That
//! tenant holds more than `max_entries / tenants present`, so a tenant
//! within that fair share never loses a baseline because of another one.
//!
//! **Undo.** [`CumulativeState::advance`] applies at once (two concurrent
//! requests for one series see each other's points and never count the
//! same increase twice) and records in a [`CumulativeUndo`] the entry each
//! point replaced. When the request is then not stored (quota, memory, WAL,
//! or a decode error after some points), [`CumulativeState::rollback`] puts
//! the previous entries back, but only where the entry is still the one the
//! request set: if another request advanced the series since, that one
//! already emitted the increase from this request's point.

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

/// The state key of one cumulative series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct StateKey {
    /// [`SeriesKey::id`](strata_metrics::SeriesKey::id) of the stored series.
    pub(super) series: u64,
    /// A hash of the resource attributes and the scope's name and version.
    pub(super) origin: u64,
    /// Which conversion.
    pub(super) kind: StateKind,
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    /// Clock value of the last touch (unique: the eviction order).
    touched: u64,
    /// Clock value of the advance that set this entry (its identity).
    set: u64,
    units: usize,
    start_ns: u64,
    time_ns: u64,
    snapshot: Snapshot,
}

/// One tenant's entries.
#[derive(Debug, Default)]
struct Tenant {
    entries: HashMap<StateKey, Entry>,
    units: usize,
}

#[derive(Debug, Default)]
struct Inner {
    tenants: HashMap<String, Tenant>,
    len: usize,
    units: usize,
    clock: u64,
}

/// One entry a request set: the key, what it replaced (`None`: it was new)
/// and the `set` stamp of the entry it put in place.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    key: StateKey,
    previous: Option<Entry>,
    set: u64,
}

/// What one request changed in a [`CumulativeState`], in order, to undo
/// with [`CumulativeState::rollback`] when the request is not stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CumulativeUndo {
    tenant: String,
    changes: Vec<Change>,
}

impl CumulativeUndo {
    /// An empty record for `tenant`'s request.
    pub fn new(tenant: &str) -> CumulativeUndo {
        CumulativeUndo {
            tenant: tenant.to_owned(),
            changes: Vec::new(),
        }
    }

    /// How many entries the request set.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether the request set no entry.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Cumulative-to-delta memory shared by every OTLP metrics request of a
/// server: for each `(tenant, series, origin, kind)` the start time, time
/// and value (or bucket counts) of the last cumulative point.
///
/// It lives in memory only. After a restart (or an eviction) the next
/// cumulative point of each series is a baseline again, so the increase
/// between the last point before the restart and that one is not counted.
///
/// It is bounded by `max_entries` units: a counter (or a summary's count or
/// sum) is one unit, a histogram one plus one per 16 buckets, so the memory
/// stays around `max_entries` × 200 bytes whatever the histograms look
/// like. When a point takes the total over the bound, the tenant holding
/// the most units loses its least recently touched half (repeated until
/// the total fits), so eviction costs O(n) once per n/2 new series of that
/// tenant, and a tenant holding at most `max_entries / tenants present`
/// units is never evicted for another tenant's sake. The entry just
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

    /// Records `snapshot` for the series of `undo`'s tenant, notes what it
    /// replaced in `undo`, and says what to emit. `diff` computes the delta
    /// from the previous snapshot to this one, or `None` when the series was
    /// reset (a value went down, the layout changed). A point whose start
    /// time differs from the remembered one is a reset. `diff` runs under
    /// the lock: it is linear in the buckets, which are at most
    /// [`MAX_BUCKETS`](super::sketches::MAX_BUCKETS) per side.
    pub(super) fn advance<T>(
        &self,
        undo: &mut CumulativeUndo,
        key: StateKey,
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
        let stamp = inner.clock;
        let entry = Entry {
            touched: stamp,
            set: stamp,
            units: snapshot.units(),
            start_ns,
            time_ns,
            snapshot,
        };
        let units = entry.units;
        if !inner.tenants.contains_key(&undo.tenant) {
            inner.tenants.insert(undo.tenant.clone(), Tenant::default());
        }
        let Some(tenant) = inner.tenants.get_mut(&undo.tenant) else {
            return Step::Baseline;
        };
        let (step, previous) = match tenant.entries.get_mut(&key) {
            Some(current) => {
                current.touched = stamp;
                if time_ns <= current.time_ns {
                    return Step::Stale;
                }
                let delta = if start_ns == current.start_ns {
                    diff(&current.snapshot, &entry.snapshot)
                } else {
                    None
                };
                let prev_time_ns = current.time_ns;
                let previous = std::mem::replace(current, entry);
                let step = match delta {
                    Some(delta) => Step::Delta {
                        delta,
                        prev_time_ns,
                    },
                    None => Step::Baseline,
                };
                (step, Some(previous))
            }
            None => {
                tenant.entries.insert(key, entry);
                inner.len += 1;
                (Step::Baseline, None)
            }
        };
        let freed = previous.as_ref().map_or(0, |p| p.units);
        tenant.units = tenant.units.saturating_sub(freed).saturating_add(units);
        inner.units = inner.units.saturating_sub(freed).saturating_add(units);
        undo.changes.push(Change {
            key,
            previous,
            set: stamp,
        });
        // The entry just touched is the newest: it goes last.
        inner.enforce(self.max_entries);
        step
    }

    /// Undoes what a request set (`undo`, from its decode): each entry it
    /// set that is still in place goes back to what it replaced (or away,
    /// when it was new); entries another request advanced since, or that
    /// were evicted, stay as they are.
    pub fn rollback(&self, undo: CumulativeUndo) {
        if undo.changes.is_empty() {
            return;
        }
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(tenant) = inner.tenants.get_mut(&undo.tenant) else {
            return;
        };
        for change in undo.changes.into_iter().rev() {
            let Some(current) = tenant.entries.get_mut(&change.key) else {
                continue;
            };
            if current.set != change.set {
                continue;
            }
            let freed = current.units;
            let added = match change.previous {
                Some(mut previous) => {
                    inner.clock = inner.clock.wrapping_add(1);
                    previous.touched = inner.clock;
                    let added = previous.units;
                    *current = previous;
                    added
                }
                None => {
                    tenant.entries.remove(&change.key);
                    inner.len = inner.len.saturating_sub(1);
                    0
                }
            };
            tenant.units = tenant.units.saturating_sub(freed).saturating_add(added);
            inner.units = inner.units.saturating_sub(freed).saturating_add(added);
        }
        if tenant.entries.is_empty() {
            inner.tenants.remove(&undo.tenant);
        }
        inner.enforce(self.max_entries);
    }
}

impl Inner {
    /// While over `max` units, evicts the older half of the tenant holding
    /// the most units (which holds more than its fair share).
    fn enforce(&mut self, max: usize) {
        while self.units > max {
            let Some(tenant) = self.tenants.values_mut().max_by_key(|t| t.units) else {
                return;
            };
            let (len, units) = tenant.evict_older_half();
            if len == 0 {
                return;
            }
            self.len = self.len.saturating_sub(len);
            self.units = self.units.saturating_sub(units);
            self.tenants.retain(|_, t| !t.entries.is_empty());
        }
    }
}

impl Tenant {
    /// Drops the least recently touched half of the entries (rounded down,
    /// at least one); answers how many entries and units went.
    fn evict_older_half(&mut self) -> (usize, usize) {
        let mut stamps: Vec<u64> = self.entries.values().map(|e| e.touched).collect();
        if stamps.is_empty() {
            return (0, 0);
        }
        // Stamps are unique: this removes exactly `remove` entries.
        let remove = (stamps.len() / 2).max(1);
        let (_, threshold, _) = stamps.select_nth_unstable(remove - 1);
        let threshold = *threshold;
        let (len, units) = (self.entries.len(), self.units);
        self.entries.retain(|_, e| e.touched > threshold);
        self.units = self
            .entries
            .values()
            .fold(0, |u: usize, e| u.saturating_add(e.units));
        let removed = len.saturating_sub(self.entries.len());
        (removed, units.saturating_sub(self.units))
    }
}
