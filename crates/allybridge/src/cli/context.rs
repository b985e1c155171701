//! What most verbs share: the `--config` flag, loading `allybridge.toml`,
//! opening the store with the master key, the store-backed HighLevel
//! token store, and building the engine's tenants (clients for both
//! systems with their credentials, flow modes and settings) from the
//! configuration. It reads credentials but never prints or logs them, and
//! it starts nothing that runs in the background.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use config::{Config, GhlAuth, TenantConfig};
use engine::{Engine, EngineOptions, Tenant, TenantSettings};
use ghl::auth::{BoxFuture, UserType};
use ghl::{GhlError, TokenPair, TokenStore};
use model::{Flow, FlowMode};
use secrecy::SecretString;
use store::{Credential, CredentialKind, Keyring, Store, System};

/// The configuration file flag shared by every verb that needs one.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file [default: allybridge.toml in this folder, else
    /// the package's /etc/allybridge/allybridge.toml when it exists].
    #[arg(
        long = "config",
        env = "ALLYBRIDGE_CONFIG",
        default_value_os_t = default_config_path(),
        hide_default_value = true,
        global = true
    )]
    pub config: PathBuf,
}

/// Where the Debian package installs the configuration.
const PACKAGED_CONFIG: &str = "/etc/allybridge/allybridge.toml";

/// `allybridge.toml` in the working folder; where there is none and the
/// package's configuration exists (a server), that one, so that commands
/// on a server need no `--config`.
fn default_config_path() -> PathBuf {
    let here = PathBuf::from("allybridge.toml");
    if !here.exists() && Path::new(PACKAGED_CONFIG).exists() {
        return PathBuf::from(PACKAGED_CONFIG);
    }
    here
}

/// Loads and validates the configuration file.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    if !path.exists() {
        bail!(
            "no configuration file at {}; run `allybridge init` to write one, or pass --config PATH",
            path.display()
        );
    }
    Config::load(path).with_context(|| format!("could not load {}", path.display()))
}

/// The connection id of a tenant's account on one system.
pub fn connection_id(tenant: &str, system: System) -> String {
    format!("{tenant}/{}", system.as_str())
}

/// The connection id under which a tenant's `aal_*` handshake is stored.
pub fn handshake_connection_id(tenant: &str) -> String {
    format!("{tenant}/accessally-handshake")
}

/// Stores one AccessAlly secret of tenant `t` (application password,
/// handshake, webhook secret) encrypted under `connection`, creating the
/// connection row for the site if needed.
pub async fn store_accessally_secret(
    store: &Store,
    connection: &str,
    t: &TenantConfig,
    kind: CredentialKind,
    secret: SecretString,
) -> Result<(), store::StoreError> {
    store
        .upsert_connection(
            connection,
            System::AccessAlly,
            t.accessally.site_url.as_str(),
            &t.name,
        )
        .await?;
    store
        .save_credential(
            connection,
            kind,
            &Credential {
                secret,
                refresh_secret: None,
                expires_at: None,
                scopes: Vec::new(),
            },
        )
        .await
}

/// The master key file of a configuration, relative to its folder.
pub fn key_file(config: &Config) -> PathBuf {
    config.path(&config.store.key_file)
}

/// The store URL, with a relative SQLite file read from the configuration's folder.
pub fn store_url(config: &Config) -> String {
    let url = &config.store.url;
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (file, query) = match rest.split_once('?') {
            Some((f, q)) => (f, Some(q)),
            None => (rest, None),
        };
        let path = Path::new(file);
        if !file.is_empty() && path.is_relative() && file != ":memory:" {
            let joined = config.path(path);
            return match query {
                Some(q) => format!("sqlite://{}?{q}", joined.display()),
                None => format!("sqlite://{}", joined.display()),
            };
        }
    }
    url.clone()
}

/// The keyring: `ALLYBRIDGE_MASTER_KEY` (and `ALLYBRIDGE_PREVIOUS_MASTER_KEYS`) or the key file.
pub fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    let path = key_file(config);
    if std::env::var_os(store::MASTER_KEY_ENV).is_none() && !path.exists() {
        let dir = if config.base_dir == Path::new(".") {
            String::new()
        } else {
            format!(" --dir {}", config.base_dir.display())
        };
        bail!(
            "no master key: {} does not exist and {} is not set; make one with `allybridge init --key-only{dir}` (credentials stored under another key stay unreadable: put that key there instead if you have it) or set {}",
            path.display(),
            store::MASTER_KEY_ENV,
            store::MASTER_KEY_ENV
        );
    }
    Keyring::from_env_or_file(&path)
        .with_context(|| format!("could not read the master key from {}", path.display()))
}

/// Opens the store named by the configuration with its master key.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let keyring = keyring(config)?;
    Store::open(&store_url(config), keyring)
        .await
        .context("could not open the store (check [store] url and that the master key is the one the store was created with)")
}

/// HighLevel OAuth token pairs kept encrypted in the store, as
/// `CredentialKind::HighLevelOAuth` of the tenant's HighLevel connection.
pub struct StoreTokenStore {
    store: Store,
    /// (location id, connection id).
    connections: Vec<(String, String)>,
}

impl StoreTokenStore {
    pub fn new(store: Store, connections: Vec<(String, String)>) -> Self {
        Self { store, connections }
    }

    fn connection_for(&self, key: &str) -> Result<&str, GhlError> {
        self.connections
            .iter()
            .find(|(location, _)| location == key)
            .map(|(_, id)| id.as_str())
            .ok_or_else(|| {
                GhlError::TokenStore(format!(
                    "location {key} is not the location_id of any tenant in the configuration"
                ))
            })
    }
}

impl TokenStore for StoreTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<TokenPair>, GhlError>> {
        Box::pin(async move {
            let id = self.connection_for(key)?;
            let credential = self
                .store
                .credential(id, CredentialKind::HighLevelOAuth)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))?;
            Ok(credential.map(|c| TokenPair {
                access_token: c.secret,
                refresh_token: c.refresh_secret,
                expires_at: c.expires_at,
                scopes: c.scopes.into_iter().collect(),
                user_type: UserType::Location,
                location_id: Some(key.to_string()),
                company_id: None,
                minted_from: None,
            }))
        })
    }

    fn save<'a>(&'a self, key: &'a str, pair: TokenPair) -> BoxFuture<'a, Result<(), GhlError>> {
        Box::pin(async move {
            let id = self.connection_for(key)?;
            self.store
                .upsert_connection(id, System::HighLevel, key, id)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))?;
            let credential = Credential {
                secret: pair.access_token,
                refresh_secret: pair.refresh_token,
                expires_at: pair.expires_at,
                scopes: pair.scopes.into_iter().collect(),
            };
            self.store
                .save_credential(id, CredentialKind::HighLevelOAuth, &credential)
                .await
                .map_err(|e| GhlError::TokenStore(e.to_string()))
        })
    }
}

/// The tenants named on the command line (all when `only` is `None`).
pub fn selected<'a>(
    config: &'a Config,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'a TenantConfig>> {
    match only {
        None => Ok(config.tenants.iter().collect()),
        Some(name) => match config.tenant(name) {
            Some(t) => Ok(vec![t]),
            None => {
                let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
                bail!(
                    "no tenant named `{name}` in the configuration; the tenants are: {}",
                    names.join(", ")
                )
            }
        },
    }
}

/// The OAuth app of a tenant (auth = "oauth").
pub fn oauth_app(
    config: &Config,
    tenant: &TenantConfig,
    redirect_uri: String,
) -> anyhow::Result<ghl::OAuthApp> {
    let client_id = tenant.ghl.client_id.clone().with_context(|| {
        format!(
            "tenant `{}` uses OAuth but [tenant.ghl] client_id is not set; set it to the marketplace app's client id",
            tenant.name
        )
    })?;
    let secret_ref = tenant.ghl.client_secret.as_ref().with_context(|| {
        format!(
            "tenant `{}` uses OAuth but [tenant.ghl] client_secret is not set; set it to a reference such as {{ env = \"ALLYBRIDGE_GHL_CLIENT_SECRET\" }}",
            tenant.name
        )
    })?;
    let client_secret = config
        .secret(secret_ref)
        .with_context(|| format!("tenant `{}`: [tenant.ghl] client_secret", tenant.name))?;
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

/// A secret from the store, else from the configuration's reference.
async fn secret_from(
    config: &Config,
    store: &Store,
    connection: &str,
    kind: CredentialKind,
    reference: Option<&config::SecretRef>,
    what: &str,
) -> anyhow::Result<Option<SecretString>> {
    if let Some(c) = store
        .credential(connection, kind)
        .await
        .with_context(|| format!("could not read the stored {what}"))?
    {
        return Ok(Some(c.secret));
    }
    match reference {
        Some(r) => Ok(Some(config.secret(r).with_context(|| what.to_string())?)),
        None => Ok(None),
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
) -> anyhow::Result<Arc<ghl::TokenManager>> {
    let connection = connection_id(&tenant.name, System::HighLevel);
    let token_store = Arc::new(StoreTokenStore::new(
        store.clone(),
        vec![(tenant.ghl.location_id.clone(), connection)],
    ));
    let http = transport::build_client(&transport::HttpConfig {
        request_timeout,
        ..transport::HttpConfig::default()
    })
    .context("could not build the HTTP client")?;
    Ok(Arc::new(ghl::TokenManager::new(app, http, token_store)))
}

/// How the clients are tuned (tests use shorter timeouts).
#[derive(Debug, Clone)]
pub struct ClientTuning {
    pub request_timeout: Duration,
    pub retry: transport::RetryPolicy,
    /// Who hears about each call (the daemon's API activity log).
    pub observer: transport::Observer,
}

impl Default for ClientTuning {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            retry: transport::RetryPolicy::default(),
            observer: transport::Observer::default(),
        }
    }
}

/// The HighLevel client of one tenant, with its granted scopes when known.
pub async fn ghl_client(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
) -> anyhow::Result<(ghl::GhlClient, Option<BTreeSet<String>>)> {
    let parts = ghl_parts(config, store, tenant, tuning).await?;
    Ok((parts.client, parts.granted))
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

/// The modes file of the configuration `args` names.
pub fn mode_file(args: &ConfigArgs) -> config::modes::ModeFile {
    config::modes::ModeFile::next_to(&args.config)
}

/// See [`GhlParts`].
pub async fn ghl_parts(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
) -> anyhow::Result<GhlParts> {
    ghl_parts_with(config, store, tenant, tuning, &TenantLoad::default()).await
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
) -> anyhow::Result<ghl::GhlClient> {
    ghl::GhlClient::new(
        ghl_config(tenant, tuning),
        ghl::Auth::PrivateToken(token),
        ghl::RateBudget::new(ghl::BudgetConfig::default()),
    )
    .context("could not build the HighLevel client")
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

/// [`ghl_parts`], built as `load` says.
pub async fn ghl_parts_with(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
    load: &TenantLoad,
) -> anyhow::Result<GhlParts> {
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
            .with_context(|| {
                format!(
                    "tenant `{}` has no HighLevel private integration token; run `allybridge connect ghl --tenant {} --token` or set [tenant.ghl] private_token",
                    tenant.name, tenant.name
                )
            })?;
            (ghl::Auth::PrivateToken(token), None)
        }
        GhlAuth::Oauth => {
            let stored = store
                .credential(&connection, CredentialKind::HighLevelOAuth)
                .await
                .context("could not read the stored HighLevel OAuth tokens")?;
            if stored.is_none() && !load.allow_unconnected {
                bail!(
                    "tenant `{}` is not connected to HighLevel; run `allybridge connect ghl --tenant {} --oauth`, or start `allybridge serve` and connect it from the admin page",
                    tenant.name,
                    tenant.name
                );
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
    let budget = ghl::RateBudget::new(ghl::BudgetConfig::default());
    let client = ghl::GhlClient::new(ghl_config, auth.clone(), budget.clone())
        .context("could not build the HighLevel client")?;
    Ok(GhlParts {
        client,
        granted,
        auth,
        budget,
        connected,
    })
}

/// The AccessAlly client of one tenant.
pub async fn accessally_client(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
) -> anyhow::Result<accessally::AccessAllyClient> {
    let password = secret_from(
        config,
        store,
        &connection_id(&tenant.name, System::AccessAlly),
        CredentialKind::AccessAllyAppPassword,
        tenant.accessally.app_password.as_ref(),
        "the AccessAlly application password",
    )
    .await?
    .with_context(|| {
        format!(
            "tenant `{}` has no AccessAlly application password; run `allybridge connect accessally --tenant {}` or set [tenant.accessally] app_password",
            tenant.name, tenant.name
        )
    })?;
    let handshake = handshake(config, store, tenant).await?;
    accessally_client_with(tenant, password, handshake, tuning)
}

/// The `aal_*` handshake of a tenant's site: stored by `connect
/// accessally`, else from `[tenant.accessally] handshake`; `None` when
/// neither has one (the `aal_*` commands then cannot be sent).
pub async fn handshake(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
) -> anyhow::Result<Option<SecretString>> {
    secret_from(
        config,
        store,
        &handshake_connection_id(&tenant.name),
        CredentialKind::AccessAllyAppPassword,
        tenant.accessally.handshake.as_ref(),
        "the AccessAlly aal_* handshake",
    )
    .await
}

/// An AccessAlly client with explicit credentials (used by `connect` before storing them).
pub fn accessally_client_with(
    tenant: &TenantConfig,
    app_password: SecretString,
    handshake: Option<SecretString>,
    tuning: &ClientTuning,
) -> anyhow::Result<accessally::AccessAllyClient> {
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
    .context("could not build the AccessAlly client")
}

/// The engine's settings from `[tenant.products]`, `[tenant.orders]`, `[tenant.mapping]`.
pub fn settings(tenant: &TenantConfig) -> anyhow::Result<TenantSettings> {
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
    let coupon_currency = mapping
        .coupon_currency
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "tenant `{}`: [tenant.mapping] coupon_currency must be an ISO 4217 code such as \"USD\"",
                tenant.name
            )
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
pub async fn build_tenant_parts(
    config: &Config,
    store: &Store,
    tenant: &TenantConfig,
    tuning: &ClientTuning,
    load: &TenantLoad,
) -> anyhow::Result<(Tenant, TenantGhl)> {
    let parts = ghl_parts_with(config, store, tenant, tuning, load).await?;
    let accessally = accessally_client(config, store, tenant, tuning).await?;
    let kept = TenantGhl {
        tenant: tenant.name.clone(),
        location_id: tenant.ghl.location_id.clone(),
        auth: parts.auth,
        budget: parts.budget,
        connected: parts.connected,
    };
    Ok((
        Tenant {
            name: tenant.name.clone(),
            ghl: Arc::new(parts.client),
            accessally: Arc::new(accessally),
            modes: effective_modes(&load.switches, tenant)
                .into_iter()
                .inspect(|(flow, mode)| {
                    let configured = tenant.flows.mode(*flow);
                    if *mode != configured {
                        tracing::info!(tenant = %tenant.name, flow = flow.as_str(), ?mode, ?configured, "flow mode switched on the admin page applies");
                    }
                })
                .collect(),
            settings: settings(tenant)?,
        },
        kept,
    ))
}

/// Everything a verb that syncs needs: configuration, store, engine.
pub struct Loaded {
    pub config: Config,
    pub engine: Arc<Engine>,
    /// Each tenant's HighLevel auth and rate budget.
    pub ghl: Vec<TenantGhl>,
    /// The API activity log the clients report to, with
    /// [`TenantLoad::log_calls`].
    pub activity: Option<Arc<engine::housekeeping::ActivityLog>>,
    /// A dry run's scratch store, removed when this is dropped.
    _dry_run_scratch: Option<tempfile::TempDir>,
}

/// Loads the configuration, opens the store and builds the engine for the
/// selected tenants; `force_mode` overrides every enabled flow's mode.
pub async fn load_engine(
    args: &ConfigArgs,
    only: Option<&str>,
    options: EngineOptions,
    force_mode: Option<FlowMode>,
) -> anyhow::Result<Loaded> {
    let config = load_config(&args.config)?;
    let load = TenantLoad {
        switches: mode_file(args).load()?,
        ..TenantLoad::default()
    };
    build_engine(config, only, options, force_mode, &load).await
}

/// Opens the store of a loaded configuration and builds the engine for the
/// selected tenants as `load` says; `force_mode` overrides every enabled
/// flow's mode.
pub async fn build_engine(
    config: Config,
    only: Option<&str>,
    options: EngineOptions,
    force_mode: Option<FlowMode>,
    load: &TenantLoad,
) -> anyhow::Result<Loaded> {
    let store = open_store(&config).await?;
    let mut tuning = ClientTuning::default();
    // Every call the clients make reaches the metrics, and the API
    // activity log when the command keeps one.
    let metrics = Arc::new(engine::metrics::Metrics::new());
    let mut observers: Vec<Arc<dyn transport::CallObserver>> = vec![metrics.clone()];
    let activity = load.log_calls.then(|| {
        let (log, _writer) = engine::housekeeping::ActivityLog::start(store.clone());
        observers.push(log.clone());
        log
    });
    tuning.observer = transport::Observer::new(Arc::new(transport::Fanout(observers)));
    let mut tenants = Vec::new();
    let mut ghl = Vec::new();
    for t in selected(&config, only)? {
        let (mut tenant, kept) = build_tenant_parts(&config, &store, t, &tuning, load).await?;
        ghl.push(kept);
        if let Some(mode) = force_mode {
            for m in tenant.modes.values_mut() {
                if *m != FlowMode::Off {
                    *m = mode;
                }
            }
        }
        tenants.push(tenant);
    }
    let options = EngineOptions {
        // A dry run does not wait for retries: what would fail now is reported.
        max_attempts: if options.dry_run {
            1
        } else {
            i64::from(config.engine.max_attempts)
        },
        concurrency: usize::from(config.engine.workers.max(1)),
        ..options
    };
    let options = match &config.engine.worker_id {
        Some(id) => EngineOptions {
            worker_id: id.clone(),
            stable_worker_id: true,
            ..options
        },
        None => options,
    };
    // A dry run computes on a scratch copy of the links, so it leaves no
    // job, log entry or dead letter in the real store; the tenants' clients
    // keep the real store for their credentials (a refreshed OAuth pair
    // must be kept, whatever the run).
    let (store, dry_run_scratch) = if options.dry_run {
        let (scratch, dir) = dry_run_store(&store).await?;
        (scratch, Some(dir))
    } else {
        (store, None)
    };
    Ok(Loaded {
        engine: Arc::new(Engine::new(store, tenants, options).with_metrics(metrics)),
        config,
        ghl,
        activity,
        _dry_run_scratch: dry_run_scratch,
    })
}

/// A throwaway SQLite store holding a copy of `real`'s links, for a dry run.
async fn dry_run_store(real: &Store) -> anyhow::Result<(Store, tempfile::TempDir)> {
    let dir = tempfile::tempdir().context("making a scratch folder for the dry run")?;
    let scratch = Store::open(
        &Store::sqlite_url(&dir.path().join("dry-run.db")),
        store::Keyring::new(store::MasterKey::generate()),
    )
    .await
    .context("opening the dry run's scratch store")?;
    let mut after = 0;
    loop {
        let page = real.links(None, after, 1_000).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for link in &page {
            scratch
                .save_link(&store::NewLink {
                    entity_type: link.entity_type.clone(),
                    highlevel_id: link.highlevel_id.clone(),
                    accessally_id: link.accessally_id.clone(),
                    highlevel_hash: link.highlevel_hash.clone(),
                    accessally_hash: link.accessally_hash.clone(),
                    highlevel_state: None,
                })
                .await?;
        }
    }
    Ok((scratch, dir))
}

/// Parses `--flow`.
pub fn parse_flow(s: &str) -> Result<Flow, String> {
    s.parse()
}

/// Reads one secret line from stdin or an environment variable.
pub fn read_secret(env_var: Option<&str>, what: &str) -> anyhow::Result<SecretString> {
    let value = match env_var {
        Some(var) => std::env::var(var).with_context(|| {
            format!("the environment variable {var} (named by the flag) is not set")
        })?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("Paste {what} and press Enter (input is not echoed to logs):");
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .with_context(|| format!("could not read {what} from stdin"))?;
            line
        }
    };
    let trimmed = value.trim().to_string();
    if trimmed.is_empty() {
        bail!("{what} is empty; pass it on stdin or name an environment variable holding it");
    }
    Ok(SecretString::from(trimmed))
}

/// Every dead letter in the store, oldest first.
pub async fn all_dead_letters(store: &Store) -> anyhow::Result<Vec<store::Job>> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .dead_letters(after, 500)
            .await
            .context("could not list the dead letters")?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let n = page.len();
        out.extend(page);
        if n < 500 {
            break;
        }
    }
    Ok(out)
}

/// The smallest valid tenant, for the binary's unit tests.
#[cfg(test)]
pub(crate) const TEST_TENANT: &str = r#"
[[tenant]]
name = "main"
[tenant.ghl]
location_id = "loc1"
auth = "private_token"
[tenant.accessally]
site_url = "https://courses.example.com"
user = "bridge"
"#;

#[cfg(test)]
mod tests {
    use engine::tenant::{CodeCase, GrantVia, ProductFields, ProductKey};

    use super::*;

    const TENANT: &str = TEST_TENANT;

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
