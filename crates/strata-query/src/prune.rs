//! Segment pruning: whether a segment may hold an event matching a query,
//! decided from its [`SkipIndex`] alone, without reading its data.
//!
//! [`may_match`] is **conservative**: it returns `false` only when no event
//! of the segment can match (under the semantics of the `ast` module doc,
//! as [`crate::Matcher`] implements them), and `true` whenever it is unsure.
//! A `false` lets the engine skip the segment; a `true` costs nothing but
//! the read.
//!
//! What each field can prune on:
//!
//! | field | pruned by |
//! |-------|-----------|
//! | message (`Default`, `Message`) | `Term`/`Phrase`: every word run of the lower-cased text must be in the token filter; `Wildcard`: the same for the runs of its literal text that are bounded on both sides by a non-word character or the pattern's ends (not by `*`/`?`) |
//! | `service`, `host`, `source`, `tags`, `key:` tags | the exact value set when known (every predicate and `CIDR` evaluated on each value), else presence |
//! | `status` | the status set (terms normalised like the matcher) |
//! | `trace_id` | `Term`/`Phrase`: the trace id filter; others: presence |
//! | `@path` | absent path (and no JSON under a dotted prefix) prunes everything but `Not`; the string set, the numeric range (only when the query value is a number the matcher would compare numerically) and whether booleans occur |
//! | `*:` | nothing |
//!
//! A negation is pruned only when the negated query surely matches **every**
//! row ([`must_match`]): `-service:*` when no row lacks a service,
//! `-status:info` when every row is `info`, and so on.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::Bound;

use strata_segment::skip_index::{
    is_word_char, tokens, AttributeSummary, KeywordField, ValueSummary,
};
use strata_segment::SkipIndex;
use strata_types::Status;

use crate::ast::{CidrBlock, CompareOp, Field, Pattern, PatternPart, Predicate, Query};
use crate::matcher::{cmp_num, parse_num, Num};

/// Whether some event of the segment summarised by `index` may match
/// `query`. `false` means surely none does.
pub fn may_match(query: &Query, index: &SkipIndex) -> bool {
    match query {
        Query::MatchAll => true,
        Query::And(items) => items.iter().all(|q| may_match(q, index)),
        Query::Or(items) => items.iter().any(|q| may_match(q, index)),
        Query::Not(inner) => !must_match(inner, index),
        Query::Match { field, predicate } => field_may_match(field, Test::Pred(predicate), index),
        Query::Cidr { field, blocks } => field_may_match(field, Test::Cidr(blocks), index),
    }
}

/// Whether every event of the segment surely matches `query`. `false` when
/// unsure. Only used to prune negations, so it covers just the cases the
/// index can prove: presence of the reserved fields and single-valued
/// `service`/`host`/`source`/`status`.
pub fn must_match(query: &Query, index: &SkipIndex) -> bool {
    match query {
        Query::MatchAll => true,
        Query::And(items) => items.iter().all(|q| must_match(q, index)),
        Query::Or(items) => items.iter().any(|q| must_match(q, index)),
        Query::Not(inner) => !may_match(inner, index),
        Query::Match { field, predicate } => field_must_match(field, predicate, index),
        Query::Cidr { .. } => false,
    }
}

/// A leaf test: a predicate or a `CIDR(...)` block list.
#[derive(Debug, Clone, Copy)]
enum Test<'a> {
    Pred(&'a Predicate),
    Cidr(&'a [CidrBlock]),
}

fn keyword(field: &Field) -> Option<KeywordField> {
    match field {
        Field::Service => Some(KeywordField::Service),
        Field::Host => Some(KeywordField::Host),
        Field::Source => Some(KeywordField::Source),
        _ => None,
    }
}

fn field_must_match(field: &Field, predicate: &Predicate, index: &SkipIndex) -> bool {
    match (field, predicate) {
        (Field::Status, Predicate::Exists) => true,
        (Field::Status, Predicate::Term(v) | Predicate::Phrase(v)) => {
            let status = Status::normalize(v);
            index.statuses().all(|s| s == status)
        }
        (Field::Service | Field::Host | Field::Source, Predicate::Exists) => {
            keyword(field).is_some_and(|k| !index.field(k).ever_missing())
        }
        (
            Field::Service | Field::Host | Field::Source,
            Predicate::Term(v) | Predicate::Phrase(v),
        ) => keyword(field).is_some_and(|k| {
            let summary = index.field(k);
            !summary.ever_missing()
                && summary
                    .values()
                    .is_some_and(|set| set.len() == 1 && set.contains(v.as_str()))
        }),
        (Field::Tags, Predicate::Exists) => !index.field(KeywordField::Tags).ever_missing(),
        (Field::TraceId, Predicate::Exists) => !index.trace_id().ever_missing(),
        _ => false,
    }
}

fn field_may_match(field: &Field, test: Test<'_>, index: &SkipIndex) -> bool {
    match field {
        Field::Default | Field::Message => match test {
            Test::Pred(predicate) => message_may_match(predicate, index),
            Test::Cidr(_) => true,
        },
        Field::AnyAttribute => true,
        Field::Status => status_may_match(test, index),
        Field::TraceId => trace_id_may_match(test, index),
        Field::Service | Field::Host | Field::Source => keyword(field).is_some_and(|k| {
            // Empty values are never in the set (they count as missing).
            values_may_match(index.field(k), test, |value| {
                (!value.is_empty()).then_some(value)
            })
        }),
        Field::Tags => values_may_match(index.field(KeywordField::Tags), test, Some),
        Field::Tag(key) => values_may_match(index.field(KeywordField::Tags), test, |tag| {
            tag.strip_prefix(key.as_str())?.strip_prefix(':')
        }),
        Field::Attribute(path) => attribute_may_match(path, test, index),
    }
}

/// Message terms, phrases and wildcards: every word run that the matcher
/// must find as a whole token.
fn message_may_match(predicate: &Predicate, index: &SkipIndex) -> bool {
    match predicate {
        Predicate::Term(text) | Predicate::Phrase(text) => {
            let lower = text.to_lowercase();
            let all_present = tokens(&lower).all(|token| index.may_contain_token(token));
            all_present
        }
        Predicate::Wildcard(pattern) => bounded_literal_tokens(pattern)
            .iter()
            .all(|token| index.may_contain_token(token)),
        Predicate::Exists | Predicate::Compare { .. } | Predicate::Range { .. } => true,
    }
}

/// The word runs of a free-text wildcard's literal text that must be whole
/// tokens of a matching message: runs bounded on each side by a non-word
/// character of the literal text or by the pattern's start or end. A run
/// next to `*` or `?` may be part of a longer token, so it does not count.
/// Literals are lower-cased one by one, as the matcher does.
fn bounded_literal_tokens(pattern: &Pattern) -> Vec<String> {
    // The literal texts between wildcards (adjacent literals joined).
    let mut groups = vec![String::new()];
    for part in &pattern.0 {
        match part {
            PatternPart::Literal(literal) => {
                if let Some(group) = groups.last_mut() {
                    group.push_str(&literal.to_lowercase());
                }
            }
            PatternPart::Star | PatternPart::Question => groups.push(String::new()),
        }
    }
    let last = groups.len() - 1;
    let mut out = Vec::new();
    for (i, text) in groups.iter().enumerate() {
        let wildcard_before = i > 0;
        let wildcard_after = i < last;
        for (start, end) in word_runs(text) {
            // A run not at the group's edge is next to a non-word character.
            let left = start > 0 || !wildcard_before;
            let right = end < text.len() || !wildcard_after;
            if left && right {
                out.extend(text.get(start..end).map(str::to_string));
            }
        }
    }
    out
}

/// Byte ranges of the maximal runs of word characters of `text`.
fn word_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                runs.push((s, at));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, text.len()));
    }
    runs
}

fn status_may_match(test: Test<'_>, index: &SkipIndex) -> bool {
    match test {
        Test::Pred(Predicate::Term(v) | Predicate::Phrase(v)) => {
            index.may_contain_status(Status::normalize(v))
        }
        // Wildcards on status are lower-cased and matched against the name;
        // comparisons use the name's text.
        _ => index
            .statuses()
            .any(|s| text_may_match(s.as_str(), test, true)),
    }
}

fn trace_id_may_match(test: Test<'_>, index: &SkipIndex) -> bool {
    match test {
        Test::Pred(Predicate::Term(v) | Predicate::Phrase(v)) => index.may_contain_trace_id(v),
        _ => index.trace_id().ever_present(),
    }
}

/// A keyword field: `leaf` maps each stored value to what the predicate
/// sees (`None`: nothing, e.g. a tag with another key).
fn values_may_match<'v>(
    summary: &'v ValueSummary,
    test: Test<'_>,
    leaf: impl Fn(&'v str) -> Option<&'v str>,
) -> bool {
    if !summary.ever_present() {
        return false;
    }
    match summary.values() {
        None => true,
        Some(set) => set
            .iter()
            .filter_map(|value| leaf(value))
            .any(|value| text_may_match(value, test, false)),
    }
}

fn attribute_may_match(path: &str, test: Test<'_>, index: &SkipIndex) -> bool {
    let Some(attributes) = index.attributes() else {
        return true;
    };
    // JSON stored under a dotted prefix (`@a` holding `[{"b":1}]` for
    // `@a.b`) can hold anything.
    let json_prefix = path
        .match_indices('.')
        .filter_map(|(at, _)| path.get(..at))
        .any(|prefix| {
            attributes
                .get(prefix)
                .is_some_and(AttributeSummary::has_json)
        });
    if json_prefix {
        return true;
    }
    let summary = attributes.get(path);
    if let Test::Pred(Predicate::Exists) = test {
        // `@a:*` also holds when only deeper paths (`a.b`) exist.
        let deeper = format!("{path}.");
        return summary.is_some()
            || attributes
                .range::<str, _>((Bound::Included(deeper.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|(key, _)| key.starts_with(&deeper));
    }
    let Some(summary) = summary else {
        return false;
    };
    if summary.has_json() {
        return true;
    }
    (summary.has_strings() && strings_may_match(summary.string_values(), test))
        || ((summary.has_ints() || summary.has_floats())
            && numbers_may_match(summary.numeric_range(), test))
        || (summary.has_bools()
            && ["true", "false"]
                .iter()
                .any(|text| bool_may_match(text, test)))
}

fn strings_may_match(set: Option<&BTreeSet<String>>, test: Test<'_>) -> bool {
    match set {
        None => true,
        Some(set) => set.iter().any(|s| text_may_match(s, test, false)),
    }
}

/// A boolean value, seen as the text `true`/`false`: equal, glob and
/// lexical comparisons on the text; never an IP address.
fn bool_may_match(text: &str, test: Test<'_>) -> bool {
    match test {
        Test::Cidr(_) => false,
        Test::Pred(_) => text_may_match(text, test, false),
    }
}

/// Integer and float values within `range` (`None`: unknown, e.g. NaN).
fn numbers_may_match(range: Option<(f64, f64)>, test: Test<'_>) -> bool {
    let Some((lo, hi)) = range else {
        return true;
    };
    let Test::Pred(predicate) = test else {
        // Only strings parse as IP addresses.
        return false;
    };
    match predicate {
        Predicate::Exists | Predicate::Wildcard(_) => true,
        // A query value that is not a number never equals a number.
        Predicate::Term(v) | Predicate::Phrase(v) => match parse_num(v) {
            None => false,
            Some(q) => exact(q).is_none_or(|q| lo <= q && q <= hi),
        },
        Predicate::Compare { op, value } => match parse_num(value).and_then(exact) {
            // Not a number: compared as text; or not exactly comparable.
            None => true,
            Some(q) => match op {
                CompareOp::Gt => hi > q,
                CompareOp::Ge => hi >= q,
                CompareOp::Lt => lo < q,
                CompareOp::Le => lo <= q,
            },
        },
        Predicate::Range { lower, upper } => {
            let above = lower.as_ref().is_none_or(|(value, inclusive)| {
                parse_num(value).and_then(exact).is_none_or(|q| {
                    if *inclusive {
                        hi >= q
                    } else {
                        hi > q
                    }
                })
            });
            let below = upper.as_ref().is_none_or(|(value, inclusive)| {
                parse_num(value).and_then(exact).is_none_or(|q| {
                    if *inclusive {
                        lo <= q
                    } else {
                        lo < q
                    }
                })
            });
            above && below
        }
    }
}

/// A string value (or a status name, or a bool's text) against a test, as
/// the matcher tests a string leaf. `lower_glob` lower-cases the wildcard's
/// literals first (status).
fn text_may_match(value: &str, test: Test<'_>, lower_glob: bool) -> bool {
    let predicate = match test {
        Test::Cidr(blocks) => {
            return value.trim().parse::<IpAddr>().is_ok_and(|ip| {
                let canonical = ip.to_canonical();
                blocks
                    .iter()
                    .any(|b| b.contains(ip) || b.contains(canonical))
            });
        }
        Test::Pred(predicate) => predicate,
    };
    match predicate {
        Predicate::Exists => true,
        Predicate::Term(v) | Predicate::Phrase(v) => value == v,
        Predicate::Wildcard(pattern) => glob_matches(pattern, value, lower_glob),
        Predicate::Compare { op, value: rhs } => {
            let ord = compare_text(value, rhs);
            match op {
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
            }
        }
        Predicate::Range { lower, upper } => {
            let above = lower.as_ref().is_none_or(|(rhs, inclusive)| {
                let ord = compare_text(value, rhs);
                ord == Ordering::Greater || (*inclusive && ord == Ordering::Equal)
            });
            let below = upper.as_ref().is_none_or(|(rhs, inclusive)| {
                let ord = compare_text(value, rhs);
                ord == Ordering::Less || (*inclusive && ord == Ordering::Equal)
            });
            above && below
        }
    }
}

/// How the matcher compares a string with a query value: numerically when
/// both parse as numbers, else by text. An incomparable pair (never the
/// case for finite numbers) is treated as equal, which keeps `>=`/`<=`
/// and inclusive ranges conservative.
fn compare_text(value: &str, rhs: &str) -> Ordering {
    match (parse_num(value), parse_num(rhs)) {
        (Some(a), Some(b)) => cmp_num(a, b).unwrap_or(Ordering::Equal),
        _ => value.cmp(rhs),
    }
}

/// The query number as an `f64` the bounds can be compared with, or `None`
/// when that would be unsound: an integer beyond 2^53 is compared exactly
/// with integer values by the matcher, and its `f64` is rounded.
fn exact(n: Num) -> Option<f64> {
    const EXACT: i64 = 1 << 53;
    match n {
        Num::Int(i) if (-EXACT..=EXACT).contains(&i) => Some(i as f64),
        Num::Int(_) => None,
        Num::Float(f) => Some(f),
    }
}

/// Whether `pattern` matches the whole of `text` (`*`: any run, `?`: one
/// character), literals lower-cased first when `lower`.
fn glob_matches(pattern: &Pattern, text: &str, lower: bool) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Atom {
        Char(char),
        Any,
        Star,
    }
    let mut atoms = Vec::new();
    for part in &pattern.0 {
        match part {
            PatternPart::Literal(literal) if lower => {
                atoms.extend(literal.to_lowercase().chars().map(Atom::Char));
            }
            PatternPart::Literal(literal) => atoms.extend(literal.chars().map(Atom::Char)),
            PatternPart::Question => atoms.push(Atom::Any),
            PatternPart::Star => atoms.push(Atom::Star),
        }
    }
    let chars: Vec<char> = text.chars().collect();
    // Greedy with backtracking to the last star: linear in practice.
    let (mut t, mut p) = (0usize, 0usize);
    let mut last_star: Option<(usize, usize)> = None;
    while t < chars.len() {
        match (atoms.get(p), chars.get(t)) {
            (Some(Atom::Star), _) => {
                last_star = Some((p, t));
                p += 1;
            }
            (Some(Atom::Any), _) => {
                p += 1;
                t += 1;
            }
            (Some(Atom::Char(a)), Some(c)) if a == c => {
                p += 1;
                t += 1;
            }
            _ => match last_star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    last_star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    atoms
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|a| *a == Atom::Star))
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
