//! The typed client of the AccessAlly Bridge API (`{site}/wp-json/allybridge/v1`)
//! and of AccessAlly's `?aal_*` commands. Every call goes through the shared
//! `transport` rules (timeouts, no redirects, bounded full-jitter retries
//! honouring `Retry-After`); lists are streams that follow `X-WP-TotalPages`,
//! skip records already yielded and never loop on a repeated page. The
//! Application Password and handshake stay in `SecretString`s and never reach
//! a log, an error or `Debug`. Knows nothing of HighLevel or of sync rules.

use std::collections::HashSet;
use std::fmt;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use transport::{HttpConfig, HttpError, HttpErrorKind, Retrier, RetryPolicy, build_client};

use crate::error::Error;
use crate::model::*;

/// Headers that may carry a trace or request id.
const REQUEST_ID_HEADERS: [&str; 4] = [
    "x-request-id",
    "x-wp-request-id",
    "cf-ray",
    "x-amzn-trace-id",
];
/// The most pages a stream reads, whatever the server says.
const MAX_PAGES: u64 = 100_000;
/// Where the Bridge API lives under the site URL.
const BRIDGE_PREFIX: &str = "/wp-json/allybridge/v1";

/// Where the site is and how to sign in.
pub struct AccessAllyConfig {
    /// The WordPress site URL, e.g. `https://example.com` (or a sub-folder install).
    pub site_url: url::Url,
    /// WordPress user name of the Application Password.
    pub user: String,
    pub app_password: SecretString,
    /// The `aal_*` handshake string; commands fail without it.
    pub handshake: Option<SecretString>,
    pub http: HttpConfig,
    pub retry: RetryPolicy,
}

impl fmt::Debug for AccessAllyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessAllyConfig")
            .field("site_url", &transport::redact_url(&self.site_url))
            .field("user", &self.user)
            .field("app_password", &transport::redact::MASK)
            .field(
                "handshake",
                &self.handshake.as_ref().map(|_| transport::redact::MASK),
            )
            .field("http", &self.http)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Which records a list asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// 1 to 100.
    pub per_page: u8,
    /// Only records modified strictly after this moment.
    pub modified_after: Option<DateTime<Utc>>,
    /// Oldest modification first instead of lowest id first.
    pub order_by_modified: bool,
    /// Resource filters, e.g. `("external_ref", "ghl:123")`, `("code", "SAVE10")`, `("status", "success,refunded")`.
    pub filters: Vec<(String, String)>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            per_page: 100,
            modified_after: None,
            order_by_modified: false,
            filters: Vec::new(),
        }
    }
}

impl ListQuery {
    pub fn per_page(mut self, n: u8) -> Self {
        self.per_page = n.clamp(1, 100);
        self
    }
    pub fn modified_after(mut self, at: DateTime<Utc>) -> Self {
        self.modified_after = Some(at);
        self
    }
    pub fn filter(mut self, key: &str, value: impl Into<String>) -> Self {
        self.filters.push((key.to_string(), value.into()));
        self
    }
    fn pairs(&self, page: u64) -> Vec<(String, String)> {
        let mut pairs = vec![
            ("page".to_string(), page.to_string()),
            (
                "per_page".to_string(),
                self.per_page.clamp(1, 100).to_string(),
            ),
        ];
        if let Some(at) = self.modified_after {
            pairs.push(("modified_after".into(), format_date(at)));
        }
        if self.order_by_modified {
            pairs.push(("orderby".into(), "modified".into()));
        }
        pairs.extend(self.filters.iter().cloned());
        pairs
    }
}

/// One page of a list and the totals the site reported.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `X-WP-Total`, when sent.
    pub total: Option<u64>,
    /// `X-WP-TotalPages`, when sent.
    pub total_pages: Option<u64>,
}

/// Records with a stable id, so streams can skip repeats.
pub trait Identified {
    fn record_id(&self) -> u64;
}
impl Identified for Offering {
    fn record_id(&self) -> u64 {
        self.id
    }
}
impl Identified for Coupon {
    fn record_id(&self) -> u64 {
        self.id
    }
}
impl Identified for Order {
    fn record_id(&self) -> u64 {
        self.id
    }
}
impl Identified for WebhookSubscription {
    fn record_id(&self) -> u64 {
        self.id
    }
}

/// AccessAlly's documented inbound commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AalCommand {
    /// Create (or link) the WordPress user of a CRM contact and sync its tags.
    GenPass,
    /// Sync one user's permission tags.
    UpdateUser,
    /// Sync many users' tags (the contact id may be comma-separated).
    BatchSync,
    /// Run a Custom Operation.
    FieldOp { operation_id: Option<String> },
    /// Revoke (immediately stop) the contact's subscription.
    RevokeSubscription,
    /// Retry the charge of the contact's subscription for a product.
    ChargeSubscription { product_id: String },
}

impl AalCommand {
    pub fn name(&self) -> &'static str {
        match self {
            Self::GenPass => "aal_genpass",
            Self::UpdateUser => "aal_updateuser",
            Self::BatchSync => "aal_batchsync",
            Self::FieldOp { .. } => "aal_fieldop",
            Self::RevokeSubscription => "aal_revokesubscription",
            Self::ChargeSubscription { .. } => "aal_chargesubscription",
        }
    }
}

/// The typed client. Cheap to clone.
#[derive(Clone)]
pub struct AccessAllyClient {
    http: reqwest::Client,
    site: String,
    api_base: String,
    user: String,
    app_password: SecretString,
    handshake: Option<SecretString>,
    retrier: Retrier,
    observer: transport::Observer,
}

impl fmt::Debug for AccessAllyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessAllyClient")
            .field("api_base", &self.api_base)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl AccessAllyClient {
    pub fn new(config: AccessAllyConfig) -> Result<Self, Error> {
        if !matches!(config.site_url.scheme(), "http" | "https") || config.site_url.host().is_none()
        {
            return Err(Error::Config("site_url must be an http(s) URL".into()));
        }
        if config.site_url.query().is_some() || !config.site_url.username().is_empty() {
            return Err(Error::Config(
                "site_url must have no query and no user info".into(),
            ));
        }
        let site = config.site_url.as_str().trim_end_matches('/').to_string();
        Ok(Self {
            http: build_client(&config.http)?,
            api_base: format!("{site}{BRIDGE_PREFIX}"),
            site,
            user: config.user,
            app_password: config.app_password,
            handshake: config.handshake,
            retrier: Retrier::new(config.retry),
            observer: config.http.observer,
        })
    }

    /// Builds the error of a non-success answer from the WP error body.
    fn status_error(
        &self,
        status: u16,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> HttpError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let code = parsed
            .as_ref()
            .and_then(|v| v["code"].as_str())
            .map(str::to_string);
        let message = match parsed.as_ref().and_then(|v| v["message"].as_str()) {
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
        };
        let mut secrets = vec![self.app_password.expose_secret()];
        if let Some(h) = &self.handshake {
            secrets.push(h.expose_secret());
        }
        let message = transport::redact::redact_text(&message, &secrets);
        HttpError::from_status(status, code, message)
            .with_request_id(transport::request_id(headers, &REQUEST_ID_HEADERS))
            .with_retry_after(transport::parse_retry_after(headers))
    }

    /// Tells the observer, if any, about one attempt (never its query,
    /// which for an `aal_*` command holds the handshake).
    fn report(&self, method: &str, path: &str, started: Instant, status: Option<u16>) {
        self.observer.report(|| transport::CallRecord {
            system: "accessally",
            location: None,
            method: method.to_string(),
            path: transport::CallRecord::path_only(path),
            status,
            latency: started.elapsed(),
            rate_remaining: None,
        })
    }

    async fn call_once(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api_base))
            .basic_auth(&self.user, Some(self.app_password.expose_secret()))
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let path = format!("{BRIDGE_PREFIX}{path}");
        let response = request.send().await.map_err(|e| {
            self.report(method.as_str(), &path, started, None);
            HttpError::from_reqwest(e)
        })?;
        let status = response.status().as_u16();
        self.report(method.as_str(), &path, started, Some(status));
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(HttpError::from_reqwest)?;
        if !(200..300).contains(&status) {
            return Err(self.status_error(status, &headers, &bytes).into());
        }
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            HttpError::new(HttpErrorKind::Decode, format!("response is not JSON: {e}"))
        })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        self.retrier
            .run(|_| self.call_once(&method, path, query, body))
            .await
    }

    /// One Bridge API call by its path under the site URL (as the
    /// operations catalog writes it, e.g. `/wp-json/allybridge/v1/offerings/7`),
    /// with the client's credentials, timeouts and retries; the JSON answer
    /// as the site sent it. For ad-hoc operations (`allybridge ops run`);
    /// sync code uses the typed methods.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let rest = path.strip_prefix(BRIDGE_PREFIX).ok_or_else(|| {
            Error::Config(format!(
                "`{path}` is not a Bridge API path: it must start with {BRIDGE_PREFIX}"
            ))
        })?;
        Ok(self.call(method, rest, query, body).await?.body)
    }

    fn decode<W: DeserializeOwned, T: TryFrom<W, Error = Error>>(value: Value) -> Result<T, Error> {
        let wire: W =
            serde_json::from_value(value).map_err(|e| Error::InvalidData(e.to_string()))?;
        T::try_from(wire)
    }

    async fn get_one<W: DeserializeOwned, T: TryFrom<W, Error = Error>>(
        &self,
        path: String,
    ) -> Result<T, Error> {
        let answer = self.call(Method::GET, &path, &[], None).await?;
        Self::decode::<W, T>(answer.body)
    }

    async fn write_one<W: DeserializeOwned, T: TryFrom<W, Error = Error>>(
        &self,
        method: Method,
        path: String,
        body: &Value,
    ) -> Result<T, Error> {
        let answer = self.call(method, &path, &[], Some(body)).await?;
        Self::decode::<W, T>(answer.body)
    }

    async fn delete_one<W: DeserializeOwned, T: TryFrom<W, Error = Error>>(
        &self,
        path: String,
    ) -> Result<T, Error> {
        let answer = self.call(Method::DELETE, &path, &[], None).await?;
        Self::decode::<W, T>(answer.body["previous"].clone())
    }

    /// One page of a list.
    pub async fn page<W: DeserializeOwned, T: TryFrom<W, Error = Error>>(
        &self,
        path: &str,
        query: &ListQuery,
        page: u64,
    ) -> Result<Page<T>, Error> {
        let answer = self
            .call(Method::GET, path, &query.pairs(page), None)
            .await?;
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (total, total_pages) = (header("x-wp-total"), header("x-wp-totalpages"));
        let Value::Array(items) = answer.body else {
            return Err(Error::InvalidData(
                "a list answer is not a JSON array".into(),
            ));
        };
        let items = items
            .into_iter()
            .map(Self::decode::<W, T>)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            total,
            total_pages,
        })
    }

    /// Every record of a list, page after page, each record once.
    fn paginate<W, T>(
        &self,
        path: &'static str,
        query: ListQuery,
    ) -> BoxStream<'_, Result<T, Error>>
    where
        W: DeserializeOwned + Send + 'static,
        T: TryFrom<W, Error = Error> + Identified + Send + 'static,
    {
        struct Cursor {
            page: u64,
            done: bool,
            seen: HashSet<u64>,
        }
        let start = Cursor {
            page: 1,
            done: false,
            seen: HashSet::new(),
        };
        stream::unfold(start, move |mut cursor| {
            let query = query.clone();
            async move {
                if cursor.done {
                    return None;
                }
                let result = self.page::<W, T>(path, &query, cursor.page).await;
                cursor.done = true;
                let batch: Vec<Result<T, Error>> = match result {
                    Err(e) if cursor.page > 1 && e.code() == Some("rest_invalid_page_number") => {
                        Vec::new()
                    }
                    Err(e) => vec![Err(e)],
                    Ok(page) => {
                        let received = page.items.len();
                        let fresh: Vec<T> = page
                            .items
                            .into_iter()
                            .filter(|r| cursor.seen.insert(r.record_id()))
                            .collect();
                        let more = match page.total_pages {
                            Some(pages) => cursor.page < pages,
                            None => received >= usize::from(query.per_page),
                        };
                        // A page with nothing new means the site repeats itself: stop.
                        cursor.done = !more || fresh.is_empty() || cursor.page >= MAX_PAGES;
                        fresh.into_iter().map(Ok).collect()
                    }
                };
                cursor.page += 1;
                Some((stream::iter(batch), cursor))
            }
        })
        .flatten()
        .boxed()
    }

    // ----- offerings -----

    pub fn offerings(&self, query: ListQuery) -> BoxStream<'_, Result<Offering, Error>> {
        self.paginate::<WireOffering, Offering>("/offerings", query)
    }
    pub async fn get_offering(&self, id: u64) -> Result<Offering, Error> {
        self.get_one::<WireOffering, _>(format!("/offerings/{id}"))
            .await
    }
    pub async fn create_offering(&self, input: &OfferingInput) -> Result<Offering, Error> {
        self.write_one::<WireOffering, _>(Method::POST, "/offerings".into(), &input.to_json())
            .await
    }
    /// Changes the fields that are `Some`.
    pub async fn update_offering(&self, id: u64, input: &OfferingInput) -> Result<Offering, Error> {
        self.write_one::<WireOffering, _>(Method::PUT, format!("/offerings/{id}"), &input.to_json())
            .await
    }
    /// Deletes for good; answers the offering as it was.
    pub async fn delete_offering(&self, id: u64) -> Result<Offering, Error> {
        self.delete_one::<WireOffering, _>(format!("/offerings/{id}"))
            .await
    }
    /// The offering carrying `external_ref`, if any.
    pub async fn find_offering_by_external_ref(
        &self,
        external_ref: &str,
    ) -> Result<Option<Offering>, Error> {
        let query = ListQuery::default()
            .per_page(1)
            .filter("external_ref", external_ref);
        Ok(self
            .page::<WireOffering, Offering>("/offerings", &query, 1)
            .await?
            .items
            .into_iter()
            .next())
    }

    // ----- coupons -----

    pub fn coupons(&self, query: ListQuery) -> BoxStream<'_, Result<Coupon, Error>> {
        self.paginate::<WireCoupon, Coupon>("/coupons", query)
    }
    pub async fn get_coupon(&self, id: u64) -> Result<Coupon, Error> {
        self.get_one::<WireCoupon, _>(format!("/coupons/{id}"))
            .await
    }
    pub async fn create_coupon(&self, input: &CouponInput) -> Result<Coupon, Error> {
        self.write_one::<WireCoupon, _>(Method::POST, "/coupons".into(), &input.to_json())
            .await
    }
    pub async fn update_coupon(&self, id: u64, input: &CouponInput) -> Result<Coupon, Error> {
        self.write_one::<WireCoupon, _>(Method::PUT, format!("/coupons/{id}"), &input.to_json())
            .await
    }
    pub async fn delete_coupon(&self, id: u64) -> Result<Coupon, Error> {
        self.delete_one::<WireCoupon, _>(format!("/coupons/{id}"))
            .await
    }
    /// The coupon with this code (compared case-insensitively), if any.
    pub async fn find_coupon_by_code(&self, code: &str) -> Result<Option<Coupon>, Error> {
        let query = ListQuery::default().per_page(1).filter("code", code);
        Ok(self
            .page::<WireCoupon, Coupon>("/coupons", &query, 1)
            .await?
            .items
            .into_iter()
            .next())
    }

    // ----- orders -----

    pub fn orders(&self, query: ListQuery) -> BoxStream<'_, Result<Order, Error>> {
        self.paginate::<WireOrder, Order>("/orders", query)
    }
    pub async fn get_order(&self, id: u64) -> Result<Order, Error> {
        self.get_one::<WireOrder, _>(format!("/orders/{id}")).await
    }

    // ----- access grants -----

    /// Grants access; safe to repeat with the same `source_ref`.
    pub async fn grant_access(
        &self,
        request: &AccessGrantRequest,
    ) -> Result<(AccessGrant, GrantOutcome), Error> {
        let answer = self
            .call(
                Method::POST,
                "/access-grants",
                &[],
                Some(&request.to_json()),
            )
            .await?;
        let grant: AccessGrant =
            serde_json::from_value(answer.body).map_err(|e| Error::InvalidData(e.to_string()))?;
        let outcome = if answer.status == 201 {
            GrantOutcome::Created
        } else {
            GrantOutcome::AlreadyGranted
        };
        Ok((grant, outcome))
    }

    // ----- webhooks -----

    /// Subscribes `url`; the answer carries the signing secret (the site makes one when `secret` is `None`).
    pub async fn create_webhook(
        &self,
        url: &str,
        topics: &[Topic],
        secret: Option<&SecretString>,
    ) -> Result<WebhookSubscription, Error> {
        let mut body = serde_json::json!({ "url": url, "topics": topics.iter().map(Topic::as_str).collect::<Vec<_>>() });
        if let Some(s) = secret {
            body["secret"] = Value::String(s.expose_secret().to_string());
        }
        self.write_one::<WireWebhook, _>(Method::POST, "/webhooks".into(), &body)
            .await
    }
    pub fn webhooks(&self) -> BoxStream<'_, Result<WebhookSubscription, Error>> {
        self.paginate::<WireWebhook, WebhookSubscription>("/webhooks", ListQuery::default())
    }
    pub async fn delete_webhook(&self, id: u64) -> Result<WebhookSubscription, Error> {
        self.delete_one::<WireWebhook, _>(format!("/webhooks/{id}"))
            .await
    }

    // ----- aal_* commands -----

    /// Sends a documented `?aal_*` command for a CRM contact id.
    pub async fn run_command(&self, command: &AalCommand, contact_id: &str) -> Result<(), Error> {
        let handshake = self
            .handshake
            .as_ref()
            .ok_or_else(|| Error::Config("no aal handshake configured".into()))?;
        let mut query = vec![(
            command.name().to_string(),
            handshake.expose_secret().to_string(),
        )];
        let mut form = vec![("contactId".to_string(), contact_id.to_string())];
        match command {
            AalCommand::ChargeSubscription { product_id } => {
                query.push(("productId".into(), product_id.clone()))
            }
            AalCommand::FieldOp {
                operation_id: Some(op),
            } => form.push(("operationId".into(), op.clone())),
            _ => {}
        }
        let url = format!("{}/", self.site);
        self.retrier
            .run(|_| async {
                let started = Instant::now();
                let response = self
                    .http
                    .post(&url)
                    .query(&query)
                    .form(&form)
                    .send()
                    .await
                    .map_err(|e| {
                        self.report("POST", "/", started, None);
                        HttpError::from_reqwest(e)
                    })?;
                let status = response.status().as_u16();
                self.report("POST", "/", started, Some(status));
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(HttpError::from_reqwest)?;
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    Err(Error::from(self.status_error(status, &headers, &body)))
                }
            })
            .await
    }
}
