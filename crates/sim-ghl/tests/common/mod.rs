//! Shared test helpers: start a simulator on port 0, call it as a client
//! would, and receive its webhooks on a local server.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use sim_ghl::{Sim, SimConfig};
use sim_kit::RunningSim;

pub const VERSION: &str = "2021-07-28";

pub struct TestSim {
    pub running: RunningSim,
    pub sim: Arc<Sim>,
    pub url: String,
    pub info: Value,
    pub location: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub async fn spawn(config: SimConfig) -> TestSim {
    let (running, sim) = sim_ghl::start(config).await.expect("simulator starts");
    let info = running.info.clone();
    TestSim {
        url: running.url.clone(),
        location: info["location_id"].as_str().unwrap().to_string(),
        token: info["token"].as_str().unwrap().to_string(),
        info,
        running,
        sim,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

pub async fn spawn_demo() -> TestSim {
    spawn(SimConfig {
        seed: sim_kit::Seed::Demo,
        ..SimConfig::default()
    })
    .await
}

/// An answer: status, headers and JSON body (Null when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestSim {
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .header("Version", VERSION)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(&self.token.clone(), method, path, body).await
    }

    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control request sent");
        assert!(
            resp.status().is_success(),
            "control {path} failed: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn state(&self) -> Value {
        self.control("GET", "/__sim/state", None).await["locations"][0].clone()
    }

    pub async fn create_product(&self, name: &str) -> Value {
        let a = self
            .call(
                "POST",
                "/products/",
                Some(json!({"name": name, "locationId": self.location, "productType": "DIGITAL"})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body
    }

    pub async fn create_price(&self, product_id: &str, amount: f64) -> Value {
        let a = self
            .call(
                "POST",
                &format!("/products/{product_id}/price"),
                Some(
                    json!({"name": "Full", "type": "one_time", "currency": "USD", "amount": amount,
                            "locationId": self.location, "sku": "SKU-1"}),
                ),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        a.body
    }
}

/// One received webhook.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A local webhook receiver that answers from a script of statuses
/// (the last one repeats) and records what it got.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    _server: RunningSim,
}

impl Receiver {
    pub async fn start(script: Vec<u16>) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(script);
        let g = got.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let g = g.clone();
                let script = script.clone();
                async move {
                    let n = {
                        let mut v = g.lock().unwrap();
                        v.push(Received { headers, body });
                        v.len()
                    };
                    let status = script.get(n - 1).or(script.last()).copied().unwrap_or(200);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let server = RunningSim::spawn("127.0.0.1:0".parse().unwrap(), app, |_| Value::Null)
            .await
            .unwrap();
        Self {
            url: format!("{}/hook", server.url),
            got,
            _server: server,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` deliveries arrived (at most 5 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            if self.received().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received()
    }
}
