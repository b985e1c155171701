//! The OpenAPI 3.0 → JSON Schema (draft 2020-12) rewrite that lets the
//! `jsonschema` crate check bodies the way OpenAPI means them. It owns
//! which Schema Object keywords are checked and how the OpenAPI-only ones
//! become JSON Schema:
//!
//! - `nullable: true` adds `"null"` to `type` (and to `enum`); beside
//!   `allOf`/`anyOf`/`oneOf`/`not` it becomes `if: {type: null}` around the
//!   schema, so that `null` passes and anything else is checked as before;
//! - `readOnly` properties leave `required` in a request, `writeOnly` ones
//!   in a response (they are not rejected when present);
//! - the 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum` become the
//!   numeric form; the 3.1 numeric form is kept;
//! - the siblings of a `$ref` are ignored, as OpenAPI 3.0 says, and each
//!   `$ref` points at the registry resource of its target ([`target_uri`]);
//! - the strict policy ([`crate::Options::strict_additional`]) becomes a
//!   `propertyNames` enum of the declared names, computed here from
//!   `properties` and the `allOf` parts, so it does not depend on whether
//!   the rest of the body is valid.
//!
//! Kept as written: `type` (a list too), `enum`, `properties`, `required`,
//! `additionalProperties`, `items` (a schema; the tuple form is ignored),
//! `allOf`, `anyOf`, `oneOf`, `not`, the numeric, length, item and
//! property-count bounds, `multipleOf`, `uniqueItems`, `pattern` (compiled
//! by `jsonschema` with the `regex` crate) and `format: date-time`
//! ([`is_date_time`]). Everything else is dropped: other `format`s,
//! `discriminator` (the alternatives are still checked) and annotations.
//! A bound of the wrong JSON type is dropped too, as before this crate used
//! `jsonschema`.

use std::collections::{BTreeSet, HashSet};
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::spec::Spec;
use crate::validate::Direction;

/// The one `format` that is checked.
pub(crate) const DATE_TIME: &str = "date-time";

/// Prefix of the registry URIs of `$ref` targets.
const TARGET_URI: &str = "urn:spec-check:target:";

/// The registry URI of `$ref` target `index` (see [`Spec::targets`]).
pub(crate) fn target_uri(index: usize) -> String {
    format!("{TARGET_URI}{index}")
}

/// The target index a [`target_uri`] names.
pub(crate) fn target_index(uri: &str) -> Option<usize> {
    uri.strip_prefix(TARGET_URI)?.parse().ok()
}

/// Loose RFC 3339: `YYYY-MM-DD`, `T` (or a space), `HH:MM`, optional `:SS`
/// and fraction, optional `Z` or `±HH[:]MM` offset; field ranges checked.
/// Looser than `jsonschema`'s own `date-time` (seconds and offset may be
/// missing), as the bodies this crate checks are.
pub(crate) fn is_date_time(s: &str) -> bool {
    static DATE_TIME_RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)([.,][0-9]+)?)?([Zz]|[+-]([01][0-9]|2[0-3])(:?[0-9]{2})?)?$",
        )
        .expect("the date-time pattern compiles")
    });
    DATE_TIME_RE.is_match(s)
}

/// Keywords that apply their schemas to the very value the schema holding
/// them checks.
const IN_PLACE: [&str; 4] = ["allOf", "anyOf", "oneOf", "not"];

/// Rewrites the schemas of one [`Spec`] for one direction and policy.
pub(crate) struct Rewriter<'s> {
    spec: &'s Spec,
    direction: Direction,
    strict: bool,
    /// The `$ref` targets of what was rewritten since the last
    /// [`Rewriter::take_refs`], with whether each was reached in place
    /// (through `$ref`, `allOf`, `anyOf`, `oneOf` and `not` only).
    refs: Vec<(usize, bool)>,
}

impl<'s> Rewriter<'s> {
    pub(crate) fn new(spec: &'s Spec, direction: Direction, strict: bool) -> Self {
        Rewriter {
            spec,
            direction,
            strict,
            refs: Vec::new(),
        }
    }

    /// The targets referenced since the last call (see [`Rewriter::refs`]).
    pub(crate) fn take_refs(&mut self) -> Vec<(usize, bool)> {
        std::mem::take(&mut self.refs)
    }

    /// The JSON Schema for the Schema Object `schema` of document `doc`.
    /// `closed`: whether the strict policy applies here (everywhere except
    /// directly in an `allOf`, whose parts are checked together);
    /// `in_place`: whether this schema applies to the value the rewrite
    /// started from.
    pub(crate) fn schema(
        &mut self,
        doc: usize,
        schema: &Value,
        closed: bool,
        in_place: bool,
    ) -> Value {
        let Value::Object(obj) = schema else {
            // `true`/`false`, or not a schema: `jsonschema` reports the latter.
            return schema.clone();
        };
        let mut out = Map::new();
        if let Some(reference) = obj.get("$ref") {
            let target = reference.as_str().and_then(|r| self.spec.target_of(doc, r));
            let Some(target) = target else {
                // Not a string (every string `$ref` was resolved at load,
                // and its target listed): left for `jsonschema` to report.
                return json!({"$ref": reference});
            };
            self.refs.push((target, in_place));
            out.insert("$ref".into(), target_uri(target).into());
        } else {
            for (keyword, value) in obj {
                if let Some(v) = self.keyword(doc, obj, keyword, value, in_place) {
                    out.insert(keyword.clone(), v);
                }
            }
            for (bound, exclusive) in [
                ("minimum", "exclusiveMinimum"),
                ("maximum", "exclusiveMaximum"),
            ] {
                if obj.get(exclusive) == Some(&Value::Bool(true))
                    && let Some(limit) = out.remove(bound)
                {
                    out.insert(exclusive.into(), limit);
                }
            }
        }
        if closed
            && self.strict
            && let Some(names) = self.declared_names(doc, schema)
        {
            out.insert("propertyNames".into(), json!({"enum": names}));
        }
        if obj.contains_key("$ref") || obj.get("nullable") != Some(&Value::Bool(true)) {
            return Value::Object(out);
        }
        if IN_PLACE.iter().any(|k| out.contains_key(*k)) {
            return json!({"if": {"type": "null"}, "else": out});
        }
        match out.get_mut("type") {
            Some(t @ Value::String(_)) => {
                let single = t.take();
                *t = json!([single, "null"]);
            }
            Some(Value::Array(types)) if !types.contains(&json!("null")) => {
                types.push(json!("null"))
            }
            _ => {}
        }
        if let Some(Value::Array(members)) = out.get_mut("enum")
            && !members.contains(&Value::Null)
        {
            members.push(Value::Null);
        }
        Value::Object(out)
    }

    /// One keyword of a (non-`$ref`) schema object, rewritten; `None` drops it.
    fn keyword(
        &mut self,
        doc: usize,
        obj: &Map<String, Value>,
        keyword: &str,
        value: &Value,
        in_place: bool,
    ) -> Option<Value> {
        let kept = match (keyword, value) {
            ("type", Value::String(_) | Value::Array(_))
            | ("enum", Value::Array(_))
            | ("pattern", Value::String(_))
            | ("uniqueItems", Value::Bool(_))
            | ("additionalProperties", Value::Bool(_))
            | ("items", Value::Bool(_))
            | ("minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum", Value::Number(_)) => {
                value.clone()
            }
            ("multipleOf", Value::Number(n)) if n.as_f64().is_some_and(|m| m > 0.0) => {
                value.clone()
            }
            (
                "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties"
                | "maxProperties",
                _,
            ) if value.is_u64() => value.clone(),
            ("format", Value::String(f)) if f == DATE_TIME => value.clone(),
            ("properties", Value::Object(props)) => Value::Object(
                props
                    .iter()
                    .map(|(name, s)| (name.clone(), self.schema(doc, s, true, false)))
                    .collect(),
            ),
            ("required", Value::Array(names)) => {
                let props = obj.get("properties");
                Value::Array(
                    names
                        .iter()
                        .filter(|n| {
                            n.as_str()
                                .is_some_and(|n| !self.exempt(doc, props.and_then(|p| p.get(n))))
                        })
                        .cloned()
                        .collect(),
                )
            }
            ("additionalProperties" | "items", Value::Object(_)) => {
                self.schema(doc, value, true, false)
            }
            ("allOf" | "anyOf" | "oneOf", Value::Array(parts)) => Value::Array(
                parts
                    .iter()
                    .map(|s| self.schema(doc, s, keyword != "allOf", in_place))
                    .collect(),
            ),
            ("not", _) => self.schema(doc, value, true, in_place),
            _ => return None,
        };
        Some(kept)
    }

    /// Is a required property excused by `readOnly` (in a request) or
    /// `writeOnly` (in a response), written on it or on what its `$ref` names?
    fn exempt(&self, doc: usize, prop: Option<&Value>) -> bool {
        let flag = match self.direction {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
            Direction::Neutral => return false,
        };
        let Some(prop) = prop else { return false };
        let set = |s: &Value| s.get(flag) == Some(&Value::Bool(true));
        set(prop) || self.spec.deref(doc, prop).is_some_and(|(_, s)| set(s))
    }

    /// The names the strict policy allows at `schema`: those its
    /// `properties` and `allOf` parts declare, if there are any, the schema
    /// says nothing about `additionalProperties` and no part opens it.
    fn declared_names(&self, doc: usize, schema: &Value) -> Option<Vec<String>> {
        let (doc, schema) = self.spec.deref(doc, schema)?;
        if schema.get("additionalProperties").is_some() {
            return None;
        }
        let mut names = BTreeSet::new();
        let mut open = false;
        self.declared(doc, schema, &mut names, &mut open, &mut HashSet::new());
        (!open && !names.is_empty()).then(|| names.into_iter().collect())
    }

    fn declared(
        &self,
        doc: usize,
        schema: &Value,
        names: &mut BTreeSet<String>,
        open: &mut bool,
        seen: &mut HashSet<*const Value>,
    ) {
        if !seen.insert(schema) {
            return;
        }
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            names.extend(p.keys().cloned());
        }
        if matches!(schema.get("additionalProperties"), Some(v) if v != &Value::Bool(false)) {
            *open = true;
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some((d, part)) = self.spec.deref(doc, part) {
                self.declared(d, part, names, open, seen);
            }
        }
    }
}
