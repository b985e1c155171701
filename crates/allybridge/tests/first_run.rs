//! A new user's first hour (issue "the first run"): observing first leaves
//! no dead letter, stale job or false count behind and the switch to
//! `write` then does the work once; a dry run writes nothing anywhere —
//! not the store (jobs, integration log, dead letters), not either system —
//! even when a system refuses its credentials.

mod common;

use std::time::Duration;

use common::{Harness, text};
use sim_kit::Seed;

/// What a run could leave in the store: jobs, integration log entries, dead letters, links.
async fn store_snapshot(h: &Harness) -> (usize, usize, usize, i64) {
    let store = h.store().await;
    let jobs = store.jobs(None, 0, 100_000).await.expect("jobs").len();
    let log = store
        .integration_log(&store::LogQuery {
            limit: 100_000,
            ..store::LogQuery::default()
        })
        .await
        .expect("log")
        .len();
    let dead = store.dead_letters(0, 100_000).await.expect("dead").len();
    let links = store.link_count().await.expect("links");
    store.close().await;
    (jobs, log, dead, links)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observing_first_leaves_nothing_behind_and_write_then_does_the_work_once() {
    let h = Harness::start_with(Seed::Demo, None, "observe").await;
    let out = h.run(&["sync"]).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "observing is not a failure: {stdout} {}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("would create"),
        "observe says what it would do: {stdout}"
    );
    assert!(!stdout.contains("dead-lettered"), "{stdout}");
    assert_eq!(h.writes().await, (0, 0), "observe writes nothing");
    let (_, _, dead, _) = store_snapshot(&h).await;
    assert_eq!(
        dead, 0,
        "no dead letter for records observe will never write"
    );
    let store = h.store().await;
    let queue = store.queue_stats().await.expect("queue");
    store.close().await;
    assert_eq!(queue.pending, 0, "no stale job waits: {queue:?}");

    h.write_config("write");
    let out = h.run(&["sync"]).await;
    assert!(out.status.success(), "write: {}", text(&out.stderr));
    let (_, _, dead, _) = store_snapshot(&h).await;
    assert_eq!(dead, 0, "switching to write leaves no dead letter either");
    let differences = h.converge(Duration::from_secs(5)).await;
    assert!(differences.is_empty(), "{differences:?}");
    let out = h.run(&["reconcile"]).await;
    assert!(
        out.status.success(),
        "no drift after the switch: {}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing_anywhere_even_when_a_system_refuses() {
    let h = Harness::start(Seed::Demo).await;
    // One real pass first, so the store has links, jobs and log lines to keep.
    let out = h.run(&["sync", "--flow", "products_to_accessally"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let before = store_snapshot(&h).await;
    let writes = h.writes().await;
    for round in 0..2 {
        let out = h.run(&["sync", "--dry-run"]).await;
        assert!(
            out.status.success(),
            "dry run {round}: {}",
            text(&out.stderr)
        );
        let refused = h
            .run_with(
                &["sync", "--dry-run"],
                &[("ABT_GHL_TOKEN", "pit-wrong")],
                None,
            )
            .await;
        assert!(
            text(&refused.stdout).contains("nothing was written") || !refused.status.success(),
            "{}",
            text(&refused.stderr)
        );
    }
    assert_eq!(store_snapshot(&h).await, before, "the store is as it was");
    assert_eq!(h.writes().await, writes, "neither system was written to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_gives_up_on_a_refusing_system_within_its_timeout_and_names_it() {
    let h = Harness::start(Seed::Demo).await;
    h.http
        .put(format!("{}/__sim/faults", h.aa.url))
        .json(&serde_json::json!({"error_rate": 1.0, "error_statuses": [503]}))
        .send()
        .await
        .expect("faults set");
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(90), h.run(&["sync", "--timeout", "2"]))
        .await
        .expect("sync ended on its own, not hung");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--timeout") && stderr.contains("AccessAlly"),
        "{stderr}"
    );
    assert!(
        stderr.contains("allybridge check"),
        "it says what to check: {stderr}"
    );
    eprintln!("gave up after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_dropped_and_replayed_in_bulk_by_flow_with_a_confirmation() {
    let h = Harness::start(Seed::Empty).await;
    let store = h.store().await;
    for (kind, entity, record) in [
        ("coupon.to_accessally", "main/coupon", "c1"),
        ("coupon.to_accessally", "main/coupon", "c2"),
        ("order.to_highlevel", "main/order", "o1"),
    ] {
        let job = store::NewJob {
            kind: kind.into(),
            entity_type: entity.into(),
            record_system: store::System::HighLevel,
            record_id: record.into(),
            location: None,
            dedupe_key: format!("test:{record}"),
            priority: store::Priority::Live,
            run_at: chrono::Utc::now(),
            payload: serde_json::json!({}),
        };
        store.enqueue(&job).await.expect("enqueue");
    }
    let claimed = store
        .claim_jobs("test", &store::ClaimScope::Any, 10, Duration::from_secs(60))
        .await
        .expect("claim");
    for j in &claimed {
        store
            .dead_letter_job(j.id, "test", "permanent: the test says so")
            .await
            .expect("dead letter");
    }
    store.close().await;
    let count = |out: &std::process::Output| common::json_out(out).as_array().map_or(0, Vec::len);

    // Without a terminal and without --yes, nothing is done.
    let out = h
        .run(&["dlq", "drop", "--all", "--flow", "coupons_to_accessally"])
        .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    assert_eq!(count(&h.run(&["dlq", "list", "--json"]).await), 3);

    let out = h
        .run(&[
            "dlq",
            "drop",
            "--all",
            "--flow",
            "coupons_to_accessally",
            "--yes",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("2 dead letters dropped"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(count(&h.run(&["dlq", "list", "--json"]).await), 1);

    let out = h.run(&["dlq", "replay", "--all", "--yes"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count(&h.run(&["dlq", "list", "--json"]).await), 0);
    let out = h
        .run(&["dlq", "drop", "--flow", "orders_to_highlevel"])
        .await;
    assert!(!out.status.success(), "--flow goes with --all");
}
