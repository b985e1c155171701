//! The integration log page: every record written or observed, newest
//! first, a page at a time; searched by a record's id on either system,
//! by name, SKU, coupon code or buyer e-mail, and narrowed to one kind of
//! record. Each entry shows its change in words (`COURSE-001 197.00 →
//! 149.00 USD`), and links to its raw form — the stored entry, its job and
//! the record's link — one click away. The first page refreshes itself
//! every 3 s (htmx).

use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use store::{IntegrationLogEntry, LogQuery, StoreError};

use super::Admin;
use super::pages::{Chrome, Tab, page, pretty, result_badge, when, with_query};
use super::words::{full_time, told};

/// Entries per page.
pub const PAGE: i64 = 25;

/// What the log page shows: the query string of `/admin/log`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogFilter {
    /// `{tenant}/{entity}`: only this kind of record.
    pub entity: Option<String>,
    /// A record's id on either system: its entries and its counterpart's.
    pub record: Option<String>,
    /// Free search: an id on either system, a name, SKU, code or e-mail.
    pub q: Option<String>,
    /// Only entries older than this one (the next page).
    pub before: Option<i64>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

impl LogFilter {
    fn query(&self, limit: i64) -> LogQuery {
        LogQuery {
            entity_type: given(&self.entity),
            record_id: given(&self.record),
            search: given(&self.q),
            before_id: self.before,
            limit,
            ..LogQuery::default()
        }
    }

    fn narrowed(&self) -> bool {
        given(&self.entity).is_some() || given(&self.record).is_some() || given(&self.q).is_some()
    }

    /// `path` with this filter, at the page before `before`.
    fn url(&self, path: &str, before: Option<i64>) -> String {
        let before = before.map(|b| b.to_string()).unwrap_or_default();
        with_query(
            path,
            &[
                ("q", self.q.as_deref().unwrap_or("")),
                ("entity", self.entity.as_deref().unwrap_or("")),
                ("record", self.record.as_deref().unwrap_or("")),
                ("before", &before),
            ],
        )
    }
}

/// The log page.
pub async fn log_page(
    admin: &Admin,
    chrome: &Chrome<'_>,
    filter: &LogFilter,
) -> Result<Markup, StoreError> {
    let entries = entries(admin, filter).await?;
    let q = filter.q.clone().unwrap_or_default();
    let entity = filter.entity.clone().unwrap_or_default();
    let body = html! {
        div.page-head {
            h1 { "Integration log" }
            p.muted { "Every record written or observed, newest first." }
        }
        form.toolbar method="get" action="/admin/log" role="search" {
            div.field.grow {
                label for="log-q" { "Search" }
                input #log-q type="search" name="q" value=(q)
                    placeholder="Id (either system), name, SKU, coupon code, e-mail";
            }
            div.field {
                label for="log-entity" { "Records" }
                select #log-entity name="entity" {
                    option value="" selected[entity.is_empty()] { "All kinds" }
                    @for tenant in admin.engine.tenants.keys() {
                        @for (kind, label) in [("coupon", "coupons"), ("product", "products"), ("order", "orders")] {
                            @let value = format!("{tenant}/{kind}");
                            option value=(value) selected[entity == value] { (tenant) " · " (label) }
                        }
                    }
                }
            }
            @if let Some(record) = given(&filter.record) {
                input type="hidden" name="record" value=(record);
            }
            button.btn.primary type="submit" { "Search" }
            @if filter.narrowed() { a.btn href="/admin/log" { "Clear" } }
        }
        @if let Some(record) = given(&filter.record) {
            p.notice { "Record " code { (record) } " and the record linked to it on the other system. "
                a href=(LogFilter { record: None, before: None, ..filter.clone() }.url("/admin/log", None)) { "Show every record" } }
        }
        @if filter.before.is_none() {
            div #log-entries hx-get=(filter.url("/admin/log/live", None)) hx-trigger="every 3s" hx-swap="innerHTML" { (entries) }
        } @else {
            div #log-entries { (entries) }
        }
    };
    Ok(page("Integration log", Tab::Log, chrome, body))
}

/// One page of entries with its pager: what `#log-entries` holds, and
/// what `/admin/log/live` answers.
pub async fn entries(admin: &Admin, filter: &LogFilter) -> Result<Markup, StoreError> {
    let mut found = admin
        .engine
        .store
        .integration_log(&filter.query(PAGE + 1))
        .await?;
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let now = Utc::now();
    Ok(html! {
        @if found.is_empty() {
            p.notice { "Nothing logged yet" @if filter.narrowed() { " for this search" } @if filter.before.is_some() { " before this page" } "." }
        } @else {
            div.table-wrap {
                table.cards.compact.log {
                    thead { tr { th { "When" } th { "Record" } th { "What happened" } th { "Change" } } }
                    tbody {
                        @for e in &found {
                            @let detail = admin.scrub(&e.event.detail);
                            @let t = told(&detail);
                            tr.entry data-entry=(e.id) {
                                td.when data-label="When" {
                                    (when(e.at, now))
                                    a.raw.sub href=(format!("/admin/log/{}", e.id)) title="The stored entry, its job and the record's link" { "Raw entry" }
                                }
                                td data-label="Record" {
                                    a.mono href=(with_query("/admin/log", &[("record", &e.event.record_id)])) title="This record's entries, on either system" { (e.event.record_id) }
                                    span.sub { (e.event.entity_type) }
                                }
                                td data-label="What happened" {
                                    (result_badge(&e.event.result)) " " (e.event.action)
                                    span.sub.dir { (e.event.from_system.name()) " → " (e.event.to_system.name()) }
                                }
                                td.wide data-label="Change" {
                                    span.headline { (t.headline) }
                                    @if !t.changes.is_empty() {
                                        " "
                                        ul.changes { @for c in &t.changes { li { (c) } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if filter.before.is_some() || more {
            nav.pager aria-label="Log pages" {
                @if filter.before.is_some() { a.btn href=(filter.url("/admin/log", None)) { "← Newest" } } @else { span {} }
                @if more {
                    @if let Some(last) = found.last() {
                        a.btn.older href=(filter.url("/admin/log", Some(last.id))) { "Older →" }
                    }
                }
            }
        }
    })
}

/// One entry with everything stored about it, raw: the entry, its job
/// (while the queue keeps it) and the record's link.
pub async fn entry_page(
    admin: &Admin,
    chrome: &Chrome<'_>,
    id: i64,
) -> Result<Option<Markup>, StoreError> {
    let store = &admin.engine.store;
    let Some(e) = store
        .integration_log(&LogQuery {
            before_id: Some(id.saturating_add(1)),
            limit: 1,
            ..LogQuery::default()
        })
        .await?
        .pop()
        .filter(|e| e.id == id)
    else {
        return Ok(None);
    };
    let job = match e.event.job_id {
        Some(job) => store.job(job).await?,
        None => None,
    };
    let link = store
        .find_link(
            &e.event.entity_type,
            e.event.from_system,
            &e.event.record_id,
        )
        .await?;
    let detail = admin.scrub(&e.event.detail);
    let t = told(&detail);
    let raw_entry = admin.scrub(&pretty(&entry_json(&e)));
    let raw_job = job.map(|j| {
        admin.scrub(&pretty(&json!({
            "id": j.id, "kind": j.kind, "entity_type": j.entity_type,
            "record_system": j.record_system.as_str(), "record_id": j.record_id,
            "location": j.location, "state": j.state.as_str(), "priority": format!("{:?}", j.priority).to_lowercase(),
            "attempts": j.attempts, "merged_count": j.merged_count, "payload": j.payload,
            "last_error": j.last_error, "dead_reason": j.dead_reason,
            "created_at": full_time(j.created_at), "updated_at": full_time(j.updated_at),
            "finished_at": j.finished_at.map(full_time),
        })))
    });
    let raw_link = link.map(|l| {
        admin.scrub(&pretty(&json!({
            "id": l.id, "entity_type": l.entity_type,
            "highlevel_id": l.highlevel_id, "accessally_id": l.accessally_id,
            "highlevel_hash": l.highlevel_hash, "accessally_hash": l.accessally_hash,
            "last_written_to": l.last_written_to.map(|s| s.as_str()),
            "last_written_at": l.last_written_at.map(full_time),
            "created_at": full_time(l.created_at), "updated_at": full_time(l.updated_at),
        })))
    });
    let body = html! {
        div.page-head {
            h1 { "Log entry " (e.id) }
            a.btn href=(with_query("/admin/log", &[("record", &e.event.record_id)])) { "This record's entries" }
        }
        div.grid {
            div.panel {
                h3 { (t.headline) }
                dl.facts {
                    dt { "When" } dd { (full_time(e.at)) }
                    dt { "Record" } dd { code { (e.event.record_id) } " · " (e.event.entity_type) }
                    dt { "Direction" } dd { (e.event.from_system.name()) " → " (e.event.to_system.name()) }
                    dt { "Action" } dd { (e.event.action) " · " (result_badge(&e.event.result)) }
                    @if let Some(job) = e.event.job_id { dt { "Job" } dd { (job) } }
                }
                @if !t.changes.is_empty() {
                    h3 { "Changes" }
                    ul.changes { @for c in &t.changes { li { (c) } } }
                }
            }
            div.panel {
                h3 { "Raw entry" }
                pre.raw-entry { (raw_entry) }
            }
            div.panel {
                h3 { "Its job" }
                @match raw_job {
                    Some(j) => pre { (j) },
                    None => p.muted { "No job: the entry names none, or the queue no longer keeps it (finished jobs are deleted after 7 days)." },
                }
            }
            div.panel {
                h3 { "The record's link" }
                @match raw_link {
                    Some(l) => pre { (l) },
                    None => p.muted { "Not linked to a record of the other system." },
                }
            }
        }
    };
    Ok(Some(page(
        &format!("Log entry {}", e.id),
        Tab::Log,
        chrome,
        body,
    )))
}

fn entry_json(e: &IntegrationLogEntry) -> serde_json::Value {
    json!({
        "id": e.id,
        "at": full_time(e.at),
        "entity_type": e.event.entity_type,
        "record_id": e.event.record_id,
        "action": e.event.action,
        "from_system": e.event.from_system.as_str(),
        "to_system": e.event.to_system.as_str(),
        "result": e.event.result,
        "detail": e.event.detail,
        "job_id": e.event.job_id,
    })
}
