//! Webhook intake checks against real deliveries of the HighLevel
//! simulator: both signature schemes over the exact bytes, tampered bodies,
//! stale and future timestamps (injected clock), duplicates, and typing of
//! every delivered event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ghl::events::{ChangeKind, EntityKind, GhlEvent, RecordRef};
use ghl::webhook::{
    Ed25519PublicKey, InMemorySeen, LEGACY_SIGNATURE_HEADER, OFFICIAL_RSA_PUBLIC_KEY_PEM,
    RsaPublicKey, SIGNATURE_HEADER, Scheme, Verified, WebhookError, WebhookVerifier,
};
use serde_json::{Value, json};
use sim_kit::RunningSim;

const VERSION: &str = "2021-07-28";

/// One received delivery.
#[derive(Clone, Debug)]
struct Delivery {
    headers: HeaderMap,
    body: Bytes,
}

/// A simulator whose webhooks go to a local receiver.
struct Harness {
    _sim: RunningSim,
    _receiver: RunningSim,
    got: Arc<Mutex<Vec<Delivery>>>,
    url: String,
    location: String,
    token: String,
    ed25519_pem: String,
    rsa_pem: String,
    http: reqwest::Client,
}

impl Harness {
    /// A simulator that also signs with the legacy RSA header.
    async fn start() -> Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(legacy_rsa_signature: bool) -> Result<Self> {
        let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let sink = got.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Delivery { headers, body });
                    StatusCode::OK
                }
            }),
        );
        let receiver = RunningSim::spawn("127.0.0.1:0".parse()?, app, |_| Value::Null).await?;
        let (sim, _) = sim_ghl::start(sim_ghl::SimConfig {
            webhook_url: Some(format!("{}/hook", receiver.url)),
            webhook_retry_spacing: Duration::from_millis(20),
            // Most tests prove the RSA fallback too: deliveries that still
            // carry the legacy header (the simulator's switch).
            legacy_rsa_signature,
            ..Default::default()
        })
        .await?;
        let info = sim.info.clone();
        let field = |k: &str| -> Result<String> {
            info[k]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("sim info has no {k}"))
        };
        Ok(Self {
            url: field("url")?,
            location: field("location_id")?,
            token: field("token")?,
            ed25519_pem: field("webhook_public_key")?,
            rsa_pem: field("webhook_rsa_public_key")?,
            _sim: sim,
            _receiver: receiver,
            got,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    /// A verifier with the simulator's keys.
    fn verifier(&self) -> Result<WebhookVerifier> {
        Ok(
            WebhookVerifier::new(Some(Ed25519PublicKey::parse(&self.ed25519_pem)?))?
                .with_rsa_key(Some(RsaPublicKey::parse(&self.rsa_pem)?)),
        )
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value> {
        let resp = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .header("Version", VERSION)
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Result<Value> {
        let resp = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "{path}: {status} {body}");
        Ok(body)
    }

    fn received(&self) -> Vec<Delivery> {
        self.got.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (at most 5 s) until `n` deliveries in all arrived.
    async fn wait_for(&self, n: usize) -> Result<Vec<Delivery>> {
        for _ in 0..500 {
            let got = self.received();
            if got.len() >= n {
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bail!("expected {n} deliveries, got {}", self.received().len())
    }

    /// Runs `change` and returns the deliveries it caused (`n` of them).
    async fn deliveries_of<F: Future<Output = Result<Value>>>(
        &self,
        n: usize,
        change: F,
    ) -> Result<(Value, Vec<Delivery>)> {
        let before = self.received().len();
        let out = change.await?;
        let got = self.wait_for(before + n).await?;
        Ok((out, got[before..].to_vec()))
    }

    async fn create_product(&self, name: &str) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/products/",
            json!({"name": name, "locationId": self.location, "productType": "DIGITAL"}),
        )
        .await
    }

    fn price_body(&self, amount: f64) -> Value {
        json!({"name": "Full", "type": "one_time", "currency": "USD", "amount": amount,
               "locationId": self.location, "sku": "SKU-1"})
    }
}

fn id(v: &Value) -> Result<String> {
    v["_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no _id in {v}"))
}

fn payload_timestamp(d: &Delivery) -> Result<DateTime<Utc>> {
    let v: Value = serde_json::from_slice(&d.body)?;
    let ts = v["timestamp"].as_str().context("no timestamp")?;
    Ok(DateTime::parse_from_rfc3339(ts)?.with_timezone(&Utc))
}

fn without(headers: &HeaderMap, name: &str) -> HeaderMap {
    let mut h = headers.clone();
    h.remove(name);
    h
}

/// Verifies one delivery with the Ed25519 key and types it.
fn verify_and_type(v: &WebhookVerifier, d: &Delivery) -> Result<(Verified, GhlEvent)> {
    let verified = v.verify(&d.headers, &d.body)?;
    ensure!(verified.scheme == Scheme::Ed25519);
    ensure!(!verified.duplicate);
    let event = GhlEvent::from_value(verified.payload.clone());
    ensure!(event.webhook_id() == Some(verified.webhook_id.as_str()));
    ensure!(
        GhlEvent::from_slice(&d.body)? == event,
        "bytes and payload type alike"
    );
    Ok((verified, event))
}

#[tokio::test]
async fn every_delivered_event_verifies_and_types() -> Result<()> {
    let h = Harness::start().await?;
    let v = h.verifier()?;
    let loc = Some(h.location.as_str());

    let (product, got) = h.deliveries_of(1, h.create_product("Course")).await?;
    let pid = id(&product)?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert_eq!(e.location_id(), loc);
    assert_eq!(e.name(), "ProductCreate");
    assert!(
        matches!(&e, GhlEvent::ProductChanged(p) if p.product_id == pid
            && p.kind == Some(ChangeKind::Create) && p.product_type.as_deref() == Some("DIGITAL"))
    );
    assert_eq!(
        e.record(),
        Some(RecordRef {
            kind: EntityKind::Product,
            id: pid.clone(),
            parent_id: None
        })
    );

    let price_path = format!("/products/{pid}/price");
    let (price, got) = h
        .deliveries_of(
            1,
            h.call(reqwest::Method::POST, &price_path, h.price_body(99.5)),
        )
        .await?;
    let price_id = id(&price)?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::PriceChanged(p) if p.price_id == price_id
            && p.product_id.as_deref() == Some(pid.as_str())
            && p.price_type.as_deref() == Some("one_time")
            && p.kind == Some(ChangeKind::Create)),
        "{e:?}"
    );
    assert_eq!(e.location_id(), loc);
    assert_eq!(
        e.record(),
        Some(RecordRef {
            kind: EntityKind::Price,
            id: price_id.clone(),
            parent_id: Some(pid.clone())
        })
    );

    // PriceUpdate uses `type` for the price type: the kind cannot be told.
    let one_price = format!("/products/{pid}/price/{price_id}");
    let (_, got) = h
        .deliveries_of(
            1,
            h.call(reqwest::Method::PUT, &one_price, h.price_body(120.0)),
        )
        .await?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::PriceChanged(p) if p.price_id == price_id
            && p.price_type.as_deref() == Some("one_time") && p.kind.is_none()),
        "{e:?}"
    );

    // ProductUpdate: a product payload with createdAt != updatedAt.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, got) = h
        .deliveries_of(
            1,
            h.call(
                reqwest::Method::PUT,
                &format!("/products/{pid}"),
                json!({"name": "Course v2", "locationId": h.location, "productType": "DIGITAL"}),
            ),
        )
        .await?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(matches!(&e, GhlEvent::ProductChanged(p) if p.product_id == pid && p.kind.is_none()));

    // A checkout: ContactCreate then OrderCreate.
    let (order, got) = h
        .deliveries_of(
            2,
            h.control(
                reqwest::Method::POST,
                "/__sim/orders",
                json!({"email": "buyer@example.com", "firstName": "B", "lastName": "Uyer",
                   "items": [{"productId": pid, "priceId": price_id}]}),
            ),
        )
        .await?;
    let order_id = id(&order)?;
    let contact_id = order["contactId"]
        .as_str()
        .context("contactId")?
        .to_string();
    let events: Vec<GhlEvent> = got
        .iter()
        .map(|d| verify_and_type(&v, d).map(|(_, e)| e))
        .collect::<Result<_>>()?;
    let contact = events
        .iter()
        .find(|e| matches!(e, GhlEvent::ContactCreate(_)))
        .context("a ContactCreate")?;
    assert!(
        matches!(contact, GhlEvent::ContactCreate(c) if c.contact_id == contact_id
            && c.email.as_deref() == Some("buyer@example.com"))
    );
    assert_eq!(contact.location_id(), loc);
    let order_event = events
        .iter()
        .find(|e| matches!(e, GhlEvent::OrderCreate(_)))
        .context("an OrderCreate")?;
    match order_event {
        GhlEvent::OrderCreate(o) => {
            assert_eq!(o.order_id, order_id);
            assert_eq!(o.contact_id.as_deref(), Some(contact_id.as_str()));
            assert_eq!(o.location_id.as_deref(), loc);
            assert!(o.status.is_some());
            assert_eq!(o.items.len(), 1);
            assert_eq!(o.items[0].product_id.as_deref(), Some(pid.as_str()));
            assert_eq!(o.items[0].price_id.as_deref(), Some(price_id.as_str()));
        }
        other => bail!("not an order: {other:?}"),
    }
    assert_eq!(
        order_event.record().map(|r| r.kind),
        Some(EntityKind::Order)
    );

    // A refund: OrderStatusUpdate.
    let (_, got) = h
        .deliveries_of(
            1,
            h.control(
                reqwest::Method::POST,
                &format!("/__sim/orders/{order_id}/status"),
                json!({"paymentStatus": "refunded"}),
            ),
        )
        .await?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::OrderStatusUpdate(o) if o.order_id == order_id),
        "{e:?}"
    );

    // An invoice: InvoiceCreate, located through altId.
    let invoice_body = json!({
        "altId": h.location, "altType": "location", "name": "Order 1", "currency": "USD",
        "businessDetails": {"name": "Shop"},
        "items": [{"name": "Course", "currency": "USD", "amount": 10, "qty": 1}],
        "discount": {"type": "fixed", "value": 0},
        "contactDetails": {"id": contact_id, "name": "B Uyer", "email": "buyer@example.com", "phoneNo": "+15550100"},
        "issueDate": "2026-01-01", "sentTo": {"email": ["buyer@example.com"]}, "liveMode": false
    });
    let (invoice, got) = h
        .deliveries_of(1, h.call(reqwest::Method::POST, "/invoices/", invoice_body))
        .await?;
    let invoice_id = id(&invoice)?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::InvoiceCreate(i) if i.invoice_id == invoice_id),
        "{e:?}"
    );
    assert_eq!(e.location_id(), loc);

    // Deletes: the price, then the product.
    let (_, got) = h
        .deliveries_of(
            1,
            h.call(
                reqwest::Method::DELETE,
                &format!("{one_price}?locationId={}", h.location),
                json!({}),
            ),
        )
        .await?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::PriceChanged(p) if p.price_id == price_id),
        "{e:?}"
    );
    let (_, got) = h
        .deliveries_of(
            1,
            h.call(
                reqwest::Method::DELETE,
                &format!("/products/{pid}?locationId={}", h.location),
                json!({}),
            ),
        )
        .await?;
    let (_, e) = verify_and_type(&v, &got[0])?;
    assert!(
        matches!(&e, GhlEvent::ProductChanged(p) if p.product_id == pid),
        "{e:?}"
    );

    // Nothing went unrecognised.
    for d in h.received() {
        let e = GhlEvent::from_slice(&d.body)?;
        assert!(!e.is_unknown(), "{e:?}");
        assert!(e.record().is_some());
    }
    Ok(())
}

#[tokio::test]
async fn deliveries_signed_with_ed25519_only_verify() -> Result<()> {
    // HighLevel's deliveries today (the simulator's default): no RSA header.
    let h = Harness::start_with(false).await?;
    let (_, got) = h.deliveries_of(1, h.create_product("Modern")).await?;
    let d = &got[0];
    ensure!(d.headers.get(LEGACY_SIGNATURE_HEADER).is_none());
    let ok = h.verifier()?.verify(&d.headers, &d.body)?;
    assert_eq!(ok.scheme, Scheme::Ed25519);
    assert_eq!(
        h.verifier()?
            .verify(&without(&d.headers, SIGNATURE_HEADER), &d.body),
        Err(WebhookError::MissingSignature)
    );
    Ok(())
}

#[tokio::test]
async fn rsa_is_checked_only_without_the_ed25519_header() -> Result<()> {
    let h = Harness::start().await?;
    let (_, got) = h.deliveries_of(1, h.create_product("Legacy")).await?;
    let d = &got[0];
    let legacy = without(&d.headers, SIGNATURE_HEADER);

    // Stripped of x-ghl-signature, the RSA signature verifies with the sim's key.
    let v = h.verifier()?;
    let ok = v.verify(&legacy, &d.body)?;
    assert_eq!(ok.scheme, Scheme::Rsa);
    assert!(matches!(
        GhlEvent::from_value(ok.payload),
        GhlEvent::ProductChanged(_)
    ));

    // With the official key (the default), the sim's signature is not HighLevel's.
    let official = WebhookVerifier::new(Some(Ed25519PublicKey::parse(&h.ed25519_pem)?))?;
    assert_eq!(
        official.verify(&legacy, &d.body),
        Err(WebhookError::BadSignature {
            header: LEGACY_SIGNATURE_HEADER
        })
    );

    // A present but bad x-ghl-signature is final: no fallback to a good RSA one.
    let mut bad_ed = d.headers.clone();
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let forged = base64_encode(&other.sign(&d.body).to_bytes());
    bad_ed.insert(SIGNATURE_HEADER, forged.parse()?);
    assert_eq!(
        v.verify(&bad_ed, &d.body),
        Err(WebhookError::BadSignature {
            header: SIGNATURE_HEADER
        })
    );

    // Without an Ed25519 key (legacy mode), the RSA signature is the one checked.
    let rsa_only = h.verifier()?.with_ed25519_key(None);
    assert_eq!(rsa_only.verify(&bad_ed, &d.body)?.scheme, Scheme::Rsa);
    Ok(())
}

#[tokio::test]
async fn tampered_malformed_missing_and_oversized_are_rejected() -> Result<()> {
    let h = Harness::start().await?;
    let (_, got) = h.deliveries_of(1, h.create_product("Tamper")).await?;
    let d = &got[0];
    let v = h.verifier()?;
    let legacy = without(&d.headers, SIGNATURE_HEADER);

    let mut tampered = d.body.to_vec();
    tampered[5] ^= 1;
    assert_eq!(
        v.verify(&d.headers, &tampered),
        Err(WebhookError::BadSignature {
            header: SIGNATURE_HEADER
        })
    );
    assert_eq!(
        v.verify(&legacy, &tampered),
        Err(WebhookError::BadSignature {
            header: LEGACY_SIGNATURE_HEADER
        })
    );
    // Re-serialised JSON is not the bytes that were signed.
    let pretty = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&d.body)?)?;
    assert!(v.verify(&d.headers, &pretty).is_err());

    let neither = without(&legacy, LEGACY_SIGNATURE_HEADER);
    assert_eq!(
        v.verify(&neither, &d.body),
        Err(WebhookError::MissingSignature)
    );

    let mut garbage = d.headers.clone();
    garbage.insert(SIGNATURE_HEADER, "not*base64!".parse()?);
    assert_eq!(
        v.verify(&garbage, &d.body),
        Err(WebhookError::MalformedSignature {
            header: SIGNATURE_HEADER
        })
    );
    let mut short = legacy.clone();
    short.insert(LEGACY_SIGNATURE_HEADER, "AAAA".parse()?);
    assert!(matches!(
        v.verify(&short, &d.body),
        Err(WebhookError::MalformedSignature { .. } | WebhookError::BadSignature { .. })
    ));
    let mut twice = d.headers.clone();
    let sig = d
        .headers
        .get(SIGNATURE_HEADER)
        .context("signature")?
        .clone();
    twice.append(SIGNATURE_HEADER, sig);
    assert!(matches!(
        v.verify(&twice, &d.body),
        Err(WebhookError::MalformedSignature { .. })
    ));

    let small = h.verifier()?.with_max_body_bytes(16);
    assert_eq!(
        small.verify(&d.headers, &d.body),
        Err(WebhookError::BodyTooLarge {
            len: d.body.len(),
            max: 16
        })
    );
    let huge = vec![b'{'; 2 * 1024 * 1024];
    assert!(matches!(
        v.verify(&d.headers, &huge),
        Err(WebhookError::BodyTooLarge { .. })
    ));

    // Errors and Debug output carry no body, signature or key.
    let sig_text = d.headers[SIGNATURE_HEADER].to_str()?.to_string();
    let texts = [
        format!("{v:?}"),
        format!("{:?}", Ed25519PublicKey::parse(&h.ed25519_pem)?),
        format!("{:?}", RsaPublicKey::parse(&h.rsa_pem)?),
        v.verify(&d.headers, &tampered)
            .err()
            .map(|e| format!("{e} {e:?}"))
            .unwrap_or_default(),
    ];
    let body_text = String::from_utf8_lossy(&d.body).to_string();
    let key_line = h.ed25519_pem.lines().nth(1).unwrap_or("-").to_string();
    for t in &texts {
        assert!(!t.contains(&sig_text) && !t.contains(&key_line) && !t.contains(&body_text));
        assert!(!t.contains("Tamper"), "{t}");
    }
    Ok(())
}

#[tokio::test]
async fn stale_and_future_timestamps_are_rejected() -> Result<()> {
    let h = Harness::start().await?;
    let (_, got) = h.deliveries_of(1, h.create_product("Clock")).await?;
    let d = &got[0];
    let ts = payload_timestamp(d)?;
    let at = |offset_ms: i64| {
        let now = ts + chrono::Duration::milliseconds(offset_ms);
        h.verifier().map(|v| {
            v.with_seen(Arc::new(InMemorySeen::default()))
                .with_clock(Arc::new(move || now))
        })
    };
    let five_min = 5 * 60 * 1000;
    assert!(at(five_min - 1)?.verify(&d.headers, &d.body).is_ok());
    assert!(at(-(five_min - 1))?.verify(&d.headers, &d.body).is_ok());
    assert_eq!(
        at(five_min + 1000)?.verify(&d.headers, &d.body),
        Err(WebhookError::StaleTimestamp {
            age_secs: 301,
            limit_secs: 300
        })
    );
    assert_eq!(
        at(-(five_min + 1000))?.verify(&d.headers, &d.body),
        Err(WebhookError::FutureTimestamp {
            ahead_secs: 301,
            limit_secs: 300
        })
    );
    // A day late, through the legacy scheme too.
    let legacy = without(&d.headers, SIGNATURE_HEADER);
    assert!(matches!(
        at(86_400_000)?.verify(&legacy, &d.body),
        Err(WebhookError::StaleTimestamp { .. })
    ));
    // The tolerance is configurable.
    let strict = h
        .verifier()?
        .with_tolerance(Duration::from_secs(1))
        .with_clock(Arc::new(move || ts + chrono::Duration::seconds(2)));
    assert!(matches!(
        strict.verify(&d.headers, &d.body),
        Err(WebhookError::StaleTimestamp { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn duplicate_deliveries_are_reported() -> Result<()> {
    let h = Harness::start().await?;
    h.control(
        reqwest::Method::PUT,
        "/__sim/faults",
        json!({"webhook_duplicate_rate": 1.0}),
    )
    .await?;
    let (_, got) = h.deliveries_of(2, h.create_product("Twice")).await?;
    assert_eq!(got[0].body, got[1].body, "the same bytes twice");
    let seen = Arc::new(InMemorySeen::default());
    let v = h.verifier()?.with_seen(seen.clone());
    let first = v.verify(&got[0].headers, &got[0].body)?;
    let second = v.verify(&got[1].headers, &got[1].body)?;
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.webhook_id, second.webhook_id);
    // The seen-check is shared: another verifier (another scheme) sees it too.
    let other = h.verifier()?.with_seen(seen.clone());
    let legacy = without(&got[1].headers, SIGNATURE_HEADER);
    assert!(other.verify(&legacy, &got[1].body)?.duplicate);
    // Rejected deliveries are not recorded.
    let mut tampered = got[0].body.to_vec();
    tampered[3] ^= 1;
    assert!(v.verify(&got[0].headers, &tampered).is_err());
    assert_eq!(seen.len(), 1);
    Ok(())
}

#[test]
fn locally_signed_bodies_reach_the_payload_checks() -> Result<()> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let pem = key
        .verifying_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)?;
    let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")?.with_timezone(&Utc);
    let v = WebhookVerifier::new(Some(Ed25519PublicKey::parse(&pem)?))?
        .with_clock(Arc::new(move || now));
    let check = |body: &[u8]| {
        let mut headers = HeaderMap::new();
        let sig = base64_encode(&key.sign(body).to_bytes());
        headers.insert(
            SIGNATURE_HEADER,
            sig.parse().map_err(|_| anyhow!("header"))?,
        );
        anyhow::Ok(v.verify(&headers, body))
    };
    assert!(matches!(
        check(b"{not json")?,
        Err(WebhookError::UnparsableBody { line: 1, .. })
    ));
    assert_eq!(check(b"[1,2]")?, Err(WebhookError::NotAnObject));
    assert_eq!(
        check(br#"{"webhookId":"w"}"#)?,
        Err(WebhookError::MissingTimestamp)
    );
    assert_eq!(
        check(br#"{"webhookId":"w","timestamp":"soon"}"#)?,
        Err(WebhookError::BadTimestamp)
    );
    assert_eq!(
        check(br#"{"timestamp":"2026-03-01T12:00:00.000Z"}"#)?,
        Err(WebhookError::MissingWebhookId)
    );
    let ok = check(
        br#"{"type":"UNINSTALL","appId":"a","locationId":"L","timestamp":"2026-03-01T11:59:00Z","webhookId":"w1"}"#,
    )??;
    assert!(matches!(
        GhlEvent::from_value(ok.payload),
        GhlEvent::AppUninstall(a) if a.location_id.as_deref() == Some("L") && a.app_id.as_deref() == Some("a")
    ));
    Ok(())
}

#[test]
fn keys_load_in_each_published_form() -> Result<()> {
    // The official RSA key shipped in the crate.
    let official = RsaPublicKey::official()?;
    assert_eq!(format!("{official:?}"), "RsaPublicKey(..)");
    assert!(OFFICIAL_RSA_PUBLIC_KEY_PEM.contains("BEGIN PUBLIC KEY"));
    let bare_rsa: String = OFFICIAL_RSA_PUBLIC_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    RsaPublicKey::parse(&bare_rsa)?;
    RsaPublicKey::parse(&OFFICIAL_RSA_PUBLIC_KEY_PEM.replace('\n', "\\n"))?;
    assert!(
        RsaPublicKey::parse("MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=")
            .is_err()
    );

    // Ed25519: the bare base64 SPKI form HighLevel publishes, and PEM.
    let bare = "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=";
    Ed25519PublicKey::parse(bare)?;
    let pem = format!("-----BEGIN PUBLIC KEY-----\n{bare}\n-----END PUBLIC KEY-----\n");
    Ed25519PublicKey::parse(&pem)?;
    assert!(Ed25519PublicKey::parse(&bare_rsa).is_err());
    assert!(Ed25519PublicKey::parse("").is_err());
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn verifier_and_events_can_be_shared_across_tasks() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<WebhookVerifier>();
    shared::<InMemorySeen>();
    shared::<GhlEvent>();
    shared::<WebhookError>();
}
