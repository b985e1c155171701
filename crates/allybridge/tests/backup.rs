//! Backup and restore of the SQLite store: a backup taken while `serve`
//! syncs, restored into a new folder, serves a sync from there that
//! converges both sides with no duplicate; a restore over an existing store
//! needs `--force` and keeps the store it replaces; a file that is not a
//! store changes nothing.

mod common;

use std::time::Duration;

use common::{Harness, text};
use sim_kit::Seed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_live_sync_restores_into_a_new_folder_and_converges() {
    let h = Harness::start(Seed::Demo).await;
    let daemon = h.serve(&[]).await;
    // Mid-sync: the daemon's first pass is running or just done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup = h.path("taken-while-serving.db");
    let out = h.run(&["backup", backup.to_str().expect("utf-8")]).await;
    assert!(out.status.success(), "backup: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("links"), "{}", text(&out.stdout));
    let again = h.run(&["backup", backup.to_str().expect("utf-8")]).await;
    assert!(!again.status.success(), "a backup never overwrites");
    daemon.stop().await;

    // A new folder: the configuration and the key, and the backup restored.
    let moved = tempfile::tempdir().expect("temp dir");
    for file in ["allybridge.toml", "allybridge.key"] {
        std::fs::copy(h.path(file), moved.path().join(file)).expect("copy");
    }
    let config = moved.path().join("allybridge.toml");
    let config = config.to_str().expect("utf-8");
    let out = h
        .run(&[
            "restore",
            "--config",
            config,
            backup.to_str().expect("utf-8"),
        ])
        .await;
    assert!(out.status.success(), "restore: {}", text(&out.stderr));
    assert!(moved.path().join("allybridge.db").exists());

    let out = h.run(&["sync", "--config", config]).await;
    assert!(
        out.status.success(),
        "sync from the restored store: {}",
        text(&out.stderr)
    );
    let differences = h.converge(Duration::from_secs(10)).await;
    assert!(
        differences.is_empty(),
        "no duplicate, nothing missing: {differences:?}"
    );

    // Over an existing store: refused without --force, kept beside it with.
    let out = h
        .run(&[
            "restore",
            "--config",
            config,
            backup.to_str().expect("utf-8"),
        ])
        .await;
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    let out = h
        .run(&[
            "restore",
            "--force",
            "--config",
            config,
            backup.to_str().expect("utf-8"),
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kept = std::fs::read_dir(moved.path())
        .expect("folder")
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains("before-restore"));
    assert!(kept, "the replaced store is kept");

    // Not a store: nothing changes.
    let junk = moved.path().join("junk.db");
    std::fs::write(&junk, b"not a database").expect("write");
    let before = std::fs::read(moved.path().join("allybridge.db")).expect("store");
    let out = h
        .run(&[
            "restore",
            "--force",
            "--config",
            config,
            junk.to_str().expect("utf-8"),
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing was changed"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(moved.path().join("allybridge.db")).expect("store"),
        before
    );
}
