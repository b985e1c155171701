//! The dead letters page: jobs that failed for good, oldest first, each
//! with the name of its record (as the integration log last told it), its
//! flow, why it failed in words with what to do (the full error one click
//! away), and Replay and Drop — for one, for those ticked, or for all.
//! The forms post to the handlers in `mod.rs`, which come back here with
//! what was done in the query string.

use std::collections::HashMap;

use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use store::{Job, StoreError};

use super::Admin;
use super::pages::{Chrome, Tab, csrf_field, page, when, with_query};
use super::words::{flow_title, reason_in_words, record_name};

/// Dead letters per page.
pub const PAGE: i64 = 100;

/// The query string of `/admin/dlq`: what the last action did, and where the page starts.
#[derive(Debug, Default, Deserialize)]
pub struct DlqView {
    pub replayed: Option<u64>,
    pub dropped: Option<u64>,
    /// Dead letters that could not be replayed or dropped (gone meanwhile).
    pub failed: Option<u64>,
    /// A bulk action was asked for without any dead letter ticked.
    pub none: Option<u8>,
    /// Only dead letters after this job id (the next page).
    pub after: Option<i64>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Each dead letter's record as people know it: the name the log last
/// gave it, else its kind and id.
async fn names(admin: &Admin, dead: &[Job]) -> Result<HashMap<i64, String>, StoreError> {
    let mut by_entity: HashMap<&str, Vec<&str>> = HashMap::new();
    for j in dead {
        by_entity
            .entry(j.entity_type.as_str())
            .or_default()
            .push(j.record_id.as_str());
    }
    let mut told: HashMap<(String, String), String> = HashMap::new();
    for (entity, ids) in by_entity {
        for e in admin.engine.store.latest_log_entries(entity, &ids).await? {
            if let Some(name) = record_name(&e.event.detail) {
                told.insert(
                    (e.event.entity_type.clone(), e.event.record_id.clone()),
                    name.to_string(),
                );
            }
        }
    }
    Ok(dead
        .iter()
        .map(|j| {
            let name = told
                .remove(&(j.entity_type.clone(), j.record_id.clone()))
                .unwrap_or_else(|| {
                    let kind = j.entity_type.rsplit('/').next().unwrap_or("record");
                    format!("{kind} {}", j.record_id)
                });
            (j.id, admin.scrub(&name))
        })
        .collect())
}

pub async fn dead_letters_page(
    admin: &Admin,
    chrome: &Chrome<'_>,
    view: &DlqView,
) -> Result<Markup, StoreError> {
    let store = &admin.engine.store;
    let after = view.after.unwrap_or(0);
    let mut dead = store.dead_letters(after, PAGE + 1).await?;
    let more = dead.len() as i64 > PAGE;
    dead.truncate(PAGE as usize);
    let names = names(admin, &dead).await?;
    let total = chrome.dead;
    let now = Utc::now();
    let body = html! {
        div.page-head {
            h1 { "Dead letters" }
            p.muted { "Jobs that failed for good. Replay one once its cause is fixed; drop one that should not be done." }
        }
        @if let Some(n) = view.replayed { p.notice.ok role="status" { "Replayed " (plural(n, "dead letter", "dead letters")) ": queued to run again." } }
        @if let Some(n) = view.dropped { p.notice.ok role="status" { "Dropped " (plural(n, "dead letter", "dead letters")) " for good." } }
        @if let Some(n) = view.failed.filter(|n| *n > 0) { p.notice.bad role="alert" { (plural(n, "dead letter was", "dead letters were")) " no longer there (replayed or dropped meanwhile)." } }
        @if view.none.is_some() { p.notice.bad role="alert" { "Tick at least one dead letter first." } }
        @if dead.is_empty() {
            p.notice.ok { "None. Every job finished or is still being tried." }
        } @else {
            form #dlq-form method="post" action="/admin/dlq/bulk" {
                (csrf_field(chrome.csrf))
                div.toolbar {
                    label.check { input type="checkbox" data-select-all; " Tick every row" }
                    button.btn type="submit" name="action" value="replay" { "Replay ticked" }
                    button.btn.danger type="submit" name="action" value="drop" data-confirm="Drop the ticked dead letters for good?" { "Drop ticked" }
                    button.btn type="submit" name="action" value="replay_all" { "Replay all " (total) }
                    button.btn.danger type="submit" name="action" value="drop_all" data-confirm=(format!("Drop all {total} dead letters for good?")) { "Drop all " (total) }
                }
                div.table-wrap {
                    table.cards.compact.dead-letters {
                        thead { tr { th { span.sr-only { "Tick" } } th { "Record" } th { "Flow" } th { "Why it failed" } th.num { "Attempts" } th { "Since" } th { span.sr-only { "Actions" } } } }
                        tbody {
                            @for j in &dead {
                                @let name = names.get(&j.id).cloned().unwrap_or_default();
                                @let reason = admin.scrub(j.dead_reason.as_deref().unwrap_or(""));
                                tr.dead-letter data-job=(j.id) {
                                    td {
                                        input #(format!("dl-{}", j.id)) type="checkbox" name="ids" value=(j.id);
                                        label.sr-only for=(format!("dl-{}", j.id)) { "Tick " (name) }
                                    }
                                    td data-label="Record" {
                                        strong.record-name { (name) }
                                        span.sub { (j.entity_type) " · " a.mono href=(with_query("/admin/log", &[("record", &j.record_id)])) title="This record's log" { (j.record_id) } " · job " (j.id) }
                                    }
                                    td.wide data-label="Flow" {
                                        @match engine::worker::flow_of(&j.kind) {
                                            Some(f) => { (flow_title(f)) span.sub { code { (f.as_str()) } } },
                                            None => code { (j.kind) },
                                        }
                                    }
                                    td.wide data-label="Why it failed" {
                                        span.reason-words { (reason_in_words(&reason)) }
                                        details { summary { "Full error" } pre { (reason) } }
                                    }
                                    td.num.labelled data-label="Attempts" { (j.attempts) }
                                    td.labelled data-label="Since" { (when(j.updated_at, now)) }
                                    td {
                                        div.actions {
                                            button.btn.small.replay type="submit" formaction=(format!("/admin/dlq/{}/replay", j.id)) { "Replay" }
                                            button.btn.small.danger.drop type="submit" formaction=(format!("/admin/dlq/{}/drop", j.id))
                                                data-confirm=(format!("Drop the dead letter of {name} for good?")) { "Drop" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if after > 0 || more {
                nav.pager aria-label="Dead letter pages" {
                    @if after > 0 { a.btn href="/admin/dlq" { "← First" } } @else { span {} }
                    @if more { @if let Some(last) = dead.last() { a.btn href=(format!("/admin/dlq?after={}", last.id)) { "Next →" } } }
                }
            }
        }
    };
    Ok(page("Dead letters", Tab::DeadLetters, chrome, body))
}
