//! Opening the store a configuration names: its URL (a relative SQLite
//! file read from the configuration's folder) and the keyring its
//! credentials are encrypted with (`ALLYBRIDGE_MASTER_KEY` and
//! `ALLYBRIDGE_PREVIOUS_MASTER_KEYS`, else the key file).

use std::path::{Path, PathBuf};

use config::Config;
use store::{Keyring, Store};

use crate::DaemonError;

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
pub fn keyring(config: &Config) -> Result<Keyring, DaemonError> {
    let path = key_file(config);
    if std::env::var_os(store::MASTER_KEY_ENV).is_none() && !path.exists() {
        let dir = if config.base_dir == Path::new(".") {
            String::new()
        } else {
            format!(" --dir {}", config.base_dir.display())
        };
        return Err(DaemonError::NoMasterKey {
            key_file: path,
            dir,
            env: store::MASTER_KEY_ENV,
        });
    }
    Keyring::from_env_or_file(&path).map_err(|cause| DaemonError::MasterKey { path, cause })
}

/// Opens the store named by the configuration with its master key.
pub async fn open_store(config: &Config) -> Result<Store, DaemonError> {
    let keyring = keyring(config)?;
    Store::open(&store_url(config), keyring)
        .await
        .map_err(DaemonError::OpenStore)
}
