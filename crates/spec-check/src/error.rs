//! Error types: [`SpecError`] for problems with the OpenAPI document itself
//! (unreadable file, invalid JSON, `$ref`s that do not resolve) and
//! [`CheckError`] for the outcome of checking a request or response against
//! one operation, which keeps "the body is wrong" apart from "the spec has
//! nothing to check this against".

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::validate::Violation;

/// The OpenAPI document could not be loaded or a reference in it is broken.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read OpenAPI file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{path} is not valid JSON: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The file is JSON but not an OpenAPI 3.x document.
    #[error("{path} is not an OpenAPI 3.0 document: {reason}")]
    NotOpenApi { path: PathBuf, reason: String },
    /// One or more `$ref`s do not resolve; every broken one is listed.
    #[error("{} unresolvable $ref(s):{}", .0.len(), list_refs(.0))]
    BrokenRefs(Vec<BrokenRef>),
}

/// One `$ref` that does not resolve, with where it was written and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRef {
    /// The file containing the `$ref` (`<inline>` for a schema given as a value).
    pub file: String,
    /// JSON pointer, inside `file`, of the object holding the `$ref`.
    pub at: String,
    /// The `$ref` string as written.
    pub reference: String,
    /// Why it does not resolve.
    pub reason: String,
}

impl std::fmt::Display for BrokenRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ref \"{}\" at {}#{}: {}",
            self.reference, self.file, self.at, self.reason
        )
    }
}

fn list_refs(refs: &[BrokenRef]) -> String {
    let mut out = String::new();
    for r in refs {
        let _ = write!(out, "\n  - {r}");
    }
    out
}

/// Why checking a request or response against an operation did not succeed.
///
/// Only [`CheckError::Invalid`] means the body was checked and found wrong;
/// every other variant means nothing was checked, so a conformance test must
/// not count it as a pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The body was checked against its schema and violates it.
    #[error("{} schema violation(s):{}", .0.len(), list_violations(.0))]
    Invalid(Vec<Violation>),
    /// The spec has no such operation (method + path template).
    #[error("the spec has no operation {method} {path}")]
    UnknownOperation { method: String, path: String },
    /// The operation does not document this status (nor a range or `default`).
    #[error("{method} {path}: status {status} is not documented (documented: {documented})")]
    UndocumentedStatus {
        method: String,
        path: String,
        status: u16,
        documented: String,
    },
    /// The status (or request body) is documented but without an
    /// `application/json` schema, so nothing was checked.
    #[error(
        "{method} {path}: {what} has no application/json schema ({detail}); nothing was checked"
    )]
    NoSchema {
        method: String,
        path: String,
        what: String,
        detail: String,
    },
}

impl CheckError {
    /// The violations, if the body was checked and found wrong.
    pub fn violations(&self) -> Option<&[Violation]> {
        match self {
            CheckError::Invalid(v) => Some(v),
            _ => None,
        }
    }

    /// True when the error means nothing was validated.
    pub fn nothing_checked(&self) -> bool {
        !matches!(self, CheckError::Invalid(_))
    }
}

fn list_violations(violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        let _ = write!(out, "\n  - {v}");
    }
    out
}
