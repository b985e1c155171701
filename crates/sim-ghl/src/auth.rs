//! Authentication as HighLevel does it: OAuth 2.0 (authorization code,
//! single-use rotating refresh tokens, agency-minted location tokens),
//! static private integration tokens, scopes and token kinds per route, the
//! `Version` header, and the per-location rate limit with its
//! `X-RateLimit-*` headers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Sim;
use crate::error::ApiError;
use crate::routes::{self, Access};

/// The `Version` header value the v2 specs give every simulated route.
pub const API_VERSION: &str = "2021-07-28";

/// The `Version` header values the simulator accepts: the one the specs
/// give (`2021-07-28`) and `2023-02-21`, which HighLevel's official Node SDK
/// (`@gohighlevel/api-client`) sends on every call by default, so the real
/// API accepts it. `2021-04-15`, which HighLevel documents for other API
/// areas, appears in none of the specs of the routes simulated here and is
/// refused, as a missing or unknown value is.
pub const ACCEPTED_VERSIONS: &[&str] = &[API_VERSION, "2023-02-21"];

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Location(String),
    Company(String),
    /// A person clicking in the HighLevel UI (the control API).
    Ui,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    OAuth,
    PrivateIntegration,
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub principal: Principal,
    pub kind: TokenKind,
    pub scopes: HashSet<String>,
    pub expires_at: Option<Instant>,
}

/// What an authorization code or refresh token grants.
#[derive(Debug, Clone)]
struct Grant {
    principal: Principal,
    scopes: HashSet<String>,
}

/// The caller of a request, as the guard established it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
}

impl Caller {
    /// Checks that the caller may act on `location_id`.
    pub fn check_location(&self, location_id: &str) -> Result<(), ApiError> {
        match &self.principal {
            Principal::Location(l) if l == location_id => Ok(()),
            Principal::Location(_) => Err(ApiError::forbidden_location()),
            Principal::Company(_) | Principal::Ui => Ok(()),
        }
    }
}

/// Tokens, codes and refresh tokens.
#[derive(Default)]
pub struct AuthState {
    access: HashMap<String, TokenInfo>,
    refresh: HashMap<String, Grant>,
    codes: HashMap<String, Grant>,
}

impl AuthState {
    pub fn add_private_token(&mut self, token: String, principal: Principal, scopes: &[String]) {
        self.access.insert(
            token,
            TokenInfo {
                principal,
                kind: TokenKind::PrivateIntegration,
                scopes: scopes.iter().cloned().collect(),
                expires_at: None,
            },
        );
    }

    pub fn add_code(&mut self, principal: Principal, scopes: HashSet<String>) -> String {
        let code = sim_kit::ids::alphanumeric(40);
        self.codes.insert(code.clone(), Grant { principal, scopes });
        code
    }

    /// Makes every OAuth access token expire now (to test refresh on 401).
    pub fn expire_access_tokens(&mut self) -> usize {
        let now = Instant::now();
        let mut n = 0;
        for t in self.access.values_mut() {
            if t.kind == TokenKind::OAuth {
                t.expires_at = Some(now);
                n += 1;
            }
        }
        n
    }

    fn lookup(&self, token: &str) -> Option<&TokenInfo> {
        self.access
            .get(token)
            .filter(|t| t.expires_at.is_none_or(|e| Instant::now() < e))
    }

    fn issue(
        &mut self,
        grant: &Grant,
        ttl: Duration,
        with_refresh: bool,
    ) -> (String, Option<String>) {
        let access = format!("sim-at-{}", sim_kit::ids::alphanumeric(48));
        self.access.insert(
            access.clone(),
            TokenInfo {
                principal: grant.principal.clone(),
                kind: TokenKind::OAuth,
                scopes: grant.scopes.clone(),
                expires_at: Some(Instant::now() + ttl),
            },
        );
        let refresh = with_refresh.then(|| {
            let r = format!("sim-rt-{}", sim_kit::ids::alphanumeric(48));
            self.refresh.insert(r.clone(), grant.clone());
            r
        });
        (access, refresh)
    }
}

/// Rate limit settings: `max` requests per `interval` and `daily` per day,
/// per app and location (or company).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub max: u32,
    pub interval: Duration,
    pub daily: u64,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            max: 100,
            interval: Duration::from_secs(10),
            daily: 200_000,
        }
    }
}

impl RateLimits {
    /// Limits so high that nothing is ever refused (benchmarks with limits off).
    pub fn unlimited() -> Self {
        Self {
            max: u32::MAX,
            interval: Duration::from_secs(10),
            daily: u64::MAX,
        }
    }
}

#[derive(Default)]
struct Window {
    hits: VecDeque<Instant>,
    day: i64,
    day_count: u64,
}

/// Sliding-window request counting per resource.
#[derive(Default)]
pub struct RateLimiter {
    windows: HashMap<String, Window>,
}

/// The outcome of counting one request.
pub struct RateDecision {
    pub allowed: bool,
    pub remaining: u64,
    pub daily_remaining: u64,
}

impl RateLimiter {
    pub fn check(&mut self, resource: &str, limits: RateLimits) -> RateDecision {
        let now = Instant::now();
        let today = chrono::Utc::now().timestamp() / 86_400;
        let w = self.windows.entry(resource.to_string()).or_default();
        if w.day != today {
            w.day = today;
            w.day_count = 0;
        }
        while w
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limits.interval)
        {
            w.hits.pop_front();
        }
        let allowed = (w.hits.len() as u64) < limits.max as u64 && w.day_count < limits.daily;
        if allowed {
            if limits.max != u32::MAX {
                w.hits.push_back(now);
            }
            w.day_count += 1;
        }
        RateDecision {
            allowed,
            remaining: (limits.max as u64).saturating_sub(w.hits.len() as u64),
            daily_remaining: limits.daily.saturating_sub(w.day_count),
        }
    }

    pub fn clear(&mut self) {
        self.windows.clear();
    }
}

fn rate_headers(headers: &mut HeaderMap, limits: RateLimits, d: &RateDecision) {
    let pairs = [
        ("x-ratelimit-limit-daily", limits.daily.to_string()),
        ("x-ratelimit-daily-remaining", d.daily_remaining.to_string()),
        (
            "x-ratelimit-interval-milliseconds",
            limits.interval.as_millis().to_string(),
        ),
        ("x-ratelimit-max", limits.max.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware on the public API: `Version` header, bearer token, token kind,
/// scope and rate limit, in the order HighLevel's gateway applies them.
pub async fn api_guard(State(sim): State<Arc<Sim>>, mut req: Request, next: Next) -> Response {
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let Some(route) = routes::find(req.method().as_str(), &template) else {
        return next.run(req).await;
    };
    match req
        .headers()
        .get("version")
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => return ApiError::bad_request("Version header was not found").into_response(),
        Some(v) if ACCEPTED_VERSIONS.contains(&v) => {}
        Some(other) => {
            return ApiError::bad_request(format!(
                "Version header value '{other}' is not supported; use {API_VERSION}"
            ))
            .into_response();
        }
    }
    let info = {
        let auth = sim.auth.lock().unwrap_or_else(|e| e.into_inner());
        bearer(req.headers()).and_then(|t| auth.lookup(t)).cloned()
    };
    let Some(info) = info else {
        return ApiError::invalid_token().into_response();
    };
    let kind_ok = route.access.iter().any(|a| match (a, &info.principal) {
        (Access::Location, Principal::Location(_)) => true,
        (Access::Agency, Principal::Company(_)) => true,
        (Access::AgencyOnly, Principal::Company(_)) => info.kind == TokenKind::OAuth,
        _ => false,
    });
    if !kind_ok {
        return ApiError::unauthorized("This route is not supported for this token type.")
            .into_response();
    }
    if !info.scopes.contains(route.scope) {
        return ApiError::scope_missing().into_response();
    }
    let resource = match &info.principal {
        Principal::Location(l) => l.clone(),
        Principal::Company(c) => c.clone(),
        Principal::Ui => String::new(),
    };
    let limits = sim.rate_limits();
    let decision = sim
        .limiter
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .check(&resource, limits);
    if !decision.allowed {
        let mut resp = ApiError::too_many_requests().into_response();
        rate_headers(resp.headers_mut(), limits, &decision);
        return resp;
    }
    req.extensions_mut().insert(Caller {
        principal: info.principal,
    });
    let mut resp = next.run(req).await;
    rate_headers(resp.headers_mut(), limits, &decision);
    resp
}

/// Middleware on the control API's copy of the public routes: a person in
/// the HighLevel UI, with every right and no rate limit.
pub async fn ui_guard(mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Caller {
        principal: Principal::Ui,
    });
    next.run(req).await
}

fn form(bytes: &[u8]) -> Result<HashMap<String, String>, ApiError> {
    serde_urlencoded::from_bytes::<HashMap<String, String>>(bytes).map_err(|_| {
        ApiError::bad_request("Request body must be application/x-www-form-urlencoded")
    })
}

fn token_response(sim: &Sim, grant: &Grant, access: String, refresh: Option<String>) -> Value {
    let scope = {
        let mut s: Vec<&str> = grant.scopes.iter().map(String::as_str).collect();
        s.sort();
        s.join(" ")
    };
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": sim.config.access_token_ttl.as_secs(),
        "scope": scope,
        "userId": sim.user_id,
        "companyId": sim.company_id(),
        "planId": "sim-plan",
        "isBulkInstallation": false,
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    match &grant.principal {
        Principal::Location(l) => {
            body["userType"] = json!("Location");
            body["locationId"] = json!(l);
        }
        Principal::Company(_) => {
            body["userType"] = json!("Company");
            body["approvedLocations"] = json!(sim.location_ids());
        }
        Principal::Ui => {}
    }
    body
}

/// `POST /oauth/token`: the authorization-code and refresh-token grants.
pub async fn token(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    match token_inner(&sim, &body) {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn token_inner(sim: &Sim, body: &[u8]) -> Result<Value, ApiError> {
    let f = form(body)?;
    let mut missing = Vec::new();
    for key in ["client_id", "client_secret", "grant_type"] {
        if f.get(key).is_none_or(|v| v.is_empty()) {
            missing.push(format!("{key} should not be empty"));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::unprocessable(missing));
    }
    if f["client_id"] != sim.config.client_id || f["client_secret"] != sim.config.client_secret {
        return Err(ApiError::unauthorized("Invalid client credentials"));
    }
    let mut auth = sim.auth.lock().unwrap_or_else(|e| e.into_inner());
    let ttl = sim.config.access_token_ttl;
    match f["grant_type"].as_str() {
        "authorization_code" => {
            let code = f.get("code").cloned().unwrap_or_default();
            let grant = auth.codes.remove(&code).ok_or_else(|| {
                ApiError::bad_request("Invalid grant: authorization code is invalid")
            })?;
            let (a, r) = auth.issue(&grant, ttl, true);
            Ok(token_response(sim, &grant, a, r))
        }
        "refresh_token" => {
            let rt = f.get("refresh_token").cloned().unwrap_or_default();
            // Single use: the presented token is gone whether or not it was valid.
            let grant = auth.refresh.remove(&rt).ok_or_else(|| {
                let mut e = ApiError::bad_request("Invalid grant: refresh token is invalid");
                e.body["error"] = json!("invalid_grant");
                e
            })?;
            let (a, r) = auth.issue(&grant, ttl, true);
            Ok(token_response(sim, &grant, a, r))
        }
        "client_credentials" => Err(ApiError::bad_request("Unsupported grant type")),
        _ => Err(ApiError::unprocessable(vec![
            "grant_type must be one of the following values: authorization_code, refresh_token, client_credentials"
                .into(),
        ])),
    }
}

/// `POST /oauth/locationToken`: an agency token mints a location token.
pub async fn location_token(
    State(sim): State<Arc<Sim>>,
    axum::Extension(caller): axum::Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| {
        let f = form(&body)?;
        let company = f.get("companyId").cloned().unwrap_or_default();
        let location = f.get("locationId").cloned().unwrap_or_default();
        if company.is_empty() || location.is_empty() {
            return Err(ApiError::unprocessable(vec![
                "companyId should not be empty".into(),
                "locationId should not be empty".into(),
            ]));
        }
        if caller.principal != Principal::Company(company.clone()) || company != sim.company_id() {
            return Err(ApiError::new(
                403,
                "The token does not have access to this company.",
            ));
        }
        if !sim.location_ids().contains(&location) {
            return Err(ApiError::bad_request(
                "Location not found or app not installed",
            ));
        }
        let scopes = {
            let auth = sim.auth.lock().unwrap_or_else(|e| e.into_inner());
            bearer(&headers)
                .and_then(|t| auth.lookup(t))
                .map(|t| t.scopes.clone())
                .unwrap_or_default()
        };
        let grant = Grant {
            principal: Principal::Location(location.clone()),
            scopes: scopes
                .into_iter()
                .filter(|s| !s.starts_with("oauth."))
                .collect(),
        };
        let mut auth = sim.auth.lock().unwrap_or_else(|e| e.into_inner());
        let (access, _) = auth.issue(&grant, sim.config.access_token_ttl, false);
        let mut body = token_response(&sim, &grant, access, None);
        body["appId"] = json!(sim.app_id());
        body["versionId"] = json!(sim.app_id());
        Ok(body)
    })();
    match result {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v2/oauth/chooselocation`: the consent screen, approved at once for
/// the first location (or `locationId` if given), redirecting with a code.
pub async fn choose_location(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let client_ok = q
        .get("client_id")
        .is_some_and(|c| *c == sim.config.client_id);
    let Some(redirect) = q.get("redirect_uri").filter(|_| client_ok) else {
        return ApiError::bad_request("Invalid client_id or redirect_uri").into_response();
    };
    let requested: HashSet<String> = q
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let allowed: HashSet<String> = routes::all_scopes().into_iter().collect();
    if let Some(bad) = requested.iter().find(|s| !allowed.contains(*s)) {
        return ApiError::bad_request(format!("Invalid scope: {bad}")).into_response();
    }
    let principal = match q.get("user_type").map(String::as_str) {
        Some("Company") => Principal::Company(sim.company_id()),
        _ => Principal::Location(
            q.get("locationId")
                .cloned()
                .or_else(|| sim.location_ids().into_iter().next())
                .unwrap_or_default(),
        ),
    };
    let code = sim
        .auth
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add_code(principal, requested);
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut target = format!("{redirect}{sep}code={code}");
    if let Some(state) = q.get("state") {
        target.push_str("&state=");
        target.push_str(&url_encode(state));
    }
    Redirect::to(&target).into_response()
}

fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .map(|e| e.trim_start_matches("x=").to_string())
        .unwrap_or_default()
}
