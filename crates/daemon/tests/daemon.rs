//! The daemon as a library, as `allybridge serve` runs it: started from an
//! `allybridge.toml` on a HighLevel and an AccessAlly simulator with the
//! credentials stored as `allybridge connect` stores them, its first
//! product poll creates AccessAlly's offerings in HighLevel (paced at
//! HighLevel's real budget, about 5 s for the demo catalog), its
//! background tasks report their runs, `/readyz` answers, and it stops.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use model::FlowMode;
use secrecy::SecretString;
use serde_json::Value;
use sim_kit::Seed;

async fn state(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::get(format!("{url}/__sim/state"))
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn text(info: &Value, key: &str) -> String {
    info[key].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_started_from_its_configuration_syncs_and_stops() -> anyhow::Result<()> {
    let (ghl, _ghl_state) = sim_ghl::start(sim_ghl::SimConfig::default()).await?;
    let aa = sim_accessally::start(sim_accessally::SimConfig {
        seed: Seed::Demo,
        ..sim_accessally::SimConfig::for_tests()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("allybridge.toml");
    let tenant = test_support::Tenant {
        name: "main",
        ghl: &ghl,
        aa: &aa,
        auth: test_support::GhlAuth::PrivateToken,
        // Never set: the stored credentials come first.
        env_prefix: "DAEMON_LIBRARY_TEST_UNSET",
        mode: "write",
        ghl_webhook_key: false,
    };
    std::fs::write(&config_path, tenant.toml())?;
    let mut config = config::Config::load(&config_path)?;
    // One flow, so that its calls stay within HighLevel's real budget of
    // 100 per 10 s and no job waits for the window to turn.
    config.tenants[0].flows = config::FlowsConfig {
        coupons_to_accessally: FlowMode::Off,
        products_to_accessally: FlowMode::Off,
        products_to_highlevel: FlowMode::Write,
        orders_to_highlevel: FlowMode::Off,
        orders_to_accessally: FlowMode::Off,
    };
    store::MasterKey::load_or_create_file(&daemon::store_setup::key_file(&config))?;
    let store = daemon::open_store(&config).await?;
    let t = &config.tenants[0];
    daemon::credentials::store_private_token(
        &store,
        t,
        SecretString::from(text(&ghl.info, "token")),
    )
    .await?;
    daemon::credentials::store_accessally_credentials(
        &store,
        t,
        SecretString::from(text(&aa.info, "app_password")),
        Some(SecretString::from(text(&aa.info, "handshake"))),
    )
    .await?;
    store.close().await;

    let running = daemon::Daemon::start(
        config,
        daemon::ServeOptions {
            listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            mode_file: config::modes::ModeFile::next_to(&config_path),
        },
    )
    .await?;
    let offerings = state(&aa.url).await?["offerings"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(
        offerings > 0,
        "the AccessAlly simulator has no demo offerings"
    );
    let started = Instant::now();
    loop {
        let products = state(&ghl.url).await?["locations"][0]["products"]
            .as_array()
            .map_or(0, Vec::len);
        if products >= offerings {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "HighLevel holds {products} products for AccessAlly's {offerings} offerings after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = reqwest::get(format!("http://{}/readyz", running.address())).await?;
    ensure!(
        ready.status().is_success(),
        "/readyz answered {}",
        ready.status()
    );
    let tasks = running.tasks();
    let products = tasks
        .iter()
        .find(|task| task.name == "products")
        .context("no products poll among the daemon's tasks")?;
    ensure!(
        products.activations >= 1 && products.last_error.is_none(),
        "the products poll: {} activations, last error {:?}",
        products.activations,
        products.last_error
    );
    for name in [
        "coupons",
        "orders",
        "reconcile",
        "housekeeper",
        "alert watch",
    ] {
        ensure!(
            tasks.iter().any(|task| task.name == name),
            "no `{name}` task"
        );
    }
    running.stop().await?;
    Ok(())
}
