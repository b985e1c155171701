//! Live events: where each system sends its webhooks to the daemon, and
//! the AccessAlly subscription the daemon makes at start-up. AccessAlly is
//! subscribed through the Bridge API — one subscription per tenant to
//! `{public_url}/webhooks/accessally/{tenant}`, signed with the tenant's
//! webhook secret. HighLevel sends webhooks only to the Webhook URL of a
//! marketplace app, which no API shows (`allybridge check` names it).

use config::{Config, TenantConfig};
use engine::Tenant;
use futures::TryStreamExt;
use secrecy::SecretString;
use store::{CredentialKind, Store, System};

use crate::DaemonError;
use crate::credentials::{connection_id, store_accessally_secret};

/// The public base URL without its trailing slash.
fn base(config: &Config) -> Option<String> {
    config
        .server
        .public_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string())
}

/// Where AccessAlly sends the events of `tenant`, when `[server]
/// public_url` is set.
pub fn accessally_url(config: &Config, tenant: &str) -> Option<String> {
    base(config).map(|b| format!("{b}/webhooks/accessally/{tenant}"))
}

/// Where HighLevel sends its events (every tenant's), when `[server]
/// public_url` is set.
pub fn highlevel_url(config: &Config) -> Option<String> {
    base(config).map(|b| format!("{b}/webhooks/ghl"))
}

/// The subscription of `subs` that sends to `url`, an active one first.
pub fn subscription_to<'a>(
    subs: &'a [accessally::WebhookSubscription],
    url: &str,
) -> Option<&'a accessally::WebhookSubscription> {
    let to_url = || subs.iter().filter(|s| s.url == url);
    to_url().find(|s| s.active).or_else(|| to_url().next())
}

/// The AccessAlly webhook secret of a tenant — `[tenant.accessally]
/// webhook_secret`, else the one stored — with, when `[server] public_url`
/// is set, a subscription sending to the tenant's URL: created at start-up
/// when the site has none (signed with the known secret, or with one the
/// site makes, which is then stored), so that setting a secret never
/// leaves the site without a subscription.
pub async fn accessally_webhook_secret(
    config: &Config,
    store: &Store,
    t: &TenantConfig,
    tenant: &Tenant,
) -> Result<Option<SecretString>, DaemonError> {
    let configured = t
        .accessally
        .webhook_secret
        .as_ref()
        .map(|r| {
            config.secret(r).map_err(DaemonError::secret(format!(
                "tenant `{}`: [tenant.accessally] webhook_secret",
                t.name
            )))
        })
        .transpose()?;
    let connection = connection_id(&t.name, System::AccessAlly);
    let known = match configured {
        Some(secret) => Some(secret),
        None => store
            .credential(&connection, CredentialKind::WebhookSecret)
            .await
            .map_err(DaemonError::store(
                "read the stored AccessAlly webhook secret",
            ))?
            .map(|c| c.secret),
    };
    let Some(url) = accessally_url(config, &t.name) else {
        return Ok(known);
    };
    // The site being down does not stop the daemon: its changes still
    // arrive by polling, and the next start subscribes.
    let subscriptions: Vec<accessally::WebhookSubscription> = match tenant
        .accessally
        .webhooks()
        .try_collect()
        .await
    {
        Ok(subs) => subs,
        Err(e) => {
            tracing::warn!(tenant = %t.name, error = %e, "could not list the AccessAlly webhook subscriptions; AccessAlly changes arrive by polling until the next start subscribes");
            return Ok(known);
        }
    };
    if let Some(sub) = subscription_to(&subscriptions, &url) {
        if known.is_none() {
            tracing::warn!(
                tenant = %t.name, subscription = sub.id, %url,
                "an AccessAlly subscription sends here but its secret is unknown, so its events are refused; set [tenant.accessally] webhook_secret, or delete the subscription and restart"
            );
        }
        return Ok(known);
    }
    let sub = match tenant
        .accessally
        .create_webhook(&url, &accessally::Topic::ALL, known.as_ref())
        .await
    {
        Ok(sub) => sub,
        Err(e) => {
            tracing::warn!(tenant = %t.name, %url, error = %e, "could not subscribe AccessAlly webhooks; AccessAlly changes arrive by polling until the next start subscribes");
            return Ok(known);
        }
    };
    tracing::info!(tenant = %t.name, %url, "subscribed AccessAlly webhooks");
    if known.is_some() {
        return Ok(known);
    }
    let Some(secret) = sub.secret else {
        return Ok(None);
    };
    store_accessally_secret(
        store,
        &connection,
        t,
        CredentialKind::WebhookSecret,
        secret.clone(),
    )
    .await
    .map_err(DaemonError::store(
        "store the webhook secret AccessAlly made for the new subscription",
    ))?;
    Ok(Some(secret))
}
