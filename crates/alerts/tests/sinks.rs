//! The alerter against a local HTTP receiver (axum on port 0) and a local
//! SMTP catcher (a tiny plaintext SMTP server on port 0): delivery,
//! cool-down, resolve messages, sink failures with retries, no secrets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alerts::{
    AlertKind, Alerter, EmailSink, InMemoryLedger, IncidentLedger, Outcome, StoreLedger,
    WebhookSink,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use model::Flow;
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use transport::{Retrier, RetryPolicy};

const WEBHOOK_SECRET_PATH: &str = "/services/T000/B000/XXsecretXXtokenXX";

/// A Slack-like receiver: records bodies; answers 500 to the first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    hits: Arc<Mutex<u32>>,
    fail_first: u32,
}

impl Receiver {
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().map(|b| b.clone()).unwrap_or_default()
    }
    fn hits(&self) -> u32 {
        self.hits.lock().map(|h| *h).unwrap_or(0)
    }
}

async fn receive(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
    let hit = {
        let mut hits = r.hits.lock().unwrap_or_else(|e| e.into_inner());
        *hits += 1;
        *hits
    };
    if hit <= r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    r.bodies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(body);
    StatusCode::OK
}

async fn spawn_receiver(fail_first: u32) -> anyhow::Result<(Receiver, String)> {
    global_logs();
    let receiver = Receiver {
        fail_first,
        ..Receiver::default()
    };
    let app = axum::Router::new()
        .route(WEBHOOK_SECRET_PATH, post(receive))
        .with_state(receiver.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}{WEBHOOK_SECRET_PATH}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((receiver, url))
}

/// One mail the catcher received.
#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A plaintext SMTP server speaking just enough: 220, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
async fn spawn_smtp_catcher() -> anyhow::Result<(Arc<Mutex<Vec<Mail>>>, u16)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let inbox = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let _ = smtp_session(socket, inbox).await;
            });
        }
    });
    Ok((mails, port))
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    inbox: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 catcher ESMTP ready\r\n").await?;
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-catcher greets you\r\n250 8BITMIME\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 catcher\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            mail = Mail {
                from: command[10..].trim().to_string(),
                ..Mail::default()
            };
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(command[8..].trim().to_string());
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            // Unfold folded header lines (RFC 5322 2.2.3).
            mail.data = data.replace("\r\n ", " ").replace("\r\n\t", " ");
            inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(std::mem::take(&mut mail));
            write.write_all(b"250 OK queued\r\n").await?;
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 not implemented\r\n").await?;
        }
    }
}

fn fast_retries(max_attempts: u32) -> Retrier {
    Retrier::new(RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_server_wait: Duration::from_secs(1),
    })
}

fn dead_letter(job: &str) -> AlertKind {
    AlertKind::JobDeadLettered {
        tenant: "main".into(),
        flow: Some(Flow::OrdersToHighlevel),
        job: job.into(),
        reason: "HighLevel answered 422: invoice total mismatch".into(),
    }
}

fn smtp_config(port: u16) -> config::SmtpConfig {
    config::SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        from: "allybridge <alerts@example.com>".into(),
        to: vec!["ops@example.com".into()],
        username: None,
        password: None,
        tls: config::SmtpTls::None,
    }
}

/// A clock the test moves by hand.
fn manual_clock() -> (Arc<dyn Fn() -> Instant + Send + Sync>, impl Fn(Duration)) {
    let start = Instant::now();
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let read = offset.clone();
    let clock: Arc<dyn Fn() -> Instant + Send + Sync> =
        Arc::new(move || start + *read.lock().unwrap_or_else(|e| e.into_inner()));
    let advance = move |d: Duration| *offset.lock().unwrap_or_else(|e| e.into_inner()) += d;
    (clock, advance)
}

#[tokio::test]
async fn alert_reaches_the_webhook_and_the_mailbox() -> anyhow::Result<()> {
    let (receiver, url) = spawn_receiver(0).await?;
    let (mails, port) = spawn_smtp_catcher().await?;
    let alerter = Alerter::new(Arc::new(InMemoryLedger::new()), Duration::from_secs(1_800))
        .with_sink(Arc::new(WebhookSink::new(SecretString::from(url))?))
        .with_sink(Arc::new(EmailSink::new(&smtp_config(port), None)?))
        .with_retry(fast_retries(3));

    let outcome = alerter.raise(&dead_letter("job-41")).await?;
    let Outcome::Sent(deliveries) = &outcome else {
        anyhow::bail!("not sent: {outcome:?}");
    };
    assert!(
        deliveries.iter().all(|d| d.error.is_none()),
        "{deliveries:?}"
    );

    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    let text = body["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Job dead-lettered in main / orders_to_highlevel"),
        "{text}"
    );
    assert!(
        text.contains("job-41") && text.contains("allybridge dlq"),
        "{text}"
    );
    assert_eq!(body["allybridge"]["state"], "firing");
    assert_eq!(body["allybridge"]["rule"], "job_dead_lettered");
    assert_eq!(body["allybridge"]["severity"], "critical");
    assert_eq!(
        body["allybridge"]["incident"],
        "job_dead_lettered:main:orders_to_highlevel"
    );
    assert_eq!(body["allybridge"]["fields"]["job"], "job-41");
    assert!(body["blocks"].as_array().is_some_and(|b| b.len() == 2));

    let mails = mails.lock().map(|m| m.clone()).unwrap_or_default();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(mail.from.contains("alerts@example.com"), "{mail:?}");
    assert!(
        mail.to.iter().any(|t| t.contains("ops@example.com")),
        "{mail:?}"
    );
    assert!(
        mail.data.contains(
            "Subject: [allybridge] CRITICAL: Job dead-lettered in main / orders_to_highlevel"
        ),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("job-41"), "{}", mail.data);
    assert!(
        mail.data.contains("invoice total mismatch"),
        "{}",
        mail.data
    );
    Ok(())
}

#[tokio::test]
async fn one_message_per_incident_per_cooldown_then_a_resolve() -> anyhow::Result<()> {
    let (receiver, url) = spawn_receiver(0).await?;
    let (clock, advance) = manual_clock();
    let alerter = Alerter::new(
        Arc::new(InMemoryLedger::with_clock(clock)),
        Duration::from_secs(1_800),
    )
    .with_sink(Arc::new(WebhookSink::new(SecretString::from(url))?))
    .with_retry(fast_retries(2));

    assert!(alerter.raise(&dead_letter("1")).await?.delivered());
    advance(Duration::from_secs(60));
    assert_eq!(
        alerter.raise(&dead_letter("2")).await?,
        Outcome::CoolingDown
    );
    let drift = AlertKind::DriftFound {
        tenant: "main".into(),
        scope: "products".into(),
        drifted: 3,
        checked: 120,
    };
    assert!(
        alerter.raise(&drift).await?.delivered(),
        "another incident is not held back"
    );
    assert_eq!(receiver.bodies().len(), 2);

    advance(Duration::from_secs(1_800));
    assert!(
        alerter.raise(&dead_letter("3")).await?.delivered(),
        "sent again after the cool-down"
    );
    assert_eq!(receiver.bodies().len(), 3);

    let cleared = alerter.clear(&dead_letter("3")).await?;
    assert!(cleared.delivered(), "{cleared:?}");
    let bodies = receiver.bodies();
    let resolve = &bodies[3];
    assert_eq!(resolve["allybridge"]["state"], "resolved");
    assert!(
        resolve["text"]
            .as_str()
            .is_some_and(|t| t.contains("Resolved: dead letters in main / orders_to_highlevel")),
        "{resolve}"
    );
    assert_eq!(alerter.clear(&dead_letter("3")).await?, Outcome::NotOpen);
    let never = AlertKind::AuthFailing {
        tenant: "main".into(),
        system: "highlevel".into(),
        reason: String::new(),
    };
    assert_eq!(alerter.clear(&never).await?, Outcome::NotOpen);
    assert_eq!(receiver.bodies().len(), 4);
    Ok(())
}

#[tokio::test]
async fn failing_sinks_are_retried_logged_without_secrets_and_do_not_stop_others()
-> anyhow::Result<()> {
    let logs = global_logs();

    // Fails twice, then accepts: delivered on the third attempt.
    let (flaky, flaky_url) = spawn_receiver(2).await?;
    // A closed port: every attempt fails.
    let dead = TcpListener::bind("127.0.0.1:0").await?;
    let dead_port = dead.local_addr()?.port();
    drop(dead);
    let dead_url = format!("http://127.0.0.1:{dead_port}{WEBHOOK_SECRET_PATH}");
    let (mails, smtp_port) = spawn_smtp_catcher().await?;

    let alerter = Alerter::new(Arc::new(InMemoryLedger::new()), Duration::from_secs(60))
        .with_sink(Arc::new(WebhookSink::new(SecretString::from(dead_url))?))
        .with_sink(Arc::new(WebhookSink::new(SecretString::from(flaky_url))?))
        .with_sink(Arc::new(EmailSink::new(&smtp_config(smtp_port), None)?))
        .with_retry(fast_retries(3));

    let outcome = alerter.raise(&dead_letter("9")).await?;
    let Outcome::Sent(deliveries) = outcome else {
        anyhow::bail!("not sent");
    };
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[0].attempts, 3);
    let error = deliveries[0].error.clone().unwrap_or_default();
    assert!(error.contains("webhook"), "{error}");
    assert_eq!(deliveries[1].attempts, 3);
    assert_eq!(deliveries[1].error, None);
    assert_eq!(flaky.hits(), 3);
    assert_eq!(flaky.bodies().len(), 1);
    assert_eq!(deliveries[2].error, None);
    assert_eq!(mails.lock().map(|m| m.len()).unwrap_or(0), 1);

    let logged = logs.text();
    assert!(logged.contains("alert not delivered"), "{logged}");
    assert!(
        !logged.contains("XXsecretXX"),
        "the webhook URL leaked into logs: {logged}"
    );
    assert!(
        !error.contains("XXsecretXX"),
        "the webhook URL leaked: {error}"
    );
    Ok(())
}

#[tokio::test]
async fn refused_mail_is_reported_not_retried_forever() -> anyhow::Result<()> {
    // An SMTP server that rejects every recipient permanently.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let sessions = Arc::new(Mutex::new(0u32));
    let counted = sessions.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            *counted.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                let _ = write.write_all(b"220 strict\r\n").await;
                let mut line = String::new();
                while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
                    let answer: &[u8] = if line.to_ascii_uppercase().starts_with("RCPT") {
                        b"550 no such user\r\n"
                    } else if line.to_ascii_uppercase().starts_with("QUIT") {
                        b"221 bye\r\n"
                    } else {
                        b"250 OK\r\n"
                    };
                    line.clear();
                    if write.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let alerter = Alerter::new(Arc::new(InMemoryLedger::new()), Duration::from_secs(60))
        .with_sink(Arc::new(EmailSink::new(&smtp_config(port), None)?))
        .with_retry(fast_retries(4));
    let Outcome::Sent(deliveries) = alerter.raise(&dead_letter("1")).await? else {
        anyhow::bail!("not sent");
    };
    assert_eq!(deliveries[0].attempts, 1, "a permanent 5xx is not retried");
    assert!(
        deliveries[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("email"))
    );
    Ok(())
}

#[tokio::test]
async fn secrets_never_reach_a_message() -> anyhow::Result<()> {
    let (receiver, url) = spawn_receiver(0).await?;
    let alerter = Alerter::new(Arc::new(InMemoryLedger::new()), Duration::from_secs(60))
        .with_sink(Arc::new(WebhookSink::new(SecretString::from(url))?))
        .with_retry(fast_retries(1))
        .with_secrets([SecretString::from("rt-0123456789-refresh")]);
    let kind = AlertKind::AuthFailing {
        tenant: "main".into(),
        system: "highlevel".into(),
        reason: "refresh token rt-0123456789-refresh was already used; Authorization: Bearer eyJhbGciOi.payload".into(),
    };
    assert!(alerter.raise(&kind).await?.delivered());
    let body = receiver
        .bodies()
        .first()
        .cloned()
        .unwrap_or_default()
        .to_string();
    assert!(!body.contains("rt-0123456789-refresh"), "{body}");
    assert!(!body.contains("eyJhbGciOi"), "{body}");
    assert!(
        body.contains("already used") && body.contains("allybridge connect"),
        "{body}"
    );
    let logged = global_logs().text();
    assert!(!logged.contains("rt-0123456789-refresh") && !logged.contains("eyJhbGciOi"));
    Ok(())
}

#[tokio::test]
async fn built_from_the_configuration() -> anyhow::Result<()> {
    let (receiver, url) = spawn_receiver(0).await?;
    let (mails, port) = spawn_smtp_catcher().await?;
    let dir = std::env::temp_dir().join(format!("allybridge-alerts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("hook"), format!("{url}\n"))?;
    let text = format!(
        r#"
[alerts]
webhook_url = {{ file = "hook" }}
cooldown = "10m"
[alerts.smtp]
host = "127.0.0.1"
port = {port}
from = "alerts@example.com"
to = ["ops@example.com", "dev@example.com"]
tls = "none"
[[tenant]]
name = "main"
[tenant.ghl]
location_id = "loc"
auth = "private_token"
[tenant.accessally]
site_url = "https://courses.example.com"
user = "bridge"
"#
    );
    let mut config = config::Config::from_str(&text)?;
    config.base_dir = dir.clone();
    let alerter =
        Alerter::from_config(&config, Arc::new(InMemoryLedger::new()))?.with_retry(fast_retries(2));
    assert_eq!(alerter.sink_names(), ["webhook", "email"]);
    let quota = AlertKind::QuotaLow {
        tenant: "main".into(),
        location_id: "loc".into(),
        remaining: 1_000,
        limit: 200_000,
        threshold: config.alerts.quota_warning,
    };
    assert!(alerter.raise(&quota).await?.delivered());
    assert_eq!(receiver.bodies().len(), 1);
    let mails = mails.lock().map(|m| m.clone()).unwrap_or_default();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to.len(), 2);
    assert!(
        mails[0]
            .data
            .contains("Subject: [allybridge] WARNING: HighLevel daily quota")
    );

    std::fs::remove_file(dir.join("hook"))?;
    let missing = Alerter::from_config(&config, Arc::new(InMemoryLedger::new()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        missing.contains("alerts.webhook_url") && missing.contains("hook"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn the_store_backs_the_ledger() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("allybridge-alert-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = store::Store::sqlite_url(&dir.join("store.db"));
    let store = store::Store::open(&url, store::Keyring::new(store::MasterKey::generate())).await?;
    let ledger = StoreLedger::new(store.clone());
    let cooldown = Duration::from_secs(3_600);

    assert!(!ledger.resolve("k", "s").await?, "nothing open");
    assert!(ledger.claim("k", "first", cooldown).await?);
    assert!(!ledger.claim("k", "again", cooldown).await?, "cooling down");
    assert!(
        ledger.claim("k", "again", Duration::ZERO).await?,
        "cool-down over"
    );
    assert!(ledger.resolve("k", "cleared").await?);
    assert!(!ledger.resolve("k", "cleared").await?, "resolved once");
    let history = store.alerts(Some("k"), 10).await?;
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].channel, "resolve");

    let (receiver, hook) = spawn_receiver(0).await?;
    let alerter = Alerter::new(Arc::new(ledger), cooldown)
        .with_sink(Arc::new(WebhookSink::new(SecretString::from(hook))?))
        .with_retry(fast_retries(1));
    assert!(alerter.raise(&dead_letter("1")).await?.delivered());
    assert_eq!(
        alerter.raise(&dead_letter("2")).await?,
        Outcome::CoolingDown
    );
    assert!(alerter.clear(&dead_letter("2")).await?.delivered());
    assert_eq!(receiver.bodies().len(), 2);
    store.close().await;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Every test's log output, captured by one global subscriber (a scoped
/// subscriber misses events when tests on other threads cache callsite interest).
fn global_logs() -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    })
    .clone()
}

/// Captures log output for inspection.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
