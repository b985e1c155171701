//! The dashboard, the admin area's first page: per tenant, the records
//! linked per kind, open dead letters and the latest drift, the
//! connections' health, each flow with its mode switch, its state and the
//! last 24 hours of its records' outcomes as a chart, and each location's
//! rate budget and daily quota. Every count comes from the store (the
//! integration log, the job queue, the links, the API activity log), so a
//! restart changes none; only the budget's live window and the refused
//! webhooks are the running daemon's own.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use engine::flows::{direction, entities, entity_of};
use maud::{Markup, html};
use model::{Flow, FlowMode};
use store::{JobState, Outcome, StoreError, System};

use super::charts::{self, Bars, Series};
use super::pages::{Chrome, Tab, csrf_field, mode_badge, page, tile, when};
use super::words::flow_title;
use super::{Admin, mode_name};
use crate::health::ConnectionState;

/// The charts' span: the last 24 hours, one bar per hour.
pub const HOURS: usize = 24;
const HOUR: Duration = Duration::from_secs(3600);

/// The hours a chart shows, the current one last.
pub struct Window {
    pub start: DateTime<Utc>,
    /// Each hour's tooltip label (`14:00–15:00 UTC`).
    pub labels: Vec<String>,
    /// What is written under the axis.
    pub axis: Vec<(usize, String)>,
}

impl Window {
    pub fn last_day(now: DateTime<Utc>) -> Self {
        let hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let start = hour - TimeDelta::hours(HOURS as i64 - 1);
        let labels = (0..HOURS)
            .map(|i| {
                let from = start + TimeDelta::hours(i as i64);
                let to = from + TimeDelta::hours(1);
                format!("{}–{} UTC", from.format("%H:%M"), to.format("%H:%M"))
            })
            .collect();
        Self {
            start,
            labels,
            axis: vec![
                (0, "24 h ago".into()),
                (HOURS / 2, "12 h ago".into()),
                (HOURS - 1, "now".into()),
            ],
        }
    }

    /// The bar of the hour `at` falls in, if it is in the window.
    pub fn index(&self, at: DateTime<Utc>) -> Option<usize> {
        if at < self.start {
            return None;
        }
        let i = (at - self.start).num_hours();
        usize::try_from(i).ok().filter(|i| *i < HOURS)
    }
}

/// The tenant and flow whose records an entity read from a system are.
fn flow_of(entity_type: &str, from: System) -> Option<(&str, Flow)> {
    let (tenant, entity) = entity_type.split_once('/')?;
    Flow::ALL
        .into_iter()
        .find(|f| entity_of(*f) == entity && direction(*f).0 == from)
        .map(|f| (tenant, f))
}

/// One flow's outcomes per hour, in [`Outcome::ALL`]'s order.
type Outcomes = [Vec<i64>; 4];

fn no_outcomes() -> Outcomes {
    std::array::from_fn(|_| vec![0; HOURS])
}

fn outcome_series(outcomes: Outcomes) -> Vec<Series> {
    let [written, observed, skipped, failed] = outcomes;
    vec![
        Series::new("written", "c-written", written),
        Series::new("observed", "c-observed", observed),
        Series::new("skipped", "c-skipped", skipped),
        Series::new("failed", "c-failed", failed),
    ]
}

/// Jobs of one flow still open.
#[derive(Default, Clone, Copy)]
struct Queue {
    waiting: i64,
    dead: i64,
}

pub async fn dashboard(admin: &Admin, chrome: &Chrome<'_>) -> Result<Markup, StoreError> {
    let store = &admin.engine.store;
    let now = Utc::now();
    let window = Window::last_day(now);

    let mut outcomes: HashMap<(String, Flow), Outcomes> = HashMap::new();
    for a in store.record_activity(window.start, HOUR).await? {
        let (Some((tenant, flow)), Some(i)) = (
            flow_of(&a.entity_type, a.from_system),
            window.index(a.bucket),
        ) else {
            continue;
        };
        let slot = Outcome::ALL
            .iter()
            .position(|o| *o == a.outcome)
            .unwrap_or(0);
        outcomes
            .entry((tenant.to_string(), flow))
            .or_insert_with(no_outcomes)[slot][i] += a.count;
    }
    let mut queues: HashMap<(String, Flow), Queue> = HashMap::new();
    for c in store.open_job_counts().await? {
        let (Some((tenant, _)), Some(flow)) = (
            c.entity_type.split_once('/'),
            engine::worker::flow_of(&c.kind),
        ) else {
            continue;
        };
        let q = queues.entry((tenant.to_string(), flow)).or_default();
        match c.state {
            JobState::Dead => q.dead += c.count,
            _ => q.waiting += c.count,
        }
    }
    let links: HashMap<String, i64> = store.link_counts().await?.into_iter().collect();
    let calls = store.api_call_counts(window.start, HOUR).await?;
    let queue = store.queue_stats().await?;
    let connections = store.connections().await?;
    let oauth_tenants: Vec<String> = admin
        .oauth
        .as_ref()
        .map(|o| o.tenant_names().into_iter().map(String::from).collect())
        .unwrap_or_default();
    let writes_to_highlevel: Vec<&str> = Flow::ALL
        .iter()
        .filter(|f| !ghl::scopes_to_write(**f).is_empty())
        .map(|f| f.as_str())
        .collect();

    let mut tenants = Vec::new();
    for tenant in admin.engine.tenants.values() {
        let name = tenant.name.as_str();
        let drift = store.drift_reports(Some(name), 1).await?.pop();
        let mut last = HashMap::new();
        for flow in Flow::ALL {
            let at = store
                .last_logged(&tenant.entity(entity_of(flow)), direction(flow).0)
                .await?;
            last.insert(flow, at);
        }
        let (waiting, dead) = Flow::ALL
            .iter()
            .filter_map(|f| queues.get(&(name.to_string(), *f)))
            .fold((0, 0), |(w, d), q| (w + q.waiting, d + q.dead));
        let ghl_state = admin.config.connections.state(name, System::HighLevel);
        let aa_state = admin.config.connections.state(name, System::AccessAlly);
        let can_run = admin.config.connections.can_run(name);
        let site = connections
            .iter()
            .find(|c| c.label == tenant.name && c.system == System::AccessAlly)
            .map(|c| c.account_id.clone())
            .unwrap_or_else(|| "configured".into());
        let oauth = oauth_tenants.iter().any(|t| t == name);
        tenants.push(html! {
            section.tenant data-tenant=(name) aria-labelledby=(format!("tenant-{name}")) {
                div.section-head {
                    h2 #(format!("tenant-{name}")) { "Tenant " (name) }
                    small { "HighLevel location " code { (tenant.ghl.location_id()) } " · AccessAlly site " code { (site) } }
                }
                div.tiles {
                    @for (entity, label) in [(entities::PRODUCT, "products linked"), (entities::COUPON, "coupons linked"), (entities::ORDER, "orders linked"), (entities::GRANT, "access grants")] {
                        (tile(links.get(&tenant.entity(entity)).copied().unwrap_or(0), label, "", None))
                    }
                    (tile(waiting, if waiting == 1 { "job queued" } else { "jobs queued" }, "", None))
                    (tile(dead, if dead == 1 { "open dead letter" } else { "open dead letters" }, if dead > 0 { "bad" } else { "ok" }, Some("/admin/dlq")))
                    @match &drift {
                        Some(d) => (tile(d.drifted, &format!("drifted of {} checked", d.checked), if d.drifted > 0 { "bad" } else { "ok" }, Some("/admin/drift"))),
                        None => (tile("–", "no reconciliation yet", "", Some("/admin/drift"))),
                    }
                }
                @if !can_run {
                    p.notice.bad { "This tenant is not connected, so it runs no flow (no polls, no reconciliation); the others run as usual. Connect it with the button, and its flows start without a restart." }
                }
                div.grid.top {
                    div.panel {
                        h3 { "Connections" }
                        div.connections {
                            div.connection.highlevel {
                                span { strong { "HighLevel" } small { "location " (tenant.ghl.location_id()) } }
                                (connection_state(admin, ghl_state.as_ref()))
                            }
                            div.connection.accessally {
                                span { strong { "AccessAlly" } small { (site) } }
                                (connection_state(admin, aa_state.as_ref()))
                            }
                            @if oauth {
                                form method="post" action=(format!("/admin/oauth/{name}")) {
                                    (csrf_field(chrome.csrf))
                                    button.btn type="submit" {
                                        @if matches!(ghl_state, Some(ConnectionState::NotConnected { .. })) { "Connect HighLevel (OAuth)" } @else { "Reconnect HighLevel (OAuth)" }
                                    }
                                }
                            }
                        }
                    }
                    @for b in admin.config.budgets.iter().filter(|b| b.tenant == name) {
                        (budget_panel(b, &calls, &window))
                    }
                }
                h3.subhead { "Flows" }
                div.grid.flows {
                    @for flow in Flow::ALL {
                        @let mode = tenant.mode(flow);
                        @let series = outcome_series(outcomes.remove(&(name.to_string(), flow)).unwrap_or_else(no_outcomes));
                        @let q = queues.get(&(name.to_string(), flow)).copied().unwrap_or_default();
                        @let id = format!("{name}-{}", flow.as_str());
                        article.panel.flow data-flow=(format!("{name}/{}", flow.as_str())) aria-labelledby=(format!("flow-{id}")) {
                            div.flow-head {
                                div {
                                    h3 #(format!("flow-{id}")) { (flow_title(flow)) }
                                    code { (flow.as_str()) }
                                }
                                (flow_state(mode, can_run, q))
                            }
                            form method="post" action="/admin/modes" {
                                (csrf_field(chrome.csrf))
                                input type="hidden" name="tenant" value=(name);
                                input type="hidden" name="flow" value=(flow.as_str());
                                div.field {
                                    label for=(format!("mode-{id}")) { "Mode" }
                                    select #(format!("mode-{id}")) name="mode" {
                                        @for m in [FlowMode::Off, FlowMode::Observe, FlowMode::Write] {
                                            option value=(mode_name(m)) selected[m == mode] { (mode_name(m)) }
                                        }
                                    }
                                }
                                button.btn type="submit" { "Set mode" }
                            }
                            @let to_write = ghl::scopes_to_write(flow);
                            @if mode != FlowMode::Write && !to_write.is_empty() {
                                p.note.write-needs-consent {
                                    "write needs the HighLevel scopes " (to_write.into_iter().collect::<Vec<_>>().join(", "))
                                    @if oauth {
                                        ": a new consent. After setting write, press "
                                        form method="post" action=(format!("/admin/oauth/{name}")) {
                                            (csrf_field(chrome.csrf)) button.btn.small type="submit" { "Reconnect HighLevel (OAuth)" }
                                        }
                                        " and approve them."
                                    } @else {
                                        " on the private integration token (HighLevel: Settings → Private Integrations)."
                                    }
                                }
                            }
                            (charts::stacked_bars(&Bars {
                                title: &format!("{} records, last 24 hours", flow_title(flow)),
                                buckets: &window.labels,
                                axis: &window.axis,
                                series: &series,
                                empty: "No records in the last 24 hours",
                            }))
                            p.note.last-activity {
                                "Last written or observed: "
                                @match last.get(&flow).copied().flatten() {
                                    Some(at) => (when(at, now)),
                                    None => "never",
                                }
                            }
                        }
                    }
                }
            }
        });
    }

    let body = html! {
        div.page-head {
            h1 { "Dashboard" }
            p.muted { "Counts from the store: they survive a restart. Charts: the last 24 hours, one bar per hour (UTC)." }
        }
        @for t in &tenants { (t) }
        section.notes aria-label="Notes" {
            p { "Queue, all tenants: " strong { (queue.pending) } " waiting, " strong { (queue.running) } " running, " strong { (queue.dead) } " dead. "
                "Webhooks refused for their signature since the daemon started: HighLevel "
                (admin.webhooks.ghl_rejected.load(Ordering::Relaxed)) ", AccessAlly " (admin.webhooks.accessally_rejected.load(Ordering::Relaxed)) "." }
            p.write-consent {
                    "Least privilege: while a flow observes, allybridge holds only the HighLevel read scopes it needs. "
                    "Switching a flow that writes to HighLevel (" (writes_to_highlevel.join(", ")) ") from observe to write needs its write scopes: "
                    "for an OAuth tenant a new consent — set the mode, then press Reconnect HighLevel (OAuth) — and for a private token, the scopes added to the token in HighLevel. "
                    "Until then its writes are refused for the missing scope."
            }
            p {
                @match &admin.config.modes {
                    Some(m) => { "A mode set here is kept in " code { (m.location()) } " and survives a restart; it yields when the flow's mode in the configuration is changed." },
                    None => { "A mode set here lasts until the daemon restarts; change the configuration to keep it." },
                }
            }
        }
    };
    Ok(page("Dashboard", Tab::Dashboard, chrome, body))
}

/// A flow's state as a badge: off, blocked (tenant not connected), failing
/// (open dead letters), busy (jobs waiting) or its mode when idle.
fn flow_state(mode: FlowMode, can_run: bool, q: Queue) -> Markup {
    html! {
        div.actions {
            @if mode == FlowMode::Off { span.badge { "off" } }
            @else if !can_run { span.badge.bad { "not connected" } }
            @else {
                (mode_badge(mode))
                @if q.dead > 0 { a.badge.bad href="/admin/dlq" { (q.dead) " dead" } }
                @if q.waiting > 0 { span.badge.warn { (q.waiting) " queued" } }
                @else if q.dead == 0 { span.badge { "idle" } }
            }
        }
    }
}

/// One location's rate budget: the window's use and the daily quota as
/// gauges, and its calls per hour.
fn budget_panel(
    b: &super::LocationBudget,
    calls: &[store::ApiCallCount],
    window: &Window,
) -> Markup {
    let s = b.budget.snapshot(&b.location_id);
    let share = |used: u64, of: u64| {
        if of == 0 {
            0.0
        } else {
            used as f64 / of as f64
        }
    };
    let window_class = match share(u64::from(s.in_window), u64::from(s.max)) {
        x if x >= 0.9 => "g-bad",
        x if x >= 0.7 => "g-warn",
        _ => "g-ok",
    };
    let series = calls_series(calls, System::HighLevel, Some(&b.location_id), window);
    let limit = i64::try_from(s.daily_limit).unwrap_or(i64::MAX);
    html! {
        div.panel.budget data-location=(b.location_id) {
            h3 { "Rate budget · " (b.location_id) }
            (charts::gauge(
                "Burst window",
                i64::from(s.in_window),
                i64::from(s.max),
                window_class,
                &format!("{} of {} calls per {} s", s.in_window, s.max, s.interval.as_secs()),
            ))
            @match s.daily_remaining {
                Some(r) => {
                    @let class = match share(r, s.daily_limit) { x if x <= 0.1 => "g-bad", x if x <= 0.3 => "g-warn", _ => "g-ok" };
                    (charts::gauge("Daily quota", i64::try_from(r).unwrap_or(i64::MAX), limit, class, &format!("{r} of {} left today", s.daily_limit)))
                }
                None => (charts::gauge("Daily quota", 0, 0, "g-ok", &format!("not reported yet (limit {} a day)", s.daily_limit))),
            }
            (charts::stacked_bars(&Bars {
                title: &format!("HighLevel calls for {}, last 24 hours", b.location_id),
                buckets: &window.labels,
                axis: &window.axis,
                series: &series,
                empty: "No calls in the last 24 hours",
            }))
        }
    }
}

/// The calls to `system` (at `location`) per hour of `window`: those
/// answered, and those failed or rate-limited.
pub fn calls_series(
    counts: &[store::ApiCallCount],
    system: System,
    location: Option<&str>,
    window: &Window,
) -> [Series; 2] {
    let mut ok = vec![0; HOURS];
    let mut failed = vec![0; HOURS];
    for c in counts
        .iter()
        .filter(|c| c.system == system && c.location.as_deref() == location)
    {
        if let Some(i) = window.index(c.bucket) {
            ok[i] += c.calls - c.failed;
            failed[i] += c.failed;
        }
    }
    [
        Series::new("answered", "c-ok", ok),
        Series::new("failed or rate-limited", "c-failed", failed),
    ]
}

/// A connection's state in words, with its reason (scrubbed).
fn connection_state(admin: &Admin, state: Option<&ConnectionState>) -> Markup {
    html! {
        span.state {
            @match state {
                None => span.badge { "not checked yet" },
                Some(ConnectionState::Connected) => span.badge.ok { "connected" },
                Some(ConnectionState::NotConnected { reason }) => {
                    span.badge.bad { "not connected" } small { (admin.scrub(reason)) }
                },
                Some(ConnectionState::AuthFailing { reason }) => {
                    span.badge.bad { "authentication failing" } small { (admin.scrub(reason)) }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_ends_with_the_current_hour() {
        let now = DateTime::parse_from_rfc3339("2025-03-01T14:25:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let w = Window::last_day(now);
        assert_eq!(w.labels.len(), HOURS);
        assert_eq!(w.labels[HOURS - 1], "14:00–15:00 UTC");
        assert_eq!(w.labels[0], "15:00–16:00 UTC");
        assert_eq!(w.index(now), Some(HOURS - 1));
        assert_eq!(w.index(now - TimeDelta::hours(23)), Some(0));
        assert_eq!(w.index(now - TimeDelta::hours(24)), None);
        assert_eq!(w.index(now + TimeDelta::hours(1)), None);
    }

    #[test]
    fn log_entities_map_to_their_flows() {
        assert_eq!(
            flow_of("main/product", System::AccessAlly),
            Some(("main", Flow::ProductsToHighlevel))
        );
        assert_eq!(
            flow_of("shop/order", System::HighLevel),
            Some(("shop", Flow::OrdersToAccessally))
        );
        assert_eq!(flow_of("main/grant", System::HighLevel), None);
        assert_eq!(flow_of("nonsense", System::HighLevel), None);
    }
}
