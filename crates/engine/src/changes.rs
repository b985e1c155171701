//! What changed in one record, told twice: in words a person reads in a
//! log line (`COURSE-001 197.00 → 149.00 USD`, `name "Old" → "New"`), and
//! as the raw structure — each differing field of the canonical record
//! before and after — for `--json` output and debug logs. A record that is
//! created is told field by field as it will be. Pure; no I/O.

use serde::Serialize;
use serde_json::{Value, json};

use crate::canonical::{CanonicalCoupon, CanonicalPrice, CanonicalProduct, PriceKind, pair_prices};

/// What changed in one record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// One line per change, in words.
    pub lines: Vec<String>,
    /// Each differing field with its value before and after
    /// (`{"field": {"before": …, "after": …}}`); `null` when the change is
    /// told in words only.
    pub raw: Value,
}

impl Changes {
    /// Changes told in words only (orders, grants, a disabled coupon).
    pub fn words(lines: Vec<String>) -> Self {
        Self {
            lines,
            raw: Value::Null,
        }
    }

    /// A product (offering) as it becomes, from what it was (`None`: created).
    pub fn product(before: Option<&CanonicalProduct>, after: &CanonicalProduct) -> Self {
        let mut lines = Vec::new();
        field(
            &mut lines,
            "name",
            before.map(|b| quoted(&b.name)),
            quoted(&after.name),
        );
        if before.is_some() || !after.description.is_empty() {
            field(
                &mut lines,
                "description",
                before.map(|b| quoted(&shortened(&b.description))),
                quoted(&shortened(&after.description)),
            );
        }
        let state = |p: &CanonicalProduct| if p.published { "published" } else { "draft" };
        match before {
            None => lines.push(state(after).to_string()),
            Some(b) if b.published != after.published => {
                lines.push(format!("{} → {}", state(b), state(after)));
            }
            Some(_) => {}
        }
        match before {
            None => lines.extend(after.prices.iter().map(price_words)),
            Some(b) => prices(&mut lines, &b.prices, &after.prices),
        }
        let availability =
            |a: Option<u32>| a.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        field(
            &mut lines,
            "availability",
            before.map(|b| availability(b.availability)),
            availability(after.availability),
        );
        Self {
            lines,
            raw: raw_of(before, after),
        }
    }

    /// A coupon as it becomes, from what it was (`None`: created).
    pub fn coupon(before: Option<&CanonicalCoupon>, after: &CanonicalCoupon) -> Self {
        let mut lines = Vec::new();
        field(
            &mut lines,
            "code",
            before.map(|b| b.code.clone()),
            after.code.clone(),
        );
        field(
            &mut lines,
            "discount",
            before.map(discount),
            discount(after),
        );
        let date = |d: &Option<String>, none: &str| d.clone().unwrap_or_else(|| none.to_string());
        field(
            &mut lines,
            "starts",
            before.map(|b| date(&b.starts, "at once")),
            date(&after.starts, "at once"),
        );
        field(
            &mut lines,
            "expires",
            before.map(|b| date(&b.expires, "never")),
            date(&after.expires, "never"),
        );
        let limit = |l: Option<u32>| l.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
        field(
            &mut lines,
            "usage limit",
            before.map(|b| limit(b.usage_limit)),
            limit(after.usage_limit),
        );
        field(
            &mut lines,
            "usage limit per customer",
            before.map(|b| limit(b.usage_limit_per_user)),
            limit(after.usage_limit_per_user),
        );
        let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
        field(
            &mut lines,
            "first payment only",
            before.map(|b| yes(b.first_payment_only)),
            yes(after.first_payment_only),
        );
        let offerings = |ids: &[u64]| {
            if ids.is_empty() {
                "all".to_string()
            } else {
                ids.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        field(
            &mut lines,
            "offerings",
            before.map(|b| offerings(&b.offering_ids)),
            offerings(&after.offering_ids),
        );
        Self {
            lines,
            raw: raw_of(before, after),
        }
    }
}

/// `name value` for a new record, `name before → after` for a change,
/// nothing when equal.
fn field(lines: &mut Vec<String>, name: &str, before: Option<String>, after: String) {
    match before {
        None => lines.push(format!("{name} {after}")),
        Some(b) if b != after => lines.push(format!("{name} {b} → {after}")),
        Some(_) => {}
    }
}

fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

/// At most 40 characters of a long text.
fn shortened(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

/// The amount of a price in major units (`197.00`), without its currency.
fn amount(p: &CanonicalPrice) -> String {
    p.money()
        .map(|m| m.to_decimal_string())
        .unwrap_or_else(|_| format!("{} (minor units)", p.amount_minor))
}

/// How a price charges, in words: `one-time`, `every month`, `3 payments every 2 weeks`.
fn kind_words(kind: &PriceKind) -> String {
    let every = |unit: &str, count: u32| {
        if count <= 1 {
            format!("every {unit}")
        } else {
            format!("every {count} {unit}s")
        }
    };
    match kind {
        PriceKind::OneTime => "one-time".to_string(),
        PriceKind::Recurring { unit, count } => every(unit, *count),
        PriceKind::Plan {
            payments,
            unit,
            count,
        } => format!("{payments} payments {}", every(unit, *count)),
    }
}

/// How a person knows a price: its SKU, else how it charges.
fn price_label(p: &CanonicalPrice) -> String {
    match &p.sku {
        Some(sku) => sku.clone(),
        None => format!("price ({})", kind_words(&p.kind)),
    }
}

/// A whole price: `COURSE-001 149.00 USD`, with how it charges when it is
/// not once and its trial when it has one.
fn price_words(p: &CanonicalPrice) -> String {
    let mut out = format!("{} {} {}", price_label(p), amount(p), p.currency);
    if p.kind != PriceKind::OneTime && p.sku.is_some() {
        out.push_str(&format!(" {}", kind_words(&p.kind)));
    }
    if p.trial_days > 0 {
        out.push_str(&format!(", {}-day trial", p.trial_days));
    }
    out
}

/// The price changes, paired the way they are written: a changed price
/// updates the payment option it is paired with.
fn prices(lines: &mut Vec<String>, before: &[CanonicalPrice], after: &[CanonicalPrice]) {
    let (pairs, added, removed) = pair_prices(after, before);
    for (a, b) in pairs {
        let (new, old) = (&after[a], &before[b]);
        if new == old {
            continue;
        }
        let label = price_label(new);
        if new.sku != old.sku {
            let sku = |p: &CanonicalPrice| p.sku.clone().unwrap_or_else(|| "none".to_string());
            lines.push(format!("{} SKU {} → {}", label, sku(old), sku(new)));
        }
        if new.currency != old.currency {
            lines.push(format!(
                "{label} {} {} → {} {}",
                amount(old),
                old.currency,
                amount(new),
                new.currency
            ));
        } else if new.amount_minor != old.amount_minor {
            lines.push(format!(
                "{label} {} → {} {}",
                amount(old),
                amount(new),
                new.currency
            ));
        }
        if new.kind != old.kind {
            lines.push(format!(
                "{label} {} → {}",
                kind_words(&old.kind),
                kind_words(&new.kind)
            ));
        }
        if new.trial_days != old.trial_days {
            lines.push(format!(
                "{label} trial {} → {} days",
                old.trial_days, new.trial_days
            ));
        }
    }
    lines.extend(
        added
            .into_iter()
            .map(|a| format!("{} added", price_words(&after[a]))),
    );
    lines.extend(
        removed
            .into_iter()
            .map(|b| format!("{} removed", price_words(&before[b]))),
    );
}

/// A coupon's discount in words: `20%`, `10.00 USD`.
fn discount(c: &CanonicalCoupon) -> String {
    match (&c.percent_hundredths, &c.fixed) {
        (Some(p), _) => {
            let text = model::Percent(*p).to_decimal_string();
            let text = text.trim_end_matches('0').trim_end_matches('.');
            format!("{text}%")
        }
        (None, Some((minor, currency))) => match currency.parse::<model::Currency>() {
            Ok(c) => model::Money::new(*minor, c).to_string(),
            Err(_) => format!("{minor} (minor units) {currency}"),
        },
        (None, None) => "none".to_string(),
    }
}

fn raw_of<T: Serialize>(before: Option<&T>, after: &T) -> Value {
    let view = |v: &T| serde_json::to_value(v).unwrap_or_default();
    raw(&before.map_or_else(|| json!({}), view), &view(after))
}

/// Each differing top-level field of two JSON objects, with its value
/// before and after (`null` where it is absent).
pub fn raw(before: &Value, after: &Value) -> Value {
    let empty = serde_json::Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = serde_json::Map::new();
    for k in b.keys().chain(a.keys()) {
        let (x, y) = (b.get(k), a.get(k));
        if x != y && !out.contains_key(k) {
            out.insert(
                k.clone(),
                json!({"before": x.cloned().unwrap_or(Value::Null), "after": y.cloned().unwrap_or(Value::Null)}),
            );
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(sku: &str, amount_minor: i64) -> CanonicalPrice {
        CanonicalPrice {
            kind: PriceKind::OneTime,
            currency: "USD".into(),
            amount_minor,
            trial_days: 0,
            sku: Some(sku.into()),
        }
    }

    fn product(prices: Vec<CanonicalPrice>) -> CanonicalProduct {
        CanonicalProduct {
            name: "Watercolour".into(),
            description: String::new(),
            published: true,
            prices,
            availability: None,
        }
    }

    #[test]
    fn a_price_change_reads_as_a_person_writes_it() {
        let before = product(vec![
            price("COURSE-001", 19_700),
            price("COURSE-002", 5_000),
        ]);
        let after = product(vec![
            price("COURSE-001", 14_900),
            price("COURSE-002", 5_000),
        ]);
        let changes = Changes::product(Some(&before), &after);
        assert_eq!(changes.lines, ["COURSE-001 197.00 → 149.00 USD"]);
        // The raw structure keeps the canonical fields.
        assert_eq!(
            changes.raw["prices"]["before"][0]["amount_minor"],
            json!(19_700)
        );
        assert_eq!(
            changes.raw["prices"]["after"][0]["amount_minor"],
            json!(14_900)
        );
        assert!(changes.raw.get("name").is_none());
    }

    #[test]
    fn every_product_field_is_told_in_words() {
        let before = product(vec![price("A", 1_000), price("GONE", 300)]);
        let mut after = product(vec![CanonicalPrice {
            kind: PriceKind::Recurring {
                unit: "month".into(),
                count: 1,
            },
            currency: "EUR".into(),
            trial_days: 14,
            ..price("A", 1_200)
        }]);
        after.name = "Watercolour II".into();
        after.published = false;
        after.availability = Some(20);
        let lines = Changes::product(Some(&before), &after).lines;
        assert_eq!(
            lines,
            [
                "name \"Watercolour\" → \"Watercolour II\"",
                "published → draft",
                "A 10.00 USD → 12.00 EUR",
                "A one-time → every month",
                "A trial 0 → 14 days",
                "GONE 3.00 USD removed",
                "availability unlimited → 20",
            ]
        );
    }

    #[test]
    fn a_created_product_is_told_as_it_will_be() {
        let lines = Changes::product(None, &product(vec![price("COURSE-001", 14_900)])).lines;
        assert_eq!(
            lines,
            [
                "name \"Watercolour\"",
                "published",
                "COURSE-001 149.00 USD",
                "availability unlimited",
            ]
        );
    }

    #[test]
    fn coupon_changes_read_as_words() {
        let before = CanonicalCoupon {
            code: "LAUNCH20".into(),
            percent_hundredths: Some(2_000),
            fixed: None,
            starts: None,
            expires: None,
            usage_limit: None,
            usage_limit_per_user: Some(1),
            first_payment_only: true,
            offering_ids: vec![],
        };
        let after = CanonicalCoupon {
            percent_hundredths: Some(2_550),
            expires: Some("2030-01-01T00:00:00Z".into()),
            offering_ids: vec![3, 5],
            ..before.clone()
        };
        let changes = Changes::coupon(Some(&before), &after);
        assert_eq!(
            changes.lines,
            [
                "discount 20% → 25.5%",
                "expires never → 2030-01-01T00:00:00Z",
                "offerings all → 3, 5",
            ]
        );
        let fixed = CanonicalCoupon {
            percent_hundredths: None,
            fixed: Some((1_000, "USD".into())),
            ..before
        };
        assert!(
            Changes::coupon(None, &fixed)
                .lines
                .contains(&"discount 10.00 USD".to_string())
        );
    }
}
