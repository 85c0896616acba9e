//! The `metrics` table of the SQL endpoint: one row per stored point of the
//! tenant's metrics (a distribution point is one row: `value` is the sum of
//! its values, `count` their number).
//!
//! Schema: `timestamp` (`Timestamp(ns, UTC)`, the point's second), `metric`,
//! `host`, `tags` (`List<Utf8>`), `type` (`gauge`, `count`, `rate`,
//! `distribution`), `interval_s` (seconds, 0 when unknown; `interval` is an SQL keyword), `unit`, `value`
//! (`Float64`), `count` (`Int64`).
//!
//! `metric = '…'` / `metric IN (…)` and bounds on `timestamp` are pushed
//! into the scan (only those metrics and segments are read). Without a
//! metric filter every metric is read, metric by metric. The scan stops at
//! the query's row budget; the answer then says `timeout`.

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use strata_metrics::{SeriesKey, Sketch};
use strata_tsdb::segment::SeriesInfo;
use strata_tsdb::{ScanRequest, Tsdb, Visitor};

/// Rows per Arrow batch.
const BATCH_ROWS: usize = 8192;

/// The `metrics` table of one tenant.
#[derive(Debug)]
pub struct MetricsTable {
    tsdb: Arc<Tsdb>,
    tenant: String,
    schema: SchemaRef,
    budget_rows: u64,
    exhausted: Arc<AtomicBool>,
}

impl MetricsTable {
    /// The table of `tenant`, reading at most `budget_rows` points.
    pub fn new(
        tsdb: Arc<Tsdb>,
        tenant: &str,
        budget_rows: u64,
        exhausted: Arc<AtomicBool>,
    ) -> Self {
        let tags = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "timestamp",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                false,
            ),
            Field::new("metric", DataType::Utf8, false),
            Field::new("host", DataType::Utf8, false),
            Field::new("tags", tags, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("interval_s", DataType::Int64, false),
            Field::new("unit", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new("count", DataType::Int64, false),
        ]));
        MetricsTable {
            tsdb,
            tenant: tenant.to_string(),
            schema,
            budget_rows,
            exhausted,
        }
    }
}

/// Metric names named by `metric = 'x'` or `metric IN ('x', …)` filters.
fn metric_filter(filters: &[Expr]) -> Option<BTreeSet<String>> {
    let literal = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Some(s.clone()),
        _ => None,
    };
    let is_metric = |e: &Expr| matches!(e, Expr::Column(c) if c.name == "metric");
    for filter in filters {
        match filter {
            Expr::BinaryExpr(b) if b.op == Operator::Eq => {
                let name = match (b.left.as_ref(), b.right.as_ref()) {
                    (l, r) if is_metric(l) => literal(r),
                    (l, r) if is_metric(r) => literal(l),
                    _ => None,
                };
                if let Some(name) = name {
                    return Some(BTreeSet::from([name]));
                }
            }
            Expr::InList(list) if !list.negated && is_metric(&list.expr) => {
                let names: Option<BTreeSet<String>> = list.list.iter().map(literal).collect();
                if names.is_some() {
                    return names;
                }
            }
            _ => {}
        }
    }
    None
}

struct Rows {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    builders: Builders,
    left: u64,
    exhausted: bool,
}

struct Builders {
    ts: TimestampNanosecondBuilder,
    metric: StringBuilder,
    host: StringBuilder,
    tags: ListBuilder<StringBuilder>,
    kind: StringBuilder,
    interval: Int64Builder,
    unit: StringBuilder,
    value: Float64Builder,
    count: Int64Builder,
    len: usize,
}

impl Builders {
    fn new() -> Builders {
        Builders {
            ts: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            metric: StringBuilder::new(),
            host: StringBuilder::new(),
            tags: ListBuilder::new(StringBuilder::new()),
            kind: StringBuilder::new(),
            interval: Int64Builder::new(),
            unit: StringBuilder::new(),
            value: Float64Builder::new(),
            count: Int64Builder::new(),
            len: 0,
        }
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, arrow_schema::ArrowError> {
        self.len = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.host.finish()),
            Arc::new(self.tags.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.interval.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.count.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns)
    }
}

impl Visitor for Rows {
    fn wants(&mut self, _key: &SeriesKey) -> bool {
        true
    }

    fn point(&mut self, series: &Arc<SeriesInfo>, ts_s: i64, value: f64, sketch: Option<&Sketch>) {
        if self.left == 0 {
            self.exhausted = true;
            return;
        }
        self.left -= 1;
        let b = &mut self.builders;
        b.ts.append_value(ts_s.saturating_mul(1_000_000_000));
        b.metric.append_value(&series.key.metric);
        b.host.append_value(&series.key.host);
        for tag in &series.key.tags {
            b.tags.values().append_value(tag);
        }
        b.tags.append(true);
        b.kind.append_value(series.kind.as_str());
        b.interval.append_value(i64::from(series.interval_s));
        b.unit.append_value(&series.unit);
        b.value.append_value(value);
        b.count
            .append_value(sketch.map_or(1, |s| i64::try_from(s.count).unwrap_or(i64::MAX)));
        b.len += 1;
        if b.len >= BATCH_ROWS {
            if let Ok(batch) = b.finish(&self.schema) {
                self.batches.push(batch);
            }
        }
    }
}

#[async_trait]
impl TableProvider for MetricsTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        // Inexact: DataFusion re-applies every filter to the rows we return.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let (from_ns, to_ns) = crate::sql::time_bounds(filters);
        let from_s = from_ns.div_euclid(1_000_000_000);
        let to_s = to_ns.div_euclid(1_000_000_000);
        let names = metric_filter(filters);
        let tsdb = Arc::clone(&self.tsdb);
        let tenant = self.tenant.clone();
        let schema = Arc::clone(&self.schema);
        let budget = self.budget_rows;
        let rows = tokio::task::spawn_blocking(move || {
            let names = match names {
                Some(names) => names,
                None => tsdb.metric_names(&tenant, from_s)?,
            };
            let mut rows = Rows {
                schema: Arc::clone(&schema),
                batches: Vec::new(),
                builders: Builders::new(),
                left: budget,
                exhausted: false,
            };
            for name in &names {
                let request = ScanRequest {
                    metric: name,
                    from_s,
                    to_s,
                    sketches: true,
                    rollup_until_s: None,
                };
                tsdb.scan(&tenant, &request, &mut rows)?;
            }
            if rows.builders.len > 0 {
                let batch = rows.builders.finish(&schema)?;
                rows.batches.push(batch);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(rows)
        })
        .await
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?
        .map_err(datafusion::error::DataFusionError::External)?;
        if rows.exhausted {
            self.exhausted.store(true, Ordering::Relaxed);
        }
        let plan = MemorySourceConfig::try_new_exec(
            &[rows.batches],
            Arc::clone(&self.schema),
            projection.cloned(),
        )?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn metric_filters_are_pushed_down() {
        let eq = col("metric").eq(lit("a.b"));
        assert_eq!(
            metric_filter(&[eq]),
            Some(BTreeSet::from(["a.b".to_string()]))
        );
        let list = col("metric").in_list(vec![lit("x"), lit("y")], false);
        assert_eq!(metric_filter(&[list]).map(|s| s.len()), Some(2));
        let negated = col("metric").in_list(vec![lit("x")], true);
        assert_eq!(metric_filter(&[negated]), None);
        assert_eq!(metric_filter(&[col("host").eq(lit("h"))]), None);
    }
}
