//! One engine tenant from its `[[tenant]]` configuration and the
//! credentials in the store: the HighLevel client (private token or the
//! OAuth app's token manager, its rate budget, its granted scopes), the
//! AccessAlly client, each flow's mode (the configured one, or the one
//! switched on the admin page), and the engine's settings from
//! `[tenant.products]`, `[tenant.orders]` and `[tenant.mapping]`. `serve`,
//! every verb that syncs, `demo` and the tests build their tenants here;
//! nothing here starts anything in the background.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use config::{Config, GhlAuth, TenantConfig};
use engine::{Tenant, TenantSettings};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use store::{CredentialKind, Store, System};

use crate::DaemonError;
use crate::credentials::{StoreTokenStore, connection_id, handshake, secret_from};

/// How the clients are tuned: the daemon's defaults, shorter timeouts and
/// retries in tests, the simulator's limits in the sandbox.
#[derive(Debug, Clone)]
pub struct ClientTuning {
    pub request_timeout: Duration,
    pub retry: transport::RetryPolicy,
    /// Who hears about each call (metrics, the daemon's API activity log).
    pub observer: transport::Observer,
    /// The HighLevel location's rate budget (HighLevel's published limits
    /// by default).
    pub budget: ghl::BudgetConfig,
}

impl Default for ClientTuning {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            retry: transport::RetryPolicy::default(),
            observer: transport::Observer::default(),
            budget: ghl::BudgetConfig::default(),
        }
    }
}

/// How tenants are built beyond their configuration.
#[derive(Debug, Clone, Default)]
pub struct TenantLoad {
    /// Build an OAuth tenant that has no stored token pair instead of
    /// refusing: its HighLevel calls fail with "not connected" until a
    /// token pair is stored (the daemon's OAuth callback does that through
    /// the same token manager). Only the daemon asks for this.
    pub allow_unconnected: bool,
    /// The OAuth redirect URI; [`default_redirect_uri`] when `None`.
    pub redirect_uri: Option<String>,
    /// Flow modes switched on the admin page (the modes file next to the
    /// configuration); each applies while the configuration still says the
    /// mode it overrode.
    pub switches: config::modes::Switches,
    /// Write every call the clients make to the API activity log (the
    /// admin page shows it). Only the daemon asks for this.
    pub log_calls: bool,
}

/// The tenants named on the command line (all when `only` is `None`).
pub fn selected<'a>(
    config: &'a Config,
    only: Option<&str>,
) -> Result<Vec<&'a TenantConfig>, DaemonError> {
    match only {
        None => Ok(config.tenants.iter().collect()),
        Some(name) => match config.tenant(name) {
            Some(t) => Ok(vec![t]),
            None => Err(DaemonError::UnknownTenant {
                name: name.to_string(),
                known: config
                    .tenants
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        },
    }
}

/// The OAuth app of a tenant (auth = "oauth").
pub fn oauth_app(
    config: &Config,
    tenant: &TenantConfig,
    redirect_uri: String,
) -> Result<ghl::OAuthApp, DaemonError> {
    let client_id = tenant.ghl.client_id.clone().ok_or_else(|| {
        DaemonError::Tenant(format!(
            "tenant `{}` uses OAuth but [tenant.ghl] client_id is not set; set it to the marketplace app's client id",
            tenant.name
        ))
    })?;
    let secret_ref = tenant.ghl.client_secret.as_ref().ok_or_else(|| {
        DaemonError::Tenant(format!(
            "tenant `{}` uses OAuth but [tenant.ghl] client_secret is not set; set it to a reference such as {{ env = \"ALLYBRIDGE_GHL_CLIENT_SECRET\" }}",
            tenant.name
        ))
    })?;
    let client_secret = config
        .secret(secret_ref)
        .map_err(DaemonError::secret(format!(
            "tenant `{}`: [tenant.ghl] client_secret",
            tenant.name
        )))?;
    Ok(ghl::OAuthApp {
        client_id,
        client_secret,
        redirect_uri,
        marketplace_url: tenant
            .ghl
            .marketplace_url
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        api_url: tenant
            .ghl
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_string(),
    })
}

/// The redirect URI of the OAuth app: the daemon's public callback.
pub fn default_redirect_uri(config: &Config) -> String {
    redirect_uri(config, config.server.listen)
}

/// The daemon's callback: `{public_url}/oauth/callback`, else on the
/// address it listens on (an unspecified IP is reached as 127.0.0.1).
pub fn redirect_uri(config: &Config, listen: std::net::SocketAddr) -> String {
    format!("{}/oauth/callback", daemon_url(config, listen))
}

/// Where the daemon is reached: `{public_url}`, else the address it
/// listens on (an unspecified IP is reached as 127.0.0.1).
pub fn daemon_url(config: &Config, listen: std::net::SocketAddr) -> String {
    match &config.server.public_url {
        Some(u) => u.as_str().trim_end_matches('/').to_string(),
        None => {
            let mut at = listen;
            if at.ip().is_unspecified() {
                at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{at}")
        }
    }
}

/// The token manager of a tenant's OAuth app: token pairs kept encrypted in
/// the store under the tenant's HighLevel connection. `connect ghl --oauth`,
/// the clients and the daemon's OAuth callback all use this one.
pub fn oauth_manager(
    store: &Store,
    tenant: &TenantConfig,
    app: ghl::OAuthApp,
    request_timeout: Duration,
) -> Result<Arc<ghl::TokenManager>, DaemonError> {
    let connection = connection_id(&tenant.name, System::HighLevel);
    let token_store = Arc::new(StoreTokenStore::new(
        store.clone(),
        vec![(tenant.ghl.location_id.clone(), connection)],
    ));
    let http = transport::build_client(&transport::HttpConfig {
        request_timeout,
        ..transport::HttpConfig::default()
    })
    .map_err(DaemonError::Http)?;
    Ok(Arc::new(ghl::TokenManager::new(app, http, token_store)))
}

/// A tenant's HighLevel client with the pieces it shares: its auth and
/// rate budget (for ad-hoc calls that must draw on the same budget).
pub struct GhlParts {
    pub client: ghl::GhlClient,
    pub granted: Option<BTreeSet<String>>,
    pub auth: ghl::Auth,
    pub budget: ghl::RateBudget,
    /// False for an OAuth tenant whose consent was never completed (only
    /// with [`TenantLoad::allow_unconnected`]).
    pub connected: bool,
}

/// The HighLevel client settings of a tenant, tuned.
fn ghl_config(tenant: &TenantConfig, tuning: &ClientTuning) -> ghl::GhlConfig {
    let mut ghl_config = ghl::GhlConfig::new(
        tenant.ghl.base_url.as_str().trim_end_matches('/'),
        tenant.ghl.location_id.clone(),
    );
    ghl_config.http.request_timeout = tuning.request_timeout;
    ghl_config.http.observer = tuning.observer.clone();
    ghl_config.retry = tuning.retry;
    ghl_config
}

/// A HighLevel client with an explicit private integration token (used by
/// `connect` to try a token before storing it).
pub fn ghl_client_with_token(
    tenant: &TenantConfig,
    token: SecretString,
    tuning: &ClientTuning,
) -> Result<ghl::GhlClient, DaemonError> {
    ghl::GhlClient::new(
        ghl_config(tenant, tuning),
        ghl::Auth::PrivateToken(token),
        ghl::RateBudget::new(tuning.budget),
    )
    .map_err(DaemonError::GhlClient)
}

/// Each flow of `tenant` in the mode it runs in: the configured one, or the
/// one switched on the admin page while the configuration still says what
/// it overrode.
pub fn effective_modes(
    switches: &config::modes::Switches,
    tenant: &TenantConfig,
) -> Vec<(Flow, FlowMode)> {
    tenant
        .flows
        .modes()
        .into_iter()
        .map(|(flow, configured)| {
            (
                flow,
                config::modes::effective(switches, &tenant.name, flow, configured),
            )
        })
        .collect()
}

/// A tenant's HighLevel client and its shared parts, built as `load` says.
pub async fn ghl_parts(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
    load: &TenantLoad,
) -> Result<GhlParts, DaemonError> {
    let mut ghl_config = ghl_config(tenant, tuning);
    let connection = connection_id(&tenant.name, System::HighLevel);
    let mut connected = true;
    let (auth, granted) = match tenant.ghl.auth {
        GhlAuth::PrivateToken => {
            let token = secret_from(
                config,
                store,
                &connection,
                CredentialKind::HighLevelPrivateToken,
                tenant.ghl.private_token.as_ref(),
                "the HighLevel private integration token",
            )
            .await?
            .ok_or_else(|| {
                DaemonError::Tenant(format!(
                    "tenant `{}` has no HighLevel private integration token; run `allybridge connect ghl --tenant {} --token` or set [tenant.ghl] private_token",
                    tenant.name, tenant.name
                ))
            })?;
            (ghl::Auth::PrivateToken(token), None)
        }
        GhlAuth::Oauth => {
            let stored = store
                .credential(&connection, CredentialKind::HighLevelOAuth)
                .await
                .map_err(DaemonError::store("read the stored HighLevel OAuth tokens"))?;
            if stored.is_none() && !load.allow_unconnected {
                return Err(DaemonError::Tenant(format!(
                    "tenant `{}` is not connected to HighLevel; run `allybridge connect ghl --tenant {} --oauth`, or start `allybridge serve` and connect it from the admin page",
                    tenant.name, tenant.name
                )));
            }
            connected = stored.is_some();
            let granted: BTreeSet<String> = stored
                .map(|s| s.scopes.into_iter().collect())
                .unwrap_or_default();
            let redirect = load
                .redirect_uri
                .clone()
                .unwrap_or_else(|| default_redirect_uri(config));
            let app = oauth_app(config, tenant, redirect)?;
            let manager = oauth_manager(store, tenant, app, tuning.request_timeout)?;
            (
                ghl::Auth::OAuth {
                    manager,
                    key: tenant.ghl.location_id.clone(),
                },
                (!granted.is_empty()).then_some(granted),
            )
        }
    };
    ghl_config.granted_scopes = granted.clone();
    let budget = ghl::RateBudget::new(tuning.budget);
    let client = ghl::GhlClient::new(ghl_config, auth.clone(), budget.clone())
        .map_err(DaemonError::GhlClient)?;
    Ok(GhlParts {
        client,
        granted,
        auth,
        budget,
        connected,
    })
}

/// The AccessAlly client of one tenant, with the stored application
/// password and handshake (else the configuration's references).
pub async fn accessally_client(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
) -> Result<accessally::AccessAllyClient, DaemonError> {
    let password = secret_from(
        config,
        store,
        &connection_id(&tenant.name, System::AccessAlly),
        CredentialKind::AccessAllyAppPassword,
        tenant.accessally.app_password.as_ref(),
        "the AccessAlly application password",
    )
    .await?
    .ok_or_else(|| {
        DaemonError::Tenant(format!(
            "tenant `{}` has no AccessAlly application password; run `allybridge connect accessally --tenant {}` or set [tenant.accessally] app_password",
            tenant.name, tenant.name
        ))
    })?;
    let handshake = handshake(config, store, tenant).await?;
    accessally_client_with(tenant, password, handshake, tuning)
}

/// An AccessAlly client with explicit credentials (used by `connect` before storing them).
pub fn accessally_client_with(
    tenant: &TenantConfig,
    app_password: SecretString,
    handshake: Option<SecretString>,
    tuning: &ClientTuning,
) -> Result<accessally::AccessAllyClient, DaemonError> {
    accessally::AccessAllyClient::new(accessally::AccessAllyConfig {
        site_url: tenant.accessally.site_url.clone(),
        user: tenant.accessally.user.clone(),
        app_password,
        handshake,
        http: transport::HttpConfig {
            request_timeout: tuning.request_timeout,
            observer: tuning.observer.clone(),
            ..transport::HttpConfig::default()
        },
        retry: tuning.retry,
    })
    .map_err(DaemonError::AccessAllyClient)
}

/// The engine's settings from `[tenant.products]`, `[tenant.orders]`, `[tenant.mapping]`.
pub fn settings(tenant: &TenantConfig) -> Result<TenantSettings, DaemonError> {
    use engine::tenant::{CodeCase, GrantVia, ProductFields, ProductKey};
    let conflict_policy = match tenant.products.conflict_policy {
        config::ConflictPolicy::GhlWins => engine::ConflictPolicy::GhlWins,
        config::ConflictPolicy::AccessallyWins => engine::ConflictPolicy::AccessallyWins,
        config::ConflictPolicy::NewestWins => engine::ConflictPolicy::NewestWins,
    };
    let delete_policy = match tenant.products.delete_policy {
        config::DeletePolicy::Archive => engine::tenant::DeletePolicy::Archive,
        config::DeletePolicy::Delete => engine::tenant::DeletePolicy::Delete,
        config::DeletePolicy::Ignore => engine::tenant::DeletePolicy::Ignore,
    };
    let payment_mode = match tenant.orders.payment_mode {
        config::PaymentMode::Cash => "cash",
        config::PaymentMode::Card => "card",
        config::PaymentMode::Cheque => "cheque",
        config::PaymentMode::BankTransfer => "bank_transfer",
        config::PaymentMode::Other => "other",
    };
    let grant_via = match tenant.orders.grant_via {
        config::GrantVia::Bridge => GrantVia::Bridge,
        config::GrantVia::AalGenpass => GrantVia::AalGenpass,
    };
    let mapping = &tenant.mapping;
    let coupon_currency = mapping.coupon_currency.parse().map_err(|e| {
        DaemonError::Tenant(format!(
            "tenant `{}`: [tenant.mapping] coupon_currency must be an ISO 4217 code such as \"USD\" ({e})",
            tenant.name
        ))
    })?;
    let coupon_code = match mapping.coupon_code {
        config::CodeCase::Preserve => CodeCase::Preserve,
        config::CodeCase::Upper => CodeCase::Upper,
    };
    let product_key = match mapping.product_key {
        config::ProductKey::Sku => ProductKey::Sku,
        config::ProductKey::Name => ProductKey::Name,
    };
    Ok(TenantSettings {
        conflict_policy,
        delete_policy,
        order_tags: tenant.orders.tags.clone(),
        refund_tag: tenant.orders.refund_tag.clone(),
        order_note: tenant.orders.note,
        payment_mode: payment_mode.to_string(),
        coupon_currency,
        coupon_code,
        product_key,
        sku_prefixes: mapping.sku_prefixes.clone(),
        product_fields: ProductFields {
            price: mapping.price,
            inventory: mapping.inventory,
        },
        completed_statuses: mapping.completed_order_statuses.clone(),
        refunded_statuses: mapping.refunded_order_statuses.clone(),
        paid_payment_statuses: mapping.paid_payment_statuses.clone(),
        grant_via,
        business_name: tenant.orders.business_name.clone(),
        mode_overrides: engine::ModeOverrides::default(),
    })
}

/// What the daemon keeps of a tenant's HighLevel client: its auth (the
/// OAuth token manager the callback must use), its rate budget, and
/// whether it had credentials when it was built.
#[derive(Clone)]
pub struct TenantGhl {
    pub tenant: String,
    pub location_id: String,
    pub auth: ghl::Auth,
    pub budget: ghl::RateBudget,
    pub connected: bool,
}

/// One engine tenant from its configuration and stored credentials, with
/// its HighLevel client's shared parts.
pub async fn build_tenant(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
    load: &TenantLoad,
) -> Result<(Tenant, TenantGhl), DaemonError> {
    let parts = ghl_parts(config, store, tenant, tuning, load).await?;
    let accessally = accessally_client(config, store, tenant, tuning).await?;
    let kept = TenantGhl {
        tenant: tenant.name.clone(),
        location_id: tenant.ghl.location_id.clone(),
        auth: parts.auth,
        budget: parts.budget,
        connected: parts.connected,
    };
    let modes = effective_modes(&load.switches, tenant)
        .into_iter()
        .inspect(|(flow, mode)| {
            let configured = tenant.flows.mode(*flow);
            if *mode != configured {
                tracing::info!(tenant = %tenant.name, flow = flow.as_str(), ?mode, ?configured, "flow mode switched on the admin page applies");
            }
        })
        .collect();
    Ok((
        Tenant {
            name: tenant.name.clone(),
            ghl: Arc::new(parts.client),
            accessally: Arc::new(accessally),
            modes,
            settings: settings(tenant)?,
        },
        kept,
    ))
}

#[cfg(test)]
mod tests {
    use engine::tenant::{CodeCase, GrantVia, ProductFields, ProductKey};

    use super::*;

    /// The smallest valid tenant.
    const TENANT: &str = r#"
[[tenant]]
name = "main"
[tenant.ghl]
location_id = "loc1"
auth = "private_token"
[tenant.accessally]
site_url = "https://courses.example.com"
user = "bridge"
"#;

    fn settings_of(extra: &str) -> TenantSettings {
        let config = Config::from_str(&format!("{TENANT}{extra}")).expect("a valid configuration");
        settings(&config.tenants[0]).expect("settings")
    }

    #[test]
    fn defaults_are_the_engine_defaults() {
        let from_config = settings_of("");
        let engine = TenantSettings::default();
        assert_eq!(from_config.coupon_code, engine.coupon_code);
        assert_eq!(from_config.product_key, engine.product_key);
        assert_eq!(from_config.sku_prefixes, engine.sku_prefixes);
        assert_eq!(from_config.product_fields, engine.product_fields);
        assert_eq!(from_config.completed_statuses, engine.completed_statuses);
        assert_eq!(from_config.refunded_statuses, engine.refunded_statuses);
        assert_eq!(
            from_config.paid_payment_statuses,
            engine.paid_payment_statuses
        );
        assert_eq!(from_config.grant_via, engine.grant_via);
        assert_eq!(from_config.coupon_currency, engine.coupon_currency);
    }

    #[test]
    fn every_mapping_option_reaches_the_engine() {
        let s = settings_of(
            r#"[tenant.orders]
grant_via = "aal_genpass"
[tenant.mapping]
coupon_code = "upper"
coupon_currency = "EUR"
product_key = "name"
sku_prefixes = ["COURSE-", "MEMBER-"]
price = false
inventory = false
completed_order_statuses = ["success"]
refunded_order_statuses = ["refunded"]
paid_payment_statuses = ["paid", "partially_paid"]
"#,
        );
        assert_eq!(s.coupon_code, CodeCase::Upper);
        assert_eq!(s.coupon_currency, model::Currency::EUR);
        assert_eq!(s.product_key, ProductKey::Name);
        assert_eq!(s.sku_prefixes, ["COURSE-", "MEMBER-"]);
        assert_eq!(
            s.product_fields,
            ProductFields {
                price: false,
                inventory: false
            }
        );
        assert_eq!(s.completed_statuses, ["success"]);
        assert_eq!(s.refunded_statuses, ["refunded"]);
        assert_eq!(s.paid_payment_statuses, ["paid", "partially_paid"]);
        assert_eq!(s.grant_via, GrantVia::AalGenpass);
    }
}
