//! The `_overflow` column's tagged JSON encoding.
//!
//! One row's overflow is a JSON object mapping attribute path to a tagged
//! value, or to an array of tagged values when the event carries the same path
//! more than once (in the event's order):
//!
//! ```text
//! {"s": "text"}        AttrValue::Str
//! {"i": -42}           AttrValue::Int   (JSON integer, exact for all i64)
//! {"f": "2.0"}         AttrValue::Float (decimal text that parses back to the same f64,
//!                                        also "NaN", "inf", "-inf")
//! {"b": true}          AttrValue::Bool
//! {"j": "[1,2]"}       AttrValue::Json  (the JSON text, kept verbatim as a string)
//! ```

use serde_json::{Map, Value};
use strata_types::AttrValue;

use crate::SegmentError;

/// Encodes one row's overflow attributes. `entries` are in the event's order;
/// the object's keys come out in ascending order.
pub(crate) fn encode(entries: &[(&str, &AttrValue)]) -> String {
    let mut sorted: Vec<(&str, &AttrValue)> = entries.to_vec();
    // Stable: repeated paths keep the event's order.
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut map = Map::new();
    let mut i = 0;
    while i < sorted.len() {
        let key = sorted[i].0;
        let mut j = i + 1;
        while j < sorted.len() && sorted[j].0 == key {
            j += 1;
        }
        let value = if j - i == 1 {
            tag(sorted[i].1)
        } else {
            Value::Array(sorted[i..j].iter().map(|(_, v)| tag(v)).collect())
        };
        map.insert(key.to_string(), value);
        i = j;
    }
    Value::Object(map).to_string()
}

fn tag(value: &AttrValue) -> Value {
    let (tag, inner) = match value {
        AttrValue::Str(s) => ("s", Value::String(s.clone())),
        AttrValue::Int(i) => ("i", Value::from(*i)),
        AttrValue::Float(f) => ("f", Value::String(format_float(*f))),
        AttrValue::Bool(b) => ("b", Value::Bool(*b)),
        AttrValue::Json(text) => ("j", Value::String(text.clone())),
    };
    let mut map = Map::new();
    map.insert(tag.to_string(), inner);
    Value::Object(map)
}

/// Shortest decimal text that `str::parse::<f64>` reads back to the same
/// value (`Debug` keeps a `.0` on integral values and uses an exponent for
/// very large or small ones).
fn format_float(f: f64) -> String {
    format!("{f:?}")
}

/// Decodes one row's overflow text, appending `(path, value)` pairs to `out`
/// (keys ascending, repeated paths in their stored order).
pub(crate) fn decode(text: &str, out: &mut Vec<(String, AttrValue)>) -> Result<(), SegmentError> {
    let map: Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| SegmentError::Corrupt(format!("_overflow is not a JSON object: {e}")))?;
    // serde_json's map is ordered by key unless `preserve_order` is on
    // somewhere in the build: sort to be sure.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    for (key, value) in entries {
        match value {
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    out.push((key.clone(), untag(key, item)?));
                }
            }
            item => out.push((key.clone(), untag(key, item)?)),
        }
    }
    Ok(())
}

fn untag(key: &str, value: &Value) -> Result<AttrValue, SegmentError> {
    let bad =
        || SegmentError::Corrupt(format!("_overflow value for {key:?} is malformed: {value}"));
    let Value::Object(map) = value else {
        return Err(bad());
    };
    if map.len() != 1 {
        return Err(bad());
    }
    let (tag, inner) = map.iter().next().ok_or_else(bad)?;
    let attr = match (tag.as_str(), inner) {
        ("s", Value::String(s)) => AttrValue::Str(s.clone()),
        ("i", Value::Number(n)) => AttrValue::Int(n.as_i64().ok_or_else(bad)?),
        ("f", Value::String(s)) => AttrValue::Float(s.parse::<f64>().map_err(|_| bad())?),
        ("b", Value::Bool(b)) => AttrValue::Bool(*b),
        ("j", Value::String(s)) => AttrValue::Json(s.clone()),
        _ => return Err(bad()),
    };
    Ok(attr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(entries: &[(&str, AttrValue)]) -> Vec<(String, AttrValue)> {
        let refs: Vec<(&str, &AttrValue)> = entries.iter().map(|(k, v)| (*k, v)).collect();
        let text = encode(&refs);
        let mut out = Vec::new();
        decode(&text, &mut out).expect("decodes what encode wrote");
        out
    }

    #[test]
    fn tagged_encoding_is_as_documented() {
        let a = AttrValue::Str("x".into());
        let b = AttrValue::Int(-42);
        let c = AttrValue::Float(2.0);
        let d = AttrValue::Bool(true);
        let e = AttrValue::Json("[1, 2]".into());
        let text = encode(&[("s", &a), ("i", &b), ("f", &c), ("b", &d), ("j", &e)]);
        assert_eq!(
            text,
            r#"{"b":{"b":true},"f":{"f":"2.0"},"i":{"i":-42},"j":{"j":"[1, 2]"},"s":{"s":"x"}}"#
        );
    }

    #[test]
    fn exact_values_round_trip() {
        let entries = vec![
            ("a", AttrValue::Int(i64::MIN)),
            ("b", AttrValue::Int(i64::MAX)),
            ("c", AttrValue::Float(2.0)),
            ("d", AttrValue::Float(0.1 + 0.2)),
            ("e", AttrValue::Float(f64::MAX)),
            ("f", AttrValue::Float(f64::MIN_POSITIVE / 3.0)),
            ("g", AttrValue::Float(f64::INFINITY)),
            ("h", AttrValue::Float(f64::NEG_INFINITY)),
            ("i", AttrValue::Json("null".into())),
            ("j", AttrValue::Str(String::new())),
            ("k", AttrValue::Float(-0.0)),
        ];
        let out = round_trip(&entries);
        assert_eq!(out.len(), entries.len());
        for ((k1, v1), (k2, v2)) in entries.iter().zip(&out) {
            assert_eq!(k1, k2);
            assert_eq!(v1, v2);
            if let (AttrValue::Float(x), AttrValue::Float(y)) = (v1, v2) {
                assert_eq!(x.to_bits(), y.to_bits(), "{k1}");
            }
        }
        let nan = round_trip(&[("n", AttrValue::Float(f64::NAN))]);
        assert!(matches!(nan[0].1, AttrValue::Float(f) if f.is_nan()));
    }

    #[test]
    fn repeated_paths_keep_their_order() {
        let entries = vec![
            ("z", AttrValue::Int(1)),
            ("a", AttrValue::Str("first".into())),
            ("a", AttrValue::Int(2)),
            ("a", AttrValue::Str("third".into())),
        ];
        let out = round_trip(&entries);
        let want: Vec<(String, AttrValue)> = vec![
            ("a".into(), AttrValue::Str("first".into())),
            ("a".into(), AttrValue::Int(2)),
            ("a".into(), AttrValue::Str("third".into())),
            ("z".into(), AttrValue::Int(1)),
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn malformed_overflow_is_an_error() {
        for text in [
            "[]",
            "nope",
            r#"{"a":1}"#,
            r#"{"a":{"i":1.5}}"#,
            r#"{"a":{"f":"x"}}"#,
            r#"{"a":{"s":"x","i":1}}"#,
            r#"{"a":{"q":1}}"#,
            r#"{"a":[]}"#,
            r#"{"a":[[{"i":1}]]}"#,
        ] {
            let mut out = Vec::new();
            assert!(
                matches!(decode(text, &mut out), Err(SegmentError::Corrupt(_))),
                "{text}"
            );
        }
    }
}
