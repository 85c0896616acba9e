//! Elasticsearch `_bulk` decoder. Placeholder until the issue 6 work lands.
