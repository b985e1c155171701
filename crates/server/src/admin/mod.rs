//! The admin area under `/admin`, a page per subject: the dashboard (per
//! tenant: records linked per kind, connections and their health as the
//! daemon's [`Connections`](crate::health::Connections) table says, each
//! flow with its mode switch, state and last 24 hours as a chart, each
//! location's rate budget and daily quota), the integration log (searched,
//! paged, live), dead letters with replay and drop (one, ticked or all),
//! drift, API calls and the alerts sent. This module owns the routes, the
//! handlers and the session and CSRF checks; the markup is maud, server-
//! rendered (charts as inline SVG), with one stylesheet, a small script and
//! the vendored htmx compiled into the binary and nothing loaded from
//! elsewhere (the CSP says so).
//! Every page needs a session (argon2-checked password; a client address —
//! the peer's, or the one a trusted proxy forwards for, see [`client_addr`] —
//! with too many failed logins in a window is answered 429 until the window
//! moves on); every form carries the session's CSRF token. It reads the engine and store and changes only
//! flow modes (kept across restarts through a [`ModeStore`] when the daemon
//! gives one) and dead letters; every free text is scrubbed of secrets.

mod assets;
pub mod auth;
mod charts;
pub mod client_addr;
mod dashboard;
mod dead_letters;
mod log;
mod pages;
mod reports;
mod words;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use engine::Engine;
use model::{Flow, FlowMode};
use secrecy::{ExposeSecret, SecretString};

use crate::WebhookStats;
use crate::health::Connections;
use crate::oauth::OAuth;
use auth::{LOGIN_COOKIE, LoginLimit, LoginLimiter, SESSION_COOKIE, Sessions};

/// One HighLevel location's rate budget, as the tenant's client draws on it.
#[derive(Clone)]
pub struct LocationBudget {
    pub tenant: String,
    pub location_id: String,
    pub budget: ghl::RateBudget,
}

/// Keeps the flow modes switched on the page across restarts.
pub trait ModeStore: Send + Sync {
    /// Keeps `mode` for `flow` of `tenant`; called before the switch takes
    /// effect, which it does only if this succeeds. Blocking is allowed.
    fn save(
        &self,
        tenant: &str,
        flow: Flow,
        mode: FlowMode,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
    /// Where the modes are kept, for the page (e.g. a file name).
    fn location(&self) -> String;
}

/// What the admin page is built from.
pub struct AdminConfig {
    /// `[server] admin_password_hash`; without it every login is refused.
    pub password_hash: Option<String>,
    /// Every secret the daemon knows: scrubbed from whatever the page shows.
    pub secrets: Vec<SecretString>,
    pub budgets: Vec<LocationBudget>,
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (the page is reached over HTTPS).
    pub secure_cookies: bool,
    /// Each tenant's connection states, as the daemon reports them.
    pub connections: Arc<Connections>,
    /// Where mode switches are kept; without one they last until a restart.
    pub modes: Option<Arc<dyn ModeStore>>,
    /// Failed logins allowed per client address.
    pub login_limit: LoginLimit,
    /// `[server] trusted_proxies`: peers whose `X-Forwarded-For` names the
    /// client (see [`client_addr`]).
    pub trusted_proxies: Vec<config::IpRange>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            password_hash: None,
            secrets: Vec::new(),
            budgets: Vec::new(),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            connections: Arc::default(),
            modes: None,
            login_limit: LoginLimit::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The admin page's state.
pub struct Admin {
    config: AdminConfig,
    engine: Arc<Engine>,
    sessions: Sessions,
    logins: LoginLimiter,
    webhooks: Arc<WebhookStats>,
    oauth: Option<Arc<OAuth>>,
}

impl Admin {
    pub fn new(
        config: AdminConfig,
        engine: Arc<Engine>,
        webhooks: Arc<WebhookStats>,
        oauth: Option<Arc<OAuth>>,
    ) -> Self {
        let sessions = Sessions::new(config.session_ttl);
        let logins = LoginLimiter::new(config.login_limit);
        Self {
            config,
            engine,
            sessions,
            logins,
            webhooks,
            oauth,
        }
    }

    /// `text` without any known secret or credential-looking token.
    fn scrub(&self, text: &str) -> String {
        let known: Vec<&str> = self
            .config
            .secrets
            .iter()
            .map(|s| s.expose_secret())
            .collect();
        transport::redact::redact_text(text, &known)
    }

    /// The session's CSRF token, if the request carries a live session.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let token = auth::cookie(headers, SESSION_COOKIE)?;
        self.sessions.csrf(&token)
    }

    /// Whether the request has a live session and `form` carries its CSRF token.
    fn csrf_ok(&self, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
        match (self.session(headers), form.get("csrf")) {
            (Some(expected), Some(sent)) => auth::same_token(sent, &expected),
            _ => false,
        }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.config.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        let v = format!(
            "{name}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        );
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/admin", get(dashboard_page))
        .route("/admin/", get(dashboard_page))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/log", get(log_page))
        .route("/admin/log/live", get(log_live))
        .route("/admin/log/{id}", get(log_entry))
        .route("/admin/modes", post(set_mode))
        .route("/admin/dlq", get(dlq_page))
        .route("/admin/dlq/bulk", post(dlq_bulk))
        .route("/admin/dlq/{id}/replay", post(replay))
        .route("/admin/dlq/{id}/drop", post(drop_letter))
        .route("/admin/drift", get(drift_page))
        .route("/admin/api", get(api_page))
        .route("/admin/alerts", get(alerts_page))
        .route("/admin/oauth/{tenant}", post(oauth_start))
        .route("/admin/assets/{name}", get(assets::serve))
        .with_state(admin)
}

/// Headers every admin answer carries.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    r
}

fn html(status: StatusCode, markup: maud::Markup) -> Response {
    secure((status, Html(markup.into_string())).into_response())
}

fn to_login() -> Response {
    secure(Redirect::to("/admin/login").into_response())
}

fn back_to_dashboard() -> Response {
    secure(Redirect::to("/admin").into_response())
}

/// Back to the dead letters page, saying what was done (`replayed=3`).
fn back_to_dead_letters(done: &str) -> Response {
    secure(Redirect::to(&format!("/admin/dlq?{done}")).into_response())
}

async fn login_page(State(admin): State<Arc<Admin>>) -> Response {
    login_form(&admin, StatusCode::OK, None)
}

/// The login form with a fresh double-submit token in a cookie and a field.
fn login_form(admin: &Admin, status: StatusCode, error: Option<&str>) -> Response {
    let token = auth::random_token();
    let configured = admin.config.password_hash.is_some();
    let mut r = html(status, pages::login(&token, error, configured));
    r.headers_mut().append(
        header::SET_COOKIE,
        admin.cookie(LOGIN_COOKIE, &token, Duration::from_secs(3600)),
    );
    r
}

async fn login(
    State(admin): State<Arc<Admin>>,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    // Failed logins are counted against the client's address: the peer's
    // (the daemon serves with it), or the one a trusted proxy forwards for.
    let client = client_addr::client_addr(
        peer.map(|axum::Extension(ConnectInfo(a))| a.ip()),
        &headers,
        &admin.config.trusted_proxies,
    );
    if let Some(wait) = admin.logins.check(client) {
        let limit = admin.logins.limit();
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(%client, "admin login refused: too many failed logins from this address");
        let mut r = login_form(
            &admin,
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Too many failed logins from your address ({} within {} s). Wait {seconds} s, then try again.",
                limit.max_failures,
                limit.window.as_secs()
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let sent = form.get("csrf").map(String::as_str).unwrap_or("");
    let expected = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !auth::same_token(sent, &expected) {
        return secure(
            (
                StatusCode::FORBIDDEN,
                "forbidden: reload the login page and try again",
            )
                .into_response(),
        );
    }
    let Some(hash) = admin.config.password_hash.clone() else {
        return login_form(
            &admin,
            StatusCode::UNAUTHORIZED,
            Some(
                "No admin password is configured: run `allybridge admin-password` and set [server] admin_password_hash.",
            ),
        );
    };
    let password = form.get("password").cloned().unwrap_or_default();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::warn!(%client, "admin login refused: wrong password");
        admin.logins.failed(client);
        return login_form(&admin, StatusCode::UNAUTHORIZED, Some("Wrong password."));
    }
    admin.logins.succeeded(client);
    let (token, _) = admin.sessions.create();
    let mut r = back_to_dashboard();
    r.headers_mut().append(
        header::SET_COOKIE,
        admin.cookie(SESSION_COOKIE, &token, admin.sessions.ttl()),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        admin.cookie(LOGIN_COOKIE, "", Duration::ZERO),
    );
    r
}

async fn logout(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    if let Some(token) = auth::cookie(&headers, SESSION_COOKIE) {
        admin.sessions.remove(&token);
    }
    let mut r = to_login();
    r.headers_mut().append(
        header::SET_COOKIE,
        admin.cookie(SESSION_COOKIE, "", Duration::ZERO),
    );
    r
}

/// Answers a page: it, or a 503 saying the store did not answer (scrubbed).
fn page_response(admin: &Admin, built: Result<maud::Markup, store::StoreError>) -> Response {
    match built {
        Ok(m) => html(StatusCode::OK, m),
        Err(e) => {
            tracing::warn!(error = %e, "admin page: the store does not answer");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                pages::error(&admin.scrub(&e.to_string())),
            )
        }
    }
}

impl Admin {
    /// The frame every page shares, for the session whose CSRF token is `csrf`.
    async fn chrome<'a>(&self, csrf: &'a str) -> Result<pages::Chrome<'a>, store::StoreError> {
        let dead = self.engine.store.queue_stats().await?.dead;
        Ok(pages::Chrome { csrf, dead })
    }
}

async fn dashboard_page(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        dashboard::dashboard(&admin, &chrome).await
    };
    page_response(&admin, built.await)
}

async fn log_page(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Query(filter): Query<log::LogFilter>,
) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        log::log_page(&admin, &chrome, &filter).await
    };
    page_response(&admin, built.await)
}

/// The log's entries alone, for the page's live refresh (htmx).
async fn log_live(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Query(filter): Query<log::LogFilter>,
) -> Response {
    if admin.session(&headers).is_none() {
        let mut r = secure((StatusCode::UNAUTHORIZED, "log in again").into_response());
        // htmx follows this to the login page instead of swapping the text in.
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/admin/login"));
        return r;
    }
    page_response(&admin, log::entries(&admin, &filter).await)
}

async fn log_entry(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let Ok(id) = id.parse::<i64>() else {
        return secure((StatusCode::BAD_REQUEST, "not a log entry id").into_response());
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        Ok(match log::entry_page(&admin, &chrome, id).await? {
            Some(page) => (StatusCode::OK, page),
            None => (
                StatusCode::NOT_FOUND,
                pages::not_found(
                    &chrome,
                    pages::Tab::Log,
                    &format!("There is no log entry {id}."),
                ),
            ),
        })
    };
    match built.await {
        Ok((status, page)) => html(status, page),
        Err(e) => page_response(&admin, Err(e)),
    }
}

async fn dlq_page(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Query(view): Query<dead_letters::DlqView>,
) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        dead_letters::dead_letters_page(&admin, &chrome, &view).await
    };
    page_response(&admin, built.await)
}

async fn drift_page(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        reports::drift_page(&admin, &chrome).await
    };
    page_response(&admin, built.await)
}

async fn api_page(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Query(view): Query<reports::ApiView>,
) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        reports::api_page(&admin, &chrome, &view).await
    };
    page_response(&admin, built.await)
}

async fn alerts_page(State(admin): State<Arc<Admin>>, headers: HeaderMap) -> Response {
    let Some(csrf) = admin.session(&headers) else {
        return to_login();
    };
    let built = async {
        let chrome = admin.chrome(&csrf).await?;
        reports::alerts_page(&admin, &chrome).await
    };
    page_response(&admin, built.await)
}

/// A flow mode by its name in the configuration.
pub fn parse_mode(s: &str) -> Option<FlowMode> {
    match s {
        "off" => Some(FlowMode::Off),
        "observe" => Some(FlowMode::Observe),
        "write" => Some(FlowMode::Write),
        _ => None,
    }
}

pub fn mode_name(m: FlowMode) -> &'static str {
    match m {
        FlowMode::Off => "off",
        FlowMode::Observe => "observe",
        FlowMode::Write => "write",
    }
}

async fn set_mode(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    let tenant = form.get("tenant").and_then(|t| admin.engine.tenant(t));
    let flow = form.get("flow").and_then(|f| Flow::from_str(f).ok());
    let mode = form.get("mode").and_then(|m| parse_mode(m));
    let (Some(tenant), Some(flow), Some(mode)) = (tenant, flow, mode) else {
        return secure((StatusCode::BAD_REQUEST, "unknown tenant, flow or mode").into_response());
    };
    if let Some(modes) = admin.config.modes.clone() {
        let name = tenant.name.clone();
        let saved = tokio::task::spawn_blocking(move || {
            modes.save(&name, flow, mode).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the save did not finish: {e}")));
        if let Err(e) = saved {
            tracing::warn!(tenant = %tenant.name, flow = flow.as_str(), error = %e, "flow mode not switched: it could not be kept");
            return secure(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the mode was not switched: {}", admin.scrub(&e)),
                )
                    .into_response(),
            );
        }
    }
    tenant.settings.mode_overrides.set(&tenant.name, flow, mode);
    tracing::info!(tenant = %tenant.name, flow = flow.as_str(), mode = mode_name(mode), "flow mode switched from the admin page");
    back_to_dashboard()
}

fn forbidden() -> Response {
    secure(
        (
            StatusCode::FORBIDDEN,
            "forbidden: log in again and retry from the admin page",
        )
            .into_response(),
    )
}

fn bad_id() -> Response {
    secure((StatusCode::BAD_REQUEST, "not a job id").into_response())
}

async fn replay(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    let Ok(id) = id.parse::<store::JobId>() else {
        return bad_id();
    };
    match admin.engine.store.replay_dead_letter(id).await {
        Ok(_) => {
            tracing::info!(job = id, "dead letter replayed from the admin page");
            back_to_dead_letters("replayed=1")
        }
        Err(e) => secure(
            (
                StatusCode::CONFLICT,
                format!("could not replay job {id}: {}", admin.scrub(&e.to_string())),
            )
                .into_response(),
        ),
    }
}

async fn drop_letter(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    let Ok(id) = id.parse::<store::JobId>() else {
        return bad_id();
    };
    match admin.engine.store.drop_dead_letter(id).await {
        Ok(()) => {
            tracing::info!(job = id, "dead letter dropped from the admin page");
            back_to_dead_letters("dropped=1")
        }
        Err(e) => secure(
            (
                StatusCode::CONFLICT,
                format!("could not drop job {id}: {}", admin.scrub(&e.to_string())),
            )
                .into_response(),
        ),
    }
}

/// Replays or drops the dead letters ticked on the page (`action` =
/// `replay` / `drop`, each `ids`), or every one (`replay_all` /
/// `drop_all`); back to the page saying how many.
async fn dlq_bulk(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let form: HashMap<String, String> =
        fields.iter().filter(|(k, _)| k != "ids").cloned().collect();
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    let store = &admin.engine.store;
    let (replay, all) = match form.get("action").map(String::as_str) {
        Some("replay") => (true, false),
        Some("drop") => (false, false),
        Some("replay_all") => (true, true),
        Some("drop_all") => (false, true),
        _ => {
            return secure(
                (
                    StatusCode::BAD_REQUEST,
                    "unknown action: use the buttons of the dead letters page",
                )
                    .into_response(),
            );
        }
    };
    let ids: Vec<store::JobId> = if all {
        let mut ids = Vec::new();
        let mut after = 0;
        loop {
            match store.dead_letters(after, 500).await {
                Ok(page) if page.is_empty() => break,
                Ok(page) => {
                    after = page.last().map_or(after, |j| j.id);
                    ids.extend(page.iter().map(|j| j.id));
                }
                Err(e) => return page_response(&admin, Err(e)),
            }
        }
        ids
    } else {
        let mut ids = Vec::new();
        for (_, v) in fields.iter().filter(|(k, _)| k == "ids") {
            match v.parse() {
                Ok(id) => ids.push(id),
                Err(_) => return bad_id(),
            }
        }
        ids
    };
    if ids.is_empty() && !all {
        return back_to_dead_letters("none=1");
    }
    let mut done = 0u64;
    let mut failed = 0u64;
    for id in &ids {
        let outcome = if replay {
            store.replay_dead_letter(*id).await.map(drop)
        } else {
            store.drop_dead_letter(*id).await
        };
        match outcome {
            Ok(()) => done += 1,
            Err(e) => {
                tracing::warn!(job = id, error = %admin.scrub(&e.to_string()), "dead letter not replayed or dropped from the admin page");
                failed += 1;
            }
        }
    }
    let verb = if replay { "replayed" } else { "dropped" };
    tracing::info!(
        count = done,
        failed,
        "dead letters {verb} from the admin page"
    );
    back_to_dead_letters(&format!("{verb}={done}&failed={failed}"))
}

async fn oauth_start(
    State(admin): State<Arc<Admin>>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !admin.csrf_ok(&headers, &form) {
        return forbidden();
    }
    // The scopes of the modes the flows run in now, switches included.
    let scopes = admin
        .engine
        .tenant(&tenant)
        .map(|t| ghl::required_scopes(&t.modes_now()))
        .unwrap_or_default();
    match admin.oauth.as_ref().and_then(|o| o.start(&tenant, &scopes)) {
        Some(url) => secure(Redirect::to(&url).into_response()),
        None => secure((StatusCode::NOT_FOUND, "this tenant does not use OAuth").into_response()),
    }
}
