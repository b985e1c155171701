//! The files the admin page loads, compiled into the binary: its
//! stylesheet and small script (ours) and htmx (vendored, Zero-Clause BSD;
//! see `assets/htmx.LICENSE`). Each is linked with a version derived from
//! its bytes, so browsers may keep it for a year and still fetch a new
//! build's at once. Nothing is loaded from another host.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &[u8] = include_bytes!("../../assets/admin.css");
const JS: &[u8] = include_bytes!("../../assets/admin.js");
const HTMX: &[u8] = include_bytes!("../../assets/htmx.min.js");

/// A served file: its name under `/admin/assets/`, type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "admin.css",
        content_type: "text/css; charset=utf-8",
        bytes: CSS,
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: JS,
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: HTMX,
    },
];

/// FNV-1a of `bytes`: a version that changes with the file.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The URL a page links `name` by, with its version.
fn url(name: &str, bytes: &[u8]) -> String {
    format!("/admin/assets/{name}?v={:016x}", fnv1a(bytes))
}

pub fn css_url() -> String {
    url("admin.css", CSS)
}

pub fn js_url() -> String {
    url("admin.js", JS)
}

pub fn htmx_url() -> String {
    url("htmx.min.js", HTMX)
}

/// `GET /admin/assets/{name}`: the file, cacheable for a year (its URL
/// changes with it), or 404.
pub async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such admin asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_carries_its_file_s_version() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert!(css_url().starts_with("/admin/assets/admin.css?v="));
        assert_ne!(css_url(), url("admin.css", b"another build"));
        assert!(htmx_url().starts_with("/admin/assets/htmx.min.js?v="));
        assert!(js_url().starts_with("/admin/assets/admin.js?v="));
    }
}
