//! Money as allybridge holds it: integer minor units and an ISO 4217
//! currency, parsed exactly from decimal text (AccessAlly's decimal strings,
//! HighLevel's JSON numbers as written), never through a float. Percentages
//! are hundredths of a percent. Pure values; no I/O.

use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency code (three upper-case letters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an ISO 4217 currency code")]
    Currency(String),
    #[error("`{0}` is not a decimal amount")]
    Syntax(String),
    #[error("`{amount}` has more decimals than {currency} allows")]
    Precision { amount: String, currency: String },
    #[error("`{0}` is out of range")]
    Range(String),
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    pub fn as_str(&self) -> &str {
        // "XXX" is ISO 4217's code for "no currency"; the bytes are always ASCII.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Decimal places of the currency's minor unit.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" | "RWF" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(MoneyError::Currency(s.chars().take(16).collect()))
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// Parses a non-negative decimal string into units of `10^-decimals`;
/// extra decimals are accepted only when zero.
pub fn parse_decimal(s: &str, decimals: u32) -> Result<i64, MoneyError> {
    let syntax = || MoneyError::Syntax(s.chars().take(32).collect());
    let (int_part, frac_part) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty()
        || !digits(int_part)
        || !digits(frac_part)
        || (s.contains('.') && frac_part.is_empty())
    {
        return Err(syntax());
    }
    let frac = frac_part.trim_end_matches('0');
    if frac.len() > decimals as usize {
        return Err(MoneyError::Precision {
            amount: s.chars().take(32).collect(),
            currency: format!("{decimals} decimals"),
        });
    }
    let range = || MoneyError::Range(s.chars().take(32).collect());
    let mut value: i64 = int_part.parse().map_err(|_| range())?;
    for i in 0..decimals as usize {
        let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(range)?;
    }
    Ok(value)
}

/// Formats units of `10^-decimals` with exactly `decimals` places.
pub fn format_decimal(value: i64, decimals: u32) -> String {
    if decimals == 0 {
        return value.to_string();
    }
    let scale = 10_i64.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    let scale = scale as u64;
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses the contract's decimal string (`"49.00"`) in `currency`.
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, MoneyError> {
        parse_decimal(amount, currency.exponent())
            .map(|minor| Self { minor, currency })
            .map_err(|e| match e {
                MoneyError::Precision { amount, .. } => MoneyError::Precision {
                    amount,
                    currency: currency.to_string(),
                },
                other => other,
            })
    }

    /// The contract's decimal string, e.g. `"49.00"`.
    pub fn to_decimal_string(&self) -> String {
        format_decimal(self.minor, self.currency.exponent())
    }

    /// Parses an amount written as a JSON number in major units, as
    /// HighLevel writes prices (`99.99`, `1e2`), from its exact text.
    pub fn from_json_number(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse(&plain_decimal(text)?, currency)
    }
}

/// Rewrites a JSON number's text (`1.5e2`, `-0`, `100`) as a plain,
/// non-negative decimal (`150`), exactly.
pub fn plain_decimal(text: &str) -> Result<String, MoneyError> {
    let syntax = || MoneyError::Syntax(text.chars().take(32).collect());
    let text = text.trim();
    let text = text
        .strip_prefix('-')
        .filter(|t| t.bytes().all(|b| b == b'0' || b == b'.'))
        .unwrap_or(text);
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (
            &text[..i],
            text[i + 1..].parse::<i32>().map_err(|_| syntax())?,
        ),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(syntax());
    }
    if !(-40..=40).contains(&exp) {
        return Err(MoneyError::Range(text.chars().take(32).collect()));
    }
    let digits = format!("{int_part}{frac_part}");
    let point = int_part.len() as i32 + exp;
    let (int, frac) = if point <= 0 {
        (
            String::from("0"),
            format!("{}{digits}", "0".repeat((-point) as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    Ok(if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    })
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// A percentage in hundredths of a percent (`1250` = 12.5 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Percent(pub u32);

impl Percent {
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let v = parse_decimal(s, 2)?;
        if v > 10_000 {
            return Err(MoneyError::Range(s.chars().take(32).collect()));
        }
        Ok(Self(v as u32))
    }
    pub fn to_decimal_string(&self) -> String {
        format_decimal(i64::from(self.0), 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency(*b"USD")
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(Money::parse("49.00", usd()).map(|m| m.minor), Ok(4900));
        assert_eq!(Money::parse("0.1", usd()).map(|m| m.minor), Ok(10));
        assert_eq!(Money::parse("19.990", usd()).map(|m| m.minor), Ok(1999));
        assert!(Money::parse("19.999", usd()).is_err());
        assert!(Money::parse("1,00", usd()).is_err());
        assert!(Money::parse("-1", usd()).is_err());
        assert!(Money::parse("99999999999999999999", usd()).is_err());
        let jpy: Currency = "JPY".parse().unwrap_or(usd());
        assert_eq!(
            Money::parse("1200", jpy)
                .map(|m| m.to_decimal_string())
                .as_deref(),
            Ok("1200")
        );
        assert_eq!(Percent::parse("12.5"), Ok(Percent(1250)));
        assert!(Percent::parse("100.01").is_err());
        assert!("usd".parse::<Currency>().is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["0.00", "0.07", "49.50", "123456789.99"] {
            assert_eq!(
                Money::parse(s, usd())
                    .map(|m| m.to_decimal_string())
                    .as_deref(),
                Ok(s)
            );
        }
        assert_eq!(format_decimal(-5, 2), "-0.05");
    }

    #[test]
    fn json_numbers_convert_exactly() {
        let cases = [
            ("99.99", 9999),
            ("100", 10000),
            ("1.5e2", 15000),
            ("0.1", 10),
            ("12.50", 1250),
            ("-0", 0),
            ("2E-2", 2),
        ];
        for (text, minor) in cases {
            assert_eq!(
                Money::from_json_number(text, usd()).map(|m| m.minor),
                Ok(minor),
                "{text}"
            );
        }
        assert!(Money::from_json_number("0.001", usd()).is_err());
        assert!(Money::from_json_number("-5", usd()).is_err());
        assert!(Money::from_json_number("1e99", usd()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decimal_text_round_trips(minor in 0i64..1_000_000_000_000) {
            let m = Money::new(minor, usd());
            proptest::prop_assert_eq!(Money::parse(&m.to_decimal_string(), usd()), Ok(m));
            proptest::prop_assert_eq!(Money::from_json_number(&m.to_decimal_string(), usd()), Ok(m));
        }
    }
}
