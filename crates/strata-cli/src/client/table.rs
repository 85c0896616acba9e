//! Aligned text tables and the cell formatting the client commands share.
//!
//! Widths count `char`s, not terminal cells: East Asian wide characters and
//! emoji make their row a little wider than the others.

use serde_json::Value;

/// Space between two columns.
const SEPARATOR: &str = "  ";
/// With a line width limit, the widest a column other than the last may be.
const MAX_CELL: usize = 40;
/// With a line width limit, the last column keeps at least this many chars
/// even when the line then overflows.
const MIN_LAST: usize = 10;

/// A table of text cells, printed with the columns aligned.
#[derive(Debug)]
pub(super) struct Table {
    headers: Vec<String>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Table {
        let headers: Vec<String> = headers.into_iter().map(|h| one_line(&h.into())).collect();
        let right_aligned = vec![false; headers.len()];
        Table {
            headers,
            right_aligned,
            rows: Vec::new(),
        }
    }

    /// Numbers read best aligned to the right.
    pub(super) fn align_right(&mut self, column: usize) {
        if let Some(flag) = self.right_aligned.get_mut(column) {
            *flag = true;
        }
    }

    /// Adds a row; cells become one line each, a short row is padded with
    /// empty cells and extra cells are dropped.
    pub(super) fn push(&mut self, row: Vec<String>) {
        let mut cells: Vec<String> = row.iter().map(|cell| one_line(cell)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The header line and one line per row, each ending in `\n`.
    ///
    /// With `max_width`, every column but the last is capped at `MAX_CELL`
    /// chars and the last one is cut so that a line fits in `max_width`
    /// (cut cells end in `…`). Without it nothing is cut.
    pub(super) fn render(&self, max_width: Option<usize>) -> String {
        let widths = self.column_widths(max_width);
        let mut out = String::new();
        self.render_line(&self.headers, &widths, &mut out);
        for row in &self.rows {
            self.render_line(row, &widths, &mut out);
        }
        out
    }

    fn column_widths(&self, max_width: Option<usize>) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let Some(max_width) = max_width else {
            return widths;
        };
        let Some((last, others)) = widths.split_last_mut() else {
            return widths;
        };
        let mut used = 0;
        for width in others.iter_mut() {
            *width = (*width).min(MAX_CELL);
            used += *width + SEPARATOR.len();
        }
        let room = max_width.saturating_sub(used).max(MIN_LAST);
        *last = (*last).min(room);
        widths
    }

    fn render_line(&self, cells: &[String], widths: &[usize], out: &mut String) {
        let mut line = String::new();
        let last = cells.len().saturating_sub(1);
        for (index, ((cell, &width), &right)) in cells
            .iter()
            .zip(widths)
            .zip(&self.right_aligned)
            .enumerate()
        {
            if index > 0 {
                line.push_str(SEPARATOR);
            }
            let cell = truncate(cell, width);
            let padding = width.saturating_sub(cell.chars().count());
            if right {
                line.extend(std::iter::repeat_n(' ', padding));
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                if index != last {
                    line.extend(std::iter::repeat_n(' ', padding));
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// `text` cut to `max` chars, the last one replaced by `…` when cut.
pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Newlines, tabs and other control characters (a log message may carry
/// terminal escape sequences) become spaces, so that a value is one line.
pub(super) fn one_line(text: &str) -> String {
    let text = text.replace("\r\n", " ");
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A JSON value as cell text: strings without quotes, `null` as `absent`.
pub(super) fn value_text(value: &Value, absent: &str) -> String {
    match value {
        Value::Null => absent.to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A computed measure as cell text: integers as they are, other numbers
/// rounded to 3 decimals (or in scientific notation when that leaves
/// nothing), `null` as `-`.
pub(super) fn measure_text(value: &Value) -> String {
    let Value::Number(number) = value else {
        return value_text(value, "-");
    };
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    let Some(x) = number.as_f64() else {
        return number.to_string();
    };
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let fixed = format!("{x:.3}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "0" || trimmed == "-0" {
        return format!("{x:.3e}");
    }
    trimmed.to_string()
}

/// Whether a cell holds a number, to align its column to the right.
pub(super) fn is_number(value: &Value) -> bool {
    value.is_number()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn columns_are_aligned() {
        let mut table = Table::new(["service", "count"]);
        table.align_right(1);
        table.push(vec!["web".into(), "12".into()]);
        table.push(vec!["checkout-api".into(), "3".into()]);
        assert_eq!(
            table.render(None),
            "service       count\n\
             web              12\n\
             checkout-api      3\n"
        );
    }

    #[test]
    fn the_last_column_is_cut_to_the_line_width() {
        let mut table = Table::new(["A", "MESSAGE"]);
        table.push(vec!["x".into(), "a".repeat(100)]);
        let text = table.render(Some(20));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A  MESSAGE");
        assert_eq!(lines[1].chars().count(), 20);
        assert!(lines[1].ends_with("aaaa…"));
        // Without a limit nothing is cut.
        assert!(table.render(None).contains(&"a".repeat(100)));
    }

    #[test]
    fn wide_columns_are_capped_and_the_last_keeps_a_minimum() {
        let mut table = Table::new(["HOST", "MESSAGE"]);
        table.push(vec!["h".repeat(60), "hello world, this is long".into()]);
        let text = table.render(Some(30));
        let row = text.lines().nth(1).unwrap();
        let host: String = row.chars().take_while(|c| *c == 'h').collect();
        assert_eq!(host.chars().count(), MAX_CELL - 1);
        assert!(row.ends_with("hello wor…"));
    }

    #[test]
    fn cells_are_one_line_and_rows_are_padded() {
        let mut table = Table::new(["a", "b", "c"]);
        table.push(vec!["line1\nline2\ttab\u{1b}[31m".into()]);
        // Column a is 20 wide ("line1 line2 tab [31m"), then two spaces.
        let header = format!("a{}b  c", " ".repeat(21));
        assert_eq!(
            table.render(None),
            format!("{header}\nline1 line2 tab [31m\n")
        );
    }

    #[test]
    fn truncate_counts_chars() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo", 4), "hél…");
        assert_eq!(truncate("héllo", 1), "…");
        assert_eq!(truncate("héllo", 0), "");
    }

    #[test]
    fn measures_are_rounded() {
        assert_eq!(measure_text(&json!(12)), "12");
        assert_eq!(measure_text(&json!(-3)), "-3");
        assert_eq!(measure_text(&json!(12.0)), "12");
        assert_eq!(measure_text(&json!(1234.56789)), "1234.568");
        assert_eq!(measure_text(&json!(0.5)), "0.5");
        assert_eq!(measure_text(&json!(0.0001234)), "1.234e-4");
        assert_eq!(measure_text(&json!(null)), "-");
        assert_eq!(measure_text(&json!("web")), "web");
    }

    #[test]
    fn values_as_text() {
        assert_eq!(value_text(&json!("x"), "-"), "x");
        assert_eq!(value_text(&json!(null), "NULL"), "NULL");
        assert_eq!(value_text(&json!([1, 2]), "-"), "[1,2]");
        assert!(is_number(&json!(1.5)));
        assert!(!is_number(&json!("1.5")));
    }
}
