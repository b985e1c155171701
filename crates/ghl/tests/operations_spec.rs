//! The client's operation table agrees with the official specs: every
//! operation exists at its method and path, its scope is the one the
//! spec's `security` block names (or, where the spec has none, the one
//! chosen in `UNDOCUMENTED_SECURITY`, checked to be still undocumented),
//! and the query parameters it names the location with are the spec's.

use ghl::Operation;
use spec_check::Spec;

/// Operations whose spec has no `security` block, with the scope the client
/// asks for and why.
const UNDOCUMENTED_SECURITY: &[(Operation, &str, &str)] = &[(
    Operation::BulkEditProducts,
    "products.write",
    "bulkEdit has no security block; its sibling bulkUpdate asks for products.write",
)];

#[test]
fn every_operation_and_scope_is_in_the_specs() {
    let dir = spec_check::ghl_specs_dir().join("apps");
    for op in Operation::ALL {
        let info = op.info();
        let spec = Spec::load(dir.join(format!("{}.json", info.spec))).expect("spec loads");
        let found = spec
            .operation(info.method, info.path)
            .unwrap_or_else(|| panic!("{} {} not in {}.json", info.method, info.path, info.spec));
        let scopes: Vec<String> = found.raw["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_object())
            .flat_map(|o| o.values())
            .filter_map(|v| v.as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let query: Vec<(&str, bool)> = found.raw["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| Some((p["name"].as_str()?, p["required"] == true)))
            .collect();
        for name in op.location_query() {
            assert!(
                query.iter().any(|(n, _)| n == name),
                "{}: the spec has no query parameter {name}: {query:?}",
                info.id
            );
        }
        for (name, _) in query
            .iter()
            .filter(|(n, required)| *required && matches!(*n, "altId" | "altType" | "locationId"))
        {
            assert!(
                op.location_query().contains(name),
                "{}: the spec requires the query parameter {name}",
                info.id
            );
        }
        if let Some((_, scope, why)) = UNDOCUMENTED_SECURITY.iter().find(|(o, ..)| *o == op) {
            assert!(
                scopes.is_empty(),
                "{}: the spec now documents {scopes:?}; check it ({why})",
                info.id
            );
            assert_eq!(info.scope, *scope, "{why}");
            continue;
        }
        assert!(
            scopes.iter().any(|s| s == info.scope),
            "{}: scope {} not in {:?}",
            info.id,
            info.scope,
            scopes
        );
    }
}
