//! The statements of the store's records, for both dialects: connections,
//! sealed credentials, links, leases (a location's rate budget, SQLite's
//! token refresh locks), poll cursors, and what the other subjects share:
//! a table's row count and a statement run alone in a write transaction.
//! It must not see a credential in clear (the store seals and opens them
//! above it).

use std::collections::{BTreeMap, HashMap};

use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Encode, Executor, FromRow, IntoArguments, Transaction, Type};

use super::rows::{ConnectionRow, LINK_COLUMNS, LinkRow, LocationLeaseRow, PollCursorRow, convert};
use super::{
    Db, Dialect, Field, PerDialect, RowsAffected, commit, is_foreign_key_violation,
    is_unique_violation, placeholders,
};
use crate::{Connection, Link, LocationLease, NewLink, PollCursor, StoreError, System};

/// A stored credential before decryption.
#[derive(FromRow)]
pub(crate) struct SealedCredential {
    pub connection_id: String,
    pub kind: String,
    pub key_id: String,
    pub ciphertext: Vec<u8>,
    pub expires_at: Option<i64>,
    pub scopes: String,
    pub version: i64,
}

/// The column of `side`'s record ids in `links`.
fn link_id_column(side: System) -> &'static str {
    match side {
        System::HighLevel => "highlevel_id",
        System::AccessAlly => "accessally_id",
    }
}

impl<D: Dialect> Db<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    for<'r> &'r str: ColumnIndex<D::Row>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    i64: Field<D>,
    Option<i64>: Field<D>,
    bool: Field<D>,
    String: Field<D>,
    Option<String>: Field<D>,
    Vec<u8>: Field<D>,
{
    // ---- connections ----------------------------------------------------

    pub(crate) async fn upsert_connection(
        &self,
        id: &str,
        system: System,
        account_id: &str,
        label: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO connections (id, system, account_id, label, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (id) DO UPDATE SET system = excluded.system, \
             account_id = excluded.account_id, label = excluded.label, \
             updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(system.as_str())
        .bind(account_id)
        .bind(label)
        .bind(now);
        self.write_alone(upsert, "saving a connection").await?;
        Ok(())
    }

    pub(crate) async fn connections(
        &self,
        id: Option<&str>,
    ) -> Result<Vec<Connection>, StoreError> {
        let rows: Vec<ConnectionRow> = sqlx::query_as(
            "SELECT id, system, account_id, label, created_at, updated_at FROM connections \
             WHERE ($1 IS NULL OR id = $1) ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("listing connections"))?;
        convert(rows)
    }

    pub(crate) async fn delete_connection(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM credentials WHERE connection_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("deleting a connection's credentials"))?;
        let deleted = sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("deleting a connection"))?
            .rows_affected();
        commit(tx, "committing a connection delete").await?;
        Ok(deleted > 0)
    }

    // ---- credentials (sealed) -------------------------------------------

    pub(crate) async fn put_sealed_credential(
        &self,
        sealed: &SealedCredential,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "INSERT INTO credentials (connection_id, kind, key_id, ciphertext, expires_at, \
             scopes, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
             ON CONFLICT (connection_id, kind) DO UPDATE SET key_id = excluded.key_id, \
             ciphertext = excluded.ciphertext, expires_at = excluded.expires_at, \
             scopes = excluded.scopes, version = credentials.version + 1, \
             updated_at = excluded.updated_at",
        )
        .bind(&sealed.connection_id)
        .bind(&sealed.kind)
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(sealed.expires_at)
        .bind(&sealed.scopes)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(error) if is_foreign_key_violation(&error) => {
                return Err(StoreError::ConnectionNotFound(sealed.connection_id.clone()));
            }
            Err(error) => return Err(StoreError::db("saving a credential")(error)),
        }
        commit(tx, "committing a credential").await
    }

    pub(crate) async fn sealed_credential(
        &self,
        connection_id: &str,
        kind: &str,
    ) -> Result<Option<SealedCredential>, StoreError> {
        sqlx::query_as(
            "SELECT connection_id, kind, key_id, ciphertext, expires_at, scopes, version \
             FROM credentials WHERE connection_id = $1 AND kind = $2",
        )
        .bind(connection_id)
        .bind(kind)
        .fetch_optional(self.reader())
        .await
        .map_err(StoreError::db("reading a credential"))
    }

    /// Up to `limit` credentials not sealed under `key_id`.
    pub(crate) async fn sealed_credentials_not_under(
        &self,
        key_id: &str,
        limit: i64,
    ) -> Result<Vec<SealedCredential>, StoreError> {
        sqlx::query_as(
            "SELECT connection_id, kind, key_id, ciphertext, expires_at, scopes, version \
             FROM credentials WHERE key_id <> $1 ORDER BY connection_id, kind LIMIT $2",
        )
        .bind(key_id)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("listing credentials to re-encrypt"))
    }

    /// Replaces one credential's ciphertext if nobody changed it since it
    /// was read (same version and key id). Returns whether it was replaced.
    pub(crate) async fn reseal_credential(
        &self,
        old: &SealedCredential,
        new_key_id: &str,
        new_ciphertext: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let reseal = sqlx::query(
            "UPDATE credentials SET key_id = $1, ciphertext = $2 \
             WHERE connection_id = $3 AND kind = $4 AND version = $5 AND key_id = $6",
        )
        .bind(new_key_id)
        .bind(new_ciphertext)
        .bind(&old.connection_id)
        .bind(&old.kind)
        .bind(old.version)
        .bind(&old.key_id);
        let replaced = self
            .write_alone(reseal, "re-encrypting a credential")
            .await?;
        Ok(replaced > 0)
    }

    /// Key ids in use, with how many credentials each seals.
    pub(crate) async fn credential_key_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT key_id, COUNT(*) AS count FROM credentials GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("listing credential key ids"))
    }

    // ---- links ----------------------------------------------------------

    /// Inserts or replaces `links` (each with where it stands in its group
    /// commit) inside `tx` in one statement; committing is the caller's.
    /// Two saves of one link in the group: the later wins, and both are
    /// answered with it (one statement may not touch a row twice).
    pub(super) async fn save_links_in(
        tx: &mut Transaction<'static, D>,
        links: &[(usize, &NewLink)],
        now: i64,
    ) -> Result<Vec<(usize, Link)>, StoreError> {
        static SQL: PerDialect = PerDialect::new();
        if links.is_empty() {
            return Ok(Vec::new());
        }
        let sql = SQL.get::<D>(|| {
            format!(
                "INSERT INTO links (entity_type, highlevel_id, accessally_id, highlevel_hash, \
                 accessally_hash, highlevel_state, created_at, updated_at) \
                 SELECT w.entity_type, w.highlevel_id, w.accessally_id, w.highlevel_hash, \
                 w.accessally_hash, w.highlevel_state, $2, $2 FROM {} WHERE true \
                 ON CONFLICT (entity_type, highlevel_id) DO UPDATE SET \
                 accessally_id = excluded.accessally_id, highlevel_hash = excluded.highlevel_hash, \
                 accessally_hash = excluded.accessally_hash, \
                 highlevel_state = excluded.highlevel_state, updated_at = excluded.updated_at \
                 RETURNING {LINK_COLUMNS}",
                D::json_rows(&[
                    ("entity_type", "text"),
                    ("highlevel_id", "text"),
                    ("accessally_id", "text"),
                    ("highlevel_hash", "text"),
                    ("accessally_hash", "text"),
                    ("highlevel_state", "text"),
                ])
            )
        });
        let key = |link: &NewLink| (link.entity_type.clone(), link.highlevel_id.clone());
        // In key order, as every batch's (see `accept_all_in`).
        let mut last: BTreeMap<(String, String), &NewLink> = BTreeMap::new();
        for (_, link) in links {
            last.insert(key(link), link);
        }
        let rows_json = serde_json::Value::Array(
            last.values()
                .map(|link| {
                    serde_json::json!({
                        "entity_type": link.entity_type,
                        "highlevel_id": link.highlevel_id,
                        "accessally_id": link.accessally_id,
                        "highlevel_hash": link.highlevel_hash,
                        "accessally_hash": link.accessally_hash,
                        "highlevel_state": link.highlevel_state,
                    })
                })
                .collect(),
        )
        .to_string();
        let rows: Vec<LinkRow> = sqlx::query_as(sql)
            .bind(rows_json)
            .bind(now)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| {
                if !is_unique_violation(&error) {
                    return StoreError::db("saving links")(error);
                }
                let why = match last.values().next() {
                    Some(link) if last.len() == 1 => format!(
                        "AccessAlly {} {} is already linked to another HighLevel record; delete that link first",
                        link.entity_type, link.accessally_id
                    ),
                    _ => "an AccessAlly record among these links is already linked to another HighLevel record; delete that link first".to_string(),
                };
                StoreError::Invalid { what: "link", why }
            })?;
        let mut saved = HashMap::with_capacity(rows.len());
        for link in convert::<_, Link>(rows)? {
            saved.insert((link.entity_type.clone(), link.highlevel_id.clone()), link);
        }
        links
            .iter()
            .map(|(at, link)| {
                let saved = saved
                    .get(&key(link))
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt("a saved link was not returned".into()))?;
                Ok((*at, saved))
            })
            .collect()
    }

    /// The links holding `record_ids` (at most a few hundred) on one side.
    pub(crate) async fn find_links(
        &self,
        entity_type: &str,
        side: System,
        record_ids: &[&str],
    ) -> Result<Vec<Link>, StoreError> {
        if record_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE entity_type = $1 AND {} IN ({})",
            link_id_column(side),
            placeholders(2, record_ids.len())
        );
        let mut query = sqlx::query_as::<D, LinkRow>(&sql).bind(entity_type);
        for id in record_ids {
            query = query.bind(*id);
        }
        let rows = query
            .fetch_all(self.reader())
            .await
            .map_err(StoreError::db("reading links"))?;
        convert(rows)
    }

    pub(crate) async fn update_link_hash(
        &self,
        link_id: i64,
        side: System,
        hash: &str,
        written: bool,
        now: i64,
    ) -> Result<Option<Link>, StoreError> {
        // A new HighLevel hash makes the state kept beside the old one stale.
        let column = match side {
            System::HighLevel => "highlevel_state = NULL, highlevel_hash",
            System::AccessAlly => "accessally_hash",
        };
        let sql = format!(
            "UPDATE links SET {column} = $1, updated_at = $2, \
             last_written_to = CASE WHEN $3 THEN $4 ELSE last_written_to END, \
             last_written_at = CASE WHEN $3 THEN $2 ELSE last_written_at END \
             WHERE id = $5 RETURNING {LINK_COLUMNS}"
        );
        let mut tx = self.begin_write().await?;
        let row: Option<LinkRow> = sqlx::query_as(&sql)
            .bind(hash)
            .bind(now)
            .bind(written)
            .bind(side.as_str())
            .bind(link_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("updating a link's hash"))?;
        let link = row.map(Link::try_from).transpose()?;
        commit(tx, "committing a link's hash").await?;
        Ok(link)
    }

    pub(crate) async fn list_links(
        &self,
        entity_type: Option<&str>,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<Link>, StoreError> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE ($1 IS NULL OR entity_type = $1) \
             AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows: Vec<LinkRow> = sqlx::query_as(&sql)
            .bind(entity_type)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await
            .map_err(StoreError::db("listing links"))?;
        convert(rows)
    }

    pub(crate) async fn delete_link(&self, link_id: i64) -> Result<bool, StoreError> {
        let delete = sqlx::query("DELETE FROM links WHERE id = $1").bind(link_id);
        Ok(self.write_alone(delete, "deleting a link").await? > 0)
    }

    pub(crate) async fn forget_highlevel_state(
        &self,
        entity_type: &str,
        highlevel_id: &str,
    ) -> Result<bool, StoreError> {
        let forget = sqlx::query(
            "UPDATE links SET highlevel_state = NULL \
             WHERE entity_type = $1 AND highlevel_id = $2 AND highlevel_state IS NOT NULL",
        )
        .bind(entity_type)
        .bind(highlevel_id);
        Ok(self
            .write_alone(forget, "forgetting a link's HighLevel state")
            .await?
            > 0)
    }

    /// Links per entity type.
    pub(crate) async fn link_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT entity_type, COUNT(*) AS count FROM links GROUP BY entity_type \
             ORDER BY entity_type",
        )
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("counting links"))
    }

    // ---- leases ---------------------------------------------------------

    /// Takes or renews a lease row in `table` (`location_leases` or
    /// `refresh_locks`, which share a shape).
    pub(crate) async fn acquire_lease(
        &self,
        table: &'static str,
        location: &str,
        owner: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO {table} (location, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (location) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at \
             WHERE {table}.owner = excluded.owner OR {table}.expires_at <= $4 \
             RETURNING owner"
        );
        let row: Option<String> = sqlx::query_scalar(&sql)
            .bind(location)
            .bind(owner)
            .bind(expires_at)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::db("acquiring a location lease"))?;
        commit(tx, "committing a location lease").await?;
        Ok(row.is_some())
    }

    pub(crate) async fn release_lease(
        &self,
        table: &'static str,
        location: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {table} WHERE location = $1 AND owner = $2");
        let release = sqlx::query(&sql).bind(location).bind(owner);
        Ok(self
            .write_alone(release, "releasing a location lease")
            .await?
            > 0)
    }

    pub(crate) async fn location_leases(&self) -> Result<Vec<LocationLease>, StoreError> {
        let rows: Vec<LocationLeaseRow> = sqlx::query_as(
            "SELECT location, owner, expires_at FROM location_leases ORDER BY location",
        )
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("listing location leases"))?;
        convert(rows)
    }

    // ---- poll cursors ---------------------------------------------------

    pub(crate) async fn set_cursor(
        &self,
        source: System,
        entity_type: &str,
        cursor: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO poll_cursors (source, entity_type, cursor, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (source, entity_type) DO UPDATE SET \
             cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(source.as_str())
        .bind(entity_type)
        .bind(cursor)
        .bind(now);
        self.write_alone(upsert, "saving a poll cursor").await?;
        Ok(())
    }

    pub(crate) async fn cursors(
        &self,
        source: Option<System>,
        entity_type: Option<&str>,
    ) -> Result<Vec<PollCursor>, StoreError> {
        let rows: Vec<PollCursorRow> = sqlx::query_as(
            "SELECT source, entity_type, cursor, updated_at FROM poll_cursors \
             WHERE ($1 IS NULL OR source = $1) AND ($2 IS NULL OR entity_type = $2) \
             ORDER BY source, entity_type",
        )
        .bind(source.map(System::as_str))
        .bind(entity_type)
        .fetch_all(self.reader())
        .await
        .map_err(StoreError::db("reading poll cursors"))?;
        convert(rows)
    }

    // ---- shared by all subjects -----------------------------------------

    pub(crate) async fn count(&self, table: &'static str) -> Result<i64, StoreError> {
        sqlx::query_scalar(&format!("SELECT COUNT(*) AS count FROM {table}"))
            .fetch_one(self.reader())
            .await
            .map_err(StoreError::db("counting rows"))
    }

    /// Runs `statement` alone in a write transaction; returns how many
    /// rows it changed. `what` names it in errors.
    pub(super) async fn write_alone<'q>(
        &self,
        statement: Query<'q, D, <D as Database>::Arguments<'q>>,
        what: &'static str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = statement
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db(what))?
            .rows_affected();
        commit(tx, what).await?;
        Ok(changed)
    }
}
