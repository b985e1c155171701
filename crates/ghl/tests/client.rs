//! The HighLevel client against the HighLevel simulator: every operation,
//! pagination of each envelope, scopes checked before sending, single-flight
//! refresh, refused refresh tokens, the rate budget under load, retries
//! under each injected fault, and no secret in any log line.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::*;
use futures::TryStreamExt;
use ghl::types::*;
use ghl::{
    Auth, BudgetConfig, GhlClient, GhlConfig, GhlError, MemoryTokenStore, Priority, RateBudget,
    TokenManager,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use sim_ghl::SimConfig;
use sim_ghl::auth::RateLimits;

#[tokio::test]
async fn every_operation_against_the_simulator() {
    let env = sim(SimConfig::default()).await;
    let c = env.pit_client();
    // Products and prices.
    let product = c
        .create_product(&ProductInput {
            name: "Course".into(),
            location_id: env.location.clone(),
            product_type: "DIGITAL".into(),
            description: Some("A course".into()),
            available_in_store: Some(true),
            image: None,
            slug: None,
        })
        .await
        .unwrap();
    let price = c
        .create_price(
            &product.id,
            &PriceInput {
                name: "Full".into(),
                kind: "one_time".into(),
                currency: "USD".into(),
                amount: 199.99,
                location_id: env.location.clone(),
                recurring: None,
                trial_period: None,
                total_cycles: None,
                sku: Some("C-1".into()),
                track_inventory: Some(true),
                available_quantity: Some(7),
                allow_out_of_stock_purchases: Some(false),
            },
        )
        .await
        .unwrap();
    let m = ghl::client::money(&price.amount, &price.currency, "test").unwrap();
    assert_eq!(m.minor, 19_999, "199.99 is exactly 19999 cents");
    assert_eq!(
        c.get_product(&product.id, Priority::Live)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Course"
    );
    assert!(
        c.get_product("nope", Priority::Live)
            .await
            .unwrap()
            .is_none()
    );
    let prices: Vec<Price> = c
        .prices(&product.id, Priority::Live)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(prices.len(), 1);
    assert_eq!(
        c.get_price(&product.id, &price.id)
            .await
            .unwrap()
            .unwrap()
            .sku
            .as_deref(),
        Some("C-1")
    );
    let inventory: Vec<InventoryItem> = c.inventory(Priority::Live).try_collect().await.unwrap();
    assert_eq!(inventory[0].available_quantity, 7.0);
    c.update_inventory(&[InventoryChange {
        price_id: price.id.clone(),
        available_quantity: 3,
        allow_out_of_stock_purchases: None,
    }])
    .await
    .unwrap();
    assert_eq!(
        c.get_price(&product.id, &price.id)
            .await
            .unwrap()
            .unwrap()
            .available_quantity,
        Some(3.0)
    );
    // Coupons.
    let input = CouponInput {
        name: "Ten".into(),
        code: "TEN".into(),
        discount_type: DiscountType::Percentage,
        discount_value: 10.0,
        start_date: "2026-01-01T00:00:00.000Z".into(),
        end_date: None,
        usage_limit: Some(5),
        product_ids: vec![product.id.clone()],
        apply_to_future_payments: false,
        limit_per_customer: true,
    };
    let coupon = c.create_coupon(&input).await.unwrap();
    assert_eq!(coupon.limit_per_customer, 1.0);
    assert_eq!(coupon.product_ids, vec![product.id.clone()]);
    let mut changed = input.clone();
    changed.discount_value = 15.0;
    assert_eq!(
        c.update_coupon(&coupon.id, &changed)
            .await
            .unwrap()
            .discount_value
            .to_string(),
        "15.0"
    );
    assert_eq!(
        c.get_coupon_by_code("ten").await.unwrap().unwrap().id,
        coupon.id
    );
    let all: Vec<Coupon> = c.coupons(Priority::Backfill).try_collect().await.unwrap();
    assert_eq!(all.len(), 1);
    c.delete_coupon(&coupon.id).await.unwrap();
    assert!(c.get_coupon(&coupon.id).await.unwrap().is_none());
    // Orders and transactions.
    let order = env
        .control(
            "POST",
            "/__sim/orders",
            json!({"email": "buyer@example.com", "items": [{"productId": product.id, "priceId": price.id}]}),
        )
        .await;
    let order_id = order["_id"].as_str().unwrap();
    let got = c
        .get_order(order_id, Priority::Live)
        .await
        .unwrap()
        .unwrap();
    assert!(got.is_paid());
    assert_eq!(got.items[0].price_id(), Some(price.id.as_str()));
    let summaries: Vec<OrderSummary> = c.orders(Priority::Live).try_collect().await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(c.transactions_for(order_id).await.unwrap().len(), 1);
    assert!(c.get_order("nope", Priority::Live).await.unwrap().is_none());
    // Contacts.
    let (contact, is_new) = c
        .upsert_contact(&ContactUpsert {
            location_id: env.location.clone(),
            email: "new@example.com".into(),
            first_name: Some("New".into()),
            last_name: Some("Buyer".into()),
            phone: None,
            source: Some("AccessAlly".into()),
            tags: vec![],
        })
        .await
        .unwrap();
    assert!(is_new);
    assert_eq!(
        c.find_contact_by_email("NEW@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        contact.id
    );
    assert!(
        c.find_contact_by_email("none@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let tags = c
        .add_tags(&contact.id, &["accessally-buyer".into()])
        .await
        .unwrap();
    assert_eq!(tags, vec!["accessally-buyer".to_string()]);
    assert!(
        !c.add_note(&contact.id, "Order 1 paid")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        c.get_contact(&contact.id)
            .await
            .unwrap()
            .unwrap()
            .email
            .as_deref(),
        Some("new@example.com")
    );
    // Invoices and payments.
    let invoice = c
        .create_invoice(&InvoiceInput {
            name: "AccessAlly order 42".into(),
            title: None,
            currency: "USD".into(),
            items: vec![InvoiceItemInput {
                name: "Course".into(),
                description: None,
                product_id: None,
                price_id: None,
                currency: "USD".into(),
                amount: 100.0,
                qty: 1,
            }],
            discount: 10.0,
            contact_id: contact.id.clone(),
            contact_name: "New Buyer".into(),
            contact_email: "new@example.com".into(),
            business_name: "Studio".into(),
            issue_date: "2026-11-28".into(),
            terms_notes: Some("accessally:order:42".into()),
        })
        .await
        .unwrap();
    assert_eq!(invoice.total.to_string(), "90.0");
    assert_eq!(
        c.find_invoice_by_name("AccessAlly order 42")
            .await
            .unwrap()
            .unwrap()
            .id,
        invoice.id
    );
    let paid = c
        .record_payment(
            &invoice.id,
            &PaymentInput {
                mode: "other".into(),
                amount: None,
                notes: "AccessAlly order 42".into(),
                meta: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(paid.status, "paid");
    assert_eq!(c.transactions_for(&invoice.id).await.unwrap().len(), 1);
    // A paid invoice refuses a second payment with a typed, non-retryable error.
    let again = c
        .record_payment(
            &invoice.id,
            &PaymentInput {
                mode: "other".into(),
                amount: None,
                notes: "x".into(),
                meta: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(400));
    // Deletes.
    c.delete_price(&product.id, &price.id).await.unwrap();
    c.delete_product(&product.id).await.unwrap();
    c.delete_product(&product.id).await.unwrap();
}

#[tokio::test]
async fn streams_page_through_each_envelope() {
    let env = sim(SimConfig {
        seed: sim_kit::Seed::Generated(230),
        rate_limits: RateLimits::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let c = env.pit_client();
    let products: Vec<Product> = c.products(Priority::Backfill).try_collect().await.unwrap();
    assert_eq!(products.len(), 230);
    let ids: BTreeSet<&str> = products.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), 230, "no product twice");
    let coupons: Vec<Coupon> = c.coupons(Priority::Backfill).try_collect().await.unwrap();
    assert_eq!(coupons.len(), 115);
    let orders: Vec<OrderSummary> = c.orders(Priority::Backfill).try_collect().await.unwrap();
    assert_eq!(orders.len(), 230);
    let log = env.requests().await;
    assert_eq!(
        log["summary"]["by_route"]["GET /products/"], 3,
        "230 products in pages of 100"
    );
}

#[tokio::test]
async fn missing_scope_fails_before_any_request() {
    let env = sim(SimConfig::default()).await;
    let mut config = env.config();
    config.granted_scopes = Some(BTreeSet::from(["products.readonly".to_string()]));
    let token = SecretString::from(env.info["token"].as_str().unwrap().to_string());
    let c = GhlClient::new(
        config,
        Auth::PrivateToken(token),
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    let err = c.get_coupon("x").await.unwrap_err();
    match &err {
        GhlError::MissingScope { scope, .. } => assert_eq!(*scope, "payments/coupons.readonly"),
        other => panic!("expected MissingScope, got {other}"),
    }
    assert!(err.to_string().contains("payments/coupons.readonly"));
    assert_eq!(env.requests().await["summary"]["total"], 0);
    // The server's own check agrees when the client does not know the grant.
    let env = sim(SimConfig {
        private_token_scopes: vec!["products.readonly".into()],
        ..SimConfig::default()
    })
    .await;
    let err = env.pit_client().get_coupon("x").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.needs_operator());
    assert_eq!(
        env.requests().await["summary"]["total"],
        1,
        "a 401 is not retried"
    );
}

#[tokio::test]
async fn a_hundred_calls_at_expiry_make_exactly_one_refresh() {
    let env = sim(SimConfig {
        rate_limits: RateLimits::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let manager = env.oauth_manager("products.readonly").await;
    let client = Arc::new(
        GhlClient::new(
            env.config(),
            Auth::OAuth {
                manager: manager.clone(),
                key: env.location.clone(),
            },
            RateBudget::new(BudgetConfig::default()),
        )
        .unwrap(),
    );
    assert!(
        client
            .get_product("none", Priority::Live)
            .await
            .unwrap()
            .is_none()
    );
    // Every access token now answers 401.
    env.control("POST", "/__sim/tokens/expire", json!({})).await;
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.get_product("none", Priority::Live).await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_none());
    }
    assert_eq!(manager.refresh_count(), 1);
    let log = env.requests().await;
    assert_eq!(
        log["summary"]["by_route"]["POST /oauth/token"], 2,
        "the code exchange and one refresh"
    );
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let env = sim(SimConfig {
        access_token_ttl: Duration::from_secs(30),
        ..SimConfig::default()
    })
    .await;
    let manager = env.oauth_manager("products.readonly").await;
    let client = GhlClient::new(
        env.config(),
        Auth::OAuth {
            manager: manager.clone(),
            key: env.location.clone(),
        },
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    // 30 s left is inside the 60 s skew: refresh first, no 401 seen.
    client.get_product("none", Priority::Live).await.unwrap();
    assert_eq!(manager.refresh_count(), 1);
    assert_eq!(
        env.requests().await["summary"]["by_status"].get("401"),
        None
    );
}

#[tokio::test]
async fn a_used_refresh_token_is_a_clear_error_not_a_retry_loop() {
    let env = sim(SimConfig::default()).await;
    let store = Arc::new(MemoryTokenStore::default());
    let manager = Arc::new(TokenManager::new(
        env.app(),
        reqwest::Client::new(),
        store.clone(),
    ));
    let code = env
        .control(
            "POST",
            "/__sim/oauth/code",
            json!({"scope": "products.readonly"}),
        )
        .await;
    let pair = manager
        .exchange_code(code["code"].as_str().unwrap())
        .await
        .unwrap();
    // Someone else (another install, a leaked copy) spends the refresh token.
    use secrecy::ExposeSecret;
    let form = [
        ("client_id", env.info["client_id"].as_str().unwrap()),
        ("client_secret", env.info["client_secret"].as_str().unwrap()),
        ("grant_type", "refresh_token"),
        (
            "refresh_token",
            pair.refresh_token.as_ref().unwrap().expose_secret(),
        ),
    ];
    let resp = env
        .http
        .post(format!("{}/oauth/token", env.url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    env.control("POST", "/__sim/tokens/expire", json!({})).await;
    let client = GhlClient::new(
        env.config(),
        Auth::OAuth {
            manager: manager.clone(),
            key: env.location.clone(),
        },
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    let err = client.get_product("x", Priority::Live).await.unwrap_err();
    assert!(matches!(err, GhlError::RefreshRejected { .. }), "{err}");
    assert!(err.needs_operator());
    assert!(err.to_string().contains("allybridge connect ghl --oauth"));
    let log = env.requests().await;
    assert_eq!(
        log["summary"]["by_route"]["POST /oauth/token"], 3,
        "exchange, the other party's refresh, ours once"
    );
    assert_eq!(log["summary"]["by_route"]["GET /products/{productId}"], 1);
}

#[tokio::test]
async fn the_budget_keeps_two_hundred_calls_under_the_limit() {
    let max = 20u32;
    let interval = Duration::from_millis(300);
    let env = sim(SimConfig {
        rate_limits: RateLimits {
            max,
            interval,
            daily: 100_000,
        },
        ..SimConfig::default()
    })
    .await;
    let token = SecretString::from(env.info["token"].as_str().unwrap().to_string());
    let budget = RateBudget::new(BudgetConfig {
        max,
        interval,
        daily: 100_000,
    });
    let client = Arc::new(GhlClient::new(env.config(), Auth::PrivateToken(token), budget).unwrap());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let p = if t == 0 {
                    Priority::Live
                } else {
                    Priority::Backfill
                };
                c.get_product("none", p).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let log = env.requests().await;
    assert_eq!(
        log["summary"]["by_status"].get("429"),
        None,
        "no 429: {}",
        log["summary"]
    );
    assert_eq!(log["summary"]["total"], 200);
    // 200 calls at 20 per 300 ms need at least 9 full windows after the first.
    let floor = interval * (200 / max - 1);
    assert!(elapsed >= floor, "{elapsed:?} < {floor:?}");
    assert!(
        elapsed < floor * 2,
        "{elapsed:?}: the budget wasted more than half the window"
    );
    println!("200 calls in {elapsed:?} (arithmetic floor {floor:?})");
}

async fn fault_run(statuses: Vec<u16>) -> (u64, u64) {
    let env = sim(SimConfig {
        rate_limits: RateLimits::unlimited(),
        fault_seed: Some(11),
        ..SimConfig::default()
    })
    .await;
    env.control(
        "PUT",
        "/__sim/faults",
        json!({"error_rate": 0.4, "error_statuses": statuses}),
    )
    .await;
    let c = env.pit_client();
    for _ in 0..20 {
        assert!(
            c.get_product("none", Priority::Live)
                .await
                .unwrap()
                .is_none()
        );
    }
    let summary = env.requests().await["summary"].clone();
    (summary["total"].as_u64().unwrap(), c.calls_made())
}

#[tokio::test]
async fn retries_under_each_injected_fault() {
    for status in [429, 500, 502, 503] {
        let (served, sent) = fault_run(vec![status]).await;
        assert_eq!(served, sent);
        assert!(
            sent > 20 && sent < 60,
            "status {status}: {sent} calls for 20 reads"
        );
    }
    // Responses held past the client's timeout: the read is retried.
    let env = sim(SimConfig::default()).await;
    env.control(
        "PUT",
        "/__sim/faults",
        json!({"delay_rate": 0.3, "delay_ms": 400}),
    )
    .await;
    let mut config = env.config();
    config.http.request_timeout = Duration::from_millis(150);
    let token = SecretString::from(env.info["token"].as_str().unwrap().to_string());
    let c = GhlClient::new(
        config,
        Auth::PrivateToken(token),
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    for _ in 0..10 {
        assert!(
            c.get_product("none", Priority::Live)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(c.calls_made() > 10);
    // A permanent error is not retried.
    env.control("PUT", "/__sim/faults", json!({})).await;
    let before = c.calls_made();
    let err = c
        .create_product(&ProductInput {
            name: String::new(),
            location_id: env.location.clone(),
            product_type: "DIGITAL".into(),
            description: None,
            available_in_store: None,
            image: None,
            slug: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert!(!transport::Retryable::is_retryable(&err));
    assert_eq!(c.calls_made(), before + 1);
}

#[tokio::test]
async fn an_agency_token_mints_location_tokens_and_mints_again_at_expiry() {
    let env = sim(SimConfig::default()).await;
    let company = env.info["company_id"].as_str().unwrap().to_string();
    let manager = Arc::new(TokenManager::new(
        env.app(),
        reqwest::Client::new(),
        Arc::new(MemoryTokenStore::default()),
    ));
    let code = env
        .control(
            "POST",
            "/__sim/oauth/code",
            json!({"userType": "Company", "scope": "oauth.write products.readonly"}),
        )
        .await;
    let agency = manager
        .exchange_code(code["code"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(agency.user_type, ghl::auth::UserType::Company);
    let pair = manager
        .mint_location_token(&company, &company, &env.location)
        .await
        .unwrap();
    assert_eq!(pair.location_id.as_deref(), Some(env.location.as_str()));
    let client = GhlClient::new(
        env.config(),
        Auth::OAuth {
            manager: manager.clone(),
            key: env.location.clone(),
        },
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    assert!(
        client
            .get_product("none", Priority::Live)
            .await
            .unwrap()
            .is_none()
    );
    // Every access token expires: the agency pair refreshes, the location token is minted again.
    env.control("POST", "/__sim/tokens/expire", json!({})).await;
    assert!(
        client
            .get_product("none", Priority::Live)
            .await
            .unwrap()
            .is_none()
    );
    let log = env.requests().await;
    // Minted once; after the expiry the stale agency token is refused, the
    // agency pair refreshes once, and the location token is minted again.
    assert_eq!(log["summary"]["by_route"]["POST /oauth/locationToken"], 3);
    assert_eq!(
        log["summary"]["by_route"]["POST /oauth/token"], 2,
        "the code exchange and one agency refresh"
    );
}

#[tokio::test]
async fn a_list_that_repeats_a_page_stops_with_an_error() {
    use axum::routing::get;
    // A broken server that answers the same page whatever the offset.
    let app = axum::Router::new().route(
        "/products/",
        get(|| async {
            axum::Json(json!({"products": [{"_id": "p1", "locationId": "L", "name": "A", "productType": "DIGITAL",
                                            "createdAt": "x", "updatedAt": "x"}],
                              "total": [{"total": 5}]}))
        }),
    );
    let server = sim_kit::RunningSim::spawn("127.0.0.1:0".parse().unwrap(), app, |_| Value::Null)
        .await
        .unwrap();
    let mut config = GhlConfig::new(&server.url, "L");
    config.page_size = 1;
    let c = GhlClient::new(
        config,
        Auth::PrivateToken(SecretString::from("t".to_string())),
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    let result: Result<Vec<Product>, GhlError> = c.products(Priority::Live).try_collect().await;
    assert!(
        matches!(result, Err(GhlError::PaginationLoop(_))),
        "{result:?}"
    );
}

/// A product with `prices` prices of 10.00 USD, made through the client.
async fn product_with_prices(
    c: &GhlClient,
    location: &str,
    name: &str,
    prices: usize,
) -> (Product, Vec<Price>) {
    let product = c
        .create_product(&ProductInput {
            name: name.into(),
            location_id: location.into(),
            product_type: "DIGITAL".into(),
            description: None,
            available_in_store: Some(false),
            image: None,
            slug: None,
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for i in 0..prices {
        out.push(
            c.create_price(
                &product.id,
                &PriceInput {
                    name: format!("Price {i}"),
                    kind: "one_time".into(),
                    currency: "USD".into(),
                    amount: 10.0,
                    location_id: location.into(),
                    recurring: None,
                    trial_period: None,
                    total_cycles: None,
                    sku: None,
                    track_inventory: None,
                    available_quantity: None,
                    allow_out_of_stock_purchases: None,
                },
            )
            .await
            .unwrap(),
        );
    }
    (product, out)
}

fn usd(minor: i64) -> model::Money {
    model::Money::new(minor, model::Currency::USD)
}

async fn amount_of(c: &GhlClient, price: &Price) -> i64 {
    let p = c
        .get_price(&price.product, &price.id)
        .await
        .unwrap()
        .unwrap();
    ghl::client::money(&p.amount, &p.currency, "test")
        .unwrap()
        .minor
}

#[tokio::test]
async fn bulk_writes_against_the_simulator() {
    let env = sim(SimConfig {
        rate_limits: RateLimits::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let c = env.pit_client();
    let (a, a_prices) = product_with_prices(&c, &env.location, "A", 2).await;
    let (b, b_prices) = product_with_prices(&c, &env.location, "B", 2).await;

    // Two products and four prices: one request.
    let edits: Vec<ProductEdit> = [(&a, &a_prices, 1234), (&b, &b_prices, 2500)]
        .into_iter()
        .map(|(p, prices, minor)| ProductEdit {
            id: p.id.clone(),
            name: Some(format!("{} edited", p.name)),
            prices: prices
                .iter()
                .map(|pr| PriceEdit {
                    id: pr.id.clone(),
                    amount: Some(usd(minor)),
                    sku: Some(format!("{}-sku", pr.id)),
                    ..PriceEdit::default()
                })
                .collect(),
            ..ProductEdit::default()
        })
        .collect();
    let before = c.calls_made();
    assert_eq!(c.bulk_edit_products(&edits).await.unwrap(), 2);
    assert_eq!(c.calls_made(), before + 1, "six entities, one call");
    assert_eq!(amount_of(&c, &a_prices[1]).await, 1234);
    assert_eq!(amount_of(&c, &b_prices[0]).await, 2500);
    let got = c.get_product(&b.id, Priority::Live).await.unwrap().unwrap();
    assert_eq!(got.name, "B edited");

    // Over the cap: refused before any request, with the count.
    let big: Vec<ProductEdit> = (0..31)
        .map(|_| ProductEdit {
            id: a.id.clone(),
            ..ProductEdit::default()
        })
        .collect();
    let before = c.calls_made();
    match c.bulk_edit_products(&big).await {
        Err(GhlError::BulkLimit {
            entities: 31,
            max: 30,
            ..
        }) => {}
        other => panic!("expected BulkLimit, got {other:?}"),
    }
    assert_eq!(c.calls_made(), before);
    // Nothing to send, nothing sent.
    assert_eq!(c.bulk_edit_products(&[]).await.unwrap(), 0);
    c.bulk_update_products(&[], &BulkChange::Delete)
        .await
        .unwrap();
    assert_eq!(c.calls_made(), before);

    // One change across products.
    let ids = vec![a.id.clone(), b.id.clone()];
    c.bulk_update_products(
        &ids,
        &BulkChange::Prices {
            price: Some(PriceChange {
                rule: PriceRule::IncreaseByAmount(usd(100)),
                round_to_whole: false,
            }),
            compare_at_price: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(amount_of(&c, &a_prices[0]).await, 1334);
    assert_eq!(amount_of(&c, &b_prices[1]).await, 2600);
    c.bulk_update_products(&ids, &BulkChange::Availability(true))
        .await
        .unwrap();
    assert_eq!(
        c.get_product(&a.id, Priority::Live)
            .await
            .unwrap()
            .unwrap()
            .available_in_store,
        Some(true)
    );
    c.bulk_update_products(std::slice::from_ref(&a.id), &BulkChange::Delete)
        .await
        .unwrap();
    assert!(
        c.get_product(&a.id, Priority::Live)
            .await
            .unwrap()
            .is_none()
    );
    // HighLevel's own refusal comes back as its 400.
    let err = c
        .bulk_update_products(
            std::slice::from_ref(&a.id),
            &BulkChange::Availability(false),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");

    // The write scope is checked before sending.
    let mut config = env.config();
    config.granted_scopes = Some(BTreeSet::from(["products.readonly".to_string()]));
    let token = SecretString::from(env.info["token"].as_str().unwrap().to_string());
    let read_only = GhlClient::new(
        config,
        Auth::PrivateToken(token),
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    assert!(matches!(
        read_only.bulk_edit_products(&edits[1..]).await,
        Err(GhlError::MissingScope {
            scope: "products.write",
            ..
        })
    ));
    assert_eq!(read_only.calls_made(), 0);
}

#[tokio::test]
async fn a_lost_bulk_answer_is_retried_only_where_repeating_is_harmless() {
    let env = sim(SimConfig {
        rate_limits: RateLimits::unlimited(),
        ..SimConfig::default()
    })
    .await;
    let setup = env.pit_client();
    let (p, prices) = product_with_prices(&setup, &env.location, "Lost", 1).await;
    // Every answer is held back past the client's timeout, after the change
    // took effect.
    env.control(
        "PUT",
        "/__sim/faults",
        json!({"delay_rate": 1.0, "delay_ms": 400}),
    )
    .await;
    let mut config = env.config();
    config.http.request_timeout = Duration::from_millis(150);
    config.retry.max_attempts = 3;
    let token = SecretString::from(env.info["token"].as_str().unwrap().to_string());
    let c = GhlClient::new(
        config,
        Auth::PrivateToken(token),
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    // A bulk edit sets values: sent again after each lost answer.
    let edit = ProductEdit {
        id: p.id.clone(),
        prices: vec![PriceEdit {
            id: prices[0].id.clone(),
            amount: Some(usd(1500)),
            ..PriceEdit::default()
        }],
        ..ProductEdit::default()
    };
    assert!(c.bulk_edit_products(&[edit]).await.is_err());
    assert_eq!(c.calls_made(), 3, "retried: the same values again");
    // A relative rule would apply twice: sent once.
    let increase = BulkChange::Prices {
        price: Some(PriceChange {
            rule: PriceRule::IncreaseByAmount(usd(100)),
            round_to_whole: false,
        }),
        compare_at_price: None,
    };
    assert!(
        c.bulk_update_products(std::slice::from_ref(&p.id), &increase)
            .await
            .is_err()
    );
    assert_eq!(c.calls_made(), 4, "not retried after a lost answer");
    env.control("PUT", "/__sim/faults", json!({})).await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        amount_of(&setup, &prices[0]).await,
        1600,
        "set to 15.00 (three times), then increased once"
    );
}
