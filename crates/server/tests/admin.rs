//! The admin page over HTTP: login, sessions, CSRF on every form, dead-letter
//! replay and drop, the mode switch, the log filter, and no secret in any page.

mod common;

use common::{AA_PASSWORD, Browser, GHL_TOKEN, HANDSHAKE, PASSWORD, csrf_of, log_in, spawn_app};
use model::{Flow, FlowMode};
use store::JobState;

#[tokio::test]
async fn pages_need_a_session() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    let page = b.get(&app.url("/admin")).await?;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/admin/login"));
    assert_eq!(b.get(&app.url("/admin/log")).await?.status, 401);
    Ok(())
}

#[tokio::test]
async fn wrong_password_is_refused_and_right_one_sets_the_cookie() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    let refused = log_in(&mut b, &app, "not-the-password").await?;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("Wrong password"));
    assert!(!b.has_cookie("allybridge_session"));

    let ok = log_in(&mut b, &app, PASSWORD).await?;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/admin"));
    assert!(b.has_cookie("allybridge_session"));
    let raw = b
        .http
        .get(app.url("/admin/login"))
        .send()
        .await?
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .unwrap_or_default();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );

    let dash = b.get(&app.url("/admin")).await?;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("coupons_to_accessally"));
    assert!(dash.body.contains("/admin/assets/htmx.min.js"));
    Ok(())
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_with_a_clear_429() -> anyhow::Result<()> {
    let window = std::time::Duration::from_millis(600);
    let app = common::spawn_app_with(|c| {
        c.login_limit = server::admin::auth::LoginLimit {
            max_failures: 3,
            window,
        }
    })
    .await?;
    let mut b = Browser::new()?;
    for _ in 0..3 {
        assert_eq!(log_in(&mut b, &app, "guess").await?.status, 401);
    }
    // Even the right password waits: the address is refused before any check.
    let refused = log_in(&mut b, &app, PASSWORD).await?;
    assert_eq!(refused.status, 429);
    assert!(
        refused.body.contains("Too many failed logins") && refused.body.contains("try again"),
        "{}",
        refused.body
    );
    let wait: u64 = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!(wait >= 1);
    assert!(!b.has_cookie("allybridge_session"));
    tokio::time::sleep(window).await;
    let ok = log_in(&mut b, &app, PASSWORD).await?;
    assert_eq!(ok.status, 303, "{}", ok.body);
    Ok(())
}

#[tokio::test]
async fn login_without_its_token_is_forbidden() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    let r = b
        .post(
            &app.url("/admin/login"),
            &[("password", PASSWORD), ("csrf", "x")],
        )
        .await?;
    assert_eq!(r.status, 403);
    Ok(())
}

#[tokio::test]
async fn forms_need_the_session_csrf_token() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let id = app.dead_letter("prod-1", "AccessAlly answered 500").await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let dash = b.get(&app.url("/admin")).await?;
    let csrf = csrf_of(&dash.body)?;
    let replay = app.url(&format!("/admin/dlq/{id}/replay"));

    assert_eq!(b.post(&replay, &[]).await?.status, 403);
    assert_eq!(b.post(&replay, &[("csrf", "0000")]).await?.status, 403);
    let mut stranger = Browser::new()?;
    assert_eq!(
        stranger.post(&replay, &[("csrf", &csrf)]).await?.status,
        403
    );
    let modes = app.url("/admin/modes");
    let form = [
        ("tenant", "main"),
        ("flow", "coupons_to_accessally"),
        ("mode", "write"),
    ];
    assert_eq!(b.post(&modes, &form).await?.status, 403);
    assert_eq!(
        app.store.job(id).await?.map(|j| j.state),
        Some(JobState::Dead)
    );
    let tenant = app.engine.tenant("main").expect("tenant");
    assert_eq!(tenant.mode(Flow::CouponsToAccessally), FlowMode::Observe);

    // With the right token: the effect happens.
    let r = b.post(&replay, &[("csrf", &csrf)]).await?;
    assert_eq!(r.status, 303);
    assert_eq!(
        app.store.job(id).await?.map(|j| j.state),
        Some(JobState::Pending)
    );
    assert!(app.store.dead_letters(0, 10).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn replay_and_drop_from_the_page_change_the_store() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let a = app.dead_letter("prod-a", "AccessAlly answered 500").await?;
    let d = app.dead_letter("prod-d", "AccessAlly answered 422").await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let dash = b.get(&app.url("/admin")).await?;
    assert!(dash.body.contains(&format!("/admin/dlq/{a}/replay")));
    let csrf = csrf_of(&dash.body)?;
    let r = b
        .post(
            &app.url(&format!("/admin/dlq/{a}/replay")),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(r.status, 303);
    let r = b
        .post(
            &app.url(&format!("/admin/dlq/{d}/drop")),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(r.status, 303);
    assert!(app.store.dead_letters(0, 10).await?.is_empty());
    assert_eq!(
        app.store.job(a).await?.map(|j| j.state),
        Some(JobState::Pending)
    );
    assert!(app.store.job(d).await?.is_none());
    let dash = b.get(&app.url("/admin")).await?;
    assert!(!dash.body.contains(&format!("/admin/dlq/{a}/replay")));
    Ok(())
}

#[tokio::test]
async fn the_mode_switch_takes_effect_in_the_engine() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let csrf = csrf_of(&b.get(&app.url("/admin")).await?.body)?;
    let r = b
        .post(
            &app.url("/admin/modes"),
            &[
                ("csrf", &csrf),
                ("tenant", "main"),
                ("flow", "orders_to_highlevel"),
                ("mode", "off"),
            ],
        )
        .await?;
    assert_eq!(r.status, 303);
    let tenant = app.engine.tenant("main").expect("tenant");
    assert_eq!(tenant.mode(Flow::OrdersToHighlevel), FlowMode::Off);
    assert_eq!(tenant.mode(Flow::CouponsToAccessally), FlowMode::Observe);
    let bad = b
        .post(
            &app.url("/admin/modes"),
            &[
                ("csrf", &csrf),
                ("tenant", "main"),
                ("flow", "orders_to_highlevel"),
                ("mode", "sideways"),
            ],
        )
        .await?;
    assert_eq!(bad.status, 400);
    Ok(())
}

/// Keeps switches in memory, or refuses them all.
#[derive(Default)]
struct Modes {
    refuse: bool,
    kept: std::sync::Mutex<Vec<(String, Flow, FlowMode)>>,
}

impl server::admin::ModeStore for Modes {
    fn save(
        &self,
        tenant: &str,
        flow: Flow,
        mode: FlowMode,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.refuse {
            return Err("the disk is full".into());
        }
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((tenant.to_string(), flow, mode));
        Ok(())
    }
    fn location(&self) -> String {
        "modes-under-test.toml".into()
    }
}

async fn switch(app: &common::TestApp, mode: &str) -> anyhow::Result<common::Page> {
    let mut b = Browser::new()?;
    log_in(&mut b, app, PASSWORD).await?;
    let page = b.get(&app.url("/admin")).await?;
    let csrf = csrf_of(&page.body)?;
    b.post(
        &app.url("/admin/modes"),
        &[
            ("csrf", &csrf),
            ("tenant", "main"),
            ("flow", "orders_to_highlevel"),
            ("mode", mode),
        ],
    )
    .await
}

#[tokio::test]
async fn a_switch_is_kept_before_it_applies_and_refused_if_it_cannot_be() -> anyhow::Result<()> {
    let kept = std::sync::Arc::new(Modes::default());
    let store: std::sync::Arc<dyn server::admin::ModeStore> = kept.clone();
    let app = common::spawn_app_with(|c| c.modes = Some(store)).await?;
    assert_eq!(switch(&app, "write").await?.status, 303);
    assert_eq!(
        *kept.kept.lock().unwrap_or_else(|e| e.into_inner()),
        [("main".to_string(), Flow::OrdersToHighlevel, FlowMode::Write)]
    );
    let tenant = app.engine.tenant("main").expect("tenant");
    assert_eq!(tenant.mode(Flow::OrdersToHighlevel), FlowMode::Write);
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    assert!(
        b.get(&app.url("/admin"))
            .await?
            .body
            .contains("modes-under-test.toml")
    );

    let refusing: std::sync::Arc<dyn server::admin::ModeStore> = std::sync::Arc::new(Modes {
        refuse: true,
        ..Modes::default()
    });
    let app = common::spawn_app_with(|c| c.modes = Some(refusing)).await?;
    let refused = switch(&app, "off").await?;
    assert_eq!(refused.status, 500);
    assert!(
        refused.body.contains("not switched") && refused.body.contains("the disk is full"),
        "{}",
        refused.body
    );
    let tenant = app.engine.tenant("main").expect("tenant");
    assert_eq!(tenant.mode(Flow::OrdersToHighlevel), FlowMode::Observe);
    Ok(())
}

/// The row of `flow` in the dashboard's flows table.
fn flow_row<'a>(body: &'a str, flow: &str) -> &'a str {
    let start = body
        .find(&format!("data-flow=\"{flow}\""))
        .unwrap_or_else(|| panic!("no row for {flow}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn the_log_filters_by_entity_and_record_id_on_either_system() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    // HighLevel product p-9 is offering 42 in AccessAlly.
    app.store
        .save_link(&store::NewLink {
            entity_type: "main/product".into(),
            highlevel_id: "p-9".into(),
            accessally_id: "42".into(),
            highlevel_hash: None,
            accessally_hash: None,
        })
        .await?;
    for (entity, record) in [("main/coupon", "SUMMER"), ("main/product", "p-9")] {
        app.store
            .log_integration(&store::IntegrationEvent {
                entity_type: entity.into(),
                record_id: record.into(),
                action: "create".into(),
                from_system: store::System::HighLevel,
                to_system: store::System::AccessAlly,
                result: "observed".into(),
                detail: "would create".into(),
                job_id: None,
            })
            .await?;
    }
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let all = b.get(&app.url("/admin/log")).await?;
    assert!(all.body.contains("SUMMER") && all.body.contains("p-9"));
    let one = b.get(&app.url("/admin/log?record=p-9")).await?;
    assert!(one.body.contains("p-9") && !one.body.contains("SUMMER"));
    // The offering's id finds the product's entries.
    let other_side = b.get(&app.url("/admin/log?record=42")).await?;
    assert!(
        other_side.body.contains("p-9") && !other_side.body.contains("SUMMER"),
        "{}",
        other_side.body
    );
    let ent = b.get(&app.url("/admin/log?entity=main%2Fcoupon")).await?;
    assert!(ent.body.contains("SUMMER") && !ent.body.contains("p-9"));
    // Each flow's last activity: the product read from HighLevel is
    // products_to_accessally's, not products_to_highlevel's.
    let dash = b.get(&app.url("/admin")).await?;
    assert!(!flow_row(&dash.body, "main/products_to_accessally").contains("never"));
    assert!(flow_row(&dash.body, "main/products_to_highlevel").contains("never"));
    assert!(!flow_row(&dash.body, "main/coupons_to_accessally").contains("never"));
    Ok(())
}

#[tokio::test]
async fn the_mode_switch_says_that_write_needs_the_write_scopes() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let dash = b.get(&app.url("/admin")).await?;
    // A flow that writes to HighLevel, observing: its write scopes are named.
    let orders = flow_row(&dash.body, "main/orders_to_highlevel");
    assert!(
        orders.contains("write needs the HighLevel scopes") && orders.contains("invoices.write"),
        "{orders}"
    );
    // A flow that writes only to AccessAlly needs no HighLevel scope to write.
    let coupons = flow_row(&dash.body, "main/coupons_to_accessally");
    assert!(!coupons.contains("write needs"), "{coupons}");
    assert!(
        dash.body.contains("needs its write scopes"),
        "{}",
        dash.body
    );
    Ok(())
}

#[tokio::test]
async fn no_secret_appears_in_any_page() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.dead_letter(
        "prod-s",
        &format!("AccessAlly 401 Unauthorized: bridge:{AA_PASSWORD} refused; token {GHL_TOKEN}"),
    )
    .await?;
    app.connections.set(
        "main",
        store::System::AccessAlly,
        server::health::ConnectionState::AuthFailing {
            reason: format!("AccessAlly answered 401 for bridge:{AA_PASSWORD}"),
        },
    );
    let mut b = Browser::new()?;
    let mut pages = vec![b.get(&app.url("/admin/login")).await?.body];
    pages.push(log_in(&mut b, &app, "wrong").await?.body);
    log_in(&mut b, &app, PASSWORD).await?;
    for path in ["/admin", "/admin/log", "/metrics"] {
        pages.push(b.get(&app.url(path)).await?.body);
    }
    assert!(pages[2].contains("authentication failing"));
    for page in &pages {
        for secret in [
            PASSWORD,
            GHL_TOKEN,
            AA_PASSWORD,
            HANDSHAKE,
            app.hash.as_str(),
        ] {
            assert!(!page.contains(secret), "a secret leaked into a page");
        }
    }
    Ok(())
}

#[tokio::test]
async fn htmx_is_served_from_the_binary() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let r = reqwest::get(app.url("/admin/assets/htmx.min.js")).await?;
    assert_eq!(r.status(), 200);
    let body = r.text().await?;
    assert!(body.starts_with("/*! htmx 2"));
    assert!(body.contains("htmx"));
    Ok(())
}
