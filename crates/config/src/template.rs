//! The commented `allybridge.toml` that `allybridge init` writes: every
//! option with its default and meaning. Options left at their default or
//! optional are commented out as `# key = value` lines (a test uncomments
//! them all and parses the result, so they stay valid). Text only; no I/O.

pub(crate) const TEMPLATE: &str = r#"# allybridge.toml: keeps a HighLevel sub-account and an AccessAlly site in sync.
#
# Secrets are never written here. Wherever a secret is expected, write a
# reference: { env = "VARIABLE" } reads an environment variable,
# { file = "path" } reads a file (relative paths: from this file's folder).
# `allybridge connect` can instead store credentials encrypted in the store.
#
# Durations are written with a unit: "250ms", "60s", "5m", "1h", "1d", "1h30m".
#
# Environment variables override these settings:
#   ALLYBRIDGE_LOG, ALLYBRIDGE_STORE_URL, ALLYBRIDGE_STORE_KEY_FILE,
#   ALLYBRIDGE_SERVER_LISTEN, ALLYBRIDGE_SERVER_PUBLIC_URL,
#   ALLYBRIDGE_SERVER_ADMIN_PASSWORD_HASH,
#   ALLYBRIDGE_SERVER_TRUSTED_PROXIES (comma-separated), ALLYBRIDGE_ENGINE_WORKERS,
#   ALLYBRIDGE_ENGINE_COUPON_POLL_INTERVAL, ALLYBRIDGE_ENGINE_PRODUCT_POLL_INTERVAL,
#   ALLYBRIDGE_ENGINE_ORDER_POLL_INTERVAL, ALLYBRIDGE_ENGINE_RECONCILE_INTERVAL,
#   ALLYBRIDGE_ENGINE_MAX_ATTEMPTS, ALLYBRIDGE_ENGINE_WORKER_ID (or its
#   earlier name ALLYBRIDGE_WORKER_ID), ALLYBRIDGE_ALERTS_COOLDOWN,
#   ALLYBRIDGE_ALERTS_QUOTA_WARNING, ALLYBRIDGE_ALERTS_CHECK_INTERVAL.
#
# Unknown keys are errors: a typo is reported with its line.

# Log filter in tracing's EnvFilter syntax, e.g. "info" or "info,engine=debug".
log = "info"

[store]
# Where links, jobs, logs and encrypted credentials live:
# SQLite for one machine, or "postgres://user@host/db" for several.
url = "sqlite://allybridge.db?mode=rwc"
# The master key file encrypting stored credentials (written by `allybridge init`;
# keep it out of version control and back it up).
key_file = "allybridge.key"

[server]
# Address of the daemon's listener (webhooks, OAuth callback, admin page,
# /metrics, /healthz). Loopback by default: put a reverse proxy in front.
listen = "127.0.0.1:8940"
# Public base URL where HighLevel and AccessAlly send webhooks and where the
# OAuth redirect lands (PUBLIC_URL/oauth/callback). HighLevel: set
# PUBLIC_URL/webhooks/ghl as your marketplace app's Webhook URL. AccessAlly:
# `allybridge serve` subscribes PUBLIC_URL/webhooks/accessally/TENANT. Without
# it, changes arrive by polling only; `allybridge check` says whether live
# events will arrive.
# public_url = "https://allybridge.example.com"
# Argon2 PHC hash of the admin page password; while unset, nobody can log in.
# admin_password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
# The reverse proxies in front of `listen` (IP addresses or CIDR ranges)
# whose X-Forwarded-For header names the client: the admin login limit and
# the logs then use the client's address, not the proxy's. The rightmost
# address in the header that is not itself a trusted proxy is the client;
# from any other peer the header is ignored. Empty: it is never believed.
# With nginx on this machine (deploy/nginx/allybridge.conf): ["127.0.0.1", "::1"].
# trusted_proxies = ["127.0.0.1", "::1"]

[engine]
# Jobs processed at the same time, across all tenants.
workers = 4
# HighLevel has no coupon webhooks: coupons are polled this often.
coupon_poll_interval = "60s"
# Products and orders are also polled, to catch webhooks that never arrived.
product_poll_interval = "5m"
order_poll_interval = "5m"
# The full scan of both sides that reports and repairs drift.
reconcile_interval = "1h"
# Attempts per job (with exponential back-off) before it is dead-lettered.
max_attempts = 8
# Names this daemon's job leases across restarts: after a crash it takes
# back the jobs it held at once instead of waiting out their lease (60 s).
# One process per name; leave it out for a new name at every start.
# worker_id = "allybridge-1"

[alerts]
# Alerts: a job dead-lettered, a connection failing authentication, drift
# found, the daily HighLevel quota running low, webhooks rejected for bad
# signatures. Each incident is announced once, again at most once per
# cool-down while it lasts, and a resolve message follows when it clears.
#
# A Slack-compatible incoming webhook (it embeds a credential: use a reference).
# webhook_url = { env = "ALLYBRIDGE_ALERT_WEBHOOK_URL" }
# An open incident is announced again at most this often.
cooldown = "30m"
# Alert when a location's remaining daily HighLevel quota falls below this fraction.
quota_warning = 0.10
# How often dead letters, quotas and webhook rejections are looked at.
check_interval = "30s"

# E-mail alerts over SMTP.
# [alerts.smtp]
# host = "smtp.example.com"
# port = 587
# from = "allybridge <alerts@example.com>"
# to = ["ops@example.com"]
# username = "alerts@example.com"
# password = { env = "ALLYBRIDGE_SMTP_PASSWORD" }
# "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (local relay only).
# tls = "starttls"

# One [[tenant]] per HighLevel location paired with one AccessAlly site.
# Several are allowed; names must be unique.
[[tenant]]
# Letters, digits, - and _. Prefixes this tenant's records in the store.
name = "main"

[tenant.ghl]
# HighLevel API base URL.
# base_url = "https://services.leadconnectorhq.com"
# The sub-account (location) id: Settings > Business Profile in HighLevel.
location_id = "YOUR_LOCATION_ID"
# "oauth" (a marketplace app; `allybridge connect ghl --oauth`) or
# "private_token" (a Private Integration Token; `allybridge connect ghl --token`).
auth = "oauth"
# The marketplace app's OAuth client id and secret (auth = "oauth").
client_id = "YOUR_CLIENT_ID"
client_secret = { env = "ALLYBRIDGE_GHL_CLIENT_SECRET" }
# A Private Integration Token, if not stored by `allybridge connect ghl --token`.
# private_token = { env = "ALLYBRIDGE_GHL_TOKEN" }
# The OAuth consent page's host, for white-label marketplaces.
# marketplace_url = "https://marketplace.gohighlevel.com"
# Ed25519 public key (PEM) verifying x-ghl-signature, as HighLevel gives it for your app. Set it:
# unset, only the legacy RSA x-wh-signature is verified (HighLevel's published RSA key),
# which HighLevel is retiring, so deliveries signed only with x-ghl-signature are refused.
# webhook_public_key = "-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----"

[tenant.accessally]
# The WordPress site running AccessAlly and the allybridge companion plugin.
site_url = "https://courses.example.com"
# The WordPress user owning the Application Password.
user = "allybridge"
# The Application Password (Users > Profile > Application Passwords), if not
# stored by `allybridge connect accessally`.
# app_password = { env = "ALLYBRIDGE_AA_APP_PASSWORD" }
# The handshake of AccessAlly's aal_* commands (AccessAlly > Settings > Advanced).
# handshake = { env = "ALLYBRIDGE_AA_HANDSHAKE" }
# The whsec_ secret AccessAlly signs this tenant's webhooks with; `serve`
# subscribes the site with it when public_url is set and no subscription
# sends there yet. Unset: the site makes one and allybridge stores it.
# webhook_secret = { env = "ALLYBRIDGE_AA_WEBHOOK_SECRET" }

[tenant.flows]
# Each flow is "off", "observe" (read-only: reports what it would do) or
# "write". Start with observe, check the log, then switch to write. A flow
# that writes to HighLevel then needs its write scopes: a new OAuth consent
# or more scopes on a private token (`allybridge check` names them).
coupons_to_accessally = "observe"
products_to_accessally = "observe"
products_to_highlevel = "observe"
orders_to_highlevel = "observe"
orders_to_accessally = "observe"

[tenant.products]
# When a product changed on both sides since the last sync:
# "ghl_wins", "accessally_wins" or "newest_wins".
conflict_policy = "ghl_wins"
# When a product is deleted on one side: "archive" (unpublish on the other),
# "delete" or "ignore".
delete_policy = "archive"

[tenant.orders]
# Tags added to the HighLevel contact of an AccessAlly buyer.
tags = ["accessally-buyer"]
# Tag added to the contact when the order is refunded.
refund_tag = "accessally-refunded"
# Add a note with the order summary to the contact.
note = true
# Mode of the payment recorded on the HighLevel invoice:
# "cash", "card", "cheque", "bank_transfer" or "other".
payment_mode = "other"
# Business name printed on HighLevel invoices.
business_name = "AccessAlly"
# How a paid HighLevel order grants access in AccessAlly:
# "bridge": the Bridge API's access grant creates the buyer's WordPress user
#   when missing and applies each linked offering's access tags, once per
#   order and offering.
# "aal_genpass": AccessAlly's own aal_genpass command, once per order, for
#   the buyer's contact in the site's CRM: the site creates (or links) the
#   user and pulls the contact's tags from the CRM, so access comes from the
#   tags your CRM holds (apply the offerings' access tags there). allybridge
#   finds the contact id on the buyer's orders at the site; a buyer without
#   one is dead-lettered with that reason. Needs [tenant.accessally] handshake.
grant_via = "bridge"

[tenant.mapping]
# Coupon codes are written to AccessAlly "preserve" (as typed in HighLevel)
# or "upper" (in upper case). An existing AccessAlly coupon is always found
# by its code ignoring case, so "launch20" and "LAUNCH20" are one coupon.
coupon_code = "preserve"
# Currency of HighLevel fixed-amount coupons (HighLevel does not record one).
coupon_currency = "USD"
# How a product and an offering are paired the first time:
# "sku": only through the references allybridge writes on what it creates
#   (the offering's external_ref "ghl:<product id>", the product's slug
#   "accessally-offering-<offering id>"); SKUs are copied across with the
#   prices. A record that already exists on the other side is not adopted:
#   it gets a counterpart of its own.
# "name": also an unlinked record with the same name (surrounding spaces
#   aside) on the other side, which is then kept in line instead of
#   duplicated; where the two differ and products sync both ways,
#   conflict_policy picks whose content wins. Each unpaired record costs a
#   read of the other side's whole catalog.
product_key = "sku"
# Only products with a SKU (a HighLevel price's SKU, an AccessAlly payment
# option's SKU) that starts with one of these prefixes sync, both ways
# (case-sensitive; empty: every product). Others are skipped and reported
# as such, never changed or deleted on the other side; a coupon keeps only
# its synced products' offerings (one restricted only to other products is
# skipped), and order items of other products grant nothing.
sku_prefixes = []
# Compare and write prices both ways. With false, prices are neither
# compared nor written, not even on the counterparts allybridge creates:
# each side keeps its own.
price = true
# Compare and write availability (inventory quantity) both ways. With false,
# it is neither compared nor written. HighLevel keeps inventory on prices:
# a HighLevel product without prices has none.
inventory = true
# AccessAlly order statuses that count as completed (become HighLevel payments).
completed_order_statuses = ["success", "sca_success"]
# AccessAlly order statuses that count as refunded (recorded as paid, then
# tagged with refund_tag and noted). A status may be in only one of the two lists.
refunded_order_statuses = ["refunded", "partially_refunded"]
# HighLevel order payment statuses that grant access: any of "paid",
# "unpaid", "refunded", "partially_paid". An order without a payment status
# grants access once it is completed.
paid_payment_statuses = ["paid"]
"#;
