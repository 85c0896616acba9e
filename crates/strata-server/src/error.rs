//! Datadog-shaped error responses.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error answer: `{"errors":[{"status":"400","title":"Bad Request","detail":"…"}]}`
/// (the `HTTPLogErrors` shape of the logs intake).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) detail: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Label for `strata_ingest_rejections_total`.
    pub(crate) reason: &'static str,
    /// `{"errors":["…"]}` (the metrics API's `APIErrorResponse`) instead
    /// of the logs intake's error objects.
    pub(crate) plain: bool,
    /// Answer as an OTLP/HTTP receiver: a `google.rpc.Status` in the
    /// request's encoding, with its gRPC code.
    pub(crate) otlp: Option<strata_ingest::otlp::Format>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        reason: &'static str,
        detail: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            headers: Vec::new(),
            reason,
            plain: false,
            otlp: None,
        }
    }

    /// Answers `{"errors":["detail"]}` (metrics API routes).
    pub(crate) fn plain(mut self) -> ApiError {
        self.plain = true;
        self
    }

    /// Answers as an OTLP/HTTP receiver does (`otlp_intake`).
    pub(crate) fn otlp(mut self, format: strata_ingest::otlp::Format) -> ApiError {
        self.otlp = Some(format);
        self
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl ToString) -> ApiError {
        self.headers.push((name, value.to_string()));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(format) = self.otlp {
            return crate::otlp_intake::error_response(
                format,
                self.status,
                &self.detail,
                self.headers,
            );
        }
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = if self.plain {
            serde_json::json!({ "errors": [self.detail] })
        } else {
            serde_json::json!({
                "errors": [{"status": self.status.as_u16().to_string(), "title": title, "detail": self.detail}]
            })
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}
