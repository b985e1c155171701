//! Webhook intake: verify the signature over the raw bytes, parse, and make
//! the event durable together with the job it causes (one transaction),
//! before the caller acknowledges. The payload is never trusted as the
//! truth: the job only names the record, which the handler fetches fresh.
//! Duplicates (same event id) are acknowledged and cause nothing.
//! HighLevel retries only on 429, so a store failure answers 429 there.

use std::sync::Arc;

use accessally::Topic;
use ghl::events::{EntityKind, GhlEvent};
use http::HeaderMap;
use store::{InboundEvent, NewJob, Priority, Store, System};

use crate::flows::{entities, kinds};
use crate::tenant::Tenant;
use crate::worker::job;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    /// HTTP status to answer.
    pub status: u16,
    /// Short reason, safe to show (no payload, no secret).
    pub message: String,
    /// Whether a job was enqueued (or merged into a pending one).
    pub enqueued: bool,
    pub duplicate: bool,
}

impl Intake {
    fn reject(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            enqueued: false,
            duplicate: false,
        }
    }
}

/// Verifies and stores HighLevel and AccessAlly deliveries.
pub struct Receiver {
    store: Store,
    tenants: Vec<Tenant>,
    ghl: Arc<ghl::webhook::WebhookVerifier>,
    /// Per tenant name: the verifier of its AccessAlly subscription.
    accessally: std::collections::HashMap<String, Arc<accessally::WebhookVerifier>>,
}

impl Receiver {
    pub fn new(
        store: Store,
        tenants: Vec<Tenant>,
        ghl: ghl::webhook::WebhookVerifier,
        accessally: std::collections::HashMap<String, accessally::WebhookVerifier>,
    ) -> Self {
        Self {
            store,
            tenants,
            ghl: Arc::new(ghl),
            accessally: accessally
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
        }
    }

    /// Replaces a tenant's AccessAlly verifier (after subscribing).
    pub fn set_accessally_verifier(&mut self, tenant: &str, verifier: accessally::WebhookVerifier) {
        self.accessally
            .insert(tenant.to_string(), Arc::new(verifier));
    }

    /// One HighLevel delivery.
    pub async fn highlevel(&self, headers: &HeaderMap, body: &[u8]) -> Intake {
        let verified = match self.ghl.verify(headers, body) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "HighLevel webhook rejected");
                return Intake::reject(e.http_status(), e.to_string());
            }
        };
        let event = GhlEvent::from_value(verified.payload.clone());
        let tenant = event
            .location_id()
            .and_then(|loc| self.tenants.iter().find(|t| t.ghl.location_id() == loc));
        let job = match tenant {
            Some(t) => self.ghl_job(t, &event).await,
            None => None,
        };
        let inbound = InboundEvent {
            source: System::HighLevel,
            event_id: verified.webhook_id.clone(),
            event_type: event.name().to_string(),
            payload: verified.payload,
        };
        if event.is_unknown() {
            tracing::info!(
                event = event.name(),
                "unknown HighLevel event kept in the inbox"
            );
        }
        self.accept(&inbound, job.as_ref(), 429).await
    }

    /// One AccessAlly delivery for `tenant`.
    pub async fn accessally(&self, tenant: &str, headers: &HeaderMap, body: &[u8]) -> Intake {
        let (Some(t), Some(verifier)) = (
            self.tenants.iter().find(|t| t.name == tenant),
            self.accessally.get(tenant),
        ) else {
            return Intake::reject(
                404,
                format!("no AccessAlly site is configured for tenant `{tenant}`"),
            );
        };
        let now = chrono::Utc::now().timestamp();
        let event = match verifier.verify_signature_at(headers, body, now) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, tenant, "AccessAlly webhook rejected");
                let status = match e {
                    accessally::WebhookError::InvalidPayload(_) => 400,
                    _ => 401,
                };
                return Intake::reject(status, e.to_string());
            }
        };
        let id = event
            .data
            .get("id")
            .and_then(|v| v.as_u64())
            .map(|n| n.to_string());
        let kind = match event.topic {
            Topic::OrderCompleted | Topic::OrderRefunded => Some(kinds::ORDER_TO_GHL),
            Topic::OfferingCreated | Topic::OfferingUpdated | Topic::OfferingDeleted => {
                Some(kinds::PRODUCT_TO_GHL)
            }
            _ => None,
        };
        let job = match (kind, id) {
            (Some(k), Some(id)) => Some(job(t, k, &id, Priority::Live)),
            _ => None,
        };
        let inbound = InboundEvent {
            source: System::AccessAlly,
            event_id: event.id.clone(),
            event_type: event.topic.as_str().to_string(),
            payload: event.data,
        };
        self.accept(&inbound, job.as_ref(), 503).await
    }

    async fn accept(&self, inbound: &InboundEvent, job: Option<&NewJob>, busy: u16) -> Intake {
        match self.store.accept_event(inbound, job).await {
            Ok(accepted) => Intake {
                status: 200,
                message: if accepted.new {
                    "accepted".into()
                } else {
                    "duplicate".into()
                },
                enqueued: accepted.job.is_some(),
                duplicate: !accepted.new,
            },
            Err(e) => {
                tracing::error!(error = %e, "could not store a webhook; asking the sender to retry");
                Intake::reject(busy, "temporarily unable to store the event; retry later")
            }
        }
    }

    /// The job a HighLevel event causes, if any. A product's or price's
    /// change reported while allybridge is syncing that product, or just
    /// after, is most likely the echo of allybridge's own write (a bulk
    /// edit fires one per product and price): its job queues after live
    /// work, at a poll's priority, so that a backlog's echoes do not delay
    /// the next single change. It still runs: only a read tells an echo
    /// from a change (a price's payload cannot tell an update from a
    /// delete).
    async fn ghl_job(&self, tenant: &Tenant, event: &GhlEvent) -> Option<NewJob> {
        let record = event.record()?;
        let (kind, id) = match record.kind {
            EntityKind::Product => (kinds::PRODUCT_TO_AA, record.id),
            EntityKind::Price => (kinds::PRODUCT_TO_AA, record.parent_id?),
            EntityKind::Order => (kinds::ORDER_TO_AA, record.id),
            _ => return None,
        };
        let priority = if kind == kinds::PRODUCT_TO_AA && self.likely_echo(tenant, &id).await {
            Priority::Poll
        } else {
            Priority::Live
        };
        Some(job(tenant, kind, &id, priority))
    }

    /// Whether allybridge synced HighLevel product `id` within
    /// [`ECHO_WINDOW`], or is syncing it from AccessAlly now. A store error
    /// answers no (the job stays live).
    async fn likely_echo(&self, tenant: &Tenant, id: &str) -> bool {
        let entity = tenant.entity(entities::PRODUCT);
        let Ok(Some(link)) = self.store.find_link(&entity, System::HighLevel, id).await else {
            return false;
        };
        if chrono::Utc::now() - link.updated_at < ECHO_WINDOW {
            return true;
        }
        let key = crate::flows::dedupe_key(tenant, kinds::PRODUCT_TO_GHL, &link.accessally_id);
        self.store
            .open_jobs(&key)
            .await
            .is_ok_and(|open| open.running)
    }
}

/// How long after allybridge synced a product a HighLevel change of it is
/// taken for the sync's echo (see [`Receiver::ghl_job`]).
const ECHO_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
