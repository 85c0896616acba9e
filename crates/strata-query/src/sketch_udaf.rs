//! A DataFusion aggregate that answers one quantile with a [`DdSketch`].
//!
//! Each partial aggregate builds a sketch; its state is a single `Binary`
//! field holding [`DdSketch::to_bytes`], so partial results from different
//! partitions merge exactly in `merge_batch`.

use std::any::Any;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::{DdSketch, DEFAULT_ALPHA};

/// An aggregate UDF called `name` that returns the `q`-quantile (rank
/// convention and accuracy as in [`DdSketch::quantile`]) of a numeric column,
/// estimated with a [`DdSketch`] of relative accuracy [`DEFAULT_ALPHA`].
///
/// The argument may be any numeric type (integers, floats, decimals): the
/// planner casts it to `Float64`. Nulls, NaN and infinities are ignored. The
/// result is `Float64`, null when a group has no values.
///
/// `name` is the SQL function name; DataFusion lowercases unquoted
/// identifiers, so register it in lowercase (`"p99"`). A `q` outside `[0, 1]`
/// is reported as a planning error when the aggregate is used, not here.
///
/// ```
/// # use strata_query::sketch::quantile_udaf;
/// let p99 = quantile_udaf("p99", 0.99);
/// assert_eq!(p99.name(), "p99");
/// // ctx.register_udaf(p99); ctx.sql("SELECT service, p99(duration) FROM logs GROUP BY service")
/// ```
pub fn quantile_udaf(name: &str, q: f64) -> AggregateUDF {
    AggregateUDF::new_from_impl(SketchQuantile {
        name: name.to_owned(),
        q,
        alpha: DEFAULT_ALPHA,
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug)]
struct SketchQuantile {
    name: String,
    q: f64,
    alpha: f64,
    signature: Signature,
}

impl SketchQuantile {
    fn new_sketch(&self) -> Result<DdSketch> {
        if !(0.0..=1.0).contains(&self.q) {
            return Err(DataFusionError::Plan(format!(
                "{}: quantile must be in [0, 1], got {}",
                self.name, self.q
            )));
        }
        DdSketch::new(self.alpha)
            .map_err(|err| DataFusionError::Plan(format!("{}: {err}", self.name)))
    }
}

impl AggregateUDFImpl for SketchQuantile {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [arg_type] = arg_types else {
            return Err(DataFusionError::Plan(format!(
                "{} takes exactly one argument, got {}",
                self.name,
                arg_types.len()
            )));
        };
        if arg_type.is_numeric() || arg_type.is_null() {
            Ok(vec![DataType::Float64])
        } else {
            Err(DataFusionError::Plan(format!(
                "{} expects a numeric argument, got {arg_type}",
                self.name
            )))
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if acc_args.is_distinct {
            return Err(DataFusionError::NotImplemented(format!(
                "{}(DISTINCT) is not supported",
                self.name
            )));
        }
        Ok(Box::new(SketchAccumulator {
            sketch: self.new_sketch()?,
            q: self.q,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let field = Field::new(
            format_state_name(args.name, "ddsketch"),
            DataType::Binary,
            true,
        );
        Ok(vec![Arc::new(field)])
    }

    fn equals(&self, other: &dyn AggregateUDFImpl) -> bool {
        other.as_any().downcast_ref::<Self>().is_some_and(|other| {
            self.name == other.name
                && self.q.to_bits() == other.q.to_bits()
                && self.alpha.to_bits() == other.alpha.to_bits()
                && self.signature == other.signature
        })
    }

    fn hash_value(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.name.hash(&mut hasher);
        self.q.to_bits().hash(&mut hasher);
        self.alpha.to_bits().hash(&mut hasher);
        self.signature.hash(&mut hasher);
        hasher.finish()
    }
}

/// Builds one group's sketch; evaluates to its `q`-quantile.
#[derive(Debug)]
struct SketchAccumulator {
    sketch: DdSketch,
    q: f64,
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(array) = values.first() else {
            return Err(DataFusionError::Internal(
                "sketch quantile: no input column".to_owned(),
            ));
        };
        // The planner casts to Float64 (see coerce_types); cast anyway so a
        // caller that skipped coercion still gets a result, not an error.
        let array = if array.data_type() == &DataType::Float64 {
            Arc::clone(array)
        } else {
            cast(array, &DataType::Float64)?
        };
        for value in array.as_primitive::<Float64Type>().iter().flatten() {
            self.sketch.add(value);
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.sketch.quantile(self.q)))
    }

    fn size(&self) -> usize {
        size_of_val(self) - size_of::<DdSketch>() + self.sketch.memory_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(array) = states.first() else {
            return Err(DataFusionError::Internal(
                "sketch quantile: no state column".to_owned(),
            ));
        };
        let Some(binary) = array.as_binary_opt::<i32>() else {
            return Err(DataFusionError::Internal(format!(
                "sketch quantile: state must be Binary, got {}",
                array.data_type()
            )));
        };
        for bytes in binary.iter().flatten() {
            let partial = DdSketch::from_bytes(bytes).map_err(|err| {
                DataFusionError::Execution(format!("sketch quantile state: {err}"))
            })?;
            self.sketch.merge(&partial).map_err(|err| {
                DataFusionError::Execution(format!("sketch quantile state: {err}"))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// Rows of `(group, value)`: three groups of different shapes plus a group of only nulls.
    fn rows() -> Vec<(String, Option<f64>)> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut rows = Vec::new();
        for index in 0..6_000u32 {
            // xorshift64: deterministic, good enough for spreading values.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            let (group, value) = match index % 3 {
                0 => ("a", Some(unit * 1000.0)),
                1 => (
                    "b",
                    Some((unit * 12.0 - 6.0).exp() * if index % 2 == 0 { 1.0 } else { -1.0 }),
                ),
                _ => ("c", (index % 5 != 0).then_some((unit * 20.0).exp())),
            };
            rows.push((group.to_owned(), value));
        }
        rows.push(("nulls".to_owned(), None));
        rows
    }

    /// The same rank convention as DdSketch::quantile.
    fn exact(rows: &[(String, Option<f64>)], group: &str, q: f64) -> Option<f64> {
        let mut values: Vec<f64> = rows
            .iter()
            .filter(|(g, _)| g == group)
            .filter_map(|(_, v)| *v)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let rank = (q * (values.len() - 1) as f64).floor() as usize;
        Some(values[rank])
    }

    /// A MemTable of `rows` split into `partitions` partitions of several batches.
    fn table(rows: &[(String, Option<f64>)], partitions: usize, as_int: bool) -> MemTable {
        let value_type = if as_int {
            DataType::Int64
        } else {
            DataType::Float64
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Utf8, false),
            Field::new("x", value_type, true),
        ]));
        let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
        for (index, chunk) in rows.chunks(500).enumerate() {
            let groups = StringArray::from_iter_values(chunk.iter().map(|(g, _)| g.as_str()));
            let values: ArrayRef = if as_int {
                Arc::new(Int64Array::from_iter(
                    chunk.iter().map(|(_, v)| v.map(|v| v as i64)),
                ))
            } else {
                Arc::new(Float64Array::from_iter(chunk.iter().map(|(_, v)| *v)))
            };
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(groups), values])
                .expect("valid batch");
            parts[index % partitions].push(batch);
        }
        MemTable::try_new(schema, parts).expect("valid table")
    }

    async fn run(
        sql: &str,
        table: MemTable,
        target_partitions: usize,
    ) -> Vec<(String, Option<f64>)> {
        let config = SessionConfig::new().with_target_partitions(target_partitions);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_udaf(quantile_udaf("p99", 0.99));
        ctx.register_udaf(quantile_udaf("p50", 0.5));
        ctx.register_table("t", Arc::new(table)).expect("register");
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("execute");
        let mut out = Vec::new();
        for batch in &batches {
            let groups = batch.column(0).as_string::<i32>();
            let values = batch.column(1).as_primitive::<Float64Type>();
            for row in 0..batch.num_rows() {
                let value = (!values.is_null(row)).then(|| values.value(row));
                out.push((groups.value(row).to_owned(), value));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn assert_close(estimate: Option<f64>, exact: Option<f64>, context: &str) {
        match (estimate, exact) {
            (Some(estimate), Some(exact)) => assert!(
                (estimate - exact).abs() <= DEFAULT_ALPHA * exact.abs() * (1.0 + 1e-9),
                "{context}: {estimate} vs {exact}"
            ),
            (estimate, exact) => assert_eq!(estimate, exact, "{context}"),
        }
    }

    #[tokio::test]
    async fn group_by_quantiles_match_exact_within_alpha() {
        let rows = rows();
        for partitions in [1, 3, 8] {
            for target_partitions in [1, 4, 16] {
                let table = table(&rows, partitions, false);
                let result = run(
                    "SELECT g, p99(x) FROM t GROUP BY g",
                    table,
                    target_partitions,
                )
                .await;
                let groups: Vec<&str> = result.iter().map(|(g, _)| g.as_str()).collect();
                assert_eq!(groups, ["a", "b", "c", "nulls"]);
                for (group, estimate) in &result {
                    let context =
                        format!("{group} with {partitions}/{target_partitions} partitions");
                    assert_close(*estimate, exact(&rows, group, 0.99), &context);
                }
                assert_eq!(result[3].1, None, "a group of only nulls gives null");
            }
        }
    }

    #[tokio::test]
    async fn integer_columns_are_coerced() {
        let rows: Vec<(String, Option<f64>)> = rows()
            .into_iter()
            .map(|(g, v)| (g, v.map(|v| (v as i64) as f64)))
            .collect();
        let result = run(
            "SELECT g, p50(x) FROM t GROUP BY g",
            table(&rows, 4, true),
            4,
        )
        .await;
        for (group, estimate) in &result {
            assert_close(*estimate, exact(&rows, group, 0.5), group);
        }
    }

    #[tokio::test]
    async fn aggregate_without_group_by_merges_partitions() {
        let rows = rows();
        let sql = "SELECT 'all', p99(x) FROM t";
        let result = run(sql, table(&rows, 5, false), 8).await;
        let mut all: Vec<f64> = rows.iter().filter_map(|(_, v)| *v).collect();
        all.sort_by(f64::total_cmp);
        let rank = (0.99 * (all.len() - 1) as f64).floor() as usize;
        assert_close(result[0].1, Some(all[rank]), "all rows");
        let empty = run(
            "SELECT 'none', p99(x) FROM t WHERE g = 'nulls'",
            table(&rows, 2, false),
            4,
        )
        .await;
        assert_eq!(empty, [("none".to_owned(), None)]);
    }

    #[tokio::test]
    async fn non_numeric_argument_and_bad_q_are_plan_errors() {
        let ctx = SessionContext::new();
        ctx.register_udaf(quantile_udaf("p99", 0.99));
        ctx.register_udaf(quantile_udaf("pbad", 1.5));
        ctx.register_table("t", Arc::new(table(&rows(), 1, false)))
            .expect("register");
        let text = ctx.sql("SELECT p99(g) FROM t").await;
        assert!(text.is_err(), "a Utf8 argument must not plan");
        let bad_q = match ctx.sql("SELECT pbad(x) FROM t").await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(err) => Err(err),
        };
        assert!(bad_q.is_err(), "q = 1.5 must be rejected");
    }

    #[test]
    fn merge_batch_rejects_garbage_state() {
        let mut accumulator = SketchAccumulator {
            sketch: DdSketch::default(),
            q: 0.5,
        };
        let garbage: ArrayRef = Arc::new(BinaryArray::from_iter_values([b"nope".as_slice()]));
        assert!(accumulator.merge_batch(&[garbage]).is_err());
        let mut partial = DdSketch::default();
        partial.add(3.0);
        let good: ArrayRef = Arc::new(BinaryArray::from_iter([Some(partial.to_bytes()), None]));
        accumulator.merge_batch(&[good]).expect("valid state");
        assert_eq!(
            accumulator.evaluate().expect("evaluate"),
            ScalarValue::Float64(Some(3.0))
        );
    }

    #[test]
    fn udfs_with_different_q_are_not_equal() {
        assert_eq!(quantile_udaf("p", 0.5), quantile_udaf("p", 0.5));
        assert_ne!(quantile_udaf("p", 0.5), quantile_udaf("p", 0.9));
    }
}
