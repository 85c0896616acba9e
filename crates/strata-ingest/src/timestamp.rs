//! Timestamp parsing: epoch milliseconds (numbers or digit strings) and
//! ISO 8601 / RFC 3339 strings.

use chrono::{DateTime, NaiveDateTime};
use strata_types::AttrValue;

/// Timestamps outside 1970-01-01 .. 2262-01-01 (what nanoseconds in an `i64`
/// can hold, with room for hour buckets) are not timestamps: the event gets
/// its receive time and keeps the value as an attribute.
const MAX_NS: i64 = 9_214_646_400_000_000_000;

/// Parses a Datadog timestamp value to nanoseconds since the epoch, or `None`
/// when it is not a timestamp or out of range. Numbers are epoch
/// **milliseconds**, as the Datadog date remapper reads them.
pub fn parse_timestamp_ns(value: &AttrValue) -> Option<i64> {
    let ns = match value {
        AttrValue::Int(ms) => ms.checked_mul(1_000_000),
        AttrValue::Float(ms) => {
            let ns = ms * 1e6;
            (ns.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64)
        }
        AttrValue::Str(s) => parse_str(s.trim()),
        _ => None,
    };
    ns.filter(|ns| (0..MAX_NS).contains(ns))
}

/// [`parse_timestamp_ns`] of a string: epoch ms digits or ISO 8601.
pub fn parse_timestamp_str(s: &str) -> Option<i64> {
    parse_str(s.trim()).filter(|ns| (0..MAX_NS).contains(ns))
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
    use super::*;

    fn text(s: &str) -> AttrValue {
        AttrValue::Str(s.to_string())
    }

    #[test]
    fn formats() {
        let want = 1_700_000_000_123_000_000;
        assert_eq!(
            parse_timestamp_ns(&AttrValue::Int(1_700_000_000_123)),
            Some(want)
        );
        assert_eq!(parse_timestamp_ns(&text("1700000000123")), Some(want));
        assert_eq!(
            parse_timestamp_ns(&text("2023-11-14T22:13:20.123Z")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&text("2023-11-14T23:13:20.123+01:00")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&text("2023-11-14 22:13:20.123")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_ns(&text("2023-11-14T22:13:20.123+0000")),
            Some(want)
        );
        assert_eq!(
            parse_timestamp_str(" 2023-11-14T22:13:20.123Z "),
            Some(want)
        );
        let fractional = parse_timestamp_ns(&AttrValue::Float(1_700_000_000_123.5)).unwrap();
        assert!(
            (fractional - (want + 500_000)).abs() < 1_000,
            "{fractional}"
        );
        assert_eq!(parse_timestamp_ns(&text("yesterday")), None);
        assert_eq!(parse_timestamp_ns(&AttrValue::Bool(true)), None);
        assert_eq!(parse_timestamp_ns(&AttrValue::Int(i64::MAX)), None);
        assert_eq!(parse_timestamp_ns(&AttrValue::Float(1e300)), None);
        assert_eq!(parse_timestamp_ns(&AttrValue::Int(-5)), None, "before 1970");
        assert_eq!(
            parse_timestamp_str("9999-01-01T00:00:00Z"),
            None,
            "after 2261"
        );
    }
}
