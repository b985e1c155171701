//! Reading request bodies and queries the WordPress way: a body must be a
//! JSON object; fields of the wrong type or value are collected into one
//! `rest_invalid_param` error, absent required fields into one
//! `rest_missing_callback_param` error; unknown fields are ignored. Owns
//! input checking only; it must not touch the simulator's state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::values::parse_date;

/// The largest id the contract allows (`maximum`: 2^53 - 1, exact in every JSON reader).
pub const MAX_ID: u64 = 9_007_199_254_740_991;
/// The largest count (`trial_days`, `quantity`, `usage_limit` …) the contract allows.
pub const MAX_COUNT: i64 = 2_147_483_647;

/// A field that may be absent, explicitly null, or set.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    /// The value to store when this field is written: `None` for null.
    pub fn into_option(self) -> Option<Option<T>> {
        match self {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Set(v) => Some(Some(v)),
        }
    }
}

/// Parses a request body into a JSON object (an empty body is `{}`).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(
            400,
            "rest_invalid_json",
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "rest_invalid_json",
            format!("Invalid JSON body passed: {e}"),
        )),
    }
}

/// Reads typed fields from one JSON object, collecting every problem.
pub struct Reader<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    /// With `Some`, the only fields that may be `null` (the contract's
    /// `nullable` ones): a `null` elsewhere is a value of the wrong type, as
    /// WordPress's schema validation reads it. `None` lets every field be null.
    null_ok: Option<&'static [&'static str]>,
    pub invalid: BTreeMap<String, String>,
    pub missing: Vec<String>,
}

impl<'a> Reader<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Self::nested(obj, "")
    }

    pub fn nested(obj: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            obj,
            prefix: prefix.to_string(),
            null_ok: None,
            invalid: BTreeMap::new(),
            missing: Vec::new(),
        }
    }

    /// Only `keys` may be `null`; any other field sent as `null` is invalid.
    pub fn nullable(mut self, keys: &'static [&'static str]) -> Self {
        self.null_ok = Some(keys);
        self
    }

    fn name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    pub fn fail(&mut self, key: &str, reason: impl Into<String>) {
        let name = self.name(key);
        self.invalid.entry(name).or_insert_with(|| reason.into());
    }

    /// Records `key` as missing when `required` and absent.
    pub fn require<T>(&mut self, key: &str, field: &Field<T>, required: bool) {
        if !required {
            return;
        }
        let strict = self.null_ok.is_some();
        match (self.obj.get(key), field) {
            (None, _) => {
                let name = self.name(key);
                self.missing.push(name);
            }
            // WordPress reads a required field sent as `null` as missing.
            (Some(Value::Null), _) if strict => {
                let name = self.name(key);
                self.missing.push(name);
            }
            (Some(_), Field::Null) => {
                self.fail(key, format!("{} must not be null.", self.name(key)))
            }
            // Present but of the wrong type: already reported as invalid.
            _ => {}
        }
    }

    fn get<T>(
        &mut self,
        key: &str,
        kind: &str,
        read: impl FnOnce(&Value) -> Option<T>,
    ) -> Field<T> {
        match self.obj.get(key) {
            None => Field::Absent,
            Some(Value::Null) if self.null_ok.is_some_and(|keys| !keys.contains(&key)) => {
                self.fail(key, format!("{} is not of type {kind}.", self.name(key)));
                Field::Absent
            }
            Some(Value::Null) => Field::Null,
            Some(v) => match read(v) {
                Some(t) => Field::Set(t),
                None => {
                    self.fail(key, format!("{} is not of type {kind}.", self.name(key)));
                    Field::Absent
                }
            },
        }
    }

    pub fn string(&mut self, key: &str) -> Field<String> {
        self.get(key, "string", |v| v.as_str().map(str::to_string))
    }

    pub fn boolean(&mut self, key: &str) -> Field<bool> {
        self.get(key, "boolean", Value::as_bool)
    }

    /// An integer of at least `min`.
    pub fn integer(&mut self, key: &str, min: i64) -> Field<i64> {
        self.integer_in(key, min, i64::MAX)
    }

    /// An integer from `min` to `max`.
    pub fn integer_in(&mut self, key: &str, min: i64, max: i64) -> Field<i64> {
        let field = self.get(key, "integer", Value::as_i64);
        if let Field::Set(n) = field {
            if n < min {
                self.fail(
                    key,
                    format!("{} must be greater than or equal to {min}", self.name(key)),
                );
                return Field::Absent;
            }
            if n > max {
                self.fail(
                    key,
                    format!("{} must be less than or equal to {max}", self.name(key)),
                );
                return Field::Absent;
            }
        }
        field
    }

    pub fn object(&mut self, key: &str) -> Field<Map<String, Value>> {
        self.get(key, "object", |v| v.as_object().cloned())
    }

    pub fn array(&mut self, key: &str) -> Field<Vec<Value>> {
        self.get(key, "array", |v| v.as_array().cloned())
    }

    /// An array of ids (integers from 1 to [`MAX_ID`]).
    pub fn ids(&mut self, key: &str) -> Field<Vec<u64>> {
        self.get(key, "array of integer", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_u64().filter(|n| (1..=MAX_ID).contains(n)))
                .collect::<Option<Vec<_>>>()
        })
    }

    /// Checks that a string field has `min` to `max` characters (Unicode
    /// scalar values, as JSON Schema's `minLength`/`maxLength` count them).
    pub fn length(&mut self, key: &str, field: &Field<String>, min: usize, max: usize) -> bool {
        let Field::Set(s) = field else {
            return true;
        };
        let n = s.chars().count();
        if n < min || n > max {
            let name = self.name(key);
            self.fail(key, format!("{name} must be {min} to {max} characters."));
            return false;
        }
        true
    }

    pub fn strings(&mut self, key: &str) -> Field<Vec<String>> {
        self.get(key, "array of string", |v| {
            v.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
    }

    /// A string that must be one of `allowed`.
    pub fn one_of(&mut self, key: &str, allowed: &[&str]) -> Field<String> {
        let field = self.string(key);
        if let Field::Set(s) = &field
            && !allowed.contains(&s.as_str())
        {
            self.fail(
                key,
                format!("{} is not one of {}.", self.name(key), allowed.join(", ")),
            );
            return Field::Absent;
        }
        field
    }

    pub fn date(&mut self, key: &str) -> Field<DateTime<Utc>> {
        match self.string(key) {
            Field::Set(s) => match parse_date(&s) {
                Some(d) => Field::Set(d),
                None => {
                    self.fail(key, format!("{} is not a valid date.", self.name(key)));
                    Field::Absent
                }
            },
            Field::Null => Field::Null,
            Field::Absent => Field::Absent,
        }
    }

    /// Merges a nested reader's problems into this one. For a nested object
    /// of the contract (a strict reader), a missing property makes the
    /// field invalid, as WordPress reports it (`rest_invalid_param`); only
    /// top-level fields are `rest_missing_callback_param`.
    pub fn absorb(&mut self, other: Reader<'_>) {
        for (k, v) in other.invalid {
            self.invalid.entry(k).or_insert(v);
        }
        if other.null_ok.is_some() {
            for name in other.missing {
                let reason = format!("{name} is a required property.");
                self.invalid.entry(name).or_insert(reason);
            }
        } else {
            self.missing.extend(other.missing);
        }
    }

    /// The first error to report: missing fields win over invalid ones, as in WordPress.
    pub fn finish(self) -> Result<(), ApiError> {
        if !self.missing.is_empty() {
            let mut e = ApiError::new(
                400,
                "rest_missing_callback_param",
                format!("Missing parameter(s): {}", self.missing.join(", ")),
            );
            e.missing = self.missing;
            return Err(e);
        }
        if !self.invalid.is_empty() {
            let names: Vec<&str> = self.invalid.keys().map(String::as_str).collect();
            let mut e = ApiError::new(
                400,
                "rest_invalid_param",
                format!("Invalid parameter(s): {}", names.join(", ")),
            );
            e.params = self.invalid;
            return Err(e);
        }
        Ok(())
    }
}

/// Query parameters as WordPress reads them (the last value of a name wins).
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|_| {
                ApiError::new(
                    400,
                    "rest_invalid_param",
                    "The query string could not be read.",
                )
            })?;
        Ok(Self(pairs.into_iter().collect()))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn int(&self, key: &str, min: i64, max: i64, default: i64) -> Result<i64, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::invalid_param(
                    key,
                    format!("{key} must be an integer between {min} and {max}."),
                )),
            },
        }
    }

    pub fn date(&self, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(s) => parse_date(s)
                .map(Some)
                .ok_or_else(|| ApiError::invalid_param(key, format!("{key} is not a valid date."))),
        }
    }

    pub fn one_of(
        &self,
        key: &str,
        allowed: &[&str],
        default: &'static str,
    ) -> Result<String, ApiError> {
        match self.get(key) {
            None => Ok(default.to_string()),
            Some(s) if allowed.contains(&s) => Ok(s.to_string()),
            Some(_) => Err(ApiError::invalid_param(
                key,
                format!("{key} is not one of {}.", allowed.join(", ")),
            )),
        }
    }
}
