//! The WordPress scenario (`--wordpress FILE`, the JSON line of
//! `wordpress/dev/up`): the plugin's Bridge API on a real WordPress served
//! by PHP's built-in server (4 workers), as the development site runs it.
//! Reads per second (one offering by id, and a page of 100), writes per
//! second (an offering's description), each from 8 concurrent clients, and
//! the time from a change in WordPress (the write's request sent) to its
//! signed webhook arriving at a receiver on loopback, p50 and p99, one
//! change at a time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{Row, row};

const CLIENTS: usize = 8;

struct Site {
    url: String,
    user: String,
    password: String,
    http: reqwest::Client,
}

impl Site {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/wp-json/allybridge/v1{path}", self.url))
            .basic_auth(&self.user, Some(&self.password))
    }
}

/// Runs `total` requests made by `make`, `CLIENTS` at a time; returns requests per second.
async fn throughput<F>(total: usize, make: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..total)
        .map(|i| {
            let request = make(i);
            async move {
                let response = request.send().await?;
                anyhow::ensure!(response.status().is_success(), "HTTP {}", response.status());
                let _ = response.bytes().await?;
                Ok(())
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub async fn run(site_file: &str, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(site_file)
        .with_context(|| format!("reading {site_file} (wordpress/dev/up's JSON line)"))?;
    let info: Value =
        serde_json::from_str(text.trim()).context("not wordpress/dev/up's JSON line")?;
    let field = |k: &str| {
        info[k]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no `{k}`"))
    };
    let site = Site {
        url: field("url")?,
        user: field("user")?,
        password: field("app_password")?,
        http: reqwest::Client::new(),
    };
    let mut ids = Vec::new();
    for i in 0..20 {
        let created: Value = site
            .request(reqwest::Method::POST, "/offerings")
            .json(&json!({"name": format!("Bench offering {i} {}", rand::random::<u32>()),
                          "payment_options": [{"type": "one_time", "amount": "49.00", "currency": "USD"}]}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ids.push(created["id"].as_u64().context("id")?);
    }
    let reads = throughput(2_000, |i| {
        site.request(
            reqwest::Method::GET,
            &format!("/offerings/{}", ids[i % ids.len()]),
        )
    })
    .await?;
    rows.push(row(
        "wordpress",
        "Bridge API reads (one offering), 8 clients",
        reads,
        "req/s",
        "-",
        None,
    ));
    let pages = throughput(300, |_| {
        site.request(reqwest::Method::GET, "/offerings?per_page=100")
    })
    .await?;
    rows.push(row(
        "wordpress",
        "Bridge API list pages of 100, 8 clients",
        pages,
        "req/s",
        "-",
        None,
    ));
    let writes = throughput(500, |i| {
        site.request(
            reqwest::Method::PUT,
            &format!("/offerings/{}", ids[i % ids.len()]),
        )
        .json(&json!({"description": format!("write {i}")}))
    })
    .await?;
    rows.push(row(
        "wordpress",
        "Bridge API writes (offering update), 8 clients",
        writes,
        "req/s",
        "-",
        None,
    ));

    // Change → webhook latency: a receiver on loopback, one change at a time.
    let arrivals: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                let marker = v["data"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((marker, Instant::now()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let hook: Value = site
        .request(reqwest::Method::POST, "/webhooks")
        .json(&json!({"url": format!("http://127.0.0.1:{port}/hook"), "topics": ["offering.updated"]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut latencies = Vec::new();
    for i in 0..100 {
        let marker = format!("latency {i} {}", rand::random::<u32>());
        let sent = Instant::now();
        site.request(
            reqwest::Method::PUT,
            &format!("/offerings/{}", ids[i % ids.len()]),
        )
        .json(&json!({"description": marker}))
        .send()
        .await?
        .error_for_status()?;
        let deadline = sent + Duration::from_secs(30);
        loop {
            let arrived = arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|(m, _)| *m == marker)
                .map(|(_, at)| *at);
            if let Some(at) = arrived {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the webhook for change {i} never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    rows.push(row(
        "wordpress",
        "change in WordPress → webhook received, p50",
        percentile(&latencies, 0.5),
        "ms",
        "-",
        None,
    ));
    rows.push(row(
        "wordpress",
        "change in WordPress → webhook received, p99",
        percentile(&latencies, 0.99),
        "ms",
        "-",
        None,
    ));
    site.request(
        reqwest::Method::DELETE,
        &format!("/webhooks/{}", hook["id"]),
    )
    .send()
    .await?;
    for id in ids {
        site.request(reqwest::Method::DELETE, &format!("/offerings/{id}"))
            .send()
            .await?;
    }
    Ok(())
}
