//! Seed data: `demo` is a realistic catalog (courses, memberships and
//! physical goods with one-time, recurring, trial and payment-plan prices,
//! coupons of both discount types, contacts, paid and refunded orders);
//! `N` generates N products with two prices each and proportionate coupons,
//! contacts and orders. Records are created through the same handlers the
//! API uses, as UI edits, with webhooks muted.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde_json::{Value, json};
use sim_kit::Seed;

use crate::Sim;
use crate::api::{coupons, products};
use crate::auth::{Caller, Principal};
use crate::world::orders::{Checkout, CheckoutItem};
use crate::world::str_of;

fn ui() -> Extension<Caller> {
    Extension(Caller {
        principal: Principal::Ui,
    })
}

fn body(v: Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

async fn product(sim: &Arc<Sim>, loc: &str, name: &str, kind: &str, description: &str) -> String {
    let b = json!({"name": name, "locationId": loc, "productType": kind, "description": description,
                   "availableInStore": true, "slug": slug(name)});
    match products::create(State(sim.clone()), ui(), body(b)).await {
        Ok((_, json)) => str_of(&json.0, "_id").to_string(),
        Err(_) => String::new(),
    }
}

fn slug(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

async fn price(sim: &Arc<Sim>, loc: &str, product_id: &str, mut fields: Value) -> String {
    fields["locationId"] = json!(loc);
    match products::create_price(
        State(sim.clone()),
        ui(),
        Path(product_id.to_string()),
        body(fields),
    )
    .await
    {
        Ok((_, json)) => str_of(&json.0, "_id").to_string(),
        Err(_) => String::new(),
    }
}

async fn coupon(sim: &Arc<Sim>, mut fields: Value) {
    fields["altType"] = json!("location");
    let _ = coupons::create(State(sim.clone()), ui(), body(fields)).await;
}

/// Fills every location with the seed's data.
pub async fn apply(sim: &Arc<Sim>, seed: Seed) {
    for loc in sim.location_ids() {
        match seed {
            Seed::Empty => {}
            Seed::Demo => demo(sim, &loc).await,
            Seed::Generated(n) => generated(sim, &loc, n).await,
        }
    }
}

const BUYERS: &[(&str, &str, &str)] = &[
    ("ada@example.com", "Ada", "Lovelace"),
    ("grace@example.com", "Grace", "Hopper"),
    ("alan@example.com", "Alan", "Turing"),
    ("katherine@example.com", "Katherine", "Johnson"),
    ("edsger@example.com", "Edsger", "Dijkstra"),
    ("barbara@example.com", "Barbara", "Liskov"),
    ("donald@example.com", "Donald", "Knuth"),
    ("margaret@example.com", "Margaret", "Hamilton"),
    ("tim@example.com", "Tim", "Berners-Lee"),
    ("frances@example.com", "Frances", "Allen"),
];

async fn demo(sim: &Arc<Sim>, loc: &str) {
    let courses = [
        ("Foundations of Watercolour", 197.0),
        ("Advanced Portrait Drawing", 297.0),
        ("Colour Theory Masterclass", 149.0),
        ("Sketchbook Habits", 47.0),
        ("Oil Painting Bootcamp", 497.0),
        ("Digital Illustration Essentials", 247.0),
        ("Figure Drawing Lab", 127.0),
        ("Landscape Painting Retreat (online)", 397.0),
        ("Calligraphy for Beginners", 67.0),
        ("Printmaking at Home", 177.0),
        ("Composition Clinic", 97.0),
        ("Ink and Wash Techniques", 87.0),
    ];
    let mut ids = Vec::new();
    for (i, (name, amount)) in courses.iter().enumerate() {
        let p = product(
            sim,
            loc,
            name,
            "DIGITAL",
            &format!("Self-paced course: {name}."),
        )
        .await;
        let one_time = price(
            sim,
            loc,
            &p,
            json!({"name": "Pay in full", "type": "one_time", "currency": "USD", "amount": amount,
                   "sku": format!("COURSE-{:03}", i + 1)}),
        )
        .await;
        if i % 3 == 0 {
            price(
                sim,
                loc,
                &p,
                json!({"name": "3 monthly payments", "type": "recurring", "currency": "USD",
                       "amount": ((amount / 3.0 + 10.0) * 100.0_f64).round() / 100.0,
                       "recurring": {"interval": "month", "intervalCount": 1}, "totalCycles": 3,
                       "sku": format!("COURSE-{:03}-PP3", i + 1)}),
            )
            .await;
        }
        ids.push((p, one_time));
    }
    let memberships = [
        ("Studio Membership", 29.0, "month", 7.0),
        ("Studio Membership Annual", 290.0, "year", 0.0),
        ("Critique Circle", 19.0, "month", 14.0),
        ("Mentorship Programme", 199.0, "month", 0.0),
        ("Weekly Live Classes", 9.0, "week", 0.0),
    ];
    for (i, (name, amount, interval, trial)) in memberships.iter().enumerate() {
        let p = product(
            sim,
            loc,
            name,
            "SERVICE",
            &format!("Recurring access: {name}."),
        )
        .await;
        let mut fields = json!({"name": format!("{name} ({interval}ly)"), "type": "recurring", "currency": "USD",
                                "amount": amount, "recurring": {"interval": interval, "intervalCount": 1},
                                "sku": format!("MEMBER-{:02}", i + 1)});
        if *trial > 0.0 {
            fields["trialPeriod"] = json!(trial);
        }
        let pr = price(sim, loc, &p, fields).await;
        ids.push((p, pr));
    }
    let goods = [
        ("Watercolour Starter Kit", 59.0, 40.0),
        ("Sketchbook (A5, 120 pages)", 18.5, 250.0),
        ("Brush Set Deluxe", 74.99, 0.0),
        ("Signed Art Print", 35.0, 12.0),
        ("Palette Knife Trio", 22.0, 80.0),
    ];
    for (i, (name, amount, qty)) in goods.iter().enumerate() {
        let p = product(
            sim,
            loc,
            name,
            "PHYSICAL",
            &format!("Shipped to your door: {name}."),
        )
        .await;
        let pr = price(
            sim,
            loc,
            &p,
            json!({"name": "Standard", "type": "one_time", "currency": "USD", "amount": amount,
                   "sku": format!("GOODS-{:02}", i + 1), "trackInventory": true, "availableQuantity": qty,
                   "allowOutOfStockPurchases": false}),
        )
        .await;
        ids.push((p, pr));
    }
    let now = chrono::Utc::now();
    let iso = |d: chrono::Duration| (now + d).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let coupons = [
        json!({"name": "Launch week", "code": "LAUNCH20", "discountType": "percentage", "discountValue": 20,
               "startDate": iso(chrono::Duration::days(-10)), "endDate": iso(chrono::Duration::days(20)), "usageLimit": 100}),
        json!({"name": "Ten off", "code": "TENOFF", "discountType": "amount", "discountValue": 10,
               "startDate": iso(chrono::Duration::days(-30))}),
        json!({"name": "Watercolour half price", "code": "WATER50", "discountType": "percentage", "discountValue": 50,
               "startDate": iso(chrono::Duration::days(-5)), "productIds": [ids[0].0], "limitPerCustomer": true}),
        json!({"name": "Membership first month", "code": "FIRSTMONTH", "discountType": "percentage", "discountValue": 100,
               "startDate": iso(chrono::Duration::days(-5)), "productIds": [ids[12].0, ids[14].0],
               "applyToFuturePayments": false}),
        json!({"name": "Black Friday", "code": "BF2026", "discountType": "percentage", "discountValue": 30,
               "startDate": iso(chrono::Duration::days(-1)), "endDate": iso(chrono::Duration::days(3)),
               "usageLimit": 500, "applyToFuturePayments": true,
               "applyToFuturePaymentsConfig": {"type": "fixed", "duration": 3, "durationType": "months"}}),
        json!({"name": "Summer sale (ended)", "code": "SUMMER25", "discountType": "percentage", "discountValue": 25,
               "startDate": iso(chrono::Duration::days(-150)), "endDate": iso(chrono::Duration::days(-90))}),
        json!({"name": "New year (scheduled)", "code": "NEWYEAR", "discountType": "amount", "discountValue": 25,
               "startDate": iso(chrono::Duration::days(34))}),
        json!({"name": "Kit bundle", "code": "KIT15", "discountType": "amount", "discountValue": 15,
               "startDate": iso(chrono::Duration::days(-2)), "productIds": [ids[17].0, ids[18].0]}),
    ];
    for mut c in coupons {
        c["altId"] = json!(loc);
        coupon(sim, c).await;
    }
    let _ = sim.commit(|w| {
        for (i, (email, first, last)) in BUYERS.iter().enumerate() {
            let (p, pr) = &ids[(i * 3) % ids.len()];
            let checkout = Checkout {
                location_id: None,
                email: email.to_string(),
                first_name: first.to_string(),
                last_name: last.to_string(),
                items: vec![CheckoutItem {
                    product_id: p.clone(),
                    price_id: pr.clone(),
                    qty: 1,
                }],
                coupon_code: (i % 4 == 1).then(|| "TENOFF".to_string()),
                payment_status: if i == 9 {
                    "unpaid".into()
                } else {
                    "paid".into()
                },
            };
            if let Ok(order) = w.location_mut(loc)?.place_order(&checkout)
                && i == 7
            {
                let _ = w.set_order_status(str_of(&order, "_id"), "refunded");
            }
        }
        Ok(())
    });
}

async fn generated(sim: &Arc<Sim>, loc: &str, n: usize) {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let p = product(
            sim,
            loc,
            &format!("Product {i:05}"),
            "DIGITAL",
            &format!("Generated product {i}."),
        )
        .await;
        let one = price(
            sim,
            loc,
            &p,
            json!({"name": "One-time", "type": "one_time", "currency": "USD",
                   "amount": 10.0 + (i % 90) as f64 + 0.99, "sku": format!("GEN-{i:05}")}),
        )
        .await;
        price(
            sim,
            loc,
            &p,
            json!({"name": "Monthly", "type": "recurring", "currency": "USD", "amount": 5.0 + (i % 20) as f64,
                   "recurring": {"interval": "month", "intervalCount": 1}, "sku": format!("GEN-{i:05}-M")}),
        )
        .await;
        ids.push((p, one));
    }
    let start = chrono::Utc::now() - chrono::Duration::days(1);
    for i in 0..n / 2 {
        let mut c = json!({"altId": loc, "name": format!("Coupon {i}"), "code": format!("GEN{i:05}"),
                           "discountType": if i % 2 == 0 { "percentage" } else { "amount" },
                           "discountValue": 5 + (i % 20), "startDate": start.to_rfc3339()});
        if i % 3 == 0 && !ids.is_empty() {
            c["productIds"] = json!([ids[i % ids.len()].0]);
        }
        coupon(sim, c).await;
    }
    let _ = sim.commit(|w| {
        for i in 0..n {
            if ids.is_empty() {
                break;
            }
            let (p, pr) = &ids[i % ids.len()];
            let checkout = Checkout {
                location_id: None,
                email: format!("buyer{i}@example.com"),
                first_name: "Buyer".into(),
                last_name: format!("{i}"),
                items: vec![CheckoutItem {
                    product_id: p.clone(),
                    price_id: pr.clone(),
                    qty: 1,
                }],
                coupon_code: None,
                payment_status: "paid".into(),
            };
            let _ = w.location_mut(loc)?.place_order(&checkout);
        }
        Ok(())
    });
}
