//! The Rust part: decodes DataFusion's finest groups and rolls them up the
//! group_by tree (limits, sorts, totals) into the response's buckets, with
//! the mergeable states (counts add, min/max fold, sketches merge, distinct
//! sets unite), so every level and every timeseries point is exact with
//! respect to the finest groups.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use serde_json::{Map, Value};

use super::exec::{
    count_out, distinct_out, max_out, min_out, present_out, sketch_out, sum_out, ROWS,
};
use super::plan::{Agg, ComputePlan, Measure, Order, Plan, SortPlan};
use super::rows::{group_col, time_col};
use super::Bucket;
use crate::sketch::DdSketch;
use crate::QueryError;

/// The partial states of one metric in one finest group.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricState {
    /// Rows having the metric.
    present: u64,
    /// Numeric values: how many, their sum, min and max.
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: Option<DdSketch>,
    /// Distinct values (JSON text), each once.
    distinct: Vec<String>,
}

/// One finest group: a value (or none) per level, a bucket per interval.
#[derive(Debug, Clone)]
pub(crate) struct Finest {
    keys: Vec<Option<String>>,
    times: Vec<i64>,
    rows: u64,
    metrics: Vec<MetricState>,
}

fn internal(what: String) -> QueryError {
    QueryError::Internal(format!("aggregate result: {what}"))
}

/// Column `name` of `batch`, cast to `data_type` when DataFusion chose
/// another representation (string views, large lists).
fn column(batch: &RecordBatch, name: &str, data_type: &DataType) -> Result<ArrayRef, QueryError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| internal(format!("no column {name}")))?;
    if array.data_type() == data_type {
        return Ok(ArrayRef::clone(array));
    }
    datafusion::arrow::compute::cast(array, data_type)
        .map_err(|e| internal(format!("column {name}: {e}")))
}

fn counts(batch: &RecordBatch, name: &str) -> Result<Vec<u64>, QueryError> {
    let array = column(batch, name, &DataType::Int64)?;
    let array = array.as_primitive::<Int64Type>();
    Ok((0..array.len())
        .map(|i| u64::try_from(array.value(i)).unwrap_or(0))
        .collect())
}

fn floats(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>, QueryError> {
    let array = column(batch, name, &DataType::Float64)?;
    Ok(array.as_primitive::<Float64Type>().iter().collect())
}

/// The finest groups in `batches` (DataFusion's output for `plan`).
pub(crate) fn decode(plan: &Plan, batches: &[RecordBatch]) -> Result<Vec<Finest>, QueryError> {
    let mut finest = Vec::new();
    for batch in batches {
        let first = finest.len();
        let rows = counts(batch, ROWS)?;
        for n in rows {
            finest.push(Finest {
                keys: Vec::with_capacity(plan.levels.len()),
                times: Vec::with_capacity(plan.intervals.len()),
                rows: n,
                metrics: vec![MetricState::default(); plan.metrics.len()],
            });
        }
        let group = &mut finest[first..];
        for level in 0..plan.levels.len() {
            let array = column(batch, &group_col(level), &DataType::Utf8)?;
            let array = array.as_string::<i32>();
            for (row, key) in group.iter_mut().zip(array.iter()) {
                row.keys.push(key.map(str::to_string));
            }
        }
        for k in 0..plan.intervals.len() {
            let array = column(batch, &time_col(k), &DataType::Int64)?;
            let array = array.as_primitive::<Int64Type>();
            for (row, t) in group.iter_mut().zip(array.values().iter()) {
                row.times.push(*t);
            }
        }
        for (j, metric) in plan.metrics.iter().enumerate() {
            if metric.present {
                for (row, n) in group.iter_mut().zip(counts(batch, &present_out(j))?) {
                    row.metrics[j].present = n;
                }
            }
            if metric.numeric {
                let n = counts(batch, &count_out(j))?;
                let sums = floats(batch, &sum_out(j))?;
                let mins = floats(batch, &min_out(j))?;
                let maxes = floats(batch, &max_out(j))?;
                for (i, row) in group.iter_mut().enumerate() {
                    let state = &mut row.metrics[j];
                    state.n = n[i];
                    state.sum = sums[i].unwrap_or(0.0);
                    state.min = mins[i].unwrap_or(f64::INFINITY);
                    state.max = maxes[i].unwrap_or(f64::NEG_INFINITY);
                }
            }
            if metric.sketch {
                let array = column(batch, &sketch_out(j), &DataType::Binary)?;
                for (row, bytes) in group.iter_mut().zip(array.as_binary::<i32>().iter()) {
                    let Some(bytes) = bytes else { continue };
                    let sketch = DdSketch::from_bytes(bytes)
                        .map_err(|e| internal(format!("sketch state: {e}")))?;
                    row.metrics[j].sketch = Some(sketch);
                }
            }
            if metric.distinct {
                let name = distinct_out(j);
                let list_type = DataType::new_list(DataType::Utf8, true);
                let array = column(batch, &name, &list_type)?;
                let list = array.as_list::<i32>();
                for (i, row) in group.iter_mut().enumerate() {
                    if list.is_null(i) {
                        continue;
                    }
                    let values = list.value(i);
                    let values = values
                        .as_string_opt::<i32>()
                        .ok_or_else(|| internal(format!("{name} items are not Utf8")))?;
                    row.metrics[j].distinct = values.iter().flatten().map(str::to_string).collect();
                }
            }
        }
    }
    finest.retain(|f| f.rows > 0);
    Ok(finest)
}

/// The value of `measure` over `rows`; `None` when it has no value there
/// (no numeric value of the metric).
fn measure_value(measure: &Measure, rows: &[&Finest]) -> Option<f64> {
    let Some(j) = measure.metric else {
        // Only a plain count has no metric (the plan enforces it).
        return Some(rows.iter().map(|r| r.rows).sum::<u64>() as f64);
    };
    let states = || rows.iter().map(move |r| &r.metrics[j]);
    let numeric = || states().filter(|s| s.n > 0);
    match measure.agg {
        Agg::Count => Some(states().map(|s| s.present).sum::<u64>() as f64),
        Agg::Cardinality => {
            let distinct: HashSet<&str> = states()
                .flat_map(|s| s.distinct.iter().map(String::as_str))
                .collect();
            Some(distinct.len() as f64)
        }
        Agg::Sum => numeric().map(|s| s.sum).reduce(|a, b| a + b),
        Agg::Min => numeric().map(|s| s.min).reduce(f64::min),
        Agg::Max => numeric().map(|s| s.max).reduce(f64::max),
        Agg::Avg => {
            let (n, sum) = numeric().fold((0u64, 0.0), |(n, sum), s| (n + s.n, sum + s.sum));
            (n > 0).then(|| sum / n as f64)
        }
        Agg::Quantile(q) => {
            let mut sketches = states().filter_map(|s| s.sketch.as_ref());
            let mut merged = sketches.next()?.clone();
            for sketch in sketches {
                // Same alpha everywhere (one UDAF): merging cannot fail.
                merged.merge(sketch).ok()?;
            }
            merged.quantile(q)
        }
    }
}

/// A measure value as JSON: counts as integers, integral numbers as
/// integers, no value as `null`.
fn number(agg: Agg, value: Option<f64>) -> Value {
    let Some(value) = value else {
        return if agg.is_count() {
            Value::from(0)
        } else {
            Value::Null
        };
    };
    if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        return Value::from(value as i64);
    }
    Value::from(value)
}

/// RFC 3339 with milliseconds and `Z`, as Datadog writes timeseries times.
fn iso_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

fn compute_value(compute: &ComputePlan, rows: &[&Finest]) -> Value {
    let agg = compute.measure.agg;
    let Some(k) = compute.series else {
        return number(agg, measure_value(&compute.measure, rows));
    };
    let mut by_time: BTreeMap<i64, Vec<&Finest>> = BTreeMap::new();
    for row in rows {
        by_time.entry(row.times[k]).or_default().push(row);
    }
    let mut points = Vec::with_capacity(by_time.len());
    for (time, rows) in by_time {
        let Some(value) = measure_value(&compute.measure, &rows) else {
            continue;
        };
        let mut point = Map::new();
        point.insert("time".into(), Value::from(iso_ms(time)));
        point.insert("value".into(), number(agg, Some(value)));
        points.push(Value::Object(point));
    }
    Value::Array(points)
}

/// Orders JSON facet values: numbers (numerically) before booleans before
/// strings; anything else last, by its text.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::Bool(_) => 1,
            Value::String(_) => 2,
            _ => 3,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a)
            .cmp(&rank(b))
            .then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

struct Group<'f> {
    value: Value,
    rows: Vec<&'f Finest>,
    /// The sort measure, for measure sorts.
    measure: Option<f64>,
}

fn sort_groups(groups: &mut [Group<'_>], sort: &SortPlan) {
    groups.sort_by(|a, b| {
        let primary = match sort {
            SortPlan::Alphabetical(Order::Asc) => compare_values(&a.value, &b.value),
            SortPlan::Alphabetical(Order::Desc) => compare_values(&b.value, &a.value),
            SortPlan::Measure(_, order) => match (a.measure, b.measure) {
                (Some(x), Some(y)) if *order == Order::Asc => x.total_cmp(&y),
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        };
        primary.then_with(|| compare_values(&a.value, &b.value))
    });
}

/// Appends the buckets under the node made of `rows` at `level`.
fn descend<'f>(
    plan: &Plan,
    level: usize,
    rows: &[&'f Finest],
    by: &mut Vec<(String, Value)>,
    out: &mut Vec<Bucket>,
) {
    let Some(spec) = plan.levels.get(level) else {
        let computes = plan
            .computes
            .iter()
            .enumerate()
            .map(|(i, compute)| (format!("c{i}"), compute_value(compute, rows)))
            .collect();
        out.push(Bucket {
            by: by.iter().cloned().collect(),
            computes,
        });
        return;
    };
    let mut grouped: HashMap<&str, Vec<&'f Finest>> = HashMap::new();
    for row in rows {
        if let Some(key) = row.keys[level].as_deref() {
            grouped.entry(key).or_default().push(row);
        }
    }
    let mut groups: Vec<Group<'f>> = grouped
        .into_iter()
        .map(|(key, rows)| {
            let measure = match &spec.sort {
                SortPlan::Measure(measure, _) => measure_value(measure, &rows),
                SortPlan::Alphabetical(_) => None,
            };
            Group {
                // The scan wrote the key with serde_json: it parses.
                value: serde_json::from_str(key).unwrap_or_else(|_| Value::from(key)),
                rows,
                measure,
            }
        })
        .collect();
    sort_groups(&mut groups, &spec.sort);
    groups.truncate(spec.limit);
    for group in groups {
        by.push((spec.name.clone(), group.value));
        descend(plan, level + 1, &group.rows, by, out);
        by.pop();
    }
    if let Some(total) = &spec.total {
        by.push((spec.name.clone(), total.clone()));
        descend(plan, level + 1, rows, by, out);
        by.pop();
    }
}

/// The response buckets of `plan` from its finest groups, in tree order.
pub(crate) fn buckets(plan: &Plan, finest: &[Finest]) -> Vec<Bucket> {
    let rows: Vec<&Finest> = finest.iter().filter(|f| f.rows > 0).collect();
    let mut out = Vec::new();
    if rows.is_empty() {
        return out;
    }
    descend(plan, 0, &rows, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests;
