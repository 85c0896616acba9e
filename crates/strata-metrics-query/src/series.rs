//! Evaluating one metric query: fetch, time aggregation, fill, grouping and
//! space aggregation.
//!
//! Time aggregation (per series, per bucket; `W` = rollup interval, `I` =
//! the series' point interval, 1 s when unknown), after Datadog's
//! `metrics/custom_metrics/type_modifiers` page:
//!
//! | type            | no modifier | `.as_count()`  | `.as_rate()`       |
//! |-----------------|-------------|----------------|--------------------|
//! | gauge, untyped  | avg         | avg            | avg                |
//! | count           | sum         | sum            | sum / W            |
//! | rate            | avg         | sum × I        | sum × I / W        |
//!
//! An explicit `.rollup(agg)` replaces the aggregator in the table (the
//! scaling by `I` and `W` still applies). Datadog's page says `.as_rate()`
//! on a rate only "sets the time aggregator to SUM"; summing per-second
//! rates over a bucket is not a rate, so Strata converts to the count
//! (`× I`) and back to a per-second rate over the bucket (`/ W`), which
//! equals the average when the points tile the bucket.
//!
//! Distributions are aggregated in time and space at once (Datadog's
//! `metrics/faq/rollup-for-distributions-with-percentiles`): per group and
//! bucket, the members' summaries (and, for percentiles, sketches) are
//! merged; `avg` is total sum / total count, `count` the number of values.
//! Rollup aggregators and type modifiers do not apply to them.
//!
//! Grouping: a series joins the group of each combination of its values of
//! the `by` keys (a series with two `env` values is in two groups); a
//! series without a key is in that key's `key:N/A` group, as in Datadog.

use std::collections::{BTreeMap, BTreeSet};

use strata_metrics::{MetricType, SeriesKey, Sketch};

use crate::ast::{MetricQuery, RollupAgg, SpaceAgg, TypeModifier};
use crate::error::QueryError;
use crate::interval::Grid;
use crate::source::{Bucket, FetchRequest, FetchedSeries, SeriesSource};
use crate::transform::fill;

/// Most groups one series may join (the product of its value counts for
/// the `by` keys); combinations past this are dropped, so a series with
/// hundreds of values per key cannot blow up the answer.
pub(crate) const MAX_GROUPS_PER_SERIES: usize = 1024;

/// One result series: a group's tag set and one value per grid bucket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// `["host:a", "env:N/A"]`, in `by` order; empty when not grouped.
    pub(crate) tag_set: Vec<String>,
    /// `None`: no data; NaN: undefined (shown as `null`).
    pub(crate) values: Vec<Option<f64>>,
}

/// Evaluates one metric query on `grid`; groups come out sorted by tag set.
pub(crate) fn eval_metric<S: SeriesSource>(
    source: &S,
    query: &MetricQuery,
    grid: &Grid,
) -> Result<Vec<Series>, QueryError> {
    if grid.buckets == 0 {
        return Ok(Vec::new());
    }
    let percentile = matches!(query.space_agg, Some(SpaceAgg::Percentile(_)));
    let request = FetchRequest {
        metric: &query.metric,
        scope: &query.scope,
        from_s: grid.from_s,
        to_s: grid.to_s,
        interval_s: grid.interval_s,
        start_s: grid.start_s,
        buckets: grid.buckets,
        sketches: percentile,
    };
    let fetched = source
        .fetch(&request)
        .map_err(|e| QueryError::Source(Box::new(e)))?;
    check_contract(&request, &fetched)?;
    let distributions = fetched
        .iter()
        .filter(|s| s.kind == MetricType::Distribution)
        .count();
    if distributions > 0 && distributions < fetched.len() {
        return Err(QueryError::MixedKinds {
            metric: query.metric.clone(),
        });
    }
    if percentile && distributions < fetched.len() {
        return Err(QueryError::PercentileOnNonDistribution {
            metric: query.metric.clone(),
            aggregator: query.space_agg.map(SpaceAgg::name).unwrap_or_default(),
        });
    }
    let groups = group_series(&fetched, &query.group_by);
    if distributions > 0 {
        Ok(distribution_groups(query, &fetched, groups, grid))
    } else {
        Ok(plain_groups(query, &fetched, groups, grid))
    }
}

/// Refuses answers that break the [`SeriesSource`] contract.
fn check_contract(request: &FetchRequest<'_>, fetched: &[FetchedSeries]) -> Result<(), QueryError> {
    let mut seen = BTreeSet::new();
    for series in fetched {
        let problem = if series.key.metric != request.metric || !request.scope.matches(&series.key)
        {
            Some("a series that does not match the request")
        } else if series.buckets.len() != request.buckets {
            Some("a series with the wrong number of buckets")
        } else if series.buckets.iter().flatten().any(|b| b.count == 0) {
            Some("a bucket with count 0")
        } else if request.sketches
            && series.kind == MetricType::Distribution
            && series.sketches.len() != request.buckets
        {
            Some("a distribution without one sketch slot per bucket")
        } else if !seen.insert(&series.key) {
            Some("the same series twice")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(QueryError::SourceContract(format!(
                "{problem}: {:?}",
                series.key
            )));
        }
    }
    Ok(())
}

/// Group tag set → indices of member series.
fn group_series(fetched: &[FetchedSeries], by: &[String]) -> BTreeMap<Vec<String>, Vec<usize>> {
    let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (index, series) in fetched.iter().enumerate() {
        for tag_set in group_tag_sets(&series.key, by) {
            groups.entry(tag_set).or_default().push(index);
        }
    }
    groups
}

/// Every group tag set a series belongs to (one, `[]`, when `by` is empty).
pub(crate) fn group_tag_sets(key: &SeriesKey, by: &[String]) -> Vec<Vec<String>> {
    let mut sets: Vec<Vec<String>> = vec![Vec::new()];
    for group_key in by {
        let values = tag_values(key, group_key);
        let labels: Vec<String> = if values.is_empty() {
            vec![format!("{group_key}:N/A")]
        } else {
            values.iter().map(|v| format!("{group_key}:{v}")).collect()
        };
        let mut next = Vec::with_capacity(sets.len() * labels.len());
        'outer: for set in &sets {
            for label in &labels {
                if next.len() == MAX_GROUPS_PER_SERIES {
                    break 'outer;
                }
                let mut extended = set.clone();
                extended.push(label.clone());
                next.push(extended);
            }
        }
        sets = next;
    }
    sets
}

/// The values of tag key `key` on a series, sorted, without duplicates; the
/// host field counts as `host:<host>`.
fn tag_values<'k>(series: &'k SeriesKey, key: &str) -> Vec<&'k str> {
    let mut values: Vec<&str> = series
        .tags
        .iter()
        .filter_map(|t| t.strip_prefix(key)?.strip_prefix(':'))
        .collect();
    if key == "host" && !series.host.is_empty() {
        values.push(&series.host);
    }
    values.sort_unstable();
    values.dedup();
    values
}

/// How one series' bucket becomes a value: `agg(bucket) × scale`.
#[derive(Debug, Clone, Copy)]
struct TimeAggregation {
    agg: RollupAgg,
    scale: f64,
}

impl TimeAggregation {
    /// The table in the module docs.
    fn new(series: &FetchedSeries, query: &MetricQuery, rollup_interval_s: i64) -> TimeAggregation {
        let explicit = query.rollup.and_then(|r| r.agg);
        let point_interval = if series.interval_s > 0 {
            f64::from(series.interval_s)
        } else {
            1.0
        };
        let window = rollup_interval_s as f64;
        let (default_agg, scale) = match (series.kind, query.modifier) {
            (MetricType::Count, None | Some(TypeModifier::AsCount)) => (RollupAgg::Sum, 1.0),
            (MetricType::Count, Some(TypeModifier::AsRate)) => (RollupAgg::Sum, 1.0 / window),
            (MetricType::Rate, None) => (RollupAgg::Avg, 1.0),
            (MetricType::Rate, Some(TypeModifier::AsCount)) => (RollupAgg::Sum, point_interval),
            (MetricType::Rate, Some(TypeModifier::AsRate)) => {
                (RollupAgg::Sum, point_interval / window)
            }
            _ => (RollupAgg::Avg, 1.0),
        };
        TimeAggregation {
            agg: explicit.unwrap_or(default_agg),
            scale,
        }
    }

    fn apply(&self, bucket: &Bucket) -> f64 {
        let value = match self.agg {
            RollupAgg::Avg => bucket.sum / bucket.count as f64,
            RollupAgg::Sum => bucket.sum,
            RollupAgg::Min => bucket.min,
            RollupAgg::Max => bucket.max,
            RollupAgg::Count => bucket.count as f64,
        };
        value * self.scale
    }
}

/// Gauges, counts and rates: time-aggregate and fill each series, then
/// aggregate each group across its series.
fn plain_groups(
    query: &MetricQuery,
    fetched: &[FetchedSeries],
    groups: BTreeMap<Vec<String>, Vec<usize>>,
    grid: &Grid,
) -> Vec<Series> {
    let per_series: Vec<Vec<Option<f64>>> = fetched
        .iter()
        .map(|series| {
            let time_agg = TimeAggregation::new(series, query, grid.interval_s);
            let mut values: Vec<Option<f64>> = series
                .buckets
                .iter()
                .map(|b| b.as_ref().map(|b| time_agg.apply(b)))
                .collect();
            if let Some(how) = query.fill {
                fill(&mut values, how, grid.interval_s);
            }
            values
        })
        .collect();
    let agg = query.space_agg.unwrap_or(SpaceAgg::Avg);
    let mut out = Vec::with_capacity(groups.len());
    for (tag_set, members) in groups {
        let member_values: Vec<&Vec<Option<f64>>> =
            members.iter().filter_map(|&m| per_series.get(m)).collect();
        let values = (0..grid.buckets)
            .map(|i| {
                space_aggregate(
                    agg,
                    member_values
                        .iter()
                        .filter_map(|v| v.get(i).copied().flatten()),
                )
            })
            .collect();
        out.push(Series { tag_set, values });
    }
    out
}

/// Combines the values of a group's series in one bucket.
fn space_aggregate(agg: SpaceAgg, values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut count = 0_u64;
    let (mut sum, mut min, mut max) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
    for value in values {
        count += 1;
        sum += value;
        min = min.min(value);
        max = max.max(value);
    }
    if count == 0 {
        return None;
    }
    match agg {
        SpaceAgg::Avg => Some(sum / count as f64),
        SpaceAgg::Sum => Some(sum),
        SpaceAgg::Min => Some(min),
        SpaceAgg::Max => Some(max),
        SpaceAgg::Count => Some(count as f64),
        // Refused before: percentiles need distributions.
        SpaceAgg::Percentile(_) => None,
    }
}

/// Distributions: merge the group's summaries (or sketches) per bucket.
fn distribution_groups(
    query: &MetricQuery,
    fetched: &[FetchedSeries],
    groups: BTreeMap<Vec<String>, Vec<usize>>,
    grid: &Grid,
) -> Vec<Series> {
    let agg = query.space_agg.unwrap_or(SpaceAgg::Avg);
    let mut out = Vec::with_capacity(groups.len());
    for (tag_set, members) in groups {
        let members: Vec<&FetchedSeries> = members.iter().filter_map(|&m| fetched.get(m)).collect();
        let mut values: Vec<Option<f64>> = (0..grid.buckets)
            .map(|i| distribution_value(agg, &members, i))
            .collect();
        if let Some(how) = query.fill {
            fill(&mut values, how, grid.interval_s);
        }
        out.push(Series { tag_set, values });
    }
    out
}

fn distribution_value(agg: SpaceAgg, members: &[&FetchedSeries], bucket: usize) -> Option<f64> {
    if let SpaceAgg::Percentile(p) = agg {
        let mut merged: Option<Sketch> = None;
        for sketch in members
            .iter()
            .filter_map(|s| s.sketches.get(bucket)?.as_ref())
        {
            match merged.as_mut() {
                Some(acc) => acc.merge(sketch),
                None => merged = Some(sketch.clone()),
            }
        }
        return merged?.quantile(f64::from(p) / 100.0);
    }
    let mut summary: Option<Bucket> = None;
    for b in members
        .iter()
        .filter_map(|s| s.buckets.get(bucket)?.as_ref())
    {
        Bucket::merge_into(&mut summary, b);
    }
    let summary = summary?;
    Some(match agg {
        SpaceAgg::Avg => summary.sum / summary.count as f64,
        SpaceAgg::Sum => summary.sum,
        SpaceAgg::Min => summary.min,
        SpaceAgg::Max => summary.max,
        SpaceAgg::Count | SpaceAgg::Percentile(_) => summary.count as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_tag_sets_cover_na_and_multi_values() {
        let key = SeriesKey::new(
            "m",
            "h1",
            vec!["env:a".into(), "env:b".into(), "solo".into()],
        )
        .unwrap();
        let by = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(group_tag_sets(&key, &[]), vec![Vec::<String>::new()]);
        assert_eq!(group_tag_sets(&key, &by(&["host"])), vec![vec!["host:h1"]]);
        assert_eq!(group_tag_sets(&key, &by(&["zone"])), vec![vec!["zone:N/A"]]);
        assert_eq!(
            group_tag_sets(&key, &by(&["env", "host"])),
            vec![vec!["env:a", "host:h1"], vec!["env:b", "host:h1"]]
        );
        assert_eq!(group_tag_sets(&key, &by(&["solo"])), vec![vec!["solo:N/A"]]);
    }

    #[test]
    fn group_blow_up_is_bounded() {
        let tags: Vec<String> = (0..100)
            .flat_map(|i| [format!("a:{i}"), format!("b:{i}")])
            .collect();
        let key = SeriesKey::new("m", "", tags).unwrap();
        let sets = group_tag_sets(&key, &["a".to_string(), "b".to_string()]);
        assert_eq!(sets.len(), MAX_GROUPS_PER_SERIES);
    }
}
