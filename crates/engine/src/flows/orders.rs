//! Orders both ways. AccessAlly → HighLevel: a completed order becomes a
//! payment record on the buyer's contact — upsert the contact by e-mail,
//! create an invoice named after the order (its natural key) with the
//! order's items, discount and coupon, record the payment so it shows as a
//! transaction, tag the contact and add a note; a refund is reflected with
//! a tag and a note. Exactly once per order, even when a write's answer is
//! lost: the invoice is found by name and its paid state checked before
//! paying. HighLevel → AccessAlly: a paid order grants the buyer access to
//! each linked offering, idempotent on the grant's `source_ref`.

use accessally::{AccessGrantRequest, OrderStatus};
use ghl::Priority;
use ghl::types::{ContactUpsert, InvoiceInput, InvoiceItemInput, PaymentInput};
use model::Flow;
use serde_json::json;

use super::{Ctx, entities};
use crate::canonical::content_hash;
use crate::error::EngineError;
use crate::plan::Action;

/// The invoice name allybridge gives an AccessAlly order: its natural key.
pub fn invoice_name(order_id: u64) -> String {
    format!("AccessAlly order #{order_id}")
}

/// AccessAlly order `id` → payment record in HighLevel.
pub async fn to_highlevel(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    const FLOW: Flow = Flow::OrdersToHighlevel;
    let t = ctx.tenant;
    let order_id: u64 = id
        .parse()
        .map_err(|_| EngineError::Permanent(format!("`{id}` is not an AccessAlly order id")))?;
    let record = format!("order {order_id}");
    let order = match t.accessally.get_order(order_id).await {
        Ok(o) => o,
        Err(e) if super::aa_missing(&e) => {
            return ctx
                .report(FLOW, Action::Skip, record, vec![], "order not found")
                .await;
        }
        Err(e) => return Err(e.into()),
    };
    let status = order.status.as_str().to_string();
    let completed = t.settings.completed_statuses.contains(&status);
    let refunded = matches!(
        order.status,
        OrderStatus::Refunded | OrderStatus::PartiallyRefunded
    );
    if !completed && !refunded {
        return ctx
            .report(
                FLOW,
                Action::Skip,
                record,
                vec![],
                format!("status {status}: nothing to record"),
            )
            .await;
    }
    let state = if refunded { "refunded" } else { "paid" };
    let state_hash = content_hash(&json!({"order": order_id, "state": state}));
    let link = ctx.link_by_aa(entities::ORDER, id).await?;
    if link
        .as_ref()
        .is_some_and(|l| l.accessally_hash.as_deref() == Some(state_hash.as_str()))
    {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "already recorded")
            .await;
    }
    // Money: one currency for the whole order, or nothing is written.
    let currency = order.total.currency;
    if let Some(bad) = order
        .line_items
        .iter()
        .find(|l| l.amount.currency != currency)
    {
        return Err(EngineError::Permanent(format!(
            "order {order_id} mixes currencies ({} and {}); allybridge never converts currencies",
            currency, bad.amount.currency
        )));
    }
    let items: Vec<InvoiceItemInput> = order
        .line_items
        .iter()
        .map(|l| InvoiceItemInput {
            name: l.name.clone(),
            description: l.sku.clone(),
            product_id: None,
            price_id: None,
            currency: currency.to_string(),
            amount: ghl::client::major_units(&l.amount),
            qty: l.quantity.max(1),
        })
        .collect();
    let subtotal: i64 = order
        .line_items
        .iter()
        .map(|l| l.amount.minor * i64::from(l.quantity.max(1)))
        .sum();
    // Whatever separates the items from the total (coupon, rounding) is the discount.
    let discount_minor = (subtotal - order.total.minor).max(0);
    let discount = model::Money::new(discount_minor, currency);
    let mut diffs = vec![
        format!("contact: {}", order.buyer.email),
        format!("invoice: {} ({})", invoice_name(order_id), order.total),
    ];
    if let Some(code) = &order.coupon_code {
        diffs.push(format!("coupon: {code}"));
    }
    let existing_action = if link.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    if !ctx.writes(FLOW) {
        return ctx
            .report(
                FLOW,
                existing_action,
                record,
                diffs,
                format!("would record as {state}"),
            )
            .await;
    }
    let (contact, _) = t
        .ghl
        .upsert_contact(&ContactUpsert {
            location_id: t.ghl.location_id().to_string(),
            email: order.buyer.email.clone(),
            first_name: Some(order.buyer.first_name.clone()).filter(|s| !s.is_empty()),
            last_name: Some(order.buyer.last_name.clone()).filter(|s| !s.is_empty()),
            phone: None,
            source: Some("AccessAlly".into()),
            tags: vec![],
        })
        .await?;
    let name = invoice_name(order_id);
    let invoice = match &link {
        Some(l) => t.ghl.get_invoice(&l.highlevel_id).await?,
        None => None,
    };
    let invoice = match invoice {
        Some(i) => i,
        None => match t.ghl.find_invoice_by_name(&name).await? {
            Some(i) => i,
            None => {
                if items.is_empty() {
                    return Err(EngineError::Permanent(format!(
                        "order {order_id} has no line items"
                    )));
                }
                let mut notes = format!("AccessAlly order #{order_id}");
                if let Some(code) = &order.coupon_code {
                    notes.push_str(&format!(", coupon {code}"));
                }
                if let Some(tx) = &order.transaction_id {
                    notes.push_str(&format!(", transaction {tx}"));
                }
                t.ghl
                    .create_invoice(&InvoiceInput {
                        name: name.clone(),
                        title: Some("ACCESSALLY ORDER".into()),
                        currency: currency.to_string(),
                        items,
                        discount: ghl::client::major_units(&discount),
                        contact_id: contact.id.clone(),
                        contact_name: format!(
                            "{} {}",
                            order.buyer.first_name, order.buyer.last_name
                        )
                        .trim()
                        .to_string(),
                        contact_email: order.buyer.email.clone(),
                        business_name: t.settings.business_name.clone(),
                        issue_date: order.created.format("%Y-%m-%d").to_string(),
                        terms_notes: Some(notes),
                    })
                    .await?
            }
        },
    };
    let mut newly_paid = false;
    let due = ghl::client::money(&invoice.amount_due, &invoice.currency, "invoice")?;
    if invoice.status != "paid" && due.minor > 0 {
        let mut meta = serde_json::Map::new();
        meta.insert("accessally_order_id".into(), json!(order_id));
        if let Some(tx) = &order.transaction_id {
            meta.insert("transaction_id".into(), json!(tx));
        }
        t.ghl
            .record_payment(
                &invoice.id,
                &PaymentInput {
                    mode: t.settings.payment_mode.clone(),
                    amount: None,
                    notes: format!(
                        "Paid in AccessAlly ({}), order #{order_id}",
                        order.payment_method
                    ),
                    meta: Some(meta),
                },
            )
            .await?;
        newly_paid = true;
    }
    let mut tags = t.settings.order_tags.clone();
    if refunded {
        tags.push(t.settings.refund_tag.clone());
    }
    if !tags.is_empty() {
        t.ghl.add_tags(&contact.id, &tags).await?;
    }
    let was_refunded = link.as_ref().and_then(|l| l.accessally_hash.as_deref())
        == Some(content_hash(&json!({"order": order_id, "state": "refunded"})).as_str());
    if t.settings.order_note && (newly_paid || (refunded && !was_refunded)) {
        let mut note = format!(
            "AccessAlly order #{order_id}: {} — {} item(s), total {}",
            status,
            order.line_items.len(),
            order.total
        );
        if let Some(code) = &order.coupon_code {
            note.push_str(&format!(", coupon {code} (−{})", order.discount));
        }
        if refunded {
            note.push_str(&format!(", refunded {}", order.refunded));
        }
        t.ghl.add_note(&contact.id, &note).await?;
    }
    ctx.save_link(entities::ORDER, &invoice.id, id, None, Some(state_hash))
        .await?;
    ctx.report(
        FLOW,
        existing_action,
        record,
        diffs,
        format!("recorded as {state}"),
    )
    .await
}

/// HighLevel order `id` → access grants in AccessAlly.
pub async fn to_accessally(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    const FLOW: Flow = Flow::OrdersToAccessally;
    let t = ctx.tenant;
    let record = format!("order {id}");
    let Some(order) = t.ghl.get_order(id, Priority::Live).await? else {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "order not found")
            .await;
    };
    if !order.is_paid() {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "not paid")
            .await;
    }
    if ctx.link_by_ghl(entities::GRANT, id).await?.is_some() {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "access already granted")
            .await;
    }
    let snapshot = order.contact_snapshot.clone().unwrap_or_default();
    let mut email = snapshot
        .get("email")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let mut first = snapshot
        .get("firstName")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let mut last = snapshot
        .get("lastName")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    if email.is_empty()
        && let Some(cid) = &order.contact_id
        && let Some(c) = t.ghl.get_contact(cid).await?
    {
        email = c.email.unwrap_or_default();
        first = c.first_name.unwrap_or_default();
        last = c.last_name.unwrap_or_default();
    }
    if email.is_empty() {
        return Err(EngineError::Permanent(format!(
            "order {id} has no buyer e-mail"
        )));
    }
    let mut offerings = Vec::new();
    for item in &order.items {
        let Some(pid) = item.product_id() else {
            continue;
        };
        match ctx.link_by_ghl(entities::PRODUCT, pid).await? {
            Some(l) if l.highlevel_hash.as_deref() != Some("deleted") => {
                if let Ok(o) = l.accessally_id.parse::<u64>() {
                    offerings.push(o);
                }
            }
            _ if ctx.enabled(Flow::ProductsToAccessally) => {
                return Err(EngineError::Waiting(format!(
                    "order {id}: product {pid} is not in AccessAlly yet"
                )));
            }
            _ => {}
        }
    }
    if offerings.is_empty() {
        return ctx
            .report(
                FLOW,
                Action::Skip,
                record,
                vec![],
                "no item is linked to an AccessAlly offering",
            )
            .await;
    }
    let diffs: Vec<String> = offerings
        .iter()
        .map(|o| format!("grant offering {o} to {email}"))
        .collect();
    if ctx.writes(FLOW) {
        let mut granted = Vec::new();
        for offering_id in &offerings {
            let (grant, _) = t
                .accessally
                .grant_access(&AccessGrantRequest {
                    email: email.clone(),
                    first_name: first.clone(),
                    last_name: last.clone(),
                    offering_id: *offering_id,
                    source_ref: format!("ghl-order:{id}:{offering_id}"),
                })
                .await?;
            granted.push(grant.id.to_string());
        }
        ctx.save_link(
            entities::GRANT,
            id,
            &granted.join(","),
            Some("granted".into()),
            None,
        )
        .await?;
    }
    ctx.report(FLOW, Action::Create, record, diffs, "access granted")
        .await
}
