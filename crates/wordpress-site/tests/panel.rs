//! The plugin's integration panel in wp-admin, in a real headless Chromium
//! (the `browser` crate) against the site of `wordpress/dev/up`: log in,
//! and see a delivery that just failed all its attempts under Failed
//! deliveries and in the integration log; click Redeliver and see it
//! arrive and leave the list; click "Send test event" and see a
//! `webhook.test` arrive. Deliveries go to a local receiver whose answer
//! the test switches from 500 to 204. The panel's pages must make no
//! request off the site, and the PHP error log must stay clean. Without a
//! site (`ALLYBRIDGE_WORDPRESS_SITE`) or without Chromium the test prints
//! `SKIPPED` and passes, except when `CI` is set, where it fails.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use browser::Browser;
use reqwest::Method;
use serde_json::{Value, json};
use wordpress_site::Site;

/// The panel where AccessAlly is not active (the development site).
const PANEL: &str = "/wp-admin/options-general.php?page=allybridge";
/// How long a delivery may take to reach the receiver or the outbox to settle.
const SETTLE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

#[tokio::test]
async fn panel_shows_failed_deliveries_redelivers_and_sends_a_test_event() -> anyhow::Result<()> {
    let Some(site) = Site::from_env_or_skip()? else {
        return Ok(());
    };
    let binary = match browser::find()? {
        browser::Availability::Ready(binary) => binary,
        browser::Availability::Skip(why) => {
            println!("SKIPPED: {why}");
            return Ok(());
        }
    };
    tokio::time::timeout(Duration::from_secs(90), run(&site, &binary))
        .await
        .context("the panel test took too long")??;
    site.check_php_log()?;
    Ok(())
}

async fn run(site: &Site, binary: &str) -> anyhow::Result<()> {
    let receiver = Receiver::start().await?;
    let hook = api(
        site,
        Method::POST,
        "/webhooks",
        Some(json!({ "url": receiver.url, "topics": ["coupon.created"] })),
    )
    .await?;
    let hook_id = hook["id"].as_i64().context("the subscription has no id")?;
    let outcome = in_the_panel(site, binary, &receiver, hook_id).await;
    // Leave the site without a subscription to a receiver that is gone.
    let deleted = api(site, Method::DELETE, &format!("/webhooks/{hook_id}"), None).await;
    outcome?;
    deleted.map(drop)
}

async fn in_the_panel(
    site: &Site,
    binary: &str,
    receiver: &Receiver,
    hook_id: i64,
) -> anyhow::Result<()> {
    let panel = format!("{}{PANEL}", site.url);
    let mut cdp = Browser::launch(binary).await?;
    log_in(&mut cdp, site, &panel).await?;
    // From here on every page is the panel: record what it requests.
    cdp.call("Network.enable", json!({})).await?;
    cdp.navigate(&panel).await?;

    // (a) A delivery that failed all 5 attempts is in Failed deliveries and in the log.
    let code = format!("PANEL-{}", rand::random::<u32>());
    let coupon = api(
        site,
        Method::POST,
        "/coupons",
        Some(json!({ "code": code, "amount": "10", "discount_type": "percent" })),
    )
    .await?;
    let coupon_id = coupon["id"].as_i64().context("the coupon has no id")?;
    let row = until("the delivery to fail 5 attempts", async || {
        let state = site.state().await?;
        Ok(
            outbox_row(&state, hook_id, "coupon.created", Some(coupon_id))
                .filter(|r| r["state"] == "failed" && r["attempts"] == 5),
        )
    })
    .await?;
    let delivery = row["id"].as_i64().context("outbox row id")?;
    let attempts: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|d| d.body["data"]["id"] == coupon_id)
        .collect();
    ensure!(
        attempts.len() == 5 && attempts.iter().all(|d| d.answered == 500),
        "the receiver saw {attempts:#?}"
    );
    let message_id = attempts[0].webhook_id.clone();
    ensure!(
        attempts.iter().all(|d| d.webhook_id == message_id),
        "every attempt carries one webhook-id: {attempts:#?}"
    );
    ensure!(
        attempts[0].body["type"] == "coupon.created"
            && attempts[0].body["data"]["id"] == coupon_id
            && attempts[0].body["data"]["code"] == code.as_str(),
        "the event: {}",
        attempts[0].body
    );

    cdp.navigate(&panel).await?;
    let failed = failed_row(&mut cdp, delivery).await?;
    let expected = [
        format!("coupon.created {message_id}"),
        format!("coupon {coupon_id}"),
        hook_id.to_string(),
        "failed".into(),
        "5".into(),
        "HTTP 500".into(),
    ];
    ensure!(
        failed.as_deref() == Some(&expected[..]),
        "Failed deliveries shows {failed:?}, not {expected:?}"
    );
    let subscription = subscription_row(&mut cdp, hook_id).await?;
    ensure!(
        subscription.get(3).map(String::as_str) == Some("active (1 failed in a row)")
            && subscription.get(5).map(String::as_str) == Some("500"),
        "the subscription shows {subscription:?}"
    );

    // The log, filtered by the record in the panel's own form.
    let record = format!("coupon {coupon_id}");
    cdp.eval(&format!(
        "document.querySelector('#allybridge-record').value = {}; true",
        json!(record)
    ))
    .await?;
    cdp.click("form:has(#allybridge-record) input[type=\"submit\"]")
        .await?;
    cdp.wait_for(
        &format!(
            "new URLSearchParams(location.search).get('record') === {} && document.readyState === 'complete'",
            json!(record)
        ),
        "the log filtered by the coupon",
    )
    .await?;
    let log = table(&mut cdp, "#allybridge-log").await?;
    ensure!(
        log.iter().all(|r| r.get(4) == Some(&record)),
        "the filter kept other records: {log:#?}"
    );
    let webhook_entries: Vec<_> = log
        .iter()
        .filter(|r| r.get(1).map(String::as_str) == Some("webhook"))
        .map(|r| (r[3].clone(), r[6].clone()))
        .collect();
    let expected: Vec<_> = (1..=5)
        .rev()
        .map(|n| ("500".to_string(), format!("attempt {n}: HTTP 500")))
        .collect();
    ensure!(
        webhook_entries == expected
            && log
                .iter()
                .filter(|r| r.get(1).map(String::as_str) == Some("webhook"))
                .all(|r| r[2].ends_with(&format!(" {}", receiver.url))),
        "the log's deliveries of {record}: {log:#?}"
    );

    // (b) Redeliver, with the receiver answering 204 now.
    receiver.answer(204);
    cdp.navigate(&panel).await?;
    cdp.click(&format!(
        "#allybridge-failed form:has(input[name=\"delivery\"][value=\"{delivery}\"]) input[type=\"submit\"]"
    ))
    .await?;
    wait_for_notice(&mut cdp, "success", "queued again").await?;
    let redelivered = until("the redelivery to arrive", async || {
        Ok(receiver
            .received()
            .into_iter()
            .find(|d| d.answered == 204 && d.webhook_id == message_id))
    })
    .await?;
    ensure!(
        redelivered.body == attempts[0].body,
        "the redelivery carries the event: {}",
        redelivered.body
    );
    until("the delivery to be delivered", async || {
        let state = site.state().await?;
        Ok(
            outbox_row(&state, hook_id, "coupon.created", Some(coupon_id))
                .filter(|r| r["state"] == "delivered"),
        )
    })
    .await?;
    cdp.navigate(&panel).await?;
    let gone = failed_row(&mut cdp, delivery).await?;
    ensure!(
        gone.is_none(),
        "the delivered row is still under Failed deliveries: {gone:?}"
    );
    let subscription = subscription_row(&mut cdp, hook_id).await?;
    ensure!(
        subscription.get(3).map(String::as_str) == Some("active")
            && subscription.get(5).map(String::as_str) == Some("204"),
        "the subscription shows {subscription:?}"
    );

    // (c) Send test event.
    cdp.click(
        "form:has(input[name=\"action\"][value=\"allybridge_test_event\"]) input[type=\"submit\"]",
    )
    .await?;
    wait_for_notice(&mut cdp, "success", "test event was queued").await?;
    let test = until("the test event to arrive", async || {
        Ok(receiver
            .received()
            .into_iter()
            .find(|d| d.body["type"] == "webhook.test"))
    })
    .await?;
    ensure!(
        test.answered == 204
            && test.body["data"]["id"] == 0
            && test.body["data"]["message"].is_string(),
        "the test event: {test:?}"
    );
    until("the test event to be delivered", async || {
        let state = site.state().await?;
        Ok(outbox_row(&state, hook_id, "webhook.test", None).filter(|r| r["state"] == "delivered"))
    })
    .await?;

    // (4) Nothing the panel's pages asked for left the site. `data:` URLs
    // are inline, not requests; WordPress's admin bar (on every wp-admin
    // page, not the panel's) shows the user's Gravatar.
    let avatars: Vec<String> = serde_json::from_value(
        cdp.eval(
            "Array.from(document.querySelectorAll('#wpadminbar img.avatar')).flatMap(i => [i.src, ...i.srcset.split(',').map(s => s.trim().split(' ')[0])]).filter(u => u)",
        )
        .await?,
    )?;
    let unscheme = |u: &str| {
        u.split_once("://")
            .map_or(u.to_string(), |(_, rest)| rest.to_string())
    };
    let avatars: Vec<String> = avatars.iter().map(|u| unscheme(u)).collect();
    let requested: Vec<String> = cdp
        .take_events("Network.requestWillBeSent")
        .iter()
        .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
        .collect();
    ensure!(
        requested.iter().any(|u| u.starts_with(&panel)),
        "no request for the panel was recorded: {requested:#?}"
    );
    let site_prefix = format!("{}/", site.url);
    let off_site: Vec<_> = requested
        .iter()
        .filter(|u| !u.starts_with(&site_prefix) && !u.starts_with("data:"))
        .filter(|u| !avatars.contains(&unscheme(u)))
        .collect();
    ensure!(
        off_site.is_empty(),
        "the panel made requests off the site: {off_site:#?}"
    );
    cdp.close().await;
    Ok(())
}

/// Logs in as the site's administrator on wp-login.php, landing on `panel`.
async fn log_in(cdp: &mut Browser, site: &Site, panel: &str) -> anyhow::Result<()> {
    let login = format!(
        "{}/wp-login.php?redirect_to={}",
        site.url,
        transport::query_value(panel)
    );
    cdp.open(&login).await?;
    cdp.wait_for(
        "!!document.querySelector('#user_login') && document.readyState === 'complete'",
        "the login page",
    )
    .await?;
    cdp.eval(&format!(
        "document.querySelector('#user_login').value = {}; document.querySelector('#user_pass').value = {}; true",
        json!(site.admin_user),
        json!(site.admin_password)
    ))
    .await?;
    cdp.click("#wp-submit").await?;
    cdp.wait_for(
        "!!document.querySelector('.allybridge-panel') && document.readyState === 'complete'",
        "the panel after logging in",
    )
    .await?;
    Ok(())
}

/// Waits for the panel to show a notice of this kind (`success`, `error`…)
/// saying `text`, with the one-time notice argument gone from the address
/// bar (so a reload does not show it again).
async fn wait_for_notice(cdp: &mut Browser, kind: &str, text: &str) -> anyhow::Result<()> {
    cdp.wait_for(
        &format!(
            "document.readyState === 'complete' && !location.search.includes('allybridge_notice') && Array.from(document.querySelectorAll('.allybridge-panel .notice-' + {})).some(n => n.textContent.includes({}))",
            json!(kind),
            json!(text)
        ),
        &format!("the {kind} notice saying {text:?}"),
    )
    .await?;
    Ok(())
}

/// The cells (text, whitespace collapsed) of every body row of `table`.
async fn table(cdp: &mut Browser, table: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let rows = cdp
        .eval(&format!(
            "Array.from(document.querySelectorAll({} + ' tbody tr')).map(tr => Array.from(tr.cells).map(td => td.innerText.replace(/\\s+/g, ' ').trim()))",
            json!(table)
        ))
        .await?;
    Ok(serde_json::from_value(rows)?)
}

/// The first six cells of the Failed deliveries row of outbox row `delivery`, if it is listed.
async fn failed_row(cdp: &mut Browser, delivery: i64) -> anyhow::Result<Option<Vec<String>>> {
    let cells = cdp
        .eval(&format!(
            "(() => {{ const i = document.querySelector('#allybridge-failed input[name=\"delivery\"][value=\"{delivery}\"]'); return i ? Array.from(i.closest('tr').cells).slice(0, 6).map(td => td.innerText.replace(/\\s+/g, ' ').trim()) : null; }})()"
        ))
        .await?;
    Ok(serde_json::from_value(cells)?)
}

/// The Webhook subscriptions row of `hook_id`.
async fn subscription_row(cdp: &mut Browser, hook_id: i64) -> anyhow::Result<Vec<String>> {
    table(cdp, "#allybridge-subscriptions")
        .await?
        .into_iter()
        .find(|r| r.first() == Some(&hook_id.to_string()))
        .with_context(|| format!("subscription {hook_id} is not in the panel"))
}

/// The outbox row (from the ground truth) of this subscription, topic and record.
fn outbox_row(state: &Value, hook_id: i64, topic: &str, record: Option<i64>) -> Option<Value> {
    state["outbox"].as_array()?.iter().rev().find_map(|r| {
        let ours = r["webhook_id"] == hook_id
            && r["topic"] == topic
            && record.is_none_or(|id| r["record_id"] == id);
        ours.then(|| r.clone())
    })
}

/// Probes every 100 ms until it finds something, for up to [`SETTLE`].
async fn until<T>(
    what: &str,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(found) = probe().await? {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A Bridge API call as the plugin's sync user.
async fn api(
    site: &Site,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = reqwest::Client::new()
        .request(method.clone(), site.api_url(path))
        .basic_auth(&site.user, Some(&site.app_password));
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await?;
    let status = response.status();
    let value: Value = response.json().await?;
    ensure!(status.is_success(), "{method} {path}: {status} {value}");
    Ok(value)
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    webhook_id: String,
    body: Value,
    answered: u16,
}

#[derive(Clone)]
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    /// A webhook receiver on a free loopback port, answering 500 until told otherwise.
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver = Self {
            url: format!("http://{}/allybridge", listener.local_addr()?),
            status: Arc::new(AtomicU16::new(500)),
            got: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(receiver)
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Delivery> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answered = r.status.load(Ordering::SeqCst);
    let delivery = Delivery {
        webhook_id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        answered,
    };
    if let Ok(mut got) = r.got.lock() {
        got.push(delivery);
    }
    StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
