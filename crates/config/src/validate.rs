//! Cross-field checks of a parsed configuration. Returns every problem at
//! once, each naming the key and what to write instead. Reads nothing
//! outside the config (no environment, no files, no network).

use std::collections::BTreeSet;
use std::time::Duration;

use url::Url;

use crate::schema::{Config, GhlAuth, TenantConfig};

/// AccessAlly's documented order statuses (the Bridge API contract's `Order.status`).
const ACCESSALLY_ORDER_STATUSES: &[&str] = &[
    "started",
    "success",
    "failed",
    "refunded",
    "partially_refunded",
    "sca_pending",
    "sca_success",
    "sca_failed",
    "error",
];

/// HighLevel's order payment statuses (`paymentStatus` of `GET /payments/orders`).
const HIGHLEVEL_PAYMENT_STATUSES: &[&str] = &["paid", "unpaid", "refunded", "partially_paid"];

pub(crate) fn problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut problem = |p: String| out.push(p);

    let store = &config.store.url;
    if !(store.starts_with("sqlite:")
        || store.starts_with("postgres://")
        || store.starts_with("postgresql://"))
    {
        problem(
            "`store.url` must start with sqlite: or postgres:// (e.g. \"sqlite://allybridge.db?mode=rwc\")"
                .into(),
        );
    }
    if config.store.key_file.as_os_str().is_empty() {
        problem(
            "`store.key_file` is empty; name the master key file (e.g. \"allybridge.key\")".into(),
        );
    }
    if let Some(url) = &config.server.public_url {
        web_url("server.public_url", url, &mut problem);
    }
    if let Some(hash) = &config.server.admin_password_hash
        && !hash.starts_with("$argon2")
    {
        problem("`server.admin_password_hash` must be an Argon2 PHC string starting with `$argon2`; write the hash, never the password".into());
    }

    let engine = &config.engine;
    if engine.workers == 0 {
        problem("`engine.workers` must be at least 1".into());
    }
    if engine.max_attempts == 0 {
        problem("`engine.max_attempts` must be at least 1".into());
    }
    if let Some(id) = &engine.worker_id
        && (id.trim().is_empty()
            || id.len() > 100
            || id.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        problem(format!(
            "`engine.worker_id` must be 1 to 100 characters without spaces, not {id:?} (leave it out for a new id per start)"
        ));
    }
    for (key, d) in [
        ("engine.coupon_poll_interval", engine.coupon_poll_interval),
        ("engine.product_poll_interval", engine.product_poll_interval),
        ("engine.order_poll_interval", engine.order_poll_interval),
        ("engine.reconcile_interval", engine.reconcile_interval),
        ("alerts.cooldown", config.alerts.cooldown),
        ("alerts.check_interval", config.alerts.check_interval),
    ] {
        if d.get() < Duration::from_secs(1) {
            problem(format!("`{key}` must be at least 1s (it is {d})"));
        }
    }
    let q = config.alerts.quota_warning;
    if !(q > 0.0 && q < 1.0) {
        problem(format!(
            "`alerts.quota_warning` must be a fraction between 0 and 1 (e.g. 0.10), not {q}"
        ));
    }
    if let Some(smtp) = &config.alerts.smtp {
        if smtp.host.trim().is_empty() {
            problem("`alerts.smtp.host` is empty".into());
        }
        if smtp.port == 0 {
            problem("`alerts.smtp.port` must not be 0".into());
        }
        if !smtp.from.contains('@') {
            problem("`alerts.smtp.from` must be an e-mail address".into());
        }
        if smtp.to.is_empty() || smtp.to.iter().any(|to| !to.contains('@')) {
            problem("`alerts.smtp.to` must list at least one e-mail address, all with an @".into());
        }
        if smtp.password.is_some() && smtp.username.is_none() {
            problem("`alerts.smtp.password` is set without `alerts.smtp.username`".into());
        }
    }

    if config.tenants.is_empty() {
        problem("no tenant: add a `[[tenant]]` section pairing a HighLevel location with an AccessAlly site (`allybridge init` writes one)".into());
    }
    let mut names = BTreeSet::new();
    for tenant in &config.tenants {
        if !names.insert(tenant.name.as_str()) {
            problem(format!(
                "tenant name `{}` is used twice; names must be unique",
                tenant.name
            ));
        }
        tenant_problems(tenant, &mut problem);
    }
    out
}

fn web_url(key: &str, url: &Url, problem: &mut impl FnMut(String)) {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        problem(format!(
            "`{key}` must be an http(s) URL with a host, not `{url}`"
        ));
    }
}

fn tenant_problems(tenant: &TenantConfig, problem: &mut impl FnMut(String)) {
    let name = &tenant.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problem(format!(
            "tenant name `{name}` must be non-empty and use only letters, digits, `-` and `_`"
        ));
    }
    let at = |key: &str| format!("tenant `{name}`: `{key}`");
    web_url(&at("ghl.base_url"), &tenant.ghl.base_url, problem);
    web_url(
        &at("ghl.marketplace_url"),
        &tenant.ghl.marketplace_url,
        problem,
    );
    web_url(
        &at("accessally.site_url"),
        &tenant.accessally.site_url,
        problem,
    );
    if tenant.ghl.location_id.trim().is_empty() {
        problem(format!(
            "{} is empty; write the sub-account id",
            at("ghl.location_id")
        ));
    }
    match tenant.ghl.auth {
        GhlAuth::Oauth => {
            if tenant
                .ghl
                .client_id
                .as_deref()
                .is_none_or(|c| c.trim().is_empty())
            {
                problem(format!(
                    "{} is required with auth = \"oauth\" (or use auth = \"private_token\")",
                    at("ghl.client_id")
                ));
            }
            if tenant.ghl.client_secret.is_none() {
                problem(format!(
                    "{} is required with auth = \"oauth\": write {{ env = \"VARIABLE\" }} or {{ file = \"path\" }}",
                    at("ghl.client_secret")
                ));
            }
        }
        GhlAuth::PrivateToken => {}
    }
    if tenant.accessally.user.trim().is_empty() {
        problem(format!(
            "{} is empty; write the WordPress user name",
            at("accessally.user")
        ));
    }
    let mapping = &tenant.mapping;
    for (key, statuses) in [
        (
            "mapping.completed_order_statuses",
            &mapping.completed_order_statuses,
        ),
        (
            "mapping.refunded_order_statuses",
            &mapping.refunded_order_statuses,
        ),
    ] {
        if statuses.is_empty() {
            problem(format!("{} must list at least one status", at(key)));
        }
        for status in statuses {
            if !ACCESSALLY_ORDER_STATUSES.contains(&status.as_str()) {
                problem(format!(
                    "{}: `{status}` is not an AccessAlly order status; expected one of {}",
                    at(key),
                    ACCESSALLY_ORDER_STATUSES.join(", ")
                ));
            }
        }
    }
    for status in &mapping.completed_order_statuses {
        if mapping.refunded_order_statuses.contains(status) {
            problem(format!(
                "{}: `{status}` is listed as completed and as refunded; keep it in one of `mapping.completed_order_statuses` and `mapping.refunded_order_statuses`",
                at("mapping")
            ));
        }
    }
    if mapping.paid_payment_statuses.is_empty() {
        problem(format!(
            "{} must list at least one status",
            at("mapping.paid_payment_statuses")
        ));
    }
    for status in &mapping.paid_payment_statuses {
        if !HIGHLEVEL_PAYMENT_STATUSES.contains(&status.as_str()) {
            problem(format!(
                "{}: `{status}` is not a HighLevel payment status; expected one of {}",
                at("mapping.paid_payment_statuses"),
                HIGHLEVEL_PAYMENT_STATUSES.join(", ")
            ));
        }
    }
    if mapping.sku_prefixes.iter().any(|p| p.trim().is_empty()) {
        problem(format!(
            "{} holds an empty prefix, which matches every SKU; remove it (an empty list syncs every product)",
            at("mapping.sku_prefixes")
        ));
    }
    if mapping.coupon_currency.parse::<model::Currency>().is_err() {
        problem(format!(
            "{}: `{}` is not an ISO 4217 code such as \"USD\"",
            at("mapping.coupon_currency"),
            mapping.coupon_currency
        ));
    }
    if tenant.orders.refund_tag.trim().is_empty() {
        problem(format!("{} is empty", at("orders.refund_tag")));
    }
}
