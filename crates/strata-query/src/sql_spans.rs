//! The `spans` SQL table (issue 6): OTLP spans are stored as events of the
//! `logs` table with `source = 'span'` (see `strata_ingest::otlp`), and this
//! view gives them span-shaped columns:
//!
//! `start` (timestamp), `trace_id`, `span_id`, `parent_id` (null for a root
//! span), `name`, `service`, `resource`, `duration` (BIGINT, nanoseconds),
//! `status` (`ok` | `error`), `kind`, `host`, `tags`, `id`, then every other
//! attribute column of `logs` (`"@http.route"`, …; null where a span does not
//! have it).
//!
//! The view is defined over the tenant's `logs` table provider, so tenant
//! isolation, time pruning (`start` bounds become `timestamp` bounds once
//! DataFusion inlines the view) and the scan budget are the logs table's.

use arrow_schema::Schema;
use strata_segment::columns;

/// Span fields kept in attributes, and the view column each becomes.
const SPAN_ATTRIBUTES: [(&str, &str, &str); 5] = [
    ("span_id", "span_id", "VARCHAR"),
    ("parent_id", "parent_id", "VARCHAR"),
    ("resource", "resource", "VARCHAR"),
    ("duration", "duration", "BIGINT"),
    ("span.kind", "kind", "VARCHAR"),
];

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The `SELECT` defining the view over a `logs` table with `schema`. A span
/// attribute the table has no column for yet (no span stored) is a typed
/// NULL, so the view always has the same leading columns.
pub(crate) fn view_sql(schema: &Schema) -> String {
    let mut select = vec![
        format!("{} AS start", quoted(columns::TIMESTAMP)),
        quoted(columns::TRACE_ID),
    ];
    let has = |name: &str| schema.fields().iter().any(|f| f.name() == name);
    for (attribute, column, kind) in SPAN_ATTRIBUTES {
        let name = format!("{}{attribute}", columns::ATTRIBUTE_PREFIX);
        if has(&name) {
            select.push(format!(
                "TRY_CAST(logs.{} AS {kind}) AS {column}",
                quoted(&name)
            ));
        } else {
            select.push(format!("CAST(NULL AS {kind}) AS {column}"));
        }
        if column == "span_id" {
            select.push(format!("{} AS name", quoted(columns::MESSAGE)));
            select.push(quoted(columns::SERVICE));
        }
    }
    for fixed in [columns::STATUS, columns::HOST, columns::TAGS, columns::ID] {
        select.push(quoted(fixed));
    }
    let span_columns: Vec<String> = SPAN_ATTRIBUTES
        .iter()
        .map(|(a, _, _)| format!("{}{a}", columns::ATTRIBUTE_PREFIX))
        .collect();
    for field in schema.fields() {
        let name = field.name();
        if name.starts_with(columns::ATTRIBUTE_PREFIX) && !span_columns.contains(name) {
            select.push(format!("logs.{}", quoted(name)));
        }
    }
    format!(
        "SELECT {} FROM logs WHERE {} = 'span'",
        select.join(", "),
        quoted(columns::SOURCE)
    )
}

#[cfg(test)]
mod tests {
    use arrow_schema::{DataType, Field};

    use super::*;

    #[test]
    fn missing_span_columns_are_typed_nulls() {
        let schema = Schema::new(vec![
            Field::new("timestamp", DataType::Utf8, false),
            Field::new("@duration", DataType::Int64, true),
            Field::new("@http.route", DataType::Utf8, true),
        ]);
        let sql = view_sql(&schema);
        assert!(
            sql.contains("TRY_CAST(logs.\"@duration\" AS BIGINT) AS duration"),
            "{sql}"
        );
        assert!(sql.contains("CAST(NULL AS VARCHAR) AS parent_id"), "{sql}");
        assert!(sql.contains(", logs.\"@http.route\""), "{sql}");
        assert!(!sql.contains("logs.\"@duration\","), "{sql}");
        assert!(
            sql.ends_with("FROM logs WHERE \"source\" = 'span'"),
            "{sql}"
        );
    }
}
