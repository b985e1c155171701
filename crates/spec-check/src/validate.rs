//! Schema validation: compiles a Schema Object of a [`Spec`] with the
//! `jsonschema` crate, after the OpenAPI rewrite of [`crate::openapi`], and
//! reports every way a value fails it as a [`Violation`]: a JSON-pointer
//! path into the value, the keyword, and what was expected and found. Also
//! owns the validation policy ([`Options`]), the `readOnly`/`writeOnly`
//! [`Direction`], the compiled validators of a spec ([`Checkers`]) and the
//! list of undeclared properties.
//!
//! Every `$ref` target of the spec is one resource of a `jsonschema`
//! registry, built once per direction and policy; a schema is compiled
//! against it on first use and kept. `pattern`s use the `regex` crate: one
//! it cannot compile (look-around, back-references) makes the schema a
//! schema error rather than a check that silently passes. A chain of
//! `$ref`/`allOf`/`anyOf`/`oneOf`/`not` that comes back to itself without
//! checking anything is a schema error too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
use jsonschema::paths::{Location, LocationSegment};
use jsonschema::{Draft, JsonType, PatternOptions, Registry, ValidationError, Validator};
use serde_json::Value;

use crate::openapi::{self, DATE_TIME, Rewriter};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
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
    /// The schema keyword that failed (`type`, `required`, `enum`, ...);
    /// `strict_additional` for the strict policy, `schema` when the schema
    /// itself is broken and nothing was checked.
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

/// Every violation of `value` against `schema`, in path order.
pub(crate) fn check(
    spec: &Spec,
    schema: SchemaRef<'_>,
    value: &Value,
    direction: Direction,
) -> Vec<Violation> {
    let variant = Variant {
        direction,
        strict: spec.options().strict_additional,
    };
    let mut out = match spec.checkers().compiled(spec, variant, schema) {
        Ok((prepared, compiled)) => {
            let errors: Vec<ValidationError<'_>> = compiled.validator.iter_errors(value).collect();
            Report {
                prepared: &prepared,
                entry: &compiled.schema,
            }
            .violations(&errors)
        }
        Err(v) => vec![v],
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The paths the strict policy rejects (see [`Spec::undeclared_properties`]).
pub(crate) fn undeclared(spec: &Spec, schema: SchemaRef<'_>, value: &Value) -> Vec<String> {
    let variant = Variant {
        direction: Direction::Neutral,
        strict: true,
    };
    let Ok((prepared, compiled)) = spec.checkers().compiled(spec, variant, schema) else {
        return Vec::new();
    };
    let errors: Vec<ValidationError<'_>> = compiled.validator.iter_errors(value).collect();
    let report = Report {
        prepared: &prepared,
        entry: &compiled.schema,
    };
    let mut out = Vec::new();
    report.strict_paths(&errors, &mut out);
    out.sort();
    out.dedup();
    out
}

/// A violation saying the schema is broken and nothing was checked.
fn schema_error(message: String) -> Violation {
    Violation {
        path: String::new(),
        keyword: "schema",
        message,
    }
}

/// One compiled form of a spec: the direction and the policy for
/// undeclared properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Variant {
    direction: Direction,
    strict: bool,
}

/// The compiled forms of one [`Spec`], built on first use.
#[derive(Default)]
pub(crate) struct Checkers(Mutex<HashMap<Variant, Arc<Prepared>>>);

impl std::fmt::Debug for Checkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.try_lock() {
            Ok(map) => write!(f, "Checkers({} compiled variants)", map.len()),
            Err(_) => f.write_str("Checkers(busy)"),
        }
    }
}

/// Every `$ref` target of a spec rewritten into one registry, and the
/// validators compiled against it so far.
struct Prepared {
    registry: Result<Registry<'static>, String>,
    /// The rewritten targets, by index.
    targets: Vec<Arc<Value>>,
    /// The last pointer segment of each target, naming `anyOf`/`oneOf`
    /// alternatives in messages.
    names: Vec<String>,
    /// The targets each target references.
    edges: Vec<Vec<usize>>,
    /// Whether each target comes back to itself through in-place keywords only.
    looping: Vec<bool>,
    /// By the address of the schema in the spec.
    compiled: Mutex<HashMap<usize, Result<Arc<Compiled>, Violation>>>,
}

struct Compiled {
    /// The rewritten schema, to name `anyOf`/`oneOf` alternatives.
    schema: Value,
    validator: Validator,
}

impl Checkers {
    /// The validator of `schema` in `variant`, compiled now if need be.
    fn compiled(
        &self,
        spec: &Spec,
        variant: Variant,
        schema: SchemaRef<'_>,
    ) -> Result<(Arc<Prepared>, Arc<Compiled>), Violation> {
        let prepared = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                map.entry(variant)
                    .or_insert_with(|| Arc::new(Prepared::new(spec, variant))),
            )
        };
        let key = schema.value() as *const Value as usize;
        let mut map = prepared.compiled.lock().unwrap_or_else(|e| e.into_inner());
        let compiled = map
            .entry(key)
            .or_insert_with(|| prepared.compile(spec, variant, schema).map(Arc::new))
            .clone();
        drop(map);
        compiled.map(|c| (prepared, c))
    }
}

impl Prepared {
    fn new(spec: &Spec, variant: Variant) -> Prepared {
        let mut rewriter = Rewriter::new(spec, variant.direction, variant.strict);
        let mut targets = Vec::new();
        let mut names = Vec::new();
        let mut edges = Vec::new();
        let mut in_place = Vec::new();
        for (doc, value, name) in spec.targets() {
            targets.push(Arc::new(rewriter.schema(doc, value, false, true)));
            names.push(name);
            let refs = rewriter.take_refs();
            in_place.push(refs.iter().filter(|r| r.1).map(|r| r.0).collect::<Vec<_>>());
            edges.push(refs.into_iter().map(|r| r.0).collect());
        }
        let looping = (0..targets.len())
            .map(|i| reachable(&in_place, &in_place[i]).contains(&i))
            .collect();
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .extend(
                targets
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (openapi::target_uri(i), Arc::clone(t))),
            )
            .and_then(|r| r.prepare())
            .map_err(|e| format!("the spec's schemas cannot be registered: {e}"));
        Prepared {
            registry,
            targets,
            names,
            edges,
            looping,
            compiled: Mutex::default(),
        }
    }

    fn compile(
        &self,
        spec: &Spec,
        variant: Variant,
        schema: SchemaRef<'_>,
    ) -> Result<Compiled, Violation> {
        let registry = self
            .registry
            .as_ref()
            .map_err(|e| schema_error(e.clone()))?;
        let mut rewriter = Rewriter::new(spec, variant.direction, variant.strict);
        let rewritten = rewriter.schema(schema.doc, schema.value(), true, true);
        let roots: Vec<usize> = rewriter.take_refs().into_iter().map(|r| r.0).collect();
        if let Some(&looping) = reachable(&self.edges, &roots)
            .iter()
            .find(|&&t| self.looping[t])
        {
            return Err(Violation {
                path: String::new(),
                keyword: "$ref",
                message: format!(
                    "schema error: $ref to \"{}\" is circular: its $ref/allOf/anyOf/oneOf/not lead back to it without checking anything; nothing was checked",
                    self.names[looping]
                ),
            });
        }
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(registry)
            .with_pattern_options(PatternOptions::regex())
            .with_format(DATE_TIME, openapi::is_date_time)
            .should_validate_formats(true)
            .build(&rewritten)
            .map_err(|e| build_error(&e))?;
        Ok(Compiled {
            schema: rewritten,
            validator,
        })
    }
}

/// The nodes reachable from the `start` nodes along `edges`, these included.
fn reachable(edges: &[Vec<usize>], start: &[usize]) -> Vec<usize> {
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = start.to_vec();
    let mut out = Vec::new();
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut seen[n], true) {
            out.push(n);
            stack.extend(&edges[n]);
        }
    }
    out
}

/// Why a schema did not compile, as a violation.
fn build_error(e: &ValidationError<'_>) -> Violation {
    let at = e.instance_path().as_str();
    let message = match (e.kind(), e.instance().as_ref()) {
        (Kind::Format { format }, Value::String(p)) if format == "regex" => format!(
            "schema error: pattern /{p}/ is not supported: the regex engine has no look-around or back-references; nothing was checked"
        ),
        _ => format!(
            "schema error at {at} in the schema (or in one it references): {e}; nothing was checked"
        ),
    };
    schema_error(message)
}

/// Turns `jsonschema` errors into [`Violation`]s.
struct Report<'a> {
    prepared: &'a Prepared,
    /// The rewritten schema the errors' evaluation paths start from.
    entry: &'a Value,
}

impl Report<'_> {
    /// The violations of `errors`. Like a type check that fails first, a
    /// type error silences the other complaints of the same schema about
    /// the same value.
    fn violations(&self, errors: &[ValidationError<'_>]) -> Vec<Violation> {
        let typed: Vec<(&str, String)> = errors
            .iter()
            .filter(|e| matches!(e.kind(), Kind::Type { .. }))
            .map(|e| {
                let at = e.evaluation_path().as_str();
                let schema = at.strip_suffix("/type").unwrap_or(at);
                (e.instance_path().as_str(), format!("{schema}/"))
            })
            .collect();
        let mut out = Vec::new();
        for e in errors {
            let silenced = !matches!(e.kind(), Kind::Type { .. })
                && typed.iter().any(|(path, schema)| {
                    e.instance_path().as_str() == *path
                        && e.evaluation_path().as_str().starts_with(schema.as_str())
                });
            if !silenced {
                self.convert(e, &mut out);
            }
        }
        out
    }

    fn convert(&self, e: &ValidationError<'_>, out: &mut Vec<Violation>) {
        let path = e.instance_path().as_str();
        let instance = e.instance().as_ref();
        let found = describe(instance);
        let mut push = |path: String, keyword: &'static str, message: String| {
            out.push(Violation {
                path,
                keyword,
                message,
            })
        };
        // `minLength` & co: how many there are (and of what string).
        let count = |keyword, relation: &str, limit: &u64, unit: &str| {
            let n = match instance {
                Value::String(s) => format!("{} in {found}", s.chars().count()),
                Value::Array(a) => a.len().to_string(),
                Value::Object(m) => m.len().to_string(),
                _ => found.clone(),
            };
            (
                keyword,
                format!("expected {relation} {limit} {unit}, found {n}"),
            )
        };
        let bound = |keyword, relation: &str, limit: &Value| {
            (
                keyword,
                format!("expected a number {relation} {limit}, found {found}"),
            )
        };
        let (keyword, message) = match e.kind() {
            Kind::Type { kind } => (
                "type",
                format!("expected {}, found {found}", type_label(kind)),
            ),
            Kind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                return push(
                    format!("{path}/{}", escape(name)),
                    "required",
                    format!("expected required property \"{name}\", found it missing"),
                );
            }
            Kind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let item = instance.get(name).map_or_else(String::new, describe);
                    push(
                        format!("{path}/{}", escape(name)),
                        "additionalProperties",
                        format!(
                            "expected no property \"{name}\" (additionalProperties is false), found {item}"
                        ),
                    );
                }
                return;
            }
            Kind::PropertyNames { error } => {
                let declared = match error.kind() {
                    Kind::Enum { options } => options.as_array().cloned().unwrap_or_default(),
                    _ => Vec::new(),
                };
                for (name, item) in instance.as_object().into_iter().flatten() {
                    if !declared.iter().any(|d| d.as_str() == Some(name)) {
                        push(
                            format!("{path}/{}", escape(name)),
                            "strict_additional",
                            format!(
                                "expected only declared properties (strict mode), found undeclared \"{name}\": {}",
                                describe(item)
                            ),
                        );
                    }
                }
                return;
            }
            Kind::Enum { options } => (
                "enum",
                format!(
                    "expected one of {}, found {found}",
                    preview_list(options.as_array().map(Vec::as_slice).unwrap_or_default())
                ),
            ),
            Kind::MinLength { limit } => count("minLength", "at least", limit, "characters"),
            Kind::MaxLength { limit } => count("maxLength", "at most", limit, "characters"),
            Kind::MinItems { limit } => count("minItems", "at least", limit, "items"),
            Kind::MaxItems { limit } => count("maxItems", "at most", limit, "items"),
            Kind::MinProperties { limit } => {
                count("minProperties", "at least", limit, "properties")
            }
            Kind::MaxProperties { limit } => count("maxProperties", "at most", limit, "properties"),
            Kind::Minimum { limit } => bound("minimum", ">=", limit),
            Kind::Maximum { limit } => bound("maximum", "<=", limit),
            Kind::ExclusiveMinimum { limit } => bound("exclusiveMinimum", ">", limit),
            Kind::ExclusiveMaximum { limit } => bound("exclusiveMaximum", "<", limit),
            Kind::MultipleOf { multiple_of } => (
                "multipleOf",
                format!("expected a multiple of {multiple_of}, found {found}"),
            ),
            Kind::UniqueItems => (
                "uniqueItems",
                format!("expected unique items, found a repeated one in {found}"),
            ),
            Kind::Pattern { pattern } => (
                "pattern",
                format!("expected a string matching /{pattern}/, found {found}"),
            ),
            Kind::Format { format } if format == DATE_TIME => (
                "format",
                format!("expected a date-time such as 2024-01-31T12:00:00Z, found {found}"),
            ),
            Kind::Not { .. } => (
                "not",
                format!("expected a value not matching the \"not\" schema, found {found}"),
            ),
            Kind::FalseSchema => ("schema", format!("no value is allowed here, found {found}")),
            Kind::AnyOf { context } => (
                "anyOf",
                format!(
                    "expected a value matching at least one of {} anyOf alternatives, none matched: {}",
                    context.len(),
                    self.summarize(e, context)
                ),
            ),
            Kind::OneOfNotValid { context } => (
                "oneOf",
                format!(
                    "expected a value matching exactly one of {} oneOf alternatives, none matched: {}",
                    context.len(),
                    self.summarize(e, context)
                ),
            ),
            Kind::OneOfMultipleValid { context } => {
                let names = self.alternatives(e);
                let matched: Vec<String> = (0..context.len())
                    .filter(|&i| context[i].is_empty())
                    .map(|i| format!("#{i} {}", names[i]))
                    .collect();
                (
                    "oneOf",
                    format!(
                        "expected a value matching exactly one oneOf alternative, but {} matched: {}",
                        matched.len(),
                        matched.join(", ")
                    ),
                )
            }
            _ => ("schema", format!("{e}")),
        };
        push(path.to_string(), keyword, message)
    }

    /// `[#i Name: first violation (+n more)]` for each failed alternative.
    fn summarize(
        &self,
        e: &ValidationError<'_>,
        context: &[Vec<ValidationError<'static>>],
    ) -> String {
        let names = self.alternatives(e);
        context
            .iter()
            .enumerate()
            .map(|(i, errors)| {
                let v = self.violations(errors);
                let first = v.first().map(ToString::to_string).unwrap_or_default();
                let more = if v.len() > 1 {
                    format!(" (+{} more)", v.len() - 1)
                } else {
                    String::new()
                };
                format!("[#{i} {}: {first}{more}]", names[i])
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The names of the alternatives of the `anyOf`/`oneOf` that raised
    /// `e`: the schema a `$ref` names, else `(inline)`.
    fn alternatives(&self, e: &ValidationError<'_>) -> Vec<String> {
        let branches = self
            .schema_at(e.evaluation_path())
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let count = match e.kind() {
            Kind::AnyOf { context }
            | Kind::OneOfNotValid { context }
            | Kind::OneOfMultipleValid { context } => context.len(),
            _ => 0,
        };
        (0..count)
            .map(|i| {
                branches
                    .get(i)
                    .and_then(|b| b.get("$ref")?.as_str())
                    .and_then(openapi::target_index)
                    .and_then(|t| self.prepared.names.get(t))
                    .cloned()
                    .unwrap_or_else(|| "(inline)".into())
            })
            .collect()
    }

    /// The rewritten schema at an evaluation path (which crosses `$ref`s).
    fn schema_at(&self, path: &Location) -> Option<&Value> {
        let mut at = self.entry;
        for segment in path.segments() {
            at = match segment {
                LocationSegment::Property(p) if p == "$ref" && at.get("$ref")?.is_string() => {
                    let target = openapi::target_index(at.get("$ref")?.as_str()?)?;
                    self.prepared.targets.get(target)?.as_ref()
                }
                LocationSegment::Property(p) => at.get(p.as_ref())?,
                LocationSegment::Index(i) => match at {
                    Value::Array(items) => items.get(i)?,
                    other => other.get(i.to_string())?,
                },
            };
        }
        Some(at)
    }

    /// The paths of the strict policy's violations, also inside the first
    /// `anyOf`/`oneOf` alternative that fails for them alone.
    fn strict_paths(&self, errors: &[ValidationError<'_>], out: &mut Vec<String>) {
        for e in errors {
            match e.kind() {
                Kind::PropertyNames { .. } => {
                    let mut v = Vec::new();
                    self.convert(e, &mut v);
                    out.extend(v.into_iter().map(|v| v.path));
                }
                Kind::AnyOf { context } | Kind::OneOfNotValid { context } => {
                    if let Some(branch) = context.iter().find(|b| strict_only(b)) {
                        self.strict_paths(branch, out);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether `errors` are the strict policy's alone.
fn strict_only(errors: &[ValidationError<'_>]) -> bool {
    errors.iter().all(|e| match e.kind() {
        Kind::PropertyNames { .. } => true,
        Kind::AnyOf { context } | Kind::OneOfNotValid { context } => {
            context.iter().any(|b| strict_only(b))
        }
        _ => false,
    })
}

fn type_label(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => t.to_string(),
        TypeKind::Multiple(set) => {
            let names: Vec<&str> = set
                .iter()
                .filter(|t| *t != JsonType::Null)
                .map(JsonType::as_str)
                .collect();
            match (names.as_slice(), set.contains(JsonType::Null)) {
                ([one], true) => format!("{one} (or null)"),
                (_, true) => format!("one of {}, or null", names.join(", ")),
                _ => format!("one of {}", names.join(", ")),
            }
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

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
