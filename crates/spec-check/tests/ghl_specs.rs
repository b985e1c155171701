//! Tests over the official HighLevel OpenAPI specs (`shared/specs/ghl`,
//! beside this repository): every `$ref` resolves, the official examples
//! agree with their schemas except for the upstream mistakes recorded in
//! [`KNOWN_BAD_EXAMPLES`], and hand-written wrong bodies are rejected.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use spec_check::{CheckError, Direction, Spec};

const FILES: [&str; 5] = ["payments", "products", "contacts", "invoices", "oauth"];

/// Upstream examples that violate their own schema (snapshot
/// 0af86a4cbd48c66a4071c7e509d1079f9f10ed17), as `file pointer-to-schema
/// keyword`.
/// The validator is right and the examples are wrong; the kinds of mistake:
/// - JS-object-literal text as a string where the schema says `object`
///   (`paymentProvider`, `contactSnapshot`, `chargeSnapshot`, `meta`, ...);
/// - quoted scalars: `"100"` for `number` (`amount`, `subtotal`,
///   `invoiceNumber`, `rating`), `"false"`/`"true"` for `boolean`
///   (`liveMode`, `markAsTest`, `success`, `removeAllTags`);
/// - `type: object` on plain strings/numbers (`status: "active"`,
///   `altType: "location"`, `dateOfBirth`, custom-field `field_value`);
/// - arrays whose `items` are declared `string` but hold objects
///   (invoice `invoiceItems`/`items`, estimate `estimateActionHistory`,
///   contacts bulk-tag `responses`) or numbers (`tipsPercentage`), and
///   estimate `items` declared as arrays of arrays;
/// - a scalar where an array is declared (`priceIds`, `followers`,
///   `validOnProductIds`, order `items`) and an array where an object is
///   (`applyToFuturePaymentsConfig`);
/// - enum mismatches: `"LOCATION"` vs `["location"]`, `"forever | fixed"`;
/// - `null` for non-nullable `trackInventory` (every price response);
/// - oauth `isBulkInstallation` (boolean) with example `"Bearer"`;
/// - `default`s: `{"type": "forever"}` for coupon `applyToFuturePaymentsConfig`
///   (misses the required `duration`, `durationType`), and a sentence as
///   the default of the numeric prices-list `total`;
/// - query-parameter examples: `limit`/`offset` typed `string` with
///   example `10`, a boolean example for a string parameter.
const KNOWN_BAD_EXAMPLES: &[&str] = &[
    "payments /components/schemas/AmountSummary/properties/discount example",
    "payments /components/schemas/AmountSummary/properties/subtotal example",
    "payments /components/schemas/ApplyToFuturePaymentsConfig/properties/type example",
    "payments /components/schemas/ConnectCustomProvidersResponseSchema/properties/paymentProvider example",
    "payments /components/schemas/CreateCouponParams/properties/applyToFuturePaymentsConfig example",
    "payments /components/schemas/CreateCustomProvidersResponseSchema/properties/paymentProvider example",
    "payments /components/schemas/CreateWhiteLabelIntegrationProviderDto/properties/provider example",
    "payments /components/schemas/DefaultPriceResponseDto/properties/trackInventory example",
    "payments /components/schemas/DeleteCustomProvidersConfigDto/properties/liveMode example",
    "payments /components/schemas/DeleteCustomProvidersResponseSchema/properties/success example",
    "payments /components/schemas/DisconnectCustomProvidersResponseSchema/properties/success example",
    "payments /components/schemas/GetCustomProvidersResponseSchema/properties/paymentProvider example",
    "payments /components/schemas/GetOrderResponseSchema/properties/amount example",
    "payments /components/schemas/GetOrderResponseSchema/properties/amountSummary example",
    "payments /components/schemas/GetOrderResponseSchema/properties/contactSnapshot example",
    "payments /components/schemas/GetOrderResponseSchema/properties/coupon example",
    "payments /components/schemas/GetOrderResponseSchema/properties/items example",
    "payments /components/schemas/GetOrderResponseSchema/properties/liveMode example",
    "payments /components/schemas/GetOrderResponseSchema/properties/markAsTest example",
    "payments /components/schemas/GetOrderResponseSchema/properties/meta example",
    "payments /components/schemas/GetOrderResponseSchema/properties/source example",
    "payments /components/schemas/GetOrderResponseSchema/properties/taxCalculationProvider example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/altType example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/amount example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/autoPayment example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/contactSnapshot example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/coupon example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/entitySource example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/liveMode example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/markAsTest example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/meta example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/paymentProvider example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/recurringProduct example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/schedule example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/status example",
    "payments /components/schemas/GetSubscriptionResponseSchema/properties/subscriptionSnapshot example",
    "payments /components/schemas/GetTxnResponseSchema/properties/amount example",
    "payments /components/schemas/GetTxnResponseSchema/properties/amountRefunded example",
    "payments /components/schemas/GetTxnResponseSchema/properties/chargeSnapshot example",
    "payments /components/schemas/GetTxnResponseSchema/properties/contactSnapshot example",
    "payments /components/schemas/GetTxnResponseSchema/properties/entitySource example",
    "payments /components/schemas/GetTxnResponseSchema/properties/isParent example",
    "payments /components/schemas/GetTxnResponseSchema/properties/liveMode example",
    "payments /components/schemas/GetTxnResponseSchema/properties/markAsTest example",
    "payments /components/schemas/GetTxnResponseSchema/properties/meta example",
    "payments /components/schemas/GetTxnResponseSchema/properties/paymentProvider example",
    "payments /components/schemas/GetTxnResponseSchema/properties/qboResponse example",
    "payments /components/schemas/GetTxnResponseSchema/properties/qboSynced example",
    "payments /components/schemas/GetTxnResponseSchema/properties/status example",
    "payments /components/schemas/OrderResponseSchema/properties/amount example",
    "payments /components/schemas/OrderResponseSchema/properties/discount example",
    "payments /components/schemas/OrderResponseSchema/properties/liveMode example",
    "payments /components/schemas/OrderResponseSchema/properties/onetimeProducts example",
    "payments /components/schemas/OrderResponseSchema/properties/recurringProducts example",
    "payments /components/schemas/OrderResponseSchema/properties/sourceMeta example",
    "payments /components/schemas/OrderResponseSchema/properties/subtotal example",
    "payments /components/schemas/OrderResponseSchema/properties/totalProducts example",
    "payments /components/schemas/SubscriptionResponseSchema/properties/amount example",
    "payments /components/schemas/SubscriptionResponseSchema/properties/entitySourceMeta example",
    "payments /components/schemas/SubscriptionResponseSchema/properties/liveMode example",
    "payments /components/schemas/SubscriptionResponseSchema/properties/status example",
    "payments /components/schemas/SubscriptionResponseSchema/properties/subscriptionSnapshot example",
    "payments /components/schemas/TxnResponseSchema/properties/amount example",
    "payments /components/schemas/TxnResponseSchema/properties/amountRefunded example",
    "payments /components/schemas/TxnResponseSchema/properties/chargeSnapshot example",
    "payments /components/schemas/TxnResponseSchema/properties/entitySourceMeta example",
    "payments /components/schemas/TxnResponseSchema/properties/liveMode example",
    "payments /components/schemas/TxnResponseSchema/properties/paymentMethod example",
    "payments /components/schemas/TxnResponseSchema/properties/status example",
    "payments /components/schemas/UpdateCouponParams/properties/applyToFuturePaymentsConfig example",
    "payments /components/schemas/UpdateCustomProviderCapabilitiesResponseSchema/properties/success example",
    "payments /paths/~1payments~1subscriptions/get/parameters/13/schema example",
    "products /components/schemas/CreatePriceResponseDto/properties/trackInventory example",
    "products /components/schemas/CreateProductCollectionsDto/properties/altType example",
    "products /components/schemas/DefaultPriceResponseDto/properties/trackInventory example",
    "products /components/schemas/GetPriceResponseDto/properties/trackInventory example",
    "products /components/schemas/ProductMediaDto/properties/priceIds example",
    "products /components/schemas/UpdatePriceResponseDto/properties/trackInventory example",
    "products /components/schemas/UpdateProductCollectionsDto/properties/altType example",
    "products /components/schemas/UpdateProductReviewDto/properties/rating example",
    "products /components/schemas/UpdateProductReviewsDto/properties/status example",
    "products /paths/~1products~1collections/get/parameters/4/schema example",
    "products /paths/~1products~1collections~1{collectionId}/delete/parameters/3/schema example",
    "contacts /components/schemas/ContactsSearchSchema/properties/followers example",
    "contacts /components/schemas/CreateContactDto/properties/dateOfBirth example",
    "contacts /components/schemas/MonetoryField/properties/field_value example",
    "contacts /components/schemas/NumericField/properties/field_value example",
    "contacts /components/schemas/UpdateContactDto/properties/dateOfBirth example",
    "contacts /components/schemas/UpdateTagsDTO/properties/removeAllTags example",
    "contacts /components/schemas/UpdateTagsResponseDTO/properties/responses example",
    "contacts /components/schemas/UpsertContactDto/properties/dateOfBirth example",
    "invoices /components/schemas/AutoPaymentInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/AutoPaymentInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/BusinessDetailsDto/properties/address example",
    "invoices /components/schemas/CancelInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/CancelInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/CreateInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/CreateInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/CreateInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/CreateInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/CreateInvoiceTemplateResponseDto/properties/items example",
    "invoices /components/schemas/DefaultInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/DefaultInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/DeleteInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/DeleteInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/DiscountDto/properties/validOnProductIds example",
    "invoices /components/schemas/EstimateResponseDto/properties/estimateActionHistory example",
    "invoices /components/schemas/EstimateResponseDto/properties/items example",
    "invoices /components/schemas/EstimateTemplateResponseDTO/properties/items example",
    "invoices /components/schemas/GenerateInvoiceNumberResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/GetInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/GetInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/GetScheduleResponseDto/properties/items example",
    "invoices /components/schemas/GetScheduleResponseDto/properties/status example",
    "invoices /components/schemas/GetTemplateResponseDto/properties/items example",
    "invoices /components/schemas/LateFeesMaxFeesDto/properties/value example",
    "invoices /components/schemas/ScheduleInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/ScheduleInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/TipsConfigurationDto/properties/tipsPercentage example",
    "invoices /components/schemas/UpdateAndScheduleInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/UpdateAndScheduleInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/UpdateInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/UpdateInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /components/schemas/UpdateInvoiceScheduleResponseDto/properties/items example",
    "invoices /components/schemas/UpdateInvoiceScheduleResponseDto/properties/status example",
    "invoices /components/schemas/UpdateInvoiceTemplateResponseDto/properties/items example",
    "invoices /components/schemas/VoidInvoiceResponseDto/properties/invoiceItems example",
    "invoices /components/schemas/VoidInvoiceResponseDto/properties/invoiceNumber example",
    "invoices /paths/~1invoices~1/get/parameters/9/schema example",
    "invoices /paths/~1invoices~1/get/parameters/10/schema example",
    "invoices /paths/~1invoices~1estimate~1list/get/parameters/8/schema example",
    "invoices /paths/~1invoices~1estimate~1list/get/parameters/9/schema example",
    "invoices /paths/~1invoices~1estimate~1template/get/parameters/4/schema example",
    "invoices /paths/~1invoices~1estimate~1template/get/parameters/5/schema example",
    "invoices /paths/~1invoices~1schedule/get/parameters/8/schema example",
    "invoices /paths/~1invoices~1schedule/get/parameters/9/schema example",
    "invoices /paths/~1invoices~1template/get/parameters/8/schema example",
    "invoices /paths/~1invoices~1template/get/parameters/9/schema example",
    "oauth /components/schemas/GetAccessCodeSuccessfulResponseDto/properties/isBulkInstallation example",
    "oauth /paths/~1oauth~1installedLocations/get/parameters/8/schema example",
    "payments /components/schemas/CreateCouponParams/properties/applyToFuturePaymentsConfig default",
    "payments /components/schemas/UpdateCouponParams/properties/applyToFuturePaymentsConfig default",
    "products /components/schemas/ListPricesResponseDto/properties/total default",
];

fn spec_path(name: &str) -> PathBuf {
    spec_check::ghl_specs_dir()
        .join("apps")
        .join(format!("{name}.json"))
}

fn load(name: &str) -> Spec {
    let path = spec_path(name);
    Spec::load(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn all_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => all_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| all_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_in_the_five_specs_resolves() {
    for name in FILES {
        let spec = load(name);
        let mut refs = Vec::new();
        all_refs(spec.raw(), &mut refs);
        assert!(!refs.is_empty(), "{name}: no $ref found");
        for r in &refs {
            if let Err(e) = spec.schema_at(r) {
                panic!("{name}: {e}");
            }
        }
        assert!(spec.ref_count() >= refs.len(), "{name}");
        if refs.iter().any(|r| r.starts_with("../common/")) {
            assert!(
                spec.files()
                    .iter()
                    .any(|f| f.ends_with("common/common-schemas.json")),
                "{name}: common schemas not loaded: {:?}",
                spec.files()
            );
        }
    }
}

/// Visits every Schema Object of a document (components, and `schema`s of
/// parameters, bodies and responses) with its JSON pointer.
fn schemas<'v>(value: &'v Value, at: String, is_schema: bool, out: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                schemas(v, format!("{at}/{i}"), false, out);
            }
        }
        Value::Object(map) if is_schema => {
            out.push((at.clone(), value));
            for (k, v) in map {
                let child = format!("{at}/{}", escape(k));
                match (k.as_str(), v) {
                    ("properties", Value::Object(props)) => {
                        for (name, p) in props {
                            schemas(p, format!("{child}/{}", escape(name)), true, out);
                        }
                    }
                    ("items" | "not" | "additionalProperties", _) => schemas(v, child, true, out),
                    ("allOf" | "anyOf" | "oneOf", Value::Array(list)) => {
                        for (i, s) in list.iter().enumerate() {
                            schemas(s, format!("{child}/{i}"), true, out);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k == "example" || k == "examples" {
                    continue;
                }
                let child = format!("{at}/{}", escape(k));
                match (k.as_str(), v) {
                    ("schemas", Value::Object(named)) if at == "/components" => {
                        for (name, s) in named {
                            schemas(s, format!("{child}/{}", escape(name)), true, out);
                        }
                    }
                    _ => schemas(v, child, k == "schema", out),
                }
            }
        }
        _ => {}
    }
}

/// Checks every schema-level `example` and `default` against the schema it
/// sits in. Returns (`file pointer keyword` of each failing one, how many were checked).
fn bad_examples() -> (BTreeSet<String>, usize) {
    let mut found = BTreeSet::new();
    let mut checked = 0;
    for name in FILES {
        let spec = load(name);
        let mut all = Vec::new();
        schemas(spec.raw(), String::new(), false, &mut all);
        for (at, node) in all {
            for keyword in ["example", "default"] {
                let Some(example) = node.get(keyword) else {
                    continue;
                };
                checked += 1;
                let schema = spec
                    .schema_at(&format!("#{at}"))
                    .expect("pointer into the root");
                if let Err(v) = spec.validate(schema, example) {
                    println!("{name} {at} {keyword}: {}", v[0]);
                    found.insert(format!("{name} {at} {keyword}"));
                }
            }
        }
    }
    (found, checked)
}

#[test]
fn schema_examples_match_their_schemas_except_known_upstream_mistakes() {
    let (found, checked) = bad_examples();
    assert!(checked > 1500, "only {checked} examples checked");
    let known: BTreeSet<String> = KNOWN_BAD_EXAMPLES.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = found.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&found).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "examples now failing but not recorded: {new:#?}\nrecorded but now passing: {fixed:#?}"
    );
}

/// The spec with the recorded bad examples and defaults removed, so assembled bodies
/// fall back to placeholders there.
fn cleaned(name: &str) -> Spec {
    let path = spec_path(name);
    let mut root: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("readable"))
        .expect("valid JSON");
    for entry in KNOWN_BAD_EXAMPLES {
        let mut words = entry.split(' ');
        let (Some(file), Some(pointer), Some(keyword)) = (words.next(), words.next(), words.next())
        else {
            panic!("malformed entry {entry}");
        };
        if file != name {
            continue;
        }
        let node = root.pointer_mut(pointer).and_then(Value::as_object_mut);
        assert!(node.is_some_and(|n| n.remove(keyword).is_some()), "{entry}");
    }
    Spec::from_value(root, Some(&path)).expect("cleaned spec loads")
}

/// Assembles a body for every documented JSON response and request body
/// from the official examples, plus the media-level `examples`, and checks
/// each against its schema.
#[test]
fn assembled_official_examples_validate_for_every_operation() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for name in FILES {
        let spec = cleaned(name);
        for op in spec.operations() {
            let label = format!("{name} {} {}", op.method.to_uppercase(), op.path);
            let mut cases = Vec::new();
            for status in spec.response_statuses(op.method, op.path).expect("exists") {
                let Ok(code) = status.parse::<u16>() else {
                    continue;
                };
                match spec.response_schema(op.method, op.path, code) {
                    Ok(schema) => cases.push((status.to_string(), schema, Direction::Response)),
                    Err(e) => assert!(e.nothing_checked(), "{label}: {e}"),
                }
                let media = &op.raw["responses"][status]["content"]["application/json"];
                if let (Ok(schema), Some(Value::Object(examples))) = (
                    spec.response_schema(op.method, op.path, code),
                    media.get("examples"),
                ) {
                    for (k, ex) in examples {
                        checked += 1;
                        if let Err(v) = spec.validate_in(schema, &ex["value"], Direction::Response)
                        {
                            failures.push(format!("{label} {status} examples.{k}: {v:?}"));
                        }
                    }
                }
            }
            if let Ok(schema) = spec.request_body_schema(op.method, op.path) {
                cases.push(("request".into(), schema, Direction::Request));
            }
            for (what, schema, direction) in cases {
                checked += 1;
                let body = spec.assemble_example(schema);
                if let Err(v) = spec.validate_in(schema, &body, direction) {
                    for v in v {
                        failures.push(format!("{label} {what}: {v}"));
                    }
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} bodies checked");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn documented_statuses_without_schema_are_reported_as_unchecked() {
    let spec = load("contacts");
    let err = spec
        .validate_response("POST", "/contacts/search", 200, &json!({"contacts": []}))
        .unwrap_err();
    assert!(matches!(err, CheckError::NoSchema { .. }), "{err}");
    let err = spec
        .validate_response("GET", "/contacts/{contactId}", 503, &json!({}))
        .unwrap_err();
    assert!(
        matches!(err, CheckError::UndocumentedStatus { .. }),
        "{err}"
    );
}

#[test]
fn products_list_envelope_total_must_be_an_array_of_totals() {
    let spec = load("products");
    assert_eq!(
        spec.match_path("GET", "/products/?locationId=x"),
        Some("/products/")
    );
    assert_eq!(spec.match_path("GET", "/products"), None);
    assert_eq!(
        spec.match_path("GET", "/products/abc"),
        Some("/products/{productId}")
    );
    assert_eq!(
        spec.match_path("PUT", "/products/abc/price/def"),
        Some("/products/{productId}/price/{priceId}")
    );
    assert_eq!(
        spec.match_path("GET", "/products/inventory"),
        Some("/products/inventory")
    );
    assert_eq!(spec.match_path("POST", "/products/"), Some("/products/"));

    let good = json!({"products": [], "total": [{"total": 0}]});
    spec.validate_response("GET", "/products/", 200, &good)
        .expect("valid envelope");

    let err = spec
        .validate_response(
            "GET",
            "/products/",
            200,
            &json!({"products": [], "total": 5}),
        )
        .unwrap_err();
    let v = err.violations().expect("checked");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "/total");
    assert_eq!(v[0].message, "expected array, found integer 5");

    let err = spec
        .validate_response(
            "GET",
            "/products/",
            200,
            &json!({"products": [], "total": [{"total": "5"}]}),
        )
        .unwrap_err();
    assert_eq!(err.violations().expect("checked")[0].path, "/total/0/total");

    let err = spec
        .validate_response(
            "GET",
            "/products/",
            200,
            &json!({"products": [{"name": 1}]}),
        )
        .unwrap_err();
    let paths: Vec<&str> = err
        .violations()
        .expect("checked")
        .iter()
        .map(|v| v.path.as_str())
        .collect();
    assert!(
        paths.contains(&"/total") && paths.contains(&"/products/0/name"),
        "{paths:?}"
    );
}

#[test]
fn coupon_limit_per_customer_must_be_a_number() {
    let spec = cleaned("payments");
    let schema = spec
        .response_schema("POST", "/payments/coupon", 201)
        .expect("documented");
    let mut coupon = spec.assemble_example(schema);
    spec.validate_response("POST", "/payments/coupon", 201, &coupon)
        .expect("assembled coupon is valid");
    coupon["limitPerCustomer"] = json!(true);
    let err = spec
        .validate_response("POST", "/payments/coupon", 201, &coupon)
        .unwrap_err();
    let v = err.violations().expect("checked");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, "/limitPerCustomer");
    assert_eq!(v[0].message, "expected number, found boolean true");

    let list = json!({"data": [coupon], "totalCount": 1, "traceId": "t"});
    let err = spec
        .validate_response("GET", "/payments/coupon/list", 200, &list)
        .unwrap_err();
    assert_eq!(
        err.violations().expect("checked")[0].path,
        "/data/0/limitPerCustomer"
    );
}

#[test]
fn undeclared_fields_of_a_real_response_are_listed() {
    let spec = cleaned("payments");
    let schema = spec
        .response_schema("GET", "/payments/coupon/list", 200)
        .expect("documented");
    let mut body = spec.assemble_example(schema);
    assert!(spec.undeclared_properties(schema, &body).is_empty());
    body["simulatorOnly"] = json!(1);
    body["data"][0]["extra"] = json!("x");
    assert_eq!(
        spec.undeclared_properties(schema, &body),
        ["/data/0/extra", "/simulatorOnly"]
    );
    // Allowed by default, rejected under the strict policy.
    assert!(spec.validate(schema, &body).is_ok());
    let strict = cleaned("payments").with_options(spec_check::Options {
        strict_additional: true,
    });
    let schema = strict
        .response_schema("GET", "/payments/coupon/list", 200)
        .expect("documented");
    let v = strict.validate(schema, &body).unwrap_err();
    assert_eq!(v.len(), 2, "{v:?}");
}
