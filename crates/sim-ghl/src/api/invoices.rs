//! Invoices (`/invoices/*`): create, get, list and record a payment.
//! Handlers check the request, build the typed input (`NewInvoice`,
//! `InvoicePayment`, `InvoiceQuery`), call the rules in `world::invoices`
//! (totals, numbering, payment rules, the transaction a payment records and
//! the Invoice* webhooks) and answer; they hold no business rule.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Params, page};
use crate::Sim;
use crate::auth::Caller;
use crate::error::{ApiResult, ok};
use crate::validate::{Body, QueryCheck};
use crate::world::invoices::{
    Discount, DiscountKind, InvoiceLine, InvoicePayment, InvoiceQuery, NewInvoice,
};

/// The items of an invoice: at least one, each named, in the invoice's
/// currency, with a non-negative amount and a positive quantity.
fn check_items(body: &mut Body, currency: &str) -> Vec<InvoiceLine> {
    let items = match body.raw("items") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => {
            body.error("items must contain at least 1 elements");
            Vec::new()
        }
    };
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if item
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            body.error(format!("items.{i}.name should not be empty"));
        }
        if item.get("currency").and_then(Value::as_str) != Some(currency) {
            body.error(format!(
                "items.{i}.currency must equal the invoice currency"
            ));
        }
        let amount = item.get("amount").and_then(Value::as_f64);
        let qty = item.get("qty").and_then(Value::as_f64);
        match (amount, qty) {
            (Some(amount), Some(qty)) if amount >= 0.0 && qty > 0.0 => lines.push(InvoiceLine {
                amount,
                qty,
                as_sent: item,
            }),
            _ => body.error(format!(
                "items.{i}.amount and items.{i}.qty must be positive numbers"
            )),
        }
    }
    lines
}

fn check_discount(body: &mut Body) -> Option<Discount> {
    let Some(discount) = body.opt_object("discount") else {
        body.error("discount must be an object");
        return None;
    };
    let kind = match discount.get("type").and_then(Value::as_str).unwrap_or("") {
        "percentage" => DiscountKind::Percentage,
        "fixed" => DiscountKind::Fixed,
        _ => {
            body.error("discount.type must be one of the following values: percentage, fixed");
            return None;
        }
    };
    Some(Discount {
        kind,
        value: discount.get("value").and_then(Value::as_f64).unwrap_or(0.0),
        as_sent: discount,
    })
}

pub async fn create(
    State(sim): State<Arc<Sim>>,
    Extension(caller): Extension<Caller>,
    bytes: Bytes,
) -> ApiResult {
    let mut body = Body::parse(&bytes)?;
    let alt_id = body.req_location();
    let name = body.req_str("name");
    let business_details = body.opt_object("businessDetails");
    if business_details.is_none() {
        body.error("businessDetails must be an object");
    }
    let currency = body.req_str("currency");
    let items = check_items(&mut body, &currency);
    let discount = check_discount(&mut body);
    let contact_details = body.opt_object("contactDetails");
    match &contact_details {
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
    let sent_to = body.opt_object("sentTo");
    if sent_to.is_none() {
        body.error("sentTo must be an object");
    }
    let live_mode = body.opt_bool("liveMode");
    if live_mode.is_none() {
        body.error("liveMode must be a boolean value");
    }
    let title = body.opt_str("title");
    let terms_notes = body.opt_str("termsNotes");
    let new = (|| {
        Some(NewInvoice {
            name,
            business_details: business_details?,
            currency,
            items,
            discount: discount?,
            contact_details: contact_details?,
            issue_date,
            due_date,
            sent_to: sent_to?,
            live_mode: live_mode?,
            title,
            terms_notes,
        })
    })();
    let new = body.finish_with(new)?;
    caller.check_location(&alt_id)?;
    sim.commit(|w| ok(w.location_mut(&alt_id)?.create_invoice(new)?))
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
    sim.read(|w| ok(w.location(&alt_id)?.invoice(&invoice_id)?.clone()))
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
    let query = InvoiceQuery {
        status,
        contact_id: q.get("contactId").cloned(),
        search: q.get("search").cloned(),
    };
    sim.read(|w| {
        let found = w.location(&alt_id)?.invoices_matching(&query);
        let (invoices, total) = page(found.into_iter(), offset, limit);
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
    let alt_id = body.req_location();
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
    let payment = InvoicePayment { mode, amount, meta };
    sim.commit(|w| {
        let mut invoice = w.location_mut(&alt_id)?.pay_invoice(&invoice_id, payment)?;
        // The answer leaves these out.
        if let Value::Object(map) = &mut invoice {
            map.remove("totalSummary");
            map.remove("sentTo");
        }
        ok(json!({"success": true, "invoice": invoice}))
    })
}
