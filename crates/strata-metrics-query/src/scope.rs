//! The scope of a metric query (`{…}`): which series it reads.
//!
//! Grammar (Datadog's, see `DataDog/documentation`
//! `content/en/metrics/advanced-filtering.md`):
//!
//! ```text
//! scope   := '*' | or
//! or      := and (('OR' | 'or') and)*
//! and     := unary ((',' | 'AND' | 'and') unary)*
//! unary   := ('!' | 'NOT' | 'not') unary | primary
//! primary := '(' or ')' | term [('NOT' | 'not')? ('IN' | 'in') '(' value (',' value)* ')']
//! ```
//!
//! A term is a tag (`env:prod`, a bare `production`) or `*`. Values may hold
//! `*` wildcards anywhere (`web-*`, `*-trace`, `/dev/loop*`, `a*b`). The
//! symbolic form (`,` `!`) and the word form (`AND OR NOT IN`) may not be
//! mixed in one scope: that is a [`ParseError::MixedScopeSyntax`], as in
//! Datadog. (Commas inside an `IN (…)` list are list separators, not ANDs.)
//!
//! Matching is case-sensitive (Datadog lower-cases tags at intake; Strata's
//! intake decoders do the same). A series' host counts as the tag
//! `host:<host>`.

use strata_metrics::SeriesKey;

use crate::cursor::Cursor;
use crate::error::ParseError;

/// A tag pattern: the full tag text (`key:value` or bare) with `*`
/// wildcards, each matching any run of characters (including none).
#[derive(Debug, Clone)]
pub struct TagPattern {
    text: String,
    /// The text split at `*`; one part means no wildcard.
    parts: Vec<String>,
    /// For patterns starting `host:`, the parts of the pattern on the host
    /// value, so the host field is matched without building `host:<host>`.
    host_parts: Option<Vec<String>>,
}

impl TagPattern {
    /// A pattern from its text, e.g. `env:prod`, `pod_name:web-*`.
    pub fn new(text: impl Into<String>) -> TagPattern {
        let text = text.into();
        let parts = split_glob(&text);
        let host_parts = text.strip_prefix("host:").map(split_glob);
        TagPattern {
            text,
            parts,
            host_parts,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern holds no `*` (a store may then look the tag up
    /// directly in an inverted index).
    pub fn is_literal(&self) -> bool {
        self.parts.len() == 1
    }

    /// Whether `tag` matches the whole pattern.
    pub fn matches(&self, tag: &str) -> bool {
        glob_match(&self.parts, tag)
    }

    /// Whether the series' host, read as the tag `host:<host>`, matches.
    fn matches_host(&self, host: &str) -> bool {
        if host.is_empty() {
            return false;
        }
        if let Some(parts) = &self.host_parts {
            return glob_match(parts, host);
        }
        // Only a wildcard pattern whose literal head is a prefix of `host:`
        // (`*`, `ho*:a`) can still match; these are rare, so allocate.
        let head = self.parts.first().map(String::as_str).unwrap_or("");
        self.parts.len() > 1 && "host:".starts_with(head) && self.matches(&format!("host:{host}"))
    }
}

fn split_glob(text: &str) -> Vec<String> {
    text.split('*').map(str::to_string).collect()
}

/// Whether `text` matches the `*`-separated `parts` of a glob.
fn glob_match(parts: &[String], text: &str) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    let Some(mut remaining) = text.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    // Taking the leftmost occurrence of each middle part is optimal for
    // `*`-only globs, so no backtracking is needed.
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(at) => remaining = remaining.get(at + part.len()..).unwrap_or(""),
            None => return false,
        }
    }
    remaining.ends_with(last.as_str())
}

impl PartialEq for TagPattern {
    fn eq(&self, other: &TagPattern) -> bool {
        self.text == other.text
    }
}

/// The boolean structure of a scope.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeExpr {
    /// `*`: every series.
    All,
    /// Series carrying a tag that matches the pattern.
    Tag(TagPattern),
    /// Negation (`!x`, `NOT x`).
    Not(Box<ScopeExpr>),
    /// Conjunction (`a,b`, `a AND b`); at least two operands.
    And(Vec<ScopeExpr>),
    /// Disjunction (`a OR b`; `k IN (a,b)` is `Or([k:a, k:b])` and
    /// `k NOT IN (…)` is `Not(Or(…))`).
    Or(Vec<ScopeExpr>),
}

impl ScopeExpr {
    /// Shorthand for `ScopeExpr::Tag(TagPattern::new(text))`.
    pub fn tag(text: &str) -> ScopeExpr {
        ScopeExpr::Tag(TagPattern::new(text))
    }

    /// Whether a series with this key is selected.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        match self {
            ScopeExpr::All => true,
            ScopeExpr::Tag(pattern) => key_has_tag(key, pattern),
            ScopeExpr::Not(inner) => !inner.matches(key),
            ScopeExpr::And(items) => items.iter().all(|e| e.matches(key)),
            ScopeExpr::Or(items) => items.iter().any(|e| e.matches(key)),
        }
    }
}

fn key_has_tag(key: &SeriesKey, pattern: &TagPattern) -> bool {
    key.tags.iter().any(|t| pattern.matches(t)) || pattern.matches_host(&key.host)
}

/// A compiled scope: its boolean structure plus the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    expr: ScopeExpr,
    text: String,
}

impl Scope {
    /// Parses the text between the braces of `metric{…}`.
    pub fn parse(text: &str) -> Result<Scope, ParseError> {
        let mut cursor = Cursor::new(text);
        let expr = parse_body(&mut cursor)?;
        cursor.skip_ws();
        if !cursor.at_end() {
            return Err(cursor.expected("AND, OR, ',' or the end of the scope"));
        }
        Ok(Scope {
            expr,
            text: text.trim().to_string(),
        })
    }

    /// The scope that selects every series (`*`).
    pub fn all() -> Scope {
        Scope {
            expr: ScopeExpr::All,
            text: "*".to_string(),
        }
    }

    /// Whether a series with this key is selected.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.expr.matches(key)
    }

    /// The boolean structure (a store may use it to consult an index).
    pub fn expr(&self) -> &ScopeExpr {
        &self.expr
    }

    /// The scope as written, trimmed (`*`, `env:prod,!host:a`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is `*`.
    pub fn is_all(&self) -> bool {
        self.expr == ScopeExpr::All
    }
}

/// Parses a scope body up to (not including) the closing `}`; the cursor is
/// just after the `{`. Used by the query parser so errors carry positions
/// in the whole query.
pub(crate) fn parse_scope_in(cursor: &mut Cursor<'_>) -> Result<Scope, ParseError> {
    let start = cursor.pos();
    let expr = parse_body(cursor)?;
    cursor.skip_ws();
    let end = cursor.pos();
    cursor.expect('}', "AND, OR, ',' or '}' closing the scope")?;
    Ok(Scope {
        expr,
        text: cursor.slice(start, end).trim().to_string(),
    })
}

fn parse_body(cursor: &mut Cursor<'_>) -> Result<ScopeExpr, ParseError> {
    let mut parser = ScopeParser {
        cursor,
        symbolic_at: None,
        word_at: None,
    };
    parser.or()
}

/// Characters that end a term.
fn is_term_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, ',' | '(' | ')' | '{' | '}')
}

const AND: &[&str] = &["AND", "and"];
const OR: &[&str] = &["OR", "or"];
const NOT: &[&str] = &["NOT", "not"];
const IN: &[&str] = &["IN", "in"];

struct ScopeParser<'c, 'a> {
    cursor: &'c mut Cursor<'a>,
    /// Where the first `,` or `!` was seen.
    symbolic_at: Option<usize>,
    /// Where the first `AND`, `OR`, `NOT` or `IN` was seen.
    word_at: Option<usize>,
}

impl ScopeParser<'_, '_> {
    fn mark_symbolic(&mut self, pos: usize) -> Result<(), ParseError> {
        if self.word_at.is_some() {
            return Err(ParseError::MixedScopeSyntax { pos });
        }
        self.symbolic_at.get_or_insert(pos);
        Ok(())
    }

    fn mark_word(&mut self, pos: usize) -> Result<(), ParseError> {
        if self.symbolic_at.is_some() {
            return Err(ParseError::MixedScopeSyntax { pos });
        }
        self.word_at.get_or_insert(pos);
        Ok(())
    }

    fn keyword(&mut self, spellings: &[&str]) -> Result<bool, ParseError> {
        self.cursor.skip_ws();
        let pos = self.cursor.pos();
        if self.cursor.eat_keyword(spellings, is_term_char) {
            self.mark_word(pos)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn or(&mut self) -> Result<ScopeExpr, ParseError> {
        let mut items = vec![self.and()?];
        while self.keyword(OR)? {
            items.push(self.and()?);
        }
        Ok(one_or(items, ScopeExpr::Or))
    }

    fn and(&mut self) -> Result<ScopeExpr, ParseError> {
        let mut items = vec![self.unary()?];
        loop {
            self.cursor.skip_ws();
            let pos = self.cursor.pos();
            if self.cursor.eat(',') {
                self.mark_symbolic(pos)?;
            } else if !self.keyword(AND)? {
                break;
            }
            items.push(self.unary()?);
        }
        Ok(one_or(items, ScopeExpr::And))
    }

    fn unary(&mut self) -> Result<ScopeExpr, ParseError> {
        self.cursor.skip_ws();
        let pos = self.cursor.pos();
        let negated = if self.cursor.eat('!') {
            self.mark_symbolic(pos)?;
            true
        } else {
            self.keyword(NOT)?
        };
        if !negated {
            return self.primary();
        }
        self.cursor.enter()?;
        let inner = self.unary()?;
        self.cursor.leave();
        Ok(ScopeExpr::Not(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<ScopeExpr, ParseError> {
        self.cursor.skip_ws();
        if self.cursor.eat('(') {
            self.cursor.enter()?;
            let inner = self.or()?;
            self.cursor.skip_ws();
            self.cursor.expect(')', "AND, OR or ')'")?;
            self.cursor.leave();
            return Ok(inner);
        }
        let pos = self.cursor.pos();
        let term = self.term()?;
        if term == "*" {
            return Ok(ScopeExpr::All);
        }
        if self.keyword(IN)? {
            return self.in_list(pos, term);
        }
        let before_not = self.cursor.pos();
        if self.cursor.eat_keyword(NOT, is_term_char) {
            if self.keyword(IN)? {
                self.mark_word(before_not)?;
                let list = self.in_list(pos, term)?;
                return Ok(ScopeExpr::Not(Box::new(list)));
            }
            // A `NOT` that does not start `NOT IN` is not ours: give it back.
            self.cursor.reset(before_not);
        }
        Ok(ScopeExpr::tag(&term))
    }

    fn term(&mut self) -> Result<String, ParseError> {
        let pos = self.cursor.pos();
        let term = self.cursor.take_while(is_term_char);
        let is_keyword = [AND, OR, NOT, IN].iter().any(|k| k.contains(&term));
        if term.is_empty() || is_keyword || term.starts_with('!') {
            self.cursor.reset(pos);
            return Err(self.cursor.expected("a tag, '*', '!', NOT or '('"));
        }
        Ok(term.to_string())
    }

    /// `key IN (v1, v2, …)`; the cursor is after `IN`.
    fn in_list(&mut self, key_pos: usize, key: String) -> Result<ScopeExpr, ParseError> {
        if key.contains(':') {
            return Err(ParseError::Expected {
                pos: key_pos,
                expected: "a tag key without ':' before IN",
                found: format!("{key:?}"),
            });
        }
        self.cursor.skip_ws();
        self.cursor.expect('(', "'(' starting the IN list")?;
        let mut values = Vec::new();
        loop {
            self.cursor.skip_ws();
            let pos = self.cursor.pos();
            if self.cursor.peek() == Some('!') {
                // Datadog's own example of an invalid mixed query.
                return Err(ParseError::MixedScopeSyntax { pos });
            }
            let value = self.cursor.take_while(is_term_char);
            if value.is_empty() {
                return Err(self.cursor.expected("a tag value in the IN list"));
            }
            values.push(ScopeExpr::tag(&format!("{key}:{value}")));
            self.cursor.skip_ws();
            if self.cursor.eat(')') {
                return Ok(ScopeExpr::Or(values));
            }
            self.cursor.expect(',', "',' or ')' in the IN list")?;
        }
    }
}

fn one_or(mut items: Vec<ScopeExpr>, wrap: fn(Vec<ScopeExpr>) -> ScopeExpr) -> ScopeExpr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    wrap(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(host: &str, tags: &[&str]) -> SeriesKey {
        SeriesKey::new("m", host, tags.iter().map(|t| t.to_string()).collect()).unwrap()
    }

    fn sel(scope: &str, k: &SeriesKey) -> bool {
        Scope::parse(scope).unwrap().matches(k)
    }

    #[test]
    fn globs() {
        let cases = [
            ("web-*", "web-1", true),
            ("web-*", "web-", true),
            ("web-*", "api-1", false),
            ("*-trace", "x-trace", true),
            ("*-trace", "x-traces", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abc", true),
            ("a*b*c", "acb", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*", "", true),
            ("**", "x", true),
            ("x", "x", true),
            ("x", "xy", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                TagPattern::new(pattern).matches(text),
                want,
                "{pattern} vs {text}"
            );
        }
    }

    #[test]
    fn symbolic_scopes() {
        let k = key(
            "h1",
            &[
                "env:prod",
                "device:/dev/loop3",
                "production",
                "cluster:eu-trace",
            ],
        );
        assert!(sel("*", &k));
        assert!(sel("env:prod", &k));
        assert!(!sel("env:staging", &k));
        assert!(sel("env:prod,production", &k));
        assert!(!sel("env:prod,!production", &k));
        assert!(!sel("!device:/dev/loop*", &k));
        assert!(sel("cluster:*-trace", &k));
        assert!(sel("host:h1", &k));
        assert!(sel("host:h*", &k));
        assert!(sel("*ost:h1", &k));
        assert!(!sel("host:h2", &k));
        assert!(sel("env:prod, host:h1", &k));
    }

    #[test]
    fn word_scopes() {
        let k = key(
            "h1",
            &["env:prod", "location:paris", "availability-zone:us-east-1c"],
        );
        assert!(sel(
            "env:prod AND (availability-zone:us-east-1a OR availability-zone:us-east-1c)",
            &k
        ));
        assert!(sel("env:prod and location NOT IN (atlanta,seattle)", &k));
        assert!(!sel("env:prod AND location not in (atlanta, paris)", &k));
        assert!(sel("location IN (par*, rome)", &k));
        assert!(sel("NOT env:staging", &k));
        assert!(sel("not (env:staging or env:dev)", &k));
        assert!(!sel("env:staging OR NOT host:h1", &k));
    }

    #[test]
    fn mixing_forms_is_an_error() {
        for bad in [
            "env:prod AND !host:a",
            "env:prod,host:a AND x",
            "!env:prod OR x",
            "env:prod AND resource_name NOT IN (!resource_name:A, !resource_name:B)",
            "a AND b,c",
        ] {
            let err = Scope::parse(bad).unwrap_err();
            assert!(
                matches!(err, ParseError::MixedScopeSyntax { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn structure() {
        let s = Scope::parse("a:1 AND b:2 AND (c:3 OR c:4)").unwrap();
        assert_eq!(
            s.expr(),
            &ScopeExpr::And(vec![
                ScopeExpr::tag("a:1"),
                ScopeExpr::tag("b:2"),
                ScopeExpr::Or(vec![ScopeExpr::tag("c:3"), ScopeExpr::tag("c:4")]),
            ])
        );
        let s = Scope::parse("k NOT IN (x)").unwrap();
        assert_eq!(
            s.expr(),
            &ScopeExpr::Not(Box::new(ScopeExpr::Or(vec![ScopeExpr::tag("k:x")])))
        );
        assert_eq!(Scope::parse(" * ").unwrap().text(), "*");
    }

    #[test]
    fn errors_name_positions() {
        let err = Scope::parse("env:prod AND").unwrap_err();
        assert_eq!(err.position(), 12);
        let err = Scope::parse("env:a NOT b").unwrap_err();
        assert_eq!(err.position(), 6);
        let err = Scope::parse("").unwrap_err();
        assert_eq!(err.position(), 0);
        let err = Scope::parse("k:v IN (a)").unwrap_err();
        assert_eq!(err.position(), 0);
        let err = Scope::parse("k IN (a,)").unwrap_err();
        assert_eq!(err.position(), 8);
    }
}
