//! The admin page's HTML, written with maud (checked at compile time,
//! escaped by default). Reads the engine and store; every free text from
//! them (log details, dead-letter reasons, drift details, alert summaries)
//! goes through the admin's scrubber before it is rendered.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use engine::flows::{direction, entity_of};
use maud::{DOCTYPE, Markup, html};
use model::{Flow, FlowMode};
use store::{ApiActivityQuery, LogQuery, StoreError};

use super::{Admin, LogFilter, mode_name};
use crate::health::ConnectionState;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}\
th{background:#f3f3f3}h2{margin-top:2rem}.bad{color:#b00}.ok{color:#070}form.inline{display:inline}pre{max-height:20rem;overflow:auto;background:#f7f7f7;padding:.5rem}\
nav a{margin-right:1rem}";

fn at(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · allybridge" }
                style { (STYLE) }
                script src="/admin/assets/htmx.min.js" {}
            }
            body { (body) }
        }
    }
}

pub fn login(token: &str, error: Option<&str>, configured: bool) -> Markup {
    layout(
        "Log in",
        html! {
            h1 { "allybridge admin" }
            @if !configured {
                p.bad { "No admin password is configured: run " code { "allybridge admin-password" } " and put the hash in [server] admin_password_hash." }
            }
            @if let Some(e) = error { p.bad #login-error { (e) } }
            form method="post" action="/admin/login" {
                input type="hidden" name="csrf" value=(token);
                label { "Password " input #password type="password" name="password" autocomplete="current-password" autofocus; }
                " "
                button #login type="submit" { "Log in" }
            }
        },
    )
}

pub fn error(message: &str) -> Markup {
    layout(
        "Error",
        html! { h1 { "The admin page could not be built" } p.bad { (message) } },
    )
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

pub async fn dashboard(
    admin: &Admin,
    csrf: &str,
    filter: &LogFilter,
) -> Result<Markup, StoreError> {
    let store = &admin.engine.store;
    let connections = store.connections().await?;
    let dead = store.dead_letters(0, 200).await?;
    let drift = store.drift_reports(None, 1).await?;
    let alerts = store.alerts(None, 20).await?;
    let queue = store.queue_stats().await?;
    let activity = store
        .api_activity(&ApiActivityQuery {
            limit: 20,
            ..ApiActivityQuery::default()
        })
        .await?;
    let summary = admin.engine.stats.summary();
    let mut flows = Vec::new();
    for tenant in admin.engine.tenants.values() {
        for flow in Flow::ALL {
            let last = store
                .integration_log(&LogQuery {
                    entity_type: Some(tenant.entity(entity_of(flow))),
                    from_system: Some(direction(flow).0),
                    limit: 1,
                    ..LogQuery::default()
                })
                .await?
                .pop()
                .map(|e| at(e.at));
            flows.push((tenant.name.clone(), flow, tenant.mode(flow), last));
        }
    }
    let oauth_tenants: Vec<String> = admin
        .oauth
        .as_ref()
        .map(|o| o.tenant_names().into_iter().map(String::from).collect())
        .unwrap_or_default();
    let log = log_table(admin, filter).await?;
    let writes_to_highlevel: Vec<&str> = Flow::ALL
        .iter()
        .filter(|f| !ghl::scopes_to_write(**f).is_empty())
        .map(|f| f.as_str())
        .collect();
    let body = html! {
        header {
            h1 { "allybridge" }
            nav {
                a href="#connections" { "Connections" } a href="#flows" { "Flows" } a href="#log" { "Log" }
                a href="#dlq" { "Dead letters" } a href="#drift" { "Drift" } a href="#budget" { "Rate budget" } a href="#alerts" { "Alerts" }
                form.inline method="post" action="/admin/logout" { (csrf_field(csrf)) button type="submit" { "Log out" } }
            }
        }
        h2 #connections { "Connections" }
        table {
            tr { th { "tenant" } th { "HighLevel location" } th { "HighLevel" } th { "AccessAlly site" } th { "AccessAlly" } th { "" } }
            @for tenant in admin.engine.tenants.values() {
                @let ghl_state = admin.config.connections.state(&tenant.name, store::System::HighLevel);
                @let aa_state = admin.config.connections.state(&tenant.name, store::System::AccessAlly);
                @let not_connected = matches!(ghl_state, Some(ConnectionState::NotConnected { .. }));
                tr.connection data-tenant=(tenant.name) {
                    td { (tenant.name) }
                    td { (tenant.ghl.location_id()) }
                    td.highlevel { (connection_state(admin, ghl_state.as_ref())) }
                    td { (connections.iter().find(|c| c.label == tenant.name && c.system == store::System::AccessAlly).map(|c| c.account_id.clone()).unwrap_or_else(|| "configured".into())) }
                    td.accessally { (connection_state(admin, aa_state.as_ref())) }
                    td {
                        @if oauth_tenants.contains(&tenant.name) {
                            form.inline method="post" action=(format!("/admin/oauth/{}", tenant.name)) {
                                (csrf_field(csrf))
                                button type="submit" { @if not_connected { "Connect HighLevel (OAuth)" } @else { "Reconnect HighLevel (OAuth)" } }
                            }
                        }
                    }
                }
            }
        }
        @if admin.engine.tenants.keys().any(|t| !admin.config.connections.can_run(t)) {
            p.bad { "A tenant that is not connected runs no flow (no polls, no reconciliation); the others run as usual. Connect it with the button, and its flows start without a restart." }
        }
        p { "Stored connections: " (connections.len()) ". Queue: " (queue.pending) " pending, " (queue.running) " running, " (queue.dead) " dead. Webhooks refused for their signature since start: HighLevel "
            (admin.webhooks.ghl_rejected.load(Ordering::Relaxed)) ", AccessAlly " (admin.webhooks.accessally_rejected.load(Ordering::Relaxed)) "." }

        h2 #flows { "Flows" }
        table {
            tr { th { "tenant" } th { "flow" } th { "mode" } th { "created" } th { "updated" } th { "deleted" } th { "skipped" } th { "retried" } th { "dead" } th { "last activity" } }
            @for (tenant, flow, mode, last) in &flows {
                @let c = summary.get(flow.as_str()).cloned().unwrap_or_default();
                tr.flow data-flow=(format!("{tenant}/{}", flow.as_str())) {
                    td { (tenant) }
                    td { (flow.as_str()) }
                    td {
                        form.inline method="post" action="/admin/modes" {
                            (csrf_field(csrf))
                            input type="hidden" name="tenant" value=(tenant);
                            input type="hidden" name="flow" value=(flow.as_str());
                            select name="mode" {
                                @for m in [FlowMode::Off, FlowMode::Observe, FlowMode::Write] {
                                    option value=(mode_name(m)) selected[m == *mode] { (mode_name(m)) }
                                }
                            }
                            " " button type="submit" { "Set" }
                        }
                        @let to_write = ghl::scopes_to_write(*flow);
                        @if *mode != FlowMode::Write && !to_write.is_empty() {
                            br;
                            small.write-needs-consent {
                                "write needs the HighLevel scopes " (to_write.into_iter().collect::<Vec<_>>().join(", "))
                                @if oauth_tenants.contains(tenant) {
                                    ": a new consent. After setting write, press "
                                    form.inline method="post" action=(format!("/admin/oauth/{tenant}")) {
                                        (csrf_field(csrf)) button type="submit" { "Reconnect HighLevel (OAuth)" }
                                    }
                                    " and approve them."
                                } @else {
                                    " on the private integration token (HighLevel: Settings → Private Integrations)."
                                }
                            }
                        }
                    }
                    td { (c.created) } td { (c.updated) } td { (c.deleted) } td { (c.skipped) } td { (c.retried) } td { (c.dead_lettered) }
                    td { (last.clone().unwrap_or_else(|| "never".into())) }
                }
            }
        }
        p.write-consent {
            "Least privilege: while a flow observes, allybridge holds only the HighLevel read scopes it needs. "
            "Switching a flow that writes to HighLevel (" (writes_to_highlevel.join(", ")) ") from observe to write needs its write scopes: "
            "for an OAuth tenant a new consent — set the mode, then press Reconnect HighLevel (OAuth) — and for a private token, the scopes added to the token in HighLevel. "
            "Until then its writes are refused for the missing scope."
        }
        p {
            "Counts are since the daemon started, for all tenants. "
            @match &admin.config.modes {
                Some(m) => { "A mode set here is kept in " code { (m.location()) } " and survives a restart; it yields when the flow's mode in the configuration is changed." },
                None => { "A mode set here lasts until the daemon restarts; change the configuration to keep it." },
            }
        }

        h2 #log { "Integration log" }
        form method="get" action="/admin" hx-get="/admin/log" hx-target="#log-table" hx-swap="innerHTML" {
            label { "Entity " input type="text" name="entity" placeholder="main/coupon" title="tenant/coupon, tenant/product or tenant/order, as in `allybridge logs` and `allybridge dlq`" value=(filter.entity.clone().unwrap_or_default()); }
            " "
            label { "Record id " input type="text" name="record" placeholder="either system's id" title="a record's id on HighLevel or AccessAlly: its entries and those of the record linked to it" value=(filter.record.clone().unwrap_or_default()); }
            " " button type="submit" { "Filter" }
        }
        div #log-table hx-get=(log_url(filter)) hx-trigger="every 3s" hx-swap="innerHTML" { (log) }

        h2 #dlq { "Dead letters" }
        @if dead.is_empty() { p.ok { "None." } }
        @else {
            table {
                tr { th { "job" } th { "kind" } th { "record" } th { "attempts" } th { "reason" } th { "since" } th { "" } }
                @for j in &dead {
                    tr.dead-letter data-job=(j.id) {
                        td { (j.id) } td { (j.kind) } td { (j.entity_type) " " (j.record_id) } td { (j.attempts) }
                        td { (admin.scrub(j.dead_reason.as_deref().unwrap_or(""))) }
                        td { (at(j.updated_at)) }
                        td {
                            form.inline method="post" action=(format!("/admin/dlq/{}/replay", j.id)) {
                                (csrf_field(csrf)) button.replay type="submit" { "Replay" }
                            }
                            " "
                            form.inline method="post" action=(format!("/admin/dlq/{}/drop", j.id)) {
                                (csrf_field(csrf)) button.drop type="submit" { "Drop" }
                            }
                        }
                    }
                }
            }
        }

        h2 #drift { "Latest drift report" }
        @match drift.first() {
            None => p { "No reconciliation has run yet." },
            Some(d) => {
                p { (at(d.at)) " · scope " (d.scope) " · checked " (d.checked) " · "
                    @if d.drifted > 0 { span.bad { (d.drifted) " drifted" } } @else { span.ok { "no drift" } } }
                @if d.drifted > 0 {
                    pre { (admin.scrub(&serde_json::to_string_pretty(&d.details).unwrap_or_default())) }
                }
            }
        }

        h2 #budget { "Rate budget (HighLevel)" }
        @if admin.config.budgets.is_empty() { p { "No budget is shared with the admin page." } }
        @else {
            table {
                tr { th { "tenant" } th { "location" } th { "calls in window" } th { "daily quota left" } }
                @for b in &admin.config.budgets {
                    @let s = b.budget.snapshot(&b.location_id);
                    tr {
                        td { (b.tenant) } td { (b.location_id) }
                        td { (s.in_window) " / " (s.max) " per " (s.interval.as_secs()) " s" }
                        td { @match s.daily_remaining { Some(r) => { (r) " / " (s.daily_limit) }, None => { "not reported yet (limit " (s.daily_limit) ")" } } }
                    }
                }
            }
        }
        @if !activity.is_empty() {
            h3 { "Recent API calls" }
            table {
                tr { th { "at" } th { "system" } th { "location" } th { "call" } th { "status" } th { "ms" } th { "rate left" } }
                @for a in &activity {
                    tr {
                        td { (at(a.at)) } td { (a.call.system.as_str()) } td { (a.call.location.clone().unwrap_or_default()) }
                        td { (a.call.method) " " (admin.scrub(&a.call.path)) }
                        td { (a.call.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into())) }
                        td { (a.call.latency_ms) } td { (a.call.rate_remaining.map(|r| r.to_string()).unwrap_or_default()) }
                    }
                }
            }
        }

        h2 #alerts { "Alerts sent" }
        @if alerts.is_empty() { p.ok { "None." } }
        @else {
            table {
                tr { th { "at" } th { "incident" } th { "kind" } th { "summary" } }
                @for a in &alerts {
                    tr { td { (at(a.sent_at)) } td { (a.incident_key) } td { (a.channel) } td { (admin.scrub(&a.summary)) } }
                }
            }
        }
    };
    Ok(layout("Admin", body))
}

fn log_url(filter: &LogFilter) -> String {
    let mut pairs = Vec::new();
    if let Some(e) = filter.entity.as_deref().filter(|e| !e.is_empty()) {
        pairs.push(("entity", e));
    }
    if let Some(r) = filter.record.as_deref().filter(|r| !r.is_empty()) {
        pairs.push(("record", r));
    }
    let q = serde_urlencoded_pairs(&pairs);
    if q.is_empty() {
        "/admin/log".into()
    } else {
        format!("/admin/log?{q}")
    }
}

fn serde_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn log_table(admin: &Admin, filter: &LogFilter) -> Result<Markup, StoreError> {
    let entries = admin
        .engine
        .store
        .integration_log(&LogQuery {
            entity_type: filter.entity.clone().filter(|e| !e.is_empty()),
            record_id: filter.record.clone().filter(|r| !r.is_empty()),
            limit: 50,
            ..LogQuery::default()
        })
        .await?;
    Ok(html! {
        @if entries.is_empty() { p { "Nothing logged yet" @if filter.entity.is_some() || filter.record.is_some() { " for this filter" } "." } }
        @else {
            table {
                tr { th { "at" } th { "entity" } th { "record" } th { "action" } th { "from → to" } th { "result" } th { "detail" } }
                @for e in &entries {
                    tr {
                        td { (at(e.at)) } td { (e.event.entity_type) } td { (e.event.record_id) } td { (e.event.action) }
                        td { (e.event.from_system.as_str()) " → " (e.event.to_system.as_str()) }
                        td { (e.event.result) } td { (admin.scrub(&e.event.detail)) }
                    }
                }
            }
        }
    })
}

/// A connection's state in words, with its reason (scrubbed).
fn connection_state(admin: &Admin, state: Option<&ConnectionState>) -> Markup {
    html! {
        @match state {
            None => span { "not checked yet" },
            Some(ConnectionState::Connected) => span.ok { "connected" },
            Some(ConnectionState::NotConnected { reason }) => {
                span.bad { "not connected" } br; small { (admin.scrub(reason)) }
            },
            Some(ConnectionState::AuthFailing { reason }) => {
                span.bad { "authentication failing" } br; small { (admin.scrub(reason)) }
            },
        }
    }
}
