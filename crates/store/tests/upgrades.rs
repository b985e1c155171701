//! Upgrades and backups of a SQLite store: a store written by the first
//! released schema, with data in it, is migrated at open to today's and its
//! records read back; a store written by a newer allybridge is refused with a
//! clear message and left untouched; a backup taken while the store is being
//! written opens as a store with everything committed before it.

use std::path::Path;

use anyhow::Result;
use store::{Keyring, MasterKey, NewLink, Store, StoreError};

fn url(path: &Path) -> String {
    Store::sqlite_url(path)
}

/// A SQLite file with only the first released migration applied, and data in it.
async fn first_schema_store(path: &Path) -> Result<()> {
    let only_first = tempfile::tempdir()?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_init.sql");
    std::fs::copy(&source, only_first.path().join("0001_init.sql"))?;
    let migrator = sqlx::migrate::Migrator::new(only_first.path()).await?;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&url(path))
        .await?;
    migrator.run(&pool).await?;
    sqlx::query(
        "INSERT INTO links (entity_type, highlevel_id, accessally_id, highlevel_hash, accessally_hash, created_at, updated_at)
         VALUES ('main/product', 'p-1', '101', 'h1', 'a1', 1700000000000, 1700000000000)",
    )
    .execute(&pool)
    .await?;
    // Two running jobs of one record: the second migration closes the older one.
    for id in [1, 2] {
        sqlx::query(
            "INSERT INTO jobs (id, kind, entity_type, record_system, record_id, dedupe_key, priority, payload, state, run_at, created_at, updated_at)
             VALUES ($1, 'product.to_accessally', 'main/product', 'highlevel', 'p-1', 'main:product:p-1', 20, '{}', 'running', 0, 0, 0)",
        )
        .bind(id)
        .execute(&pool)
        .await?;
    }
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_store_of_the_first_schema_is_migrated_with_its_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("old.db");
    first_schema_store(&path).await?;
    let store = Store::open(&url(&path), Keyring::new(MasterKey::generate())).await?;
    let links = store.links(None, 0, 10).await?;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].highlevel_id, "p-1");
    assert_eq!(links[0].accessally_hash.as_deref(), Some("a1"));
    let jobs = store.jobs(None, 0, 10).await?;
    let states: Vec<String> = jobs.iter().map(|j| format!("{:?}", j.state)).collect();
    assert_eq!(
        jobs.iter()
            .filter(|j| j.state == store::JobState::Running)
            .count(),
        1,
        "one running job per record after the second migration: {states:?}"
    );
    store.close().await;
    Ok(())
}

#[tokio::test]
async fn a_store_of_a_newer_allybridge_is_refused_untouched() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("new.db");
    let store = Store::open(&url(&path), Keyring::new(MasterKey::generate())).await?;
    store.close().await;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect(&url(&path))
        .await?;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9001, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    let before = std::fs::read(&path)?;
    let err = Store::open(&url(&path), Keyring::new(MasterKey::generate()))
        .await
        .expect_err("a newer store is refused");
    assert!(
        matches!(err, StoreError::NewerSchema { store: 9001, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("newer allybridge") && message.contains("Upgrade allybridge"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path)?, before, "nothing was changed");
    Ok(())
}

#[tokio::test]
async fn a_backup_taken_while_writing_opens_with_everything_committed_before_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let key = MasterKey::generate();
    let store = Store::open(&url(&dir.path().join("live.db")), Keyring::new(key.clone())).await?;
    for i in 0..200 {
        store
            .save_link(&NewLink {
                entity_type: "main/product".into(),
                highlevel_id: format!("p-{i}"),
                accessally_id: format!("{i}"),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
    }
    // Writers go on while the backup runs.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 200..400 {
                store
                    .save_link(&NewLink {
                        entity_type: "main/product".into(),
                        highlevel_id: format!("p-{i}"),
                        accessally_id: format!("{i}"),
                        highlevel_hash: None,
                        accessally_hash: None,
                        highlevel_state: None,
                    })
                    .await?;
            }
            Ok::<_, StoreError>(())
        })
    };
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup).await?;
    writer.await??;
    let again = store.backup_to(&backup).await;
    assert!(
        matches!(again, Err(StoreError::Backup(ref m)) if m.contains("exists already")),
        "a backup never overwrites"
    );
    store.close().await;
    let restored = Store::open(&url(&backup), Keyring::new(key)).await?;
    let count = restored.link_count().await?;
    assert!((200..=400).contains(&count), "{count} links");
    let first = restored.links(None, 0, 1).await?;
    assert_eq!(first[0].highlevel_id, "p-0");
    restored.close().await;
    Ok(())
}
