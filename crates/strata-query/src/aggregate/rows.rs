//! Turns matching events into normalised Arrow rows: the only columns the
//! aggregation needs, already resolved from the event's facets.
//!
//! Columns (names are shared with [`super::exec`]):
//!
//! | name   | type    | content                                                      |
//! |--------|---------|--------------------------------------------------------------|
//! | `g{i}` | Utf8    | JSON text of level `i`'s value (histogram bucket, `missing`), null = left out of the level |
//! | `t{k}` | Int64   | start (epoch ms) of the row's bucket of interval `k`        |
//! | `p{j}` | Boolean | `true` when the row has metric `j`, else null                |
//! | `m{j}` | Float64 | numeric value of metric `j`, else null                       |
//! | `u{j}` | Utf8    | JSON text of metric `j`'s value, else null (cardinality)     |

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::plan::{Facet, LevelPlan, Plan};
use crate::{AttrRef, EventView, QueryError};

/// Rows per record batch handed to DataFusion.
pub(crate) const BATCH_ROWS: usize = 8192;

pub(crate) fn group_col(level: usize) -> String {
    format!("g{level}")
}
pub(crate) fn time_col(interval: usize) -> String {
    format!("t{interval}")
}
pub(crate) fn present_col(metric: usize) -> String {
    format!("p{metric}")
}
pub(crate) fn numeric_col(metric: usize) -> String {
    format!("m{metric}")
}
pub(crate) fn distinct_col(metric: usize) -> String {
    format!("u{metric}")
}

/// The schema of the normalised rows of `plan`.
pub(crate) fn schema(plan: &Plan) -> SchemaRef {
    let mut fields = Vec::new();
    for i in 0..plan.levels.len() {
        fields.push(Field::new(group_col(i), DataType::Utf8, true));
    }
    for k in 0..plan.intervals.len() {
        fields.push(Field::new(time_col(k), DataType::Int64, false));
    }
    for (j, metric) in plan.metrics.iter().enumerate() {
        if metric.present {
            fields.push(Field::new(present_col(j), DataType::Boolean, true));
        }
        if metric.numeric || metric.sketch {
            fields.push(Field::new(numeric_col(j), DataType::Float64, true));
        }
        if metric.distinct {
            fields.push(Field::new(distinct_col(j), DataType::Utf8, true));
        }
    }
    Arc::new(Schema::new(fields))
}

/// A facet's value in one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i64),
    /// Finite and not integral (integral floats are [`Scalar::Int`]).
    Float(f64),
    Bool(bool),
}

impl Scalar {
    /// A float, as an integer when it is integral and exactly representable;
    /// `None` when not finite.
    fn from_f64(value: f64) -> Option<Scalar> {
        if !value.is_finite() {
            return None;
        }
        // 2^53: beyond it not every integer is a float, so keep the float.
        if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
            return Some(Scalar::Int(value as i64));
        }
        Some(Scalar::Float(value))
    }

    /// The value as JSON text (its group key).
    pub(crate) fn json_text(&self) -> String {
        match self {
            Scalar::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => serde_json::Value::from(*f).to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }

    /// The value as a number: numbers, and strings that parse as a finite
    /// `f64`.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            Scalar::Bool(_) => None,
        }
    }
}

/// The first value of `facet` in `row` (see the module docs of
/// [`crate::aggregate`] on multi-valued facets).
pub(crate) fn facet_value(row: &dyn EventView, facet: &Facet) -> Option<Scalar> {
    let text = |s: Option<&str>| s.map(|s| Scalar::Str(s.to_string()));
    match facet {
        Facet::Service => text(row.service()),
        Facet::Host => text(row.host()),
        Facet::Source => text(row.source()),
        Facet::TraceId => text(row.trace_id()),
        Facet::Message => text(Some(row.message())),
        Facet::Status => text(Some(row.status().as_str())),
        Facet::Tag(key) => {
            let mut found = None;
            row.any_tag(&mut |tag| {
                let value = tag
                    .strip_prefix(key.as_str())
                    .and_then(|r| r.strip_prefix(':'));
                found = value.map(|v| Scalar::Str(v.to_string()));
                found.is_some()
            });
            found
        }
        Facet::Attribute(path) => {
            let mut found = None;
            row.any_attribute_at(path, &mut |key, value| {
                // `key` is `path` or a dotted prefix of it.
                let rest = path.get(key.len() + 1..).unwrap_or_default();
                found = attr_value(value, rest);
                found.is_some()
            });
            found
        }
    }
}

/// The value at `rest` (a dotted path, empty for the value itself) inside
/// an attribute value.
fn attr_value(value: AttrRef<'_>, rest: &str) -> Option<Scalar> {
    match value {
        AttrRef::Json(text) => {
            let json: serde_json::Value = serde_json::from_str(text).ok()?;
            json_value(&json, rest)
        }
        _ if !rest.is_empty() => None,
        AttrRef::Str(s) => Some(Scalar::Str(s.to_string())),
        AttrRef::Int(i) => Some(Scalar::Int(i)),
        AttrRef::Float(f) => Scalar::from_f64(f),
        AttrRef::Bool(b) => Some(Scalar::Bool(b)),
    }
}

/// The first scalar at `rest` inside `json`: arrays are searched element by
/// element, objects followed key by key.
fn json_value(json: &serde_json::Value, rest: &str) -> Option<Scalar> {
    use serde_json::Value;
    match json {
        Value::Array(items) => items.iter().find_map(|item| json_value(item, rest)),
        Value::Object(map) => {
            let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
            if head.is_empty() {
                return None;
            }
            json_value(map.get(head)?, tail)
        }
        _ if !rest.is_empty() => None,
        Value::Null => None,
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(Scalar::Int(i)),
            None => Scalar::from_f64(n.as_f64()?),
        },
    }
}

/// The group key of `level` for `row`: JSON text, or `None` when the row is
/// left out of the level.
fn group_key(row: &dyn EventView, level: &LevelPlan) -> Option<String> {
    let Some(value) = facet_value(row, &level.facet) else {
        return level.missing.clone();
    };
    match &level.histogram {
        None => Some(value.json_text()),
        Some(histogram) => {
            let bucket = histogram.bucket(value.as_f64()?)?;
            Scalar::from_f64(bucket).map(|s| s.json_text())
        }
    }
}

/// Builders of one batch of normalised rows.
pub(crate) struct RowBuilder<'p> {
    plan: &'p Plan,
    schema: SchemaRef,
    groups: Vec<StringBuilder>,
    times: Vec<Int64Builder>,
    /// Per metric, `None` when the plan does not need that column.
    present: Vec<Option<BooleanBuilder>>,
    numeric: Vec<Option<Float64Builder>>,
    distinct: Vec<Option<StringBuilder>>,
    rows: usize,
}

impl<'p> RowBuilder<'p> {
    /// Builders for `plan`; `schema` must be [`schema`]`(plan)`.
    pub(crate) fn new(plan: &'p Plan, schema: SchemaRef) -> RowBuilder<'p> {
        RowBuilder {
            plan,
            schema,
            groups: plan.levels.iter().map(|_| StringBuilder::new()).collect(),
            times: plan.intervals.iter().map(|_| Int64Builder::new()).collect(),
            present: plan
                .metrics
                .iter()
                .map(|m| m.present.then(BooleanBuilder::new))
                .collect(),
            numeric: plan
                .metrics
                .iter()
                .map(|m| (m.numeric || m.sketch).then(Float64Builder::new))
                .collect(),
            distinct: plan
                .metrics
                .iter()
                .map(|m| m.distinct.then(StringBuilder::new))
                .collect(),
            rows: 0,
        }
    }

    /// Rows appended since the last [`RowBuilder::finish`].
    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Appends `row`.
    pub(crate) fn push(&mut self, row: &dyn EventView) {
        for (level, builder) in self.plan.levels.iter().zip(&mut self.groups) {
            builder.append_option(group_key(row, level));
        }
        let ts_ms = row.timestamp_ns().div_euclid(1_000_000);
        for (interval, builder) in self.plan.intervals.iter().zip(&mut self.times) {
            builder.append_value(ts_ms.div_euclid(*interval) * interval);
        }
        for (j, metric) in self.plan.metrics.iter().enumerate() {
            let value = facet_value(row, &metric.facet);
            if let Some(builder) = &mut self.present[j] {
                builder.append_option(value.is_some().then_some(true));
            }
            if let Some(builder) = &mut self.numeric[j] {
                builder.append_option(value.as_ref().and_then(Scalar::as_f64));
            }
            if let Some(builder) = &mut self.distinct[j] {
                builder.append_option(value.as_ref().map(Scalar::json_text));
            }
        }
        self.rows += 1;
    }

    /// The rows appended so far as a batch; the builders start over.
    pub(crate) fn finish(&mut self) -> Result<RecordBatch, QueryError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for builder in &mut self.groups {
            columns.push(Arc::new(builder.finish()));
        }
        for builder in &mut self.times {
            columns.push(Arc::new(builder.finish()));
        }
        for j in 0..self.plan.metrics.len() {
            if let Some(builder) = &mut self.present[j] {
                columns.push(Arc::new(builder.finish()));
            }
            if let Some(builder) = &mut self.numeric[j] {
                columns.push(Arc::new(builder.finish()));
            }
            if let Some(builder) = &mut self.distinct[j] {
                columns.push(Arc::new(builder.finish()));
            }
        }
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
            .map_err(|e| QueryError::Internal(format!("aggregate rows: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;
    use strata_types::{AttrValue, Event, Status};

    fn event() -> Event {
        let mut event = Event::new(1_704_067_265_123_000_000, "hello".into());
        event.status = Status::Error;
        event.service = Some("web".into());
        event.tags = vec!["team".into(), "env:prod".into(), "env:dev".into()];
        event.attributes = vec![
            ("duration".into(), AttrValue::Int(250)),
            ("ratio".into(), AttrValue::Float(2.0)),
            ("half".into(), AttrValue::Float(0.5)),
            ("code".into(), AttrValue::Str("404".into())),
            ("ok".into(), AttrValue::Bool(false)),
            (
                "items".into(),
                AttrValue::Json(r#"[{"id":7},{"id":8}]"#.into()),
            ),
            ("list".into(), AttrValue::Json(r#"[null,"b","c"]"#.into())),
            ("empty".into(), AttrValue::Json("[]".into())),
        ];
        event
    }

    fn value(facet: &str) -> Option<Scalar> {
        facet_value(&event(), &Facet::parse(facet).unwrap())
    }

    #[test]
    fn facet_values_take_the_first_value_and_keep_their_type() {
        assert_eq!(value("service"), Some(Scalar::Str("web".into())));
        assert_eq!(value("host"), None);
        assert_eq!(value("status"), Some(Scalar::Str("error".into())));
        assert_eq!(value("message"), Some(Scalar::Str("hello".into())));
        assert_eq!(value("env"), Some(Scalar::Str("prod".into())));
        assert_eq!(value("team"), None, "a bare tag has no value");
        assert_eq!(value("@duration"), Some(Scalar::Int(250)));
        assert_eq!(value("@ratio"), Some(Scalar::Int(2)));
        assert_eq!(value("@half"), Some(Scalar::Float(0.5)));
        assert_eq!(value("@code"), Some(Scalar::Str("404".into())));
        assert_eq!(value("@ok"), Some(Scalar::Bool(false)));
        assert_eq!(value("@items.id"), Some(Scalar::Int(7)));
        assert_eq!(value("@list"), Some(Scalar::Str("b".into())));
        assert_eq!(value("@empty"), None);
        assert_eq!(value("@nope"), None);
        assert_eq!(value("@duration.x"), None);
    }

    #[test]
    fn json_text_and_numbers() {
        assert_eq!(Scalar::Str("a\"b".into()).json_text(), r#""a\"b""#);
        assert_eq!(Scalar::Int(-3).json_text(), "-3");
        assert_eq!(Scalar::Float(0.25).json_text(), "0.25");
        assert_eq!(Scalar::Bool(true).json_text(), "true");
        assert_eq!(Scalar::Str(" 1.5 ".into()).as_f64(), Some(1.5));
        assert_eq!(Scalar::Str("inf".into()).as_f64(), None);
        assert_eq!(Scalar::Str("abc".into()).as_f64(), None);
        assert_eq!(Scalar::Bool(true).as_f64(), None);
        assert_eq!(Scalar::from_f64(f64::NAN), None);
        assert_eq!(Scalar::from_f64(1e300), Some(Scalar::Float(1e300)));
    }

    #[test]
    fn rows_follow_the_schema() {
        let request: super::super::AggregateRequest = serde_json::from_str(
            r#"{"filter":{"from":"1704067200000","to":"1704070800000"},
                "compute":[{"aggregation":"avg","metric":"@code"},
                           {"aggregation":"cardinality","metric":"@code"},
                           {"aggregation":"count","metric":"host","type":"timeseries","interval":"1m"}],
                "group_by":[{"facet":"service","limit":5},{"facet":"host","missing":"none"},
                            {"facet":"@duration","histogram":{"interval":100,"min":0,"max":1000}},
                            {"facet":"@ok"}]}"#,
        )
        .unwrap();
        let plan = Plan::new(&request, 0).unwrap();
        let schema = schema(&plan);
        let mut builder = RowBuilder::new(&plan, Arc::clone(&schema));
        builder.push(&event());
        builder.push(&Event::new(0, "bare".into()));
        assert_eq!(builder.len(), 2);
        let batch = builder.finish().unwrap();
        assert_eq!(builder.len(), 0);
        assert_eq!(batch.num_rows(), 2);
        let text = |name: &str| {
            let array = batch.column_by_name(name).unwrap().as_string::<i32>();
            (0..2)
                .map(|i| array.is_valid(i).then(|| array.value(i).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(text("g0"), vec![Some("\"web\"".into()), None]);
        assert_eq!(text("g1"), vec![Some("\"none\"".into()); 2]);
        assert_eq!(text("g2"), vec![Some("200".into()), None]);
        assert_eq!(text("g3"), vec![Some("false".into()), None]);
        assert_eq!(text("u0"), vec![Some("\"404\"".into()), None]);
        let numbers = batch
            .column_by_name("m0")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(numbers.value(0), 404.0);
        assert!(numbers.is_null(1));
        let present = batch.column_by_name("p1").unwrap().as_boolean();
        assert!(
            present.is_null(0) && present.is_null(1),
            "neither has a host"
        );
        let times = batch
            .column_by_name("t0")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(times.value(0), 1_704_067_260_000);
        assert_eq!(times.value(1), 0);
    }

    #[test]
    fn a_plan_without_columns_still_counts_rows() {
        let plan = Plan::new(&Default::default(), 1_000_000).unwrap();
        let mut builder = RowBuilder::new(&plan, schema(&plan));
        builder.push(&event());
        let batch = builder.finish().unwrap();
        assert_eq!(batch.num_columns(), 0);
        assert_eq!(batch.num_rows(), 1);
    }
}
