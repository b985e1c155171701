//! Money, dates and ids as the contract writes them: amounts are decimal
//! strings in a currency's major unit, held here as integer minor units;
//! dates are RFC 3339 UTC. Pure functions; no state, no I/O. Written for the
//! simulator alone (it must never share this with the client).

use chrono::{DateTime, NaiveDateTime, Utc};

/// Decimal places of an ISO 4217 currency.
pub fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" | "RWF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
        _ => 2,
    }
}

pub fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// White space as ECMA-262's `\s` reads it (what the contract's patterns
/// mean): the characters the contract lists in its `name` and `code` patterns.
pub fn is_white_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// Whether `s` has no character but white space (an empty string is blank).
pub fn is_blank(s: &str) -> bool {
    s.chars().all(is_white_space)
}

/// Parses a non-negative decimal string into units of `10^-decimals`: at
/// most 12 digits before the point and 3 after (the contract's pattern);
/// decimals past `decimals` are accepted only when they are zeros.
pub fn parse_decimal(s: &str, decimals: u32) -> Result<i64, String> {
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits_only = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty()
        || !digits_only(int_part)
        || !digits_only(frac_part)
        || (s.contains('.') && frac_part.is_empty())
    {
        return Err(format!("`{s}` is not a decimal amount like `49.00`"));
    }
    if frac_part.len() > 3 {
        return Err(format!("`{s}` is not a decimal amount like `49.00`"));
    }
    if int_part.len() > 12 {
        return Err("amount is too large".into());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > decimals as usize {
        return Err(format!("`{s}` has more than {decimals} decimal places"));
    }
    let mut value: i64 = int_part
        .parse()
        .map_err(|_| "amount is too large".to_string())?;
    for i in 0..decimals as usize {
        let digit = frac_trimmed
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        value = value * 10 + digit;
    }
    Ok(value)
}

/// Formats units of `10^-decimals` as a decimal string with exactly `decimals` places.
pub fn format_decimal(value: i64, decimals: u32) -> String {
    if decimals == 0 {
        return value.to_string();
    }
    let scale = 10_i64.pow(decimals);
    format!(
        "{}.{:0width$}",
        value / scale,
        value % scale,
        width = decimals as usize
    )
}

pub fn format_money(minor: i64, currency: &str) -> String {
    format_decimal(minor, currency_exponent(currency))
}

pub fn format_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339, or WordPress's `YYYY-MM-DDTHH:MM:SS` read as UTC.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        assert_eq!(parse_decimal("49.00", 2), Ok(4900));
        assert_eq!(parse_decimal("49.5", 2), Ok(4950));
        assert_eq!(parse_decimal("0.10", 2), Ok(10));
        assert_eq!(parse_decimal("1200", 0), Ok(1200));
        assert_eq!(parse_decimal("1.500", 2), Ok(150));
        assert!(parse_decimal("1.505", 2).is_err());
        assert!(parse_decimal("-1", 2).is_err());
        assert!(parse_decimal("1.", 2).is_err());
        assert!(parse_decimal(".5", 2).is_err());
        assert!(parse_decimal("1e3", 2).is_err());
        assert!(parse_decimal("9999999999999", 2).is_err());
        assert!(parse_decimal("1.5000", 2).is_err());
        assert_eq!(
            parse_decimal("999999999999.999", 3),
            Ok(999_999_999_999_999)
        );
        assert_eq!(format_decimal(4950, 2), "49.50");
        assert_eq!(format_decimal(7, 3), "0.007");
        assert_eq!(format_decimal(1200, 0), "1200");
    }

    #[test]
    fn white_space_is_ecma_262s() {
        assert!(is_blank(" \t\u{A0}\u{FEFF}\u{3000}"));
        assert!(is_blank(""));
        // Not white space for ECMA-262, though Rust's `char::is_whitespace` or Python's `\s` say so.
        assert!(!is_blank("\u{85}"));
        assert!(!is_blank("\u{1C}"));
        assert!(!is_blank(" a "));
    }

    #[test]
    fn dates_accept_rfc3339_and_wordpress_gmt() {
        let a = parse_date("2024-05-01T12:00:00Z");
        let b = parse_date("2024-05-01T12:00:00");
        let c = parse_date("2024-05-01T14:00:00+02:00");
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(a.map(format_date).as_deref(), Some("2024-05-01T12:00:00Z"));
    }
}
