//! Request checking in the style of HighLevel's NestJS back end: malformed
//! JSON is a 400, and field problems are gathered into one 422 whose
//! `message` lists class-validator sentences ("code must be a string").

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object body being checked field by field.
pub struct Body {
    map: Map<String, Value>,
    errors: Vec<String>,
}

/// Parses a request body that must be a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "Unexpected token in JSON at line {} column {}",
            e.line(),
            e.column()
        ))),
    }
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        Ok(Self::from_map(parse_object(bytes)?))
    }

    pub fn from_map(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    pub fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// The location a body names: `altId`, with `altType` `location`.
    pub fn req_location(&mut self) -> String {
        let alt_id = self.req_str("altId");
        self.req_enum("altType", &["location"]);
        alt_id
    }

    pub fn req_str(&mut self, key: &str) -> String {
        match self.raw(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => {
                self.error(format!("{key} should not be empty"));
                String::new()
            }
            Some(_) => {
                self.error(format!("{key} must be a string"));
                String::new()
            }
            None => {
                self.error(format!("{key} should not be empty"));
                self.error(format!("{key} must be a string"));
                String::new()
            }
        }
    }

    pub fn opt_str(&mut self, key: &str) -> Option<String> {
        match self.raw(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.error(format!("{key} must be a string"));
                None
            }
            None => None,
        }
    }

    pub fn req_num(&mut self, key: &str) -> f64 {
        match self.opt_num(key) {
            Some(n) => n,
            None => {
                if self.raw(key).is_none() {
                    self.error(format!(
                        "{key} must be a number conforming to the specified constraints"
                    ));
                }
                0.0
            }
        }
    }

    pub fn opt_num(&mut self, key: &str) -> Option<f64> {
        match self.raw(key) {
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.error(format!(
                    "{key} must be a number conforming to the specified constraints"
                ));
                None
            }
            None => None,
        }
    }

    pub fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.raw(key) {
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(format!("{key} must be a boolean value"));
                None
            }
            None => None,
        }
    }

    pub fn req_enum(&mut self, key: &str, allowed: &[&str]) -> String {
        let value = self.req_str(key);
        if !value.is_empty() && !allowed.contains(&value.as_str()) {
            self.error(format!(
                "{key} must be one of the following values: {}",
                allowed.join(", ")
            ));
        }
        value
    }

    pub fn opt_enum(&mut self, key: &str, allowed: &[&str]) -> Option<String> {
        let value = self.opt_str(key)?;
        if !allowed.contains(&value.as_str()) {
            self.error(format!(
                "{key} must be one of the following values: {}",
                allowed.join(", ")
            ));
        }
        Some(value)
    }

    pub fn opt_str_array(&mut self, key: &str) -> Option<Vec<String>> {
        match self.raw(key) {
            Some(Value::Array(items)) => {
                let strings: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                if strings.len() != items.len() {
                    self.error(format!("each value in {key} must be a string"));
                }
                Some(strings)
            }
            Some(_) => {
                self.error(format!("{key} must be an array"));
                None
            }
            None => None,
        }
    }

    pub fn opt_array(&mut self, key: &str) -> Option<Vec<Value>> {
        match self.raw(key) {
            Some(Value::Array(items)) => Some(items.clone()),
            Some(_) => {
                self.error(format!("{key} must be an array"));
                None
            }
            None => None,
        }
    }

    /// A required array: a missing one is reported as class-validator's
    /// `IsArray` does, and answers empty.
    pub fn req_array(&mut self, key: &str) -> Vec<Value> {
        if self.raw(key).is_none() {
            self.error(format!("{key} must be an array"));
        }
        self.opt_array(key).unwrap_or_default()
    }

    /// Checks a nested object (`products.0`, `price`) with `check`, its
    /// problems reported under `path` as class-validator nests them
    /// (`products.0.name must be a string`). `None` when it is no object.
    pub fn nested<T>(
        &mut self,
        path: &str,
        value: &Value,
        check: impl FnOnce(&mut Body) -> T,
    ) -> Option<T> {
        let Value::Object(map) = value else {
            self.error(format!("{path} must be an object"));
            return None;
        };
        let mut inner = Body::from_map(map.clone());
        let out = check(&mut inner);
        self.errors
            .extend(inner.errors.into_iter().map(|e| format!("{path}.{e}")));
        Some(out)
    }

    pub fn opt_object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.raw(key) {
            Some(Value::Object(m)) => Some(m.clone()),
            Some(_) => {
                self.error(format!("{key} must be an object"));
                None
            }
            None => None,
        }
    }

    pub fn min(&mut self, key: &str, value: Option<f64>, min: f64) {
        if value.is_some_and(|v| v < min) {
            self.error(format!("{key} must not be less than {min}"));
        }
    }

    /// The typed input `checked` built from the body, or one 422 listing
    /// every problem found. `checked` is `None` only when a problem was
    /// recorded.
    pub fn finish_with<T>(self, checked: Option<T>) -> Result<T, ApiError> {
        let errors = self.errors;
        match checked {
            Some(value) if errors.is_empty() => Ok(value),
            _ if errors.is_empty() => Err(ApiError::unprocessable(vec![
                "request body is invalid".into(),
            ])),
            _ => Err(ApiError::unprocessable(errors)),
        }
    }

    /// Fails with one 422 listing every problem found.
    pub fn finish(self) -> Result<Map<String, Value>, ApiError> {
        if self.errors.is_empty() {
            Ok(self.map)
        } else {
            Err(ApiError::unprocessable(self.errors))
        }
    }
}

/// Query parameters being checked.
pub struct QueryCheck<'a> {
    query: &'a HashMap<String, String>,
    errors: Vec<String>,
}

impl<'a> QueryCheck<'a> {
    pub fn new(query: &'a HashMap<String, String>) -> Self {
        Self {
            query,
            errors: Vec::new(),
        }
    }

    pub fn req(&mut self, key: &str) -> String {
        match self.query.get(key) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => {
                self.errors.push(format!("{key} should not be empty"));
                String::new()
            }
        }
    }

    pub fn opt(&self, key: &str) -> Option<String> {
        self.query.get(key).filter(|v| !v.is_empty()).cloned()
    }

    pub fn num(&mut self, key: &str, default: usize) -> usize {
        match self.query.get(key) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) => n,
                Err(_) => {
                    self.errors.push(format!(
                        "{key} must be a number conforming to the specified constraints"
                    ));
                    default
                }
            },
        }
    }

    pub fn enum_value(&mut self, key: &str, allowed: &[&str]) -> Option<String> {
        let value = self.opt(key)?;
        if !allowed.contains(&value.as_str()) {
            self.errors.push(format!(
                "{key} must be one of the following values: {}",
                allowed.join(", ")
            ));
        }
        Some(value)
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::unprocessable(self.errors))
        }
    }
}
