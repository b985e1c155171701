//! `allybridge serve` as a user meets it, end to end against the
//! simulators: a tenant whose HighLevel OAuth consent was never completed
//! (started, reported, connected through the real callback without a
//! restart), the alert watch announcing a dead letter and drift once
//! each at a Slack-compatible receiver, then their resolution, and a flow
//! mode switched on the admin page surviving a restart.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    Browser, GhlAuth, Harness, Sims, csrf_of, eventually, log_in, tenant_block, tenant_env,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use sim_kit::Seed;

const PASSWORD: &str = "daemon-admin-Pw!42";

/// The state `/readyz` reports for one connection.
async fn readiness(h: &Harness, url: &str, tenant: &str, system: &str) -> String {
    let ready: Value = h
        .http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("readyz JSON");
    ready["connections"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["tenant"] == tenant && c["system"] == system)
        })
        .map(|c| common::s(c, "state"))
        .unwrap_or_default()
}

/// One sample of the daemon's `/metrics`, e.g.
/// `allybridge_connection_up{tenant="main",system="highlevel"}`.
async fn metric(h: &Harness, url: &str, sample: &str) -> Option<f64> {
    let text = h
        .http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
}

fn connection_up(tenant: &str, system: &str) -> String {
    format!("allybridge_connection_up{{tenant=\"{tenant}\",system=\"{system}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconnected_oauth_tenant_starts_reported_and_connects_through_the_callback()
-> anyhow::Result<()> {
    let mut h = Harness::bare(Sims::start(Seed::Demo, None).await).await;
    let later = Sims::start(Seed::Demo, None).await;
    h.env.extend(tenant_env(&later, "LATER"));
    let hash = server::admin::auth::hash_password(PASSWORD)?;
    h.write_config_text(&format!(
        "[server]\nadmin_password_hash = \"{hash}\"\n[engine]\nworkers = 4\ncoupon_poll_interval = \"1s\"\nproduct_poll_interval = \"1s\"\norder_poll_interval = \"1s\"\n{}{}",
        h.main_tenant("write"),
        tenant_block(
            "later",
            &later.ghl,
            &later.aa,
            GhlAuth::OAuth,
            "LATER",
            "write"
        )
    ));
    let daemon = h.serve(&[]).await;
    assert!(
        daemon
            .log_text()
            .contains("tenant `later` is not connected to HighLevel"),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        readiness(&h, &daemon.url, "later", "highlevel").await,
        "not_connected"
    );
    assert_eq!(
        readiness(&h, &daemon.url, "main", "highlevel").await,
        "connected"
    );
    // Prometheus sees the same.
    assert_eq!(
        metric(&h, &daemon.url, &connection_up("later", "highlevel")).await,
        Some(0.0)
    );
    assert_eq!(
        metric(&h, &daemon.url, &connection_up("main", "highlevel")).await,
        Some(1.0)
    );

    // The other tenant runs meanwhile; the unconnected one is left alone.
    let differences = h.converge(Duration::from_secs(30)).await;
    assert!(differences.is_empty(), "main: {differences:?}");
    let later_writes = common::control(&h.http, &later.aa.url, "/__sim/requests?limit=0").await;
    assert_eq!(later_writes["summary"]["writes"], 0, "{later_writes}");

    let (mut b, page) = dashboard(&daemon).await?;
    assert!(page.body.contains("not connected"), "{}", page.body);
    assert!(page.body.contains("Connect HighLevel (OAuth)"));

    // The consent, as a browser follows it: admin page → consent screen → our callback.
    let csrf = csrf_of(&page.body)?;
    let start = b
        .post(&daemon.url("/admin/oauth/later"), &[("csrf", &csrf)])
        .await?;
    let consent = start.location.clone().unwrap_or_default();
    assert!(
        consent.starts_with(&format!("{}/v2/oauth/chooselocation?", later.ghl.url)),
        "{consent}"
    );
    let callback = url::form_urlencoded::byte_serialize(daemon.url("/oauth/callback").as_bytes())
        .collect::<String>();
    assert!(consent.contains(&callback), "redirect_uri: {consent}");
    let redirect = b.get(&consent).await?;
    let back = redirect.location.clone().unwrap_or_default();
    assert!(
        back.starts_with(&daemon.url("/oauth/callback?code=")),
        "{back}"
    );
    let connected = b.get(&back).await?;
    assert_eq!(connected.status, 200, "{}", connected.body);
    assert!(connected.body.contains("is connected to HighLevel"));

    // Stored encrypted: the store decrypts it, the database file does not show it.
    let store = h.store().await;
    let pair = store
        .credential("later/highlevel", store::CredentialKind::HighLevelOAuth)
        .await?
        .expect("the token pair is stored");
    let access = pair.secret.expose_secret().to_string();
    let refresh = pair
        .refresh_secret
        .as_ref()
        .map(|r| r.expose_secret().to_string())
        .expect("a refresh token is stored");
    store.close().await;
    for file in ["allybridge.db", "allybridge.db-wal"] {
        let Ok(bytes) = std::fs::read(h.path(file)) else {
            continue;
        };
        let raw = String::from_utf8_lossy(&bytes);
        assert!(!raw.contains(&access) && !raw.contains(&refresh), "{file}");
    }
    assert!(!daemon.log_text().contains(&access));

    // Healthy, and its flows run without a restart.
    assert!(
        eventually(Duration::from_secs(10), || async {
            readiness(&h, &daemon.url, "later", "highlevel").await == "connected"
        })
        .await
    );
    let differences = later.converge(&h.http, Duration::from_secs(30)).await;
    assert!(differences.is_empty(), "later: {differences:?}");
    assert_eq!(
        metric(&h, &daemon.url, &connection_up("later", "highlevel")).await,
        Some(1.0)
    );
    assert_eq!(
        readiness(&h, &daemon.url, "later", "highlevel").await,
        "connected"
    );
    let page = b.get(&daemon.url("/admin")).await?;
    assert!(!page.body.contains("not connected"), "{}", page.body);
    // The calls that synced it are in the API activity log, without secrets.
    let calls = b.get(&daemon.url("/admin/api")).await?;
    assert!(
        calls.body.contains("Latest calls") && calls.body.contains("HighLevel · "),
        "{}",
        calls.body
    );
    assert!(!calls.body.contains(&access) && !calls.body.contains(&refresh));
    assert!(!page.body.contains(&access) && !page.body.contains(&refresh));
    assert_eq!(daemon.stop().await, Some(0));
    let store = h.store().await;
    for system in [store::System::HighLevel, store::System::AccessAlly] {
        let calls = store
            .api_activity(&store::ApiActivityQuery {
                system: Some(system),
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        assert!(
            calls.iter().any(|c| c.call.status == Some(200)),
            "{system:?}: {calls:?}"
        );
        assert!(calls.iter().all(|c| !c.call.path.contains('?')));
    }
    store.close().await;
    Ok(())
}

/// A Slack-compatible incoming webhook on port 0 that keeps every body it receives.
async fn alert_receiver() -> anyhow::Result<(String, Arc<Mutex<Vec<Value>>>)> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("alerts").push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, received))
}

/// (incident, state) of every alert received, in order.
fn incidents(received: &Mutex<Vec<Value>>) -> Vec<(String, String)> {
    received
        .lock()
        .expect("alerts")
        .iter()
        .map(|m| {
            (
                common::s(&m["allybridge"], "incident"),
                common::s(&m["allybridge"], "state"),
            )
        })
        .collect()
}

/// A job the daemon's worker must dead-letter: an order id AccessAlly cannot have.
fn bad_order_job(record: &str) -> store::NewJob {
    store::NewJob::now(
        "order.to_highlevel",
        "main/order",
        store::System::AccessAlly,
        record,
        store::Priority::Live,
    )
    .with_payload(serde_json::json!({"tenant": "main"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_watch_announces_a_dead_letter_and_drift_once_then_their_resolution()
-> anyhow::Result<()> {
    let (hook, received) = alert_receiver().await?;
    let mut h = Harness::bare(Sims::start(Seed::Demo, None).await).await;
    h.env.push(("ABT_ALERT_URL".into(), hook));
    h.write_config_text(&format!(
        "[engine]\nworkers = 4\nreconcile_interval = \"1s\"\n[alerts]\nwebhook_url = {{ env = \"ABT_ALERT_URL\" }}\ncooldown = \"1h\"\ncheck_interval = \"1s\"\n{}",
        h.main_tenant("write")
    ));
    let daemon = h.serve(&[]).await;
    let drift = "drift_found:main:all".to_string();
    let dead = "job_dead_lettered:main:orders_to_highlevel".to_string();
    let has = |key: &str, state: &str| {
        incidents(&received)
            .iter()
            .any(|(k, s)| k == key && s == state)
    };

    // The first reconciliation finds everything missing: one drift alert.
    assert!(
        eventually(Duration::from_secs(15), || async { has(&drift, "firing") }).await,
        "{:?}",
        incidents(&received)
    );
    let store = h.store().await;
    store.enqueue(&bad_order_job("not-an-order-1")).await?;
    assert!(
        eventually(Duration::from_secs(15), || async { has(&dead, "firing") }).await,
        "{:?}\n{}",
        incidents(&received),
        daemon.log_text()
    );
    // A second dead letter of the same flow is the same incident, within its cool-down.
    store.enqueue(&bad_order_job("not-an-order-2")).await?;
    assert!(
        eventually(Duration::from_secs(15), || async {
            store
                .dead_letters(0, 10)
                .await
                .map(|d| d.len() == 2)
                .unwrap_or(false)
        })
        .await
    );
    // The sync repairs the drift: the next reconciliation resolves it.
    assert!(
        eventually(Duration::from_secs(30), || async {
            has(&drift, "resolved")
        })
        .await,
        "{:?}",
        incidents(&received)
    );
    // Dropping the dead letters clears their incident.
    for job in store.dead_letters(0, 10).await? {
        let id = job.id.to_string();
        let out = h.run(&["dlq", "drop", &id]).await;
        assert!(out.status.success(), "{}", common::text(&out.stderr));
    }
    assert!(
        eventually(Duration::from_secs(15), || async { has(&dead, "resolved") }).await,
        "{:?}",
        incidents(&received)
    );
    // A few more checks and reconciliations send nothing new: exactly one
    // alert and one resolution per incident, and no other incident.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = incidents(&received);
    for key in [&drift, &dead] {
        let states: Vec<&str> = all
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(states, ["firing", "resolved"], "{key}: {all:?}");
    }
    assert_eq!(all.len(), 4, "{all:?}");
    for body in received.lock().expect("alerts").iter() {
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
        assert!(body["blocks"].is_array(), "{body}");
    }
    store.close().await;
    assert_eq!(daemon.stop().await, Some(0));
    Ok(())
}

/// The mode selected for `flow` (`tenant/flow`) on the admin page.
fn selected_mode(page: &str, flow: &str) -> Option<String> {
    let row = &page[page.find(&format!("data-flow=\"{flow}\""))?..];
    let row = &row[..row.find("</article>")?];
    let selected = row.find(" selected")?;
    let value = row[..selected].rfind("value=\"")? + "value=\"".len();
    Some(row[value..].split('"').next()?.to_string())
}

/// A logged-in browser and the admin page of `daemon`.
async fn dashboard(daemon: &common::Daemon) -> anyhow::Result<(Browser, common::Page)> {
    let mut b = Browser::new()?;
    let login = log_in(&mut b, daemon, PASSWORD).await?;
    anyhow::ensure!(login.status == 303, "login answered {}", login.status);
    let page = b.get(&daemon.url("/admin")).await?;
    Ok((b, page))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_switched_on_the_admin_page_survives_a_restart() -> anyhow::Result<()> {
    let h = Harness::bare(Sims::start(Seed::Empty, None).await).await;
    let hash = server::admin::auth::hash_password(PASSWORD)?;
    let config = |coupons: &str| {
        format!(
            "[server]\nadmin_password_hash = \"{hash}\"\n{}",
            h.main_tenant("observe").replace(
                "coupons_to_accessally = \"observe\"",
                &format!("coupons_to_accessally = \"{coupons}\"")
            )
        )
    };
    h.write_config_text(&config("observe"));
    let flow = "main/coupons_to_accessally";

    let daemon = h.serve(&[]).await;
    let (mut b, page) = dashboard(&daemon).await?;
    assert_eq!(selected_mode(&page.body, flow).as_deref(), Some("observe"));
    assert!(page.body.contains("allybridge.modes.toml"), "{}", page.body);
    let csrf = csrf_of(&page.body)?;
    let switched = b
        .post(
            &daemon.url("/admin/modes"),
            &[
                ("csrf", &csrf),
                ("tenant", "main"),
                ("flow", "coupons_to_accessally"),
                ("mode", "write"),
            ],
        )
        .await?;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let page = b.get(&daemon.url("/admin")).await?;
    assert_eq!(selected_mode(&page.body, flow).as_deref(), Some("write"));
    let kept = std::fs::read_to_string(h.path("allybridge.modes.toml"))?;
    assert!(kept.contains("coupons_to_accessally"), "{kept}");
    assert_eq!(daemon.stop().await, Some(0));

    // After a restart the switch still applies; the other flows keep their mode.
    let daemon = h.serve(&[]).await;
    let (_, page) = dashboard(&daemon).await?;
    assert_eq!(selected_mode(&page.body, flow).as_deref(), Some("write"));
    assert_eq!(
        selected_mode(&page.body, "main/orders_to_highlevel").as_deref(),
        Some("observe")
    );
    assert_eq!(daemon.stop().await, Some(0));

    // Editing the configuration for that flow decides again: it wins.
    h.write_config_text(&config("off"));
    let daemon = h.serve(&[]).await;
    let (_, page) = dashboard(&daemon).await?;
    assert_eq!(selected_mode(&page.body, flow).as_deref(), Some("off"));
    assert_eq!(daemon.stop().await, Some(0));
    Ok(())
}
