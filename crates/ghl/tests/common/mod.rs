//! Shared test set-up: a HighLevel simulator on port 0 and clients for it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ghl::{
    Auth, BudgetConfig, GhlClient, GhlConfig, MemoryTokenStore, OAuthApp, RateBudget, TokenManager,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use sim_ghl::SimConfig;
use transport::RetryPolicy;

pub struct Env {
    pub _running: sim_kit::RunningSim,
    pub url: String,
    pub info: Value,
    pub location: String,
    pub http: reqwest::Client,
}

pub async fn sim(config: SimConfig) -> Env {
    let (running, _sim) = sim_ghl::start(config).await.expect("simulator starts");
    let info = running.info.clone();
    Env {
        url: running.url.clone(),
        location: info["location_id"].as_str().unwrap().to_string(),
        info,
        _running: running,
        http: reqwest::Client::new(),
    }
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_server_wait: Duration::from_secs(1),
    }
}

impl Env {
    pub fn config(&self) -> GhlConfig {
        let mut c = GhlConfig::new(&self.url, &self.location);
        c.retry = fast_retry();
        c.http.request_timeout = Duration::from_secs(5);
        c
    }

    pub fn pit_client(&self) -> GhlClient {
        let token = SecretString::from(self.info["token"].as_str().unwrap().to_string());
        GhlClient::new(
            self.config(),
            Auth::PrivateToken(token),
            RateBudget::new(BudgetConfig::default()),
        )
        .unwrap()
    }

    pub async fn control(&self, method: &str, path: &str, body: Value) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = self
            .http
            .request(m, format!("{}{}", self.url, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn requests(&self) -> Value {
        self.http
            .get(format!("{}/__sim/requests", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn app(&self) -> OAuthApp {
        OAuthApp {
            client_id: self.info["client_id"].as_str().unwrap().into(),
            client_secret: SecretString::from(
                self.info["client_secret"].as_str().unwrap().to_string(),
            ),
            redirect_uri: "http://127.0.0.1:9/callback".into(),
            marketplace_url: self.url.clone(),
            api_url: self.url.clone(),
        }
    }

    pub async fn oauth_manager(&self, scope: &str) -> Arc<TokenManager> {
        let manager = Arc::new(TokenManager::new(
            self.app(),
            reqwest::Client::new(),
            Arc::new(MemoryTokenStore::default()),
        ));
        let code = self
            .control("POST", "/__sim/oauth/code", json!({"scope": scope}))
            .await;
        manager
            .exchange_code(code["code"].as_str().unwrap())
            .await
            .unwrap();
        manager
    }
}
