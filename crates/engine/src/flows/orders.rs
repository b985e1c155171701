//! Orders both ways. AccessAlly → HighLevel: a completed order becomes a
//! payment record on the buyer's contact — upsert the contact by e-mail,
//! create an invoice named after the order (its natural key) with the
//! order's items, discount and coupon, record the payment so it shows as a
//! transaction, tag the contact and add a note; a refund is reflected with
//! a tag and a note. Exactly once per order, even when a write's answer is
//! lost: the invoice is found by name and its paid state checked before
//! paying. Which AccessAlly statuses are completed or refunded is the
//! tenant's mapping. HighLevel → AccessAlly: an order whose payment status
//! the tenant counts as paid grants the buyer access to each linked
//! offering — through the Bridge API's access grants, idempotent on the
//! grant's `source_ref`, or with AccessAlly's `aal_genpass` command for
//! the buyer's CRM contact, which is idempotent itself (it creates the
//! user or links the existing one, then syncs the contact's tags) and is
//! sent once per order: the grant link written after it stops a repeat.
//! Items of products the tenant's `sku_prefixes` exclude grant nothing.

use accessally::{AalCommand, AccessGrantRequest, ListQuery};
use futures::TryStreamExt;
use ghl::Priority;
use ghl::types::{ContactUpsert, InvoiceInput, InvoiceItemInput, PaymentInput};
use model::Flow;
use serde_json::json;

use super::{Ctx, LinkSides, Record, Seen, entities};
use crate::canonical::content_hash;
use crate::error::EngineError;
use crate::plan::Action;
use crate::tenant::{GrantVia, OrderState, Tenant};

/// The hash an order link holds once the order is recorded in `state`:
/// a scan compares it to know whether the order still needs a job.
pub fn state_hash(order_id: u64, state: OrderState) -> String {
    content_hash(&json!({"order": order_id, "state": state.as_str()}))
}

/// The invoice name allybridge gives an AccessAlly order: its natural key.
pub fn invoice_name(order_id: u64) -> String {
    format!("AccessAlly order #{order_id}")
}

/// HighLevel writes [`to_highlevel`] makes to record a paid order: the
/// contact upsert, the invoice, its payment, and the tags and the note when
/// the tenant adds them (what a dry run's plan counts; keep it with the
/// calls below).
pub fn highlevel_writes_of_a_paid_order(settings: &crate::tenant::TenantSettings) -> u64 {
    3 + u64::from(!settings.order_tags.is_empty()) + u64::from(settings.order_note)
}

/// AccessAlly order `id` → payment record in HighLevel.
pub async fn to_highlevel(ctx: &Ctx<'_>, id: &str) -> Result<Action, EngineError> {
    const FLOW: Flow = Flow::OrdersToHighlevel;
    let t = ctx.tenant;
    let order_id: u64 = id
        .parse()
        .map_err(|_| EngineError::Permanent(format!("`{id}` is not an AccessAlly order id")))?;
    let record = Record::new(id, format!("order {order_id}"));
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
    let Some(order_state) = t.settings.order_state(&status) else {
        return ctx
            .report(
                FLOW,
                Action::Skip,
                record,
                vec![],
                format!("status {status}: nothing to record"),
            )
            .await;
    };
    let refunded = order_state == OrderState::Refunded;
    let state = order_state.as_str();
    let state_hash = state_hash(order_id, order_state);
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
        == Some(self::state_hash(order_id, OrderState::Refunded).as_str());
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
    ctx.save_link(
        entities::ORDER,
        LinkSides {
            highlevel_id: &invoice.id,
            accessally_id: id,
            highlevel: None,
            accessally: Some(Seen::Hash(state_hash)),
            highlevel_state: None,
        },
    )
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
    let record = Record::new(id, format!("order {id}"));
    let Some(order) = t.ghl.get_order(id, Priority::Live).await? else {
        return ctx
            .report(FLOW, Action::Skip, record, vec![], "order not found")
            .await;
    };
    if !t
        .settings
        .order_paid(order.payment_status.as_deref(), &order.status)
    {
        let status = order.payment_status.as_deref().unwrap_or(&order.status);
        return ctx
            .report(
                FLOW,
                Action::Skip,
                record,
                vec![],
                format!("payment status {status}: not paid"),
            )
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
    let (mut products, mut excluded) = (0, 0);
    for item in &order.items {
        let Some(pid) = item.product_id() else {
            continue;
        };
        products += 1;
        match ctx.link_by_ghl(entities::PRODUCT, pid).await? {
            Some(l) if !Seen::is_deleted(l.highlevel_hash.as_deref()) => {
                if let Ok(o) = l.accessally_id.parse::<u64>() {
                    offerings.push(o);
                }
            }
            // Never in AccessAlly: nothing to grant for this item.
            _ if !super::products::ghl_product_included(t, pid, Priority::Live).await? => {
                excluded += 1;
            }
            _ if ctx.enabled(Flow::ProductsToAccessally) => {
                return Err(EngineError::Waiting(format!(
                    "order {id}: product {pid} is not in AccessAlly yet"
                )));
            }
            _ => {}
        }
    }
    if offerings.is_empty() && products > 0 && excluded == products {
        // Settled for good: a link says so, or every scan would bring the
        // order back as drift.
        if ctx.writes(FLOW) {
            ctx.save_link(
                entities::GRANT,
                LinkSides {
                    highlevel_id: id,
                    accessally_id: &format!("none:{id}"),
                    highlevel: Some(Seen::Hash("excluded".into())),
                    accessally: None,
                    highlevel_state: None,
                },
            )
            .await?;
        }
        let note = format!(
            "skipped: every item's product is excluded ({}); nothing to grant",
            t.settings.excluded_reason()
        );
        return ctx.report(FLOW, Action::Skip, record, vec![], note).await;
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
    match t.settings.grant_via {
        GrantVia::Bridge => grant_by_bridge(ctx, id, &offerings, &email, &first, &last).await,
        GrantVia::AalGenpass => grant_by_genpass(ctx, id, &offerings, &email).await,
    }
}

/// Access through the Bridge API: one grant per offering, each idempotent
/// on its `source_ref`.
async fn grant_by_bridge(
    ctx: &Ctx<'_>,
    id: &str,
    offerings: &[u64],
    email: &str,
    first: &str,
    last: &str,
) -> Result<Action, EngineError> {
    const FLOW: Flow = Flow::OrdersToAccessally;
    let t = ctx.tenant;
    let record = Record::new(id, format!("order {id}"));
    let diffs: Vec<String> = offerings
        .iter()
        .map(|o| format!("grant offering {o} to {email}"))
        .collect();
    if ctx.writes(FLOW) {
        let mut granted = Vec::new();
        for offering_id in offerings {
            let (grant, _) = t
                .accessally
                .grant_access(&AccessGrantRequest {
                    email: email.to_string(),
                    first_name: first.to_string(),
                    last_name: last.to_string(),
                    offering_id: *offering_id,
                    source_ref: format!("ghl-order:{id}:{offering_id}"),
                })
                .await?;
            granted.push(grant.id.to_string());
        }
        ctx.save_link(
            entities::GRANT,
            LinkSides {
                highlevel_id: id,
                accessally_id: &granted.join(","),
                highlevel: Some(Seen::Hash("granted".into())),
                accessally: None,
                highlevel_state: None,
            },
        )
        .await?;
    }
    ctx.report(FLOW, Action::Create, record, diffs, "access granted")
        .await
}

/// The buyer's contact id in the AccessAlly site's CRM. The Bridge API
/// shows it only on the buyer's orders at the site (`buyer.crm_contact_id`).
async fn crm_contact_of(tenant: &Tenant, email: &str) -> Result<Option<String>, EngineError> {
    let orders: Vec<accessally::Order> = tenant
        .accessally
        .orders(ListQuery::default().filter("email", email))
        .try_collect()
        .await?;
    Ok(orders
        .into_iter()
        .filter(|o| o.buyer.email.eq_ignore_ascii_case(email))
        .find_map(|o| o.buyer.crm_contact_id.filter(|c| !c.is_empty())))
}

/// Access through AccessAlly's documented `aal_genpass` command: the site
/// creates (or links) the buyer's WordPress user and pulls the contact's
/// tags from its CRM, which is where the offerings' access tags must be.
/// Sent once per order (the grant link stops a second one), and harmless
/// if a lost answer makes the job send it again.
async fn grant_by_genpass(
    ctx: &Ctx<'_>,
    id: &str,
    offerings: &[u64],
    email: &str,
) -> Result<Action, EngineError> {
    const FLOW: Flow = Flow::OrdersToAccessally;
    let t = ctx.tenant;
    let record = Record::new(id, format!("order {id}"));
    let Some(contact) = crm_contact_of(t, email).await? else {
        return Err(EngineError::Permanent(format!(
            "order {id}: grant_via = \"aal_genpass\" names the buyer by their contact id in the AccessAlly site's CRM, which the Bridge API shows only on the buyer's site orders, and no AccessAlly order of {email} names one; grant this buyer with [tenant.orders] grant_via = \"bridge\", or replay this dead letter once {email} has an order at the site"
        )));
    };
    let list: Vec<String> = offerings.iter().map(u64::to_string).collect();
    let diffs = vec![format!(
        "aal_genpass for CRM contact {contact} ({email}), buying offering(s) {}",
        list.join(", ")
    )];
    if ctx.writes(FLOW) {
        t.accessally
            .run_command(&AalCommand::GenPass, &contact)
            .await
            .map_err(|e| match e {
                accessally::Error::Config(_) => EngineError::Permanent(format!(
                    "order {id}: grant_via = \"aal_genpass\" needs the site's aal_* handshake; set [tenant.accessally] handshake or store it with `allybridge connect accessally --handshake-env VAR` ({e})"
                )),
                other => other.into(),
            })?;
        ctx.save_link(
            entities::GRANT,
            LinkSides {
                highlevel_id: id,
                accessally_id: &format!("aal_genpass:{contact}:{id}"),
                highlevel: Some(Seen::Hash("granted".into())),
                accessally: None,
                highlevel_state: None,
            },
        )
        .await?;
    }
    ctx.report(
        FLOW,
        Action::Create,
        record,
        diffs,
        "user and tags synced with aal_genpass",
    )
    .await
}
