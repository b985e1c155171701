//! What allybridge's test harnesses share (the CLI's tests, the
//! reliability harness and through it the benchmark's daemon scenario):
//! the `[[tenant]]` block of `allybridge.toml` for a HighLevel and an
//! AccessAlly simulator, with the credentials read from environment
//! variables named after a prefix ([`env`] gives their values). One place
//! writes it, so a change to the configuration's shape is made once.

use serde_json::Value;
use sim_kit::RunningSim;

/// How a tenant authenticates to HighLevel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GhlAuth {
    /// `auth = "private_token"`, the token from `{prefix}_GHL_TOKEN`.
    PrivateToken,
    /// `auth = "oauth"` with the simulator's marketplace app, the client
    /// secret from `{prefix}_GHL_CLIENT_SECRET`.
    OAuth,
}

/// One tenant on two running simulators.
#[derive(Clone, Copy)]
pub struct Tenant<'a> {
    pub name: &'a str,
    pub ghl: &'a RunningSim,
    pub aa: &'a RunningSim,
    pub auth: GhlAuth,
    /// The prefix of the environment variables the credentials come from.
    pub env_prefix: &'a str,
    /// Every flow's mode (`off`, `observe`, `write`).
    pub mode: &'a str,
    /// Whether to verify HighLevel's webhooks with the simulator's Ed25519
    /// key (`webhook_public_key`).
    pub ghl_webhook_key: bool,
}

fn text<'v>(info: &'v Value, key: &str) -> &'v str {
    info[key].as_str().unwrap_or("")
}

impl Tenant<'_> {
    /// The `[[tenant]]` block.
    pub fn toml(&self) -> String {
        let prefix = self.env_prefix;
        let ghl_auth = match self.auth {
            GhlAuth::PrivateToken => {
                format!(
                    "auth = \"private_token\"\nprivate_token = {{ env = \"{prefix}_GHL_TOKEN\" }}"
                )
            }
            GhlAuth::OAuth => format!(
                "auth = \"oauth\"\nclient_id = \"{}\"\nclient_secret = {{ env = \"{prefix}_GHL_CLIENT_SECRET\" }}\nmarketplace_url = \"{}\"",
                text(&self.ghl.info, "client_id"),
                self.ghl.url
            ),
        };
        let key = if self.ghl_webhook_key {
            format!(
                "webhook_public_key = \"\"\"{}\"\"\"\n",
                text(&self.ghl.info, "webhook_public_key")
            )
        } else {
            String::new()
        };
        let mode = self.mode;
        format!(
            r#"
[[tenant]]
name = "{name}"
[tenant.ghl]
base_url = "{ghl_url}"
location_id = "{location}"
{ghl_auth}
{key}[tenant.accessally]
site_url = "{aa_url}"
user = "{user}"
app_password = {{ env = "{prefix}_AA_PASSWORD" }}
handshake = {{ env = "{prefix}_AA_HANDSHAKE" }}
[tenant.flows]
coupons_to_accessally = "{mode}"
products_to_accessally = "{mode}"
products_to_highlevel = "{mode}"
orders_to_highlevel = "{mode}"
orders_to_accessally = "{mode}"
"#,
            name = self.name,
            ghl_url = self.ghl.url,
            location = text(&self.ghl.info, "location_id"),
            aa_url = self.aa.url,
            user = text(&self.aa.info, "user"),
        )
    }

    /// The environment [`Tenant::toml`] reads (see [`env`]).
    pub fn env(&self) -> Vec<(String, String)> {
        env(self.ghl, self.aa, self.env_prefix)
    }
}

/// The environment a tenant of `ghl` and `aa` whose variables are named
/// after `prefix` reads: the HighLevel token and client secret, the
/// AccessAlly application password and handshake.
pub fn env(ghl: &RunningSim, aa: &RunningSim, prefix: &str) -> Vec<(String, String)> {
    vec![
        (
            format!("{prefix}_GHL_TOKEN"),
            text(&ghl.info, "token").to_string(),
        ),
        (
            format!("{prefix}_GHL_CLIENT_SECRET"),
            text(&ghl.info, "client_secret").to_string(),
        ),
        (
            format!("{prefix}_AA_PASSWORD"),
            text(&aa.info, "app_password").to_string(),
        ),
        (
            format!("{prefix}_AA_HANDSHAKE"),
            text(&aa.info, "handshake").to_string(),
        ),
    ]
}
