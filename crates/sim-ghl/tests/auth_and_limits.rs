//! The HighLevel simulator's gate: Version header, tokens, scopes, token
//! kinds, OAuth with single-use refresh tokens, and the rate limit.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use sim_ghl::SimConfig;
use sim_ghl::auth::RateLimits;

#[tokio::test]
async fn version_header_is_required_and_checked() {
    let s = spawn(SimConfig::default()).await;
    let url = format!("{}/products/?locationId={}", s.url, s.location);
    let missing = s.http.get(&url).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["statusCode"], 400);
    assert!(body["message"].as_str().unwrap().contains("Version"));
    // The specs' value, and the one HighLevel's official Node SDK sends by
    // default, are accepted; anything else is refused like a missing one.
    for (version, status) in [
        ("2021-07-28", 200),
        ("2023-02-21", 200),
        ("2021-04-15", 400),
        ("2021-07-28x", 400),
        ("garbage", 400),
        ("", 400),
    ] {
        let answer = s
            .http
            .get(&url)
            .bearer_auth(&s.token)
            .header("Version", version)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "Version: {version:?}");
        if status == 400 {
            let body: Value = answer.json().await.unwrap();
            assert_eq!(body["statusCode"], 400);
            assert!(body["message"].as_str().unwrap().contains("Version"));
        }
    }
    assert_eq!(
        s.call(
            "GET",
            &format!("/products/?locationId={}", s.location),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn bad_tokens_scopes_and_locations_are_refused() {
    let s = spawn(SimConfig {
        locations: 2,
        private_token_scopes: vec!["products.readonly".into()],
        ..SimConfig::default()
    })
    .await;
    let a = s
        .call_as(
            "nope",
            "GET",
            &format!("/products/?locationId={}", s.location),
            None,
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.body["message"], "Invalid token: access token is invalid");
    assert_eq!(a.body["error"], "Unauthorized");
    // Outside the granted scopes.
    let a = s
        .call(
            "GET",
            &format!(
                "/payments/coupon/list?altId={}&altType=location",
                s.location
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.body["message"],
        "The token is not authorized for this scope."
    );
    // Another location's data.
    let other = s.info["location_ids"][1].as_str().unwrap();
    let a = s
        .call("GET", &format!("/products/?locationId={other}"), None)
        .await;
    assert_eq!(a.status, 403);
}

async fn code(s: &TestSim, user_type: &str, scope: &str) -> String {
    s.control(
        "POST",
        "/__sim/oauth/code",
        Some(json!({"userType": user_type, "scope": scope})),
    )
    .await["code"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn token_call(s: &TestSim, form: &[(&str, &str)]) -> (u16, Value) {
    let client_id = s.info["client_id"].as_str().unwrap();
    let secret = s.info["client_secret"].as_str().unwrap();
    let mut all = vec![("client_id", client_id), ("client_secret", secret)];
    all.extend_from_slice(form);
    let resp = s
        .http
        .post(format!("{}/oauth/token", s.url))
        .form(&all)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn refresh_tokens_are_single_use_and_rotate() {
    let s = spawn(SimConfig::default()).await;
    let c = code(&s, "Location", "products.readonly products.write").await;
    let (status, first) =
        token_call(&s, &[("grant_type", "authorization_code"), ("code", &c)]).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["userType"], "Location");
    assert_eq!(first["locationId"], s.location.as_str());
    let scope = first["scope"].as_str().unwrap();
    assert!(scope.contains("products.write") && !scope.contains("contacts"));
    // The code is single-use too.
    let (status, _) = token_call(&s, &[("grant_type", "authorization_code"), ("code", &c)]).await;
    assert_eq!(status, 400);

    let rt1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = token_call(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    // Reusing the old refresh token is the documented invalid grant.
    let (status, reused) = token_call(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(reused["message"], "Invalid grant: refresh token is invalid");
    assert_eq!(reused["error"], "invalid_grant");

    // The new access token works, and is refused once expired.
    let at = second["access_token"].as_str().unwrap();
    let path = format!("/products/?locationId={}", s.location);
    assert_eq!(s.call_as(at, "GET", &path, None).await.status, 200);
    // Scopes of the grant are enforced.
    let a = s
        .call_as(
            at,
            "GET",
            &format!(
                "/payments/coupon/list?altId={}&altType=location",
                s.location
            ),
            None,
        )
        .await;
    assert_eq!(a.status, 401);
    s.control("POST", "/__sim/tokens/expire", None).await;
    assert_eq!(s.call_as(at, "GET", &path, None).await.status, 401);

    // Wrong client secret.
    let resp = s
        .http
        .post(format!("{}/oauth/token", s.url))
        .form(&[
            ("client_id", s.info["client_id"].as_str().unwrap()),
            ("client_secret", "x"),
            ("grant_type", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn agency_token_mints_location_token_and_private_tokens_cannot() {
    let s = spawn(SimConfig::default()).await;
    let c = code(&s, "Company", "oauth.write products.readonly").await;
    let (status, company) = token_call(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("user_type", "Company"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(company["userType"], "Company");
    let form = [
        ("companyId", s.info["company_id"].as_str().unwrap()),
        ("locationId", s.location.as_str()),
    ];
    let resp = s
        .http
        .post(format!("{}/oauth/locationToken", s.url))
        .header("Version", VERSION)
        .bearer_auth(company["access_token"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let loc: Value = resp.json().await.unwrap();
    assert_eq!(loc["locationId"], s.location.as_str());
    let a = s
        .call_as(
            loc["access_token"].as_str().unwrap(),
            "GET",
            &format!("/products/?locationId={}", s.location),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
    // Agency-Access-Only: an agency private integration token is refused.
    let resp = s
        .http
        .post(format!("{}/oauth/locationToken", s.url))
        .header("Version", VERSION)
        .bearer_auth(s.info["agency_token"].as_str().unwrap())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn consent_screen_redirects_with_a_code() {
    let s = spawn(SimConfig::default()).await;
    let resp = s
        .http
        .get(format!("{}/v2/oauth/chooselocation", s.url))
        .query(&[
            ("response_type", "code"),
            ("client_id", s.info["client_id"].as_str().unwrap()),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("scope", "products.readonly"),
            ("state", "xyz"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://127.0.0.1:9/callback?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"));
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let s = spawn(SimConfig {
        rate_limits: RateLimits {
            max: 5,
            interval: Duration::from_millis(400),
            daily: 1_000,
        },
        ..SimConfig::default()
    })
    .await;
    let path = format!("/products/?locationId={}", s.location);
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let a = s.call("GET", &path, None).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["x-ratelimit-max"], "5");
        assert_eq!(a.headers["x-ratelimit-interval-milliseconds"], "400");
        assert_eq!(a.headers["x-ratelimit-limit-daily"], "1000");
        remaining.push(
            a.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let refused = s.call("GET", &path, None).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["statusCode"], 429);
    assert_eq!(refused.headers["x-ratelimit-remaining"], "0");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(s.call("GET", &path, None).await.status, 200);
    // Daily quota.
    s.control(
        "PUT",
        "/__sim/rate-limits",
        Some(json!({"max": 100, "interval_ms": 10000, "daily": 2})),
    )
    .await;
    assert_eq!(s.call("GET", &path, None).await.status, 200);
    let a = s.call("GET", &path, None).await;
    assert_eq!(a.headers["x-ratelimit-daily-remaining"], "0");
    assert_eq!(s.call("GET", &path, None).await.status, 429);
    // Another location has its own budget.
}

#[tokio::test]
async fn each_location_has_its_own_budget() {
    let s = spawn(SimConfig {
        locations: 2,
        rate_limits: RateLimits {
            max: 2,
            interval: Duration::from_secs(10),
            daily: 1_000,
        },
        ..SimConfig::default()
    })
    .await;
    let other = s.info["location_ids"][1].as_str().unwrap().to_string();
    let other_token = s.info["tokens"][&other].as_str().unwrap().to_string();
    for _ in 0..2 {
        assert_eq!(
            s.call(
                "GET",
                &format!("/products/?locationId={}", s.location),
                None
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(
        s.call(
            "GET",
            &format!("/products/?locationId={}", s.location),
            None
        )
        .await
        .status,
        429
    );
    let a = s
        .call_as(
            &other_token,
            "GET",
            &format!("/products/?locationId={other}"),
            None,
        )
        .await;
    assert_eq!(a.status, 200);
}
