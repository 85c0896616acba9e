//! Syslog lines to events: RFC 5424 (`<PRI>1 TIMESTAMP HOSTNAME APP-NAME
//! PROCID MSGID SD MSG`) and RFC 3164 / BSD (`<PRI>Mmm dd hh:mm:ss HOST
//! TAG[PID]: MSG`, also with an RFC 3339 timestamp as rsyslog's
//! `RSYSLOG_ForwardFormat` sends it, and without a hostname as local
//! sockets carry it). [`parse`] never fails: a line that is not syslog is
//! kept whole as the message, tagged [`PARSE_ERROR_TAG`], with the reason in
//! the `syslog.parse_error` attribute. TCP framing is in [`framing`].
//!
//! | syslog | event |
//! |---|---|
//! | severity (PRI & 7) | `status` ([`Status::from_severity`]), attribute `syslog.severity` |
//! | facility (PRI >> 3) | attributes `syslog.facility` (number), `syslog.facility_name` |
//! | TIMESTAMP | event time (the receive time when absent or invalid; then `syslog.timestamp` keeps the text) |
//! | HOSTNAME | `host` |
//! | APP-NAME / TAG | `service` |
//! | PROCID / `TAG[PID]` | attribute `syslog.procid` |
//! | MSGID | attribute `syslog.msgid` |
//! | `[id k="v"]` | attribute `id.k` (a repeated name: a JSON array of its values) |
//! | MSG | `message` (a leading UTF-8 BOM removed) |
//! | format | tag `syslog_format:rfc5424` or `syslog_format:rfc3164` |
//!
//! Every event has `source = "syslog"`. RFC 3164 timestamps carry no year
//! and no zone: they are read as UTC, in the latest year that puts them at
//! most 7 days after the receive time (so a December line received in
//! January is last year's, a January line received on 31 December next
//! year's, and an October line received in May last year's).
//!
//! ```
//! use strata_ingest::syslog::parse;
//! let line = br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event"#;
//! let event = parse(line, 0, 65_536);
//! assert_eq!(event.host.as_deref(), Some("mymachine.example.com"));
//! assert_eq!(event.service.as_deref(), Some("evntslog"));
//! assert_eq!(event.status, strata_types::Status::Notice);
//! assert_eq!(event.message, "An application event");
//! ```

pub mod framing;
#[cfg(test)]
mod tests;

pub use framing::{Frame, Framer, Framing};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use strata_types::{AttrValue, Event, Status};

/// The default longest line kept, in bytes; longer lines are cut there and
/// flagged with `syslog.truncated = true`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;

/// The tag of an event whose line did not parse (kept whole as the message).
pub const PARSE_ERROR_TAG: &str = "parse_error:syslog";

/// Facility names as rsyslog prints them, by facility number.
const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Event times from 2262 on are not stored (what nanoseconds in an `i64` can
/// hold, with room for hour buckets, as for the Datadog intake).
const MAX_NS: i64 = 9_214_646_400_000_000_000;

/// An RFC 3164 timestamp (no year) is placed in the latest year that puts
/// it at most this far after the receive time (clock skew, time zones).
const MAX_AHEAD_NS: i64 = 7 * 86_400 * 1_000_000_000;

/// Longest RFC 3164 tag recognised (RFC 3164 says 32; real tags are longer).
const MAX_TAG_BYTES: usize = 128;

/// Parses one syslog line (without its framing) received at `received_ns`.
/// Lines longer than `max_line_bytes` are cut there and flagged. Never fails.
pub fn parse(line: &[u8], received_ns: i64, max_line_bytes: usize) -> Event {
    let (line, truncated) = cut(line, max_line_bytes);
    let line = trim_end(line);
    let mut event = match parse_pri(line) {
        Err(reason) => malformed(line, received_ns, None, reason),
        Ok((pri, rest)) => match rest.strip_prefix(b"1 ") {
            Some(header) => rfc5424(pri, header, received_ns)
                .unwrap_or_else(|reason| malformed(line, received_ns, Some(pri), reason)),
            None => rfc3164(pri, rest, received_ns),
        },
    };
    if truncated {
        event
            .attributes
            .push(("syslog.truncated".into(), AttrValue::Bool(true)));
    }
    event
}

/// [`parse`] of a frame from the [`Framer`]: a frame the framer cut is
/// flagged `syslog.truncated` too.
pub fn parse_frame(frame: &Frame, received_ns: i64, max_line_bytes: usize) -> Event {
    let mut event = parse(&frame.bytes, received_ns, max_line_bytes);
    let flagged = event
        .attributes
        .iter()
        .any(|(key, _)| key == "syslog.truncated");
    if frame.truncated && !flagged {
        event
            .attributes
            .push(("syslog.truncated".into(), AttrValue::Bool(true)));
    }
    event
}

/// Whether `event` came from a line that did not parse.
pub fn is_parse_error(event: &Event) -> bool {
    event.tags.iter().any(|t| t == PARSE_ERROR_TAG)
}

/// The line cut to at most `max` bytes (at a UTF-8 boundary when it can).
fn cut(line: &[u8], max: usize) -> (&[u8], bool) {
    if line.len() <= max {
        return (line, false);
    }
    let mut end = max;
    // Back off over continuation bytes so a character is not split.
    while end > 0 && max - end < 3 && line.get(end).is_some_and(|b| b & 0xC0 == 0x80) {
        end -= 1;
    }
    if end == 0 {
        end = max;
    }
    (&line[..end], true)
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | 0] = line {
        line = rest;
    }
    line
}

/// `<PRI>` at the start: the value (0..=191) and what follows.
fn parse_pri(line: &[u8]) -> Result<(u8, &[u8]), &'static str> {
    let Some(rest) = line.strip_prefix(b"<") else {
        return Err(if line.is_empty() { "empty" } else { "no_pri" });
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 3 || rest.get(digits) != Some(&b'>') {
        return Err("bad_pri");
    }
    let value = rest[..digits]
        .iter()
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match u8::try_from(value) {
        Ok(pri) if pri <= 191 => Ok((pri, &rest[digits + 1..])),
        _ => Err("bad_pri"),
    }
}

fn in_range(ns: &i64) -> bool {
    (0..MAX_NS).contains(ns)
}

/// `bytes` as text (invalid UTF-8 replaced by U+FFFD).
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// [`text`] of bytes already owned (no copy when they are valid UTF-8).
fn text_owned(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
    }
}

/// Attributes an event gets besides the ones of its format: room for the
/// three PRI ones, `syslog.truncated` and the receiver's
/// `network.client.ip`, so that pushing them does not reallocate.
const BASE_ATTRIBUTES: usize = 5;

/// An event with the fields every syslog event has.
fn base(pri: Option<u8>, timestamp_ns: i64, message: String, extra: usize) -> Event {
    let mut event = Event::new(timestamp_ns, message);
    event.source = Some("syslog".into());
    event.tags = Vec::with_capacity(1);
    event.attributes = Vec::with_capacity(BASE_ATTRIBUTES + extra);
    if let Some(pri) = pri {
        let facility = usize::from(pri >> 3);
        let severity = pri & 7;
        event.status = Status::from_severity(i64::from(severity));
        event
            .attributes
            .push(("syslog.facility".into(), AttrValue::Int(facility as i64)));
        if let Some(name) = FACILITIES.get(facility) {
            event.attributes.push((
                "syslog.facility_name".into(),
                AttrValue::Str((*name).into()),
            ));
        }
        event.attributes.push((
            "syslog.severity".into(),
            AttrValue::Int(i64::from(severity)),
        ));
    }
    event
}

/// The raw line as the message, tagged as a parse error.
fn malformed(line: &[u8], received_ns: i64, pri: Option<u8>, reason: &'static str) -> Event {
    let mut event = base(pri, received_ns, text(line), 1);
    event.tags.push(PARSE_ERROR_TAG.into());
    event
        .attributes
        .push(("syslog.parse_error".into(), AttrValue::Str(reason.into())));
    event
}

fn nil_or_text(field: &[u8]) -> Option<String> {
    (field != b"-").then(|| text(field))
}

/// A space-free field followed by a space (or the end of the line when
/// `last`); an empty field is malformed.
fn field<'a>(rest: &mut &'a [u8], last: bool) -> Result<&'a [u8], &'static str> {
    let end = rest.iter().position(|&b| b == b' ');
    let (value, after) = match end {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None if last => (*rest, &rest[rest.len()..]),
        None => return Err("truncated_header"),
    };
    if value.is_empty() {
        return Err("bad_header");
    }
    *rest = after;
    Ok(value)
}

/// RFC 5424 after `<PRI>1 `.
fn rfc5424(pri: u8, header: &[u8], received_ns: i64) -> Result<Event, &'static str> {
    let mut rest = header;
    let timestamp = field(&mut rest, false)?;
    let hostname = field(&mut rest, false)?;
    let app_name = field(&mut rest, false)?;
    let procid = field(&mut rest, false)?;
    let msgid = field(&mut rest, true)?;
    let mut params = Vec::new();
    if rest.first() == Some(&b'-') {
        rest = &rest[1..];
    } else if !rest.is_empty() {
        structured_data(&mut rest, &mut params)?;
    }
    let message = rest.strip_prefix(b" ").unwrap_or(rest);
    let message = message.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(message);
    let parsed = match timestamp {
        b"-" => None,
        t => std::str::from_utf8(t)
            .ok()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .filter(in_range),
    };
    let extra = 3 + params.len();
    let mut event = base(
        Some(pri),
        parsed.unwrap_or(received_ns),
        text(message),
        extra,
    );
    event.host = nil_or_text(hostname);
    event.service = nil_or_text(app_name);
    event.tags.push("syslog_format:rfc5424".into());
    let attributes = &mut event.attributes;
    if parsed.is_none() && timestamp != b"-" {
        attributes.push(("syslog.timestamp".into(), AttrValue::Str(text(timestamp))));
    }
    if let Some(procid) = nil_or_text(procid) {
        attributes.push(("syslog.procid".into(), AttrValue::Str(procid)));
    }
    if let Some(msgid) = nil_or_text(msgid) {
        attributes.push(("syslog.msgid".into(), AttrValue::Str(msgid)));
    }
    for (key, first, more) in params {
        let value = if more.is_empty() {
            AttrValue::Str(first)
        } else {
            let mut values = Vec::with_capacity(1 + more.len());
            values.push(first);
            values.extend(more);
            AttrValue::Json(serde_json::Value::from(values).to_string())
        };
        attributes.push((key, value));
    }
    Ok(event)
}

/// A structured-data parameter: `SD-ID.PARAM`, its first value and the
/// values of its repetitions.
type Param = (String, String, Vec<String>);

/// One or more `[SD-ID PARAM="VALUE" ...]` elements; `params` gets
/// `SD-ID.PARAM` and its values, in order of first appearance.
fn structured_data(rest: &mut &[u8], params: &mut Vec<Param>) -> Result<(), &'static str> {
    const BAD: &str = "bad_structured_data";
    let name_end = |b: &u8| matches!(b, b' ' | b']' | b'=' | b'"');
    let mut s = *rest;
    if s.first() != Some(&b'[') {
        return Err(BAD);
    }
    while let Some(element) = s.strip_prefix(b"[") {
        let id_len = element.iter().position(name_end).ok_or(BAD)?;
        if id_len == 0 {
            return Err(BAD);
        }
        let id = &element[..id_len];
        s = &element[id_len..];
        loop {
            match s.first() {
                Some(b']') => {
                    s = &s[1..];
                    break;
                }
                Some(b' ') => s = &s[1..],
                _ => return Err(BAD),
            }
            let name_len = s.iter().position(name_end).ok_or(BAD)?;
            if name_len == 0 || s.get(name_len..name_len + 2) != Some(b"=\"") {
                return Err(BAD);
            }
            let mut key = Vec::with_capacity(id_len + 1 + name_len);
            key.extend_from_slice(id);
            key.push(b'.');
            key.extend_from_slice(&s[..name_len]);
            let key = text_owned(key);
            s = &s[name_len + 2..];
            let value = param_value(&mut s).ok_or(BAD)?;
            match params.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, more)) => more.push(value),
                None => params.push((key, value, Vec::new())),
            }
        }
    }
    *rest = s;
    Ok(())
}

/// A PARAM-VALUE up to its closing quote: `\"`, `\\` and `\]` are
/// unescaped, any other backslash is kept (RFC 5424 §6.3.3).
fn param_value(s: &mut &[u8]) -> Option<String> {
    // Usually nothing is escaped: the value is the bytes up to the quote.
    let end = s.iter().position(|&b| matches!(b, b'"' | b'\\'))?;
    if s[end] == b'"' {
        let value = text(&s[..end]);
        *s = &s[end + 1..];
        return Some(value);
    }
    let mut out = Vec::with_capacity(end + 16);
    out.extend_from_slice(&s[..end]);
    let mut i = end;
    loop {
        match *s.get(i)? {
            b'"' => break,
            b'\\' => match s.get(i + 1) {
                Some(&c @ (b'"' | b'\\' | b']')) => {
                    out.push(c);
                    i += 2;
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    *s = &s[i + 1..];
    Some(text_owned(out))
}

/// RFC 3164 (BSD) after `<PRI>`: best effort, never an error. Without a
/// timestamp the rest is the message (a leading `tag:` is still taken).
fn rfc3164(pri: u8, rest: &[u8], received_ns: i64) -> Event {
    let mut rest = rest;
    let timestamp = bsd_timestamp(&mut rest, received_ns).or_else(|| iso_timestamp(&mut rest));
    let host = match timestamp {
        Some(_) => hostname(&mut rest),
        None => None,
    };
    let (tag, pid) = tag(&mut rest);
    let mut event = base(Some(pri), timestamp.unwrap_or(received_ns), text(rest), 1);
    event.host = host;
    event.service = tag;
    event.tags.push("syslog_format:rfc3164".into());
    if let Some(pid) = pid {
        event
            .attributes
            .push(("syslog.procid".into(), AttrValue::Str(pid)));
    }
    event
}

/// Consumes `n` ASCII digits and returns their value.
fn digits(s: &[u8], n: usize) -> Option<u32> {
    let part = s.get(..n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0u32, |v, b| v * 10 + u32::from(b - b'0')))
}

/// `Mmm dd hh:mm:ss[.frac][ YYYY]`-style BSD timestamps (`Mmm  d` with two
/// spaces, `Mmm dd YYYY hh:mm:ss` as some devices send) followed by a space
/// or the end; the year is inferred from `received_ns` when absent.
fn bsd_timestamp(rest: &mut &[u8], received_ns: i64) -> Option<i64> {
    let s = *rest;
    let month_name = s.get(..3)?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as u32
        + 1;
    let mut i = 3;
    let spaces = s[i..].iter().take_while(|&&b| b == b' ').count();
    if spaces == 0 || spaces > 2 {
        return None;
    }
    i += spaces;
    let day_len = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) || s.get(i + day_len) != Some(&b' ') {
        return None;
    }
    let day = digits(&s[i..], day_len)?;
    i += day_len + 1;
    let mut year = None;
    if s.get(i + 4) == Some(&b' ') {
        year = Some(digits(&s[i..], 4)? as i32);
        i += 5;
    }
    let clock = s.get(i..i + 8)?;
    if clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let (h, m, sec) = (
        digits(clock, 2)?,
        digits(&clock[3..], 2)?,
        digits(&clock[6..], 2)?,
    );
    i += 8;
    let mut nanos = 0u32;
    if s.get(i) == Some(&b'.') {
        let n = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        let frac = &s[i + 1..i + 1 + n.min(9)];
        nanos = digits(frac, frac.len()).unwrap_or(0) * 10u32.pow(9 - frac.len() as u32);
        i += 1 + n;
    }
    match s.get(i) {
        None => {}
        Some(b' ') => i += 1,
        Some(_) => return None,
    }
    let at = |y: i32| {
        NaiveDate::from_ymd_opt(y, month, day)?
            .and_hms_nano_opt(h, m, sec, nanos)?
            .and_utc()
            .timestamp_nanos_opt()
    };
    let ns = match year {
        Some(y) => at(y).filter(in_range)?,
        None => {
            let year = DateTime::from_timestamp_nanos(received_ns).year();
            let candidates = (year - 1..=year + 1).filter_map(at).filter(in_range);
            let latest = received_ns.saturating_add(MAX_AHEAD_NS);
            candidates
                .clone()
                .filter(|ns| *ns <= latest)
                .max()
                .or_else(|| candidates.min())?
        }
    };
    *rest = &s[i..];
    Some(ns)
}

/// An RFC 3339 timestamp (`2024-05-01T10:00:00.123456+02:00`, or without a
/// zone, read as UTC) followed by a space or the end.
fn iso_timestamp(rest: &mut &[u8]) -> Option<i64> {
    let s = *rest;
    if digits(s, 4).is_none() || s.get(4) != Some(&b'-') {
        return None;
    }
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    let token = std::str::from_utf8(&s[..end]).ok()?;
    let ns = DateTime::parse_from_rfc3339(token)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .or_else(|| {
            NaiveDateTime::parse_from_str(token, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .and_then(|t| t.and_utc().timestamp_nanos_opt())
        })
        .filter(in_range)?;
    *rest = s.get(end + 1..).unwrap_or(&[]);
    Some(ns)
}

/// The HOSTNAME after a timestamp, unless the next word looks like a tag
/// (`name:` or `name[pid]`): local senders omit the hostname.
fn hostname(rest: &mut &[u8]) -> Option<String> {
    let s = *rest;
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    let word = &s[..end];
    if word.is_empty() || word.ends_with(b":") || word.contains(&b'[') {
        return None;
    }
    *rest = s.get(end + 1..).unwrap_or(&[]);
    Some(text(word))
}

/// A `TAG:` or `TAG[PID]:` (colon optional after `]`) and the space after
/// it; nothing is consumed when the next word is not one.
fn tag(rest: &mut &[u8]) -> (Option<String>, Option<String>) {
    let s = *rest;
    let len = s
        .iter()
        .take(MAX_TAG_BYTES + 1)
        .position(|&b| matches!(b, b':' | b'[' | b' '));
    let Some(len) = len.filter(|&l| l > 0) else {
        return (None, None);
    };
    let (mut after, pid) = match s[len] {
        b':' => (&s[len + 1..], None),
        b'[' => {
            let Some(close) = s[len + 1..].iter().take(33).position(|&b| b == b']') else {
                return (None, None);
            };
            let pid = text(&s[len + 1..len + 1 + close]);
            let after = &s[len + 2 + close..];
            (after.strip_prefix(b":").unwrap_or(after), Some(pid))
        }
        _ => return (None, None),
    };
    if let Some(stripped) = after.strip_prefix(b" ") {
        after = stripped;
    }
    *rest = after;
    (Some(text(&s[..len])), pid.filter(|p| !p.is_empty()))
}
