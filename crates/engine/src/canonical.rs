//! The canonical model between the two systems: a product (AccessAlly
//! offering) with its prices (payment options) and availability, and a
//! coupon. Each side maps to it losslessly for the fields allybridge syncs,
//! so one content hash means "the same thing" on both sides: that is what
//! makes no-op detection and loop prevention work. The tenant's mapping
//! narrows what "the same" means: prices or availability a tenant does not
//! sync are left out of the hash ([`ProductFields`]), and coupon codes are
//! written in the tenant's case ([`CodeCase`]). Pure; no I/O.

use accessally::{Availability, Discount, IntervalUnit, OfferingStatus, PaymentKind};
use chrono::{DateTime, Utc};
use model::{Currency, Money, Percent};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::EngineError;

/// How a price charges.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PriceKind {
    OneTime,
    Recurring {
        unit: String,
        count: u32,
    },
    /// A fixed number of payments (HighLevel: recurring with `totalCycles`).
    Plan {
        payments: u32,
        unit: String,
        count: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CanonicalPrice {
    pub kind: PriceKind,
    pub currency: String,
    pub amount_minor: i64,
    pub trial_days: u32,
    pub sku: Option<String>,
}

impl CanonicalPrice {
    pub fn money(&self) -> Result<Money, EngineError> {
        let currency: Currency = self
            .currency
            .parse()
            .map_err(|e: model::MoneyError| EngineError::Permanent(e.to_string()))?;
        Ok(Money::new(self.amount_minor, currency))
    }
}

/// Which product fields a tenant keeps equal on both sides (`[tenant.mapping]
/// price` and `inventory`). Name, description and published state always
/// sync; a field left out is neither compared, hashed nor written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductFields {
    /// Prices (payment options).
    pub price: bool,
    /// Availability (inventory quantity).
    pub inventory: bool,
}

impl Default for ProductFields {
    fn default() -> Self {
        Self {
            price: true,
            inventory: true,
        }
    }
}

/// A product as both systems share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanonicalProduct {
    pub name: String,
    pub description: String,
    pub published: bool,
    /// Sorted, so that order never reads as a change.
    pub prices: Vec<CanonicalPrice>,
    /// `None` is unlimited.
    pub availability: Option<u32>,
}

/// Hex SHA-256 of a value's canonical JSON.
pub fn content_hash<T: Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

impl CanonicalProduct {
    /// The product reduced to the fields the tenant syncs: what is hashed,
    /// compared and shown in diffs.
    pub fn synced(&self, fields: ProductFields) -> Self {
        let mut out = self.clone();
        if !fields.price {
            out.prices.clear();
        }
        if !fields.inventory {
            out.availability = None;
        }
        out
    }

    /// The content hash of the synced fields.
    pub fn hash(&self, fields: ProductFields) -> String {
        content_hash(&self.synced(fields))
    }

    /// The SKUs of its prices (payment options), empty ones left out.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        self.prices.iter().filter_map(|p| p.sku.as_deref())
    }

    /// From a HighLevel product and its prices.
    pub fn from_ghl(
        product: &ghl::types::Product,
        prices: &[ghl::types::Price],
    ) -> Result<Self, EngineError> {
        let mut out = Vec::with_capacity(prices.len());
        let mut availability = None;
        for p in prices {
            let money = ghl::client::money(&p.amount, &p.currency, "prices")
                .map_err(EngineError::HighLevel)?;
            let interval = p.recurring.as_ref();
            let unit = || {
                interval
                    .map(|r| r.interval.clone())
                    .unwrap_or_else(|| "month".into())
            };
            let count = || interval.map(|r| r.interval_count.max(1)).unwrap_or(1);
            let kind = match (p.kind.as_str(), p.total_cycles) {
                ("recurring", Some(n)) if n >= 1 => PriceKind::Plan {
                    payments: n,
                    unit: unit(),
                    count: count(),
                },
                ("recurring", _) => PriceKind::Recurring {
                    unit: unit(),
                    count: count(),
                },
                _ => PriceKind::OneTime,
            };
            if availability.is_none() && p.track_inventory == Some(true) {
                availability = Some(p.available_quantity.unwrap_or(0.0).max(0.0) as u32);
            }
            out.push(CanonicalPrice {
                kind,
                currency: money.currency.to_string(),
                amount_minor: money.minor,
                trial_days: p.trial_period.unwrap_or(0),
                sku: p.sku.clone().filter(|s| !s.is_empty()),
            });
        }
        out.sort();
        Ok(Self {
            name: product.name.clone(),
            description: product.description.clone().unwrap_or_default(),
            published: product.available_in_store.unwrap_or(true),
            prices: out,
            availability,
        })
    }

    /// From an AccessAlly offering.
    pub fn from_accessally(o: &accessally::Offering) -> Self {
        let mut prices: Vec<CanonicalPrice> = o
            .payment_options
            .iter()
            .map(|p| CanonicalPrice {
                kind: match p.kind {
                    PaymentKind::OneTime => PriceKind::OneTime,
                    PaymentKind::Recurring { interval } => PriceKind::Recurring {
                        unit: interval.unit.as_str().into(),
                        count: interval.count,
                    },
                    PaymentKind::PaymentPlan {
                        number_of_payments,
                        interval,
                    } => PriceKind::Plan {
                        payments: number_of_payments,
                        unit: interval.unit.as_str().into(),
                        count: interval.count,
                    },
                },
                currency: p.price.currency.to_string(),
                amount_minor: p.price.minor,
                trial_days: p.trial_days,
                sku: p.sku.clone().filter(|s| !s.is_empty()),
            })
            .collect();
        prices.sort();
        Self {
            name: o.name.clone(),
            description: o.description.clone(),
            published: o.status == OfferingStatus::Publish,
            prices,
            availability: match o.availability {
                Availability::Unlimited => None,
                Availability::Limited(q) => Some(q),
            },
        }
    }

    pub fn offering_status(&self) -> OfferingStatus {
        if self.published {
            OfferingStatus::Publish
        } else {
            OfferingStatus::Draft
        }
    }

    pub fn offering_availability(&self) -> Availability {
        match self.availability {
            None => Availability::Unlimited,
            Some(q) => Availability::Limited(q),
        }
    }
}

/// Pairs wanted prices with existing ones: equal ones first, then the rest
/// in order. Returns (wanted index, existing index) pairs, then the unpaired
/// wanted and existing indices.
pub fn pair_prices(
    wanted: &[CanonicalPrice],
    existing: &[CanonicalPrice],
) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut used = vec![false; existing.len()];
    let mut pairs = Vec::new();
    let mut left = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        match existing
            .iter()
            .enumerate()
            .position(|(j, e)| !used[j] && e == w)
        {
            Some(j) => {
                used[j] = true;
                pairs.push((i, j));
            }
            None => left.push(i),
        }
    }
    let mut unpaired_wanted = Vec::new();
    for i in left {
        match (0..existing.len()).find(|j| !used[*j]) {
            Some(j) => {
                used[j] = true;
                pairs.push((i, j));
            }
            None => unpaired_wanted.push(i),
        }
    }
    let unpaired_existing = (0..existing.len()).filter(|j| !used[*j]).collect();
    (pairs, unpaired_wanted, unpaired_existing)
}

/// An interval unit of the AccessAlly contract.
pub fn interval_unit(unit: &str) -> Result<IntervalUnit, EngineError> {
    Ok(match unit {
        "day" => IntervalUnit::Day,
        "week" => IntervalUnit::Week,
        "month" => IntervalUnit::Month,
        "year" => IntervalUnit::Year,
        other => {
            return Err(EngineError::Permanent(format!(
                "unknown billing interval `{other}`"
            )));
        }
    })
}

/// How coupon codes are written to AccessAlly (`[tenant.mapping]
/// coupon_code`). Either way a code is matched ignoring case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodeCase {
    /// As typed in HighLevel.
    #[default]
    Preserve,
    /// In upper case.
    Upper,
}

impl CodeCase {
    /// The code as it is written.
    pub fn apply(self, code: &str) -> String {
        match self {
            CodeCase::Preserve => code.to_string(),
            CodeCase::Upper => code.to_uppercase(),
        }
    }
}

/// Whether two coupon codes are the same code (case does not count).
pub fn same_code(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// A coupon as both systems share it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanonicalCoupon {
    pub code: String,
    pub percent_hundredths: Option<u32>,
    pub fixed: Option<(i64, String)>,
    pub starts: Option<String>,
    pub expires: Option<String>,
    pub usage_limit: Option<u32>,
    pub usage_limit_per_user: Option<u32>,
    pub first_payment_only: bool,
    /// Sorted AccessAlly offering ids.
    pub offering_ids: Vec<u64>,
}

/// A date at the one-second resolution both systems keep, as text.
pub fn second(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an ISO-8601 date from HighLevel.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl CanonicalCoupon {
    pub fn hash(&self) -> String {
        content_hash(self)
    }

    /// From a HighLevel coupon; `offering_ids` are its products' linked
    /// offerings, `currency` the store currency of amount coupons, `case`
    /// how its code is written.
    pub fn from_ghl(
        c: &ghl::types::Coupon,
        offering_ids: Vec<u64>,
        currency: Currency,
        case: CodeCase,
    ) -> Result<Self, EngineError> {
        let value = c.discount_value.to_string();
        let (percent, fixed) = match c.discount_type {
            ghl::types::DiscountType::Percentage => {
                let text = model::money::plain_decimal(&value)
                    .map_err(|e| EngineError::Permanent(e.to_string()))?;
                let p = Percent::parse(&text)
                    .map_err(|e| EngineError::Permanent(format!("coupon {}: {e}", c.code)))?;
                (Some(p.0), None)
            }
            ghl::types::DiscountType::Amount => {
                let m = Money::from_json_number(&value, currency)
                    .map_err(|e| EngineError::Permanent(format!("coupon {}: {e}", c.code)))?;
                (None, Some((m.minor, m.currency.to_string())))
            }
        };
        let mut offering_ids = offering_ids;
        offering_ids.sort_unstable();
        offering_ids.dedup();
        Ok(Self {
            code: case.apply(&c.code),
            percent_hundredths: percent,
            fixed,
            starts: parse_date(&c.start_date).map(second),
            expires: c.end_date.as_deref().and_then(parse_date).map(second),
            usage_limit: c.usage_limit.filter(|u| *u > 0.0).map(|u| u as u32),
            usage_limit_per_user: (c.limit_per_customer > 0.0)
                .then_some(c.limit_per_customer as u32),
            first_payment_only: !c.apply_to_future_payments,
            offering_ids,
        })
    }

    /// From an AccessAlly coupon.
    pub fn from_accessally(c: &accessally::Coupon) -> Self {
        let (percent, fixed) = match c.discount {
            Discount::Percent(p) => (Some(p.0), None),
            Discount::Fixed(m) => (None, Some((m.minor, m.currency.to_string()))),
        };
        let mut offering_ids = c.offering_ids.clone();
        offering_ids.sort_unstable();
        Self {
            code: c.code.clone(),
            percent_hundredths: percent,
            fixed,
            starts: c.date_starts.map(second),
            expires: c.date_expires.map(second),
            usage_limit: c.usage_limit,
            usage_limit_per_user: c.usage_limit_per_user,
            first_payment_only: c.first_payment_only,
            offering_ids,
        }
    }

    pub fn discount(&self) -> Result<Discount, EngineError> {
        match (&self.percent_hundredths, &self.fixed) {
            (Some(p), _) => Ok(Discount::Percent(Percent(*p))),
            (None, Some((minor, cur))) => {
                let currency: Currency = cur
                    .parse()
                    .map_err(|e: model::MoneyError| EngineError::Permanent(e.to_string()))?;
                Ok(Discount::Fixed(Money::new(*minor, currency)))
            }
            (None, None) => Err(EngineError::Permanent(format!(
                "coupon {} has no discount",
                self.code
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(amount: i64, sku: Option<&str>) -> CanonicalPrice {
        CanonicalPrice {
            kind: PriceKind::OneTime,
            currency: "USD".into(),
            amount_minor: amount,
            trial_days: 0,
            sku: sku.map(str::to_string),
        }
    }

    fn product(prices: Vec<CanonicalPrice>, availability: Option<u32>) -> CanonicalProduct {
        CanonicalProduct {
            name: "X".into(),
            description: String::new(),
            published: true,
            prices,
            availability,
        }
    }

    #[test]
    fn hash_ignores_price_order() {
        let all = ProductFields::default();
        let mut a = product(vec![price(100, None), price(200, None)], None);
        let h = a.hash(all);
        a.prices.reverse();
        a.prices.sort();
        assert_eq!(a.hash(all), h);
        a.prices[0].amount_minor = 101;
        assert_ne!(a.hash(all), h);
    }

    #[test]
    fn fields_a_tenant_does_not_sync_do_not_count_in_the_hash() {
        let a = product(vec![price(100, Some("A-1"))], Some(5));
        let other_price = product(vec![price(999, Some("A-1"))], Some(5));
        let other_stock = product(vec![price(100, Some("A-1"))], None);
        let all = ProductFields::default();
        let no_price = ProductFields {
            price: false,
            inventory: true,
        };
        let no_stock = ProductFields {
            price: true,
            inventory: false,
        };
        assert_ne!(a.hash(all), other_price.hash(all));
        assert_ne!(a.hash(all), other_stock.hash(all));
        assert_eq!(a.hash(no_price), other_price.hash(no_price));
        assert_ne!(a.hash(no_price), other_stock.hash(no_price));
        assert_eq!(a.hash(no_stock), other_stock.hash(no_stock));
        assert_ne!(a.hash(no_stock), other_price.hash(no_stock));
        // The full record keeps everything: only the comparison narrows.
        assert_eq!(a.synced(no_price).prices, vec![]);
        assert_eq!(a.prices.len(), 1);
        let mut renamed = a.clone();
        renamed.name = "Y".into();
        for fields in [all, no_price, no_stock] {
            assert_ne!(a.hash(fields), renamed.hash(fields));
        }
    }

    #[test]
    fn codes_are_written_in_the_tenant_case_and_matched_ignoring_it() {
        assert_eq!(CodeCase::Preserve.apply("Launch20"), "Launch20");
        assert_eq!(CodeCase::Upper.apply("Launch20"), "LAUNCH20");
        assert!(same_code("launch20", "LAUNCH20"));
        assert!(!same_code("LAUNCH20", "LAUNCH21"));
    }
}
