//! One OTLP metric at a time: each kind of data to points and sketches.

use strata_metrics::{is_valid_metric_name, normalize_metric_name, MetricType, Point, SeriesKey};

use super::proto::{
    metric::Data, number_data_point::Value, AggregationTemporality, Buckets, ExponentialHistogram,
    Histogram, Metric, NumberDataPoint, Summary,
};
use super::sketches::{
    bucket_delta, check_side, explicit_counts, explicit_sketch, exponential_delta,
    exponential_sketch, layout_hash, ExpBuckets, Stats,
};
use super::state::{Snapshot, StateKey, StateKind, Step};
use super::{interval_between, Begun, Decoder, Place, ResourceTags};
use crate::metrics::DropReason;
use crate::IngestError;

/// How a list of number points is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberMode {
    Gauge,
    DeltaCount,
    CumulativeCount,
    /// A monotonic sum without a usable temporality: rejected.
    Unspecified,
}

/// `Some(true)` for CUMULATIVE, `Some(false)` for DELTA, `None` otherwise.
fn is_cumulative(temporality: i32) -> Option<bool> {
    match AggregationTemporality::try_from(temporality) {
        Ok(AggregationTemporality::Delta) => Some(false),
        Ok(AggregationTemporality::Cumulative) => Some(true),
        _ => None,
    }
}

const NO_TEMPORALITY: &str = "aggregationTemporality is neither DELTA nor CUMULATIVE";

fn data_points(data: &Data) -> usize {
    match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(e) => e.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    }
}

fn exp_side(buckets: Option<&Buckets>) -> ExpBuckets<'_> {
    ExpBuckets {
        offset: buckets.map_or(0, |b| i64::from(b.offset)),
        counts: buckets.map_or(&[][..], |b| b.bucket_counts.as_slice()),
    }
}

fn number_delta(prev: &Snapshot, cur: &Snapshot) -> Option<f64> {
    match (prev, cur) {
        (Snapshot::Number(p), Snapshot::Number(c)) if c >= p => Some(c - p),
        _ => None,
    }
}

impl Decoder<'_> {
    /// Decodes one metric's data points. The name is normalised here, once
    /// for all of them.
    pub(super) fn metric(
        &mut self,
        resource: &ResourceTags,
        at: Place,
        metric: &Metric,
    ) -> Result<(), IngestError> {
        let Some(data) = &metric.data else {
            return Ok(());
        };
        let name = metric.name.as_str();
        let normalized = normalize_metric_name(name);
        if !is_valid_metric_name(&normalized) {
            let points = data_points(data);
            self.collector.count_points(points, &at)?;
            for p in 0..points {
                self.reject(
                    at.point(p),
                    None,
                    format_args!(
                        "invalid metric name {name:?}: 1 to 200 characters, starting with a \
                         letter"
                    ),
                );
            }
            return Ok(());
        }
        let unit = metric.unit.as_str();
        let name = normalized.as_str();
        match data {
            Data::Gauge(g) => {
                self.numbers(resource, at, name, unit, &g.data_points, NumberMode::Gauge)
            }
            Data::Sum(s) => {
                let mode = match (s.is_monotonic, is_cumulative(s.aggregation_temporality)) {
                    (false, _) => NumberMode::Gauge,
                    (true, Some(false)) => NumberMode::DeltaCount,
                    (true, Some(true)) => NumberMode::CumulativeCount,
                    (true, None) => NumberMode::Unspecified,
                };
                self.numbers(resource, at, name, unit, &s.data_points, mode)
            }
            Data::Histogram(h) => self.histograms(resource, at, name, h),
            Data::ExponentialHistogram(e) => self.exponentials(resource, at, name, e),
            Data::Summary(s) => self.summaries(resource, at, &metric.name, unit, s),
        }
    }

    fn numbers(
        &mut self,
        resource: &ResourceTags,
        at: Place,
        name: &str,
        unit: &str,
        points: &[NumberDataPoint],
        mode: NumberMode,
    ) -> Result<(), IngestError> {
        for (p, dp) in points.iter().enumerate() {
            let at = at.point(p);
            let Some(mut begun) =
                self.begin(at, resource, &dp.attributes, dp.time_unix_nano, dp.flags, 1)?
            else {
                continue;
            };
            let value = match dp.value {
                None => {
                    let why = Some(DropReason::NoValue);
                    self.reject(at, why, "no value (neither asDouble nor asInt)");
                    continue;
                }
                Some(Value::AsDouble(v)) => v,
                Some(Value::AsInt(i)) => i as f64,
            };
            if !value.is_finite() {
                let why = Some(DropReason::NonFinite);
                self.reject(at, why, format_args!("value {value} is not finite"));
                continue;
            }
            if mode == NumberMode::Unspecified {
                self.reject(at, None, format_args!("monotonic sum: {NO_TEMPORALITY}"));
                continue;
            }
            let tags = std::mem::take(&mut begun.tags);
            let Some(key) = self.key(at, name, &resource.host, tags) else {
                continue;
            };
            let point = Point {
                ts_s: begun.ts_s,
                value,
            };
            match mode {
                NumberMode::Gauge => self.emit(at, key, MetricType::Gauge, 0, unit, point)?,
                NumberMode::DeltaCount => {
                    let interval = interval_between(dp.start_time_unix_nano, begun.time_ns);
                    self.emit(at, key, MetricType::Count, interval, unit, point)?;
                }
                NumberMode::CumulativeCount | NumberMode::Unspecified => {
                    let start = dp.start_time_unix_nano;
                    self.cumulative_number(at, key, start, &begun, value, unit)?;
                }
            }
        }
        Ok(())
    }

    /// The state key of a series of the scope being decoded.
    fn state_key(&self, key: &SeriesKey, kind: StateKind) -> StateKey {
        StateKey {
            series: key.id(),
            origin: self.origin,
            kind,
        }
    }

    /// A cumulative total through the state: a count of the increase, or
    /// nothing for a baseline.
    fn cumulative_number(
        &mut self,
        at: Place,
        key: SeriesKey,
        start_ns: u64,
        begun: &Begun,
        value: f64,
        unit: &str,
    ) -> Result<(), IngestError> {
        let state_key = self.state_key(&key, StateKind::Number);
        let snapshot = Snapshot::Number(value);
        let step = self.state.advance(
            &mut self.undo,
            state_key,
            start_ns,
            begun.time_ns,
            snapshot,
            number_delta,
        );
        if let Step::Delta {
            delta,
            prev_time_ns,
        } = step
        {
            let interval = interval_between(prev_time_ns, begun.time_ns);
            let point = Point {
                ts_s: begun.ts_s,
                value: delta,
            };
            self.emit(at, key, MetricType::Count, interval, unit, point)?;
        }
        Ok(())
    }

    /// Stores a built sketch, or rejects the point with the builder's reason.
    /// An empty sketch (no value in the interval) stores nothing.
    fn sketch_point(
        &mut self,
        at: Place,
        key: SeriesKey,
        ts_s: i64,
        built: Result<Option<strata_metrics::Sketch>, String>,
    ) -> Result<(), IngestError> {
        match built {
            Ok(Some(sketch)) => self.emit_sketch(at, key, ts_s, sketch),
            Ok(None) => Ok(()),
            Err(why) => {
                self.reject(at, None, why);
                Ok(())
            }
        }
    }

    fn histograms(
        &mut self,
        resource: &ResourceTags,
        at: Place,
        name: &str,
        histogram: &Histogram,
    ) -> Result<(), IngestError> {
        let cumulative = is_cumulative(histogram.aggregation_temporality);
        for (p, dp) in histogram.data_points.iter().enumerate() {
            let at = at.point(p);
            let Some(mut begun) =
                self.begin(at, resource, &dp.attributes, dp.time_unix_nano, dp.flags, 1)?
            else {
                continue;
            };
            let Some(cumulative) = cumulative else {
                self.reject(at, None, format_args!("histogram: {NO_TEMPORALITY}"));
                continue;
            };
            let bounds = dp.explicit_bounds.as_slice();
            let counts = match explicit_counts(bounds, &dp.bucket_counts, dp.count) {
                Ok(counts) => counts,
                Err(why) => {
                    self.reject(at, None, why);
                    continue;
                }
            };
            let tags = std::mem::take(&mut begun.tags);
            let Some(key) = self.key(at, name, &resource.host, tags) else {
                continue;
            };
            let (counts, stats) = if cumulative {
                let snapshot = Snapshot::Buckets {
                    layout: layout_hash(bounds),
                    counts,
                    sum: dp.sum.filter(|s| s.is_finite()),
                };
                let state_key = self.state_key(&key, StateKind::Histogram);
                let start = dp.start_time_unix_nano;
                let step = self.state.advance(
                    &mut self.undo,
                    state_key,
                    start,
                    begun.time_ns,
                    snapshot,
                    bucket_delta,
                );
                let Step::Delta {
                    delta: (counts, sum),
                    ..
                } = step
                else {
                    continue;
                };
                (counts, Stats::new(sum, None, None))
            } else {
                (counts, Stats::new(dp.sum, dp.min, dp.max))
            };
            let built = explicit_sketch(bounds, &counts, &stats);
            self.sketch_point(at, key, begun.ts_s, built)?;
        }
        Ok(())
    }

    fn exponentials(
        &mut self,
        resource: &ResourceTags,
        at: Place,
        name: &str,
        histogram: &ExponentialHistogram,
    ) -> Result<(), IngestError> {
        let cumulative = is_cumulative(histogram.aggregation_temporality);
        for (p, dp) in histogram.data_points.iter().enumerate() {
            let at = at.point(p);
            let Some(mut begun) =
                self.begin(at, resource, &dp.attributes, dp.time_unix_nano, dp.flags, 1)?
            else {
                continue;
            };
            let Some(cumulative) = cumulative else {
                let why = format!("exponential histogram: {NO_TEMPORALITY}");
                self.reject(at, None, why);
                continue;
            };
            if !(-10..=20).contains(&dp.scale) {
                let why = format!("scale {} is outside -10..=20", dp.scale);
                self.reject(at, None, why);
                continue;
            }
            let positive = exp_side(dp.positive.as_ref());
            let negative = exp_side(dp.negative.as_ref());
            let sides = check_side("positive", positive).and(check_side("negative", negative));
            if let Err(why) = sides {
                self.reject(at, None, why);
                continue;
            }
            let tags = std::mem::take(&mut begun.tags);
            let Some(key) = self.key(at, name, &resource.host, tags) else {
                continue;
            };
            if !cumulative {
                let stats = Stats::new(dp.sum, dp.min, dp.max);
                let built = exponential_sketch(dp.scale, dp.zero_count, positive, negative, &stats);
                self.sketch_point(at, key, begun.ts_s, built)?;
                continue;
            }
            let snapshot = Snapshot::Exponential {
                scale: dp.scale,
                zero: dp.zero_count,
                pos_offset: positive.offset,
                positive: positive.counts.to_vec(),
                neg_offset: negative.offset,
                negative: negative.counts.to_vec(),
                sum: dp.sum.filter(|s| s.is_finite()),
            };
            let state_key = self.state_key(&key, StateKind::Exponential);
            let start = dp.start_time_unix_nano;
            let step = self.state.advance(
                &mut self.undo,
                state_key,
                start,
                begun.time_ns,
                snapshot,
                exponential_delta,
            );
            if let Step::Delta { delta: d, .. } = step {
                let positive = ExpBuckets {
                    offset: d.pos_offset,
                    counts: &d.positive,
                };
                let negative = ExpBuckets {
                    offset: d.neg_offset,
                    counts: &d.negative,
                };
                let stats = Stats::new(d.sum, None, None);
                let built = exponential_sketch(dp.scale, d.zero, positive, negative, &stats);
                self.sketch_point(at, key, begun.ts_s, built)?;
            }
        }
        Ok(())
    }

    /// Summary points; `name` is the metric's name as sent (each output
    /// name, with its suffix, is normalised once here).
    fn summaries(
        &mut self,
        resource: &ResourceTags,
        at: Place,
        name: &str,
        unit: &str,
        summary: &Summary,
    ) -> Result<(), IngestError> {
        let [count_name, sum_name, quantile_name] =
            [".count", ".sum", ".quantile"].map(|s| normalize_metric_name(&format!("{name}{s}")));
        for (p, dp) in summary.data_points.iter().enumerate() {
            let at = at.point(p);
            let outputs = dp.quantile_values.len().saturating_add(2);
            let Some(begun) = self.begin(
                at,
                resource,
                &dp.attributes,
                dp.time_unix_nano,
                dp.flags,
                outputs,
            )?
            else {
                continue;
            };
            if !dp.sum.is_finite() {
                let why = Some(DropReason::NonFinite);
                self.reject(
                    at,
                    why,
                    format_args!("summary sum {} is not finite", dp.sum),
                );
                continue;
            }
            let host = resource.host.as_str();
            let start = dp.start_time_unix_nano;
            if let Some(key) = self.key(at, &count_name, host, begun.tags.clone()) {
                self.cumulative_number(at, key, start, &begun, dp.count as f64, "")?;
            }
            if let Some(key) = self.key(at, &sum_name, host, begun.tags.clone()) {
                self.cumulative_number(at, key, start, &begun, dp.sum, unit)?;
            }
            for q in &dp.quantile_values {
                if !(q.quantile.is_finite() && q.value.is_finite()) {
                    let why = format!("quantile {} value {} is not finite", q.quantile, q.value);
                    self.reject(at, Some(DropReason::NonFinite), why);
                    continue;
                }
                let mut tags = begun.tags.clone();
                tags.push(format!("quantile:{}", q.quantile));
                let Some(key) = self.key(at, &quantile_name, host, tags) else {
                    continue;
                };
                let point = Point {
                    ts_s: begun.ts_s,
                    value: q.value,
                };
                self.emit(at, key, MetricType::Gauge, 0, unit, point)?;
            }
        }
        Ok(())
    }
}
