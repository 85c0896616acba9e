//! The Agent-like DogStatsD aggregator: 10 s windows per context, flushed
//! into a [`MetricBatch`] once a window has closed.
//!
//! A *context* is `(metric name, host, sorted tags)`. A sample goes to the
//! window `[t − t mod 10, +10)` of its arrival time `t`. What a window
//! becomes at flush (all stamped with the window start, interval 10 s):
//!
//! | type | emitted |
//! |---|---|
//! | `c` | `Count`: the sum of `value / rate` (the Agent sends a `Rate` of sum/10; Strata keeps the count and lets the query layer apply `as_rate`) |
//! | `g` | `Gauge`: the last value received |
//! | `s` | `Gauge`: the number of distinct values (Agent `Set`) |
//! | `h`, `ms` | `<name>.avg`, `.max`, `.median`, `.95percentile` as `Gauge`, and `<name>.count` as `Rate` = weighted count / 10, like the Agent's default `histogram_aggregates` (max, median, avg, count) and `histogram_percentiles` (0.95) |
//! | `d` | one [`Sketch`] per window ([`SketchPoints`]) |
//!
//! Sample rates: a count adds `value / rate`; histogram and distribution
//! samples get the weight `⌊1 / rate⌋` (the Agent truncates the same way).
//! Unlike the Agent, a histogram's sum also uses that truncated weight, so
//! `.avg` is the weighted mean of the values sent.
//!
//! Histogram medians and percentiles are exact, read as the Agent does:
//! the first sample whose cumulative weight exceeds `(count − 1) / 2`
//! (median) or `(95·count − 1) / 100` (integer division). To bound memory,
//! when a window's sample list reaches [`HISTOGRAM_EXACT_SAMPLES`] entries
//! equal values are merged, and if more than half that many distinct values
//! remain the window switches to a [`Sketch`]: its median and 95th
//! percentile become sketch estimates (within −1.6 %/+2.4 %, see
//! [`crate::sketch`]); count, sum, avg and max stay exact.
//!
//! Timestamped samples (`|T`, protocol v1.3) skip the windows, as in the
//! Agent's no-aggregation pipeline: each value of a `c` or `g` is emitted
//! as-is at its own timestamp on the next flush (`Count`, not scaled by the
//! sample rate, or `Gauge`). The Agent drops timestamped `h`, `ms`, `s` and
//! `d` as unsupported; so do we, counting them.
//!
//! The flush contract: [`Aggregator::flush`]`(now)` emits every window whose
//! end is `≤ now`, each exactly once; later samples that would land in an
//! already flushed window are moved into the oldest open window (and
//! counted as late), so nothing is emitted twice and nothing is lost.
//! [`Aggregator::flush_all`] emits everything, for shutdown.
//!
//! Not done (yet): the Agent keeps sending 0 for a count context for
//! `dogstatsd_expiry_seconds` after its last sample; Strata emits nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::statsd::parse::{parse_datagram, Message, Metric, MetricKind, ParseErrorKind};
use crate::{
    is_valid_metric_name, normalize_metric_name, MetricBatch, MetricType, Point, SeriesKey,
    SeriesPoints, Sketch, SketchPoints, MAX_NAME_LEN,
};

/// The aggregation window, in seconds (the Agent's `bucketSize`).
pub const WINDOW_S: i64 = 10;
/// Sample-list length at which a histogram window merges equal values; it
/// switches to a sketch when more than half as many distinct values remain.
pub const HISTOGRAM_EXACT_SAMPLES: usize = 1024;
/// Distinct members a set window keeps; more are dropped and counted.
pub const MAX_SET_MEMBERS: usize = 100_000;

const TIMER_UNIT: &str = "millisecond";
/// Suffixes of a histogram's series, the longest being 13 bytes.
const HISTOGRAM_SUFFIXES: [&str; 5] = [".avg", ".count", ".max", ".median", ".95percentile"];
const LONGEST_SUFFIX: usize = 13;
/// Tags the Agent strips from DogStatsD samples (origin hints, not dimensions).
const INTERNAL_TAG_PREFIXES: [&str; 3] = [
    "dd.internal.entity_id:",
    "dd.internal.card:",
    "dd.internal.jmx_check_name:",
];

/// What the listener adds to every sample: its host and constant tags
/// (the Agent's hostname and `dogstatsd_tags`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerDefaults {
    /// Host given to samples without a `host:` tag (empty: none).
    pub host: String,
    /// Tags appended to every sample.
    pub tags: Vec<String>,
}

/// Counters the server exports. All are totals since the aggregator started.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsdCounters {
    /// Datagrams passed to [`Aggregator::ingest`].
    pub datagrams: u64,
    /// Non-empty lines parsed (successfully or not).
    pub lines: u64,
    /// Metric lines parsed.
    pub metrics: u64,
    /// Metric values received (a packed line counts each value; a set line 1).
    pub metric_values: u64,
    /// Events parsed.
    pub events: u64,
    /// Service checks parsed.
    pub service_checks: u64,
    /// Lines refused, by kind.
    pub parse_errors: BTreeMap<ParseErrorKind, u64>,
    /// Values dropped because they needed a new context beyond the limit.
    pub dropped_contexts: u64,
    /// Values dropped because the name or tags cannot make a series.
    pub invalid_series: u64,
    /// Values dropped because their context already holds another type.
    pub type_conflicts: u64,
    /// Timestamped `h`/`ms`/`s`/`d` values dropped (Agent: unsupported).
    pub timestamped_unsupported: u64,
    /// Timestamped values dropped because too many were pending.
    pub dropped_timestamped: u64,
    /// Values that arrived for an already flushed window.
    pub late_values: u64,
    /// Set members dropped above [`MAX_SET_MEMBERS`].
    pub dropped_set_members: u64,
    /// Histogram windows that switched to a sketch.
    pub histogram_fallbacks: u64,
}

impl StatsdCounters {
    /// All parse errors.
    pub fn parse_errors_total(&self) -> u64 {
        self.parse_errors.values().sum()
    }
}

/// The host and tags of a sample, event or service check, resolved like
/// the Agent's `extractTagsMetadata`: a `host:<h>` tag sets the host (the
/// last one wins; `host:` alone means no host) and is removed, the Agent's
/// `dd.internal.*` origin tags are removed, then the listener's tags are
/// appended. Without a `host:` tag the listener's host is used.
pub fn resolve_host_and_tags(
    tags: &[String],
    defaults: &ListenerDefaults,
) -> (String, Vec<String>) {
    let mut host = defaults.host.clone();
    let mut kept = Vec::with_capacity(tags.len() + defaults.tags.len());
    for tag in tags {
        if let Some(h) = tag.strip_prefix("host:") {
            host = h.to_owned();
        } else if !INTERNAL_TAG_PREFIXES.iter().any(|p| tag.starts_with(p)) {
            kept.push(tag.clone());
        }
    }
    kept.extend(defaults.tags.iter().cloned());
    (host, kept)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Count,
    Gauge,
    Set,
    Histogram,
    Distribution,
}

impl Family {
    fn of(kind: MetricKind) -> Family {
        match kind {
            MetricKind::Count => Family::Count,
            MetricKind::Gauge => Family::Gauge,
            MetricKind::Set => Family::Set,
            MetricKind::Histogram | MetricKind::Timer => Family::Histogram,
            MetricKind::Distribution => Family::Distribution,
        }
    }
}

/// One histogram window: exact weighted samples, or a sketch past the cap.
#[derive(Debug, Default)]
struct Histogram {
    samples: Vec<(f64, u64)>,
    sketch: Option<Sketch>,
    count: u64,
    sum: f64,
    max: f64,
}

impl Histogram {
    fn add(&mut self, v: f64, weight: u64, fallbacks: &mut u64) {
        self.max = if self.count == 0 { v } else { self.max.max(v) };
        self.count = self.count.saturating_add(weight);
        self.sum += v * weight as f64;
        if let Some(sketch) = &mut self.sketch {
            sketch.insert_n(v, sketch_weight(weight));
            return;
        }
        self.samples.push((v, weight));
        if self.samples.len() >= HISTOGRAM_EXACT_SAMPLES {
            compact(&mut self.samples);
            if self.samples.len() > HISTOGRAM_EXACT_SAMPLES / 2 {
                let mut sketch = Sketch::new();
                for (v, w) in self.samples.drain(..) {
                    sketch.insert_n(v, sketch_weight(w));
                }
                self.sketch = Some(sketch);
                *fallbacks += 1;
            }
        }
    }

    /// `(avg, max, median, p95, count)`.
    fn summary(mut self) -> (f64, f64, f64, f64, u64) {
        let count = self.count.max(1);
        let avg = self.sum / count as f64;
        let (median, p95) = match &self.sketch {
            Some(sketch) => (
                sketch.quantile(0.5).unwrap_or(self.max),
                sketch.quantile(0.95).unwrap_or(self.max),
            ),
            None => {
                compact(&mut self.samples);
                let median_target = (count - 1) / 2;
                let p95_target = (u128::from(count) * 95 - 1) / 100;
                (
                    weighted_pick(&self.samples, u128::from(median_target), self.max),
                    weighted_pick(&self.samples, p95_target, self.max),
                )
            }
        };
        (avg, self.max, median, p95, self.count)
    }
}

fn sketch_weight(weight: u64) -> u32 {
    u32::try_from(weight).unwrap_or(u32::MAX)
}

/// Sorts by value and merges equal values.
fn compact(samples: &mut Vec<(f64, u64)>) {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    samples.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 = kept.1.saturating_add(next.1);
            true
        } else {
            false
        }
    });
}

/// The first sorted sample whose cumulative weight exceeds `target`.
fn weighted_pick(sorted: &[(f64, u64)], target: u128, fallback: f64) -> f64 {
    let mut cum: u128 = 0;
    for &(v, w) in sorted {
        cum += u128::from(w);
        if cum > target {
            return v;
        }
    }
    fallback
}

#[derive(Debug)]
enum Window {
    Count(f64),
    Gauge(f64),
    Set(HashSet<String>),
    Histogram(Histogram),
    Distribution(Sketch),
}

impl Window {
    fn new(family: Family) -> Window {
        match family {
            Family::Count => Window::Count(0.0),
            Family::Gauge => Window::Gauge(0.0),
            Family::Set => Window::Set(HashSet::new()),
            Family::Histogram => Window::Histogram(Histogram::default()),
            Family::Distribution => Window::Distribution(Sketch::new()),
        }
    }

    fn add(&mut self, metric: &Metric, counters: &mut StatsdCounters) {
        let rate = metric.sample_rate;
        // ⌊1/rate⌋ ≥ 1 because the parser keeps rates in (0, 1].
        let weight = ((1.0 / rate) as u64).max(1);
        match self {
            Window::Count(sum) => {
                for v in &metric.values {
                    *sum += v * (1.0 / rate);
                }
            }
            Window::Gauge(last) => {
                if let Some(v) = metric.values.last() {
                    *last = *v;
                }
            }
            Window::Set(members) => {
                if let Some(member) = &metric.set_value {
                    if members.len() < MAX_SET_MEMBERS || members.contains(member) {
                        members.insert(member.clone());
                    } else {
                        counters.dropped_set_members += 1;
                    }
                }
            }
            Window::Histogram(h) => {
                for &v in &metric.values {
                    h.add(v, weight, &mut counters.histogram_fallbacks);
                }
            }
            Window::Distribution(sketch) => {
                for &v in &metric.values {
                    sketch.insert_n(v, sketch_weight(weight));
                }
            }
        }
    }
}

#[derive(Debug)]
struct Context {
    family: Family,
    unit: &'static str,
    windows: BTreeMap<i64, Window>,
}

/// Groups flushed points by series so a batch has one entry per series.
#[derive(Debug, Default)]
struct BatchBuilder {
    series: BTreeMap<(SeriesKey, MetricType, &'static str), Vec<Point>>,
    sketches: BTreeMap<SeriesKey, Vec<(i64, Sketch)>>,
}

impl BatchBuilder {
    fn point(&mut self, key: SeriesKey, kind: MetricType, unit: &'static str, p: Point) {
        self.series.entry((key, kind, unit)).or_default().push(p);
    }

    fn window(&mut self, key: &SeriesKey, unit: &'static str, ts_s: i64, window: Window) {
        let gauge = |value| Point { ts_s, value };
        match window {
            Window::Count(sum) => self.point(key.clone(), MetricType::Count, "", gauge(sum)),
            Window::Gauge(v) => self.point(key.clone(), MetricType::Gauge, "", gauge(v)),
            Window::Set(members) => {
                self.point(
                    key.clone(),
                    MetricType::Gauge,
                    "",
                    gauge(members.len() as f64),
                );
            }
            Window::Histogram(h) => {
                let (avg, max, median, p95, count) = h.summary();
                let values = [avg, count as f64 / WINDOW_S as f64, max, median, p95];
                for (suffix, value) in HISTOGRAM_SUFFIXES.into_iter().zip(values) {
                    let derived = SeriesKey {
                        metric: format!("{}{suffix}", key.metric),
                        host: key.host.clone(),
                        tags: key.tags.clone(),
                    };
                    let (kind, unit) = if suffix == ".count" {
                        (MetricType::Rate, "")
                    } else {
                        (MetricType::Gauge, unit)
                    };
                    self.point(derived, kind, unit, gauge(value));
                }
            }
            Window::Distribution(sketch) => {
                if !sketch.is_empty() {
                    self.sketches
                        .entry(key.clone())
                        .or_default()
                        .push((ts_s, sketch));
                }
            }
        }
    }

    fn build(self) -> MetricBatch {
        let series = self
            .series
            .into_iter()
            .map(|((key, kind, unit), mut points)| {
                points.sort_by_key(|p| p.ts_s);
                SeriesPoints {
                    key,
                    kind,
                    interval_s: WINDOW_S as u32,
                    unit: unit.to_owned(),
                    points,
                }
            })
            .collect();
        let sketches = self
            .sketches
            .into_iter()
            .map(|(key, mut points)| {
                points.sort_by_key(|p| p.0);
                SketchPoints { key, points }
            })
            .collect();
        MetricBatch { series, sketches }
    }
}

/// The 10 s DogStatsD aggregator (see the module docs). Pure: time comes in
/// as arguments, so tests drive it with any clock.
#[derive(Debug)]
pub struct Aggregator {
    max_contexts: usize,
    contexts: HashMap<SeriesKey, Context>,
    timestamped: Vec<(SeriesKey, MetricType, Point)>,
    /// Start of the oldest window still open; every earlier one was flushed.
    open_from: Option<i64>,
    counters: StatsdCounters,
}

/// The start of the window holding `ts_s`.
pub fn window_start(ts_s: i64) -> i64 {
    ts_s - ts_s.rem_euclid(WINDOW_S)
}

impl Aggregator {
    /// An aggregator holding at most `max_contexts` contexts with pending
    /// data (samples for new contexts beyond that are dropped and counted),
    /// and at most `max_contexts` pending timestamped points.
    pub fn new(max_contexts: usize) -> Aggregator {
        Aggregator {
            max_contexts,
            contexts: HashMap::new(),
            timestamped: Vec::new(),
            open_from: None,
            counters: StatsdCounters::default(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &StatsdCounters {
        &self.counters
    }

    /// Contexts currently holding unflushed data.
    pub fn context_count(&self) -> usize {
        self.contexts.len()
    }

    /// Parses a datagram that arrived at `arrival_s` on a listener with
    /// `defaults`, aggregates its metrics, counts everything, and returns
    /// its events and service checks (untouched, for the caller to store;
    /// see [`resolve_host_and_tags`]).
    pub fn ingest(
        &mut self,
        datagram: &[u8],
        arrival_s: i64,
        defaults: &ListenerDefaults,
    ) -> Vec<Message> {
        self.counters.datagrams += 1;
        let mut others = Vec::new();
        for parsed in parse_datagram(datagram) {
            self.counters.lines += 1;
            match parsed {
                Ok(Message::Metric(metric)) => self.add(&metric, arrival_s, defaults),
                Ok(other @ Message::Event(_)) => {
                    self.counters.events += 1;
                    others.push(other);
                }
                Ok(other @ Message::ServiceCheck(_)) => {
                    self.counters.service_checks += 1;
                    others.push(other);
                }
                Err(e) => *self.counters.parse_errors.entry(e.kind()).or_default() += 1,
            }
        }
        others
    }

    /// Adds one parsed metric line that arrived at `arrival_s`.
    pub fn add(&mut self, metric: &Metric, arrival_s: i64, defaults: &ListenerDefaults) {
        let family = Family::of(metric.kind);
        let values = if family == Family::Set {
            u64::from(metric.set_value.is_some())
        } else {
            metric.values.len() as u64
        };
        self.counters.metrics += 1;
        self.counters.metric_values += values;
        if values == 0 {
            return;
        }
        let Some(key) = series_key(metric, family, defaults) else {
            self.counters.invalid_series += values;
            return;
        };
        if let Some(ts_s) = metric.timestamp_s {
            self.add_timestamped(key, metric, family, ts_s, values);
            return;
        }
        let mut start = window_start(arrival_s);
        if let Some(open) = self.open_from.filter(|&open| start < open) {
            self.counters.late_values += values;
            start = open;
        }
        if !self.contexts.contains_key(&key) && self.contexts.len() >= self.max_contexts {
            self.counters.dropped_contexts += values;
            return;
        }
        let context = self.contexts.entry(key).or_insert_with(|| Context {
            family,
            unit: if metric.kind == MetricKind::Timer {
                TIMER_UNIT
            } else {
                ""
            },
            windows: BTreeMap::new(),
        });
        if context.family != family {
            self.counters.type_conflicts += values;
            return;
        }
        context
            .windows
            .entry(start)
            .or_insert_with(|| Window::new(family))
            .add(metric, &mut self.counters);
    }

    fn add_timestamped(
        &mut self,
        key: SeriesKey,
        metric: &Metric,
        family: Family,
        ts_s: i64,
        values: u64,
    ) {
        let kind = match family {
            Family::Count => MetricType::Count,
            Family::Gauge => MetricType::Gauge,
            _ => {
                self.counters.timestamped_unsupported += values;
                return;
            }
        };
        for &value in &metric.values {
            if self.timestamped.len() >= self.max_contexts {
                self.counters.dropped_timestamped += 1;
                continue;
            }
            self.timestamped
                .push((key.clone(), kind, Point { ts_s, value }));
        }
    }

    /// Emits every window that ended at or before `now_s` (and every
    /// pending timestamped point), each exactly once.
    pub fn flush(&mut self, now_s: i64) -> MetricBatch {
        let cutoff = window_start(now_s).max(self.open_from.unwrap_or(i64::MIN));
        self.open_from = Some(cutoff);
        self.emit(Some(cutoff))
    }

    /// Emits everything still held, whether its window has closed or not
    /// (for shutdown).
    pub fn flush_all(&mut self) -> MetricBatch {
        let last = self
            .contexts
            .values()
            .filter_map(|c| c.windows.keys().next_back())
            .max()
            .map(|s| s.saturating_add(WINDOW_S));
        if let Some(next) = last {
            self.open_from = Some(next.max(self.open_from.unwrap_or(i64::MIN)));
        }
        self.emit(None)
    }

    fn emit(&mut self, cutoff: Option<i64>) -> MetricBatch {
        let mut builder = BatchBuilder::default();
        for (key, kind, point) in self.timestamped.drain(..) {
            builder.point(key, kind, "", point);
        }
        for (key, context) in &mut self.contexts {
            let closed = match cutoff {
                Some(cutoff) => {
                    let open = context.windows.split_off(&cutoff);
                    std::mem::replace(&mut context.windows, open)
                }
                None => std::mem::take(&mut context.windows),
            };
            for (start, window) in closed {
                builder.window(key, context.unit, start, window);
            }
        }
        self.contexts.retain(|_, c| !c.windows.is_empty());
        builder.build()
    }
}

/// The context key of a sample: the name normalised the way Datadog does
/// when it is not a valid name (a histogram's must leave room for the
/// longest suffix), host and tags resolved like the Agent.
fn series_key(metric: &Metric, family: Family, defaults: &ListenerDefaults) -> Option<SeriesKey> {
    let name = if is_valid_metric_name(&metric.name) {
        metric.name.clone()
    } else {
        normalize_metric_name(&metric.name)
    };
    if family == Family::Histogram && name.len() > MAX_NAME_LEN - LONGEST_SUFFIX {
        return None;
    }
    let (host, tags) = resolve_host_and_tags(&metric.tags, defaults);
    SeriesKey::new(name, host, tags).ok()
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
