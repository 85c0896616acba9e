//! The DogStatsD datagram parser: metrics, events and service checks.
//!
//! Pure and total: any byte string gives a list of results, never a panic.
//! Behaviour follows the Agent's parser (`comp/dogstatsd/server/impl/parse*.go`)
//! except where noted on the items below.

/// Longest excerpt of the input an error carries, in bytes.
const ERROR_EXCERPT: usize = 64;

/// A DogStatsD metric type (the `|<type>` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    /// `c`: a count, summed per window and scaled by the sample rate.
    Count,
    /// `g`: a gauge, last value wins.
    Gauge,
    /// `ms`: a timer; aggregated like a histogram, unit milliseconds.
    Timer,
    /// `h`: a histogram, aggregated into avg/max/median/95percentile/count.
    Histogram,
    /// `s`: a set; counts unique string values per window.
    Set,
    /// `d`: a distribution, aggregated into a [`crate::Sketch`].
    Distribution,
}

impl MetricKind {
    /// The type's symbol on the wire.
    pub fn symbol(self) -> &'static str {
        match self {
            MetricKind::Count => "c",
            MetricKind::Gauge => "g",
            MetricKind::Timer => "ms",
            MetricKind::Histogram => "h",
            MetricKind::Set => "s",
            MetricKind::Distribution => "d",
        }
    }

    fn from_symbol(symbol: &str) -> Option<MetricKind> {
        Some(match symbol {
            "c" => MetricKind::Count,
            "g" => MetricKind::Gauge,
            "ms" => MetricKind::Timer,
            "h" => MetricKind::Histogram,
            "s" => MetricKind::Set,
            "d" => MetricKind::Distribution,
            _ => return None,
        })
    }
}

/// Origin-detection fields a client may attach (`|c:`, `|e:`, `|card:`).
/// Kept as sent; Strata does not resolve them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// `c:` local data: a container id (`ci-…`/`cid-…`) or cgroup inode (`in-…`).
    pub container_id: Option<String>,
    /// `e:` external data.
    pub external_data: Option<String>,
    /// `card:` tag cardinality (`low`, `orchestrator`, `high`, `none`).
    pub cardinality: Option<String>,
}

impl Origin {
    /// Takes the field if it is an origin field; says whether it was.
    fn take(&mut self, field: &str) -> bool {
        if let Some(v) = field.strip_prefix("card:") {
            self.cardinality = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("c:") {
            self.container_id = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("e:") {
            self.external_data = Some(v.to_owned());
        } else {
            return false;
        }
        true
    }
}

/// One metric line: `<name>:<value>[:<value>…]|<type>[|@rate][|#tags][|T<ts>]…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The name as sent (not normalised).
    pub name: String,
    /// The values, in order (v1.1 packing `name:1:2:3|h`); empty for sets.
    /// Empty items (`1::2`) are skipped like the Agent does.
    pub values: Vec<f64>,
    /// For `s`: the raw value. Sets are never unpacked: `s:a:b|s` is the
    /// single member `a:b`, as in the Agent.
    pub set_value: Option<String>,
    /// The type.
    pub kind: MetricKind,
    /// The client's sample rate, in `(0, 1]`; 1 when absent. A number
    /// outside `(0, 1]` reads as 1 (the Agent's sketch does the same).
    pub sample_rate: f64,
    /// Tags as sent (empty ones dropped), not sorted.
    pub tags: Vec<String>,
    /// `|T<seconds>` (protocol v1.3): the client's own timestamp.
    pub timestamp_s: Option<i64>,
    /// Origin-detection fields.
    pub origin: Origin,
}

/// Event priority (`|p:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventPriority {
    /// `normal` (the default).
    #[default]
    Normal,
    /// `low`.
    Low,
}

/// Event alert type (`|t:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AlertType {
    /// `info` (the default).
    #[default]
    Info,
    /// `success`.
    Success,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
}

/// One event line: `_e{<title len>,<text len>}:<title>|<text>|d:…|h:…|…`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// Title, `\n` sequences turned into newlines.
    pub title: String,
    /// Text, `\n` sequences turned into newlines.
    pub text: String,
    /// `d:` seconds since the epoch.
    pub timestamp_s: Option<i64>,
    /// `h:` host name.
    pub hostname: Option<String>,
    /// `k:` aggregation key.
    pub aggregation_key: Option<String>,
    /// `p:` priority.
    pub priority: EventPriority,
    /// `s:` source type name.
    pub source_type: Option<String>,
    /// `t:` alert type.
    pub alert_type: AlertType,
    /// `#` tags.
    pub tags: Vec<String>,
    /// Origin-detection fields.
    pub origin: Origin,
}

/// A service check status (`0`..`3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCheckStatus {
    /// 0.
    Ok,
    /// 1.
    Warning,
    /// 2.
    Critical,
    /// 3.
    Unknown,
}

impl ServiceCheckStatus {
    /// The status code, 0 to 3.
    pub fn code(self) -> u8 {
        match self {
            ServiceCheckStatus::Ok => 0,
            ServiceCheckStatus::Warning => 1,
            ServiceCheckStatus::Critical => 2,
            ServiceCheckStatus::Unknown => 3,
        }
    }
}

/// One service check line: `_sc|<name>|<status>|d:…|h:…|#…|m:<message>`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck {
    /// Check name.
    pub name: String,
    /// Status.
    pub status: ServiceCheckStatus,
    /// `d:` seconds since the epoch.
    pub timestamp_s: Option<i64>,
    /// `h:` host name.
    pub hostname: Option<String>,
    /// `#` tags.
    pub tags: Vec<String>,
    /// `m:` message, with `m\:` turned back into `m:` and `\n` into newlines.
    pub message: Option<String>,
    /// Origin-detection fields.
    pub origin: Origin,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A metric sample (or several, when packed).
    Metric(Metric),
    /// An event.
    Event(Event),
    /// A service check.
    ServiceCheck(ServiceCheck),
}

/// The kind of a [`ParseError`], for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ParseErrorKind {
    /// See [`ParseError::NotUtf8`].
    NotUtf8,
    /// See [`ParseError::MissingType`].
    MissingType,
    /// See [`ParseError::MissingValue`].
    MissingValue,
    /// See [`ParseError::EmptyName`].
    EmptyName,
    /// See [`ParseError::UnknownType`].
    UnknownType,
    /// See [`ParseError::InvalidValue`].
    InvalidValue,
    /// See [`ParseError::NonFiniteValue`].
    NonFiniteValue,
    /// See [`ParseError::InvalidSampleRate`].
    InvalidSampleRate,
    /// See [`ParseError::InvalidTimestamp`].
    InvalidTimestamp,
    /// See [`ParseError::InvalidEventHeader`].
    InvalidEventHeader,
    /// See [`ParseError::EmptyEventTitle`].
    EmptyEventTitle,
    /// See [`ParseError::EventLengthMismatch`].
    EventLengthMismatch,
    /// See [`ParseError::InvalidServiceCheck`].
    InvalidServiceCheck,
    /// See [`ParseError::InvalidServiceCheckStatus`].
    InvalidServiceCheckStatus,
}

impl ParseErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ParseErrorKind; 14] = [
        ParseErrorKind::NotUtf8,
        ParseErrorKind::MissingType,
        ParseErrorKind::MissingValue,
        ParseErrorKind::EmptyName,
        ParseErrorKind::UnknownType,
        ParseErrorKind::InvalidValue,
        ParseErrorKind::NonFiniteValue,
        ParseErrorKind::InvalidSampleRate,
        ParseErrorKind::InvalidTimestamp,
        ParseErrorKind::InvalidEventHeader,
        ParseErrorKind::EmptyEventTitle,
        ParseErrorKind::EventLengthMismatch,
        ParseErrorKind::InvalidServiceCheck,
        ParseErrorKind::InvalidServiceCheckStatus,
    ];

    /// A stable snake_case label (for metric labels).
    pub fn as_str(self) -> &'static str {
        match self {
            ParseErrorKind::NotUtf8 => "not_utf8",
            ParseErrorKind::MissingType => "missing_type",
            ParseErrorKind::MissingValue => "missing_value",
            ParseErrorKind::EmptyName => "empty_name",
            ParseErrorKind::UnknownType => "unknown_type",
            ParseErrorKind::InvalidValue => "invalid_value",
            ParseErrorKind::NonFiniteValue => "non_finite_value",
            ParseErrorKind::InvalidSampleRate => "invalid_sample_rate",
            ParseErrorKind::InvalidTimestamp => "invalid_timestamp",
            ParseErrorKind::InvalidEventHeader => "invalid_event_header",
            ParseErrorKind::EmptyEventTitle => "empty_event_title",
            ParseErrorKind::EventLengthMismatch => "event_length_mismatch",
            ParseErrorKind::InvalidServiceCheck => "invalid_service_check",
            ParseErrorKind::InvalidServiceCheckStatus => "invalid_service_check_status",
        }
    }
}

/// Why a line was refused. Strings are excerpts of the input (at most 64 bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is not valid UTF-8.
    #[error("line is not valid utf-8")]
    NotUtf8,
    /// A metric line without a `|<type>` field.
    #[error("metric line has no |type field")]
    MissingType,
    /// A metric line without `:<value>`, or with an empty value.
    #[error("metric line has no value")]
    MissingValue,
    /// A metric line with an empty name.
    #[error("metric name is empty")]
    EmptyName,
    /// The type is not one of `c g ms h s d`.
    #[error("unknown metric type {0:?}")]
    UnknownType(String),
    /// A value is not a number.
    #[error("invalid metric value {0:?}")]
    InvalidValue(String),
    /// A value is NaN or infinite.
    #[error("non-finite metric value {0:?}")]
    NonFiniteValue(String),
    /// `@` is not followed by a number.
    #[error("invalid sample rate {0:?}")]
    InvalidSampleRate(String),
    /// `T` is not followed by a positive integer.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// The `_e{<title len>,<text len>}` header is malformed.
    #[error("invalid event header {0:?}")]
    InvalidEventHeader(String),
    /// The event title length is 0.
    #[error("event title is empty")]
    EmptyEventTitle,
    /// The lengths in the event header do not fit the payload.
    #[error("event title/text lengths do not match the payload")]
    EventLengthMismatch,
    /// A service check line with fewer than `_sc|<name>|<status>`, or an empty name.
    #[error("invalid service check {0:?}")]
    InvalidServiceCheck(String),
    /// The status is not 0, 1, 2 or 3.
    #[error("invalid service check status {0:?}")]
    InvalidServiceCheckStatus(String),
}

impl ParseError {
    /// The error's kind.
    pub fn kind(&self) -> ParseErrorKind {
        match self {
            ParseError::NotUtf8 => ParseErrorKind::NotUtf8,
            ParseError::MissingType => ParseErrorKind::MissingType,
            ParseError::MissingValue => ParseErrorKind::MissingValue,
            ParseError::EmptyName => ParseErrorKind::EmptyName,
            ParseError::UnknownType(_) => ParseErrorKind::UnknownType,
            ParseError::InvalidValue(_) => ParseErrorKind::InvalidValue,
            ParseError::NonFiniteValue(_) => ParseErrorKind::NonFiniteValue,
            ParseError::InvalidSampleRate(_) => ParseErrorKind::InvalidSampleRate,
            ParseError::InvalidTimestamp(_) => ParseErrorKind::InvalidTimestamp,
            ParseError::InvalidEventHeader(_) => ParseErrorKind::InvalidEventHeader,
            ParseError::EmptyEventTitle => ParseErrorKind::EmptyEventTitle,
            ParseError::EventLengthMismatch => ParseErrorKind::EventLengthMismatch,
            ParseError::InvalidServiceCheck(_) => ParseErrorKind::InvalidServiceCheck,
            ParseError::InvalidServiceCheckStatus(_) => ParseErrorKind::InvalidServiceCheckStatus,
        }
    }
}

/// Parses one datagram: lines split on `\n` (a trailing `\r` is dropped),
/// empty lines skipped, one result per remaining line in order.
pub fn parse_datagram(datagram: &[u8]) -> Vec<Result<Message, ParseError>> {
    datagram
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty())
        .map(parse_line)
        .collect()
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> Result<Message, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
    if line.starts_with("_e{") {
        parse_event(line).map(Message::Event)
    } else if line.starts_with("_sc") {
        parse_service_check(line).map(Message::ServiceCheck)
    } else {
        parse_metric(line).map(Message::Metric)
    }
}

fn excerpt(s: &str) -> String {
    let mut end = s.len().min(ERROR_EXCERPT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_owned()
}

fn parse_tags(raw: &str) -> Vec<String> {
    raw.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_value(raw: &str) -> Result<f64, ParseError> {
    let v: f64 = raw
        .parse()
        .map_err(|_| ParseError::InvalidValue(excerpt(raw)))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(ParseError::NonFiniteValue(excerpt(raw)))
    }
}

/// Metrics. Unlike the Agent (which logs and keeps going) a non-finite
/// value refuses the whole line, so a packed line is never half-counted.
fn parse_metric(line: &str) -> Result<Metric, ParseError> {
    let (name_value, rest) = line.split_once('|').ok_or(ParseError::MissingType)?;
    let (name, raw_value) = name_value.split_once(':').ok_or(ParseError::MissingValue)?;
    if name.is_empty() {
        return Err(ParseError::EmptyName);
    }
    if raw_value.is_empty() {
        return Err(ParseError::MissingValue);
    }
    let (symbol, fields) = rest.split_once('|').unwrap_or((rest, ""));
    let kind =
        MetricKind::from_symbol(symbol).ok_or_else(|| ParseError::UnknownType(excerpt(symbol)))?;
    let (values, set_value) = if kind == MetricKind::Set {
        (Vec::new(), Some(raw_value.to_owned()))
    } else {
        let values = raw_value
            .split(':')
            .filter(|v| !v.is_empty())
            .map(parse_value)
            .collect::<Result<Vec<f64>, ParseError>>()?;
        if values.is_empty() {
            return Err(ParseError::MissingValue);
        }
        (values, None)
    };
    let mut metric = Metric {
        name: name.to_owned(),
        values,
        set_value,
        kind,
        sample_rate: 1.0,
        tags: Vec::new(),
        timestamp_s: None,
        origin: Origin::default(),
    };
    for field in fields.split('|').filter(|f| !f.is_empty()) {
        if let Some(tags) = field.strip_prefix('#') {
            metric.tags = parse_tags(tags);
        } else if let Some(raw) = field.strip_prefix('@') {
            let rate: f64 = raw
                .parse()
                .map_err(|_| ParseError::InvalidSampleRate(excerpt(raw)))?;
            metric.sample_rate = if rate > 0.0 && rate <= 1.0 { rate } else { 1.0 };
        } else if let Some(raw) = field.strip_prefix('T') {
            match raw.parse::<i64>() {
                Ok(ts) if ts > 0 => metric.timestamp_s = Some(ts),
                _ => return Err(ParseError::InvalidTimestamp(excerpt(raw))),
            }
        } else {
            // Origin fields are kept; anything else is ignored.
            metric.origin.take(field);
        }
    }
    Ok(metric)
}

/// Turns the two characters `\n` back into a newline.
fn unescape_newlines(s: &str) -> String {
    s.replace("\\n", "\n")
}

/// Splits an event body into `(title, text, rest)` given the header lengths.
///
/// The docs, and current datadogpy (`len(title.encode('utf8'))` in
/// `datadog/dogstatsd/base.py`), count UTF-8 bytes; older datadogpy sent
/// `len(title)`, which under Python 3 counts code points. We try, in order: byte lengths where the title is followed by
/// `|` and the text by `|` or the end; the same with code-point lengths;
/// then byte lengths alone, as the Agent does (it never checks the `|`s).
fn split_event_body(body: &str, title_len: usize, text_len: usize) -> Option<(&str, &str, &str)> {
    let strict = |t_end: usize, x_end: usize| -> Option<(&str, &str, &str)> {
        let title = body.get(..t_end)?;
        if body.as_bytes().get(t_end) != Some(&b'|') {
            return None;
        }
        let text = body.get(t_end + 1..x_end)?;
        let rest = body.get(x_end..)?;
        (rest.is_empty() || rest.starts_with('|')).then_some((title, text, rest))
    };
    let bytes = title_len
        .checked_add(1)
        .and_then(|s| s.checked_add(text_len))
        .map(|end| (title_len, end));
    if let Some(found) = bytes.and_then(|(t, x)| strict(t, x)) {
        return Some(found);
    }
    let char_end = |n: usize, from: usize| -> Option<usize> {
        let tail = body.get(from..)?;
        match tail.char_indices().nth(n) {
            Some((i, _)) => Some(from + i),
            None => (tail.chars().count() == n).then_some(body.len()),
        }
    };
    if let Some(found) = char_end(title_len, 0)
        .and_then(|t| Some((t, char_end(text_len, t + 1)?)))
        .and_then(|(t, x)| strict(t, x))
    {
        return Some(found);
    }
    let (t, x) = bytes?;
    Some((body.get(..t)?, body.get(t + 1..x)?, body.get(x..)?))
}

fn parse_event(line: &str) -> Result<Event, ParseError> {
    let bad_header = || ParseError::InvalidEventHeader(excerpt(line));
    let (header, body) = line.split_once(':').ok_or_else(bad_header)?;
    let lengths = header
        .strip_prefix("_e{")
        .and_then(|h| h.strip_suffix('}'))
        .ok_or_else(bad_header)?;
    let (title_len, text_len) = lengths.split_once(',').ok_or_else(bad_header)?;
    let parse_len = |s: &str| s.parse::<usize>().map_err(|_| bad_header());
    let (title_len, text_len) = (parse_len(title_len)?, parse_len(text_len)?);
    if title_len == 0 {
        return Err(ParseError::EmptyEventTitle);
    }
    let (title, text, rest) =
        split_event_body(body, title_len, text_len).ok_or(ParseError::EventLengthMismatch)?;
    let mut event = Event {
        title: unescape_newlines(title),
        text: unescape_newlines(text),
        ..Event::default()
    };
    // As in the Agent, a malformed optional field is ignored, not fatal.
    for field in rest.split('|').filter(|f| !f.is_empty()) {
        if let Some(v) = field.strip_prefix("d:") {
            event.timestamp_s = v.parse().ok().or(event.timestamp_s);
        } else if let Some(v) = field.strip_prefix("h:") {
            event.hostname = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("k:") {
            event.aggregation_key = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("p:") {
            match v {
                "normal" => event.priority = EventPriority::Normal,
                "low" => event.priority = EventPriority::Low,
                _ => {}
            }
        } else if let Some(v) = field.strip_prefix("s:") {
            event.source_type = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("t:") {
            match v {
                "info" => event.alert_type = AlertType::Info,
                "success" => event.alert_type = AlertType::Success,
                "warning" => event.alert_type = AlertType::Warning,
                "error" => event.alert_type = AlertType::Error,
                _ => {}
            }
        } else if let Some(tags) = field.strip_prefix('#') {
            event.tags = parse_tags(tags);
        } else {
            event.origin.take(field);
        }
    }
    Ok(event)
}

/// Whether a `|`-separated segment is a field clients append after `m:`.
fn is_trailing_origin_field(segment: &str) -> bool {
    segment.starts_with("c:") || segment.starts_with("e:") || segment.starts_with("card:")
}

/// Service checks.
///
/// The docs say `m:` comes last and runs to the end of the line, but
/// datadogpy appends `|c:<container>` and `|card:<cardinality>` after it.
/// So the message is everything after `m:` minus trailing `|c:`, `|e:` and
/// `|card:` segments, which are read as fields. A `|` inside a message is kept (the Agent would cut the
/// message there). `m\:` becomes `m:` and `\n` a newline, undoing the
/// clients' escaping.
fn parse_service_check(line: &str) -> Result<ServiceCheck, ParseError> {
    let invalid = || ParseError::InvalidServiceCheck(excerpt(line));
    let rest = line.strip_prefix("_sc|").ok_or_else(invalid)?;
    let (name, rest) = rest.split_once('|').ok_or_else(invalid)?;
    if name.is_empty() {
        return Err(invalid());
    }
    let (status, mut rest) = rest.split_once('|').unwrap_or((rest, ""));
    let status = match status {
        "0" => ServiceCheckStatus::Ok,
        "1" => ServiceCheckStatus::Warning,
        "2" => ServiceCheckStatus::Critical,
        "3" => ServiceCheckStatus::Unknown,
        other => return Err(ParseError::InvalidServiceCheckStatus(excerpt(other))),
    };
    let mut check = ServiceCheck {
        name: name.to_owned(),
        status,
        timestamp_s: None,
        hostname: None,
        tags: Vec::new(),
        message: None,
        origin: Origin::default(),
    };
    while !rest.is_empty() {
        let (field, tail) = rest.split_once('|').unwrap_or((rest, ""));
        if field.starts_with("m:") {
            let mut message = rest.get(2..).unwrap_or_default();
            while let Some((head, last)) = message.rsplit_once('|') {
                if !is_trailing_origin_field(last) {
                    break;
                }
                check.origin.take(last);
                message = head;
            }
            check.message = Some(unescape_newlines(&message.replace("m\\:", "m:")));
            break;
        }
        if let Some(v) = field.strip_prefix("d:") {
            check.timestamp_s = v.parse().ok().or(check.timestamp_s);
        } else if let Some(v) = field.strip_prefix("h:") {
            check.hostname = Some(v.to_owned());
        } else if let Some(tags) = field.strip_prefix('#') {
            check.tags = parse_tags(tags);
        } else {
            check.origin.take(field);
        }
        rest = tail;
    }
    Ok(check)
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
