//! The Elasticsearch-compatible intake (`docs/ingest-elasticsearch.md`):
//! `_bulk`, single documents and the cluster-info handshake, so Filebeat,
//! Fluent Bit, Vector, Logstash and the `elasticsearch` clients ship to
//! Strata unchanged. Decoding is `strata_ingest::es`; the write path (memory
//! admission, blocking decode, quota, WAL) is `write_path`'s. Every answer
//! carries `X-Elastic-Product: Elasticsearch` and errors have
//! Elasticsearch's shape.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;
use strata_ingest::es::{
    bulk_response, decode_bulk, decode_document, error_json, item_json, BulkError, BulkItem,
    BulkRequest, DecodedBulk, EsError, OpType, Outcome,
};
use strata_ingest::{decompress, Encoding, ErrorKind};
use strata_metastore::KeyKind;

use crate::error::ApiError;
use crate::intake::{admit, header, observe_request, read_body, refuse};
use crate::state::{now_secs, AppState};
use crate::write_path::{commit_events, decode_blocking, reserve, EventBatch};

/// The Elasticsearch version `GET /` claims (clients check the major).
const VERSION: &str = "8.17.0";
const LUCENE_VERSION: &str = "9.12.0";
/// Most actions in one `_bulk` body (413 beyond): bounds the reply, which
/// has one entry per action.
const MAX_BULK_ACTIONS: usize = 100_000;
/// The `source` label of the ingest counters.
const SOURCE: &str = "elasticsearch";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(info))
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/_doc", post(doc))
        .route("/{index}/_doc/{id}", post(doc_id).put(doc_id))
        .route("/{index}/_create/{id}", post(create_id).put(create_id))
        .layer(axum::middleware::map_response(elastic_product))
}

/// What a request writes: a bulk body (with the path's index, if any) or one
/// document.
#[derive(Debug)]
enum Target {
    Bulk(Option<String>),
    Doc {
        index: String,
        id: Option<String>,
        op: OpType,
    },
}

async fn bulk(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    handle(state, "/_bulk", Target::Bulk(None), headers, body).await
}

async fn bulk_index(
    State(state): State<Arc<AppState>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = Target::Bulk(Some(index));
    handle(state, "/{index}/_bulk", target, headers, body).await
}

async fn doc(
    State(state): State<Arc<AppState>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, op) = (None, OpType::Index);
    let target = Target::Doc { index, id, op };
    handle(state, "/{index}/_doc", target, headers, body).await
}

async fn doc_id(
    State(state): State<Arc<AppState>>,
    Path((index, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, op) = (Some(id), OpType::Index);
    let target = Target::Doc { index, id, op };
    handle(state, "/{index}/_doc/{id}", target, headers, body).await
}

async fn create_id(
    State(state): State<Arc<AppState>>,
    Path((index, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, op) = (Some(id), OpType::Create);
    let target = Target::Doc { index, id, op };
    handle(state, "/{index}/_create/{id}", target, headers, body).await
}

/// `GET /` (and `HEAD /`): the cluster info clients handshake with.
async fn info(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let content_type = response_type(&headers);
    if let Err(failure) = authenticate(&state, &headers, "/") {
        return failure.into_response(content_type);
    }
    let mut hasher = std::hash::DefaultHasher::new();
    state.config.data_dir.hash(&mut hasher);
    let first = hasher.finish();
    "cluster".hash(&mut hasher);
    let body = json!({
        "name": "strata",
        "cluster_name": "strata",
        "cluster_uuid": format!("{first:016x}{:016x}", hasher.finish()),
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "strata",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_snapshot": false,
            "lucene_version": LUCENE_VERSION,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    });
    json_response(StatusCode::OK, body.to_string().into_bytes(), content_type)
}

/// One write request: counted by route and status like the other intakes.
async fn handle(
    state: Arc<AppState>,
    route: &'static str,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let content_type = response_type(&headers);
    let mut body = Some(body);
    let response = match ingest(&state, route, target, &headers, &mut body, started).await {
        Ok((status, reply)) => json_response(status, reply, content_type),
        Err(failure) => {
            // `refuse` drains the unread body and counts the rejection; the
            // answer is ours, in Elasticsearch's shape.
            let counted = ApiError::new(failure.status, failure.label, "");
            let limit = state.config.limits.max_request_bytes;
            drop(refuse(&state, counted, body.take(), limit).await);
            failure.into_response(content_type)
        }
    };
    observe_request(&state, route, started, response)
}

async fn ingest(
    state: &Arc<AppState>,
    route: &'static str,
    target: Target,
    headers: &HeaderMap,
    body: &mut Option<Body>,
    started: Instant,
) -> Result<(StatusCode, Vec<u8>), Failure> {
    let key = authenticate(state, headers, route)?;
    let (auth, core) = admit(state, Some(key))?;
    check_content_type(headers)?;
    let encoding = Encoding::parse(header(headers, "content-encoding")).map_err(BulkError::from)?;
    let limits = &state.config.limits;
    let max_request = limits.max_request_bytes;
    // The body's worst case (wire + decompressed), reserved before reading it.
    let reservation = reserve(state, core, max_request.saturating_mul(2))?;
    let Some(body) = body.take() else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "request body already read",
        )
        .into());
    };
    let wire = read_body(body, max_request).await?;
    let (default_index, doc) = match target {
        Target::Bulk(index) => (index, None),
        Target::Doc { index, id, op } => (Some(index), Some((op, id))),
    };
    let request = BulkRequest {
        default_index,
        now_ns: (now_secs() * 1e9) as i64,
        max_log_bytes: limits.max_log_bytes as usize,
        max_items: MAX_BULK_ACTIONS,
        max_decoded_bytes: max_request.saturating_mul(8) as usize,
    };
    let tenant = auth.tenant.clone();
    let single = doc.is_some();
    let (batch, items) = decode_blocking(state, move || {
        Ok(decode(&wire, encoding, max_request, &request, doc, &tenant))
    })
    .await??;
    if single {
        // A refused document refuses the request: nothing to store.
        if let Some(Outcome::Failed { status, error }) = items.first().map(|i| &i.outcome) {
            return Err(Failure::new(*status, error.clone(), "bad_request"));
        }
    }
    let seq = commit_events(state, core, &auth.tenant, reservation, batch, SOURCE).await?;
    Ok(reply(single, &items, seq, started))
}

/// Decompresses and decodes on the blocking pool; the WAL payload too.
fn decode(
    wire: &[u8],
    encoding: Encoding,
    limit: u64,
    request: &BulkRequest,
    doc: Option<(OpType, Option<String>)>,
    tenant: &str,
) -> Result<(EventBatch, Vec<BulkItem>), BulkError> {
    let raw = decompress(wire, encoding, limit as usize)?;
    let decoded = match doc {
        None => decode_bulk(&raw, request)?,
        Some((op, id)) => decode_document(&raw, request, op, id.as_deref())?,
    };
    let DecodedBulk {
        items,
        events,
        heap_bytes,
    } = decoded;
    // The decoder summed the events' heap sizes already.
    let batch = EventBatch {
        payload: strata_types::batch::encode(tenant, &events),
        events,
        heap_bytes,
        raw_len: raw.len() as u64,
        wire_len: wire.len() as u64,
    };
    Ok((batch, items))
}

/// 200 with the bulk reply, or 201 with the single document's result.
fn reply(
    single: bool,
    items: &[BulkItem],
    seq: Option<u64>,
    started: Instant,
) -> (StatusCode, Vec<u8>) {
    match items.first() {
        Some(item) if single => {
            let body = item_json(item, seq, false).to_string().into_bytes();
            (StatusCode::CREATED, body)
        }
        _ => {
            let took = started.elapsed().as_millis() as u64;
            (StatusCode::OK, bulk_response(items, seq, took))
        }
    }
}

/// A refused request, answered in Elasticsearch's shape.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    error: EsError,
    headers: Vec<(&'static str, String)>,
    /// Label for `strata_ingest_rejections_total`.
    label: &'static str,
}

impl Failure {
    fn new(status: u16, error: EsError, label: &'static str) -> Failure {
        Failure {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
            headers: Vec::new(),
            label,
        }
    }

    fn unauthorized(reason: String) -> Failure {
        let error = EsError {
            error_type: "security_exception",
            reason,
        };
        Failure::new(401, error, "unauthorized")
    }

    fn into_response(self, content_type: &'static str) -> Response {
        let status = self.status;
        let body = error_json(status.as_u16(), &self.error).to_string();
        let mut response = json_response(status, body.into_bytes(), content_type);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="security" charset="UTF-8", ApiKey"#),
            );
        }
        response
    }
}

/// The Elasticsearch exception name for a status Strata answers.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "parse_exception",
        401 | 403 => "security_exception",
        406 | 415 => "media_type_header_exception",
        413 => "content_too_long_exception",
        429 => "es_rejected_execution_exception",
        503 => "status_exception",
        _ => "exception",
    }
}

impl From<ApiError> for Failure {
    /// The shared write path's errors (memory 503, quota 429, WAL 503, body
    /// 413, …) with their headers (`Retry-After`, `X-Ratelimit-*`). A bad
    /// key is a 401, as Elasticsearch answers for bad credentials.
    fn from(error: ApiError) -> Failure {
        let status = match error.status {
            StatusCode::FORBIDDEN => StatusCode::UNAUTHORIZED,
            other => other,
        };
        Failure {
            status,
            error: EsError {
                error_type: error_type(status),
                reason: error.detail,
            },
            headers: error.headers,
            label: error.reason,
        }
    }
}

impl From<BulkError> for Failure {
    fn from(error: BulkError) -> Failure {
        let (status, label) = match error.kind {
            ErrorKind::BadRequest => (400, "bad_request"),
            ErrorKind::TooLarge => (413, "too_large"),
            ErrorKind::Unsupported => (415, "unsupported"),
        };
        Failure::new(status, error.error, label)
    }
}

/// The API keys a request offers, best first: `Authorization: ApiKey`
/// (the raw Strata key, or Elasticsearch's base64 of `id:key`), `Basic`
/// (the password), `Bearer`, then `DD-API-KEY`.
fn offered_keys(headers: &HeaderMap) -> Vec<String> {
    let mut keys = Vec::new();
    let decoded = |text: &str| base64_decode(text).and_then(|b| String::from_utf8(b).ok());
    if let Some((scheme, value)) = header(headers, "authorization").and_then(|v| v.split_once(' '))
    {
        let value = value.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "apikey" => {
                keys.push(value.to_string());
                if let Some(text) = decoded(value) {
                    match text.split_once(':') {
                        Some((_, key)) => keys.push(key.to_string()),
                        None => keys.push(text),
                    }
                }
            }
            "basic" => {
                if let Some((_, password)) =
                    decoded(value).as_deref().and_then(|t| t.split_once(':'))
                {
                    keys.push(password.to_string());
                }
            }
            "bearer" => keys.push(value.to_string()),
            _ => {}
        }
    }
    if let Some(key) = header(headers, "dd-api-key") {
        keys.push(key.to_string());
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// The first offered key that is a live API key; 401 otherwise.
fn authenticate(state: &AppState, headers: &HeaderMap, route: &str) -> Result<String, Failure> {
    let offered = offered_keys(headers);
    if offered.is_empty() {
        return Err(Failure::unauthorized(format!(
            "missing authentication credentials for REST request [{route}]"
        )));
    }
    let keyring = state.keyring();
    offered
        .into_iter()
        .find(|key| keyring.authenticate(key, KeyKind::Api).is_some())
        .ok_or_else(|| {
            Failure::unauthorized(format!(
                "unable to authenticate with provided credentials for REST request [{route}]"
            ))
        })
}

/// Standard or URL-safe base64, padding optional; `None` if not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// JSON and NDJSON, plain or Elasticsearch's versioned types; no header is
/// taken as JSON. Anything else is a 406, as Elasticsearch answers.
fn check_content_type(headers: &HeaderMap) -> Result<(), Failure> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let raw = value.to_str().unwrap_or("(not text)");
    let mime = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        ""
        | "application/json"
        | "application/x-ndjson"
        | "application/vnd.elasticsearch+json"
        | "application/vnd.elasticsearch+x-ndjson" => Ok(()),
        _ => {
            let shown: String = raw.chars().take(100).collect();
            let error = EsError {
                error_type: "media_type_header_exception",
                reason: format!("Content-Type header [{shown}] is not supported"),
            };
            Err(Failure::new(406, error, "unsupported"))
        }
    }
}

/// The reply's content type: Elasticsearch's versioned JSON type when the
/// request used a versioned type (`Content-Type` or `Accept`), else JSON.
fn response_type(headers: &HeaderMap) -> &'static str {
    for name in [CONTENT_TYPE, axum::http::header::ACCEPT] {
        let Some(value) = headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let value = value.to_ascii_lowercase();
        if value.contains("application/vnd.elasticsearch+") {
            return if value.replace(' ', "").contains("compatible-with=7") {
                "application/vnd.elasticsearch+json; compatible-with=7"
            } else {
                "application/vnd.elasticsearch+json; compatible-with=8"
            };
        }
    }
    "application/json"
}

fn json_response(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Adds `X-Elastic-Product: Elasticsearch` to every answer of these routes
/// (the Python client refuses servers without it) and gives errors made
/// outside the handlers (405, path rejections) Elasticsearch's shape.
async fn elastic_product(response: Response) -> Response {
    let status = response.status();
    let bare = response
        .headers()
        .get(CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    let mut response = if (status.is_client_error() || status.is_server_error()) && bare {
        let reason = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this HTTP method is not allowed on this endpoint",
            _ => status.canonical_reason().unwrap_or("error"),
        };
        let error = EsError {
            error_type: error_type(status),
            reason: reason.to_string(),
        };
        let headers = response.headers().clone();
        let mut replaced =
            Failure::new(status.as_u16(), error, "http").into_response("application/json");
        if let Some(allow) = headers.get(axum::http::header::ALLOW) {
            replaced
                .headers_mut()
                .insert(axum::http::header::ALLOW, allow.clone());
        }
        replaced
    } else {
        response
    };
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64_decode("aWQ6a2V5").unwrap(), b"id:key");
        assert_eq!(
            base64_decode("ZWxhc3RpYzpzM2NyM3Q=").unwrap(),
            b"elastic:s3cr3t"
        );
        assert_eq!(base64_decode("YQ").unwrap(), b"a");
        assert_eq!(base64_decode("-_-_").unwrap(), vec![0xfb, 0xff, 0xbf]);
        assert!(base64_decode("not base64!").is_none());
    }

    #[test]
    fn keys_offered_by_every_scheme() {
        let raw = headers(&[("authorization", "ApiKey strata-key")]);
        assert_eq!(offered_keys(&raw)[0], "strata-key");
        // base64("someid:the-key")
        let encoded = headers(&[("authorization", "ApiKey c29tZWlkOnRoZS1rZXk=")]);
        assert_eq!(offered_keys(&encoded)[1], "the-key");
        // base64("elastic:pw")
        let basic = headers(&[
            ("authorization", "Basic ZWxhc3RpYzpwdw=="),
            ("dd-api-key", "dd"),
        ]);
        assert_eq!(
            offered_keys(&basic),
            vec!["pw".to_string(), "dd".to_string()]
        );
        assert!(offered_keys(&headers(&[("authorization", "Digest x")])).is_empty());
        assert!(offered_keys(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "application/x-ndjson; charset=UTF-8",
            "application/vnd.elasticsearch+x-ndjson; compatible-with=8",
            "Application/VND.elasticsearch+json;compatible-with=7",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        assert!(check_content_type(&HeaderMap::new()).is_ok());
        let bad = check_content_type(&headers(&[("content-type", "text/plain")])).unwrap_err();
        assert_eq!(bad.status, StatusCode::NOT_ACCEPTABLE);
        let vnd = headers(&[(
            "accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        )]);
        assert_eq!(
            response_type(&vnd),
            "application/vnd.elasticsearch+json; compatible-with=8"
        );
        assert_eq!(response_type(&HeaderMap::new()), "application/json");
    }
}
