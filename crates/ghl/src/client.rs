//! The HighLevel client: every call goes through one path that checks the
//! granted scopes before sending, takes a slot of the location's rate
//! budget, adds the `Version` header and the bearer token, refreshes once
//! on a 401, retries transient failures with back-off and full jitter, and
//! turns HighLevel's error bodies into typed errors. Lists come as streams
//! that end correctly for each envelope style and never loop on a repeated
//! page. Bulk product writes go through the same path (their bodies and
//! caps are [`crate::bulk`]'s). Never logs a token, a secret or a request
//! body.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::Stream;
use model::{Currency, Money};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use transport::{HttpConfig, HttpError, Retrier, RetryPolicy};

use crate::auth::Auth;
use crate::budget::{Priority, RateBudget};
use crate::error::GhlError;
use crate::operations::Operation;
use crate::types::*;

/// The `Version` header every call carries.
pub const API_VERSION: &str = "2021-07-28";
/// The production API host.
pub const API_URL: &str = "https://services.leadconnectorhq.com";

/// How a client for one location is set up.
#[derive(Debug, Clone)]
pub struct GhlConfig {
    pub base_url: String,
    pub location_id: String,
    pub http: HttpConfig,
    pub retry: RetryPolicy,
    /// Scopes the connection was granted; `None` when unknown (private
    /// tokens do not say), in which case HighLevel's 401 is the check.
    pub granted_scopes: Option<BTreeSet<String>>,
    /// Page size of list streams (HighLevel allows up to 100).
    pub page_size: usize,
}

impl GhlConfig {
    pub fn new(base_url: impl Into<String>, location_id: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            location_id: location_id.into(),
            http: HttpConfig::default(),
            retry: RetryPolicy::default(),
            granted_scopes: None,
            page_size: 100,
        }
    }
}

/// The message of a HighLevel error body (`message` may be a list).
pub fn error_message(body: &Value) -> String {
    match body.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        _ => body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_string(),
    }
}

/// An operation of the catalog that has no [`Operation`] of its own
/// (see [`GhlClient::call_unlisted`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnlistedOperation {
    /// Its catalog id, e.g. `ghl.products.get-product-store-stats`.
    pub id: &'static str,
    pub method: &'static str,
    /// The scope the spec requires, when it names one.
    pub scope: Option<&'static str>,
}

/// What the send path needs to know of the operation it performs.
struct Call {
    id: &'static str,
    method: &'static str,
    scope: Option<&'static str>,
    is_write: bool,
    /// Retried only when refused (429), never after a lost answer.
    refused_only: bool,
}

impl From<Operation> for Call {
    fn from(op: Operation) -> Self {
        let info = op.info();
        Call {
            id: info.id,
            method: info.method,
            scope: Some(info.scope),
            is_write: op.is_write(),
            refused_only: op.repeats_create(),
        }
    }
}

/// A client for one HighLevel location.
pub struct GhlClient {
    http: reqwest::Client,
    base: String,
    location: String,
    auth: Auth,
    budget: RateBudget,
    retrier: Retrier,
    granted: Option<BTreeSet<String>>,
    page_size: usize,
    calls: AtomicU64,
    writes: AtomicU64,
    observer: transport::Observer,
}

impl std::fmt::Debug for GhlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GhlClient")
            .field("base", &self.base)
            .field("location", &self.location)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

type Query = Vec<(&'static str, String)>;

/// How a list answer is wrapped: the key of its rows and the JSON pointer
/// of its total. HighLevel uses a different one per list; rows carry `_id`.
#[derive(Clone, Copy)]
struct Envelope {
    items: &'static str,
    total: &'static str,
}

/// `{data, totalCount}`: coupons, orders, transactions.
const DATA_TOTAL_COUNT: Envelope = Envelope {
    items: "data",
    total: "/totalCount",
};
/// `{products, total: [{total}]}`.
const PRODUCTS: Envelope = Envelope {
    items: "products",
    total: "/total/0/total",
};
/// `{prices, total}`.
const PRICES: Envelope = Envelope {
    items: "prices",
    total: "/total",
};
/// `{inventory, total: {total}}`.
const INVENTORY: Envelope = Envelope {
    items: "inventory",
    total: "/total/total",
};
/// `{invoices, total}`.
const INVOICES: Envelope = Envelope {
    items: "invoices",
    total: "/total",
};

impl GhlClient {
    pub fn new(config: GhlConfig, auth: Auth, budget: RateBudget) -> Result<Self, GhlError> {
        let http = transport::build_client(&config.http).map_err(|source| GhlError::Http {
            operation: "client",
            source,
        })?;
        Ok(Self::with_http(config, auth, budget, http))
    }

    /// Like [`GhlClient::new`], sharing an existing HTTP client.
    pub fn with_http(
        config: GhlConfig,
        auth: Auth,
        budget: RateBudget,
        http: reqwest::Client,
    ) -> Self {
        Self {
            http,
            base: config.base_url.trim_end_matches('/').to_string(),
            location: config.location_id,
            auth,
            budget,
            retrier: Retrier::new(config.retry),
            granted: config.granted_scopes,
            page_size: config.page_size.clamp(1, 100),
            calls: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            observer: config.http.observer,
        }
    }

    pub fn location_id(&self) -> &str {
        &self.location
    }

    /// Sets the limits this location's rate budget keeps to from now on.
    pub fn set_rate_limits(&self, config: crate::BudgetConfig) {
        self.budget.set_limits(&self.location, config);
    }

    /// This location's rate budget as this client's budget knows it.
    pub fn budget_snapshot(&self) -> crate::budget::BudgetSnapshot {
        self.budget.snapshot(&self.location)
    }

    /// HTTP requests sent so far (retries included).
    pub fn calls_made(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Write requests sent so far (retries included).
    pub fn writes_made(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Fails before any request if the connection lacks the scope.
    pub fn check_scope(&self, op: Operation) -> Result<(), GhlError> {
        self.check_scope_of(&Call::from(op))
    }

    fn check_scope_of(&self, call: &Call) -> Result<(), GhlError> {
        match (&self.granted, call.scope) {
            (Some(granted), Some(scope)) if !granted.contains(scope) => {
                Err(GhlError::MissingScope {
                    operation: call.id,
                    scope,
                })
            }
            _ => Ok(()),
        }
    }

    /// One operation, with retries. `path` is the concrete path.
    pub async fn call(
        &self,
        op: Operation,
        priority: Priority,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<Value, GhlError> {
        self.call_retrying(&Call::from(op), priority, path, query, body)
            .await
    }

    /// The smallest call of the read `op` (see [`crate::probe_for`]): one
    /// row of a list, or a made-up id where the path needs one. It shows
    /// whether the connection works and holds `op`'s scope; its answer is
    /// of no other use.
    pub async fn probe(&self, op: Operation) -> Result<Value, GhlError> {
        let ids = vec!["allybridge-check-probe"; op.path_params()];
        let mut query = self.located(op);
        if op.path_params() == 0 {
            query.push(("limit", "1".to_string()));
        }
        self.call(op, Priority::Live, &op.path_with(&ids), &query, None)
            .await
    }

    /// An operation this client has no typed method for (`allybridge ops
    /// run` of any catalog action), on the same token, refresh, rate budget,
    /// retries and observer as every other call. `path` is concrete; the
    /// location's query parameters are the caller's. Anything but a GET is
    /// retried only when HighLevel refused it (429), never after a lost
    /// answer: what it does is unknown, so it may not be safe to repeat.
    pub async fn call_unlisted(
        &self,
        operation: UnlistedOperation,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<Value, GhlError> {
        let is_read = operation.method.eq_ignore_ascii_case("GET");
        let call = Call {
            id: operation.id,
            method: operation.method,
            scope: operation.scope,
            is_write: !is_read,
            refused_only: !is_read,
        };
        self.call_retrying(&call, Priority::Live, path, query, body)
            .await
    }

    /// One call; with `refused_only`, retried only when HighLevel
    /// refused it (429), never after a lost answer.
    async fn call_retrying(
        &self,
        call: &Call,
        priority: Priority,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<Value, GhlError> {
        self.check_scope_of(call)?;
        if !call.refused_only {
            return self
                .retrier
                .run(|_attempt| self.attempt(call, priority, path, query, body))
                .await;
        }
        // A create (or a relative change) whose answer was lost may have
        // happened: only a refusal (429) is retried here; the caller looks
        // the record up first.
        self.retrier
            .run(|_attempt| async {
                self.attempt(call, priority, path, query, body)
                    .await
                    .map_err(RefusedOnly)
            })
            .await
            .map_err(|RefusedOnly(e)| e)
    }

    async fn attempt(
        &self,
        call: &Call,
        priority: Priority,
        path: &str,
        query: &Query,
        body: Option<&Value>,
    ) -> Result<Value, GhlError> {
        let mut token = self.auth.token().await?;
        let mut refreshed = false;
        loop {
            let (status, headers, answer) =
                self.send(call, priority, path, query, body, &token).await?;
            if status == 401
                && !refreshed
                && let Some(fresh) = self.auth.after_unauthorized(&token).await
            {
                token = fresh?;
                refreshed = true;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(answer);
            }
            let trace = answer
                .get("traceId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| transport::request_id(&headers, &["x-request-id", "traceid"]));
            let error = HttpError::from_status(status, None, error_message(&answer))
                .with_request_id(trace)
                .with_retry_after(transport::parse_retry_after(&headers));
            return Err(GhlError::Http {
                operation: call.id,
                source: error,
            });
        }
    }

    async fn send(
        &self,
        call: &Call,
        priority: Priority,
        path: &str,
        query: &Query,
        body: Option<&Value>,
        token: &SecretString,
    ) -> Result<(u16, http::HeaderMap, Value), GhlError> {
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).map_err(|_| GhlError::Decode {
                operation: call.id,
                detail: format!("`{}` is not an HTTP method", call.method),
            })?;
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("Version", API_VERSION)
            .header("Accept", "application/json")
            .bearer_auth(token.expose_secret());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let permit = self
            .budget
            .acquire(&self.location, crate::budget::effective_priority(priority))
            .await?;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if call.is_write {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let report = |status: Option<u16>, headers: Option<&http::HeaderMap>| {
            self.observer.report(|| transport::CallRecord {
                system: "highlevel",
                location: Some(self.location.clone()),
                method: call.method.to_ascii_uppercase(),
                path: transport::CallRecord::path_only(path),
                status,
                latency: started.elapsed(),
                rate_remaining: headers
                    .and_then(|h| h.get("x-ratelimit-remaining"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
            })
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                drop(permit);
                report(None, None);
                return Err(GhlError::Http {
                    operation: call.id,
                    source: HttpError::from_reqwest(e),
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        permit.answered(&headers, status);
        report(Some(status), Some(&headers));
        let bytes = response.bytes().await.map_err(|e| GhlError::Http {
            operation: call.id,
            source: HttpError::from_reqwest(e),
        })?;
        tracing::debug!(
            op = call.id,
            status,
            latency_ms = started.elapsed().as_millis() as u64,
            remaining = headers
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .unwrap_or(""),
            "HighLevel call"
        );
        let answer = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if !(200..300).contains(&status) => Value::Null,
                Err(e) => {
                    return Err(GhlError::Decode {
                        operation: call.id,
                        detail: format!("the body is not JSON: {e}"),
                    });
                }
            }
        };
        Ok((status, headers, answer))
    }

    fn decode<T: DeserializeOwned>(op: Operation, value: Value) -> Result<T, GhlError> {
        serde_json::from_value(value).map_err(|e| GhlError::Decode {
            operation: op.info().id,
            detail: e.to_string(),
        })
    }

    async fn call_typed<T: DeserializeOwned>(
        &self,
        op: Operation,
        priority: Priority,
        path: &str,
        query: &Query,
        body: Option<&Value>,
        pick: Option<&str>,
    ) -> Result<T, GhlError> {
        let mut answer = self.call(op, priority, path, query, body).await?;
        if let Some(key) = pick {
            answer = answer.get_mut(key).map(Value::take).unwrap_or(Value::Null);
        }
        Self::decode(op, answer)
    }

    /// `Ok(None)` for HighLevel's "not found" answers (404, or 400 "not found").
    fn none_if_missing<T>(result: Result<T, GhlError>) -> Result<Option<T>, GhlError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(GhlError::Http { source, .. })
                if source.status == Some(400)
                    && source.message.to_lowercase().contains("not found") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A stream over every record of an offset/limit list. `items` and
    /// `total` read the envelope (they differ per list).
    fn paged<'a, T: DeserializeOwned + 'a>(
        &'a self,
        op: Operation,
        priority: Priority,
        path: String,
        query: Query,
        envelope: Envelope,
    ) -> impl Stream<Item = Result<T, GhlError>> + 'a {
        struct PageState {
            offset: usize,
            done: bool,
            seen: model::SeenIds,
        }
        let limit = self.page_size;
        let start = PageState {
            offset: 0,
            done: false,
            seen: model::SeenIds::new(),
        };
        let pages = futures::stream::try_unfold(start, move |mut st| {
            let path = path.clone();
            let mut query = query.clone();
            async move {
                if st.done {
                    return Ok(None);
                }
                query.push(("limit", limit.to_string()));
                query.push(("offset", st.offset.to_string()));
                let mut answer = self.call(op, priority, &path, &query, None).await?;
                let total = answer.pointer(envelope.total).and_then(Value::as_u64);
                let rows = match answer.get_mut(envelope.items).map(Value::take) {
                    Some(Value::Array(rows)) => rows,
                    _ => {
                        return Err(GhlError::Decode {
                            operation: op.info().id,
                            detail: format!("the answer has no `{}` list", envelope.items),
                        });
                    }
                };
                let count = rows.len();
                let mut fresh = Vec::with_capacity(count);
                for row in rows {
                    let id = row.get("_id").and_then(Value::as_str).unwrap_or("");
                    if st.seen.insert(id) {
                        fresh.push(row);
                    }
                }
                if count > 0 && fresh.is_empty() {
                    return Err(GhlError::PaginationLoop(op.info().id));
                }
                st.offset += count;
                st.done = count < limit || total.is_some_and(|t| st.offset as u64 >= t);
                let decoded: Result<Vec<T>, GhlError> =
                    fresh.into_iter().map(|r| Self::decode(op, r)).collect();
                Ok(Some((decoded?, st)))
            }
        });
        futures::TryStreamExt::try_flatten(futures::TryStreamExt::map_ok(pages, |rows| {
            futures::stream::iter(rows.into_iter().map(Ok::<T, GhlError>))
        }))
    }

    /// The query parameters that name this client's location for `op`, as
    /// the operations table says the spec wants them.
    fn located(&self, op: Operation) -> Query {
        op.location_query()
            .iter()
            .map(|name| {
                let value = if *name == "altType" {
                    "location".to_string()
                } else {
                    self.location.clone()
                };
                (*name, value)
            })
            .collect()
    }

    // ---- coupons ----

    pub fn coupons(&self, priority: Priority) -> impl Stream<Item = Result<Coupon, GhlError>> + '_ {
        self.paged(
            Operation::ListCoupons,
            priority,
            Operation::ListCoupons.path_with(&[]),
            self.located(Operation::ListCoupons),
            DATA_TOTAL_COUNT,
        )
    }

    pub async fn get_coupon(&self, id: &str) -> Result<Option<Coupon>, GhlError> {
        let mut q = self.located(Operation::GetCoupon);
        q.push(("id", id.to_string()));
        Self::none_if_missing(
            self.call_typed(
                Operation::GetCoupon,
                Priority::Live,
                &Operation::GetCoupon.path_with(&[]),
                &q,
                None,
                None,
            )
            .await,
        )
    }

    pub async fn get_coupon_by_code(&self, code: &str) -> Result<Option<Coupon>, GhlError> {
        let mut q = self.located(Operation::GetCoupon);
        q.push(("code", code.to_string()));
        Self::none_if_missing(
            self.call_typed(
                Operation::GetCoupon,
                Priority::Live,
                &Operation::GetCoupon.path_with(&[]),
                &q,
                None,
                None,
            )
            .await,
        )
    }

    fn coupon_body(&self, input: &CouponInput, id: Option<&str>) -> Value {
        let mut body = serde_json::to_value(input).unwrap_or_default();
        body["altId"] = json!(self.location);
        body["altType"] = json!("location");
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        body
    }

    pub async fn create_coupon(&self, input: &CouponInput) -> Result<Coupon, GhlError> {
        let body = self.coupon_body(input, None);
        self.call_typed(
            Operation::CreateCoupon,
            Priority::Live,
            &Operation::CreateCoupon.path_with(&[]),
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn update_coupon(&self, id: &str, input: &CouponInput) -> Result<Coupon, GhlError> {
        let body = self.coupon_body(input, Some(id));
        self.call_typed(
            Operation::UpdateCoupon,
            Priority::Live,
            &Operation::UpdateCoupon.path_with(&[]),
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn delete_coupon(&self, id: &str) -> Result<(), GhlError> {
        let body = json!({"altId": self.location, "altType": "location", "id": id});
        self.call(
            Operation::DeleteCoupon,
            Priority::Live,
            &Operation::DeleteCoupon.path_with(&[]),
            &vec![],
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    // ---- products, prices, inventory ----

    pub fn products(
        &self,
        priority: Priority,
    ) -> impl Stream<Item = Result<Product, GhlError>> + '_ {
        self.paged(
            Operation::ListProducts,
            priority,
            Operation::ListProducts.path_with(&[]),
            self.located(Operation::ListProducts),
            PRODUCTS,
        )
    }

    /// The products with these ids, one list call per hundred ids (the
    /// list's `productIds` filter): what a batch of product jobs reads
    /// instead of one call per product. An id with no product is simply
    /// not in the answer.
    pub async fn products_by_ids(
        &self,
        ids: &[String],
        priority: Priority,
    ) -> Result<Vec<Product>, GhlError> {
        const PER_CALL: usize = 100;
        let op = Operation::ListProducts;
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PER_CALL) {
            let mut query = self.located(op);
            query.push(("productIds", chunk.join(",")));
            query.push(("limit", PER_CALL.to_string()));
            let mut answer = self
                .call(op, priority, &op.path_with(&[]), &query, None)
                .await?;
            let rows = answer
                .get_mut(PRODUCTS.items)
                .map(Value::take)
                .unwrap_or(Value::Null);
            let rows: Vec<Product> = Self::decode(op, rows)?;
            out.extend(rows);
        }
        Ok(out)
    }

    pub async fn get_product(
        &self,
        id: &str,
        priority: Priority,
    ) -> Result<Option<Product>, GhlError> {
        let q = self.located(Operation::GetProduct);
        let path = Operation::GetProduct.path_with(&[id]);
        Self::none_if_missing(
            self.call_typed(Operation::GetProduct, priority, &path, &q, None, None)
                .await,
        )
    }

    pub async fn create_product(&self, input: &ProductInput) -> Result<Product, GhlError> {
        let body = serde_json::to_value(input).unwrap_or_default();
        self.call_typed(
            Operation::CreateProduct,
            Priority::Live,
            &Operation::CreateProduct.path_with(&[]),
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn update_product(
        &self,
        id: &str,
        input: &ProductInput,
    ) -> Result<Product, GhlError> {
        let body = serde_json::to_value(input).unwrap_or_default();
        let path = Operation::UpdateProduct.path_with(&[id]);
        self.call_typed(
            Operation::UpdateProduct,
            Priority::Live,
            &path,
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn delete_product(&self, id: &str) -> Result<(), GhlError> {
        let q = self.located(Operation::DeleteProduct);
        let path = Operation::DeleteProduct.path_with(&[id]);
        match self
            .call(Operation::DeleteProduct, Priority::Live, &path, &q, None)
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub fn prices<'a>(
        &'a self,
        product_id: &str,
        priority: Priority,
    ) -> impl Stream<Item = Result<Price, GhlError>> + 'a {
        self.paged(
            Operation::ListPrices,
            priority,
            Operation::ListPrices.path_with(&[product_id]),
            self.located(Operation::ListPrices),
            PRICES,
        )
    }

    pub async fn get_price(
        &self,
        product_id: &str,
        price_id: &str,
    ) -> Result<Option<Price>, GhlError> {
        let q = self.located(Operation::GetPrice);
        let path = Operation::GetPrice.path_with(&[product_id, price_id]);
        Self::none_if_missing(
            self.call_typed(Operation::GetPrice, Priority::Live, &path, &q, None, None)
                .await,
        )
    }

    pub async fn create_price(
        &self,
        product_id: &str,
        input: &PriceInput,
    ) -> Result<Price, GhlError> {
        let body = serde_json::to_value(input).unwrap_or_default();
        let path = Operation::CreatePrice.path_with(&[product_id]);
        self.call_typed(
            Operation::CreatePrice,
            Priority::Live,
            &path,
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn update_price(
        &self,
        product_id: &str,
        price_id: &str,
        input: &PriceInput,
    ) -> Result<Price, GhlError> {
        let body = serde_json::to_value(input).unwrap_or_default();
        let path = Operation::UpdatePrice.path_with(&[product_id, price_id]);
        self.call_typed(
            Operation::UpdatePrice,
            Priority::Live,
            &path,
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn delete_price(&self, product_id: &str, price_id: &str) -> Result<(), GhlError> {
        let q = self.located(Operation::DeletePrice);
        let path = Operation::DeletePrice.path_with(&[product_id, price_id]);
        match self
            .call(Operation::DeletePrice, Priority::Live, &path, &q, None)
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    pub fn inventory(
        &self,
        priority: Priority,
    ) -> impl Stream<Item = Result<InventoryItem, GhlError>> + '_ {
        self.paged(
            Operation::GetInventory,
            priority,
            Operation::GetInventory.path_with(&[]),
            self.located(Operation::GetInventory),
            INVENTORY,
        )
    }

    pub async fn update_inventory(&self, changes: &[InventoryChange]) -> Result<(), GhlError> {
        let body = json!({"altId": self.location, "altType": "location", "items": changes});
        self.call(
            Operation::UpdateInventory,
            Priority::Live,
            &Operation::UpdateInventory.path_with(&[]),
            &vec![],
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Edits products and their prices in one request (`POST
    /// /products/bulk-update/edit`): at most [`crate::BULK_EDIT_MAX_ENTITIES`]
    /// products and prices counted together, refused with
    /// [`GhlError::BulkLimit`] before sending otherwise (see
    /// [`crate::bulk::pack`]). Only the fields given change. Sending the
    /// same edits again sets the same values, so it is retried like any
    /// update. Answers HighLevel's `updatedCount` (the products edited);
    /// nothing is sent for no edits.
    pub async fn bulk_edit_products(&self, edits: &[ProductEdit]) -> Result<u64, GhlError> {
        if edits.is_empty() {
            return Ok(0);
        }
        let body = crate::bulk::edit_body(&self.location, edits)?;
        let op = Operation::BulkEditProducts;
        let answer = self
            .call(op, Priority::Live, &op.path_with(&[]), &vec![], Some(&body))
            .await?;
        Ok(crate::bulk::outcome(op, &answer)?.unwrap_or(edits.len() as u64))
    }

    /// One change across many products (`POST /products/bulk-update`): a
    /// price rule, availability, collections, currency, or delete. A
    /// relative price rule (increase or reduce) would apply twice if
    /// repeated after a lost answer, so it is retried only when HighLevel
    /// refused it (429). Nothing is sent for no products.
    pub async fn bulk_update_products(
        &self,
        product_ids: &[String],
        change: &BulkChange,
    ) -> Result<(), GhlError> {
        if product_ids.is_empty() {
            return Ok(());
        }
        let body = crate::bulk::update_body(&self.location, product_ids, change)?;
        let op = Operation::BulkUpdateProducts;
        let answer = self
            .call_retrying(
                &Call {
                    refused_only: change.repeats_change(),
                    ..Call::from(op)
                },
                Priority::Live,
                &Operation::BulkUpdateProducts.path_with(&[]),
                &vec![],
                Some(&body),
            )
            .await?;
        crate::bulk::outcome(op, &answer).map(|_| ())
    }

    // ---- orders and transactions ----

    pub fn orders(
        &self,
        priority: Priority,
    ) -> impl Stream<Item = Result<OrderSummary, GhlError>> + '_ {
        self.paged(
            Operation::ListOrders,
            priority,
            Operation::ListOrders.path_with(&[]),
            self.located(Operation::ListOrders),
            DATA_TOTAL_COUNT,
        )
    }

    pub async fn get_order(&self, id: &str, priority: Priority) -> Result<Option<Order>, GhlError> {
        let q = self.located(Operation::GetOrder);
        let path = Operation::GetOrder.path_with(&[id]);
        Self::none_if_missing(
            self.call_typed(Operation::GetOrder, priority, &path, &q, None, None)
                .await,
        )
    }

    /// The transactions recorded for an order or invoice.
    pub async fn transactions_for(&self, entity_id: &str) -> Result<Vec<Transaction>, GhlError> {
        let mut q = self.located(Operation::ListTransactions);
        q.push(("entityId", entity_id.to_string()));
        let stream = self.paged(
            Operation::ListTransactions,
            Priority::Live,
            Operation::ListTransactions.path_with(&[]),
            q,
            DATA_TOTAL_COUNT,
        );
        futures::TryStreamExt::try_collect(stream).await
    }

    // ---- contacts ----

    /// Creates or updates the contact by e-mail; returns it and whether it is new.
    pub async fn upsert_contact(&self, input: &ContactUpsert) -> Result<(Contact, bool), GhlError> {
        let body = serde_json::to_value(input).unwrap_or_default();
        let answer = self
            .call(
                Operation::UpsertContact,
                Priority::Live,
                &Operation::UpsertContact.path_with(&[]),
                &vec![],
                Some(&body),
            )
            .await?;
        let is_new = answer.get("new").and_then(Value::as_bool).unwrap_or(false);
        let contact = Self::decode(
            Operation::UpsertContact,
            answer.get("contact").cloned().unwrap_or_default(),
        )?;
        Ok((contact, is_new))
    }

    pub async fn get_contact(&self, id: &str) -> Result<Option<Contact>, GhlError> {
        let path = Operation::GetContact.path_with(&[id]);
        Self::none_if_missing(
            self.call_typed(
                Operation::GetContact,
                Priority::Live,
                &path,
                &vec![],
                None,
                Some("contact"),
            )
            .await,
        )
    }

    /// The contact with exactly this e-mail, if any.
    pub async fn find_contact_by_email(&self, email: &str) -> Result<Option<Contact>, GhlError> {
        let body = json!({
            "locationId": self.location, "page": 1, "pageLimit": 20,
            "filters": [{"field": "email", "operator": "eq", "value": email}],
        });
        let contacts: Vec<Contact> = self
            .call_typed(
                Operation::SearchContacts,
                Priority::Live,
                &Operation::SearchContacts.path_with(&[]),
                &vec![],
                Some(&body),
                Some("contacts"),
            )
            .await?;
        Ok(contacts.into_iter().find(|c| {
            c.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }))
    }

    pub async fn add_tags(
        &self,
        contact_id: &str,
        tags: &[String],
    ) -> Result<Vec<String>, GhlError> {
        let path = Operation::AddContactTags.path_with(&[contact_id]);
        let body = json!({"tags": tags});
        self.call_typed(
            Operation::AddContactTags,
            Priority::Live,
            &path,
            &vec![],
            Some(&body),
            Some("tags"),
        )
        .await
    }

    pub async fn add_note(&self, contact_id: &str, text: &str) -> Result<String, GhlError> {
        let path = Operation::AddContactNote.path_with(&[contact_id]);
        let body = json!({"body": text});
        let answer = self
            .call(
                Operation::AddContactNote,
                Priority::Live,
                &path,
                &vec![],
                Some(&body),
            )
            .await?;
        Ok(answer
            .pointer("/note/id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    // ---- invoices ----

    pub async fn create_invoice(&self, input: &InvoiceInput) -> Result<Invoice, GhlError> {
        if input.items.is_empty() {
            return Err(GhlError::Invalid {
                operation: Operation::CreateInvoice.info().id,
                detail: "an invoice needs at least one item".into(),
            });
        }
        let mut body = json!({
            "altId": self.location, "altType": "location", "name": input.name,
            "title": input.title.clone().unwrap_or_else(|| "INVOICE".into()),
            "businessDetails": {"name": input.business_name},
            "currency": input.currency, "items": input.items,
            "discount": {"type": "fixed", "value": input.discount},
            "contactDetails": {"id": input.contact_id, "name": input.contact_name,
                               "email": input.contact_email, "phoneNo": ""},
            "issueDate": input.issue_date, "sentTo": {"email": [input.contact_email]},
            "liveMode": true,
        });
        if let Some(t) = &input.terms_notes {
            body["termsNotes"] = json!(t);
        }
        self.call_typed(
            Operation::CreateInvoice,
            Priority::Live,
            &Operation::CreateInvoice.path_with(&[]),
            &vec![],
            Some(&body),
            None,
        )
        .await
    }

    pub async fn get_invoice(&self, id: &str) -> Result<Option<Invoice>, GhlError> {
        let path = Operation::GetInvoice.path_with(&[id]);
        Self::none_if_missing(
            self.call_typed(
                Operation::GetInvoice,
                Priority::Live,
                &path,
                &self.located(Operation::GetInvoice),
                None,
                None,
            )
            .await,
        )
    }

    /// Invoices whose name, title or notes contain `search`.
    pub fn invoices<'a>(
        &'a self,
        search: Option<&str>,
        priority: Priority,
    ) -> impl Stream<Item = Result<Invoice, GhlError>> + 'a {
        let mut q = self.located(Operation::ListInvoices);
        if let Some(s) = search {
            q.push(("search", s.to_string()));
        }
        self.paged(
            Operation::ListInvoices,
            priority,
            Operation::ListInvoices.path_with(&[]),
            q,
            INVOICES,
        )
    }

    /// The invoice with exactly this name, if any (the natural key of an
    /// invoice allybridge created for an external order).
    pub async fn find_invoice_by_name(&self, name: &str) -> Result<Option<Invoice>, GhlError> {
        let stream = self.invoices(Some(name), Priority::Live);
        let all: Vec<Invoice> = futures::TryStreamExt::try_collect(stream).await?;
        Ok(all.into_iter().find(|i| i.name == name))
    }

    pub async fn record_payment(
        &self,
        invoice_id: &str,
        input: &PaymentInput,
    ) -> Result<Invoice, GhlError> {
        let path = Operation::RecordInvoicePayment.path_with(&[invoice_id]);
        let mut body = json!({"altId": self.location, "altType": "location", "mode": input.mode, "notes": input.notes});
        if let Some(a) = input.amount {
            body["amount"] = json!(a);
        }
        if let Some(m) = &input.meta {
            body["meta"] = Value::Object(m.clone());
        }
        self.call_typed(
            Operation::RecordInvoicePayment,
            Priority::Live,
            &path,
            &vec![],
            Some(&body),
            Some("invoice"),
        )
        .await
    }
}

/// An error retried only when HighLevel refused the call (429).
struct RefusedOnly(GhlError);

impl std::fmt::Display for RefusedOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl transport::Retryable for RefusedOnly {
    fn is_retryable(&self) -> bool {
        self.0.status() == Some(429)
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        transport::Retryable::retry_after(&self.0)
    }
}

/// An amount HighLevel wrote as a JSON number, exactly, in `currency`.
pub fn money(
    amount: &serde_json::Number,
    currency: &str,
    operation: &'static str,
) -> Result<Money, GhlError> {
    let currency: Currency = currency
        .to_uppercase()
        .parse()
        .map_err(|e: model::MoneyError| GhlError::Decode {
            operation,
            detail: e.to_string(),
        })?;
    Money::from_json_number(&amount.to_string(), currency).map_err(|e| GhlError::Decode {
        operation,
        detail: e.to_string(),
    })
}

/// An amount as HighLevel takes it: a JSON number in major units. Exact for
/// every amount below 10^13 minor units (shortest round-trip formatting).
pub fn major_units(m: &Money) -> f64 {
    m.to_decimal_string().parse().unwrap_or(0.0)
}

/// A shared handle.
pub type SharedClient = Arc<GhlClient>;
