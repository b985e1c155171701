//! The store's error type. It owns the wording of every failure the store
//! reports and which of them are worth retrying; it must never carry a
//! secret, a plaintext credential or a database password in its text.

use std::path::PathBuf;

use crate::types::JobId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store URL {url:?} is not supported: {why}. Use sqlite://PATH?mode=rwc or postgres://USER@HOST:PORT/DB"
    )]
    UnsupportedUrl { url: String, why: String },

    #[error(
        "could not open the store at {url}: {source}. Check that the file's folder exists and is writable, or that the PostgreSQL server is reachable and the database exists"
    )]
    Open {
        /// The URL with any password removed.
        url: String,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "applying the store's schema migrations failed: {0}. The database may be from a newer allybridge; upgrade allybridge or restore a backup"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error(
        "the store was written by a newer allybridge (its schema is version {store}, this binary knows up to version {binary}); nothing was changed. Upgrade allybridge, or restore a backup this version made"
    )]
    NewerSchema { store: i64, binary: i64 },

    #[error("backing up the store: {0}")]
    Backup(String),

    #[error("database error while {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "job {job_id} is no longer leased to {owner:?}: its lease expired or it was finished; another worker may hold it, so drop this result"
    )]
    LeaseLost { job_id: JobId, owner: String },

    #[error("job {0} does not exist")]
    JobNotFound(JobId),

    #[error(
        "job {job_id} is {state}, not a dead letter; only dead letters can be replayed or dropped"
    )]
    NotDeadLetter { job_id: JobId, state: String },

    #[error("connection {0:?} does not exist; create it first")]
    ConnectionNotFound(String),

    #[error("the master key is invalid: {0}")]
    InvalidMasterKey(String),

    #[error(
        "master key file {path}: {source}. Check the path and its permissions (it must be readable only by its owner)"
    )]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "wrong master key: the stored credentials are encrypted under key id(s) {stored}, but the key(s) loaded have id(s) {loaded}. Set ALLYBRIDGE_MASTER_KEY (or the key file) to the key used when the credentials were saved; during a rotation, load the new key and keep the previous one"
    )]
    WrongMasterKey { stored: String, loaded: String },

    #[error(
        "credential {connection_id}/{kind} failed authentication under key {key_id}: it was altered, moved from another row, or the key is wrong. Re-enter the credential (allybridge connect)"
    )]
    CredentialTampered {
        connection_id: String,
        kind: String,
        key_id: String,
    },

    #[error("{what} is invalid: {why}")]
    Invalid { what: &'static str, why: String },

    #[error("stored data is corrupt: {0}. Restore from a backup or repair the row by hand")]
    Corrupt(String),

    #[error(
        "the transaction that was to store this write ended without an answer (its task panicked, or the runtime shut down); it may or may not be stored: retry it (a received event delivered again is recognised as a duplicate; a link or log line written again is harmless)"
    )]
    WriteInterrupted,
    #[error(
        "the query that was to answer this read ended without an answer (its task panicked, or the runtime shut down): retry it"
    )]
    ReadInterrupted,
}

impl StoreError {
    pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { action, source }
    }

    /// True when the same call may succeed if tried again later (a busy or
    /// unreachable database, a serialization conflict); false when retrying
    /// cannot help (wrong key, bad input, lost lease, corrupt data).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Open { source, .. } | StoreError::Database { source, .. } => {
                sqlx_error_is_transient(source)
            }
            StoreError::WriteInterrupted | StoreError::ReadInterrupted => true,
            StoreError::UnsupportedUrl { .. }
            | StoreError::Migrate(_)
            | StoreError::NewerSchema { .. }
            | StoreError::Backup(_)
            | StoreError::LeaseLost { .. }
            | StoreError::JobNotFound(_)
            | StoreError::NotDeadLetter { .. }
            | StoreError::ConnectionNotFound(_)
            | StoreError::InvalidMasterKey(_)
            | StoreError::KeyFile { .. }
            | StoreError::WrongMasterKey { .. }
            | StoreError::CredentialTampered { .. }
            | StoreError::Invalid { .. }
            | StoreError::Corrupt(_) => false,
        }
    }
}

fn sqlx_error_is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db_error) => {
            let code = db_error.code();
            let code = code.as_deref().unwrap_or("");
            matches!(
                code,
                // SQLite: BUSY, LOCKED (and their extended codes).
                "5" | "6" | "261" | "262" | "517" | "773"
                // PostgreSQL: serialization failure, deadlock, too many connections,
                // admin shutdown, cannot connect now, lock not available.
                | "40001" | "40P01" | "53300" | "57P01" | "57P03" | "55P03"
            ) || code.starts_with("08")
        }
        _ => false,
    }
}
