//! Keeping secrets out of logs, errors and `Debug`: a wrapper whose `Debug`
//! and `Display` print `[redacted]`, header dumps with credential headers
//! masked, URLs with secret-looking query values masked, and text with known
//! secret values replaced. Owns masking only; it never stores a secret.

use std::fmt;

use http::HeaderMap;

pub const MASK: &str = "[redacted]";

/// A value that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

const SECRET_WORDS: [&str; 10] = [
    "authorization",
    "cookie",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "api_key",
    "apikey",
    "signature",
];

/// Whether a header or parameter name suggests a credential.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
        || lower.starts_with("aal_")
        || lower == "handshake"
        || lower == "key"
}

/// Headers as `(name, value)` pairs, credential headers masked.
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret_name(name.as_str()) {
                MASK.to_string()
            } else {
                value.to_str().unwrap_or("<binary>").to_string()
            };
            (name.as_str().to_string(), shown)
        })
        .collect()
}

/// The URL with user info and secret-looking query values masked.
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username("redacted");
    }
    if shown.password().is_some() {
        let _ = shown.set_password(None);
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_name(&k) {
                    MASK.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

/// `text` with every occurrence of each non-empty secret replaced by the mask.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_string(), |acc, s| acc.replace(s, MASK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_never_prints_its_value() {
        let r = Redacted("hunter2");
        assert_eq!(format!("{r:?} {r}"), "[redacted] [redacted]");
    }

    #[test]
    fn credential_headers_are_masked() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Basic dXNlcjpwYXNz"),
        );
        h.insert("x-api-key", http::HeaderValue::from_static("k"));
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        let shown = format!("{:?}", redact_headers(&h));
        assert!(!shown.contains("dXNlcjpwYXNz"));
        assert!(shown.contains("application/json"));
        assert_eq!(shown.matches(MASK).count(), 2);
    }

    #[test]
    fn urls_lose_user_info_and_secret_query_values() -> Result<(), url::ParseError> {
        let u =
            url::Url::parse("https://me:pw@site.test/?aal_genpass=SECRET&page=2&access_token=T0K")?;
        let shown = redact_url(&u);
        assert!(!shown.contains("SECRET") && !shown.contains("T0K") && !shown.contains("pw"));
        assert!(shown.contains("page=2"));
        Ok(())
    }

    #[test]
    fn known_secrets_are_replaced_in_text() {
        assert_eq!(
            redact_text("bad password abcd1234!", &["abcd1234", ""]),
            "bad password [redacted]!"
        );
    }
}
