//! Timestamp parsing: epoch milliseconds (numbers or digit strings) and
//! ISO 8601 / RFC 3339 strings.

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

/// Parses a Datadog timestamp value to nanoseconds since the epoch, or `None`
/// when it is not a timestamp. Numbers are epoch **milliseconds**, as the
/// Datadog date remapper reads them.
pub fn parse_timestamp_ns(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => {
            if let Some(ms) = n.as_i64() {
                return ms.checked_mul(1_000_000);
            }
            let ms = n.as_f64()?;
            let ns = ms * 1e6;
            (ns.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64)
        }
        Value::String(s) => parse_str(s.trim()),
        _ => None,
    }
}

/// Timestamps outside 1970-01-01 .. 2262-01-01 (what nanoseconds in an `i64`
/// can hold, with room for hour buckets) are not timestamps: the event gets
/// its receive time and keeps the value as an attribute.
const MAX_NS: i64 = 9_214_646_400_000_000_000;

/// [`parse_timestamp_ns`] for a flattened attribute value.
pub(crate) fn parse_attr_timestamp_ns(value: &strata_types::AttrValue) -> Option<i64> {
    parse_attr_unchecked(value).filter(|ns| (0..MAX_NS).contains(ns))
}

fn parse_attr_unchecked(value: &strata_types::AttrValue) -> Option<i64> {
    use strata_types::AttrValue;
    match value {
        AttrValue::Int(ms) => ms.checked_mul(1_000_000),
        AttrValue::Float(ms) => {
            let ns = ms * 1e6;
            (ns.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64)
        }
        AttrValue::Str(s) => parse_str(s.trim()),
        _ => None,
    }
}

fn parse_str(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1_000_000);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt();
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return dt.timestamp_nanos_opt();
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return naive.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn formats() {
        let want = 1_700_000_000_123_000_000;
        assert_eq!(parse_timestamp_ns(&json!(1_700_000_000_123i64)), Some(want));
        assert_eq!(parse_timestamp_ns(&json!("1700000000123")), Some(want));
        assert_eq!(
            parse_timestamp_ns(&json!("2023-11-14T22:13:20.123Z")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&json!("2023-11-14T23:13:20.123+01:00")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&json!("2023-11-14 22:13:20.123")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&json!("2023-11-14T22:13:20.123+0000")),
            Some(want)
        );
        let fractional = parse_timestamp_ns(&json!(1_700_000_000_123.5f64)).unwrap();
        assert!(
            (fractional - (want + 500_000)).abs() < 1_000,
            "{fractional}"
        );
        assert_eq!(parse_timestamp_ns(&json!("yesterday")), None);
        assert_eq!(parse_timestamp_ns(&json!(true)), None);
        assert_eq!(parse_timestamp_ns(&json!(i64::MAX)), None);
        assert_eq!(parse_timestamp_ns(&json!(1e300)), None);
    }
}
