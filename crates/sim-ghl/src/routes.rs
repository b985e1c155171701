//! The table of simulated API routes with the scope and the token kinds the
//! official specs' `security` blocks give each (`Location-Access`,
//! `Agency-Access`, and their `-Only` forms that refuse private integration
//! tokens). A conformance test checks this table against the specs. The
//! bulk edit (`POST /products/bulk-update/edit`) has no `security` block in
//! its spec; it asks for `products.write` on a location token, as its
//! sibling bulk update does.

/// Which kinds of token a route accepts, named as the specs' security schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A location (sub-account) OAuth token or a location private integration token.
    Location,
    /// An agency (company) OAuth token or an agency private integration token.
    Agency,
    /// An agency OAuth token only.
    AgencyOnly,
}

/// One simulated route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The spec file (under `apps/`) that defines it.
    pub spec: &'static str,
    pub scope: &'static str,
    pub access: &'static [Access],
}

const L: &[Access] = &[Access::Location];
const LA: &[Access] = &[Access::Location, Access::Agency];

macro_rules! route {
    ($m:literal, $p:literal, $spec:literal, $scope:literal, $access:expr) => {
        Route {
            method: $m,
            path: $p,
            spec: $spec,
            scope: $scope,
            access: $access,
        }
    };
}

/// Every API route the simulator serves (the OAuth token endpoint, which
/// takes client credentials instead of a bearer token, is not listed).
pub const ROUTES: &[Route] = &[
    route!(
        "GET",
        "/payments/coupon/list",
        "payments",
        "payments/coupons.readonly",
        L
    ),
    route!(
        "GET",
        "/payments/coupon",
        "payments",
        "payments/coupons.readonly",
        L
    ),
    route!(
        "POST",
        "/payments/coupon",
        "payments",
        "payments/coupons.write",
        L
    ),
    route!(
        "PUT",
        "/payments/coupon",
        "payments",
        "payments/coupons.write",
        L
    ),
    route!(
        "DELETE",
        "/payments/coupon",
        "payments",
        "payments/coupons.write",
        L
    ),
    route!(
        "GET",
        "/payments/orders",
        "payments",
        "payments/orders.readonly",
        L
    ),
    route!(
        "GET",
        "/payments/orders/{orderId}",
        "payments",
        "payments/orders.readonly",
        L
    ),
    route!(
        "GET",
        "/payments/transactions",
        "payments",
        "payments/transactions.readonly",
        L
    ),
    route!("GET", "/products/", "products", "products.readonly", LA),
    route!("POST", "/products/", "products", "products.write", LA),
    route!(
        "POST",
        "/products/bulk-update",
        "products",
        "products.write",
        L
    ),
    // Undocumented security (none in the spec): as the bulk update above.
    route!(
        "POST",
        "/products/bulk-update/edit",
        "products",
        "products.write",
        L
    ),
    route!(
        "GET",
        "/products/inventory",
        "products",
        "products/prices.readonly",
        LA
    ),
    route!(
        "POST",
        "/products/inventory",
        "products",
        "products/prices.write",
        LA
    ),
    route!(
        "GET",
        "/products/{productId}",
        "products",
        "products.readonly",
        LA
    ),
    route!(
        "PUT",
        "/products/{productId}",
        "products",
        "products.write",
        LA
    ),
    route!(
        "DELETE",
        "/products/{productId}",
        "products",
        "products.write",
        LA
    ),
    route!(
        "GET",
        "/products/{productId}/price",
        "products",
        "products/prices.readonly",
        LA
    ),
    route!(
        "POST",
        "/products/{productId}/price",
        "products",
        "products/prices.write",
        LA
    ),
    route!(
        "GET",
        "/products/{productId}/price/{priceId}",
        "products",
        "products/prices.readonly",
        LA
    ),
    route!(
        "PUT",
        "/products/{productId}/price/{priceId}",
        "products",
        "products/prices.write",
        LA
    ),
    route!(
        "DELETE",
        "/products/{productId}/price/{priceId}",
        "products",
        "products/prices.write",
        LA
    ),
    route!("POST", "/contacts/upsert", "contacts", "contacts.write", L),
    route!(
        "POST",
        "/contacts/search",
        "contacts",
        "contacts.readonly",
        L
    ),
    route!(
        "GET",
        "/contacts/{contactId}",
        "contacts",
        "contacts.readonly",
        L
    ),
    route!(
        "POST",
        "/contacts/{contactId}/tags",
        "contacts",
        "contacts.write",
        L
    ),
    route!(
        "POST",
        "/contacts/{contactId}/notes",
        "contacts",
        "contacts.write",
        L
    ),
    route!("POST", "/invoices/", "invoices", "invoices.write", LA),
    route!("GET", "/invoices/", "invoices", "invoices.readonly", LA),
    route!(
        "GET",
        "/invoices/{invoiceId}",
        "invoices",
        "invoices.readonly",
        LA
    ),
    route!(
        "POST",
        "/invoices/{invoiceId}/record-payment",
        "invoices",
        "invoices.write",
        LA
    ),
    route!(
        "POST",
        "/oauth/locationToken",
        "oauth",
        "oauth.write",
        &[Access::AgencyOnly]
    ),
];

/// Finds the route for a method and a matched path template.
pub fn find(method: &str, template: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == template)
}

/// Every scope any simulated route needs: what an app may be granted.
pub fn all_scopes() -> Vec<String> {
    let mut scopes: Vec<String> = ROUTES.iter().map(|r| r.scope.to_string()).collect();
    scopes.push("oauth.readonly".into());
    scopes.sort();
    scopes.dedup();
    scopes
}
