//! The store's contract, written once and run against both backends
//! (SQLite on a temp file, PostgreSQL on a fresh database per test).

mod support;

per_backend!(contract:
    credentials_round_trip_without_showing_secrets,
    wrong_master_key_is_a_clear_error,
    ciphertext_is_bound_to_its_row,
    rotation_re_encrypts_every_secret,
    token_refresh_is_single_flight,
    accepted_event_and_its_job_commit_together,
    concurrent_accepts_share_transactions_and_store_each_event_once,
    accepted_events_of_one_record_fold_into_its_pending_job,
    two_processes_receiving_the_same_events_at_once_never_deadlock,
    planner_statistics_follow_a_table_that_grew,
    claims_stay_cheap_when_planner_statistics_are_stale,
    a_failing_event_fails_alone_and_nothing_is_answered_before_commit,
    links_log_lines_and_events_share_transactions_and_a_clash_fails_alone,
    grouped_writes_answer_each_caller_with_its_own_row,
    enqueue_merges_into_the_pending_job_of_a_record,
    a_found_job_leaves_a_waiting_job_of_its_record_as_it_is,
    live_jobs_run_before_backfill_and_run_at_is_honoured,
    a_claim_up_to_a_priority_leaves_less_urgent_jobs,
    claim_scope_limits_jobs_to_leased_locations,
    expired_lease_is_reclaimed_and_old_owner_loses_it,
    finished_job_never_runs_again,
    retry_dead_letter_replay_and_drop,
    failed_job_is_superseded_by_a_newer_pending_one,
    no_double_claim_under_concurrency,
    one_job_per_record_runs_at_a_time_across_processes,
    no_record_runs_twice_at_once_under_concurrency,
    upgrading_closes_duplicate_running_jobs_of_a_record,
    restarted_worker_gets_its_own_leases_back,
    location_leases_are_exclusive_until_released_or_expired,
    links_record_hashes_and_last_writer,
    links_are_found_by_many_ids_on_either_side,
    concurrent_link_lookups_share_queries_and_see_prior_writes,
    cursors_logs_drift_and_alerts,
    a_record_s_log_is_found_by_its_id_on_either_system,
    upgrading_names_log_entities_as_jobs_do,
    the_log_is_searched_by_name_sku_code_e_mail_and_id_and_paged,
    records_are_named_by_their_latest_log_entry,
    outcomes_per_hour_come_from_the_log_and_the_queue_and_survive_a_restart,
    links_open_jobs_and_api_calls_are_counted,
    waker_wakes_on_enqueue_and_polls_as_backstop,
);

mod contract {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use anyhow::{Context, ensure};
    use chrono::Utc;
    use secrecy::ExposeSecret;
    use serde_json::json;
    use store::*;

    use crate::support::{Backend, TestDb};

    fn job(record_id: &str, priority: Priority) -> NewJob {
        NewJob::now("sync", "product", System::HighLevel, record_id, priority)
    }

    fn event(event_id: &str) -> InboundEvent {
        InboundEvent {
            source: System::HighLevel,
            event_id: event_id.to_string(),
            event_type: "ProductUpdate".to_string(),
            payload: json!({"id": event_id}),
        }
    }

    async fn connection(store: &Store, id: &str) -> anyhow::Result<()> {
        store
            .upsert_connection(id, System::HighLevel, "loc-1", "Main location")
            .await?;
        Ok(())
    }

    fn oauth(access: &str, refresh: &str) -> Credential {
        Credential {
            secret: access.to_string().into(),
            refresh_secret: Some(refresh.to_string().into()),
            expires_at: Some(Utc::now() + chrono::Duration::hours(20)),
            scopes: vec!["products.readonly".into(), "products.write".into()],
        }
    }

    pub async fn credentials_round_trip_without_showing_secrets(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let missing = store
            .save_credential(
                "nobody",
                CredentialKind::WebhookSecret,
                &Credential::new("x"),
            )
            .await;
        ensure!(
            matches!(missing, Err(StoreError::ConnectionNotFound(_))),
            "{missing:?}"
        );

        connection(&store, "ghl-main").await?;
        let saved = oauth("access-AAAA-1111", "refresh-BBBB-2222");
        store
            .save_credential("ghl-main", CredentialKind::HighLevelOAuth, &saved)
            .await?;
        let loaded = store
            .credential("ghl-main", CredentialKind::HighLevelOAuth)
            .await?
            .context("credential saved")?;
        ensure!(loaded.secret.expose_secret() == "access-AAAA-1111");
        ensure!(
            loaded.refresh_secret.as_ref().map(|s| s.expose_secret()) == Some("refresh-BBBB-2222")
        );
        ensure!(loaded.scopes == saved.scopes);
        ensure!(
            loaded.expires_at.map(|t| t.timestamp_millis())
                == saved.expires_at.map(|t| t.timestamp_millis())
        );
        let shown = format!("{loaded:?} {store:?}");
        ensure!(
            !shown.contains("AAAA") && !shown.contains("BBBB"),
            "Debug shows a secret: {shown}"
        );
        ensure!(
            store
                .credential("ghl-main", CredentialKind::WebhookSecret)
                .await?
                .is_none()
        );

        let connections = store.connections().await?;
        ensure!(connections.len() == 1 && connections[0].account_id == "loc-1");
        ensure!(store.delete_connection("ghl-main").await?);
        ensure!(
            store
                .credential("ghl-main", CredentialKind::HighLevelOAuth)
                .await?
                .is_none()
        );
        Ok(())
    }

    pub async fn wrong_master_key_is_a_clear_error(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        connection(&store, "ghl-main").await?;
        store
            .save_credential(
                "ghl-main",
                CredentialKind::HighLevelPrivateToken,
                &Credential::new("pit-SECRET-9"),
            )
            .await?;
        store.close().await;

        let stranger = MasterKey::generate();
        let opened = Store::open(&db.url, Keyring::new(stranger.clone())).await;
        let error = opened.err().context("opening with a wrong key must fail")?;
        let message = error.to_string();
        ensure!(
            matches!(error, StoreError::WrongMasterKey { .. }),
            "{message}"
        );
        ensure!(
            message.contains(db.key.id()) && message.contains(stranger.id()),
            "{message}"
        );
        ensure!(message.contains("ALLYBRIDGE_MASTER_KEY"), "{message}");
        ensure!(!message.contains("SECRET"), "{message}");
        ensure!(!error.is_retryable());
        Ok(())
    }

    pub async fn ciphertext_is_bound_to_its_row(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        connection(&store, "a").await?;
        connection(&store, "b").await?;
        store
            .save_credential(
                "a",
                CredentialKind::AccessAllyAppPassword,
                &Credential::new("pw-of-a"),
            )
            .await?;
        store
            .save_credential(
                "b",
                CredentialKind::AccessAllyAppPassword,
                &Credential::new("pw-of-b"),
            )
            .await?;
        store
            .save_credential(
                "a",
                CredentialKind::WebhookSecret,
                &Credential::new("whsec-of-a"),
            )
            .await?;
        // Move a's password ciphertext into b's row, and into another column kind.
        db.execute_raw(
            "UPDATE credentials SET ciphertext = (SELECT ciphertext FROM credentials c \
             WHERE c.connection_id = 'a' AND c.kind = 'accessally_app_password') \
             WHERE connection_id IN ('b', 'a') AND kind IN ('accessally_app_password', 'webhook_secret') \
             AND NOT (connection_id = 'a' AND kind = 'accessally_app_password')",
        )
        .await?;
        let moved = store
            .credential("b", CredentialKind::AccessAllyAppPassword)
            .await;
        ensure!(
            matches!(moved, Err(StoreError::CredentialTampered { .. })),
            "{moved:?}"
        );
        let other_kind = store.credential("a", CredentialKind::WebhookSecret).await;
        ensure!(
            matches!(other_kind, Err(StoreError::CredentialTampered { .. })),
            "{other_kind:?}"
        );
        let message = other_kind.err().map(|e| e.to_string()).unwrap_or_default();
        ensure!(!message.contains("pw-of-a"), "{message}");
        let intact = store
            .credential("a", CredentialKind::AccessAllyAppPassword)
            .await?
            .context("row a")?;
        ensure!(intact.secret.expose_secret() == "pw-of-a");
        Ok(())
    }

    pub async fn rotation_re_encrypts_every_secret(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let count = 150; // more than one rotation batch
        for index in 0..count {
            let id = format!("conn-{index}");
            connection(&store, &id).await?;
            store
                .save_credential(
                    &id,
                    CredentialKind::WebhookSecret,
                    &Credential::new(format!("secret-{index}")),
                )
                .await?;
        }
        let new_key = MasterKey::generate();
        let report = store.rotate_master_key(new_key.clone()).await?;
        ensure!(report.re_encrypted == count as u64, "{report:?}");
        ensure!(report.new_key_id == new_key.id());
        let key_ids = store.credential_key_ids().await?;
        ensure!(
            key_ids == vec![(new_key.id().to_string(), count)],
            "{key_ids:?}"
        );
        ensure!(store.rotate_master_key(new_key.clone()).await?.re_encrypted == 0);
        store.close().await;

        // Only the new key is needed now; the old one no longer opens the store.
        let reopened = Store::open(&db.url, Keyring::new(new_key)).await?;
        for index in 0..count {
            let credential = reopened
                .credential(&format!("conn-{index}"), CredentialKind::WebhookSecret)
                .await?
                .context("credential after rotation")?;
            ensure!(credential.secret.expose_secret() == format!("secret-{index}"));
        }
        reopened.close().await;
        let with_old = Store::open(&db.url, db.keyring()).await;
        ensure!(matches!(with_old, Err(StoreError::WrongMasterKey { .. })));
        Ok(())
    }

    pub async fn token_refresh_is_single_flight(db: &TestDb) -> anyhow::Result<()> {
        // Two handles with their own pools stand for two processes.
        let first = db.open().await?;
        let second = db.open().await?;
        connection(&first, "ghl-main").await?;
        let mut stale = oauth("access-0", "refresh-0");
        stale.expires_at = Some(Utc::now() - chrono::Duration::minutes(1));
        first
            .save_credential("ghl-main", CredentialKind::HighLevelOAuth, &stale)
            .await?;

        let refreshes = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for index in 0..8 {
            let store = if index % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let refreshes = refreshes.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .refresh_credential(
                        "ghl-main",
                        CredentialKind::HighLevelOAuth,
                        |current| async move {
                            let current = current.ok_or("no credential")?;
                            let fresh = current
                                .expires_at
                                .is_some_and(|at| at > Utc::now() + chrono::Duration::minutes(5));
                            if fresh {
                                return Ok::<_, &'static str>(None);
                            }
                            // The single-use refresh token is spent here.
                            let generation = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(Some(oauth(
                                &format!("access-{generation}"),
                                &format!("refresh-{generation}"),
                            )))
                        },
                    )
                    .await
                    .map(|credential| credential.map(|c| c.secret.expose_secret().to_string()))
            }));
        }
        let mut seen = HashSet::new();
        for task in tasks {
            seen.insert(task.await?.map_err(|error| anyhow::anyhow!("{error}"))?);
        }
        ensure!(
            refreshes.load(Ordering::SeqCst) == 1,
            "refreshed {} times",
            refreshes.load(Ordering::SeqCst)
        );
        ensure!(
            seen == HashSet::from([Some("access-1".to_string())]),
            "{seen:?}"
        );
        let stored = second
            .credential("ghl-main", CredentialKind::HighLevelOAuth)
            .await?
            .context("stored")?;
        ensure!(
            stored.refresh_secret.map(|s| s.expose_secret().to_string())
                == Some("refresh-1".into())
        );

        // A failing refresh leaves the stored pair untouched.
        let failed = first
            .refresh_credential("ghl-main", CredentialKind::HighLevelOAuth, |_| async {
                Err::<Option<Credential>, _>("HTTP 500")
            })
            .await;
        ensure!(matches!(failed, Err(RefreshError::Refresh("HTTP 500"))));
        Ok(())
    }

    pub async fn accepted_event_and_its_job_commit_together(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let first = store
            .accept_event(&event("evt-1"), Some(&job("p1", Priority::Live)))
            .await?;
        ensure!(
            first.new && first.job.is_some_and(|j| !j.merged),
            "{first:?}"
        );
        let again = store
            .accept_event(&event("evt-1"), Some(&job("p1", Priority::Live)))
            .await?;
        ensure!(!again.new && again.job.is_none(), "{again:?}");
        ensure!(store.queue_stats().await?.pending == 1);
        let other_source = InboundEvent {
            source: System::AccessAlly,
            ..event("evt-1")
        };
        ensure!(store.accept_event(&other_source, None).await?.new);

        // The job insert fails (the database rejects an empty kind): the
        // inbox insert must roll back with it.
        let mut broken = job("p2", Priority::Live);
        broken.kind = String::new();
        let failed = store.accept_event(&event("evt-2"), Some(&broken)).await;
        ensure!(failed.is_err(), "{failed:?}");
        ensure!(
            store
                .inbox_event(System::HighLevel, "evt-2")
                .await?
                .is_none(),
            "inbox kept a half-accepted event"
        );
        ensure!(store.queue_stats().await?.pending == 1);
        // So the sender's retry is accepted as new.
        let retried = store
            .accept_event(&event("evt-2"), Some(&job("p2", Priority::Live)))
            .await?;
        ensure!(retried.new && retried.job.is_some());
        let stored = store
            .inbox_event(System::HighLevel, "evt-2")
            .await?
            .context("stored")?;
        ensure!(stored.payload == json!({"id": "evt-2"}) && stored.event_type == "ProductUpdate");
        ensure!(store.inbox_len().await? == 3);
        ensure!(
            store
                .recent_inbox_events(Some(System::AccessAlly), 10)
                .await?
                .len()
                == 1
        );
        ensure!(
            store
                .prune_inbox(Utc::now() + chrono::Duration::seconds(1))
                .await?
                == 3
        );
        Ok(())
    }

    pub async fn concurrent_accepts_share_transactions_and_store_each_event_once(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let calls = 200;
        let distinct = 150; // so 50 calls repeat an event id, in the same batch or a later one
        let start = Arc::new(tokio::sync::Barrier::new(calls));
        let mut tasks = Vec::new();
        for index in 0..calls {
            let store = store.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("evt-{}", index % distinct);
                start.wait().await;
                let accepted = store
                    .accept_event(&event(&id), Some(&job(&id, Priority::Live)))
                    .await;
                (id, accepted)
            }));
        }
        let mut new_per_id: std::collections::HashMap<String, usize> = Default::default();
        let mut job_ids = HashSet::new();
        for task in tasks {
            let (id, accepted) = task.await?;
            let accepted = accepted?;
            if accepted.new {
                let enqueued = accepted.job.context("a new event enqueues its job")?;
                ensure!(!enqueued.merged, "{id}: {accepted:?}");
                job_ids.insert(enqueued.job_id);
            } else {
                ensure!(accepted.job.is_none(), "a duplicate enqueued: {accepted:?}");
            }
            *new_per_id.entry(id).or_default() += usize::from(accepted.new);
        }
        ensure!(new_per_id.len() == distinct);
        ensure!(
            new_per_id.values().all(|&news| news == 1),
            "events not accepted as new exactly once: {new_per_id:?}"
        );
        ensure!(job_ids.len() == distinct);
        ensure!(store.inbox_len().await? == distinct as i64);
        for index in 0..distinct {
            let id = format!("evt-{index}");
            ensure!(
                store.inbox_event(System::HighLevel, &id).await?.is_some(),
                "{id} not stored"
            );
            let jobs = store
                .jobs_for_dedupe_key(&job(&id, Priority::Live).dedupe_key)
                .await?;
            ensure!(jobs.len() == 1, "{id}: {} jobs", jobs.len());
        }
        ensure!(store.queue_stats().await?.pending == distinct as i64);
        let stats = store.group_commit_stats();
        println!("{calls} concurrent accepts: {stats:?}");
        ensure!(stats.writes == calls as u64, "{stats:?}");
        ensure!(
            stats.transactions < stats.writes && stats.largest_batch > 1,
            "no transaction was shared: {stats:?}"
        );
        ensure!(stats.split_batches == 0, "{stats:?}");
        Ok(())
    }

    /// Many events of a few records accepted at once (so they share group
    /// commits, whose jobs are enqueued in one statement): each record ends
    /// with one pending job that counts every event after the first as a
    /// merge, carries the most urgent priority, and is named to every
    /// caller; exactly one caller per record sees a fresh job, none where
    /// the record already had one waiting.
    pub async fn accepted_events_of_one_record_fold_into_its_pending_job(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        // Record r0 already has a job waiting, far in the future.
        let later = Utc::now() + chrono::Duration::hours(1);
        let waiting = store
            .enqueue(&job("r0", Priority::Backfill).with_run_at(later))
            .await?;
        let records = 4;
        let calls = 120;
        let start = Arc::new(tokio::sync::Barrier::new(calls));
        let mut tasks = Vec::new();
        for index in 0..calls {
            let store = store.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let record = format!("r{}", index % records);
                // One round of events in ten is live (every record gets
                // some), the others backfill.
                let priority = if (index / records) % 10 == 3 {
                    Priority::Live
                } else {
                    Priority::Backfill
                };
                let event_id = format!("evt-{index}");
                let job = job(&record, priority).with_payload(json!({"event": index}));
                start.wait().await;
                let accepted = store.accept_event(&event(&event_id), Some(&job)).await;
                (record, accepted)
            }));
        }
        let mut per_record: std::collections::HashMap<String, (HashSet<JobId>, usize, usize)> =
            Default::default();
        for task in tasks {
            let (record, accepted) = task.await?;
            let accepted = accepted?;
            ensure!(accepted.new, "{record}: {accepted:?}");
            let enqueued = accepted.job.context("a new event enqueues its job")?;
            let (ids, fresh, total) = per_record.entry(record).or_default();
            ids.insert(enqueued.job_id);
            *fresh += usize::from(!enqueued.merged);
            *total += 1;
        }
        ensure!(per_record.len() == records);
        for (record, (ids, fresh, total)) in &per_record {
            ensure!(ids.len() == 1, "{record}: callers were told of {ids:?}");
            let job_id = *ids.iter().next().context("one id")?;
            let pending = store
                .jobs_for_dedupe_key(&job(record, Priority::Live).dedupe_key)
                .await?;
            ensure!(
                pending.len() == 1 && pending[0].id == job_id,
                "{record}: {pending:?}"
            );
            let stored = &pending[0];
            ensure!(stored.priority == Priority::Live, "{record}: {stored:?}");
            if record == "r0" {
                ensure!(
                    job_id == waiting.job_id && *fresh == 0,
                    "{record}: {fresh} fresh"
                );
                ensure!(stored.merged_count == *total as i64, "{record}: {stored:?}");
                ensure!(
                    stored.run_at < later,
                    "the earliest run-at wins: {stored:?}"
                );
            } else {
                ensure!(*fresh == 1, "{record}: {fresh} callers saw a fresh job");
                ensure!(
                    stored.merged_count == *total as i64 - 1,
                    "{record}: {stored:?}"
                );
            }
        }
        ensure!(store.queue_stats().await?.pending == records as i64);
        ensure!(store.inbox_len().await? == calls as i64);
        let stats = store.group_commit_stats();
        ensure!(
            stats.largest_batch > 1,
            "no transaction was shared: {stats:?}"
        );
        ensure!(stats.split_batches == 0, "{stats:?}");
        Ok(())
    }

    /// Two processes on one database receive the same events at once, in
    /// opposite orders (webhooks retried to the other daemon, say), so
    /// their group commits (a few hundred writes each) insert the same
    /// inbox rows and upsert the same records' jobs side by side: each
    /// event is new exactly once, each record ends with one pending job
    /// that counts every other event as merged, and no batch failed (one
    /// that did, on a deadlock or a conflict, would have been split into
    /// single writes).
    pub async fn two_processes_receiving_the_same_events_at_once_never_deadlock(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let first = db.open().await?;
        let second = db.open().await?;
        let (rounds, per_round, records) = (4, 250, 10);
        let events = rounds * per_round;
        let mut tasks = Vec::new();
        for round in 0..rounds {
            let start = Arc::new(tokio::sync::Barrier::new(2 * per_round));
            let mut round_tasks = Vec::new();
            for (store, ascending) in [(&first, true), (&second, false)] {
                for step in 0..per_round {
                    let step = if ascending {
                        step
                    } else {
                        per_round - 1 - step
                    };
                    let index = round * per_round + step;
                    let store = store.clone();
                    let start = start.clone();
                    round_tasks.push(tokio::spawn(async move {
                        let job = job(&format!("r{}", index % records), Priority::Live);
                        start.wait().await;
                        let accepted = store
                            .accept_event(&event(&format!("evt-{index}")), Some(&job))
                            .await;
                        (index, accepted)
                    }));
                }
            }
            for task in round_tasks {
                tasks.push(task.await?);
            }
        }
        let mut new_per_event = vec![0; events];
        for (index, accepted) in tasks {
            let accepted = accepted?;
            new_per_event[index] += usize::from(accepted.new);
            ensure!(
                accepted.new == accepted.job.is_some(),
                "evt-{index}: {accepted:?}"
            );
        }
        ensure!(
            new_per_event.iter().all(|&new| new == 1),
            "events not new exactly once: {new_per_event:?}"
        );
        ensure!(first.inbox_len().await? == events as i64);
        for record in 0..records {
            let pending = first
                .jobs_for_dedupe_key(&job(&format!("r{record}"), Priority::Live).dedupe_key)
                .await?;
            ensure!(pending.len() == 1, "r{record}: {pending:?}");
            ensure!(
                pending[0].merged_count == (events / records) as i64 - 1,
                "r{record}: {:?}",
                pending[0]
            );
        }
        for stats in [first.group_commit_stats(), second.group_commit_stats()] {
            ensure!(stats.split_batches == 0, "a batch failed: {stats:?}");
            ensure!(
                stats.largest_batch > 1,
                "no transaction was shared: {stats:?}"
            );
        }
        Ok(())
    }

    /// A queue that grew from nothing gets its planner statistics refreshed
    /// long before autovacuum would look (turned off for the table here, so
    /// only the store can have done it), and a table that did not change
    /// since is left alone. SQLite needs no statistics and reports none.
    pub async fn planner_statistics_follow_a_table_that_grew(db: &TestDb) -> anyhow::Result<()> {
        use sqlx::Connection;
        let store = db.open().await?;
        let found: Vec<NewJob> = (0..3_000)
            .map(|n| job(&format!("grown-{n}"), Priority::Backfill))
            .collect();
        if db.backend == Backend::Sqlite {
            store.enqueue_found(&found, false).await?;
            ensure!(store.refresh_planner_statistics().await?.is_empty());
            return Ok(());
        }
        let mut admin = sqlx::PgConnection::connect(&db.url).await?;
        sqlx::query("ALTER TABLE jobs SET (autovacuum_enabled = false)")
            .execute(&mut admin)
            .await?;
        let analyses = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'jobs'";
        let before: i64 = sqlx::query_scalar(analyses).fetch_one(&mut admin).await?;
        ensure!(store.enqueue_found(&found, false).await? == 3_000);
        // The server counts the inserts within a second or so; the store
        // (by itself every two seconds, or asked here) then analyzes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            store.refresh_planner_statistics().await?;
            let after: i64 = sqlx::query_scalar(analyses).fetch_one(&mut admin).await?;
            if after > before {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the grown jobs table was never analyzed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let estimated: f32 =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE relname = 'jobs'")
                .fetch_one(&mut admin)
                .await?;
        ensure!(
            estimated >= 2_500.0,
            "the planner still estimates {estimated} jobs"
        );
        let again = store.refresh_planner_statistics().await?;
        ensure!(
            !again.contains(&"jobs"),
            "an unchanged table was analyzed again: {again:?}"
        );
        admin.close().await?;
        Ok(())
    }

    /// Statistics taken when every job was done, then a burst of new
    /// pending jobs (a reconciliation after a backfill): the claim must
    /// still read its candidates once and fetch each by primary key. The
    /// plan it replaced scanned every pending job and ran the candidates
    /// again for each, and a claim took minutes at 40,000 jobs.
    pub async fn claims_stay_cheap_when_planner_statistics_are_stale(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        use sqlx::Connection;
        let store = db.open().await?;
        let mut admin = match db.backend {
            Backend::Postgres => {
                let mut admin = sqlx::PgConnection::connect(&db.url).await?;
                sqlx::query("ALTER TABLE jobs SET (autovacuum_enabled = false)")
                    .execute(&mut admin)
                    .await?;
                Some(admin)
            }
            Backend::Sqlite => None,
        };
        let first: Vec<NewJob> = (0..2_000)
            .map(|n| job(&format!("first-{n}"), Priority::Backfill))
            .collect();
        store.enqueue_found(&first, true).await?;
        loop {
            let claimed = store
                .claim_jobs("w", &ClaimScope::Any, 500, Duration::from_secs(60))
                .await?;
            if claimed.is_empty() {
                break;
            }
            let ids: Vec<JobId> = claimed.iter().map(|j| j.id).collect();
            ensure!(store.complete_jobs(&ids, "w").await?.is_empty());
        }
        if let Some(admin) = admin.as_mut() {
            sqlx::query("ANALYZE jobs").execute(&mut *admin).await?;
        }
        let second: Vec<NewJob> = (0..2_000)
            .map(|n| job(&format!("second-{n}"), Priority::Backfill))
            .collect();
        store.enqueue_found(&second, true).await?;
        // Some running, as with busy workers.
        let held = store
            .claim_jobs("busy", &ClaimScope::Any, 20, Duration::from_secs(60))
            .await?;
        ensure!(held.len() == 20);
        if let Some(plan) = store.explain_claim(32).await? {
            ensure!(
                plan.contains("jobs_pkey"),
                "the claimed rows are not fetched by primary key:\n{plan}"
            );
            let candidates = plan
                .lines()
                .find(|line| line.contains("Subquery Scan on pending_arm"))
                .with_context(|| format!("no pending arm in the plan:\n{plan}"))?;
            ensure!(
                candidates.contains("loops=1)"),
                "the candidates ran more than once:\n{plan}"
            );
        }
        let claimed = store
            .claim_jobs("w", &ClaimScope::Any, 32, Duration::from_secs(60))
            .await?;
        ensure!(claimed.len() == 32);
        let held: HashSet<JobId> = held.iter().map(|j| j.id).collect();
        ensure!(
            claimed
                .iter()
                .all(|j| !held.contains(&j.id) && j.record_id.starts_with("second-"))
        );
        if let Some(admin) = admin {
            admin.close().await?;
        }
        Ok(())
    }

    pub async fn links_log_lines_and_events_share_transactions_and_a_clash_fails_alone(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        store
            .save_link(&NewLink {
                entity_type: "product".into(),
                highlevel_id: "taken".into(),
                accessally_id: "aa-taken".into(),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
        let before = store.group_commit_stats();
        let writers = 60;
        let start = Arc::new(tokio::sync::Barrier::new(writers));
        let mut tasks = Vec::new();
        for index in 0..writers {
            let store = store.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                match index % 3 {
                    0 => store
                        .save_link(&NewLink {
                            entity_type: "product".into(),
                            highlevel_id: format!("hl-{index}"),
                            // One link claims an AccessAlly record already linked.
                            accessally_id: if index == 30 {
                                "aa-taken".into()
                            } else {
                                format!("aa-{index}")
                            },
                            highlevel_hash: Some(format!("h{index}")),
                            accessally_hash: None,
                            highlevel_state: None,
                        })
                        .await
                        .map(|_| ()),
                    1 => store
                        .log_integration(&IntegrationEvent {
                            entity_type: "product".into(),
                            record_id: format!("hl-{index}"),
                            action: "create".into(),
                            from_system: System::HighLevel,
                            to_system: System::AccessAlly,
                            result: "written".into(),
                            detail: String::new(),
                            job_id: None,
                        })
                        .await
                        .map(|_| ()),
                    _ => {
                        let id = format!("evt-{index}");
                        store
                            .accept_event(&event(&id), Some(&job(&id, Priority::Live)))
                            .await
                            .map(|_| ())
                    }
                }
            }));
        }
        let mut failed = Vec::new();
        for (index, task) in tasks.into_iter().enumerate() {
            if let Err(error) = task.await? {
                failed.push((index, error.to_string()));
            }
        }
        ensure!(
            failed.len() == 1 && failed[0].0 == 30 && failed[0].1.contains("already linked"),
            "only the clashing link may fail: {failed:?}"
        );
        ensure!(
            store.link_count().await? == 20,
            "19 new links and the first"
        );
        ensure!(store.inbox_len().await? == 20);
        let logged = store
            .integration_log(&LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await?;
        ensure!(logged.len() == 20, "{} log lines", logged.len());
        let stats = store.group_commit_stats();
        ensure!(stats.writes - before.writes == writers as u64, "{stats:?}");
        // The clash splits its batch unless it happened to be alone in one.
        ensure!(
            stats.largest_batch > 1,
            "no transaction was shared: {stats:?}"
        );
        Ok(())
    }

    pub async fn a_failing_event_fails_alone_and_nothing_is_answered_before_commit(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        async fn until(what: &str, done: impl Fn() -> bool) -> anyhow::Result<()> {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !done() {
                ensure!(
                    std::time::Instant::now() < deadline,
                    "timed out waiting until {what}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(())
        }
        let accept = |id: &str, job: NewJob| {
            let store = store.clone();
            let event = event(id);
            tokio::spawn(async move { store.accept_event(&event, Some(&job)).await })
        };
        let lock = db.lock_inbox().await?;
        // The first call's transaction waits for the lock; the next ones queue
        // behind it and form one batch, the broken event among them.
        let first = accept("evt-first", job("first", Priority::Live));
        until("the first batch is committing", || {
            store.group_commit_stats().transactions == 1
        })
        .await?;
        let mut broken = job("broken", Priority::Live);
        broken.kind = String::new(); // the database refuses an empty kind
        let mut queued = Vec::new();
        for index in 0..5 {
            let id = format!("evt-{index}");
            queued.push((id.clone(), accept(&id, job(&id, Priority::Live))));
            if index == 2 {
                queued.push(("evt-broken".into(), accept("evt-broken", broken.clone())));
            }
        }
        until("all events are queued", || {
            store.group_commit_stats().writes == 7
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        ensure!(
            !first.is_finished() && queued.iter().all(|(_, task)| !task.is_finished()),
            "a caller was answered before its event was committed"
        );
        lock.release().await?;

        ensure!(first.await??.new);
        for (id, task) in queued {
            let outcome = task.await?;
            if id == "evt-broken" {
                let error = outcome.err().context("the broken event must fail")?;
                ensure!(matches!(error, StoreError::Database { .. }), "{error}");
            } else {
                let accepted =
                    outcome.with_context(|| format!("{id} failed with the broken one"))?;
                ensure!(accepted.new && accepted.job.is_some(), "{id}: {accepted:?}");
            }
        }
        let stats = store.group_commit_stats();
        ensure!(
            stats
                == GroupCommitStats {
                    writes: 7,
                    // the first alone, the batch of six, then each of the six again
                    transactions: 8,
                    split_batches: 1,
                    largest_batch: 6,
                },
            "{stats:?}"
        );
        ensure!(
            store
                .inbox_event(System::HighLevel, "evt-broken")
                .await?
                .is_none(),
            "the broken event was half stored"
        );
        ensure!(store.inbox_len().await? == 6);
        ensure!(store.queue_stats().await?.pending == 6);
        Ok(())
    }

    pub async fn enqueue_merges_into_the_pending_job_of_a_record(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let later = Utc::now() + chrono::Duration::hours(1);
        let first = store
            .enqueue(
                &job("p1", Priority::Backfill)
                    .with_run_at(later)
                    .with_payload(json!({"v": 1})),
            )
            .await?;
        ensure!(!first.merged);
        let second = store
            .enqueue(&job("p1", Priority::Live).with_payload(json!({"v": 2})))
            .await?;
        ensure!(second.merged && second.job_id == first.job_id, "{second:?}");
        let merged = store.job(first.job_id).await?.context("job")?;
        ensure!(
            merged.priority == Priority::Live
                && merged.run_at < later
                && merged.payload == json!({"v": 2})
        );
        ensure!(merged.merged_count == 1);
        // A backfill enqueue does not demote it.
        store
            .enqueue(&job("p1", Priority::Backfill).with_run_at(later))
            .await?;
        let still = store.job(first.job_id).await?.context("job")?;
        ensure!(still.priority == Priority::Live && still.run_at < later);

        // Once it runs, a new change gets its own pending job.
        let claimed = store
            .claim_jobs("w1", &ClaimScope::Any, 10, Duration::from_secs(30))
            .await?;
        ensure!(claimed.len() == 1);
        let third = store.enqueue(&job("p1", Priority::Live)).await?;
        ensure!(!third.merged && third.job_id != first.job_id);
        let batch = store
            .enqueue_batch(&[
                job("p2", Priority::Live),
                job("p2", Priority::Live),
                job("p3", Priority::Live),
            ])
            .await?;
        ensure!(
            !batch[0].merged
                && batch[1].merged
                && batch[1].job_id == batch[0].job_id
                && !batch[2].merged
        );
        ensure!(
            store
                .jobs_for_dedupe_key(&job("p1", Priority::Live).dedupe_key)
                .await?
                .len()
                == 2
        );
        Ok(())
    }

    pub async fn a_found_job_leaves_a_waiting_job_of_its_record_as_it_is(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        // A job backing off after a failure, at backfill priority.
        let later = Utc::now() + chrono::Duration::hours(1);
        let waiting = store
            .enqueue(
                &job("p1", Priority::Backfill)
                    .with_run_at(later)
                    .with_payload(json!({"v": 1})),
            )
            .await?;
        // A scan finds it again at the same priority and a new one: only the
        // new one is queued; the waiting job keeps its back-off and payload.
        let queued = store
            .enqueue_found(
                &[
                    job("p1", Priority::Backfill).with_payload(json!({"v": 2})),
                    job("p2", Priority::Backfill),
                ],
                false,
            )
            .await?;
        ensure!(queued == 1, "{queued} queued");
        let kept = store.job(waiting.job_id).await?.context("job")?;
        ensure!(
            kept.run_at >= later - chrono::Duration::seconds(1)
                && kept.payload == json!({"v": 1})
                && kept.merged_count == 0
                && kept.priority == Priority::Backfill,
            "{kept:?}"
        );
        // A poll (live) moves it up, still without ending its back-off.
        ensure!(
            store
                .enqueue_found(&[job("p1", Priority::Live)], false)
                .await?
                == 1
        );
        let moved = store.job(waiting.job_id).await?.context("job")?;
        ensure!(moved.priority == Priority::Live && moved.run_at == kept.run_at);
        // A later scan does not move it back down.
        ensure!(
            store
                .enqueue_found(&[job("p1", Priority::Backfill)], false)
                .await?
                == 0
        );
        let still = store.job(waiting.job_id).await?.context("job")?;
        ensure!(still.priority == Priority::Live && still.run_at == kept.run_at);
        // A sync asked for runs it now, at its priority.
        ensure!(
            store
                .enqueue_found(&[job("p1", Priority::Backfill)], true)
                .await?
                == 1
        );
        let now = store.job(waiting.job_id).await?.context("job")?;
        ensure!(
            now.priority == Priority::Live && now.run_at < later - chrono::Duration::minutes(30)
        );
        let not_sooner = job("p1", Priority::Backfill).with_run_at(later);
        ensure!(store.enqueue_found(&[not_sooner], true).await? == 0);
        ensure!(store.queue_stats().await?.pending == 2);
        // One record found twice in one call (one statement may not touch
        // a row twice): one job, at the more urgent priority.
        let twice = store
            .enqueue_found(
                &[
                    job("p3", Priority::Backfill),
                    job("p3", Priority::Live),
                    job("p3", Priority::Backfill),
                ],
                false,
            )
            .await?;
        ensure!(twice == 1, "{twice} queued");
        let p3: Vec<Job> = store
            .jobs(Some(JobState::Pending), 0, 100)
            .await?
            .into_iter()
            .filter(|job| job.record_id == "p3")
            .collect();
        ensure!(p3.len() == 1 && p3[0].priority == Priority::Live, "{p3:?}");
        Ok(())
    }

    /// A group commit writes each kind of row in one statement; each caller
    /// still gets its own answer: its log line's id, the link as stored,
    /// its completion or the lease it lost.
    pub async fn grouped_writes_answer_each_caller_with_its_own_row(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        for index in 0..10 {
            store
                .enqueue(&job(&format!("c{index}"), Priority::Live))
                .await?;
        }
        let claimed = store
            .claim_jobs("w", &ClaimScope::Any, 10, Duration::from_secs(60))
            .await?;
        ensure!(claimed.len() == 10, "{} claimed", claimed.len());
        let writers = 40;
        let start = Arc::new(tokio::sync::Barrier::new(writers));
        let mut tasks = Vec::new();
        for index in 0..writers {
            let store = store.clone();
            let start = start.clone();
            let claimed_job = claimed[index % 10].id;
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let answer = match index % 4 {
                    // Two saves of each of five links.
                    0 | 1 => {
                        let link = store
                            .save_link(&NewLink {
                                entity_type: "product".into(),
                                highlevel_id: format!("hl-{}", index / 4 % 5),
                                accessally_id: format!("aa-{}", index / 4 % 5),
                                highlevel_hash: Some(format!("h{index}")),
                                accessally_hash: None,
                                highlevel_state: None,
                            })
                            .await?;
                        json!({"link": link.highlevel_id, "id": link.id})
                    }
                    2 => {
                        let id = store
                            .log_integration(&IntegrationEvent {
                                entity_type: "product".into(),
                                record_id: format!("line-{index}"),
                                action: "create".into(),
                                from_system: System::HighLevel,
                                to_system: System::AccessAlly,
                                result: "written".into(),
                                detail: String::new(),
                                job_id: None,
                            })
                            .await?;
                        json!({"line": format!("line-{index}"), "id": id})
                    }
                    // Half the completions come from a worker that holds no lease.
                    _ => {
                        let owner = if index % 8 == 3 { "w" } else { "stranger" };
                        let completed = store.complete_job(claimed_job, owner).await;
                        json!({
                            "job": claimed_job,
                            "owner": owner,
                            "lost": matches!(completed, Err(StoreError::LeaseLost { .. })),
                            "ok": completed.is_ok(),
                        })
                    }
                };
                anyhow::Ok(answer)
            }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await??);
        }
        // Log lines: the id each caller got is its own line.
        let lines = store
            .integration_log(&LogQuery {
                limit: 100,
                ..LogQuery::default()
            })
            .await?;
        ensure!(lines.len() == 10, "{} log lines", lines.len());
        for answer in answers.iter().filter(|a| a.get("line").is_some()) {
            let line = lines
                .iter()
                .find(|line| json!(line.id) == answer["id"])
                .context("a log id no line has")?;
            ensure!(
                json!(line.event.record_id) == answer["line"],
                "{answer} got {line:?}"
            );
        }
        // Links: both saves of a link were answered with the stored row.
        ensure!(store.link_count().await? == 5);
        for answer in answers.iter().filter(|a| a.get("link").is_some()) {
            let stored = store
                .find_link(
                    "product",
                    System::HighLevel,
                    answer["link"].as_str().unwrap_or(""),
                )
                .await?
                .context("link")?;
            ensure!(json!(stored.id) == answer["id"], "{answer} vs {stored:?}");
        }
        // Completions: the lease holder's are done, a stranger's lost.
        for answer in answers.iter().filter(|a| a.get("job").is_some()) {
            let job_id = answer["job"].as_i64().context("job id")?;
            let state = store.job(job_id).await?.context("job")?.state;
            if answer["owner"] == "w" {
                ensure!(
                    answer["ok"] == true && state == JobState::Done,
                    "{answer} {state:?}"
                );
            } else {
                ensure!(answer["lost"] == true, "{answer}");
            }
        }
        let stats = store.group_commit_stats();
        ensure!(stats.split_batches == 0, "{stats:?}");
        Ok(())
    }

    pub async fn live_jobs_run_before_backfill_and_run_at_is_honoured(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        store.enqueue(&job("backfill", Priority::Backfill)).await?;
        store
            .enqueue(&job("reconcile", Priority::Reconcile))
            .await?;
        store
            .enqueue(
                &job("future", Priority::Live).with_run_at(Utc::now() + chrono::Duration::hours(1)),
            )
            .await?;
        store.enqueue(&job("live", Priority::Live)).await?;
        store.enqueue(&job("polled", Priority::Poll)).await?;
        let order: Vec<String> = store
            .claim_jobs("w", &ClaimScope::Any, 10, Duration::from_secs(30))
            .await?
            .into_iter()
            .map(|job| job.record_id)
            .collect();
        ensure!(
            order == ["live", "polled", "reconcile", "backfill"],
            "{order:?}"
        );
        Ok(())
    }

    pub async fn a_claim_up_to_a_priority_leaves_less_urgent_jobs(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        for n in 0..3 {
            store
                .enqueue(&job(&format!("polled-{n}"), Priority::Poll))
                .await?;
        }
        store.enqueue(&job("backfill", Priority::Backfill)).await?;
        let lease = Duration::from_millis(200);
        let none = store
            .claim_jobs_up_to("w", &ClaimScope::Any, 10, lease, Priority::Live)
            .await?;
        ensure!(none.is_empty(), "took less urgent jobs: {none:?}");
        store.enqueue(&job("live-a", Priority::Live)).await?;
        store.enqueue(&job("live-b", Priority::Live)).await?;
        let live: Vec<String> = store
            .claim_jobs_up_to("w", &ClaimScope::Any, 10, lease, Priority::Live)
            .await?
            .into_iter()
            .map(|job| job.record_id)
            .collect();
        ensure!(live == ["live-a", "live-b"], "{live:?}");
        // A live job whose lease ran out is taken again the same way.
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        let again = store
            .claim_jobs_up_to("rescuer", &ClaimScope::Any, 1, lease, Priority::Live)
            .await?;
        ensure!(
            again.len() == 1 && again[0].record_id.starts_with("live-"),
            "{again:?}"
        );
        let polled = store
            .claim_jobs_up_to("w", &ClaimScope::Any, 10, lease, Priority::Poll)
            .await?;
        ensure!(
            polled.len() == 4 && polled.iter().all(|j| j.priority <= Priority::Poll),
            "{polled:?}"
        );
        // What a record has open: nothing, pending, running.
        let key = |record: &str| job(record, Priority::Live).dedupe_key;
        ensure!(store.open_jobs(&key("nothing")).await? == OpenJobs::default());
        ensure!(
            store.open_jobs(&key("backfill")).await?
                == OpenJobs {
                    pending: true,
                    running: false
                }
        );
        ensure!(
            store.open_jobs(&key("polled-0")).await?
                == OpenJobs {
                    pending: false,
                    running: true
                }
        );
        Ok(())
    }

    pub async fn claim_scope_limits_jobs_to_leased_locations(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        store
            .enqueue(&job("a", Priority::Live).with_location("loc-a"))
            .await?;
        store
            .enqueue(&job("b", Priority::Live).with_location("loc-b"))
            .await?;
        store.enqueue(&job("none", Priority::Live)).await?;
        let scope = ClaimScope::Locations(vec!["loc-a".into()]);
        let mut claimed: Vec<String> = store
            .claim_jobs("w", &scope, 10, Duration::from_secs(30))
            .await?
            .into_iter()
            .map(|job| job.record_id)
            .collect();
        claimed.sort();
        ensure!(claimed == ["a", "none"], "{claimed:?}");
        let rest = store
            .claim_jobs(
                "w",
                &ClaimScope::Locations(vec![]),
                10,
                Duration::from_secs(30),
            )
            .await?;
        ensure!(rest.is_empty());
        let any = store
            .claim_jobs("w", &ClaimScope::Any, 10, Duration::from_secs(30))
            .await?;
        ensure!(any.len() == 1 && any[0].location.as_deref() == Some("loc-b"));
        Ok(())
    }

    pub async fn expired_lease_is_reclaimed_and_old_owner_loses_it(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let lease = Duration::from_millis(300);
        let id = store.enqueue(&job("p1", Priority::Live)).await?.job_id;
        let first = store
            .claim_jobs("dead-worker", &ClaimScope::Any, 1, lease)
            .await?;
        ensure!(first.len() == 1 && first[0].id == id && first[0].attempts == 1);
        ensure!(first[0].lease_owner.as_deref() == Some("dead-worker"));
        ensure!(
            store
                .claim_jobs("rescuer", &ClaimScope::Any, 1, lease)
                .await?
                .is_empty(),
            "lease not honoured"
        );

        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        let reclaimed = store
            .claim_jobs("rescuer", &ClaimScope::Any, 1, Duration::from_secs(30))
            .await?;
        ensure!(
            reclaimed.len() == 1 && reclaimed[0].id == id && reclaimed[0].attempts == 2,
            "{reclaimed:?}"
        );
        ensure!(
            reclaimed[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("dead-worker"))
        );

        ensure!(store.complete_jobs(&[id], "dead-worker").await? == vec![id]);
        let late = store.complete_job(id, "dead-worker").await;
        ensure!(
            matches!(late, Err(StoreError::LeaseLost { .. })),
            "{late:?}"
        );
        ensure!(matches!(
            store.extend_job_lease(id, "dead-worker", lease).await,
            Err(StoreError::LeaseLost { .. })
        ));
        store
            .extend_job_lease(id, "rescuer", Duration::from_secs(60))
            .await?;
        store.complete_job(id, "rescuer").await?;
        ensure!(store.job(id).await?.context("job")?.state == JobState::Done);
        Ok(())
    }

    pub async fn finished_job_never_runs_again(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let lease = Duration::from_millis(100);
        let done = store.enqueue(&job("done", Priority::Live)).await?.job_id;
        let dead = store.enqueue(&job("dead", Priority::Live)).await?.job_id;
        let claimed = store.claim_jobs("w", &ClaimScope::Any, 10, lease).await?;
        ensure!(claimed.len() == 2);
        store.complete_job(done, "w").await?;
        store
            .dead_letter_job(dead, "w", "HighLevel said 422: invalid price")
            .await?;
        ensure!(matches!(
            store.complete_job(done, "w").await,
            Err(StoreError::LeaseLost { .. })
        ));
        ensure!(matches!(
            store.retry_job(done, "w", "x", Utc::now()).await,
            Err(StoreError::LeaseLost { .. })
        ));

        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        ensure!(
            store
                .claim_jobs("other", &ClaimScope::Any, 10, lease)
                .await?
                .is_empty()
        );
        let finished = store.job(done).await?.context("job")?;
        ensure!(
            finished.state == JobState::Done
                && finished.attempts == 1
                && finished.finished_at.is_some()
        );
        ensure!(finished.lease_owner.is_none());
        let stats = store.queue_stats().await?;
        ensure!(
            stats.done == 1 && stats.dead == 1 && stats.pending == 0 && stats.running == 0,
            "{stats:?}"
        );
        ensure!(
            store
                .prune_finished_jobs(Utc::now() + chrono::Duration::seconds(1))
                .await?
                == 1
        );
        ensure!(store.job(done).await?.is_none() && store.job(dead).await?.is_some());
        Ok(())
    }

    pub async fn retry_dead_letter_replay_and_drop(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let lease = Duration::from_secs(30);
        let id = store.enqueue(&job("p1", Priority::Live)).await?.job_id;
        store.claim_jobs("w", &ClaimScope::Any, 1, lease).await?;
        let retry_at = Utc::now() + chrono::Duration::milliseconds(200);
        let outcome = store
            .retry_job(id, "w", "HTTP 503 from HighLevel", retry_at)
            .await?;
        ensure!(outcome == RetryOutcome::Rescheduled);
        let waiting = store.job(id).await?.context("job")?;
        ensure!(
            waiting.state == JobState::Pending
                && waiting.last_error.as_deref() == Some("HTTP 503 from HighLevel")
        );
        ensure!(
            store
                .claim_jobs("w", &ClaimScope::Any, 1, lease)
                .await?
                .is_empty(),
            "ran before retry-at"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = store.claim_jobs("w", &ClaimScope::Any, 1, lease).await?;
        ensure!(again.len() == 1 && again[0].attempts == 2);

        store
            .dead_letter_job(id, "w", "HTTP 422: coupon code taken")
            .await?;
        let dead = store.dead_letters(0, 10).await?;
        ensure!(
            dead.len() == 1
                && dead[0].dead_reason.as_deref() == Some("HTTP 422: coupon code taken")
        );
        ensure!(matches!(
            store.replay_dead_letter(id + 1000).await,
            Err(StoreError::JobNotFound(_))
        ));

        let replayed = store.replay_dead_letter(id).await?;
        ensure!(
            replayed
                == Replayed {
                    job_id: id,
                    merged: false
                },
            "{replayed:?}"
        );
        let pending = store.job(id).await?.context("job")?;
        ensure!(
            pending.state == JobState::Pending
                && pending.attempts == 0
                && pending.dead_reason.is_none()
        );
        ensure!(matches!(
            store.replay_dead_letter(id).await,
            Err(StoreError::NotDeadLetter { .. })
        ));

        // Dead again, and a new change for the same record arrives: replay merges.
        store.claim_jobs("w", &ClaimScope::Any, 1, lease).await?;
        store.dead_letter_job(id, "w", "still failing").await?;
        let newer = store.enqueue(&job("p1", Priority::Live)).await?.job_id;
        let merged = store.replay_dead_letter(id).await?;
        ensure!(
            merged
                == Replayed {
                    job_id: newer,
                    merged: true
                },
            "{merged:?}"
        );
        ensure!(store.job(id).await?.context("job")?.state == JobState::Superseded);

        let other = store.enqueue(&job("p2", Priority::Live)).await?.job_id;
        store
            .claim_jobs("w", &ClaimScope::Locations(vec![]), 10, lease)
            .await?;
        store.dead_letter_job(other, "w", "gone").await?;
        ensure!(matches!(
            store.drop_dead_letter(newer).await,
            Err(StoreError::NotDeadLetter { .. })
        ));
        store.drop_dead_letter(other).await?;
        ensure!(store.job(other).await?.is_none() && store.dead_letters(0, 10).await?.is_empty());
        Ok(())
    }

    pub async fn failed_job_is_superseded_by_a_newer_pending_one(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let id = store.enqueue(&job("p1", Priority::Live)).await?.job_id;
        store
            .claim_jobs("w", &ClaimScope::Any, 1, Duration::from_secs(30))
            .await?;
        let newer = store.enqueue(&job("p1", Priority::Live)).await?;
        ensure!(!newer.merged);
        let outcome = store.retry_job(id, "w", "timeout", Utc::now()).await?;
        ensure!(
            outcome == RetryOutcome::Superseded { by: newer.job_id },
            "{outcome:?}"
        );
        let old = store.job(id).await?.context("job")?;
        ensure!(old.state == JobState::Superseded && old.last_error.as_deref() == Some("timeout"));
        let next = store
            .claim_jobs("w", &ClaimScope::Any, 10, Duration::from_secs(30))
            .await?;
        ensure!(next.len() == 1 && next[0].id == newer.job_id);
        Ok(())
    }

    pub async fn no_double_claim_under_concurrency(db: &TestDb) -> anyhow::Result<()> {
        let setup = db.open().await?;
        let total = 400;
        let jobs: Vec<NewJob> = (0..total)
            .map(|i| job(&format!("r{i}"), Priority::Backfill))
            .collect();
        setup.enqueue_batch(&jobs).await?;
        let mut workers = Vec::new();
        for worker in 0..6 {
            // Three pools, two workers each.
            let store = if worker % 3 == 0 {
                setup.clone()
            } else {
                db.open().await?
            };
            workers.push(tokio::spawn(async move {
                let owner = format!("worker-{worker}");
                let mut ran = Vec::new();
                loop {
                    let claimed = store
                        .claim_jobs(&owner, &ClaimScope::Any, 7, Duration::from_secs(60))
                        .await?;
                    if claimed.is_empty() {
                        return Ok::<_, StoreError>(ran);
                    }
                    let ids: Vec<JobId> = claimed.iter().map(|job| job.id).collect();
                    if worker % 2 == 0 {
                        for &id in &ids {
                            store.complete_job(id, &owner).await?;
                        }
                    } else {
                        let lost = store.complete_jobs(&ids, &owner).await?;
                        assert!(lost.is_empty(), "{owner} lost leases {lost:?}");
                    }
                    ran.extend(ids);
                }
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await??);
        }
        let distinct: HashSet<_> = all.iter().copied().collect();
        ensure!(
            all.len() == total && distinct.len() == total,
            "ran {} jobs, {} distinct",
            all.len(),
            distinct.len()
        );
        let stats = setup.queue_stats().await?;
        ensure!(
            stats.done == total as i64 && stats.pending == 0 && stats.running == 0,
            "{stats:?}"
        );
        ensure!(
            setup
                .jobs(Some(JobState::Done), 0, 10_000)
                .await?
                .iter()
                .all(|job| job.attempts == 1)
        );
        Ok(())
    }

    pub async fn one_job_per_record_runs_at_a_time_across_processes(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        // Two handles with their own pools stand for two processes.
        let first = db.open().await?;
        let second = db.open().await?;
        let lease = Duration::from_secs(30);
        let running = first.enqueue(&job("p1", Priority::Live)).await?.job_id;
        ensure!(
            first
                .claim_jobs("w1", &ClaimScope::Any, 10, lease)
                .await?
                .len()
                == 1
        );
        let newer = first.enqueue(&job("p1", Priority::Live)).await?;
        ensure!(
            !newer.merged,
            "the running job must not absorb a new change"
        );
        let other = first.enqueue(&job("p2", Priority::Live)).await?.job_id;
        let claimed = second.claim_jobs("w2", &ClaimScope::Any, 10, lease).await?;
        ensure!(
            claimed.len() == 1 && claimed[0].id == other,
            "p1 was started while it runs elsewhere: {claimed:?}"
        );
        first.complete_job(running, "w1").await?;
        let next = second.claim_jobs("w2", &ClaimScope::Any, 10, lease).await?;
        ensure!(next.len() == 1 && next[0].id == newer.job_id, "{next:?}");
        second.complete_jobs(&[other, newer.job_id], "w2").await?;

        // A dead worker's job and a newer pending one of the same record: one
        // claim takes only one of them (the expired one), and the pending one
        // waits until it is finished.
        let short = Duration::from_millis(200);
        let stale = first.enqueue(&job("p3", Priority::Live)).await?.job_id;
        ensure!(
            first
                .claim_jobs("dead", &ClaimScope::Any, 10, short)
                .await?
                .len()
                == 1
        );
        let waiting = first.enqueue(&job("p3", Priority::Live)).await?.job_id;
        tokio::time::sleep(short + Duration::from_millis(50)).await;
        let rescued = second
            .claim_jobs("rescuer", &ClaimScope::Any, 10, lease)
            .await?;
        ensure!(
            rescued.len() == 1 && rescued[0].id == stale,
            "one claim returned {} jobs of one record: {rescued:?}",
            rescued.len()
        );
        ensure!(
            first
                .claim_jobs("w1", &ClaimScope::Any, 10, lease)
                .await?
                .is_empty()
        );
        // The database itself refuses a second running job of a record.
        let forced = db
            .execute_raw(&format!(
                "UPDATE jobs SET state = 'running', lease_owner = 'rogue', \
                 lease_expires_at = {} WHERE id = {waiting}",
                (Utc::now() + chrono::Duration::hours(1)).timestamp_millis()
            ))
            .await;
        ensure!(
            forced.is_err(),
            "two running jobs of one record were stored"
        );
        second.complete_job(stale, "rescuer").await?;
        let last = first.claim_jobs("w1", &ClaimScope::Any, 10, lease).await?;
        ensure!(last.len() == 1 && last[0].id == waiting, "{last:?}");
        Ok(())
    }

    pub async fn no_record_runs_twice_at_once_under_concurrency(db: &TestDb) -> anyhow::Result<()> {
        let records = 8;
        let setup = db.open().await?;
        let jobs: Vec<NewJob> = (0..records)
            .map(|i| job(&format!("r{i}"), Priority::Live))
            .collect();
        setup.enqueue_batch(&jobs).await?;
        // Keys held by some worker right now, across all workers.
        let held = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for worker in 0..6 {
            // Three pools, two workers each.
            let store = if worker % 3 == 0 {
                setup.clone()
            } else {
                db.open().await?
            };
            let held = held.clone();
            let overlaps = overlaps.clone();
            workers.push(tokio::spawn(async move {
                let owner = format!("worker-{worker}");
                let mut ran = 0;
                for round in 0..25 {
                    // New changes keep arriving for records that are running.
                    let record = format!("r{}", (worker + round) % records);
                    store.enqueue(&job(&record, Priority::Live)).await?;
                    let claimed = store
                        .claim_jobs(&owner, &ClaimScope::Any, 4, Duration::from_secs(60))
                        .await?;
                    let keys: Vec<String> =
                        claimed.iter().map(|job| job.dedupe_key.clone()).collect();
                    {
                        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                        for key in &keys {
                            if !held.insert(key.clone()) {
                                overlaps.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    held.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|key| !keys.contains(key));
                    let ids: Vec<JobId> = claimed.iter().map(|job| job.id).collect();
                    let lost = store.complete_jobs(&ids, &owner).await?;
                    assert!(lost.is_empty(), "{owner} lost leases {lost:?}");
                    ran += ids.len();
                }
                Ok::<_, StoreError>(ran)
            }));
        }
        let mut ran = 0;
        for worker in workers {
            ran += worker.await??;
        }
        ensure!(
            overlaps.load(Ordering::SeqCst) == 0,
            "{} claims started a record another worker was running",
            overlaps.load(Ordering::SeqCst)
        );
        // What is left waits only for its turn: it drains now.
        loop {
            let claimed = setup
                .claim_jobs("drain", &ClaimScope::Any, 100, Duration::from_secs(60))
                .await?;
            if claimed.is_empty() {
                break;
            }
            let keys: HashSet<&str> = claimed.iter().map(|job| job.dedupe_key.as_str()).collect();
            ensure!(
                keys.len() == claimed.len(),
                "two jobs of one record in one claim"
            );
            let ids: Vec<JobId> = claimed.iter().map(|job| job.id).collect();
            ensure!(setup.complete_jobs(&ids, "drain").await?.is_empty());
            ran += ids.len();
        }
        let stats = setup.queue_stats().await?;
        ensure!(stats.pending == 0 && stats.running == 0, "{stats:?}");
        ensure!(
            stats.done == ran as i64 && ran > records,
            "{stats:?}, ran {ran}"
        );
        Ok(())
    }

    pub async fn a_record_s_log_is_found_by_its_id_on_either_system(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        // A HighLevel product and its offering 7; an order read from AccessAlly.
        store
            .save_link(&NewLink {
                entity_type: "main/product".into(),
                highlevel_id: "65a1f0".into(),
                accessally_id: "7".into(),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
        store
            .save_link(&NewLink {
                entity_type: "main/order".into(),
                highlevel_id: "inv-1".into(),
                accessally_id: "31".into(),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
        for (entity, record, from, to) in [
            (
                "main/product",
                "65a1f0",
                System::HighLevel,
                System::AccessAlly,
            ),
            ("main/product", "7", System::AccessAlly, System::HighLevel),
            (
                "main/product",
                "65b2e1",
                System::HighLevel,
                System::AccessAlly,
            ),
            ("main/order", "31", System::AccessAlly, System::HighLevel),
        ] {
            store
                .log_integration(&IntegrationEvent {
                    entity_type: entity.into(),
                    record_id: record.into(),
                    action: "update".into(),
                    from_system: from,
                    to_system: to,
                    result: "written".into(),
                    detail: String::new(),
                    job_id: None,
                })
                .await?;
        }
        let records = |query: LogQuery| {
            let store = store.clone();
            async move {
                let mut found: Vec<String> = store
                    .integration_log(&LogQuery { limit: 10, ..query })
                    .await?
                    .into_iter()
                    .map(|e| e.event.record_id)
                    .collect();
                found.sort();
                anyhow::Ok(found)
            }
        };
        let by_id = |id: &str| LogQuery {
            record_id: Some(id.into()),
            ..LogQuery::default()
        };
        // Either id finds both directions of the product, and nothing else.
        ensure!(records(by_id("65a1f0")).await? == ["65a1f0", "7"]);
        ensure!(records(by_id("7")).await? == ["65a1f0", "7"]);
        // The invoice's id finds the AccessAlly order it records.
        ensure!(records(by_id("inv-1")).await? == ["31"]);
        ensure!(records(by_id("nothing")).await?.is_empty());
        // By entity and by the system a change was read from.
        let of_products = records(LogQuery {
            entity_type: Some("main/product".into()),
            from_system: Some(System::HighLevel),
            ..LogQuery::default()
        })
        .await?;
        ensure!(of_products == ["65a1f0", "65b2e1"], "{of_products:?}");
        let one = records(LogQuery {
            entity_type: Some("main/product".into()),
            ..by_id("7")
        })
        .await?;
        ensure!(one == ["65a1f0", "7"], "{one:?}");
        Ok(())
    }

    fn log_line(
        entity: &str,
        record: &str,
        from: System,
        result: &str,
        detail: &str,
    ) -> IntegrationEvent {
        let to = match from {
            System::HighLevel => System::AccessAlly,
            System::AccessAlly => System::HighLevel,
        };
        IntegrationEvent {
            entity_type: entity.into(),
            record_id: record.into(),
            action: "update".into(),
            from_system: from,
            to_system: to,
            result: result.into(),
            detail: detail.into(),
            job_id: None,
        }
    }

    pub async fn the_log_is_searched_by_name_sku_code_e_mail_and_id_and_paged(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        store
            .save_link(&NewLink {
                entity_type: "main/product".into(),
                highlevel_id: "65a1f0".into(),
                accessally_id: "7".into(),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
        let hl = System::HighLevel;
        let lines = [
            log_line(
                "main/product",
                "65a1f0",
                hl,
                "written",
                "product Watercolour: offering updated [COURSE-001 197.00 → 149.00 USD]",
            ),
            log_line(
                "main/coupon",
                "c-1",
                hl,
                "written",
                "coupon LAUNCH20: coupon created [discount 20%]",
            ),
            log_line(
                "main/order",
                "31",
                System::AccessAlly,
                "observed",
                "order 31: would record the payment [contact: Ana.Buyer@Example.com]",
            ),
            log_line(
                "main/order",
                "32",
                System::AccessAlly,
                "observed",
                "order 32: would record the payment [contact: bo@example.com; discount 100%]",
            ),
            log_line(
                "main/product",
                "9",
                System::AccessAlly,
                "written",
                "offering Ink_Wash: product updated [COURSE_2 trial 0 → 14 days]",
            ),
        ];
        for line in &lines {
            store.log_integration(line).await?;
        }
        let search = |text: &str| {
            let store = store.clone();
            let text = text.to_string();
            async move {
                let mut found: Vec<String> = store
                    .integration_log(&LogQuery {
                        search: Some(text),
                        limit: 10,
                        ..LogQuery::default()
                    })
                    .await?
                    .into_iter()
                    .map(|e| e.event.record_id)
                    .collect();
                found.sort();
                anyhow::Ok(found)
            }
        };
        // A name, a SKU, a coupon code and an e-mail, in any case.
        ensure!(search("watercolour").await? == ["65a1f0"]);
        ensure!(search("course-001").await? == ["65a1f0"]);
        ensure!(search("launch20").await? == ["c-1"]);
        ensure!(search("ana.buyer@example.COM").await? == ["31"]);
        // A record's id on either system finds both directions of it.
        ensure!(search("7").await? == ["65a1f0"], "{:?}", search("7").await?);
        ensure!(search("65a1f0").await? == ["65a1f0"]);
        // Wildcards are taken literally.
        ensure!(
            search("100%").await? == ["32"],
            "{:?}",
            search("100%").await?
        );
        ensure!(search("Ink_Wash").await? == ["9"]);
        ensure!(search("Ink%Wash").await?.is_empty());
        ensure!(
            search("course_").await? == ["9"],
            "{:?}",
            search("course_").await?
        );
        ensure!(search("nothing like it").await?.is_empty());
        // With the other filters, and paged back by id, newest first.
        let observed = store
            .integration_log(&LogQuery {
                search: Some("would record".into()),
                from_system: Some(System::AccessAlly),
                limit: 1,
                ..LogQuery::default()
            })
            .await?;
        ensure!(observed.len() == 1 && observed[0].event.record_id == "32");
        let older = store
            .integration_log(&LogQuery {
                search: Some("would record".into()),
                before_id: Some(observed[0].id),
                limit: 5,
                ..LogQuery::default()
            })
            .await?;
        ensure!(
            older
                .iter()
                .map(|e| e.event.record_id.as_str())
                .collect::<Vec<_>>()
                == ["31"],
            "{older:?}"
        );
        Ok(())
    }

    pub async fn records_are_named_by_their_latest_log_entry(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let hl = System::HighLevel;
        ensure!(store.last_logged("main/product", hl).await?.is_none());
        store
            .log_integration(&log_line(
                "main/product",
                "p-1",
                hl,
                "written",
                "product Old name: created",
            ))
            .await?;
        store
            .log_integration(&log_line(
                "main/product",
                "p-1",
                hl,
                "written",
                "product New name: updated",
            ))
            .await?;
        store
            .log_integration(&log_line(
                "main/product",
                "p-2",
                hl,
                "observed",
                "product Second: would create",
            ))
            .await?;
        store
            .log_integration(&log_line(
                "main/coupon",
                "p-1",
                hl,
                "written",
                "coupon SAME-ID: created",
            ))
            .await?;
        let before = Utc::now();
        store
            .log_integration(&log_line(
                "main/product",
                "7",
                System::AccessAlly,
                "written",
                "offering Seven: updated",
            ))
            .await?;
        let mut latest: Vec<(String, String)> = store
            .latest_log_entries("main/product", &["p-1", "p-2", "p-3"])
            .await?
            .into_iter()
            .map(|e| (e.event.record_id, e.event.detail))
            .collect();
        latest.sort();
        ensure!(
            latest
                == [
                    ("p-1".to_string(), "product New name: updated".to_string()),
                    (
                        "p-2".to_string(),
                        "product Second: would create".to_string()
                    ),
                ],
            "{latest:?}"
        );
        ensure!(
            store
                .latest_log_entries("main/product", &[])
                .await?
                .is_empty()
        );
        // Each flow's newest entry: entity and the system read from.
        let from_aa = store
            .last_logged("main/product", System::AccessAlly)
            .await?
            .context("logged")?;
        ensure!(from_aa.timestamp_millis() >= before.timestamp_millis());
        ensure!(store.last_logged("main/product", hl).await?.is_some());
        ensure!(store.last_logged("main/order", hl).await?.is_none());
        Ok(())
    }

    pub async fn outcomes_per_hour_come_from_the_log_and_the_queue_and_survive_a_restart(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let hour = Duration::from_secs(3600);
        let since = Utc::now() - chrono::Duration::hours(24);
        ensure!(store.record_activity(since, hour).await?.is_empty());
        ensure!(matches!(
            store
                .record_activity(since, Duration::from_micros(10))
                .await,
            Err(StoreError::Invalid { .. })
        ));
        let new_job = |record: &str, system: System| {
            NewJob::now(
                "product.to_accessally",
                "main/product",
                system,
                record,
                Priority::Live,
            )
        };
        // Three jobs: one writes (its log line names it), one finds nothing
        // to do (a skip), one dies.
        for record in ["written", "skipped", "dead"] {
            store.enqueue(&new_job(record, System::HighLevel)).await?;
        }
        let jobs = store
            .claim_jobs("w", &ClaimScope::Any, 10, Duration::from_secs(60))
            .await?;
        ensure!(jobs.len() == 3);
        for job in &jobs {
            match job.record_id.as_str() {
                "written" => {
                    store
                        .log_integration(&IntegrationEvent {
                            job_id: Some(job.id),
                            ..log_line(
                                "main/product",
                                "written",
                                System::HighLevel,
                                "written",
                                "product W: updated",
                            )
                        })
                        .await?;
                    store.complete_job(job.id, "w").await?;
                }
                "skipped" => store.complete_job(job.id, "w").await?,
                _ => {
                    store
                        .dead_letter_job(job.id, "w", "AccessAlly answered 500")
                        .await?
                }
            }
        }
        // Observe mode's lines, from both systems, and a conflict, which is no outcome.
        store
            .log_integration(&log_line(
                "main/order",
                "31",
                System::AccessAlly,
                "observed",
                "order 31: would record",
            ))
            .await?;
        store
            .log_integration(&log_line(
                "main/order",
                "32",
                System::AccessAlly,
                "observed",
                "order 32: would record",
            ))
            .await?;
        store
            .log_integration(&log_line(
                "main/product",
                "x",
                System::HighLevel,
                "resolved by policy",
                "conflict",
            ))
            .await?;
        // A line from two days ago is outside the window.
        store
            .log_integration(&log_line(
                "main/coupon",
                "old",
                System::HighLevel,
                "written",
                "coupon OLD: created",
            ))
            .await?;
        db.execute_raw("UPDATE integration_log SET at = at - 172800000 WHERE record_id = 'old'")
            .await?;

        let counted = |activity: Vec<ActivityCount>| {
            let mut out: Vec<(String, System, Outcome, i64)> = activity
                .into_iter()
                .map(|a| (a.entity_type, a.from_system, a.outcome, a.count))
                .collect();
            out.sort_by(|a, b| (&a.0, a.1.as_str(), a.2).cmp(&(&b.0, b.1.as_str(), b.2)));
            out
        };
        let activity = store.record_activity(since, hour).await?;
        let now_bucket = Utc::now().timestamp_millis() / 3_600_000 * 3_600_000;
        ensure!(
            activity
                .iter()
                .all(|a| a.bucket.timestamp_millis() % 3_600_000 == 0
                    && a.bucket.timestamp_millis() >= now_bucket - 3_600_000),
            "{activity:?}"
        );
        let expected = vec![
            (
                "main/order".to_string(),
                System::AccessAlly,
                Outcome::Observed,
                2,
            ),
            (
                "main/product".to_string(),
                System::HighLevel,
                Outcome::Written,
                1,
            ),
            (
                "main/product".to_string(),
                System::HighLevel,
                Outcome::Skipped,
                1,
            ),
            (
                "main/product".to_string(),
                System::HighLevel,
                Outcome::Failed,
                1,
            ),
        ];
        let mut sorted_expected = expected.clone();
        sorted_expected.sort_by(|a, b| (&a.0, a.1.as_str(), a.2).cmp(&(&b.0, b.1.as_str(), b.2)));
        let got = counted(activity);
        ensure!(got == sorted_expected, "{got:?}");
        // Two days back, the old line counts too; a restart changes nothing.
        store.close().await;
        let store = db.open().await?;
        let longer = counted(
            store
                .record_activity(Utc::now() - chrono::Duration::days(3), hour)
                .await?,
        );
        ensure!(
            longer.len() == 5
                && longer
                    .iter()
                    .any(|(e, _, o, n)| e == "main/coupon" && *o == Outcome::Written && *n == 1),
            "{longer:?}"
        );
        ensure!(counted(store.record_activity(since, hour).await?) == sorted_expected);
        // A replayed dead letter is no longer a failure.
        let dead = store.dead_letters(0, 10).await?;
        store.replay_dead_letter(dead[0].id).await?;
        ensure!(
            !counted(store.record_activity(since, hour).await?)
                .iter()
                .any(|(_, _, o, _)| *o == Outcome::Failed)
        );
        Ok(())
    }

    pub async fn links_open_jobs_and_api_calls_are_counted(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        ensure!(store.link_counts().await?.is_empty());
        for (entity, n) in [("main/product", 3), ("main/grant", 2), ("shop/product", 1)] {
            for i in 0..n {
                store
                    .save_link(&NewLink {
                        entity_type: entity.into(),
                        highlevel_id: format!("h{i}"),
                        accessally_id: format!("{i}"),
                        highlevel_hash: None,
                        accessally_hash: None,
                        highlevel_state: None,
                    })
                    .await?;
            }
        }
        let links = store.link_counts().await?;
        ensure!(
            links
                == [
                    ("main/grant".to_string(), 2),
                    ("main/product".to_string(), 3),
                    ("shop/product".to_string(), 1)
                ],
            "{links:?}"
        );

        for record in ["a", "b", "c"] {
            store
                .enqueue(&NewJob::now(
                    "coupon.to_accessally",
                    "main/coupon",
                    System::HighLevel,
                    record,
                    Priority::Live,
                ))
                .await?;
        }
        store
            .enqueue(&NewJob::now(
                "order.to_highlevel",
                "main/order",
                System::AccessAlly,
                "31",
                Priority::Live,
            ))
            .await?;
        let claimed = store
            .claim_jobs("w", &ClaimScope::Any, 2, Duration::from_secs(60))
            .await?;
        ensure!(claimed.len() == 2);
        store.dead_letter_job(claimed[0].id, "w", "refused").await?;
        let mut counts: Vec<(String, JobState, i64)> = store
            .open_job_counts()
            .await?
            .into_iter()
            .map(|c| (c.kind, c.state, c.count))
            .collect();
        counts.sort_by_key(|(k, s, _)| (k.clone(), s.as_str()));
        let total: i64 = counts.iter().map(|(_, _, n)| n).sum();
        ensure!(total == 4, "{counts:?}");
        ensure!(
            counts
                .iter()
                .any(|(_, s, n)| *s == JobState::Dead && *n == 1),
            "{counts:?}"
        );
        ensure!(
            counts
                .iter()
                .any(|(_, s, n)| *s == JobState::Running && *n == 1),
            "{counts:?}"
        );
        ensure!(
            counts
                .iter()
                .filter(|(_, s, _)| *s == JobState::Pending)
                .map(|(_, _, n)| n)
                .sum::<i64>()
                == 2,
            "{counts:?}"
        );

        let call = |status: Option<u16>, location: Option<&str>| ApiCall {
            system: if location.is_some() {
                System::HighLevel
            } else {
                System::AccessAlly
            },
            location: location.map(str::to_string),
            method: "GET".into(),
            path: "/products/?token=x".into(),
            status,
            latency_ms: 12,
            rate_remaining: Some(90),
        };
        store
            .log_api_calls(&[
                call(Some(200), Some("loc-1")),
                call(Some(429), Some("loc-1")),
                call(None, Some("loc-1")),
                call(Some(200), Some("loc-2")),
                call(Some(500), None),
            ])
            .await?;
        let since = Utc::now() - chrono::Duration::hours(1);
        let mut counts: Vec<(Option<String>, i64, i64, i64)> = store
            .api_call_counts(since, Duration::from_secs(3600))
            .await?
            .into_iter()
            .map(|c| (c.location, c.calls, c.failed, c.limited))
            .collect();
        counts.sort();
        ensure!(
            counts
                == [
                    (None, 1, 1, 0),
                    (Some("loc-1".to_string()), 3, 2, 1),
                    (Some("loc-2".to_string()), 1, 0, 0),
                ],
            "{counts:?}"
        );
        ensure!(
            store
                .api_call_counts(
                    Utc::now() + chrono::Duration::hours(1),
                    Duration::from_secs(3600)
                )
                .await?
                .is_empty()
        );
        Ok(())
    }

    pub async fn upgrading_names_log_entities_as_jobs_do(db: &TestDb) -> anyhow::Result<()> {
        db.apply_first_migration_only().await?;
        for entity in [
            "main/coupons_to_accessally",
            "main/products_to_accessally",
            "main/products_to_highlevel",
            "shop/orders_to_highlevel",
            "shop/orders_to_accessally",
            "main/coupon",
        ] {
            db.execute_raw(&format!(
                "INSERT INTO integration_log (at, entity_type, record_id, action, from_system, \
                 to_system, result, detail) VALUES (0, '{entity}', 'r', 'create', 'highlevel', \
                 'accessally', 'written', '')"
            ))
            .await?;
        }
        let store = db.open().await?;
        let mut entities: Vec<String> = store
            .integration_log(&LogQuery {
                limit: 10,
                ..LogQuery::default()
            })
            .await?
            .into_iter()
            .map(|e| e.event.entity_type)
            .collect();
        entities.sort();
        ensure!(
            entities
                == [
                    "main/coupon",
                    "main/coupon",
                    "main/product",
                    "main/product",
                    "shop/order",
                    "shop/order",
                ],
            "{entities:?}"
        );
        Ok(())
    }

    pub async fn upgrading_closes_duplicate_running_jobs_of_a_record(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        db.apply_first_migration_only().await?;
        let far = (Utc::now() + chrono::Duration::hours(1)).timestamp_millis();
        for (state, key) in [
            ("running", "twice"),
            ("running", "twice"),
            ("pending", "twice"),
            ("running", "twice"),
            ("running", "once"),
        ] {
            db.execute_raw(&format!(
                "INSERT INTO jobs (kind, entity_type, record_system, record_id, dedupe_key, \
                 priority, payload, state, run_at, attempts, merged_count, lease_owner, \
                 lease_expires_at, created_at, updated_at) VALUES ('sync', 'product', \
                 'highlevel', '{key}', '{key}', 0, 'null', '{state}', 0, 1, 0, \
                 CASE WHEN '{state}' = 'running' THEN 'old-worker' END, \
                 CASE WHEN '{state}' = 'running' THEN {far} END, 0, 0)"
            ))
            .await?;
        }
        let store = db.open().await?;
        let twice: Vec<(JobState, bool)> = store
            .jobs_for_dedupe_key("twice")
            .await?
            .iter()
            .map(|job| (job.state, job.finished_at.is_some()))
            .collect();
        ensure!(
            twice
                == [
                    (JobState::Superseded, true),
                    (JobState::Superseded, true),
                    (JobState::Pending, false),
                    (JobState::Running, false),
                ],
            "{twice:?}"
        );
        let once = store.jobs_for_dedupe_key("once").await?;
        ensure!(once.len() == 1 && once[0].state == JobState::Running);
        Ok(())
    }

    pub async fn restarted_worker_gets_its_own_leases_back(db: &TestDb) -> anyhow::Result<()> {
        let before = db.open().await?;
        let lease = Duration::from_secs(60);
        let plain = before.enqueue(&job("p1", Priority::Live)).await?.job_id;
        let overtaken = before.enqueue(&job("p2", Priority::Live)).await?.job_id;
        let others = before.enqueue(&job("p3", Priority::Live)).await?.job_id;
        let held = before
            .claim_jobs("daemon@host", &ClaimScope::Any, 2, lease)
            .await?;
        ensure!(held.len() == 2 && held.iter().all(|job| job.id != others));
        ensure!(
            before
                .claim_jobs("other", &ClaimScope::Any, 10, lease)
                .await?
                .len()
                == 1
        );
        // A change of p2 arrives while its job runs; then the daemon dies.
        let newer = before.enqueue(&job("p2", Priority::Live)).await?.job_id;
        before.close().await;

        let after = db.open().await?;
        let mut waker = after.job_waker().await;
        let mut released = after.release_leases("daemon@host").await?;
        released.sort_by_key(|(id, _)| *id);
        ensure!(
            released
                == [
                    (plain, RetryOutcome::Rescheduled),
                    (overtaken, RetryOutcome::Superseded { by: newer }),
                ],
            "{released:?}"
        );
        ensure!(waker.wait(Duration::from_secs(5)).await == Wake::Notified);
        let again = after.job(plain).await?.context("job")?;
        ensure!(
            again.state == JobState::Pending
                && again.attempts == 1
                && again.lease_owner.is_none()
                && again
                    .last_error
                    .as_deref()
                    .is_some_and(|error| error.contains("daemon@host")),
            "{again:?}"
        );
        // Another owner's job is not touched, and nothing is left to release.
        ensure!(after.job(others).await?.context("job")?.state == JobState::Running);
        ensure!(after.release_leases("daemon@host").await?.is_empty());
        // Without waiting for the 60 s lease, the restarted daemon runs them.
        let mut claimed: Vec<JobId> = after
            .claim_jobs("daemon@host", &ClaimScope::Any, 10, lease)
            .await?
            .iter()
            .map(|job| job.id)
            .collect();
        claimed.sort();
        ensure!(claimed == [plain, newer], "{claimed:?}");
        let rerun = after.job(plain).await?.context("job")?;
        ensure!(rerun.attempts == 2, "{rerun:?}");
        Ok(())
    }

    pub async fn location_leases_are_exclusive_until_released_or_expired(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let first = db.open().await?;
        let second = db.open().await?;
        let ttl = Duration::from_millis(300);
        ensure!(first.acquire_location_lease("loc-1", "p1", ttl).await?);
        ensure!(!second.acquire_location_lease("loc-1", "p2", ttl).await?);
        ensure!(second.acquire_location_lease("loc-2", "p2", ttl).await?);
        ensure!(
            first
                .acquire_location_lease("loc-1", "p1", Duration::from_secs(30))
                .await?,
            "renewal"
        );
        let leases = first.location_leases().await?;
        ensure!(leases.len() == 2 && leases[0].owner == "p1" && leases[1].owner == "p2");
        ensure!(!second.release_location_lease("loc-1", "p2").await?);
        ensure!(first.release_location_lease("loc-1", "p1").await?);
        ensure!(second.acquire_location_lease("loc-1", "p2", ttl).await?);
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        ensure!(
            first.acquire_location_lease("loc-2", "p1", ttl).await?,
            "expired lease taken over"
        );
        Ok(())
    }

    pub async fn links_are_found_by_many_ids_on_either_side(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        // More than one query's worth (512), saved at once (one group commit).
        let links: Vec<NewLink> = (0..700)
            .map(|n| NewLink {
                entity_type: "t:product".into(),
                highlevel_id: format!("hl-{n}"),
                accessally_id: format!("{n}"),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .collect();
        for saved in futures::future::join_all(links.iter().map(|l| store.save_link(l))).await {
            saved?;
        }
        // Every even id, an unknown one, and one twice.
        let mut wanted: Vec<String> = (0..700).step_by(2).map(|n| format!("hl-{n}")).collect();
        wanted.extend(["hl-nope".to_string(), "hl-4".to_string()]);
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let found = store
            .find_links("t:product", System::HighLevel, &wanted)
            .await?;
        let ids: HashSet<&str> = found.iter().map(|l| l.highlevel_id.as_str()).collect();
        ensure!(
            found.len() == 350 && ids.len() == 350,
            "{} found",
            found.len()
        );
        ensure!(ids.contains("hl-698") && !ids.contains("hl-1"));
        // By the AccessAlly id, three of them (a length that is padded).
        let found = store
            .find_links("t:product", System::AccessAlly, &["1", "2", "3"])
            .await?;
        let mut ids: Vec<&str> = found.iter().map(|l| l.highlevel_id.as_str()).collect();
        ids.sort_unstable();
        ensure!(ids == ["hl-1", "hl-2", "hl-3"], "{ids:?}");
        // Another entity type holds none of them; no ids, no query.
        ensure!(
            store
                .find_links("t:coupon", System::HighLevel, &wanted)
                .await?
                .is_empty()
        );
        ensure!(
            store
                .find_links("t:product", System::HighLevel, &[])
                .await?
                .is_empty()
        );
        Ok(())
    }

    pub async fn concurrent_link_lookups_share_queries_and_see_prior_writes(
        db: &TestDb,
    ) -> anyhow::Result<()> {
        let store = db.open().await?;
        let link = |entity: &str, n: usize| NewLink {
            entity_type: entity.into(),
            highlevel_id: format!("hl-{n}"),
            accessally_id: format!("aa-{n}"),
            highlevel_hash: Some(format!("h{n}")),
            accessally_hash: None,
            highlevel_state: None,
        };
        let links: Vec<NewLink> = (0..100)
            .map(|n| link(if n % 2 == 0 { "t:product" } else { "t:coupon" }, n))
            .collect();
        for saved in futures::future::join_all(links.iter().map(|l| store.save_link(l))).await {
            saved?;
        }
        let before = store.link_lookup_stats();
        // 300 look-ups at once: by either side, of two entity types, some
        // of the wrong type, some unknown, every one asked three times.
        let asks: Vec<(String, System, String, Option<String>)> = (0..100)
            .flat_map(|n| {
                let entity = if n % 2 == 0 { "t:product" } else { "t:coupon" };
                let other = if n % 2 == 0 { "t:coupon" } else { "t:product" };
                [
                    (
                        entity,
                        System::HighLevel,
                        format!("hl-{n}"),
                        Some(format!("hl-{n}")),
                    ),
                    (
                        entity,
                        System::AccessAlly,
                        format!("aa-{n}"),
                        Some(format!("hl-{n}")),
                    ),
                    (other, System::AccessAlly, format!("aa-{n}"), None),
                ]
            })
            .map(|(e, side, id, want)| (e.to_string(), side, id, want))
            .chain((0..10).map(|n| {
                (
                    "t:product".into(),
                    System::HighLevel,
                    format!("hl-x{n}"),
                    None,
                )
            }))
            .collect();
        let answers = futures::future::join_all(
            asks.iter()
                .map(|(entity, side, id, _)| store.find_link(entity, *side, id)),
        )
        .await;
        for ((entity, side, id, want), answer) in asks.iter().zip(answers) {
            let got = answer?.map(|l| l.highlevel_id);
            ensure!(
                &got == want,
                "{entity} {side} {id}: {got:?}, wanted {want:?}"
            );
        }
        let after = store.link_lookup_stats();
        ensure!(after.lookups - before.lookups == asks.len() as u64);
        let queries = after.queries - before.queries;
        ensure!(
            queries <= asks.len() as u64 / 4,
            "{queries} queries for {} look-ups: they were not grouped",
            asks.len()
        );

        // Each caller saves a link, then looks it up, all at once: a look-up
        // asked after its write committed sees it, whatever batch it is in.
        let results = futures::future::join_all((100..300).map(|n| {
            let store = store.clone();
            async move {
                let saved = store.save_link(&link("t:product", n)).await?;
                let found = store
                    .find_link("t:product", System::AccessAlly, &saved.accessally_id)
                    .await?;
                anyhow::Ok(found.map(|l| l.id) == Some(saved.id))
            }
        }))
        .await;
        let mut missed = 0;
        for seen in results {
            if !seen? {
                missed += 1;
            }
        }
        ensure!(
            missed == 0,
            "{missed} look-ups missed a link saved before them"
        );
        Ok(())
    }

    pub async fn links_record_hashes_and_last_writer(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let link = store
            .save_link(&NewLink {
                entity_type: "product".into(),
                highlevel_id: "hl-1".into(),
                accessally_id: "aa-1".into(),
                highlevel_hash: Some("h1".into()),
                accessally_hash: None,
                highlevel_state: None,
            })
            .await?;
        ensure!(link.last_written_to.is_none());
        let by_accessally = store
            .find_link("product", System::AccessAlly, "aa-1")
            .await?
            .context("link")?;
        ensure!(by_accessally.id == link.id);
        ensure!(
            store
                .find_link("coupon", System::HighLevel, "hl-1")
                .await?
                .is_none()
        );

        let written = store
            .record_link_hash(link.id, System::AccessAlly, "a2", HashOrigin::Written)
            .await?
            .context("link")?;
        ensure!(
            written.accessally_hash.as_deref() == Some("a2")
                && written.last_written_to == Some(System::AccessAlly)
        );
        ensure!(written.last_written_at.is_some());
        let seen = store
            .record_link_hash(link.id, System::HighLevel, "h3", HashOrigin::Seen)
            .await?
            .context("link")?;
        ensure!(
            seen.highlevel_hash.as_deref() == Some("h3")
                && seen.last_written_to == Some(System::AccessAlly)
        );

        let clash = store
            .save_link(&NewLink {
                entity_type: "product".into(),
                highlevel_id: "hl-2".into(),
                accessally_id: "aa-1".into(),
                highlevel_hash: None,
                accessally_hash: None,
                highlevel_state: None,
            })
            .await;
        ensure!(
            matches!(clash, Err(StoreError::Invalid { .. })),
            "{clash:?}"
        );
        for index in 0..5 {
            store
                .save_link(&NewLink {
                    entity_type: "coupon".into(),
                    highlevel_id: format!("c{index}"),
                    accessally_id: format!("ac{index}"),
                    highlevel_hash: None,
                    accessally_hash: None,
                    highlevel_state: None,
                })
                .await?;
        }
        let page = store.links(Some("coupon"), 0, 3).await?;
        ensure!(page.len() == 3);
        ensure!(store.links(Some("coupon"), page[2].id, 3).await?.len() == 2);
        ensure!(store.link_count().await? == 6);
        ensure!(store.delete_link(link.id).await? && !store.delete_link(link.id).await?);

        // HighLevel's state kept beside its hash: saved, read back, and
        // forgotten when the hash changes without it.
        let kept = store
            .save_link(&NewLink {
                entity_type: "product".into(),
                highlevel_id: "hl-s".into(),
                accessally_id: "aa-s".into(),
                highlevel_hash: Some("hs".into()),
                accessally_hash: Some("as".into()),
                highlevel_state: Some(r#"{"prices":[]}"#.into()),
            })
            .await?;
        ensure!(kept.highlevel_state.as_deref() == Some(r#"{"prices":[]}"#));
        let found = store
            .find_links("product", System::AccessAlly, &["aa-s"])
            .await?;
        ensure!(
            found.len() == 1 && found[0].highlevel_state == kept.highlevel_state,
            "{found:?}"
        );
        let accessally_side = store
            .record_link_hash(kept.id, System::AccessAlly, "as2", HashOrigin::Seen)
            .await?
            .context("link")?;
        ensure!(accessally_side.highlevel_state == kept.highlevel_state);
        ensure!(store.forget_highlevel_state("product", "hl-s").await?);
        ensure!(!store.forget_highlevel_state("product", "hl-s").await?);
        let forgotten = store
            .find_link("product", System::AccessAlly, "aa-s")
            .await?
            .context("link")?;
        ensure!(forgotten.highlevel_state.is_none() && forgotten.highlevel_hash.is_some());
        store
            .save_link(&NewLink {
                entity_type: "product".into(),
                highlevel_id: "hl-s".into(),
                accessally_id: "aa-s".into(),
                highlevel_hash: Some("hs".into()),
                accessally_hash: Some("as2".into()),
                highlevel_state: Some(r#"{"prices":[]}"#.into()),
            })
            .await?;
        let highlevel_side = store
            .record_link_hash(kept.id, System::HighLevel, "hs2", HashOrigin::Seen)
            .await?
            .context("link")?;
        ensure!(highlevel_side.highlevel_state.is_none());
        Ok(())
    }

    pub async fn cursors_logs_drift_and_alerts(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        ensure!(
            store
                .poll_cursor(System::HighLevel, "coupon")
                .await?
                .is_none()
        );
        store
            .set_poll_cursor(System::HighLevel, "coupon", "2024-01-01T00:00:00Z")
            .await?;
        store
            .set_poll_cursor(System::HighLevel, "coupon", "2024-02-01T00:00:00Z")
            .await?;
        store
            .set_poll_cursor(System::AccessAlly, "offering", "page=3")
            .await?;
        let cursor = store
            .poll_cursor(System::HighLevel, "coupon")
            .await?
            .context("cursor")?;
        ensure!(cursor.cursor == "2024-02-01T00:00:00Z");
        ensure!(store.poll_cursors().await?.len() == 2);

        for (index, result) in ["ok", "skipped", "failed"].iter().enumerate() {
            store
                .log_integration(&IntegrationEvent {
                    entity_type: "coupon".into(),
                    record_id: format!("c{}", index % 2),
                    action: "update".into(),
                    from_system: System::HighLevel,
                    to_system: System::AccessAlly,
                    result: result.to_string(),
                    detail: "discount 10%".into(),
                    job_id: Some(index as i64),
                })
                .await?;
        }
        let for_record = store
            .integration_log(&LogQuery {
                record_id: Some("c0".into()),
                limit: 10,
                ..LogQuery::default()
            })
            .await?;
        ensure!(
            for_record.len() == 2 && for_record[0].event.result == "failed",
            "newest first: {for_record:?}"
        );
        let page = store
            .integration_log(&LogQuery {
                limit: 1,
                before_id: Some(for_record[0].id),
                ..LogQuery::default()
            })
            .await?;
        ensure!(page.len() == 1 && page[0].event.result == "skipped");

        let logged = store
            .log_api_calls(&[
                ApiCall {
                    system: System::HighLevel,
                    location: Some("loc-1".into()),
                    method: "GET".into(),
                    path: "/products/?locationId=loc-1&access_token=LEAK".into(),
                    status: Some(200),
                    latency_ms: 42,
                    rate_remaining: Some(97),
                },
                ApiCall {
                    system: System::AccessAlly,
                    location: None,
                    method: "POST".into(),
                    path: "/wp-json/allybridge/v1/coupons".into(),
                    status: None,
                    latency_ms: 10_000,
                    rate_remaining: None,
                },
            ])
            .await?;
        ensure!(logged == 2);
        let highlevel = store
            .api_activity(&ApiActivityQuery {
                system: Some(System::HighLevel),
                limit: 10,
                ..Default::default()
            })
            .await?;
        ensure!(
            highlevel.len() == 1 && highlevel[0].call.path == "/products/",
            "{highlevel:?}"
        );
        ensure!(
            highlevel[0].call.status == Some(200) && highlevel[0].call.rate_remaining == Some(97)
        );
        ensure!(
            store
                .api_activity(&ApiActivityQuery {
                    limit: 10,
                    ..Default::default()
                })
                .await?
                .len()
                == 2
        );
        // Pruning keeps what is newer than the cut.
        ensure!(
            store
                .prune_api_activity(Utc::now() - chrono::Duration::hours(1))
                .await?
                == 0
        );
        ensure!(
            store
                .prune_api_activity(Utc::now() + chrono::Duration::seconds(1))
                .await?
                == 2
        );

        store
            .save_drift_report("coupons", 120, 3, &json!({"missing_in_accessally": ["c7"]}))
            .await?;
        store
            .save_drift_report("products", 40, 0, &json!({}))
            .await?;
        let reports = store.drift_reports(None, 10).await?;
        ensure!(reports.len() == 2 && reports[0].scope == "products");
        let coupons = store.drift_reports(Some("coupons"), 10).await?;
        ensure!(
            coupons.len() == 1
                && coupons[0].drifted == 3
                && coupons[0].details["missing_in_accessally"][0] == "c7"
        );

        let cooldown = Duration::from_millis(300);
        let sent = store
            .claim_alert(
                "ghl-auth-failed:loc-1",
                "email",
                "HighLevel refused the token",
                cooldown,
            )
            .await?;
        ensure!(sent.is_some());
        ensure!(
            store
                .claim_alert("ghl-auth-failed:loc-1", "email", "again", cooldown)
                .await?
                .is_none(),
            "cool-down"
        );
        ensure!(
            store
                .claim_alert("dlq-growing", "webhook", "12 dead letters", cooldown)
                .await?
                .is_some()
        );
        tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
        ensure!(
            store
                .claim_alert("ghl-auth-failed:loc-1", "email", "still", cooldown)
                .await?
                .is_some()
        );
        ensure!(store.alerts(Some("ghl-auth-failed:loc-1"), 10).await?.len() == 2);
        ensure!(store.alerts(None, 10).await?.len() == 3);
        Ok(())
    }

    pub async fn waker_wakes_on_enqueue_and_polls_as_backstop(db: &TestDb) -> anyhow::Result<()> {
        let store = db.open().await?;
        let mut waker = store.job_waker().await;
        ensure!(waker.wait(Duration::from_millis(50)).await == Wake::Backstop);
        // On PostgreSQL the announcement comes from another pool, as from another process.
        let producer = if db.backend == Backend::Postgres {
            db.open().await?
        } else {
            store.clone()
        };
        let started = std::time::Instant::now();
        let waiting = tokio::spawn(async move {
            let woke = waker.wait(Duration::from_secs(20)).await;
            (woke, waker)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.enqueue(&job("p1", Priority::Live)).await?;
        let (woke, mut waker) = tokio::time::timeout(Duration::from_secs(5), waiting).await??;
        ensure!(woke == Wake::Notified && started.elapsed() < Duration::from_secs(5));

        // A burst of received events from the other process (group
        // commits, each announced after it committed, announcements folded
        // while one is on its way) wakes the waker too.
        let burst = 64;
        let accepts = (0..burst).map(|index| {
            let producer = producer.clone();
            async move {
                let job = job(&format!("burst-{index}"), Priority::Live);
                producer
                    .accept_event(&event(&format!("burst-evt-{index}")), Some(&job))
                    .await
            }
        });
        for accepted in futures::future::join_all(accepts).await {
            ensure!(accepted?.job.is_some());
        }
        ensure!(
            tokio::time::timeout(Duration::from_secs(5), waker.wait(Duration::from_secs(20))).await
                == Ok(Wake::Notified),
            "the burst woke nobody"
        );
        ensure!(store.queue_stats().await?.pending == burst + 1);
        Ok(())
    }
}

/// SQLite only: the raw database file (and its WAL) must not contain a
/// plaintext secret anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_holds_no_plaintext_secret() -> anyhow::Result<()> {
    use anyhow::{Context, ensure};
    use store::{Credential, CredentialKind, System};
    let Some(db) = support::TestDb::create(support::Backend::Sqlite).await? else {
        return Ok(());
    };
    let secrets = [
        "ghl-access-token-PLAINTEXT-CANARY-1",
        "ghl-refresh-token-PLAINTEXT-CANARY-2",
        "wp-app-password-PLAINTEXT-CANARY-3",
        "whsec-PLAINTEXT-CANARY-4",
    ];
    let store = db.open().await?;
    store
        .upsert_connection("ghl", System::HighLevel, "loc-1", "HighLevel")
        .await?;
    store
        .upsert_connection(
            "aa",
            System::AccessAlly,
            "https://site.example",
            "AccessAlly",
        )
        .await?;
    let oauth = Credential {
        secret: secrets[0].to_string().into(),
        refresh_secret: Some(secrets[1].to_string().into()),
        expires_at: None,
        scopes: vec!["products.write".into()],
    };
    store
        .save_credential("ghl", CredentialKind::HighLevelOAuth, &oauth)
        .await?;
    store
        .save_credential(
            "aa",
            CredentialKind::AccessAllyAppPassword,
            &Credential::new(secrets[2]),
        )
        .await?;
    store
        .save_credential(
            "aa",
            CredentialKind::WebhookSecret,
            &Credential::new(secrets[3]),
        )
        .await?;
    store
        .rotate_master_key(store::MasterKey::generate())
        .await?;

    let dir = db.temp_dir().context("sqlite temp dir")?;
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir)? {
        let bytes = std::fs::read(entry?.path())?;
        scanned += bytes.len();
        for secret in secrets {
            ensure!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "plaintext secret found in the database files"
            );
        }
    }
    ensure!(scanned > 0, "no database files to scan");
    // And the key file is not in there either: it is the caller's, not the store's.
    let leaked_key = store::MasterKey::generate();
    ensure!(
        !format!("{leaked_key:?}").contains(secrecy::ExposeSecret::expose_secret(
            &leaked_key.to_base64()
        ))
    );
    Ok(())
}

#[tokio::test]
async fn unsupported_url_and_bad_keys_are_clear_errors() -> anyhow::Result<()> {
    use anyhow::ensure;
    use store::{Keyring, MasterKey, Store, StoreError};
    let opened = Store::open(
        "mysql://root:hunter2@localhost/db",
        Keyring::new(MasterKey::generate()),
    )
    .await;
    let Err(error) = opened else {
        anyhow::bail!("a mysql URL must be refused");
    };
    let message = error.to_string();
    ensure!(
        matches!(error, StoreError::UnsupportedUrl { .. }),
        "{message}"
    );
    ensure!(
        message.contains("sqlite://") && !message.contains("hunter2"),
        "{message}"
    );
    ensure!(!error.is_retryable());

    let missing_dir =
        std::env::temp_dir().join(format!("no-such-dir-{:x}/store.db", rand::random::<u64>()));
    let opened = Store::open(
        &Store::sqlite_url(&missing_dir),
        Keyring::new(MasterKey::generate()),
    )
    .await;
    ensure!(matches!(opened, Err(StoreError::Open { .. })), "{opened:?}");

    let short = MasterKey::from_base64("c2hvcnQ=");
    ensure!(
        matches!(short, Err(StoreError::InvalidMasterKey(ref why)) if why.contains("32")),
        "{short:?}"
    );
    Ok(())
}
