//! The two systems allybridge keeps in sync, as every crate names them:
//! `highlevel` and `accessally` in text (configuration, the store, the
//! operations catalog, metrics), `HighLevel` and `AccessAlly` in words.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the two systems allybridge keeps in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    HighLevel,
    AccessAlly,
}

impl System {
    /// Its name in text: `highlevel`, `accessally`.
    pub fn as_str(self) -> &'static str {
        match self {
            System::HighLevel => "highlevel",
            System::AccessAlly => "accessally",
        }
    }

    /// Its name as people write it.
    pub fn name(self) -> &'static str {
        match self {
            System::HighLevel => "HighLevel",
            System::AccessAlly => "AccessAlly",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A system name that is neither `highlevel` (or `ghl`) nor `accessally`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown system `{0}`; expected highlevel or accessally")]
pub struct UnknownSystem(pub String);

impl FromStr for System {
    type Err = UnknownSystem;
    fn from_str(text: &str) -> Result<Self, UnknownSystem> {
        match text {
            "highlevel" | "ghl" => Ok(System::HighLevel),
            "accessally" => Ok(System::AccessAlly),
            other => Err(UnknownSystem(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_text_and_json() {
        for system in [System::HighLevel, System::AccessAlly] {
            assert_eq!(system.as_str().parse::<System>(), Ok(system));
            let json = serde_json::to_string(&system).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", system.as_str()));
        }
        assert_eq!("ghl".parse::<System>(), Ok(System::HighLevel));
        let refused = "zapier".parse::<System>().unwrap_err().to_string();
        assert!(
            refused.contains("zapier") && refused.contains("expected"),
            "{refused}"
        );
    }
}
