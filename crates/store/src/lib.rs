//! allybridge's durable store and job queue. This crate owns everything
//! allybridge must remember across restarts: connections and their
//! encrypted credentials, links between records of the two systems, the
//! inbox of received events, the job queue with its leases and dead
//! letters, poll cursors, the integration and API activity logs, drift
//! reports and sent alerts. It hides the backend: SQLite (one file, the
//! default) or PostgreSQL (several processes on several machines), chosen
//! by the URL given to [`Store::open`]. It must not make network calls to
//! HighLevel or AccessAlly, must not know their record formats (payloads
//! are opaque JSON), and must never log or return a secret in an error.

mod backend;
mod batching;
mod crypto;
mod error;
mod types;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use backend::Db;
use backend::queue::{JobFilter, Requeue};
use backend::records::SealedCredential;
use crypto::{CellAddress, OpenFailure};
use sqlx::{Postgres, Sqlite};

pub use backend::{Replayed, RetryOutcome};
pub use crypto::{Keyring, MASTER_KEY_ENV, MasterKey, PREVIOUS_MASTER_KEYS_ENV};
pub use error::StoreError;
pub use group_commit::GroupCommitStats;
pub use link_lookup::LinkLookupStats;
pub use types::*;

/// Ids one query's `IN (…)` list binds at most (SQLite allows 32,766
/// parameters; PostgreSQL 65,535). A power of two: see `id_chunks`.
const FIND_LINKS_CHUNK: usize = 512;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

enum Backend {
    Sqlite(Db<Sqlite>),
    Postgres(Db<Postgres>),
}

/// Calls the same method on whichever backend is in use.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.inner.backend {
            Backend::Sqlite($backend) => $call,
            Backend::Postgres($backend) => $call,
        }
    };
}

// After `on_backend!`, which they use.
mod group_commit;
mod link_lookup;

/// A group commit answered a write with another kind's outcome: a bug in
/// the store, never the caller's input.
fn unexpected_outcome(what: &str, outcome: &group_commit::Written) -> StoreError {
    StoreError::Corrupt(format!(
        "{what}: the group commit answered with {outcome:?}; please report this"
    ))
}

struct Inner {
    backend: Backend,
    keyring: RwLock<Keyring>,
    /// Bumped after every commit that makes a job ready, for in-process
    /// wake-ups (PostgreSQL adds `LISTEN/NOTIFY` across processes).
    jobs_ready: watch::Sender<u64>,
    /// Concurrent small writes (events, links, log lines) waiting to share
    /// a transaction.
    group_commit: group_commit::GroupCommit,
    /// Concurrent link look-ups waiting to share a query.
    link_lookups: link_lookup::LinkLookups,
}

/// Handle to the store. Cheap to clone; all clones share one connection
/// pool and one keyring.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_kind())
            .finish()
    }
}

/// A credential in clear, held only in memory. `Debug` shows no secret.
#[derive(Debug)]
pub struct Credential {
    /// The access token, application password, private token or webhook secret.
    pub secret: SecretString,
    /// The OAuth refresh token, for HighLevel OAuth connections.
    pub refresh_secret: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

impl Credential {
    pub fn new(secret: impl Into<String>) -> Self {
        Credential {
            secret: SecretString::from(secret.into()),
            refresh_secret: None,
            expires_at: None,
            scopes: Vec::new(),
        }
    }
}

/// The plaintext that gets encrypted: only the secret fields.
#[derive(Serialize, Deserialize)]
struct CredentialPlaintext {
    secret: String,
    refresh: Option<String>,
}

impl Drop for CredentialPlaintext {
    fn drop(&mut self) {
        use secrecy::zeroize::Zeroize;
        self.secret.zeroize();
        self.refresh.zeroize();
    }
}

/// What `rotate_master_key` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub new_key_id: String,
    pub re_encrypted: u64,
}

/// Why a single-flight refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError<E> {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the refresh itself failed: {0}")]
    Refresh(E),
}

/// Who holds a location's rate budget, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationLease {
    pub location: String,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// Why [`JobWaker::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Some process announced ready jobs.
    Notified,
    /// The polling backstop elapsed without an announcement.
    Backstop,
}

/// Lets an idle worker sleep until jobs are enqueued (in this process, or,
/// on PostgreSQL, in any process) or a backstop interval passes. The
/// backstop catches jobs whose run-at arrives and expired leases, which no
/// one announces.
pub struct JobWaker {
    local: watch::Receiver<u64>,
    listener: Option<sqlx::postgres::PgListener>,
}

impl JobWaker {
    pub async fn wait(&mut self, backstop: Duration) -> Wake {
        let listener = &mut self.listener;
        let remote = async {
            match listener.as_mut() {
                Some(listener) => listener.recv().await.is_ok(),
                None => std::future::pending::<bool>().await,
            }
        };
        tokio::select! {
            changed = self.local.changed() => {
                if changed.is_ok() { Wake::Notified } else {
                    tokio::time::sleep(backstop).await;
                    Wake::Backstop
                }
            }
            received = remote => {
                if !received {
                    // The listener broke for good: keep polling.
                    self.listener = None;
                }
                Wake::Notified
            }
            () = tokio::time::sleep(backstop) => Wake::Backstop,
        }
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `ids` without repeats, in chunks of at most [`FIND_LINKS_CHUNK`] for one
/// query's `IN (…)` each, every chunk padded with its last id to a power
/// of two: a query per list length would be another statement for each
/// connection to prepare and keep in its cache.
fn id_chunks<'a>(ids: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut ids: Vec<&str> = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids.chunks(FIND_LINKS_CHUNK)
        .map(|chunk| {
            let mut padded = chunk.to_vec();
            padded.resize(chunk.len().next_power_of_two(), chunk[chunk.len() - 1]);
            padded
        })
        .collect()
}

/// A time bucket's length in milliseconds; a bucket shorter than one is refused.
fn bucket_ms(bucket: Duration) -> Result<i64, StoreError> {
    match duration_ms(bucket) {
        ms if ms >= 1 => Ok(ms),
        _ => Err(StoreError::Invalid {
            what: "time bucket",
            why: format!(
                "{bucket:?} is shorter than a millisecond; count per hour, minute or second"
            ),
        }),
    }
}

fn credential_cell<'a>(row_key: &'a [&'a str]) -> CellAddress<'a> {
    CellAddress {
        table: "credentials",
        column: "ciphertext",
        row_key,
    }
}

impl Store {
    /// Opens (and creates, for `sqlite://PATH?mode=rwc`) the store at `url`,
    /// applies pending schema migrations, and checks that `keyring` can
    /// decrypt the stored credentials.
    pub async fn open(url: &str, keyring: Keyring) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(backend::sqlite::open(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(backend::postgres::open(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: backend::redact_url(url),
                why: "the scheme is neither sqlite: nor postgres:".into(),
            });
        };
        let (jobs_ready, _) = watch::channel(0);
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                keyring: RwLock::new(keyring),
                jobs_ready,
                group_commit: group_commit::GroupCommit::default(),
                link_lookups: link_lookup::LinkLookups::default(),
            }),
        };
        store.check_master_key().await?;
        Ok(store)
    }

    /// The URL of a SQLite store file at `path`, created if missing.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    pub fn backend_kind(&self) -> BackendKind {
        match self.inner.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes all connections; later calls fail.
    /// Writes a consistent copy of the store to `path` while it is in use
    /// (a running `serve` included). SQLite only: a PostgreSQL store is
    /// backed up with PostgreSQL's own tools, and the error says how.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        match &self.inner.backend {
            Backend::Sqlite(backend) => backend.backup_to(path).await,
            Backend::Postgres(_) => Err(StoreError::Backup(
                "a PostgreSQL store is backed up with PostgreSQL's tools: `pg_dump --format=custom --file FILE URL`, restored with `pg_restore --dbname URL FILE` into an empty database".into(),
            )),
        }
    }

    pub async fn close(&self) {
        on_backend!(self, backend => backend.close().await)
    }

    /// Refreshes the query planner's statistics of the tables that changed
    /// by as many rows as they hold since they were last analyzed, and
    /// returns their names. On PostgreSQL the store does this by itself
    /// every two seconds (a fresh store's first backfill grows its tables
    /// faster than autovacuum looks at them); SQLite needs none.
    pub async fn refresh_planner_statistics(&self) -> Result<Vec<&'static str>, StoreError> {
        on_backend!(self, backend => backend.refresh_planner_statistics().await)
    }

    /// Problems found by the database's consistency check (empty when sound).
    pub async fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        on_backend!(self, backend => backend.integrity_problems().await)
    }

    fn keyring(&self) -> Keyring {
        self.inner
            .keyring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn check_master_key(&self) -> Result<(), StoreError> {
        let keyring = self.keyring();
        let stored = self.credential_key_ids().await?;
        let unknown: Vec<&str> = stored
            .iter()
            .map(|(key_id, _)| key_id.as_str())
            .filter(|key_id| !keyring.knows(key_id))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(StoreError::WrongMasterKey {
                stored: unknown.join(", "),
                loaded: keyring.key_ids().join(", "),
            })
        }
    }

    // ---- connections and credentials -------------------------------------

    /// Creates or renames a connection.
    pub async fn upsert_connection(
        &self,
        id: &str,
        system: System,
        account_id: &str,
        label: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, backend => backend.upsert_connection(id, system, account_id, label, now_ms()).await)
    }

    pub async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let mut found = on_backend!(self, backend => backend.connections(Some(id)).await)?;
        Ok(found.pop())
    }

    pub async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        on_backend!(self, backend => backend.connections(None).await)
    }

    /// Deletes a connection and its credentials.
    pub async fn delete_connection(&self, id: &str) -> Result<bool, StoreError> {
        on_backend!(self, backend => backend.delete_connection(id).await)
    }

    /// Encrypts and saves a credential of a connection, replacing the
    /// previous one of that kind.
    pub async fn save_credential(
        &self,
        connection_id: &str,
        kind: CredentialKind,
        credential: &Credential,
    ) -> Result<(), StoreError> {
        let plaintext = CredentialPlaintext {
            secret: credential.secret.expose_secret().to_string(),
            refresh: credential
                .refresh_secret
                .as_ref()
                .map(|refresh| refresh.expose_secret().to_string()),
        };
        let encoded =
            Zeroizing::new(
                serde_json::to_vec(&plaintext).map_err(|_| StoreError::Invalid {
                    what: "credential",
                    why: "it cannot be encoded".into(),
                })?,
            );
        let row_key = [connection_id, kind.as_str()];
        let (key_id, ciphertext) =
            crypto::seal(&self.keyring(), &credential_cell(&row_key), &encoded)?;
        let sealed = SealedCredential {
            connection_id: connection_id.to_string(),
            kind: kind.as_str().to_string(),
            key_id,
            ciphertext,
            expires_at: credential.expires_at.map(millis),
            scopes: credential.scopes.join(" "),
            version: 0,
        };
        on_backend!(self, backend => backend.put_sealed_credential(&sealed, now_ms()).await)
    }

    fn unseal(
        &self,
        keyring: &Keyring,
        sealed: &SealedCredential,
    ) -> Result<Credential, StoreError> {
        let row_key = [sealed.connection_id.as_str(), sealed.kind.as_str()];
        let plaintext = crypto::open(
            keyring,
            &credential_cell(&row_key),
            &sealed.key_id,
            &sealed.ciphertext,
        )
        .map_err(|failure| match failure {
            OpenFailure::UnknownKey => StoreError::WrongMasterKey {
                stored: sealed.key_id.clone(),
                loaded: keyring.key_ids().join(", "),
            },
            OpenFailure::Authentication => StoreError::CredentialTampered {
                connection_id: sealed.connection_id.clone(),
                kind: sealed.kind.clone(),
                key_id: sealed.key_id.clone(),
            },
            OpenFailure::Malformed => StoreError::Corrupt(format!(
                "credential {}/{} is not a sealed blob",
                sealed.connection_id, sealed.kind
            )),
        })?;
        let decoded: CredentialPlaintext = serde_json::from_slice(&plaintext).map_err(|_| {
            StoreError::Corrupt(format!(
                "credential {}/{} decrypted but is not in the expected format",
                sealed.connection_id, sealed.kind
            ))
        })?;
        Ok(Credential {
            secret: SecretString::from(decoded.secret.clone()),
            refresh_secret: decoded.refresh.clone().map(SecretString::from),
            expires_at: types::from_millis_opt(sealed.expires_at)?,
            scopes: sealed
                .scopes
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        })
    }

    /// Reads and decrypts a credential.
    pub async fn credential(
        &self,
        connection_id: &str,
        kind: CredentialKind,
    ) -> Result<Option<Credential>, StoreError> {
        let sealed = on_backend!(self, backend => backend.sealed_credential(connection_id, kind.as_str()).await)?;
        sealed
            .map(|sealed| self.unseal(&self.keyring(), &sealed))
            .transpose()
    }

    /// Refreshes a credential with exactly one refresher at a time across
    /// all processes: on PostgreSQL under an advisory lock, on SQLite under a
    /// lock row with a 60-second expiry (so a crashed holder cannot block
    /// refreshes for longer; a cancelled call holds it until then). `refresh` gets the credential as stored *after* the
    /// lock was taken — so it sees a pair another process just rotated — and
    /// returns the new credential to save, or None to keep the stored one.
    /// The new credential is committed before the lock is released. Returns
    /// the credential in force afterwards.
    pub async fn refresh_credential<F, Fut, E>(
        &self,
        connection_id: &str,
        kind: CredentialKind,
        refresh: F,
    ) -> Result<Option<Credential>, RefreshError<E>>
    where
        F: FnOnce(Option<Credential>) -> Fut,
        Fut: Future<Output = Result<Option<Credential>, E>>,
    {
        let lock_name = format!("{connection_id}\0{kind}");
        enum Guard {
            Sqlite { owner: String },
            Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
        }
        let guard = match &self.inner.backend {
            Backend::Sqlite(backend) => Guard::Sqlite {
                owner: backend.refresh_lock(&lock_name).await?,
            },
            Backend::Postgres(backend) => Guard::Postgres(backend.refresh_lock(&lock_name).await?),
        };
        let current = self.credential(connection_id, kind).await?;
        let outcome = match refresh(current).await {
            Ok(Some(new)) => {
                self.save_credential(connection_id, kind, &new).await?;
                Ok(Some(new))
            }
            Ok(None) => self
                .credential(connection_id, kind)
                .await
                .map_err(RefreshError::Store),
            Err(error) => Err(RefreshError::Refresh(error)),
        };
        match (guard, &self.inner.backend) {
            (Guard::Postgres(lock), _) => lock
                .rollback()
                .await
                .map_err(StoreError::db("releasing the token refresh lock"))?,
            (Guard::Sqlite { owner }, Backend::Sqlite(backend)) => {
                backend.refresh_unlock(&lock_name, &owner).await?;
            }
            (Guard::Sqlite { .. }, Backend::Postgres(_)) => {}
        }
        outcome
    }

    /// Makes `new_key` the master key and re-encrypts every credential under
    /// it, one row at a time, while the store stays in use. Other processes
    /// need the new key (and the old one as previous) to read rows during
    /// the rotation.
    pub async fn rotate_master_key(
        &self,
        new_key: MasterKey,
    ) -> Result<RotationReport, StoreError> {
        let new_key_id = new_key.id().to_string();
        {
            let mut keyring = self
                .inner
                .keyring
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *keyring = keyring.rotated_to(new_key);
        }
        let mut re_encrypted = 0;
        // Rows changed concurrently are read again; a bounded number of passes.
        for _pass in 0..100 {
            let batch = on_backend!(self, backend => backend.sealed_credentials_not_under(&new_key_id, 100).await)?;
            if batch.is_empty() {
                return Ok(RotationReport {
                    new_key_id,
                    re_encrypted,
                });
            }
            let keyring = self.keyring();
            for old in &batch {
                let credential = self.unseal(&keyring, old)?;
                let plaintext = CredentialPlaintext {
                    secret: credential.secret.expose_secret().to_string(),
                    refresh: credential
                        .refresh_secret
                        .as_ref()
                        .map(|refresh| refresh.expose_secret().to_string()),
                };
                let encoded = Zeroizing::new(serde_json::to_vec(&plaintext).map_err(|_| {
                    StoreError::Invalid {
                        what: "credential",
                        why: "it cannot be encoded".into(),
                    }
                })?);
                let row_key = [old.connection_id.as_str(), old.kind.as_str()];
                let (key_id, ciphertext) =
                    crypto::seal(&keyring, &credential_cell(&row_key), &encoded)?;
                let replaced = on_backend!(self, backend => backend.reseal_credential(old, &key_id, ciphertext).await)?;
                if replaced {
                    re_encrypted += 1;
                }
            }
        }
        Err(StoreError::Invalid {
            what: "key rotation",
            why: "credentials kept changing under a different key; is another process still running with the old key only? Restart it with the new key and run the rotation again".into(),
        })
    }

    /// Key ids sealing the stored credentials, with how many each seals.
    pub async fn credential_key_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(self, backend => backend.credential_key_ids().await)
    }

    // ---- links ------------------------------------------------------------

    /// Creates or overwrites the link for (entity type, HighLevel id).
    /// Saves (inserts or replaces) the link of `link.highlevel_id`; returns
    /// once committed. Concurrent calls share a transaction (group commit).
    pub async fn save_link(&self, link: &NewLink) -> Result<Link, StoreError> {
        match self
            .write_grouped(group_commit::Write::SaveLink(link.clone()))
            .await?
        {
            group_commit::Written::Link(link) => Ok(link),
            other => Err(unexpected_outcome("saving a link", &other)),
        }
    }

    /// The links holding any of `record_ids` on `side` (in no particular
    /// order; ids without a link are left out). Read a few hundred at a
    /// time: a scan looks up each page of records it reads this way
    /// instead of holding every link in memory.
    pub async fn find_links(
        &self,
        entity_type: &str,
        side: System,
        record_ids: &[&str],
    ) -> Result<Vec<Link>, StoreError> {
        let mut out = Vec::with_capacity(record_ids.len());
        for chunk in id_chunks(record_ids) {
            out.extend(
                on_backend!(self, backend => backend.find_links(entity_type, side, &chunk).await)?,
            );
        }
        Ok(out)
    }

    /// Records the content hash now on `side`: seen there, or written there
    /// by allybridge (which also records the write as the last one).
    pub async fn record_link_hash(
        &self,
        link_id: i64,
        side: System,
        hash: &str,
        origin: HashOrigin,
    ) -> Result<Option<Link>, StoreError> {
        let written = origin == HashOrigin::Written;
        on_backend!(self, backend => backend.update_link_hash(link_id, side, hash, written, now_ms()).await)
    }

    /// Links in id order, after `after_id`, optionally of one entity type.
    pub async fn links(
        &self,
        entity_type: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Link>, StoreError> {
        on_backend!(self, backend => backend.list_links(entity_type, after_id, limit).await)
    }

    pub async fn delete_link(&self, link_id: i64) -> Result<bool, StoreError> {
        on_backend!(self, backend => backend.delete_link(link_id).await)
    }

    /// Forgets the HighLevel state kept beside a link (`Link::highlevel_state`),
    /// so that the next sync of the record reads HighLevel; whether one was kept.
    pub async fn forget_highlevel_state(
        &self,
        entity_type: &str,
        highlevel_id: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, backend => backend.forget_highlevel_state(entity_type, highlevel_id).await)
    }

    pub async fn link_count(&self) -> Result<i64, StoreError> {
        on_backend!(self, backend => backend.count("links").await)
    }

    /// How many links each entity type has (`main/product` → 120), by
    /// entity type; entity types without a link are left out.
    pub async fn link_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        on_backend!(self, backend => backend.link_counts().await)
    }

    // ---- inbox ------------------------------------------------------------

    /// Saves a received event to the inbox and, if it is new, enqueues
    /// `job` in the same transaction: both are committed or neither is. A
    /// duplicate (same source and event id) changes nothing and reports
    /// `new: false`. Acknowledge the sender only after this returns Ok: it
    /// returns only once the event is committed. Concurrent calls share one
    /// transaction (a group commit, see [`Store::group_commit_stats`]); an event
    /// that fails is retried alone, so it fails only its own call.
    pub async fn accept_event(
        &self,
        event: &InboundEvent,
        job: Option<&NewJob>,
    ) -> Result<Accepted, StoreError> {
        match self
            .write_grouped(group_commit::Write::Accept(event.clone(), job.cloned()))
            .await?
        {
            group_commit::Written::Accepted(accepted) => Ok(accepted),
            other => Err(unexpected_outcome("accepting an event", &other)),
        }
    }

    pub async fn inbox_event(
        &self,
        source: System,
        event_id: &str,
    ) -> Result<Option<InboxEntry>, StoreError> {
        let mut found = on_backend!(self, backend => backend.inbox_events(Some(source), Some(event_id), 1).await)?;
        Ok(found.pop())
    }

    /// The newest inbox events, optionally of one source.
    pub async fn recent_inbox_events(
        &self,
        source: Option<System>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        on_backend!(self, backend => backend.inbox_events(source, None, limit).await)
    }

    pub async fn inbox_len(&self) -> Result<i64, StoreError> {
        on_backend!(self, backend => backend.count("inbox").await)
    }

    /// Forgets inbox events received before `before` (their dedupe window ends).
    pub async fn prune_inbox(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, backend => backend.prune_inbox(millis(before)).await)
    }

    // ---- job queue --------------------------------------------------------

    fn announce_jobs_locally(&self) {
        self.inner
            .jobs_ready
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Enqueues a job, or merges it into the pending job with the same dedupe key.
    pub async fn enqueue(&self, job: &NewJob) -> Result<Enqueued, StoreError> {
        let mut outcomes = self.enqueue_batch(std::slice::from_ref(job)).await?;
        outcomes
            .pop()
            .ok_or_else(|| StoreError::Corrupt("enqueue returned no outcome".into()))
    }

    /// Enqueues several jobs in one transaction.
    pub async fn enqueue_batch(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let outcomes = on_backend!(self, backend => backend.enqueue(jobs, now_ms()).await)?;
        self.announce_jobs_locally();
        Ok(outcomes)
    }

    /// Enqueues the jobs a scan found in one transaction, each unless its
    /// record already has a pending job: that job keeps its payload and
    /// its run-at (a retry's back-off), and is only moved up to a more
    /// urgent priority or, with `run_now` (a sync someone asked for),
    /// brought forward to the found job's run-at. A poll during a large
    /// first sync therefore writes nothing for the records still waiting in
    /// the queue. Returns how many jobs were added, moved up or brought
    /// forward.
    pub async fn enqueue_found(&self, jobs: &[NewJob], run_now: bool) -> Result<u64, StoreError> {
        let queued =
            on_backend!(self, backend => backend.enqueue_found(jobs, run_now, now_ms()).await)?;
        if queued > 0 {
            self.announce_jobs_locally();
        }
        Ok(queued)
    }

    /// Leases up to `limit` ready jobs to `owner` for `lease`: pending jobs
    /// whose run-at has come, and running jobs whose lease expired (their
    /// worker died). Most urgent first. The claim is committed before this
    /// returns. Each claim counts as an attempt. One job per record at a
    /// time, across all processes: a pending job waits while another job of
    /// its record (dedupe key) is running, and a claim never returns two
    /// jobs of one record.
    pub async fn claim_jobs(
        &self,
        owner: &str,
        scope: &ClaimScope,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<Job>, StoreError> {
        self.claim_jobs_up_to(owner, scope, limit, lease, Priority::Backfill)
            .await
    }

    /// [`Store::claim_jobs`] of the jobs at `up_to` or more urgent only: a
    /// worker busy with a backlog claims live jobs this way, beside it.
    pub async fn claim_jobs_up_to(
        &self,
        owner: &str,
        scope: &ClaimScope,
        limit: i64,
        lease: Duration,
        up_to: Priority,
    ) -> Result<Vec<Job>, StoreError> {
        let now = now_ms();
        let expires = now.saturating_add(duration_ms(lease));
        on_backend!(self, backend => backend.claim_jobs(owner, scope, limit, up_to, expires, now).await)
    }

    /// How the database runs a claim of `limit` jobs on the queue as it is
    /// now (PostgreSQL's `EXPLAIN ANALYZE` of the claim statement, in a
    /// transaction that is rolled back: nothing is claimed); None on
    /// SQLite. For diagnosing slow claims.
    pub async fn explain_claim(&self, limit: i64) -> Result<Option<String>, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(backend) => backend.explain_claim(limit).await.map(Some),
        }
    }

    /// Extends the lease of a job `owner` holds, for long-running work.
    pub async fn extend_job_lease(
        &self,
        job_id: JobId,
        owner: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        on_backend!(self, backend => backend.extend_job_lease(job_id, owner, now.saturating_add(duration_ms(lease)), now).await)
    }

    /// Marks a job done. Fails with `LeaseLost` if `owner` no longer holds
    /// it. Concurrent calls share a transaction (group commit), with each
    /// other and with the links and log lines the job wrote.
    pub async fn complete_job(&self, job_id: JobId, owner: &str) -> Result<(), StoreError> {
        let write = group_commit::Write::Complete {
            job_id,
            owner: owner.to_string(),
        };
        match self.write_grouped(write).await? {
            group_commit::Written::Completed { lease_held: true } => Ok(()),
            group_commit::Written::Completed { lease_held: false } => Err(StoreError::LeaseLost {
                job_id,
                owner: owner.to_string(),
            }),
            other => Err(unexpected_outcome("completing a job", &other)),
        }
    }

    /// Completes several jobs `owner` holds in one commit (one disk sync
    /// instead of one per job). Returns the ids whose lease was lost; those
    /// are not completed, the others are.
    pub async fn complete_jobs(
        &self,
        job_ids: &[JobId],
        owner: &str,
    ) -> Result<Vec<JobId>, StoreError> {
        on_backend!(self, backend => backend.complete_jobs(job_ids, owner, now_ms()).await)
    }

    /// Puts a failed job back to wait until `retry_at` (the caller computes
    /// the back-off), recording `error`. If a newer job for the same record
    /// is already pending, this one is closed as superseded instead.
    pub async fn retry_job(
        &self,
        job_id: JobId,
        owner: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<RetryOutcome, StoreError> {
        let retry = Requeue::Retry {
            owner,
            error,
            run_at: millis(retry_at),
        };
        let outcome = on_backend!(self, backend => backend.requeue(job_id, retry, now_ms()).await)?;
        if outcome == RetryOutcome::Rescheduled {
            self.announce_jobs_locally();
        }
        Ok(outcome)
    }

    /// Gives back every job `owner` holds, for a worker that restarts under
    /// a stable id after dying with leases (instead of letting its jobs
    /// wait for their leases to expire). Each job is put back to pending,
    /// ready now, or, when a newer job of its record already waits, closed
    /// as superseded by that one; its `last_error` says it was released. The
    /// interrupted run stays counted as an attempt (the claim counted it;
    /// releasing adds none). Returns what became of each job released.
    /// Call it only while no live process works under `owner`: its jobs
    /// would then run twice.
    pub async fn release_leases(
        &self,
        owner: &str,
    ) -> Result<Vec<(JobId, RetryOutcome)>, StoreError> {
        let held = on_backend!(self, backend => backend.leased_job_ids(owner).await)?;
        let reason = format!("released by {owner} when it restarted");
        let mut released = Vec::with_capacity(held.len());
        for job_id in held {
            let now = now_ms();
            let release = Requeue::Retry {
                owner,
                error: &reason,
                run_at: now,
            };
            match on_backend!(self, backend => backend.requeue(job_id, release, now).await) {
                Ok(outcome) => released.push((job_id, outcome)),
                // Its lease had expired and another worker has taken it since.
                Err(StoreError::LeaseLost { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        if released
            .iter()
            .any(|(_, outcome)| *outcome == RetryOutcome::Rescheduled)
        {
            self.announce_jobs_locally();
        }
        Ok(released)
    }

    /// Gives up on a job: it becomes a dead letter with `reason`.
    pub async fn dead_letter_job(
        &self,
        job_id: JobId,
        owner: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, backend => backend.dead_letter_job(job_id, owner, reason, now_ms()).await)
    }

    /// Dead letters, oldest first, after `after_id`.
    pub async fn dead_letters(&self, after_id: JobId, limit: i64) -> Result<Vec<Job>, StoreError> {
        let filter = JobFilter {
            state: Some(JobState::Dead),
            after_id,
            limit,
            ..JobFilter::default()
        };
        on_backend!(self, backend => backend.jobs(filter).await)
    }

    /// Every dead letter, oldest first (read a page of 500 at a time).
    pub async fn all_dead_letters(&self) -> Result<Vec<Job>, StoreError> {
        const PAGE: i64 = 500;
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.dead_letters(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            let full = page.len() as i64 == PAGE;
            out.extend(page);
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Runs a dead letter again now, with its attempts reset.
    pub async fn replay_dead_letter(&self, job_id: JobId) -> Result<Replayed, StoreError> {
        let outcome =
            on_backend!(self, backend => backend.requeue(job_id, Requeue::Replay, now_ms()).await)?;
        self.announce_jobs_locally();
        Ok(match outcome {
            RetryOutcome::Rescheduled => Replayed {
                job_id,
                merged: false,
            },
            RetryOutcome::Superseded { by } => Replayed {
                job_id: by,
                merged: true,
            },
        })
    }

    /// Deletes a dead letter for good.
    pub async fn drop_dead_letter(&self, job_id: JobId) -> Result<(), StoreError> {
        on_backend!(self, backend => backend.drop_dead_letter(job_id).await)
    }

    pub async fn job(&self, job_id: JobId) -> Result<Option<Job>, StoreError> {
        let filter = JobFilter {
            id: Some(job_id),
            limit: 1,
            ..JobFilter::default()
        };
        let mut found = on_backend!(self, backend => backend.jobs(filter).await)?;
        Ok(found.pop())
    }

    /// Jobs in id order after `after_id`, optionally in one state.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        after_id: JobId,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        let filter = JobFilter {
            state,
            after_id,
            limit,
            ..JobFilter::default()
        };
        on_backend!(self, backend => backend.jobs(filter).await)
    }

    /// Whether a job of `dedupe_key` (one record) is pending, and whether
    /// one is running: two index lookups, whatever the queue's history.
    pub async fn open_jobs(&self, dedupe_key: &str) -> Result<OpenJobs, StoreError> {
        on_backend!(self, backend => backend.open_jobs(dedupe_key).await)
    }

    /// All jobs (any state) with this dedupe key, oldest first.
    pub async fn jobs_for_dedupe_key(&self, dedupe_key: &str) -> Result<Vec<Job>, StoreError> {
        let filter = JobFilter {
            dedupe_key: Some(dedupe_key),
            limit: i64::MAX,
            ..JobFilter::default()
        };
        on_backend!(self, backend => backend.jobs(filter).await)
    }

    pub async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        on_backend!(self, backend => backend.queue_stats().await)
    }

    /// Deletes done and superseded jobs finished before `before`.
    pub async fn prune_finished_jobs(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, backend => backend.prune_finished_jobs(millis(before)).await)
    }

    /// A waker for idle workers (see [`JobWaker`]).
    pub async fn job_waker(&self) -> JobWaker {
        let listener = match &self.inner.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(backend) => backend.jobs_listener().await,
        };
        JobWaker {
            local: self.inner.jobs_ready.subscribe(),
            listener,
        }
    }

    // ---- location leases --------------------------------------------------

    /// Takes (or renews) the lease on a location's rate budget for `ttl`.
    /// Returns false while another owner holds an unexpired lease.
    pub async fn acquire_location_lease(
        &self,
        location: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        on_backend!(self, backend => backend.acquire_lease("location_leases", location, owner, now.saturating_add(duration_ms(ttl)), now).await)
    }

    /// Gives the lease up; returns whether `owner` held it.
    pub async fn release_location_lease(
        &self,
        location: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, backend => backend.release_lease("location_leases", location, owner).await)
    }

    pub async fn location_leases(&self) -> Result<Vec<LocationLease>, StoreError> {
        on_backend!(self, backend => backend.location_leases().await)
    }

    // ---- poll cursors -----------------------------------------------------

    pub async fn set_poll_cursor(
        &self,
        source: System,
        entity_type: &str,
        cursor: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, backend => backend.set_cursor(source, entity_type, cursor, now_ms()).await)
    }

    pub async fn poll_cursor(
        &self,
        source: System,
        entity_type: &str,
    ) -> Result<Option<PollCursor>, StoreError> {
        let mut found =
            on_backend!(self, backend => backend.cursors(Some(source), Some(entity_type)).await)?;
        Ok(found.pop())
    }

    pub async fn poll_cursors(&self) -> Result<Vec<PollCursor>, StoreError> {
        on_backend!(self, backend => backend.cursors(None, None).await)
    }

    // ---- logs, drift reports, alerts --------------------------------------

    /// Appends a line to the integration log; returns its id once
    /// committed. Concurrent calls share a transaction (group commit).
    pub async fn log_integration(&self, event: &IntegrationEvent) -> Result<i64, StoreError> {
        match self
            .write_grouped(group_commit::Write::Log(event.clone()))
            .await?
        {
            group_commit::Written::Logged(id) => Ok(id),
            other => Err(unexpected_outcome(
                "appending to the integration log",
                &other,
            )),
        }
    }

    /// The integration log entries `query` selects, newest first. A record
    /// id selects the record's entries whichever system's id it is: those
    /// of the record itself and of the record linked to it.
    pub async fn integration_log(
        &self,
        query: &LogQuery,
    ) -> Result<Vec<IntegrationLogEntry>, StoreError> {
        on_backend!(self, backend => backend.integration_log(query).await)
    }

    /// The newest integration log entry of each of `record_ids` of
    /// `entity_type` (as the records' jobs name them); records never logged
    /// are left out. For naming records (a dead letter's) by what the log
    /// told of them.
    pub async fn latest_log_entries(
        &self,
        entity_type: &str,
        record_ids: &[&str],
    ) -> Result<Vec<IntegrationLogEntry>, StoreError> {
        let mut found = Vec::new();
        for chunk in id_chunks(record_ids) {
            found.extend(
                on_backend!(self, backend => backend.latest_log_entries(entity_type, &chunk).await)?,
            );
        }
        Ok(found)
    }

    /// When the newest integration log entry of `entity_type` read from
    /// `from_system` (one flow's, of one tenant) was written; None if never.
    pub async fn last_logged(
        &self,
        entity_type: &str,
        from_system: System,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at = on_backend!(self, backend => backend.last_logged(entity_type, from_system).await)?;
        types::from_millis_opt(at)
    }

    /// What became of records since `since` (see [`Outcome`]), counted per
    /// time bucket of `bucket`, entity and the system the records were read
    /// from; oldest bucket first, buckets without any record left out.
    /// Computed from the integration log and the job queue, so it survives
    /// restarts (and covers the 7 days finished jobs are kept).
    pub async fn record_activity(
        &self,
        since: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<ActivityCount>, StoreError> {
        let bucket = bucket_ms(bucket)?;
        on_backend!(self, backend => backend.record_activity(millis(since), bucket).await)
    }

    /// Jobs waiting, running or dead, counted per entity, kind and state.
    pub async fn open_job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
        on_backend!(self, backend => backend.open_job_counts().await)
    }

    /// API calls since `since`, counted per time bucket of `bucket`, system
    /// and location (with the failed and rate-limited among them); oldest
    /// bucket first, buckets without a call left out.
    pub async fn api_call_counts(
        &self,
        since: DateTime<Utc>,
        bucket: Duration,
    ) -> Result<Vec<ApiCallCount>, StoreError> {
        let bucket = bucket_ms(bucket)?;
        on_backend!(self, backend => backend.api_call_counts(millis(since), bucket).await)
    }

    /// Records API calls in one transaction (each path is stored without
    /// its query string); returns how many.
    pub async fn log_api_calls(&self, calls: &[ApiCall]) -> Result<u64, StoreError> {
        if calls.is_empty() {
            return Ok(0);
        }
        on_backend!(self, backend => backend.append_api_activity(calls, now_ms()).await)
    }

    /// Deletes API activity recorded before `before`; returns how many rows.
    pub async fn prune_api_activity(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        on_backend!(self, backend => backend.prune_api_activity(millis(before)).await)
    }

    pub async fn api_activity(
        &self,
        query: &ApiActivityQuery,
    ) -> Result<Vec<ApiActivityEntry>, StoreError> {
        on_backend!(self, backend => backend.api_activity(query).await)
    }

    pub async fn save_drift_report(
        &self,
        scope: &str,
        checked: i64,
        drifted: i64,
        details: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let details = serde_json::to_string(details).map_err(|error| StoreError::Invalid {
            what: "drift report details",
            why: error.to_string(),
        })?;
        on_backend!(self, backend => backend.save_drift_report(scope, checked, drifted, &details, now_ms()).await)
    }

    /// Drift reports, newest first, optionally of one scope.
    pub async fn drift_reports(
        &self,
        scope: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DriftReport>, StoreError> {
        on_backend!(self, backend => backend.drift_reports(scope, limit).await)
    }

    /// Claims the right to send an alert for `incident_key`: returns the
    /// recorded alert when none was sent within `cooldown` (send it then),
    /// None while cooling down. Safe with several processes.
    pub async fn claim_alert(
        &self,
        incident_key: &str,
        channel: &str,
        summary: &str,
        cooldown: Duration,
    ) -> Result<Option<Alert>, StoreError> {
        let now = now_ms();
        let cooled_down_before = now.saturating_sub(duration_ms(cooldown));
        on_backend!(self, backend => backend.claim_alert(incident_key, channel, summary, cooled_down_before, now).await)
    }

    /// Alerts sent, newest first, optionally for one incident.
    pub async fn alerts(
        &self,
        incident_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Alert>, StoreError> {
        on_backend!(self, backend => backend.alerts(incident_key, limit).await)
    }
}
