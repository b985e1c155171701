//! Live events: where each system must send its webhooks and whether it
//! will. AccessAlly is subscribed by `serve` through the Bridge API — one
//! subscription per tenant to `{public_url}/webhooks/accessally/{tenant}`,
//! signed with the tenant's webhook secret — and `check` reads the
//! subscriptions to say whether events will arrive, or why not and what to
//! do. HighLevel sends webhooks only to the Webhook URL of a marketplace
//! app, which no API shows: `check` names the URL to set there and the
//! events the enabled flows use. Without live events every change still
//! arrives by polling, only later.

use std::time::Duration;

use config::Config;
pub use daemon::subscriptions::{accessally_url, highlevel_url, subscription_to};
use model::{Flow, FlowMode};
use serde_json::{Value, json};

/// A webhook URL as it may be shown: without credentials or query, which
/// a URL someone else configured could carry.
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(a URL that does not parse)".to_string(),
    }
}

/// A duration as people write it: `30s`, `4m`, `1h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The enabled flows that read a system and how often they poll it:
/// `orders_to_highlevel every 4m, …`.
fn polled(config: &Config, modes: &[(Flow, FlowMode)], from: store::System) -> String {
    let e = &config.engine;
    let mut out = Vec::new();
    for &(flow, mode) in modes {
        if mode == FlowMode::Off || engine::flows::direction(flow).0 != from {
            continue;
        }
        let every = match flow {
            Flow::CouponsToAccessally => e.coupon_poll_interval.get(),
            Flow::ProductsToAccessally | Flow::ProductsToHighlevel => e.product_poll_interval.get(),
            Flow::OrdersToHighlevel | Flow::OrdersToAccessally => e.order_poll_interval.get(),
        };
        out.push(format!("{flow} every {}", human(every)));
    }
    if out.is_empty() {
        "no enabled flow reads it".to_string()
    } else {
        out.join(", ")
    }
}

/// The HighLevel webhook events the enabled flows use (from the
/// operations catalog), e.g. `ProductUpdate`.
pub fn highlevel_events(modes: &[(Flow, FlowMode)]) -> Vec<String> {
    let enabled: Vec<Flow> = modes
        .iter()
        .filter(|(_, m)| *m != FlowMode::Off)
        .map(|(f, _)| *f)
        .collect();
    catalog::filter(catalog::Filter {
        system: Some(catalog::System::HighLevel),
        kind: Some(catalog::Kind::Trigger),
        flow: None,
    })
    .filter(|e| e.id.starts_with("ghl.webhook.") && e.used_by.iter().any(|f| enabled.contains(f)))
    .filter_map(|e| e.summary.split(" webhook").next().map(str::to_string))
    .collect()
}

/// What `check` says about one system's live events. Its JSON says
/// whether events will arrive (`arrive`: true, false, or null when no API
/// can tell, as for HighLevel's app settings).
pub struct LiveEvents {
    /// One line for people: what holds and, if anything, what to do.
    pub says: String,
    /// Whether it is a problem (a configuration that cannot work as
    /// meant), rather than a note.
    pub problem: bool,
    pub json: Value,
}

/// HighLevel's live events for flows in `modes`: the Webhook URL to set
/// in the marketplace app, with the events, or why there is none yet.
pub fn highlevel(config: &Config, modes: &[(Flow, FlowMode)]) -> LiveEvents {
    let events = highlevel_events(modes);
    let polled = polled(config, modes, store::System::HighLevel);
    if events.is_empty() {
        return LiveEvents {
            says: format!(
                "HighLevel live events: none of the enabled flows uses them (polled: {polled})"
            ),
            problem: false,
            json: json!({"arrive": false, "url": highlevel_url(config), "events": events}),
        };
    }
    let (says, url) = match highlevel_url(config) {
        None => (
            format!(
                "HighLevel live events cannot arrive: [server] public_url is not set. Set it to the HTTPS address where HighLevel reaches `allybridge serve`, then set your marketplace app's Webhook URL to {{public_url}}/webhooks/ghl with the events {}. Until then HighLevel changes arrive by polling: {polled}",
                events.join(", ")
            ),
            None,
        ),
        Some(url) => (
            format!(
                "HighLevel live events arrive only if your marketplace app's Webhook URL (marketplace.gohighlevel.com → your app → Advanced Settings → Webhooks) is {url} with the events {} (no API shows it; a private integration token receives webhooks only through such an app). Otherwise HighLevel changes arrive by polling: {polled}",
                events.join(", ")
            ),
            Some(url),
        ),
    };
    let says = format!("{says}{}", signature_note(config));
    LiveEvents {
        says,
        problem: false,
        json: json!({"arrive": Value::Null, "url": url, "events": events}),
    }
}

/// HighLevel signs webhooks with `x-ghl-signature` (Ed25519) and is
/// retiring the RSA `x-wh-signature`; without `[tenant.ghl]
/// webhook_public_key`, `serve` can verify only the RSA header, so
/// deliveries that carry only the new one are refused.
fn signature_note(config: &Config) -> &'static str {
    if config
        .tenants
        .iter()
        .any(|t| t.ghl.webhook_public_key.is_some())
    {
        ""
    } else {
        ". Note: no [tenant.ghl] webhook_public_key is set, so `serve` verifies HighLevel webhooks only by the legacy RSA x-wh-signature, which HighLevel is retiring; deliveries signed only with x-ghl-signature (Ed25519) would be refused: set webhook_public_key to the Ed25519 public key HighLevel gives for your app"
    }
}

/// What `allybridge serve` does about a tenant's AccessAlly subscription,
/// and what `check` reports: whether a subscription sends to the tenant's
/// URL, and whether allybridge knows the secret it signs with.
pub struct AccessAllyState<'a> {
    pub url: Option<String>,
    pub subscription: Option<&'a accessally::WebhookSubscription>,
    /// Whether a webhook secret is configured or stored.
    pub secret_known: bool,
    /// Whether it comes from `[tenant.accessally] webhook_secret`.
    pub secret_configured: bool,
}

impl AccessAllyState<'_> {
    /// Whether `serve` creates the subscription at start-up (with the known
    /// secret, or one the site makes).
    pub fn serve_subscribes(&self) -> bool {
        self.url.is_some() && self.subscription.is_none()
    }

    /// What `check` says about `tenant` with its flows in `modes`;
    /// `others` are where the site's other subscriptions send.
    pub fn live_events(
        &self,
        config: &Config,
        tenant: &str,
        modes: &[(Flow, FlowMode)],
        others: &[String],
    ) -> LiveEvents {
        let polled = polled(config, modes, store::System::AccessAlly);
        let elsewhere = if others.is_empty() {
            String::new()
        } else {
            format!(" (the site's subscriptions send to {})", others.join(", "))
        };
        let (arrive, problem, says) = match (&self.url, self.subscription) {
            (None, _) => (
                false,
                false,
                format!(
                    "AccessAlly live events cannot arrive: [server] public_url is not set, so there is no address to subscribe. Set it to the HTTPS address where the site reaches `allybridge serve`; serve then subscribes {{public_url}}/webhooks/accessally/{tenant}. Until then AccessAlly changes arrive by polling: {polled}"
                ),
            ),
            (Some(url), None) => (
                false,
                false,
                format!(
                    "AccessAlly live events: no subscription sends to {url} yet{elsewhere}; `allybridge serve` creates it at start-up{}. Until then AccessAlly changes arrive by polling: {polled}",
                    if self.secret_configured {
                        ", signed with [tenant.accessally] webhook_secret"
                    } else {
                        ""
                    }
                ),
            ),
            (Some(url), Some(sub)) if !sub.active => (
                false,
                true,
                format!(
                    "AccessAlly live events will not arrive: subscription {} to {url} is disabled. Enable it in wp-admin (the AllyBridge panel → Subscriptions), or delete it and restart `allybridge serve` to subscribe again. Until then AccessAlly changes arrive by polling: {polled}",
                    sub.id
                ),
            ),
            (Some(url), Some(sub)) if !self.secret_known => (
                false,
                true,
                format!(
                    "AccessAlly live events are refused: subscription {} sends to {url}, but allybridge does not know the secret it signs with. Set [tenant.accessally] webhook_secret to it, or delete the subscription in wp-admin and restart `allybridge serve` to subscribe anew",
                    sub.id
                ),
            ),
            (Some(url), Some(sub)) => (
                true,
                false,
                format!(
                    "AccessAlly live events arrive: subscription {} sends {} topics to {url}",
                    sub.id,
                    sub.topics.len()
                ),
            ),
        };
        LiveEvents {
            says,
            problem,
            json: json!({
                "arrive": arrive,
                "url": self.url,
                "subscription": self.subscription.map(|s| json!({"id": s.id, "active": s.active, "topics": s.topics.len()})),
                "serve_subscribes": self.serve_subscribes(),
                "secret": if self.secret_configured { "configured" } else if self.secret_known { "stored" } else { "none" },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_keeps_no_credential() {
        assert_eq!(
            shown("https://user:pw@hooks.example.com/in?token=abc"),
            "https://hooks.example.com/in"
        );
    }

    #[test]
    fn durations_read_as_written() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_secs(240)), "4m");
        assert_eq!(human(Duration::from_secs(3_600)), "1h");
        assert_eq!(human(Duration::from_secs(90)), "90s");
    }

    #[test]
    fn check_warns_when_no_ed25519_key_is_set() {
        let without = Config::from_str(crate::cli::context::TEST_TENANT).expect("valid");
        assert!(signature_note(&without).contains("webhook_public_key"));
        let with = Config::from_str(&crate::cli::context::TEST_TENANT.replace(
            "[tenant.ghl]\n",
            "[tenant.ghl]\nwebhook_public_key = \"-----BEGIN PUBLIC KEY-----\"\n",
        ))
        .expect("valid");
        assert_eq!(signature_note(&with), "");
    }

    #[test]
    fn the_highlevel_events_are_those_of_the_enabled_flows() {
        let text = format!(
            "{}[tenant.flows]\nproducts_to_accessally = \"observe\"\norders_to_accessally = \"off\"\n",
            crate::cli::context::TEST_TENANT
        );
        let config = Config::from_str(&text).expect("a valid configuration");
        let events = highlevel_events(&config.tenants[0].flows.modes());
        assert!(events.contains(&"ProductUpdate".to_string()), "{events:?}");
        assert!(!events.contains(&"OrderCreate".to_string()), "{events:?}");
    }
}
