//! Durations as the configuration writes them: `"250ms"`, `"60s"`, `"5m"`,
//! `"1h"`, `"1d"`, or several parts together (`"1h30m"`). Owns parsing and
//! printing only; whether a duration is allowed to be zero is the
//! validator's business.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from text like `"5m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: {why}; write a number with a unit, e.g. \"250ms\", \"60s\", \"5m\", \"1h\", \"1d\" or \"1h30m\""
)]
pub struct DurationError {
    text: String,
    why: &'static str,
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |why| DurationError {
            text: text.chars().take(40).collect(),
            why,
        };
        let s = text.trim();
        if s.is_empty() {
            return Err(fail("it is empty"));
        }
        let mut total = Duration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(fail("each part must start with a whole number"));
            }
            let number: u64 = rest[..digits]
                .parse()
                .map_err(|_| fail("the number is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => Some(Duration::from_millis(number)),
                "s" => Some(Duration::from_secs(number)),
                "m" => number.checked_mul(60).map(Duration::from_secs),
                "h" => number.checked_mul(3_600).map(Duration::from_secs),
                "d" => number.checked_mul(86_400).map(Duration::from_secs),
                "" => return Err(fail("a unit is missing")),
                _ => return Err(fail("the unit is not one of ms, s, m, h, d")),
            };
            total = part
                .and_then(|p| total.checked_add(p))
                .ok_or_else(|| fail("it is too long"))?;
        }
        Ok(Self(total))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() != 0 || d.is_zero() {
            return write!(f, "{}ms", d.as_millis());
        }
        let mut secs = d.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"60s\", \"5m\" or \"1h\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is ambiguous as a duration; write it with a unit, e.g. \"{v}s\""
                )))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let p = |s: &str| s.parse::<HumanDuration>().map(HumanDuration::get);
        assert_eq!(p("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(p("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(p("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(p("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(p("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(p("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(p(" 2m "), Ok(Duration::from_secs(120)));
        for bad in [
            "",
            "5",
            "m",
            "5 m",
            "5x",
            "-5s",
            "1.5h",
            "99999999999999999999s",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(
            p("5")
                .unwrap_err()
                .to_string()
                .contains("a unit is missing")
        );
        assert!(p("18446744073709551615d").is_err());
    }

    #[test]
    fn displays_the_way_it_parses() {
        for s in ["5m", "1h", "1d", "1h30m", "250ms", "1d1h1m1s"] {
            let d: HumanDuration = s.parse().unwrap_or_default();
            assert_eq!(d.to_string(), s);
        }
    }
}
