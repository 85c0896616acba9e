//! Validation of an [`AggregateRequest`] into a [`Plan`]: resolved time
//! range, typed facets and aggregations, the metrics every compute and sort
//! needs (deduplicated), and the timeseries intervals. Every 400 of the
//! endpoint (other than query syntax) comes from here.

use serde_json::Value;

use super::{AggregateRequest, ComputeSpec, GroupBySpec, HistogramSpec, SortSpec};
use crate::QueryError;

/// Largest allowed product of the group_by limits (Datadog's rule).
pub const MAX_LIMIT_PRODUCT: u64 = 10_000;
/// Most buckets a histogram group_by may have (Datadog's rule).
pub const MAX_HISTOGRAM_BUCKETS: u64 = 100;
/// Most time buckets a timeseries compute may span over the range.
pub const MAX_TIMESERIES_POINTS: i64 = 10_000;
/// Default group_by limit.
const DEFAULT_LIMIT: u64 = 10;
/// The default timeseries interval aims at this many points.
const TARGET_POINTS: i64 = 150;
/// Total value of `"total": true`.
const TRUE_TOTAL: &str = "*";

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Candidate default intervals, ascending.
const NICE_INTERVALS: [i64; 20] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
];

fn bad(message: String) -> QueryError {
    QueryError::BadRequest(message)
}

/// Where a facet's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Facet {
    Service,
    Host,
    Status,
    Source,
    TraceId,
    Message,
    /// `@path` (without the `@`).
    Attribute(String),
    /// Any other name: the value of tags `key:<value>`.
    Tag(String),
}

impl Facet {
    pub(crate) fn parse(name: &str) -> Result<Facet, QueryError> {
        if let Some(path) = name.strip_prefix('@') {
            if path.is_empty() || path.starts_with('.') || path.ends_with('.') {
                return Err(bad(format!("invalid facet {name:?}")));
            }
            return Ok(Facet::Attribute(path.to_string()));
        }
        Ok(match name {
            "service" => Facet::Service,
            "host" => Facet::Host,
            "status" => Facet::Status,
            "source" => Facet::Source,
            "trace_id" => Facet::TraceId,
            "message" => Facet::Message,
            "" => return Err(bad("a facet name is empty".into())),
            tag if tag.contains(':') || tag.contains(char::is_whitespace) => {
                return Err(bad(format!("invalid facet {name:?}")))
            }
            tag => Facet::Tag(tag.to_string()),
        })
    }
}

/// An aggregation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Agg {
    Count,
    Cardinality,
    Sum,
    Min,
    Max,
    Avg,
    /// `median` (0.5) and `pcNN`.
    Quantile(f64),
}

impl Agg {
    fn parse(name: &str) -> Result<Agg, QueryError> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "count" => Agg::Count,
            "cardinality" => Agg::Cardinality,
            "sum" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "avg" => Agg::Avg,
            "median" => Agg::Quantile(0.5),
            "pc75" => Agg::Quantile(0.75),
            "pc90" => Agg::Quantile(0.90),
            "pc95" => Agg::Quantile(0.95),
            "pc98" => Agg::Quantile(0.98),
            "pc99" => Agg::Quantile(0.99),
            _ => {
                return Err(bad(format!(
                    "unknown aggregation {name:?}: expected one of count, cardinality, \
                     sum, min, max, avg, median, pc75, pc90, pc95, pc98, pc99"
                )))
            }
        })
    }

    /// Whether the result is a count (written as an integer, never null).
    pub(crate) fn is_count(self) -> bool {
        matches!(self, Agg::Count | Agg::Cardinality)
    }
}

/// An aggregation over one metric (or over events, for a plain count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measure {
    pub(crate) agg: Agg,
    /// Index into [`Plan::metrics`]; `None` only for a plain count.
    pub(crate) metric: Option<usize>,
}

/// A metric facet and the partial states the plan needs of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricPlan {
    /// As written in the request (`@duration`).
    pub(crate) name: String,
    pub(crate) facet: Facet,
    /// Events having a value (count with a metric).
    pub(crate) present: bool,
    /// Count, sum, min and max of the numeric values.
    pub(crate) numeric: bool,
    /// A sketch of the numeric values (percentiles).
    pub(crate) sketch: bool,
    /// The distinct values (cardinality).
    pub(crate) distinct: bool,
}

/// One compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ComputePlan {
    pub(crate) measure: Measure,
    /// Timeseries: index into [`Plan::intervals`]; `None` for a total.
    pub(crate) series: Option<usize>,
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Asc,
    Desc,
}

/// How a level's buckets are ordered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SortPlan {
    /// By facet value.
    Alphabetical(Order),
    /// By a measure of the bucket.
    Measure(Measure, Order),
}

/// Fixed-width numeric buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) interval: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Histogram {
    fn new(spec: &HistogramSpec, facet: &str) -> Result<Histogram, QueryError> {
        let HistogramSpec { interval, min, max } = *spec;
        if !(interval.is_finite() && interval > 0.0 && min.is_finite() && max.is_finite()) {
            return Err(bad(format!(
                "group_by {facet:?}: histogram interval must be > 0 and min/max finite"
            )));
        }
        if min > max {
            return Err(bad(format!(
                "group_by {facet:?}: histogram min ({min}) is above max ({max})"
            )));
        }
        let buckets = ((max - min) / interval).floor() + 1.0;
        if buckets > MAX_HISTOGRAM_BUCKETS as f64 {
            return Err(bad(format!(
                "group_by {facet:?}: histogram would have {buckets} buckets, \
                 at most {MAX_HISTOGRAM_BUCKETS} are allowed"
            )));
        }
        Ok(Histogram { interval, min, max })
    }

    /// Number of buckets between `min` and `max`.
    fn buckets(&self) -> u64 {
        ((self.max - self.min) / self.interval).floor() as u64 + 1
    }

    /// The start of `v`'s bucket, `None` outside `[min, max]`.
    pub(crate) fn bucket(&self, v: f64) -> Option<f64> {
        if !(self.min..=self.max).contains(&v) {
            return None;
        }
        let start = self.min + ((v - self.min) / self.interval).floor() * self.interval;
        // Strip float noise (0.1 * 3 = 0.30000000000000004) at 1e-9.
        let rounded = (start * 1e9).round() / 1e9;
        Some(if rounded.is_finite() { rounded } else { start })
    }
}

/// One group_by level.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LevelPlan {
    /// The facet as written (the key in `by`).
    pub(crate) name: String,
    pub(crate) facet: Facet,
    pub(crate) limit: usize,
    pub(crate) sort: SortPlan,
    /// JSON text of the value for events without the facet.
    pub(crate) missing: Option<String>,
    /// The total bucket's value.
    pub(crate) total: Option<Value>,
    pub(crate) histogram: Option<Histogram>,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) query: String,
    /// Inclusive, epoch ms.
    pub(crate) from_ms: i64,
    /// Exclusive, epoch ms.
    pub(crate) to_ms: i64,
    pub(crate) levels: Vec<LevelPlan>,
    pub(crate) computes: Vec<ComputePlan>,
    pub(crate) metrics: Vec<MetricPlan>,
    /// Distinct timeseries intervals, ms.
    pub(crate) intervals: Vec<i64>,
}

impl Plan {
    /// Adds the columns the facets and metrics are read from.
    pub(crate) fn add_needs(&self, needs: &mut crate::needs::Needs) {
        for name in self
            .levels
            .iter()
            .map(|l| &l.name)
            .chain(self.metrics.iter().map(|m| &m.name))
        {
            needs.add_facet(name);
        }
    }

    pub(crate) fn new(request: &AggregateRequest, now_ms: i64) -> Result<Plan, QueryError> {
        let from = request.filter.from_or_default();
        let to = request.filter.to_or_default();
        let from_ms = crate::time::parse_time(from, now_ms)?;
        let to_ms = crate::time::parse_range_end(to, now_ms)?;
        if from_ms > to_ms {
            return Err(bad(format!(
                "filter.from ({from}) is after filter.to ({to})"
            )));
        }
        let mut plan = Plan {
            query: request.filter.query_or_default().to_string(),
            from_ms,
            to_ms,
            levels: Vec::new(),
            computes: Vec::new(),
            metrics: Vec::new(),
            intervals: Vec::new(),
        };
        if request.compute.is_empty() {
            plan.computes.push(ComputePlan {
                measure: Measure {
                    agg: Agg::Count,
                    metric: None,
                },
                series: None,
            });
        }
        for (i, compute) in request.compute.iter().enumerate() {
            let compute = plan.compute(i, compute)?;
            plan.computes.push(compute);
        }
        let mut limit_product: u64 = 1;
        for spec in &request.group_by {
            if plan.levels.iter().any(|l| l.name == spec.facet) {
                return Err(bad(format!(
                    "facet {:?} appears twice in group_by",
                    spec.facet
                )));
            }
            let level = plan.level(spec)?;
            limit_product = limit_product.saturating_mul(level.limit as u64);
            plan.levels.push(level);
        }
        if limit_product > MAX_LIMIT_PRODUCT {
            return Err(bad(format!(
                "the product of the group_by limits ({limit_product}) is above {MAX_LIMIT_PRODUCT}"
            )));
        }
        Ok(plan)
    }

    fn compute(&mut self, index: usize, spec: &ComputeSpec) -> Result<ComputePlan, QueryError> {
        let context = format!("compute[{index}]");
        let measure = self.measure(&spec.aggregation, spec.metric.as_deref(), &context)?;
        let series = match spec.kind.as_deref() {
            None | Some("total") => None,
            Some("timeseries") => Some(self.interval(spec.interval.as_deref(), &context)?),
            Some(other) => {
                return Err(bad(format!(
                    "{context}: type must be \"total\" or \"timeseries\", got {other:?}"
                )))
            }
        };
        Ok(ComputePlan { measure, series })
    }

    /// Registers what `aggregation` of `metric` needs; the measure.
    fn measure(
        &mut self,
        aggregation: &str,
        metric: Option<&str>,
        context: &str,
    ) -> Result<Measure, QueryError> {
        let agg = Agg::parse(aggregation).map_err(|e| bad(format!("{context}: {e}")))?;
        let Some(name) = metric else {
            if agg == Agg::Count {
                return Ok(Measure { agg, metric: None });
            }
            return Err(bad(format!(
                "{context}: aggregation {aggregation:?} needs a metric"
            )));
        };
        let facet = Facet::parse(name).map_err(|e| bad(format!("{context}: {e}")))?;
        let index = match self.metrics.iter().position(|m| m.facet == facet) {
            Some(index) => index,
            None => {
                self.metrics.push(MetricPlan {
                    name: name.to_string(),
                    facet,
                    present: false,
                    numeric: false,
                    sketch: false,
                    distinct: false,
                });
                self.metrics.len() - 1
            }
        };
        let metric = &mut self.metrics[index];
        match agg {
            Agg::Count => metric.present = true,
            Agg::Cardinality => metric.distinct = true,
            Agg::Sum | Agg::Min | Agg::Max | Agg::Avg => metric.numeric = true,
            Agg::Quantile(_) => metric.sketch = true,
        }
        Ok(Measure {
            agg,
            metric: Some(index),
        })
    }

    /// The index of the timeseries interval (explicit or default).
    fn interval(&mut self, text: Option<&str>, context: &str) -> Result<usize, QueryError> {
        let range = self.to_ms - self.from_ms;
        let interval = match text {
            Some(text) => crate::time::parse_interval(text)?,
            None => default_interval(range),
        };
        if interval <= 0 {
            return Err(bad(format!("{context}: interval must be positive")));
        }
        let first = self.from_ms.div_euclid(interval);
        let last = (self.to_ms - 1).max(self.from_ms).div_euclid(interval);
        let points = last - first + 1;
        if points > MAX_TIMESERIES_POINTS {
            return Err(bad(format!(
                "{context}: interval {} gives {points} points over the range, \
                 at most {MAX_TIMESERIES_POINTS} are allowed",
                text.unwrap_or_default()
            )));
        }
        Ok(match self.intervals.iter().position(|&i| i == interval) {
            Some(index) => index,
            None => {
                self.intervals.push(interval);
                self.intervals.len() - 1
            }
        })
    }

    fn level(&mut self, spec: &GroupBySpec) -> Result<LevelPlan, QueryError> {
        let name = &spec.facet;
        let context = format!("group_by {name:?}");
        let facet = Facet::parse(name)?;
        let histogram = match &spec.histogram {
            Some(h) => Some(Histogram::new(h, name)?),
            None => None,
        };
        let default_limit = histogram.map_or(DEFAULT_LIMIT, |h| h.buckets());
        let limit = spec.limit.unwrap_or(default_limit);
        if limit == 0 {
            return Err(bad(format!("{context}: limit must be at least 1")));
        }
        let default_sort = match histogram {
            Some(_) => SortPlan::Alphabetical(Order::Asc),
            None => SortPlan::Measure(
                Measure {
                    agg: Agg::Count,
                    metric: None,
                },
                Order::Desc,
            ),
        };
        let sort = match &spec.sort {
            None => default_sort,
            Some(sort) => self.sort(sort, &context)?,
        };
        let missing = match &spec.missing {
            None | Some(Value::Null) => None,
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                Some(value.to_string())
            }
            Some(other) => {
                return Err(bad(format!(
                    "{context}: missing must be a string or a number, got {other}"
                )))
            }
        };
        let total = match &spec.total {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(Value::String(TRUE_TOTAL.into())),
            Some(value @ (Value::String(_) | Value::Number(_))) => Some(value.clone()),
            Some(other) => {
                return Err(bad(format!(
                    "{context}: total must be a boolean, a string or a number, got {other}"
                )))
            }
        };
        Ok(LevelPlan {
            name: name.clone(),
            facet,
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            sort,
            missing,
            total,
            histogram,
        })
    }

    fn sort(&mut self, spec: &SortSpec, context: &str) -> Result<SortPlan, QueryError> {
        let alphabetical = match spec.kind.as_deref() {
            Some("alphabetical") => true,
            Some("measure") => false,
            None => spec.aggregation.is_none(),
            Some(other) => {
                return Err(bad(format!(
                    "{context}: sort type must be \"alphabetical\" or \"measure\", got {other:?}"
                )))
            }
        };
        let order = match spec.order.as_deref() {
            None if alphabetical => Order::Asc,
            None => Order::Desc,
            Some(text) if text.eq_ignore_ascii_case("asc") => Order::Asc,
            Some(text) if text.eq_ignore_ascii_case("desc") => Order::Desc,
            Some(other) => {
                return Err(bad(format!(
                    "{context}: sort order must be \"asc\" or \"desc\", got {other:?}"
                )))
            }
        };
        if alphabetical {
            return Ok(SortPlan::Alphabetical(order));
        }
        let aggregation = spec.aggregation.as_deref().unwrap_or("count");
        let measure = self.measure(
            aggregation,
            spec.metric.as_deref(),
            &format!("{context} sort"),
        )?;
        Ok(SortPlan::Measure(measure, order))
    }
}

/// `range / TARGET_POINTS`, rounded up to the next nice interval (then to
/// whole days), at least one second.
pub(crate) fn default_interval(range_ms: i64) -> i64 {
    let raw = (range_ms.max(0) + TARGET_POINTS - 1) / TARGET_POINTS;
    for nice in NICE_INTERVALS {
        if raw <= nice {
            return nice;
        }
    }
    (raw / DAY + i64::from(raw % DAY != 0)).saturating_mul(DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Filter;

    const NOW: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

    fn request(json: &str) -> AggregateRequest {
        serde_json::from_str(json).unwrap()
    }

    fn plan(json: &str) -> Result<Plan, QueryError> {
        Plan::new(&request(json), NOW)
    }

    fn error(json: &str) -> String {
        match plan(json) {
            Err(QueryError::BadRequest(message)) => message,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let plan = plan("{}").unwrap();
        assert_eq!(plan.query, "*");
        assert_eq!(
            plan.to_ms,
            NOW + 1,
            "a bare `now` end includes the current millisecond"
        );
        assert_eq!(plan.from_ms, NOW - 15 * MINUTE);
        assert_eq!(plan.computes.len(), 1);
        assert_eq!(plan.computes[0].measure.agg, Agg::Count);
        assert!(plan.levels.is_empty());
        assert!(plan.metrics.is_empty());
    }

    #[test]
    fn metrics_are_shared_between_computes_and_sorts() {
        let plan = plan(
            r#"{"compute":[{"aggregation":"avg","metric":"@duration"},
                           {"aggregation":"pc99","metric":"@duration"},
                           {"aggregation":"cardinality","metric":"host"}],
                "group_by":[{"facet":"service","sort":{"aggregation":"count","metric":"@duration"}}]}"#,
        )
        .unwrap();
        assert_eq!(plan.metrics.len(), 2);
        let duration = &plan.metrics[0];
        assert!(duration.numeric && duration.sketch && duration.present && !duration.distinct);
        assert_eq!(plan.metrics[1].facet, Facet::Host);
        assert!(plan.metrics[1].distinct);
        assert_eq!(
            plan.levels[0].sort,
            SortPlan::Measure(
                Measure {
                    agg: Agg::Count,
                    metric: Some(0)
                },
                Order::Desc
            )
        );
    }

    #[test]
    fn facets() {
        assert_eq!(Facet::parse("service").unwrap(), Facet::Service);
        assert_eq!(Facet::parse("trace_id").unwrap(), Facet::TraceId);
        assert_eq!(
            Facet::parse("@http.status_code").unwrap(),
            Facet::Attribute("http.status_code".into())
        );
        assert_eq!(Facet::parse("env").unwrap(), Facet::Tag("env".into()));
        assert!(Facet::parse("@").is_err());
        assert!(Facet::parse("").is_err());
        assert!(Facet::parse("a:b").is_err());
    }

    #[test]
    fn bad_requests_name_the_problem() {
        assert!(error(r#"{"compute":[{"aggregation":"p42","metric":"@x"}]}"#).contains("\"p42\""));
        assert!(error(r#"{"compute":[{"aggregation":"sum"}]}"#).contains("needs a metric"));
        assert!(error(r#"{"compute":[{"aggregation":"count","type":"bars"}]}"#).contains("type"));
        let product =
            error(r#"{"group_by":[{"facet":"a","limit":1000},{"facet":"b","limit":11}]}"#);
        assert!(product.contains("11000"), "{product}");
        assert!(error(r#"{"group_by":[{"facet":"a","limit":0}]}"#).contains("at least 1"));
        assert!(error(r#"{"group_by":[{"facet":"a"},{"facet":"a"}]}"#).contains("twice"));
        assert!(error(
            r#"{"group_by":[{"facet":"@d","histogram":{"interval":1,"min":0,"max":100}}]}"#
        )
        .contains("101 buckets"));
        assert!(error(
            r#"{"group_by":[{"facet":"@d","histogram":{"interval":0,"min":0,"max":1}}]}"#
        )
        .contains("interval"));
        assert!(error(r#"{"group_by":[{"facet":"a","total":[1]}]}"#).contains("total"));
        assert!(error(r#"{"group_by":[{"facet":"a","missing":{}}]}"#).contains("missing"));
        assert!(error(r#"{"group_by":[{"facet":"a","sort":{"order":"up"}}]}"#).contains("order"));
        assert!(
            error(r#"{"group_by":[{"facet":"a","sort":{"aggregation":"avg"}}]}"#)
                .contains("needs a metric")
        );
        assert!(error(r#"{"filter":{"from":"now","to":"now-1h"}}"#).contains("after"));
    }

    #[test]
    fn limit_product_at_the_bound_is_fine() {
        let plan =
            plan(r#"{"group_by":[{"facet":"a","limit":100},{"facet":"b","limit":100}]}"#).unwrap();
        assert_eq!(plan.levels[1].limit, 100);
    }

    #[test]
    fn sort_defaults() {
        let plan = plan(
            r#"{"group_by":[
                {"facet":"a"},
                {"facet":"b","sort":{"type":"alphabetical"}},
                {"facet":"c","sort":{"aggregation":"max","metric":"@d","order":"asc"}},
                {"facet":"@d","histogram":{"interval":10,"min":0,"max":95}}]}"#,
        )
        .unwrap();
        let count = Measure {
            agg: Agg::Count,
            metric: None,
        };
        assert_eq!(plan.levels[0].sort, SortPlan::Measure(count, Order::Desc));
        assert_eq!(plan.levels[0].limit, 10);
        assert_eq!(plan.levels[1].sort, SortPlan::Alphabetical(Order::Asc));
        assert!(matches!(
            plan.levels[2].sort,
            SortPlan::Measure(
                Measure {
                    agg: Agg::Max,
                    metric: Some(0)
                },
                Order::Asc
            )
        ));
        assert_eq!(plan.levels[3].sort, SortPlan::Alphabetical(Order::Asc));
        assert_eq!(plan.levels[3].limit, 10);
    }

    #[test]
    fn missing_and_total_values() {
        let plan = plan(
            r#"{"group_by":[{"facet":"a","missing":"none","total":true},
                            {"facet":"b","missing":0,"total":"all"},
                            {"facet":"c","total":false}]}"#,
        )
        .unwrap();
        assert_eq!(plan.levels[0].missing.as_deref(), Some("\"none\""));
        assert_eq!(plan.levels[0].total, Some(Value::String("*".into())));
        assert_eq!(plan.levels[1].missing.as_deref(), Some("0"));
        assert_eq!(plan.levels[1].total, Some(Value::String("all".into())));
        assert_eq!(plan.levels[2].total, None);
    }

    #[test]
    fn histogram_buckets() {
        let h = Histogram::new(
            &HistogramSpec {
                interval: 0.1,
                min: 0.0,
                max: 1.0,
            },
            "@x",
        )
        .unwrap();
        assert_eq!(h.buckets(), 11);
        assert_eq!(h.bucket(0.35), Some(0.3));
        assert_eq!(h.bucket(1.0), Some(1.0));
        assert_eq!(h.bucket(-0.01), None);
        assert_eq!(h.bucket(1.01), None);
        let shifted = Histogram::new(
            &HistogramSpec {
                interval: 10.0,
                min: 5.0,
                max: 100.0,
            },
            "@x",
        )
        .unwrap();
        assert_eq!(shifted.bucket(5.0), Some(5.0));
        assert_eq!(shifted.bucket(14.9), Some(5.0));
        assert_eq!(shifted.bucket(15.0), Some(15.0));
        assert_eq!(shifted.bucket(f64::NAN), None);
    }

    #[test]
    fn default_intervals() {
        assert_eq!(default_interval(15 * MINUTE), 10 * SECOND);
        assert_eq!(default_interval(HOUR), 30 * SECOND);
        assert_eq!(default_interval(DAY), 10 * MINUTE);
        assert_eq!(default_interval(0), SECOND);
        assert_eq!(default_interval(150 * SECOND), SECOND);
        assert_eq!(default_interval(150 * SECOND + 1), 2 * SECOND);
        assert_eq!(default_interval(365 * DAY), 7 * DAY);
        assert_eq!(default_interval(3650 * DAY), 25 * DAY);
    }

    #[test]
    fn timeseries_intervals_are_deduplicated_and_capped() {
        let mut request = request(
            r#"{"compute":[{"aggregation":"count","type":"timeseries","interval":"1m"},
                           {"aggregation":"sum","metric":"@d","type":"timeseries","interval":"60s"},
                           {"aggregation":"count","type":"timeseries"}]}"#,
        );
        request.filter = Filter {
            from: Some("now-1h".into()),
            ..Filter::default()
        };
        let plan = Plan::new(&request, NOW).unwrap();
        assert_eq!(plan.intervals, vec![MINUTE, 30 * SECOND]);
        assert_eq!(plan.computes[1].series, Some(0));
        assert_eq!(plan.computes[2].series, Some(1));
        let message = error(
            r#"{"filter":{"from":"now-30d"},
                "compute":[{"aggregation":"count","type":"timeseries","interval":"1s"}]}"#,
        );
        assert!(message.contains("points"), "{message}");
    }
}
