//! `/metrics` after a sandbox run: every family a Prometheus user expects,
//! with values that follow from the run (calls the clients made, writes
//! done live, webhooks answered and refused, the queue, the rate budget,
//! the latest drift report).

use std::collections::BTreeMap;
use std::time::Duration;

use engine::scan::ScanKind;
use sandbox::{Sandbox, SandboxOptions};

/// The samples of an OpenMetrics text: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `family` whose labels contain all of `with`.
fn sum(samples: &BTreeMap<String, f64>, family: &str, with: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(family) && with.iter().all(|w| k.contains(w)))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_run_follow_from_the_run() -> anyhow::Result<()> {
    let mut sb = Sandbox::start(SandboxOptions::default()).await?;
    // A reconciliation of two sides never synced finds drift and fixes it.
    sb.sync_once(ScanKind::Reconcile).await?;
    assert!(sb.differences().await?.is_empty());
    let url = sb.go_live().await?;

    sb.edit_ghl_price("Composition Clinic", 111.11).await?;
    let arrived = sb
        .eventually(Duration::from_secs(10), |_, a| {
            a["offerings"].as_array().is_some_and(|o| {
                o.iter().any(|x| {
                    x["name"] == "Composition Clinic"
                        && x["payment_options"]
                            .as_array()
                            .is_some_and(|p| p.iter().any(|p| p["amount"] == "111.11"))
                })
            })
        })
        .await?;
    assert!(arrived, "the live price change never arrived");

    // One delivery with a made-up signature.
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{url}/webhooks/ghl"))
        .header("x-ghl-signature", "bm90IGEgc2lnbmF0dXJl")
        .body(r#"{"type":"ProductUpdate","locationId":"x","id":"y"}"#)
        .send()
        .await?;
    assert_eq!(refused.status(), 401);

    let answer = http.get(format!("{url}/metrics")).send().await?;
    assert_eq!(answer.status(), 200);
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = answer.text().await?;
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let s = samples(&text);

    // Every HighLevel call the client sent is counted once, by operation
    // name, and timed; no label carries a raw id.
    let tenant = sb.tenant();
    let ghl_calls = sum(&s, "allybridge_api_calls_total", &["system=\"highlevel\""]);
    assert_eq!(ghl_calls, tenant.ghl.calls_made() as f64, "{text}");
    assert_eq!(
        sum(
            &s,
            "allybridge_api_call_duration_seconds_count",
            &["system=\"highlevel\""]
        ),
        ghl_calls
    );
    assert!(sum(&s, "allybridge_api_calls_total", &["system=\"accessally\""]) > 0.0);
    assert!(
        sum(
            &s,
            "allybridge_api_calls_total",
            &[
                "operation=\"ghl.products.update-price-by-id-for-product\"",
                "status=\"200\""
            ]
        ) + sum(
            &s,
            "allybridge_api_calls_total",
            &[
                "operation=\"accessally.offerings.update-offering\"",
                "status=\"200\""
            ]
        ) >= 1.0,
        "the live write is not among the calls: {text}"
    );
    assert_eq!(
        sum(&s, "allybridge_api_calls_total", &["operation=\"other\""]),
        0.0,
        "{text}"
    );

    // The live change was written, and timed from its change to its write.
    assert!(
        sum(
            &s,
            "allybridge_change_to_write_seconds_count",
            &["flow=\"products_to_accessally\""]
        ) >= 1.0,
        "{text}"
    );
    // Webhooks: the price change's deliveries answered 200, one refused.
    assert!(
        sum(
            &s,
            "allybridge_webhooks_total",
            &["source=\"highlevel\"", "status=\"200\""]
        ) >= 1.0
    );
    assert_eq!(
        sum(&s, "allybridge_webhooks_total", &["status=\"401\""]),
        1.0
    );
    assert_eq!(
        sum(
            &s,
            "allybridge_webhooks_rejected_total",
            &["source=\"highlevel\""]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &s,
            "allybridge_webhook_intake_duration_seconds_count",
            &["source=\"highlevel\""]
        ),
        sum(&s, "allybridge_webhooks_total", &["source=\"highlevel\""])
    );

    // State read now: the queue and dead letters as the store says, the
    // location's budget, the drift the reconciliation reported.
    let queue = sb.engine.store.queue_stats().await?;
    assert_eq!(
        sum(&s, "allybridge_queue_jobs", &["state=\"dead\""]),
        queue.dead as f64
    );
    assert_eq!(
        sum(&s, "allybridge_dead_letters_open", &[]),
        queue.dead as f64
    );
    let location = format!("location=\"{}\"", tenant.ghl.location_id());
    assert!(
        sum(&s, "allybridge_highlevel_rate_window_limit", &[&location]) > 0.0,
        "{text}"
    );
    assert!(
        sum(
            &s,
            "allybridge_highlevel_daily_quota_remaining",
            &[&location]
        ) > 0.0
    );
    let drift = sb.engine.store.drift_reports(Some("sandbox"), 1).await?;
    let drifted = drift.first().map(|d| d.drifted).unwrap_or(-1);
    assert!(drifted > 0, "the first reconciliation found nothing to fix");
    assert_eq!(
        sum(&s, "allybridge_drift_open", &["tenant=\"sandbox\""]),
        drifted as f64
    );
    assert!(
        sum(
            &s,
            "allybridge_records_total",
            &["flow=\"products_to_accessally\"", "action=\"created\""]
        ) > 0.0,
        "{text}"
    );
    Ok(())
}
