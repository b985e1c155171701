//! The Bridge API contract suite, written once: every operation, error
//! shapes, pagination headers, idempotent grants, webhook signatures and
//! delivery retries, plus the client's retry behaviour under faults.
//!
//! Every test runs against the AccessAlly simulator (started on port 0) and,
//! when `ALLYBRIDGE_WORDPRESS_SITE` holds the JSON line `wordpress/dev/up`
//! prints (or the path of a file holding it), against that real WordPress
//! site with the allybridge plugin too, its development control API standing
//! in for the simulator's `/__sim/` where a test needs a checkout or a
//! contact. With `CI` set, a run without that site fails: CI proves the
//! plugin. To check any other site, set:
//! - `ALLYBRIDGE_CONTRACT_URL` — the site URL (`https://example.com`),
//! - `ALLYBRIDGE_CONTRACT_USER`, `ALLYBRIDGE_CONTRACT_APP_PASSWORD`,
//! - `ALLYBRIDGE_CONTRACT_HANDSHAKE` — the `aal_*` handshake,
//! - `ALLYBRIDGE_CONTRACT_CONTACT_ID` — a CRM contact id the site knows (for `aal_*`),
//! - `ALLYBRIDGE_CONTRACT_RECEIVER_HOST` — the host/IP the site can reach this
//!   machine's webhook receiver at (default `127.0.0.1`).
//!
//! Tests that need a control API (checkout, contacts) or the simulator's
//! own (faults, request log) skip those parts against a site without one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use accessally::*;
use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use serde_json::{Value, json};
use transport::{HttpConfig, RetryPolicy};

struct Target {
    /// `simulator`, `wordpress` or the site URL.
    name: String,
    site: String,
    user: String,
    app_password: String,
    handshake: Option<String>,
    contact_id: Option<String>,
    receiver_host: String,
    sim: Option<sim_kit::RunningSim>,
    /// Base URL of a control API with the simulator's `/checkout` and `/contacts`.
    control_base: Option<String>,
    http: reqwest::Client,
}

impl Target {
    /// Every site this run checks (see the module's documentation).
    async fn all() -> Result<Vec<Self>> {
        let mut targets = vec![Self::simulator().await?];
        match std::env::var("ALLYBRIDGE_WORDPRESS_SITE") {
            Ok(line) => targets.push(Self::wordpress(&line).await?),
            Err(_) if std::env::var_os("CI").is_some() => bail!(
                "CI is set but ALLYBRIDGE_WORDPRESS_SITE is not: run `wordpress/dev/up` and export its JSON line (as .ci/run does)"
            ),
            Err(_) => eprintln!(
                "SKIPPED (WordPress): ALLYBRIDGE_WORDPRESS_SITE is not set; run wordpress/dev/up to check the plugin too"
            ),
        }
        if let Ok(site) = std::env::var("ALLYBRIDGE_CONTRACT_URL") {
            let env = |k: &str| std::env::var(k).ok();
            targets.push(Self {
                name: site.clone(),
                site: site.trim_end_matches('/').to_string(),
                user: env("ALLYBRIDGE_CONTRACT_USER").context("ALLYBRIDGE_CONTRACT_USER")?,
                app_password: env("ALLYBRIDGE_CONTRACT_APP_PASSWORD")
                    .context("ALLYBRIDGE_CONTRACT_APP_PASSWORD")?,
                handshake: env("ALLYBRIDGE_CONTRACT_HANDSHAKE"),
                contact_id: env("ALLYBRIDGE_CONTRACT_CONTACT_ID"),
                receiver_host: env("ALLYBRIDGE_CONTRACT_RECEIVER_HOST")
                    .unwrap_or_else(|| "127.0.0.1".into()),
                sim: None,
                control_base: None,
                http: reqwest::Client::new(),
            });
        }
        Ok(targets)
    }

    async fn simulator() -> Result<Self> {
        let http = reqwest::Client::new();
        let sim = sim_accessally::start(sim_accessally::SimConfig::for_tests()).await?;
        let info = |k: &str| sim.info[k].as_str().unwrap_or_default().to_string();
        let mut t = Self {
            name: "simulator".into(),
            site: sim.url.clone(),
            user: info("user"),
            app_password: info("app_password"),
            handshake: Some(info("handshake")),
            contact_id: None,
            receiver_host: "127.0.0.1".into(),
            control_base: Some(format!("{}/__sim", sim.url)),
            sim: Some(sim),
            http,
        };
        t.contact_id = t.new_contact().await?;
        Ok(t)
    }

    /// The site of `wordpress/dev/up`, from its JSON line or a file holding it.
    async fn wordpress(line_or_path: &str) -> Result<Self> {
        let site = wordpress_site::Site::parse(line_or_path)?;
        let mut t = Self {
            name: "wordpress".into(),
            handshake: site.info["handshake"].as_str().map(str::to_string),
            site: site.url,
            user: site.user,
            app_password: site.app_password,
            contact_id: None,
            receiver_host: "127.0.0.1".into(),
            sim: None,
            control_base: Some(site.control_url),
            http: reqwest::Client::new(),
        };
        t.contact_id = t.new_contact().await?;
        Ok(t)
    }

    /// A CRM contact made through the control API, for the `aal_*` commands.
    async fn new_contact(&self) -> Result<Option<String>> {
        if self.control_base.is_none() {
            return Ok(None);
        }
        let contact = self
            .control(
                reqwest::Method::POST,
                "/contacts",
                json!({"email": format!("{}@example.com", unique("contact")), "first_name": "Con", "last_name": "Tact"}),
            )
            .await?;
        Ok(contact["crm_contact_id"].as_str().map(str::to_string))
    }

    fn client_with(&self, retry: RetryPolicy) -> Result<AccessAllyClient> {
        Ok(AccessAllyClient::new(AccessAllyConfig {
            site_url: self.site.parse()?,
            user: self.user.clone(),
            app_password: SecretString::from(self.app_password.clone()),
            handshake: self.handshake.clone().map(SecretString::from),
            http: HttpConfig {
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(5),
                ..HttpConfig::default()
            },
            retry,
        })?)
    }

    fn client(&self) -> Result<AccessAllyClient> {
        self.client_with(RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_server_wait: Duration::from_secs(2),
        })
    }

    fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/wp-json/allybridge/v1{path}", self.site))
            .basic_auth(&self.user, Some(&self.app_password))
    }

    /// The control API: the simulator's `/__sim`, or the WordPress development site's.
    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value> {
        let base = self
            .control_base
            .as_ref()
            .context("this site has no control API")?;
        let mut request = self.http.request(method, format!("{base}{path}"));
        if self.sim.is_none() {
            request = request.basic_auth(&self.user, Some(&self.app_password));
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = request.send().await?;
        let status = r.status();
        let v: Value = r.json().await?;
        if !status.is_success() {
            bail!("control {path}: {status} {v}");
        }
        Ok(v)
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", rand::random::<u32>())
}

fn usd(minor: i64) -> Money {
    Money::new(minor, "USD".parse().unwrap_or_else(|_| unreachable!()))
}

fn offering_input(name: &str) -> OfferingInput {
    let monthly = Interval {
        unit: IntervalUnit::Month,
        count: 1,
    };
    OfferingInput {
        name: Some(name.to_string()),
        description: Some("Contract test offering".into()),
        status: Some(OfferingStatus::Publish),
        payment_options: Some(vec![
            PaymentOptionInput {
                id: None,
                kind: PaymentKind::OneTime,
                price: usd(19_700),
                sku: Some("CT-1".into()),
                trial_days: 0,
            },
            PaymentOptionInput {
                id: None,
                kind: PaymentKind::PaymentPlan {
                    number_of_payments: 3,
                    interval: monthly,
                },
                price: usd(6_900),
                sku: None,
                trial_days: 0,
            },
            PaymentOptionInput {
                id: None,
                kind: PaymentKind::Recurring { interval: monthly },
                price: usd(2_900),
                sku: None,
                trial_days: 7,
            },
        ]),
        availability: Some(Availability::Limited(10)),
        order_form_ids: None,
        access_tags: Some(vec![format!("{name} access")]),
        external_ref: Some(Some(unique("ghl:product:"))),
    }
}

/// Asserts the WordPress error shape and returns the code.
async fn wp_error(response: reqwest::Response, status: u16) -> Result<String> {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await?;
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(body["data"]["status"], status, "{body}");
    Ok(body["code"].as_str().context("code")?.to_string())
}

#[tokio::test]
async fn offerings_round_trip_every_operation() -> Result<()> {
    for t in Target::all().await? {
        offerings_round_trip_every_operation_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn offerings_round_trip_every_operation_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let input = offering_input(&unique("Course "));
    let created = c.create_offering(&input).await?;
    assert_eq!(created.payment_options.len(), 3);
    assert_eq!(created.payment_options[0].price, usd(19_700));
    assert_eq!(created.availability, Availability::Limited(10));
    assert!(!created.order_form_ids.is_empty());
    assert_eq!(c.get_offering(created.id).await?, created);

    let ext = created.external_ref.clone().context("external_ref")?;
    let found = c.find_offering_by_external_ref(&ext).await?;
    assert_eq!(found.map(|o| o.id), Some(created.id));

    let mut options: Vec<PaymentOptionInput> = created
        .payment_options
        .iter()
        .map(PaymentOptionInput::from)
        .collect();
    options[0].price = usd(24_700);
    let update = OfferingInput {
        payment_options: Some(options),
        availability: Some(Availability::Unlimited),
        ..Default::default()
    };
    let updated = c.update_offering(created.id, &update).await?;
    assert_eq!(updated.name, created.name);
    assert_eq!(updated.payment_options[0].id, created.payment_options[0].id);
    assert_eq!(updated.payment_options[0].price, usd(24_700));
    assert_eq!(updated.availability, Availability::Unlimited);

    let dup = c
        .create_offering(&OfferingInput {
            external_ref: Some(Some(ext)),
            ..offering_input("Other")
        })
        .await;
    assert_eq!(
        dup.err()
            .and_then(|e| e.code().map(str::to_string))
            .as_deref(),
        Some("allybridge_external_ref_exists")
    );

    let all: Vec<Offering> = c.offerings(ListQuery::default()).try_collect().await?;
    assert!(all.iter().any(|o| o.id == created.id));
    let deleted = c.delete_offering(created.id).await?;
    assert_eq!(deleted.id, created.id);
    let gone = c
        .get_offering(created.id)
        .await
        .err()
        .context("deleted offering still there")?;
    assert!(gone.is_not_found());
    Ok(())
}

#[tokio::test]
async fn coupons_round_trip_with_case_insensitive_unique_codes() -> Result<()> {
    for t in Target::all().await? {
        coupons_round_trip_with_case_insensitive_unique_codes_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn coupons_round_trip_with_case_insensitive_unique_codes_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let offering = c
        .create_offering(&offering_input(&unique("Couponed ")))
        .await?;
    let code = unique("Save");
    let input = CouponInput {
        code: Some(code.clone()),
        discount: Some(Discount::Percent(Percent(1250))),
        date_expires: Some(Some(chrono::Utc::now() + chrono::Duration::days(30))),
        usage_limit: Some(Some(10)),
        usage_limit_per_user: Some(Some(1)),
        first_payment_only: Some(true),
        offering_ids: Some(vec![offering.id]),
        external_ref: Some(Some(unique("ghl:coupon:"))),
        ..Default::default()
    };
    let created = c.create_coupon(&input).await?;
    assert_eq!(created.discount, Discount::Percent(Percent(1250)));
    assert_eq!(created.usage_count, 0);
    assert_eq!(created.order_form_ids, offering.order_form_ids);
    assert_eq!(c.get_coupon(created.id).await?, created);

    let dup = c
        .create_coupon(&CouponInput {
            code: Some(code.to_lowercase()),
            external_ref: None,
            ..input.clone()
        })
        .await;
    let err = dup.err().context("duplicate code accepted")?;
    assert!(err.is_conflict());
    assert_eq!(err.code(), Some("allybridge_coupon_code_exists"));
    assert!(!transport::Retryable::is_retryable(&err));

    let found = c.find_coupon_by_code(&code.to_uppercase()).await?;
    assert_eq!(found.map(|f| f.id), Some(created.id));
    let fixed = c
        .update_coupon(
            created.id,
            &CouponInput {
                discount: Some(Discount::Fixed(usd(500))),
                ..Default::default()
            },
        )
        .await?;
    assert_eq!(fixed.discount, Discount::Fixed(usd(500)));
    assert_eq!(fixed.code, code);
    c.delete_coupon(created.id).await?;
    assert!(
        c.get_coupon(created.id)
            .await
            .err()
            .is_some_and(|e| e.is_not_found())
    );
    c.delete_offering(offering.id).await?;
    Ok(())
}

#[tokio::test]
async fn errors_have_the_wordpress_shape() -> Result<()> {
    for t in Target::all().await? {
        errors_have_the_wordpress_shape_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn errors_have_the_wordpress_shape_on(t: &Target) -> Result<()> {
    let post = reqwest::Method::POST;
    let anonymous = t
        .http
        .get(format!("{}/wp-json/allybridge/v1/offerings", t.site))
        .send()
        .await?;
    assert_eq!(wp_error(anonymous, 401).await?, "rest_not_logged_in");
    let wrong = t
        .http
        .get(format!("{}/wp-json/allybridge/v1/offerings", t.site))
        .basic_auth(&t.user, Some("wrong password"))
        .send()
        .await?;
    assert_eq!(wp_error(wrong, 401).await?, "incorrect_password");
    let malformed = t
        .api(post.clone(), "/coupons")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(wp_error(malformed, 400).await?, "rest_invalid_json");
    let wrong_type = t
        .api(post.clone(), "/coupons")
        .json(&json!({"code": 5, "amount": "1", "discount_type": "percent"}))
        .send()
        .await?;
    let body: Value = wrong_type.json().await?;
    assert_eq!(body["code"], "rest_invalid_param");
    assert!(body["data"]["params"]["code"].is_string(), "{body}");
    let missing = t
        .api(post.clone(), "/offerings")
        .json(&json!({"description": "no name"}))
        .send()
        .await?;
    assert_eq!(wp_error(missing, 400).await?, "rest_missing_callback_param");
    let unknown = t
        .api(reqwest::Method::GET, "/orders/999999999")
        .send()
        .await?;
    assert_eq!(wp_error(unknown, 404).await?, "allybridge_invalid_id");
    let no_route = t.api(reqwest::Method::GET, "/nothing-here").send().await?;
    assert_eq!(wp_error(no_route, 404).await?, "rest_no_route");
    let bad_page = t
        .api(reqwest::Method::GET, "/coupons?per_page=101")
        .send()
        .await?;
    assert_eq!(wp_error(bad_page, 400).await?, "rest_invalid_param");

    let c = t.client()?;
    let e = c
        .get_order(999_999_999)
        .await
        .err()
        .context("unknown order found")?;
    assert_eq!(
        (e.status(), e.code()),
        (Some(404), Some("allybridge_invalid_id"))
    );
    Ok(())
}

#[tokio::test]
async fn pagination_headers_and_streams() -> Result<()> {
    for t in Target::all().await? {
        pagination_headers_and_streams_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn pagination_headers_and_streams_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let tag = unique("page");
    for i in 0..7 {
        let input = CouponInput {
            code: Some(format!("{tag}x{i}")),
            discount: Some(Discount::Percent(Percent(500))),
            ..Default::default()
        };
        c.create_coupon(&input).await?;
    }
    let r = t
        .api(reqwest::Method::GET, "/coupons?per_page=3")
        .send()
        .await?;
    let total: u64 = r.headers()["x-wp-total"].to_str()?.parse()?;
    let pages: u64 = r.headers()["x-wp-totalpages"].to_str()?.parse()?;
    assert!(total >= 7);
    assert_eq!(pages, total.div_ceil(3));
    let page: Vec<Value> = r.json().await?;
    assert_eq!(page.len(), 3);
    let past = t
        .api(
            reqwest::Method::GET,
            &format!("/coupons?per_page=3&page={}", pages + 1),
        )
        .send()
        .await?;
    assert_eq!(wp_error(past, 400).await?, "rest_invalid_page_number");

    let all: Vec<Coupon> = c
        .coupons(ListQuery::default().per_page(3))
        .try_collect()
        .await?;
    if t.sim.is_some() {
        assert_eq!(all.len() as u64, total);
    } else {
        // A real site is shared with the other tests, which add coupons meanwhile.
        assert!(all.len() as u64 >= total);
    }
    let mine = all.iter().filter(|k| k.code.starts_with(&tag)).count();
    assert_eq!(mine, 7);
    let ids: std::collections::HashSet<u64> = all.iter().map(|k| k.id).collect();
    assert_eq!(ids.len(), all.len());

    let later =
        all.iter().map(|k| k.modified).max().context("no coupons")? + chrono::Duration::seconds(1);
    let after: Vec<Coupon> = c
        .coupons(ListQuery::default().modified_after(later))
        .try_collect()
        .await?;
    // A real site is shared with the other tests, which may change coupons
    // after `later`: only those may come back, none of this test's.
    assert!(after.iter().all(|k| k.modified >= later), "{after:?}");
    assert!(!after.iter().any(|k| k.code.starts_with(&tag)), "{after:?}");
    if t.sim.is_some() {
        assert!(after.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn access_grants_are_idempotent_on_source_ref() -> Result<()> {
    for t in Target::all().await? {
        access_grants_are_idempotent_on_source_ref_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn access_grants_are_idempotent_on_source_ref_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let offering = c
        .create_offering(&offering_input(&unique("Granted ")))
        .await?;
    let request = AccessGrantRequest {
        email: format!("{}@example.com", unique("buyer")),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        offering_id: offering.id,
        source_ref: unique("ghl:order:"),
    };
    let (first, outcome) = c.grant_access(&request).await?;
    assert_eq!(outcome, GrantOutcome::Created);
    assert_eq!(first.tags_applied, offering.access_tags);
    let (again, outcome) = c.grant_access(&request).await?;
    assert_eq!(outcome, GrantOutcome::AlreadyGranted);
    assert_eq!(again, first);
    let other = AccessGrantRequest {
        email: "someone.else@example.com".into(),
        ..request.clone()
    };
    let err = c
        .grant_access(&other)
        .await
        .err()
        .context("conflicting grant accepted")?;
    assert_eq!(err.code(), Some("allybridge_source_ref_conflict"));
    Ok(())
}

/// Receives deliveries: the first attempt of each id gets 500, the next ones are verified fully.
#[derive(Clone)]
struct Receiver {
    verifier: Arc<Mutex<Option<WebhookVerifier>>>,
    attempts: Arc<Mutex<HashMap<String, u32>>>,
    events: Arc<Mutex<Vec<WebhookEvent>>>,
    rejected: Arc<Mutex<Vec<String>>>,
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
    let attempt = {
        let mut a = rx.attempts.lock().unwrap_or_else(|e| e.into_inner());
        let n = a.entry(id).or_default();
        *n += 1;
        *n
    };
    let guard = rx.verifier.lock().unwrap_or_else(|e| e.into_inner());
    let Some(verifier) = guard.as_ref() else {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    };
    let now = chrono::Utc::now().timestamp();
    let result = if attempt == 1 {
        verifier
            .verify_signature_at(&headers, &body, now)
            .map(|_| None)
    } else {
        verifier.verify_at(&headers, &body, now).map(Some)
    };
    match result {
        Ok(None) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        Ok(Some(event)) => {
            rx.events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(event);
            axum::http::StatusCode::NO_CONTENT
        }
        Err(e) => {
            rx.rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
            axum::http::StatusCode::UNAUTHORIZED
        }
    }
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_unsubscribable() -> Result<()> {
    for t in Target::all().await? {
        webhooks_are_signed_retried_and_unsubscribable_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn webhooks_are_signed_retried_and_unsubscribable_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let rx = Receiver {
        verifier: Arc::new(Mutex::new(None)),
        attempts: Arc::new(Mutex::new(HashMap::new())),
        events: Arc::new(Mutex::new(Vec::new())),
        rejected: Arc::new(Mutex::new(Vec::new())),
    };
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = format!("http://{}:{port}/hook", t.receiver_host);
    let sub = c.create_webhook(&url, &Topic::ALL, None).await?;
    let secret = sub
        .secret
        .clone()
        .context("no secret in the create answer")?;
    assert!(secrecy::ExposeSecret::expose_secret(&secret).starts_with("whsec_"));
    *rx.verifier.lock().unwrap_or_else(|e| e.into_inner()) = Some(WebhookVerifier::new(
        &secret,
        Arc::new(InMemorySeenIds::default()),
    )?);

    let coupon = c
        .create_coupon(&CouponInput {
            code: Some(unique("HOOK")),
            discount: Some(Discount::Percent(Percent(1000))),
            ..Default::default()
        })
        .await?;
    let mut expected = vec![(Topic::CouponCreated, coupon.id)];
    if t.control_base.is_some() {
        let offering = c
            .create_offering(&offering_input(&unique("Hooked ")))
            .await?;
        let order = t
            .control(
                reqwest::Method::POST,
                "/checkout",
                json!({"offering_id": offering.id, "buyer": {"email": "hook@example.com"}}),
            )
            .await?;
        expected.push((Topic::OfferingCreated, offering.id));
        expected.push((
            Topic::OrderCompleted,
            order["id"].as_u64().context("order id")?,
        ));
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let got: Vec<(Topic, u64)> = rx
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|e| (e.topic, e.data["id"].as_u64().unwrap_or(0)))
            .collect();
        if expected.iter().all(|x| got.contains(x)) {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!("expected {expected:?}, got {got:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        rx.rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    );
    // The deliveries of this test's changes (a shared site also delivers
    // other tests' changes to this subscription, some still on their way).
    let ours: Vec<String> = rx
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|e| expected.contains(&(e.topic, e.data["id"].as_u64().unwrap_or(0))))
        .map(|e| e.id.clone())
        .collect();
    let attempts = rx
        .attempts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        ours.iter().all(|id| attempts.get(id) == Some(&2)),
        "each delivery: 500 then 200, once more: {attempts:?}"
    );
    if t.sim.is_some() {
        assert!(
            attempts.values().all(|n| *n == 2),
            "on its own simulator every delivery is this test's: {attempts:?}"
        );
    }
    let events = rx.events.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(order_event) = events.iter().find(|e| e.topic == Topic::OrderCompleted) {
        assert_eq!(order_event.order()?.status, OrderStatus::Success);
    }

    let listed: Vec<WebhookSubscription> = c.webhooks().try_collect().await?;
    assert!(
        listed
            .iter()
            .any(|w| w.id == sub.id && w.active && w.secret.is_none())
    );
    c.delete_webhook(sub.id).await?;
    let listed: Vec<WebhookSubscription> = c.webhooks().try_collect().await?;
    assert!(!listed.iter().any(|w| w.id == sub.id));
    Ok(())
}

#[tokio::test]
async fn orders_list_and_get() -> Result<()> {
    for t in Target::all().await? {
        orders_list_and_get_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn orders_list_and_get_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let buyer = format!("{}@example.com", unique("o"));
    if t.control_base.is_some() {
        let offering = c
            .create_offering(&offering_input(&unique("Ordered ")))
            .await?;
        let coupon = c
            .create_coupon(&CouponInput {
                code: Some(unique("ORD")),
                discount: Some(Discount::Fixed(usd(1_000))),
                offering_ids: Some(vec![offering.id]),
                ..Default::default()
            })
            .await?;
        for outcome in ["success", "failed", "sca_success"] {
            t.control(
                reqwest::Method::POST,
                "/checkout",
                json!({"offering_id": offering.id, "buyer": {"email": buyer, "first_name": "O"}, "coupon_code": coupon.code, "outcome": outcome}),
            )
            .await?;
        }
    }
    let all: Vec<Order> = c
        .orders(ListQuery::default().per_page(2))
        .try_collect()
        .await?;
    let Some(first) = all.first() else {
        return Ok(());
    };
    assert_eq!(&c.get_order(first.id).await?, first);
    let successes: Vec<Order> = c
        .orders(ListQuery::default().filter("status", "success"))
        .try_collect()
        .await?;
    assert!(successes.iter().all(|o| o.status == OrderStatus::Success));
    for o in &all {
        assert_eq!(o.total.minor, o.subtotal.minor - o.discount.minor);
    }
    if t.control_base.is_some() {
        let mine: Vec<Order> = c
            .orders(ListQuery::default().filter("email", buyer.to_uppercase()))
            .try_collect()
            .await?;
        assert_eq!(mine.len(), 3, "{mine:?}");
        let paid: Vec<&Order> = mine
            .iter()
            .filter(|o| o.status == OrderStatus::Success)
            .collect();
        assert_eq!(paid.len(), 2, "success and sca_success end as success");
        assert_eq!(paid[0].discount, usd(1_000));
        assert_eq!(paid[0].total, usd(18_700));
        assert!(paid.iter().all(|o| successes.iter().any(|s| s.id == o.id)));
    }
    Ok(())
}

#[tokio::test]
async fn aal_commands_work_and_a_wrong_handshake_is_refused() -> Result<()> {
    for t in Target::all().await? {
        aal_commands_work_and_a_wrong_handshake_is_refused_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn aal_commands_work_and_a_wrong_handshake_is_refused_on(t: &Target) -> Result<()> {
    let (Some(_), Some(contact)) = (&t.handshake, &t.contact_id) else {
        return Ok(());
    };
    let c = t.client()?;
    c.run_command(&AalCommand::GenPass, contact).await?;
    c.run_command(&AalCommand::UpdateUser, contact).await?;
    c.run_command(&AalCommand::BatchSync, contact).await?;
    c.run_command(
        &AalCommand::FieldOp {
            operation_id: Some("7".into()),
        },
        contact,
    )
    .await?;
    c.run_command(&AalCommand::RevokeSubscription, contact)
        .await?;
    let wrong = AccessAllyClient::new(AccessAllyConfig {
        site_url: t.site.parse()?,
        user: t.user.clone(),
        app_password: SecretString::from(t.app_password.clone()),
        handshake: Some(SecretString::from("not-the-handshake")),
        http: HttpConfig::default(),
        retry: RetryPolicy::none(),
    })?;
    let err = wrong
        .run_command(&AalCommand::GenPass, contact)
        .await
        .err()
        .context("wrong handshake accepted")?;
    assert_eq!(err.status(), Some(403));
    assert!(!format!("{err} {err:?}").contains("not-the-handshake"));
    if t.sim.is_some() {
        let log = t
            .control(reqwest::Method::GET, "/aal-log", json!(null))
            .await?;
        let refused = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["status"] == 403)
            .count();
        assert_eq!(refused, 1);
    }
    Ok(())
}

#[tokio::test]
async fn client_retries_injected_faults_and_fails_fast_on_4xx() -> Result<()> {
    for t in Target::all().await? {
        client_retries_injected_faults_and_fails_fast_on_4xx_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn client_retries_injected_faults_and_fails_fast_on_4xx_on(t: &Target) -> Result<()> {
    if t.sim.is_none() {
        return Ok(());
    }
    let c = t.client_with(RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
        max_server_wait: Duration::from_secs(1),
    })?;
    let offering = c
        .create_offering(&offering_input(&unique("Faulty ")))
        .await?;
    let before = t
        .control(reqwest::Method::GET, "/requests", json!(null))
        .await?["summary"]["total"]
        .as_u64()
        .unwrap_or(0);
    t.control(
        reqwest::Method::PUT,
        "/faults",
        json!({"error_rate": 0.5, "error_statuses": [500, 502, 429]}),
    )
    .await?;
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(c.get_offering(offering.id).await?.id, offering.id);
    }
    let elapsed = started.elapsed();
    t.control(reqwest::Method::PUT, "/faults", json!({}))
        .await?;
    let log = t
        .control(reqwest::Method::GET, "/requests", json!(null))
        .await?;
    let calls = log["summary"]["total"].as_u64().unwrap_or(0) - before;
    let by_status = &log["summary"]["by_status"];
    let faulted: u64 = ["500", "502", "429"]
        .iter()
        .map(|s| by_status[*s].as_u64().unwrap_or(0))
        .sum();
    eprintln!("20 reads under 50 % faults: {calls} calls, {faulted} faulted, {elapsed:?}");
    assert!(faulted > 0 && calls > 20 && calls <= 200, "calls {calls}");

    let before = t
        .control(reqwest::Method::GET, "/requests", json!(null))
        .await?["summary"]["total"]
        .as_u64()
        .unwrap_or(0);
    let err = c
        .get_coupon(999_999_998)
        .await
        .err()
        .context("unknown coupon found")?;
    assert_eq!(err.status(), Some(404));
    let after = t
        .control(reqwest::Method::GET, "/requests", json!(null))
        .await?["summary"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(after - before, 1, "a 404 is not retried");

    t.control(
        reqwest::Method::PUT,
        "/faults",
        json!({"error_rate": 1.0, "error_statuses": [503]}),
    )
    .await?;
    let err = c
        .get_offering(offering.id)
        .await
        .err()
        .context("succeeded under 100 % faults")?;
    assert_eq!(err.status(), Some(503));
    t.control(reqwest::Method::PUT, "/faults", json!({}))
        .await?;
    Ok(())
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() -> Result<()> {
    for t in Target::all().await? {
        secrets_never_show_in_debug_output_on(&t)
            .await
            .with_context(|| format!("against the {}", t.name))?;
    }
    Ok(())
}

async fn secrets_never_show_in_debug_output_on(t: &Target) -> Result<()> {
    let c = t.client()?;
    let shown = format!("{c:?}");
    assert!(!shown.contains(&t.app_password));
    if let Some(h) = &t.handshake {
        assert!(!shown.contains(h.as_str()));
    }
    Ok(())
}
