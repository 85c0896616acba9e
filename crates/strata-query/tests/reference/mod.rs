//! A small, deliberately naive reference evaluator for the property tests.
//!
//! It is written from the semantics in the `ast` module doc and the
//! decisions listed in the `matcher`, `search` and `aggregate` module docs,
//! and it shares no code with `strata_query::Matcher`: free text is found by
//! trying every start position of the lower-cased text with an explicit
//! word-cut check, wildcards by a recursive backtracking matcher, JSON by
//! walking `serde_json::Value`s. Speed does not matter here, clarity does.
#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value as Json;
use strata_query::{CidrBlock, CompareOp, Field, Pattern, PatternPart, Predicate, Query};
use strata_types::{AttrValue, Event, Status};

/// One stored event: its tenant, its id and the event itself.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Tenant the event was written for.
    pub tenant: String,
    /// Id the index gave it (`event_id(seq, i)`).
    pub id: String,
    /// The event.
    pub event: Event,
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// One value of a field.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A non-empty JSON object: it makes the field exist, nothing more.
    Object,
}

impl Val {
    /// The text form a value is compared as when it is not compared as a
    /// number.
    fn text(&self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.clone()),
            Val::Int(i) => Some(i.to_string()),
            Val::Float(f) => Some(format!("{f}")),
            Val::Bool(b) => Some(b.to_string()),
            Val::Object => None,
        }
    }
}

/// A number, as the docs define "parses as a number".
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

/// A value "parses as a number" when it starts with a digit, a sign or `.`
/// and parses as a finite `i64` or `f64`.
fn number(text: &str) -> Option<Num> {
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || first == '-' || first == '+' || first == '.') {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Num::Int(i));
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Some(Num::Float(f)),
        _ => None,
    }
}

/// Integers compare exactly with integers, everything else as `f64`.
fn compare_numbers(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => {
            let f = |n: Num| match n {
                Num::Int(i) => i as f64,
                Num::Float(x) => x,
            };
            f(a).partial_cmp(&f(b))
        }
    }
}

/// Whether a reserved string field (`service`, `host`, ...) has a value:
/// empty counts as missing.
fn reserved(value: &Option<String>) -> Vec<Val> {
    match value {
        Some(s) if !s.is_empty() => vec![Val::Str(s.clone())],
        _ => Vec::new(),
    }
}

/// Every scalar inside a JSON value, objects and arrays recursed.
fn all_json_scalars(json: &Json, out: &mut Vec<Val>) {
    match json {
        Json::Null => {}
        Json::Bool(b) => out.push(Val::Bool(*b)),
        Json::Number(n) => out.push(json_number(n)),
        Json::String(s) => out.push(Val::Str(s.clone())),
        Json::Array(items) => {
            for item in items {
                all_json_scalars(item, out);
            }
        }
        Json::Object(map) => {
            for child in map.values() {
                all_json_scalars(child, out);
            }
        }
    }
}

fn json_number(n: &serde_json::Number) -> Val {
    match n.as_i64() {
        Some(i) => Val::Int(i),
        None => Val::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn parse_json(text: &str) -> Json {
    // The generators only store valid JSON; anything else is kept as text.
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

/// The values at `rest` (dotted, maybe empty) inside `json`: an array
/// anywhere means "each element"; an object key may contain dots.
fn json_at(json: &Json, rest: &str, out: &mut Vec<Val>) {
    if let Json::Array(items) = json {
        for item in items {
            json_at(item, rest, out);
        }
        return;
    }
    if rest.is_empty() {
        match json {
            Json::Null => {}
            Json::Bool(b) => out.push(Val::Bool(*b)),
            Json::Number(n) => out.push(json_number(n)),
            Json::String(s) => out.push(Val::Str(s.clone())),
            Json::Object(map) if map.is_empty() => {}
            Json::Object(_) => out.push(Val::Object),
            Json::Array(_) => unreachable!(),
        }
        return;
    }
    if let Json::Object(map) = json {
        for (key, child) in map {
            if rest == key {
                json_at(child, "", out);
            } else if let Some(tail) = rest.strip_prefix(key.as_str()) {
                if let Some(tail) = tail.strip_prefix('.') {
                    json_at(child, tail, out);
                }
            }
        }
    }
}

/// The values of an attribute value seen at `rest` below its own path.
fn attr_at(value: &AttrValue, rest: &str, out: &mut Vec<Val>) {
    match value {
        AttrValue::Json(text) => json_at(&parse_json(text), rest, out),
        _ if !rest.is_empty() => {}
        AttrValue::Str(s) => out.push(Val::Str(s.clone())),
        AttrValue::Int(i) => out.push(Val::Int(*i)),
        AttrValue::Float(f) => out.push(Val::Float(*f)),
        AttrValue::Bool(b) => out.push(Val::Bool(*b)),
    }
}

/// The values of attribute `path`: the attribute stored under exactly that
/// path, and JSON stored under a dotted prefix of it, walked down.
fn attribute_values(event: &Event, path: &str) -> Vec<Val> {
    let mut out = Vec::new();
    for (key, value) in &event.attributes {
        if key == path {
            attr_at(value, "", &mut out);
        } else if let Some(rest) = path.strip_prefix(key.as_str()) {
            if let Some(rest) = rest.strip_prefix('.') {
                if matches!(value, AttrValue::Json(_)) {
                    attr_at(value, rest, &mut out);
                }
            }
        }
    }
    out
}

/// Every scalar of every attribute.
fn all_attribute_scalars(event: &Event) -> Vec<Val> {
    let mut out = Vec::new();
    for (_, value) in &event.attributes {
        match value {
            AttrValue::Json(text) => all_json_scalars(&parse_json(text), &mut out),
            other => attr_at(other, "", &mut out),
        }
    }
    out
}

/// The value of the tag `key:value` for each such tag.
fn tag_values(event: &Event, key: &str) -> Vec<Val> {
    let prefix = format!("{key}:");
    event
        .tags
        .iter()
        .filter(|t| t.starts_with(&prefix))
        .map(|t| Val::Str(t[prefix.len()..].to_string()))
        .collect()
}

/// The values of a field, for the whole-value predicates.
fn field_values(field: &Field, event: &Event) -> Vec<Val> {
    let message = || {
        if event.message.is_empty() {
            Vec::new()
        } else {
            vec![Val::Str(event.message.clone())]
        }
    };
    match field {
        Field::Default | Field::Message => message(),
        Field::Service => reserved(&event.service),
        Field::Host => reserved(&event.host),
        Field::Source => reserved(&event.source),
        Field::TraceId => reserved(&event.trace_id),
        Field::Status => vec![Val::Str(event.status.as_str().to_string())],
        Field::Tags => event.tags.iter().map(|t| Val::Str(t.clone())).collect(),
        Field::Tag(key) => tag_values(event, key),
        Field::Attribute(path) => attribute_values(event, path),
        Field::AnyAttribute => {
            let mut out = message();
            out.extend(all_attribute_scalars(event));
            out
        }
    }
}

// ---------------------------------------------------------------------------
// Free text
// ---------------------------------------------------------------------------

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether cutting `chars` before index `at` cuts a word in two.
fn cuts_word(chars: &[char], at: usize) -> bool {
    let before = at.checked_sub(1).and_then(|i| chars.get(i)).copied();
    let after = chars.get(at).copied();
    matches!((before, after), (Some(b), Some(a)) if is_word(b) && is_word(a))
}

/// One token of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Char(char),
    One,
    Any,
}

fn tokens(pattern: &Pattern, lower: bool) -> Vec<Tok> {
    let mut out = Vec::new();
    for part in &pattern.0 {
        match part {
            PatternPart::Literal(text) => {
                let text = if lower {
                    text.to_lowercase()
                } else {
                    text.clone()
                };
                out.extend(text.chars().map(Tok::Char));
            }
            PatternPart::Star => out.push(Tok::Any),
            PatternPart::Question => out.push(Tok::One),
        }
    }
    out
}

/// Whether `pattern` matches `text[at..end]` for some `end` accepted by
/// `done`. Naive backtracking.
fn glob_from(text: &[char], at: usize, pattern: &[Tok], done: &dyn Fn(usize) -> bool) -> bool {
    match pattern.split_first() {
        None => done(at),
        Some((Tok::Any, rest)) => (at..=text.len()).any(|i| glob_from(text, i, rest, done)),
        Some((Tok::One, rest)) => at < text.len() && glob_from(text, at + 1, rest, done),
        Some((Tok::Char(c), rest)) => {
            text.get(at) == Some(c) && glob_from(text, at + 1, rest, done)
        }
    }
}

/// Free-text test: `needle` (literal text or a pattern) occurs in `haystack`
/// case-insensitively, without cutting a word at either end.
fn free_text(haystack: &str, needle: &FreeNeedle) -> bool {
    let hay: Vec<char> = haystack.to_lowercase().chars().collect();
    let pattern: Vec<Tok> = match needle {
        FreeNeedle::Text(text) => text.to_lowercase().chars().map(Tok::Char).collect(),
        FreeNeedle::Pattern(p) => tokens(p, true),
    };
    let ends_cleanly = |end: usize| !cuts_word(&hay, end);
    (0..=hay.len())
        .any(|start| !cuts_word(&hay, start) && glob_from(&hay, start, &pattern, &ends_cleanly))
}

enum FreeNeedle<'a> {
    Text(&'a str),
    Pattern(&'a Pattern),
}

// ---------------------------------------------------------------------------
// Predicates
// ---------------------------------------------------------------------------

/// `value` against a comparison operand: numeric when both are numbers,
/// else lexical on the text form.
fn compare(value: &Val, operand: &str) -> Option<Ordering> {
    let value_number = match value {
        Val::Str(s) => number(s),
        Val::Int(i) => Some(Num::Int(*i)),
        Val::Float(f) => Some(Num::Float(*f)),
        Val::Bool(_) | Val::Object => None,
    };
    match (value_number, number(operand)) {
        (Some(a), Some(b)) => compare_numbers(a, b),
        _ => value.text().map(|t| t.as_str().cmp(operand)),
    }
}

/// Whole-value equality (`Term`/`Phrase` outside free text).
fn equals(value: &Val, text: &str) -> bool {
    match value {
        Val::Str(s) => s == text,
        Val::Int(_) | Val::Float(_) => {
            let mine = match value {
                Val::Int(i) => Num::Int(*i),
                Val::Float(f) => Num::Float(*f),
                _ => unreachable!(),
            };
            number(text).is_some_and(|n| compare_numbers(mine, n) == Some(Ordering::Equal))
        }
        Val::Bool(b) => b.to_string() == text,
        Val::Object => false,
    }
}

fn bound_ok(value: &Val, bound: &Option<(String, bool)>, wanted: Ordering) -> bool {
    match bound {
        None => !matches!(value, Val::Object),
        Some((operand, inclusive)) => match compare(value, operand) {
            Some(ord) => ord == wanted || (*inclusive && ord == Ordering::Equal),
            None => false,
        },
    }
}

/// Whether a field has a value (`field:*`).
fn exists(field: &Field, event: &Event) -> bool {
    match field {
        Field::Attribute(path) => {
            let deeper = format!("{path}.");
            !attribute_values(event, path).is_empty()
                || event.attributes.iter().any(|(k, _)| k.starts_with(&deeper))
        }
        other => !field_values(other, event).is_empty(),
    }
}

/// Whether an address lies in a block: the first `prefix` bits agree.
fn in_block(block: &CidrBlock, ip: IpAddr) -> bool {
    let (net, addr): (Vec<u8>, Vec<u8>) = match (block.addr, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (n.octets().to_vec(), a.octets().to_vec()),
        (IpAddr::V6(n), IpAddr::V6(a)) => (n.octets().to_vec(), a.octets().to_vec()),
        _ => return false,
    };
    (0..usize::from(block.prefix)).all(|bit| {
        let mask = 0x80u8 >> (bit % 8);
        net[bit / 8] & mask == addr[bit / 8] & mask
    })
}

fn cidr_matches(blocks: &[CidrBlock], value: &Val) -> bool {
    let Val::Str(text) = value else {
        return false;
    };
    let Ok(ip) = text.parse::<IpAddr>() else {
        return false;
    };
    // An IPv4-mapped IPv6 address also counts as its IPv4 address.
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    blocks
        .iter()
        .any(|b| in_block(b, ip) || mapped.is_some_and(|m| in_block(b, m)))
}

fn is_free_text(field: &Field) -> bool {
    matches!(field, Field::Default | Field::Message | Field::AnyAttribute)
}

fn predicate_matches(field: &Field, predicate: &Predicate, event: &Event) -> bool {
    match predicate {
        Predicate::Exists => exists(field, event),
        Predicate::Term(text) | Predicate::Phrase(text) if is_free_text(field) => {
            free_text_field(field, event, &FreeNeedle::Text(text))
        }
        Predicate::Wildcard(pattern) if is_free_text(field) => {
            free_text_field(field, event, &FreeNeedle::Pattern(pattern))
        }
        Predicate::Term(text) | Predicate::Phrase(text) if *field == Field::Status => {
            event.status == Status::normalize(text)
        }
        Predicate::Term(text) | Predicate::Phrase(text) => {
            field_values(field, event).iter().any(|v| equals(v, text))
        }
        Predicate::Wildcard(pattern) => {
            let pattern = tokens(pattern, *field == Field::Status);
            field_values(field, event).iter().any(|v| {
                v.text().is_some_and(|t| {
                    let chars: Vec<char> = t.chars().collect();
                    glob_from(&chars, 0, &pattern, &|end| end == chars.len())
                })
            })
        }
        Predicate::Compare { op, value } => field_values(field, event).iter().any(|v| {
            let Some(ord) = compare(v, value) else {
                return false;
            };
            match op {
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
            }
        }),
        Predicate::Range { lower, upper } => field_values(field, event)
            .iter()
            .any(|v| bound_ok(v, lower, Ordering::Greater) && bound_ok(v, upper, Ordering::Less)),
    }
}

/// Free text over the message, and for `*:` over every attribute value.
fn free_text_field(field: &Field, event: &Event, needle: &FreeNeedle<'_>) -> bool {
    if free_text(&event.message, needle) {
        return true;
    }
    *field == Field::AnyAttribute
        && all_attribute_scalars(event)
            .iter()
            .any(|v| v.text().is_some_and(|t| free_text(&t, needle)))
}

/// Whether `event` matches `query`.
pub fn matches(query: &Query, event: &Event) -> bool {
    match query {
        Query::MatchAll => true,
        Query::And(items) => items.iter().all(|q| matches(q, event)),
        Query::Or(items) => items.iter().any(|q| matches(q, event)),
        Query::Not(inner) => !matches(inner, event),
        Query::Match { field, predicate } => predicate_matches(field, predicate, event),
        Query::Cidr { field, blocks } => field_values(field, event)
            .iter()
            .any(|v| cidr_matches(blocks, v)),
    }
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

/// Ids of `tenant`'s events in `[from_ms, to_ms)` matching `query`, sorted
/// by `(timestamp, id)` (descending unless `ascending`).
pub fn search(
    events: &[Stored],
    tenant: &str,
    query: &Query,
    from_ms: i64,
    to_ms: i64,
    ascending: bool,
) -> Vec<String> {
    let from_ns = i128::from(from_ms) * 1_000_000;
    let to_ns = i128::from(to_ms) * 1_000_000;
    let mut hits: Vec<&Stored> = events
        .iter()
        .filter(|s| s.tenant == tenant)
        .filter(|s| {
            let ts = i128::from(s.event.timestamp_ns);
            from_ns <= ts && ts < to_ns
        })
        .filter(|s| matches(query, &s.event))
        .collect();
    hits.sort_by(|a, b| (a.event.timestamp_ns, &a.id).cmp(&(b.event.timestamp_ns, &b.id)));
    if !ascending {
        hits.reverse();
    }
    hits.into_iter().map(|s| s.id.clone()).collect()
}

/// [`search`] cut into pages of `limit`.
pub fn pages(ids: &[String], limit: usize) -> Vec<Vec<String>> {
    ids.chunks(limit).map(<[String]>::to_vec).collect()
}

// ---------------------------------------------------------------------------
// Aggregation
// ---------------------------------------------------------------------------

/// The computes of one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// Events in the group.
    pub count: u64,
    /// Events of the group that have a value of the metric (any type).
    pub with_metric: u64,
    /// The numeric values of the metric.
    pub numbers: Vec<f64>,
}

impl Group {
    /// Sum of the numeric values, `None` without any.
    pub fn sum(&self) -> Option<f64> {
        (!self.numbers.is_empty()).then(|| self.numbers.iter().sum())
    }
    /// Smallest numeric value.
    pub fn min(&self) -> Option<f64> {
        self.numbers.iter().copied().reduce(f64::min)
    }
    /// Largest numeric value.
    pub fn max(&self) -> Option<f64> {
        self.numbers.iter().copied().reduce(f64::max)
    }
    /// Mean of the numeric values.
    pub fn avg(&self) -> Option<f64> {
        self.sum().map(|s| s / self.numbers.len() as f64)
    }
}

/// The first scalar found walking a JSON value (arrays element by element).
fn first_json_scalar(json: &Json) -> Option<Json> {
    match json {
        Json::Array(items) => items.iter().find_map(first_json_scalar),
        Json::Null | Json::Object(_) => None,
        scalar => Some(scalar.clone()),
    }
}

/// An event's value of an attribute facet without dots (`@n`): the first
/// value, as JSON.
pub fn first_attribute_value(event: &Event, path: &str) -> Option<Json> {
    event
        .attributes
        .iter()
        .filter(|(k, _)| k == path)
        .find_map(|(_, v)| match v {
            AttrValue::Json(text) => first_json_scalar(&parse_json(text)),
            AttrValue::Str(s) => Some(Json::from(s.as_str())),
            AttrValue::Int(i) => Some(Json::from(*i)),
            AttrValue::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number),
            AttrValue::Bool(b) => Some(Json::Bool(*b)),
        })
}

/// A metric value as a number: numbers, and strings that parse as a finite
/// `f64`. Booleans and other text are ignored.
pub fn numeric(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// `count`, `count(metric)` and the numeric values of `metric` (an attribute
/// path without dots) of `tenant`'s matching events in `[from_ms, to_ms)`,
/// grouped by service (`missing` for events without one). Keys are the
/// JSON text of the group value.
pub fn aggregate_by_service(
    events: &[Stored],
    tenant: &str,
    query: &Query,
    from_ms: i64,
    to_ms: i64,
    metric: &str,
    missing: &str,
) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let from_ns = i128::from(from_ms) * 1_000_000;
    let to_ns = i128::from(to_ms) * 1_000_000;
    for stored in events {
        let ts = i128::from(stored.event.timestamp_ns);
        if stored.tenant != tenant || ts < from_ns || ts >= to_ns {
            continue;
        }
        if !matches(query, &stored.event) {
            continue;
        }
        let key = match &stored.event.service {
            Some(s) => Json::from(s.as_str()).to_string(),
            None => Json::from(missing).to_string(),
        };
        let group = groups.entry(key).or_default();
        group.count += 1;
        if let Some(value) = first_attribute_value(&stored.event, metric) {
            group.with_metric += 1;
            if let Some(x) = numeric(&value) {
                group.numbers.push(x);
            }
        }
    }
    groups
}
