//! SQL over a tenant's logs and metrics with DataFusion (`POST /api/v1/sql`).
//!
//! The session knows two tables: `logs`, whose provider ([`LogsTable`])
//! reads only the tenant's snapshot, and `metrics` (when the engine has a
//! metrics store; [`crate::sql_metrics`]), one row per stored point: isolation is enforced inside the table
//! provider, never by rewriting SQL text. DDL (`CREATE EXTERNAL TABLE`, which
//! could read files), DML and `SET`-like statements are refused by the
//! planner; the session registers no file-reading table functions.
//!
//! Schema of `logs`: `id`, `timestamp` (`Timestamp(ns, UTC)`), `status`,
//! `service`, `host`, `source`, `trace_id`, `message`, `tags` (`List<Utf8>`),
//! then one column per attribute path that some segment stores as a column or
//! that a memtable event carries, named `@path`. Name it qualified and quoted,
//! `logs."@http.status_code"`: DataFusion reads any bare identifier that
//! starts with `@` as a session variable, quoted or not.
//! typed `Int64`, `Float64`, `Boolean` or `Utf8` (mixed numeric types widen to
//! `Float64`, anything else mixed to `Utf8`). Values a segment keeps in its
//! `_overflow` column (rare paths, second values, other types) are not
//! visible to SQL.
//!
//! Filters on `timestamp` are pushed into the scan to skip segments and
//! memtable chunks. The scan stops at the query's budget (rows, time); the
//! answer then covers part of the data and says so (`timeout`).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use datafusion::arrow::compute::cast;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use strata_segment::{columns, SegmentRow};
use strata_types::AttrValue;

use crate::engine::{Budget, Completeness, Engine, Source};
use crate::QueryError;

/// Most rows an SQL answer carries; more are cut off (`truncated`).
pub const MAX_SQL_ROWS: usize = 10_000;

/// An SQL answer.
#[derive(Debug)]
pub struct SqlResult {
    /// `(name, Arrow type)` of each column.
    pub columns: Vec<(String, String)>,
    /// The rows, JSON values in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Whether the scan covered all data.
    pub status: Completeness,
    /// Whether rows beyond [`MAX_SQL_ROWS`] were cut off.
    pub truncated: bool,
}

impl Engine {
    /// Runs one SQL statement over `tenant`'s `logs`, `spans` (a view of
    /// `logs`, see `sql_spans`) and `metrics` tables.
    pub async fn sql(self: &Arc<Self>, tenant: &str, sql: &str) -> Result<SqlResult, QueryError> {
        let _permit = self.admit(tenant)?;
        let budget = Arc::new(Budget::new(self.limits()));
        let exhausted = Arc::new(AtomicBool::new(false));
        let table = LogsTable::new(
            Arc::clone(self),
            tenant,
            Arc::clone(&budget),
            Arc::clone(&exhausted),
        )?;
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(false);
        let ctx = SessionContext::new_with_config(config);
        let spans = crate::sql_spans::view_sql(&table.schema);
        ctx.register_table("logs", Arc::new(table))
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        // Our own DDL, before the user's statement (which may not have any).
        ctx.sql(&format!("CREATE VIEW spans AS {spans}"))
            .await
            .map_err(|e| QueryError::Internal(format!("spans view: {e}")))?;
        if let Some(tsdb) = self.metrics_store() {
            let metrics = crate::sql_metrics::MetricsTable::new(
                Arc::clone(tsdb),
                tenant,
                self.limits().scan_budget_rows,
                Arc::clone(&exhausted),
            );
            ctx.register_table("metrics", Arc::new(metrics))
                .map_err(|e| QueryError::Internal(e.to_string()))?;
        }
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = ctx
            .sql_with_options(sql, options)
            .await
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        let schema = frame.schema().as_arrow().clone();
        let mut stream = frame
            .execute_stream()
            .await
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        let mut rows = Vec::new();
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| QueryError::Sql(e.to_string()))?;
            if rows.len() + batch.num_rows() > MAX_SQL_ROWS {
                truncated = true;
            }
            batch_to_json(&batch, &mut rows, MAX_SQL_ROWS);
            if truncated {
                break;
            }
        }
        Ok(SqlResult {
            columns: schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string()))
                .collect(),
            rows,
            status: if exhausted.load(Ordering::Relaxed) {
                Completeness::Timeout
            } else {
                Completeness::Done
            },
            truncated,
        })
    }
}

fn batch_to_json(batch: &RecordBatch, out: &mut Vec<Vec<serde_json::Value>>, max: usize) {
    for row in 0..batch.num_rows() {
        if out.len() >= max {
            return;
        }
        let values = batch
            .columns()
            .iter()
            .map(|column| match ScalarValue::try_from_array(column, row) {
                Ok(value) => scalar_json(&value),
                Err(_) => serde_json::Value::Null,
            })
            .collect();
        out.push(values);
    }
}

fn scalar_json(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value;
    if value.is_null() {
        return Value::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(v)) => (*v).into(),
        ScalarValue::Int16(Some(v)) => (*v).into(),
        ScalarValue::Int32(Some(v)) => (*v).into(),
        ScalarValue::Int64(Some(v)) => (*v).into(),
        ScalarValue::UInt8(Some(v)) => (*v).into(),
        ScalarValue::UInt16(Some(v)) => (*v).into(),
        ScalarValue::UInt32(Some(v)) => (*v).into(),
        ScalarValue::UInt64(Some(v)) => (*v).into(),
        ScalarValue::Float32(Some(v)) => {
            serde_json::Number::from_f64(f64::from(*v)).map_or(Value::Null, Value::Number)
        }
        ScalarValue::Float64(Some(v)) => {
            serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number)
        }
        ScalarValue::TimestampNanosecond(Some(ns), _) => {
            Value::String(strata_types::format_rfc3339_nanos(*ns))
        }
        ScalarValue::List(list) => {
            let array = list.value(0);
            Value::Array(
                (0..array.len())
                    .map(|i| {
                        ScalarValue::try_from_array(&array, i)
                            .map(|v| scalar_json(&v))
                            .unwrap_or(Value::Null)
                    })
                    .collect(),
            )
        }
        other => Value::String(other.to_string()),
    }
}

/// The `logs` table of one tenant.
#[derive(Debug)]
pub struct LogsTable {
    engine: Arc<Engine>,
    tenant: String,
    schema: SchemaRef,
    budget: Arc<Budget>,
    exhausted: Arc<AtomicBool>,
}

fn fixed_fields() -> Vec<ArrowField> {
    vec![
        ArrowField::new(columns::ID, DataType::Utf8, false),
        ArrowField::new(
            columns::TIMESTAMP,
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        ArrowField::new(columns::STATUS, DataType::Utf8, false),
        ArrowField::new(columns::SERVICE, DataType::Utf8, true),
        ArrowField::new(columns::HOST, DataType::Utf8, true),
        ArrowField::new(columns::SOURCE, DataType::Utf8, true),
        ArrowField::new(columns::TRACE_ID, DataType::Utf8, true),
        ArrowField::new(columns::MESSAGE, DataType::Utf8, false),
        ArrowField::new(
            columns::TAGS,
            DataType::List(Arc::new(ArrowField::new("item", DataType::Utf8, true))),
            true,
        ),
    ]
}

fn widen(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        (x, y) if x == y => x.clone(),
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        _ => DataType::Utf8,
    }
}

fn attr_type(value: &AttrValue) -> Option<DataType> {
    match value {
        AttrValue::Str(_) => Some(DataType::Utf8),
        AttrValue::Int(_) => Some(DataType::Int64),
        AttrValue::Float(_) => Some(DataType::Float64),
        AttrValue::Bool(_) => Some(DataType::Boolean),
        AttrValue::Json(_) => None,
    }
}

/// Most attribute columns the `logs` table exposes.
const MAX_SQL_ATTRIBUTE_COLUMNS: usize = 1024;

impl LogsTable {
    fn new(
        engine: Arc<Engine>,
        tenant: &str,
        budget: Arc<Budget>,
        exhausted: Arc<AtomicBool>,
    ) -> Result<LogsTable, QueryError> {
        let mut attrs: BTreeMap<String, DataType> = BTreeMap::new();
        let mut note = |name: String, kind: DataType| {
            if attrs.len() >= MAX_SQL_ATTRIBUTE_COLUMNS && !attrs.contains_key(&name) {
                return;
            }
            let merged = match attrs.get(&name) {
                Some(existing) => widen(existing, &kind),
                None => kind,
            };
            attrs.insert(name, merged);
        };
        for source in engine.sources(tenant, i64::MIN, i64::MAX) {
            match source {
                Source::Segment(record) => {
                    let info = engine.segment_info(&record)?;
                    for (name, kind) in &info.attribute_columns {
                        note(name.clone(), kind.clone());
                    }
                }
                Source::Chunk(chunk) => {
                    for row in &chunk.rows {
                        for (path, value) in &row.event.attributes {
                            if let Some(kind) = attr_type(value) {
                                note(format!("{}{path}", columns::ATTRIBUTE_PREFIX), kind);
                            }
                        }
                    }
                }
            }
        }
        let mut fields = fixed_fields();
        fields.extend(
            attrs
                .into_iter()
                .map(|(name, kind)| ArrowField::new(name, kind, true)),
        );
        Ok(LogsTable {
            engine,
            tenant: tenant.to_string(),
            schema: Arc::new(Schema::new(fields)),
            budget,
            exhausted,
        })
    }
}

/// `[from, to]` (ns, inclusive) implied by `timestamp` comparisons.
pub(crate) fn time_bounds(filters: &[Expr]) -> (i64, i64) {
    let mut from = i64::MIN;
    let mut to = i64::MAX;
    for filter in filters {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = filter else {
            continue;
        };
        let (column, literal, op) = match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(v, _)) => (c, v, *op),
            (Expr::Literal(v, _), Expr::Column(c)) => match op.swap() {
                Some(swapped) => (c, v, swapped),
                None => continue,
            },
            _ => continue,
        };
        if column.name != columns::TIMESTAMP {
            continue;
        }
        let Some(ns) = literal_ns(literal) else {
            continue;
        };
        match op {
            Operator::Gt => from = from.max(ns.saturating_add(1)),
            Operator::GtEq => from = from.max(ns),
            Operator::Lt => to = to.min(ns.saturating_sub(1)),
            Operator::LtEq => to = to.min(ns),
            Operator::Eq => {
                from = from.max(ns);
                to = to.min(ns);
            }
            _ => {}
        }
    }
    (from, to)
}

fn literal_ns(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for LogsTable {
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
        // Timestamp bounds prune sources; DataFusion still applies every filter.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => Arc::clone(&self.schema),
        };
        let (from_ns, to_ns) = time_bounds(filters);
        let partition = LogsPartition {
            engine: Arc::clone(&self.engine),
            tenant: self.tenant.clone(),
            schema: projected,
            from_ns,
            to_ns,
            budget: Arc::clone(&self.budget),
            exhausted: Arc::clone(&self.exhausted),
        };
        let schema = Arc::clone(&partition.schema);
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            vec![Arc::new(partition)],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

#[derive(Debug)]
struct LogsPartition {
    engine: Arc<Engine>,
    tenant: String,
    schema: SchemaRef,
    from_ns: i64,
    to_ns: i64,
    budget: Arc<Budget>,
    exhausted: Arc<AtomicBool>,
}

impl PartitionStream for LogsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (sender, receiver) =
            tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(4);
        let engine = Arc::clone(&self.engine);
        let tenant = self.tenant.clone();
        let schema = Arc::clone(&self.schema);
        let (from_ns, to_ns) = (self.from_ns, self.to_ns);
        let budget = Arc::clone(&self.budget);
        let exhausted = Arc::clone(&self.exhausted);
        tokio::task::spawn_blocking(move || {
            let produce = || -> Result<(), QueryError> {
                for source in engine.sources(&tenant, from_ns, to_ns) {
                    let batches: Vec<RecordBatch> = match &source {
                        Source::Chunk(chunk) => {
                            let rows: Vec<&SegmentRow> = chunk
                                .rows
                                .iter()
                                .filter(|r| (from_ns..=to_ns).contains(&r.event.timestamp_ns))
                                .collect();
                            vec![rows_batch(&rows, &schema)?]
                        }
                        Source::Segment(record) => {
                            let mut out = Vec::new();
                            let mut needs = crate::needs::Needs::default();
                            for field in schema.fields() {
                                needs.add_column(field.name());
                            }
                            for batch in engine.segment_batches(record, &needs)? {
                                out.push(adapt_batch(&batch?, &schema)?);
                            }
                            out
                        }
                    };
                    for batch in batches {
                        if !budget.charge(batch.num_rows()) {
                            exhausted.store(true, Ordering::Relaxed);
                            return Ok(());
                        }
                        if batch.num_rows() > 0 && sender.blocking_send(Ok(batch)).is_err() {
                            return Ok(()); // the consumer stopped (LIMIT, error)
                        }
                    }
                }
                Ok(())
            };
            if let Err(error) = produce() {
                let _ = sender.blocking_send(Err(datafusion::error::DataFusionError::External(
                    Box::new(error),
                )));
            }
        });
        let stream = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

fn arrow_error(error: arrow_schema::ArrowError) -> QueryError {
    QueryError::Internal(format!("arrow: {error}"))
}

/// A segment batch in the table's (projected) schema: columns cast to the
/// table's types, missing ones null.
fn adapt_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, QueryError> {
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Arc::clone(column),
            Some(column) => cast(column, field.data_type()).map_err(arrow_error)?,
            None => new_null_array(field.data_type(), batch.num_rows()),
        };
        out.push(column);
    }
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        out,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(arrow_error)
}

/// Memtable rows as a batch of the table's (projected) schema.
fn rows_batch(rows: &[&SegmentRow], schema: &SchemaRef) -> Result<RecordBatch, QueryError> {
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        out.push(rows_column(rows, field.name(), field.data_type()));
    }
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        out,
        &RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(arrow_error)
}

fn rows_column(rows: &[&SegmentRow], name: &str, kind: &DataType) -> ArrayRef {
    let strings = |get: &dyn Fn(&SegmentRow) -> Option<&str>| -> ArrayRef {
        let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
        for row in rows {
            builder.append_option(get(row));
        }
        Arc::new(builder.finish())
    };
    match name {
        columns::ID => strings(&|r| Some(r.id.as_str())),
        columns::TIMESTAMP => {
            let mut builder =
                TimestampNanosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
            for row in rows {
                builder.append_value(row.event.timestamp_ns);
            }
            Arc::new(builder.finish())
        }
        columns::STATUS => strings(&|r| Some(r.event.status.as_str())),
        columns::SERVICE => strings(&|r| r.event.service.as_deref()),
        columns::HOST => strings(&|r| r.event.host.as_deref()),
        columns::SOURCE => strings(&|r| r.event.source.as_deref()),
        columns::TRACE_ID => strings(&|r| r.event.trace_id.as_deref()),
        columns::MESSAGE => strings(&|r| Some(r.event.message.as_str())),
        columns::TAGS => {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for row in rows {
                for tag in &row.event.tags {
                    builder.values().append_value(tag);
                }
                builder.append(true);
            }
            Arc::new(builder.finish())
        }
        other => {
            let path = other
                .strip_prefix(columns::ATTRIBUTE_PREFIX)
                .unwrap_or(other);
            attribute_column(rows, path, kind)
        }
    }
}

fn first_value<'a>(row: &'a SegmentRow, path: &str) -> Option<&'a AttrValue> {
    row.event
        .attributes
        .iter()
        .find(|(key, _)| key == path)
        .map(|(_, value)| value)
}

fn attribute_column(rows: &[&SegmentRow], path: &str, kind: &DataType) -> ArrayRef {
    match kind {
        DataType::Int64 => {
            let mut builder = Int64Builder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(match first_value(row, path) {
                    Some(AttrValue::Int(v)) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(builder.finish())
        }
        DataType::Float64 => {
            let mut builder = Float64Builder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(match first_value(row, path) {
                    Some(AttrValue::Float(v)) => Some(*v),
                    Some(AttrValue::Int(v)) => Some(*v as f64),
                    _ => None,
                });
            }
            Arc::new(builder.finish())
        }
        DataType::Boolean => {
            let mut builder = BooleanBuilder::with_capacity(rows.len());
            for row in rows {
                builder.append_option(match first_value(row, path) {
                    Some(AttrValue::Bool(v)) => Some(*v),
                    _ => None,
                });
            }
            Arc::new(builder.finish())
        }
        _ => {
            let mut builder = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
            for row in rows {
                builder.append_option(match first_value(row, path) {
                    Some(AttrValue::Str(v)) => Some(v.clone()),
                    Some(AttrValue::Int(v)) => Some(v.to_string()),
                    Some(AttrValue::Float(v)) => Some(v.to_string()),
                    Some(AttrValue::Bool(v)) => Some(v.to_string()),
                    Some(AttrValue::Json(_)) | None => None,
                });
            }
            Arc::new(builder.finish())
        }
    }
}
