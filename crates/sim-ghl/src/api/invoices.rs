//! Invoices (`/invoices/*`): create, get, list and record a payment, which
//! appears as a transaction (`entityType: invoice`). This is how an order
//! from outside HighLevel becomes a payment record: HighLevel has no
//! "create order" endpoint. Totals are computed from the items and the
//! discount; over-payment and paying a paid invoice are refused.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde_json::{Value, json};

use super::payments::new_transaction;
use super::{Params, location, location_mut, page};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::{World, now_iso, num_of, round2, set, str_of};

fn event(w: &mut World, name: &'static str, invoice: &Value) {
    let mut payload = invoice.clone();
    set(&mut payload, "type", json!(name));
    set(&mut payload, "locationId", invoice["altId"].clone());
    w.emit(name, str_of(invoice, "altId"), payload);
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let name = body.req_str("name");
    let business = body.opt_object("businessDetails");
    if business.is_none() {
        body.error("businessDetails must be an object");
    }
    let currency = body.req_str("currency");
    let items = match body.raw("items") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => {
            body.error("items must contain at least 1 elements");
            Vec::new()
        }
    };
    let mut subtotal = 0.0;
    for (i, item) in items.iter().enumerate() {
        if item
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            body.error(format!("items.{i}.name should not be empty"));
        }
        if item.get("currency").and_then(Value::as_str) != Some(currency.as_str()) {
            body.error(format!(
                "items.{i}.currency must equal the invoice currency"
            ));
        }
        let amount = item.get("amount").and_then(Value::as_f64);
        let qty = item.get("qty").and_then(Value::as_f64);
        match (amount, qty) {
            (Some(a), Some(q)) if a >= 0.0 && q > 0.0 => subtotal += a * q,
            _ => body.error(format!(
                "items.{i}.amount and items.{i}.qty must be positive numbers"
            )),
        }
    }
    let discount = body.opt_object("discount");
    let discount_value = match &discount {
        Some(d) => {
            let kind = d.get("type").and_then(Value::as_str).unwrap_or("");
            let value = d.get("value").and_then(Value::as_f64).unwrap_or(0.0);
            match kind {
                "percentage" => subtotal * value.clamp(0.0, 100.0) / 100.0,
                "fixed" => value.clamp(0.0, subtotal),
                _ => {
                    body.error(
                        "discount.type must be one of the following values: percentage, fixed",
                    );
                    0.0
                }
            }
        }
        None => {
            body.error("discount must be an object");
            0.0
        }
    };
    let contact = body.opt_object("contactDetails");
    match &contact {
        Some(c) => {
            for key in ["id", "name", "email", "phoneNo"] {
                if !c.get(key).is_some_and(Value::is_string) {
                    body.error(format!("contactDetails.{key} must be a string"));
                }
            }
        }
        None => body.error("contactDetails must be an object"),
    }
    let issue_date = body.req_str("issueDate");
    let due_date = body.opt_str("dueDate");
    if body.opt_object("sentTo").is_none() {
        body.error("sentTo must be an object");
    }
    let live_mode = body.opt_bool("liveMode");
    if live_mode.is_none() {
        body.error("liveMode must be a boolean value");
    }
    let title = body.opt_str("title").unwrap_or_else(|| "INVOICE".into());
    let terms = body.opt_str("termsNotes");
    let fields = body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let contact_id = contact.as_ref().and_then(|c| c.get("id")).and_then(Value::as_str).unwrap_or("");
        let loc = location_mut(w, &alt_id)?;
        if loc.contacts.get(contact_id).is_none() {
            return Err(ApiError::bad_request(format!("Contact {contact_id} not found")));
        }
        let id = sim_kit::ids::object_id();
        let number = loc.next_invoice_number;
        loc.next_invoice_number += 1;
        let now = now_iso();
        let total = round2(subtotal - discount_value);
        let mut invoice = json!({
            "_id": id, "status": "draft", "liveMode": live_mode.unwrap_or(false), "amountPaid": 0,
            "altId": alt_id, "altType": "location", "name": name, "businessDetails": business,
            "invoiceNumber": number, "currency": currency, "contactDetails": contact,
            "issueDate": issue_date, "dueDate": due_date.clone().unwrap_or_else(|| issue_date.clone()),
            "discount": discount, "invoiceItems": items, "total": total, "title": title, "amountDue": total,
            "totalSummary": {"subTotal": round2(subtotal), "discount": round2(discount_value), "tax": 0},
            "sentTo": fields.get("sentTo").cloned().unwrap_or(json!({})),
            "createdAt": now, "updatedAt": now,
        });
        if let Some(t) = terms {
            set(&mut invoice, "termsNotes", json!(t));
        }
        let search_text = ["name", "title", "termsNotes"]
            .map(|field| str_of(&invoice, field).to_lowercase())
            .join("\0");
        loc.invoice_search_text.push((id.clone(), search_text));
        loc.invoices.insert(id, invoice.clone());
        event(w, "InvoiceCreate", &invoice);
        ok(invoice)
    })
}

pub async fn get(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(invoice_id): Path<String>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    check.finish()?;
    caller.check_location(&alt_id)?;
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        ok(loc
            .invoices
            .get(&invoice_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("Invoice"))?)
    })
}

pub async fn list(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> ApiResult {
    let mut check = QueryCheck::new(&q);
    let alt_id = check.req("altId");
    check.req("altType");
    check.req("limit");
    check.req("offset");
    let limit = check.num("limit", 10);
    let offset = check.num("offset", 0);
    let status = check.enum_value(
        "status",
        &[
            "draft",
            "sent",
            "payment_processing",
            "paid",
            "void",
            "partially_paid",
        ],
    );
    check.finish()?;
    caller.check_location(&alt_id)?;
    // Case-insensitive substring search in name, title and terms.
    let needle = q.get("search").map(|s| s.to_lowercase());
    let searched = needle
        .as_deref()
        .map(|n| memchr::memmem::Finder::new(n.as_bytes()));
    sim.read(|w| {
        let loc = location(w, &alt_id)?;
        // A search reads only the texts (in creation order, like the
        // table), then the rows it found.
        let candidates: Box<dyn Iterator<Item = &Value>> = match &searched {
            Some(finder) => Box::new(
                loc.invoice_search_text
                    .iter()
                    .filter(|(_, text)| finder.find(text.as_bytes()).is_some())
                    .filter_map(|(id, _)| loc.invoices.get(id)),
            ),
            None => Box::new(loc.invoices.iter()),
        };
        let rows: Vec<&Value> = candidates
            .filter(|i| status.as_deref().is_none_or(|s| str_of(i, "status") == s))
            .filter(|i| {
                q.get("contactId").is_none_or(|c| {
                    i.pointer("/contactDetails/id").and_then(Value::as_str) == Some(c)
                })
            })
            .collect();
        let (invoices, total) = page(rows.into_iter(), offset, limit);
        ok(json!({"invoices": invoices, "total": total}))
    })
}

pub async fn record_payment(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    Path(invoice_id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_str("altId");
    body.req_enum("altType", &["location"]);
    let mode = body.req_enum(
        "mode",
        &["cash", "card", "cheque", "bank_transfer", "other"],
    );
    if mode == "card" && body.opt_object("card").is_none() {
        body.error("card must be an object");
    }
    if mode == "cheque" && body.opt_object("cheque").is_none() {
        body.error("cheque must be an object");
    }
    body.req_str("notes");
    let amount = body.opt_num("amount");
    body.min("amount", amount, 0.01);
    let meta = body.opt_object("meta");
    body.finish()?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| {
        let loc = location_mut(w, &alt_id)?;
        let invoice = loc
            .invoices
            .get_mut(&invoice_id)
            .ok_or_else(|| ApiError::not_found("Invoice"))?;
        let due = num_of(invoice, "amountDue");
        if str_of(invoice, "status") == "paid" || due <= 0.0 {
            return Err(ApiError::bad_request("Invoice is already paid"));
        }
        let pay = round2(amount.unwrap_or(due));
        if pay > due + 1e-9 {
            return Err(ApiError::bad_request(format!(
                "Amount {pay} exceeds the amount due {due}"
            )));
        }
        let paid = round2(num_of(invoice, "amountPaid") + pay);
        let left = round2(due - pay);
        let status = if left <= 0.0 {
            "paid"
        } else {
            "partially_paid"
        };
        set(invoice, "amountPaid", json!(paid));
        set(invoice, "amountDue", json!(left));
        set(invoice, "status", json!(status));
        set(invoice, "updatedAt", json!(now_iso()));
        let invoice = invoice.clone();
        let contact = json!({
            "id": invoice.pointer("/contactDetails/id").cloned().unwrap_or(json!("")),
            "name": invoice.pointer("/contactDetails/name").cloned().unwrap_or(json!("")),
            "email": invoice.pointer("/contactDetails/email").cloned().unwrap_or(json!("")),
        });
        let mut txn = new_transaction(
            &alt_id,
            &contact,
            "invoice",
            &invoice_id,
            "invoice",
            pay,
            str_of(&invoice, "currency"),
        );
        set(&mut txn, "paymentProviderType", json!(mode));
        if let Some(m) = meta {
            set(&mut txn, "entitySourceMeta", Value::Object(m));
        }
        loc.transactions
            .insert(str_of(&txn, "_id").to_string(), txn);
        let name = if status == "paid" {
            "InvoicePaid"
        } else {
            "InvoicePartiallyPaid"
        };
        event(w, name, &invoice);
        let mut answer = invoice.clone();
        if let Value::Object(map) = &mut answer {
            map.remove("totalSummary");
            map.remove("sentTo");
        }
        ok(json!({"success": true, "invoice": answer}))
    })
}
