//! No token, client secret or Authorization header reaches a log line, an
//! error or `Debug` output during a full run with refresh, retries and
//! failures. Alone in its test binary so that its log capture sees every
//! event (tracing's per-thread subscribers and parallel tests do not mix).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use ghl::{Auth, BudgetConfig, GhlClient, Priority, RateBudget};
use serde_json::json;
use sim_ghl::SimConfig;

/// A log writer that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_error_or_debug_output() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = sim(SimConfig {
        access_token_ttl: Duration::from_secs(30),
        ..SimConfig::default()
    })
    .await;
    let manager = env.oauth_manager("products.readonly products.write").await;
    let oauth = GhlClient::new(
        env.config(),
        Auth::OAuth {
            manager: manager.clone(),
            key: env.location.clone(),
        },
        RateBudget::new(BudgetConfig::default()),
    )
    .unwrap();
    let pit = env.pit_client();
    let mut texts = vec![
        format!("{oauth:?}"),
        format!("{pit:?}"),
        format!("{:?}", manager.app()),
    ];
    oauth.get_product("none", Priority::Live).await.unwrap();
    env.control("POST", "/__sim/tokens/expire", json!({})).await;
    oauth.get_product("none", Priority::Live).await.unwrap();
    let stored = manager.access_token(&env.location).await.unwrap();
    env.control(
        "PUT",
        "/__sim/faults",
        json!({"error_rate": 1.0, "error_statuses": [500]}),
    )
    .await;
    let err = pit.get_product("none", Priority::Live).await.unwrap_err();
    texts.push(err.to_string());
    texts.push(format!("{err:?}"));
    texts.push(format!("{stored:?}"));
    texts.push(String::from_utf8(captured.0.lock().unwrap().clone()).unwrap());
    let all = texts.join("\n");
    assert!(all.contains("HighLevel call"), "the debug log was captured");
    use secrecy::ExposeSecret;
    let secrets = [
        env.info["token"].as_str().unwrap().to_string(),
        env.info["client_secret"].as_str().unwrap().to_string(),
        stored.expose_secret().to_string(),
    ];
    for s in &secrets {
        assert!(!all.contains(s.as_str()), "a secret leaked");
    }
    assert!(
        !all.to_lowercase().contains("bearer "),
        "an Authorization header leaked"
    );
    assert!(!all.contains("sim-rt-"), "a refresh token leaked");
    assert!(!all.contains("sim-at-"), "an access token leaked");
}
