//! Time bounds (`from`/`to`) and aggregation intervals, in epoch
//! milliseconds.
//!
//! [`parse_time`] accepts:
//!
//! - `now`, and date math on it: one or more `+N<unit>`/`-N<unit>` steps,
//!   `now-15m`, `now+1h`, `now-1d-2h`. Units: `ms`, `s`, `m` (minutes),
//!   `h`, `d`, `w`, and the calendar-free `M` = 30 days and `y` = 365 days.
//!   Units are case-sensitive (`m` is minutes, `M` months). No rounding
//!   (`/d`) and no spaces.
//! - RFC 3339 / ISO 8601 with `Z` or an offset, with or without fractional
//!   seconds: `2020-09-17T11:48:36Z`, `2020-09-17T11:48:36.123+01:00`
//!   (`+0100` and a space instead of `T` are accepted too).
//! - A naive date-time `2020-09-17T11:48:36[.fff]` or `2020-09-17T11:48`,
//!   read as UTC, and a date `2020-09-17` (UTC midnight).
//! - Epoch milliseconds as a non-negative integer string. A leading `-` is
//!   rejected (date strings before 1970 are allowed).
//!
//! [`parse_interval`] accepts `N<unit>` with the same units, or a bare
//! integer of milliseconds, and returns a positive number of milliseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// A time or interval that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not a time in any accepted form.
    #[error(
        "invalid time `{0}`: expected now, date math like now-15m, an RFC 3339 date or epoch milliseconds"
    )]
    InvalidTime(String),
    /// Not an interval.
    #[error("invalid interval `{0}`: expected a positive duration like 30s, 5m, 1h, 1d, 1w or milliseconds")]
    InvalidInterval(String),
    /// Well-formed but outside the representable range.
    #[error("time `{0}` is out of range")]
    OutOfRange(String),
}

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Milliseconds per unit; `None` for an unknown unit.
fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        "M" => 30 * DAY,
        "y" => 365 * DAY,
        _ => return None,
    })
}

/// `N<unit>` as milliseconds: `Ok(None)` if the shape is wrong, `Err` on
/// overflow.
fn duration_ms(text: &str) -> Result<Option<i64>, ()> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Ok(None);
    }
    let Some(per_unit) = unit_ms(unit) else {
        return Ok(None);
    };
    let n: i64 = number.parse().map_err(|_| ())?;
    n.checked_mul(per_unit).map(Some).ok_or(())
}

/// The end of a query range (exclusive), like [`parse_time`], except that a
/// bare `now` ends one millisecond later: an event received in the current
/// millisecond (acknowledged just before the query) is inside the range.
/// Regression: issue 3 freshness (the next query must see an acked event).
pub fn parse_range_end(s: &str, now_ms: i64) -> Result<i64, TimeError> {
    let end = parse_time(s, now_ms)?;
    Ok(if s.trim() == "now" {
        end.saturating_add(1)
    } else {
        end
    })
}

/// Parses a `from`/`to` time into epoch milliseconds; `now_ms` is the
/// current time for `now` and date math.
pub fn parse_time(s: &str, now_ms: i64) -> Result<i64, TimeError> {
    let text = s.trim();
    let invalid = || TimeError::InvalidTime(s.to_string());
    let out_of_range = || TimeError::OutOfRange(s.to_string());
    if let Some(mut math) = text.strip_prefix("now") {
        let mut t = now_ms;
        while !math.is_empty() {
            let sign = match math.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(invalid()),
            };
            let step = &math[1..];
            let digits = step.bytes().take_while(u8::is_ascii_digit).count();
            let units = step[digits..]
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            let (term, tail) = step.split_at(digits + units);
            let ms = duration_ms(term)
                .map_err(|()| out_of_range())?
                .ok_or_else(invalid)?;
            t = ms
                .checked_mul(sign)
                .and_then(|delta| t.checked_add(delta))
                .ok_or_else(out_of_range)?;
            math = tail;
        }
        return Ok(t);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|_| out_of_range());
    }
    parse_date(text).ok_or_else(invalid)
}

/// RFC 3339 / ISO 8601 forms, naive ones as UTC.
fn parse_date(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Parses an aggregation interval (`30s`, `5m`, `1h`, `1d`, `1w`, or a bare
/// integer of milliseconds) into milliseconds, always `> 0`.
pub fn parse_interval(s: &str) -> Result<i64, TimeError> {
    let text = s.trim();
    let invalid = || TimeError::InvalidInterval(s.to_string());
    let ms = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>()
            .map_err(|_| TimeError::OutOfRange(s.to_string()))?
    } else {
        duration_ms(text)
            .map_err(|()| TimeError::OutOfRange(s.to_string()))?
            .ok_or_else(invalid)?
    };
    if ms <= 0 {
        return Err(invalid());
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn now_and_date_math() {
        assert_eq!(parse_time("now", NOW), Ok(NOW));
        assert_eq!(parse_time(" now ", NOW), Ok(NOW));
        assert_eq!(parse_time("now-15m", NOW), Ok(NOW - 15 * MINUTE));
        assert_eq!(parse_time("now+1h", NOW), Ok(NOW + HOUR));
        assert_eq!(parse_time("now-2d", NOW), Ok(NOW - 2 * DAY));
        assert_eq!(parse_time("now-1d-2h", NOW), Ok(NOW - DAY - 2 * HOUR));
        assert_eq!(parse_time("now-1d+30m", NOW), Ok(NOW - DAY + 30 * MINUTE));
        assert_eq!(parse_time("now-30s", NOW), Ok(NOW - 30 * SECOND));
        assert_eq!(parse_time("now-500ms", NOW), Ok(NOW - 500));
        assert_eq!(parse_time("now-1w", NOW), Ok(NOW - 7 * DAY));
        assert_eq!(parse_time("now-1M", NOW), Ok(NOW - 30 * DAY));
        assert_eq!(parse_time("now-1y", NOW), Ok(NOW - 365 * DAY));
        assert_eq!(parse_time("now-0m", NOW), Ok(NOW));
        for bad in [
            "now-",
            "now-m",
            "now-15",
            "now15m",
            "now-15x",
            "now - 15m",
            "now-15m-",
            "now-1.5h",
            "now/d",
            "NOW",
            "nowish",
            "now-15M5",
        ] {
            assert_eq!(
                parse_time(bad, NOW),
                Err(TimeError::InvalidTime(bad.to_string())),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_time("now-99999999999999999999d", NOW),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_time("now+9223372036854775807ms", NOW),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_time("now-9000000000000y", NOW),
            Err(TimeError::OutOfRange(_))
        ));
    }

    #[test]
    fn absolute_times() {
        let base = 1_600_343_316_000; // 2020-09-17T11:48:36Z
        assert_eq!(parse_time("2020-09-17T11:48:36Z", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17T11:48:36.123Z", NOW), Ok(base + 123));
        assert_eq!(parse_time("2020-09-17T12:48:36+01:00", NOW), Ok(base));
        assert_eq!(
            parse_time("2020-09-17T12:48:36.5+01:00", NOW),
            Ok(base + 500)
        );
        assert_eq!(parse_time("2020-09-17T06:48:36-05:00", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17T12:48:36+0100", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17 11:48:36Z", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17T11:48:36", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17T11:48:36.250", NOW), Ok(base + 250));
        assert_eq!(parse_time("2020-09-17 11:48:36", NOW), Ok(base));
        assert_eq!(parse_time("2020-09-17T11:48", NOW), Ok(base - 36_000));
        assert_eq!(parse_time("2020-09-17", NOW), Ok(1_600_300_800_000));
        assert_eq!(parse_time("1970-01-01", NOW), Ok(0));
        assert_eq!(parse_time("1969-12-31T23:59:59Z", NOW), Ok(-1_000));
        for bad in [
            "",
            "   ",
            "2020-13-01",
            "2020-02-30",
            "2020-09-17T25:00:00Z",
            "17/09/2020",
            "2020-09-17T11:48:36+25:00",
            "yesterday",
            "tomorrow-1d",
        ] {
            assert_eq!(
                parse_time(bad, NOW),
                Err(TimeError::InvalidTime(bad.to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn epoch_milliseconds() {
        assert_eq!(parse_time("1700000000123", NOW), Ok(1_700_000_000_123));
        assert_eq!(parse_time("0", NOW), Ok(0));
        assert_eq!(
            parse_time("-5", NOW),
            Err(TimeError::InvalidTime("-5".to_string()))
        );
        assert_eq!(
            parse_time("1.5", NOW),
            Err(TimeError::InvalidTime("1.5".to_string()))
        );
        assert_eq!(
            parse_time("99999999999999999999", NOW),
            Err(TimeError::OutOfRange("99999999999999999999".to_string()))
        );
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30s"), Ok(30 * SECOND));
        assert_eq!(parse_interval("5m"), Ok(5 * MINUTE));
        assert_eq!(parse_interval("1h"), Ok(HOUR));
        assert_eq!(parse_interval("1d"), Ok(DAY));
        assert_eq!(parse_interval("1w"), Ok(7 * DAY));
        assert_eq!(parse_interval("250ms"), Ok(250));
        assert_eq!(parse_interval("60000"), Ok(60_000));
        assert_eq!(parse_interval(" 1h "), Ok(HOUR));
        assert_eq!(parse_interval("5"), Ok(5));
        for bad in [
            "", "0", "0s", "-5m", "1.5h", "h", "5x", "5 m", "now", "+5m", "5M5",
        ] {
            assert_eq!(
                parse_interval(bad),
                Err(TimeError::InvalidInterval(bad.to_string())),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_interval("99999999999999999999y"),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_interval("99999999999999999999"),
            Err(TimeError::OutOfRange(_))
        ));
    }

    #[test]
    fn errors_name_the_input() {
        let e = parse_time("banana", NOW).unwrap_err().to_string();
        assert!(e.contains("`banana`"), "{e}");
        let e = parse_interval("5parsecs").unwrap_err().to_string();
        assert!(e.contains("`5parsecs`"), "{e}");
    }
}
