//! Why building the daemon's pieces from the configuration failed: the
//! store, the master key, a tenant's credentials or clients. Each message
//! says what failed and what to do about it, and carries its cause's
//! message inline (so a log line's `%error` is whole); none carries a
//! secret.

use std::path::PathBuf;

/// What went wrong while opening the store or building a tenant.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "no master key: {} does not exist and {env} is not set; make one with `allybridge init --key-only{dir}` (credentials stored under another key stay unreadable: put that key there instead if you have it) or set {env}",
        key_file.display()
    )]
    NoMasterKey {
        key_file: PathBuf,
        /// ` --dir FOLDER` when the configuration is not in the working folder.
        dir: String,
        env: &'static str,
    },
    #[error("could not read the master key from {}: {cause}", path.display())]
    MasterKey {
        path: PathBuf,
        cause: store::StoreError,
    },
    #[error(
        "could not open the store (check [store] url and that the master key is the one the store was created with): {0}"
    )]
    OpenStore(store::StoreError),
    /// A store call failed; `what` says which.
    #[error("could not {what}: {cause}")]
    Store {
        what: String,
        cause: store::StoreError,
    },
    /// A secret reference of the configuration could not be resolved.
    #[error("{what}: {cause}")]
    Secret {
        what: String,
        cause: config::SecretError,
    },
    #[error("no tenant named `{name}` in the configuration; the tenants are: {known}")]
    UnknownTenant { name: String, known: String },
    /// A tenant lacks something it needs (a setting, a credential, a
    /// connection); the message says what and how to provide it.
    #[error("{0}")]
    Tenant(String),
    #[error("could not build the HighLevel client: {0}")]
    GhlClient(ghl::GhlError),
    #[error("could not build the AccessAlly client: {0}")]
    AccessAllyClient(accessally::Error),
    #[error("could not build the HTTP client: {0}")]
    Http(transport::HttpError),
    #[error("could not make a folder for the dry run's scratch store: {0}")]
    Scratch(std::io::Error),
    /// A setting of the configuration cannot be used; the message says
    /// which and how to fix it.
    #[error("{0}")]
    Setting(String),
    #[error(
        "could not listen on {addr}; is another process using it? Change [server] listen or pass --listen: {cause}"
    )]
    Listen {
        addr: std::net::SocketAddr,
        cause: std::io::Error,
    },
    /// The daemon's server or workers ended with an error.
    #[error("{0}")]
    Stopped(String),
}

impl DaemonError {
    /// A failed store call, saying what it was for.
    pub(crate) fn store(what: impl Into<String>) -> impl FnOnce(store::StoreError) -> Self {
        let what = what.into();
        move |cause| Self::Store { what, cause }
    }

    /// An unresolvable secret reference, saying which.
    pub(crate) fn secret(what: impl Into<String>) -> impl FnOnce(config::SecretError) -> Self {
        let what = what.into();
        move |cause| Self::Secret { what, cause }
    }
}
