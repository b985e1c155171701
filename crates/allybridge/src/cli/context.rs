//! What most verbs share on the command line: the `--config` flag, loading
//! `allybridge.toml` with an error that says what to do, the modes file
//! next to it, loading the engine for the tenants a verb names (built by
//! the `daemon` library, as `serve` builds them), and reading a secret from
//! stdin or an environment variable. It never prints or logs a secret.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use config::Config;
use daemon::{Loaded, TenantLoad};
use engine::EngineOptions;
use model::{Flow, FlowMode};
use secrecy::SecretString;

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

/// The modes file of the configuration `args` names.
pub fn mode_file(args: &ConfigArgs) -> config::modes::ModeFile {
    config::modes::ModeFile::next_to(&args.config)
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
    Ok(daemon::build_engine(config, only, options, force_mode, &load).await?)
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
