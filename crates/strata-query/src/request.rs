//! Pieces of Datadog's read-API request bodies that several endpoints share
//! (search, list, aggregate), as serde types. The HTTP layer deserializes
//! them; the engine's entry points resolve them (date math, defaults).

use serde::{Deserialize, Serialize};

/// Datadog's `filter` object: which events a request looks at.
///
/// Every field is optional; unknown fields are ignored. The defaults are
/// applied by whoever resolves the filter: query `*`, `from` `now-15m`, `to`
/// `now` (see [`Filter::query_or_default`] and friends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Search query in Datadog's log search syntax; `*` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Range start (inclusive): date math (`now-15m`), ISO 8601 or epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Range end (exclusive): date math (`now`), ISO 8601 or epoch ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Log indexes to read. Strata has one index per tenant: accepted and
    /// ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexes: Option<Vec<String>>,
    /// `indexes`, `online-archives` or `flex`. Strata has one tier: accepted
    /// and ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_tier: Option<String>,
}

impl Filter {
    /// Default query when `query` is absent.
    pub const DEFAULT_QUERY: &'static str = "*";
    /// Default range start when `from` is absent.
    pub const DEFAULT_FROM: &'static str = "now-15m";
    /// Default range end when `to` is absent.
    pub const DEFAULT_TO: &'static str = "now";

    /// The query, or `*`.
    pub fn query_or_default(&self) -> &str {
        self.query.as_deref().unwrap_or(Self::DEFAULT_QUERY)
    }

    /// The range start, or `now-15m`.
    pub fn from_or_default(&self) -> &str {
        self.from.as_deref().unwrap_or(Self::DEFAULT_FROM)
    }

    /// The range end, or `now`.
    pub fn to_or_default(&self) -> &str {
        self.to.as_deref().unwrap_or(Self::DEFAULT_TO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_gives_defaults_and_unknown_fields_are_ignored() {
        let filter: Filter = serde_json::from_str(r#"{"whatever":1}"#).unwrap();
        assert_eq!(filter, Filter::default());
        assert_eq!(filter.query_or_default(), "*");
        assert_eq!(filter.from_or_default(), "now-15m");
        assert_eq!(filter.to_or_default(), "now");
    }

    #[test]
    fn fields_round_trip() {
        let text = r#"{"query":"service:web","from":"now-1h","to":"now","indexes":["main"],"storage_tier":"indexes"}"#;
        let filter: Filter = serde_json::from_str(text).unwrap();
        assert_eq!(filter.query.as_deref(), Some("service:web"));
        assert_eq!(filter.indexes, Some(vec!["main".to_string()]));
        let back: Filter = serde_json::from_str(&serde_json::to_string(&filter).unwrap()).unwrap();
        assert_eq!(back, filter);
    }
}
