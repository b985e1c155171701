//! The admin page in a real headless Chromium (Debian's `chromium`),
//! driven over the DevTools protocol by the `browser` crate: open the login
//! page, type the password and submit, see a flow on the dashboard, click
//! Replay on a dead letter, and check the store. Without Chromium the test
//! prints `SKIPPED` and passes, except when `CI` is set, where it fails.

mod common;

use std::time::Duration;

use anyhow::{Context, bail};
use browser::{Availability, Browser};
use common::{PASSWORD, spawn_app};
use serde_json::json;
use store::JobState;

#[tokio::test]
async fn log_in_see_a_flow_and_replay_a_dead_letter_in_chromium() -> anyhow::Result<()> {
    let binary = match browser::find()? {
        Availability::Ready(binary) => binary,
        Availability::Skip(why) => {
            println!("SKIPPED: {why}");
            return Ok(());
        }
    };
    tokio::time::timeout(Duration::from_secs(40), run(&binary))
        .await
        .context("the Chromium test took too long")?
}

async fn run(binary: &str) -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let job = app
        .dead_letter("prod-chromium", "AccessAlly answered 500")
        .await?;
    let mut cdp = Browser::launch(binary).await?;
    cdp.open(&app.url("/admin/login")).await?;

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
    cdp.click(&selector).await?;
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
            cdp.close().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cdp.close().await;
    bail!("the dead letter was not replayed after clicking Replay")
}
