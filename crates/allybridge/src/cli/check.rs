//! `allybridge check`: a read-only health check of each tenant — both
//! connections reachable and authenticated, the HighLevel scopes granted
//! against the least set the flows' modes need (naming missing and extra
//! ones; the modes as the admin page may have switched them), what
//! switching an observing flow to write would need (its write scopes: a new
//! OAuth consent, with the admin page's address, or more scopes on a
//! private token), whether live events will arrive from each system (see
//! `webhooks`) — and a validation of the
//! mapping against both catalogs, judged with the engine's own rules
//! (coupon product restrictions that map to nothing, currencies that differ
//! from the coupon currency, SKU and external reference collisions, names
//! that repeat under `product_key = "name"`, codes that differ only in
//! case, what `sku_prefixes`, `price`, `inventory`, `coupon_code` and
//! `grant_via` change, the handshake `aal_genpass` needs). It calls only
//! read endpoints: a scope
//! is probed with a read of that scope, and write scopes are compared only
//! when the connection says what it was granted (OAuth). Exit 2 on problems.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::Args;
use config::{Config, TenantConfig};
use engine::TenantSettings;
use engine::flows::products;
use engine::tenant::{CodeCase, ProductKey};
use futures::TryStreamExt;
use ghl::{GhlClient, Priority};
use model::{Flow, FlowMode};
use serde_json::{Value, json};

use super::context::{self, ConfigArgs};
use super::probe::{self, Failure};
use super::webhooks;

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

#[derive(Default)]
struct Report {
    problems: Vec<String>,
    notes: Vec<String>,
}

async fn check_highlevel(
    client: &GhlClient,
    granted: Option<&BTreeSet<String>>,
    modes: &[(Flow, FlowMode)],
    report: &mut Report,
) -> Value {
    let needed: BTreeSet<&str> = ghl::required_scopes(modes);
    let mut reachable = true;
    let mut authenticated = true;
    let mut missing: BTreeSet<String> = BTreeSet::new();
    let mut unverified: BTreeSet<String> = BTreeSet::new();
    // Reachability and authentication come with the first read (the
    // product list), then one read per scope a read can show.
    for scope in probe::readable(&needed) {
        match probe::scope_granted(client, &scope).await {
            Ok(true) => {}
            Ok(false) => {
                if needed.contains(scope.as_str()) {
                    missing.insert(scope);
                }
            }
            Err(Failure::Unreachable(m)) => {
                reachable = false;
                report.problems.push(format!(
                    "HighLevel is unreachable ({m}); check [tenant.ghl] base_url and the network"
                ));
                break;
            }
            Err(Failure::Unauthenticated(m)) => {
                authenticated = false;
                report.problems.push(format!(
                    "HighLevel refused the credentials ({m}); reconnect with `allybridge connect ghl`"
                ));
                break;
            }
            Err(_) => {}
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
                if ghl::probe_for(s).is_none() {
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

/// Whether allybridge knows a tenant's AccessAlly webhook secret.
struct WebhookSecret {
    configured: bool,
    stored: bool,
}

async fn check_accessally(
    client: &accessally::AccessAllyClient,
    config: &Config,
    tenant: &TenantConfig,
    modes: &[(Flow, FlowMode)],
    secret: WebhookSecret,
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
    let mut out = json!({"reachable": reachable, "authenticated": authenticated});
    if authenticated {
        match client.webhooks().try_collect::<Vec<_>>().await {
            Ok(subs) => {
                let url = webhooks::accessally_url(config, &tenant.name);
                let state = webhooks::AccessAllyState {
                    subscription: url
                        .as_deref()
                        .and_then(|u| webhooks::subscription_to(&subs, u)),
                    url,
                    secret_known: secret.configured || secret.stored,
                    secret_configured: secret.configured,
                };
                let others: Vec<String> = subs
                    .iter()
                    .filter(|s| Some(&s.url) != state.url.as_ref())
                    .map(|s| webhooks::shown(&s.url))
                    .collect();
                let live = state.live_events(config, &tenant.name, modes, &others);
                say_live_events(&live, report);
                out["webhooks"] = json!({"subscriptions": subs.len()});
                out["live_events"] = live.json;
                out["live_events"]["says"] = json!(live.says);
            }
            Err(e) => report.problems.push(format!(
                "could not list the AccessAlly webhook subscriptions, so whether live events arrive is unknown: {e}"
            )),
        }
    }
    (out, authenticated)
}

/// What switching observing flows to write needs: the HighLevel write
/// scopes observing does not ask for (least privilege) and the current
/// grant lacks (`granted`, when the connection says; a private token does
/// not), so a new OAuth consent or more scopes on the private token.
fn check_write_consent(
    config: &Config,
    t: &TenantConfig,
    modes: &[(Flow, FlowMode)],
    granted: Option<&Vec<Value>>,
    report: &mut Report,
) -> Value {
    let has = |scope: &str| granted.is_some_and(|g| g.iter().any(|s| s == scope));
    let mut flows = Vec::new();
    let mut scopes: BTreeSet<&str> = BTreeSet::new();
    for &(flow, mode) in modes {
        if mode != FlowMode::Observe {
            continue;
        }
        let lacking: Vec<&str> = ghl::scopes_to_write(flow)
            .into_iter()
            .filter(|s| !has(s))
            .collect();
        if !lacking.is_empty() {
            flows.push(flow.as_str());
            scopes.extend(lacking);
        }
    }
    if flows.is_empty() {
        return Value::Null;
    }
    let (how, link) = match t.ghl.auth {
        config::GhlAuth::Oauth => {
            let admin = format!(
                "{}/admin",
                daemon::tenants::daemon_url(config, config.server.listen)
            );
            (
                format!(
                    "a new HighLevel consent: set the mode, then press \"Reconnect HighLevel (OAuth)\" on the admin page ({admin}) or run `allybridge connect ghl --tenant {} --oauth`",
                    t.name
                ),
                Some(admin),
            )
        }
        config::GhlAuth::PrivateToken => (
            "them added to the private integration token (HighLevel: Settings → Private Integrations), then `allybridge check`".to_string(),
            None,
        ),
    };
    let scope_list = scopes.iter().copied().collect::<Vec<_>>().join(", ");
    report.notes.push(format!(
        "switching {} from observe to write needs the HighLevel write scopes {scope_list}, which observing does not ask for: {how}",
        flows.join(", ")
    ));
    json!({"flows": flows, "scopes": scopes, "consent": link})
}

/// One system's live events in the report: a problem when the
/// configuration cannot work as meant, else a note.
fn say_live_events(live: &webhooks::LiveEvents, report: &mut Report) {
    if live.problem {
        report.problems.push(live.says.clone());
    } else {
        report.notes.push(live.says.clone());
    }
}

/// Both catalogs as `check` reads them.
#[derive(Default)]
struct Catalogs {
    products: Vec<ghl::types::Product>,
    /// Prices per HighLevel product id.
    prices: BTreeMap<String, Vec<ghl::types::Price>>,
    offerings: Vec<accessally::Offering>,
    /// HighLevel coupons (read only when the coupon flow is on).
    coupons: Vec<ghl::types::Coupon>,
}

async fn read_catalogs(
    tenant: &TenantConfig,
    ghl: &GhlClient,
    aa: &accessally::AccessAllyClient,
) -> anyhow::Result<Catalogs> {
    let products: Vec<ghl::types::Product> = ghl.products(Priority::Backfill).try_collect().await?;
    let mut prices = BTreeMap::new();
    for p in &products {
        let list: Vec<ghl::types::Price> =
            ghl.prices(&p.id, Priority::Backfill).try_collect().await?;
        prices.insert(p.id.clone(), list);
    }
    let offerings = aa
        .offerings(accessally::ListQuery::default())
        .try_collect()
        .await?;
    let coupons = if tenant.flows.coupons_to_accessally != FlowMode::Off {
        ghl.coupons(Priority::Backfill).try_collect().await?
    } else {
        Vec::new()
    };
    Ok(Catalogs {
        products,
        prices,
        offerings,
        coupons,
    })
}

/// Validates the mapping against both catalogs, the way the engine applies
/// it: one problem per mismatch that stops records from syncing, one note
/// per effect of an option worth knowing.
fn check_mapping(
    tenant: &TenantConfig,
    settings: &TenantSettings,
    c: &Catalogs,
    report: &mut Report,
) -> Value {
    let mapping = &tenant.mapping;
    let skus_of = |p: &ghl::types::Product| -> Vec<&str> {
        c.prices
            .get(&p.id)
            .into_iter()
            .flatten()
            .filter_map(|x| x.sku.as_deref())
            .collect()
    };
    let included = |p: &ghl::types::Product| settings.includes_skus(skus_of(p));
    let offering_included = |o: &accessally::Offering| {
        settings.includes_skus(o.payment_options.iter().filter_map(|x| x.sku.as_deref()))
    };
    let products: Vec<&ghl::types::Product> = c.products.iter().filter(|p| included(p)).collect();
    let offerings: Vec<&accessally::Offering> = c
        .offerings
        .iter()
        .filter(|o| offering_included(o))
        .collect();
    if !settings.sku_prefixes.is_empty() {
        report.notes.push(format!(
            "sku_prefixes ({}): {} of {} HighLevel products and {} of {} AccessAlly offerings sync; the others are skipped, never deleted on the other side",
            settings.sku_prefixes.join(", "),
            products.len(),
            c.products.len(),
            offerings.len(),
            c.offerings.len()
        ));
    }
    // SKU collisions: one SKU on several HighLevel products, one external_ref on several offerings.
    let mut by_sku: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in &products {
        for sku in skus_of(p).into_iter().filter(|s| !s.is_empty()) {
            by_sku.entry(sku).or_default().insert(p.name.as_str());
        }
    }
    for (sku, names) in &by_sku {
        if names.len() > 1 {
            report.problems.push(format!(
                "SKU collision: `{sku}` is used by several HighLevel products ({}); give each product its own SKU",
                names.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    let mut by_ref: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for o in &offerings {
        if let Some(r) = o.external_ref.as_deref().filter(|s| !s.is_empty()) {
            by_ref.entry(r).or_default().push(o.name.as_str());
        }
    }
    for (r, names) in &by_ref {
        if names.len() > 1 {
            report.problems.push(format!(
                "external_ref collision: `{r}` is on several AccessAlly offerings ({}); make them unique",
                names.join(", ")
            ));
        }
    }
    if settings.product_key == ProductKey::Name {
        let mut ghl_names: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &products {
            *ghl_names.entry(p.name.trim()).or_default() += 1;
        }
        let mut aa_names: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &offerings {
            *aa_names.entry(o.name.trim()).or_default() += 1;
        }
        for (side, names) in [
            ("HighLevel products", &ghl_names),
            ("AccessAlly offerings", &aa_names),
        ] {
            for (name, n) in names.iter().filter(|(_, n)| **n > 1) {
                report.problems.push(format!(
                    "product_key = \"name\" but {n} {side} are named `{name}`; rename them or use product_key = \"sku\""
                ));
            }
        }
        let shared = ghl_names
            .keys()
            .filter(|n| aa_names.contains_key(*n))
            .count();
        report.notes.push(format!(
            "product_key = \"name\": {shared} HighLevel product(s) share their name with an AccessAlly offering; each such pair not linked yet becomes one record kept in line (conflict_policy picks whose content wins where they differ)"
        ));
    }
    if !settings.product_fields.price {
        report.notes.push(
            "price = false: prices are neither compared nor written, not even on the records allybridge creates".into(),
        );
    }
    if !settings.product_fields.inventory {
        report
            .notes
            .push("inventory = false: availability is neither compared nor written".into());
    }
    // Coupons: codes, product restrictions and currencies.
    let mut by_code: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for coupon in &c.coupons {
        by_code
            .entry(coupon.code.to_lowercase())
            .or_default()
            .insert(coupon.code.as_str());
    }
    for codes in by_code.values().filter(|codes| codes.len() > 1) {
        report.problems.push(format!(
            "coupon codes {} differ only in case; AccessAlly matches codes ignoring case, so they would be one coupon there; rename all but one",
            codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if settings.coupon_code == CodeCase::Upper {
        let changed = c
            .coupons
            .iter()
            .filter(|x| CodeCase::Upper.apply(&x.code) != x.code)
            .count();
        report.notes.push(format!(
            "coupon_code = \"upper\": {changed} HighLevel coupon code(s) are written to AccessAlly in upper case"
        ));
    }
    let product_by_id: BTreeMap<&str, &ghl::types::Product> =
        c.products.iter().map(|p| (p.id.as_str(), p)).collect();
    // Whether the engine will find the product's offering: the references
    // allybridge writes on what it creates, or the name under product_key = "name".
    let has_offering = |p: &ghl::types::Product| {
        let reference = products::external_ref_for_product(&p.id);
        let made_for = p.slug.as_deref().and_then(products::offering_of_slug);
        c.offerings.iter().any(|o| {
            o.external_ref.as_deref() == Some(reference.as_str())
                || made_for == Some(o.id)
                || (settings.product_key == ProductKey::Name
                    && products::same_name(&o.name, &p.name))
        })
    };
    for coupon in &c.coupons {
        let mut excluded = 0;
        for pid in &coupon.product_ids {
            match product_by_id.get(pid.as_str()) {
                None => report.problems.push(format!(
                    "coupon {} is restricted to product {pid}, which does not exist in HighLevel; fix the coupon's products",
                    coupon.code
                )),
                Some(p) if !included(p) => excluded += 1,
                Some(p)
                    if tenant.flows.products_to_accessally == FlowMode::Off && !has_offering(p) =>
                {
                    report.problems.push(format!(
                        "coupon {} is restricted to product `{}`, which has no AccessAlly offering, and products_to_accessally is off; turn the flow on or link the offering",
                        coupon.code, p.name
                    ))
                }
                Some(_) => {}
            }
        }
        if excluded > 0 {
            report.notes.push(if excluded == coupon.product_ids.len() {
                format!(
                    "coupon {} is restricted only to products sku_prefixes excludes: it is skipped (in AccessAlly it would apply to every offering)",
                    coupon.code
                )
            } else {
                format!(
                    "coupon {} applies in AccessAlly only to the offerings of its products sku_prefixes lets sync ({excluded} of its products are excluded)",
                    coupon.code
                )
            });
        }
        if coupon.discount_type == ghl::types::DiscountType::Amount {
            let restricted: Vec<&ghl::types::Product> = if coupon.product_ids.is_empty() {
                products.clone()
            } else {
                coupon
                    .product_ids
                    .iter()
                    .filter_map(|id| product_by_id.get(id.as_str()).copied())
                    .filter(|p| included(p))
                    .collect()
            };
            for p in restricted {
                for x in c.prices.get(&p.id).into_iter().flatten() {
                    if !x.currency.eq_ignore_ascii_case(&mapping.coupon_currency) {
                        report.problems.push(format!(
                            "coupon {} takes a fixed amount in {} ([tenant.mapping] coupon_currency) but product `{}` is priced in {}; change coupon_currency or the coupon's products",
                            coupon.code, mapping.coupon_currency, p.name, x.currency
                        ));
                    }
                }
            }
        }
    }
    json!({
        "highlevel_products": c.products.len(),
        "highlevel_coupons": c.coupons.len(),
        "accessally_offerings": c.offerings.len(),
        "synced_products": products.len(),
        "synced_offerings": offerings.len(),
    })
}

/// How access is granted, and whether it can be: `aal_genpass` needs the handshake.
fn check_grant(tenant: &TenantConfig, has_handshake: bool, report: &mut Report) {
    if tenant.orders.grant_via != config::GrantVia::AalGenpass
        || tenant.flows.orders_to_accessally == FlowMode::Off
    {
        return;
    }
    if has_handshake {
        report.notes.push(
            "grant_via = \"aal_genpass\": a paid HighLevel order sends aal_genpass for the buyer's contact in the site's CRM, taken from the buyer's orders at the site; access comes from the tags the CRM holds, and a buyer with no site order is dead-lettered".into(),
        );
    } else {
        report.problems.push(format!(
            "grant_via = \"aal_genpass\" but tenant `{}` has no aal_* handshake; set [tenant.accessally] handshake or run `allybridge connect accessally --handshake-env VAR`, or use grant_via = \"bridge\"",
            tenant.name
        ));
    }
}

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = context::load_config(&args.config.config)?;
    let store = daemon::open_store(&config).await?;
    let tuning = probe::tuning();
    let switches = context::mode_file(&args.config).load()?;
    let mut tenants = Vec::new();
    let mut any_problem = false;
    for t in daemon::tenants::selected(&config, args.tenant.as_deref())? {
        let mut report = Report::default();
        // The modes the flows run in, admin page switches included.
        let modes = daemon::tenants::effective_modes(&switches, t);
        let mut out = json!({"tenant": t.name});
        let ghl = match daemon::tenants::ghl_parts(
            &config,
            &store,
            t,
            &tuning,
            &daemon::TenantLoad::default(),
        )
        .await
        {
            Ok(daemon::tenants::GhlParts {
                client, granted, ..
            }) => {
                out["highlevel"] =
                    check_highlevel(&client, granted.as_ref(), &modes, &mut report).await;
                let usable = out["highlevel"]["authenticated"] == true;
                usable.then_some(client)
            }
            Err(e) => {
                report.problems.push(format!("HighLevel: {e}"));
                None
            }
        };
        out["highlevel"]["write_needs"] = check_write_consent(
            &config,
            t,
            &modes,
            out["highlevel"]["scopes"]["granted"].as_array(),
            &mut report,
        );
        let live = webhooks::highlevel(&config, &modes);
        say_live_events(&live, &mut report);
        if out["highlevel"].is_object() {
            out["highlevel"]["live_events"] = live.json;
            out["highlevel"]["live_events"]["says"] = json!(live.says);
        }
        let secret = WebhookSecret {
            configured: t.accessally.webhook_secret.is_some(),
            stored: store
                .credential(
                    &daemon::credentials::connection_id(&t.name, store::System::AccessAlly),
                    store::CredentialKind::WebhookSecret,
                )
                .await
                .map(|c| c.is_some())
                .unwrap_or(false),
        };
        let aa = match daemon::tenants::accessally_client(&config, &store, t, &tuning).await {
            Ok(client) => {
                let (value, ok) =
                    check_accessally(&client, &config, t, &modes, secret, &mut report).await;
                out["accessally"] = value;
                ok.then_some(client)
            }
            Err(e) => {
                report.problems.push(format!("AccessAlly: {e:#}"));
                None
            }
        };
        match daemon::credentials::handshake(&config, &store, t).await {
            Ok(h) => check_grant(t, h.is_some(), &mut report),
            Err(e) => report
                .problems
                .push(format!("could not read the aal_* handshake: {e:#}")),
        }
        if let (Some(g), Some(a)) = (&ghl, &aa) {
            let settings = daemon::tenants::settings(t)?;
            match read_catalogs(t, g, a).await {
                Ok(catalogs) => {
                    out["catalogs"] = check_mapping(t, &settings, &catalogs, &mut report)
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = crate::cli::context::TEST_TENANT;

    fn tenant(extra: &str) -> TenantConfig {
        let text = format!("{TENANT}{extra}");
        let config = Config::from_str(&text).expect("a valid test configuration");
        config.tenants[0].clone()
    }

    fn product(id: &str, name: &str) -> ghl::types::Product {
        serde_json::from_value(json!({"_id": id, "locationId": "loc1", "name": name,
                                      "productType": "DIGITAL"}))
        .expect("a product")
    }

    fn price(product: &str, sku: &str) -> ghl::types::Price {
        serde_json::from_value(
            json!({"_id": format!("{product}-{sku}"), "product": product,
                                      "name": "Once", "type": "one_time", "currency": "USD",
                                      "amount": 10, "sku": sku}),
        )
        .expect("a price")
    }

    fn coupon(code: &str, products: &[&str]) -> ghl::types::Coupon {
        serde_json::from_value(json!({"_id": code, "name": code, "code": code,
                                      "discountType": "percentage", "discountValue": 10,
                                      "startDate": "2024-01-01T00:00:00Z",
                                      "productIds": products}))
        .expect("a coupon")
    }

    fn offering(id: u64, name: &str, sku: &str) -> accessally::Offering {
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        accessally::Offering {
            id,
            name: name.into(),
            description: String::new(),
            status: accessally::OfferingStatus::Publish,
            payment_options: vec![accessally::PaymentOption {
                id: id * 10,
                kind: accessally::PaymentKind::OneTime,
                price: model::Money::new(1000, model::Currency::USD),
                sku: Some(sku.into()),
                trial_days: 0,
            }],
            availability: accessally::Availability::Unlimited,
            order_form_ids: vec![],
            access_tags: vec![],
            external_ref: None,
            created: at,
            modified: at,
        }
    }

    fn catalogs() -> Catalogs {
        let products = vec![
            product("p1", "Watercolour"),
            product("p2", "Brush Set"),
            product("p3", "Sketching"),
        ];
        let mut prices = BTreeMap::new();
        prices.insert("p1".into(), vec![price("p1", "COURSE-1")]);
        prices.insert("p2".into(), vec![price("p2", "GOODS-1")]);
        prices.insert("p3".into(), vec![price("p3", "COURSE-3")]);
        Catalogs {
            products,
            prices,
            offerings: vec![
                offering(1, "Watercolour", "COURSE-1"),
                offering(2, "Kit", "GOODS-9"),
            ],
            coupons: vec![
                coupon("launch20", &["p1"]),
                coupon("KITONLY", &["p2"]),
                coupon("MIXED", &["p1", "p2"]),
            ],
        }
    }

    fn run(t: &TenantConfig, c: &Catalogs) -> (Report, Value) {
        let settings = daemon::tenants::settings(t).expect("settings");
        let mut report = Report::default();
        let value = check_mapping(t, &settings, c, &mut report);
        (report, value)
    }

    #[test]
    fn defaults_find_nothing_to_say_about_a_clean_catalog() {
        let (report, value) = run(&tenant(""), &catalogs());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert_eq!(value["synced_products"], 3);
        assert_eq!(value["synced_offerings"], 2);
    }

    #[test]
    fn sku_prefixes_are_counted_and_coupons_on_excluded_products_explained() {
        let t = tenant("[tenant.mapping]\nsku_prefixes = [\"COURSE-\"]\n");
        let (report, value) = run(&t, &catalogs());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(value["synced_products"], 2);
        assert_eq!(value["synced_offerings"], 1);
        let notes = report.notes.join("\n");
        assert!(
            notes.contains("2 of 3 HighLevel products and 1 of 2 AccessAlly offerings"),
            "{notes}"
        );
        assert!(
            notes.contains(
                "coupon KITONLY is restricted only to products sku_prefixes excludes: it is skipped"
            ),
            "{notes}"
        );
        assert!(
            notes.contains("coupon MIXED applies in AccessAlly only to the offerings"),
            "{notes}"
        );
        assert!(!notes.contains("launch20"), "{notes}");
    }

    #[test]
    fn names_and_codes_are_checked_the_way_the_engine_matches_them() {
        let mut c = catalogs();
        c.offerings.push(offering(3, "Watercolour", "COURSE-7"));
        c.coupons.push(coupon("LAUNCH20", &[]));
        let t = tenant("[tenant.mapping]\nproduct_key = \"name\"\ncoupon_code = \"upper\"\n");
        let (report, _) = run(&t, &c);
        let problems = report.problems.join("\n");
        assert!(
            problems.contains("2 AccessAlly offerings are named `Watercolour`"),
            "{problems}"
        );
        assert!(
            problems.contains("`LAUNCH20`, `launch20` differ only in case"),
            "{problems}"
        );
        let notes = report.notes.join("\n");
        assert!(
            notes.contains("1 HighLevel product(s) share their name"),
            "{notes}"
        );
        assert!(
            notes.contains("1 HighLevel coupon code(s) are written to AccessAlly in upper case"),
            "{notes}"
        );
    }

    #[test]
    fn a_coupon_product_without_offering_is_a_problem_only_when_nothing_will_create_it() {
        let off = "[tenant.flows]\nproducts_to_accessally = \"off\"\n";
        let (report, _) = run(&tenant(off), &catalogs());
        let problems = report.problems.join("\n");
        assert!(
            problems.contains("coupon launch20 is restricted to product `Watercolour`"),
            "{problems}"
        );
        // By name, the existing offering is the product's counterpart.
        let by_name = format!("{off}[tenant.mapping]\nproduct_key = \"name\"\n");
        let (report, _) = run(&tenant(&by_name), &catalogs());
        assert!(
            !report.problems.join("\n").contains("launch20"),
            "{:?}",
            report.problems
        );
        // So is the offering allybridge created for it.
        let mut c = catalogs();
        c.offerings[1].external_ref = Some(products::external_ref_for_product("p1"));
        let (report, _) = run(&tenant(off), &c);
        assert!(
            !report.problems.join("\n").contains("launch20"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn price_and_inventory_left_alone_are_said_so() {
        let t = tenant("[tenant.mapping]\nprice = false\ninventory = false\n");
        let (report, _) = run(&t, &catalogs());
        let notes = report.notes.join("\n");
        assert!(
            notes.contains("price = false: prices are neither compared nor written"),
            "{notes}"
        );
        assert!(
            notes.contains("inventory = false: availability is neither compared nor written"),
            "{notes}"
        );
    }

    #[test]
    fn observing_flows_that_write_to_highlevel_are_told_what_write_needs() {
        let observe = "[tenant.flows]\ncoupons_to_accessally = \"observe\"\nproducts_to_highlevel = \"observe\"\norders_to_highlevel = \"write\"\n";
        // A private token: the scopes go on the token.
        let t = tenant(observe);
        let config = Config::from_str(&format!("{TENANT}{observe}")).expect("config");
        let modes = t.flows.modes();
        let mut report = Report::default();
        let value = check_write_consent(&config, &t, &modes, None, &mut report);
        assert_eq!(value["flows"], json!(["products_to_highlevel"]), "{value}");
        assert!(
            value["scopes"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("products.write")))
        );
        let note = report.notes.join("\n");
        assert!(note.contains("Private Integrations"), "{note}");
        // OAuth: a new consent, with the admin page's address.
        let oauth = TENANT.replace(
            "auth = \"private_token\"",
            "auth = \"oauth\"\nclient_id = \"app\"\nclient_secret = { env = \"ABT_UNIT_SECRET\" }",
        );
        let config = Config::from_str(&format!(
            "[server]\npublic_url = \"https://sync.example.com/\"\n{oauth}{observe}"
        ))
        .expect("config");
        let t = &config.tenants[0];
        let mut report = Report::default();
        check_write_consent(&config, t, &modes, None, &mut report);
        let note = report.notes.join("\n");
        assert!(
            note.contains("new HighLevel consent")
                && note.contains("https://sync.example.com/admin")
                && note.contains("allybridge connect ghl --tenant main --oauth"),
            "{note}"
        );
        // Granted already: nothing to say.
        let granted: Vec<Value> = ghl::scopes_to_write(Flow::ProductsToHighlevel)
            .into_iter()
            .map(|s| json!(s))
            .collect();
        let mut report = Report::default();
        let value = check_write_consent(&config, t, &modes, Some(&granted), &mut report);
        assert!(value.is_null() && report.notes.is_empty(), "{value}");
    }

    #[test]
    fn aal_genpass_needs_the_handshake() {
        let genpass = "[tenant.orders]\ngrant_via = \"aal_genpass\"\n";
        let mut report = Report::default();
        check_grant(&tenant(genpass), false, &mut report);
        assert!(
            report.problems.join("\n").contains("no aal_* handshake"),
            "{:?}",
            report.problems
        );
        let mut report = Report::default();
        check_grant(&tenant(genpass), true, &mut report);
        assert!(report.problems.is_empty());
        assert!(
            report
                .notes
                .join("\n")
                .contains("aal_genpass for the buyer's contact")
        );
        let off = format!("{genpass}[tenant.flows]\norders_to_accessally = \"off\"\n");
        let mut report = Report::default();
        check_grant(&tenant(&off), false, &mut report);
        assert!(report.problems.is_empty() && report.notes.is_empty());
        let mut report = Report::default();
        check_grant(&tenant(""), false, &mut report);
        assert!(report.problems.is_empty() && report.notes.is_empty());
    }
}
