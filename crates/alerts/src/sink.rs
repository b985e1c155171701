//! Where alerts go: a webhook URL receiving Slack-compatible JSON, and
//! e-mail over SMTP (lettre, rustls). Each sink sends one message once;
//! retrying is the alerter's. Errors say which sink failed and why, and
//! never contain the webhook URL (it embeds a credential) or a password.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::ledger::BoxFuture;
use crate::message::Message;

/// Why a sink could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("alert sink {sink} failed: {message}")]
pub struct SinkError {
    pub sink: String,
    pub message: String,
    pub retryable: bool,
}

impl transport::Retryable for SinkError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl SinkError {
    fn new(sink: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            sink: sink.to_string(),
            message: message.into(),
            retryable,
        }
    }
}

/// A destination for alert messages.
pub trait Sink: Send + Sync {
    /// A name for logs (`webhook`, `email`); never the address itself when it is secret.
    fn name(&self) -> &str;
    /// Delivers one message once.
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// POSTs Slack-compatible JSON to a webhook URL.
pub struct WebhookSink {
    url: SecretString,
    client: reqwest::Client,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &"[redacted]")
            .finish()
    }
}

impl WebhookSink {
    /// A sink posting to `url` (an incoming-webhook URL is a credential).
    pub fn new(url: SecretString) -> Result<Self, SinkError> {
        let parsed = reqwest::Url::parse(url.expose_secret()).map_err(|e| {
            SinkError::new(
                "webhook",
                format!("the alert webhook URL does not parse ({e}); check `alerts.webhook_url`"),
                false,
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SinkError::new(
                "webhook",
                "the alert webhook URL must be http(s); check `alerts.webhook_url`",
                false,
            ));
        }
        let client = transport::build_client(&transport::HttpConfig {
            request_timeout: Duration::from_secs(10),
            ..transport::HttpConfig::default()
        })
        .map_err(|e| SinkError::new("webhook", e.to_string(), false))?;
        Ok(Self { url, client })
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        "webhook"
    }

    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let response = self
                .client
                .post(self.url.expose_secret())
                .json(&message.slack_json())
                .send()
                .await
                .map_err(|e| {
                    // `without_url`: the URL carries the webhook's credential.
                    SinkError::new("webhook", e.without_url().to_string(), true)
                })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let retryable = transport::error::status_is_retryable(status.as_u16());
            Err(SinkError::new(
                "webhook",
                format!("the receiver answered HTTP {status}"),
                retryable,
            ))
        })
    }
}

/// How the SMTP connection is secured.
pub use config::SmtpTls;

/// Sends alert e-mails over SMTP.
pub struct EmailSink {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl fmt::Debug for EmailSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSink")
            .field("from", &self.from.to_string())
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl EmailSink {
    /// A sink for `[alerts.smtp]`; `password` is the resolved secret, if any.
    pub fn new(
        smtp: &config::SmtpConfig,
        password: Option<SecretString>,
    ) -> Result<Self, SinkError> {
        let bad = |what: String| SinkError::new("email", what, false);
        let from: Mailbox = smtp
            .from
            .parse()
            .map_err(|e| bad(format!("`alerts.smtp.from` is not an e-mail address: {e}")))?;
        let to = smtp
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| bad(format!("`alerts.smtp.to` has `{t}`, not an address: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(bad("`alerts.smtp.to` lists no recipient".into()));
        }
        let builder = match smtp.tls {
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &smtp.host,
            )),
        }
        .map_err(|e| bad(format!("cannot set up TLS for `alerts.smtp.host`: {e}")))?;
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &smtp.username {
            let password = password
                .as_ref()
                .map(|p| p.expose_secret().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            to,
        })
    }
}

impl Sink for EmailSink {
    fn name(&self) -> &str {
        "email"
    }

    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut builder = lettre::Message::builder()
                .from(self.from.clone())
                .subject(message.subject())
                .header(ContentType::TEXT_PLAIN);
            for to in &self.to {
                builder = builder.to(to.clone());
            }
            let email = builder.body(message.email_body()).map_err(|e| {
                SinkError::new("email", format!("cannot build the e-mail: {e}"), false)
            })?;
            self.transport.send(email).await.map(|_| ()).map_err(|e| {
                // Permanent SMTP answers (5xx) will not change on retry.
                let retryable = !e.is_permanent();
                SinkError::new("email", e.to_string(), retryable)
            })
        })
    }
}
