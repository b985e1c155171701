//! Schema validation: checks a JSON value against an OpenAPI 3.0 Schema
//! Object and reports every [`Violation`] with a JSON-pointer path. Also owns
//! the validation policy ([`Options`]), the `readOnly`/`writeOnly`
//! [`Direction`] and the walk that lists undeclared properties.
//!
//! Keywords checked: `$ref`, `type` (also a list of types), `nullable`,
//! `enum`, `properties`, `required`, `additionalProperties` (bool or
//! schema), `minProperties`/`maxProperties`, `items`, `minItems`/`maxItems`,
//! `uniqueItems`, `allOf`, `anyOf`, `oneOf`, `not`, `minimum`/`maximum`
//! (with 3.0 boolean or 3.1 numeric `exclusiveMinimum`/`exclusiveMaximum`),
//! `multipleOf`, `minLength`/`maxLength`, `pattern` (the ECMA subset in
//! [`crate::pattern`]; a pattern outside it is not checked),
//! `format: date-time` (loosely), `readOnly`/`writeOnly` (for `required`
//! only). Ignored: other `format`s (`email`, `uri`, ...), `discriminator`
//! (the alternatives are still checked), and annotations (`example`, `examples`, `default`,
//! `description`, `title`, `deprecated`, `xml`, `externalDocs`).

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::pattern::Pattern;
use crate::spec::{SchemaRef, Spec, escape};

/// Validation policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// When true, an object whose schema declares `properties` (counting
    /// those of its `allOf` parts) and says nothing about
    /// `additionalProperties` may not carry other properties. When false
    /// (the default, and what OpenAPI means) they are allowed unless the
    /// schema says `additionalProperties: false`.
    pub strict_additional: bool,
}

/// Which way a body travels; decides whether `readOnly` (request) or
/// `writeOnly` (response) properties may be absent although `required`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
    #[default]
    Neutral,
}

/// One way a value fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the value, e.g. `/products/0/prices/1/amount`; empty for the root.
    pub path: String,
    /// The schema keyword that failed (`type`, `required`, `enum`, ...).
    pub keyword: &'static str,
    /// What was expected and what was found.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Validates `value` against a self-contained schema (its `#/...` refs
/// resolve against the schema itself), with the default [`Options`].
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<Violation>> {
    validate_with(schema, value, Options::default())
}

/// [`validate`] with an explicit policy.
pub fn validate_with(
    schema: &Value,
    value: &Value,
    options: Options,
) -> Result<(), Vec<Violation>> {
    match Spec::from_value(schema.clone(), None) {
        Ok(spec) => {
            let spec = spec.with_options(options);
            spec.validate(spec.root_schema(), value)
        }
        Err(e) => Err(vec![Violation {
            path: String::new(),
            keyword: "$ref",
            message: format!("the schema itself is broken: {e}"),
        }]),
    }
}

/// JSON pointers of properties in `value` that a self-contained schema does
/// not declare (see [`Spec::undeclared_properties`]).
pub fn undeclared_properties(schema: &Value, value: &Value) -> Vec<String> {
    match Spec::from_value(schema.clone(), None) {
        Ok(spec) => spec.undeclared_properties(spec.root_schema(), value),
        Err(_) => Vec::new(),
    }
}

type Path = Vec<String>;

fn render(path: &Path) -> String {
    path.iter().map(|s| format!("/{}", escape(s))).collect()
}

pub(crate) struct Validator<'s> {
    spec: &'s Spec,
    options: Options,
    direction: Direction,
    /// (schema address, value address) of `$ref`s being followed, to stop
    /// cycles that never descend into the value.
    active: HashSet<(usize, usize)>,
}

impl<'s> Validator<'s> {
    pub(crate) fn new(spec: &'s Spec, options: Options, direction: Direction) -> Self {
        Validator {
            spec,
            options,
            direction,
            active: HashSet::new(),
        }
    }

    pub(crate) fn run(&mut self, schema: SchemaRef<'s>, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.check(schema.doc, schema.value, value, &mut path, false, &mut out);
        out
    }

    /// Follows `$ref`s until a schema that is not one; `None` (with a
    /// violation pushed) if a ref is broken or circular.
    fn deref(
        &self,
        mut doc: usize,
        mut schema: &'s Value,
        path: &Path,
        out: &mut Vec<Violation>,
    ) -> Option<(usize, &'s Value)> {
        let mut seen = HashSet::new();
        while let Some(r) = schema.get("$ref") {
            let Some(r) = r.as_str() else {
                push(
                    out,
                    path,
                    "$ref",
                    "schema error: $ref is not a string".into(),
                );
                return None;
            };
            if !seen.insert(schema as *const Value as usize) {
                push(
                    out,
                    path,
                    "$ref",
                    format!("schema error: $ref \"{r}\" is circular"),
                );
                return None;
            }
            match self.spec.resolve(doc, r) {
                Ok((d, s)) => (doc, schema) = (d, s),
                Err(reason) => {
                    push(
                        out,
                        path,
                        "$ref",
                        format!("cannot resolve $ref \"{r}\": {reason}"),
                    );
                    return None;
                }
            }
        }
        Some((doc, schema))
    }

    fn check(
        &mut self,
        doc: usize,
        schema: &'s Value,
        value: &Value,
        path: &mut Path,
        allof_branch: bool,
        out: &mut Vec<Violation>,
    ) {
        let Some((doc, schema)) = self.deref(doc, schema, path, out) else {
            return;
        };
        let obj = match schema {
            Value::Object(m) => m,
            Value::Bool(true) => return,
            Value::Bool(false) => {
                push(
                    out,
                    path,
                    "schema",
                    format!("no value is allowed here, found {}", describe(value)),
                );
                return;
            }
            other => {
                push(
                    out,
                    path,
                    "schema",
                    format!(
                        "schema error: a schema must be an object, found {}",
                        describe(other)
                    ),
                );
                return;
            }
        };
        // Cycle guard: re-entering this schema for this very value means a
        // chain of allOf/anyOf/oneOf refs loops without ever consuming input.
        let key = (
            schema as *const Value as usize,
            value as *const Value as usize,
        );
        if !self.active.insert(key) {
            push(out, path, "$ref", "schema error: circular composition (allOf/anyOf/oneOf through $ref) never reaches a checking schema".into());
            return;
        }
        self.check_object_schema(doc, obj, value, path, allof_branch, out);
        self.active.remove(&key);
    }

    fn check_object_schema(
        &mut self,
        doc: usize,
        obj: &'s Map<String, Value>,
        value: &Value,
        path: &mut Path,
        allof_branch: bool,
        out: &mut Vec<Violation>,
    ) {
        let nullable = obj.get("nullable") == Some(&Value::Bool(true));
        if value.is_null() && nullable {
            return;
        }
        if let Some(t) = obj.get("type") {
            match type_matches(t, value) {
                Ok(true) => {}
                Ok(false) => {
                    let or_null = if nullable { " (or null)" } else { "" };
                    push(
                        out,
                        path,
                        "type",
                        format!(
                            "expected {}{or_null}, found {}",
                            type_label(t),
                            describe(value)
                        ),
                    );
                    return;
                }
                Err(msg) => {
                    push(out, path, "type", msg);
                    return;
                }
            }
        }
        if let Some(Value::Array(allowed)) = obj.get("enum")
            && !allowed.iter().any(|a| json_eq(a, value))
        {
            push(
                out,
                path,
                "enum",
                format!(
                    "expected one of {}, found {}",
                    preview_list(allowed),
                    describe(value)
                ),
            );
        }
        match value {
            Value::String(s) => check_string(obj, s, path, out),
            Value::Number(_) => check_number(obj, value, path, out),
            Value::Array(items) => self.check_array(doc, obj, items, path, out),
            Value::Object(map) => self.check_map(doc, obj, map, path, allof_branch, out),
            _ => {}
        }
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            for branch in branches {
                self.check(doc, branch, value, path, true, out);
            }
        }
        if let Some(Value::Array(branches)) = obj.get("anyOf") {
            let mut failures = Vec::new();
            for branch in branches {
                let mut sub = Vec::new();
                self.check(doc, branch, value, path, false, &mut sub);
                if sub.is_empty() {
                    failures.clear();
                    break;
                }
                failures.push((branch, sub));
            }
            if !failures.is_empty() {
                push(
                    out,
                    path,
                    "anyOf",
                    format!(
                        "expected a value matching at least one of {} anyOf alternatives, none matched: {}",
                        branches.len(),
                        summarize(&failures)
                    ),
                );
            }
        }
        if let Some(Value::Array(branches)) = obj.get("oneOf") {
            let mut failures = Vec::new();
            let mut matched = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                let mut sub = Vec::new();
                self.check(doc, branch, value, path, false, &mut sub);
                if sub.is_empty() {
                    matched.push(format!("#{i} {}", branch_name(branch)));
                } else {
                    failures.push((branch, sub));
                }
            }
            match matched.len() {
                1 => {}
                0 => push(
                    out,
                    path,
                    "oneOf",
                    format!(
                        "expected a value matching exactly one of {} oneOf alternatives, none matched: {}",
                        branches.len(),
                        summarize(&failures)
                    ),
                ),
                _ => push(
                    out,
                    path,
                    "oneOf",
                    format!(
                        "expected a value matching exactly one oneOf alternative, but {} matched: {}",
                        matched.len(),
                        matched.join(", ")
                    ),
                ),
            }
        }
        if let Some(not) = obj.get("not") {
            let mut sub = Vec::new();
            self.check(doc, not, value, path, false, &mut sub);
            if sub.is_empty() {
                push(
                    out,
                    path,
                    "not",
                    format!(
                        "expected a value not matching the \"not\" schema, found {}",
                        describe(value)
                    ),
                );
            }
        }
    }

    fn check_array(
        &mut self,
        doc: usize,
        obj: &'s Map<String, Value>,
        items: &[Value],
        path: &mut Path,
        out: &mut Vec<Violation>,
    ) {
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            push(
                out,
                path,
                "minItems",
                format!("expected at least {min} items, found {}", items.len()),
            );
        }
        if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            push(
                out,
                path,
                "maxItems",
                format!("expected at most {max} items, found {}", items.len()),
            );
        }
        if obj.get("uniqueItems") == Some(&Value::Bool(true)) {
            'outer: for (i, a) in items.iter().enumerate() {
                for (j, b) in items.iter().enumerate().skip(i + 1) {
                    if json_eq(a, b) {
                        push(
                            out,
                            path,
                            "uniqueItems",
                            format!(
                                "expected unique items, found items {i} and {j} equal ({})",
                                describe(a)
                            ),
                        );
                        break 'outer;
                    }
                }
            }
        }
        if let Some(item_schema) = obj.get("items").filter(|s| s.is_object() || s.is_boolean()) {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                self.check(doc, item_schema, item, path, false, out);
                path.pop();
            }
        }
    }

    fn check_map(
        &mut self,
        doc: usize,
        obj: &'s Map<String, Value>,
        map: &Map<String, Value>,
        path: &mut Path,
        allof_branch: bool,
        out: &mut Vec<Violation>,
    ) {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = obj.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if map.contains_key(name) || self.exempt(doc, props.and_then(|p| p.get(name))) {
                    continue;
                }
                path.push(name.to_string());
                push(
                    out,
                    path,
                    "required",
                    format!("expected required property \"{name}\", found it missing"),
                );
                path.pop();
            }
        }
        if let Some(min) = obj.get("minProperties").and_then(Value::as_u64)
            && (map.len() as u64) < min
        {
            push(
                out,
                path,
                "minProperties",
                format!("expected at least {min} properties, found {}", map.len()),
            );
        }
        if let Some(max) = obj.get("maxProperties").and_then(Value::as_u64)
            && (map.len() as u64) > max
        {
            push(
                out,
                path,
                "maxProperties",
                format!("expected at most {max} properties, found {}", map.len()),
            );
        }
        let additional = obj.get("additionalProperties");
        let strict_names = match additional {
            None if self.options.strict_additional && !allof_branch => {
                let mut names = HashSet::new();
                let mut open = false;
                self.declared(doc, obj, &mut names, &mut open, &mut HashSet::new());
                (!open && !names.is_empty()).then_some(names)
            }
            _ => None,
        };
        for (key, item) in map {
            path.push(key.clone());
            if let Some(prop_schema) = props.and_then(|p| p.get(key)) {
                self.check(doc, prop_schema, item, path, false, out);
            } else {
                match additional {
                    Some(Value::Bool(false)) => push(
                        out,
                        path,
                        "additionalProperties",
                        format!(
                            "expected no property \"{key}\" (additionalProperties is false), found {}",
                            describe(item)
                        ),
                    ),
                    Some(extra @ Value::Object(_)) => {
                        self.check(doc, extra, item, path, false, out)
                    }
                    _ => {
                        if let Some(names) = &strict_names
                            && !names.contains(key.as_str())
                        {
                            push(
                                out,
                                path,
                                "strict_additional",
                                format!(
                                    "expected only declared properties (strict mode), found undeclared \"{key}\": {}",
                                    describe(item)
                                ),
                            );
                        }
                    }
                }
            }
            path.pop();
        }
    }

    /// Is a missing required property excused by `readOnly`/`writeOnly`?
    fn exempt(&self, doc: usize, prop: Option<&'s Value>) -> bool {
        let flag = match self.direction {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
            Direction::Neutral => return false,
        };
        let Some(prop) = prop else { return false };
        if prop.get(flag) == Some(&Value::Bool(true)) {
            return true;
        }
        let mut sink = Vec::new();
        self.deref(doc, prop, &Vec::new(), &mut sink)
            .is_some_and(|(_, s)| s.get(flag) == Some(&Value::Bool(true)))
    }

    /// Property names declared by a schema and its `allOf` parts; `open` is
    /// set if any part allows additional properties explicitly.
    fn declared(
        &self,
        doc: usize,
        obj: &'s Map<String, Value>,
        names: &mut HashSet<&'s str>,
        open: &mut bool,
        seen: &mut HashSet<usize>,
    ) {
        if !seen.insert(obj as *const Map<String, Value> as usize) {
            return;
        }
        if let Some(p) = obj.get("properties").and_then(Value::as_object) {
            names.extend(p.keys().map(String::as_str));
        }
        if matches!(obj.get("additionalProperties"), Some(v) if v != &Value::Bool(false)) {
            *open = true;
        }
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            for branch in branches {
                let mut sink = Vec::new();
                if let Some((d, Value::Object(b))) = self.deref(doc, branch, &Vec::new(), &mut sink)
                {
                    self.declared(d, b, names, open, seen);
                }
            }
        }
    }

    pub(crate) fn undeclared(&mut self, schema: SchemaRef<'s>, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        self.walk_undeclared(
            schema.doc,
            schema.value,
            value,
            &mut Vec::new(),
            false,
            &mut out,
        );
        out.sort();
        out.dedup();
        out
    }

    fn walk_undeclared(
        &mut self,
        doc: usize,
        schema: &'s Value,
        value: &Value,
        path: &mut Path,
        allof_branch: bool,
        out: &mut Vec<String>,
    ) {
        let mut sink = Vec::new();
        let Some((doc, Value::Object(obj))) = self.deref(doc, schema, path, &mut sink) else {
            return;
        };
        let key = (
            obj as *const Map<String, Value> as usize,
            value as *const Value as usize,
        );
        if !self.active.insert(key) {
            return;
        }
        match value {
            Value::Object(map) => {
                let props = obj.get("properties").and_then(Value::as_object);
                let additional = obj.get("additionalProperties").filter(|a| a.is_object());
                if !allof_branch && additional.is_none() {
                    let mut names = HashSet::new();
                    let mut open = false;
                    self.declared(doc, obj, &mut names, &mut open, &mut HashSet::new());
                    if !names.is_empty() {
                        for k in map.keys().filter(|k| !names.contains(k.as_str())) {
                            path.push(k.clone());
                            out.push(render(path));
                            path.pop();
                        }
                    }
                }
                for (k, v) in map {
                    if let Some(s) = props.and_then(|p| p.get(k)).or(additional) {
                        path.push(k.clone());
                        self.walk_undeclared(doc, s, v, path, false, out);
                        path.pop();
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = obj.get("items").filter(|s| s.is_object()) {
                    for (i, item) in items.iter().enumerate() {
                        path.push(i.to_string());
                        self.walk_undeclared(doc, s, item, path, false, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            for b in branches {
                self.walk_undeclared(doc, b, value, path, true, out);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = obj.get(keyword) {
                let chosen = branches.iter().find(|b| {
                    let mut sub = Vec::new();
                    self.check(doc, b, value, &mut path.clone(), false, &mut sub);
                    sub.is_empty()
                });
                if let Some(b) = chosen {
                    self.walk_undeclared(doc, b, value, path, false, out);
                }
            }
        }
        self.active.remove(&key);
    }
}

fn push(out: &mut Vec<Violation>, path: &Path, keyword: &'static str, message: String) {
    out.push(Violation {
        path: render(path),
        keyword,
        message,
    });
}

fn check_string(obj: &Map<String, Value>, s: &str, path: &Path, out: &mut Vec<Violation>) {
    let len = s.chars().count() as u64;
    if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        push(
            out,
            path,
            "minLength",
            format!(
                "expected at least {min} characters, found {len} in {}",
                describe_str(s)
            ),
        );
    }
    if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        push(
            out,
            path,
            "maxLength",
            format!(
                "expected at most {max} characters, found {len} in {}",
                describe_str(s)
            ),
        );
    }
    if let Some(source) = obj.get("pattern").and_then(Value::as_str)
        && let Ok(pattern) = Pattern::new(source)
        && !pattern.is_match(s)
    {
        push(
            out,
            path,
            "pattern",
            format!(
                "expected a string matching /{source}/, found {}",
                describe_str(s)
            ),
        );
    }
    if obj.get("format").and_then(Value::as_str) == Some("date-time") && !looks_like_date_time(s) {
        push(
            out,
            path,
            "format",
            format!(
                "expected a date-time such as 2024-01-31T12:00:00Z, found {}",
                describe_str(s)
            ),
        );
    }
}

fn check_number(obj: &Map<String, Value>, value: &Value, path: &Path, out: &mut Vec<Violation>) {
    let Some(n) = value.as_f64() else { return };
    if let Some(min) = obj.get("minimum").and_then(Value::as_f64) {
        let exclusive = obj.get("exclusiveMinimum") == Some(&Value::Bool(true));
        if n < min || (exclusive && n == min) {
            let op = if exclusive { ">" } else { ">=" };
            push(
                out,
                path,
                "minimum",
                format!("expected a number {op} {min}, found {}", describe(value)),
            );
        }
    }
    if let Some(min) = obj.get("exclusiveMinimum").and_then(Value::as_f64)
        && n <= min
    {
        push(
            out,
            path,
            "exclusiveMinimum",
            format!("expected a number > {min}, found {}", describe(value)),
        );
    }
    if let Some(max) = obj.get("maximum").and_then(Value::as_f64) {
        let exclusive = obj.get("exclusiveMaximum") == Some(&Value::Bool(true));
        if n > max || (exclusive && n == max) {
            let op = if exclusive { "<" } else { "<=" };
            push(
                out,
                path,
                "maximum",
                format!("expected a number {op} {max}, found {}", describe(value)),
            );
        }
    }
    if let Some(max) = obj.get("exclusiveMaximum").and_then(Value::as_f64)
        && n >= max
    {
        push(
            out,
            path,
            "exclusiveMaximum",
            format!("expected a number < {max}, found {}", describe(value)),
        );
    }
    if let Some(m) = obj
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|m| *m > 0.0)
    {
        let q = n / m;
        if (q - q.round()).abs() > 1e-9 {
            push(
                out,
                path,
                "multipleOf",
                format!("expected a multiple of {m}, found {}", describe(value)),
            );
        }
    }
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn type_matches(t: &Value, value: &Value) -> Result<bool, String> {
    let one = |name: &str| -> Result<bool, String> {
        Ok(match name {
            "string" => value.is_string(),
            "number" => value.is_number(),
            "integer" => is_integer(value),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            other => return Err(format!("schema error: unknown type \"{other}\"")),
        })
    };
    match t {
        Value::String(name) => one(name),
        Value::Array(names) => {
            let mut any = false;
            for n in names {
                let Some(n) = n.as_str() else {
                    return Err("schema error: type list holds a non-string".into());
                };
                any |= one(n)?;
            }
            Ok(any)
        }
        other => Err(format!(
            "schema error: type must be a string, found {}",
            describe(other)
        )),
    }
}

fn type_label(t: &Value) -> String {
    match t {
        Value::String(s) => s.clone(),
        Value::Array(list) => {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            format!("one of {}", names.join(", "))
        }
        other => other.to_string(),
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Loose RFC 3339 check: `YYYY-MM-DD`, `T` (or space), `HH:MM`, optional
/// `:SS` and fraction, optional `Z` or `±HH:MM` offset; field ranges checked.
fn looks_like_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(_y), Some(mo), Some(d)) = (digits(0, 4), digits(5, 2), digits(8, 2)) else {
        return false;
    };
    if !at(4, b'-') || !at(7, b'-') || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return false;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let (Some(h), Some(mi)) = (digits(11, 2), digits(14, 2)) else {
        return false;
    };
    if !at(13, b':') || h > 23 || mi > 59 {
        return false;
    }
    let mut i = 16;
    if at(i, b':') {
        match digits(i + 1, 2) {
            Some(sec) if sec <= 60 => i += 3,
            _ => return false,
        }
        if at(i, b'.') || at(i, b',') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    match b.get(i) {
        None => true,
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let Some(hh) = digits(i + 1, 2) else {
                return false;
            };
            hh <= 23
                && match &b[i + 3..] {
                    [] => true,
                    [b':', m1, m2] | [m1, m2] => m1.is_ascii_digit() && m2.is_ascii_digit(),
                    _ => false,
                }
        }
        Some(_) => false,
    }
}

fn describe_str(s: &str) -> String {
    let mut short: String = s.chars().take(60).collect();
    if short.len() < s.len() {
        short.push('…');
    }
    format!("string {short:?}")
}

/// A short description of a value: its JSON type and a preview.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if is_integer(value) => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => describe_str(s),
        Value::Array(a) => format!("array of {} items", a.len()),
        Value::Object(m) => {
            let keys: Vec<&str> = m.keys().take(5).map(String::as_str).collect();
            let more = if m.len() > 5 { ", …" } else { "" };
            format!("object {{{}{more}}}", keys.join(", "))
        }
    }
}

fn preview_list(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().take(10).map(Value::to_string).collect();
    let more = if values.len() > 10 {
        format!(", … ({} in all)", values.len())
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(", "))
}

fn branch_name(branch: &Value) -> String {
    match branch.get("$ref").and_then(Value::as_str) {
        Some(r) => r.rsplit('/').next().unwrap_or(r).to_string(),
        None => "(inline)".into(),
    }
}

fn summarize(failures: &[(&Value, Vec<Violation>)]) -> String {
    failures
        .iter()
        .enumerate()
        .map(|(i, (branch, v))| {
            let first = v.first().map(ToString::to_string).unwrap_or_default();
            let more = if v.len() > 1 {
                format!(" (+{} more)", v.len() - 1)
            } else {
                String::new()
            };
            format!("[#{i} {}: {first}{more}]", branch_name(branch))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
