//! The typed error of one HTTP exchange: what went wrong (timeout, connect,
//! status, undecodable body), the status, the remote system's own code and
//! message, its trace/request id, a server-supplied wait, and whether a retry
//! may help. Holds no credentials: transport errors are stripped of their URL
//! (query strings may carry secrets) and callers pass messages through
//! [`crate::redact`] first.

use std::fmt;
use std::time::Duration;

use http::HeaderMap;

use crate::retry::Retryable;

/// What kind of failure an [`HttpError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// No answer in time (connect or whole request).
    Timeout,
    /// Could not connect, or the connection broke.
    Connect,
    /// The server answered with a non-success status.
    Status,
    /// The server answered success but the body was not what was expected.
    Decode,
    /// The request could not be built or sent (a bug or bad configuration).
    InvalidRequest,
}

/// One failed HTTP exchange.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct HttpError {
    pub kind: HttpErrorKind,
    pub status: Option<u16>,
    /// The remote system's machine-readable error code, e.g. `rest_invalid_param`.
    pub code: Option<String>,
    /// The remote system's message, or a description of the failure.
    pub message: String,
    /// The remote system's trace or request id, to quote in a support ticket.
    pub request_id: Option<String>,
    /// How long the server asked the caller to wait (`Retry-After`, rate-limit reset).
    pub retry_after: Option<Duration>,
    retryable: bool,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, "HTTP {s} {c}: {}", self.message)?,
            (Some(s), None) => write!(f, "HTTP {s}: {}", self.message)?,
            _ => write!(f, "{:?}: {}", self.kind, self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Whether a status is worth retrying: 408, 425, 429 and 5xx except 501 and 505.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504) || (506..=599).contains(&status)
}

impl HttpError {
    /// An error of `kind` with the default retryability of that kind.
    pub fn new(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
            retry_after: None,
            retryable: matches!(kind, HttpErrorKind::Timeout | HttpErrorKind::Connect),
        }
    }

    /// A non-success answer; retryable as [`status_is_retryable`] says.
    pub fn from_status(status: u16, code: Option<String>, message: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            code,
            retryable: status_is_retryable(status),
            ..Self::new(HttpErrorKind::Status, message)
        }
    }

    /// Classifies a reqwest failure, dropping its URL (which may carry secrets).
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        let error = error.without_url();
        let kind = if error.is_timeout() {
            HttpErrorKind::Timeout
        } else if error.is_connect() || error.is_request() || error.is_body() {
            HttpErrorKind::Connect
        } else if error.is_decode() {
            HttpErrorKind::Decode
        } else if let Some(status) = error.status() {
            return Self::from_status(status.as_u16(), None, error.to_string());
        } else {
            HttpErrorKind::Connect
        };
        Self::new(kind, error.to_string())
    }

    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }

    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// Overrides retryability, e.g. a caller that knows a write is not idempotent.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

impl Retryable for HttpError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// `Retry-After` as seconds or an HTTP date (a date in the past is zero).
pub fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some(Duration::from_millis(wait.max(0) as u64))
}

/// The first of the given headers that is present: a trace or request id.
pub fn request_id(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| headers.get(*n).and_then(|v| v.to_str().ok()))
        .map(|v| v.chars().take(128).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(HttpError::from_status(s, None, "x").is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 501] {
            assert!(!HttpError::from_status(s, None, "x").is_retryable(), "{s}");
        }
        assert!(HttpError::new(HttpErrorKind::Timeout, "t").is_retryable());
        assert!(!HttpError::new(HttpErrorKind::Decode, "d").is_retryable());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("7"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("soon"),
        );
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn display_names_status_code_and_request_id() {
        let e = HttpError::from_status(404, Some("rest_no_route".into()), "No route")
            .with_request_id(Some("abc".into()));
        assert_eq!(
            e.to_string(),
            "HTTP 404 rest_no_route: No route (request id abc)"
        );
    }
}
