//! The admin page in a real headless Chromium (Debian's `chromium`),
//! driven over the DevTools protocol on its websocket: open the login page,
//! type the password and submit, see a flow on the dashboard, click Replay
//! on a dead letter, and check the store. Without Chromium the test prints
//! `SKIPPED` and passes, except when `CI` is set, where it fails.

mod common;

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use common::{PASSWORD, spawn_app};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use store::JobState;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn chromium() -> Option<String> {
    if let Ok(p) = std::env::var("ALLYBRIDGE_CHROMIUM") {
        return Some(p);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(String::from)
}

struct Cdp {
    ws: Ws,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await?;
        while let Some(frame) = self.ws.next().await {
            let Message::Text(text) = frame? else {
                continue;
            };
            let v: Value = serde_json::from_str(&text)?;
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    bail!("{method} failed: {e}");
                }
                return Ok(v["result"].clone());
            }
        }
        bail!("the DevTools websocket closed")
    }

    async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await?;
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` until it is `true`.
    async fn wait_for(&mut self, expression: &str, what: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            if self.eval(expression).await.ok() == Some(Value::Bool(true)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = self.eval("location.href").await.unwrap_or_default();
        bail!("timed out waiting for {what} (at {url})")
    }
}

#[tokio::test]
async fn log_in_see_a_flow_and_replay_a_dead_letter_in_chromium() -> anyhow::Result<()> {
    let Some(browser) = chromium() else {
        if std::env::var_os("CI").is_some() {
            bail!("chromium is not installed; .ci/run installs it (apt-get install -y chromium)");
        }
        println!("SKIPPED: chromium is not installed (apt-get install -y chromium)");
        return Ok(());
    };
    tokio::time::timeout(Duration::from_secs(40), run(&browser))
        .await
        .context("the Chromium test took too long")?
}

async fn run(browser: &str) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app
        .dead_letter("prod-chromium", "AccessAlly answered 500")
        .await?;
    let profile = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("could not start {browser}"))?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let ws_url = loop {
        let line = lines
            .next_line()
            .await?
            .context("chromium exited before opening DevTools")?;
        if let Some(rest) = line.split("DevTools listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    // Keep draining stderr so Chromium never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await?;
    let mut cdp = Cdp {
        ws,
        next: 0,
        session: None,
    };
    let target = cdp
        .call(
            "Target.createTarget",
            json!({"url": app.url("/admin/login")}),
        )
        .await?;
    let target_id = target["targetId"].as_str().context("targetId")?.to_string();
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )
        .await?;
    cdp.session = Some(
        attached["sessionId"]
            .as_str()
            .context("sessionId")?
            .to_string(),
    );

    cdp.wait_for(
        "location.pathname === '/admin/login' && !!document.querySelector('#password')",
        "the login page",
    )
    .await?;
    cdp.eval(&format!(
        "document.querySelector('#password').value = {}; document.querySelector('#login').click(); true",
        json!(PASSWORD)
    ))
    .await?;
    cdp.wait_for(
        "location.pathname === '/admin' && !!document.querySelector('tr[data-flow=\"main/coupons_to_accessally\"]')",
        "a flow on the dashboard",
    )
    .await?;
    cdp.wait_for("typeof htmx === 'object'", "htmx to load")
        .await?;
    let selector = format!("tr[data-job=\"{job}\"] button.replay");
    cdp.eval(&format!(
        "document.querySelector({}).click(); true",
        json!(selector)
    ))
    .await?;
    for _ in 0..100 {
        if app.store.job(job).await?.map(|j| j.state) == Some(JobState::Pending) {
            cdp.wait_for(
                &format!(
                    "location.pathname === '/admin' && !document.querySelector({})",
                    json!(selector)
                ),
                "the dashboard without the replayed dead letter",
            )
            .await?;
            let _ = cdp.call("Browser.close", json!({})).await;
            let _ = child.kill().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    bail!("the dead letter was not replayed after clicking Replay")
}
