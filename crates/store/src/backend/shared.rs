//! The SQL both backends share, written once as a macro that expands into an
//! `impl` block per backend (sqlx's types are concrete per database, so a
//! macro is simpler than a generic over `sqlx::Database`). Parameters are
//! written `$1`, which SQLite and PostgreSQL both accept. This module owns
//! the statements and the row decoding; it must not encrypt or decrypt
//! (the store does that above it) and must not decide retry policy.

/// Columns of `jobs`, in the order `job_from_row` reads them.
pub(crate) const JOB_COLUMNS: &str = "id, kind, entity_type, record_system, record_id, location, \
     dedupe_key, priority, payload, state, run_at, attempts, merged_count, lease_owner, \
     lease_expires_at, last_error, dead_reason, created_at, updated_at, finished_at";

pub(crate) const LINK_COLUMNS: &str = "id, entity_type, highlevel_id, accessally_id, \
     highlevel_hash, accessally_hash, last_written_to, last_written_at, created_at, updated_at";

/// Columns of `integration_log`, as `log_entry_from_row` reads them.
pub(crate) const LOG_COLUMNS: &str =
    "id, at, entity_type, record_id, action, from_system, to_system, result, detail, job_id";

/// Whether a log line's `record_id` is the record `param` names on either
/// system: the id itself, or the id of the record linked to it.
pub(crate) fn record_on_either_system(param: &str) -> String {
    format!(
        "(record_id = {param} \
          OR record_id IN (SELECT highlevel_id FROM links WHERE accessally_id = {param}) \
          OR record_id IN (SELECT accessally_id FROM links WHERE highlevel_id = {param}))"
    )
}

/// A `LIKE … ESCAPE '!'` pattern matching lower-cased text that contains
/// `text` (in any case), its wildcards taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Which jobs a claim may take (with `$3` = now): a pending job whose
/// run-at has come while no job of its record (dedupe key) is running, or a
/// running job whose lease expired (its worker died). As the
/// `jobs_one_running_per_key` index allows one running job per key, this
/// yields at most one job per key, so a claim never returns two jobs of one
/// record and never starts a record that runs elsewhere.
/// A pending job that is due, unless a job of its record is running.
pub(crate) const PENDING_CLAIMABLE_SQL: &str = "state = 'pending' AND run_at <= $3 \
       AND NOT EXISTS (SELECT 1 FROM jobs busy \
         WHERE busy.dedupe_key = jobs.dedupe_key AND busy.state = 'running')";

/// A running job whose lease has run out (its worker died or hung).
pub(crate) const EXPIRED_CLAIMABLE_SQL: &str = "state = 'running' AND lease_expires_at <= $3";

/// The jobs a claim may take, as `(id, priority, run_at)` rows: up to
/// `arm_limit` pending ones and up to `arm_limit` expired ones, each arm
/// read in order from its own partial index (`jobs_ready`, `jobs_leased`)
/// and stopped at its limit. One `OR` of the two made both databases read
/// and sort every pending job on every claim (3.5 ms with 5,000 pending on
/// PostgreSQL, growing with the queue; 0.9 ms this way, whatever its
/// length). `in_scope` keeps the claim's locations; the caller orders the
/// rows and takes its limit.
pub(crate) fn claim_candidates_sql(in_scope: &str, arm_limit: &str) -> String {
    format!(
        "SELECT * FROM (SELECT id, priority, run_at FROM jobs \
           WHERE {PENDING_CLAIMABLE_SQL} AND {in_scope} \
           ORDER BY priority, run_at, id LIMIT {arm_limit}) AS pending_arm \
         UNION ALL \
         SELECT * FROM (SELECT id, priority, run_at FROM jobs \
           WHERE {EXPIRED_CLAIMABLE_SQL} AND {in_scope} \
           ORDER BY priority, run_at, id LIMIT {arm_limit}) AS expired_arm"
    )
}

/// Columns of a job row in the JSON array bound as `$1` (name, PostgreSQL
/// type), as [`job_row`] writes them.
pub(crate) const JOB_ROW_COLUMNS: &[(&str, &str)] = &[
    ("kind", "text"),
    ("entity_type", "text"),
    ("record_system", "text"),
    ("record_id", "text"),
    ("location", "text"),
    ("dedupe_key", "text"),
    ("priority", "bigint"),
    ("payload", "text"),
    ("run_at", "bigint"),
    ("merged", "bigint"),
];

/// `job` as one element of the JSON array of [`JOB_ROW_COLUMNS`], counting
/// `merged` earlier jobs of its record folded into it.
pub(crate) fn job_row(
    job: &crate::NewJob,
    merged: usize,
) -> Result<serde_json::Value, crate::StoreError> {
    let payload =
        serde_json::to_string(&job.payload).map_err(|error| crate::StoreError::Invalid {
            what: "job payload",
            why: error.to_string(),
        })?;
    Ok(serde_json::json!({
        "kind": job.kind,
        "entity_type": job.entity_type,
        "record_system": job.record_system.as_str(),
        "record_id": job.record_id,
        "location": job.location,
        "dedupe_key": job.dedupe_key,
        "priority": job.priority.rank(),
        "payload": payload,
        "run_at": crate::types::millis(job.run_at),
        "merged": merged,
    }))
}

/// A stored credential before decryption.
pub(crate) struct SealedCredential {
    pub connection_id: String,
    pub kind: String,
    pub key_id: String,
    pub ciphertext: Vec<u8>,
    pub expires_at: Option<i64>,
    pub scopes: String,
    pub version: i64,
}

/// What a failed attempt did to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The job waits again until its new run-at.
    Rescheduled,
    /// A newer pending job for the same record already waited; this one is
    /// closed as superseded and that one carries the work.
    Superseded { by: crate::JobId },
}

/// What replaying a dead letter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// The pending job that will carry the work (the dead letter itself, or a
    /// pending job for the same record it merged into).
    pub job_id: crate::JobId,
    pub merged: bool,
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// Path of an API call without its query string or fragment (which may
/// carry tokens).
pub(crate) fn path_without_query(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

macro_rules! shared_queries {
    ($backend:ident, $db:ty) => {
        #[allow(clippy::too_many_arguments)]
        impl $backend {
            fn decode_error(source: sqlx::Error) -> StoreError {
                StoreError::Database {
                    action: "reading a row",
                    source,
                }
            }

            fn job_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Job, StoreError> {
                use sqlx::Row;
                let get_text = |column: &str| row.try_get::<String, _>(column).map_err(Self::decode_error);
                let get_int = |column: &str| row.try_get::<i64, _>(column).map_err(Self::decode_error);
                let get_opt_text =
                    |column: &str| row.try_get::<Option<String>, _>(column).map_err(Self::decode_error);
                let get_opt_int =
                    |column: &str| row.try_get::<Option<i64>, _>(column).map_err(Self::decode_error);
                let payload_text = get_text("payload")?;
                Ok(Job {
                    id: get_int("id")?,
                    kind: get_text("kind")?,
                    entity_type: get_text("entity_type")?,
                    record_system: get_text("record_system")?.parse()?,
                    record_id: get_text("record_id")?,
                    location: get_opt_text("location")?,
                    dedupe_key: get_text("dedupe_key")?,
                    priority: Priority::from_rank(get_int("priority")?)?,
                    payload: serde_json::from_str(&payload_text)
                        .map_err(|error| StoreError::Corrupt(format!("job payload is not JSON: {error}")))?,
                    state: get_text("state")?.parse()?,
                    run_at: from_millis(get_int("run_at")?)?,
                    attempts: get_int("attempts")?,
                    merged_count: get_int("merged_count")?,
                    lease_owner: get_opt_text("lease_owner")?,
                    lease_expires_at: from_millis_opt(get_opt_int("lease_expires_at")?)?,
                    last_error: get_opt_text("last_error")?,
                    dead_reason: get_opt_text("dead_reason")?,
                    created_at: from_millis(get_int("created_at")?)?,
                    updated_at: from_millis(get_int("updated_at")?)?,
                    finished_at: from_millis_opt(get_opt_int("finished_at")?)?,
                })
            }

            fn link_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Link, StoreError> {
                use sqlx::Row;
                let get_text = |column: &str| row.try_get::<String, _>(column).map_err(Self::decode_error);
                let get_opt_text =
                    |column: &str| row.try_get::<Option<String>, _>(column).map_err(Self::decode_error);
                let get_int = |column: &str| row.try_get::<i64, _>(column).map_err(Self::decode_error);
                Ok(Link {
                    id: get_int("id")?,
                    entity_type: get_text("entity_type")?,
                    highlevel_id: get_text("highlevel_id")?,
                    accessally_id: get_text("accessally_id")?,
                    highlevel_hash: get_opt_text("highlevel_hash")?,
                    accessally_hash: get_opt_text("accessally_hash")?,
                    last_written_to: get_opt_text("last_written_to")?
                        .map(|text| text.parse())
                        .transpose()?,
                    last_written_at: from_millis_opt(
                        row.try_get::<Option<i64>, _>("last_written_at").map_err(Self::decode_error)?,
                    )?,
                    created_at: from_millis(get_int("created_at")?)?,
                    updated_at: from_millis(get_int("updated_at")?)?,
                })
            }

            // ---- connections -------------------------------------------------

            pub(crate) async fn upsert_connection(
                &self,
                id: &str,
                system: System,
                account_id: &str,
                label: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
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
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("saving a connection"))?;
                tx.commit().await.map_err(StoreError::db("committing a connection"))
            }

            pub(crate) async fn connections(&self, id: Option<&str>) -> Result<Vec<Connection>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, system, account_id, label, created_at, updated_at FROM connections \
                     WHERE ($1 IS NULL OR id = $1) ORDER BY id",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("listing connections"))?;
                rows.iter()
                    .map(|row| {
                        Ok(Connection {
                            id: row.try_get("id").map_err(Self::decode_error)?,
                            system: row.try_get::<String, _>("system").map_err(Self::decode_error)?.parse()?,
                            account_id: row.try_get("account_id").map_err(Self::decode_error)?,
                            label: row.try_get("label").map_err(Self::decode_error)?,
                            created_at: from_millis(row.try_get("created_at").map_err(Self::decode_error)?)?,
                            updated_at: from_millis(row.try_get("updated_at").map_err(Self::decode_error)?)?,
                        })
                    })
                    .collect()
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
                tx.commit().await.map_err(StoreError::db("committing a connection delete"))?;
                Ok(deleted > 0)
            }

            // ---- credentials (sealed) -----------------------------------------

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
                tx.commit().await.map_err(StoreError::db("committing a credential"))
            }

            fn sealed_from_row(row: &<$db as sqlx::Database>::Row) -> Result<SealedCredential, StoreError> {
                use sqlx::Row;
                Ok(SealedCredential {
                    connection_id: row.try_get("connection_id").map_err(Self::decode_error)?,
                    kind: row.try_get("kind").map_err(Self::decode_error)?,
                    key_id: row.try_get("key_id").map_err(Self::decode_error)?,
                    ciphertext: row.try_get("ciphertext").map_err(Self::decode_error)?,
                    expires_at: row.try_get("expires_at").map_err(Self::decode_error)?,
                    scopes: row.try_get("scopes").map_err(Self::decode_error)?,
                    version: row.try_get("version").map_err(Self::decode_error)?,
                })
            }

            pub(crate) async fn sealed_credential(
                &self,
                connection_id: &str,
                kind: &str,
            ) -> Result<Option<SealedCredential>, StoreError> {
                let row = sqlx::query(
                    "SELECT connection_id, kind, key_id, ciphertext, expires_at, scopes, version \
                     FROM credentials WHERE connection_id = $1 AND kind = $2",
                )
                .bind(connection_id)
                .bind(kind)
                .fetch_optional(self.reader())
                .await
                .map_err(StoreError::db("reading a credential"))?;
                row.as_ref().map(Self::sealed_from_row).transpose()
            }

            /// Up to `limit` credentials not sealed under `key_id`.
            pub(crate) async fn sealed_credentials_not_under(
                &self,
                key_id: &str,
                limit: i64,
            ) -> Result<Vec<SealedCredential>, StoreError> {
                let rows = sqlx::query(
                    "SELECT connection_id, kind, key_id, ciphertext, expires_at, scopes, version \
                     FROM credentials WHERE key_id <> $1 ORDER BY connection_id, kind LIMIT $2",
                )
                .bind(key_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("listing credentials to re-encrypt"))?;
                rows.iter().map(Self::sealed_from_row).collect()
            }

            /// Replaces one credential's ciphertext if nobody changed it since it was
            /// read (same version and key id). Returns whether it was replaced.
            pub(crate) async fn reseal_credential(
                &self,
                old: &SealedCredential,
                new_key_id: &str,
                new_ciphertext: &[u8],
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let replaced = sqlx::query(
                    "UPDATE credentials SET key_id = $1, ciphertext = $2 \
                     WHERE connection_id = $3 AND kind = $4 AND version = $5 AND key_id = $6",
                )
                .bind(new_key_id)
                .bind(new_ciphertext)
                .bind(&old.connection_id)
                .bind(&old.kind)
                .bind(old.version)
                .bind(&old.key_id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("re-encrypting a credential"))?
                .rows_affected();
                tx.commit().await.map_err(StoreError::db("committing a re-encrypted credential"))?;
                Ok(replaced > 0)
            }

            /// Key ids in use, with how many credentials each seals.
            pub(crate) async fn credential_key_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT key_id, COUNT(*) AS count FROM credentials GROUP BY key_id ORDER BY key_id",
                )
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("listing credential key ids"))?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get("key_id").map_err(Self::decode_error)?,
                            row.try_get("count").map_err(Self::decode_error)?,
                        ))
                    })
                    .collect()
            }

            // ---- links -------------------------------------------------------

            /// Inserts or replaces `links` (each with where it stands in its
            /// group commit) inside `tx` in one statement; committing is the
            /// caller's. Two saves of one link in the group: the later wins,
            /// and both are answered with it (one statement may not touch a
            /// row twice).
            async fn save_links_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                links: &[(usize, &NewLink)],
                now: i64,
            ) -> Result<Vec<(usize, Link)>, StoreError> {
                use std::collections::HashMap;
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "INSERT INTO links (entity_type, highlevel_id, accessally_id, highlevel_hash, \
                         accessally_hash, created_at, updated_at) \
                         SELECT w.entity_type, w.highlevel_id, w.accessally_id, w.highlevel_hash, \
                         w.accessally_hash, $2, $2 FROM {} WHERE true \
                         ON CONFLICT (entity_type, highlevel_id) DO UPDATE SET \
                         accessally_id = excluded.accessally_id, highlevel_hash = excluded.highlevel_hash, \
                         accessally_hash = excluded.accessally_hash, updated_at = excluded.updated_at \
                         RETURNING {LINK_COLUMNS}",
                        $backend::json_rows(&[
                            ("entity_type", "text"),
                            ("highlevel_id", "text"),
                            ("accessally_id", "text"),
                            ("highlevel_hash", "text"),
                            ("accessally_hash", "text"),
                        ])
                    )
                });
                if links.is_empty() {
                    return Ok(Vec::new());
                }
                let key = |link: &NewLink| (link.entity_type.clone(), link.highlevel_id.clone());
                // In key order, as every batch's (see `accept_all_in`).
                let mut last: std::collections::BTreeMap<(String, String), &NewLink> = std::collections::BTreeMap::new();
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
                            })
                        })
                        .collect(),
                )
                .to_string();
                let rows = sqlx::query(SQL.as_str())
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
                for row in &rows {
                    let link = Self::link_from_row(row)?;
                    saved.insert((link.entity_type.clone(), link.highlevel_id.clone()), link);
                }
                links
                    .iter()
                    .map(|(at, link)| {
                        let saved = saved.get(&key(link)).cloned().ok_or_else(|| {
                            StoreError::Corrupt("a saved link was not returned".into())
                        })?;
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
                let column = match side {
                    System::HighLevel => "highlevel_id",
                    System::AccessAlly => "accessally_id",
                };
                let placeholders = (2..record_ids.len() + 2)
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {LINK_COLUMNS} FROM links WHERE entity_type = $1 AND {column} IN ({placeholders})"
                );
                let mut query = sqlx::query(&sql).bind(entity_type);
                for id in record_ids {
                    query = query.bind(*id);
                }
                let rows = query
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("reading links"))?;
                rows.iter().map(Self::link_from_row).collect()
            }

            pub(crate) async fn update_link_hash(
                &self,
                link_id: i64,
                side: System,
                hash: &str,
                written: bool,
                now: i64,
            ) -> Result<Option<Link>, StoreError> {
                let column = match side {
                    System::HighLevel => "highlevel_hash",
                    System::AccessAlly => "accessally_hash",
                };
                let sql = format!(
                    "UPDATE links SET {column} = $1, updated_at = $2, \
                     last_written_to = CASE WHEN $3 THEN $4 ELSE last_written_to END, \
                     last_written_at = CASE WHEN $3 THEN $2 ELSE last_written_at END \
                     WHERE id = $5 RETURNING {LINK_COLUMNS}"
                );
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(&sql)
                    .bind(hash)
                    .bind(now)
                    .bind(written)
                    .bind(side.as_str())
                    .bind(link_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::db("updating a link's hash"))?;
                let link = row.as_ref().map(Self::link_from_row).transpose()?;
                tx.commit().await.map_err(StoreError::db("committing a link's hash"))?;
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
                let rows = sqlx::query(&sql)
                    .bind(entity_type)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("listing links"))?;
                rows.iter().map(Self::link_from_row).collect()
            }

            pub(crate) async fn delete_link(&self, link_id: i64) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let deleted = sqlx::query("DELETE FROM links WHERE id = $1")
                    .bind(link_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("deleting a link"))?
                    .rows_affected();
                tx.commit().await.map_err(StoreError::db("committing a link delete"))?;
                Ok(deleted > 0)
            }

            // ---- inbox and enqueue --------------------------------------------

            /// Enqueues `jobs` inside `tx` in one statement, each merged
            /// into the pending job of its record if there is one; committing
            /// and announcing are the caller's. Several jobs of one record
            /// are folded into one row first (one statement may not touch a
            /// row twice), exactly as one enqueue after the other would merge
            /// them: the first one's kind and record, the last one's payload
            /// and location, the most urgent priority and the earliest
            /// run-at, and a merge counted for each. Outcomes are in `jobs`'
            /// order; every job after the first of its record reports
            /// `merged`.
            async fn enqueue_all_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                jobs: &[&NewJob],
                now: i64,
            ) -> Result<Vec<Enqueued>, StoreError> {
                use sqlx::Row;
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "INSERT INTO jobs (kind, entity_type, record_system, record_id, location, \
                         dedupe_key, priority, payload, state, run_at, attempts, merged_count, \
                         created_at, updated_at) \
                         SELECT w.kind, w.entity_type, w.record_system, w.record_id, w.location, \
                         w.dedupe_key, w.priority, w.payload, 'pending', w.run_at, 0, w.merged, $2, $2 \
                         FROM {} WHERE true \
                         ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE SET \
                           priority = CASE WHEN excluded.priority < jobs.priority THEN excluded.priority ELSE jobs.priority END, \
                           run_at = CASE WHEN excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END, \
                           payload = excluded.payload, \
                           location = excluded.location, \
                           merged_count = jobs.merged_count + excluded.merged_count + 1, \
                           updated_at = excluded.updated_at \
                         RETURNING id, dedupe_key, {} AS inserted",
                        $backend::json_rows(JOB_ROW_COLUMNS),
                        $backend::JOB_INSERTED_SQL,
                    )
                });
                if jobs.is_empty() {
                    return Ok(Vec::new());
                }
                // Each record's jobs, in the order of their first job.
                let mut groups: Vec<Vec<&NewJob>> = Vec::with_capacity(jobs.len());
                let mut group_of: std::collections::HashMap<&str, usize> =
                    std::collections::HashMap::with_capacity(jobs.len());
                for job in jobs {
                    let at = *group_of.entry(job.dedupe_key.as_str()).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[at].push(job);
                }
                // In key order, as every batch's (see `accept_all_in`).
                groups.sort_unstable_by(|a, b| a[0].dedupe_key.cmp(&b[0].dedupe_key));
                let mut rows = Vec::with_capacity(groups.len());
                for group in &groups {
                    let (first, last) = (group[0], group[group.len() - 1]);
                    if group.len() == 1 {
                        rows.push(job_row(first, 0)?);
                        continue;
                    }
                    let urgent = group.iter().map(|job| job.priority).min_by_key(|p| p.rank()).unwrap_or(first.priority);
                    let earliest = group.iter().map(|job| job.run_at).min().unwrap_or(first.run_at);
                    let folded = NewJob {
                        location: last.location.clone(),
                        payload: last.payload.clone(),
                        priority: urgent,
                        run_at: earliest,
                        ..first.clone()
                    };
                    rows.push(job_row(&folded, group.len() - 1)?);
                }
                let high_water = Self::jobs_high_water(tx).await?;
                let returned = sqlx::query(SQL.as_str())
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(now)
                    .bind(high_water)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(StoreError::db("enqueueing jobs"))?;
                let mut queued: std::collections::HashMap<String, (JobId, bool)> =
                    std::collections::HashMap::with_capacity(returned.len());
                for row in &returned {
                    queued.insert(
                        row.try_get("dedupe_key").map_err(Self::decode_error)?,
                        (row.try_get("id").map_err(Self::decode_error)?, row.try_get("inserted").map_err(Self::decode_error)?),
                    );
                }
                let mut first_of_record = std::collections::HashSet::with_capacity(groups.len());
                jobs.iter()
                    .map(|job| {
                        let &(job_id, inserted) = queued
                            .get(&job.dedupe_key)
                            .ok_or_else(|| StoreError::Corrupt("an enqueued job was not returned".into()))?;
                        let first = first_of_record.insert(job.dedupe_key.as_str());
                        Ok(Enqueued { job_id, merged: !(first && inserted) })
                    })
                    .collect()
            }

            /// Enqueues the jobs a scan found, in one statement: each
            /// unless a job of its record is already pending; that one keeps
            /// its payload and its run-at (a retry's back-off), and is only
            /// moved up when the found job is more urgent, or, with
            /// `run_now`, brought forward to the found job's run-at. Two
            /// found jobs of one record count as the more urgent one (one
            /// statement may not touch a row twice). Returns how many jobs
            /// were inserted, moved up or brought forward.
            pub(crate) async fn enqueue_found(&self, jobs: &[NewJob], run_now: bool, now: i64) -> Result<u64, StoreError> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "INSERT INTO jobs (kind, entity_type, record_system, record_id, location, \
                         dedupe_key, priority, payload, state, run_at, attempts, merged_count, \
                         created_at, updated_at) \
                         SELECT w.kind, w.entity_type, w.record_system, w.record_id, w.location, \
                         w.dedupe_key, w.priority, w.payload, 'pending', w.run_at, 0, 0, $2, $2 \
                         FROM {} WHERE true \
                         ON CONFLICT (dedupe_key) WHERE state = 'pending' DO UPDATE SET \
                           priority = CASE WHEN excluded.priority < jobs.priority THEN excluded.priority ELSE jobs.priority END, \
                           run_at = CASE WHEN $3 AND excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END, \
                           updated_at = excluded.updated_at \
                         WHERE excluded.priority < jobs.priority OR ($3 AND excluded.run_at < jobs.run_at) \
                         RETURNING id",
                        $backend::json_rows(JOB_ROW_COLUMNS)
                    )
                });
                if jobs.is_empty() {
                    return Ok(0);
                }
                // The most urgent job of each record, in the order found.
                let mut urgent: Vec<&NewJob> = Vec::with_capacity(jobs.len());
                let mut at_key: std::collections::HashMap<&str, usize> =
                    std::collections::HashMap::with_capacity(jobs.len());
                for job in jobs {
                    match at_key.get(job.dedupe_key.as_str()) {
                        Some(&at) => {
                            let kept = urgent[at];
                            if (job.priority.rank(), job.run_at) < (kept.priority.rank(), kept.run_at) {
                                urgent[at] = job;
                            }
                        }
                        None => {
                            at_key.insert(&job.dedupe_key, urgent.len());
                            urgent.push(job);
                        }
                    }
                }
                let rows = urgent.into_iter().map(|job| job_row(job, 0)).collect::<Result<Vec<_>, _>>()?;
                let mut tx = self.begin_write().await?;
                let queued = sqlx::query(SQL.as_str())
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(now)
                    .bind(run_now)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(StoreError::db("enqueueing found jobs"))?
                    .len();
                tx.commit().await.map_err(StoreError::db("committing found jobs"))?;
                if queued > 0 {
                    self.announce_jobs();
                }
                Ok(u64::try_from(queued).unwrap_or(u64::MAX))
            }

            pub(crate) async fn enqueue(&self, jobs: &[NewJob], now: i64) -> Result<Vec<Enqueued>, StoreError> {
                let mut tx = self.begin_write().await?;
                let outcomes = Self::enqueue_all_in(&mut tx, &jobs.iter().collect::<Vec<_>>(), now).await?;
                tx.commit().await.map_err(StoreError::db("committing enqueued jobs"))?;
                self.announce_jobs();
                Ok(outcomes)
            }

            /// Saves received `events` (each with where it stands in its
            /// group commit) to the inbox inside `tx` and enqueues the jobs
            /// of the new ones: one statement for the inbox and one for the
            /// jobs, whatever their number. A duplicate (an event already in
            /// the inbox, or one that came earlier in `events`) saves and
            /// enqueues nothing and reports `new: false`. Announcing and
            /// committing are the caller's.
            async fn accept_all_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                events: &[(usize, &InboundEvent, Option<&NewJob>)],
                now: i64,
            ) -> Result<Vec<(usize, Accepted)>, StoreError> {
                use sqlx::Row;
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "INSERT INTO inbox (source, event_id, event_type, payload, received_at) \
                         SELECT w.source, w.event_id, w.event_type, w.payload, $2 FROM {} WHERE true \
                         ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id",
                        $backend::json_rows(&[
                            ("source", "text"),
                            ("event_id", "text"),
                            ("event_type", "text"),
                            ("payload", "text"),
                        ])
                    )
                });
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                // The first delivery of each event id in the batch (a later
                // one is a duplicate whatever the inbox holds), in key
                // order, as every batch's: two batches committed side by
                // side (by two processes on one PostgreSQL database) then
                // take their rows' locks in the same order and cannot
                // deadlock.
                let mut first_delivery = std::collections::BTreeMap::new();
                for (_, event, _) in events {
                    first_delivery.entry((event.source.as_str(), event.event_id.as_str())).or_insert(*event);
                }
                let mut rows = Vec::with_capacity(first_delivery.len());
                for event in first_delivery.into_values() {
                    let payload = serde_json::to_string(&event.payload).map_err(|error| StoreError::Invalid {
                        what: "event payload",
                        why: error.to_string(),
                    })?;
                    rows.push(serde_json::json!({
                        "source": event.source.as_str(),
                        "event_id": event.event_id,
                        "event_type": event.event_type,
                        "payload": payload,
                    }));
                }
                let mut saved = std::collections::HashSet::with_capacity(rows.len());
                for row in sqlx::query(SQL.as_str())
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(now)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(StoreError::db("saving events to the inbox"))?
                {
                    let source: String = row.try_get("source").map_err(Self::decode_error)?;
                    let event_id: String = row.try_get("event_id").map_err(Self::decode_error)?;
                    saved.insert((source.parse::<System>()?, event_id));
                }
                // An event is new when this statement saved it, and only at
                // its first delivery in the batch.
                let new: Vec<bool> = events
                    .iter()
                    .map(|(_, event, _)| saved.remove(&(event.source, event.event_id.clone())))
                    .collect();
                let jobs: Vec<&NewJob> = events
                    .iter()
                    .zip(&new)
                    .filter_map(|((_, _, job), new)| (*job).filter(|_| *new))
                    .collect();
                let mut enqueued = Self::enqueue_all_in(tx, &jobs, now).await?.into_iter();
                events
                    .iter()
                    .zip(new)
                    .map(|((at, _, job), new)| {
                        let job = match job {
                            Some(_) if new => Some(enqueued.next().ok_or_else(|| {
                                StoreError::Corrupt("an accepted event's job was not enqueued".into())
                            })?),
                            _ => None,
                        };
                        Ok((*at, Accepted { new, job }))
                    })
                    .collect()
            }

            /// Applies a group commit's writes (received events with their
            /// jobs, links, log lines, completions) in one transaction (one
            /// disk sync): all are committed, or none is. Each kind of row
            /// takes a fixed number of statements whatever the batch holds
            /// (each statement a round trip to PostgreSQL, a thread hand-off
            /// with SQLite): events and their jobs two, links one, log lines
            /// one, completions one. Outcomes come back in `writes`' order.
            pub(crate) async fn apply_writes(
                &self,
                writes: &[crate::group_commit::Write],
                now: i64,
            ) -> Result<Vec<crate::group_commit::Written>, StoreError> {
                use crate::group_commit::{Write, Written};
                let mut tx = self.begin_write().await?;
                let mut outcomes: Vec<Option<Written>> = writes.iter().map(|_| None).collect();
                let mut accepts = Vec::new();
                let mut links = Vec::new();
                let mut logs = Vec::new();
                let mut completions = Vec::new();
                for (at, write) in writes.iter().enumerate() {
                    match write {
                        Write::Accept(event, job) => accepts.push((at, event, job.as_ref())),
                        Write::SaveLink(link) => links.push((at, link)),
                        Write::Log(event) => logs.push((at, event)),
                        Write::Complete { job_id, owner } => completions.push((at, *job_id, owner.as_str())),
                    }
                }
                let mut enqueued = false;
                for (at, accepted) in Self::accept_all_in(&mut tx, &accepts, now).await? {
                    enqueued |= accepted.job.is_some();
                    outcomes[at] = Some(Written::Accepted(accepted));
                }
                for (at, link) in Self::save_links_in(&mut tx, &links, now).await? {
                    outcomes[at] = Some(Written::Link(link));
                }
                for (at, id) in Self::append_logs_in(&mut tx, &logs, now).await? {
                    outcomes[at] = Some(Written::Logged(id));
                }
                for (at, held) in Self::complete_in(&mut tx, &completions, now).await? {
                    outcomes[at] = Some(Written::Completed { lease_held: held });
                }
                tx.commit().await.map_err(StoreError::db("committing a group of writes"))?;
                if enqueued {
                    self.announce_jobs();
                }
                outcomes
                    .into_iter()
                    .map(|outcome| outcome.ok_or_else(|| StoreError::Corrupt("a grouped write had no outcome".into())))
                    .collect()
            }

            pub(crate) async fn inbox_events(
                &self,
                source: Option<System>,
                event_id: Option<&str>,
                limit: i64,
            ) -> Result<Vec<InboxEntry>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT source, event_id, event_type, payload, received_at FROM inbox \
                     WHERE ($1 IS NULL OR source = $1) AND ($2 IS NULL OR event_id = $2) \
                     ORDER BY received_at DESC, event_id LIMIT $3",
                )
                .bind(source.map(System::as_str))
                .bind(event_id)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("reading the inbox"))?;
                rows.iter()
                    .map(|row| {
                        let payload: String = row.try_get("payload").map_err(Self::decode_error)?;
                        Ok(InboxEntry {
                            source: row.try_get::<String, _>("source").map_err(Self::decode_error)?.parse()?,
                            event_id: row.try_get("event_id").map_err(Self::decode_error)?,
                            event_type: row.try_get("event_type").map_err(Self::decode_error)?,
                            payload: serde_json::from_str(&payload).map_err(|error| {
                                StoreError::Corrupt(format!("inbox payload is not JSON: {error}"))
                            })?,
                            received_at: from_millis(row.try_get("received_at").map_err(Self::decode_error)?)?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn count(&self, table: &'static str) -> Result<i64, StoreError> {
                use sqlx::Row;
                let sql = format!("SELECT COUNT(*) AS count FROM {table}");
                let row = sqlx::query(&sql)
                    .fetch_one(self.reader())
                    .await
                    .map_err(StoreError::db("counting rows"))?;
                row.try_get("count").map_err(Self::decode_error)
            }

            /// Runs `delete` (a `DELETE` of rows older than `$1`) with
            /// `before` in a write transaction; returns the rows deleted.
            async fn delete_older(&self, delete: &str, before: i64, what: &'static str) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                let deleted = sqlx::query(delete)
                    .bind(before)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db(what))?
                    .rows_affected();
                tx.commit().await.map_err(StoreError::db(what))?;
                Ok(deleted)
            }

            pub(crate) async fn prune_inbox(&self, received_before: i64) -> Result<u64, StoreError> {
                self.delete_older(
                    "DELETE FROM inbox WHERE received_at < $1",
                    received_before,
                    "pruning the inbox",
                )
                .await
            }

            // ---- job lifecycle ----------------------------------------------

            /// Completes several jobs in one transaction; returns the ids whose
            /// lease `owner` no longer held (those are left as they are).
            pub(crate) async fn complete_jobs(
                &self,
                job_ids: &[JobId],
                owner: &str,
                now: i64,
            ) -> Result<Vec<JobId>, StoreError> {
                let completions: Vec<(usize, JobId, &str)> =
                    job_ids.iter().enumerate().map(|(at, id)| (at, *id, owner)).collect();
                let mut tx = self.begin_write().await?;
                let held = Self::complete_in(&mut tx, &completions, now).await?;
                tx.commit().await.map_err(StoreError::db("committing completed jobs"))?;
                Ok(held
                    .into_iter()
                    .filter(|(_, held)| !held)
                    .map(|(at, _)| job_ids[at])
                    .collect())
            }

            pub(crate) async fn extend_job_lease(
                &self,
                job_id: JobId,
                owner: &str,
                lease_expires_at: i64,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query(
                    "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                )
                .bind(job_id)
                .bind(owner)
                .bind(lease_expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("extending a job lease"))?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::LeaseLost { job_id, owner: owner.to_string() });
                }
                tx.commit().await.map_err(StoreError::db("committing a lease extension"))
            }

            pub(crate) async fn dead_letter_job(
                &self,
                job_id: JobId,
                owner: &str,
                reason: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query(
                    "UPDATE jobs SET state = 'dead', dead_reason = $3, last_error = $3, \
                     finished_at = $4, updated_at = $4, lease_owner = NULL, lease_expires_at = NULL \
                     WHERE id = $1 AND state = 'running' AND lease_owner = $2",
                )
                .bind(job_id)
                .bind(owner)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("dead-lettering a job"))?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::LeaseLost { job_id, owner: owner.to_string() });
                }
                tx.commit().await.map_err(StoreError::db("committing a dead letter"))
            }

            /// One attempt at putting a job back to pending (`from_state` is
            /// 'running' for a retry by its lease owner, 'dead' for a replay).
            /// Returns the sqlx error untouched so a unique-index race can be
            /// told apart and tried again.
            async fn requeue_attempt(
                &self,
                job_id: JobId,
                owner: Option<&str>,
                error_text: Option<&str>,
                run_at: i64,
                reset_attempts: bool,
                now: i64,
            ) -> Result<Result<RetryOutcome, StoreError>, sqlx::Error> {
                use sqlx::Row;
                let mut tx = match self.begin_write().await {
                    Ok(tx) => tx,
                    Err(error) => return Ok(Err(error)),
                };
                let row = sqlx::query("SELECT state, dedupe_key, lease_owner FROM jobs WHERE id = $1")
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(Err(StoreError::JobNotFound(job_id)));
                };
                let state: String = row.try_get("state")?;
                let dedupe_key: String = row.try_get("dedupe_key")?;
                let lease_owner: Option<String> = row.try_get("lease_owner")?;
                match owner {
                    Some(owner) if state != "running" || lease_owner.as_deref() != Some(owner) => {
                        return Ok(Err(StoreError::LeaseLost { job_id, owner: owner.to_string() }));
                    }
                    None if state != "dead" => {
                        return Ok(Err(StoreError::NotDeadLetter { job_id, state }));
                    }
                    _ => {}
                }
                let pending: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'pending'",
                )
                .bind(&dedupe_key)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = if let Some(pending_id) = pending {
                    sqlx::query(
                        "UPDATE jobs SET state = 'superseded', last_error = COALESCE($2, last_error), \
                         finished_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL \
                         WHERE id = $1",
                    )
                    .bind(job_id)
                    .bind(error_text)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    RetryOutcome::Superseded { by: pending_id }
                } else {
                    sqlx::query(
                        "UPDATE jobs SET state = 'pending', run_at = $2, \
                         last_error = COALESCE($3, last_error), \
                         attempts = CASE WHEN $4 THEN 0 ELSE attempts END, \
                         dead_reason = NULL, finished_at = NULL, updated_at = $5, \
                         lease_owner = NULL, lease_expires_at = NULL WHERE id = $1",
                    )
                    .bind(job_id)
                    .bind(run_at)
                    .bind(error_text)
                    .bind(reset_attempts)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    RetryOutcome::Rescheduled
                };
                tx.commit().await?;
                if outcome == RetryOutcome::Rescheduled {
                    self.announce_jobs();
                }
                Ok(Ok(outcome))
            }

            pub(crate) async fn requeue(
                &self,
                job_id: JobId,
                owner: Option<&str>,
                error_text: Option<&str>,
                run_at: i64,
                reset_attempts: bool,
                now: i64,
            ) -> Result<RetryOutcome, StoreError> {
                let mut races = 0;
                loop {
                    match self.requeue_attempt(job_id, owner, error_text, run_at, reset_attempts, now).await {
                        Ok(outcome) => return outcome,
                        // A pending job for the same record was enqueued between our
                        // check and our update: look again, it supersedes this one.
                        Err(error) if is_unique_violation(&error) && races < 5 => races += 1,
                        Err(error) => return Err(StoreError::db("re-queueing a job")(error)),
                    }
                }
            }

            /// Ids of the jobs running under `owner`'s lease, expired or not.
            pub(crate) async fn leased_job_ids(&self, owner: &str) -> Result<Vec<JobId>, StoreError> {
                sqlx::query_scalar("SELECT id FROM jobs WHERE state = 'running' AND lease_owner = $1 ORDER BY id")
                    .bind(owner)
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("listing a worker's leased jobs"))
            }

            pub(crate) async fn drop_dead_letter(&self, job_id: JobId) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1")
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::db("reading a dead letter"))?;
                match state.as_deref() {
                    None => return Err(StoreError::JobNotFound(job_id)),
                    Some("dead") => {}
                    Some(other) => {
                        return Err(StoreError::NotDeadLetter { job_id, state: other.to_string() });
                    }
                }
                sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'dead'")
                    .bind(job_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("dropping a dead letter"))?;
                tx.commit().await.map_err(StoreError::db("committing a dropped dead letter"))
            }

            pub(crate) async fn jobs(
                &self,
                job_id: Option<JobId>,
                state: Option<JobState>,
                dedupe_key: Option<&str>,
                after_id: i64,
                limit: i64,
            ) -> Result<Vec<Job>, StoreError> {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR id = $1) \
                     AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR dedupe_key = $3) \
                     AND id > $4 ORDER BY id LIMIT $5"
                );
                let rows = sqlx::query(&sql)
                    .bind(job_id)
                    .bind(state.map(JobState::as_str))
                    .bind(dedupe_key)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("listing jobs"))?;
                rows.iter().map(Self::job_from_row).collect()
            }

            pub(crate) async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT state, COUNT(*) AS count FROM jobs GROUP BY state")
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("counting jobs"))?;
                let mut stats = QueueStats::default();
                for row in &rows {
                    let count: i64 = row.try_get("count").map_err(Self::decode_error)?;
                    match row.try_get::<String, _>("state").map_err(Self::decode_error)?.parse()? {
                        JobState::Pending => stats.pending = count,
                        JobState::Running => stats.running = count,
                        JobState::Done => stats.done = count,
                        JobState::Dead => stats.dead = count,
                        JobState::Superseded => stats.superseded = count,
                    }
                }
                Ok(stats)
            }

            pub(crate) async fn prune_finished_jobs(&self, finished_before: i64) -> Result<u64, StoreError> {
                self.delete_older(
                    "DELETE FROM jobs WHERE state IN ('done', 'superseded') AND finished_at < $1",
                    finished_before,
                    "pruning finished jobs",
                )
                .await
            }

            // ---- location leases --------------------------------------------

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
                let row = sqlx::query(&sql)
                .bind(location)
                .bind(owner)
                .bind(expires_at)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::db("acquiring a location lease"))?;
                tx.commit().await.map_err(StoreError::db("committing a location lease"))?;
                Ok(row.is_some())
            }

            pub(crate) async fn release_lease(
                &self,
                table: &'static str,
                location: &str,
                owner: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let sql = format!("DELETE FROM {table} WHERE location = $1 AND owner = $2");
                let deleted = sqlx::query(&sql)
                    .bind(location)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("releasing a location lease"))?
                    .rows_affected();
                tx.commit().await.map_err(StoreError::db("committing a location lease release"))?;
                Ok(deleted > 0)
            }

            pub(crate) async fn location_leases(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT location, owner, expires_at FROM location_leases ORDER BY location")
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("listing location leases"))?;
                rows.iter()
                    .map(|row| {
                        Ok((
                            row.try_get("location").map_err(Self::decode_error)?,
                            row.try_get("owner").map_err(Self::decode_error)?,
                            row.try_get("expires_at").map_err(Self::decode_error)?,
                        ))
                    })
                    .collect()
            }

            // ---- poll cursors -----------------------------------------------

            pub(crate) async fn set_cursor(
                &self,
                source: System,
                entity_type: &str,
                cursor: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO poll_cursors (source, entity_type, cursor, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (source, entity_type) DO UPDATE SET \
                     cursor = excluded.cursor, updated_at = excluded.updated_at",
                )
                .bind(source.as_str())
                .bind(entity_type)
                .bind(cursor)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("saving a poll cursor"))?;
                tx.commit().await.map_err(StoreError::db("committing a poll cursor"))
            }

            pub(crate) async fn cursors(
                &self,
                source: Option<System>,
                entity_type: Option<&str>,
            ) -> Result<Vec<PollCursor>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT source, entity_type, cursor, updated_at FROM poll_cursors \
                     WHERE ($1 IS NULL OR source = $1) AND ($2 IS NULL OR entity_type = $2) \
                     ORDER BY source, entity_type",
                )
                .bind(source.map(System::as_str))
                .bind(entity_type)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("reading poll cursors"))?;
                rows.iter()
                    .map(|row| {
                        Ok(PollCursor {
                            source: row.try_get::<String, _>("source").map_err(Self::decode_error)?.parse()?,
                            entity_type: row.try_get("entity_type").map_err(Self::decode_error)?,
                            cursor: row.try_get("cursor").map_err(Self::decode_error)?,
                            updated_at: from_millis(row.try_get("updated_at").map_err(Self::decode_error)?)?,
                        })
                    })
                    .collect()
            }

            // ---- logs, drift, alerts ------------------------------------------

            /// Appends an integration log line inside `tx`; committing is the caller's.
            /// Appends `events` (each with where it stands in its group
            /// commit) to the integration log inside `tx` in one statement;
            /// returns each one's id.
            async fn append_logs_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                events: &[(usize, &IntegrationEvent)],
                now: i64,
            ) -> Result<Vec<(usize, i64)>, StoreError> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "INSERT INTO integration_log (at, entity_type, record_id, action, from_system, \
                         to_system, result, detail, job_id) \
                         SELECT $2, w.entity_type, w.record_id, w.action, w.from_system, w.to_system, \
                         w.result, w.detail, w.job_id FROM {} RETURNING id",
                        $backend::json_rows(&[
                            ("entity_type", "text"),
                            ("record_id", "text"),
                            ("action", "text"),
                            ("from_system", "text"),
                            ("to_system", "text"),
                            ("result", "text"),
                            ("detail", "text"),
                            ("job_id", "bigint"),
                        ])
                    )
                });
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                let rows_json = serde_json::Value::Array(
                    events
                        .iter()
                        .map(|(_, event)| {
                            serde_json::json!({
                                "entity_type": event.entity_type,
                                "record_id": event.record_id,
                                "action": event.action,
                                "from_system": event.from_system.as_str(),
                                "to_system": event.to_system.as_str(),
                                "result": event.result,
                                "detail": event.detail,
                                "job_id": event.job_id,
                            })
                        })
                        .collect(),
                )
                .to_string();
                let mut ids: Vec<i64> = sqlx::query_scalar(SQL.as_str())
                    .bind(rows_json)
                    .bind(now)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(StoreError::db("appending to the integration log"))?;
                if ids.len() != events.len() {
                    return Err(StoreError::Corrupt(format!(
                        "{} log lines appended, {} ids returned",
                        events.len(),
                        ids.len()
                    )));
                }
                // Rows are inserted in the array's order, so ascending ids
                // follow it.
                ids.sort_unstable();
                Ok(events.iter().map(|(at, _)| *at).zip(ids).collect())
            }

            /// Marks `completions` (job, lease owner; each with where it
            /// stands in its group commit) done inside `tx` in one
            /// statement; returns for each whether its owner still held the
            /// lease (a job whose lease was lost is left as it is).
            async fn complete_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                completions: &[(usize, JobId, &str)],
                now: i64,
            ) -> Result<Vec<(usize, bool)>, StoreError> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "UPDATE jobs SET state = 'done', finished_at = $2, updated_at = $2, \
                         lease_owner = NULL, lease_expires_at = NULL \
                         FROM {} WHERE jobs.id = w.job_id AND jobs.state = 'running' \
                         AND jobs.lease_owner = w.owner RETURNING id",
                        $backend::json_rows(&[("job_id", "bigint"), ("owner", "text")])
                    )
                });
                static HOLDERS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT id, lease_owner FROM jobs WHERE state = 'running' \
                         AND id IN (SELECT w.job_id FROM {})",
                        $backend::json_rows(&[("job_id", "bigint"), ("owner", "text")])
                    )
                });
                if completions.is_empty() {
                    return Ok(Vec::new());
                }
                let rows_json = serde_json::Value::Array(
                    completions
                        .iter()
                        .map(|(_, job_id, owner)| serde_json::json!({"job_id": job_id, "owner": owner}))
                        .collect(),
                )
                .to_string();
                // The statement returns the jobs it completed, not for whom:
                // when two owners complete one job in this batch (a worker
                // whose lease ran out, and the one that took the job over),
                // read who holds it first.
                let mut owners: std::collections::HashMap<JobId, &str> = std::collections::HashMap::new();
                let mut contested = false;
                for (_, job_id, owner) in completions {
                    contested |= owners.insert(*job_id, owner).is_some_and(|other| other != *owner);
                }
                let holders: std::collections::HashMap<JobId, Option<String>> = if contested {
                    sqlx::query_as(HOLDERS_SQL.as_str())
                        .bind(&rows_json)
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(StoreError::db("reading who holds the jobs to complete"))?
                        .into_iter()
                        .collect()
                } else {
                    std::collections::HashMap::new()
                };
                let done: std::collections::HashSet<i64> = sqlx::query_scalar(SQL.as_str())
                    .bind(rows_json)
                    .bind(now)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(StoreError::db("completing jobs"))?
                    .into_iter()
                    .collect();
                Ok(completions
                    .iter()
                    .map(|(at, job_id, owner)| {
                        let held = done.contains(job_id)
                            && (!contested
                                || holders.get(job_id).is_some_and(|holder| holder.as_deref() == Some(*owner)));
                        (*at, held)
                    })
                    .collect())
            }

            fn log_entry_from_row(row: &<$db as sqlx::Database>::Row) -> Result<IntegrationLogEntry, StoreError> {
                use sqlx::Row;
                let text = |column: &str| row.try_get::<String, _>(column).map_err(Self::decode_error);
                Ok(IntegrationLogEntry {
                    id: row.try_get("id").map_err(Self::decode_error)?,
                    at: from_millis(row.try_get("at").map_err(Self::decode_error)?)?,
                    event: IntegrationEvent {
                        entity_type: text("entity_type")?,
                        record_id: text("record_id")?,
                        action: text("action")?,
                        from_system: text("from_system")?.parse()?,
                        to_system: text("to_system")?.parse()?,
                        result: text("result")?,
                        detail: text("detail")?,
                        job_id: row.try_get("job_id").map_err(Self::decode_error)?,
                    },
                })
            }

            pub(crate) async fn integration_log(&self, query: &LogQuery) -> Result<Vec<IntegrationLogEntry>, StoreError> {
                static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                    format!(
                        "SELECT {LOG_COLUMNS} FROM integration_log \
                         WHERE ($1 IS NULL OR entity_type = $1) \
                         AND ($2 IS NULL OR {}) \
                         AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR id < $4) \
                         AND ($6 IS NULL OR from_system = $6) \
                         AND ($7 IS NULL OR {} OR LOWER(detail) LIKE $8 ESCAPE '!') \
                         ORDER BY id DESC LIMIT $5",
                        record_on_either_system("$2"),
                        record_on_either_system("$7"),
                    )
                });
                let search = query.search.as_deref();
                let rows = sqlx::query(SQL.as_str())
                    .bind(&query.entity_type)
                    .bind(&query.record_id)
                    .bind(query.since.map(millis))
                    .bind(query.before_id)
                    .bind(query.limit)
                    .bind(query.from_system.map(System::as_str))
                    .bind(search)
                    .bind(search.map(contains_pattern))
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("reading the integration log"))?;
                rows.iter().map(Self::log_entry_from_row).collect()
            }

            /// The newest integration log entry of each of `record_ids`
            /// (at most a few hundred) of `entity_type`; records never
            /// logged are left out.
            pub(crate) async fn latest_log_entries(
                &self,
                entity_type: &str,
                record_ids: &[&str],
            ) -> Result<Vec<IntegrationLogEntry>, StoreError> {
                if record_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let placeholders = (2..record_ids.len() + 2)
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {LOG_COLUMNS} FROM integration_log WHERE id IN \
                     (SELECT MAX(id) FROM integration_log WHERE entity_type = $1 \
                      AND record_id IN ({placeholders}) GROUP BY record_id) ORDER BY id DESC"
                );
                let mut query = sqlx::query(&sql).bind(entity_type);
                for id in record_ids {
                    query = query.bind(*id);
                }
                let rows = query
                    .fetch_all(self.reader())
                    .await
                    .map_err(StoreError::db("reading records' latest log entries"))?;
                rows.iter().map(Self::log_entry_from_row).collect()
            }

            /// When the newest entry of `entity_type` read from `from_system` was logged.
            pub(crate) async fn last_logged(
                &self,
                entity_type: &str,
                from_system: System,
            ) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar(
                    "SELECT at FROM integration_log WHERE entity_type = $1 AND from_system = $2 \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(entity_type)
                .bind(from_system.as_str())
                .fetch_optional(self.reader())
                .await
                .map_err(StoreError::db("reading when a flow was last logged"))
            }

            /// Records' outcomes since `since`, per bucket of `bucket`
            /// milliseconds, entity, source system and outcome (see
            /// [`Outcome`]), oldest bucket first.
            pub(crate) async fn record_activity(&self, since: i64, bucket: i64) -> Result<Vec<ActivityCount>, StoreError> {
                use sqlx::Row;
                // A job's log lines are written before it completes, by up
                // to its run: those of jobs finished just after `since` are
                // looked for this much earlier.
                const RUN_MARGIN_MS: i64 = 3_600_000;
                let rows = sqlx::query(
                    "SELECT (at / $2) * $2 AS bucket, entity_type, from_system AS system, result AS outcome, \
                       COUNT(*) AS count FROM integration_log \
                     WHERE at >= $1 AND result IN ('written', 'observed') GROUP BY 1, 2, 3, 4 \
                     UNION ALL \
                     SELECT (finished_at / $2) * $2, entity_type, record_system, 'skipped', COUNT(*) FROM jobs \
                     WHERE state = 'done' AND finished_at >= $1 AND id NOT IN \
                       (SELECT job_id FROM integration_log WHERE at >= $3 AND job_id IS NOT NULL) \
                     GROUP BY 1, 2, 3 \
                     UNION ALL \
                     SELECT (updated_at / $2) * $2, entity_type, record_system, 'failed', COUNT(*) FROM jobs \
                     WHERE state = 'dead' AND updated_at >= $1 GROUP BY 1, 2, 3 \
                     ORDER BY 1",
                )
                .bind(since)
                .bind(bucket)
                .bind(since.saturating_sub(RUN_MARGIN_MS))
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("counting records' outcomes"))?;
                rows.iter()
                    .map(|row| {
                        Ok(ActivityCount {
                            bucket: from_millis(row.try_get("bucket").map_err(Self::decode_error)?)?,
                            entity_type: row.try_get("entity_type").map_err(Self::decode_error)?,
                            from_system: row.try_get::<String, _>("system").map_err(Self::decode_error)?.parse()?,
                            outcome: row.try_get::<String, _>("outcome").map_err(Self::decode_error)?.parse()?,
                            count: row.try_get("count").map_err(Self::decode_error)?,
                        })
                    })
                    .collect()
            }

            /// Jobs waiting, running or dead, per entity, kind and state.
            pub(crate) async fn open_job_counts(&self) -> Result<Vec<JobCount>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT entity_type, kind, state, COUNT(*) AS count FROM jobs \
                     WHERE state IN ('pending', 'running', 'dead') \
                     GROUP BY entity_type, kind, state ORDER BY entity_type, kind, state",
                )
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("counting open jobs"))?;
                rows.iter()
                    .map(|row| {
                        Ok(JobCount {
                            entity_type: row.try_get("entity_type").map_err(Self::decode_error)?,
                            kind: row.try_get("kind").map_err(Self::decode_error)?,
                            state: row.try_get::<String, _>("state").map_err(Self::decode_error)?.parse()?,
                            count: row.try_get("count").map_err(Self::decode_error)?,
                        })
                    })
                    .collect()
            }

            /// Links per entity type.
            pub(crate) async fn link_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
                sqlx::query_as(
                    "SELECT entity_type, COUNT(*) AS count FROM links GROUP BY entity_type ORDER BY entity_type",
                )
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("counting links"))
            }

            pub(crate) async fn append_api_activity(&self, calls: &[ApiCall], now: i64) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                for call in calls {
                    sqlx::query(
                        "INSERT INTO api_activity (at, system, location, method, path, status, latency_ms, \
                         rate_remaining) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(now)
                    .bind(call.system.as_str())
                    .bind(&call.location)
                    .bind(&call.method)
                    .bind(path_without_query(&call.path))
                    .bind(call.status.map(i64::from))
                    .bind(call.latency_ms)
                    .bind(call.rate_remaining)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("appending to the API activity log"))?;
                }
                tx.commit().await.map_err(StoreError::db("committing API activity entries"))?;
                Ok(calls.len() as u64)
            }

            pub(crate) async fn prune_api_activity(&self, before: i64) -> Result<u64, StoreError> {
                self.delete_older(
                    "DELETE FROM api_activity WHERE at < $1",
                    before,
                    "pruning the API activity log",
                )
                .await
            }

            pub(crate) async fn api_activity(&self, query: &ApiActivityQuery) -> Result<Vec<ApiActivityEntry>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, at, system, location, method, path, status, latency_ms, rate_remaining \
                     FROM api_activity WHERE ($1 IS NULL OR system = $1) \
                     AND ($2 IS NULL OR location = $2) AND ($3 IS NULL OR at >= $3) \
                     AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
                )
                .bind(query.system.map(System::as_str))
                .bind(&query.location)
                .bind(query.since.map(millis))
                .bind(query.before_id)
                .bind(query.limit)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("reading the API activity log"))?;
                rows.iter()
                    .map(|row| {
                        let status: Option<i64> = row.try_get("status").map_err(Self::decode_error)?;
                        Ok(ApiActivityEntry {
                            id: row.try_get("id").map_err(Self::decode_error)?,
                            at: from_millis(row.try_get("at").map_err(Self::decode_error)?)?,
                            call: ApiCall {
                                system: row.try_get::<String, _>("system").map_err(Self::decode_error)?.parse()?,
                                location: row.try_get("location").map_err(Self::decode_error)?,
                                method: row.try_get("method").map_err(Self::decode_error)?,
                                path: row.try_get("path").map_err(Self::decode_error)?,
                                status: status.and_then(|code| u16::try_from(code).ok()),
                                latency_ms: row.try_get("latency_ms").map_err(Self::decode_error)?,
                                rate_remaining: row.try_get("rate_remaining").map_err(Self::decode_error)?,
                            },
                        })
                    })
                    .collect()
            }

            /// API calls since `since`, per bucket of `bucket` milliseconds,
            /// system and location, oldest bucket first.
            pub(crate) async fn api_call_counts(&self, since: i64, bucket: i64) -> Result<Vec<ApiCallCount>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT (at / $2) * $2 AS bucket, system, location, COUNT(*) AS calls, \
                       SUM(CASE WHEN status IS NULL OR status >= 400 THEN 1 ELSE 0 END) AS failed, \
                       SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited \
                     FROM api_activity WHERE at >= $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                )
                .bind(since)
                .bind(bucket)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("counting API calls"))?;
                rows.iter()
                    .map(|row| {
                        Ok(ApiCallCount {
                            bucket: from_millis(row.try_get("bucket").map_err(Self::decode_error)?)?,
                            system: row.try_get::<String, _>("system").map_err(Self::decode_error)?.parse()?,
                            location: row.try_get("location").map_err(Self::decode_error)?,
                            calls: row.try_get("calls").map_err(Self::decode_error)?,
                            failed: row.try_get("failed").map_err(Self::decode_error)?,
                            limited: row.try_get("limited").map_err(Self::decode_error)?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn save_drift_report(
                &self,
                scope: &str,
                checked: i64,
                drifted: i64,
                details: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO drift_reports (at, scope, checked, drifted, details) \
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(now)
                .bind(scope)
                .bind(checked)
                .bind(drifted)
                .bind(details)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("saving a drift report"))?;
                tx.commit().await.map_err(StoreError::db("committing a drift report"))?;
                Ok(id)
            }

            pub(crate) async fn drift_reports(&self, scope: Option<&str>, limit: i64) -> Result<Vec<DriftReport>, StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, at, scope, checked, drifted, details FROM drift_reports \
                     WHERE ($1 IS NULL OR scope = $1) ORDER BY id DESC LIMIT $2",
                )
                .bind(scope)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("reading drift reports"))?;
                rows.iter()
                    .map(|row| {
                        let details: String = row.try_get("details").map_err(Self::decode_error)?;
                        Ok(DriftReport {
                            id: row.try_get("id").map_err(Self::decode_error)?,
                            at: from_millis(row.try_get("at").map_err(Self::decode_error)?)?,
                            scope: row.try_get("scope").map_err(Self::decode_error)?,
                            checked: row.try_get("checked").map_err(Self::decode_error)?,
                            drifted: row.try_get("drifted").map_err(Self::decode_error)?,
                            details: serde_json::from_str(&details).map_err(|error| {
                                StoreError::Corrupt(format!("drift report details are not JSON: {error}"))
                            })?,
                        })
                    })
                    .collect()
            }

            fn alert_from_row(row: &<$db as sqlx::Database>::Row) -> Result<Alert, StoreError> {
                use sqlx::Row;
                Ok(Alert {
                    id: row.try_get("id").map_err(Self::decode_error)?,
                    sent_at: from_millis(row.try_get("sent_at").map_err(Self::decode_error)?)?,
                    incident_key: row.try_get("incident_key").map_err(Self::decode_error)?,
                    channel: row.try_get("channel").map_err(Self::decode_error)?,
                    summary: row.try_get("summary").map_err(Self::decode_error)?,
                })
            }

            pub(crate) async fn claim_alert(
                &self,
                incident_key: &str,
                channel: &str,
                summary: &str,
                cooled_down_before: i64,
                now: i64,
            ) -> Result<Option<Alert>, StoreError> {
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query(
                    "INSERT INTO alert_cooldowns (incident_key, last_sent_at) VALUES ($1, $2) \
                     ON CONFLICT (incident_key) DO UPDATE SET last_sent_at = excluded.last_sent_at \
                     WHERE alert_cooldowns.last_sent_at <= $3 RETURNING incident_key",
                )
                .bind(incident_key)
                .bind(now)
                .bind(cooled_down_before)
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::db("checking an alert's cool-down"))?;
                if claimed.is_none() {
                    return Ok(None);
                }
                let row = sqlx::query(
                    "INSERT INTO alerts (sent_at, incident_key, channel, summary) VALUES ($1, $2, $3, $4) \
                     RETURNING id, sent_at, incident_key, channel, summary",
                )
                .bind(now)
                .bind(incident_key)
                .bind(channel)
                .bind(summary)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::db("recording an alert"))?;
                let alert = Self::alert_from_row(&row)?;
                tx.commit().await.map_err(StoreError::db("committing an alert"))?;
                Ok(Some(alert))
            }

            pub(crate) async fn alerts(&self, incident_key: Option<&str>, limit: i64) -> Result<Vec<Alert>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, sent_at, incident_key, channel, summary FROM alerts \
                     WHERE ($1 IS NULL OR incident_key = $1) ORDER BY id DESC LIMIT $2",
                )
                .bind(incident_key)
                .bind(limit)
                .fetch_all(self.reader())
                .await
                .map_err(StoreError::db("reading alerts"))?;
                rows.iter().map(Self::alert_from_row).collect()
            }
        }
    };
}

pub(crate) use shared_queries;
