//! End-to-end: both simulators, a SQLite store and the engine. Every check
//! reads the simulators' ground truth, not the engine's own view.

use engine::scan::ScanKind;
use sandbox::{Sandbox, SandboxOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_catalog_syncs_fully_and_a_second_run_writes_nothing() -> anyhow::Result<()> {
    let sb = Sandbox::start(SandboxOptions::default()).await?;
    let before = sb.differences().await?;
    assert!(!before.is_empty(), "the two seeds differ before syncing");
    let enqueued = sb.sync_once(ScanKind::Backfill).await?;
    assert!(enqueued > 30, "enqueued {enqueued}");
    let diffs = sb.differences().await?;
    assert!(diffs.is_empty(), "not converged:\n{}", diffs.join("\n"));
    let dead = sb.engine.store.dead_letters(0, 100).await?;
    assert!(
        dead.is_empty(),
        "dead letters: {:?}",
        dead.iter()
            .map(|j| (&j.kind, &j.dead_reason))
            .collect::<Vec<_>>()
    );
    let writes_after_first = sb.write_calls().await?;
    let again = sb.sync_once(ScanKind::Backfill).await?;
    assert_eq!(again, 0, "nothing changed, nothing enqueued");
    assert_eq!(
        sb.write_calls().await?,
        writes_after_first,
        "a second run makes no write call"
    );
    println!(
        "{}",
        serde_json::to_string_pretty(&sb.engine.stats.summary())?
    );
    Ok(())
}
