//! The DataFusion part: the FINEST grouping (every group_by level and every
//! timeseries bucket) of the normalised rows streamed by the scan, with a
//! mergeable partial state per metric.
//!
//! Output columns (besides the group columns `g{i}`/`t{k}` of
//! [`super::rows`]): `n` (rows, Int64), and per metric `j` as the plan needs
//! them: `p{j}` (rows having it), `mc{j}`/`ms{j}`/`mlo{j}`/`mhi{j}` (count,
//! sum, min, max of the numeric values), `mk{j}` (encoded DDSketch), `ud{j}`
//! (distinct values, a list of JSON texts).

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::functions_aggregate::expr_fn::{array_agg, count, max, min, sum};
use datafusion::logical_expr::{col, lit, Expr, ExprFunctionExt};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use tokio::sync::mpsc::Receiver;

use super::plan::Plan;
use super::rows::{distinct_col, group_col, numeric_col, present_col, time_col};
use super::MEMORY_LIMIT_BYTES;
use crate::QueryError;

pub(crate) const ROWS: &str = "n";
pub(crate) fn present_out(metric: usize) -> String {
    format!("p{metric}")
}
pub(crate) fn count_out(metric: usize) -> String {
    format!("mc{metric}")
}
pub(crate) fn sum_out(metric: usize) -> String {
    format!("ms{metric}")
}
pub(crate) fn min_out(metric: usize) -> String {
    format!("mlo{metric}")
}
pub(crate) fn max_out(metric: usize) -> String {
    format!("mhi{metric}")
}
pub(crate) fn sketch_out(metric: usize) -> String {
    format!("mk{metric}")
}
pub(crate) fn distinct_out(metric: usize) -> String {
    format!("ud{metric}")
}

/// The batches a channel receives, as DataFusion's one partition. It can
/// be executed once (the receiver moves into the stream).
#[derive(Debug)]
struct ChannelPartition {
    schema: SchemaRef,
    rx: Mutex<Option<Receiver<RecordBatch>>>,
}

impl PartitionStream for ChannelPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let stream = futures::stream::unfold(rx, |rx| async move {
            let mut rx = rx?;
            let batch = rx.recv().await?;
            Some((Ok::<_, DataFusionError>(batch), Some(rx)))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

fn df_error(e: DataFusionError) -> QueryError {
    match e.find_root() {
        DataFusionError::ResourcesExhausted(message) => QueryError::BadRequest(format!(
            "the aggregation needs more than {} MiB ({message}): group by facets with \
             fewer distinct values, lower the limits or narrow the time range",
            MEMORY_LIMIT_BYTES >> 20
        )),
        _ => QueryError::Internal(format!("aggregate: {e}")),
    }
}

/// The aggregate expressions of `plan`.
fn aggregates(plan: &Plan) -> Result<Vec<Expr>, QueryError> {
    let sketch = super::udaf::sketch_state_udaf();
    let mut exprs = vec![count(lit(1i64)).alias(ROWS)];
    for (j, metric) in plan.metrics.iter().enumerate() {
        if metric.present {
            exprs.push(count(col(present_col(j))).alias(present_out(j)));
        }
        if metric.numeric {
            let m = || col(numeric_col(j));
            exprs.push(count(m()).alias(count_out(j)));
            exprs.push(sum(m()).alias(sum_out(j)));
            exprs.push(min(m()).alias(min_out(j)));
            exprs.push(max(m()).alias(max_out(j)));
        }
        if metric.sketch {
            exprs.push(sketch.call(vec![col(numeric_col(j))]).alias(sketch_out(j)));
        }
        if metric.distinct {
            let distinct = array_agg(col(distinct_col(j)))
                .distinct()
                .build()
                .map_err(df_error)?;
            exprs.push(distinct.alias(distinct_out(j)));
        }
    }
    Ok(exprs)
}

/// Aggregates what arrives on `rx` (batches of `schema`) into the finest
/// groups of `plan`. Returns when the sender is dropped.
pub(crate) async fn finest_groups(
    plan: &Plan,
    schema: SchemaRef,
    rx: Receiver<RecordBatch>,
) -> Result<Vec<RecordBatch>, QueryError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(MEMORY_LIMIT_BYTES, 1.0)
        .build_arc()
        .map_err(df_error)?;
    // One input partition (the scan is one thread): more target partitions
    // would only add a repartition step.
    let config = SessionConfig::new().with_target_partitions(1);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let partition = ChannelPartition {
        schema: Arc::clone(&schema),
        rx: Mutex::new(Some(rx)),
    };
    let table = StreamingTable::try_new(schema, vec![Arc::new(partition)]).map_err(df_error)?;
    let mut groups: Vec<Expr> = (0..plan.levels.len()).map(|i| col(group_col(i))).collect();
    groups.extend((0..plan.intervals.len()).map(|k| col(time_col(k))));
    ctx.read_table(Arc::new(table))
        .map_err(df_error)?
        .aggregate(groups, aggregates(plan)?)
        .map_err(df_error)?
        .collect()
        .await
        .map_err(df_error)
}
