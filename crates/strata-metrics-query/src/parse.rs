//! The metrics query parser.
//!
//! ```text
//! query   := expr (',' expr)*
//! expr    := product (('+' | '-') product)*
//! product := unary (('*' | '/') unary)*
//! unary   := '-' unary | atom
//! atom    := number | '(' expr ')' | call | metric
//! call    := ('abs' | 'log10' | 'cumsum' | 'diff' | 'per_second' | 'per_minute') '(' expr ')'
//!          | 'timeshift' '(' expr ',' integer ')'
//! metric  := [space_agg ':'] name '{' scope '}' clause*
//! clause  := 'by' '{' key (',' key)* '}'
//!          | '.rollup(' [agg] [','] [seconds] ')' | '.as_count()' | '.as_rate()'
//!          | '.fill(' method [',' seconds] ')' | '.weighted()'
//! ```
//!
//! The scope grammar is in [`crate::scope`]. Whitespace is allowed between
//! tokens. `.weighted()`, which Datadog's UI appends to gauge queries, is
//! accepted and ignored. Errors carry the byte offset where they were found.

use strata_metrics::is_valid_metric_name;

use crate::ast::{
    BinaryOp, Expr, Expression, Fill, FillMethod, Function, MetricQuery, Query, Rollup, RollupAgg,
    SpaceAgg, TypeModifier,
};
use crate::cursor::Cursor;
use crate::error::ParseError;
use crate::interval::MAX_TIMESTAMP_S;
use crate::scope::parse_scope_in;

/// Parses a query (one or more comma-separated expressions).
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let mut cursor = Cursor::new(query);
    let mut expressions = Vec::new();
    loop {
        cursor.skip_ws();
        let start = cursor.pos();
        let expr = sum(&mut cursor)?;
        let text = cursor.slice(start, cursor.pos()).trim().to_string();
        cursor.skip_ws();
        let more = cursor.eat(',');
        if !more && !cursor.at_end() {
            return Err(cursor.expected("an operator, ',' or the end of the query"));
        }
        if expr.metric_queries().is_empty() {
            return Err(ParseError::NoMetricQuery { pos: start });
        }
        expressions.push(Expression { expr, text });
        if !more {
            return Ok(Query { expressions });
        }
    }
}

/// Characters of metric names, function names and aggregators.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn sum(c: &mut Cursor<'_>) -> Result<Expr, ParseError> {
    let mut lhs = product(c)?;
    loop {
        c.skip_ws();
        let op = match c.peek() {
            Some('+') => BinaryOp::Add,
            Some('-') => BinaryOp::Sub,
            _ => return Ok(lhs),
        };
        c.bump();
        c.node()?;
        let rhs = product(c)?;
        lhs = Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
    }
}

fn product(c: &mut Cursor<'_>) -> Result<Expr, ParseError> {
    let mut lhs = unary(c)?;
    loop {
        c.skip_ws();
        let op = match c.peek() {
            Some('*') => BinaryOp::Mul,
            Some('/') => BinaryOp::Div,
            _ => return Ok(lhs),
        };
        c.bump();
        c.node()?;
        let rhs = unary(c)?;
        lhs = Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
    }
}

fn unary(c: &mut Cursor<'_>) -> Result<Expr, ParseError> {
    c.skip_ws();
    if !c.eat('-') {
        return atom(c);
    }
    c.enter()?;
    c.node()?;
    let inner = unary(c)?;
    c.leave();
    Ok(match inner {
        Expr::Number(x) => Expr::Number(-x),
        other => Expr::Neg(Box::new(other)),
    })
}

fn atom(c: &mut Cursor<'_>) -> Result<Expr, ParseError> {
    c.skip_ws();
    let pos = c.pos();
    match c.peek() {
        Some('(') => {
            c.bump();
            c.enter()?;
            let inner = sum(c)?;
            c.skip_ws();
            c.expect(')', "an operator or ')'")?;
            c.leave();
            Ok(inner)
        }
        Some(ch) if ch.is_ascii_digit() || ch == '.' => number(c).map(Expr::Number),
        Some(ch) if ch.is_ascii_alphabetic() => {
            c.node()?;
            let name = c.take_while(is_name_char);
            if c.eat(':') {
                let agg =
                    SpaceAgg::from_name(name).ok_or_else(|| ParseError::UnknownAggregator {
                        pos,
                        name: name.to_string(),
                    })?;
                let metric_pos = c.pos();
                let metric = c.take_while(is_name_char);
                return metric_query(c, Some(agg), metric, metric_pos).map(Expr::Metric);
            }
            if c.eat('(') {
                return call(c, pos, name);
            }
            metric_query(c, None, name, pos).map(Expr::Metric)
        }
        _ => Err(c.expected("a metric query, a number or '('")),
    }
}

fn number(c: &mut Cursor<'_>) -> Result<f64, ParseError> {
    let start = c.pos();
    c.take_while(|ch| ch.is_ascii_digit() || ch == '.');
    let has_exponent = matches!(c.peek(), Some('e' | 'E'))
        && c.peek2()
            .is_some_and(|ch| ch.is_ascii_digit() || ch == '+' || ch == '-');
    if has_exponent {
        c.bump();
        c.bump();
        c.take_while(|ch| ch.is_ascii_digit());
    }
    let text = c.slice(start, c.pos());
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => {
            c.reset(start);
            Err(c.expected("a number"))
        }
    }
}

/// `name(expr[, seconds])`; the cursor is after `(`.
fn call(c: &mut Cursor<'_>, pos: usize, name: &str) -> Result<Expr, ParseError> {
    let function = match name {
        "abs" => Function::Abs,
        "log10" => Function::Log10,
        "cumsum" => Function::Cumsum,
        "diff" => Function::Diff,
        "per_second" => Function::PerSecond,
        "per_minute" => Function::PerMinute,
        "timeshift" => Function::Timeshift(0),
        _ => {
            return Err(ParseError::UnknownFunction {
                pos,
                name: name.to_string(),
            })
        }
    };
    c.enter()?;
    c.skip_ws();
    let arg_pos = c.pos();
    let arg = sum(c)?;
    if arg.metric_queries().is_empty() {
        return Err(ParseError::NoMetricQuery { pos: arg_pos });
    }
    c.skip_ws();
    let function = if let Function::Timeshift(_) = function {
        c.expect(',', "',' and the shift in seconds")?;
        c.skip_ws();
        let shift_pos = c.pos();
        let negative = c.eat('-');
        let shift = integer(c, shift_pos, "timeshift")?;
        c.skip_ws();
        Function::Timeshift(if negative { -shift } else { shift })
    } else {
        function
    };
    c.expect(')', "')' closing the function call")?;
    c.leave();
    Ok(Expr::Call {
        function,
        arg: Box::new(arg),
    })
}

fn integer(c: &mut Cursor<'_>, pos: usize, function: &'static str) -> Result<i64, ParseError> {
    let digits = c.take_while(|ch| ch.is_ascii_digit());
    match digits.parse::<i64>() {
        Ok(value) if value <= MAX_TIMESTAMP_S => Ok(value),
        Ok(_) => Err(ParseError::InvalidArgument {
            pos,
            function,
            reason: "seconds out of range",
        }),
        Err(_) => Err(ParseError::InvalidArgument {
            pos,
            function,
            reason: "expected an integer number of seconds",
        }),
    }
}

fn metric_query(
    c: &mut Cursor<'_>,
    space_agg: Option<SpaceAgg>,
    metric: &str,
    metric_pos: usize,
) -> Result<MetricQuery, ParseError> {
    if !is_valid_metric_name(metric) {
        c.reset(metric_pos);
        return Err(c.expected("a metric name"));
    }
    c.skip_ws();
    c.expect('{', "'{' and a scope after the metric name")?;
    let scope = parse_scope_in(c)?;
    let mut query = MetricQuery {
        space_agg,
        metric: metric.to_string(),
        scope,
        group_by: Vec::new(),
        rollup: None,
        modifier: None,
        fill: None,
    };
    loop {
        c.skip_ws();
        let pos = c.pos();
        if c.eat_keyword(&["by", "BY"], is_name_char) {
            if !query.group_by.is_empty() {
                return Err(ParseError::Duplicate { pos, what: "by" });
            }
            query.group_by = group_by(c)?;
            continue;
        }
        let is_method =
            c.peek() == Some('.') && c.peek2().is_some_and(|ch| ch.is_ascii_alphabetic());
        if !is_method {
            return Ok(query);
        }
        c.bump();
        method(c, &mut query)?;
    }
}

/// `{key, …}` after `by`.
fn group_by(c: &mut Cursor<'_>) -> Result<Vec<String>, ParseError> {
    c.skip_ws();
    c.expect('{', "'{' and tag keys after 'by'")?;
    let mut keys: Vec<String> = Vec::new();
    loop {
        c.skip_ws();
        let key = c.take_while(|ch| {
            !ch.is_whitespace() && !matches!(ch, ',' | '{' | '}' | '(' | ')' | ':')
        });
        if key.is_empty() {
            return Err(c.expected("a tag key"));
        }
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
        c.skip_ws();
        if c.eat('}') {
            return Ok(keys);
        }
        c.expect(',', "',' or '}' in the group-by list")?;
    }
}

/// One argument of a `.method(…)`: a word or an integer, with its offset.
struct Arg<'a> {
    pos: usize,
    text: &'a str,
}

fn method_args<'a>(c: &mut Cursor<'a>) -> Result<Vec<Arg<'a>>, ParseError> {
    c.skip_ws();
    c.expect('(', "'(' after the function name")?;
    let mut args = Vec::new();
    c.skip_ws();
    if c.eat(')') {
        return Ok(args);
    }
    loop {
        c.skip_ws();
        let pos = c.pos();
        let text = c.take_while(|ch| is_name_char(ch) || ch == '-' || ch == '+');
        if text.is_empty() {
            return Err(c.expected("a function argument"));
        }
        args.push(Arg { pos, text });
        c.skip_ws();
        if c.eat(')') {
            return Ok(args);
        }
        c.expect(',', "',' or ')' in the argument list")?;
    }
}

fn method(c: &mut Cursor<'_>, query: &mut MetricQuery) -> Result<(), ParseError> {
    let pos = c.pos();
    let name = c.take_while(is_name_char);
    let args = method_args(c)?;
    match name {
        "rollup" => {
            if query.rollup.is_some() {
                return Err(ParseError::Duplicate {
                    pos,
                    what: "rollup",
                });
            }
            query.rollup = Some(rollup_args(pos, &args)?);
        }
        "as_count" | "as_rate" => {
            no_args(
                pos,
                &args,
                if name == "as_count" {
                    "as_count"
                } else {
                    "as_rate"
                },
            )?;
            if query.modifier.is_some() {
                return Err(ParseError::Duplicate {
                    pos,
                    what: "as_count/as_rate",
                });
            }
            query.modifier = Some(if name == "as_count" {
                TypeModifier::AsCount
            } else {
                TypeModifier::AsRate
            });
        }
        "fill" => {
            if query.fill.is_some() {
                return Err(ParseError::Duplicate { pos, what: "fill" });
            }
            query.fill = Some(fill_args(pos, &args)?);
        }
        "weighted" => no_args(pos, &args, "weighted")?,
        _ => {
            return Err(ParseError::UnknownFunction {
                pos,
                name: name.to_string(),
            })
        }
    }
    Ok(())
}

fn no_args(pos: usize, args: &[Arg<'_>], function: &'static str) -> Result<(), ParseError> {
    if args.is_empty() {
        return Ok(());
    }
    Err(ParseError::InvalidArgument {
        pos,
        function,
        reason: "takes no arguments",
    })
}

/// Seconds argument: an integer in `min..=MAX_TIMESTAMP_S`.
fn seconds_arg(arg: &Arg<'_>, function: &'static str, min: i64) -> Result<i64, ParseError> {
    match arg.text.parse::<i64>() {
        Ok(value) if (min..=MAX_TIMESTAMP_S).contains(&value) => Ok(value),
        _ => Err(ParseError::InvalidArgument {
            pos: arg.pos,
            function,
            reason: if min > 0 {
                "expected a positive integer number of seconds"
            } else {
                "expected a non-negative integer number of seconds"
            },
        }),
    }
}

fn rollup_args(pos: usize, args: &[Arg<'_>]) -> Result<Rollup, ParseError> {
    let parse_agg = |arg: &Arg<'_>| {
        RollupAgg::from_name(arg.text).ok_or(ParseError::InvalidArgument {
            pos: arg.pos,
            function: "rollup",
            reason: "expected avg, sum, min, max or count",
        })
    };
    match args {
        [only] if only.text.starts_with(|ch: char| ch.is_ascii_digit()) => Ok(Rollup {
            agg: None,
            interval_s: Some(seconds_arg(only, "rollup", 1)?),
        }),
        [agg] => Ok(Rollup {
            agg: Some(parse_agg(agg)?),
            interval_s: None,
        }),
        [agg, seconds] => Ok(Rollup {
            agg: Some(parse_agg(agg)?),
            interval_s: Some(seconds_arg(seconds, "rollup", 1)?),
        }),
        _ => Err(ParseError::InvalidArgument {
            pos,
            function: "rollup",
            reason: "expected (aggregator), (seconds) or (aggregator, seconds)",
        }),
    }
}

fn fill_args(pos: usize, args: &[Arg<'_>]) -> Result<Fill, ParseError> {
    let (method, limit) = match args {
        [method] => (method, None),
        [method, limit] => (method, Some(limit)),
        _ => {
            return Err(ParseError::InvalidArgument {
                pos,
                function: "fill",
                reason: "expected (method) or (method, seconds)",
            })
        }
    };
    let method = match method.text {
        "null" => FillMethod::Null,
        "zero" => FillMethod::Zero,
        "linear" => FillMethod::Linear,
        "last" => FillMethod::Last,
        _ => {
            return Err(ParseError::InvalidArgument {
                pos: method.pos,
                function: "fill",
                reason: "expected null, zero, linear or last",
            })
        }
    };
    let limit_s = match limit {
        Some(limit) => seconds_arg(limit, "fill", 0)?,
        None => Fill::DEFAULT_LIMIT_S,
    };
    Ok(Fill { method, limit_s })
}

#[cfg(test)]
mod tests;
