//! Log analytics: Datadog's `POST /api/v2/logs/analytics/aggregate`
//! ([`Engine::aggregate`]). Counts, cardinalities, sums, averages, extremes
//! and percentiles of the events matching a query, grouped by up to several
//! nested facets, as totals or timeseries.
//!
//! # Pipeline
//!
//! ```text
//!  Engine::scan (blocking thread)        DataFusion (async)               Rust merge
//!  ─────────────────────────────        ──────────────────               ──────────
//!  matching rows ─► one normalised  ─►  GROUP BY every facet and    ─►   roll the finest
//!  Arrow row each: facet values as      every time bucket (the           groups up the
//!  JSON text, metrics as Float64,       FINEST grouping) into            group_by tree:
//!  cardinality values as text,          mergeable partial states:        limits, sorts,
//!  time buckets as Int64                count, count(m), sum, min,       missing, totals,
//!  (8192-row batches, bounded           max, a DDSketch per percentile   timeseries
//!  channel: memory stays bounded)       metric, array_agg(DISTINCT)
//! ```
//!
//! Every state is mergeable, so one DataFusion pass answers every level of
//! the tree, totals included, and the two parts never disagree. DataFusion
//! runs under a memory pool of [`MEMORY_LIMIT_BYTES`]: a grouping with too
//! many distinct values fails with a 4xx instead of taking the node down.
//!
//! # Semantics
//!
//! Where Datadog's documentation is silent, Strata does what a Datadog user
//! would expect; each such choice is marked *(Strata)*.
//!
//! **Range and query.** `filter.from` (default `now-15m`) is inclusive,
//! `filter.to` (default `now`) exclusive; both accept date math, ISO 8601
//! and epoch ms ([`crate::time::parse_time`]). `filter.query` defaults to
//! `*`. `filter.indexes` and `filter.storage_tier` are ignored (one index
//! per tenant). `options` is deprecated upstream and ignored.
//!
//! **Computes.** Keys are `c0`, `c1`, … in request order; an empty `compute`
//! list means one `count` *(Strata; Datadog's behaviour is unverified)*.
//! Aggregations: `count`, `cardinality`, `sum`, `min`, `max`, `avg`,
//! `median`, `pc75`, `pc90`, `pc95`, `pc98`, `pc99`. Every aggregation but
//! `count` needs a `metric`; an unknown aggregation, a missing metric or an
//! unknown `type` is a 400.
//!
//! - `metric` is a facet like a `group_by` facet (see *Facets*): `@duration`
//!   is an attribute, `service` a reserved field, `env` a tag key.
//! - `count` without a metric counts events; **with** a metric it counts
//!   the events that have a value for it (of any type).
//! - `sum`, `min`, `max`, `avg` and the percentiles use numeric values only:
//!   integers, floats, and strings that parse as a finite `f64` (JSON senders
//!   often stringify numbers) *(Strata)*. Other values (booleans, text) are
//!   ignored, as are events without the metric.
//! - Percentiles (`median` = p50) come from a [`crate::sketch::DdSketch`]
//!   with 1 % relative accuracy, rank `floor(q * (n - 1))`; `min`/`max` are
//!   exact.
//! - `cardinality` is exact: the number of distinct values of the metric
//!   (any type; `200` and `"200"` are different values).
//! - Over a set with no numeric value, `sum`, `min`, `max`, `avg` and the
//!   percentiles are `null` (not `0`) *(Strata)*; `count` and `cardinality`
//!   are `0`.
//! - Integral results are written as JSON integers (`345`, not `345.0`).
//!
//! **Timeseries.** A compute with `"type": "timeseries"` answers
//! `[{"time": "2024-01-01T00:00:00.000Z", "value": n}, …]`: one point per
//! time bucket in which the value is not `null` (a bucket of the group with
//! events but no numeric value of the metric is left out), oldest first.
//! Buckets start at multiples of the interval since the Unix epoch (UTC).
//! `interval` uses [`crate::time::parse_interval`]; without it the interval
//! is `(to - from) / 150` rounded **up** to the next of 1s, 2s, 5s, 10s,
//! 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d, 2d, 7d, then
//! whole days *(Strata)*: 15 minutes → 10s, 1 hour → 30s, 1 day → 10m. More
//! than [`MAX_TIMESERIES_POINTS`] buckets in the range is a 400. Total and
//! timeseries computes, even with different intervals, mix freely.
//!
//! **Facets.** `service`, `host`, `status`, `source`, `trace_id` and
//! `message` are the reserved fields; `@path` is an attribute (dotted path,
//! reaching into JSON arrays/objects stored under a prefix of the path); any
//! other name is a **tag key** (`env` groups by the `<v>` of tags `env:<v>`).
//! An event's value of a facet is the **first** value found: a multi-valued
//! facet (several `env:` tags, an array attribute) counts under its first
//! value only *(Strata)*. Values keep their JSON type in `by`
//! (`{"@http.status_code": 200, "service": "web"}`); an integral float is
//! the same value as the integer (`200.0` groups with `200`).
//!
//! **Group by.** Levels nest in request order; a facet may appear once.
//!
//! - `limit` (default 10, at least 1) keeps the top N buckets **within each
//!   parent bucket**. The product of the limits must be at most
//!   [`MAX_LIMIT_PRODUCT`].
//! - `sort` defaults to `count` descending. `{"type": "alphabetical"}`
//!   sorts by facet value (numbers numerically, before booleans, before
//!   strings); `{"aggregation": "avg", "metric": "@duration"}` (type
//!   `measure`, implied when `aggregation` is given) sorts by that measure,
//!   computed even when it is not a compute. `order` defaults to `desc` for
//!   a measure and `asc` for alphabetical *(Strata)*. Ties, and `null`
//!   measures (always last), fall back to the facet value ascending.
//! - `missing` (a string, number or boolean): events without the facet are
//!   grouped under that value (merged with events that really have it).
//!   Without `missing`, such events are left out of that level and of every
//!   level below it.
//! - `total`: `true` (value `"*"`), a string or a number adds one bucket per
//!   parent, **after** that parent's top-N buckets, whose facet value is the
//!   total value and whose computes cover **all** the parent's events (also
//!   those without the facet and those outside the top N). Levels below it
//!   group those events normally. `false` or `null`: no total.
//! - `histogram {interval, min, max}` on a numeric facet: the value `v`
//!   (numeric or numeric string) goes to bucket
//!   `min + floor((v - min) / interval) * interval` when `min <= v <= max`;
//!   other events are left out (or go to `missing` when they have no value
//!   at all). At most [`MAX_HISTOGRAM_BUCKETS`] buckets, else a 400. A
//!   histogram level without `limit` keeps every bucket, and without `sort`
//!   sorts by bucket value ascending *(Strata)*.
//!
//! **Response.** One flat list of buckets in tree order (each level in its
//! sort order, a bucket's descendants right after it), one bucket per full
//! combination of facet values (totals included), each with the full `by`
//! map. No group_by: a single bucket with `"by": {}`. A bucket exists only
//! when events fell in it, so no matching event gives `{"buckets": []}`.
//!
//! **Paging.** `page.cursor` is accepted and ignored: the limit product caps
//! an answer at [`MAX_LIMIT_PRODUCT`] leaf buckets, returned in one page
//! *(Strata)*.
//!
//! **Budgets.** The query holds one of the tenant's query slots
//! ([`crate::QueryLimits::max_concurrent_per_tenant`]). When the scan's time
//! or row budget runs out, the answer covers the rows read so far and its
//! status is [`Completeness::Timeout`].

mod exec;
mod plan;
mod rows;
mod tree;
mod udaf;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{Budget, Completeness, Engine};
use crate::matcher::Matcher;
use crate::request::Filter;
use crate::{EventView, QueryError};

pub use plan::{MAX_HISTOGRAM_BUCKETS, MAX_LIMIT_PRODUCT, MAX_TIMESERIES_POINTS};

/// Memory DataFusion may use for one aggregation's hash tables and states.
pub const MEMORY_LIMIT_BYTES: usize = 512 << 20;

/// Batches in flight between the scan thread and DataFusion.
const CHANNEL_BATCHES: usize = 4;

/// The request body of `POST /api/v2/logs/analytics/aggregate`. Every field
/// may be left out (`{}` counts the last 15 minutes); unknown fields are
/// ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AggregateRequest {
    /// What to compute; empty means one `count`.
    pub compute: Vec<ComputeSpec>,
    /// Which events.
    pub filter: Filter,
    /// Nested grouping, outermost first.
    pub group_by: Vec<GroupBySpec>,
    /// Paging (ignored: every bucket comes in one page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<AggregatePage>,
    /// Deprecated by Datadog ("does not affect results"); ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// One compute (`c0`, `c1`, … in the response, in request order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComputeSpec {
    /// `count`, `cardinality`, `sum`, `min`, `max`, `avg`, `median`, `pc75`,
    /// `pc90`, `pc95`, `pc98` or `pc99`.
    pub aggregation: String,
    /// The facet aggregated (`@duration`); required except for `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// `total` (default) or `timeseries`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Timeseries bucket size (`5m`); default aims at about 150 points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// One level of grouping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupBySpec {
    /// `service`, `@http.status_code`, a tag key such as `env`, ….
    pub facet: String,
    /// Buckets kept per parent bucket (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Bucket order (default: count, descending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<SortSpec>,
    /// Value for events without the facet (else they are left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Value>,
    /// `true`, a string or a number: add a total bucket with that value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Value>,
    /// Fixed-width numeric buckets instead of distinct values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<HistogramSpec>,
}

/// How the buckets of a level are ordered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SortSpec {
    /// The measure's aggregation (as in [`ComputeSpec::aggregation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<String>,
    /// The measure's metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// `asc` or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `alphabetical` or `measure`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Fixed-width numeric buckets of a group_by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramSpec {
    /// Bucket width, > 0.
    pub interval: f64,
    /// Smallest value kept (start of the first bucket).
    pub min: f64,
    /// Largest value kept.
    pub max: f64,
}

/// `page` of an aggregate request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatePage {
    /// Ignored: every bucket comes in one page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The answer of [`Engine::aggregate`].
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateResponse {
    /// The buckets, in tree order (see the module docs).
    pub buckets: Vec<Bucket>,
    /// Whether every candidate row was examined.
    pub status: Completeness,
}

/// One bucket: a full combination of facet values and its computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Facet → value (JSON type kept), one entry per group_by.
    pub by: Map<String, Value>,
    /// `c0`, `c1`, …: a number (or `null`), or for a timeseries compute a
    /// list of `{"time": "<RFC 3339 ms>", "value": n}`.
    pub computes: Map<String, Value>,
}

impl Engine {
    /// Runs one aggregation for `tenant`; `now_ms` resolves `now` in the
    /// filter's date math. See the [module docs](self) for the semantics.
    pub async fn aggregate(
        self: &Arc<Self>,
        tenant: &str,
        request: &AggregateRequest,
        now_ms: i64,
    ) -> Result<AggregateResponse, QueryError> {
        let plan = Arc::new(plan::Plan::new(request, now_ms)?);
        let query = crate::parse::parse(&plan.query)?;
        let _permit = self.admit(tenant)?;
        let schema = rows::schema(&plan);
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let engine = Arc::clone(self);
        let scan_plan = Arc::clone(&plan);
        let scan_schema = Arc::clone(&schema);
        let tenant = tenant.to_string();
        let scan = tokio::task::spawn_blocking(move || {
            let matcher = Matcher::new(&query);
            engine.aggregate_scan(&tenant, &scan_plan, &matcher, scan_schema, &tx)
        });
        // Runs while the scan feeds it; ends when the scan drops `tx`.
        let executed = exec::finest_groups(&plan, schema, rx).await;
        let status = scan
            .await
            .map_err(|e| QueryError::Internal(format!("aggregate scan task: {e}")))??;
        let batches = executed?;
        let finest = tree::decode(&plan, &batches)?;
        Ok(AggregateResponse {
            buckets: tree::buckets(&plan, &finest),
            status,
        })
    }

    /// Scans the plan's range on the calling (blocking) thread and sends
    /// the normalised rows to `tx` in batches. Stops early when the budget
    /// runs out ([`Completeness::Timeout`]) or the receiver is gone.
    fn aggregate_scan(
        &self,
        tenant: &str,
        plan: &plan::Plan,
        matcher: &Matcher,
        schema: arrow_schema::SchemaRef,
        tx: &tokio::sync::mpsc::Sender<arrow_array::RecordBatch>,
    ) -> Result<Completeness, QueryError> {
        let from_ns = plan.from_ms.saturating_mul(1_000_000);
        let to_ns = plan.to_ms.saturating_mul(1_000_000).saturating_sub(1);
        if from_ns > to_ns {
            return Ok(Completeness::Done);
        }
        let budget = Budget::new(self.limits());
        let mut needs = crate::needs::Needs::default();
        needs.add_query(matcher.query());
        plan.add_needs(&mut needs);
        let mut builder = rows::RowBuilder::new(plan, schema);
        let mut failure: Option<QueryError> = None;
        let mut closed = false;
        let mut status = Completeness::Done;
        // One source at a time, so a closed receiver stops the scan at the
        // next source boundary (Engine::scan has no early exit of its own).
        for source in self.sources(tenant, from_ns, to_ns) {
            let mut visit = |row: &dyn EventView| {
                if closed || failure.is_some() {
                    return;
                }
                builder.push(row);
                if builder.len() < rows::BATCH_ROWS {
                    return;
                }
                match builder.finish() {
                    Ok(batch) => closed = tx.blocking_send(batch).is_err(),
                    Err(e) => failure = Some(e),
                }
            };
            let sources = std::slice::from_ref(&source);
            let scanned = self.scan(
                sources,
                (from_ns, to_ns),
                matcher,
                &needs,
                &budget,
                &mut visit,
            )?;
            if scanned == Completeness::Timeout {
                status = Completeness::Timeout;
                break;
            }
            if closed || failure.is_some() {
                break;
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if !closed && builder.len() > 0 {
            // An error here means the receiver is gone: its side reports why.
            let _ = tx.blocking_send(builder.finish()?);
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_deserializes_to_defaults() {
        let request: AggregateRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(request, AggregateRequest::default());
    }

    #[test]
    fn full_body_deserializes_and_ignores_unknown_fields() {
        let text = r#"{
            "compute": [{"aggregation": "pc99", "metric": "@duration", "type": "timeseries", "interval": "5m"}],
            "filter": {"query": "service:web", "from": "now-1h", "to": "now"},
            "group_by": [{"facet": "service", "limit": 3, "missing": "none", "total": true,
                          "sort": {"aggregation": "avg", "metric": "@duration", "order": "desc", "type": "measure"},
                          "histogram": {"interval": 10, "min": 0, "max": 100}}],
            "page": {"cursor": "abc"},
            "options": {"timezone": "UTC"},
            "extra": 1
        }"#;
        let request: AggregateRequest = serde_json::from_str(text).unwrap();
        assert_eq!(request.compute[0].kind.as_deref(), Some("timeseries"));
        assert_eq!(request.group_by[0].limit, Some(3));
        assert_eq!(request.group_by[0].total, Some(Value::Bool(true)));
        let sort = request.group_by[0].sort.as_ref().unwrap();
        assert_eq!(sort.kind.as_deref(), Some("measure"));
        assert_eq!(
            request.group_by[0].histogram,
            Some(HistogramSpec {
                interval: 10.0,
                min: 0.0,
                max: 100.0
            })
        );
        let back: AggregateRequest =
            serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn compute_without_aggregation_is_rejected_by_serde() {
        let err = serde_json::from_str::<AggregateRequest>(r#"{"compute":[{"metric":"@x"}]}"#);
        assert!(err.is_err());
    }
}
