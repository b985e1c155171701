//! The engine's job loop against a real store (SQLite in a temp dir): jobs
//! enqueued while a scan is still running are run before it ends, and a
//! worker stops claiming once told to stop.

use std::time::Duration;

use anyhow::{Context, ensure};
use engine::{Engine, EngineOptions};
use store::{JobState, Keyring, MasterKey, NewJob, Priority, Store, System};

async fn store(dir: &tempfile::TempDir) -> anyhow::Result<Store> {
    Ok(Store::open(
        &Store::sqlite_url(&dir.path().join("store.db")),
        Keyring::new(MasterKey::generate()),
    )
    .await?)
}

fn job(record: &str) -> NewJob {
    // No tenant is configured: the job fails for good (dead letter), which
    // is all these tests need to see it was run.
    NewJob::now(
        "product.to_accessally",
        "product",
        System::HighLevel,
        record,
        Priority::Backfill,
    )
}

/// Waits until the job has been run (it is no longer pending or running).
async fn until_run(store: &Store, job_id: i64) -> anyhow::Result<()> {
    for _ in 0..500 {
        let state = store.job(job_id).await?.context("job")?.state;
        if !matches!(state, JobState::Pending | JobState::Running) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("job {job_id} was not run while its producer waited")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_enqueued_while_the_producer_runs_are_run_alongside_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let engine = Engine::new(store.clone(), Vec::new(), EngineOptions::default());
    // The producer waits for its first job to be run before it ends: run
    // only after it (as the rounds used to), this would time out.
    let producer = async {
        let first = store.enqueue(&job("first")).await?.job_id;
        until_run(&store, first).await?;
        let second = store.enqueue(&job("second")).await?.job_id;
        anyhow::Ok(second)
    };
    let (second, ran) = engine
        .work_alongside(producer, Duration::from_millis(200))
        .await?;
    let second = second?;
    ensure!(ran == 2, "{ran} jobs run");
    let state = store.job(second).await?.context("job")?.state;
    ensure!(
        state == JobState::Dead,
        "the job after the producer: {state:?}"
    );
    ensure!(store.queue_stats().await?.pending == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_finishes_what_it_claimed_and_claims_no_more() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = store(&dir).await?;
    let engine = Engine::new(
        store.clone(),
        Vec::new(),
        EngineOptions {
            concurrency: 2,
            batch: 2,
            ..EngineOptions::default()
        },
    );
    for index in 0..4 {
        store.enqueue(&job(&format!("r{index}"))).await?;
    }
    // Stopped before it starts: nothing is claimed.
    engine.run(async {}).await?;
    ensure!(store.queue_stats().await?.pending == 4);
    // Running until every job is run, then stopped.
    let watched = store.clone();
    engine
        .run(async move {
            while watched
                .queue_stats()
                .await
                .map(|q| q.pending + q.running)
                .unwrap_or(1)
                > 0
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await?;
    let stats = store.queue_stats().await?;
    ensure!(stats.pending == 0 && stats.running == 0, "{stats:?}");
    ensure!(engine.stats.jobs.load(std::sync::atomic::Ordering::Relaxed) == 4);
    Ok(())
}
