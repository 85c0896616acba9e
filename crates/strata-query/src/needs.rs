//! Which segment columns a query reads, so a scan decodes only those
//! (Parquet projection): counting by status per minute reads `timestamp` and
//! `status`, not the messages.

use std::collections::BTreeSet;

use arrow_schema::Schema;
use strata_segment::columns;

use crate::{Field, Query};

/// The columns a scan must decode. `timestamp` always is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Every column (search pages render whole events; `*:term`).
    all: bool,
    /// Fixed columns by name.
    fixed: BTreeSet<&'static str>,
    /// Attribute paths (without `@`): their columns, the columns of their
    /// dotted prefixes, and `_overflow`.
    paths: BTreeSet<String>,
}

impl Needs {
    /// Every column.
    pub(crate) fn all() -> Needs {
        Needs {
            all: true,
            ..Needs::default()
        }
    }

    /// Adds the columns `query` looks at.
    pub(crate) fn add_query(&mut self, query: &Query) {
        match query {
            Query::MatchAll => {}
            Query::And(parts) | Query::Or(parts) => parts.iter().for_each(|q| self.add_query(q)),
            Query::Not(inner) => self.add_query(inner),
            Query::Match { field, .. } | Query::Cidr { field, .. } => self.add_field(field),
        }
    }

    /// Adds the columns `field` is read from.
    pub(crate) fn add_field(&mut self, field: &Field) {
        match field {
            Field::Default | Field::Message => self.add_fixed(columns::MESSAGE),
            Field::Service => self.add_fixed(columns::SERVICE),
            Field::Host => self.add_fixed(columns::HOST),
            Field::Status => self.add_fixed(columns::STATUS),
            Field::Source => self.add_fixed(columns::SOURCE),
            Field::TraceId => self.add_fixed(columns::TRACE_ID),
            Field::Tags | Field::Tag(_) => self.add_fixed(columns::TAGS),
            Field::Attribute(path) => {
                self.paths.insert(path.clone());
            }
            Field::AnyAttribute => self.all = true,
        }
    }

    /// Adds a facet named like an aggregation facet (`service`, `@a.b`, a tag key).
    pub(crate) fn add_facet(&mut self, name: &str) {
        let field = match name {
            "service" => Field::Service,
            "host" => Field::Host,
            "status" => Field::Status,
            "source" => Field::Source,
            "trace_id" => Field::TraceId,
            "message" => Field::Message,
            other => match other.strip_prefix('@') {
                Some(path) => Field::Attribute(path.to_string()),
                None => Field::Tag(other.to_string()),
            },
        };
        self.add_field(&field);
    }

    /// Adds a column by its segment name (`service`, `@a.b`, `_overflow`).
    pub(crate) fn add_column(&mut self, name: &str) {
        match name.strip_prefix(columns::ATTRIBUTE_PREFIX) {
            Some(path) => {
                self.paths.insert(path.to_string());
            }
            None => {
                if let Some(fixed) = FIXED.iter().find(|f| **f == name) {
                    self.fixed.insert(fixed);
                }
            }
        }
    }

    /// Adds the `id` column (search pages key rows by `(timestamp, id)`).
    pub(crate) fn add_id(&mut self) {
        self.add_fixed(columns::ID);
    }

    fn add_fixed(&mut self, name: &'static str) {
        self.fixed.insert(name);
    }

    /// Whether every column is needed.
    pub(crate) fn is_all(&self) -> bool {
        self.all
    }

    /// Indices of the root columns of `schema` (a segment's) to decode.
    pub(crate) fn roots(&self, schema: &Schema) -> Vec<usize> {
        let mut out = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            let name = field.name().as_str();
            let wanted = self.all
                || name == columns::TIMESTAMP
                || self.fixed.contains(name)
                || (name == columns::OVERFLOW && !self.paths.is_empty())
                || name
                    .strip_prefix(columns::ATTRIBUTE_PREFIX)
                    .is_some_and(|column| self.paths.iter().any(|p| related(column, p)));
            if wanted {
                out.push(index);
            }
        }
        out
    }
}

/// Whether column path `column` can hold values of `path` or tell whether it
/// exists: the same path, a dotted prefix of it (JSON stored under `a`
/// answers `@a.b`), or a path below it (`a.b` makes `@a:*` true).
fn related(column: &str, path: &str) -> bool {
    let below = |long: &str, short: &str| {
        long.len() > short.len() && long.starts_with(short) && long.as_bytes()[short.len()] == b'.'
    };
    column == path || below(path, column) || below(column, path)
}

const FIXED: [&str; 10] = [
    columns::ID,
    columns::TIMESTAMP,
    columns::STATUS,
    columns::SERVICE,
    columns::HOST,
    columns::SOURCE,
    columns::TRACE_ID,
    columns::MESSAGE,
    columns::TAGS,
    columns::OVERFLOW,
];

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{DataType, Field as ArrowField};

    fn schema(names: &[&str]) -> Schema {
        Schema::new(
            names
                .iter()
                .map(|n| ArrowField::new(*n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn picks_only_what_the_query_reads() {
        let s = schema(&[
            "id",
            "timestamp",
            "status",
            "service",
            "message",
            "tags",
            "@http.status_code",
            "@usr",
            "@other",
            "_overflow",
        ]);
        let mut needs = Needs::default();
        needs.add_query(&crate::parse("status:error @usr.id:42").unwrap());
        assert_eq!(needs.roots(&s), vec![1, 2, 7, 9]);
        let mut needs = Needs::default();
        needs.add_facet("service");
        assert_eq!(needs.roots(&s), vec![1, 3]);
        let mut needs = Needs::default();
        needs.add_query(&crate::parse("*:x").unwrap());
        assert_eq!(needs.roots(&s).len(), 10);
        assert_eq!(Needs::all().roots(&s).len(), 10);
    }
}
