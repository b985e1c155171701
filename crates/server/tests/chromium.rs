//! The admin pages in a real headless Chromium (Debian's `chromium`),
//! driven over the DevTools protocol by the `browser` crate, on a store
//! holding a sample of a small shop's days: log in by typing the password,
//! reach the dashboard by the keyboard with a visible focus, open every
//! page at a laptop's and a phone's width — each with a label on every
//! control, none wider than the window — and keep a screenshot of each
//! under the cargo target directory (never in the repository); click
//! Replay on a dead letter and see the store change; and check, from the
//! browser's own network events, that no page asked any host but the
//! daemon for anything. Without Chromium the test prints `SKIPPED` and
//! passes, except when `CI` is set, where it fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use browser::{Availability, Browser};
use common::{PASSWORD, spawn_app};
use serde_json::{Value, json};
use store::JobState;

/// A laptop's window and a phone's (an iPhone 12–15's CSS width).
const WIDTHS: [(&str, u32, bool); 2] = [("desktop", 1280, false), ("phone", 390, true)];

/// Every page, by the name its screenshots get.
const PAGES: [(&str, &str); 8] = [
    ("dashboard", "/admin"),
    ("log", "/admin/log"),
    ("log-search", "/admin/log?q=watercolour"),
    ("log-entry", "/admin/log/1"),
    ("dead-letters", "/admin/dlq"),
    ("drift", "/admin/drift"),
    ("api-calls", "/admin/api"),
    ("alerts", "/admin/alerts"),
];

/// Controls without a label and links or buttons without a name, as HTML snippets.
const UNLABELLED: &str = r#"(() => {
  const bad = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) bad.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
})()"#;

#[tokio::test]
async fn every_page_in_chromium_at_desktop_and_phone_width() -> anyhow::Result<()> {
    let binary = match browser::find()? {
        Availability::Ready(binary) => binary,
        Availability::Skip(why) => {
            println!("SKIPPED: {why}");
            return Ok(());
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run(&binary))
        .await
        .context("the Chromium test took too long")?
}

/// Where the screenshots go: the cargo target directory's scratch space.
fn screenshots() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("admin-screenshots");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Saves a screenshot of the whole page as `{name}-{width_name}-{width}.png`
/// in `shots`; returns a line saying how high the page's content is.
async fn keep(
    cdp: &mut Browser,
    shots: &std::path::Path,
    name: &str,
    width_name: &str,
    width: u32,
) -> anyhow::Result<String> {
    let shot = cdp.screenshot_full_page().await?;
    ensure!(
        shot.png.starts_with(b"\x89PNG"),
        "the screenshot of {name} is no PNG"
    );
    let file = shots.join(format!("{name}-{width_name}-{width}.png"));
    std::fs::write(&file, &shot.png).with_context(|| format!("writing {}", file.display()))?;
    let content = cdp
        .eval("Math.ceil(document.body.getBoundingClientRect().height)")
        .await?;
    Ok(format!(
        "{name} at {width} px: {content} px of content ({} px screenshot)",
        shot.height
    ))
}

/// Presses and releases a key the way a keyboard does.
async fn press(cdp: &mut Browser, key: &str, code: i64) -> anyhow::Result<()> {
    for kind in ["keyDown", "keyUp"] {
        cdp.call(
            "Input.dispatchKeyEvent",
            json!({ "type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code }),
        )
        .await?;
    }
    Ok(())
}

async fn run(binary: &str) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.seed_sample().await?;
    let job = app
        .dead_letter("prod-chromium", "AccessAlly answered 500")
        .await?;
    let origin = format!("http://{}/", app.addr);
    let shots = screenshots()?;
    let mut cdp = Browser::launch(binary).await?;
    let outcome = drive(&mut cdp, &app, job, &shots).await;
    // Whatever happened, every request the pages made so far is checked.
    cdp.eval("true").await?;
    let requested: Vec<String> = cdp
        .take_events("Network.requestWillBeSent")
        .iter()
        .filter_map(|e| e["params"]["request"]["url"].as_str().map(String::from))
        .collect();
    let refused: Vec<String> = cdp
        .take_events("Log.entryAdded")
        .iter()
        .filter_map(|e| e["params"]["entry"]["text"].as_str().map(String::from))
        .filter(|text| text.contains("Content Security Policy"))
        .collect();
    cdp.close().await;
    outcome?;
    ensure!(
        refused.is_empty(),
        "the page's CSP refused something it uses: {refused:?}"
    );
    let off_host: Vec<&String> = requested
        .iter()
        .filter(|url| !url.starts_with(&origin))
        .collect();
    ensure!(
        off_host.is_empty(),
        "pages asked other hosts than the daemon ({origin}): {off_host:?}"
    );
    // The capture saw the pages' own requests: its silence above means something.
    for own in [
        "/admin/dlq",
        "/admin/assets/admin.css",
        "/admin/assets/htmx.min.js",
    ] {
        ensure!(
            requested.iter().any(|url| url.contains(own)),
            "the browser reported no request for {own}: {requested:?}"
        );
    }
    Ok(())
}

/// Everything the test does in the browser, with the network domain on.
async fn drive(
    cdp: &mut Browser,
    app: &common::TestApp,
    job: i64,
    shots: &std::path::Path,
) -> anyhow::Result<()> {
    cdp.open("about:blank").await?;
    cdp.call("Network.enable", json!({})).await?;
    cdp.call("Log.enable", json!({})).await?;
    cdp.set_viewport(1280, 900, false).await?;
    cdp.navigate(&app.url("/admin/login")).await?;
    cdp.wait_for("!!document.querySelector('#password')", "the login page")
        .await?;
    let mut heights = Vec::new();
    for (width_name, width, mobile) in WIDTHS {
        cdp.set_viewport(width, 900, mobile).await?;
        heights.push(keep(cdp, shots, "login", width_name, width).await?);
    }
    cdp.set_viewport(1280, 900, false).await?;
    let labelled = cdp
        .eval("document.querySelector('#password').labels.length === 1")
        .await?;
    ensure!(
        labelled == Value::Bool(true),
        "the password field has no label"
    );
    cdp.eval(&format!(
        "document.querySelector('#password').value = {}; document.querySelector('#login').click(); true",
        json!(PASSWORD)
    ))
    .await?;
    cdp.wait_for(
        "location.pathname === '/admin' && !!document.querySelector('[data-flow=\"main/coupons_to_accessally\"]')",
        "a flow on the dashboard",
    )
    .await?;
    cdp.wait_for("typeof htmx === 'object'", "htmx to load")
        .await?;

    // The keyboard reaches the page, and shows where it is.
    press(cdp, "Tab", 9).await?;
    let focus = cdp
        .eval("(() => { const a = document.activeElement; return { skip: a.classList.contains('skip'), ring: getComputedStyle(a).boxShadow }; })()")
        .await?;
    ensure!(
        focus["skip"] == Value::Bool(true),
        "Tab does not reach the skip link first: {focus}"
    );
    ensure!(
        focus["ring"].as_str().is_some_and(|r| r != "none"),
        "the focused link shows no focus ring: {focus}"
    );
    press(cdp, "Tab", 9).await?;
    let ring = cdp
        .eval("getComputedStyle(document.activeElement).boxShadow")
        .await?;
    ensure!(
        ring.as_str().is_some_and(|r| r != "none"),
        "the next link shows no focus ring"
    );

    for (name, path) in PAGES {
        for (width_name, width, mobile) in WIDTHS {
            cdp.set_viewport(width, 900, mobile).await?;
            cdp.navigate(&app.url(path)).await?;
            let missing = cdp.eval(UNLABELLED).await?;
            ensure!(
                missing.as_array().is_some_and(Vec::is_empty),
                "{path} at {width} px: controls without a label: {missing}"
            );
            // The page's own account of what it loaded agrees.
            let elsewhere = cdp
                .eval("performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin + '/'))")
                .await?;
            ensure!(
                elsewhere.as_array().is_some_and(Vec::is_empty),
                "{path} loaded from elsewhere: {elsewhere}"
            );
            let overflow = cdp
                .eval("document.documentElement.scrollWidth - window.innerWidth")
                .await?;
            ensure!(
                overflow.as_i64().is_some_and(|o| o <= 0),
                "{path} at {width} px is wider than the window by {overflow} px"
            );
            heights.push(keep(cdp, shots, name, width_name, width).await?);
        }
    }
    println!(
        "screenshots in {}:\n  {}",
        shots.display(),
        heights.join("\n  ")
    );

    // The log's first page takes in a new line by itself (htmx, every 3 s).
    cdp.navigate(&app.url("/admin/log")).await?;
    app.logged(
        model::Flow::CouponsToAccessally,
        "coupon-live",
        "create",
        "written",
        "coupon LIVE-CHECK: coupon created",
    )
    .await?;
    cdp.wait_for(
        "document.querySelector('#log-entries').textContent.includes('LIVE-CHECK')",
        "the new log line on the live log",
    )
    .await?;

    // Replay a dead letter by clicking its button.
    cdp.set_viewport(1280, 900, false).await?;
    cdp.navigate(&app.url("/admin/dlq")).await?;
    let selector = format!("tr[data-job=\"{job}\"] button.replay");
    cdp.click(&selector).await?;
    let mut replayed = false;
    for _ in 0..100 {
        if app.store.job(job).await?.map(|j| j.state) == Some(JobState::Pending) {
            replayed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !replayed {
        bail!("the dead letter was not replayed after clicking Replay");
    }
    cdp.wait_for(
        &format!(
            "location.pathname === '/admin/dlq' && !document.querySelector({}) && document.body.textContent.includes('Replayed 1 dead letter')",
            json!(selector)
        ),
        "the dead letters page without the replayed one",
    )
    .await?;
    Ok(())
}
