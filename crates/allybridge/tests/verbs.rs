//! The command-line verbs against both simulators started in-process on
//! free ports (the harness is `common/mod.rs`).

mod common;

use std::path::Path;

use common::{BIN, Harness, json_out, s, text};
use sim_kit::Seed;

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_config_and_key_and_refuses_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env_remove("ALLYBRIDGE_CONFIG")
            .output()
            .expect("runs")
    };
    let out = run(&["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = dir.path().join("allybridge.toml");
    let key = dir.path().join("allybridge.key");
    assert!(config.exists() && key.exists());
    #[cfg(unix)]
    assert_eq!(mode_of(&key), 0o600);
    let loaded = config::Config::load(&config).expect("the template loads");
    assert_eq!(loaded.tenants.len(), 1);
    let key_before = std::fs::read(&key).expect("key");
    let again = run(&["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("--force"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read(&key).expect("key"), key_before);
    let forced = run(&["init", "--force"]);
    assert!(forced.status.success());
    assert_ne!(std::fs::read(&key).expect("key"), key_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_dry_run_writes_nothing_then_sync_converges_and_repeats_nothing() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["sync", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "dry run: {}", text(&out.stderr));
    let plan = json_out(&out);
    let entries = plan["entries"].as_array().expect("entries");
    let creates = entries.iter().filter(|e| e["action"] == "create").count();
    assert!(creates > 0, "the dry run plans creates: {plan}");
    assert!(entries.iter().all(|e| e["written"] == false));
    assert_eq!(h.writes().await, (0, 0), "a dry run writes nothing");
    // The plan states what the sync will cost HighLevel's budget.
    let cost = &plan["highlevel_calls"][0];
    let (reads, writes) = (
        cost["reads"].as_u64().unwrap_or(0),
        cost["writes"].as_u64().unwrap_or(0),
    );
    assert!(reads > 0 && writes > 0, "{cost}");
    // (The harness lifts the rate limits; a real location's quota is 200,000.)
    let quota = cost["daily_quota"].as_u64().unwrap_or(0) as f64;
    let share = cost["share_of_daily_quota"].as_f64().unwrap_or(-1.0);
    assert!(
        (share - (reads + writes) as f64 * 100.0 / quota).abs() <= share * 1e-9,
        "{cost}"
    );
    let ghl_calls = |log: serde_json::Value| log["summary"]["total"].as_u64().unwrap_or(0);
    let before = ghl_calls(h.control(&h.ghl.url, "/__sim/requests?limit=0").await);

    let out = h.run(&["sync", "--json"]).await;
    assert!(out.status.success(), "sync: {}", text(&out.stderr));
    // The sync's HighLevel writes are the plan's, and its calls in all
    // about the plan's count.
    let log = h.control(&h.ghl.url, "/__sim/requests?limit=0").await;
    let written = log["summary"]["writes"].as_u64().unwrap_or(0);
    // (An order not paid yet takes neither its payment nor its note.)
    assert!(
        written <= writes && written * 10 >= writes * 9,
        "the sync wrote {written} times, the plan said {writes}: {log}"
    );
    let made = ghl_calls(log) - before;
    let stated = reads + writes;
    assert!(
        made * 4 >= stated * 3 && made * 4 <= stated * 5,
        "the sync made {made} HighLevel calls, the plan said {stated}"
    );
    let result = json_out(&out);
    assert!(result["enqueued"].as_u64().unwrap_or(0) > 0);
    let g = h.control(&h.ghl.url, "/__sim/state").await["locations"][0].clone();
    let a = h.control(&h.aa.url, "/__sim/state").await;
    let differences = sandbox::compare(&g, &a);
    assert!(differences.is_empty(), "{differences:?}");

    let out = h.run(&["sync", "--json"]).await;
    assert!(out.status.success(), "second sync: {}", text(&out.stderr));
    assert_eq!(
        json_out(&out)["enqueued"],
        0,
        "a second sync enqueues nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_show_a_secret() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["-vv", "sync"]).await;
    assert!(out.status.success(), "sync: {}", text(&out.stderr));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.len() > 1000, "trace logs were written");
    for secret in h.secrets() {
        assert!(!secret.is_empty());
        assert!(!all.contains(&secret), "a secret appears in the output");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_with_full_scopes_and_names_a_missing_scope() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["check", "--json"]).await;
    let report = json_out(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["tenants"][0]["highlevel"]["authenticated"], true);
    assert_eq!(report["tenants"][0]["accessally"]["authenticated"], true);
    assert_eq!(h.writes().await, (0, 0), "check is read-only");

    let scopes: Vec<String> = sim_ghl::SimConfig::default()
        .private_token_scopes
        .into_iter()
        .filter(|s| s != "payments/coupons.readonly")
        .collect();
    let h = Harness::start_with(Seed::Demo, Some(scopes), "write").await;
    let out = h.run(&["check", "--json"]).await;
    let report = json_out(&out);
    assert_eq!(out.status.code(), Some(2), "{report}");
    let missing = &report["tenants"][0]["highlevel"]["scopes"]["missing"];
    assert_eq!(
        missing,
        &serde_json::json!(["payments/coupons.readonly"]),
        "{report}"
    );
    let text_out = h.run(&["check"]).await;
    assert!(text(&text_out.stdout).contains("payments/coupons.readonly"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_polls_and_converges_then_stops_on_sigterm() {
    let h = Harness::start(Seed::Demo).await;
    let daemon = h
        .serve(&[
            ("ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL", "1s"),
            ("ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL", "1s"),
            ("ALLYBRIDGE_ENGINE_ORDER_POLL_INTERVAL", "1s"),
            ("ALLYBRIDGE_LOG", "warn"),
        ])
        .await;
    let health = h
        .http
        .get(daemon.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert!(health.status().is_success());
    let ready = h
        .http
        .get(daemon.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert!(ready.status().is_success());
    let differences = h.converge(std::time::Duration::from_secs(30)).await;
    assert!(differences.is_empty(), "{differences:?}");
    assert_eq!(daemon.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_drift_without_writing_then_none_after_sync() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["reconcile", "--json"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let report = json_out(&out);
    assert!(report["drift"].as_u64().unwrap_or(0) > 0, "{report}");
    let kinds: Vec<&str> = report["tenants"][0]["drift"]
        .as_array()
        .expect("drift list")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"missing"));
    assert_eq!(
        h.writes().await,
        (0, 0),
        "reconcile without --repair writes nothing"
    );
    let dlq = h.run(&["dlq", "list", "--json"]).await;
    assert_eq!(
        json_out(&dlq),
        serde_json::json!([]),
        "a report-only run leaves no dead letters"
    );

    let out = h.run(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = h.run(&["reconcile", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(json_out(&out)["drift"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_dead_letters_list_show_replay_drop() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["sync", "--flow", "products_to_accessally"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = h.run(&["logs", "--json", "--limit", "5"]).await;
    assert!(logs.status.success());
    let lines: Vec<serde_json::Value> = text(&logs.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 5);
    let entity = lines[0]["entity_type"]
        .as_str()
        .expect("entity")
        .to_string();
    let record = lines[0]["record_id"].as_str().expect("record").to_string();
    let one = h
        .run(&["logs", "--json", "--entity", &entity, "--id", &record])
        .await;
    let filtered: Vec<serde_json::Value> = text(&one.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(!filtered.is_empty());
    assert!(filtered.iter().all(|l| l["record_id"] == record.as_str()));

    // Two dead letters, made the way a worker makes them.
    let ids = h
        .dead_letters(&[
            ("coupon.to_accessally", "main/coupon", "r1"),
            ("coupon.to_accessally", "main/coupon", "r2"),
        ])
        .await;
    let list = json_out(&h.run(&["dlq", "list", "--json"]).await);
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    let (a, b) = (ids[0].to_string(), ids[1].to_string());
    let show = json_out(&h.run(&["dlq", "show", &a, "--json"]).await);
    assert_eq!(show["record_id"], "r1");
    assert!(
        show["reason"]
            .as_str()
            .unwrap_or("")
            .contains("the test says so")
    );
    assert!(h.run(&["dlq", "replay", &a]).await.status.success());
    assert!(h.run(&["dlq", "drop", &b]).await.status.success());
    assert_eq!(
        json_out(&h.run(&["dlq", "list", "--json"]).await),
        serde_json::json!([])
    );
    let missing = h.run(&["dlq", "show", "999999"]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("dlq list"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_keeps_credentials_readable() {
    let h = Harness::start(Seed::Demo).await;
    let store = h.store().await;
    store
        .upsert_connection(
            "main/accessally",
            store::System::AccessAlly,
            &h.aa.url,
            "main",
        )
        .await
        .expect("connection");
    let password = s(&h.aa.info, "app_password");
    store
        .save_credential(
            "main/accessally",
            store::CredentialKind::AccessAllyAppPassword,
            &store::Credential::new(password.clone()),
        )
        .await
        .expect("credential");
    store.close().await;
    let old_key = std::fs::read_to_string(h.path("allybridge.key")).expect("key");
    let out = h.run(&["keys", "rotate", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json_out(&out)["re_encrypted"], 1);
    assert_eq!(
        std::fs::read_to_string(h.path("allybridge.key.old")).expect("old key"),
        old_key
    );
    #[cfg(unix)]
    assert_eq!(mode_of(&h.path("allybridge.key")), 0o600);
    let store = h.store().await;
    let credential = store
        .credential(
            "main/accessally",
            store::CredentialKind::AccessAllyAppPassword,
        )
        .await
        .expect("decrypts with the new key")
        .expect("stored");
    use secrecy::ExposeSecret;
    assert_eq!(credential.secret.expose_secret(), password);
    store.close().await;
    // The binary works with the rotated key and the stored password alone.
    let out = h
        .run_with(&["check", "--json"], &[("ABT_AA_PASSWORD", "wrong")], None)
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_lists_the_catalog_and_runs_a_read() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["ops", "list", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = json_out(&out);
    let entries = list.as_array().expect("array");
    assert!(entries.len() > 126, "{} entries", entries.len());
    for e in entries {
        for key in ["id", "system", "kind", "scope"] {
            assert!(e.get(key).is_some(), "entry lacks {key}: {e}");
        }
    }
    let triggers = json_out(
        &h.run(&[
            "ops",
            "list",
            "--kind",
            "trigger",
            "--system",
            "accessally",
            "--json",
        ])
        .await,
    );
    assert!(triggers.as_array().is_some_and(|t| {
        !t.is_empty()
            && t.iter()
                .all(|e| e["kind"] == "trigger" && e["system"] == "accessally")
    }));
    let described = h
        .run(&["ops", "describe", "ghl.products.get-product-by-id"])
        .await;
    assert!(text(&described.stdout).contains("products.readonly"));

    let state = h.control(&h.ghl.url, "/__sim/state").await;
    let product = &state["locations"][0]["products"][0];
    let id = s(product, "_id");
    let param = format!("productId={id}");
    let out = h
        .run(&[
            "ops",
            "run",
            "ghl.products.get-product-by-id",
            "--param",
            &param,
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = json_out(&out);
    assert_eq!(answer["_id"], id.as_str(), "{answer}");
    assert_eq!(answer["name"], product["name"]);

    let write = h
        .run(&[
            "ops",
            "run",
            "ghl.products.delete-product-by-id",
            "--param",
            &param,
        ])
        .await;
    assert_eq!(write.status.code(), Some(1));
    assert!(
        text(&write.stderr).contains("--yes"),
        "{}",
        text(&write.stderr)
    );
    let missing = h
        .run(&["ops", "run", "ghl.products.get-product-by-id"])
        .await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("productId"));

    // An action the client has no typed method for goes through the same
    // client: its answer (the simulator does not serve it) is HighLevel's,
    // named by the catalog id.
    let unlisted = h
        .run(&[
            "ops",
            "run",
            "ghl.products.get-product-store-stats",
            "--param",
            "storeId=store-1",
        ])
        .await;
    assert_eq!(unlisted.status.code(), Some(1));
    assert!(
        text(&unlisted.stderr).contains("ghl.products.get-product-store-stats"),
        "{}",
        text(&unlisted.stderr)
    );
    assert_eq!(h.writes().await, (0, 0));

    // Both runs are in the API activity log, without their query strings.
    let store = h.store().await;
    let calls = store
        .api_activity(&store::ApiActivityQuery {
            system: Some(store::System::HighLevel),
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("the API activity log");
    store.close().await;
    let seen = |path: &str, status: u16| {
        calls
            .iter()
            .any(|c| c.call.path == path && c.call.status == Some(status))
    };
    assert!(seen(&format!("/products/{id}"), 200), "{calls:?}");
    assert!(seen("/products/store/store-1/stats", 404), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_stores_tested_credentials_encrypted() {
    let h = Harness::start(Seed::Demo).await;
    let token = s(&h.ghl.info, "token");
    let out = h
        .run_with(
            &["connect", "ghl", "--tenant", "main", "--token"],
            &[],
            Some(&format!("{token}\n")),
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bad = h
        .run_with(
            &[
                "connect",
                "accessally",
                "--tenant",
                "main",
                "--password-env",
                "ABT_BAD",
            ],
            &[("ABT_BAD", "not-the-password")],
            None,
        )
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("nothing was stored"),
        "{}",
        text(&bad.stderr)
    );
    let good = h
        .run(&[
            "connect",
            "accessally",
            "--tenant",
            "main",
            "--password-env",
            "ABT_AA_PASSWORD",
        ])
        .await;
    assert!(good.status.success(), "{}", text(&good.stderr));
    let all = format!(
        "{}{}{}",
        text(&out.stdout),
        text(&good.stdout),
        text(&good.stderr)
    );
    assert!(!all.contains(&token) && !all.contains(&s(&h.aa.info, "app_password")));
    let store = h.store().await;
    let stored = store
        .credential(
            "main/highlevel",
            store::CredentialKind::HighLevelPrivateToken,
        )
        .await
        .expect("decrypts")
        .expect("stored");
    use secrecy::ExposeSecret;
    assert_eq!(stored.secret.expose_secret(), token);
    store.close().await;
    // The stored credentials alone are enough.
    let out = h
        .run_with(
            &["check", "--json"],
            &[("ABT_GHL_TOKEN", "x"), ("ABT_AA_PASSWORD", "x")],
            None,
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_runs_accessally_bridge_actions_and_commands() {
    let h = Harness::start(Seed::Demo).await;
    let offering = h.control(&h.aa.url, "/__sim/state").await["offerings"][0].clone();
    let id = offering["id"].as_u64().expect("an offering id").to_string();
    let param = format!("id={id}");

    let out = h
        .run(&[
            "ops",
            "run",
            "accessally.offerings.get-offering",
            "--param",
            &param,
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer = json_out(&out);
    assert_eq!(
        answer["id"].as_u64().map(|n| n.to_string()),
        Some(id.clone())
    );
    assert_eq!(answer["name"], offering["name"]);
    let out = h
        .run(&[
            "ops",
            "run",
            "accessally.offerings.list-offerings",
            "--param",
            "per_page=2",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json_out(&out).as_array().map(Vec::len), Some(2));

    let update = [
        "ops",
        "run",
        "accessally.offerings.update-offering",
        "--param",
        &param,
        "--body",
        r#"{"name": "Renamed by ops"}"#,
    ];
    let refused = h.run(&update).await;
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(
        message.contains("--yes") && message.contains("AccessAlly"),
        "{message}"
    );
    let no_body = h
        .run(&["ops", "run", "accessally.coupons.create-coupon", "--yes"])
        .await;
    assert_eq!(no_body.status.code(), Some(1));
    assert!(
        text(&no_body.stderr).contains("--body"),
        "{}",
        text(&no_body.stderr)
    );
    assert_eq!(h.writes().await, (0, 0), "nothing written without --yes");

    let out = h.run(&[&update[..], &["--yes"]].concat()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = h.control(&h.aa.url, "/__sim/state").await;
    let renamed = state["offerings"]
        .as_array()
        .and_then(|o| {
            o.iter()
                .find(|o| o["id"].as_u64().map(|n| n.to_string()) == Some(id.clone()))
        })
        .expect("the offering");
    assert_eq!(renamed["name"], "Renamed by ops");

    let http = reqwest::Client::new();
    let contact: serde_json::Value = http
        .post(format!("{}/__sim/contacts", h.aa.url))
        .json(&serde_json::json!({"email": "ops-buyer@example.com"}))
        .send()
        .await
        .expect("contact")
        .json()
        .await
        .expect("contact JSON");
    let contact_id = s(&contact, "crm_contact_id");
    assert!(!contact_id.is_empty(), "{contact}");
    let out = h
        .run(&[
            "ops",
            "run",
            "accessally.aal.genpass",
            "--param",
            &format!("contactId={contact_id}"),
            "--yes",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = h.control(&h.aa.url, "/__sim/aal-log").await;
    assert!(
        log.as_array().is_some_and(|l| l
            .iter()
            .any(|e| e["command"] == "aal_genpass" && e["contact_id"] == contact_id.as_str())),
        "{log}"
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for secret in h.secrets() {
        assert!(!all.contains(&secret), "a secret appears in the output");
    }

    // The client's retries: a site answering 503 is asked again, then the error is reported.
    let faults = http
        .put(format!("{}/__sim/faults", h.aa.url))
        .json(&serde_json::json!({"error_rate": 1.0, "error_statuses": [503]}))
        .send()
        .await
        .expect("faults");
    assert!(faults.status().is_success());
    let before = h.control(&h.aa.url, "/__sim/requests?limit=0").await["summary"]["total"]
        .as_u64()
        .unwrap_or(0);
    let out = h
        .run(&[
            "ops",
            "run",
            "accessally.offerings.get-offering",
            "--param",
            &param,
        ])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("503"), "{}", text(&out.stderr));
    let after = h.control(&h.aa.url, "/__sim/requests?limit=0").await["summary"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        after - before,
        5,
        "one call and four retries (the default policy)"
    );
}
