//! Building the one `reqwest::Client` a remote system's client uses: rustls,
//! connect and whole-request timeouts, no redirects (a redirect would carry
//! credentials to another host), a user agent. Owns configuration only.

use std::time::Duration;

use crate::error::{HttpError, HttpErrorKind};

/// Timeouts and identity of an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    pub connect_timeout: Duration,
    /// Whole request, from sending to the last byte of the body.
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Who hears about each call (the daemon's API activity log).
    pub observer: crate::Observer,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            user_agent: concat!("allybridge/", env!("CARGO_PKG_VERSION")).to_string(),
            observer: crate::Observer::default(),
        }
    }
}

/// A client with rustls, the configured timeouts and no redirects.
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(config.user_agent.clone())
        .build()
        .map_err(|e| {
            HttpError::new(
                HttpErrorKind::InvalidRequest,
                format!("cannot build HTTP client: {}", e.without_url()),
            )
        })
}
