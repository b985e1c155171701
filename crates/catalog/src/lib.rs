//! The operations catalog behind `allybridge ops list|describe`: every
//! action and trigger allybridge can perform or listen to on HighLevel and
//! AccessAlly, with method, path, scope, parameters and the flows that use
//! it. The catalog is data generated from the official HighLevel specs,
//! the AccessAlly Bridge API contract and allybridge's own poll table by
//! [`generate`](crate) (a test; `ALLYBRIDGE_REGENERATE=1 cargo test -p
//! catalog` rewrites `catalog.json`), and embedded here, so the binary
//! needs no spec files. This crate only describes operations: it must not
//! perform them, nor hold any client or credential.

use std::fmt;
use std::sync::LazyLock;

use model::Flow;
use serde::{Deserialize, Serialize};

/// The embedded catalog, as generated.
pub const CATALOG_JSON: &str = include_str!("../catalog.json");

/// Which system an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Highlevel,
    Accessally,
}

/// An action allybridge performs, or a trigger it listens to (webhook or poll).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Action,
    Trigger,
}

/// Where the entry's behaviour is written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Documented {
    /// HighLevel's official API specs and webhook pages.
    Official,
    /// The AccessAlly Bridge API contract allybridge defines (`docs/accessally-bridge-api.json`).
    AllybridgeContract,
    /// Behaviour AccessAlly itself documents (the `aal_*` commands).
    DocumentedAccessally,
}

/// One parameter of an operation or field of a trigger's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header`, `body` (a request body or a payload field) or `form`.
    #[serde(rename = "in")]
    pub location: String,
    pub required: bool,
    /// The schema type (`string`, `integer`, `array<string>`, a schema name for bodies …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// One action or trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Stable id, e.g. `ghl.products.get-product-by-id`.
    pub id: String,
    pub system: System,
    pub kind: Kind,
    /// HTTP method; for webhooks, the delivery's method to allybridge's endpoint.
    pub method: Option<String>,
    /// Path template (HighLevel: under the API base URL; AccessAlly: under the site URL);
    /// for webhooks, allybridge's receiving endpoint.
    pub path: Option<String>,
    /// The OAuth scope the spec requires; `None` where it names none.
    pub scope: Option<String>,
    /// The security schemes the spec lists (`Location-Access`, `bearer`, `applicationPassword` …).
    #[serde(default)]
    pub auth: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// The flows that use it.
    #[serde(default)]
    pub used_by: Vec<Flow>,
    pub documented: Documented,
    /// Where it was generated from: spec file and operation id, event page, or table.
    pub source: String,
}

impl Entry {
    /// Whether it changes anything on the remote system (actions other than reads).
    pub fn is_write(&self) -> bool {
        self.kind == Kind::Action
            && !matches!(self.method.as_deref(), Some("GET") | None)
            && !self.id.contains("search")
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Highlevel => "highlevel",
            System::Accessally => "accessally",
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Action => "action",
            Kind::Trigger => "trigger",
        })
    }
}

impl std::str::FromStr for System {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "highlevel" | "ghl" => Ok(System::Highlevel),
            "accessally" => Ok(System::Accessally),
            other => Err(format!(
                "unknown system `{other}`; expected highlevel or accessally"
            )),
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "action" => Ok(Kind::Action),
            "trigger" => Ok(Kind::Trigger),
            other => Err(format!(
                "unknown kind `{other}`; expected action or trigger"
            )),
        }
    }
}

static ENTRIES: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    // The file is generated and checked by this crate's tests; it cannot be malformed in a build that passed them.
    serde_json::from_str(CATALOG_JSON)
        .expect("catalog.json is generated by this crate; run `ALLYBRIDGE_REGENERATE=1 cargo test -p catalog`")
});

/// Every entry, ordered by system, kind and id.
pub fn entries() -> &'static [Entry] {
    &ENTRIES
}

/// The entry with this id.
pub fn find(id: &str) -> Option<&'static Entry> {
    entries().iter().find(|e| e.id == id)
}

/// Which entries to list; `None` fields match everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub system: Option<System>,
    pub kind: Option<Kind>,
    pub flow: Option<Flow>,
}

impl Filter {
    pub fn matches(&self, entry: &Entry) -> bool {
        self.system.is_none_or(|s| entry.system == s)
            && self.kind.is_none_or(|k| entry.kind == k)
            && self.flow.is_none_or(|f| entry.used_by.contains(&f))
    }
}

/// The entries matching `filter`.
pub fn filter(filter: Filter) -> impl Iterator<Item = &'static Entry> {
    entries().iter().filter(move |e| filter.matches(e))
}

/// The entries of one system.
pub fn by_system(system: System) -> impl Iterator<Item = &'static Entry> {
    filter(Filter {
        system: Some(system),
        ..Filter::default()
    })
}

/// The actions or the triggers.
pub fn by_kind(kind: Kind) -> impl Iterator<Item = &'static Entry> {
    filter(Filter {
        kind: Some(kind),
        ..Filter::default()
    })
}

/// The entries a flow uses.
pub fn used_by(flow: Flow) -> impl Iterator<Item = &'static Entry> {
    filter(Filter {
        flow: Some(flow),
        ..Filter::default()
    })
}

/// Whether a concrete path (no query string) fits a template's path part:
/// the same segments, a `{name}` segment standing for any one segment.
fn fits(template: &str, path: &str) -> bool {
    let template = template.split(['?', '#']).next().unwrap_or("");
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// The name of the action a call was: `method` and a concrete `path`
/// (without its query string, as the clients report calls) against the
/// catalog's path templates. Where one path serves several actions told
/// apart only by the query string (AccessAlly's `?aal_*` commands), the
/// name they share (`accessally.aal`); `None` for a call the catalog does
/// not know. A literal segment wins over a `{name}` one
/// (`/products/inventory` is not `/products/{productId}`).
pub fn action_name(system: System, method: &str, path: &str) -> Option<String> {
    let fitting: Vec<&Entry> = entries()
        .iter()
        .filter(|e| e.system == system && e.kind == Kind::Action)
        .filter(|e| {
            e.method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(method))
        })
        .filter(|e| e.path.as_deref().is_some_and(|t| fits(t, path)))
        .collect();
    let literal = |e: &&Entry| {
        e.path
            .as_deref()
            .map_or(0, |p| p.matches('/').count() - p.matches('{').count())
    };
    let most = fitting.iter().map(literal).max()?;
    let best: Vec<&str> = fitting
        .iter()
        .filter(|e| literal(e) == most)
        .map(|e| e.id.as_str())
        .collect();
    let first = best.first()?;
    if best.len() == 1 {
        return Some((*first).to_string());
    }
    // The dot-separated prefix every candidate shares.
    let mut shared: Vec<&str> = first.split('.').collect();
    for id in &best[1..] {
        let parts: Vec<&str> = id.split('.').collect();
        let same = shared
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count();
        shared.truncate(same);
    }
    (!shared.is_empty()).then(|| shared.join("."))
}

#[cfg(test)]
mod generate;

#[cfg(test)]
mod tests;
