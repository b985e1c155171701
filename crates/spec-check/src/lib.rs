//! `spec-check`: a small OpenAPI 3.0 validator for conformance tests. It
//! loads a spec with its relative-file `$ref`s ([`Spec::load`]), finds the
//! operation for a request ([`Spec::match_path`], [`Spec::operation`]) and
//! checks response and request bodies against the documented JSON schemas
//! ([`Spec::validate_response`], [`Spec::validate_request_body`]) with the
//! `jsonschema` crate, after a small OpenAPI 3.0 → JSON Schema rewrite
//! (`nullable`, `readOnly`/`writeOnly`, `$ref` siblings), reporting every
//! [`Violation`] with a JSON-pointer path. It is used to prove that the
//! simulators answer what the official HighLevel specs (and the AccessAlly
//! bridge contract) say.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = spec_check::Spec::load("specs/products.json")?;
//! let template = spec.match_path("GET", "/products/abc").ok_or("no such path")?;
//! let body = serde_json::json!({"_id": "abc", "name": "Course"});
//! match spec.validate_response("GET", template, 200, &body) {
//!     Ok(()) => {}
//!     Err(e) if e.nothing_checked() => eprintln!("not covered by the spec: {e}"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(()) }
//! ```

mod error;
mod example;
mod location;
mod openapi;
mod paths;
mod spec;
mod validate;

pub use error::{BrokenRef, CheckError, SpecError};
pub use location::ghl_specs_dir;
pub use paths::matches as path_matches;
pub use spec::{Operation, SchemaRef, Spec};
pub use validate::{Direction, Options, Violation, undeclared_properties, validate, validate_with};
