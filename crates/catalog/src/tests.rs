//! The catalog's tests: the committed file equals a fresh generation, and
//! the catalog covers what the specs and the contract define.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use model::Flow;
use serde_json::Value;

use super::*;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared` beside the repository, where the specs are.
fn shared() -> PathBuf {
    spec_check::ghl_specs_dir().join("../..")
}

fn contract() -> PathBuf {
    repo_root().join("docs/accessally-bridge-api.json")
}

#[test]
fn committed_catalog_matches_the_specs() -> anyhow::Result<()> {
    let fresh = generate::generate(&shared(), &contract()).map_err(anyhow::Error::msg)?;
    let text = generate::render(&fresh).map_err(anyhow::Error::msg)?;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog.json");
    if std::env::var_os("ALLYBRIDGE_REGENERATE").is_some() {
        std::fs::write(&path, &text)?;
        eprintln!("wrote {} ({} entries)", path.display(), fresh.len());
        return Ok(());
    }
    assert!(
        text == CATALOG_JSON,
        "crates/catalog/catalog.json is stale: the specs, the contract or the generator changed. \
         Regenerate it with `ALLYBRIDGE_REGENERATE=1 cargo test -p catalog` and commit it"
    );
    Ok(())
}

#[test]
fn well_over_126_entries_with_unique_ids() {
    let all = entries();
    assert!(all.len() > 126, "only {} entries", all.len());
    let ids: BTreeSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "ids are not unique");
    for e in all {
        assert!(
            e.id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
            "id {} is not lower-case kebab",
            e.id
        );
        assert!(!e.summary.is_empty(), "{} has no summary", e.id);
        let prefix = match e.system {
            System::HighLevel => "ghl.",
            System::AccessAlly => "accessally.",
        };
        assert!(e.id.starts_with(prefix), "{} has system {}", e.id, e.system);
    }
    for system in [System::HighLevel, System::AccessAlly] {
        for kind in [Kind::Action, Kind::Trigger] {
            assert!(
                filter(Filter {
                    system: Some(system),
                    kind: Some(kind),
                    flow: None
                })
                .count()
                    > 0,
                "no {system} {kind}"
            );
        }
    }
}

fn spec_operations(file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let root: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let mut out = Vec::new();
    for (path, item) in root["paths"].as_object().into_iter().flatten() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    Ok(out)
}

fn has_action(system: System, method: &str, path: &str) -> bool {
    by_system(system).any(|e| {
        e.kind == Kind::Action
            && e.method.as_deref() == Some(method)
            && e.path.as_deref() == Some(path)
    })
}

#[test]
fn every_operation_of_the_four_highlevel_specs_is_present() -> anyhow::Result<()> {
    let mut total = 0;
    for spec in ["payments", "products", "contacts", "invoices"] {
        let ops = spec_operations(&shared().join(format!("specs/ghl/apps/{spec}.json")))?;
        assert!(!ops.is_empty());
        for (method, path) in ops {
            total += 1;
            assert!(
                has_action(System::HighLevel, &method, &path),
                "{spec}.json {method} {path} is missing"
            );
        }
    }
    assert!(total >= 124, "{total}");
    Ok(())
}

#[test]
fn every_contract_operation_and_aal_command_is_present() -> anyhow::Result<()> {
    let root: Value = serde_json::from_str(&std::fs::read_to_string(contract())?)?;
    for (method, path) in spec_operations(&contract())? {
        if path == "/" {
            continue; // the aal_* commands, checked one by one below
        }
        let full = format!("/wp-json/allybridge/v1{path}");
        assert!(
            has_action(System::AccessAlly, &method, &full),
            "contract {method} {path} is missing"
        );
    }
    let commands: Vec<&str> = root["paths"]["/"]["post"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| n.starts_with("aal_"))
        .collect();
    assert_eq!(commands.len(), 6, "{commands:?}");
    for command in commands {
        let entry = find(&format!("accessally.aal.{}", &command[4..]));
        let entry = entry.ok_or_else(|| anyhow::anyhow!("{command} is missing"))?;
        assert_eq!(entry.documented, Documented::DocumentedAccessally);
        assert!(entry.parameters.iter().any(|p| p.name == "contactId"));
    }
    let topics = root["components"]["schemas"]["Topic"]["enum"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(topics.len() >= 8);
    for topic in topics.iter().filter_map(Value::as_str) {
        let id = format!("accessally.webhook.{}", topic.replace('.', "-"));
        let entry = find(&id).ok_or_else(|| anyhow::anyhow!("{id} is missing"))?;
        assert_eq!(entry.kind, Kind::Trigger);
    }
    Ok(())
}

#[test]
fn every_highlevel_webhook_event_and_every_poll_is_a_trigger() -> anyhow::Result<()> {
    for file in std::fs::read_dir(shared().join("specs/ghl/docs/webhook events"))? {
        let name = file?.file_name().to_string_lossy().replace(".md", "");
        assert!(
            by_kind(Kind::Trigger).any(|e| e.summary.starts_with(&format!("{name} webhook"))),
            "{name} is missing"
        );
    }
    for id in [
        "ghl.poll.coupons",
        "ghl.poll.products",
        "ghl.poll.orders",
        "ghl.poll.reconcile",
        "accessally.poll.offerings",
        "accessally.poll.orders",
        "accessally.poll.reconcile",
    ] {
        let poll = find(id).ok_or_else(|| anyhow::anyhow!("{id} is missing"))?;
        assert_eq!(poll.kind, Kind::Trigger);
    }
    let coupons = find("ghl.poll.coupons").ok_or_else(|| anyhow::anyhow!("no coupon poll"))?;
    assert_eq!(coupons.path.as_deref(), Some("/payments/coupon/list"));
    assert_eq!(coupons.scope.as_deref(), Some("payments/coupons.readonly"));
    Ok(())
}

#[test]
fn scopes_and_used_by_are_right_for_known_entries() -> anyhow::Result<()> {
    let get = |id: &str| find(id).ok_or_else(|| anyhow::anyhow!("{id} is missing"));

    let product = get("ghl.products.get-product-by-id")?;
    assert_eq!(product.method.as_deref(), Some("GET"));
    assert_eq!(product.path.as_deref(), Some("/products/{productId}"));
    assert_eq!(product.scope.as_deref(), Some("products.readonly"));
    assert_eq!(product.documented, Documented::Official);
    assert!(product.used_by.contains(&Flow::ProductsToAccessally));
    assert!(product.used_by.contains(&Flow::ProductsToHighlevel));
    assert!(
        product
            .parameters
            .iter()
            .any(|p| p.name == "productId" && p.location == "path" && p.required)
    );
    assert!(!product.parameters.iter().any(|p| p.name == "Version"));

    let record = get("ghl.invoices.record-invoice")?;
    assert_eq!(
        record.path.as_deref(),
        Some("/invoices/{invoiceId}/record-payment")
    );
    assert_eq!(record.scope.as_deref(), Some("invoices.write"));
    assert_eq!(record.used_by, [Flow::OrdersToHighlevel]);
    assert!(record.is_write());

    let coupons = get("ghl.payments.list-coupons")?;
    assert_eq!(coupons.used_by, [Flow::CouponsToAccessally]);
    let create_coupon = get("ghl.payments.create-coupon")?;
    assert!(
        create_coupon.used_by.is_empty(),
        "allybridge never writes HighLevel coupons"
    );

    let bulk = get("ghl.products.bulk-edit")?;
    assert_eq!(
        bulk.scope, None,
        "the spec declares no security for bulkEdit"
    );

    let upsert = get("ghl.contacts.upsert-contact")?;
    assert_eq!(upsert.scope.as_deref(), Some("contacts.write"));
    assert_eq!(upsert.used_by, [Flow::OrdersToHighlevel]);

    let grant = get("accessally.access-grants.create-access-grant")?;
    assert_eq!(grant.used_by, [Flow::OrdersToAccessally]);
    assert_eq!(grant.documented, Documented::AllybridgeContract);
    assert_eq!(
        grant.path.as_deref(),
        Some("/wp-json/allybridge/v1/access-grants")
    );
    assert!(
        grant
            .parameters
            .iter()
            .any(|p| p.location == "body" && p.kind == "AccessGrantInput")
    );

    let genpass = get("accessally.aal.genpass")?;
    assert_eq!(genpass.path.as_deref(), Some("/?aal_genpass={handshake}"));
    assert_eq!(genpass.used_by, [Flow::OrdersToAccessally]);
    let charge = get("accessally.aal.chargesubscription")?;
    assert!(charge.parameters.iter().any(|p| p.name == "productId"));
    let fieldop = get("accessally.aal.fieldop")?;
    assert!(fieldop.parameters.iter().any(|p| p.name == "operationId"));

    let order_create = get("ghl.webhook.order-create")?;
    assert_eq!(order_create.used_by, [Flow::OrdersToAccessally]);
    assert!(
        order_create
            .parameters
            .iter()
            .any(|p| p.name == "contactId")
    );
    let contact_create = get("ghl.webhook.contact-create")?;
    assert_eq!(contact_create.scope.as_deref(), Some("contacts.readonly"));

    let completed = get("accessally.webhook.order-completed")?;
    assert_eq!(completed.used_by, [Flow::OrdersToHighlevel]);

    let coupon_flow: Vec<&str> = used_by(Flow::CouponsToAccessally)
        .map(|e| e.id.as_str())
        .collect();
    assert!(
        coupon_flow.contains(&"accessally.coupons.create-coupon"),
        "{coupon_flow:?}"
    );
    assert!(coupon_flow.contains(&"ghl.poll.coupons"), "{coupon_flow:?}");
    Ok(())
}

#[test]
fn every_operation_the_highlevel_client_performs_is_catalogued() {
    for op in ghl::Operation::ALL {
        let info = op.info();
        assert!(
            has_action(System::HighLevel, info.method, info.path),
            "{} {} {} is not in the catalog",
            info.id,
            info.method,
            info.path
        );
    }
}

#[test]
fn entries_serialise_with_the_documented_field_names() -> anyhow::Result<()> {
    let json = serde_json::to_value(&entries()[0])?;
    for key in [
        "id",
        "system",
        "kind",
        "method",
        "path",
        "scope",
        "summary",
        "parameters",
        "used_by",
        "documented",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    Ok(())
}

#[test]
fn a_call_is_named_by_the_action_whose_template_it_fits() {
    let name = |system, method, path| action_name(system, method, path);
    assert_eq!(
        name(
            System::AccessAlly,
            "GET",
            "/wp-json/allybridge/v1/offerings/42"
        )
        .as_deref(),
        Some("accessally.offerings.get-offering")
    );
    assert_eq!(
        name(
            System::AccessAlly,
            "put",
            "/wp-json/allybridge/v1/coupons/7"
        )
        .as_deref(),
        Some("accessally.coupons.update-coupon")
    );
    // The `aal_*` commands share one path; the query tells them apart.
    assert_eq!(
        name(System::AccessAlly, "POST", "/").as_deref(),
        Some("accessally.aal")
    );
    // A literal segment beats a placeholder.
    let inventory = name(System::HighLevel, "GET", "/products/inventory");
    let product = name(System::HighLevel, "GET", "/products/p-1");
    assert!(inventory.is_some() && product.is_some());
    assert_ne!(inventory, product);
    // An empty segment is no id, and unknown calls have no name.
    assert_eq!(
        name(
            System::AccessAlly,
            "GET",
            "/wp-json/allybridge/v1/offerings/"
        ),
        None
    );
    assert_eq!(name(System::HighLevel, "GET", "/no/such/thing"), None);
    assert_eq!(name(System::HighLevel, "PATCH", "/products/p-1"), None);
}
