//! Unit tests of every supported keyword, of `$ref` resolution within and
//! across files, of recursion safety, and of operation look-up.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::{CheckError, Spec};

fn errs(schema: Value, value: Value) -> Vec<Violation> {
    validate(&schema, &value).err().unwrap_or_default()
}

fn ok(schema: Value, value: Value) {
    if let Err(v) = validate(&schema, &value) {
        panic!("expected {value} to match {schema}, got {v:?}");
    }
}

/// Asserts exactly one violation, at `path`, by `keyword`; returns its message.
fn one(schema: Value, value: Value, path: &str, keyword: &str) -> String {
    let v = errs(schema.clone(), value.clone());
    assert_eq!(v.len(), 1, "{value} against {schema}: {v:?}");
    assert_eq!((v[0].path.as_str(), v[0].keyword), (path, keyword), "{v:?}");
    v[0].message.clone()
}

#[test]
fn type_keyword() {
    for (t, good, bad) in [
        ("string", json!("x"), json!(1)),
        ("number", json!(1.5), json!("1.5")),
        ("integer", json!(3), json!(1.5)),
        ("boolean", json!(false), json!(0)),
        ("array", json!([]), json!({})),
        ("object", json!({}), json!([])),
    ] {
        ok(json!({"type": t}), good);
        one(json!({"type": t}), bad, "", "type");
    }
    ok(json!({"type": "number"}), json!(7));
    ok(json!({"type": "integer"}), json!(2.0));
    ok(json!({"type": "integer"}), json!(u64::MAX));
    let msg = one(json!({"type": "integer"}), json!(1.5), "", "type");
    assert_eq!(msg, "expected integer, found number 1.5");
    let msg = one(json!({"type": "string"}), json!(true), "", "type");
    assert_eq!(msg, "expected string, found boolean true");
    one(json!({"type": "string"}), json!(null), "", "type");
    let msg = one(json!({"type": "strng"}), json!("x"), "", "schema");
    assert!(
        msg.contains("schema error at /type") && msg.contains("nothing was checked"),
        "{msg}"
    );
    ok(json!({"type": ["string", "null"]}), json!(null));
    ok(json!({}), json!(null));
}

#[test]
fn nullable_keyword() {
    ok(json!({"type": "string", "nullable": true}), json!(null));
    ok(json!({"type": "string", "nullable": true}), json!("a"));
    let msg = one(
        json!({"type": "string", "nullable": false}),
        json!(null),
        "",
        "type",
    );
    assert_eq!(msg, "expected string, found null");
    let msg = one(
        json!({"type": "string", "nullable": true}),
        json!(3),
        "",
        "type",
    );
    assert_eq!(msg, "expected string (or null), found integer 3");
    // nullable beside allOf (a common way to make a $ref nullable)
    let schema = json!({"nullable": true, "allOf": [{"type": "object", "required": ["a"]}]});
    ok(schema.clone(), json!(null));
    one(schema, json!({}), "/a", "required");
    ok(
        json!({"type": "string", "enum": ["a"], "nullable": true}),
        json!(null),
    );
}

#[test]
fn properties_required_and_paths() {
    let schema = json!({
        "type": "object",
        "required": ["products"],
        "properties": {"products": {"type": "array", "items": {
            "type": "object",
            "properties": {"prices": {"type": "array", "items": {
                "type": "object", "required": ["amount"],
                "properties": {"amount": {"type": "number"}}
            }}}
        }}}
    });
    ok(
        schema.clone(),
        json!({"products": [{"prices": [{"amount": 1}, {"amount": 2.5}]}]}),
    );
    let msg = one(
        schema.clone(),
        json!({"products": [{"prices": [{"amount": 1}, {"amount": "2"}]}]}),
        "/products/0/prices/1/amount",
        "type",
    );
    assert_eq!(msg, "expected number, found string \"2\"");
    let msg = one(
        schema.clone(),
        json!({"products": [{"prices": [{}]}]}),
        "/products/0/prices/0/amount",
        "required",
    );
    assert!(msg.contains("required property \"amount\""), "{msg}");
    one(schema, json!({}), "/products", "required");
    // Pointer escaping of odd keys.
    let v = errs(
        json!({"properties": {"a/b~c": {"type": "string"}}}),
        json!({"a/b~c": 1}),
    );
    assert_eq!(v[0].path, "/a~1b~0c");
    assert_eq!(
        v[0].to_string(),
        "/a~1b~0c: expected string, found integer 1"
    );
    let v = errs(json!({"type": "string"}), json!(1));
    assert_eq!(v[0].to_string(), "(root): expected string, found integer 1");
}

#[test]
fn all_violations_are_reported() {
    let schema =
        json!({"type": "object", "required": ["a", "b"], "properties": {"c": {"type": "string"}}});
    let v = errs(schema, json!({"c": 1}));
    let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c"]);
}

#[test]
fn enum_keyword() {
    ok(json!({"enum": ["a", "b"]}), json!("b"));
    ok(json!({"enum": [1, 2]}), json!(2.0));
    let msg = one(
        json!({"type": "string", "enum": ["fixed", "percentage"]}),
        json!("flat"),
        "",
        "enum",
    );
    assert_eq!(
        msg,
        "expected one of [\"fixed\", \"percentage\"], found string \"flat\""
    );
}

#[test]
fn items_and_array_bounds() {
    let schema =
        json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2});
    ok(schema.clone(), json!([1, 2]));
    one(schema.clone(), json!([1, "2"]), "/1", "type");
    let msg = one(schema.clone(), json!([]), "", "minItems");
    assert_eq!(msg, "expected at least 1 items, found 0");
    one(schema, json!([1, 2, 3]), "", "maxItems");
    ok(json!({"type": "array"}), json!([1, "x", null]));
    ok(json!({"uniqueItems": true}), json!([1, 2]));
    one(
        json!({"uniqueItems": true}),
        json!([1, {"a": 1}, {"a": 1}]),
        "",
        "uniqueItems",
    );
}

#[test]
fn string_lengths_and_date_time() {
    ok(
        json!({"type": "string", "minLength": 2, "maxLength": 3}),
        json!("éé"),
    );
    one(
        json!({"type": "string", "minLength": 2}),
        json!("a"),
        "",
        "minLength",
    );
    let msg = one(
        json!({"type": "string", "maxLength": 3}),
        json!("abcd"),
        "",
        "maxLength",
    );
    assert_eq!(
        msg,
        "expected at most 3 characters, found 4 in string \"abcd\""
    );
    let dt = json!({"type": "string", "format": "date-time"});
    for good in [
        "2024-01-31T12:00:00Z",
        "2024-01-31T12:00:00.123Z",
        "2024-01-31T12:00:00+02:00",
        "2024-01-31T12:00:00-0500",
        "2024-01-31 12:00",
        "2024-01-31T12:00:00",
    ] {
        ok(dt.clone(), json!(good));
    }
    for bad in [
        "2024-01-31",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-01-31T25:00:00Z",
        "2024-01-31T12:00:00Zx",
        "2024-01-31T12:00:00.",
    ] {
        one(dt.clone(), json!(bad), "", "format");
    }
    // Other formats are ignored.
    ok(json!({"type": "string", "format": "email"}), json!("nope"));
    // pattern: ECMA search semantics; syntax the regex engine lacks is a
    // schema error, never a silent pass.
    let amount = json!({"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,3})?$"});
    ok(amount.clone(), json!("19.99"));
    let msg = one(amount, json!("19.9999"), "", "pattern");
    assert_eq!(
        msg,
        r#"expected a string matching /^[0-9]+(\.[0-9]{1,3})?$/, found string "19.9999""#
    );
    ok(json!({"pattern": "^x$"}), json!(5));
    ok(json!({"pattern": "[0-9]"}), json!("a1"));
    one(json!({"pattern": r"^\d+$"}), json!("١٢"), "", "pattern");
    for unsupported in ["(?=x)", r"(a)\1"] {
        let msg = one(json!({"pattern": unsupported}), json!("y"), "", "schema");
        assert!(
            msg.contains(&format!("pattern /{unsupported}/")) && msg.contains("not supported"),
            "{msg}"
        );
    }
}

#[test]
fn numeric_bounds() {
    let schema = json!({"type": "number", "minimum": 0, "maximum": 100});
    ok(schema.clone(), json!(0));
    ok(schema.clone(), json!(100));
    let msg = one(schema.clone(), json!(-1), "", "minimum");
    assert_eq!(msg, "expected a number >= 0, found integer -1");
    one(schema, json!(100.5), "", "maximum");
    let excl =
        json!({"minimum": 0, "exclusiveMinimum": true, "maximum": 1, "exclusiveMaximum": true});
    ok(excl.clone(), json!(0.5));
    // The 3.0 boolean form is checked as the numeric one.
    let msg = one(excl.clone(), json!(0), "", "exclusiveMinimum");
    assert_eq!(msg, "expected a number > 0, found integer 0");
    one(excl, json!(1), "", "exclusiveMaximum");
    one(
        json!({"exclusiveMinimum": 2}),
        json!(2),
        "",
        "exclusiveMinimum",
    );
    ok(json!({"multipleOf": 0.01}), json!(19.99));
    one(json!({"multipleOf": 5}), json!(12), "", "multipleOf");
}

#[test]
fn additional_properties() {
    let closed = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
    ok(closed.clone(), json!({"a": 1}));
    let msg = one(
        closed,
        json!({"a": 1, "b": 2}),
        "/b",
        "additionalProperties",
    );
    assert!(msg.contains("\"b\""), "{msg}");
    let typed = json!({"type": "object", "additionalProperties": {"type": "integer"}});
    ok(typed.clone(), json!({"x": 1, "y": 2}));
    one(typed, json!({"x": 1, "y": "2"}), "/y", "type");
    ok(
        json!({"properties": {"a": {}}, "additionalProperties": true}),
        json!({"b": 1}),
    );
    // Default policy: undeclared properties are allowed.
    ok(json!({"properties": {"a": {}}}), json!({"a": 1, "b": 2}));
    ok(
        json!({"minProperties": 1, "maxProperties": 1}),
        json!({"a": 1}),
    );
    one(json!({"minProperties": 1}), json!({}), "", "minProperties");
    one(
        json!({"maxProperties": 1}),
        json!({"a": 1, "b": 2}),
        "",
        "maxProperties",
    );
}

#[test]
fn strict_additional_policy() {
    let strict = Options {
        strict_additional: true,
    };
    let schema = json!({
        "type": "object",
        "allOf": [{"properties": {"a": {}}}, {"properties": {"b": {"type": "object", "properties": {"x": {}}}}}],
        "properties": {"c": {}}
    });
    assert!(validate_with(&schema, &json!({"a": 1, "b": {"x": 1}, "c": 1}), strict).is_ok());
    let v = validate_with(
        &schema,
        &json!({"a": 1, "b": {"x": 1, "y": 2}, "d": 1}),
        strict,
    )
    .unwrap_err();
    let mut found: Vec<(&str, &str)> = v.iter().map(|v| (v.path.as_str(), v.keyword)).collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [("/b/y", "strict_additional"), ("/d", "strict_additional")]
    );
    // Free-form objects and explicit additionalProperties stay open.
    assert!(validate_with(&json!({"type": "object"}), &json!({"z": 1}), strict).is_ok());
    assert!(
        validate_with(
            &json!({"properties": {"a": {}}, "additionalProperties": true}),
            &json!({"z": 1}),
            strict
        )
        .is_ok()
    );
    // The same body passes by default.
    assert!(validate(&schema, &json!({"a": 1, "b": {"x": 1, "y": 2}, "d": 1})).is_ok());
}

#[test]
fn undeclared_properties_helper() {
    let schema = json!({
        "type": "object",
        "properties": {
            "products": {"type": "array", "items": {"allOf": [{"properties": {"_id": {}}}], "properties": {"name": {}}}},
            "meta": {"type": "object"},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let value = json!({
        "products": [{"_id": "1", "name": "n", "extra": 1}, {"_id": "2", "more": true}],
        "meta": {"anything": 1},
        "tags": {"free": "x"},
        "total": 2
    });
    assert_eq!(
        undeclared_properties(&schema, &value),
        ["/products/0/extra", "/products/1/more", "/total"]
    );
}

#[test]
fn composition_keywords() {
    let all = json!({"allOf": [{"type": "object", "required": ["a"]}, {"properties": {"a": {"type": "string"}}}]});
    ok(all.clone(), json!({"a": "x"}));
    one(all.clone(), json!({"a": 1}), "/a", "type");
    one(all, json!({}), "/a", "required");

    let any = json!({"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 10}]});
    ok(any.clone(), json!("x"));
    ok(any.clone(), json!(11));
    let msg = one(any, json!(5), "", "anyOf");
    assert!(
        msg.contains("at least one of 2") && msg.contains("expected a number >= 10"),
        "{msg}"
    );

    let one_of = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    ok(one_of.clone(), json!(1.5));
    let msg = one(one_of.clone(), json!(1), "", "oneOf");
    assert!(msg.contains("2 matched"), "{msg}");
    one(one_of, json!("x"), "", "oneOf");

    ok(json!({"not": {"type": "string"}}), json!(1));
    one(json!({"not": {"type": "string"}}), json!("s"), "", "not");
}

#[test]
fn local_refs_and_recursion() {
    let schema = json!({
        "$ref": "#/definitions/Node",
        "definitions": {
            "Node": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}
            }}
        }
    });
    let mut deep = json!({"name": "leaf"});
    for i in 0..40 {
        deep = json!({"name": format!("n{i}"), "children": [deep]});
    }
    ok(schema.clone(), deep);
    one(
        schema.clone(),
        json!({"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}),
        "/children/0/children/0/name",
        "type",
    );
    let v = undeclared_properties(
        &schema,
        &json!({"name": "a", "children": [{"name": "b", "x": 1}]}),
    );
    assert_eq!(v, ["/children/0/x"]);
}

#[test]
fn circular_refs_terminate() {
    let direct =
        json!({"$ref": "#/definitions/A", "definitions": {"A": {"$ref": "#/definitions/A"}}});
    let v = errs(direct.clone(), json!(1));
    assert!(v[0].message.contains("circular"), "{v:?}");
    let via_allof = json!({
        "$ref": "#/definitions/A",
        "definitions": {
            "A": {"allOf": [{"$ref": "#/definitions/B"}]},
            "B": {"anyOf": [{"$ref": "#/definitions/A"}]}
        }
    });
    let v = errs(via_allof.clone(), json!({"x": 1}));
    assert!(v.iter().any(|v| v.message.contains("circular")), "{v:?}");
    assert!(undeclared_properties(&via_allof, &json!({"x": 1})).is_empty());
    let spec = Spec::from_value(via_allof, None).expect("refs resolve");
    let _ = spec.assemble_example(spec.root_schema());
    let spec = Spec::from_value(direct, None).expect("refs resolve");
    assert_eq!(spec.assemble_example(spec.root_schema()), Value::Null);
}

#[test]
fn broken_schema_is_reported_not_panicking() {
    let v = errs(json!({"$ref": "#/nowhere"}), json!(1));
    assert_eq!(v[0].keyword, "$ref");
    assert!(v[0].message.contains("#/nowhere"), "{v:?}");
    let v = errs(json!({"properties": {"a": 5}}), json!({"a": 1}));
    assert!(v[0].message.contains("schema error"), "{v:?}");
}

fn fixture() -> Spec {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api/main.json");
    Spec::load(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[test]
fn refs_across_files_resolve_relative_to_their_file() {
    let spec = fixture();
    assert_eq!(spec.files().len(), 2);
    assert!(spec.ref_count() >= 10, "{}", spec.ref_count());
    let team = spec.component_schema("Team").expect("Team");
    // main.json -> shared.json Person -> shared.json Email (local to shared) and
    // back to main.json Team: recursive across files.
    ok_spec(
        &spec,
        team,
        json!({"lead": {"email": "a@b", "team": {"lead": {"email": "c@d"}}}}),
    );
    let v = spec
        .validate(
            team,
            &json!({"lead": {"email": "ab", "team": {"lead": {}}}}),
        )
        .unwrap_err();
    let found: Vec<(&str, &str)> = v.iter().map(|v| (v.path.as_str(), v.keyword)).collect();
    assert_eq!(
        found,
        [
            ("/lead/email", "minLength"),
            ("/lead/team/lead/email", "required")
        ]
    );
    let email = spec
        .schema_at("../common/shared.json#/components/schemas/Email")
        .expect("Email");
    assert!(spec.validate(email, &json!("abc")).is_ok());
    assert!(spec.schema_at("#/components/schemas/Nope").is_err());
}

fn ok_spec(spec: &Spec, schema: crate::SchemaRef<'_>, value: Value) {
    if let Err(v) = spec.validate(schema, &value) {
        panic!("{value}: {v:?}");
    }
}

#[test]
fn operations_and_responses() {
    let spec = fixture();
    assert_eq!(spec.match_path("get", "/items/"), Some("/items/"));
    assert_eq!(
        spec.match_path("GET", "/items/abc"),
        Some("/items/{itemId}")
    );
    assert_eq!(spec.match_path("GET", "/items"), None);
    assert_eq!(
        spec.match_path("POST", "/items/search"),
        Some("/items/search")
    );
    // GET /items/search has no operation of its own; the template with one matches.
    assert_eq!(
        spec.match_path("GET", "/items/search"),
        Some("/items/{itemId}")
    );
    assert_eq!(spec.match_path("DELETE", "/items/abc"), None);
    assert_eq!(spec.operations().len(), 4);
    assert_eq!(
        spec.response_statuses("get", "/items/").expect("op"),
        ["200", "204", "400"]
    );

    let list = json!({"items": [{"id": "1", "name": "a"}]});
    assert!(spec.validate_response("GET", "/items/", 200, &list).is_ok());
    let err = spec
        .validate_response(
            "GET",
            "/items/",
            200,
            &json!({"items": [{"id": 1, "name": "a"}]}),
        )
        .unwrap_err();
    assert_eq!(err.violations().expect("checked")[0].path, "/items/0/id");
    // Cross-file error schema.
    assert!(
        spec.validate_response("GET", "/items/", 400, &json!({"statusCode": 400}))
            .is_ok()
    );
    assert!(
        spec.validate_response("GET", "/items/", 400, &json!({"statusCode": "400"}))
            .is_err()
    );
    // Documented without content: nothing checked, distinct error.
    let err = spec
        .validate_response("GET", "/items/", 204, &json!({}))
        .unwrap_err();
    assert!(
        matches!(err, CheckError::NoSchema { .. }) && err.nothing_checked(),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was checked"), "{err}");
    // Not documented at all.
    let err = spec
        .validate_response("GET", "/items/", 500, &json!({}))
        .unwrap_err();
    assert!(
        matches!(err, CheckError::UndocumentedStatus { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("200, 204, 400"), "{err}");
    // `default`, response $ref, 2XX range, media type with parameters.
    assert!(
        spec.validate_response("POST", "/items/", 503, &json!({"statusCode": 503}))
            .is_ok()
    );
    assert!(
        spec.validate_response("POST", "/items/", 201, &json!({"id": "1", "name": "n"}))
            .is_ok()
    );
    assert!(
        spec.validate_response("POST", "/items/", 201, &json!({"id": "1"}))
            .is_err()
    );
    assert!(
        spec.validate_response(
            "GET",
            "/items/{itemId}",
            203,
            &json!({"id": "1", "name": "n"})
        )
        .is_ok()
    );
    let err = spec
        .validate_response("GET", "/nope", 200, &json!({}))
        .unwrap_err();
    assert!(matches!(err, CheckError::UnknownOperation { .. }), "{err}");

    // Request bodies: readOnly `id` is not required in a request.
    assert!(
        spec.validate_request_body("POST", "/items/", &json!({"name": "n"}))
            .is_ok()
    );
    let err = spec
        .validate_request_body("POST", "/items/", &json!({"name": 1}))
        .unwrap_err();
    assert_eq!(err.violations().expect("checked")[0].path, "/name");
    let err = spec
        .validate_request_body("GET", "/items/", &json!({}))
        .unwrap_err();
    assert!(err.nothing_checked(), "{err}");
    let err = spec
        .validate_request_body("POST", "/items/search", &json!({}))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("application/x-www-form-urlencoded"),
        "{err}"
    );
}

#[test]
fn alternatives_are_named_after_the_schema_their_ref_names() {
    let schema = json!({
        "properties": {
            "u": {"anyOf": [{"$ref": "#/definitions/Cat"}, {"$ref": "#/definitions/Dog"}, {"type": "integer"}]},
            "o": {"oneOf": [{"$ref": "#/definitions/Wrap"}, {"type": "number"}]}
        },
        "definitions": {
            "Cat": {"type": "object", "required": ["meow"]},
            "Dog": {"type": "object", "required": ["woof"], "properties": {"woof": {"type": "string"}}},
            "Wrap": {"properties": {"in": {"oneOf": [{"$ref": "#/definitions/Cat"}, {"$ref": "#/definitions/Dog"}]}}}
        }
    });
    let msg = one(schema.clone(), json!({"u": {"woof": 1}}), "/u", "anyOf");
    assert_eq!(
        msg,
        "expected a value matching at least one of 3 anyOf alternatives, none matched: \
         [#0 Cat: /u/meow: expected required property \"meow\", found it missing] \
         [#1 Dog: /u/woof: expected string, found integer 1] \
         [#2 (inline): /u: expected integer, found object {woof}]"
    );
    // Inside a schema reached through a $ref, too.
    let msg = one(schema.clone(), json!({"o": {"in": {}}}), "/o", "oneOf");
    assert!(
        msg.contains("[#0 Wrap: /o/in: expected a value matching exactly one of 2")
            && msg.contains("[#1 Dog: /o/in/woof: expected required property"),
        "{msg}"
    );
    let msg = one(schema, json!({"o": 1}), "/o", "oneOf");
    assert_eq!(
        msg,
        "expected a value matching exactly one oneOf alternative, but 2 matched: #0 Wrap, #1 (inline)"
    );
}

#[test]
fn read_only_and_write_only_depend_on_the_direction() {
    let spec = Spec::from_value(
        json!({
            "type": "object",
            "required": ["id", "secret", "name"],
            "properties": {
                "id": {"type": "string", "readOnly": true},
                "secret": {"$ref": "#/definitions/Secret"},
                "name": {"type": "string"}
            },
            "definitions": {"Secret": {"type": "string", "writeOnly": true}}
        }),
        None,
    )
    .expect("refs resolve");
    let missing = |direction, value: Value| -> Vec<String> {
        spec.validate_in(spec.root_schema(), &value, direction)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| format!("{} {}", v.path, v.keyword))
            .collect()
    };
    assert_eq!(
        missing(Direction::Request, json!({"name": "n"})),
        ["/secret required"]
    );
    assert_eq!(
        missing(Direction::Response, json!({"name": "n"})),
        ["/id required"]
    );
    assert_eq!(
        missing(Direction::Neutral, json!({"name": "n"})),
        ["/id required", "/secret required"]
    );
    // Present, they are checked (and not rejected) either way.
    assert!(
        missing(
            Direction::Request,
            json!({"id": "1", "secret": "s", "name": "n"})
        )
        .is_empty()
    );
    assert_eq!(
        missing(Direction::Response, json!({"id": 1, "name": "n"})),
        ["/id type"]
    );
}

#[test]
fn schema_errors_in_referenced_schemas_are_reported() {
    let schema = json!({
        "properties": {"p": {"$ref": "#/definitions/P"}, "x": {"$ref": "#/definitions/A"}},
        "definitions": {
            "P": {"type": "string", "pattern": "(?<=a)b"},
            "A": {"allOf": [{"$ref": "#/definitions/B"}]},
            "B": {"not": {"$ref": "#/definitions/A"}}
        }
    });
    let v = errs(schema.clone(), json!({}));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].message.contains("circular") && v[0].message.contains("\"A\""),
        "{v:?}"
    );
    let mut schema = schema;
    schema["properties"]
        .as_object_mut()
        .expect("properties")
        .remove("x");
    let msg = one(schema, json!({"p": "ab"}), "", "schema");
    assert!(msg.contains("pattern /(?<=a)b/ is not supported"), "{msg}");
}
