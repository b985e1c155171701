//! What the admin page tells in words: a log line's headline and its
//! changes (the engine writes `{record}: {note} [{change}; …]`), the name
//! of the record a line is about, why a dead letter died (the error's
//! HTTP status or its known cause, with what to do), what a drift finding
//! means, each flow's title, and how long ago something happened. Pure
//! functions of text; the caller scrubs secrets before rendering.

use chrono::{DateTime, Utc};
use model::Flow;

/// A log line's detail, split: the headline (`offering Watercolour:
/// offering updated`) and each change in words (`COURSE-001 197.00 →
/// 149.00 USD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told<'a> {
    pub headline: &'a str,
    pub changes: Vec<&'a str>,
}

/// Splits a log line's detail as the engine writes it; a detail in
/// another shape is all headline.
pub fn told(detail: &str) -> Told<'_> {
    let split = detail
        .strip_suffix(']')
        .and_then(|rest| rest.split_once(" ["));
    match split {
        Some((headline, changes)) => Told {
            headline,
            changes: changes
                .split("; ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect(),
        },
        None => Told {
            headline: detail,
            changes: Vec::new(),
        },
    }
}

/// The record a log line's detail is about (`coupon LAUNCH20`), as the
/// engine names it before the first `: `.
pub fn record_name(detail: &str) -> Option<&str> {
    let (name, _) = told(detail).headline.split_once(": ")?;
    let name = name.trim();
    (!name.is_empty()).then_some(name)
}

/// The first HTTP error status (400–599) named in `text`, if any.
fn http_status(text: &str) -> Option<u16> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| t.len() == 3)
        .filter_map(|t| t.parse::<u16>().ok())
        .find(|s| (400..600).contains(s))
}

/// Why a job failed, in a sentence with what to do, from its error text.
pub fn reason_in_words(reason: &str) -> &'static str {
    let lower = reason.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["claimed", "without finishing"]) && lower.contains("times") {
        return "The daemon stopped while running it, time after time. Replay it once the daemon runs steadily.";
    }
    if has(&["mixes currencies"]) {
        return "The order mixes currencies and allybridge never converts money. Record it by hand, then drop it.";
    }
    if has(&[
        "not in accessally yet",
        "not in highlevel yet",
        "waits for",
        "waiting for",
    ]) {
        return "It needs another record synced first. Replay it once that one is.";
    }
    match http_status(&lower) {
        Some(401 | 403) => {
            "The system refused allybridge's credentials. Reconnect it, then replay."
        }
        Some(404 | 410) => {
            "The record, or one it needs, no longer exists there. Drop it, or restore the record and replay."
        }
        Some(409 | 422 | 400) => {
            "The system refused the record's data. Correct the record at its source, then replay."
        }
        Some(429) => "The system rate-limited allybridge. Replay once the budget has recovered.",
        Some(500..=599) => "The system failed to answer properly. Replay later.",
        Some(_) => {
            "The system refused the request. Read the full error below, then replay or drop."
        }
        None if has(&["refresh token", "unauthorized", "forbidden", "credential"]) => {
            "The system refused allybridge's credentials. Reconnect it, then replay."
        }
        None if has(&["timed out", "timeout", "connect", "unreachable", "dns"]) => {
            "The system could not be reached. Replay once it answers again."
        }
        None if has(&["decode"]) => {
            "The system answered with something allybridge could not read. Replay later; if it fails again, report it."
        }
        None => "Read the full error below, then replay or drop.",
    }
}

/// What a drift finding of `kind` (`missing`, `different`, `gone`) means
/// for a record of `flow`, and what reconciliation did about it.
pub fn drift_in_words(flow: Option<Flow>, kind: &str) -> String {
    let (from, to) = flow
        .map(|f| {
            let (from, to) = engine::flows::direction(f);
            (from.name(), to.name())
        })
        .unwrap_or(("its source", "the other system"));
    match kind {
        "missing" => format!("Not in {to} yet. A job was queued to create it there."),
        "different" => format!("{from} and {to} differ. A job was queued to bring {to} in line."),
        "gone" => format!("Deleted in {from}. A job was queued to apply the deletion to {to}."),
        other => format!("{other}. A job was queued for it."),
    }
}

/// A flow as a person reads it (`Coupons → AccessAlly`).
pub fn flow_title(flow: Flow) -> &'static str {
    match flow {
        Flow::CouponsToAccessally => "Coupons → AccessAlly",
        Flow::ProductsToAccessally => "Products → AccessAlly",
        Flow::ProductsToHighlevel => "Offerings → HighLevel",
        Flow::OrdersToHighlevel => "Orders → HighLevel payments",
        Flow::OrdersToAccessally => "Paid orders → AccessAlly access",
    }
}

/// How long before `now` something happened: `just now`, `12 min ago`,
/// `5 h ago`, else its date.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    match seconds {
        ..60 => "just now".to_string(),
        60..3_600 => format!("{} min ago", seconds / 60),
        3_600..172_800 => format!("{} h ago", seconds / 3_600),
        _ => at.format("%Y-%m-%d").to_string(),
    }
}

/// A moment in full, for tooltips and detail pages.
pub fn full_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_detail_splits_into_headline_and_changes() {
        let t = told(
            "offering Watercolour: offering updated [COURSE-001 197.00 → 149.00 USD; name \"A\" → \"B\"]",
        );
        assert_eq!(t.headline, "offering Watercolour: offering updated");
        assert_eq!(
            t.changes,
            ["COURSE-001 197.00 → 149.00 USD", "name \"A\" → \"B\""]
        );
        let plain = told("coupon X: would create");
        assert_eq!(plain.headline, "coupon X: would create");
        assert!(plain.changes.is_empty());
        assert_eq!(told("broken [half").headline, "broken [half");
        assert_eq!(
            record_name("coupon LAUNCH20: coupon created [code LAUNCH20]"),
            Some("coupon LAUNCH20")
        );
        assert_eq!(record_name("no name here"), None);
        assert_eq!(record_name(": nothing before"), None);
    }

    #[test]
    fn reasons_are_told_with_what_to_do() {
        let cases = [
            ("AccessAlly answered 401 Unauthorized", "credentials"),
            ("HighLevel refused the refresh token", "credentials"),
            (
                "HighLevel refused the refresh token; run `allybridge connect ghl --oauth`",
                "credentials",
            ),
            (
                "HighLevel answered 422 Unprocessable Entity: email",
                "refused the record's data",
            ),
            (
                "AccessAlly answered 500 Internal Server Error",
                "failed to answer",
            ),
            ("HighLevel answered 429 Too Many Requests", "rate-limited"),
            (
                "AccessAlly answered 404: offering 7 not found",
                "no longer exists",
            ),
            (
                "error sending request: operation timed out",
                "could not be reached",
            ),
            ("Connect: connection refused", "could not be reached"),
            ("Decode: expected value at line 1", "could not read"),
            (
                "claimed 9 times without finishing (the process stopped)",
                "daemon stopped",
            ),
            (
                "coupon X is restricted to p-1, which is not in AccessAlly yet",
                "another record",
            ),
            ("order 7 mixes currencies (USD and EUR)", "never converts"),
            ("something odd", "full error"),
        ];
        for (reason, expected) in cases {
            let words = reason_in_words(reason);
            assert!(words.contains(expected), "{reason}: {words}");
        }
        // A number that is no HTTP status is not read as one.
        assert!(reason_in_words("order 1042 failed").contains("full error"));
    }

    #[test]
    fn drift_is_told_per_direction() {
        let d = drift_in_words(Some(Flow::CouponsToAccessally), "missing");
        assert!(d.contains("Not in AccessAlly yet"), "{d}");
        let d = drift_in_words(Some(Flow::ProductsToHighlevel), "gone");
        assert!(
            d.contains("Deleted in AccessAlly") && d.contains("to HighLevel"),
            "{d}"
        );
        assert!(drift_in_words(None, "different").contains("differ"));
    }

    #[test]
    fn times_read_as_a_person_says_them() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - chrono::Duration::minutes(12), now), "12 min ago");
        assert_eq!(ago(now - chrono::Duration::hours(5), now), "5 h ago");
        let old = now - chrono::Duration::days(9);
        assert_eq!(ago(old, now), old.format("%Y-%m-%d").to_string());
    }
}
