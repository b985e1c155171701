//! The typed shape of `allybridge.toml`: every section and option with its
//! default. Owns the serde mapping (unknown keys are errors everywhere) and
//! the defaults; checking values against each other is `validate`'s job,
//! and nothing here reads the environment or a secret.

use std::net::SocketAddr;
use std::path::PathBuf;

use model::{Flow, FlowMode};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::duration::HumanDuration;
use crate::proxies::IpRange;
use crate::secret::SecretRef;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Log filter (tracing `EnvFilter` syntax), e.g. `"info"` or `"info,engine=debug"`.
    #[serde(default = "defaults::log")]
    pub log: String,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// One entry per paired HighLevel location and AccessAlly site (`[[tenant]]`).
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
    /// The folder relative paths (key file, secret files, SQLite file) are
    /// read from: the configuration file's folder, or `.`.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[store]`: where allybridge keeps links, jobs, logs and encrypted credentials.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://FILE?mode=rwc` (one machine) or `postgres://…` (several).
    #[serde(default = "defaults::store_url")]
    pub url: String,
    /// The master key file that encrypts stored credentials (`allybridge init` writes it).
    #[serde(default = "defaults::key_file")]
    pub key_file: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: defaults::store_url(),
            key_file: defaults::key_file(),
        }
    }
}

/// `[server]`: the daemon's HTTP listener (webhooks, OAuth callback, admin page).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; loopback by default.
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// The public base URL where HighLevel and AccessAlly reach the webhooks
    /// (`{public_url}/webhooks/ghl`, `/webhooks/accessally`) and the OAuth callback.
    #[serde(default)]
    pub public_url: Option<Url>,
    /// Argon2 PHC string (`$argon2id$…`) of the admin page password; the
    /// admin page refuses every login while unset.
    #[serde(default)]
    pub admin_password_hash: Option<String>,
    /// The reverse proxies (addresses or CIDR ranges) whose
    /// `X-Forwarded-For` names the client: the admin login limit and the
    /// logs use the client address it gives only for a peer in this list.
    #[serde(default)]
    pub trusted_proxies: Vec<IpRange>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: defaults::listen(),
            public_url: None,
            admin_password_hash: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[engine]`: workers, polling and retries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Jobs processed at once, across tenants.
    #[serde(default = "defaults::workers")]
    pub workers: u16,
    /// How often HighLevel coupons are polled (HighLevel has no coupon webhooks).
    #[serde(default = "defaults::coupon_poll")]
    pub coupon_poll_interval: HumanDuration,
    /// How often products are polled on both sides (catches lost webhooks).
    #[serde(default = "defaults::product_poll")]
    pub product_poll_interval: HumanDuration,
    /// How often orders are polled on both sides.
    #[serde(default = "defaults::order_poll")]
    pub order_poll_interval: HumanDuration,
    /// How often the full reconciliation (drift scan) runs.
    #[serde(default = "defaults::reconcile")]
    pub reconcile_interval: HumanDuration,
    /// Attempts per job before it is dead-lettered.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// Names this process's job leases across restarts, so that a daemon
    /// restarted after a crash takes back the jobs it held at once instead
    /// of waiting out their lease. One process per name: two live daemons
    /// must never share one. Unset: `worker-<pid>`, new at every start.
    #[serde(default)]
    pub worker_id: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: defaults::workers(),
            coupon_poll_interval: defaults::coupon_poll(),
            product_poll_interval: defaults::product_poll(),
            order_poll_interval: defaults::order_poll(),
            reconcile_interval: defaults::reconcile(),
            max_attempts: defaults::max_attempts(),
            worker_id: None,
        }
    }
}

/// `[alerts]`: where alerts go and how often.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// A Slack-compatible incoming-webhook URL (it embeds a credential, so it is a secret reference).
    #[serde(default)]
    pub webhook_url: Option<SecretRef>,
    /// E-mail over SMTP.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// An open incident is announced again at most once per cool-down.
    #[serde(default = "defaults::cooldown")]
    pub cooldown: HumanDuration,
    /// Alert when a location's remaining daily HighLevel quota falls below this fraction.
    #[serde(default = "defaults::quota_warning")]
    pub quota_warning: f64,
    /// How often the daemon looks at dead letters, quotas and webhook
    /// rejections (drift is checked after each reconciliation, a connection
    /// failing authentication as soon as a poll sees it).
    #[serde(default = "defaults::alert_check")]
    pub check_interval: HumanDuration,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            smtp: None,
            cooldown: defaults::cooldown(),
            quota_warning: defaults::quota_warning(),
            check_interval: defaults::alert_check(),
        }
    }
}

/// `[alerts.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "defaults::smtp_port")]
    pub port: u16,
    /// Sender address, e.g. `"allybridge <alerts@example.com>"`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465) or `none` (local relays only).
    #[serde(default)]
    pub tls: SmtpTls,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    #[default]
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No encryption: only for a relay on the same machine or network.
    None,
}

/// `[[tenant]]`: one HighLevel location paired with one AccessAlly site.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Unique name (letters, digits, `-`, `_`); it prefixes the tenant's records in the store.
    pub name: String,
    pub ghl: GhlConfig,
    pub accessally: AccessAllyConfig,
    #[serde(default)]
    pub flows: FlowsConfig,
    #[serde(default)]
    pub products: ProductsConfig,
    #[serde(default)]
    pub orders: OrdersConfig,
    #[serde(default)]
    pub mapping: MappingConfig,
}

/// `[tenant.ghl]`: the HighLevel side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GhlConfig {
    /// API base URL.
    #[serde(default = "defaults::ghl_base_url")]
    pub base_url: Url,
    /// The sub-account (location) id.
    pub location_id: String,
    /// `oauth` (marketplace app) or `private_token` (Private Integration Token).
    #[serde(default)]
    pub auth: GhlAuth,
    /// OAuth client id of the marketplace app.
    #[serde(default)]
    pub client_id: Option<String>,
    /// OAuth client secret.
    #[serde(default)]
    pub client_secret: Option<SecretRef>,
    /// Private Integration Token, when not stored by `allybridge connect ghl --token`.
    #[serde(default)]
    pub private_token: Option<SecretRef>,
    /// Where the OAuth consent page lives (a white-label marketplace domain).
    #[serde(default = "defaults::marketplace_url")]
    pub marketplace_url: Url,
    /// Ed25519 public key (PEM) for `x-ghl-signature`; HighLevel's published key when unset.
    #[serde(default)]
    pub webhook_public_key: Option<String>,
}

/// How allybridge authenticates to HighLevel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GhlAuth {
    #[default]
    Oauth,
    PrivateToken,
}

/// `[tenant.accessally]`: the AccessAlly (WordPress) side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessAllyConfig {
    /// The WordPress site, e.g. `https://courses.example.com`.
    pub site_url: Url,
    /// WordPress user name owning the Application Password.
    pub user: String,
    /// Application Password, when not stored by `allybridge connect accessally`.
    #[serde(default)]
    pub app_password: Option<SecretRef>,
    /// The `aal_*` commands' handshake string.
    #[serde(default)]
    pub handshake: Option<SecretRef>,
    /// `whsec_…` secret verifying AccessAlly Bridge webhooks.
    #[serde(default)]
    pub webhook_secret: Option<SecretRef>,
}

/// `[tenant.flows]`: each flow's mode; `observe` (read-only) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowsConfig {
    #[serde(default)]
    pub coupons_to_accessally: FlowMode,
    #[serde(default)]
    pub products_to_accessally: FlowMode,
    #[serde(default)]
    pub products_to_highlevel: FlowMode,
    #[serde(default)]
    pub orders_to_highlevel: FlowMode,
    #[serde(default)]
    pub orders_to_accessally: FlowMode,
}

impl FlowsConfig {
    /// The mode of one flow.
    pub fn mode(&self, flow: Flow) -> FlowMode {
        match flow {
            Flow::CouponsToAccessally => self.coupons_to_accessally,
            Flow::ProductsToAccessally => self.products_to_accessally,
            Flow::ProductsToHighlevel => self.products_to_highlevel,
            Flow::OrdersToHighlevel => self.orders_to_highlevel,
            Flow::OrdersToAccessally => self.orders_to_accessally,
        }
    }

    /// Every flow with its mode, in `Flow::ALL` order.
    pub fn modes(&self) -> [(Flow, FlowMode); 5] {
        Flow::ALL.map(|f| (f, self.mode(f)))
    }
}

/// `[tenant.products]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProductsConfig {
    /// Which side wins when a product changed on both since the last sync.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// What happens on the other side when a product is deleted.
    #[serde(default)]
    pub delete_policy: DeletePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    #[default]
    GhlWins,
    AccessallyWins,
    NewestWins,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    /// Unpublish (AccessAlly draft / HighLevel hidden from store).
    #[default]
    Archive,
    Delete,
    Ignore,
}

/// `[tenant.orders]`: how an order is written on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// Tags added to the HighLevel contact of an AccessAlly buyer.
    #[serde(default = "defaults::order_tags")]
    pub tags: Vec<String>,
    /// Tag added to the contact when the order is refunded.
    #[serde(default = "defaults::refund_tag")]
    pub refund_tag: String,
    /// Whether to add a note with the order summary to the contact.
    #[serde(default = "defaults::yes")]
    pub note: bool,
    /// `mode` of the payment recorded on the HighLevel invoice.
    #[serde(default)]
    pub payment_mode: PaymentMode,
    /// Business name printed on HighLevel invoices.
    #[serde(default = "defaults::business_name")]
    pub business_name: String,
    /// How a paid HighLevel order grants access in AccessAlly.
    #[serde(default)]
    pub grant_via: GrantVia,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self {
            tags: defaults::order_tags(),
            refund_tag: defaults::refund_tag(),
            note: true,
            payment_mode: PaymentMode::default(),
            business_name: defaults::business_name(),
            grant_via: GrantVia::default(),
        }
    }
}

/// HighLevel's manual payment modes (`RecordPaymentDto.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    Cash,
    Card,
    Cheque,
    BankTransfer,
    #[default]
    Other,
}

/// How access is granted in AccessAlly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantVia {
    /// `POST /access-grants` of the AccessAlly Bridge API: the user is
    /// created when missing and each linked offering's access tags applied,
    /// once per order and offering (idempotent on the grant's `source_ref`).
    #[default]
    Bridge,
    /// AccessAlly's documented `aal_genpass` command for the buyer's contact
    /// in the site's CRM: the site creates (or links) the WordPress user and
    /// pulls the contact's tags from the CRM, so access comes from the tags
    /// the CRM holds. The contact id is taken from the buyer's orders at the
    /// site; a buyer with none is dead-lettered. Needs the `aal_*` handshake.
    AalGenpass,
}

/// `[tenant.mapping]`: how fields of one system map to the other.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// How coupon codes are written to AccessAlly: `preserve` or `upper`;
    /// either way an existing coupon is found by its code ignoring case.
    #[serde(default)]
    pub coupon_code: CodeCase,
    /// Currency of HighLevel fixed-amount coupons (HighLevel does not say).
    #[serde(default = "defaults::currency")]
    pub coupon_currency: String,
    /// The natural key that pairs a product with an offering the first
    /// time: `sku` (only the references allybridge writes on what it
    /// creates; SKUs are copied across) or `name` (also an unlinked record
    /// with the same name on the other side).
    #[serde(default)]
    pub product_key: ProductKey,
    /// Only products with a SKU (HighLevel price SKU, AccessAlly payment
    /// option SKU) starting with one of these sync, both ways (empty: all).
    #[serde(default)]
    pub sku_prefixes: Vec<String>,
    /// Whether prices are compared and written.
    #[serde(default = "defaults::yes")]
    pub price: bool,
    /// Whether availability (inventory quantity) is compared and written.
    #[serde(default = "defaults::yes")]
    pub inventory: bool,
    /// AccessAlly order statuses that count as completed (synced to HighLevel).
    #[serde(default = "defaults::completed_statuses")]
    pub completed_order_statuses: Vec<String>,
    /// AccessAlly order statuses that count as refunded.
    #[serde(default = "defaults::refunded_statuses")]
    pub refunded_order_statuses: Vec<String>,
    /// HighLevel order payment statuses that count as paid (grant access).
    #[serde(default = "defaults::paid_statuses")]
    pub paid_payment_statuses: Vec<String>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            coupon_code: CodeCase::default(),
            coupon_currency: defaults::currency(),
            product_key: ProductKey::default(),
            sku_prefixes: Vec::new(),
            price: true,
            inventory: true,
            completed_order_statuses: defaults::completed_statuses(),
            refunded_order_statuses: defaults::refunded_statuses(),
            paid_payment_statuses: defaults::paid_statuses(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeCase {
    /// Codes are written as typed in HighLevel.
    #[default]
    Preserve,
    /// Codes are written in upper case.
    Upper,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKey {
    /// Records are paired only through the references allybridge writes on
    /// the counterparts it creates (offering `external_ref`, product slug).
    #[default]
    Sku,
    /// Also by equal name, the first time.
    Name,
}

pub(crate) mod defaults {
    use super::*;

    pub fn log() -> String {
        "info".into()
    }
    pub fn store_url() -> String {
        "sqlite://allybridge.db?mode=rwc".into()
    }
    pub fn key_file() -> PathBuf {
        "allybridge.key".into()
    }
    pub fn listen() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8940))
    }
    pub fn workers() -> u16 {
        4
    }
    pub fn coupon_poll() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn product_poll() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
    pub fn order_poll() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
    pub fn reconcile() -> HumanDuration {
        HumanDuration::from_secs(3_600)
    }
    pub fn max_attempts() -> u32 {
        8
    }
    pub fn cooldown() -> HumanDuration {
        HumanDuration::from_secs(1_800)
    }
    pub fn quota_warning() -> f64 {
        0.10
    }
    pub fn alert_check() -> HumanDuration {
        HumanDuration::from_secs(30)
    }
    pub fn smtp_port() -> u16 {
        587
    }
    pub fn ghl_base_url() -> Url {
        Url::parse("https://services.leadconnectorhq.com").unwrap_or_else(|_| unreachable!())
    }
    pub fn marketplace_url() -> Url {
        Url::parse("https://marketplace.gohighlevel.com").unwrap_or_else(|_| unreachable!())
    }
    pub fn order_tags() -> Vec<String> {
        vec!["accessally-buyer".into()]
    }
    pub fn refund_tag() -> String {
        "accessally-refunded".into()
    }
    pub fn business_name() -> String {
        "AccessAlly".into()
    }
    pub fn yes() -> bool {
        true
    }
    pub fn currency() -> String {
        "USD".into()
    }
    pub fn completed_statuses() -> Vec<String> {
        vec!["success".into(), "sca_success".into()]
    }
    pub fn refunded_statuses() -> Vec<String> {
        vec!["refunded".into(), "partially_refunded".into()]
    }
    pub fn paid_statuses() -> Vec<String> {
        vec!["paid".into()]
    }
}
