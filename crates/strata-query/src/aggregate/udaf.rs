//! `strata_ddsketch(x)`: a DataFusion aggregate whose **result** is the
//! encoded [`DdSketch`] of its group ([`DdSketch::to_bytes`]), not a
//! quantile. The analytics merge step needs mergeable percentile states for
//! the finest groups, so it can roll them up into parents, totals and
//! timeseries points exactly; [`crate::sketch::quantile_udaf`] answers one
//! quantile and throws the sketch away.

use std::any::Any;
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

use crate::sketch::DdSketch;

/// The aggregate: `Float64` in (nulls, NaN and infinities ignored), the
/// group's encoded sketch (`Binary`, never null) out. The sketch uses
/// [`crate::sketch::DEFAULT_ALPHA`].
pub(crate) fn sketch_state_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(SketchState {
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
}

#[derive(Debug)]
struct SketchState {
    signature: Signature,
}

impl AggregateUDFImpl for SketchState {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        "strata_ddsketch"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if acc_args.is_distinct {
            return Err(DataFusionError::NotImplemented(
                "strata_ddsketch(DISTINCT) is not supported".to_owned(),
            ));
        }
        Ok(Box::new(SketchStateAccumulator {
            sketch: DdSketch::default(),
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
}

/// Builds one group's sketch; evaluates to its encoding.
#[derive(Debug)]
struct SketchStateAccumulator {
    sketch: DdSketch,
}

impl Accumulator for SketchStateAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(array) = values.first() else {
            return Err(DataFusionError::Internal(
                "strata_ddsketch: no input column".to_owned(),
            ));
        };
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
        Ok(ScalarValue::Binary(Some(self.sketch.to_bytes())))
    }

    fn size(&self) -> usize {
        size_of_val(self) - size_of::<DdSketch>() + self.sketch.memory_size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(binary) = states.first().and_then(|a| a.as_binary_opt::<i32>()) else {
            return Err(DataFusionError::Internal(
                "strata_ddsketch: state must be one Binary column".to_owned(),
            ));
        };
        for bytes in binary.iter().flatten() {
            let partial = DdSketch::from_bytes(bytes)
                .map_err(|e| DataFusionError::Execution(format!("strata_ddsketch state: {e}")))?;
            self.sketch
                .merge(&partial)
                .map_err(|e| DataFusionError::Execution(format!("strata_ddsketch state: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Float64Array;

    #[test]
    fn accumulator_updates_merges_and_evaluates_to_the_sketch() {
        let mut left = SketchStateAccumulator {
            sketch: DdSketch::default(),
        };
        let values: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None, Some(3.0)]));
        left.update_batch(&[values]).unwrap();
        let mut right = SketchStateAccumulator {
            sketch: DdSketch::default(),
        };
        let more: ArrayRef = Arc::new(Float64Array::from(vec![5.0, f64::NAN]));
        right.update_batch(&[more]).unwrap();
        let state = right.state().unwrap();
        let state_array = ScalarValue::iter_to_array(state).unwrap();
        left.merge_batch(&[state_array]).unwrap();
        let ScalarValue::Binary(Some(bytes)) = left.evaluate().unwrap() else {
            panic!("not binary");
        };
        let sketch = DdSketch::from_bytes(&bytes).unwrap();
        assert_eq!(sketch.count(), 3);
        assert_eq!(sketch.min(), Some(1.0));
        assert_eq!(sketch.max(), Some(5.0));
    }

    #[test]
    fn garbage_state_is_an_error_not_a_panic() {
        let mut acc = SketchStateAccumulator {
            sketch: DdSketch::default(),
        };
        let garbage: ArrayRef = Arc::new(datafusion::arrow::array::BinaryArray::from(vec![
            b"nope".as_slice(),
        ]));
        assert!(acc.merge_batch(&[garbage]).is_err());
    }
}
