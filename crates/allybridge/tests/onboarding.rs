//! The first hour of a new user, verb by verb (issue 21): output into a
//! closed pipe, making only a key, testing a token before storing it, one
//! naming of records across `logs` and `dlq`, whether live events will
//! arrive, what switching to write needs, and the daemon's own output.
//! Both simulators run in-process on free ports (`common/mod.rs`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Harness, text};
use sim_kit::Seed;

/// Runs the binary in `dir` with `env`, its stdout a pipe whose reading end
/// is already closed, so its first write fails the way `| head` makes it.
fn run_into_closed_pipe(
    dir: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("ALLYBRIDGE_MASTER_KEY")
        .env_remove("ALLYBRIDGE_CONFIG")
        .env_remove("ALLYBRIDGE_LOG")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the binary starts");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    // The command's own copy of the pipe's writing end is the only one left.
    drop(cmd);
    child.wait_with_output().expect("the binary ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verb_ends_quietly_when_stdout_is_closed() {
    let h = Harness::start(Seed::Demo).await;
    let fresh = tempfile::tempdir().expect("temp dir");
    let fresh_dir = fresh.path().display().to_string();
    let cases: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["ops", "list", "--json"], None),
        (vec!["ops", "list"], None),
        (
            vec!["ops", "describe", "ghl.products.get-product-by-id"],
            None,
        ),
        (vec!["init", "--dir", &fresh_dir], None),
        (vec!["check"], None),
        (vec!["check", "--json"], None),
        (vec!["reconcile", "--json"], None),
        (vec!["dlq", "list"], None),
        (vec!["admin-password"], Some("a long enough password\n")),
        (vec!["--help"], None),
    ];
    for (args, stdin) in cases {
        let out = run_into_closed_pipe(h.dir.path(), &h.env, &args, stdin);
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "`allybridge {}` complained about the closed pipe: {stderr}",
            args.join(" ")
        );
        assert_ne!(
            out.status.code(),
            Some(101),
            "`allybridge {}` panicked: {stderr}",
            args.join(" ")
        );
    }
}

/// The binary run in `dir` (no environment of the harness).
fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("ALLYBRIDGE_MASTER_KEY")
        .env_remove("ALLYBRIDGE_CONFIG")
        .env_remove("ALLYBRIDGE_STORE_KEY_FILE")
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_makes_a_missing_folder_and_only_a_key_for_a_copied_configuration() {
    let root = tempfile::tempdir().expect("temp dir");
    // --dir into a folder that does not exist yet.
    let out = run_in(root.path(), &["init", "--dir", "new/site"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made = root.path().join("new/site");
    assert!(made.join("allybridge.toml").exists() && made.join("allybridge.key").exists());

    // A configuration copied into a fresh folder, without its key.
    let copied = root.path().join("copied");
    std::fs::create_dir(&copied).expect("folder");
    std::fs::copy(made.join("allybridge.toml"), copied.join("allybridge.toml")).expect("copy");
    let check = run_in(&copied, &["check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        text(&check.stderr).contains("allybridge init --key-only"),
        "{}",
        text(&check.stderr)
    );
    let refused = run_in(&copied, &["init"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("--key-only"),
        "{}",
        text(&refused.stderr)
    );
    let config_before = std::fs::read(copied.join("allybridge.toml")).expect("config");
    let out = run_in(&copied, &["init", "--key-only", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = copied.join("allybridge.key");
    assert!(key.exists(), "{}", text(&out.stdout));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        std::fs::read(copied.join("allybridge.toml")).expect("config"),
        config_before,
        "--key-only leaves the configuration alone"
    );
    // An existing key is never replaced, not even with --force.
    let key_before = std::fs::read(&key).expect("key");
    let again = run_in(&copied, &["init", "--key-only"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    let forced = run_in(&copied, &["init", "--key-only", "--force"]);
    assert_eq!(forced.status.code(), Some(2), "clap refuses the pair");
    assert_eq!(std::fs::read(&key).expect("key"), key_before);
    // The key is where the configuration says: `check` now gets past it.
    let check = run_in(&copied, &["check"]);
    assert!(
        !text(&check.stderr).contains("no master key"),
        "{}",
        text(&check.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_ghl_token_is_tried_before_it_is_stored() {
    let h = Harness::start(Seed::Demo).await;
    let connect = ["connect", "ghl", "--tenant", "main", "--token"];
    let refused = h
        .run_with(&connect, &[], Some("not-a-token-of-this-location\n"))
        .await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    let message = text(&refused.stderr);
    assert!(
        message.contains("HighLevel refused the token") && message.contains("nothing was stored"),
        "{message}"
    );
    let store = h.store().await;
    let stored = store
        .credential(
            "main/highlevel",
            store::CredentialKind::HighLevelPrivateToken,
        )
        .await
        .expect("the store reads");
    assert!(stored.is_none(), "a refused token is not stored");
    store.close().await;

    let token = common::s(&h.ghl.info, "token");
    let accepted = h.run_with(&connect, &[], Some(&format!("{token}\n"))).await;
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));
    let said = text(&accepted.stdout);
    assert!(said.contains("HighLevel accepted"), "{said}");
    // The tenant already says auth = "private_token": nothing to set.
    assert!(!said.contains("auth = \"private_token\""), "{said}");
    assert!(!said.contains(&token) && !text(&accepted.stderr).contains(&token));
    let store = h.store().await;
    assert!(
        store
            .credential(
                "main/highlevel",
                store::CredentialKind::HighLevelPrivateToken,
            )
            .await
            .expect("the store reads")
            .is_some()
    );
    store.close().await;
}

/// The lines of a `--json` verb that prints one object per line.
fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_dlq_name_records_alike_and_find_them_by_either_system_s_id() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let logs = h.run(&["logs", "--json", "--limit", "1000"]).await;
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let entries = json_lines(&logs);
    assert!(!entries.is_empty());
    // One naming: the entity of a log entry is its job's (what `dlq` and the
    // admin page show), and its record id the job's record id.
    let store = h.store().await;
    for e in &entries {
        let entity = e["entity_type"].as_str().expect("entity");
        assert!(
            ["main/coupon", "main/product", "main/order"].contains(&entity),
            "{e}"
        );
        let job_id = e["job_id"].as_i64().expect("written by a job");
        let job = store
            .job(job_id)
            .await
            .expect("the store reads")
            .expect("the job is kept");
        assert_eq!(job.entity_type, entity, "{e}");
        assert_eq!(job.record_id, e["record_id"].as_str().unwrap_or(""), "{e}");
    }
    // The help's example matches.
    let coupons = h.run(&["logs", "--json", "--entity", "main/coupon"]).await;
    assert!(
        !json_lines(&coupons).is_empty(),
        "{}",
        text(&coupons.stderr)
    );
    let old_name = h
        .run(&["logs", "--entity", "main/coupons_to_accessally"])
        .await;
    assert_eq!(old_name.status.code(), Some(1));
    assert!(
        text(&old_name.stderr).contains("main/coupon, main/product, main/order"),
        "{}",
        text(&old_name.stderr)
    );
    // A product is found by its HighLevel id and by its offering's id.
    let link = store
        .links(Some("main/product"), 0, 1)
        .await
        .expect("links")
        .pop()
        .expect("a product was linked");
    store.close().await;
    let ids_of = |out: &std::process::Output| {
        let mut ids: Vec<i64> = json_lines(out)
            .iter()
            .map(|e| e["id"].as_i64().expect("id"))
            .collect();
        ids.sort();
        ids
    };
    let by_ghl = h.run(&["logs", "--json", "--id", &link.highlevel_id]).await;
    let by_aa = h
        .run(&[
            "logs",
            "--json",
            "--entity",
            "main/product",
            "--id",
            &link.accessally_id,
        ])
        .await;
    assert!(!ids_of(&by_ghl).is_empty(), "{}", text(&by_ghl.stderr));
    assert_eq!(ids_of(&by_ghl), ids_of(&by_aa));
    // `dlq list` names records the same way.
    let dlq = h.run(&["dlq", "list", "--json"]).await;
    assert!(dlq.status.success(), "{}", text(&dlq.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_per_system_whether_live_events_will_arrive() {
    let h = Harness::start(Seed::Demo).await;
    let live = |report: &serde_json::Value, system: &str| {
        report["tenants"][0][system]["live_events"].clone()
    };
    // No public_url: nothing can arrive, and check says what to set.
    let out = h.run(&["check", "--json"]).await;
    let report = common::json_out(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let aa = live(&report, "accessally");
    assert_eq!(aa["arrive"], false, "{aa}");
    assert!(
        aa["says"]
            .as_str()
            .unwrap_or("")
            .contains("public_url is not set"),
        "{aa}"
    );
    let ghl = live(&report, "highlevel");
    assert!(
        ghl["says"]
            .as_str()
            .unwrap_or("")
            .contains("public_url is not set")
            && ghl["says"].as_str().unwrap_or("").contains("ProductUpdate"),
        "{ghl}"
    );

    // The secret the simulator printed, and a public URL: check says serve
    // subscribes (it did not, before), and names HighLevel's Webhook URL.
    // Where the site delivers: a receiver that takes every delivery (one
    // that refused them would get the subscription disabled).
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let public = format!("http://{}", receiver.local_addr().expect("address"));
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "ok" });
        axum::serve(receiver, app).await
    });
    let secret = common::s(&h.aa.info, "webhook_secret");
    let env = [("ABT_AA_WEBHOOK_SECRET", secret.as_str())];
    // The secret belongs in [tenant.accessally], just before [tenant.flows].
    let with_secret = format!(
        "[server]\npublic_url = \"{public}\"\n[engine]\nworkers = 4\n{}",
        h.main_tenant("write").replacen(
            "[tenant.flows]",
            "webhook_secret = { env = \"ABT_AA_WEBHOOK_SECRET\" }\n[tenant.flows]",
            1,
        )
    );
    h.write_config_text(&with_secret);
    let out = h.run_with(&["check", "--json"], &env, None).await;
    let report = common::json_out(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let aa = live(&report, "accessally");
    assert_eq!(aa["arrive"], false, "{aa}");
    assert_eq!(aa["serve_subscribes"], true, "{aa}");
    assert_eq!(aa["secret"], "configured", "{aa}");
    let ghl = live(&report, "highlevel");
    assert_eq!(ghl["url"], format!("{public}/webhooks/ghl"), "{ghl}");
    let text_out = text(&h.run_with(&["check"], &env, None).await.stdout);
    assert!(
        text_out.contains(&format!("{public}/webhooks/ghl")),
        "{text_out}"
    );

    // serve subscribes with that secret; then events will arrive.
    let daemon = h.serve(&env).await;
    // Up and answering (its signal handlers are set once it serves).
    assert!(
        common::eventually(std::time::Duration::from_secs(10), || async {
            h.http
                .get(daemon.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(daemon.stop().await, Some(0));
    let subscriptions = h.control(&h.aa.url, "/__sim/state").await["webhooks"].clone();
    let url = format!("{public}/webhooks/accessally/main");
    assert!(
        subscriptions
            .as_array()
            .is_some_and(|s| s.iter().any(|w| w["url"] == url.as_str())),
        "{subscriptions}"
    );
    let out = h.run_with(&["check", "--json"], &env, None).await;
    let report = common::json_out(&out);
    let aa = live(&report, "accessally");
    assert_eq!(aa["arrive"], true, "{aa}");
    assert!(aa["says"].as_str().unwrap_or("").contains(&url), "{aa}");

    // Without the secret allybridge cannot verify that subscription's events: a problem.
    h.write_config_text(&format!(
        "[server]\npublic_url = \"{public}\"\n{}",
        h.main_tenant("write")
    ));
    let out = h.run(&["check", "--json"]).await;
    let report = common::json_out(&out);
    assert_eq!(out.status.code(), Some(2), "{report}");
    let aa = live(&report, "accessally");
    assert_eq!(aa["arrive"], false, "{aa}");
    assert!(
        aa["says"].as_str().unwrap_or("").contains("webhook_secret"),
        "{aa}"
    );
}

/// An AccessAlly client on the harness's site, as a site admin's edits go.
fn site_client(h: &Harness) -> accessally::AccessAllyClient {
    accessally::AccessAllyClient::new(accessally::AccessAllyConfig {
        site_url: url::Url::parse(&h.aa.url).expect("the site's URL"),
        user: common::s(&h.aa.info, "user"),
        app_password: secrecy::SecretString::from(common::s(&h.aa.info, "app_password")),
        handshake: None,
        http: transport::HttpConfig::default(),
        retry: transport::RetryPolicy::default(),
    })
    .expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_tells_each_record_written_in_words_and_colours_only_a_terminal() {
    let h = Harness::start(Seed::Demo).await;
    let out = h.run(&["sync"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A site admin lowers a price by 10.00.
    let site = site_client(&h);
    let offerings: Vec<accessally::Offering> =
        futures::TryStreamExt::try_collect(site.offerings(accessally::ListQuery::default()))
            .await
            .expect("offerings");
    let offering = offerings
        .iter()
        .find(|o| {
            o.payment_options.len() == 1
                && o.payment_options[0].sku.is_some()
                && o.payment_options[0].price.minor > 1_000
        })
        .expect("an offering with one priced SKU");
    let option = &offering.payment_options[0];
    let sku = option.sku.clone().expect("a SKU");
    let before = option.price;
    let after = model::Money::new(before.minor - 1_000, before.currency);
    let mut changed = accessally::PaymentOptionInput::from(option);
    changed.price = after;
    site.update_offering(
        offering.id,
        &accessally::OfferingInput {
            payment_options: Some(vec![changed]),
            ..accessally::OfferingInput::default()
        },
    )
    .await
    .expect("the site takes the edit");
    let said = format!(
        "{sku} {} → {} {}",
        before.to_decimal_string(),
        after.to_decimal_string(),
        after.currency
    );

    // The plan keeps the raw structure beside the words.
    let plan = h
        .run(&[
            "sync",
            "--dry-run",
            "--json",
            "--flow",
            "products_to_highlevel",
        ])
        .await;
    let plan = common::json_out(&plan);
    let entry = plan["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "update"))
        .unwrap_or_else(|| panic!("an update is planned: {plan}"));
    assert!(
        entry["diffs"]
            .as_array()
            .is_some_and(|d| d.iter().any(|l| l == said.as_str())),
        "{entry}"
    );
    assert_eq!(
        entry["changes"]["prices"]["after"][0]["amount_minor"],
        serde_json::json!(after.minor),
        "{entry}"
    );

    // The daemon (stderr not a terminal, logging at info) says it in words.
    let daemon = h
        .serve(&[("ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL", "1s")])
        .await;
    let told = common::eventually(std::time::Duration::from_secs(30), || async {
        daemon.log_text().contains(&said)
    })
    .await;
    let log = daemon.log_text();
    assert_eq!(daemon.stop().await, Some(0));
    assert!(told, "no line says `{said}`:\n{log}");
    let line = log.lines().find(|l| l.contains(&said)).expect("the line");
    assert!(
        line.contains(" INFO ") && line.contains("updated in HighLevel"),
        "{line}"
    );
    assert!(
        !line.contains("amount_minor"),
        "raw structure at info: {line}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "ANSI codes in redirected output:\n{log}"
    );
}

/// Where "Reconnect HighLevel (OAuth)" sends the browser.
async fn consent_url(
    b: &mut common::Browser,
    daemon: &common::Daemon,
    csrf: &str,
) -> anyhow::Result<String> {
    let start = b
        .post(&daemon.url("/admin/oauth/main"), &[("csrf", csrf)])
        .await?;
    Ok(start.location.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_after_a_switch_to_write_asks_for_the_write_scopes() -> anyhow::Result<()> {
    const PASSWORD: &str = "onboarding-admin-Pw!7";
    let h = Harness::bare(common::Sims::start(Seed::Empty, None).await).await;
    let hash = server::admin::auth::hash_password(PASSWORD)?;
    h.write_config_text(&format!(
        "[server]\nadmin_password_hash = \"{hash}\"\n{}",
        common::tenant_block(
            "main",
            &h.ghl,
            &h.aa,
            common::GhlAuth::OAuth,
            "ABT",
            "observe"
        )
    ));
    let daemon = h.serve(&[]).await;
    let mut b = common::Browser::new()?;
    common::log_in(&mut b, &daemon, PASSWORD).await?;
    let page = b.get(&daemon.url("/admin")).await?;
    assert!(
        page.body.contains("write needs the HighLevel scopes"),
        "{}",
        page.body
    );
    let csrf = common::csrf_of(&page.body)?;
    let observing = consent_url(&mut b, &daemon, &csrf).await?;
    assert!(
        observing.contains("invoices.readonly") && !observing.contains("invoices.write"),
        "{observing}"
    );
    let switched = b
        .post(
            &daemon.url("/admin/modes"),
            &[
                ("csrf", &csrf),
                ("tenant", "main"),
                ("flow", "orders_to_highlevel"),
                ("mode", "write"),
            ],
        )
        .await?;
    assert_eq!(switched.status, 303, "{}", switched.body);
    let writing = consent_url(&mut b, &daemon, &csrf).await?;
    assert!(writing.contains("invoices.write"), "{writing}");
    assert_eq!(daemon.stop().await, Some(0));
    Ok(())
}
