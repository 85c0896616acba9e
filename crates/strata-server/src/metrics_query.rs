//! The metrics read API: `GET /api/v1/query` (Datadog metrics query
//! syntax, reference §5) and `GET /api/v1/metrics` (active metric names).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use strata_tsdb::source::TsdbSource;

use crate::query_api::{authenticate_read, ReadError};
use crate::state::{now_secs, AppState};

fn tsdb(state: &AppState) -> Result<Arc<strata_tsdb::Tsdb>, ReadError> {
    state
        .core
        .get()
        .map(|core| Arc::clone(&core.tsdb))
        .ok_or_else(|| {
            ReadError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is recovering its write-ahead log; retry shortly",
            )
        })
}

fn seconds(params: &HashMap<String, String>, name: &str) -> Result<i64, ReadError> {
    let raw = params.get(name).ok_or_else(|| {
        ReadError::new(
            StatusCode::BAD_REQUEST,
            format!("missing parameter {name} (unix seconds)"),
        )
    })?;
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v as i64)
        .ok_or_else(|| {
            ReadError::new(
                StatusCode::BAD_REQUEST,
                format!("parameter {name} must be unix seconds, got {raw:?}"),
            )
        })
}

/// `GET /api/v1/query?from=&to=&query=`.
pub(crate) async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<Response, ReadError> {
    let started = Instant::now();
    let tenant = authenticate_read(&state, &headers)?;
    let tsdb = tsdb(&state)?;
    let from = seconds(&params, "from")?;
    let to = seconds(&params, "to")?;
    if to < from {
        return Err(ReadError::new(
            StatusCode::BAD_REQUEST,
            "to must not be before from",
        ));
    }
    let text = params
        .get("query")
        .cloned()
        .ok_or_else(|| ReadError::new(StatusCode::BAD_REQUEST, "missing parameter query"))?;
    let answer = tokio::task::spawn_blocking(move || {
        let source = TsdbSource::new(tsdb, tenant);
        strata_metrics_query::run(&source, &text, from, to)
    })
    .await
    .map_err(|e| {
        ReadError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("query failed: {e}"),
        )
    })?;
    let status = match &answer {
        Ok(_) => "done",
        Err(_) => "error",
    };
    state
        .metrics
        .queries
        .with_label_values(&["metrics", status])
        .inc();
    state
        .metrics
        .request_seconds
        .with_label_values(&["/api/v1/query"])
        .observe(started.elapsed().as_secs_f64());
    match answer {
        Ok(response) => Ok(Json(response).into_response()),
        Err(error) => {
            let status = StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::error!(%error, "metrics query failed");
            }
            Err(ReadError::new(status, error.to_string()))
        }
    }
}

/// `GET /api/v1/metrics?from=<unix s>`: names of the metrics with a point
/// since `from` (Datadog's "active metrics list").
pub(crate) async fn list_metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<HashMap<String, String>>,
) -> Result<Response, ReadError> {
    let tenant = authenticate_read(&state, &headers)?;
    let tsdb = tsdb(&state)?;
    let from = match params.get("from") {
        Some(_) => seconds(&params, "from")?,
        None => now_secs() as i64 - 86_400,
    };
    let names = tokio::task::spawn_blocking(move || tsdb.metric_names(&tenant, from))
        .await
        .map_err(|e| ReadError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ReadError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({"from": from.to_string(), "metrics": names})).into_response())
}
