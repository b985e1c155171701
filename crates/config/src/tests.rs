//! Tests of parsing, overrides, secrets, validation and the template.

use std::time::Duration;

use model::{Flow, FlowMode};
use proptest::prelude::*;
use secrecy::ExposeSecret;

use super::*;

const MINIMAL: &str = r#"
[[tenant]]
name = "main"
[tenant.ghl]
location_id = "loc1"
auth = "private_token"
[tenant.accessally]
site_url = "https://courses.example.com"
user = "bridge"
"#;

fn error_text(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(_) => String::from("<parsed without error>"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn minimal_file_gets_every_default() -> anyhow::Result<()> {
    let config = Config::from_str(MINIMAL)?;
    assert_eq!(config.log, "info");
    assert_eq!(config.store.url, "sqlite://allybridge.db?mode=rwc");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8940");
    assert_eq!(config.engine.workers, 4);
    assert_eq!(
        config.engine.coupon_poll_interval.get(),
        Duration::from_secs(60)
    );
    assert_eq!(
        config.engine.reconcile_interval.get(),
        Duration::from_secs(3_600)
    );
    assert_eq!(config.engine.max_attempts, 8);
    assert_eq!(config.alerts.cooldown.get(), Duration::from_secs(1_800));
    assert_eq!(config.alerts.check_interval.get(), Duration::from_secs(30));
    let tenant = &config.tenants[0];
    assert_eq!(
        tenant.ghl.base_url.as_str(),
        "https://services.leadconnectorhq.com/"
    );
    assert!(
        tenant
            .flows
            .modes()
            .iter()
            .all(|(_, m)| *m == FlowMode::Observe)
    );
    assert_eq!(
        tenant.mapping.completed_order_statuses,
        ["success", "sca_success"]
    );
    assert_eq!(tenant.mapping.paid_payment_statuses, ["paid"]);
    assert_eq!(
        tenant.mapping.refunded_order_statuses,
        ["refunded", "partially_refunded"]
    );
    assert_eq!(tenant.mapping.coupon_code, CodeCase::Preserve);
    assert_eq!(tenant.mapping.product_key, ProductKey::Sku);
    assert!(tenant.mapping.sku_prefixes.is_empty());
    assert!(tenant.mapping.price && tenant.mapping.inventory);
    assert_eq!(tenant.orders.grant_via, GrantVia::Bridge);
    assert_eq!(tenant.orders.tags, ["accessally-buyer"]);
    assert_eq!(tenant.products.conflict_policy, ConflictPolicy::GhlWins);
    Ok(())
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let text = format!("{MINIMAL}[tenant.flows]\ncoupons_to_accessaly = \"write\"\n");
    let message = error_text(Config::from_str(&text));
    assert!(message.contains("coupons_to_accessaly"), "{message}");
    let line = text
        .lines()
        .position(|l| l.starts_with("coupons_to_accessaly"))
        .map_or(0, |i| i + 1);
    assert!(message.contains(&format!("line {line}")), "{message}");

    let top = format!("colour = \"blue\"\n{MINIMAL}");
    let message = error_text(Config::from_str(&top));
    assert!(
        message.contains("colour") && message.contains("line 1"),
        "{message}"
    );

    let nested = MINIMAL.replace("user = \"bridge\"", "user = \"bridge\"\npasword = 1");
    let message = error_text(Config::from_str(&nested));
    assert!(message.contains("pasword"), "{message}");
}

#[test]
fn environment_overrides_top_level_scalars() -> anyhow::Result<()> {
    let env = |name: &str| match name {
        "ALLYBRIDGE_STORE_URL" => Some("postgres://u@db/allybridge".to_string()),
        "ALLYBRIDGE_SERVER_LISTEN" => Some("0.0.0.0:9000".to_string()),
        "ALLYBRIDGE_LOG" => Some("debug".to_string()),
        "ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL" => Some("2m".to_string()),
        "ALLYBRIDGE_ALERTS_QUOTA_WARNING" => Some("0.25".to_string()),
        _ => None,
    };
    let config = Config::from_str_with_env(MINIMAL, env)?;
    assert_eq!(config.store.url, "postgres://u@db/allybridge");
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.log, "debug");
    assert_eq!(
        config.engine.coupon_poll_interval.get(),
        Duration::from_secs(120)
    );
    assert!((config.alerts.quota_warning - 0.25).abs() < f64::EPSILON);

    assert_eq!(config.engine.worker_id, None);

    // The worker id: its earlier variable is read; the documented one wins.
    let old_name = |name: &str| (name == "ALLYBRIDGE_WORKER_ID").then(|| "daemon-a".to_string());
    let config = Config::from_str_with_env(MINIMAL, old_name)?;
    assert_eq!(config.engine.worker_id.as_deref(), Some("daemon-a"));
    let both = |name: &str| match name {
        "ALLYBRIDGE_WORKER_ID" => Some("old".to_string()),
        "ALLYBRIDGE_ENGINE_WORKER_ID" => Some("new".to_string()),
        _ => None,
    };
    let config = Config::from_str_with_env(MINIMAL, both)?;
    assert_eq!(config.engine.worker_id.as_deref(), Some("new"));
    let spaced =
        |name: &str| (name == "ALLYBRIDGE_ENGINE_WORKER_ID").then(|| "two words".to_string());
    let message = error_text(Config::from_str_with_env(MINIMAL, spaced));
    assert!(message.contains("engine.worker_id"), "{message}");

    let bad = |name: &str| (name == "ALLYBRIDGE_SERVER_LISTEN").then(|| "nowhere".to_string());
    let message = error_text(Config::from_str_with_env(MINIMAL, bad));
    assert!(
        message.contains("ALLYBRIDGE_SERVER_LISTEN") && message.contains("server.listen"),
        "{message}"
    );
    Ok(())
}

#[test]
fn trusted_proxies_are_addresses_or_ranges_checked_with_their_line() -> anyhow::Result<()> {
    assert!(Config::from_str(MINIMAL)?.server.trusted_proxies.is_empty());
    let text = format!("[server]\ntrusted_proxies = [\"127.0.0.1\", \"fd00::/8\"]\n{MINIMAL}");
    let config = Config::from_str(&text)?;
    let shown: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, ["127.0.0.1", "fd00::/8"]);

    let bad = format!("[server]\ntrusted_proxies = [\"10.1.2.3/8\"]\n{MINIMAL}");
    let message = error_text(Config::from_str(&bad));
    assert!(
        message.contains("line 2") && message.contains("10.0.0.0/8"),
        "{message}"
    );

    let env = |name: &str| {
        (name == "ALLYBRIDGE_SERVER_TRUSTED_PROXIES").then(|| "10.0.0.0/8, ::1".to_string())
    };
    let config = Config::from_str_with_env(&text, env)?;
    let shown: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        ["10.0.0.0/8", "::1"],
        "the variable replaces the list"
    );
    let bad = |name: &str| {
        (name == "ALLYBRIDGE_SERVER_TRUSTED_PROXIES").then(|| "127.0.0.1,proxy".to_string())
    };
    let message = error_text(Config::from_str_with_env(MINIMAL, bad));
    assert!(
        message.contains("ALLYBRIDGE_SERVER_TRUSTED_PROXIES") && message.contains("`proxy`"),
        "{message}"
    );
    Ok(())
}

#[test]
fn load_reads_a_file_and_the_process_environment() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("allybridge-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("allybridge.toml");
    std::fs::write(&path, MINIMAL)?;
    let config = Config::load(&path)?;
    assert_eq!(config.base_dir, dir);
    assert_eq!(
        config.path(&config.store.key_file),
        dir.join("allybridge.key")
    );
    let missing = error_text(Config::load(dir.join("absent.toml")));
    assert!(
        missing.contains("absent.toml") && missing.contains("allybridge init"),
        "{missing}"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn secrets_are_references_resolved_on_demand() -> anyhow::Result<()> {
    let text = MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\napp_password = { env = \"AB_CFG_TEST_APP_PASSWORD\" }\nhandshake = { file = \"handshake.txt\" }",
    );
    let mut config = Config::from_str(&text)?;
    let aa = &config.tenants[0].accessally;
    let app = aa
        .app_password
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no app password"))?;
    assert_eq!(app, SecretRef::Env("AB_CFG_TEST_APP_PASSWORD".into()));
    let env = |name: &str| (name == "AB_CFG_TEST_APP_PASSWORD").then(|| "abcd efgh".into());
    assert_eq!(
        app.resolve_with(&config.base_dir, env)?.expose_secret(),
        "abcd efgh"
    );
    let missing = config
        .secret(&app)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("AB_CFG_TEST_APP_PASSWORD"), "{missing}");

    let dir = std::env::temp_dir().join(format!("allybridge-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("handshake.txt"), "hs-123\n")?;
    config.base_dir = dir.clone();
    let handshake = config.tenants[0]
        .accessally
        .handshake
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no handshake"))?;
    assert_eq!(config.secret(&handshake)?.expose_secret(), "hs-123");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn literal_secrets_are_refused_without_being_echoed() {
    let text = MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\napp_password = \"hunter2-literal\"",
    );
    let message = error_text(Config::from_str(&text));
    assert!(
        message.contains("env") && message.contains("file"),
        "{message}"
    );
    assert!(message.contains("allybridge connect"), "{message}");
    assert!(message.contains("line 10"), "{message}");
    assert!(!message.contains("hunter2"), "the secret leaked: {message}");

    let both = MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\nhandshake = { env = \"A\", file = \"b\" }",
    );
    assert!(error_text(Config::from_str(&both)).contains("not both"));
    let other = MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\nhandshake = { value = \"x\" }",
    );
    assert!(error_text(Config::from_str(&other)).contains("value"));
}

#[test]
fn validation_reports_every_problem() {
    let text = format!(
        "[engine]\nworkers = 0\ncoupon_poll_interval = \"0s\"\n[alerts]\nquota_warning = 1.5\n{MINIMAL}{}",
        MINIMAL.replace(
            "site_url = \"https://courses.example.com\"",
            "site_url = \"ftp://x\""
        )
    );
    let message = error_text(Config::from_str(&text));
    for needle in [
        "engine.workers",
        "coupon_poll_interval",
        "quota_warning",
        "`main` is used twice",
        "accessally.site_url",
    ] {
        assert!(message.contains(needle), "{needle} missing from {message}");
    }
    let none = error_text(Config::from_str("log = \"info\"\n"));
    assert!(none.contains("no tenant"), "{none}");
    let bad_listen = format!("[server]\nlisten = \"localhost\"\n{MINIMAL}");
    assert!(error_text(Config::from_str(&bad_listen)).contains("line 2"));
    let bad_duration = format!("[engine]\nreconcile_interval = \"1 hour\"\n{MINIMAL}");
    let message = error_text(Config::from_str(&bad_duration));
    assert!(
        message.contains("line 2") && message.contains("\"1h\""),
        "{message}"
    );
    let oauth = MINIMAL.replace("auth = \"private_token\"", "auth = \"oauth\"");
    let message = error_text(Config::from_str(&oauth));
    assert!(
        message.contains("client_id") && message.contains("client_secret"),
        "{message}"
    );
    let status = MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\n[tenant.mapping]\ncompleted_order_statuses = [\"complete\"]",
    );
    assert!(error_text(Config::from_str(&status)).contains("sca_success"));
}

#[test]
fn mapping_values_are_checked_against_both_systems() -> anyhow::Result<()> {
    let with = |mapping: &str| {
        MINIMAL.replace(
            "user = \"bridge\"",
            &format!("user = \"bridge\"\n[tenant.mapping]\n{mapping}"),
        )
    };
    let every_option = with(
        "coupon_code = \"upper\"\nproduct_key = \"name\"\nsku_prefixes = [\"COURSE-\"]\nprice = false\ninventory = false\ncompleted_order_statuses = [\"success\", \"partially_refunded\"]\nrefunded_order_statuses = [\"refunded\"]\npaid_payment_statuses = [\"paid\", \"partially_paid\"]",
    );
    let mapping = &Config::from_str(&every_option)?.tenants[0].mapping;
    assert_eq!(mapping.coupon_code, CodeCase::Upper);
    assert_eq!(mapping.product_key, ProductKey::Name);
    assert_eq!(mapping.sku_prefixes, ["COURSE-"]);
    assert!(!mapping.price && !mapping.inventory);
    assert_eq!(mapping.paid_payment_statuses, ["paid", "partially_paid"]);

    let both = error_text(Config::from_str(&with(
        "completed_order_statuses = [\"success\", \"refunded\"]",
    )));
    assert!(
        both.contains("`refunded` is listed as completed and as refunded"),
        "{both}"
    );
    let paid = error_text(Config::from_str(&with(
        "paid_payment_statuses = [\"settled\"]",
    )));
    assert!(
        paid.contains("`settled` is not a HighLevel payment status")
            && paid.contains("partially_paid"),
        "{paid}"
    );
    let refunded = error_text(Config::from_str(&with(
        "refunded_order_statuses = [\"chargeback\"]",
    )));
    assert!(refunded.contains("partially_refunded"), "{refunded}");
    let empty = error_text(Config::from_str(&with(
        "sku_prefixes = [\"COURSE-\", \"\"]",
    )));
    assert!(empty.contains("empty prefix"), "{empty}");
    let case = error_text(Config::from_str(&with("coupon_code = \"lower\"")));
    assert!(
        case.contains("preserve") && case.contains("upper"),
        "{case}"
    );
    let grant = error_text(Config::from_str(&MINIMAL.replace(
        "user = \"bridge\"",
        "user = \"bridge\"\n[tenant.orders]\ngrant_via = \"genpass\"",
    )));
    assert!(grant.contains("aal_genpass"), "{grant}");
    Ok(())
}

#[test]
fn the_template_parses_back() -> anyhow::Result<()> {
    let template = Config::template();
    let config = Config::from_str(&template)?;
    assert_eq!(config.tenants.len(), 1);
    let defaults = Config::from_str(MINIMAL)?;
    assert_eq!(config.engine, defaults.engine);
    assert_eq!(config.store, defaults.store);
    assert_eq!(config.tenants[0].flows, defaults.tenants[0].flows);
    assert_eq!(config.tenants[0].mapping, defaults.tenants[0].mapping);
    assert_eq!(config.tenants[0].orders, defaults.tenants[0].orders);
    assert_eq!(
        config.tenants[0].flows.mode(Flow::OrdersToHighlevel),
        FlowMode::Observe
    );
    Ok(())
}

#[test]
fn every_mapping_and_orders_option_is_described_in_the_template() -> anyhow::Result<()> {
    let template = Config::template();
    let sections = [
        (
            "[tenant.mapping]",
            toml::Value::try_from(MappingConfig::default())?,
        ),
        (
            "[tenant.orders]",
            toml::Value::try_from(OrdersConfig::default())?,
        ),
    ];
    for (section, defaults) in sections {
        let body = template
            .split(section)
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .unwrap_or_default();
        let keys = defaults.as_table().map(|t| t.keys().count()).unwrap_or(0);
        assert!(keys >= 6, "{section} has {keys} options");
        for key in defaults.as_table().into_iter().flat_map(|t| t.keys()) {
            let line = format!("\n{key} = ");
            let at = body
                .find(&line)
                .unwrap_or_else(|| panic!("{section} {key} is not in the template"));
            // Explained by the comment lines right above it.
            let above = body[..at].lines().next_back().unwrap_or_default();
            assert!(above.starts_with('#'), "{section} {key} has no comment");
        }
    }
    Ok(())
}

#[test]
fn every_commented_option_in_the_template_is_valid() -> anyhow::Result<()> {
    let mut uncommented = 0;
    let text: String = Config::template()
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or("");
            let is_option = rest.starts_with('[')
                || rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            if is_option {
                uncommented += 1;
                format!("{rest}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(
        uncommented >= 15,
        "only {uncommented} commented options found"
    );
    let config = Config::from_str(&text)?;
    assert!(config.alerts.smtp.is_some());
    assert!(config.alerts.webhook_url.is_some());
    assert!(config.server.admin_password_hash.is_some());
    assert!(!config.server.trusted_proxies.is_empty());
    assert!(config.tenants[0].accessally.webhook_secret.is_some());
    Ok(())
}

#[test]
fn every_override_variable_is_documented_in_the_template() {
    let template = Config::template();
    for (var, key) in ENV_OVERRIDES {
        assert!(
            template.contains(var),
            "{var} ({key}) is not in the template"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = Config::from_str(&text);
    }

    #[test]
    fn mutated_templates_never_panic(cut in 0usize..6000, insert in "[\\[\\]{}=\"#a-z0-9 \n]{0,12}") {
        let mut text = Config::template();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &insert);
        let _ = Config::from_str(&text);
    }
}
