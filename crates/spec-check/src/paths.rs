//! Path-template matching: which spec path (`/products/{productId}`) a
//! concrete request path (`/products/abc?x=1`) belongs to. Segments are
//! compared one by one, so trailing slashes count exactly as written in the
//! spec (`/products/` matches `/products/`, not `/products`).

/// One piece of a template segment.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Literal(&'a str),
    Param,
}

/// Splits a template segment such as `{id}.json` into literals and parameters.
fn pieces(segment: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = segment;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if open > 0 {
            out.push(Piece::Literal(&rest[..open]));
        }
        out.push(Piece::Param);
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    out
}

/// Does a concrete segment match a template segment's pieces? Parameters
/// match one or more characters.
fn segment_matches(pieces: &[Piece<'_>], concrete: &str) -> bool {
    match pieces.split_first() {
        None => concrete.is_empty(),
        Some((Piece::Literal(l), rest)) => concrete
            .strip_prefix(l)
            .is_some_and(|tail| segment_matches(rest, tail)),
        Some((Piece::Param, rest)) => {
            // Try every non-empty split point (segments are short).
            (1..=concrete.len())
                .filter(|&i| concrete.is_char_boundary(i))
                .any(|i| segment_matches(rest, &concrete[i..]))
        }
    }
}

/// Specificity of a template per segment: 2 for a pure literal, 1 for a
/// segment with a literal part, 0 for a bare parameter. Compared
/// lexicographically, left to right.
fn specificity(template: &str) -> Vec<u8> {
    template
        .split('/')
        .map(|s| {
            let p = pieces(s);
            if !p.contains(&Piece::Param) {
                2
            } else if p.iter().any(|x| matches!(x, Piece::Literal(_))) {
                1
            } else {
                0
            }
        })
        .collect()
}

/// Does `concrete` (query string and fragment ignored) match `template`?
pub fn matches(template: &str, concrete: &str) -> bool {
    let concrete = concrete.split(['?', '#']).next().unwrap_or("");
    let t: Vec<&str> = template.split('/').collect();
    let c: Vec<&str> = concrete.split('/').collect();
    t.len() == c.len()
        && t.iter()
            .zip(&c)
            .all(|(ts, cs)| segment_matches(&pieces(ts), cs))
}

/// The most specific of `templates` matching `concrete`.
pub fn best_match<'a>(
    templates: impl IntoIterator<Item = &'a str>,
    concrete: &str,
) -> Option<&'a str> {
    templates
        .into_iter()
        .filter(|t| matches(t, concrete))
        .max_by(|a, b| specificity(a).cmp(&specificity(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_match_one_segment() {
        assert!(matches("/products/{productId}", "/products/abc"));
        assert!(!matches("/products/{productId}", "/products/"));
        assert!(!matches("/products/{productId}", "/products/abc/def"));
        assert!(matches(
            "/products/{productId}/price/{priceId}",
            "/products/p1/price/x9?locationId=l"
        ));
    }

    #[test]
    fn trailing_slash_is_exact() {
        assert!(matches("/products/", "/products/"));
        assert!(matches("/products/", "/products/?limit=1"));
        assert!(!matches("/products/", "/products"));
        assert!(!matches("/products", "/products/"));
    }

    #[test]
    fn literal_wins_over_parameter() {
        let templates = ["/payments/coupon/{id}", "/payments/coupon/list"];
        assert_eq!(
            best_match(templates, "/payments/coupon/list"),
            Some("/payments/coupon/list")
        );
        assert_eq!(
            best_match(templates, "/payments/coupon/c1"),
            Some("/payments/coupon/{id}")
        );
        assert_eq!(best_match(templates, "/payments/other/c1"), None);
    }

    #[test]
    fn mixed_segments() {
        assert!(matches("/files/{name}.json", "/files/a.json"));
        assert!(!matches("/files/{name}.json", "/files/.json"));
        assert!(!matches("/files/{name}.json", "/files/a.txt"));
        assert_eq!(
            best_match(["/f/{x}", "/f/{x}.json"], "/f/a.json"),
            Some("/f/{x}.json")
        );
    }
}
