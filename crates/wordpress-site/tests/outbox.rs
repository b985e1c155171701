//! The plugin's outbox on a real WordPress: an event whose deliveries fail
//! stays in the outbox through a hard kill of the PHP server (SIGKILL, as a
//! crash or a restart), and goes out once the receiver answers again,
//! signed, with the same `webhook-id` it had before, and once; and a
//! receiver that never answers delays no other subscription's deliveries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::Method;
use serde_json::{Value, json};
use wordpress_site::Site;

/// Per `webhook-id`: the attempts seen and the body accepted, if any.
type Seen = HashMap<String, (u32, Option<Value>)>;

#[derive(Clone, Default)]
struct Receiver {
    /// The status every delivery gets.
    answer: Arc<AtomicU16>,
    /// webhook-id → (attempts, accepted body).
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    /// Serves `POST /hook` on a free port, answering `answer` until told
    /// otherwise; returns the port.
    async fn start(&self, answer: u16) -> Result<u16> {
        self.answer.store(answer, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(port)
    }
}

async fn receive(
    axum::extract::State(rx): axum::extract::State<Receiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = rx.answer.load(Ordering::SeqCst);
    let mut seen = rx.seen.lock().unwrap_or_else(|e| e.into_inner());
    let entry = seen.entry(id).or_default();
    entry.0 += 1;
    if status < 300 {
        entry.1 = serde_json::from_slice(&body).ok();
    }
    axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK)
}

#[tokio::test]
async fn undelivered_events_survive_a_killed_server_and_go_out_once() -> Result<()> {
    let Some(guard) = Site::fresh_or_skip("outbox")? else {
        return Ok(());
    };
    let site = &guard.site;
    let rx = Receiver::default();
    let port = rx.start(503).await?;

    let http = reqwest::Client::new();
    let api = |method: Method, path: &str| {
        http.request(method, site.api_url(path))
            .basic_auth(&site.user, Some(&site.app_password))
    };
    api(Method::POST, "/webhooks")
        .json(
            &json!({"url": format!("http://127.0.0.1:{port}/hook"), "topics": ["coupon.created"]}),
        )
        .send()
        .await?
        .error_for_status()?;
    let first: Value = api(Method::POST, "/coupons")
        .json(&json!({"code": "SURVIVOR", "amount": "10", "discount_type": "percent"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    // Wait for the first refused attempt, then kill the server mid-retries.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rx.seen.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        if tokio::time::Instant::now() > deadline {
            bail!("no delivery attempt arrived");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    guard.restart()?;
    let pending: Vec<Value> = site.state().await?["outbox"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        pending.iter().any(|d| d["state"] == "pending"),
        "the event is still in the outbox after the kill: {pending:?}"
    );

    // The receiver is back; the next change's worker delivers both.
    rx.answer.store(204, Ordering::SeqCst);
    let second: Value = api(Method::POST, "/coupons")
        .json(&json!({"code": "AFTERWARDS", "amount": "5", "discount_type": "percent"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let delivered: Vec<u64> = rx
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|(_, body)| body.as_ref()?["data"]["id"].as_u64())
            .collect();
        let want = [first["id"].as_u64(), second["id"].as_u64()];
        if want
            .iter()
            .all(|id| id.is_some_and(|id| delivered.contains(&id)))
        {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("delivered {delivered:?}, wanted {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = rx.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        seen.len(),
        2,
        "one webhook-id per event, kept across retries: {:?}",
        seen.keys()
    );
    let state = site.state().await?;
    let rows = state["outbox"].as_array().context("outbox")?;
    assert!(
        rows.iter().all(|d| d["state"] == "delivered"),
        "every delivery ended delivered: {rows:?}"
    );
    site.check_php_log()?;
    Ok(())
}

/// A receiver that accepts connections and never answers; `closed` turns
/// true when the sender gives up on one (its timeout).
#[derive(Clone, Default)]
struct Hanging {
    accepted: Arc<AtomicU16>,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Hanging {
    async fn start(&self) -> Result<u16> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let hanging = self.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                hanging.accepted.fetch_add(1, Ordering::SeqCst);
                let closed = hanging.closed.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 4096];
                    // Read the request and whatever follows, never answer.
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                    closed.store(true, Ordering::SeqCst);
                });
            }
        });
        Ok(port)
    }
}

#[tokio::test]
async fn a_hanging_receiver_delays_no_other_subscription() -> Result<()> {
    let Some(guard) = Site::fresh_or_skip("outbox-hang")? else {
        return Ok(());
    };
    let site = &guard.site;
    let hanging = Hanging::default();
    let hanging_port = hanging.start().await?;
    let rx = Receiver::default();
    let port = rx.start(204).await?;

    let http = reqwest::Client::new();
    let api = |method: Method, path: &str| {
        http.request(method, site.api_url(path))
            .basic_auth(&site.user, Some(&site.app_password))
    };
    // The hanging subscription first: its delivery is the first due.
    for url in [
        format!("http://127.0.0.1:{hanging_port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
    ] {
        api(Method::POST, "/webhooks")
            .json(&json!({"url": url, "topics": ["coupon.created"]}))
            .send()
            .await?
            .error_for_status()?;
    }
    api(Method::POST, "/coupons")
        .json(&json!({"code": "NOTBLOCKED", "amount": "10", "discount_type": "percent"}))
        .send()
        .await?
        .error_for_status()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rx.seen.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        if tokio::time::Instant::now() > deadline {
            bail!("no delivery reached the answering receiver");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Delivered while the worker still waited on the hanging receiver: one
    // by one, it would have come only after that attempt timed out.
    assert!(
        !hanging.closed.load(Ordering::SeqCst),
        "the answering receiver got its event only after the hanging one's attempt gave up"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hanging.accepted.load(Ordering::SeqCst) == 0 {
        if tokio::time::Instant::now() > deadline {
            bail!("the hanging receiver was never tried");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    site.check_php_log()?;
    Ok(())
}
