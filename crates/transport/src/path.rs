//! URL components: [`path_segment`] percent-encodes a value (an id, a
//! code) so that it stays exactly one segment of a request path, whatever
//! it holds; [`query_value`] does the same for one value of a query
//! string. Both clients and the CLI fill path templates with the first; the
//! admin page's links and the tests' queries use the second.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a path segment carries percent-encoded: everything but RFC 3986's
/// unreserved characters (`A-Z a-z 0-9 - . _ ~`), so `/`, `?`, `#`, `%`,
/// spaces, the sub-delimiters and every byte of a non-ASCII character are.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `value` as one URL path segment: UTF-8, percent-encoded with upper-case
/// hex digits.
pub fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// `value` as one value of a query string (`?key=value`): the same
/// encoding, which leaves no `&`, `=`, `+` or `#` to misread.
pub fn query_value(value: &str) -> String {
    path_segment(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::percent_decode_str;

    #[test]
    fn reserved_and_non_ascii_characters_are_encoded_and_round_trip() {
        for (raw, encoded) in [
            ("p 1/x", "p%201%2Fx"),
            ("a?b#c", "a%3Fb%23c"),
            ("50%", "50%25"),
            ("café", "caf%C3%A9"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("a+b&c=d;e", "a%2Bb%26c%3Dd%3Be"),
            ("Ab0-._~", "Ab0-._~"),
        ] {
            assert_eq!(path_segment(raw), encoded, "{raw}");
            let decoded = percent_decode_str(encoded).decode_utf8().expect("UTF-8");
            assert_eq!(decoded, raw);
        }
    }

    #[test]
    fn an_encoded_value_stays_one_segment_of_a_url() {
        let raw = "x/../y?z=1#frag %é";
        let url = url::Url::parse(&format!(
            "https://example.test/products/{}/prices",
            path_segment(raw)
        ))
        .expect("a valid URL");
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        let segments: Vec<&str> = url.path_segments().expect("a path").collect();
        assert_eq!(segments.len(), 3, "{segments:?}");
        assert_eq!(
            percent_decode_str(segments[1])
                .decode_utf8()
                .expect("UTF-8"),
            raw
        );
    }
}
