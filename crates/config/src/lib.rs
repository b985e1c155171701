//! `allybridge.toml`, parsed once into typed structs: unknown keys are
//! errors that name the key and its line, `ALLYBRIDGE_*` environment
//! variables override the top-level scalars (and `[server]
//! trusted_proxies`, as a comma-separated list), durations are written like
//! `"5m"`, and secrets appear only as references (`{ env = "NAME" }` or
//! `{ file = "path" }`) resolved on demand into `SecretString`s. It also
//! owns the commented template `allybridge init` writes, and the small
//! file of flow modes switched at run time next to it ([`modes`]). It must not open
//! connections, touch the store, or print a secret: a literal secret in the
//! file is refused without being echoed.

mod duration;
pub mod modes;
mod proxies;
mod schema;
mod secret;
mod template;
mod validate;

use std::path::{Path, PathBuf};

pub use duration::{DurationError, HumanDuration};
pub use proxies::{IpRange, IpRangeError};
pub use schema::{
    AccessAllyConfig, AlertsConfig, CodeCase, Config, ConflictPolicy, DeletePolicy, EngineConfig,
    FlowsConfig, GhlAuth, GhlConfig, GrantVia, MappingConfig, OrdersConfig, PaymentMode,
    ProductKey, ProductsConfig, ServerConfig, SmtpConfig, SmtpTls, StoreConfig, TenantConfig,
};
pub use secret::{SecretError, SecretRef};

/// The `ALLYBRIDGE_*` variables that override a setting, with the key each overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("ALLYBRIDGE_LOG", "log"),
    ("ALLYBRIDGE_STORE_URL", "store.url"),
    ("ALLYBRIDGE_STORE_KEY_FILE", "store.key_file"),
    ("ALLYBRIDGE_SERVER_LISTEN", "server.listen"),
    ("ALLYBRIDGE_SERVER_PUBLIC_URL", "server.public_url"),
    (
        "ALLYBRIDGE_SERVER_ADMIN_PASSWORD_HASH",
        "server.admin_password_hash",
    ),
    (
        "ALLYBRIDGE_SERVER_TRUSTED_PROXIES",
        "server.trusted_proxies",
    ),
    ("ALLYBRIDGE_ENGINE_WORKERS", "engine.workers"),
    (
        "ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL",
        "engine.coupon_poll_interval",
    ),
    (
        "ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL",
        "engine.product_poll_interval",
    ),
    (
        "ALLYBRIDGE_ENGINE_ORDER_POLL_INTERVAL",
        "engine.order_poll_interval",
    ),
    (
        "ALLYBRIDGE_ENGINE_RECONCILE_INTERVAL",
        "engine.reconcile_interval",
    ),
    ("ALLYBRIDGE_ENGINE_MAX_ATTEMPTS", "engine.max_attempts"),
    // The earlier name first, so that the documented one wins when both are set.
    ("ALLYBRIDGE_WORKER_ID", "engine.worker_id"),
    ("ALLYBRIDGE_ENGINE_WORKER_ID", "engine.worker_id"),
    ("ALLYBRIDGE_ALERTS_COOLDOWN", "alerts.cooldown"),
    ("ALLYBRIDGE_ALERTS_QUOTA_WARNING", "alerts.quota_warning"),
    ("ALLYBRIDGE_ALERTS_CHECK_INTERVAL", "alerts.check_interval"),
];

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the configuration {}: {source}; create one with `allybridge init` or pass its path with --config",
        path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not fit the schema.
    #[error("{origin}, line {line}, column {column}: {message}")]
    Parse {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("environment variable {var} (overrides `{key}`): {message}")]
    Env {
        var: String,
        key: String,
        message: String,
    },
    #[error("{origin} is not usable: {}", problems.join("; "))]
    Invalid {
        origin: String,
        problems: Vec<String>,
    },
}

const INLINE: &str = "allybridge.toml";

impl Config {
    /// Reads `path`, applies `ALLYBRIDGE_*` overrides from the process
    /// environment and validates. Relative paths in the file are then read
    /// from the file's folder.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let mut config = Self::parse(&text, &origin)?;
        config.base_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate_as(&origin)?;
        Ok(config)
    }

    /// Parses and validates `text` (no environment overrides).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str) -> Result<Config, ConfigError> {
        let config = Self::parse(text, INLINE)?;
        config.validate_as(INLINE)?;
        Ok(config)
    }

    /// Parses `text`, applies overrides from `env` (a variable lookup), validates.
    pub fn from_str_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = Self::parse(text, INLINE)?;
        config.apply_env(env)?;
        config.validate_as(INLINE)?;
        Ok(config)
    }

    /// Parses without validating or reading the environment.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                origin: origin.to_string(),
                line,
                column,
                message: e.message().trim_end().to_string(),
            }
        })?;
        config.base_dir = PathBuf::from(".");
        Ok(config)
    }

    /// Applies the `ALLYBRIDGE_*` overrides (see [`ENV_OVERRIDES`]) found by `env`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (var, key) in ENV_OVERRIDES {
            let Some(value) = env(var) else { continue };
            self.set(key, value.trim())
                .map_err(|message| ConfigError::Env {
                    var: (*var).to_string(),
                    key: (*key).to_string(),
                    message,
                })?;
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, String> {
            value
                .parse()
                .map_err(|_| format!("`{value}` is not {what}"))
        }
        fn dur(value: &str) -> Result<HumanDuration, String> {
            value.parse().map_err(|e: DurationError| e.to_string())
        }
        fn url(value: &str) -> Result<url::Url, String> {
            url::Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))
        }
        match key {
            "log" => self.log = value.to_string(),
            "store.url" => self.store.url = value.to_string(),
            "store.key_file" => self.store.key_file = value.into(),
            "server.listen" => {
                self.server.listen = num(value, "a socket address such as 127.0.0.1:8940")?
            }
            "server.public_url" => self.server.public_url = Some(url(value)?),
            "server.admin_password_hash" => {
                self.server.admin_password_hash = Some(value.to_string())
            }
            "server.trusted_proxies" => {
                self.server.trusted_proxies =
                    proxies::parse_list(value).map_err(|e| e.to_string())?
            }
            "engine.workers" => self.engine.workers = num(value, "a whole number of workers")?,
            "engine.coupon_poll_interval" => self.engine.coupon_poll_interval = dur(value)?,
            "engine.product_poll_interval" => self.engine.product_poll_interval = dur(value)?,
            "engine.order_poll_interval" => self.engine.order_poll_interval = dur(value)?,
            "engine.reconcile_interval" => self.engine.reconcile_interval = dur(value)?,
            "engine.max_attempts" => {
                self.engine.max_attempts = num(value, "a whole number of attempts")?
            }
            "engine.worker_id" => self.engine.worker_id = Some(value.to_string()),
            "alerts.cooldown" => self.alerts.cooldown = dur(value)?,
            "alerts.check_interval" => self.alerts.check_interval = dur(value)?,
            "alerts.quota_warning" => {
                self.alerts.quota_warning = num(value, "a fraction such as 0.10")?
            }
            other => return Err(format!("`{other}` cannot be overridden")),
        }
        Ok(())
    }

    /// Checks values against each other: at least one tenant, unique
    /// names, URLs and addresses usable, durations positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_as(INLINE)
    }

    fn validate_as(&self, origin: &str) -> Result<(), ConfigError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                problems,
            })
        }
    }

    /// The fully commented configuration `allybridge init` writes.
    pub fn template() -> String {
        template::TEMPLATE.to_string()
    }

    /// Resolves a secret reference, reading relative files from [`Config::base_dir`].
    pub fn secret(&self, reference: &SecretRef) -> Result<secrecy::SecretString, SecretError> {
        reference.resolve_in(&self.base_dir)
    }

    /// A path from the file, made relative to [`Config::base_dir`].
    pub fn path(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }

    /// Every secret reference in the file, e.g. to scrub resolved secrets from output.
    pub fn secret_refs(&self) -> Vec<&SecretRef> {
        let mut refs: Vec<&SecretRef> = self.alerts.webhook_url.iter().collect();
        if let Some(smtp) = &self.alerts.smtp {
            refs.extend(&smtp.password);
        }
        for t in &self.tenants {
            refs.extend(&t.ghl.client_secret);
            refs.extend(&t.ghl.private_token);
            refs.extend(&t.accessally.app_password);
            refs.extend(&t.accessally.handshake);
            refs.extend(&t.accessally.webhook_secret);
        }
        refs
    }

    /// The tenant named `name`.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

impl std::str::FromStr for Config {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Config::from_str(text)
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
