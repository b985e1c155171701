//! Contacts (`/contacts/*`): upsert by e-mail (or phone), get, search with
//! the body real clients send (`locationId`, `page`, `pageLimit`, `query`,
//! `filters`), tags and notes. Handlers check the request, build the typed
//! input, call the rules in `world::contacts` (which fire the Contact*
//! webhooks) and answer; they hold no business rule.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{page, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiResult, created, ok};
use crate::validate::Body;
use crate::world::contacts::{ContactFilter, ContactUpsert, NewNote, TEXT_FIELDS};
use crate::world::str_of;

pub async fn upsert_contact(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let loc_id = body.req_str("locationId");
    let mut upsert = ContactUpsert::default();
    for key in TEXT_FIELDS {
        if let Some(value) = body.opt_str(key) {
            upsert.text.push((key, value));
        }
    }
    upsert.tags = body.opt_str_array("tags");
    upsert.custom_fields = match body.raw("customFields") {
        Some(Value::Array(fields)) => Some(fields.clone()),
        _ => None,
    };
    let email = body.opt_str("email");
    let phone = body.opt_str("phone");
    if email
        .as_deref()
        .is_some_and(|e| !e.is_empty() && !e.contains('@'))
    {
        body.error("email must be an email");
    }
    if email.is_none() && phone.is_none() {
        body.error("email or phone should not be empty");
    }
    body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let (contact, is_new) = w.location_mut(&loc_id)?.upsert_contact(upsert)?;
        ok(json!({"new": is_new, "contact": contact, "traceId": trace_id()}))
    })
}

pub async fn get_contact(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult {
    sim.read(|w| {
        let loc_id = w.contact_location(&contact_id)?;
        caller.check_location(&loc_id)?;
        let contact = w.location(&loc_id)?.contact(&contact_id)?;
        ok(json!({"contact": contact}))
    })
}

pub async fn search(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let loc_id = body.req_str("locationId");
    let page_limit = body.opt_num("pageLimit");
    if page_limit.is_none() {
        body.error("pageLimit must be a number conforming to the specified constraints");
    }
    let page_no = body.opt_num("page").unwrap_or(1.0).max(1.0) as usize;
    let query = body.opt_str("query");
    let filters: Vec<ContactFilter> = match body.raw("filters") {
        Some(Value::Array(f)) => f
            .iter()
            .map(|f| ContactFilter {
                field: str_of(f, "field").to_string(),
                operator: str_of(f, "operator").to_string(),
                value: str_of(f, "value").to_string(),
            })
            .collect(),
        Some(_) => {
            body.error("filters must be an array");
            Vec::new()
        }
        None => Vec::new(),
    };
    body.finish()?;
    let limit = page_limit.unwrap_or(20.0).clamp(1.0, 500.0) as usize;
    caller.check_location(&loc_id)?;
    sim.read(|w| {
        let found = w
            .location(&loc_id)?
            .contacts_matching(query.as_deref(), &filters);
        let (contacts, total) = page(found, (page_no - 1) * limit, limit);
        ok(json!({"contacts": contacts, "total": total, "traceId": trace_id()}))
    })
}

pub async fn add_tags(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let tags = body.opt_str_array("tags");
    if tags.is_none() {
        body.error("tags must be an array");
    }
    body.finish()?;
    sim.commit(|w| {
        let loc_id = w.contact_location(&contact_id)?;
        caller.check_location(&loc_id)?;
        let tags = w
            .location_mut(&loc_id)?
            .add_tags(&contact_id, tags.unwrap_or_default())?;
        created(json!({"tags": tags}))
    })
}

pub async fn add_note(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let note = NewNote {
        body: body.req_str("body"),
        title: body.opt_str("title"),
        user_id: body.opt_str("userId"),
    };
    body.finish()?;
    sim.commit(|w| {
        let loc_id = w.contact_location(&contact_id)?;
        caller.check_location(&loc_id)?;
        let note = w.location_mut(&loc_id)?.add_note(&contact_id, note)?;
        created(json!({"note": note}))
    })
}
