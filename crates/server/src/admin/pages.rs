//! The admin page's frame and the parts every page shares, written with
//! maud (checked at compile time, escaped by default): the document head
//! (the compiled-in stylesheet and scripts, nothing from elsewhere), the
//! top bar with the navigation between the pages and the logout form, the
//! login and error pages, and small pieces (times, badges, the CSRF
//! field). The pages themselves live beside it, one module each.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use model::FlowMode;

use super::assets;
use super::words::{ago, full_time};

/// The pages in the navigation, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Dashboard,
    Log,
    DeadLetters,
    Drift,
    Api,
    Alerts,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Dashboard,
        Tab::Log,
        Tab::DeadLetters,
        Tab::Drift,
        Tab::Api,
        Tab::Alerts,
    ];

    pub fn href(self) -> &'static str {
        match self {
            Tab::Dashboard => "/admin",
            Tab::Log => "/admin/log",
            Tab::DeadLetters => "/admin/dlq",
            Tab::Drift => "/admin/drift",
            Tab::Api => "/admin/api",
            Tab::Alerts => "/admin/alerts",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tab::Dashboard => "Dashboard",
            Tab::Log => "Log",
            Tab::DeadLetters => "Dead letters",
            Tab::Drift => "Drift",
            Tab::Api => "API calls",
            Tab::Alerts => "Alerts",
        }
    }
}

/// What the frame of every page shows beside the page itself.
pub struct Chrome<'a> {
    /// The session's CSRF token, for the logout form.
    pub csrf: &'a str,
    /// Open dead letters, counted in the navigation.
    pub dead: i64,
}

/// The allybridge mark: two records joined.
fn mark() -> Markup {
    html! {
        svg.brand-mark viewBox="0 0 24 24" aria-hidden="true" {
            circle cx="7" cy="12" r="5" fill="none" stroke="#7ea2ff" stroke-width="2.5" {}
            circle cx="17" cy="12" r="5" fill="none" stroke="#ffffff" stroke-width="2.5" {}
        }
    }
}

/// A whole HTML document: head with the stylesheet and scripts compiled
/// into the binary, and `body`.
fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                // No inline styles (the CSP allows none) and no eval.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                title { (title) " · allybridge" }
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::htmx_url()) defer {}
                script src=(assets::js_url()) defer {}
            }
            body { (body) }
        }
    }
}

/// A page of the admin area: top bar, navigation with `tab` current, and `body`.
pub fn page(title: &str, tab: Tab, chrome: &Chrome<'_>, body: Markup) -> Markup {
    document(
        title,
        html! {
            a.skip href="#main" { "Skip to content" }
            header.topbar {
                div.topbar-inner {
                    a.brand href="/admin" { (mark()) "allybridge" }
                    nav.nav aria-label="Admin sections" {
                        @for t in Tab::ALL {
                            a href=(t.href()) aria-current=[(t == tab).then_some("page")] {
                                (t.name())
                                @if t == Tab::DeadLetters && chrome.dead > 0 {
                                    span.count title=(format!("{} open", chrome.dead)) { (chrome.dead) }
                                }
                            }
                        }
                    }
                    form method="post" action="/admin/logout" {
                        (csrf_field(chrome.csrf))
                        button.btn.small type="submit" { "Log out" }
                    }
                }
            }
            main #main tabindex="-1" { (body) }
        },
    )
}

pub fn login(token: &str, error: Option<&str>, configured: bool) -> Markup {
    document(
        "Log in",
        html! {
            main.login #main {
                div.panel {
                    h1 { "allybridge admin" }
                    @if !configured {
                        p.notice.bad { "No admin password is configured: run " code { "allybridge admin-password" } " and put the hash in [server] admin_password_hash." }
                    }
                    @if let Some(e) = error { p.notice.bad #login-error role="alert" { (e) } }
                    form method="post" action="/admin/login" {
                        input type="hidden" name="csrf" value=(token);
                        div.field {
                            label for="password" { "Password" }
                            input #password type="password" name="password" autocomplete="current-password" required autofocus;
                        }
                        p { button.btn.primary #login type="submit" { "Log in" } }
                    }
                }
            }
        },
    )
}

pub fn error(message: &str) -> Markup {
    document(
        "Error",
        html! {
            main #main {
                h1 { "The admin page could not be built" }
                p.notice.bad { (message) }
                p { a href="/admin" { "Try again" } }
            }
        },
    )
}

/// A page that says what was asked for does not exist.
pub fn not_found(chrome: &Chrome<'_>, tab: Tab, what: &str) -> Markup {
    page(
        "Not found",
        tab,
        chrome,
        html! {
            div.page-head { h1 { "Not found" } }
            p.notice { (what) }
        },
    )
}

pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A moment as "12 min ago", with the full time as its tooltip.
pub fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) title=(full_time(at)) { (ago(at, now)) } }
}

/// A flow mode as a badge.
pub fn mode_badge(mode: FlowMode) -> Markup {
    match mode {
        FlowMode::Write => html! { span.badge.ok { "write" } },
        FlowMode::Observe => html! { span.badge.info { "observe" } },
        FlowMode::Off => html! { span.badge { "off" } },
    }
}

/// A log line's result (`written`, `observed`, …) as a badge.
pub fn result_badge(result: &str) -> Markup {
    let class = match result {
        "written" => "badge ok",
        "observed" => "badge info",
        _ => "badge warn",
    };
    html! { span class=(class) { (result) } }
}

/// A number tile: `value` big, `label` under it, linking to `href` if given.
pub fn tile(value: impl std::fmt::Display, label: &str, class: &str, href: Option<&str>) -> Markup {
    let class = format!("tile {class}");
    let inner = html! { div.tile-value { (value.to_string()) } div.tile-label { (label) } };
    match href {
        Some(href) => html! { a class=(class) href=(href) { (inner) } },
        None => html! { div class=(class) { (inner) } },
    }
}

/// `path` with the non-empty `pairs` as its query string.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let q: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", transport::query_value(v)))
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// JSON, pretty, for a raw view.
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_empty_values_left_out() {
        assert_eq!(with_query("/admin/log", &[]), "/admin/log");
        assert_eq!(
            with_query(
                "/admin/log",
                &[("q", "a b&c"), ("entity", ""), ("before", "9")]
            ),
            "/admin/log?q=a%20b%26c&before=9"
        );
    }

    #[test]
    fn the_current_page_is_marked_in_the_navigation() {
        let chrome = Chrome { csrf: "t", dead: 3 };
        let html = page("Log", Tab::Log, &chrome, html! { p { "body" } }).into_string();
        assert!(
            html.contains(r#"<a href="/admin/log" aria-current="page">"#),
            "{html}"
        );
        assert!(!html.contains(r#"<a href="/admin" aria-current"#));
        assert!(html.contains(">3</span>"));
        assert!(
            !html.contains("style="),
            "no inline style: the CSP refuses them"
        );
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
