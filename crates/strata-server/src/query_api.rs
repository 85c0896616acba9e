//! The read API: Datadog log search (`POST /api/v2/logs/events/search`,
//! `GET /api/v2/logs/events`), analytics (`POST /api/v2/logs/analytics/aggregate`),
//! SQL (`POST /api/v1/sql`) and live tail (`GET /api/v2/logs/tail`).
//!
//! Reads need both `DD-API-KEY` and `DD-APPLICATION-KEY`, of the same tenant;
//! the tenant comes from the keys, never from the request. Errors are
//! `{"errors":["…"]}` like Datadog's query APIs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use strata_metastore::KeyKind;
use strata_query::aggregate::AggregateRequest;
use strata_query::request::Filter;
use strata_query::search::MAX_PAGE_LIMIT;
use strata_query::{Cursor, Engine, QueryError, SearchParams};
use strata_types::Event;

use crate::state::{now_ms, AppState};

/// An error answer of the read API: `{"errors":["…"]}`.
#[derive(Debug)]
pub(crate) struct ReadError {
    status: StatusCode,
    message: String,
}

impl ReadError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ReadError {
        ReadError {
            status,
            message: message.into(),
        }
    }
}

impl From<QueryError> for ReadError {
    fn from(error: QueryError) -> ReadError {
        let status = match &error {
            QueryError::TooBusy(_) => StatusCode::TOO_MANY_REQUESTS,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(%error, "query failed");
        }
        ReadError::new(status, error.to_string())
    }
}

impl IntoResponse for ReadError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"errors": [self.message]}))).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The tenant both keys belong to.
pub(crate) fn authenticate_read(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<String, ReadError> {
    let forbidden = |m: &str| ReadError::new(StatusCode::FORBIDDEN, m);
    let api =
        header(headers, "dd-api-key").ok_or_else(|| forbidden("missing DD-API-KEY header"))?;
    let app = header(headers, "dd-application-key").ok_or_else(|| {
        forbidden("missing DD-APPLICATION-KEY header (reads need an application key)")
    })?;
    let ring = state.keyring();
    let api = ring
        .authenticate(api, KeyKind::Api)
        .ok_or_else(|| forbidden("invalid or revoked API key"))?;
    let app = ring
        .authenticate(app, KeyKind::App)
        .ok_or_else(|| forbidden("invalid or revoked application key"))?;
    if api.tenant != app.tenant {
        return Err(forbidden(
            "the API key and the application key belong to different tenants",
        ));
    }
    Ok(api.tenant)
}

fn engine(state: &AppState) -> Result<Arc<Engine>, ReadError> {
    state
        .core
        .get()
        .map(|core| Arc::clone(&core.engine))
        .ok_or_else(|| {
            ReadError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is recovering its write-ahead log; retry shortly",
            )
        })
}

/// One log in the search response shape.
pub(crate) fn log_json(id: &str, event: &Event) -> Value {
    let mut tags = event.tags.clone();
    if let Some(source) = &event.source {
        let tag = format!("source:{source}");
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let mut attributes = json!({
        "timestamp": timestamp_ms_iso(event.timestamp_ns),
        "status": event.status.as_str(),
        "message": event.message,
        "tags": tags,
        "attributes": strata_types::nest_attributes(&event.attributes),
    });
    for (key, value) in [
        ("service", &event.service),
        ("host", &event.host),
        ("source", &event.source),
        ("trace_id", &event.trace_id),
    ] {
        if let Some(value) = value {
            attributes[key] = Value::String(value.clone());
        }
    }
    json!({"id": id, "type": "log", "attributes": attributes})
}

/// `2024-01-02T03:04:05.678Z`: Datadog's millisecond form.
pub(crate) fn timestamp_ms_iso(timestamp_ns: i64) -> String {
    let full = strata_types::format_rfc3339_nanos(timestamp_ns);
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" -> keep milliseconds.
    match full.find('.') {
        Some(dot) if full.len() >= dot + 4 => format!("{}Z", &full[..dot + 4]),
        _ => full,
    }
}

#[derive(Debug, Default, Deserialize)]
struct ListRequest {
    #[serde(default)]
    filter: Filter,
    sort: Option<String>,
    #[serde(default)]
    page: PageSpec,
}

#[derive(Debug, Default, Deserialize)]
struct PageSpec {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// A JSON request body; an empty one means all defaults (the body is
/// optional in Datadog's spec).
fn json_or_default<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ReadError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

fn bad(message: impl Into<String>) -> ReadError {
    ReadError::new(StatusCode::BAD_REQUEST, message)
}

fn search_params(request: &ListRequest, now: i64) -> Result<SearchParams, ReadError> {
    let limit = request.page.limit.unwrap_or(10);
    if !(1..=MAX_PAGE_LIMIT as i64).contains(&limit) {
        return Err(bad(format!(
            "page.limit must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
        )));
    }
    let ascending = match request.sort.as_deref() {
        None | Some("-timestamp") => false,
        Some("timestamp") => true,
        Some(other) => {
            return Err(bad(format!(
                "sort must be \"timestamp\" or \"-timestamp\", got {other:?}"
            )))
        }
    };
    let query = request.filter.query.clone().unwrap_or_else(|| "*".into());
    if let Some(text) = &request.page.cursor {
        let cursor = Cursor::decode(text)?;
        return Ok(SearchParams {
            query,
            from_ms: cursor.from_ms,
            to_ms: cursor.to_ms,
            ascending: cursor.ascending,
            limit: limit as usize,
            cursor: Some(cursor),
        });
    }
    let from = request.filter.from.as_deref().unwrap_or("now-15m");
    let to = request.filter.to.as_deref().unwrap_or("now");
    let from_ms = strata_query::time::parse_time(from, now).map_err(QueryError::from)?;
    let to_ms = strata_query::time::parse_range_end(to, now).map_err(QueryError::from)?;
    if from_ms > to_ms {
        return Err(bad(format!(
            "filter.from ({from}) is after filter.to ({to})"
        )));
    }
    Ok(SearchParams {
        query,
        from_ms,
        to_ms,
        ascending,
        limit: limit as usize,
        cursor: None,
    })
}

/// `meta` of a read answer: elapsed ms, a request id, `done` or `timeout`.
fn response_meta(started: Instant, status: strata_query::Completeness) -> Value {
    json!({
        "elapsed": started.elapsed().as_millis() as u64,
        "request_id": uuid::Uuid::new_v4().to_string(),
        "status": status.as_str(),
    })
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

async fn run_search(
    state: Arc<AppState>,
    headers: HeaderMap,
    request: ListRequest,
) -> Result<Response, ReadError> {
    let started = Instant::now();
    let tenant = authenticate_read(&state, &headers)?;
    let engine = engine(&state)?;
    let params = search_params(&request, now_ms())?;
    let query = params.query.clone();
    let limit = params.limit;
    let result = engine.search(&tenant, params).await?;
    state
        .metrics
        .queries
        .with_label_values(&["search", result.status.as_str()])
        .inc();
    if result.events.is_empty() && result.status == strata_query::Completeness::Done {
        return Ok(Json(json!({"data": []})).into_response());
    }
    let data: Vec<Value> = result
        .events
        .iter()
        .map(|r| log_json(&r.id, &r.event))
        .collect();
    let mut meta = response_meta(started, result.status);
    let mut body = json!({"data": data});
    if let Some(next) = &result.next {
        let cursor = next.encode();
        meta["page"] = json!({"after": cursor});
        let host = header(&headers, "host").unwrap_or("127.0.0.1");
        let sort = if next.ascending {
            "timestamp"
        } else {
            "-timestamp"
        };
        body["links"] = json!({"next": format!(
            "http://{host}/api/v2/logs/events?filter%5Bquery%5D={}&page%5Bcursor%5D={}&page%5Blimit%5D={limit}&sort={sort}",
            percent_encode(&query),
            percent_encode(&cursor),
        )});
    }
    body["meta"] = meta;
    Ok(Json(body).into_response())
}

/// `POST /api/v2/logs/events/search`.
pub(crate) async fn search_post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ReadError> {
    run_search(state, headers, json_or_default(&body)?).await
}

/// `GET /api/v2/logs/events`.
pub(crate) async fn search_get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<Response, ReadError> {
    let limit = match params.get("page[limit]") {
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| bad(format!("page[limit] is not a number: {text:?}")))?,
        ),
        None => None,
    };
    let request = ListRequest {
        filter: Filter {
            query: params.get("filter[query]").cloned(),
            from: params.get("filter[from]").cloned(),
            to: params.get("filter[to]").cloned(),
            ..Filter::default()
        },
        sort: params.get("sort").cloned(),
        page: PageSpec {
            cursor: params.get("page[cursor]").cloned(),
            limit,
        },
    };
    run_search(state, headers, request).await
}

/// `POST /api/v2/logs/analytics/aggregate`.
pub(crate) async fn aggregate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ReadError> {
    let started = Instant::now();
    let tenant = authenticate_read(&state, &headers)?;
    let engine = engine(&state)?;
    let request: AggregateRequest = json_or_default(&body)?;
    let result = engine.aggregate(&tenant, &request, now_ms()).await?;
    state
        .metrics
        .queries
        .with_label_values(&["aggregate", result.status.as_str()])
        .inc();
    let buckets: Vec<Value> = result
        .buckets
        .into_iter()
        .map(|b| json!({"by": b.by, "computes": b.computes}))
        .collect();
    Ok(Json(json!({
        "data": {"buckets": buckets},
        "meta": response_meta(started, result.status)
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct SqlRequest {
    query: String,
}

/// `POST /api/v1/sql`: `{"query": "SELECT …"}`.
pub(crate) async fn sql(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ReadError> {
    let started = Instant::now();
    let tenant = authenticate_read(&state, &headers)?;
    let engine = engine(&state)?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "expected a JSON body {{\"query\": \"SELECT …\"}}: {e}"
        ))
    })?;
    let result = engine.sql(&tenant, &request.query).await?;
    state
        .metrics
        .queries
        .with_label_values(&["sql", result.status.as_str()])
        .inc();
    let columns: Vec<Value> = result
        .columns
        .iter()
        .map(|(name, kind)| json!({"name": name, "type": kind}))
        .collect();
    Ok(Json(json!({
        "columns": columns,
        "rows": result.rows,
        "meta": response_meta(started, result.status)
    }))
    .into_response())
}

/// `GET /api/v2/logs/tail?query=…`: Server-Sent Events.
pub(crate) async fn tail(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<Response, ReadError> {
    let tenant = authenticate_read(&state, &headers)?;
    engine(&state)?;
    let text = params.get("query").map(String::as_str).unwrap_or("*");
    let query = strata_query::parse::parse(text).map_err(QueryError::from)?;
    if contains_any_attribute(&query) {
        return Err(bad("full-text search (*:) is not allowed in live tail"));
    }
    let matcher = strata_query::Matcher::new(&query);
    match state.tail.subscribe(tenant, matcher) {
        Some(sse) => Ok(sse.into_response()),
        None => Err(ReadError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many live-tail subscribers on this node; retry later",
        )),
    }
}

fn contains_any_attribute(query: &strata_query::Query) -> bool {
    use strata_query::{Field, Query};
    match query {
        Query::MatchAll => false,
        Query::And(parts) | Query::Or(parts) => parts.iter().any(contains_any_attribute),
        Query::Not(inner) => contains_any_attribute(inner),
        Query::Match { field, .. } | Query::Cidr { field, .. } => *field == Field::AnyAttribute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_timestamps() {
        assert_eq!(
            timestamp_ms_iso(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(timestamp_ms_iso(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn encodes_query_strings() {
        assert_eq!(percent_encode("a b:c*"), "a%20b%3Ac%2A");
    }
}
