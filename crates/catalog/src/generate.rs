//! The generator of `catalog.json`: reads HighLevel's official OpenAPI
//! specs (`../shared/specs/ghl/apps/*.json`), its webhook event pages and
//! scope table (`docs/`), and the AccessAlly Bridge API contract
//! (`docs/accessally-bridge-api.json`), and turns every operation, `aal_*`
//! command, webhook event and poll into an [`Entry`]. Which flow uses which
//! HighLevel operation comes from `ghl::operations`; the few facts no spec
//! holds (AccessAlly usage, webhook usage, the polls allybridge runs) are
//! the small tables below. Test-only: it reads files outside the
//! repository, which the binary never does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use model::Flow;
use serde_json::Value;

use crate::{Documented, Entry, Kind, Parameter, System};

/// The official HighLevel specs covered, by file stem under `apps/`.
pub const GHL_SPECS: &[&str] = &["payments", "products", "contacts", "invoices", "oauth"];

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// allybridge's webhook endpoints (served by `allybridge serve`).
const GHL_WEBHOOK_PATH: &str = "/webhooks/ghl";
const ACCESSALLY_WEBHOOK_PATH: &str = "/webhooks/accessally";

/// Flows that consume each HighLevel webhook event (the rest are listed but unused).
fn ghl_event_flows(event: &str) -> Vec<Flow> {
    match event {
        "ProductCreate" | "ProductUpdate" | "ProductDelete" | "PriceCreate" | "PriceUpdate"
        | "PriceDelete" => vec![Flow::ProductsToAccessally],
        "OrderCreate" | "OrderStatusUpdate" => vec![Flow::OrdersToAccessally],
        _ => vec![],
    }
}

/// Flows that use each AccessAlly Bridge API operation or `aal_*` command.
fn accessally_flows(operation: &str) -> Vec<Flow> {
    use Flow::*;
    match operation {
        "list_offerings" => vec![
            CouponsToAccessally,
            ProductsToAccessally,
            ProductsToHighlevel,
            OrdersToAccessally,
        ],
        "get_offering" => vec![ProductsToAccessally, ProductsToHighlevel],
        "create_offering" | "update_offering" | "delete_offering" => vec![ProductsToAccessally],
        "list_coupons" | "get_coupon" | "create_coupon" | "update_coupon" | "delete_coupon" => {
            vec![CouponsToAccessally]
        }
        "list_orders" | "get_order" => vec![OrdersToHighlevel],
        "create_access_grant" | "aal_genpass" => vec![OrdersToAccessally],
        _ => vec![],
    }
}

/// Flows that consume each AccessAlly webhook topic.
fn topic_flows(topic: &str) -> Vec<Flow> {
    if topic.starts_with("order.") {
        vec![Flow::OrdersToHighlevel]
    } else if topic.starts_with("offering.") {
        vec![Flow::ProductsToHighlevel]
    } else {
        vec![]
    }
}

/// The polls allybridge runs: id, the list operation it calls (method, path), flows, summary.
struct Poll {
    id: &'static str,
    system: System,
    call: Option<(&'static str, &'static str)>,
    flows: &'static [Flow],
    summary: &'static str,
}

const POLLS: &[Poll] = &[
    Poll {
        id: "ghl.poll.coupons",
        system: System::HighLevel,
        call: Some(("GET", "/payments/coupon/list")),
        flows: &[Flow::CouponsToAccessally],
        summary: "Coupon poll: HighLevel has no coupon webhooks, so coupons are listed every `engine.coupon_poll_interval` and changes enqueued",
    },
    Poll {
        id: "ghl.poll.products",
        system: System::HighLevel,
        call: Some(("GET", "/products/")),
        flows: &[Flow::ProductsToAccessally],
        summary: "Product poll: HighLevel products listed every `engine.product_poll_interval` to catch lost webhooks",
    },
    Poll {
        id: "ghl.poll.orders",
        system: System::HighLevel,
        call: Some(("GET", "/payments/orders")),
        flows: &[Flow::OrdersToAccessally],
        summary: "Order poll: HighLevel orders listed every `engine.order_poll_interval` to catch lost webhooks",
    },
    Poll {
        id: "ghl.poll.reconcile",
        system: System::HighLevel,
        call: None,
        flows: &Flow::ALL,
        summary: "Reconciliation: full scan of HighLevel coupons, products, prices, inventory and orders every `engine.reconcile_interval`; drift is reported and repaired through the queue",
    },
    Poll {
        id: "accessally.poll.offerings",
        system: System::AccessAlly,
        call: Some(("GET", "/offerings")),
        flows: &[Flow::ProductsToHighlevel],
        summary: "Product poll: AccessAlly offerings listed (modified_after the cursor) every `engine.product_poll_interval`",
    },
    Poll {
        id: "accessally.poll.orders",
        system: System::AccessAlly,
        call: Some(("GET", "/orders")),
        flows: &[Flow::OrdersToHighlevel],
        summary: "Order poll: AccessAlly orders listed (modified_after the cursor) every `engine.order_poll_interval`",
    },
    Poll {
        id: "accessally.poll.reconcile",
        system: System::AccessAlly,
        call: None,
        flows: &Flow::ALL,
        summary: "Reconciliation: full scan of AccessAlly offerings, coupons and orders every `engine.reconcile_interval`; drift is reported and repaired through the queue",
    },
];

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

/// `create-integration provider` → `create-integration-provider`, `bulkUpdate` → `bulk-update`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = true;
        } else {
            if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Follows a local `$ref` (`#/components/...`) once.
fn deref<'a>(root: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/") => root.pointer(&r[1..]).unwrap_or(value),
        _ => value,
    }
}

fn type_name(root: &Value, schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    let schema = deref(root, schema);
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!(
            "array<{}>",
            schema
                .get("items")
                .map_or_else(|| "any".to_string(), |i| type_name(root, i))
        ),
        Some(t) => t.to_string(),
        None if schema.get("anyOf").is_some() || schema.get("oneOf").is_some() => "any".into(),
        None => "object".into(),
    }
}

fn parameters(root: &Value, path_item: &Value, operation: &Value) -> Vec<Parameter> {
    let mut out: Vec<Parameter> = Vec::new();
    let listed = path_item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            operation
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    for p in listed {
        let p = deref(root, p);
        let (Some(name), Some(location)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            continue;
        };
        // HighLevel's `Version` header is constant; the client always sends it.
        if location == "header" && name == "Version" {
            continue;
        }
        let param = Parameter {
            name: name.to_string(),
            location: location.to_string(),
            required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
            kind: p
                .get("schema")
                .map_or_else(|| "string".to_string(), |s| type_name(root, s)),
        };
        // An operation-level parameter overrides a path-level one of the same name.
        out.retain(|q| !(q.name == param.name && q.location == param.location));
        out.push(param);
    }
    if let Some(body) = operation.get("requestBody") {
        let body = deref(root, body);
        let content = body.get("content").and_then(Value::as_object);
        let schema = content
            .and_then(|c| c.values().next())
            .and_then(|m| m.get("schema"));
        out.push(Parameter {
            name: "body".into(),
            location: "body".into(),
            required: body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            kind: schema.map_or_else(|| "object".to_string(), |s| type_name(root, s)),
        });
    }
    out
}

/// Scopes and scheme names of an operation's `security` (falling back to the document's).
fn security(root: &Value, operation: &Value) -> (Option<String>, Vec<String>) {
    let security = operation.get("security").or_else(|| root.get("security"));
    let mut scopes = BTreeSet::new();
    let mut schemes = Vec::new();
    for requirement in security.and_then(Value::as_array).into_iter().flatten() {
        for (scheme, scope_list) in requirement.as_object().into_iter().flatten() {
            if !schemes.contains(scheme) {
                schemes.push(scheme.clone());
            }
            for s in scope_list.as_array().into_iter().flatten() {
                if let Some(s) = s.as_str() {
                    scopes.insert(s.to_string());
                }
            }
        }
    }
    let scope = (!scopes.is_empty()).then(|| scopes.into_iter().collect::<Vec<_>>().join(" "));
    (scope, schemes)
}

fn summary_of(operation: &Value) -> String {
    operation
        .get("summary")
        .or_else(|| operation.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string()
}

fn ghl_operations(shared: &Path) -> Result<Vec<Entry>, String> {
    let mut uses: BTreeMap<(String, String), BTreeSet<Flow>> = BTreeMap::new();
    for flow in Flow::ALL {
        for op in ghl::operations::operations_for(flow) {
            let info = op.info();
            uses.entry((info.method.to_string(), info.path.to_string()))
                .or_default()
                .insert(flow);
        }
    }
    let mut out = Vec::new();
    for spec in GHL_SPECS {
        let root = read_json(&shared.join(format!("specs/ghl/apps/{spec}.json")))?;
        let paths = root
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{spec}.json has no paths"))?;
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(*method) else {
                    continue;
                };
                let op_id = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{spec}.json {method} {path} has no operationId"))?;
                let method = method.to_ascii_uppercase();
                let (scope, auth) = security(&root, operation);
                out.push(Entry {
                    id: format!("ghl.{spec}.{}", slug(op_id)),
                    system: System::HighLevel,
                    kind: Kind::Action,
                    used_by: uses
                        .get(&(method.clone(), path.clone()))
                        .map(|f| f.iter().copied().collect())
                        .unwrap_or_default(),
                    method: Some(method),
                    path: Some(path.clone()),
                    scope,
                    auth,
                    summary: summary_of(operation),
                    parameters: parameters(&root, item, operation),
                    documented: Documented::Official,
                    source: format!("specs/ghl/apps/{spec}.json#{op_id}"),
                });
            }
        }
    }
    Ok(out)
}

/// The webhook events each scope covers, from `docs/oauth/Scopes.md`'s table.
fn event_scopes(shared: &Path) -> Result<BTreeMap<String, String>, String> {
    let path = shared.join("specs/ghl/docs/oauth/Scopes.md");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = BTreeMap::new();
    let mut scope = String::new();
    for line in text.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(first), Some(events)) = (cells.get(1), cells.get(3)) else {
            continue;
        };
        if !first.is_empty() && *first != "&nbsp;" && !first.starts_with('-') {
            scope = (*first).to_string();
        }
        for event in events.split([',', ' ']).map(str::trim) {
            if !event.is_empty() && event != "&nbsp;" && event.chars().all(char::is_alphanumeric) {
                out.insert(event.to_string(), scope.clone());
            }
        }
    }
    Ok(out)
}

fn ghl_webhooks(shared: &Path) -> Result<Vec<Entry>, String> {
    let scopes = event_scopes(shared)?;
    let dir = shared.join("specs/ghl/docs/webhook events");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let event = file
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("odd file name {}", file.display()))?
            .to_string();
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let summary = text
            .lines()
            .find(|l| l.starts_with("Called"))
            .unwrap_or("")
            .trim()
            .to_string();
        let schema: Value = text
            .split_once("```json json_schema")
            .and_then(|(_, rest)| rest.split_once("```"))
            .map(|(block, _)| serde_json::from_str(block))
            .transpose()
            .map_err(|e| format!("{}: schema is not JSON: {e}", file.display()))?
            .unwrap_or(Value::Null);
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let parameters = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(name, s)| Parameter {
                name: name.clone(),
                location: "body".into(),
                required: required.contains(name.as_str()),
                kind: type_name(&schema, s),
            })
            .collect();
        out.push(Entry {
            id: format!("ghl.webhook.{}", slug(&event)),
            system: System::HighLevel,
            kind: Kind::Trigger,
            method: Some("POST".into()),
            path: Some(GHL_WEBHOOK_PATH.into()),
            scope: scopes.get(&event).cloned(),
            auth: vec!["x-ghl-signature".into(), "x-wh-signature".into()],
            summary: format!("{event} webhook: {summary}"),
            parameters,
            used_by: ghl_event_flows(&event),
            documented: Documented::Official,
            source: format!("specs/ghl/docs/webhook events/{event}.md"),
        });
    }
    Ok(out)
}

fn documented_from(origin: Option<&str>) -> Documented {
    match origin {
        Some("documented-accessally") => Documented::DocumentedAccessally,
        _ => Documented::AllybridgeContract,
    }
}

fn accessally(contract: &Path) -> Result<Vec<Entry>, String> {
    let root = read_json(contract)?;
    let base = root
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .and_then(|u| u.strip_prefix("{site}"))
        .unwrap_or("")
        .to_string();
    let paths = root
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("the contract has no paths")?;
    let mut out = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(operation) = item.get(*method) else {
                continue;
            };
            let op_id = operation
                .get("operationId")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("contract {method} {path} has no operationId"))?;
            let origin = operation.get("x-origin").and_then(Value::as_str);
            if op_id == "aal_command" {
                out.extend(aal_commands(&root, operation)?);
                continue;
            }
            let tag = operation
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .unwrap_or("bridge");
            let (scope, auth) = security(&root, operation);
            out.push(Entry {
                id: format!("accessally.{tag}.{}", slug(op_id)),
                system: System::AccessAlly,
                kind: Kind::Action,
                method: Some(method.to_ascii_uppercase()),
                path: Some(format!("{base}{path}")),
                scope,
                auth,
                summary: summary_of(operation),
                parameters: parameters(&root, item, operation),
                used_by: accessally_flows(op_id),
                documented: documented_from(origin),
                source: format!("docs/accessally-bridge-api.json#{op_id}"),
            });
        }
    }
    let topics = root
        .pointer("/components/schemas/Topic/enum")
        .and_then(Value::as_array)
        .ok_or("the contract has no Topic enum")?;
    let payload = root
        .pointer("/components/schemas/WebhookPayload")
        .ok_or("the contract has no WebhookPayload")?;
    let required: BTreeSet<&str> = payload
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let fields: Vec<Parameter> = payload
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, s)| Parameter {
            name: name.clone(),
            location: "body".into(),
            required: required.contains(name.as_str()),
            kind: type_name(&root, s),
        })
        .collect();
    for topic in topics.iter().filter_map(Value::as_str) {
        let (resource, what) = topic.split_once('.').unwrap_or((topic, "changed"));
        out.push(Entry {
            id: format!("accessally.webhook.{}", slug(topic)),
            system: System::AccessAlly,
            kind: Kind::Trigger,
            method: Some("POST".into()),
            path: Some(ACCESSALLY_WEBHOOK_PATH.into()),
            scope: None,
            auth: vec!["webhook-signature".into()],
            summary: format!(
                "{topic} webhook: an AccessAlly {resource} was {what} (Standard Webhooks, signed)"
            ),
            parameters: fields.clone(),
            used_by: topic_flows(topic),
            documented: documented_from(payload.get("x-origin").and_then(Value::as_str)),
            source: "docs/accessally-bridge-api.json#/components/schemas/Topic".into(),
        });
    }
    Ok(out)
}

/// One entry per `aal_*` query parameter of the contract's `aal_command` operation.
fn aal_commands(root: &Value, operation: &Value) -> Result<Vec<Entry>, String> {
    let params: Vec<&Value> = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| deref(root, p))
        .collect();
    let form = operation
        .pointer("/requestBody/content/application~1x-www-form-urlencoded/schema/properties")
        .and_then(Value::as_object)
        .ok_or("aal_command has no form body")?;
    let origin = operation.get("x-origin").and_then(Value::as_str);
    let mut out = Vec::new();
    for p in &params {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(command) = name.strip_prefix("aal_") else {
            continue;
        };
        let description = p.get("description").and_then(Value::as_str).unwrap_or("");
        let what = description
            .split_once("this command is to ")
            .map_or(description, |(_, w)| w)
            .trim();
        let mut parameters = vec![Parameter {
            name: name.to_string(),
            location: "query".into(),
            required: true,
            kind: "string (the handshake)".into(),
        }];
        for (field, schema) in form {
            // `contactId` goes with every command; other fields only where the command names them.
            if field == "contactId" || description.contains(&format!("`{field}`")) {
                parameters.push(Parameter {
                    name: field.clone(),
                    location: "form".into(),
                    required: field == "contactId",
                    kind: type_name(root, schema),
                });
            }
        }
        for other in &params {
            let Some(other_name) = other.get("name").and_then(Value::as_str) else {
                continue;
            };
            let other_description = other
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !other_name.starts_with("aal_") && other_description.contains(&format!("`{name}`")) {
                parameters.push(Parameter {
                    name: other_name.to_string(),
                    location: "query".into(),
                    required: false,
                    kind: other
                        .get("schema")
                        .map_or_else(|| "string".into(), |s| type_name(root, s)),
                });
            }
        }
        let (scope, mut auth) = security(root, operation);
        if auth.is_empty() {
            // The contract declares `security: []`: the handshake in the query authenticates.
            auth.push("handshake".into());
        }
        out.push(Entry {
            id: format!("accessally.aal.{}", slug(command)),
            system: System::AccessAlly,
            kind: Kind::Action,
            method: Some("POST".into()),
            path: Some(format!("/?{name}={{handshake}}")),
            scope,
            auth,
            summary: format!("{name}: {}", what.trim_end_matches('.')),
            parameters,
            used_by: accessally_flows(name),
            documented: documented_from(origin),
            source: format!("docs/accessally-bridge-api.json#aal_command/{name}"),
        });
    }
    Ok(out)
}

fn polls(actions: &[Entry]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for poll in POLLS {
        let called = match poll.call {
            Some((method, path)) => {
                let matching: Vec<&Entry> = actions
                    .iter()
                    .filter(|e| {
                        e.system == poll.system
                            && e.method.as_deref() == Some(method)
                            && e.path.as_deref().is_some_and(|p| p.ends_with(path))
                    })
                    .collect();
                match matching.as_slice() {
                    [one] => Some(*one),
                    _ => {
                        return Err(format!(
                            "poll {} calls {method} {path}: {} operations match, expected one",
                            poll.id,
                            matching.len()
                        ));
                    }
                }
            }
            None => None,
        };
        out.push(Entry {
            id: poll.id.to_string(),
            system: poll.system,
            kind: Kind::Trigger,
            method: called.and_then(|c| c.method.clone()),
            path: called.and_then(|c| c.path.clone()),
            scope: called.and_then(|c| c.scope.clone()),
            auth: called.map(|c| c.auth.clone()).unwrap_or_default(),
            summary: match called {
                Some(c) => format!("{} (calls {})", poll.summary, c.id),
                None => poll.summary.to_string(),
            },
            parameters: called.map(|c| c.parameters.clone()).unwrap_or_default(),
            used_by: poll.flows.to_vec(),
            documented: called.map_or(Documented::AllybridgeContract, |c| c.documented),
            source: "allybridge polls (crates/catalog/src/generate.rs)".into(),
        });
    }
    Ok(out)
}

/// Reads the specs under `shared` and the contract, and returns every entry, sorted.
pub fn generate(shared: &Path, contract: &Path) -> Result<Vec<Entry>, String> {
    let mut entries = ghl_operations(shared)?;
    entries.extend(accessally(contract)?);
    let polls = polls(&entries)?;
    entries.extend(ghl_webhooks(shared)?);
    entries.extend(polls);
    entries.sort_by(|a, b| (a.system, a.kind, &a.id).cmp(&(b.system, b.kind, &b.id)));
    let mut seen = BTreeSet::new();
    for e in &entries {
        if !seen.insert(e.id.as_str()) {
            return Err(format!("two entries have the id {}", e.id));
        }
    }
    Ok(entries)
}

/// The text of `catalog.json`.
pub fn render(entries: &[Entry]) -> Result<String, String> {
    serde_json::to_string_pretty(entries)
        .map(|s| s + "\n")
        .map_err(|e| format!("cannot serialise the catalog: {e}"))
}
