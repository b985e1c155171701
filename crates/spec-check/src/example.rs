//! Example assembly: builds one example value for a schema from the spec's
//! own `example`s (preferred), `default`s and first `enum` members, filling
//! gaps with neutral placeholders (`"string"`, `0`, `false`, a fixed
//! date-time) that satisfy `type`, `format: date-time`, `minLength` and
//! `minimum` but not `pattern`. Conformance tests use it to check that the
//! official examples agree with their schemas, and the simulator can use it
//! to produce plausible bodies.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::spec::{SchemaRef, Spec};

impl Spec {
    /// One example value for `schema`. A schema-level `example` wins over
    /// anything assembled from its parts; recursive schemas stop at the
    /// first repetition (the recursive property is left out).
    pub fn assemble_example(&self, schema: SchemaRef<'_>) -> Value {
        let mut a = Assembler {
            spec: self,
            active: HashSet::new(),
        };
        a.build(schema.doc, schema.value).unwrap_or(Value::Null)
    }
}

struct Assembler<'s> {
    spec: &'s Spec,
    active: HashSet<usize>,
}

impl<'s> Assembler<'s> {
    fn build(&mut self, doc: usize, schema: &'s Value) -> Option<Value> {
        let (doc, schema) = self.spec.deref(doc, schema)?;
        let obj = schema.as_object()?;
        let key = obj as *const Map<String, Value> as usize;
        if !self.active.insert(key) {
            return None;
        }
        let out = self.build_object_schema(doc, obj);
        self.active.remove(&key);
        out
    }

    fn build_object_schema(&mut self, doc: usize, obj: &'s Map<String, Value>) -> Option<Value> {
        if let Some(ex) = obj.get("example") {
            return Some(ex.clone());
        }
        if let Some(d) = obj.get("default") {
            return Some(d.clone());
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return Some(first.clone());
        }
        if let Some(Value::Array(branches)) = obj.get("allOf") {
            let mut merged: Option<Value> = None;
            for b in branches {
                match (merged.as_mut(), self.build(doc, b)) {
                    (_, None) => {}
                    (None, Some(v)) => merged = Some(v),
                    (Some(Value::Object(m)), Some(Value::Object(more))) => m.extend(more),
                    (Some(_), Some(_)) => {}
                }
            }
            if let Some(Value::Object(own)) = self.build_shape(doc, obj) {
                match merged.as_mut() {
                    Some(Value::Object(m)) => m.extend(own),
                    None => merged = Some(Value::Object(own)),
                    Some(_) => {}
                }
            }
            return merged;
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = obj.get(keyword) {
                return branches.iter().find_map(|b| self.build(doc, b));
            }
        }
        self.build_shape(doc, obj)
    }

    /// Builds from `type`/`properties`/`items` alone.
    fn build_shape(&mut self, doc: usize, obj: &'s Map<String, Value>) -> Option<Value> {
        let ty = obj.get("type").and_then(Value::as_str);
        let props = obj.get("properties").and_then(Value::as_object);
        if ty == Some("object") || props.is_some() {
            let mut map = Map::new();
            for (name, prop) in props.into_iter().flatten() {
                if let Some(v) = self.build(doc, prop) {
                    map.insert(name.clone(), v);
                }
            }
            return Some(Value::Object(map));
        }
        match ty? {
            "array" => {
                let item = obj.get("items").and_then(|i| self.build(doc, i));
                let n = obj
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(1)
                    .max(1);
                Some(Value::Array(match item {
                    Some(v) => (0..n).map(|_| v.clone()).collect(),
                    None => Vec::new(),
                }))
            }
            "string" => {
                if obj.get("format").and_then(Value::as_str) == Some("date-time") {
                    return Some(Value::String("2024-01-31T12:00:00Z".into()));
                }
                let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
                let text = if min > 6 {
                    "x".repeat(usize::try_from(min).unwrap_or(6))
                } else {
                    "string".into()
                };
                Some(Value::String(text))
            }
            "integer" | "number" => Some(Value::from(
                obj.get("minimum").and_then(Value::as_i64).unwrap_or(0),
            )),
            "boolean" => Some(Value::Bool(false)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefers_examples_and_fills_gaps() {
        let spec = Spec::from_value(
            json!({
                "components": {"schemas": {
                    "Price": {"type": "object", "properties": {
                        "amount": {"type": "number", "example": 12.5},
                        "currency": {"type": "string", "enum": ["USD", "EUR"]},
                        "createdAt": {"type": "string", "format": "date-time"}
                    }},
                    "Node": {"type": "object", "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                    }}
                }}
            }),
            None,
        )
        .expect("valid");
        let price = spec.component_schema("Price").expect("Price");
        assert_eq!(
            spec.assemble_example(price),
            json!({"amount": 12.5, "currency": "USD", "createdAt": "2024-01-31T12:00:00Z"})
        );
        let node = spec.component_schema("Node").expect("Node");
        let ex = spec.assemble_example(node);
        assert_eq!(ex, json!({"name": "string", "children": []}));
        assert!(spec.validate(node, &ex).is_ok());
    }
}
