//! Secrets never leak: a whole sandbox run (backfill, webhooks, live
//! changes on both sides, a spell of faults with retries, reconciliation,
//! credentials saved the way `allybridge connect` saves them) with every
//! crate logging at debug level into a captured buffer, then every log line
//! and every byte of the SQLite store (database, WAL and shared-memory
//! files) is scanned for each token, password and webhook secret the run
//! used: zero hits. The real `allybridge -vv demo` is scanned too, for the
//! shapes of its credentials (its simulators' secrets are random and never
//! printed, so the scan looks for `pit-…` tokens, `whsec_` secrets and
//! authorization headers).

use std::io::Write;
use std::sync::{Arc, Mutex};

use engine::scan::ScanKind;
use reliability::{hits, secrets_of};
use sandbox::{Sandbox, SandboxOptions, checkout_body};
use secrecy::SecretString;
use serde_json::json;
use sim_kit::Faults;

/// The captured log: every formatted line of every crate.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_and_the_store_file_hold_no_secret() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("store.db");
    let mut sb = Sandbox::start(SandboxOptions {
        store_url: Some(store::Store::sqlite_url(&db)),
        fault_seed: Some(7),
        ..SandboxOptions::default()
    })
    .await?;
    let secrets = secrets_of(&sb.ghl_sim.info, sb.aa_site.info());
    assert!(
        secrets.len() >= 6,
        "the run's secrets are known: {}",
        secrets.len()
    );

    // Credentials stored the way `allybridge connect` stores them.
    let store = sb.engine.store.clone();
    for (conn, system, kind, key) in [
        (
            "sandbox:highlevel",
            store::System::HighLevel,
            store::CredentialKind::HighLevelPrivateToken,
            &sb.ghl_sim.info["token"],
        ),
        (
            "sandbox:accessally",
            store::System::AccessAlly,
            store::CredentialKind::AccessAllyAppPassword,
            &sb.aa_site.info()["app_password"],
        ),
        (
            "sandbox:accessally",
            store::System::AccessAlly,
            store::CredentialKind::WebhookSecret,
            &sb.aa_site.info()["webhook_secret"],
        ),
    ] {
        store
            .upsert_connection(conn, system, "acct", "sandbox")
            .await?;
        let credential = store::Credential {
            secret: SecretString::from(key.as_str().unwrap_or_default().to_string()),
            refresh_secret: None,
            expires_at: None,
            scopes: Vec::new(),
        };
        store.save_credential(conn, kind, &credential).await?;
    }

    sb.sync_once(ScanKind::Backfill).await?;
    sb.go_live().await?;
    // Live changes on both sides, the second half under faults.
    let g = sb.ghl_truth().await?;
    let a = sb.aa_truth().await?;
    for i in 0..4usize {
        if i == 2 {
            sb.set_faults(&Faults {
                error_rate: 0.2,
                error_statuses: vec![429, 500, 503],
                ..Faults::default()
            })
            .await?;
        }
        let p = &g["products"][i];
        let pid = p["_id"].as_str().unwrap_or_default();
        sb.control(
            "ghl",
            "PUT",
            &format!("/__sim/ui/products/{pid}"),
            Some(
                json!({"name": p["name"], "locationId": g["id"], "productType": p["productType"],
                        "description": format!("secret scan {i}")}),
            ),
        )
        .await?;
        let o = &a["offerings"][i];
        sb.control(
            "accessally",
            "POST",
            "/__sim/checkout",
            Some(checkout_body(
                &format!("scan{i}@example.com"),
                o["id"].as_u64().unwrap_or(0),
                o["payment_options"][0]["id"].as_u64().unwrap_or(0),
                None,
            )),
        )
        .await?;
    }
    sb.set_faults(&Faults::default()).await?;
    let mut diffs = Vec::new();
    for _ in 0..4 {
        sb.sync_once(ScanKind::Reconcile).await?;
        diffs = sb.differences().await?;
        if diffs.is_empty() {
            break;
        }
    }
    assert!(diffs.is_empty(), "not converged: {diffs:?}");
    drop(sb);
    store.close().await;

    let logs = captured.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lines = logs.split(|b| *b == b'\n').count();
    assert!(lines > 500, "debug logs were captured: {lines} lines");
    let found = hits(&logs, &secrets);
    assert!(
        found.is_empty(),
        "{} secret(s) appear in the debug log",
        found.len()
    );

    let mut bytes = 0;
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        let content = std::fs::read(&path)?;
        bytes += content.len();
        let found = hits(&content, &secrets);
        assert!(
            found.is_empty(),
            "{} secret(s) appear in {:?}",
            found.len(),
            path.file_name()
        );
    }
    assert!(bytes > 50_000, "the store was written: {bytes} bytes");
    println!(
        "secrets scan: {} secrets, {lines} log lines ({} bytes), {bytes} store bytes, 0 hits, {:.1?}",
        secrets.len(),
        logs.len(),
        started.elapsed()
    );
    Ok(())
}

/// Whether `text` holds a HighLevel private token (`pit-` + 32 letters/digits).
fn has_private_token(text: &str) -> bool {
    text.match_indices("pit-").any(|(i, _)| {
        let rest = &text.as_bytes()[i + 4..];
        rest.len() >= 32 && rest[..32].iter().all(u8::is_ascii_alphanumeric)
    })
}

#[test]
fn demo_at_debug_level_prints_no_credential() -> anyhow::Result<()> {
    let bin = reliability::allybridge_bin()?;
    let started = std::time::Instant::now();
    let out = std::process::Command::new(bin)
        .args(["-vv", "demo", "--duration", "3"])
        .env_remove("ALLYBRIDGE_LOG")
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "demo failed: {text}");
    let lines = text.lines().count();
    assert!(lines > 500, "debug logs were written: {lines} lines");
    assert!(!has_private_token(&text), "a HighLevel token appears");
    for needle in [
        "whsec_",
        "Bearer ",
        "Basic ",
        "app_password",
        "authorization:",
    ] {
        assert!(
            !text.to_lowercase().contains(&needle.to_lowercase()),
            "`{needle}` appears in the demo's debug output"
        );
    }
    println!(
        "demo -vv: {lines} lines scanned, 0 hits, {:.1?}",
        started.elapsed()
    );
    Ok(())
}
