//! The admin pages over HTTP: login, sessions, CSRF on every form, the
//! dashboard's counts from the store (a restart changes none), the log's
//! search, pages and raw entries, dead letters named and told in words and
//! replayed or dropped one, ticked or all, drift in words, the mode
//! switch, the compiled-in assets with nothing loaded from elsewhere, and
//! no secret in any page.

mod common;

use common::{AA_PASSWORD, Browser, GHL_TOKEN, HANDSHAKE, PASSWORD, csrf_of, log_in, spawn_app};
use model::{Flow, FlowMode};
use store::JobState;

/// Every page of the admin area, as the navigation links them.
const PAGES: [&str; 6] = [
    "/admin",
    "/admin/log",
    "/admin/dlq",
    "/admin/drift",
    "/admin/api",
    "/admin/alerts",
];

#[tokio::test]
async fn pages_need_a_session() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    for path in PAGES.iter().chain(&["/admin/log/1"]) {
        let page = b.get(&app.url(path)).await?;
        assert_eq!(page.status, 303, "{path}");
        assert_eq!(page.location.as_deref(), Some("/admin/login"), "{path}");
    }
    // The log's live refresh (htmx) is told to go to the login page.
    let live = b.get(&app.url("/admin/log/live")).await?;
    assert_eq!(live.status, 401);
    assert_eq!(
        live.headers
            .get("hx-redirect")
            .and_then(|v| v.to_str().ok()),
        Some("/admin/login")
    );
    let bulk = b
        .post(&app.url("/admin/dlq/bulk"), &[("action", "drop_all")])
        .await?;
    assert_eq!(bulk.status, 403);
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
    let dlq = b.get(&app.url("/admin/dlq")).await?;
    assert!(dlq.body.contains(&format!("/admin/dlq/{a}/replay")));
    let csrf = csrf_of(&dlq.body)?;
    let r = b
        .post(
            &app.url(&format!("/admin/dlq/{a}/replay")),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/admin/dlq?replayed=1"));
    let r = b
        .post(
            &app.url(&format!("/admin/dlq/{d}/drop")),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/admin/dlq?dropped=1"));
    assert!(app.store.dead_letters(0, 10).await?.is_empty());
    assert_eq!(
        app.store.job(a).await?.map(|j| j.state),
        Some(JobState::Pending)
    );
    assert!(app.store.job(d).await?.is_none());
    let dlq = b.get(&app.url("/admin/dlq?dropped=1")).await?;
    assert!(!dlq.body.contains(&format!("/admin/dlq/{a}/replay")));
    assert!(
        dlq.body.contains("Dropped 1 dead letter for good"),
        "{}",
        dlq.body
    );
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

/// The card of `flow` on the dashboard.
fn flow_row<'a>(body: &'a str, flow: &str) -> &'a str {
    let start = body
        .find(&format!("data-flow=\"{flow}\""))
        .unwrap_or_else(|| panic!("no card for {flow}"));
    let rest = &body[start..];
    &rest[..rest.find("</article>").unwrap_or(rest.len())]
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
            highlevel_state: None,
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
    // The live refresh keeps the filter.
    assert!(
        one.body.contains("hx-get=\"/admin/log/live?record=p-9\""),
        "{}",
        one.body
    );
    let live = b.get(&app.url("/admin/log/live?record=p-9")).await?;
    assert!(live.body.contains("p-9") && !live.body.contains("SUMMER"));
    assert!(!live.body.contains("<html"), "the live part is a fragment");
    // The offering's id finds the product's entries.
    let other_side = b.get(&app.url("/admin/log/live?record=42")).await?;
    assert!(
        other_side.body.contains("p-9") && !other_side.body.contains("SUMMER"),
        "{}",
        other_side.body
    );
    let ent = b
        .get(&app.url("/admin/log/live?entity=main%2Fcoupon"))
        .await?;
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
    // Free text from every source a page shows.
    let entry = app
        .logged(
            Flow::ProductsToAccessally,
            "prod-s",
            "update",
            "written",
            &format!("product Leaky: updated [token {GHL_TOKEN}]"),
        )
        .await?;
    app.store
        .save_drift_report(
            "main",
            1,
            1,
            &serde_json::json!([{"flow": "products_to_accessally", "kind": "missing", "record": format!("product {AA_PASSWORD}")}]),
        )
        .await?;
    app.store
        .claim_alert(
            "leak",
            "slack",
            &format!("handshake {HANDSHAKE} refused"),
            std::time::Duration::from_secs(60),
        )
        .await?;
    let mut b = Browser::new()?;
    let mut pages = vec![b.get(&app.url("/admin/login")).await?.body];
    pages.push(log_in(&mut b, &app, "wrong").await?.body);
    log_in(&mut b, &app, PASSWORD).await?;
    let entry_page = format!("/admin/log/{entry}");
    for path in PAGES
        .iter()
        .chain(&["/admin/log/live", entry_page.as_str(), "/metrics"])
    {
        pages.push(b.get(&app.url(path)).await?.body);
    }
    assert!(pages[2].contains("authentication failing"));
    // The scrubbed texts are shown: the check below is not vacuous.
    let all = pages.join("\n");
    for shown in [
        "product Leaky",
        "prod-s",
        "handshake",
        "Not in AccessAlly yet",
    ] {
        assert!(all.contains(shown), "{shown} is not shown");
    }
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

#[tokio::test]
async fn the_dashboard_counts_come_from_the_store_and_survive_a_restart() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.seed_sample().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let dash = b.get(&app.url("/admin")).await?;
    assert_eq!(dash.status, 200);
    let check = |body: &str| {
        // Links per kind, as the sample saved them.
        for (n, label) in [
            (24, "products linked"),
            (8, "coupons linked"),
            (16, "orders linked"),
            (10, "access grants"),
        ] {
            assert!(
                body.contains(&format!(
                    "<div class=\"tile-value\">{n}</div><div class=\"tile-label\">{label}</div>"
                )),
                "{label}"
            );
        }
        assert!(body.contains(
            "<div class=\"tile-value\">3</div><div class=\"tile-label\">open dead letters</div>"
        ));
        assert!(body.contains("drifted of 180 checked"));
        // Each flow's last 24 hours: the sample's 8 product lines written, 12
        // skips (jobs that left no line) and a dead letter.
        let products = flow_row(body, "main/products_to_accessally");
        for (n, outcome) in [
            (8, "written"),
            (0, "observed"),
            (12, "skipped"),
            (1, "failed"),
        ] {
            assert!(
                products.contains(&format!("{outcome} <strong>{n}</strong>")),
                "{outcome} in {products}"
            );
        }
        assert!(
            products.contains("<svg class=\"chart-svg\" role=\"img\""),
            "{products}"
        );
        let orders = flow_row(body, "main/orders_to_highlevel");
        assert!(orders.contains("observed <strong>8</strong>"), "{orders}");
        assert!(orders.contains("1 dead"), "{orders}");
        // A flow without records in the window says so.
        let off = flow_row(body, "main/products_to_highlevel");
        assert!(off.contains("written <strong>8</strong>"), "{off}");
        // The location's budget, with its calls of the day.
        assert!(
            body.contains("Rate budget · loc-123") && body.contains("answered <strong>39</strong>"),
            "budget"
        );
    };
    check(&dash.body);
    // The engine counted nothing: the page read the store.
    assert!(
        app.engine
            .stats
            .summary()
            .values()
            .all(|s| *s == Default::default())
    );
    let app = app.restarted().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    check(&b.get(&app.url("/admin")).await?.body);
    Ok(())
}

#[tokio::test]
async fn the_log_is_searched_paged_and_tells_each_change_in_words() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.seed_sample().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let entries = |body: &str| body.matches("<tr class=\"entry\"").count();
    // Name, SKU, coupon code and buyer e-mail, in any case.
    for (q, n) in [
        ("watercolour basics", 6),
        ("COURSE-003", 2),
        ("launch11", 1),
        ("buyer12@EXAMPLE.com", 1),
        ("nothing like it", 0),
    ] {
        let page = b
            .get(&app.url(&format!("/admin/log?q={}", q.replace(' ', "+"))))
            .await?;
        assert_eq!(entries(&page.body), n, "{q}");
    }
    let none = b.get(&app.url("/admin/log?q=nothing+like+it")).await?;
    assert!(none.body.contains("Nothing logged yet for this search"));
    // A record's id on the other system finds it (product-hl-0 ↔ offering 100).
    let linked = b.get(&app.url("/admin/log?q=100")).await?;
    assert!(linked.body.contains(">product-hl-0<"), "{}", linked.body);
    // Changes in words, one item each.
    let page = b.get(&app.url("/admin/log?q=product-hl-5")).await?;
    assert!(
        page.body
            .contains("<li>COURSE-006 197.00 → 149.00 USD</li>"),
        "{}",
        page.body
    );
    // 40 lines: a page of 25, then the older 15 on the next.
    let first = b.get(&app.url("/admin/log")).await?;
    assert_eq!(entries(&first.body), 25);
    assert!(
        first.body.contains("hx-trigger=\"every 3s\""),
        "the newest page refreshes itself"
    );
    let older = first
        .body
        .split("class=\"btn older\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an Older link");
    let older = b.get(&app.url(&older.replace("&amp;", "&"))).await?;
    assert_eq!(entries(&older.body), 15);
    assert!(older.body.contains("← Newest") && !older.body.contains("Older →"));
    assert!(
        !older.body.contains("hx-trigger"),
        "an older page does not refresh itself"
    );
    // The entity filter narrows, and pages keep the search.
    let coupons = b.get(&app.url("/admin/log?entity=main%2Fcoupon")).await?;
    assert_eq!(entries(&coupons.body), 8);
    let most = b.get(&app.url("/admin/log?q=e")).await?;
    assert!(
        most.body.contains("href=\"/admin/log?q=e&amp;before="),
        "{}",
        most.body
    );
    // The raw entry, one click away: the stored entry and the record's link.
    let raw_id = page
        .body
        .split("href=\"/admin/log/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a raw link");
    let raw = b.get(&app.url(&format!("/admin/log/{raw_id}"))).await?;
    assert_eq!(raw.status, 200);
    assert!(
        raw.body
            .contains("&quot;record_id&quot;: &quot;product-hl-5&quot;"),
        "{}",
        raw.body
    );
    assert!(
        raw.body
            .contains("&quot;accessally_id&quot;: &quot;105&quot;"),
        "the link"
    );
    assert_eq!(b.get(&app.url("/admin/log/999999")).await?.status, 404);
    assert_eq!(b.get(&app.url("/admin/log/abc")).await?.status, 400);
    Ok(())
}

#[tokio::test]
async fn dead_letters_are_named_told_in_words_and_handled_in_bulk() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.seed_sample().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let page = b.get(&app.url("/admin/dlq")).await?;
    // Names from the log, else kind and id; reasons in words, with the full error.
    for shown in [
        "<strong class=\"record-name\">product Watercolour Basics</strong>",
        "<strong class=\"record-name\">coupon LAUNCH6</strong>",
        "<strong class=\"record-name\">order 1003</strong>",
        "The system refused the record's data. Correct the record at its source, then replay.",
        "The system failed to answer properly. Replay later.",
        "It needs another record synced first.",
        "contact email is invalid",
        "Orders → HighLevel payments",
    ] {
        assert!(page.body.contains(shown), "{shown}");
    }
    let csrf = csrf_of(&page.body)?;
    let dead: Vec<i64> = app
        .store
        .dead_letters(0, 10)
        .await?
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(dead.len(), 3);
    let bulk = app.url("/admin/dlq/bulk");
    // Without the session's token nothing happens.
    let refused = b
        .post(&bulk, &[("action", "drop_all"), ("csrf", "nope")])
        .await?;
    assert_eq!(refused.status, 403);
    assert_eq!(app.store.dead_letters(0, 10).await?.len(), 3);
    // Nothing ticked: said so.
    let none = b
        .post(&bulk, &[("csrf", &csrf), ("action", "replay")])
        .await?;
    assert_eq!(none.location.as_deref(), Some("/admin/dlq?none=1"));
    // Two ticked, replayed.
    let (one, two) = (dead[0].to_string(), dead[1].to_string());
    let r = b
        .post(
            &bulk,
            &[
                ("csrf", &csrf),
                ("action", "replay"),
                ("ids", &one),
                ("ids", &two),
            ],
        )
        .await?;
    assert_eq!(
        r.location.as_deref(),
        Some("/admin/dlq?replayed=2&failed=0")
    );
    for id in &dead[..2] {
        assert_eq!(
            app.store.job(*id).await?.map(|j| j.state),
            Some(JobState::Pending)
        );
    }
    let told = b.get(&app.url("/admin/dlq?replayed=2&failed=0")).await?;
    assert!(told.body.contains("Replayed 2 dead letters"));
    // One ticked that is no longer a dead letter: counted as not done.
    let r = b
        .post(&bulk, &[("csrf", &csrf), ("action", "drop"), ("ids", &one)])
        .await?;
    assert_eq!(r.location.as_deref(), Some("/admin/dlq?dropped=0&failed=1"));
    // All, dropped.
    let r = b
        .post(&bulk, &[("csrf", &csrf), ("action", "drop_all")])
        .await?;
    assert_eq!(r.location.as_deref(), Some("/admin/dlq?dropped=1&failed=0"));
    assert!(app.store.dead_letters(0, 10).await?.is_empty());
    assert!(app.store.job(dead[2]).await?.is_none());
    let empty = b.get(&app.url("/admin/dlq")).await?;
    assert!(empty.body.contains("None. Every job finished"));
    assert_eq!(
        b.post(&bulk, &[("csrf", &csrf), ("action", "explode")])
            .await?
            .status,
        400
    );
    assert_eq!(
        b.post(&bulk, &[("csrf", &csrf), ("action", "drop"), ("ids", "x")])
            .await?
            .status,
        400
    );
    Ok(())
}

#[tokio::test]
async fn drift_names_each_record_and_says_what_is_wrong() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    let page = b.get(&app.url("/admin/drift")).await?;
    assert!(page.body.contains("No reconciliation has run yet."));
    app.seed_sample().await?;
    let page = b.get(&app.url("/admin/drift")).await?;
    for shown in [
        "product Oil Portraits",
        "HighLevel and AccessAlly differ. A job was queued to bring AccessAlly in line.",
        "coupon SPRING25",
        "Not in AccessAlly yet. A job was queued to create it there.",
        "order order-hl-77",
        "Deleted in HighLevel. A job was queued to apply the deletion to AccessAlly.",
    ] {
        assert!(page.body.contains(shown), "{shown}");
    }
    let alerts = b.get(&app.url("/admin/alerts")).await?;
    assert!(alerts.body.contains("drift:main: see the admin page"));
    let api = b.get(&app.url("/admin/api")).await?;
    assert!(
        api.body.contains("HighLevel · loc-123")
            && api
                .body
                .contains("failed or rate-limited <strong>1</strong>")
    );
    // 60 calls: the page shows the newest 25; the next 25 hold the 429.
    assert!(!api.body.contains("<span class=\"badge bad\">429</span>"));
    let older = api
        .body
        .split("href=\"/admin/api?before=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an Older link");
    let older = b
        .get(&app.url(&format!("/admin/api?before={older}")))
        .await?;
    assert!(
        older.body.contains("<span class=\"badge bad\">429</span>"),
        "{}",
        older.body
    );
    Ok(())
}

#[tokio::test]
async fn assets_are_compiled_in_and_nothing_is_loaded_from_elsewhere() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.seed_sample().await?;
    let css = reqwest::get(app.url("/admin/assets/admin.css")).await?;
    assert_eq!(css.status(), 200);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert!(header(&css, "cache-control").contains("max-age=31536000"));
    let css = css.text().await?;
    assert!(
        css.contains(":focus-visible") && !css.contains("url("),
        "no outside resource"
    );
    assert_eq!(
        reqwest::get(app.url("/admin/assets/admin.js"))
            .await?
            .status(),
        200
    );
    assert_eq!(
        reqwest::get(app.url("/admin/assets/other.js"))
            .await?
            .status(),
        404
    );
    let mut b = Browser::new()?;
    log_in(&mut b, &app, PASSWORD).await?;
    for path in PAGES {
        let page = b.get(&app.url(path)).await?;
        let csp = page
            .headers
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(page.body.contains("/admin/assets/admin.css?v="), "{path}");
        for outside in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "style=\"",
        ] {
            assert!(!page.body.contains(outside), "{path} has {outside}");
        }
        // Every visible control has a label.
        for id in page
            .body
            .split("<input ")
            .skip(1)
            .chain(page.body.split("<select ").skip(1))
        {
            let tag = &id[..id.find('>').unwrap_or(id.len())];
            if tag.contains("type=\"hidden\"") || tag.contains("data-select-all") {
                continue;
            }
            let control = tag
                .split("id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_else(|| panic!("{path}: a control without an id: {tag}"));
            assert!(
                page.body.contains(&format!("for=\"{control}\"")),
                "{path}: no label for {control}"
            );
        }
    }
    Ok(())
}
