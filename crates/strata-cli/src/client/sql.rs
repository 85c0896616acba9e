//! `strata sql`: `POST /api/v1/sql` and the result table.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Map, Value};

use super::http::Client;
use super::table::{is_number, value_text, Table};
use super::{warn_about_meta, SqlArgs};

const SQL_PATH: &str = "/api/v1/sql";
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// A result column: `{"name":"service","type":"Utf8"}` (Arrow type names).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    data_type: String,
}

pub(super) fn run(args: SqlArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.connect, READ_TIMEOUT)?;
    let response = client.post_json(SQL_PATH, &json!({ "query": args.sql }))?;
    warn_about_meta(&response);
    let columns = parse_columns(&response)?;
    let rows = response
        .get("rows")
        .and_then(Value::as_array)
        .with_context(|| format!("the SQL answer has no \"rows\" array: {response}"))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        let names = unique_names(&columns);
        for row in rows {
            writeln!(out, "{}", Value::Object(row_object(&names, row)))?;
        }
        out.flush()?;
        return Ok(());
    }
    out.write_all(sql_table(&columns, rows).render(None).as_bytes())?;
    out.flush()?;
    let plural = if rows.len() == 1 { "" } else { "s" };
    eprintln!("({} row{plural})", rows.len());
    Ok(())
}

fn parse_columns(response: &Value) -> anyhow::Result<Vec<Column>> {
    let items = response
        .get("columns")
        .and_then(Value::as_array)
        .with_context(|| format!("the SQL answer has no \"columns\" array: {response}"))?;
    let mut columns = Vec::with_capacity(items.len());
    for item in items {
        let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("");
        columns.push(Column {
            name: text("name").to_string(),
            data_type: text("type").to_string(),
        });
    }
    Ok(columns)
}

/// Arrow's integer, float and decimal types.
fn is_numeric_type(data_type: &str) -> bool {
    ["Int", "UInt", "Float", "Decimal"]
        .iter()
        .any(|prefix| data_type.starts_with(prefix))
}

/// The cell `index` of a row, which is normally an array (`["web",12]`).
fn cell<'a>(row: &'a Value, index: usize, name: &str) -> &'a Value {
    let found = match row {
        Value::Array(cells) => cells.get(index),
        Value::Object(fields) => fields.get(name),
        other if index == 0 => Some(other),
        _ => None,
    };
    found.unwrap_or(&Value::Null)
}

fn sql_table(columns: &[Column], rows: &[Value]) -> Table {
    let mut table = Table::new(columns.iter().map(|c| c.name.clone()));
    for (index, column) in columns.iter().enumerate() {
        // Without a type, a column of numbers (and nulls) is numeric.
        let numeric = if column.data_type.is_empty() {
            let mut values = rows.iter().map(|row| cell(row, index, &column.name));
            values.all(|v| v.is_null() || is_number(v)) && !rows.is_empty()
        } else {
            is_numeric_type(&column.data_type)
        };
        if numeric {
            table.align_right(index);
        }
    }
    for row in rows {
        let cells = columns
            .iter()
            .enumerate()
            .map(|(index, column)| value_text(cell(row, index, &column.name), "NULL"))
            .collect();
        table.push(cells);
    }
    table
}

/// Column names as JSON keys: a repeated name (`SELECT a, a`) gets `_2`,
/// `_3`, … so that no value is lost.
fn unique_names(columns: &[Column]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(columns.len());
    for column in columns {
        let mut name = column.name.clone();
        let mut suffix = 2;
        while names.contains(&name) {
            name = format!("{}_{suffix}", column.name);
            suffix += 1;
        }
        names.push(name);
    }
    names
}

fn row_object(names: &[String], row: &Value) -> Map<String, Value> {
    let mut object = Map::new();
    for (index, name) in names.iter().enumerate() {
        object.insert(name.clone(), cell(row, index, name).clone());
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response() -> Value {
        json!({
            "columns": [{"name": "service", "type": "Utf8"}, {"name": "n", "type": "Int64"},
                        {"name": "p99", "type": "Float64"}],
            "rows": [["web", 12, 250.5], ["checkout-api", 3, null]],
            "meta": {"elapsed": 3, "request_id": "r", "status": "done"}
        })
    }

    #[test]
    fn table_aligns_numbers_right_and_shows_null() {
        let response = response();
        let columns = parse_columns(&response).unwrap();
        let table = sql_table(&columns, response["rows"].as_array().unwrap());
        assert_eq!(
            table.render(None),
            "service        n    p99\n\
             web           12  250.5\n\
             checkout-api   3   NULL\n"
        );
    }

    #[test]
    fn untyped_columns_of_numbers_are_numeric() {
        let columns = vec![
            Column {
                name: "a".into(),
                data_type: String::new(),
            },
            Column {
                name: "b".into(),
                data_type: String::new(),
            },
        ];
        let rows = json!([["x", 1], ["yyy", 100]]);
        let table = sql_table(&columns, rows.as_array().unwrap());
        assert_eq!(table.render(None), "a      b\nx      1\nyyy  100\n");
    }

    #[test]
    fn json_rows_are_objects_with_unique_keys() {
        let columns = vec![
            Column {
                name: "a".into(),
                data_type: "Int64".into(),
            },
            Column {
                name: "a".into(),
                data_type: "Int64".into(),
            },
        ];
        let names = unique_names(&columns);
        assert_eq!(names, ["a", "a_2"]);
        assert_eq!(
            Value::Object(row_object(&names, &json!([1, 2]))),
            json!({"a": 1, "a_2": 2})
        );
    }

    #[test]
    fn missing_shapes_are_errors() {
        assert!(parse_columns(&json!({"rows": []})).is_err());
        assert!(parse_columns(&json!({"columns": []})).unwrap().is_empty());
        assert!(is_numeric_type("UInt64"));
        assert!(is_numeric_type("Decimal128(38, 10)"));
        assert!(!is_numeric_type("Utf8"));
        assert!(!is_numeric_type("Timestamp(Millisecond, None)"));
    }
}
