//! Every HighLevel operation allybridge performs, with its method, path and
//! the scope the official specs' `security` blocks require, and which flow
//! needs which operations. `required_scopes` gives the least set of scopes
//! for the enabled flows and their modes: a flow that only observes needs
//! only read scopes.

use std::collections::BTreeSet;

use model::{Flow, FlowMode};

/// One HighLevel API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    ListCoupons,
    GetCoupon,
    CreateCoupon,
    UpdateCoupon,
    DeleteCoupon,
    ListProducts,
    GetProduct,
    CreateProduct,
    UpdateProduct,
    DeleteProduct,
    BulkEditProducts,
    BulkUpdateProducts,
    ListPrices,
    GetPrice,
    CreatePrice,
    UpdatePrice,
    DeletePrice,
    GetInventory,
    UpdateInventory,
    ListOrders,
    GetOrder,
    ListTransactions,
    UpsertContact,
    GetContact,
    SearchContacts,
    AddContactTags,
    AddContactNote,
    CreateInvoice,
    GetInvoice,
    ListInvoices,
    RecordInvoicePayment,
    MintLocationToken,
}

/// What the specs say about an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationInfo {
    /// A stable id, e.g. `ghl.coupons.list`.
    pub id: &'static str,
    pub method: &'static str,
    /// The path template as the spec writes it.
    pub path: &'static str,
    pub scope: &'static str,
    /// The spec file (under `apps/`) that defines it.
    pub spec: &'static str,
}

macro_rules! info {
    ($id:literal, $m:literal, $p:literal, $scope:literal, $spec:literal) => {
        OperationInfo {
            id: $id,
            method: $m,
            path: $p,
            scope: $scope,
            spec: $spec,
        }
    };
}

impl Operation {
    pub const ALL: [Operation; 32] = [
        Operation::ListCoupons,
        Operation::GetCoupon,
        Operation::CreateCoupon,
        Operation::UpdateCoupon,
        Operation::DeleteCoupon,
        Operation::ListProducts,
        Operation::GetProduct,
        Operation::CreateProduct,
        Operation::UpdateProduct,
        Operation::DeleteProduct,
        Operation::BulkEditProducts,
        Operation::BulkUpdateProducts,
        Operation::ListPrices,
        Operation::GetPrice,
        Operation::CreatePrice,
        Operation::UpdatePrice,
        Operation::DeletePrice,
        Operation::GetInventory,
        Operation::UpdateInventory,
        Operation::ListOrders,
        Operation::GetOrder,
        Operation::ListTransactions,
        Operation::UpsertContact,
        Operation::GetContact,
        Operation::SearchContacts,
        Operation::AddContactTags,
        Operation::AddContactNote,
        Operation::CreateInvoice,
        Operation::GetInvoice,
        Operation::ListInvoices,
        Operation::RecordInvoicePayment,
        Operation::MintLocationToken,
    ];

    pub fn info(self) -> OperationInfo {
        use Operation::*;
        match self {
            ListCoupons => info!(
                "ghl.coupons.list",
                "GET", "/payments/coupon/list", "payments/coupons.readonly", "payments"
            ),
            GetCoupon => info!(
                "ghl.coupons.get",
                "GET", "/payments/coupon", "payments/coupons.readonly", "payments"
            ),
            CreateCoupon => info!(
                "ghl.coupons.create",
                "POST", "/payments/coupon", "payments/coupons.write", "payments"
            ),
            UpdateCoupon => info!(
                "ghl.coupons.update",
                "PUT", "/payments/coupon", "payments/coupons.write", "payments"
            ),
            DeleteCoupon => info!(
                "ghl.coupons.delete",
                "DELETE", "/payments/coupon", "payments/coupons.write", "payments"
            ),
            ListProducts => info!(
                "ghl.products.list",
                "GET", "/products/", "products.readonly", "products"
            ),
            GetProduct => info!(
                "ghl.products.get",
                "GET", "/products/{productId}", "products.readonly", "products"
            ),
            CreateProduct => info!(
                "ghl.products.create",
                "POST", "/products/", "products.write", "products"
            ),
            UpdateProduct => info!(
                "ghl.products.update",
                "PUT", "/products/{productId}", "products.write", "products"
            ),
            DeleteProduct => info!(
                "ghl.products.delete",
                "DELETE", "/products/{productId}", "products.write", "products"
            ),
            // The spec gives bulkEdit no security block: the scope of its
            // sibling bulkUpdate, which the simulator asks for too.
            BulkEditProducts => info!(
                "ghl.products.bulk_edit",
                "POST", "/products/bulk-update/edit", "products.write", "products"
            ),
            BulkUpdateProducts => info!(
                "ghl.products.bulk_update",
                "POST", "/products/bulk-update", "products.write", "products"
            ),
            ListPrices => info!(
                "ghl.prices.list",
                "GET", "/products/{productId}/price", "products/prices.readonly", "products"
            ),
            GetPrice => info!(
                "ghl.prices.get",
                "GET",
                "/products/{productId}/price/{priceId}",
                "products/prices.readonly",
                "products"
            ),
            CreatePrice => info!(
                "ghl.prices.create",
                "POST", "/products/{productId}/price", "products/prices.write", "products"
            ),
            UpdatePrice => info!(
                "ghl.prices.update",
                "PUT", "/products/{productId}/price/{priceId}", "products/prices.write", "products"
            ),
            DeletePrice => info!(
                "ghl.prices.delete",
                "DELETE",
                "/products/{productId}/price/{priceId}",
                "products/prices.write",
                "products"
            ),
            GetInventory => info!(
                "ghl.inventory.list",
                "GET", "/products/inventory", "products/prices.readonly", "products"
            ),
            UpdateInventory => info!(
                "ghl.inventory.update",
                "POST", "/products/inventory", "products/prices.write", "products"
            ),
            ListOrders => info!(
                "ghl.orders.list",
                "GET", "/payments/orders", "payments/orders.readonly", "payments"
            ),
            GetOrder => info!(
                "ghl.orders.get",
                "GET", "/payments/orders/{orderId}", "payments/orders.readonly", "payments"
            ),
            ListTransactions => info!(
                "ghl.transactions.list",
                "GET", "/payments/transactions", "payments/transactions.readonly", "payments"
            ),
            UpsertContact => info!(
                "ghl.contacts.upsert",
                "POST", "/contacts/upsert", "contacts.write", "contacts"
            ),
            GetContact => info!(
                "ghl.contacts.get",
                "GET", "/contacts/{contactId}", "contacts.readonly", "contacts"
            ),
            SearchContacts => info!(
                "ghl.contacts.search",
                "POST", "/contacts/search", "contacts.readonly", "contacts"
            ),
            AddContactTags => info!(
                "ghl.contacts.add_tags",
                "POST", "/contacts/{contactId}/tags", "contacts.write", "contacts"
            ),
            AddContactNote => info!(
                "ghl.contacts.add_note",
                "POST", "/contacts/{contactId}/notes", "contacts.write", "contacts"
            ),
            CreateInvoice => info!(
                "ghl.invoices.create",
                "POST", "/invoices/", "invoices.write", "invoices"
            ),
            GetInvoice => info!(
                "ghl.invoices.get",
                "GET", "/invoices/{invoiceId}", "invoices.readonly", "invoices"
            ),
            ListInvoices => info!(
                "ghl.invoices.list",
                "GET", "/invoices/", "invoices.readonly", "invoices"
            ),
            RecordInvoicePayment => info!(
                "ghl.invoices.record_payment",
                "POST", "/invoices/{invoiceId}/record-payment", "invoices.write", "invoices"
            ),
            MintLocationToken => info!(
                "ghl.oauth.location_token",
                "POST", "/oauth/locationToken", "oauth.write", "oauth"
            ),
        }
    }

    /// The concrete path: the table's template with each `{name}` filled,
    /// in order, by `args` percent-encoded as a path segment. A template's
    /// placeholders and `args` always agree in number (a test checks each
    /// call site's operation); a missing argument leaves the segment empty,
    /// which HighLevel answers with a 404 rather than reaching another record.
    pub fn path_with(self, args: &[&str]) -> String {
        let template = self.info().path;
        let mut args = args.iter();
        let mut out = String::with_capacity(template.len() + 24);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if let Some(arg) = args.next() {
                out.push_str(&transport::path_segment(arg));
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        debug_assert!(
            args.next().is_none(),
            "{}: more arguments than placeholders",
            self.info().id
        );
        out
    }

    /// How many `{name}` placeholders the path has.
    pub fn path_params(self) -> usize {
        self.info().path.matches('{').count()
    }

    /// Whether repeating the operation after a lost answer could create a
    /// second record (a create, a payment, a note). The client retries these
    /// only when HighLevel refused them outright (429); the caller retries
    /// after looking the record up by its natural key.
    pub fn repeats_create(self) -> bool {
        matches!(
            self,
            Operation::CreateCoupon
                | Operation::CreateProduct
                | Operation::CreatePrice
                | Operation::CreateInvoice
                | Operation::RecordInvoicePayment
                | Operation::AddContactNote
        )
    }

    /// Whether the operation changes anything in HighLevel.
    pub fn is_write(self) -> bool {
        let info = self.info();
        info.method != "GET" && !matches!(self, Operation::SearchContacts)
    }

    /// The query parameters that name the location, as the spec lists them
    /// for this operation (`altType` carries `location`, the others the
    /// location id); empty where the location goes in the body or the
    /// token says it.
    pub fn location_query(self) -> &'static [&'static str] {
        use Operation::*;
        match self {
            ListCoupons | GetCoupon | GetInventory | ListTransactions | GetInvoice
            | ListInvoices => &["altId", "altType"],
            ListOrders | GetOrder => &["altId"],
            ListProducts | GetProduct | DeleteProduct | ListPrices | GetPrice | DeletePrice => {
                &["locationId"]
            }
            _ => &[],
        }
    }
}

/// The read `check` tries to see whether `scope` is granted: the first
/// read of the table with that scope and no path parameter, else the first
/// with one (tried with a made-up id: a 404 still shows the scope was
/// accepted). `None` for a scope no read has (a write scope cannot be
/// tried without writing).
pub fn probe_for(scope: &str) -> Option<Operation> {
    let reads = || {
        Operation::ALL
            .into_iter()
            .filter(move |op| !op.is_write() && op.info().scope == scope)
            .filter(|op| *op != Operation::SearchContacts)
    };
    reads()
        .find(|op| op.path_params() == 0)
        .or_else(|| reads().next())
}

/// The operations a flow performs, reads and writes.
pub fn operations_for(flow: Flow) -> &'static [Operation] {
    use Operation::*;
    match flow {
        Flow::CouponsToAccessally => &[ListCoupons, GetCoupon, ListProducts, GetProduct],
        Flow::ProductsToAccessally => {
            &[ListProducts, GetProduct, ListPrices, GetPrice, GetInventory]
        }
        Flow::ProductsToHighlevel => &[
            ListProducts,
            GetProduct,
            ListPrices,
            GetPrice,
            GetInventory,
            CreateProduct,
            UpdateProduct,
            DeleteProduct,
            BulkEditProducts,
            BulkUpdateProducts,
            CreatePrice,
            UpdatePrice,
            DeletePrice,
            UpdateInventory,
        ],
        Flow::OrdersToHighlevel => &[
            SearchContacts,
            GetContact,
            UpsertContact,
            AddContactTags,
            AddContactNote,
            ListInvoices,
            GetInvoice,
            CreateInvoice,
            RecordInvoicePayment,
            ListTransactions,
        ],
        Flow::OrdersToAccessally => &[ListOrders, GetOrder, GetContact],
    }
}

/// The least set of scopes for the flows in their modes: write scopes only
/// for flows in `write` mode, nothing for flows that are `off`.
pub fn required_scopes(flows: &[(Flow, FlowMode)]) -> BTreeSet<&'static str> {
    let mut scopes = BTreeSet::new();
    for (flow, mode) in flows {
        for op in operations_for(*flow) {
            let needed = match mode {
                FlowMode::Off => false,
                FlowMode::Observe => !op.is_write(),
                FlowMode::Write => true,
            };
            if needed {
                scopes.insert(op.info().scope);
            }
        }
    }
    scopes
}

/// The scopes `flow` needs when it writes beyond those it observes with:
/// what a switch from observe to write must be granted (a new OAuth
/// consent, or more scopes on a private token). Empty for a flow that
/// writes only to AccessAlly.
pub fn scopes_to_write(flow: Flow) -> BTreeSet<&'static str> {
    let observe = required_scopes(&[(flow, FlowMode::Observe)]);
    required_scopes(&[(flow, FlowMode::Write)])
        .into_iter()
        .filter(|s| !observe.contains(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_filled_from_the_table_with_encoded_segments() {
        assert_eq!(Operation::ListProducts.path_with(&[]), "/products/");
        assert_eq!(
            Operation::GetProduct.path_with(&["p 1/x"]),
            "/products/p%201%2Fx"
        );
        assert_eq!(
            Operation::UpdatePrice.path_with(&["p1", "pr?2"]),
            "/products/p1/price/pr%3F2"
        );
        assert_eq!(
            Operation::RecordInvoicePayment.path_with(&["inv-1"]),
            "/invoices/inv-1/record-payment"
        );
    }

    #[test]
    fn each_readable_scope_is_probed_by_a_read_of_that_scope() {
        assert_eq!(
            probe_for("products.readonly"),
            Some(Operation::ListProducts)
        );
        assert_eq!(
            probe_for("products/prices.readonly"),
            Some(Operation::GetInventory)
        );
        assert_eq!(probe_for("contacts.readonly"), Some(Operation::GetContact));
        assert_eq!(
            probe_for("invoices.readonly"),
            Some(Operation::ListInvoices)
        );
        assert_eq!(probe_for("products.write"), None);
        for op in Operation::ALL {
            if let Some(probe) = probe_for(op.info().scope) {
                assert!(!probe.is_write());
                assert_eq!(probe.info().scope, op.info().scope);
            }
        }
    }

    #[test]
    fn writing_needs_write_scopes_only_where_highlevel_is_written() {
        assert!(scopes_to_write(Flow::CouponsToAccessally).is_empty());
        let products = scopes_to_write(Flow::ProductsToHighlevel);
        assert!(products.contains("products.write"), "{products:?}");
        assert!(products.iter().all(|s| !s.ends_with(".readonly")));
        assert!(scopes_to_write(Flow::OrdersToHighlevel).contains("invoices.write"));
    }

    #[test]
    fn observe_mode_needs_only_read_scopes() {
        let all_write: Vec<(Flow, FlowMode)> =
            Flow::ALL.iter().map(|f| (*f, FlowMode::Write)).collect();
        let observe: Vec<(Flow, FlowMode)> =
            Flow::ALL.iter().map(|f| (*f, FlowMode::Observe)).collect();
        let w = required_scopes(&all_write);
        let o = required_scopes(&observe);
        assert!(o.iter().all(|s| s.ends_with(".readonly")), "{o:?}");
        assert!(o.is_subset(&w));
        assert!(w.contains("invoices.write") && w.contains("products.write"));
        assert!(
            !w.contains("payments/coupons.write"),
            "allybridge never writes HighLevel coupons"
        );
        assert!(!w.contains("oauth.write"));
        assert!(required_scopes(&[(Flow::CouponsToAccessally, FlowMode::Off)]).is_empty());
        assert_eq!(
            required_scopes(&[(Flow::CouponsToAccessally, FlowMode::Write)]),
            BTreeSet::from(["payments/coupons.readonly", "products.readonly"])
        );
    }

    #[test]
    fn bulk_writes_need_the_write_scope_of_the_products_flow() {
        let ops = operations_for(Flow::ProductsToHighlevel);
        for op in [
            Operation::BulkEditProducts,
            Operation::BulkUpdateProducts,
            Operation::UpdateInventory,
        ] {
            assert!(ops.contains(&op), "{op:?}");
            assert!(op.is_write() && !op.repeats_create(), "{op:?}");
        }
        let write = required_scopes(&[(Flow::ProductsToHighlevel, FlowMode::Write)]);
        assert!(write.contains(Operation::BulkEditProducts.info().scope));
        assert!(write.contains(Operation::BulkUpdateProducts.info().scope));
        let observe = required_scopes(&[(Flow::ProductsToHighlevel, FlowMode::Observe)]);
        assert!(!observe.contains("products.write"), "{observe:?}");
        assert_eq!(
            required_scopes(&[(Flow::ProductsToAccessally, FlowMode::Write)]),
            BTreeSet::from(["products.readonly", "products/prices.readonly"]),
            "reading HighLevel's catalog needs no bulk write"
        );
    }

    #[test]
    fn ids_are_unique() {
        let ids: BTreeSet<&str> = Operation::ALL.iter().map(|o| o.info().id).collect();
        assert_eq!(ids.len(), Operation::ALL.len());
    }
}
