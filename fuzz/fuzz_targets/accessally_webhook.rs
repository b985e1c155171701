//! AccessAlly webhooks: the verifier (`accessally::webhook`) over arbitrary
//! ids, timestamps, signature headers and bodies. The first byte chooses
//! the case: a body correctly signed with the target's secret (so the
//! payload and topic checks are reached) or forged headers (which must
//! never verify). Nothing may panic.
#![cfg_attr(fuzzing, no_main)]

use secrecy::SecretString;

#[cfg(not(fuzzing))]
mod replay;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let secret = SecretString::from(SECRET.to_string());
    let Ok(verifier) = accessally::WebhookVerifier::new(
        &secret,
        std::sync::Arc::new(accessally::InMemorySeenIds::default()),
    ) else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    if mode % 2 == 0 {
        let id = format!("msg_{mode}");
        let Ok(sig) = accessally::webhook::sign(&secret, &id, now, rest) else {
            return;
        };
        if let Ok(event) = verifier.verify_parts(&id, &now.to_string(), &sig, rest, now) {
            let _ = (event.order(), event.offering(), event.coupon());
        }
    } else {
        // id \n timestamp \n signatures \n body
        let mut parts = rest.splitn(4, |b| *b == b'\n');
        let text = |p: Option<&[u8]>| String::from_utf8_lossy(p.unwrap_or_default()).to_string();
        let (id, ts, sig) = (text(parts.next()), text(parts.next()), text(parts.next()));
        let body = parts.next().unwrap_or_default();
        let r = verifier.verify_parts(&id, &ts, &sig, body, now);
        assert!(r.is_err(), "a forged delivery verified");
    }
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main(run);
}
