//! A hand-written recursive-descent parser for the Datadog log search syntax
//! (`docs.datadoghq.com/logs/explorer/search_syntax`), producing a [`Query`].
//!
//! # Grammar
//!
//! ```text
//! query   := ws* (or ws*)? EOF            empty or blank: MatchAll
//! or      := and ("OR" and)*
//! and     := unary (("AND")? unary)*      juxtaposition is an implicit AND
//! unary   := ("NOT" | "-" | "+") unary | primary
//! primary := "(" or ")" | quoted | "CIDR(" field ("," block)+ ")"
//!          | name ":" value | word
//! value   := "(" or ")"                   the field is distributed over the group
//!          | quoted | (">" | ">=" | "<" | "<=") bound
//!          | ("[" | "{") bound "TO" bound ("]" | "}") | word
//! ```
//!
//! # Precedence
//!
//! `NOT` (and `-`) binds tightest, then `AND` (explicit or implicit), then
//! `OR`: `a OR b c` is `a OR (b AND c)`, `a b OR c` is `(a AND b) OR c`,
//! `NOT a b` is `(NOT a) AND b`. This is the usual boolean precedence and
//! what Datadog users expect; Lucene's own `QueryParser` has no real
//! precedence and Vector's pest grammar folds clauses left to right, so
//! neither is followed exactly. Parenthesise when in doubt.
//!
//! # Words and escapes
//!
//! A word runs until whitespace, `(`, `)` or a quote (`"`, `“`, `”`). A
//! backslash makes the next character literal, whatever it is (`\*` is a
//! literal star, `hello\ world` one word, `\:` no field separator); a
//! trailing lone backslash is an error. Inside a word the other special
//! characters of the reference (`= ! ^ ~ & | < > [ ] { } #`) are plain text:
//! `[ERROR]`, `a=b` and `foo-bar` are ordinary free-text words. A `-` or `+`
//! negates/requires only at the start of a clause; a lone `-` or `+`
//! (followed by whitespace or the end) is the word `-`/`+`. Inside a field
//! group a `-` directly followed by a digit is a negative number
//! (`@n:(-1 OR 1)`), not a negation.
//!
//! `AND`, `OR`, `NOT` are operators only in upper case and only as whole,
//! unescaped words not followed by `:` (`and`, `\AND`, `NOT:x` are words or
//! tags).
//!
//! # Fields and values
//!
//! The first unescaped `:` of a word splits field and value. `@path` is an
//! attribute, `*` every attribute ([`Field::AnyAttribute`]), `service host
//! status source trace_id message tags` the reserved fields (case-sensitive),
//! anything else a tag key. Later colons belong to the value
//! (`@ip:2001:db8::1`). The value must follow the colon directly; `a:` and
//! `a: b` are errors, as are `:b` (no name), `@:b` and `#name` (calculated
//! fields are not supported; escape the `#` to search for it). A value with
//! an unescaped `*` or `?` is a [`Predicate::Wildcard`]; a value that is just
//! `*` is [`Predicate::Exists`] and a free-text `*` is [`Query::MatchAll`].
//! Range bounds and comparison values keep `*` literal except a bound that is
//! exactly `*`, which is open. `TO` must be upper case.
//!
//! `CIDR(field, block, ...)` takes one or more blocks `addr/len` (a bare
//! address is a single host); a bad address or length is an error. Host bits
//! set in the address are cleared.
//!
//! # Normalisation
//!
//! Nested `And`/`Or` are flattened, one-element ones unwrapped, `MatchAll` is
//! dropped from an `And` and absorbs an `Or`; `Not(MatchAll)` stays. Nesting
//! of groups and negations is limited to [`MAX_DEPTH`]; the length of the
//! input is the caller's business. No input makes the parser panic.

use std::net::IpAddr;

use crate::ast::{CidrBlock, CompareOp, Field, Pattern, PatternPart, Predicate, Query};

/// How deep groups and negations may nest.
pub const MAX_DEPTH: usize = 64;

/// A syntax error: where, what was expected, what was there instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at position {position}: expected {expected}, found {found}")]
pub struct ParseError {
    /// 0-based character (not byte) offset into the query.
    pub position: usize,
    /// What the parser wanted there.
    pub expected: String,
    /// What it found: a quoted character or word, or `end of query`.
    pub found: String,
}

/// Parses a Datadog log search query. An empty or blank query is
/// [`Query::MatchAll`].
pub fn parse(input: &str) -> Result<Query, ParseError> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    if parser.peek().is_none() {
        return Ok(Query::MatchAll);
    }
    let query = parser.parse_or(None)?;
    parser.skip_ws();
    if parser.peek().is_some() {
        return Err(parser.error(parser.pos, "end of query"));
    }
    Ok(query)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    And,
    Or,
    Not,
}

impl Keyword {
    fn text(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
        }
    }
}

/// One character of a scanned word and whether it was escaped.
type WordChar = (char, bool);

#[derive(Debug)]
struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '“' | '”')
}

/// Characters that end a word (besides `:` for field names and the extra
/// stops of range bounds and CIDR arguments).
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')') || is_quote(c)
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, at: usize) -> Option<char> {
        self.chars.get(at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn describe(&self, at: usize) -> String {
        match self.peek_at(at) {
            None => "end of query".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn error(&self, at: usize, expected: impl Into<String>) -> ParseError {
        ParseError {
            position: at,
            expected: expected.into(),
            found: self.describe(at),
        }
    }

    fn error_found(&self, at: usize, expected: impl Into<String>, found: String) -> ParseError {
        ParseError {
            position: at,
            expected: expected.into(),
            found,
        }
    }

    /// Counts one more level of nesting, failing past [`MAX_DEPTH`].
    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                at,
                format!("at most {MAX_DEPTH} nested groups and negations"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn starts_with(&self, at: usize, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(at + i) == Some(c))
    }

    /// The operator keyword at `at`, if a whole unescaped `AND`/`OR`/`NOT`
    /// stands there.
    fn keyword_at(&self, at: usize) -> Option<Keyword> {
        [Keyword::And, Keyword::Or, Keyword::Not]
            .into_iter()
            .find(|kw| {
                let text = kw.text();
                self.starts_with(at, text) && self.peek_at(at + text.len()).is_none_or(ends_word)
            })
    }

    fn parse_or(&mut self, field: Option<&Field>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_and(field)?];
        loop {
            self.skip_ws();
            if self.keyword_at(self.pos) != Some(Keyword::Or) {
                break;
            }
            self.pos += Keyword::Or.text().len();
            items.push(self.parse_and(field)?);
        }
        Ok(make_or(items))
    }

    fn parse_and(&mut self, field: Option<&Field>) -> Result<Query, ParseError> {
        let mut items = vec![self.parse_unary(field)?];
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(')') => break,
                Some(_) => {}
            }
            match self.keyword_at(self.pos) {
                Some(Keyword::Or) => break,
                Some(Keyword::And) => {
                    self.pos += Keyword::And.text().len();
                    items.push(self.parse_unary(field)?);
                }
                _ => items.push(self.parse_unary(field)?),
            }
        }
        Ok(make_and(items))
    }

    fn parse_unary(&mut self, field: Option<&Field>) -> Result<Query, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error(start, "a search term"));
        };
        match self.keyword_at(start) {
            Some(Keyword::Not) => {
                self.enter(start)?;
                self.pos += Keyword::Not.text().len();
                let inner = self.parse_unary(field)?;
                self.leave();
                return Ok(Query::Not(Box::new(inner)));
            }
            Some(kw) => {
                return Err(self.error_found(start, "a search term", format!("'{}'", kw.text())))
            }
            None => {}
        }
        if c == '-' || c == '+' {
            let next = self.peek_at(start + 1);
            let lone = next.is_none_or(char::is_whitespace);
            let negative_number =
                field.is_some() && c == '-' && next.is_some_and(|n| n.is_ascii_digit());
            if !lone && !negative_number {
                self.enter(start)?;
                self.pos += 1;
                let inner = self.parse_unary(field)?;
                self.leave();
                return Ok(if c == '-' {
                    Query::Not(Box::new(inner))
                } else {
                    inner
                });
            }
        }
        self.parse_primary(field)
    }

    fn parse_primary(&mut self, field: Option<&Field>) -> Result<Query, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some('(') => self.parse_group(field),
            Some(')') | None => Err(self.error(start, "a search term")),
            Some(q) if is_quote(q) => {
                let text = self.scan_quoted()?;
                let field = field.cloned().unwrap_or(Field::Default);
                Ok(Query::Match {
                    field,
                    predicate: Predicate::Phrase(text),
                })
            }
            Some(_) => match field {
                Some(field) => self.parse_value(field.clone()),
                None => self.parse_term_or_field(),
            },
        }
    }

    /// `( or )`, with `field` (if any) applying to every value inside.
    fn parse_group(&mut self, field: Option<&Field>) -> Result<Query, ParseError> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        self.skip_ws();
        let query = self.parse_or(field)?;
        self.skip_ws();
        if self.peek() != Some(')') {
            return Err(self.error(self.pos, format!("')' closing the '(' at position {open}")));
        }
        self.pos += 1;
        self.leave();
        Ok(query)
    }

    /// A free-text word, `name:value`, `CIDR(...)`, outside a field group.
    fn parse_term_or_field(&mut self) -> Result<Query, ParseError> {
        let start = self.pos;
        if self.peek() == Some('#') {
            let raw: String = self.chars[start..]
                .iter()
                .take_while(|&&c| !ends_word(c) && c != ':')
                .collect();
            return Err(self.error_found(
                start,
                "a search term (calculated fields such as #name are not supported)",
                format!("'{raw}'"),
            ));
        }
        if self.starts_with(start, "CIDR(") {
            return self.parse_cidr();
        }
        let (word, at_colon) = self.scan_word(true, &[])?;
        if !at_colon {
            return Ok(free_text(word));
        }
        let colon = self.pos;
        if word.is_empty() {
            return Err(self.error(colon, "a field name before ':'"));
        }
        let field = self.resolve_field(&word, start)?;
        self.pos += 1;
        match self.peek() {
            Some('(') => self.parse_group(Some(&field)),
            Some(q) if is_quote(q) => {
                let text = self.scan_quoted()?;
                Ok(Query::Match {
                    field,
                    predicate: Predicate::Phrase(text),
                })
            }
            Some(c) if !ends_word(c) => self.parse_value(field),
            _ => Err(self.error(self.pos, "a value after ':'")),
        }
    }

    fn resolve_field(&self, word: &[WordChar], start: usize) -> Result<Field, ParseError> {
        let text: String = word.iter().map(|&(c, _)| c).collect();
        match word.first() {
            Some(('@', false)) => {
                if word.len() == 1 {
                    return Err(self.error(start + 1, "an attribute name after '@'"));
                }
                Ok(Field::Attribute(text.chars().skip(1).collect()))
            }
            Some(('*', false)) if word.len() == 1 => Ok(Field::AnyAttribute),
            _ => Ok(match text.as_str() {
                "service" => Field::Service,
                "host" => Field::Host,
                "status" => Field::Status,
                "source" => Field::Source,
                "trace_id" => Field::TraceId,
                "message" => Field::Message,
                "tags" => Field::Tags,
                _ => Field::Tag(text),
            }),
        }
    }

    /// A field value (after `name:` or inside a field group), not a group
    /// or a quoted phrase.
    fn parse_value(&mut self, field: Field) -> Result<Query, ParseError> {
        let start = self.pos;
        let predicate = match self.peek() {
            Some(c @ ('>' | '<')) => {
                self.pos += 1;
                let or_equal = self.peek() == Some('=');
                if or_equal {
                    self.pos += 1;
                }
                let op = match (c, or_equal) {
                    ('>', false) => CompareOp::Gt,
                    ('>', true) => CompareOp::Ge,
                    ('<', false) => CompareOp::Lt,
                    _ => CompareOp::Le,
                };
                let value_start = self.pos;
                let Some(value) = self.parse_bound(&[])? else {
                    return Err(self.error(value_start, "a value to compare with"));
                };
                Predicate::Compare { op, value }
            }
            Some(c @ ('[' | '{')) => {
                self.pos += 1;
                self.skip_ws();
                let lower = self.parse_bound(&[']', '}'])?.map(|v| (v, c == '['));
                self.skip_ws();
                let after_to = self.peek_at(self.pos + 2);
                if !(self.starts_with(self.pos, "TO")
                    && after_to.is_none_or(|c| c.is_whitespace() || c == ']' || c == '}'))
                {
                    return Err(self.error(self.pos, "'TO' in the range"));
                }
                self.pos += 2;
                self.skip_ws();
                let upper_bound = self.parse_bound(&[']', '}'])?;
                self.skip_ws();
                let inclusive = match self.peek() {
                    Some(']') => true,
                    Some('}') => false,
                    _ => {
                        return Err(self.error(
                            self.pos,
                            format!("']' or '}}' closing the range at position {start}"),
                        ))
                    }
                };
                self.pos += 1;
                Predicate::Range {
                    lower,
                    upper: upper_bound.map(|v| (v, inclusive)),
                }
            }
            _ => {
                let (word, _) = self.scan_word(false, &[])?;
                if word.is_empty() {
                    return Err(self.error(start, "a value"));
                }
                match word_predicate(word) {
                    Some(predicate) => predicate,
                    None => Predicate::Exists,
                }
            }
        };
        Ok(Query::Match { field, predicate })
    }

    /// A range bound or comparison value: quoted, a word, or `*` (open,
    /// `None`).
    fn parse_bound(&mut self, stops: &[char]) -> Result<Option<String>, ParseError> {
        let start = self.pos;
        if self.peek().is_some_and(is_quote) {
            return self.scan_quoted().map(Some);
        }
        let (word, _) = self.scan_word(false, stops)?;
        if word.is_empty() {
            return Err(self.error(start, "a value"));
        }
        if word == [('*', false)] {
            return Ok(None);
        }
        let text: String = word.iter().map(|&(c, _)| c).collect();
        Ok(Some(duration_ns(&text).unwrap_or(text)))
    }

    /// `CIDR(field, block, ...)`; the position is at `CIDR(`.
    fn parse_cidr(&mut self) -> Result<Query, ParseError> {
        let open = self.pos + 4;
        self.pos += 5;
        self.skip_ws();
        let name_start = self.pos;
        let (word, _) = self.scan_word(false, &[','])?;
        if word.is_empty() {
            return Err(self.error(name_start, "a field name in CIDR(...)"));
        }
        let field = self.resolve_field(&word, name_start)?;
        let mut blocks = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                    let block_start = self.pos;
                    let (word, _) = self.scan_word(false, &[','])?;
                    let text: String = word.iter().map(|&(c, _)| c).collect();
                    let expected = "a CIDR block such as 10.0.0.0/8 or 2001:db8::/32";
                    if text.is_empty() {
                        return Err(self.error(block_start, expected));
                    }
                    match parse_cidr_block(&text) {
                        Some(block) => blocks.push(block),
                        None => {
                            return Err(self.error_found(
                                block_start,
                                expected,
                                format!("'{text}'"),
                            ))
                        }
                    }
                }
                Some(')') if !blocks.is_empty() => {
                    self.pos += 1;
                    return Ok(Query::Cidr { field, blocks });
                }
                _ => {
                    let expected = if blocks.is_empty() {
                        "',' and a CIDR block".to_string()
                    } else {
                        format!("',' or ')' closing the '(' at position {open}")
                    };
                    return Err(self.error(self.pos, expected));
                }
            }
        }
    }

    /// Scans a word up to whitespace, a parenthesis, a quote, one of `stops`
    /// or (with `stop_at_colon`) an unescaped `:`, resolving escapes. Returns
    /// the characters and whether it stopped at a colon.
    fn scan_word(
        &mut self,
        stop_at_colon: bool,
        stops: &[char],
    ) -> Result<(Vec<WordChar>, bool), ParseError> {
        let mut word = Vec::new();
        while let Some(c) = self.peek() {
            if ends_word(c) || stops.contains(&c) {
                break;
            }
            if c == ':' && stop_at_colon {
                return Ok((word, true));
            }
            if c == '\\' {
                let Some(escaped) = self.peek_at(self.pos + 1) else {
                    return Err(self.error(self.pos + 1, "a character after '\\'"));
                };
                word.push((escaped, true));
                self.pos += 2;
            } else {
                word.push((c, false));
                self.pos += 1;
            }
        }
        Ok((word, false))
    }

    /// A quoted phrase starting at the current quote; `\` escapes any
    /// character inside.
    fn scan_quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        let close = match self.peek() {
            Some('“') => '”',
            Some(c) => c,
            None => '"',
        };
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(
                        self.pos,
                        format!("'{close}' closing the quote at position {open}"),
                    ))
                }
                Some('\\') => {
                    let Some(escaped) = self.peek_at(self.pos + 1) else {
                        return Err(self.error(self.pos + 1, "a character after '\\'"));
                    };
                    text.push(escaped);
                    self.pos += 2;
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

/// A free-text word: `*` alone is every event.
/// A duration with a unit (`1s`, `250ms`, `1.5h`) as integer nanoseconds,
/// the unit of span durations (`@duration:>1s`), as Datadog's search does for
/// duration measures. `None` for anything else, which compares as written.
fn duration_ns(text: &str) -> Option<String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3_600e9,
        "d" => 86_400e9,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    let ns = value * scale;
    (ns.is_finite() && ns < 9.2e18).then(|| format!("{}", ns.round() as i64))
}

fn free_text(word: Vec<WordChar>) -> Query {
    match word_predicate(word) {
        Some(predicate) => Query::Match {
            field: Field::Default,
            predicate,
        },
        None => Query::MatchAll,
    }
}

/// `Term` or `Wildcard` for a non-empty word; `None` when the word is only
/// unescaped stars.
fn word_predicate(word: Vec<WordChar>) -> Option<Predicate> {
    if !word.iter().any(|&(c, esc)| !esc && (c == '*' || c == '?')) {
        return Some(Predicate::Term(word.into_iter().map(|(c, _)| c).collect()));
    }
    let mut parts: Vec<PatternPart> = Vec::new();
    for (c, escaped) in word {
        match (c, escaped) {
            ('*', false) => {
                if parts.last() != Some(&PatternPart::Star) {
                    parts.push(PatternPart::Star);
                }
            }
            ('?', false) => parts.push(PatternPart::Question),
            _ => match parts.last_mut() {
                Some(PatternPart::Literal(text)) => text.push(c),
                _ => parts.push(PatternPart::Literal(c.to_string())),
            },
        }
    }
    if parts == [PatternPart::Star] {
        return None;
    }
    Some(Predicate::Wildcard(Pattern(parts)))
}

/// `addr/len` or a bare address; host bits are cleared.
fn parse_cidr_block(text: &str) -> Option<CidrBlock> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(len) => {
            if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            len.parse::<u8>().ok().filter(|&n| n <= max)?
        }
    };
    let addr = match addr {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    };
    Some(CidrBlock { addr, prefix })
}

fn make_and(items: Vec<Query>) -> Query {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Query::And(inner) => out.extend(inner),
            Query::MatchAll => {}
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Query::MatchAll,
        1 => out.pop().unwrap_or(Query::MatchAll),
        _ => Query::And(out),
    }
}

fn make_or(items: Vec<Query>) -> Query {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Query::Or(inner) => out.extend(inner),
            Query::MatchAll => return Query::MatchAll,
            other => out.push(other),
        }
    }
    match out.len() {
        0 => Query::MatchAll,
        1 => out.pop().unwrap_or(Query::MatchAll),
        _ => Query::Or(out),
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
