//! The admin pages that report what the daemon found and did besides
//! syncing records: drift (each tenant's reconciliations, the records out
//! of line named and told in words, the drift of recent passes as a
//! chart), the API calls (per hour as charts, the latest ones a page at a
//! time) and the alerts sent. Free text from the store is scrubbed.

use std::time::Duration;

use chrono::Utc;
use maud::{Markup, html};
use model::Flow;
use serde::Deserialize;
use store::{ApiActivityQuery, StoreError, System};

use super::Admin;
use super::charts::{self, Bars, Series};
use super::dashboard::{Window, calls_series};
use super::pages::{Chrome, Tab, page, tile, when};
use super::words::{ago, drift_in_words, flow_title, full_time};

/// Reconciliation passes a drift chart shows.
const DRIFT_PASSES: i64 = 30;

pub async fn drift_page(admin: &Admin, chrome: &Chrome<'_>) -> Result<Markup, StoreError> {
    let store = &admin.engine.store;
    let now = Utc::now();
    let mut sections = Vec::new();
    for tenant in admin.engine.tenants.keys() {
        let mut reports = store.drift_reports(Some(tenant), DRIFT_PASSES).await?;
        let latest = reports.first().cloned();
        reports.reverse();
        let labels: Vec<String> = reports.iter().map(|r| full_time(r.at)).collect();
        let axis: Vec<(usize, String)> = match reports.len() {
            0 => Vec::new(),
            1 => vec![(0, "latest".into())],
            n => vec![(0, ago(reports[0].at, now)), (n - 1, "latest".into())],
        };
        let series = [Series::new(
            "drifted",
            "c-drift",
            reports.iter().map(|r| r.drifted).collect(),
        )];
        sections.push(html! {
            section.tenant data-tenant=(tenant) aria-labelledby=(format!("drift-{tenant}")) {
                div.section-head { h2 #(format!("drift-{tenant}")) { "Tenant " (tenant) } }
                @match &latest {
                    None => p.notice { "No reconciliation has run yet." },
                    Some(d) => {
                        div.tiles {
                            (tile(d.checked, "records checked", "", None))
                            (tile(d.drifted, "out of line", if d.drifted > 0 { "bad" } else { "ok" }, None))
                            div.tile { div.tile-value { (when(d.at, now)) } div.tile-label { "latest pass" } }
                        }
                        div.grid {
                            div.panel {
                                h3 { "Drift per pass" }
                                (charts::stacked_bars(&Bars {
                                    title: &format!("Records out of line in the last {} reconciliation passes of {tenant}", reports.len()),
                                    buckets: &labels,
                                    axis: &axis,
                                    series: &series,
                                    empty: "No drift in any recent pass",
                                }))
                            }
                        }
                        @let items = d.details.as_array().cloned().unwrap_or_default();
                        @if d.drifted == 0 {
                            p.notice.ok { "The latest pass found both systems in line." }
                        } @else {
                            h3.subhead { "Out of line in the latest pass" }
                            div.table-wrap {
                                table.cards.compact.drift {
                                    thead { tr { th { "Record" } th { "Flow" } th { "What is wrong" } } }
                                    tbody {
                                        @for item in &items {
                                            @let flow = item["flow"].as_str().and_then(|f| f.parse::<Flow>().ok());
                                            @let kind = item["kind"].as_str().unwrap_or("");
                                            tr.drift-item {
                                                td.wide data-label="Record" { strong { (admin.scrub(item["record"].as_str().unwrap_or("?"))) } }
                                                td.wide data-label="Flow" { @match flow { Some(f) => (flow_title(f)), None => (admin.scrub(item["flow"].as_str().unwrap_or("?"))) } }
                                                td.wide data-label="What is wrong" { span.badge.warn { (kind) } " " (drift_in_words(flow, kind)) }
                                            }
                                        }
                                    }
                                }
                            }
                            @if (items.len() as i64) < d.drifted {
                                p.muted { (d.drifted - items.len() as i64) " more are counted but not named (a pass names the first " (items.len()) ")." }
                            }
                        }
                    }
                }
            }
        });
    }
    let body = html! {
        div.page-head {
            h1 { "Drift" }
            p.muted { "What reconciliation found out of line between the two systems, and queued to fix." }
        }
        @for s in &sections { (s) }
    };
    Ok(page("Drift", Tab::Drift, chrome, body))
}

/// API calls per page.
const CALLS_PAGE: i64 = 25;

/// The query string of `/admin/api`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiView {
    /// Only calls older than this one (the next page).
    pub before: Option<i64>,
}

pub async fn api_page(
    admin: &Admin,
    chrome: &Chrome<'_>,
    view: &ApiView,
) -> Result<Markup, StoreError> {
    let store = &admin.engine.store;
    let now = Utc::now();
    let window = Window::last_day(now);
    let counts = store
        .api_call_counts(window.start, Duration::from_secs(3600))
        .await?;
    // One chart per system and location, in a stable order.
    let mut keys: Vec<(System, Option<String>)> = counts
        .iter()
        .map(|c| (c.system, c.location.clone()))
        .collect();
    keys.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    keys.dedup();
    let mut calls = store
        .api_activity(&ApiActivityQuery {
            before_id: view.before,
            limit: CALLS_PAGE + 1,
            ..ApiActivityQuery::default()
        })
        .await?;
    let more = calls.len() as i64 > CALLS_PAGE;
    calls.truncate(CALLS_PAGE as usize);
    let body = html! {
        div.page-head {
            h1 { "API calls" }
            p.muted { "Every call the daemon's clients make to HighLevel and AccessAlly (paths without their query; kept 7 days)." }
        }
        @if keys.is_empty() {
            p.notice { "No call in the last 24 hours." }
        } @else {
            div.grid {
                @for (system, location) in &keys {
                    @let series = calls_series(&counts, *system, location.as_deref(), &window);
                    @let title = match location { Some(l) => format!("{} · {l}", system.name()), None => system.name().to_string() };
                    div.panel {
                        h3 { (title) }
                        (charts::stacked_bars(&Bars {
                            title: &format!("Calls to {title}, last 24 hours"),
                            buckets: &window.labels,
                            axis: &window.axis,
                            series: &series,
                            empty: "No calls in the last 24 hours",
                        }))
                    }
                }
            }
        }
        h2.subhead { "Latest calls" }
        @if calls.is_empty() {
            p.notice { "No call recorded" @if view.before.is_some() { " before these" } "." }
        } @else {
            div.table-wrap {
                table.cards.compact.calls {
                    thead { tr { th { "When" } th { "System" } th { "Call" } th.num { "Status" } th.num { "Time" } th.num { "Rate left" } } }
                    tbody {
                        @for a in &calls {
                            @let status = a.call.status;
                            tr {
                                td data-label="When" { (when(a.at, now)) }
                                td data-label="System" { (a.call.system.name()) @if let Some(l) = &a.call.location { " · " (l) } }
                                td.wide data-label="Call" { code { (a.call.method) " " (admin.scrub(&a.call.path)) } }
                                td.num.labelled data-label="Status" {
                                    @match status {
                                        Some(s) if s < 400 => span.badge.ok { (s) },
                                        Some(s) => span.badge.bad { (s) },
                                        None => span.badge.bad { "no answer" },
                                    }
                                }
                                td.num.labelled data-label="Time" { (a.call.latency_ms) " ms" }
                                td.num.labelled data-label="Rate left" { (a.call.rate_remaining.map(|r| r.to_string()).unwrap_or_else(|| "–".into())) }
                            }
                        }
                    }
                }
            }
            @if view.before.is_some() || more {
                nav.pager aria-label="API call pages" {
                    @if view.before.is_some() { a.btn href="/admin/api" { "← Newest" } } @else { span {} }
                    @if more { @if let Some(last) = calls.last() { a.btn href=(format!("/admin/api?before={}", last.id)) { "Older →" } } }
                }
            }
        }
    };
    Ok(page("API calls", Tab::Api, chrome, body))
}

/// Alerts the page lists.
const ALERTS: i64 = 100;

pub async fn alerts_page(admin: &Admin, chrome: &Chrome<'_>) -> Result<Markup, StoreError> {
    let alerts = admin.engine.store.alerts(None, ALERTS).await?;
    let now = Utc::now();
    let body = html! {
        div.page-head {
            h1 { "Alerts" }
            p.muted { "Alerts sent (or recorded, without a sink), newest first: each incident once per cool-down." }
        }
        @if alerts.is_empty() {
            p.notice.ok { "None." }
        } @else {
            div.table-wrap {
                table.cards.alerts {
                    thead { tr { th { "When" } th { "Incident" } th { "Sent to" } th { "Summary" } } }
                    tbody {
                        @for a in &alerts {
                            tr {
                                td data-label="When" { (when(a.sent_at, now)) }
                                td data-label="Incident" { code { (a.incident_key) } }
                                td data-label="Sent to" { (a.channel) }
                                td data-label="Summary" { (admin.scrub(&a.summary)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Alerts", Tab::Alerts, chrome, body))
}
