//! A byte-position cursor over the query text, shared by the expression and
//! scope parsers. Every method is total: reading past the end yields `None`
//! or an empty slice, never a panic.

use crate::error::ParseError;

/// Deepest nesting of parentheses, `!`/`NOT` and function calls accepted:
/// the parsers recurse, and an unbounded depth would overflow the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most expression nodes (operators, calls, metric queries) in one query.
/// The evaluator recurses over the expression tree, so its depth must be
/// bounded too; no real dashboard query comes near this.
pub(crate) const MAX_NODES: usize = 256;

#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    nodes: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Cursor<'a> {
        Cursor {
            src,
            pos: 0,
            depth: 0,
            nodes: 0,
        }
    }

    /// Byte offset of the next unread character.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to an earlier position (used for one-token lookahead).
    pub(crate) fn reset(&mut self, pos: usize) {
        if pos <= self.pos {
            self.pos = pos;
        }
    }

    /// The text between two byte offsets (empty if they are not valid).
    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.src.get(from..to).unwrap_or("")
    }

    /// The unread text.
    pub(crate) fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The character after the next one.
    pub(crate) fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    /// Consumes one character.
    pub(crate) fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Consumes `c` if it is next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            return true;
        }
        false
    }

    /// Consumes `c` or fails with "expected `what`".
    pub(crate) fn expect(&mut self, c: char, what: &'static str) -> Result<(), ParseError> {
        if self.eat(c) {
            return Ok(());
        }
        Err(self.expected(what))
    }

    /// Consumes characters while `keep` holds and returns them.
    pub(crate) fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.slice(start, self.pos)
    }

    /// Consumes the next word if it is exactly one of `spellings` and is not
    /// followed by another word character.
    pub(crate) fn eat_keyword(&mut self, spellings: &[&str], is_word: fn(char) -> bool) -> bool {
        let rest = self.rest();
        for spelling in spellings {
            if let Some(after) = rest.strip_prefix(spelling) {
                if !after.chars().next().is_some_and(is_word) {
                    self.pos += spelling.len();
                    return true;
                }
            }
        }
        false
    }

    /// An "expected `what`" error at the current position.
    pub(crate) fn expected(&self, what: &'static str) -> ParseError {
        ParseError::Expected {
            pos: self.pos,
            expected: what,
            found: self.found(),
        }
    }

    /// A short description of what is at the current position.
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            None => "end of query".to_string(),
            Some(_) => {
                let excerpt: String = self.rest().chars().take(12).collect();
                format!("{excerpt:?}")
            }
        }
    }

    /// Enters one nesting level, failing past [`MAX_DEPTH`].
    pub(crate) fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError::TooComplex { pos: self.pos });
        }
        self.depth += 1;
        Ok(())
    }

    /// Counts one expression node, failing past [`MAX_NODES`].
    pub(crate) fn node(&mut self) -> Result<(), ParseError> {
        if self.nodes >= MAX_NODES {
            return Err(ParseError::TooComplex { pos: self.pos });
        }
        self.nodes += 1;
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}
