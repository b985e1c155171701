//! The loaded OpenAPI document set: [`Spec::load`] reads the root file and,
//! eagerly, every file reachable through relative-file `$ref`s, then checks
//! that every `$ref` resolves and lists their targets (the resources the
//! validators of [`crate::validate`] are compiled against). This module
//! also owns `$ref` resolution, operation look-up (method + path template),
//! response/request schema selection and the entry points that validate
//! bodies against an operation.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::error::{BrokenRef, CheckError, SpecError};
use crate::paths;
use crate::validate::{self, Checkers, Direction, Options, Violation};

/// HTTP methods an OpenAPI path item may hold, lower-case as in the document.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One JSON document of the set (the root file or a file reached by `$ref`).
#[derive(Debug)]
struct Document {
    /// Canonical file path; `None` for a document given as a value.
    path: Option<PathBuf>,
    root: Value,
}

/// A schema inside a [`Spec`], remembering which document it lives in so
/// that `$ref`s inside it resolve relative to that document.
/// Only pass it back to the [`Spec`] that produced it.
#[derive(Debug, Clone, Copy)]
pub struct SchemaRef<'s> {
    pub(crate) doc: usize,
    pub(crate) value: &'s Value,
}

impl<'s> SchemaRef<'s> {
    /// The schema object as written (a `$ref` is not followed).
    pub fn value(&self) -> &'s Value {
        self.value
    }
}

/// One operation of the spec.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'s> {
    /// Lower-case HTTP method, as the document spells it.
    pub method: &'static str,
    /// Path template as written in the spec, e.g. `/products/{productId}`.
    pub path: &'s str,
    /// The Operation Object as written.
    pub raw: &'s Value,
}

impl<'s> Operation<'s> {
    /// The `operationId`, if any.
    pub fn operation_id(&self) -> Option<&'s str> {
        self.raw.get("operationId").and_then(Value::as_str)
    }
}

/// A loaded OpenAPI 3.0 document with every file its `$ref`s reach.
#[derive(Debug)]
pub struct Spec {
    docs: Vec<Document>,
    /// (document index, file part of a `$ref` as written) -> document index.
    file_refs: HashMap<(usize, String), usize>,
    ref_count: usize,
    /// Every `$ref` target as (document, JSON pointer), in the order found.
    targets: Vec<(usize, String)>,
    /// Index into `targets` of each.
    target_index: HashMap<(usize, String), usize>,
    options: Options,
    /// The compiled validators, built on first use.
    checkers: Checkers,
}

impl Spec {
    /// Reads an OpenAPI 3.0 JSON file and every file reached through relative
    /// `$ref`s (resolved against the directory of the file containing the
    /// `$ref`), and checks that every `$ref` resolves.
    pub fn load(path: impl AsRef<Path>) -> Result<Spec, SpecError> {
        let path = path.as_ref();
        let canonical = std::fs::canonicalize(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let root = read_json(&canonical)?;
        match root.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.") => {}
            Some(v) => {
                return Err(SpecError::NotOpenApi {
                    path: canonical,
                    reason: format!("\"openapi\" is \"{v}\", expected 3.x"),
                });
            }
            None => {
                return Err(SpecError::NotOpenApi {
                    path: canonical,
                    reason: "no \"openapi\" version string at the top level".into(),
                });
            }
        }
        Spec::build(root, Some(canonical))
    }

    /// Builds a spec (or a standalone schema document) from a value. `file`
    /// is the path relative-file `$ref`s are resolved against; without it
    /// such `$ref`s are reported as broken.
    pub fn from_value(root: Value, file: Option<&Path>) -> Result<Spec, SpecError> {
        let file = match file {
            Some(f) => Some(std::fs::canonicalize(f).map_err(|source| SpecError::Read {
                path: f.to_path_buf(),
                source,
            })?),
            None => None,
        };
        Spec::build(root, file)
    }

    fn build(root: Value, file: Option<PathBuf>) -> Result<Spec, SpecError> {
        let mut spec = Spec {
            docs: vec![Document { path: file, root }],
            file_refs: HashMap::new(),
            ref_count: 0,
            targets: Vec::new(),
            target_index: HashMap::new(),
            options: Options::default(),
            checkers: Checkers::default(),
        };
        let mut broken = Vec::new();
        // (document, location of the $ref, the $ref) for the second pass.
        let mut sites: Vec<(usize, String, String)> = Vec::new();
        let mut i = 0;
        while i < spec.docs.len() {
            let mut found = Vec::new();
            collect_refs(&spec.docs[i].root, "", None, &mut found);
            for (at, reference) in found {
                let (file_part, _) = split_ref(&reference);
                if !file_part.is_empty()
                    && !spec.file_refs.contains_key(&(i, file_part.to_string()))
                {
                    match spec.load_referenced(i, file_part) {
                        Ok(target) => {
                            spec.file_refs.insert((i, file_part.to_string()), target);
                        }
                        Err(reason) => {
                            broken.push(BrokenRef {
                                file: spec.doc_label(i),
                                at,
                                reference,
                                reason,
                            });
                            continue;
                        }
                    }
                }
                sites.push((i, at, reference));
            }
            i += 1;
        }
        spec.ref_count = sites.len() + broken.len();
        for (doc, at, reference) in sites {
            match spec.locate(doc, &reference) {
                Ok(target) => {
                    if !spec.target_index.contains_key(&target) {
                        spec.target_index.insert(target.clone(), spec.targets.len());
                        spec.targets.push(target);
                    }
                }
                Err(reason) => broken.push(BrokenRef {
                    file: spec.doc_label(doc),
                    at,
                    reference,
                    reason,
                }),
            }
        }
        if broken.is_empty() {
            Ok(spec)
        } else {
            Err(SpecError::BrokenRefs(broken))
        }
    }

    /// Loads (or finds already loaded) the file a `$ref` in document `from`
    /// names; returns its index or a reason it cannot be used.
    fn load_referenced(&mut self, from: usize, file_part: &str) -> Result<usize, String> {
        if file_part.contains("://") {
            return Err("only local (#/...) and relative-file refs are supported".into());
        }
        let Some(base) = self.docs[from].path.as_deref() else {
            return Err("relative-file ref in a document that has no file path".into());
        };
        let dir = base.parent().unwrap_or(Path::new(""));
        let joined = normalize(&dir.join(file_part));
        let canonical = std::fs::canonicalize(&joined)
            .map_err(|e| format!("file {} cannot be read: {e}", joined.display()))?;
        if let Some(idx) = self
            .docs
            .iter()
            .position(|d| d.path.as_deref() == Some(canonical.as_path()))
        {
            return Ok(idx);
        }
        let root = read_json(&canonical).map_err(|e| e.to_string())?;
        self.docs.push(Document {
            path: Some(canonical),
            root,
        });
        Ok(self.docs.len() - 1)
    }

    /// Resolves a `$ref` written in document `doc` to (document, value).
    pub(crate) fn resolve(&self, doc: usize, reference: &str) -> Result<(usize, &Value), String> {
        let (target, pointer) = self.locate(doc, reference)?;
        Ok((target, self.value_at(target, &pointer)))
    }

    /// Where a `$ref` written in document `doc` points: (document, JSON
    /// pointer, percent-decoded), checked to hold a value.
    fn locate(&self, doc: usize, reference: &str) -> Result<(usize, String), String> {
        let (file_part, fragment) = split_ref(reference);
        let target = if file_part.is_empty() {
            doc
        } else {
            *self
                .file_refs
                .get(&(doc, file_part.to_string()))
                .ok_or_else(|| format!("file \"{file_part}\" was not loaded"))?
        };
        let pointer = percent_decode_str(fragment)
            .decode_utf8()
            .map_or_else(|_| fragment.to_string(), |p| p.into_owned());
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "fragment \"#{fragment}\" is not a JSON pointer (anchors are not supported)"
            ));
        }
        match self.docs[target].root.pointer(&pointer) {
            Some(_) => Ok((target, pointer)),
            None => Err(format!(
                "{} has nothing at \"#{pointer}\"",
                self.doc_label(target)
            )),
        }
    }

    /// The value at a pointer [`Spec::locate`] returned.
    fn value_at(&self, doc: usize, pointer: &str) -> &Value {
        self.docs[doc].root.pointer(pointer).unwrap_or(&Value::Null)
    }

    /// Follows `$ref`s from `schema` (in document `doc`) to the first
    /// schema that is not one; `None` if a `$ref` is broken or the chain
    /// loops.
    pub(crate) fn deref<'s>(
        &'s self,
        mut doc: usize,
        mut schema: &'s Value,
    ) -> Option<(usize, &'s Value)> {
        for _ in 0..64 {
            let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
                return Some((doc, schema));
            };
            (doc, schema) = self.resolve(doc, r).ok()?;
        }
        None
    }

    /// The index in [`Spec::targets`] of what a `$ref` in document `doc` names.
    pub(crate) fn target_of(&self, doc: usize, reference: &str) -> Option<usize> {
        let target = self.locate(doc, reference).ok()?;
        self.target_index.get(&target).copied()
    }

    /// Every `$ref` target: (document, its value, the last segment of its
    /// pointer, unescaped, e.g. the schema name).
    pub(crate) fn targets(&self) -> impl Iterator<Item = (usize, &Value, String)> {
        self.targets.iter().map(|(doc, pointer)| {
            let name = pointer.rsplit('/').next().unwrap_or_default();
            let name = name.replace("~1", "/").replace("~0", "~");
            (*doc, self.value_at(*doc, pointer), name)
        })
    }

    /// The validators compiled so far.
    pub(crate) fn checkers(&self) -> &Checkers {
        &self.checkers
    }

    fn doc_label(&self, doc: usize) -> String {
        match &self.docs[doc].path {
            Some(p) => p.display().to_string(),
            None => "<inline>".into(),
        }
    }

    /// Sets the validation policy (see [`Options`]).
    pub fn with_options(mut self, options: Options) -> Spec {
        self.options = options;
        self.checkers = Checkers::default();
        self
    }

    /// The validation policy in use.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The root document as written.
    pub fn raw(&self) -> &Value {
        &self.docs[0].root
    }

    /// Canonical paths of every loaded file, the root first.
    pub fn files(&self) -> Vec<&Path> {
        self.docs.iter().filter_map(|d| d.path.as_deref()).collect()
    }

    /// How many `$ref`s the loaded files contain (all of them resolve).
    pub fn ref_count(&self) -> usize {
        self.ref_count
    }

    /// Resolves a `$ref` string as if written in the root document, e.g.
    /// `#/components/schemas/X` or `../common/common-schemas.json#/components/schemas/Y`.
    pub fn schema_at(&self, reference: &str) -> Result<SchemaRef<'_>, SpecError> {
        let (file_part, _) = split_ref(reference);
        let from = if file_part.is_empty() || self.file_refs.contains_key(&(0, file_part.into())) {
            0
        } else {
            // A file the root does not name directly but another loaded file does.
            self.file_refs
                .keys()
                .find(|(_, f)| f == file_part)
                .map(|(d, _)| *d)
                .unwrap_or(0)
        };
        self.resolve(from, reference)
            .map(|(doc, value)| SchemaRef { doc, value })
            .map_err(|reason| {
                SpecError::BrokenRefs(vec![BrokenRef {
                    file: self.doc_label(0),
                    at: String::new(),
                    reference: reference.to_string(),
                    reason,
                }])
            })
    }

    /// `#/components/schemas/{name}` of the root document.
    pub fn component_schema(&self, name: &str) -> Option<SchemaRef<'_>> {
        let value = self.docs[0]
            .root
            .get("components")?
            .get("schemas")?
            .get(name)?;
        Some(SchemaRef { doc: 0, value })
    }

    /// The root document itself as a schema (for standalone schema documents).
    pub fn root_schema(&self) -> SchemaRef<'_> {
        SchemaRef {
            doc: 0,
            value: &self.docs[0].root,
        }
    }

    /// Path templates, sorted (JSON object order is not kept).
    pub fn path_templates(&self) -> Vec<&str> {
        match self.docs[0].root.get("paths").and_then(Value::as_object) {
            Some(p) => p.keys().map(String::as_str).collect(),
            None => Vec::new(),
        }
    }

    /// Every operation, sorted by path template.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut out = Vec::new();
        for template in self.path_templates() {
            for method in METHODS {
                if let Some(op) = self.operation(method, template) {
                    out.push(op);
                }
            }
        }
        out
    }

    /// The operation for a method (any case) and a path template as written
    /// in the spec. A path item given as a `$ref` is followed.
    pub fn operation(&self, method: &str, path_template: &str) -> Option<Operation<'_>> {
        let method = canonical_method(method)?;
        let item = self.docs[0].root.get("paths")?.get(path_template)?;
        let item = match item.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(0, r).ok()?.1,
            None => item,
        };
        let raw = item.get(method)?;
        raw.is_object().then_some(Operation {
            method,
            path: self.docs[0]
                .root
                .get("paths")?
                .as_object()?
                .get_key_value(path_template)?
                .0
                .as_str(),
            raw,
        })
    }

    /// The path template matching a concrete request path (query string
    /// ignored) that has an operation for `method`. Literal segments win over
    /// parameters, so `/coupon/list` beats `/coupon/{id}`.
    pub fn match_path(&self, method: &str, concrete_path: &str) -> Option<&str> {
        let method = canonical_method(method)?;
        paths::best_match(
            self.path_templates()
                .into_iter()
                .filter(|t| self.operation(method, t).is_some()),
            concrete_path,
        )
    }

    fn op_or_err(&self, method: &str, path_template: &str) -> Result<Operation<'_>, CheckError> {
        self.operation(method, path_template)
            .ok_or_else(|| CheckError::UnknownOperation {
                method: method.to_uppercase(),
                path: path_template.to_string(),
            })
    }

    /// The response keys the operation documents (`"200"`, `"4XX"`,
    /// `"default"`), as written, sorted.
    pub fn response_statuses(
        &self,
        method: &str,
        path_template: &str,
    ) -> Result<Vec<&str>, CheckError> {
        let op = self.op_or_err(method, path_template)?;
        Ok(op
            .raw
            .get("responses")
            .and_then(Value::as_object)
            .map(|r| r.keys().map(String::as_str).collect())
            .unwrap_or_default())
    }

    /// The `application/json` schema documented for `status`: the exact
    /// status, else its range (`2XX`), else `default`.
    pub fn response_schema(
        &self,
        method: &str,
        path_template: &str,
        status: u16,
    ) -> Result<SchemaRef<'_>, CheckError> {
        let op = self.op_or_err(method, path_template)?;
        let responses = op.raw.get("responses").and_then(Value::as_object);
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let found = responses.and_then(|r| {
            r.get(&exact)
                .map(|v| (exact.clone(), v))
                .or_else(|| {
                    r.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&range))
                        .map(|(k, v)| (k.clone(), v))
                })
                .or_else(|| r.get("default").map(|v| ("default".to_string(), v)))
        });
        let Some((key, response)) = found else {
            return Err(CheckError::UndocumentedStatus {
                method: op.method.to_uppercase(),
                path: op.path.to_string(),
                status,
                documented: responses
                    .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_else(|| "none".into()),
            });
        };
        let what = if key == exact {
            format!("response {key}")
        } else {
            format!("response {status} (documented as \"{key}\")")
        };
        self.json_schema_of(0, response, &op, what)
    }

    /// The `application/json` schema of the operation's request body.
    pub fn request_body_schema(
        &self,
        method: &str,
        path_template: &str,
    ) -> Result<SchemaRef<'_>, CheckError> {
        let op = self.op_or_err(method, path_template)?;
        let Some(body) = op.raw.get("requestBody") else {
            return Err(CheckError::NoSchema {
                method: op.method.to_uppercase(),
                path: op.path.to_string(),
                what: "request body".into(),
                detail: "the operation documents no requestBody".into(),
            });
        };
        self.json_schema_of(0, body, &op, "request body".into())
    }

    /// Follows a Response/Request Body Object (maybe a `$ref`) to its
    /// `content["application/json"].schema`.
    fn json_schema_of<'s>(
        &'s self,
        doc: usize,
        object: &'s Value,
        op: &Operation<'_>,
        what: String,
    ) -> Result<SchemaRef<'s>, CheckError> {
        let no_schema = |detail: String| CheckError::NoSchema {
            method: op.method.to_uppercase(),
            path: op.path.to_string(),
            what: what.clone(),
            detail,
        };
        let (doc, object) = match object.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(doc, r).map_err(no_schema)?,
            None => (doc, object),
        };
        let Some(content) = object.get("content").and_then(Value::as_object) else {
            return Err(no_schema("no content is documented".into()));
        };
        let media = content.get("application/json").or_else(|| {
            content
                .iter()
                .find(|(k, _)| {
                    let mime = k.split(';').next().unwrap_or("").trim();
                    mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
                })
                .map(|(_, v)| v)
        });
        let Some(media) = media else {
            let types: Vec<&str> = content.keys().map(String::as_str).collect();
            return Err(no_schema(format!(
                "documented media types: {}",
                if types.is_empty() {
                    "none".into()
                } else {
                    types.join(", ")
                }
            )));
        };
        match media.get("schema") {
            Some(value) => Ok(SchemaRef { doc, value }),
            None => Err(no_schema("application/json has no schema".into())),
        }
    }

    /// Validates a response body against the schema documented for `status`.
    pub fn validate_response(
        &self,
        method: &str,
        path_template: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), CheckError> {
        let schema = self.response_schema(method, path_template, status)?;
        self.validate_in(schema, body, Direction::Response)
            .map_err(CheckError::Invalid)
    }

    /// Validates a request body against the operation's JSON request schema.
    pub fn validate_request_body(
        &self,
        method: &str,
        path_template: &str,
        body: &Value,
    ) -> Result<(), CheckError> {
        let schema = self.request_body_schema(method, path_template)?;
        self.validate_in(schema, body, Direction::Request)
            .map_err(CheckError::Invalid)
    }

    /// Validates a value against a schema of this spec.
    pub fn validate(&self, schema: SchemaRef<'_>, value: &Value) -> Result<(), Vec<Violation>> {
        self.validate_in(schema, value, Direction::Neutral)
    }

    /// Validates with an explicit direction: in a request `readOnly`
    /// properties are not required, in a response `writeOnly` ones are not.
    pub fn validate_in(
        &self,
        schema: SchemaRef<'_>,
        value: &Value,
        direction: Direction,
    ) -> Result<(), Vec<Violation>> {
        let violations = validate::check(self, schema, value, direction);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// JSON pointers of the properties in `value` that the strict policy
    /// ([`Options::strict_additional`]) rejects, at any depth, whatever the
    /// policy of this spec: those of an object whose schema declares
    /// `properties` (counting its `allOf` parts) and says nothing about
    /// `additionalProperties`.
    pub fn undeclared_properties(&self, schema: SchemaRef<'_>, value: &Value) -> Vec<String> {
        validate::undeclared(self, schema, value)
    }
}

// A spec is shared by the tests that check against it, across threads too.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Spec>();
};

fn canonical_method(method: &str) -> Option<&'static str> {
    METHODS.into_iter().find(|m| m.eq_ignore_ascii_case(method))
}

fn read_json(path: &Path) -> Result<Value, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SpecError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// Splits a `$ref` into its file part and its fragment (without `#`).
pub(crate) fn split_ref(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    }
}

/// Removes `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Keys under which a value is data (examples, defaults, enum members), so a
/// `"$ref"` key inside is not a reference.
const DATA_KEYS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// Collects every `$ref` string with the JSON pointer of the object holding
/// it. `parent` is the key this value sits under: inside a `properties` (or
/// other name-keyed) map a key such as `example` is a property name, not data.
fn collect_refs(value: &Value, at: &str, parent: Option<&str>, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push((at.to_string(), r.clone()));
            }
            let name_map = matches!(
                parent,
                Some("properties" | "schemas" | "paths" | "responses" | "parameters")
            );
            for (k, v) in map {
                if k == "$ref" {
                    continue;
                }
                if !name_map && (DATA_KEYS.contains(&k.as_str()) || k.starts_with("x-")) {
                    // `examples` at a media type is a map of Example Objects
                    // whose `$ref`s are real; their `value`s are data.
                    if k == "examples"
                        && let Some(m) = v.as_object()
                    {
                        for (name, ex) in m {
                            if let Some(Value::String(r)) = ex.get("$ref") {
                                out.push((format!("{at}/examples/{}", escape(name)), r.clone()));
                            }
                        }
                    }
                    continue;
                }
                collect_refs(v, &format!("{at}/{}", escape(k)), Some(k), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_refs(v, &format!("{at}/{i}"), None, out);
            }
        }
        _ => {}
    }
}

/// Escapes one JSON-pointer segment.
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_and_decode() {
        assert_eq!(split_ref("#/a/b"), ("", "/a/b"));
        assert_eq!(split_ref("../c.json#/x"), ("../c.json", "/x"));
        assert_eq!(split_ref("c.json"), ("c.json", ""));
        let spec =
            Spec::from_value(json!({"a b": {"{id}": 1, "é": 2}, "50%": 3}), None).expect("no refs");
        assert_eq!(
            spec.resolve(0, "#/a%20b/%7Bid%7D").map(|r| r.1),
            Ok(&json!(1))
        );
        assert_eq!(
            spec.resolve(0, "#/a%20b/%C3%A9").map(|r| r.1),
            Ok(&json!(2))
        );
        // A malformed escape is kept as written.
        assert_eq!(spec.resolve(0, "#/50%").map(|r| r.1), Ok(&json!(3)));
        assert_eq!(
            normalize(Path::new("/x/apps/../common/c.json")),
            PathBuf::from("/x/common/c.json")
        );
    }

    #[test]
    fn refs_inside_examples_are_data() {
        let mut out = Vec::new();
        let doc = json!({
            "properties": {"example": {"$ref": "#/a"}},
            "example": {"$ref": "not a ref"},
            "items": {"$ref": "#/b"}
        });
        collect_refs(&doc, "", None, &mut out);
        let mut refs: Vec<&str> = out.iter().map(|(_, r)| r.as_str()).collect();
        refs.sort_unstable();
        assert_eq!(refs, ["#/a", "#/b"]);
    }

    #[test]
    fn broken_local_refs_are_all_listed() {
        let err = Spec::from_value(
            json!({"properties": {"a": {"$ref": "#/nope"}, "b": {"$ref": "other.json#/x"}}}),
            None,
        )
        .expect_err("broken refs must fail");
        let SpecError::BrokenRefs(list) = &err else {
            panic!("unexpected error {err}");
        };
        assert_eq!(list.len(), 2);
        let text = err.to_string();
        assert!(
            text.contains("#/nope") && text.contains("other.json"),
            "{text}"
        );
    }

    #[test]
    fn load_reports_missing_file_with_path() {
        let err = Spec::load("/definitely/not/here.json").expect_err("missing");
        assert!(
            err.to_string().contains("/definitely/not/here.json"),
            "{err}"
        );
    }
}
