//! The JSON series bodies: `/api/v2/series`, `/api/v1/series` and
//! `/api/v1/distribution_points`.
//!
//! The three share one streaming decoder (serde visitors over
//! `serde_json::Deserializer`), so a 62 MB v1 body is never held as a
//! `serde_json::Value` tree (several times its size) and the point budget
//! stops a request as soon as it is exceeded. Points are checked against
//! the window as they are read. Unknown fields are ignored at every level.
//!
//! Errors are collected in [`Ctx::rejection`] with the place they happened
//! (`series[3].points[7]: …`); serde only carries a marker error back out.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use strata_metrics::{MetricType, Point, SeriesPoints, Sketch, SketchPoints};

use super::{interval_s, series_key, Collector, DecodedMetrics, DropReason, Label, MetricsLimits};
use crate::IngestError;

/// Decodes a `POST /api/v2/series` JSON body:
/// `{"series":[{"metric","type":0..3,"points":[{"timestamp","value"}],"resources":[{"name","type":"host"}],"tags","unit","interval",…}]}`.
///
/// `type` is an integer (0 unspecified, 1 count, 2 rate, 3 gauge; anything
/// else is a 400). The host is the `name` of the first resource whose type
/// is `host` (a top-level `host` string is accepted as a fallback);
/// resources of other types, `source_type_name` and `metadata` are ignored.
/// A point without `timestamp` is a 400; one without `value` (or `null`) is
/// dropped. See the [`DecodedMetrics`] for what is dropped.
pub fn decode_series_v2_json(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
) -> Result<DecodedMetrics, IngestError> {
    decode(body, now_s, limits, Dialect::V2)
}

/// Decodes a `POST /api/v1/series` body:
/// `{"series":[{"metric","points":[[ts, value]],"type":"gauge"|"count"|"rate"|"","interval","host","tags"}]}`.
///
/// `ts` is seconds, integer or float (truncated). `value` may be `null` (the
/// spec types points as `[float, none_type]`): such points are dropped. The
/// type is matched case-insensitively; `distribution` is refused here (it
/// belongs to [`decode_distribution_points`]).
pub fn decode_series_v1(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
) -> Result<DecodedMetrics, IngestError> {
    decode(body, now_s, limits, Dialect::V1)
}

/// Decodes a `POST /api/v1/distribution_points` body:
/// `{"series":[{"metric","points":[[ts,[v1,v2,…]]],"host","tags","type":"distribution"}]}`
/// into sketch series, one [`Sketch`] per point built from its values.
///
/// A single number instead of the value list is accepted (the spec's
/// `DistributionPointItem` is a number or a list). A point with an empty
/// list is dropped; `null` inside the list is a 400. Every value counts
/// against [`MetricsLimits::max_points_per_request`].
pub fn decode_distribution_points(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
) -> Result<DecodedMetrics, IngestError> {
    decode(body, now_s, limits, Dialect::Distribution)
}

/// Which endpoint's body this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V2,
    V1,
    Distribution,
}

#[derive(Debug)]
struct Ctx<'l> {
    dialect: Dialect,
    collector: Collector<'l>,
    /// The first error, with its place; set once.
    rejection: Option<IngestError>,
    saw_series: bool,
    /// Scratch for one distribution point's values.
    values: Vec<f64>,
}

impl Ctx<'_> {
    /// Records `error` unless an inner one was recorded first, and returns
    /// the marker error serde unwinds with.
    fn reject<E: de::Error>(&mut self, error: IngestError) -> E {
        if self.rejection.is_none() {
            self.rejection = Some(error);
        }
        E::custom("request rejected")
    }

    /// Names a serde error by its place (`series[3].metric`).
    fn place<T, E: de::Error>(
        &mut self,
        result: Result<T, E>,
        place: impl FnOnce() -> String,
    ) -> Result<T, E> {
        result.map_err(|e| {
            let error = IngestError::bad(format!("{}: {e}", place()));
            self.reject(error)
        })
    }
}

fn decode(
    body: &[u8],
    now_s: i64,
    limits: &MetricsLimits,
    dialect: Dialect,
) -> Result<DecodedMetrics, IngestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::bad(
            "empty request body: send a JSON object {\"series\":[…]}",
        ));
    }
    let mut ctx = Ctx {
        dialect,
        collector: Collector::new(now_s, limits),
        rejection: None,
        saw_series: false,
        values: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = Body { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    if let Err(e) = result {
        return Err(ctx
            .rejection
            .take()
            .unwrap_or_else(|| IngestError::bad(format!("invalid JSON body: {e}"))));
    }
    if !ctx.saw_series {
        return Err(IngestError::bad("the body has no \"series\" array"));
    }
    Ok(ctx.collector.finish())
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum BodyField {
    Series,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum SeriesField {
    Metric,
    Type,
    Points,
    Tags,
    Host,
    Resources,
    Unit,
    Interval,
    #[serde(other)]
    Other,
}

/// `{"series": [...]}`.
struct Body<'a, 'l> {
    ctx: &'a mut Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for Body<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object {\"series\":[…]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<BodyField>()? {
            match field {
                BodyField::Series => {
                    self.ctx.saw_series = true;
                    map.next_value_seed(SeriesList {
                        ctx: &mut *self.ctx,
                    })?;
                }
                BodyField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `series` array.
struct SeriesList<'a, 'l> {
    ctx: &'a mut Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for SeriesList<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SeriesList<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of series")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            let label = Label {
                list: "series",
                index,
            };
            let element = seq.next_element_seed(OneSeries {
                ctx: &mut *self.ctx,
                label,
            });
            if self.ctx.place(element, || label.to_string())?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// What one series object said, before validation.
#[derive(Debug, Default)]
struct Fields {
    metric: Option<String>,
    type_code: Option<i64>,
    type_name: Option<String>,
    tags: Option<Vec<String>>,
    host: Option<String>,
    resource_host: Option<String>,
    unit: Option<String>,
    interval: Option<i64>,
    points: Vec<Point>,
    sketches: Vec<(i64, Sketch)>,
}

#[derive(Deserialize)]
struct Resource {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// One element of the `series` array.
struct OneSeries<'a, 'l> {
    ctx: &'a mut Ctx<'l>,
    label: Label,
}

impl<'de> DeserializeSeed<'de> for OneSeries<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneSeries<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a series object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let OneSeries { ctx, label } = self;
        if let Err(e) = ctx.collector.count_series(&label) {
            return Err(ctx.reject(e));
        }
        let mut fields = Fields::default();
        loop {
            let key = map.next_key::<SeriesField>();
            let Some(key) = ctx.place(key, || label.to_string())? else {
                break;
            };
            let at = |name: &str| format!("{label}.{name}");
            match key {
                SeriesField::Metric => {
                    fields.metric = ctx.place(map.next_value(), || at("metric"))?;
                }
                SeriesField::Type if ctx.dialect == Dialect::V2 => {
                    fields.type_code = ctx.place(map.next_value(), || at("type"))?;
                }
                SeriesField::Type => {
                    fields.type_name = ctx.place(map.next_value(), || at("type"))?;
                }
                SeriesField::Tags => {
                    fields.tags = ctx.place(map.next_value(), || at("tags"))?;
                }
                SeriesField::Host => {
                    fields.host = ctx.place(map.next_value(), || at("host"))?;
                }
                SeriesField::Resources => {
                    let resources: Option<Vec<Resource>> =
                        ctx.place(map.next_value(), || at("resources"))?;
                    let host = resources
                        .into_iter()
                        .flatten()
                        .find(|r| r.kind.as_deref() == Some("host") && r.name.is_some());
                    if let Some(host) = host {
                        fields.resource_host = host.name;
                    }
                }
                SeriesField::Unit => {
                    fields.unit = ctx.place(map.next_value(), || at("unit"))?;
                }
                SeriesField::Interval => {
                    fields.interval = ctx.place(map.next_value(), || at("interval"))?;
                }
                SeriesField::Points => {
                    let points = map.next_value_seed(Points {
                        ctx: &mut *ctx,
                        label,
                        fields: &mut fields,
                    });
                    ctx.place(points, || at("points"))?;
                }
                SeriesField::Other => {
                    ctx.place(map.next_value::<IgnoredAny>(), || label.to_string())?;
                }
            }
        }
        finish_series(ctx, label, fields).map_err(|e| ctx.reject(e))
    }
}

/// Validates one series and hands it to the collector.
fn finish_series(ctx: &mut Ctx<'_>, label: Label, fields: Fields) -> Result<(), IngestError> {
    let host = fields.resource_host.or(fields.host).unwrap_or_default();
    let key = series_key(
        &label,
        fields.metric.as_deref(),
        host,
        fields.tags.unwrap_or_default(),
    )?;
    let kind = match ctx.dialect {
        Dialect::V2 => type_from_code(label, fields.type_code)?,
        Dialect::V1 => type_from_name(label, fields.type_name.as_deref())?,
        Dialect::Distribution => {
            match fields.type_name.as_deref() {
                None | Some("") => {}
                Some(name) if name.eq_ignore_ascii_case("distribution") => {}
                Some(other) => {
                    return Err(IngestError::bad(format!(
                        "{label}.type: {other:?} is not \"distribution\""
                    )))
                }
            }
            ctx.collector.push_sketches(SketchPoints {
                key,
                points: fields.sketches,
            });
            return Ok(());
        }
    };
    let interval_s = match fields.interval {
        Some(interval) => interval_s(&label, interval)?,
        None => 0,
    };
    ctx.collector.push_series(SeriesPoints {
        key,
        kind,
        interval_s,
        unit: fields.unit.unwrap_or_default(),
        points: fields.points,
    });
    Ok(())
}

fn type_from_code(label: Label, code: Option<i64>) -> Result<MetricType, IngestError> {
    let Some(code) = code else {
        return Ok(MetricType::Unspecified);
    };
    // Codes 0..=3 are the intake's; strata's code 4 (distribution) is not.
    u8::try_from(code)
        .ok()
        .filter(|c| *c <= 3)
        .and_then(MetricType::from_code)
        .ok_or_else(|| {
            IngestError::bad(format!(
                "{label}.type: {code} is not 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)"
            ))
        })
}

fn type_from_name(label: Label, name: Option<&str>) -> Result<MetricType, IngestError> {
    let lower = name.unwrap_or("").to_ascii_lowercase();
    match MetricType::from_name(&lower) {
        Some(MetricType::Distribution) => Err(IngestError::bad(format!(
            "{label}.type: distributions go to /api/v1/distribution_points"
        ))),
        Some(kind) => Ok(kind),
        None => Err(IngestError::bad(format!(
            "{label}.type: {lower:?} is not \"gauge\", \"count\", \"rate\" or \"\""
        ))),
    }
}

/// A `points` array, in the dialect's point shape.
struct Points<'a, 'l> {
    ctx: &'a mut Ctx<'l>,
    label: Label,
    fields: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for Points<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Points<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of points")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Points { ctx, label, fields } = self;
        for index in 0.. {
            let at = || format!("{label}.points[{index}]");
            let point = match ctx.dialect {
                Dialect::V2 => seq
                    .next_element::<PointV2>()
                    .map(|p| p.map(|p| (p.timestamp, p.value))),
                Dialect::V1 => seq
                    .next_element::<PointV1>()
                    .map(|p| p.map(|p| (Some(p.0), p.1))),
                Dialect::Distribution => {
                    let point = seq.next_element_seed(DistributionPoint {
                        ctx: &mut *ctx,
                        label,
                        index,
                    });
                    match ctx.place(point, at)? {
                        Some(Some(sketch)) => fields.sketches.push(sketch),
                        Some(None) => {}
                        None => break,
                    }
                    continue;
                }
            };
            let Some((ts, value)) = ctx.place(point, at)? else {
                break;
            };
            if let Err(e) = ctx.collector.count_points(1, &at()) {
                return Err(ctx.reject(e));
            }
            let Some(Timestamp(ts)) = ts else {
                let error = IngestError::bad(format!("{}.timestamp: missing", at()));
                return Err(ctx.reject(error));
            };
            ctx.collector.keep_point(ts, value, &mut fields.points);
        }
        Ok(())
    }
}

/// A v2 point `{"timestamp": s, "value": v}`.
#[derive(Deserialize)]
struct PointV2 {
    timestamp: Option<Timestamp>,
    value: Option<f64>,
}

/// A v1 point `[ts, value]`, value possibly `null`.
struct PointV1(Timestamp, Option<f64>);

impl<'de> Deserialize<'de> for PointV1 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PointV1, D::Error> {
        deserializer.deserialize_seq(PointV1Visitor)
    }
}

struct PointV1Visitor;

impl<'de> Visitor<'de> for PointV1Visitor {
    type Value = PointV1;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a point [timestamp, value]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PointV1, A::Error> {
        let ts = seq
            .next_element::<Timestamp>()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let value = seq
            .next_element::<Option<f64>>()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(PointV1(ts, value))
    }
}

/// Seconds since the epoch, sent as an integer or a float (truncated).
struct Timestamp(i64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        deserializer.deserialize_any(TimestampVisitor)
    }
}

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Unix timestamp in seconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Ok(Timestamp(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        i64::try_from(v)
            .map(Timestamp)
            .map_err(|_| E::custom(format!("timestamp {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
        // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
        if v.is_finite() && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            Ok(Timestamp(v.trunc() as i64))
        } else {
            Err(E::custom(format!("timestamp {v:e} is out of range")))
        }
    }
}

/// A distribution point `[ts, [v…]]` (or `[ts, v]`): the sketch of its
/// values, `None` when it was dropped.
struct DistributionPoint<'a, 'l> {
    ctx: &'a mut Ctx<'l>,
    label: Label,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for DistributionPoint<'_, '_> {
    type Value = Option<(i64, Sketch)>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DistributionPoint<'_, '_> {
    type Value = Option<(i64, Sketch)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a point [timestamp, [values]]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(Timestamp(ts)) = seq.next_element::<Timestamp>()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let DistributionPoint { ctx, label, index } = self;
        let mut values = std::mem::take(&mut ctx.values);
        values.clear();
        let place = format!("{label}.points[{index}]");
        let read = seq.next_element_seed(Values {
            collector: &mut ctx.collector,
            rejection: &mut ctx.rejection,
            place: &place,
            values: &mut values,
        });
        let read = match read {
            Ok(Some(())) => seq
                .next_element::<IgnoredAny>()
                .map(|extra| extra.is_none()),
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        match read {
            Ok(true) => {}
            Ok(false) => {
                return Err(de::Error::custom(
                    "a distribution point is [timestamp, [values]]",
                ))
            }
            Err(e) => return Err(e),
        }
        let result = if values.is_empty() {
            if let Err(e) = ctx.collector.count_points(1, &place) {
                return Err(ctx.reject(e));
            }
            ctx.collector.drop_point(DropReason::NoValue);
            None
        } else if let Some(why) = ctx.collector.outside_window(ts) {
            ctx.collector.drop_point(why);
            None
        } else {
            Some((ts, Sketch::from_values(&values)))
        };
        ctx.values = values;
        Ok(result)
    }
}

/// The values of one distribution point: a list of numbers or one number.
struct Values<'a, 'l> {
    collector: &'a mut Collector<'l>,
    rejection: &'a mut Option<IngestError>,
    place: &'a str,
    values: &'a mut Vec<f64>,
}

impl Values<'_, '_> {
    fn push<E: de::Error>(&mut self, value: f64) -> Result<(), E> {
        if let Err(e) = self.collector.count_points(1, &self.place) {
            if self.rejection.is_none() {
                *self.rejection = Some(e);
            }
            return Err(E::custom("request rejected"));
        }
        self.values.push(value);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Values<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Values<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<f64>()? {
            self.push(value)?;
        }
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.push(v)
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.push(v as f64)
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.push(v as f64)
    }
}

#[cfg(test)]
mod tests;
