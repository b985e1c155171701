//! AccessAlly's documented inbound commands, `POST /?aal_<command>=<handshake>`
//! with a form-encoded CRM `contactId` (or `Id`, or a bare value as
//! Ontraport sends). A wrong handshake is refused (403) and logged, like
//! every command, in the Detailed Log. Owns the command semantics only.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::Sim;
use crate::api::constant_time_eq;
use crate::world::AalLogEntry;

pub const COMMANDS: [&str; 6] = [
    "aal_genpass",
    "aal_updateuser",
    "aal_batchsync",
    "aal_fieldop",
    "aal_revokesubscription",
    "aal_chargesubscription",
];

fn text(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// The contact ids a body names: `contactId`, `Id`, or the bare body.
fn contact_ids(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&text).unwrap_or_default();
    let named = pairs
        .iter()
        .find(|(k, _)| k == "contactId" || k == "Id" || k == "contact_id")
        .map(|(_, v)| v.clone());
    let raw = match named {
        Some(v) => v,
        None if !text.contains('=') => text.trim().to_string(),
        None => String::new(),
    };
    raw.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

pub async fn command(
    State(sim): State<Arc<Sim>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let commands: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k.starts_with("aal_"))
        .collect();
    let ids = contact_ids(&body);
    let mut world = sim.world();
    let mut log = |command: Option<&str>, contact: Option<&str>, status: u16, outcome: String| {
        world.aal_log.push(AalLogEntry {
            at: chrono::Utc::now(),
            command: command.map(str::to_string),
            contact_id: contact.map(str::to_string),
            status,
            outcome,
        });
    };
    let [(command, handshake)] = commands.as_slice() else {
        log(
            None,
            None,
            400,
            "refused: not exactly one aal_ command".into(),
        );
        return text(
            400,
            "Membership site error: exactly one aal_ command is expected.",
        );
    };
    if !COMMANDS.contains(&command.as_str()) {
        log(Some(command), None, 400, "refused: unknown command".into());
        return text(400, "Membership site error: unknown command.");
    }
    if !constant_time_eq(handshake.as_bytes(), sim.creds.handshake.as_bytes()) {
        tracing::warn!(command = %command, "aal command with a wrong handshake refused");
        log(
            Some(command),
            ids.first().map(String::as_str),
            403,
            "refused: wrong handshake".into(),
        );
        return text(403, "Membership site error: invalid handshake.");
    }

    if ids.is_empty() {
        world.aal_log.push(AalLogEntry {
            at: chrono::Utc::now(),
            command: Some(command.clone()),
            contact_id: None,
            status: 400,
            outcome: "refused: no contact id".into(),
        });
        return text(400, "Membership site error: no contact id.");
    }
    let product_id = pairs
        .iter()
        .find(|(k, _)| k == "productId")
        .map(|(_, v)| v.clone());
    let operation = form_value(&body, "operationId");
    let mut status = 200;
    let mut outcomes = Vec::new();
    for id in &ids {
        if !world.contacts.contains_key(id) {
            status = 404;
            outcomes.push(format!("{id}: unknown contact"));
            continue;
        }
        let outcome = match command.as_str() {
            "aal_genpass" => {
                let user = world.ensure_user(id);
                format!("{id}: user {} ready, tags synced", user.unwrap_or(0))
            }
            "aal_updateuser" | "aal_batchsync" => {
                if let Some(c) = world.contacts.get_mut(id) {
                    c.refresh_pending = true;
                }
                format!("{id}: marked for an activity-based update")
            }
            "aal_fieldop" => format!(
                "{id}: operation {} run",
                operation.as_deref().unwrap_or("(none)")
            ),
            "aal_revokesubscription" => {
                let mut n = 0;
                for s in world
                    .subscriptions
                    .values_mut()
                    .filter(|s| &s.crm_contact_id == id && s.status != "revoked")
                {
                    s.status = "revoked".into();
                    n += 1;
                }
                if let Some(c) = world.contacts.get_mut(id) {
                    c.tags.insert("Revoke".into());
                }
                format!("{id}: {n} subscription(s) revoked")
            }
            _ => {
                let wanted = product_id.as_deref().and_then(|p| p.parse::<u64>().ok());
                let found = world
                    .subscriptions
                    .values_mut()
                    .find(|s| &s.crm_contact_id == id && Some(s.payment_option_id) == wanted);
                match found {
                    Some(s) => {
                        if s.status == "payment_failed" {
                            s.status = "active".into();
                        }
                        format!("{id}: charge retried, subscription {}", s.status)
                    }
                    None => {
                        status = 404;
                        format!(
                            "{id}: no subscription for productId {}",
                            product_id.as_deref().unwrap_or("(none)")
                        )
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    let outcome = outcomes.join("; ");
    world.aal_log.push(AalLogEntry {
        at: chrono::Utc::now(),
        command: Some(command.clone()),
        contact_id: Some(ids.join(",")),
        status,
        outcome: outcome.clone(),
    });
    text(status, if status == 200 { "OK" } else { &outcome })
}
