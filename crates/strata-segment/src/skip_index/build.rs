//! Building a skip index from a segment's events.
//!
//! This runs on every flush, so it borrows the events' strings instead of
//! copying them until the very end, hashes message tokens without
//! allocating (ASCII messages), and stops tracking a set as soon as it is
//! known to be too large.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::{FxHashMap, FxHashSet};
use strata_types::{AttrValue, Event};

use super::bloom::{for_each_token_hash, hash_bytes, Bloom, TARGET_FPP};
use super::{
    kind, AttributeSummary, SkipIndex, ValueSummary, MAX_ATTRIBUTE_PATHS, MAX_ATTRIBUTE_PATH_BYTES,
    MAX_ATTRIBUTE_SET_BYTES, MAX_ATTRIBUTE_STRINGS, MAX_ATTRIBUTE_STRING_BYTES, MAX_KEYWORD_VALUES,
    MAX_KEYWORD_VALUE_BYTES, MAX_TAG_VALUES,
};

pub(super) fn build<'a>(events: impl Iterator<Item = &'a Event> + Clone) -> SkipIndex {
    // A message of n bytes has at most n/2 + 1 tokens (tokens are separated
    // by at least one character); this only sets the filter's starting size.
    let mut token_bound = 0usize;
    let mut trace_ids = 0usize;
    for event in events.clone() {
        token_bound = token_bound.saturating_add(event.message.len() / 2 + 1);
        trace_ids += usize::from(event.trace_id.as_deref().is_some_and(|t| !t.is_empty()));
    }
    let mut tokens = Bloom::with_capacity(token_bound);
    let mut traces = Bloom::with_capacity(trace_ids);
    let mut trace = SetBuilder::new(0, 0);
    let mut service = SetBuilder::new(MAX_KEYWORD_VALUES, MAX_KEYWORD_VALUE_BYTES);
    let mut host = SetBuilder::new(MAX_KEYWORD_VALUES, MAX_KEYWORD_VALUE_BYTES);
    let mut source = SetBuilder::new(MAX_KEYWORD_VALUES, MAX_KEYWORD_VALUE_BYTES);
    let mut tags = SetBuilder::new(MAX_TAG_VALUES, MAX_KEYWORD_VALUE_BYTES);
    let mut attributes = AttributesBuilder::default();
    let mut statuses = 0u16;

    for event in events.clone() {
        for_each_token_hash(&event.message, |h| tokens.insert(h));
        let trace_id = non_empty(event.trace_id.as_deref());
        if let Some(id) = trace_id {
            traces.insert(hash_bytes(id.as_bytes()));
        }
        trace.add_presence(trace_id.is_some());
        service.add(non_empty(event.service.as_deref()));
        host.add(non_empty(event.host.as_deref()));
        source.add(non_empty(event.source.as_deref()));
        tags.add_presence(!event.tags.is_empty());
        for tag in &event.tags {
            tags.add_value(tag);
        }
        statuses |= 1 << event.status.code();
        attributes.add(&event.attributes);
    }
    let tokens = right_sized(tokens, |bloom| {
        for event in events.clone() {
            for_each_token_hash(&event.message, |h| bloom.insert(h));
        }
    });
    let traces = right_sized(traces, |bloom| {
        for event in events.clone() {
            if let Some(id) = non_empty(event.trace_id.as_deref()) {
                bloom.insert(hash_bytes(id.as_bytes()));
            }
        }
    });

    SkipIndex {
        message_tokens: tokens,
        trace_ids: traces,
        trace_id: ValueSummary {
            values: None,
            ..trace.finish()
        },
        service: service.finish(),
        host: host.finish(),
        source: source.finish(),
        tags: tags.finish(),
        statuses,
        attributes: attributes.finish(),
    }
}

/// Shrinks a filter filled from its upper-bound size (§10.3); when
/// shrinking by a divisor leaves it much larger than 1% needs (large
/// segments, whose filter starts at the cap), fills a filter of the size
/// the estimated distinct count needs with `fill` instead, and keeps it if
/// its false positive rate is at most 1%.
fn right_sized(mut bloom: Bloom, fill: impl Fn(&mut Bloom)) -> Bloom {
    let values = bloom.estimated_values();
    bloom.shrink();
    if let Some(blocks) = bloom.rebuild_blocks(values) {
        let mut rebuilt = Bloom::with_blocks(blocks);
        fill(&mut rebuilt);
        if rebuilt.estimated_fpp() <= TARGET_FPP {
            return rebuilt;
        }
    }
    bloom
}

/// An empty `service`, `host`, `source` or `trace_id` is no value to the
/// search semantics (`service:*` does not match it), so the index treats it
/// as missing.
fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Collects a field's presence and its distinct values, up to a limit.
struct SetBuilder<'a> {
    missing: bool,
    present: bool,
    /// `None` once over the limit.
    values: Option<FxHashSet<&'a str>>,
    /// The previous value: rows often repeat it, and comparing is cheaper
    /// than hashing.
    last: Option<&'a str>,
    max_values: usize,
    max_value_bytes: usize,
}

impl<'a> SetBuilder<'a> {
    fn new(max_values: usize, max_value_bytes: usize) -> SetBuilder<'a> {
        SetBuilder {
            missing: false,
            present: false,
            values: Some(FxHashSet::default()),
            last: None,
            max_values,
            max_value_bytes,
        }
    }

    fn add_presence(&mut self, present: bool) {
        if present {
            self.present = true;
        } else {
            self.missing = true;
        }
    }

    fn add(&mut self, value: Option<&'a str>) {
        self.add_presence(value.is_some());
        if let Some(value) = value {
            self.add_value(value);
        }
    }

    fn add_value(&mut self, value: &'a str) {
        if self.last == Some(value) {
            return;
        }
        self.last = Some(value);
        let Some(set) = &mut self.values else {
            return;
        };
        if value.len() > self.max_value_bytes || (set.insert(value) && set.len() > self.max_values)
        {
            self.values = None;
        }
    }

    fn finish(self) -> ValueSummary {
        ValueSummary {
            missing: self.missing,
            present: self.present,
            values: self
                .values
                .map(|set| set.into_iter().map(str::to_string).collect()),
        }
    }
}

/// One attribute path's summary while building.
struct PathBuilder<'a> {
    kinds: u8,
    lo: f64,
    hi: f64,
    nan: bool,
    strings: Option<FxHashSet<&'a str>>,
}

impl<'a> PathBuilder<'a> {
    fn new() -> PathBuilder<'a> {
        PathBuilder {
            kinds: 0,
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
            nan: false,
            strings: Some(FxHashSet::default()),
        }
    }

    fn add(&mut self, value: &'a AttrValue) {
        match value {
            AttrValue::Str(s) => {
                self.kinds |= kind::STR;
                if let Some(set) = &mut self.strings {
                    if s.len() > MAX_ATTRIBUTE_STRING_BYTES
                        || (set.insert(s.as_str()) && set.len() > MAX_ATTRIBUTE_STRINGS)
                    {
                        self.strings = None;
                    }
                }
            }
            AttrValue::Int(i) => {
                self.kinds |= kind::INT;
                let (lo, hi) = int_bounds(*i);
                self.lo = self.lo.min(lo);
                self.hi = self.hi.max(hi);
            }
            AttrValue::Float(f) => {
                self.kinds |= kind::FLOAT;
                if f.is_nan() {
                    self.nan = true;
                } else {
                    self.lo = self.lo.min(*f);
                    self.hi = self.hi.max(*f);
                }
            }
            AttrValue::Bool(_) => self.kinds |= kind::BOOL,
            AttrValue::Json(_) => self.kinds |= kind::JSON,
        }
    }

    fn finish(self) -> AttributeSummary {
        let numeric = self.kinds & (kind::INT | kind::FLOAT) != 0;
        AttributeSummary {
            kinds: self.kinds,
            range: (numeric && !self.nan).then_some((self.lo, self.hi)),
            strings: self
                .strings
                .map(|set| set.into_iter().map(str::to_string).collect()),
        }
    }
}

/// The largest `f64` at or below `i` and the smallest at or above it (equal
/// when `i` is exactly representable, i.e. always when `|i| <= 2^53`).
fn int_bounds(i: i64) -> (f64, f64) {
    let f = i as f64;
    // `f` is within one rounding step of `i`, and `as i128` is exact for
    // every f64 in i64's range (2^63 included).
    match (f as i128).cmp(&i128::from(i)) {
        std::cmp::Ordering::Equal => (f, f),
        std::cmp::Ordering::Greater => (step_toward_zero_or_down(f), f),
        std::cmp::Ordering::Less => (f, step_up(f)),
    }
}

/// The next `f64` below `f` (finite, non-zero).
fn step_toward_zero_or_down(f: f64) -> f64 {
    if f > 0.0 {
        f64::from_bits(f.to_bits() - 1)
    } else {
        f64::from_bits(f.to_bits() + 1)
    }
}

/// The next `f64` above `f` (finite, non-zero).
fn step_up(f: f64) -> f64 {
    if f > 0.0 {
        f64::from_bits(f.to_bits() + 1)
    } else {
        f64::from_bits(f.to_bits() - 1)
    }
}

/// Collects every attribute path's summary, until there are too many paths.
#[derive(Default)]
struct AttributesBuilder<'a> {
    /// `None` once over [`MAX_ATTRIBUTE_PATHS`] or a path over
    /// [`MAX_ATTRIBUTE_PATH_BYTES`]: attributes unknown.
    paths: Option<FxHashMap<&'a str, PathBuilder<'a>>>,
    given_up: bool,
}

impl<'a> AttributesBuilder<'a> {
    fn add(&mut self, attributes: &'a [(String, AttrValue)]) {
        if self.given_up {
            return;
        }
        let paths = self.paths.get_or_insert_with(FxHashMap::default);
        for (path, value) in attributes {
            if let Some(entry) = paths.get_mut(path.as_str()) {
                entry.add(value);
                continue;
            }
            if paths.len() >= MAX_ATTRIBUTE_PATHS || path.len() > MAX_ATTRIBUTE_PATH_BYTES {
                self.given_up = true;
                break;
            }
            let mut entry = PathBuilder::new();
            entry.add(value);
            paths.insert(path.as_str(), entry);
        }
        if self.given_up {
            // Free the summaries now: nothing will be pruned on attributes.
            self.paths = None;
        }
    }

    fn finish(self) -> Option<BTreeMap<String, AttributeSummary>> {
        if self.given_up {
            return None;
        }
        let mut summaries: BTreeMap<String, AttributeSummary> = self
            .paths
            .unwrap_or_default()
            .into_iter()
            .map(|(path, b)| (path.to_string(), b.finish()))
            .collect();
        enforce_set_budget(&mut summaries);
        Some(summaries)
    }
}

fn set_bytes(set: &BTreeSet<String>) -> usize {
    set.iter().map(String::len).sum()
}

/// Drops (makes unknown) the largest string sets, ties by path, until all of
/// them together hold at most [`MAX_ATTRIBUTE_SET_BYTES`].
fn enforce_set_budget(summaries: &mut BTreeMap<String, AttributeSummary>) {
    let mut sizes: Vec<(usize, &String)> = summaries
        .iter()
        .filter_map(|(path, s)| s.strings.as_ref().map(|set| (set_bytes(set), path)))
        .collect();
    let mut total: usize = sizes.iter().map(|(n, _)| n).sum();
    if total <= MAX_ATTRIBUTE_SET_BYTES {
        return;
    }
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut drop: Vec<String> = Vec::new();
    for (n, path) in sizes {
        if total <= MAX_ATTRIBUTE_SET_BYTES {
            break;
        }
        total -= n;
        drop.push(path.clone());
    }
    for path in drop {
        if let Some(summary) = summaries.get_mut(&path) {
            summary.strings = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_types::Status;

    fn event(message: &str) -> Event {
        Event::new(0, message.to_string())
    }

    #[test]
    fn int_bounds_bracket_the_integer() {
        for i in [
            0,
            1,
            -1,
            (1 << 53) + 1,
            -(1 << 53) - 1,
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
            123_456_789_012_345_677,
        ] {
            let (lo, hi) = int_bounds(i);
            assert!((lo as i128) <= i128::from(i), "{i}");
            assert!((hi as i128) >= i128::from(i), "{i}");
            assert!(lo <= hi);
        }
        assert_eq!(int_bounds(42), (42.0, 42.0));
    }

    #[test]
    fn summarises_fields() {
        let mut a = event("Connection REFUSED by upstream");
        a.service = Some("web".to_string());
        a.status = Status::Error;
        a.tags = vec!["env:prod".to_string(), "team:a".to_string()];
        a.trace_id = Some("abc123".to_string());
        a.attributes = vec![
            ("http.status_code".to_string(), AttrValue::Int(503)),
            ("http.method".to_string(), AttrValue::Str("GET".to_string())),
            ("items".to_string(), AttrValue::Json("[1,2]".to_string())),
        ];
        let mut b = event("all good");
        b.attributes = vec![
            ("http.status_code".to_string(), AttrValue::Float(200.5)),
            (
                "http.method".to_string(),
                AttrValue::Str("POST".to_string()),
            ),
        ];
        let index = SkipIndex::build([&a, &b]);

        for token in ["connection", "refused", "by", "upstream", "all", "good"] {
            assert!(index.may_contain_token(token), "{token}");
        }
        assert!(!index.may_contain_token("Connection"));
        assert!(index.may_contain_trace_id("abc123"));
        assert!(index.trace_id().ever_missing());
        let service = index.field(super::super::KeywordField::Service);
        assert!(service.ever_missing() && service.ever_present());
        assert_eq!(
            service.values().unwrap().iter().collect::<Vec<_>>(),
            ["web"]
        );
        let tags = index.field(super::super::KeywordField::Tags);
        assert!(tags.ever_missing());
        assert!(tags.may_contain("env:prod") && !tags.may_contain("env:dev"));
        assert_eq!(
            index.statuses().collect::<Vec<_>>(),
            [Status::Error, Status::Info]
        );
        let attrs = index.attributes().unwrap();
        assert_eq!(attrs.len(), 3);
        let code = &attrs["http.status_code"];
        assert!(code.only_numeric() && code.has_ints() && code.has_floats());
        assert_eq!(code.numeric_range(), Some((200.5, 503.0)));
        assert_eq!(code.string_values().map(BTreeSet::len), Some(0));
        let method = &attrs["http.method"];
        assert!(method.has_strings() && !method.only_numeric());
        assert_eq!(method.numeric_range(), None);
        assert!(attrs["items"].has_json());
    }

    #[test]
    fn sets_give_up_past_their_limits() {
        let events: Vec<Event> = (0..=MAX_KEYWORD_VALUES)
            .map(|i| {
                let mut e = event("x");
                e.service = Some(format!("svc-{i}"));
                e.host = Some("h".repeat(if i == 0 {
                    MAX_KEYWORD_VALUE_BYTES + 1
                } else {
                    1
                }));
                e.source = Some("s".to_string());
                e
            })
            .collect();
        let index = SkipIndex::build(&events);
        let service = index.field(super::super::KeywordField::Service);
        assert!(service.values().is_none());
        assert!(service.may_contain("anything"));
        assert!(index
            .field(super::super::KeywordField::Host)
            .values()
            .is_none());
        assert_eq!(
            index
                .field(super::super::KeywordField::Source)
                .values()
                .map(BTreeSet::len),
            Some(1)
        );
    }

    #[test]
    fn too_many_paths_make_attributes_unknown() {
        let mut e = event("x");
        e.attributes = (0..=MAX_ATTRIBUTE_PATHS)
            .map(|i| (format!("p{i}"), AttrValue::Int(1)))
            .collect();
        assert!(SkipIndex::build([&e]).attributes().is_none());
        e.attributes.truncate(MAX_ATTRIBUTE_PATHS);
        assert_eq!(
            SkipIndex::build([&e]).attributes().map(BTreeMap::len),
            Some(MAX_ATTRIBUTE_PATHS)
        );
        let mut long = event("x");
        long.attributes = vec![("p".repeat(MAX_ATTRIBUTE_PATH_BYTES + 1), AttrValue::Int(1))];
        assert!(SkipIndex::build([&long]).attributes().is_none());
    }

    #[test]
    fn attribute_string_sets_are_bounded() {
        let events: Vec<Event> = (0..=MAX_ATTRIBUTE_STRINGS)
            .map(|i| {
                let mut e = event("x");
                e.attributes = vec![
                    ("many".to_string(), AttrValue::Str(i.to_string())),
                    ("few".to_string(), AttrValue::Str((i % 2).to_string())),
                    ("nan".to_string(), AttrValue::Float(f64::NAN)),
                ];
                e
            })
            .collect();
        let index = SkipIndex::build(&events);
        let attrs = index.attributes().unwrap();
        assert!(attrs["many"].string_values().is_none());
        assert_eq!(attrs["few"].string_values().map(BTreeSet::len), Some(2));
        assert_eq!(attrs["nan"].numeric_range(), None);
    }

    #[test]
    fn set_budget_drops_largest_first() {
        let big = "b".repeat(MAX_ATTRIBUTE_STRING_BYTES);
        let mut summaries = BTreeMap::new();
        let per_path: BTreeSet<String> = (0..MAX_ATTRIBUTE_STRINGS)
            .map(|i| format!("{i:03}{}", &big[3..]))
            .collect();
        // 64 values of 128 bytes = 8 KiB per path; 40 paths = 320 KiB.
        for p in 0..40 {
            summaries.insert(
                format!("p{p:02}"),
                AttributeSummary {
                    kinds: kind::STR,
                    range: None,
                    strings: Some(per_path.clone()),
                },
            );
        }
        summaries.insert(
            "small".to_string(),
            AttributeSummary {
                kinds: kind::STR,
                range: None,
                strings: Some(BTreeSet::from(["x".to_string()])),
            },
        );
        enforce_set_budget(&mut summaries);
        let kept: usize = summaries
            .values()
            .filter_map(|s| s.strings.as_ref().map(set_bytes))
            .sum();
        assert!(kept <= MAX_ATTRIBUTE_SET_BYTES);
        assert!(summaries["small"].strings.is_some());
        assert!(summaries["p00"].strings.is_none());
        assert!(summaries["p39"].strings.is_some());
    }
}
