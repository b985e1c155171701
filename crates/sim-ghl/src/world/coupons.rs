//! Coupons: the record, the status HighLevel derives from its dates and
//! usage, and the rules of creating, replacing (a `PUT` replaces the whole
//! coupon) and deleting one. Codes are unique per location,
//! case-insensitively, and the products a coupon is restricted to must
//! exist. HighLevel fires no webhook for coupons: they must be polled.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::{Error, Location, LocationMut, any_contains, now_iso};

/// What HighLevel derives from a coupon's dates and usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CouponStatus {
    Scheduled,
    Active,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscountType {
    Percentage,
    Amount,
}

/// An ISO 8601 date as the client wrote it (answers repeat it verbatim).
#[derive(Debug, Clone, PartialEq)]
pub struct IsoDate {
    written: String,
    instant: DateTime<FixedOffset>,
}

impl IsoDate {
    pub fn parse(written: &str) -> Option<Self> {
        let instant = DateTime::parse_from_rfc3339(written).ok()?;
        Some(Self {
            written: written.to_string(),
            instant,
        })
    }
}

impl Serialize for IsoDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.written)
    }
}

/// What a coupon create or `PUT` sets (a `PUT` replaces them all, so an
/// end date or usage limit it leaves out is removed).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponFields {
    pub name: String,
    pub code: String,
    pub discount_type: DiscountType,
    pub discount_value: f64,
    pub start_date: IsoDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<IsoDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<f64>,
    pub product_ids: Vec<String>,
    pub apply_to_future_payments: bool,
    /// As sent; none stands for `{"type": "forever"}`.
    #[serde(serialize_with = "config_or_forever")]
    pub apply_to_future_payments_config: Option<Map<String, Value>>,
    /// A boolean in requests, a number in answers (0 = unlimited, 1 = once
    /// per customer).
    #[serde(serialize_with = "flag_as_number")]
    pub limit_per_customer: bool,
}

/// A coupon as HighLevel stores it (`status` is derived, not stored).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    #[serde(rename = "_id")]
    pub id: String,
    pub alt_id: String,
    pub alt_type: &'static str,
    pub user_id: String,
    pub usage_count: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(flatten)]
    pub terms: CouponFields,
}

fn config_or_forever<S: Serializer>(
    config: &Option<Map<String, Value>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match config {
        Some(config) => config.serialize(s),
        None => json!({"type": "forever"}).serialize(s),
    }
}

fn flag_as_number<S: Serializer>(flag: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*flag))
}

impl Coupon {
    /// Scheduled before its start, expired after its end or once used up,
    /// active otherwise.
    pub fn status(&self) -> CouponStatus {
        let now = Utc::now();
        if self.terms.start_date.instant > now {
            return CouponStatus::Scheduled;
        }
        if self
            .terms
            .end_date
            .as_ref()
            .is_some_and(|e| e.instant < now)
        {
            return CouponStatus::Expired;
        }
        if self
            .terms
            .usage_limit
            .is_some_and(|limit| limit > 0.0 && self.usage_count as f64 >= limit)
        {
            return CouponStatus::Expired;
        }
        CouponStatus::Active
    }

    pub fn has_code(&self, code: &str) -> bool {
        self.terms.code.eq_ignore_ascii_case(code)
    }

    /// Whether the coupon applies to `product_id` (a coupon restricted to
    /// no product applies to all).
    pub fn applies_to(&self, product_id: &str) -> bool {
        self.terms.product_ids.is_empty() || self.terms.product_ids.iter().any(|p| p == product_id)
    }

    /// The discount on `eligible`, the amount of the items it applies to.
    pub fn discount_on(&self, eligible: f64) -> f64 {
        match self.terms.discount_type {
            DiscountType::Percentage => eligible * self.terms.discount_value / 100.0,
            DiscountType::Amount => self.terms.discount_value.min(eligible),
        }
    }
}

impl Location {
    /// The coupons of `status` (none: any) whose name or code contains
    /// `search`, in creation order.
    pub fn coupons_matching<'a>(
        &'a self,
        status: Option<CouponStatus>,
        search: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Coupon> + 'a {
        self.coupons
            .iter()
            .filter(move |c| status.is_none_or(|s| c.status() == s))
            .filter(move |c| any_contains(&[&c.terms.name, &c.terms.code], search))
    }

    /// The coupon with this id, or (without an id) this code; with both,
    /// the coupon `id` only if it has this code.
    pub fn coupon(&self, id: Option<&str>, code: Option<&str>) -> Result<&Coupon, Error> {
        let code_matches = |c: &&Coupon| code.is_none_or(|k| c.has_code(k));
        match id {
            Some(id) => self.coupons.get(id).filter(code_matches),
            None => self.coupons.iter().find(code_matches),
        }
        .ok_or(Error::NotFound("Coupon"))
    }

    pub fn coupon_by_code(&self, code: &str) -> Option<&Coupon> {
        self.coupons.iter().find(|c| c.has_code(code))
    }

    /// Refuses a code another coupon (not `except_id`) has, or a product
    /// restriction naming an unknown product.
    fn check_coupon(&self, fields: &CouponFields, except_id: Option<&str>) -> Result<(), Error> {
        if self
            .coupons
            .iter()
            .any(|c| c.has_code(&fields.code) && Some(c.id.as_str()) != except_id)
        {
            return Err(Error::CouponCodeTaken(fields.code.clone()));
        }
        if let Some(p) = fields
            .product_ids
            .iter()
            .find(|p| self.products.get(p).is_none())
        {
            return Err(Error::UnknownReference {
                kind: "Product",
                id: p.clone(),
            });
        }
        Ok(())
    }
}

impl LocationMut<'_> {
    pub fn create_coupon(&mut self, fields: CouponFields, user_id: &str) -> Result<Coupon, Error> {
        self.check_coupon(&fields, None)?;
        let now = now_iso();
        let coupon = Coupon {
            id: sim_kit::ids::object_id(),
            alt_id: self.id.clone(),
            alt_type: "location",
            user_id: user_id.to_string(),
            usage_count: 0,
            created_at: now.clone(),
            updated_at: now,
            terms: fields,
        };
        self.location
            .coupons
            .insert(coupon.id.clone(), coupon.clone());
        Ok(coupon)
    }

    /// A `PUT`: every field replaced (an end date or usage limit left out
    /// is removed).
    pub fn replace_coupon(&mut self, id: &str, fields: CouponFields) -> Result<Coupon, Error> {
        if self.coupons.get(id).is_none() {
            return Err(Error::NotFound("Coupon"));
        }
        self.check_coupon(&fields, Some(id))?;
        let coupon = self
            .location
            .coupons
            .get_mut(id)
            .ok_or(Error::NotFound("Coupon"))?;
        coupon.terms = fields;
        coupon.updated_at = now_iso();
        Ok(coupon.clone())
    }

    pub fn delete_coupon(&mut self, id: &str) -> Result<Coupon, Error> {
        self.location
            .coupons
            .remove(id)
            .ok_or(Error::NotFound("Coupon"))
    }

    /// Counts one use of the coupon `id` (an order placed with it).
    pub fn use_coupon(&mut self, id: &str) {
        if let Some(coupon) = self.location.coupons.get_mut(id) {
            coupon.usage_count += 1;
        }
    }
}
