//! The catalog: products, their prices and the prices' inventory, and
//! every rule that changes them. Every change of a product or a price,
//! whichever endpoint asks for it (`PUT` of one record, inventory, the bulk
//! edit and the bulk update), goes through one edit ([`LocationMut::edit_product`],
//! [`LocationMut::edit_price`], [`LocationMut::remove_product`]) and fires
//! the same events: `ProductUpdate`, `PriceUpdate` (and `ProductCreate`,
//! `PriceCreate`, `ProductDelete`, `PriceDelete`). A `PUT` replaces the
//! record (the optional text fields it leaves out are cleared); inventory
//! and the bulk endpoints change only the fields they carry.
//!
//! The bulk changes check everything before changing anything: one unknown
//! product or price, or a price a rule would take below zero, refuses all
//! of it. HighLevel does not document which webhooks they fire; the
//! simulator fires what the single-record endpoints fire for the same
//! change (a bulk edit entry that carries only prices fires no
//! `ProductUpdate`; the prices a bulk delete removes with their product
//! fire no `PriceDelete`, as with a single delete). Amounts are HighLevel's
//! decimal amounts (major units, as written); price rules work in cents.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Number, Value};

use super::{Error, Location, LocationMut, any_contains, now_iso, to_json};

/// Sets every field `changes` carries (`Some`) on `target`.
macro_rules! carry_over {
    ($target:expr, $changes:expr, $($field:ident),+ $(,)?) => {
        $(if $changes.$field.is_some() {
            $target.$field = $changes.$field;
        })+
    };
}

/// The fields any product write may carry (create, `PUT`, bulk edit and
/// bulk update); `None` is "not carried".
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_descriptor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_tax_category_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_in_store: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_taxes_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_inclusive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_label_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medias: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seo: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<Map<String, Value>>,
    /// Tax ids (create, `PUT`) or tax objects (bulk edit), as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxes: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<Value>>,
}

impl ProductFields {
    fn carry_over(&mut self, changes: ProductFields) {
        carry_over!(
            self,
            changes,
            name,
            product_type,
            description,
            image,
            slug,
            statement_descriptor,
            automatic_tax_category_id,
            available_in_store,
            is_taxes_enabled,
            tax_inclusive,
            is_label_enabled,
            collection_ids,
            medias,
            seo,
            label,
            taxes,
            variants,
        );
    }

    /// What a `PUT` clears when it leaves them out.
    fn clear_replaceable(&mut self) {
        self.description = None;
        self.image = None;
        self.statement_descriptor = None;
        self.slug = None;
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    #[serde(rename = "_id")]
    pub id: String,
    pub location_id: String,
    pub user_id: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub fields: ProductFields,
}

impl Product {
    pub fn name(&self) -> &str {
        self.fields.name.as_deref().unwrap_or("")
    }
}

/// The slug a product is also found by.
pub(super) fn slug_of(product: &Product) -> Option<&str> {
    product.fields.slug.as_deref()
}

/// The fields any price write may carry (create, `PUT`, inventory, bulk
/// edit and bulk update); `None` is "not carried". Numbers stay as written
/// (`3` stays `3`, not `3.0`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `one_time` or `recurring`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Upper-case ISO 4217.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trial_period: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cycles: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_fee: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_quantity: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_inventory: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_out_of_stock_purchases: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_digital_product: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_options: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_option_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub membership_offers: Option<Vec<Value>>,
}

impl PriceFields {
    fn carry_over(&mut self, changes: PriceFields) {
        carry_over!(
            self,
            changes,
            name,
            kind,
            currency,
            amount,
            trial_period,
            total_cycles,
            setup_fee,
            compare_at_price,
            available_quantity,
            track_inventory,
            allow_out_of_stock_purchases,
            is_digital_product,
            recurring,
            description,
            sku,
            user_id,
            shipping_options,
            variant_option_ids,
            membership_offers,
        );
    }

    /// What a `PUT` clears when it leaves them out.
    fn clear_replaceable(&mut self) {
        self.recurring = None;
        self.description = None;
        self.sku = None;
        self.trial_period = None;
        self.total_cycles = None;
        self.setup_fee = None;
        self.compare_at_price = None;
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    #[serde(rename = "_id")]
    pub id: String,
    pub location_id: String,
    /// The product's id.
    pub product: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub fields: PriceFields,
}

impl Price {
    pub fn amount(&self) -> f64 {
        self.fields
            .amount
            .as_ref()
            .and_then(Number::as_f64)
            .unwrap_or(0.0)
    }

    pub fn currency(&self) -> &str {
        self.fields.currency.as_deref().unwrap_or("")
    }

    pub fn tracks_inventory(&self) -> bool {
        self.fields.track_inventory == Some(true)
    }

    /// Whether `qty` more can be sold: always, unless the price tracks
    /// inventory, has fewer left and refuses out-of-stock purchases.
    pub fn can_sell(&self, qty: u32) -> bool {
        !self.tracks_inventory()
            || self.fields.allow_out_of_stock_purchases == Some(true)
            || self.available_quantity() >= f64::from(qty)
    }

    fn available_quantity(&self) -> f64 {
        let quantity = self.fields.available_quantity.as_ref();
        quantity.and_then(Number::as_f64).unwrap_or(0.0)
    }

    /// Takes `qty` sold out of a tracked stock (never below zero).
    fn sell(&mut self, qty: u32) {
        if self.tracks_inventory() {
            let left = (self.available_quantity() - f64::from(qty)).max(0.0);
            self.fields.available_quantity = decimal(left);
        }
    }
}

/// The product a price belongs to.
pub(super) fn product_of(price: &Price) -> Option<&str> {
    Some(&price.product)
}

/// A number as JSON writes it (none for NaN or infinity).
fn decimal(x: f64) -> Option<Number> {
    Number::from_f64(x)
}

/// A price's stock, as `GET /products/inventory` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub available_quantity: Number,
    pub sku: String,
    pub allow_out_of_stock_purchases: bool,
    pub product: String,
    pub updated_at: String,
    pub product_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// One price's stock change (`POST /products/inventory`).
#[derive(Debug, Clone)]
pub struct StockChange {
    pub price_id: String,
    pub available_quantity: Option<Number>,
    pub allow_out_of_stock_purchases: Option<bool>,
}

/// One product of a bulk edit: its id (or slug), its own fields, and its
/// prices' (by id).
#[derive(Debug, Clone)]
pub struct ProductEdit {
    pub id: String,
    pub fields: ProductFields,
    pub prices: Vec<(String, PriceFields)>,
}

/// The most products and prices, counted together, one bulk edit may carry
/// (the spec: "max 30 entities", "the total count includes all prices
/// within each product").
pub const BULK_EDIT_MAX_ENTITIES: usize = 30;

/// Refuses a bulk edit of more than [`BULK_EDIT_MAX_ENTITIES`] products
/// and prices.
pub fn check_bulk_edit_size(edits: &[ProductEdit]) -> Result<(), Error> {
    let entities: usize = edits.iter().map(|e| 1 + e.prices.len()).sum();
    if entities > BULK_EDIT_MAX_ENTITIES {
        return Err(Error::BulkEditTooLarge { entities });
    }
    Ok(())
}

/// How a bulk price rule changes an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceRuleKind {
    IncreaseByAmount,
    ReduceByAmount,
    SetNewPrice,
    IncreaseByPercentage,
    ReduceByPercentage,
}

/// A `PriceUpdateField`: how every price of the products changes.
#[derive(Debug, Clone, Copy)]
pub struct PriceRule {
    pub kind: PriceRuleKind,
    pub value: f64,
    pub round_to_whole: bool,
}

/// An amount of the wire (major units) in minor units. HighLevel's amounts
/// carry at most two decimals.
fn to_minor(major: f64) -> i64 {
    (major * 100.0).round() as i64
}

/// Minor units as the wire writes them.
fn to_major(minor: i64) -> Option<Number> {
    decimal(minor as f64 / 100.0)
}

impl PriceRule {
    /// The new amount, in minor units, of a price of `amount` minor units
    /// (negative when the rule takes it below zero).
    fn apply(&self, amount: i64) -> i64 {
        let share = || (amount as f64 * self.value / 100.0).round() as i64;
        let new = match self.kind {
            PriceRuleKind::IncreaseByAmount => amount + to_minor(self.value),
            PriceRuleKind::ReduceByAmount => amount - to_minor(self.value),
            PriceRuleKind::SetNewPrice => to_minor(self.value),
            PriceRuleKind::IncreaseByPercentage => amount + share(),
            PriceRuleKind::ReduceByPercentage => amount - share(),
        };
        if self.round_to_whole {
            let whole = new.div_euclid(100);
            (whole + i64::from(new.rem_euclid(100) >= 50)) * 100
        } else {
            new
        }
    }

    /// The new value of `current` (none: the price has no such field, which
    /// only `SET_NEW_PRICE` gives it), or none when the rule leaves it.
    fn new_value(
        &self,
        current: Option<&Number>,
        field: &'static str,
        price: &str,
    ) -> Result<Option<Number>, Error> {
        let current = current.and_then(Number::as_f64);
        if current.is_none() && self.kind != PriceRuleKind::SetNewPrice {
            return Ok(None);
        }
        let new = self.apply(to_minor(current.unwrap_or(0.0)));
        if new < 0 {
            return Err(Error::BelowZero {
                field,
                price: price.to_string(),
            });
        }
        Ok(to_major(new))
    }
}

/// The one change `POST /products/bulk-update` makes to every product it
/// names.
#[derive(Debug, Clone)]
pub enum BulkChange {
    /// A rule for the amounts, one for the compare-at prices (at least one).
    Prices {
        amount: Option<PriceRule>,
        compare_at_price: Option<PriceRule>,
    },
    Availability(bool),
    Collections(Vec<String>),
    /// Upper-case ISO 4217.
    Currency(String),
    Delete,
}

impl Location {
    /// The product with this id, or else this slug.
    pub fn product(&self, id_or_slug: &str) -> Result<&Product, Error> {
        self.products
            .get(id_or_slug)
            .or_else(|| self.products.group(id_or_slug).next())
            .ok_or(Error::NotFound("Product"))
    }

    /// The products whose name contains `search`, limited to `ids` when
    /// given, in creation order.
    pub fn products_matching<'a>(
        &'a self,
        search: Option<&'a str>,
        ids: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a Product> + 'a {
        self.products
            .iter()
            .filter(move |p| any_contains(&[p.name()], search))
            .filter(move |p| ids.is_none_or(|ids| ids.contains(&p.id)))
    }

    /// The prices of a product (by id or slug), limited to `ids` when given.
    pub fn prices_of<'a>(
        &'a self,
        product: &str,
        ids: Option<&'a [String]>,
    ) -> Result<impl Iterator<Item = &'a Price> + 'a, Error> {
        let product = self.product(product)?;
        Ok(self
            .prices
            .group(&product.id)
            .filter(move |p| ids.is_none_or(|ids| ids.contains(&p.id))))
    }

    /// The price `price_id` of a product (by id or slug).
    pub fn price(&self, product: &str, price_id: &str) -> Result<&Price, Error> {
        let product = self.product(product)?;
        self.prices
            .get(price_id)
            .filter(|p| p.product == product.id)
            .ok_or(Error::NotFound("Price"))
    }

    /// The stock of every price that tracks inventory, whose name, product
    /// name or SKU contains `search`.
    pub fn inventory(&self, search: Option<&str>) -> Vec<InventoryItem> {
        self.prices
            .iter()
            .filter(|p| p.tracks_inventory())
            .map(|price| {
                let product = self.products.get(&price.product);
                InventoryItem {
                    id: price.id.clone(),
                    name: price.fields.name.clone().unwrap_or_default(),
                    available_quantity: price.fields.available_quantity.clone().unwrap_or(0.into()),
                    sku: price.fields.sku.clone().unwrap_or_default(),
                    allow_out_of_stock_purchases: price.fields.allow_out_of_stock_purchases
                        == Some(true),
                    product: price.product.clone(),
                    updated_at: price.updated_at.clone(),
                    product_name: product.map(|p| p.name().to_string()).unwrap_or_default(),
                    image: product.and_then(|p| p.fields.image.clone()),
                }
            })
            .filter(|i| any_contains(&[&i.name, &i.product_name, &i.sku], search))
            .collect()
    }

    /// The ids of `wanted` (ids or slugs), each once, in order; an unknown
    /// one refuses them all.
    fn resolve_products(&self, wanted: &[String]) -> Result<Vec<String>, Error> {
        let mut ids = Vec::with_capacity(wanted.len());
        let mut seen = HashSet::new();
        for w in wanted {
            let id = self.product(w).map_err(|_| Error::UnknownReference {
                kind: "Product",
                id: w.clone(),
            })?;
            if seen.insert(id.id.clone()) {
                ids.push(id.id.clone());
            }
        }
        Ok(ids)
    }

    fn price_ids_of(&self, product_id: &str) -> Vec<String> {
        self.prices
            .group(product_id)
            .map(|p| p.id.clone())
            .collect()
    }
}

impl LocationMut<'_> {
    pub fn create_product(&mut self, fields: ProductFields, user_id: &str) -> Product {
        let now = now_iso();
        let mut product = Product {
            id: sim_kit::ids::object_id(),
            location_id: self.id.clone(),
            user_id: user_id.to_string(),
            created_at: now.clone(),
            updated_at: now,
            fields: ProductFields {
                variants: Some(Vec::new()),
                medias: Some(Vec::new()),
                available_in_store: Some(false),
                ..ProductFields::default()
            },
        };
        product.fields.carry_over(fields);
        self.location
            .products
            .insert(product.id.clone(), product.clone());
        self.emit("ProductCreate", to_json(&product));
        product
    }

    /// A `PUT`: the product replaced by `fields`. `price_ids`, when given,
    /// must all be prices of this product.
    pub fn replace_product(
        &mut self,
        id_or_slug: &str,
        fields: ProductFields,
        price_ids: Option<&[String]>,
    ) -> Result<Product, Error> {
        let id = self.product(id_or_slug)?.id.clone();
        if let Some(bad) = price_ids
            .into_iter()
            .flatten()
            .find(|p| self.prices.get(p).is_none_or(|price| price.product != id))
        {
            return Err(Error::PriceOfAnotherProduct {
                price: bad.clone(),
                product: id,
            });
        }
        self.edit_product(&id, true, fields)
    }

    /// Deletes a product (by id or slug) and its prices.
    pub fn delete_product(&mut self, id_or_slug: &str) -> Result<(), Error> {
        let id = self.product(id_or_slug)?.id.clone();
        self.remove_product(&id)
    }

    pub fn create_price(
        &mut self,
        product: &str,
        fields: PriceFields,
        user_id: &str,
    ) -> Result<Price, Error> {
        let product = self.product(product)?.id.clone();
        let now = now_iso();
        let mut price = Price {
            id: sim_kit::ids::object_id(),
            location_id: self.id.clone(),
            product,
            created_at: now.clone(),
            updated_at: now,
            fields: PriceFields {
                user_id: Some(user_id.to_string()),
                track_inventory: Some(false),
                allow_out_of_stock_purchases: Some(false),
                ..PriceFields::default()
            },
        };
        price.fields.carry_over(fields);
        self.location.prices.insert(price.id.clone(), price.clone());
        self.emit_price("PriceCreate", &price);
        Ok(price)
    }

    /// A `PUT`: the price replaced by `fields`.
    pub fn replace_price(
        &mut self,
        product: &str,
        price_id: &str,
        fields: PriceFields,
    ) -> Result<Price, Error> {
        self.price(product, price_id)?;
        self.edit_price(price_id, true, fields)
    }

    pub fn delete_price(&mut self, product: &str, price_id: &str) -> Result<(), Error> {
        self.price(product, price_id)?;
        let price = self
            .location
            .prices
            .remove(price_id)
            .ok_or(Error::NotFound("Price"))?;
        self.emit_price("PriceDelete", &price);
        Ok(())
    }

    /// Many prices' stock at once: each changes the fields it carries and
    /// turns `trackInventory` on. An unknown price refuses them all.
    pub fn update_inventory(&mut self, changes: Vec<StockChange>) -> Result<(), Error> {
        if let Some(bad) = changes
            .iter()
            .find(|c| self.prices.get(&c.price_id).is_none())
        {
            return Err(Error::UnknownReference {
                kind: "Price",
                id: bad.price_id.clone(),
            });
        }
        for change in changes {
            let fields = PriceFields {
                available_quantity: change.available_quantity,
                allow_out_of_stock_purchases: change.allow_out_of_stock_purchases,
                track_inventory: Some(true),
                ..PriceFields::default()
            };
            self.edit_price(&change.price_id, false, fields)?;
        }
        Ok(())
    }

    /// Products and their prices edited as single updates would edit them,
    /// each changing only the fields it carries (a product entry carrying
    /// no field of its own changes, and fires, nothing for the product).
    /// Answers how many products were named.
    pub fn bulk_edit(&mut self, edits: Vec<ProductEdit>) -> Result<usize, Error> {
        let mut resolved = Vec::with_capacity(edits.len());
        for edit in &edits {
            let id = self
                .product(&edit.id)
                .map_err(|_| Error::UnknownReference {
                    kind: "Product",
                    id: edit.id.clone(),
                })?
                .id
                .clone();
            if let Some((bad, _)) = edit
                .prices
                .iter()
                .find(|(p, _)| self.prices.get(p).is_none_or(|x| x.product != id))
            {
                return Err(Error::PriceNotInProduct {
                    price: bad.clone(),
                    product: id,
                });
            }
            resolved.push(id);
        }
        let updated = edits.len();
        for (edit, id) in edits.into_iter().zip(resolved) {
            if has_any_field(&edit.fields) {
                self.edit_product(&id, false, edit.fields)?;
            }
            for (price_id, fields) in edit.prices {
                self.edit_price(&price_id, false, fields)?;
            }
        }
        Ok(updated)
    }

    /// One change to every product of `product_ids` (ids or slugs; one
    /// named twice changes once).
    pub fn bulk_update(&mut self, product_ids: &[String], change: BulkChange) -> Result<(), Error> {
        let ids = self.resolve_products(product_ids)?;
        match change {
            BulkChange::Prices {
                amount,
                compare_at_price,
            } => {
                let mut edits = Vec::new();
                for price in ids.iter().flat_map(|id| self.prices.group(id)) {
                    let mut fields = PriceFields::default();
                    if let Some(rule) = amount {
                        fields.amount =
                            rule.new_value(price.fields.amount.as_ref(), "amount", &price.id)?;
                    }
                    if let Some(rule) = compare_at_price {
                        fields.compare_at_price = rule.new_value(
                            price.fields.compare_at_price.as_ref(),
                            "compareAtPrice",
                            &price.id,
                        )?;
                    }
                    if fields.amount.is_some() || fields.compare_at_price.is_some() {
                        edits.push((price.id.clone(), fields));
                    }
                }
                for (price_id, fields) in edits {
                    self.edit_price(&price_id, false, fields)?;
                }
            }
            BulkChange::Currency(currency) => {
                let price_ids: Vec<String> =
                    ids.iter().flat_map(|id| self.price_ids_of(id)).collect();
                for price_id in price_ids {
                    let fields = PriceFields {
                        currency: Some(currency.clone()),
                        ..PriceFields::default()
                    };
                    self.edit_price(&price_id, false, fields)?;
                }
            }
            BulkChange::Availability(available) => {
                for id in &ids {
                    let fields = ProductFields {
                        available_in_store: Some(available),
                        ..ProductFields::default()
                    };
                    self.edit_product(id, false, fields)?;
                }
            }
            BulkChange::Collections(collection_ids) => {
                for id in &ids {
                    let fields = ProductFields {
                        collection_ids: Some(collection_ids.clone()),
                        ..ProductFields::default()
                    };
                    self.edit_product(id, false, fields)?;
                }
            }
            BulkChange::Delete => {
                for id in &ids {
                    self.remove_product(id)?;
                }
            }
        }
        Ok(())
    }

    /// Changes one product as every product update does: the replaceable
    /// fields cleared first when `replace`, `changes` carried over,
    /// `updatedAt` stamped, the record replaced whole (so the slug index
    /// follows a new slug), and `ProductUpdate` fired.
    pub fn edit_product(
        &mut self,
        id: &str,
        replace: bool,
        changes: ProductFields,
    ) -> Result<Product, Error> {
        let mut product = self
            .products
            .get(id)
            .cloned()
            .ok_or(Error::NotFound("Product"))?;
        if replace {
            product.fields.clear_replaceable();
        }
        product.fields.carry_over(changes);
        product.updated_at = now_iso();
        self.location
            .products
            .insert(id.to_string(), product.clone());
        self.emit("ProductUpdate", to_json(&product));
        Ok(product)
    }

    /// Changes one price as every price update does: the replaceable
    /// fields cleared first when `replace`, `changes` carried over,
    /// `updatedAt` stamped, and `PriceUpdate` fired.
    pub fn edit_price(
        &mut self,
        price_id: &str,
        replace: bool,
        changes: PriceFields,
    ) -> Result<Price, Error> {
        let price = self
            .location
            .prices
            .get_mut(price_id)
            .ok_or(Error::NotFound("Price"))?;
        if replace {
            price.fields.clear_replaceable();
        }
        price.fields.carry_over(changes);
        price.updated_at = now_iso();
        let price = price.clone();
        self.emit_price("PriceUpdate", &price);
        Ok(price)
    }

    /// Deletes a product and its prices and fires `ProductDelete` (no
    /// `PriceDelete` for the prices that go with it).
    pub fn remove_product(&mut self, id: &str) -> Result<(), Error> {
        let product = self
            .location
            .products
            .remove(id)
            .ok_or(Error::NotFound("Product"))?;
        for price_id in self.price_ids_of(id) {
            self.location.prices.remove(&price_id);
        }
        self.emit("ProductDelete", to_json(&product));
        Ok(())
    }

    /// Takes `qty` sold of a price out of its stock, when it tracks one.
    pub fn sell(&mut self, price_id: &str, qty: u32) {
        if let Some(price) = self.location.prices.get_mut(price_id) {
            price.sell(qty);
        }
    }

    /// Fires a price event. PriceCreate carries the price type as
    /// `priceType`, PriceUpdate and PriceDelete as `type`, as documented.
    fn emit_price(&mut self, name: &'static str, price: &Price) {
        let mut payload = to_json(price);
        if name == "PriceCreate"
            && let Value::Object(map) = &mut payload
            && let Some(t) = map.remove("type")
        {
            map.insert("priceType".into(), t);
        }
        self.emit(name, payload);
    }
}

/// Whether a bulk edit entry carries any field of the product itself.
fn has_any_field(fields: &ProductFields) -> bool {
    to_json(fields).as_object().is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(kind: PriceRuleKind, value: f64, round_to_whole: bool) -> PriceRule {
        PriceRule {
            kind,
            value,
            round_to_whole,
        }
    }

    #[test]
    fn price_rules_work_in_minor_units() {
        use PriceRuleKind::*;
        assert_eq!(rule(IncreaseByAmount, 0.1, false).apply(1999), 2009);
        assert_eq!(rule(ReduceByAmount, 20.0, false).apply(1999), -1);
        assert_eq!(rule(SetNewPrice, 12.34, false).apply(1999), 1234);
        // 10 % of 19.99 is 1.999, rounded to the cent.
        assert_eq!(rule(IncreaseByPercentage, 10.0, false).apply(1999), 2199);
        assert_eq!(rule(ReduceByPercentage, 12.5, false).apply(1000), 875);
        assert_eq!(rule(ReduceByPercentage, 12.5, true).apply(1000), 900);
        assert_eq!(rule(IncreaseByAmount, 0.49, true).apply(1000), 1000);
        assert_eq!(rule(IncreaseByAmount, 0.5, true).apply(1000), 1100);
        assert_eq!(json!(to_major(3905)), json!(39.05));
        assert_eq!(to_minor(0.29), 29, "0.29 * 100 is 28.999…");
    }
}
