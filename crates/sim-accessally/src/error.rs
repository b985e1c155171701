//! The WordPress REST error shape `{code, message, data: {status}}` and the
//! answers built from it. Owns every error body the simulator sends; it must
//! not decide *when* a request fails (handlers do that).

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One failed request, answered as a WordPress REST error.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// `data.params`: field name to reason (for `rest_invalid_param`).
    pub params: BTreeMap<String, String>,
    /// Missing fields (for `rest_missing_callback_param`), written as WordPress does: `data.params`, a list.
    pub missing: Vec<String>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            params: BTreeMap::new(),
            missing: Vec::new(),
            retry_after: None,
        }
    }

    pub fn invalid_param(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut e = Self::new(
            400,
            "rest_invalid_param",
            format!("Invalid parameter(s): {field}"),
        );
        e.params.insert(field.to_string(), reason);
        e
    }

    pub fn invalid_id(what: &str) -> Self {
        Self::new(404, "allybridge_invalid_id", format!("Invalid {what} ID."))
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn no_route() -> Self {
        Self::new(
            404,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        )
    }

    pub fn body(&self) -> serde_json::Value {
        let mut data = json!({ "status": self.status });
        if !self.params.is_empty() {
            data["params"] = json!(self.params);
        }
        if !self.missing.is_empty() {
            data["params"] = json!(self.missing);
        }
        json!({ "code": self.code, "message": self.message, "data": data })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The answer to a call failed on purpose by the fault switch.
pub fn injected_fault(status: u16, retry_after_secs: u64) -> Response {
    let (code, message) = match status {
        429 => (
            "allybridge_rate_limited",
            "Too many requests. Try again later.",
        ),
        400..=499 => (
            "allybridge_sim_fault",
            "Request refused by an injected fault.",
        ),
        _ => (
            "allybridge_internal_error",
            "The server had a temporary problem. Try again.",
        ),
    };
    let mut e = ApiError::new(status, code, message);
    if matches!(status, 429 | 503) {
        e.retry_after = Some(retry_after_secs);
    }
    e.into_response()
}
