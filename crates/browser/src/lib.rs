//! Headless Chromium over the DevTools protocol, for tests. This crate
//! owns finding the browser (`ALLYBRIDGE_CHROMIUM`, else `chromium`,
//! `chromium-browser` or `google-chrome` on the `PATH`), launching it
//! headless with a fresh `--user-data-dir` and flags that keep it off the
//! network by itself, and a small driver for its websocket: open a page,
//! call a protocol method, evaluate JavaScript, wait until an expression
//! holds, navigate, size the window, take a whole-page screenshot, and
//! read the events the browser sent (for example
//! `Network.requestWillBeSent`). Every wait is bounded. It knows nothing
//! of what a test checks.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Headless, no sandbox (tests run as root in containers), no GPU, and
/// nothing that reaches the network on its own (updates, sync, QUIC).
const FLAGS: &[&str] = &[
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
];

/// How long Chromium may take to open DevTools.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one protocol call may take to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Browser::wait_for`] tries before it gives up.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often [`Browser::wait_for`] evaluates its expression.
const POLL: Duration = Duration::from_millis(100);
/// Events kept for [`Browser::take_events`]; older ones are dropped.
const MAX_EVENTS: usize = 10_000;
/// The window property [`Browser::navigate`] sets on the page it leaves.
const NAVIGATION_MARK: &str = "__browserNavigationPending";

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "chromium is not installed; .ci/run installs it (apt-get install -y chromium), or ALLYBRIDGE_CHROMIUM names another binary"
    )]
    NotInstalled,
    #[error("could not start {binary}: {source}")]
    Launch {
        binary: String,
        source: std::io::Error,
    },
    #[error("chromium exited before opening DevTools")]
    NoDevTools,
    #[error("chromium did not open DevTools within {0:?}")]
    StartTimedOut(Duration),
    #[error("reading chromium's output: {0}")]
    Io(#[from] std::io::Error),
    #[error("the DevTools websocket: {0}")]
    Socket(Box<tokio_tungstenite::tungstenite::Error>),
    #[error("the DevTools websocket closed")]
    Closed,
    #[error("a DevTools message is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{method} failed: {error}")]
    Protocol { method: String, error: Value },
    #[error("{method} got no answer within {timeout:?}")]
    NoAnswer { method: String, timeout: Duration },
    #[error("{method} answered without `{field}`")]
    Missing { method: String, field: String },
    #[error("{method} answered with data that is not base64: {detail}")]
    NotBase64 { method: String, detail: String },
    #[error("the page threw evaluating `{expression}`: {detail}")]
    Script { expression: String, detail: String },
    #[error("navigating to {url} failed: {reason}")]
    Navigation { url: String, reason: String },
    #[error("timed out waiting for {what} (at {url})")]
    WaitTimedOut { what: String, url: String },
}

impl From<tokio_tungstenite::tungstenite::Error> for BrowserError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        Self::Socket(Box::new(e))
    }
}

/// What a test does without Chromium: skip, except under `CI`, where the
/// browser tests must run.
pub enum Availability {
    /// The binary to launch.
    Ready(String),
    /// No Chromium and not CI: the test prints why and passes.
    Skip(String),
}

/// The Chromium to use: `ALLYBRIDGE_CHROMIUM`, else the first of
/// `chromium`, `chromium-browser` and `google-chrome` that answers
/// `--version`; an error under `CI` when there is none.
pub fn find() -> Result<Availability, BrowserError> {
    if let Ok(binary) = std::env::var("ALLYBRIDGE_CHROMIUM") {
        return Ok(Availability::Ready(binary));
    }
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    match found {
        Some(name) => Ok(Availability::Ready(name.to_string())),
        None if std::env::var_os("CI").is_some() => Err(BrowserError::NotInstalled),
        None => Ok(Availability::Skip(
            "chromium is not installed (apt-get install -y chromium)".to_string(),
        )),
    }
}

/// A running headless Chromium and its DevTools connection. Calls go to
/// the page opened by [`Browser::open`] (to the browser before that).
/// Dropping it kills the browser; [`Browser::close`] ends it gracefully.
pub struct Browser {
    ws: Ws,
    next: u64,
    session: Option<String>,
    events: VecDeque<Value>,
    child: tokio::process::Child,
    // Declared last: removed once the browser is gone.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `binary` headless with a fresh profile and connects to its DevTools websocket.
    pub async fn launch(binary: &str) -> Result<Self, BrowserError> {
        let profile = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BrowserError::Launch {
                binary: binary.to_string(),
                source,
            })?;
        let stderr = child.stderr.take().ok_or(BrowserError::NoDevTools)?;
        let mut lines = BufReader::new(stderr).lines();
        let ws_url = tokio::time::timeout(START_TIMEOUT, async {
            loop {
                let line = lines.next_line().await?.ok_or(BrowserError::NoDevTools)?;
                if let Some(rest) = line.split("DevTools listening on ").nth(1) {
                    return Ok::<_, BrowserError>(rest.trim().to_string());
                }
            }
        })
        .await
        .map_err(|_| BrowserError::StartTimedOut(START_TIMEOUT))??;
        // Keep draining stderr so Chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (ws, _) = tokio::time::timeout(
            CALL_TIMEOUT,
            tokio_tungstenite::connect_async(ws_url.as_str()),
        )
        .await
        .map_err(|_| BrowserError::StartTimedOut(CALL_TIMEOUT))??;
        Ok(Self {
            ws,
            next: 0,
            session: None,
            events: VecDeque::new(),
            child,
            profile,
        })
    }

    /// Opens `url` in a new tab and sends every later call to it.
    pub async fn open(&mut self, url: &str) -> Result<(), BrowserError> {
        self.session = None;
        let target = self
            .call("Target.createTarget", json!({ "url": url }))
            .await?;
        let target_id = field(&target, "Target.createTarget", "targetId")?;
        let attached = self
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await?;
        self.session = Some(field(&attached, "Target.attachToTarget", "sessionId")?);
        Ok(())
    }

    /// Calls a protocol method and returns its result. Events that arrive
    /// meanwhile are kept for [`Browser::take_events`].
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let answer = tokio::time::timeout(CALL_TIMEOUT, async {
            self.ws.send(Message::Text(msg.to_string().into())).await?;
            while let Some(frame) = self.ws.next().await {
                let Message::Text(text) = frame? else {
                    continue;
                };
                let v: Value = serde_json::from_str(&text)?;
                if v["id"].as_u64() == Some(id) {
                    return Ok(v);
                }
                if v.get("id").is_none() && v.get("method").is_some() {
                    if self.events.len() == MAX_EVENTS {
                        self.events.pop_front();
                    }
                    self.events.push_back(v);
                }
            }
            Err(BrowserError::Closed)
        })
        .await
        .map_err(|_| BrowserError::NoAnswer {
            method: method.to_string(),
            timeout: CALL_TIMEOUT,
        })??;
        if let Some(e) = answer.get("error") {
            return Err(BrowserError::Protocol {
                method: method.to_string(),
                error: e.clone(),
            });
        }
        Ok(answer["result"].clone())
    }

    /// Evaluates `expression` in the page and returns its value; an error
    /// when it throws.
    pub async fn eval(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true }),
            )
            .await?;
        if let Some(details) = r.get("exceptionDetails") {
            let detail = details["exception"]["description"]
                .as_str()
                .or_else(|| details["text"].as_str())
                .unwrap_or("an exception")
                .to_string();
            return Err(BrowserError::Script {
                expression: expression.to_string(),
                detail,
            });
        }
        Ok(r["result"]["value"].clone())
    }

    /// Evaluates `expression` every 100 ms until it is `true`, for up to [`WAIT`].
    pub async fn wait_for(&mut self, expression: &str, what: &str) -> Result<(), BrowserError> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            // Errors are expected while a navigation replaces the page.
            if matches!(self.eval(expression).await, Ok(Value::Bool(true))) {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        let url = self
            .eval("location.href")
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Err(BrowserError::WaitTimedOut {
            what: what.to_string(),
            url,
        })
    }

    /// Loads `url` in the page and waits until the new document has loaded.
    pub async fn navigate(&mut self, url: &str) -> Result<(), BrowserError> {
        // Marks the page being left, so the wait below sees the new one.
        self.eval(&format!("window.{NAVIGATION_MARK} = true"))
            .await?;
        let r = self.call("Page.navigate", json!({ "url": url })).await?;
        if let Some(reason) = r["errorText"].as_str() {
            return Err(BrowserError::Navigation {
                url: url.to_string(),
                reason: reason.to_string(),
            });
        }
        self.wait_for(
            &format!("!window.{NAVIGATION_MARK} && document.readyState === 'complete'"),
            &format!("{url} to load"),
        )
        .await
    }

    /// Clicks the first element matching the CSS `selector`; an error when there is none.
    pub async fn click(&mut self, selector: &str) -> Result<(), BrowserError> {
        let selector = json!(selector);
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector}); if (!e) throw new Error('nothing matches ' + {selector}); e.click(); return true; }})()"
        ))
        .await
        .map(drop)
    }

    /// Lays the page out as a `width` CSS pixels wide window (a phone's
    /// when `mobile`: touch, viewport meta honoured), `height` high, at one
    /// device pixel per CSS pixel.
    pub async fn set_viewport(
        &mut self,
        width: u32,
        height: u32,
        mobile: bool,
    ) -> Result<(), BrowserError> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await
        .map(drop)
    }

    /// The whole page (not only the window) as a PNG at the current
    /// viewport's width, with its height in CSS pixels.
    pub async fn screenshot_full_page(&mut self) -> Result<Screenshot, BrowserError> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            return Err(BrowserError::Missing {
                method: "Page.getLayoutMetrics".into(),
                field: "cssContentSize".into(),
            });
        };
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await?;
        let data = field(&shot, "Page.captureScreenshot", "data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_bytes())
            .map_err(|e| BrowserError::NotBase64 {
                method: "Page.captureScreenshot".into(),
                detail: e.to_string(),
            })?;
        Ok(Screenshot {
            png,
            width: width.ceil() as u32,
            height: height.ceil() as u32,
        })
    }

    /// Removes and returns the events named `method` received so far (in
    /// order), for example `Network.requestWillBeSent` once `Network.enable`
    /// was called. Other events are kept.
    pub fn take_events(&mut self, method: &str) -> Vec<Value> {
        let mut taken = Vec::new();
        self.events.retain(|e| {
            let wanted = e["method"].as_str() == Some(method);
            if wanted {
                taken.push(e.clone());
            }
            !wanted
        });
        taken
    }

    /// Closes the browser, waits for it to exit (or kills it), and removes its profile.
    pub async fn close(mut self) {
        self.session = None;
        let _ = self.call("Browser.close", json!({})).await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        let _ = self.profile.close();
    }
}

/// A PNG of a whole page and its size in CSS pixels.
pub struct Screenshot {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// A string field of a protocol answer.
fn field(answer: &Value, method: &str, name: &str) -> Result<String, BrowserError> {
    answer[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| BrowserError::Missing {
            method: method.to_string(),
            field: name.to_string(),
        })
}
