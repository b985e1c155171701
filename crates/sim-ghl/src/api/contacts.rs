//! Contacts (`/contacts/*`): upsert by e-mail (or phone), get, search with
//! the body real clients send (`locationId`, `page`, `pageLimit`, `query`,
//! `filters`), tags and notes. Changes fire ContactCreate, ContactUpdate and
//! ContactTagUpdate webhooks with the documented flat payload.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{location, location_mut, trace_id};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, created, ok};
use crate::validate::Body;
use crate::world::{Location, World, now_iso, set, str_of};

const TEXT_FIELDS: &[&str] = &[
    "firstName",
    "lastName",
    "name",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "source",
    "country",
    "companyName",
    "assignedTo",
    "gender",
];

/// The webhook payload of a contact event.
fn event_payload(name: &str, contact: &Value) -> Value {
    let mut p = json!({"type": name});
    for key in [
        "locationId",
        "id",
        "address1",
        "city",
        "state",
        "companyName",
        "country",
        "source",
        "dateAdded",
        "dateOfBirth",
        "dnd",
        "email",
        "name",
        "firstName",
        "lastName",
        "phone",
        "postalCode",
        "tags",
        "website",
        "attachments",
        "assignedTo",
        "customFields",
    ] {
        if let Some(v) = contact.get(key) {
            set(&mut p, key, v.clone());
        }
    }
    p
}

fn refresh_names(c: &mut Value) {
    let first = str_of(c, "firstName").to_string();
    let last = str_of(c, "lastName").to_string();
    let full = format!("{first} {last}").trim().to_string();
    if !full.is_empty() {
        set(c, "name", json!(full));
    }
    set(c, "firstNameLowerCase", json!(first.to_lowercase()));
    set(c, "lastNameLowerCase", json!(last.to_lowercase()));
    set(c, "fullNameLowerCase", json!(full.to_lowercase()));
    let email = str_of(c, "email").to_lowercase();
    set(c, "emailLowerCase", json!(email));
}

/// Creates or updates a contact matched by e-mail, else phone. Returns the
/// contact and whether it is new. Fires the matching webhook.
pub fn upsert(
    w: &mut World,
    location_id: &str,
    fields: &Map<String, Value>,
) -> Result<(Value, bool), ApiError> {
    let loc = location_mut(w, location_id)?;
    let email = fields
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    let phone = fields.get("phone").and_then(Value::as_str).unwrap_or("");
    // By e-mail (an index), else by phone.
    let by_email = (!email.is_empty())
        .then(|| loc.contacts.group(&email).next())
        .flatten();
    let existing = by_email
        .or_else(|| {
            (!phone.is_empty())
                .then(|| loc.contacts.iter().find(|c| str_of(c, "phone") == phone))
                .flatten()
        })
        .map(|c| str_of(c, "id").to_string());
    let now = now_iso();
    let (id, is_new) = match existing {
        Some(id) => (id, false),
        None => {
            let id = sim_kit::ids::alphanumeric(20);
            loc.contacts.insert(
                id.clone(),
                json!({
                    "id": id, "locationId": location_id, "tags": [], "customFields": [], "attachments": "",
                    "dnd": false, "type": "lead", "dateAdded": now,
                }),
            );
            (id, true)
        }
    };
    let mut contact = loc
        .contacts
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("Contact"))?;
    let contact = &mut contact;
    for key in TEXT_FIELDS {
        if let Some(v) = fields.get(*key).filter(|v| v.is_string()) {
            set(contact, key, v.clone());
        }
    }
    if let Some(Value::Array(tags)) = fields.get("tags") {
        let mut all: Vec<Value> = contact
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in tags {
            if !all.contains(t) {
                all.push(t.clone());
            }
        }
        set(contact, "tags", Value::Array(all));
    }
    if let Some(Value::Array(cf)) = fields.get("customFields") {
        set(contact, "customFields", Value::Array(cf.clone()));
    }
    refresh_names(contact);
    set(contact, "dateUpdated", json!(now));
    let contact = contact.clone();
    // Replaced whole, so the e-mail index follows a new address.
    loc.contacts.insert(id, contact.clone());
    let event = if is_new {
        "ContactCreate"
    } else {
        "ContactUpdate"
    };
    w.emit(event, location_id, event_payload(event, &contact));
    Ok((contact, is_new))
}

fn contact_of<'a>(loc: &'a Location, id: &str) -> Result<&'a Value, ApiError> {
    loc.contacts
        .get(id)
        .ok_or_else(|| ApiError::bad_request("Contact not found"))
}

/// Finds which location holds a contact (contact routes carry no location).
fn owner(w: &World, contact_id: &str) -> Result<String, ApiError> {
    w.locations
        .values()
        .find(|l| l.contacts.get(contact_id).is_some())
        .map(|l| l.id.clone())
        .ok_or_else(|| ApiError::bad_request("Contact not found"))
}

pub async fn upsert_contact(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let loc_id = body.req_str("locationId");
    for key in TEXT_FIELDS {
        body.opt_str(key);
    }
    body.opt_str_array("tags");
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
    let fields = body.finish()?;
    caller.check_location(&loc_id)?;
    sim.commit(|w| {
        let (contact, is_new) = upsert(w, &loc_id, &fields)?;
        ok(json!({"new": is_new, "contact": contact, "traceId": trace_id()}))
    })
}

pub async fn get_contact(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
) -> ApiResult {
    sim.read(|w| {
        let loc_id = owner(w, &contact_id)?;
        caller.check_location(&loc_id)?;
        let contact = contact_of(location(w, &loc_id)?, &contact_id)?;
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
    let filters = match body.raw("filters") {
        Some(Value::Array(f)) => f.clone(),
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
        let loc = location(w, &loc_id)?;
        let found: Vec<&Value> = loc
            .contacts
            .iter()
            .filter(|c| {
                query.as_ref().is_none_or(|q| {
                    let q = q.to_lowercase();
                    ["emailLowerCase", "fullNameLowerCase", "phone"]
                        .iter()
                        .any(|f| str_of(c, f).to_lowercase().contains(&q))
                })
            })
            .filter(|c| {
                filters.iter().all(|f| {
                    let field = str_of(f, "field");
                    let value = f
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_lowercase();
                    let actual = match field {
                        "email" => str_of(c, "emailLowerCase").to_string(),
                        other => str_of(c, other).to_lowercase(),
                    };
                    match str_of(f, "operator") {
                        "contains" => actual.contains(&value),
                        _ => actual == value,
                    }
                })
            })
            .collect();
        let total = found.len();
        let contacts: Vec<Value> = found
            .into_iter()
            .skip((page_no - 1) * limit)
            .take(limit)
            .cloned()
            .collect();
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
        let loc_id = owner(w, &contact_id)?;
        caller.check_location(&loc_id)?;
        let loc = location_mut(w, &loc_id)?;
        let contact = loc
            .contacts
            .get_mut(&contact_id)
            .ok_or_else(|| ApiError::bad_request("Contact not found"))?;
        let mut all: Vec<String> = contact
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let before = all.len();
        for t in tags.unwrap_or_default() {
            if !all.contains(&t) {
                all.push(t);
            }
        }
        set(contact, "tags", json!(all));
        let contact = contact.clone();
        if all.len() != before {
            w.emit(
                "ContactTagUpdate",
                &loc_id,
                event_payload("ContactTagUpdate", &contact),
            );
        }
        created(json!({"tags": all}))
    })
}

pub async fn add_note(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(contact_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let text = body.req_str("body");
    let title = body.opt_str("title");
    let user = body.opt_str("userId");
    body.finish()?;
    sim.commit(|w| {
        let loc_id = owner(w, &contact_id)?;
        caller.check_location(&loc_id)?;
        let loc = location_mut(w, &loc_id)?;
        let id = sim_kit::ids::alphanumeric(20);
        let mut note = json!({
            "id": id, "body": text, "contactId": contact_id, "dateAdded": now_iso(), "pinned": false,
        });
        if let Some(t) = title {
            set(&mut note, "title", json!(t));
        }
        if let Some(u) = user {
            set(&mut note, "userId", json!(u));
        }
        loc.notes.insert(id, note.clone());
        created(json!({"note": note}))
    })
}
