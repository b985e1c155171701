//! Invoices: creating one (its totals computed from the items and the
//! discount, its number the location's next), the search, and recording a
//! payment, which appears as a transaction (`entityType: invoice`). This is
//! how an order from outside HighLevel becomes a payment record: HighLevel
//! has no "create order" endpoint. Over-payment and paying a paid invoice
//! are refused. Invoices are kept as the JSON object the API returns;
//! changes fire `InvoiceCreate`, `InvoicePaid` and `InvoicePartiallyPaid`.

use serde_json::{Map, Value, json};

use super::orders::new_transaction;
use super::{Error, Location, LocationMut, now_iso, num_of, round2, set, str_of};

/// One item of an invoice: its amount and quantity, and the item as sent.
#[derive(Debug, Clone)]
pub struct InvoiceLine {
    pub amount: f64,
    pub qty: f64,
    pub as_sent: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    Percentage,
    Fixed,
}

/// An invoice's discount, and the discount as sent.
#[derive(Debug, Clone)]
pub struct Discount {
    pub kind: DiscountKind,
    pub value: f64,
    pub as_sent: Map<String, Value>,
}

/// A checked invoice create.
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub name: String,
    pub business_details: Map<String, Value>,
    pub currency: String,
    pub items: Vec<InvoiceLine>,
    pub discount: Discount,
    /// Its `id` names a contact of the location.
    pub contact_details: Map<String, Value>,
    pub issue_date: String,
    /// None: the issue date.
    pub due_date: Option<String>,
    pub sent_to: Map<String, Value>,
    pub live_mode: bool,
    /// None: `INVOICE`.
    pub title: Option<String>,
    pub terms_notes: Option<String>,
}

/// A payment recorded against an invoice.
#[derive(Debug, Clone)]
pub struct InvoicePayment {
    /// `cash`, `card`, `cheque`, `bank_transfer` or `other`.
    pub mode: String,
    /// None: everything due.
    pub amount: Option<f64>,
    pub meta: Option<Map<String, Value>>,
}

/// Which invoices a list shows (none: any).
#[derive(Debug, Clone, Default)]
pub struct InvoiceQuery {
    pub status: Option<String>,
    pub contact_id: Option<String>,
    /// In the name, title or terms, ignoring case.
    pub search: Option<String>,
}

impl Discount {
    /// The discount on `subtotal`: a percentage (0 to 100) of it, or a
    /// fixed amount of at most all of it.
    fn on(&self, subtotal: f64) -> f64 {
        match self.kind {
            DiscountKind::Percentage => subtotal * self.value.clamp(0.0, 100.0) / 100.0,
            DiscountKind::Fixed => self.value.clamp(0.0, subtotal),
        }
    }
}

impl Location {
    pub fn invoice(&self, id: &str) -> Result<&Value, Error> {
        self.invoices.get(id).ok_or(Error::NotFound("Invoice"))
    }

    /// The invoices `query` selects, in creation order.
    pub fn invoices_matching(&self, query: &InvoiceQuery) -> Vec<&Value> {
        let needle = query.search.as_deref().map(str::to_lowercase);
        let finder = needle
            .as_deref()
            .map(|n| memchr::memmem::Finder::new(n.as_bytes()));
        // A search reads only the texts (in creation order, like the
        // table), then the rows it found.
        let candidates: Box<dyn Iterator<Item = &Value>> = match &finder {
            Some(finder) => Box::new(
                self.invoice_search_text
                    .iter()
                    .filter(|(_, text)| finder.find(text.as_bytes()).is_some())
                    .filter_map(|(id, _)| self.invoices.get(id)),
            ),
            None => Box::new(self.invoices.iter()),
        };
        candidates
            .filter(|i| {
                query
                    .status
                    .as_deref()
                    .is_none_or(|s| str_of(i, "status") == s)
            })
            .filter(|i| {
                query.contact_id.as_deref().is_none_or(|c| {
                    i.pointer("/contactDetails/id").and_then(Value::as_str) == Some(c)
                })
            })
            .collect()
    }
}

impl LocationMut<'_> {
    fn emit_invoice(&mut self, name: &'static str, invoice: &Value) {
        let mut payload = invoice.clone();
        set(&mut payload, "type", json!(name));
        set(&mut payload, "locationId", invoice["altId"].clone());
        self.emit(name, payload);
    }

    /// Creates a draft invoice for a contact of the location; fires
    /// `InvoiceCreate`.
    pub fn create_invoice(&mut self, new: NewInvoice) -> Result<Value, Error> {
        let contact_id = new
            .contact_details
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if self.contacts.get(&contact_id).is_none() {
            return Err(Error::UnknownReference {
                kind: "Contact",
                id: contact_id,
            });
        }
        let subtotal: f64 = new.items.iter().map(|i| i.amount * i.qty).sum();
        let discount = new.discount.on(subtotal);
        let total = round2(subtotal - discount);
        let id = sim_kit::ids::object_id();
        let number = self.next_invoice_number;
        self.location.next_invoice_number += 1;
        let now = now_iso();
        let items: Vec<Value> = new.items.into_iter().map(|i| i.as_sent).collect();
        let due_date = new.due_date.unwrap_or_else(|| new.issue_date.clone());
        let mut invoice = json!({
            "_id": id, "status": "draft", "liveMode": new.live_mode, "amountPaid": 0,
            "altId": self.id, "altType": "location", "name": new.name, "businessDetails": new.business_details,
            "invoiceNumber": number, "currency": new.currency, "contactDetails": new.contact_details,
            "issueDate": new.issue_date, "dueDate": due_date,
            "discount": new.discount.as_sent, "invoiceItems": items, "total": total,
            "title": new.title.unwrap_or_else(|| "INVOICE".into()), "amountDue": total,
            "totalSummary": {"subTotal": round2(subtotal), "discount": round2(discount), "tax": 0},
            "sentTo": new.sent_to, "createdAt": now, "updatedAt": now,
        });
        if let Some(t) = new.terms_notes {
            set(&mut invoice, "termsNotes", json!(t));
        }
        let search_text = ["name", "title", "termsNotes"]
            .map(|field| str_of(&invoice, field).to_lowercase())
            .join("\0");
        self.location
            .invoice_search_text
            .push((id.clone(), search_text));
        self.location.invoices.insert(id, invoice.clone());
        self.emit_invoice("InvoiceCreate", &invoice);
        Ok(invoice)
    }

    /// Records a payment of (by default) everything due, as a transaction;
    /// fires `InvoicePaid` or `InvoicePartiallyPaid`. Answers the invoice.
    pub fn pay_invoice(
        &mut self,
        invoice_id: &str,
        payment: InvoicePayment,
    ) -> Result<Value, Error> {
        let invoice = self
            .location
            .invoices
            .get_mut(invoice_id)
            .ok_or(Error::NotFound("Invoice"))?;
        let due = num_of(invoice, "amountDue");
        if str_of(invoice, "status") == "paid" || due <= 0.0 {
            return Err(Error::InvoiceAlreadyPaid);
        }
        let pay = round2(payment.amount.unwrap_or(due));
        if pay > due + 1e-9 {
            return Err(Error::Overpayment { amount: pay, due });
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
            &self.id,
            &contact,
            "invoice",
            invoice_id,
            "invoice",
            pay,
            str_of(&invoice, "currency"),
        );
        set(&mut txn, "paymentProviderType", json!(payment.mode));
        if let Some(m) = payment.meta {
            set(&mut txn, "entitySourceMeta", Value::Object(m));
        }
        self.location
            .transactions
            .insert(str_of(&txn, "_id").to_string(), txn);
        let name = if status == "paid" {
            "InvoicePaid"
        } else {
            "InvoicePartiallyPaid"
        };
        self.emit_invoice(name, &invoice);
        Ok(invoice)
    }
}
