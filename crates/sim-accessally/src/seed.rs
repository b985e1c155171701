//! Start-up data: `empty`, a realistic `demo` catalog (courses, memberships,
//! payment plans, coupons, buyers and orders in several statuses) or a
//! generated catalog of N offerings. Everything goes through the same rules
//! as the API, so seeded data is always valid; this module adds no rules.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::world::World;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn one_time(amount: &str, sku: &str) -> Value {
    json!({ "type": "one_time", "amount": amount, "currency": "USD", "sku": sku })
}

fn plan(amount: &str, payments: u32, sku: &str) -> Value {
    json!({ "type": "payment_plan", "amount": amount, "currency": "USD", "sku": sku,
            "number_of_payments": payments, "interval": "month", "interval_count": 1 })
}

fn recurring(amount: &str, interval: &str, trial: u32, sku: &str) -> Value {
    json!({ "type": "recurring", "amount": amount, "currency": "USD", "sku": sku,
            "interval": interval, "interval_count": 1, "trial_days": trial })
}

pub fn load(world: &mut World, seed: sim_kit::Seed, now: DateTime<Utc>) {
    match seed {
        sim_kit::Seed::Empty => {}
        sim_kit::Seed::Demo => demo(world, now),
        sim_kit::Seed::Generated(n) => generated(world, n, now),
    }
}

fn offering(world: &mut World, body: Value, at: DateTime<Utc>) -> Option<u64> {
    let (json, _) = world.write_offering(None, &obj(body), at).ok()?;
    json["id"].as_u64()
}

fn demo(world: &mut World, now: DateTime<Utc>) {
    let at = now - Duration::days(30);
    let catalog = [
        (
            "Foundations of Watercolor",
            "A 6-week beginner course.",
            vec![one_time("197.00", "WC-101"), plan("69.00", 3, "WC-101-P3")],
            None,
        ),
        (
            "Advanced Botanical Painting",
            "Master class with live critiques.",
            vec![
                one_time("497.00", "BOT-301"),
                plan("179.00", 3, "BOT-301-P3"),
            ],
            Some(40),
        ),
        (
            "The Studio Membership",
            "Monthly lessons and community.",
            vec![
                recurring("29.00", "month", 7, "STUDIO-M"),
                recurring("290.00", "year", 14, "STUDIO-Y"),
            ],
            None,
        ),
        (
            "Color Theory Mini-Course",
            "Three short lessons.",
            vec![one_time("27.00", "COLOR-MINI")],
            None,
        ),
        (
            "Portfolio Review (1:1)",
            "A 60-minute private review.",
            vec![one_time("150.00", "REVIEW-60")],
            Some(12),
        ),
        (
            "Sketchbook Habit Challenge",
            "30 days, one prompt a day.",
            vec![one_time("0.00", "SKETCH-30")],
            None,
        ),
        (
            "Pro Artist Bundle",
            "Every course, lifetime access.",
            vec![
                one_time("997.00", "BUNDLE-PRO"),
                plan("349.00", 3, "BUNDLE-PRO-P3"),
                plan("179.00", 6, "BUNDLE-PRO-P6"),
            ],
            None,
        ),
        (
            "Weekend Retreat 2025",
            "In-person retreat, limited seats.",
            vec![
                one_time("1200.00", "RETREAT-25"),
                plan("425.00", 3, "RETREAT-25-P3"),
            ],
            Some(20),
        ),
        (
            "Inner Circle Mastermind",
            "Quarterly group coaching.",
            vec![recurring("399.00", "month", 0, "MASTERMIND-M")],
            Some(15),
        ),
        (
            "Brush Lettering Basics",
            "Lettering for beginners.",
            vec![one_time("47.00", "LETTER-101")],
            None,
        ),
        (
            "Teaching Art Online",
            "Build your own course.",
            vec![
                one_time("297.00", "TEACH-201"),
                recurring("39.00", "month", 14, "TEACH-201-M"),
            ],
            None,
        ),
        (
            "Urban Sketching Field Guide",
            "Downloadable guide and videos.",
            vec![one_time("19.00", "URBAN-GUIDE")],
            None,
        ),
        (
            "Kids Art Club",
            "Weekly projects for families.",
            vec![recurring("12.00", "week", 7, "KIDS-W")],
            None,
        ),
        (
            "Draft: Oil Painting Intro",
            "Coming soon.",
            vec![one_time("247.00", "OIL-101")],
            None,
        ),
    ];
    let mut ids = Vec::new();
    for (i, (name, description, options, quantity)) in catalog.into_iter().enumerate() {
        let availability = match quantity {
            Some(q) => json!({ "unlimited": false, "quantity": q }),
            None => json!({ "unlimited": true, "quantity": null }),
        };
        let status = if name.starts_with("Draft") {
            "draft"
        } else {
            "publish"
        };
        let body = json!({ "name": name, "description": description, "status": status,
                           "payment_options": options, "availability": availability });
        if let Some(id) = offering(world, body, at + Duration::hours(i as i64)) {
            ids.push(id);
        }
    }
    let id = |i: usize| ids.get(i).copied().unwrap_or(0);
    let coupons = [
        json!({ "code": "WELCOME10", "amount": "10", "discount_type": "percent", "offering_ids": [id(0), id(3), id(9), id(11)] }),
        json!({ "code": "SPRING25", "amount": "25", "discount_type": "percent", "offering_ids": [id(0), id(1), id(6)],
                "date_starts": "2024-03-01T00:00:00Z", "date_expires": "2030-06-01T00:00:00Z", "usage_limit": 100 }),
        json!({ "code": "STUDIO5", "amount": "5.00", "discount_type": "fixed", "currency": "USD", "first_payment_only": true,
                "offering_ids": [id(2)], "usage_limit_per_user": 1 }),
        json!({ "code": "VIP100", "amount": "100.00", "discount_type": "fixed", "currency": "USD", "offering_ids": [id(6), id(7)], "usage_limit": 10 }),
        json!({ "code": "EXPIRED20", "amount": "20", "discount_type": "percent", "offering_ids": [id(0)], "date_expires": "2024-01-01T00:00:00Z" }),
        json!({ "code": "RETREAT-EARLY", "amount": "150.00", "discount_type": "fixed", "currency": "USD", "offering_ids": [id(7)], "usage_limit": 5 }),
    ];
    for (i, c) in coupons.into_iter().enumerate() {
        let _ = world.write_coupon(None, &obj(c), at + Duration::hours(20 + i as i64));
    }
    let buyers = [
        ("maya.lopez@example.com", "Maya", "Lopez"),
        ("tom.becker@example.org", "Tom", "Becker"),
        ("aiko.tanaka@example.net", "Aiko", "Tanaka"),
        ("sam.okafor@example.com", "Sam", "Okafor"),
        ("lena.schmidt@example.de", "Lena", "Schmidt"),
        ("raj.patel@example.com", "Raj", "Patel"),
        ("claire.dubois@example.fr", "Claire", "Dubois"),
        ("noah.wilson@example.com", "Noah", "Wilson"),
    ];
    // (buyer, offering, payment option index, coupon, outcome)
    type DemoOrder = (
        usize,
        usize,
        Option<usize>,
        Option<&'static str>,
        &'static str,
    );
    let orders: [DemoOrder; 14] = [
        (0, 0, None, Some("WELCOME10"), "success"),
        (1, 1, Some(1), None, "success"),
        (2, 2, None, Some("STUDIO5"), "success"),
        (3, 3, None, None, "failed"),
        (4, 6, None, Some("VIP100"), "sca_success"),
        (5, 7, Some(1), None, "success"),
        (6, 4, None, None, "success"),
        (7, 9, None, Some("WELCOME10"), "success"),
        (0, 10, Some(1), None, "sca_failed"),
        (1, 8, None, None, "error"),
        (2, 12, None, None, "success"),
        (3, 0, None, None, "sca_pending"),
        (4, 11, None, None, "success"),
        (5, 5, None, None, "success"),
    ];
    let mut completed = Vec::new();
    for (n, (buyer, offer, option, coupon, outcome)) in orders.into_iter().enumerate() {
        let (email, first, last) = buyers[buyer % buyers.len()];
        let option_id = option.and_then(|i| {
            world
                .offerings
                .get(&id(offer))
                .and_then(|o| o.payment_options.get(i))
                .map(|p| p.id)
        });
        let mut body = json!({ "offering_id": id(offer), "buyer": { "email": email, "first_name": first, "last_name": last },
                               "outcome": outcome, "payment_method": if n % 4 == 3 { "paypal" } else { "stripe" } });
        if let Some(p) = option_id {
            body["payment_option_id"] = json!(p);
        }
        if let Some(c) = coupon {
            body["coupon_code"] = json!(c);
        }
        if let Ok((json, _)) = world.checkout(&obj(body), at + Duration::days(1 + n as i64))
            && outcome == "success"
            && let Some(id) = json["id"].as_u64()
        {
            completed.push(id);
        }
    }
    let refund_at = at + Duration::days(20);
    if let Some(first) = completed.first() {
        let _ = world.refund(&obj(json!({ "order_id": first })), refund_at);
    }
    if let Some(second) = completed.get(1) {
        let _ = world.refund(
            &obj(json!({ "order_id": second, "amount": "50.00" })),
            refund_at,
        );
    }
}

fn generated(world: &mut World, n: usize, now: DateTime<Utc>) {
    let at = now - Duration::days(10);
    let mut ids = Vec::new();
    for i in 0..n {
        let options = match i % 3 {
            0 => vec![one_time(
                &format!("{}.00", 10 + i % 490),
                &format!("GEN-{i}"),
            )],
            1 => vec![
                one_time(&format!("{}.00", 100 + i % 900), &format!("GEN-{i}")),
                plan(&format!("{}.50", 30 + i % 300), 3, &format!("GEN-{i}-P3")),
            ],
            _ => vec![recurring(
                &format!("{}.99", 5 + i % 95),
                "month",
                (i % 2 * 7) as u32,
                &format!("GEN-{i}-M"),
            )],
        };
        let availability = if i % 5 == 0 {
            json!({ "unlimited": false, "quantity": 50 + i % 50 })
        } else {
            json!({ "unlimited": true, "quantity": null })
        };
        let body = json!({ "name": format!("Generated offering {i}"), "description": format!("Offering number {i}."),
                           "payment_options": options, "availability": availability });
        if let Some(id) = offering(world, body, at + Duration::seconds(i as i64)) {
            ids.push(id);
        }
    }
    for (i, chunk) in ids.chunks(2).enumerate() {
        let c = json!({ "code": format!("GEN{i:05}"), "amount": format!("{}", 5 + i % 45), "discount_type": "percent",
                        "offering_ids": chunk });
        let _ = world.write_coupon(None, &obj(c), at + Duration::seconds(i as i64));
    }
    for (i, id) in ids.iter().enumerate() {
        let outcome = if i % 7 == 6 { "failed" } else { "success" };
        let body = json!({ "offering_id": id, "outcome": outcome,
                           "buyer": { "email": format!("buyer{}@example.com", i % 50), "first_name": "Buyer", "last_name": format!("{}", i % 50) } });
        let _ = world.checkout(&obj(body), at + Duration::seconds(i as i64));
    }
}
