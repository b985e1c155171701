//! `allybridge check`: a read-only health check of each tenant — both
//! connections reachable and authenticated, the HighLevel scopes granted
//! against the least set the enabled flows need (naming missing and extra
//! ones), AccessAlly webhook subscriptions — and a validation of the
//! mapping against both catalogs (coupon product restrictions that map to
//! nothing, currencies that differ from the coupon currency, SKU and
//! external reference collisions). It calls only read endpoints: a scope
//! is probed with a read of that scope, and write scopes are compared only
//! when the connection says what it was granted (OAuth). Exit 2 on problems.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use config::{Config, ProductKey, TenantConfig};
use futures::TryStreamExt;
use ghl::{GhlClient, GhlError, Operation, Priority};
use model::{Flow, FlowMode};
use serde_json::{Value, json};

use super::context::{self, ClientTuning, ConfigArgs};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn tuning() -> ClientTuning {
    ClientTuning {
        request_timeout: Duration::from_secs(15),
        retry: transport::RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
            max_server_wait: Duration::from_secs(2),
        },
    }
}

/// How a failed HighLevel call is read.
enum Failure {
    Unreachable(String),
    Unauthenticated(String),
    MissingScope,
    Other,
}

fn classify(e: &GhlError) -> Failure {
    match e {
        GhlError::MissingScope { .. } => Failure::MissingScope,
        GhlError::Http { source, .. } => match source.status {
            None => Failure::Unreachable(source.message.clone()),
            Some(401) if source.message.to_lowercase().contains("scope") => Failure::MissingScope,
            Some(401) | Some(403) => Failure::Unauthenticated(source.message.clone()),
            Some(_) => Failure::Other,
        },
        GhlError::NotConnected(_) | GhlError::RefreshRejected { .. } => {
            Failure::Unauthenticated(e.to_string())
        }
        _ => Failure::Other,
    }
}

/// A read of `scope`: (operation, path, query). Any answer but a scope refusal means granted.
/// A probe: the operation, its concrete path and its query.
type Probe = (Operation, String, Vec<(&'static str, String)>);

fn probe(scope: &str, location: &str) -> Option<Probe> {
    let alt = || {
        vec![
            ("altId", location.to_string()),
            ("altType", "location".to_string()),
            ("limit", "1".to_string()),
            ("offset", "0".to_string()),
        ]
    };
    Some(match scope {
        "payments/coupons.readonly" => (
            Operation::ListCoupons,
            "/payments/coupon/list".into(),
            alt(),
        ),
        "products.readonly" => (
            Operation::ListProducts,
            "/products/".into(),
            vec![("locationId", location.to_string()), ("limit", "1".into())],
        ),
        "products/prices.readonly" => {
            (Operation::GetInventory, "/products/inventory".into(), alt())
        }
        "payments/orders.readonly" => (Operation::ListOrders, "/payments/orders".into(), alt()),
        "payments/transactions.readonly" => (
            Operation::ListTransactions,
            "/payments/transactions".into(),
            alt(),
        ),
        "contacts.readonly" => (
            Operation::GetContact,
            "/contacts/allybridge-check-probe".into(),
            vec![],
        ),
        "invoices.readonly" => (Operation::ListInvoices, "/invoices/".into(), alt()),
        _ => return None,
    })
}

#[derive(Default)]
struct Report {
    problems: Vec<String>,
    notes: Vec<String>,
}

async fn check_highlevel(
    client: &GhlClient,
    granted: Option<&BTreeSet<String>>,
    modes: &[(Flow, FlowMode)],
    location: &str,
    report: &mut Report,
) -> Value {
    let needed: BTreeSet<&str> = ghl::required_scopes(modes);
    let mut reachable = true;
    let mut authenticated = true;
    let mut missing: BTreeSet<String> = BTreeSet::new();
    let mut unverified: BTreeSet<String> = BTreeSet::new();
    // Reachability and authentication: the product list (any read would do).
    let mut probed_scopes: BTreeSet<&str> = needed.clone();
    probed_scopes.insert("products.readonly");
    for scope in &probed_scopes {
        if !reachable || !authenticated {
            break;
        }
        let Some((op, path, query)) = probe(scope, location) else {
            continue;
        };
        match client.call(op, Priority::Live, &path, &query, None).await {
            Ok(_) => {}
            Err(e) => match classify(&e) {
                Failure::Unreachable(m) => {
                    reachable = false;
                    report.problems.push(format!(
                        "HighLevel is unreachable ({m}); check [tenant.ghl] base_url and the network"
                    ));
                }
                Failure::Unauthenticated(m) => {
                    authenticated = false;
                    report.problems.push(format!(
                        "HighLevel refused the credentials ({m}); reconnect with `allybridge connect ghl`"
                    ));
                }
                Failure::MissingScope => {
                    if needed.contains(scope) {
                        missing.insert(scope.to_string());
                    }
                }
                // A 404 for the probe record, a 400 … : the scope was accepted.
                Failure::Other => {}
            },
        }
    }
    let mut extra: Vec<String> = Vec::new();
    match granted {
        Some(granted) => {
            for s in &needed {
                if !granted.contains(*s) {
                    missing.insert(s.to_string());
                }
            }
            extra = granted
                .iter()
                .filter(|s| !needed.contains(s.as_str()))
                .cloned()
                .collect();
        }
        None => {
            for s in &needed {
                if probe(s, location).is_none() {
                    unverified.insert(s.to_string());
                }
            }
        }
    }
    if !missing.is_empty() {
        report.problems.push(format!(
            "HighLevel scopes missing for the enabled flows: {}; grant them to the token (or reconnect with `allybridge connect ghl`), or turn off the flows that need them",
            missing.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !extra.is_empty() {
        report.notes.push(format!(
            "HighLevel scopes granted but not needed: {} (least privilege: remove them)",
            extra.join(", ")
        ));
    }
    if !unverified.is_empty() {
        report.notes.push(format!(
            "a private token does not list its scopes and these write scopes cannot be probed without writing: {}",
            unverified.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    json!({
        "reachable": reachable,
        "authenticated": reachable && authenticated,
        "scopes": {
            "needed": needed,
            "granted": granted,
            "missing": missing,
            "extra": extra,
            "unverified": unverified,
        }
    })
}

async fn check_accessally(
    client: &accessally::AccessAllyClient,
    config: &Config,
    report: &mut Report,
) -> (Value, bool) {
    let first = client
        .offerings(accessally::ListQuery::default().per_page(1))
        .try_next()
        .await;
    let (reachable, authenticated) = match &first {
        Ok(_) => (true, true),
        Err(e) => match e.status() {
            None => {
                report.problems.push(format!(
                    "AccessAlly is unreachable ({e}); check [tenant.accessally] site_url and that the allybridge plugin is active"
                ));
                (false, false)
            }
            Some(401) | Some(403) => {
                report.problems.push(format!(
                    "AccessAlly refused the application password ({e}); run `allybridge connect accessally`"
                ));
                (true, false)
            }
            Some(_) => {
                report
                    .problems
                    .push(format!("AccessAlly answered an error: {e}"));
                (true, false)
            }
        },
    };
    let mut webhooks = Value::Null;
    if authenticated {
        match client.webhooks().try_collect::<Vec<_>>().await {
            Ok(subs) => {
                let ours: Vec<&accessally::WebhookSubscription> = match &config.server.public_url {
                    Some(base) => subs
                        .iter()
                        .filter(|s| s.url.starts_with(base.as_str().trim_end_matches('/')))
                        .collect(),
                    None => Vec::new(),
                };
                if config.server.public_url.is_some() && ours.is_empty() {
                    report.notes.push(
                        "no AccessAlly webhook subscription points at [server] public_url yet; `allybridge serve` creates one".into(),
                    );
                }
                webhooks = json!({"subscriptions": subs.len(), "to_this_server": ours.len()});
            }
            Err(e) => report.problems.push(format!(
                "could not list AccessAlly webhook subscriptions: {e}"
            )),
        }
    }
    (
        json!({"reachable": reachable, "authenticated": authenticated, "webhooks": webhooks}),
        authenticated,
    )
}

/// Validates the mapping against both catalogs; adds one problem per mismatch.
async fn check_mapping(
    tenant: &TenantConfig,
    ghl: &GhlClient,
    aa: &accessally::AccessAllyClient,
    report: &mut Report,
) -> anyhow::Result<Value> {
    let mapping = &tenant.mapping;
    let products: Vec<ghl::types::Product> = ghl.products(Priority::Backfill).try_collect().await?;
    let mut prices: BTreeMap<String, Vec<ghl::types::Price>> = BTreeMap::new();
    for p in &products {
        let list: Vec<ghl::types::Price> =
            ghl.prices(&p.id, Priority::Backfill).try_collect().await?;
        prices.insert(p.id.clone(), list);
    }
    let offerings: Vec<accessally::Offering> = aa
        .offerings(accessally::ListQuery::default())
        .try_collect()
        .await?;
    let coupons: Vec<ghl::types::Coupon> = if tenant.flows.coupons_to_accessally != FlowMode::Off {
        ghl.coupons(Priority::Backfill).try_collect().await?
    } else {
        Vec::new()
    };
    let included = |p: &ghl::types::Product| {
        mapping.sku_prefixes.is_empty()
            || prices.get(&p.id).is_some_and(|ps| {
                ps.iter().any(|x| {
                    x.sku.as_deref().is_some_and(|s| {
                        mapping
                            .sku_prefixes
                            .iter()
                            .any(|pre| s.starts_with(pre.as_str()))
                    })
                })
            })
    };
    // SKU collisions: one SKU on several HighLevel products, one external_ref on several offerings.
    let mut by_sku: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in &products {
        for x in prices.get(&p.id).into_iter().flatten() {
            if let Some(sku) = x.sku.as_deref().filter(|s| !s.is_empty()) {
                by_sku
                    .entry(sku.to_string())
                    .or_default()
                    .insert(p.name.clone());
            }
        }
    }
    for (sku, names) in &by_sku {
        if names.len() > 1 {
            report.problems.push(format!(
                "SKU collision: `{sku}` is used by several HighLevel products ({}); give each product its own SKU",
                names.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let mut by_ref: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in &offerings {
        if let Some(r) = o.external_ref.as_deref().filter(|s| !s.is_empty()) {
            by_ref
                .entry(r.to_string())
                .or_default()
                .push(o.name.clone());
        }
    }
    for (r, names) in &by_ref {
        if names.len() > 1 {
            report.problems.push(format!(
                "SKU collision: external_ref `{r}` is on several AccessAlly offerings ({}); make them unique",
                names.join(", ")
            ));
        }
    }
    if mapping.product_key == ProductKey::Name {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &products {
            *names.entry(p.name.as_str()).or_default() += 1;
        }
        for (name, n) in names {
            if n > 1 {
                report.problems.push(format!(
                    "product_key = \"name\" but {n} HighLevel products are named `{name}`; rename them or use product_key = \"sku\""
                ));
            }
        }
    }
    // Coupons: product restrictions and currencies.
    let product_by_id: BTreeMap<&str, &ghl::types::Product> =
        products.iter().map(|p| (p.id.as_str(), p)).collect();
    let has_offering = |p: &ghl::types::Product| match mapping.product_key {
        ProductKey::Name => offerings.iter().any(|o| o.name == p.name),
        ProductKey::Sku => prices
            .get(&p.id)
            .into_iter()
            .flatten()
            .any(|x| x.sku.is_some() && offerings.iter().any(|o| o.external_ref == x.sku)),
    };
    for c in &coupons {
        for pid in &c.product_ids {
            match product_by_id.get(pid.as_str()) {
                None => report.problems.push(format!(
                    "coupon {} is restricted to product {pid}, which does not exist in HighLevel; fix the coupon's products",
                    c.code
                )),
                Some(p) if !included(p) => report.problems.push(format!(
                    "coupon {} is restricted to product `{}`, which [tenant.mapping] sku_prefixes excludes; it cannot be mapped to an offering",
                    c.code, p.name
                )),
                Some(p)
                    if tenant.flows.products_to_accessally == FlowMode::Off && !has_offering(p) =>
                {
                    report.problems.push(format!(
                        "coupon {} is restricted to product `{}`, which has no AccessAlly offering, and products_to_accessally is off; turn the flow on or link the offering",
                        c.code, p.name
                    ))
                }
                Some(_) => {}
            }
        }
        if c.discount_type == ghl::types::DiscountType::Amount {
            let restricted: Vec<&ghl::types::Product> = if c.product_ids.is_empty() {
                products.iter().filter(|p| included(p)).collect()
            } else {
                c.product_ids
                    .iter()
                    .filter_map(|id| product_by_id.get(id.as_str()).copied())
                    .collect()
            };
            for p in restricted {
                for x in prices.get(&p.id).into_iter().flatten() {
                    if !x.currency.eq_ignore_ascii_case(&mapping.coupon_currency) {
                        report.problems.push(format!(
                            "coupon {} takes a fixed amount in {} ([tenant.mapping] coupon_currency) but product `{}` is priced in {}; change coupon_currency or the coupon's products",
                            c.code, mapping.coupon_currency, p.name, x.currency
                        ));
                    }
                }
            }
        }
    }
    Ok(json!({
        "highlevel_products": products.len(),
        "highlevel_coupons": coupons.len(),
        "accessally_offerings": offerings.len(),
    }))
}

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let store = context::open_store(&config).await?;
    let tuning = tuning();
    let mut tenants = Vec::new();
    let mut any_problem = false;
    for t in context::selected(&config, args.tenant.as_deref())? {
        let mut report = Report::default();
        let modes = t.flows.modes();
        let mut out = json!({"tenant": t.name});
        let ghl = match context::ghl_client(&config, &store, t, &tuning).await {
            Ok((client, granted)) => {
                out["highlevel"] = check_highlevel(
                    &client,
                    granted.as_ref(),
                    &modes,
                    &t.ghl.location_id,
                    &mut report,
                )
                .await;
                let usable = out["highlevel"]["authenticated"] == true;
                usable.then_some(client)
            }
            Err(e) => {
                report.problems.push(format!("HighLevel: {e:#}"));
                None
            }
        };
        let aa = match context::accessally_client(&config, &store, t, &tuning).await {
            Ok(client) => {
                let (value, ok) = check_accessally(&client, &config, &mut report).await;
                out["accessally"] = value;
                ok.then_some(client)
            }
            Err(e) => {
                report.problems.push(format!("AccessAlly: {e:#}"));
                None
            }
        };
        if let (Some(g), Some(a)) = (&ghl, &aa) {
            match check_mapping(t, g, a, &mut report).await {
                Ok(v) => out["catalogs"] = v,
                Err(e) => report.problems.push(format!(
                    "could not read both catalogs to validate the mapping: {e:#}"
                )),
            }
        }
        any_problem |= !report.problems.is_empty();
        out["problems"] = json!(report.problems);
        out["notes"] = json!(report.notes);
        out["ok"] = json!(report.problems.is_empty());
        tenants.push(out);
    }
    store.close().await;
    if args.json {
        println!("{}", json!({"ok": !any_problem, "tenants": tenants}));
    } else {
        for t in &tenants {
            let name = t["tenant"].as_str().unwrap_or("");
            let status = |v: &Value| match (v["reachable"].as_bool(), v["authenticated"].as_bool())
            {
                (Some(true), Some(true)) => "reachable, authenticated",
                (Some(true), _) => "reachable, NOT authenticated",
                (Some(false), _) => "UNREACHABLE",
                _ => "not checked",
            };
            println!("tenant {name}");
            println!("  HighLevel:  {}", status(&t["highlevel"]));
            println!("  AccessAlly: {}", status(&t["accessally"]));
            for p in t["problems"].as_array().into_iter().flatten() {
                println!("  problem: {}", p.as_str().unwrap_or(""));
            }
            for n in t["notes"].as_array().into_iter().flatten() {
                println!("  note:    {}", n.as_str().unwrap_or(""));
            }
            if t["ok"] == true {
                println!("  ok");
            }
        }
    }
    Ok(if any_problem {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
