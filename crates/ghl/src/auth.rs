//! Authentication against HighLevel: private integration tokens (static),
//! and OAuth 2.0 — the authorize URL with the least scopes, the code
//! exchange, and refresh. Refresh tokens are single-use and rotate, so a
//! refresh is single-flight per location (one in-process lock per location;
//! the durable store adds a cross-process lock) and the new pair is saved
//! through the [`TokenStore`] before anyone uses it. A refused refresh token
//! is an alertable error, never a retry loop. Tokens live in `secrecy`
//! types and never reach a log line, an error or `Debug` output.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use transport::HttpError;

use crate::error::GhlError;

/// The default host of HighLevel's consent screen.
pub const MARKETPLACE_URL: &str = "https://marketplace.gohighlevel.com";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whom a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Location,
    Company,
}

/// An access token with what HighLevel said about it.
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: SecretString,
    /// Absent for private integration tokens and minted location tokens.
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: BTreeSet<String>,
    pub user_type: UserType,
    pub location_id: Option<String>,
    pub company_id: Option<String>,
    /// For a location token minted from an agency token: the key the agency
    /// pair is stored under, so an expired one is minted again.
    pub minted_from: Option<String>,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("user_type", &self.user_type)
            .field("location_id", &self.location_id)
            .field("company_id", &self.company_id)
            .field("minted_from", &self.minted_from)
            .finish()
    }
}

impl TokenPair {
    /// Whether the token expires within `skew` of now.
    pub fn expires_within(&self, skew: Duration) -> bool {
        self.expires_at
            .is_some_and(|e| e - chrono::Duration::from_std(skew).unwrap_or_default() <= Utc::now())
    }
}

/// Where token pairs are kept. `save` must be atomic: a reader sees the old
/// pair or the new one, never a mix. The durable store implements it.
pub trait TokenStore: Send + Sync {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TokenPair>, GhlError>>;
    fn save<'a>(&'a self, key: &'a str, pair: TokenPair) -> BoxFuture<'a, Result<(), GhlError>>;
}

/// A token store in memory, for tests and one-off runs.
#[derive(Default)]
pub struct MemoryTokenStore {
    pairs: Mutex<HashMap<String, TokenPair>>,
}

impl TokenStore for MemoryTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TokenPair>, GhlError>> {
        let pair = self
            .pairs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned();
        Box::pin(async move { Ok(pair) })
    }

    fn save<'a>(&'a self, key: &'a str, pair: TokenPair) -> BoxFuture<'a, Result<(), GhlError>> {
        self.pairs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), pair);
        Box::pin(async { Ok(()) })
    }
}

/// A marketplace app's OAuth settings.
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
    /// Consent screen host: [`MARKETPLACE_URL`] or a white-label host.
    pub marketplace_url: String,
    /// API host serving `/oauth/token`.
    pub api_url: String,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("marketplace_url", &self.marketplace_url)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl OAuthApp {
    /// The consent-screen URL asking for exactly `scopes`.
    pub fn authorize_url(&self, scopes: &BTreeSet<&str>, state: &str) -> String {
        let scope = scopes.iter().copied().collect::<Vec<_>>().join(" ");
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("client_id", self.client_id.as_str()),
            ("scope", scope.as_str()),
            ("state", state),
        ])
        .unwrap_or_default();
        format!(
            "{}/v2/oauth/chooselocation?{query}",
            self.marketplace_url.trim_end_matches('/')
        )
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    #[serde(default)]
    scope: String,
    #[serde(rename = "userType")]
    user_type: Option<String>,
    #[serde(rename = "locationId")]
    location_id: Option<String>,
    #[serde(rename = "companyId")]
    company_id: Option<String>,
}

impl TokenAnswer {
    fn into_pair(self) -> TokenPair {
        TokenPair {
            access_token: SecretString::from(self.access_token),
            refresh_token: self.refresh_token.map(SecretString::from),
            expires_at: self
                .expires_in
                .map(|s| Utc::now() + chrono::Duration::seconds(s as i64)),
            scopes: self.scope.split_whitespace().map(str::to_string).collect(),
            user_type: if self.user_type.as_deref() == Some("Company") {
                UserType::Company
            } else {
                UserType::Location
            },
            location_id: self.location_id,
            company_id: self.company_id,
            minted_from: None,
        }
    }
}

/// Keeps OAuth tokens fresh: refreshes shortly before expiry and after a
/// 401, once per location however many callers ask at the same time.
pub struct TokenManager {
    app: OAuthApp,
    http: reqwest::Client,
    store: Arc<dyn TokenStore>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Refresh this long before expiry.
    pub skew: Duration,
    refreshes: AtomicU64,
}

impl TokenManager {
    pub fn new(app: OAuthApp, http: reqwest::Client, store: Arc<dyn TokenStore>) -> Self {
        Self {
            app,
            http,
            store,
            locks: Mutex::new(HashMap::new()),
            skew: Duration::from_secs(60),
            refreshes: AtomicU64::new(0),
        }
    }

    pub fn app(&self) -> &OAuthApp {
        &self.app
    }

    /// How many refreshes this manager has made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Exchanges an authorization code and stores the pair under the
    /// location (or company) it was granted for; returns the pair.
    pub async fn exchange_code(&self, code: &str) -> Result<TokenPair, GhlError> {
        let pair = self
            .token_call(
                &[("grant_type", "authorization_code"), ("code", code)],
                "code",
            )
            .await?;
        let key = pair
            .location_id
            .clone()
            .or_else(|| pair.company_id.clone())
            .unwrap_or_default();
        self.store.save(&key, pair.clone()).await?;
        Ok(pair)
    }

    /// A valid access token for `key` (a location id, or a company id),
    /// refreshing first if it expires within the skew.
    pub async fn access_token(&self, key: &str) -> Result<SecretString, GhlError> {
        let pair = self
            .store
            .load(key)
            .await?
            .ok_or_else(|| GhlError::NotConnected(key.to_string()))?;
        if !pair.expires_within(self.skew) {
            return Ok(pair.access_token);
        }
        self.refresh(key, Some(pair.access_token.expose_secret()))
            .await
    }

    /// Refreshes the pair of `key` unless someone already replaced the
    /// `stale` access token. Single-flight: concurrent callers wait for the
    /// one refresh and all get its token.
    pub async fn refresh(&self, key: &str, stale: Option<&str>) -> Result<SecretString, GhlError> {
        let lock = self.lock_for(key);
        let _guard = lock.lock().await;
        let pair = self
            .store
            .load(key)
            .await?
            .ok_or_else(|| GhlError::NotConnected(key.to_string()))?;
        let replaced = stale.is_some_and(|s| s != pair.access_token.expose_secret());
        if replaced && !pair.expires_within(self.skew) {
            return Ok(pair.access_token);
        }
        if pair.refresh_token.is_none()
            && let (Some(agency), Some(company)) =
                (pair.minted_from.clone(), pair.company_id.clone())
        {
            let minted = self.mint_locked(&agency, &company, key).await?;
            return Ok(minted.access_token);
        }
        let Some(refresh_token) = pair.refresh_token.clone() else {
            return Err(GhlError::RefreshRejected {
                location: key.to_string(),
                reason: "no refresh token is stored".into(),
            });
        };
        let user_type = match pair.user_type {
            UserType::Company => "Company",
            UserType::Location => "Location",
        };
        let mut new_pair = self
            .token_call(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.expose_secret()),
                    ("user_type", user_type),
                ],
                key,
            )
            .await?;
        if new_pair.location_id.is_none() {
            new_pair.location_id = pair.location_id.clone();
        }
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.store.save(key, new_pair.clone()).await?;
        tracing::info!(location = key, "HighLevel token refreshed");
        Ok(new_pair.access_token)
    }

    /// Mints a location token with the agency token stored under
    /// `agency_key` (`POST /oauth/locationToken`, `oauth.write`) and stores
    /// it under `location_id`; an expired one is minted again the same way.
    pub async fn mint_location_token(
        &self,
        agency_key: &str,
        company_id: &str,
        location_id: &str,
    ) -> Result<TokenPair, GhlError> {
        let lock = self.lock_for(location_id);
        let _guard = lock.lock().await;
        self.mint_locked(agency_key, company_id, location_id).await
    }

    async fn mint_locked(
        &self,
        agency_key: &str,
        company_id: &str,
        location_id: &str,
    ) -> Result<TokenPair, GhlError> {
        const OP: &str = "ghl.oauth.location_token";
        // Boxed: the agency token may itself be refreshed here.
        let mut agency = Box::pin(self.access_token(agency_key)).await?;
        let url = format!(
            "{}/oauth/locationToken",
            self.app.api_url.trim_end_matches('/')
        );
        let mut refreshed = false;
        let body = loop {
            let resp = self
                .http
                .post(&url)
                .header("Accept", "application/json")
                .header("Version", crate::client::API_VERSION)
                .bearer_auth(agency.expose_secret())
                .form(&[("companyId", company_id), ("locationId", location_id)])
                .send()
                .await
                .map_err(|e| GhlError::Http {
                    operation: OP,
                    source: HttpError::from_reqwest(e),
                })?;
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            if status == 200 {
                break body;
            }
            if status == 401 && !refreshed {
                // The agency token was refused before its time: refresh it once.
                refreshed = true;
                agency = Box::pin(self.refresh(agency_key, Some(agency.expose_secret()))).await?;
                continue;
            }
            let message = crate::client::error_message(&body);
            return Err(GhlError::Http {
                operation: OP,
                source: HttpError::from_status(status, None, message),
            });
        };
        let answer: TokenAnswer = serde_json::from_value(body).map_err(|e| GhlError::Decode {
            operation: OP,
            detail: e.to_string(),
        })?;
        let mut pair = answer.into_pair();
        pair.user_type = UserType::Location;
        pair.location_id = Some(location_id.to_string());
        pair.company_id = Some(company_id.to_string());
        pair.minted_from = Some(agency_key.to_string());
        self.store.save(location_id, pair.clone()).await?;
        Ok(pair)
    }

    /// One call to `/oauth/token`. Never retried: a refresh token is single
    /// use, so a retry after a lost answer would be refused anyway.
    async fn token_call(&self, grant: &[(&str, &str)], key: &str) -> Result<TokenPair, GhlError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", self.app.client_id.as_str()),
            ("client_secret", self.app.client_secret.expose_secret()),
            ("redirect_uri", self.app.redirect_uri.as_str()),
        ];
        form.extend_from_slice(grant);
        let url = format!("{}/oauth/token", self.app.api_url.trim_end_matches('/'));
        let resp = self
            .http
            .post(url)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| GhlError::Http {
                operation: "oauth.token",
                source: HttpError::from_reqwest(e),
            })?;
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if status == 200 {
            let answer: TokenAnswer =
                serde_json::from_value(body).map_err(|e| GhlError::Decode {
                    operation: "oauth.token",
                    detail: e.to_string(),
                })?;
            return Ok(answer.into_pair());
        }
        let message = crate::client::error_message(&body);
        if status == 400 && grant.iter().any(|(k, _)| *k == "refresh_token") {
            return Err(GhlError::RefreshRejected {
                location: key.to_string(),
                reason: message,
            });
        }
        Err(GhlError::Http {
            operation: "oauth.token",
            source: HttpError::from_status(status, None, message).with_retryable(false),
        })
    }
}

/// How a client authenticates its calls.
#[derive(Clone)]
pub enum Auth {
    /// A private integration token (static; rotated in the HighLevel UI).
    PrivateToken(SecretString),
    /// OAuth tokens kept fresh by a manager, stored under this key
    /// (the location id, or the company id for agency tokens).
    OAuth {
        manager: Arc<TokenManager>,
        key: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::PrivateToken(_) => f.write_str("Auth::PrivateToken([redacted])"),
            Auth::OAuth { key, .. } => write!(f, "Auth::OAuth {{ key: {key:?} }}"),
        }
    }
}

impl Auth {
    pub(crate) async fn token(&self) -> Result<SecretString, GhlError> {
        match self {
            Auth::PrivateToken(t) => Ok(t.clone()),
            Auth::OAuth { manager, key } => manager.access_token(key).await,
        }
    }

    /// After a 401: a fresh token if one can be had.
    pub(crate) async fn after_unauthorized(
        &self,
        used: &SecretString,
    ) -> Option<Result<SecretString, GhlError>> {
        match self {
            Auth::PrivateToken(_) => None,
            Auth::OAuth { manager, key } => {
                Some(manager.refresh(key, Some(used.expose_secret())).await)
            }
        }
    }
}
