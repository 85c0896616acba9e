//! Matching events against a parsed [`Query`], with the semantics written
//! down in the `ast` module doc. A [`Matcher`] is compiled once per query
//! (lower-casing, number parsing, wildcard programs, status normalisation)
//! and then tested against many events.
//!
//! Details the module doc leaves open, decided here:
//!
//! - **Word boundary.** A free-text match `[s, e)` must not cut a word: the
//!   characters on both sides of `s` are not both word characters, and the
//!   same for `e` (word character: alphanumeric or `_`; outside the message
//!   counts as a non-word character). So `foo` matches `foo-bar` and
//!   `x.foo`, not `foobar`; `/api` matches `GET /api/v1`.
//! - **Case folding** is Unicode `to_lowercase` of both sides (`ÉCHEC`
//!   matches `échec`); a `?` matches one character of the lower-cased text.
//! - **Numbers.** A value "parses as a number" when it starts with a digit,
//!   a sign or `.` and parses as a finite `i64` or `f64` (`nan`, `inf` do
//!   not). Integers compare exactly with integers, otherwise as `f64`. For
//!   `Term`/`Phrase` only numeric attribute values (`Int`, `Float`, JSON
//!   numbers) compare numerically; a string attribute compares as text
//!   (`Str("200")` matches `200`, `Str("200.0")` does not). For `Compare` and
//!   `Range` a string that parses as a number is a number. Booleans compare
//!   as the text `true`/`false`.
//! - **Missing values.** JSON `null`, `[]` and `{}` are no value. A reserved
//!   field (`service` ...) that is empty counts as missing; an attribute
//!   holding an empty string exists. `@a:*` also holds when only deeper
//!   flattened paths exist (`a.b`), and when `@a` is a JSON object.
//! - `Phrase` and `Term` are the same test outside free text.
//! - `status:` terms are normalised with [`Status::normalize`]
//!   (`status:ERR` is `error`, `status:3` is `error`, an unknown word is
//!   `info`); wildcards on `status` are lower-cased and matched against
//!   [`Status::as_str`]; `Compare`/`Range` on it use `as_str` text.
//! - `Compare`/`Range` on the message or `*:` compare the whole message or
//!   attribute value.
//! - `CIDR` parses each value of the field (attributes, tags, `host`, even
//!   the message) as an IP address; IPv4-mapped IPv6 addresses also match
//!   IPv4 blocks.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::net::IpAddr;

use strata_types::Status;

use crate::ast::{
    AttrRef, CidrBlock, CompareOp, EventView, Field, Pattern, PatternPart, Predicate, Query,
};

/// A compiled query, ready to test events.
#[derive(Debug, Clone)]
pub struct Matcher {
    query: Query,
    root: Node,
}

impl Matcher {
    /// Compiles `query`.
    pub fn new(query: &Query) -> Matcher {
        Matcher {
            query: query.clone(),
            root: compile(query),
        }
    }

    /// Whether `event` matches the query.
    pub fn matches<V: EventView + ?Sized>(&self, event: &V) -> bool {
        let ctx = Ctx {
            event,
            lower_message: OnceCell::new(),
        };
        self.root.eval(&ctx)
    }

    /// Whether the query is [`Query::MatchAll`] (callers may skip matching).
    pub fn matches_all(&self) -> bool {
        self.query == Query::MatchAll
    }

    /// The query this matcher was compiled from.
    pub fn query(&self) -> &Query {
        &self.query
    }
}

/// The compiled tree.
#[derive(Debug, Clone)]
enum Node {
    All,
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Test { field: Field, test: Test },
}

/// A compiled predicate.
#[derive(Debug, Clone)]
enum Test {
    Exists,
    /// Case-insensitive, word-bounded (message, `*:`).
    FreeText(FreeText),
    /// Whole-value equality.
    Eq(Value),
    /// Whole-value wildcard.
    Glob(Glob),
    /// `status:` term, normalised.
    StatusIs(Status),
    Compare(CompareOp, Value),
    Range {
        lower: Option<(Value, bool)>,
        upper: Option<(Value, bool)>,
    },
    Cidr(Vec<CidrBlock>),
}

/// A query value with its number form, parsed once.
#[derive(Debug, Clone)]
struct Value {
    text: String,
    num: Option<Num>,
}

impl Value {
    fn new(text: &str) -> Value {
        Value {
            text: text.to_string(),
            num: parse_num(text),
        }
    }
}

/// A number as the matcher reads one (shared with `prune.rs`, whose bounds
/// must follow the same rules).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

/// Starts with a digit, a sign or `.` and parses as an `i64` or a finite `f64`.
pub(crate) fn parse_num(text: &str) -> Option<Num> {
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Num::Int(i));
    }
    let f: f64 = text.parse().ok()?;
    f.is_finite().then_some(Num::Float(f))
}

pub(crate) fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => as_f64(a).partial_cmp(&as_f64(b)),
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// Free-text needle, lower-cased.
#[derive(Debug, Clone)]
enum FreeText {
    Literal(String),
    Glob(Glob),
}

impl FreeText {
    fn new(predicate_text: Result<&str, &Pattern>) -> FreeText {
        match predicate_text {
            Ok(text) => FreeText::Literal(lowercase(text).into_owned()),
            Err(pattern) => FreeText::Glob(Glob::new(pattern, true)),
        }
    }

    /// `haystack` must already be lower-cased.
    fn matches(&self, haystack: &str) -> bool {
        match self {
            FreeText::Literal(needle) => find_bounded(haystack, needle),
            FreeText::Glob(glob) => glob.run(haystack, true),
        }
    }
}

/// One step of a wildcard program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    Char(char),
    Any,
    Star,
}

/// A wildcard pattern compiled to a small NFA over characters.
#[derive(Debug, Clone)]
struct Glob {
    atoms: Vec<Atom>,
    /// The longest literal run: a cheap `contains` filter before the NFA.
    required: String,
    /// For patterns of fewer than 128 atoms, state sets are bits of a
    /// `u128`: `closures[j]` is state `j` plus the states reachable from it
    /// without input (through stars). Empty for longer patterns.
    closures: Vec<u128>,
}

impl Glob {
    fn new(pattern: &Pattern, lower: bool) -> Glob {
        let mut atoms = Vec::new();
        let mut required = String::new();
        for part in &pattern.0 {
            match part {
                PatternPart::Literal(text) => {
                    let text = if lower {
                        lowercase(text)
                    } else {
                        Cow::Borrowed(text.as_str())
                    };
                    if text.len() > required.len() {
                        required = text.to_string();
                    }
                    atoms.extend(text.chars().map(Atom::Char));
                }
                PatternPart::Question => atoms.push(Atom::Any),
                PatternPart::Star => {
                    if atoms.last() != Some(&Atom::Star) {
                        atoms.push(Atom::Star);
                    }
                }
            }
        }
        let closures = if atoms.len() < 128 {
            (0..=atoms.len())
                .map(|mut j| {
                    let mut bits = 1u128 << j;
                    while atoms.get(j) == Some(&Atom::Star) {
                        j += 1;
                        bits |= 1u128 << j;
                    }
                    bits
                })
                .collect()
        } else {
            Vec::new()
        };
        Glob {
            atoms,
            required,
            closures,
        }
    }

    /// Adds state `j` and the states reachable from it without input.
    fn add(&self, set: &mut [bool], mut j: usize) {
        while let Some(slot) = set.get_mut(j) {
            *slot = true;
            if self.atoms.get(j) == Some(&Atom::Star) {
                j += 1;
            } else {
                break;
            }
        }
    }

    /// Anchored (`bounded == false`): the whole text matches. Bounded: some
    /// substring starting and ending at word boundaries matches.
    fn run(&self, text: &str, bounded: bool) -> bool {
        if !text.contains(self.required.as_str()) {
            return false;
        }
        if self.closures.is_empty() {
            self.run_slow(text, bounded)
        } else {
            self.run_bits(text, bounded)
        }
    }

    /// [`Glob::run`] with `u128` state sets, no allocation.
    fn run_bits(&self, text: &str, bounded: bool) -> bool {
        let closure = |j: usize| self.closures.get(j).copied().unwrap_or(0);
        let accept = 1u128.wrapping_shl(self.atoms.len() as u32);
        let start = closure(0);
        let mut cur = if bounded { 0 } else { start };
        let mut prev: Option<char> = None;
        let mut chars = text.chars();
        loop {
            let c = chars.next();
            if bounded && !(prev.is_some_and(is_word) && c.is_some_and(is_word)) {
                cur |= start;
                if cur & accept != 0 {
                    return true;
                }
            }
            let Some(c) = c else {
                return !bounded && cur & accept != 0;
            };
            let mut next = 0u128;
            let mut bits = cur & !accept;
            while bits != 0 {
                let j = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                next |= match self.atoms.get(j) {
                    Some(Atom::Char(a)) if *a == c => closure(j + 1),
                    Some(Atom::Any) => closure(j + 1),
                    Some(Atom::Star) => closure(j),
                    _ => 0,
                };
            }
            if next == 0 && !bounded {
                return false;
            }
            cur = next;
            prev = Some(c);
        }
    }

    /// [`Glob::run`] for patterns too long for [`Glob::run_bits`].
    fn run_slow(&self, text: &str, bounded: bool) -> bool {
        let m = self.atoms.len();
        let mut cur = vec![false; m + 1];
        let mut next = vec![false; m + 1];
        if !bounded {
            self.add(&mut cur, 0);
        }
        let mut prev: Option<char> = None;
        let mut chars = text.chars();
        loop {
            let c = chars.next();
            if bounded && !(prev.is_some_and(is_word) && c.is_some_and(is_word)) {
                self.add(&mut cur, 0);
                if cur[m] {
                    return true;
                }
            }
            let Some(c) = c else {
                return !bounded && cur[m];
            };
            next.fill(false);
            let mut alive = false;
            for (j, atom) in self.atoms.iter().enumerate() {
                if !cur[j] {
                    continue;
                }
                match *atom {
                    Atom::Char(a) if a == c => self.add(&mut next, j + 1),
                    Atom::Any => self.add(&mut next, j + 1),
                    Atom::Star => self.add(&mut next, j),
                    Atom::Char(_) => continue,
                }
                alive = true;
            }
            if !alive && !bounded {
                return false;
            }
            std::mem::swap(&mut cur, &mut next);
            prev = Some(c);
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether byte offset `at` of `text` does not cut a word.
fn is_boundary(text: &str, at: usize) -> bool {
    let before = text.get(..at).and_then(|s| s.chars().next_back());
    let after = text.get(at..).and_then(|s| s.chars().next());
    !(before.is_some_and(is_word) && after.is_some_and(is_word))
}

/// Whether `needle` occurs in `haystack` between word boundaries (both
/// lower-cased already). Overlapping occurrences are tried.
fn find_bounded(haystack: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(offset) = haystack.get(from..).and_then(|rest| rest.find(needle)) {
        let start = from + offset;
        if is_boundary(haystack, start) && is_boundary(haystack, start + needle.len()) {
            return true;
        }
        match haystack.get(start..).and_then(|rest| rest.chars().next()) {
            Some(c) => from = start + c.len_utf8(),
            None => return false,
        }
    }
    false
}

fn lowercase(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(text.to_ascii_lowercase())
        } else {
            Cow::Borrowed(text)
        }
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

fn compile(query: &Query) -> Node {
    match query {
        Query::MatchAll => Node::All,
        Query::And(items) => Node::And(sorted(items.iter().map(compile).collect())),
        Query::Or(items) => Node::Or(sorted(items.iter().map(compile).collect())),
        Query::Not(inner) => Node::Not(Box::new(compile(inner))),
        Query::Match { field, predicate } => Node::Test {
            field: field.clone(),
            test: compile_test(field, predicate),
        },
        Query::Cidr { field, blocks } => Node::Test {
            field: field.clone(),
            test: Test::Cidr(blocks.clone()),
        },
    }
}

fn compile_test(field: &Field, predicate: &Predicate) -> Test {
    let free_text = matches!(field, Field::Default | Field::Message | Field::AnyAttribute);
    match predicate {
        Predicate::Exists => Test::Exists,
        Predicate::Term(text) | Predicate::Phrase(text) => {
            if free_text {
                Test::FreeText(FreeText::new(Ok(text)))
            } else if *field == Field::Status {
                Test::StatusIs(Status::normalize(text))
            } else {
                Test::Eq(Value::new(text))
            }
        }
        Predicate::Wildcard(pattern) => {
            if free_text {
                Test::FreeText(FreeText::new(Err(pattern)))
            } else {
                Test::Glob(Glob::new(pattern, *field == Field::Status))
            }
        }
        Predicate::Compare { op, value } => Test::Compare(*op, Value::new(value)),
        Predicate::Range { lower, upper } => Test::Range {
            lower: lower
                .as_ref()
                .map(|(v, inclusive)| (Value::new(v), *inclusive)),
            upper: upper
                .as_ref()
                .map(|(v, inclusive)| (Value::new(v), *inclusive)),
        },
    }
}

/// Orders children cheapest first (matching has no side effects).
fn sorted(mut nodes: Vec<Node>) -> Vec<Node> {
    nodes.sort_by_key(Node::cost);
    nodes
}

impl Node {
    fn cost(&self) -> u32 {
        match self {
            Node::All => 0,
            Node::And(items) | Node::Or(items) => items.iter().map(Node::cost).sum(),
            Node::Not(inner) => inner.cost(),
            Node::Test { field, test } => {
                let base = match field {
                    Field::Status | Field::Service | Field::Host | Field::Source => 1,
                    Field::TraceId => 1,
                    Field::Tags | Field::Tag(_) => 3,
                    Field::Default | Field::Message => 4,
                    Field::Attribute(_) => 6,
                    Field::AnyAttribute => 20,
                };
                let extra = match test {
                    Test::Glob(_) | Test::Cidr(_) => 2,
                    Test::FreeText(FreeText::Glob(_)) => 3,
                    _ => 0,
                };
                base + extra
            }
        }
    }

    fn eval<V: EventView + ?Sized>(&self, ctx: &Ctx<'_, V>) -> bool {
        match self {
            Node::All => true,
            Node::And(items) => items.iter().all(|n| n.eval(ctx)),
            Node::Or(items) => items.iter().any(|n| n.eval(ctx)),
            Node::Not(inner) => !inner.eval(ctx),
            Node::Test { field, test } => eval_test(field, test, ctx),
        }
    }
}

/// Per-event state: the event and its lower-cased message, computed at most
/// once per event.
struct Ctx<'a, V: ?Sized> {
    event: &'a V,
    lower_message: OnceCell<Cow<'a, str>>,
}

impl<'a, V: EventView + ?Sized> Ctx<'a, V> {
    fn lower_message(&self) -> &str {
        self.lower_message
            .get_or_init(|| lowercase(self.event.message()))
    }
}

/// One value of a field, as the predicates see it.
#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A non-empty JSON object: a value for `Exists`, nothing else.
    Object,
}

impl Leaf<'_> {
    fn text(&self) -> Cow<'_, str> {
        match *self {
            Leaf::Str(s) => Cow::Borrowed(s),
            Leaf::Int(i) => Cow::Owned(i.to_string()),
            Leaf::Float(f) => Cow::Owned(f.to_string()),
            Leaf::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Leaf::Object => Cow::Borrowed(""),
        }
    }

    fn num(&self) -> Option<Num> {
        match *self {
            Leaf::Int(i) => Some(Num::Int(i)),
            Leaf::Float(f) => Some(Num::Float(f)),
            _ => None,
        }
    }
}

fn eval_test<V: EventView + ?Sized>(field: &Field, test: &Test, ctx: &Ctx<'_, V>) -> bool {
    let event = ctx.event;
    match (field, test) {
        (_, Test::Exists) => exists(field, event),
        (Field::Default | Field::Message, Test::FreeText(needle)) => {
            needle.matches(ctx.lower_message())
        }
        (Field::AnyAttribute, Test::FreeText(needle)) => {
            needle.matches(ctx.lower_message())
                || event.any_attribute(&mut |_, value| {
                    visit_all(value, &mut |leaf| leaf_matches(test, leaf))
                })
        }
        (Field::Status, Test::StatusIs(status)) => event.status() == *status,
        _ => visit_field(field, event, &mut |leaf| leaf_matches(test, leaf)),
    }
}

fn leaf_matches(test: &Test, leaf: Leaf<'_>) -> bool {
    if let Leaf::Object = leaf {
        return matches!(test, Test::Exists);
    }
    match test {
        Test::Exists => true,
        Test::FreeText(needle) => needle.matches(&lowercase(&leaf.text())),
        Test::Eq(value) => match leaf {
            Leaf::Str(s) => s == value.text,
            Leaf::Bool(_) => leaf.text() == value.text,
            _ => match (leaf.num(), value.num) {
                (Some(a), Some(b)) => cmp_num(a, b) == Some(Ordering::Equal),
                _ => false,
            },
        },
        Test::Glob(glob) => glob.run(&leaf.text(), false),
        Test::StatusIs(status) => leaf.text() == status.as_str(),
        Test::Compare(op, value) => compare(leaf, value).is_some_and(|ord| match op {
            CompareOp::Gt => ord == Ordering::Greater,
            CompareOp::Ge => ord != Ordering::Less,
            CompareOp::Lt => ord == Ordering::Less,
            CompareOp::Le => ord != Ordering::Greater,
        }),
        Test::Range { lower, upper } => {
            let above = lower.as_ref().is_none_or(|(value, inclusive)| {
                compare(leaf, value).is_some_and(|ord| {
                    ord == Ordering::Greater || (*inclusive && ord == Ordering::Equal)
                })
            });
            let below = upper.as_ref().is_none_or(|(value, inclusive)| {
                compare(leaf, value).is_some_and(|ord| {
                    ord == Ordering::Less || (*inclusive && ord == Ordering::Equal)
                })
            });
            above && below
        }
        Test::Cidr(blocks) => match leaf {
            Leaf::Str(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| {
                let canonical = ip.to_canonical();
                blocks
                    .iter()
                    .any(|b| b.contains(ip) || b.contains(canonical))
            }),
            _ => false,
        },
    }
}

/// `leaf` against `value`: numeric when both are numbers, else lexical.
fn compare(leaf: Leaf<'_>, value: &Value) -> Option<Ordering> {
    let leaf_num = match leaf {
        Leaf::Str(s) => parse_num(s),
        _ => leaf.num(),
    };
    match (leaf_num, value.num) {
        (Some(a), Some(b)) => cmp_num(a, b),
        _ => Some(leaf.text().as_ref().cmp(value.text.as_str())),
    }
}

type LeafFn<'f> = dyn FnMut(Leaf<'_>) -> bool + 'f;

/// Calls `f` with each value of `field` until it returns `true`.
fn visit_field<V: EventView + ?Sized>(field: &Field, event: &V, f: &mut LeafFn<'_>) -> bool {
    // An empty reserved field has no value, for every test (as for `field:*`).
    let mut opt = |value: Option<&str>| value.is_some_and(|s| !s.is_empty() && f(Leaf::Str(s)));
    match field {
        Field::Default | Field::Message => opt(Some(event.message())),
        Field::Service => opt(event.service()),
        Field::Host => opt(event.host()),
        Field::Source => opt(event.source()),
        Field::TraceId => opt(event.trace_id()),
        Field::Status => f(Leaf::Str(event.status().as_str())),
        Field::Tags => event.any_tag(&mut |tag| f(Leaf::Str(tag))),
        Field::Tag(key) => {
            event.any_tag(&mut |tag| tag_value(tag, key).is_some_and(|v| f(Leaf::Str(v))))
        }
        Field::Attribute(path) => visit_attribute(event, path, f),
        Field::AnyAttribute => {
            // An empty message is no value here either (CI failure of
            // 2026-11-27: `*:<=2.5` matched events with neither message nor
            // attributes, "" sorting before "2.5").
            let message = event.message();
            (!message.is_empty() && f(Leaf::Str(message)))
                || event.any_attribute(&mut |_, value| visit_all(value, f))
        }
    }
}

/// The value of tag `key:value`, if `tag` has key `key`.
fn tag_value<'t>(tag: &'t str, key: &str) -> Option<&'t str> {
    tag.strip_prefix(key)?.strip_prefix(':')
}

fn exists<V: EventView + ?Sized>(field: &Field, event: &V) -> bool {
    let present = |value: Option<&str>| value.is_some_and(|s| !s.is_empty());
    match field {
        Field::Default | Field::Message => !event.message().is_empty(),
        Field::Status => true,
        Field::Service => present(event.service()),
        Field::Host => present(event.host()),
        Field::Source => present(event.source()),
        Field::TraceId => present(event.trace_id()),
        Field::Tags => event.any_tag(&mut |_| true),
        Field::Tag(key) => event.any_tag(&mut |tag| tag_value(tag, key).is_some()),
        Field::Attribute(path) => {
            visit_attribute(event, path, &mut |_| true)
                || event.any_attribute(&mut |key, _| {
                    key.len() > path.len()
                        && key.starts_with(path.as_str())
                        && key.as_bytes().get(path.len()) == Some(&b'.')
                })
        }
        Field::AnyAttribute => {
            !event.message().is_empty()
                || event.any_attribute(&mut |_, value| visit_all(value, &mut |_| true))
        }
    }
}

/// Calls `f` with each value at attribute `path`: the attribute stored under
/// that path, or inside JSON stored under a dotted prefix of it.
fn visit_attribute<V: EventView + ?Sized>(event: &V, path: &str, f: &mut LeafFn<'_>) -> bool {
    event.any_attribute_at(path, &mut |key, value| {
        if key == path {
            return visit_ref(value, "", f);
        }
        let rest = path
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('.'));
        match (rest, value) {
            (Some(rest), AttrRef::Json(_)) => visit_ref(value, rest, f),
            _ => false,
        }
    })
}

fn visit_ref(value: AttrRef<'_>, rest: &str, f: &mut LeafFn<'_>) -> bool {
    match value {
        AttrRef::Str(s) => rest.is_empty() && f(Leaf::Str(s)),
        AttrRef::Int(i) => rest.is_empty() && f(Leaf::Int(i)),
        AttrRef::Float(x) => rest.is_empty() && f(Leaf::Float(x)),
        AttrRef::Bool(b) => rest.is_empty() && f(Leaf::Bool(b)),
        AttrRef::Json(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) => visit_json(&json, rest, f),
            Err(_) => rest.is_empty() && f(Leaf::Str(text)),
        },
    }
}

fn json_leaf<'j>(value: &'j serde_json::Value) -> Option<Leaf<'j>> {
    use serde_json::Value as J;
    match value {
        J::String(s) => Some(Leaf::Str(s)),
        J::Bool(b) => Some(Leaf::Bool(*b)),
        J::Number(n) => Some(match n.as_i64() {
            Some(i) => Leaf::Int(i),
            None => Leaf::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        J::Object(map) if !map.is_empty() => Some(Leaf::Object),
        _ => None,
    }
}

/// Walks `rest` (a dotted path, maybe empty) into `value`; arrays anywhere
/// on the way mean "any element". An object key may itself contain dots.
fn visit_json(value: &serde_json::Value, rest: &str, f: &mut LeafFn<'_>) -> bool {
    use serde_json::Value as J;
    match value {
        J::Array(items) => items.iter().any(|item| visit_json(item, rest, f)),
        _ if rest.is_empty() => json_leaf(value).is_some_and(&mut *f),
        J::Object(map) => {
            let mut end = 0;
            loop {
                let dot = rest
                    .get(end..)
                    .and_then(|tail| tail.find('.'))
                    .map(|i| end + i);
                let key = rest.get(..dot.unwrap_or(rest.len())).unwrap_or(rest);
                let tail = dot.and_then(|d| rest.get(d + 1..)).unwrap_or("");
                if let Some(child) = map.get(key) {
                    if visit_json(child, tail, f) {
                        return true;
                    }
                }
                match dot {
                    Some(d) => end = d + 1,
                    None => return false,
                }
            }
        }
        _ => false,
    }
}

/// Calls `f` with every scalar inside an attribute value (JSON recursed).
fn visit_all(value: AttrRef<'_>, f: &mut LeafFn<'_>) -> bool {
    match value {
        AttrRef::Json(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(json) => visit_all_json(&json, f),
            Err(_) => f(Leaf::Str(text)),
        },
        other => visit_ref(other, "", f),
    }
}

fn visit_all_json(value: &serde_json::Value, f: &mut LeafFn<'_>) -> bool {
    use serde_json::Value as J;
    match value {
        J::Array(items) => items.iter().any(|item| visit_all_json(item, f)),
        J::Object(map) => map.values().any(|item| visit_all_json(item, f)),
        _ => json_leaf(value).is_some_and(&mut *f),
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
