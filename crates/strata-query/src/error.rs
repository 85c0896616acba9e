//! Query errors.

use crate::parse::ParseError;
use crate::time::TimeError;

/// Why a query was refused or failed. [`QueryError::is_client_error`] tells
/// the caller whether it is the request's fault (a 4xx) or the node's (5xx).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The search query does not parse.
    #[error("invalid query: {0}")]
    Syntax(#[from] ParseError),
    /// A `from`/`to`/interval value does not parse.
    #[error("{0}")]
    Time(#[from] TimeError),
    /// Some other part of the request is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The tenant already runs its limit of concurrent queries.
    #[error("too many concurrent queries for this tenant (limit {0}); retry later")]
    TooBusy(usize),
    /// SQL planning or execution failed because of the statement.
    #[error("sql: {0}")]
    Sql(String),
    /// Reading stored data failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A bug or a failed task.
    #[error("internal: {0}")]
    Internal(String),
}

impl QueryError {
    /// Whether the request is at fault (HTTP 4xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            QueryError::Syntax(_)
                | QueryError::Time(_)
                | QueryError::BadRequest(_)
                | QueryError::TooBusy(_)
                | QueryError::Sql(_)
        )
    }
}
