//! Test databases for the store's contract tests: a temp SQLite file, or a
//! fresh PostgreSQL database per test (created with a random name on the
//! server at 127.0.0.1:5432, or `ALLYBRIDGE_TEST_POSTGRES_URL`, and dropped
//! when the test ends). When PostgreSQL is unreachable the test is skipped
//! with a message, unless `CI` is set, where that is a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sqlx::Connection;
use store::{Keyring, MasterKey, Store};

pub const POSTGRES_URL_ENV: &str = "ALLYBRIDGE_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub key: MasterKey,
    temp_dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

pub fn admin_postgres_url() -> String {
    std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

impl TestDb {
    /// A fresh, empty database; None when PostgreSQL is unreachable outside CI.
    pub async fn create(backend: Backend) -> anyhow::Result<Option<TestDb>> {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(random_name("allybridge-store-test"));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let url = Store::sqlite_url(&dir.join("store.db"));
                Ok(Some(TestDb {
                    backend,
                    url,
                    key: MasterKey::generate(),
                    temp_dir: Some(dir),
                    postgres: None,
                }))
            }
            Backend::Postgres => {
                let admin_url = admin_postgres_url();
                let connected = tokio::time::timeout(
                    Duration::from_secs(5),
                    sqlx::PgConnection::connect(&admin_url),
                )
                .await;
                let mut admin = match connected {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => {
                        return Self::postgres_unreachable(&admin_url, &error.to_string());
                    }
                    Err(_) => return Self::postgres_unreachable(&admin_url, "timed out"),
                };
                let name = random_name("allybridge_test");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name} via {admin_url}"))?;
                let _ = admin.close().await;
                let mut url = url::Url::parse(&admin_url).context("parsing the PostgreSQL URL")?;
                url.set_path(&format!("/{name}"));
                Ok(Some(TestDb {
                    backend,
                    url: url.to_string(),
                    key: MasterKey::generate(),
                    temp_dir: None,
                    postgres: Some((admin_url, name)),
                }))
            }
        }
    }

    fn postgres_unreachable(url: &str, why: &str) -> anyhow::Result<Option<TestDb>> {
        let url = match url::Url::parse(url) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("REDACTED"));
                parsed.to_string()
            }
            _ => url.to_string(),
        };
        if std::env::var_os("CI").is_some() {
            bail!(
                "PostgreSQL at {url} is unreachable ({why}); CI needs it for the store's contract tests"
            );
        }
        eprintln!(
            "SKIPPED: PostgreSQL at {url} is unreachable ({why}); set {POSTGRES_URL_ENV} to run the PostgreSQL store tests"
        );
        Ok(None)
    }

    pub fn keyring(&self) -> Keyring {
        Keyring::new(self.key.clone())
    }

    /// Opens the store with the test's master key.
    pub async fn open(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.url, self.keyring()).await?)
    }

    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.temp_dir.as_ref().map(|dir| dir.join("store.db"))
    }

    pub fn temp_dir(&self) -> Option<&Path> {
        self.temp_dir.as_deref()
    }

    /// Runs raw SQL against the database, bypassing the store (for tests
    /// that tamper with rows).
    pub async fn execute_raw(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url).await?;
                let done = sqlx::query(sql)
                    .execute(&mut connection)
                    .await?
                    .rows_affected();
                connection.close().await?;
                done
            }
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await?;
                let done = sqlx::query(sql)
                    .execute(&mut connection)
                    .await?
                    .rows_affected();
                connection.close().await?;
                done
            }
        })
    }
}

impl TestDb {
    /// Applies only the first schema migration (`0001_init.sql`) to the
    /// empty database, as an older allybridge left it, so that opening the
    /// store afterwards runs the later migrations on the rows a test planted.
    pub async fn apply_first_migration_only(&self) -> anyhow::Result<()> {
        let folder = match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder)
            .join("0001_init.sql");
        let only_first = std::env::temp_dir().join(random_name("allybridge-migrations"));
        std::fs::create_dir_all(&only_first)?;
        std::fs::copy(&source, only_first.join("0001_init.sql"))
            .with_context(|| format!("copying {}", source.display()))?;
        let migrator = sqlx::migrate::Migrator::new(only_first.as_path()).await;
        let outcome = match (migrator, self.backend) {
            (Err(error), _) => Err(anyhow::Error::from(error)),
            (Ok(migrator), Backend::Sqlite) => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url).await?;
                let ran = migrator.run(&mut connection).await;
                connection.close().await?;
                ran.map_err(Into::into)
            }
            (Ok(migrator), Backend::Postgres) => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await?;
                let ran = migrator.run(&mut connection).await;
                connection.close().await?;
                ran.map_err(Into::into)
            }
        };
        let _ = std::fs::remove_dir_all(&only_first);
        outcome
    }
}

/// An open transaction on a connection of its own that keeps the store
/// from writing to the inbox (SQLite: the database's write lock; PostgreSQL:
/// a lock on the inbox table) until [`InboxLock::release`].
pub enum InboxLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl TestDb {
    pub async fn lock_inbox(&self) -> anyhow::Result<InboxLock> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut connection = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut connection)
                    .await?;
                InboxLock::Sqlite(connection)
            }
            Backend::Postgres => {
                let mut connection = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query("BEGIN").execute(&mut connection).await?;
                sqlx::query("LOCK TABLE inbox IN EXCLUSIVE MODE")
                    .execute(&mut connection)
                    .await?;
                InboxLock::Postgres(connection)
            }
        })
    }
}

impl InboxLock {
    pub async fn release(self) -> anyhow::Result<()> {
        match self {
            InboxLock::Sqlite(mut connection) => {
                sqlx::query("COMMIT").execute(&mut connection).await?;
                connection.close().await?;
            }
            InboxLock::Postgres(mut connection) => {
                sqlx::query("COMMIT").execute(&mut connection).await?;
                connection.close().await?;
            }
        }
        Ok(())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside async; drop the database from a helper thread.
            let dropper = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                        let _ = admin.close().await;
                    }
                });
            });
            let _ = dropper.join();
        }
    }
}

/// Declares one `#[tokio::test]` per backend for each listed contract test
/// `async fn name(db: &TestDb) -> anyhow::Result<()>` in module `$module`.
#[macro_export]
macro_rules! per_backend {
    ($module:ident: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let Some(db) = $crate::support::TestDb::create($crate::support::Backend::Sqlite).await? else {
                        return Ok(());
                    };
                    super::$module::$name(&db).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let Some(db) = $crate::support::TestDb::create($crate::support::Backend::Postgres).await? else {
                        return Ok(());
                    };
                    super::$module::$name(&db).await
                }
            )*
        }
    };
}
