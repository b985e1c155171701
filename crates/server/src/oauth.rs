//! The HighLevel OAuth callback (`GET /oauth/callback?code=…&state=…`) for
//! tenants with `auth = "oauth"`. A (re)connection starts on the admin page,
//! which asks [`OAuth::start`] for a consent URL carrying a fresh, single-use
//! `state` and the least scopes for the flows' modes at that moment (a flow
//! switched to write on the page asks for its write scopes); the callback checks that state, exchanges the code through the
//! tenant's own `TokenManager` (so the running client uses the new pair at
//! once), the manager stores the pair encrypted, and the tenant's HighLevel
//! connection is reported connected (the daemon's pollers then start its
//! flows). It never shows a token.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use store::System;

use crate::health::{ConnectionState, Connections};

/// How long a consent URL's state stays valid.
const STATE_TTL: Duration = Duration::from_secs(15 * 60);

/// One tenant that connects to HighLevel with OAuth.
pub struct OAuthTenant {
    pub tenant: String,
    pub app: ghl::OAuthApp,
    /// The manager the tenant's HighLevel client uses.
    pub manager: Arc<ghl::TokenManager>,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("this authorisation link is unknown or expired; start again from the admin page")]
    UnknownState,
    #[error("HighLevel refused the code exchange: {0}")]
    Exchange(String),
}

/// The OAuth tenants and the consent flows in progress.
pub struct OAuth {
    tenants: Vec<OAuthTenant>,
    /// state → (tenant, issued at).
    pending: Mutex<HashMap<String, (String, Instant)>>,
    /// Where a completed connection is reported.
    connections: Arc<Connections>,
}

impl OAuth {
    pub fn new(tenants: Vec<OAuthTenant>, connections: Arc<Connections>) -> Self {
        Self {
            tenants,
            pending: Mutex::new(HashMap::new()),
            connections,
        }
    }

    /// The names of the tenants that may connect with OAuth.
    pub fn tenant_names(&self) -> Vec<&str> {
        self.tenants.iter().map(|t| t.tenant.as_str()).collect()
    }

    /// A consent URL for `tenant` asking for `scopes`, with a new
    /// single-use state.
    pub fn start(&self, tenant: &str, scopes: &BTreeSet<&str>) -> Option<String> {
        let t = self.tenants.iter().find(|t| t.tenant == tenant)?;
        let state = hex::encode(rand::random::<[u8; 16]>());
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|_, (_, at)| at.elapsed() < STATE_TTL);
        pending.insert(state.clone(), (t.tenant.clone(), Instant::now()));
        Some(t.app.authorize_url(scopes, &state))
    }

    /// Exchanges `code` for the tenant `state` was issued to; returns the tenant.
    pub async fn finish(&self, code: &str, state: &str) -> Result<String, OAuthError> {
        let tenant = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.remove(state) {
                Some((tenant, at)) if at.elapsed() < STATE_TTL => tenant,
                _ => return Err(OAuthError::UnknownState),
            }
        };
        let t = self
            .tenants
            .iter()
            .find(|t| t.tenant == tenant)
            .ok_or(OAuthError::UnknownState)?;
        t.manager
            .exchange_code(code)
            .await
            .map_err(|e| OAuthError::Exchange(e.to_string()))?;
        tracing::info!(tenant = %tenant, "HighLevel connected through the OAuth callback");
        self.connections
            .set(&tenant, System::HighLevel, ConnectionState::Connected);
        Ok(tenant)
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub fn router(oauth: Arc<OAuth>) -> Router {
    Router::new()
        .route("/oauth/callback", get(callback))
        .with_state(oauth)
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = maud::html! {
        (maud::DOCTYPE)
        html { head { meta charset="utf-8"; title { (title) } }
            body { h1 { (title) } p { (text) } p { a href="/admin" { "Back to the admin page" } } } }
    };
    (status, Html(body.into_string())).into_response()
}

async fn callback(State(oauth): State<Arc<OAuth>>, Query(q): Query<Callback>) -> Response {
    if let Some(error) = q.error {
        return page(
            StatusCode::BAD_REQUEST,
            "HighLevel did not authorise allybridge",
            &format!("HighLevel answered: {error}"),
        );
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Not an OAuth redirect",
            "This address expects ?code=…&state=… from HighLevel.",
        );
    };
    match oauth.finish(&code, &state).await {
        Ok(tenant) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Tenant `{tenant}` is connected to HighLevel; its flows start within seconds, without a restart. You can close this tab."
            ),
        ),
        Err(e @ OAuthError::UnknownState) => {
            page(StatusCode::BAD_REQUEST, "Not connected", &e.to_string())
        }
        Err(e) => {
            tracing::warn!(error = %e, "OAuth code exchange failed");
            page(StatusCode::BAD_GATEWAY, "Not connected", &e.to_string())
        }
    }
}
