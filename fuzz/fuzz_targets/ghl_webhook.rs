//! HighLevel webhooks: the verifier (`ghl::webhook`) over arbitrary bodies
//! and signature headers, and the event parser (`ghl::events`) over every
//! body the verifier accepts. The first byte chooses the case: a body
//! correctly signed with the target's Ed25519 key (so the JSON, timestamp,
//! id and event checks are reached), or a forged signature header (which
//! must never verify). Nothing may panic.
#![cfg_attr(fuzzing, no_main)]

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePublicKey;

#[cfg(not(fuzzing))]
mod replay;

fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let Ok(pem) = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
    else {
        return;
    };
    let Ok(public) = ghl::webhook::Ed25519PublicKey::parse(&pem) else {
        return;
    };
    let Ok(verifier) = ghl::webhook::WebhookVerifier::new(Some(public)) else {
        return;
    };
    let now = chrono::Utc::now();
    // The parser on its own, whatever the verifier says.
    if let Ok(value) = serde_json::from_slice(rest) {
        let event = ghl::events::GhlEvent::from_value(value);
        let _ = (event.name(), event.location_id(), event.record());
    }
    let result = if mode % 2 == 0 {
        let sig = base64_encode(&key.sign(rest).to_bytes());
        verifier.verify_raw(Some(sig.as_bytes()), None, rest, now)
    } else {
        let split = (mode as usize).min(rest.len());
        let (sig, body) = rest.split_at(split);
        let r = verifier.verify_raw(Some(sig), Some(sig), body, now);
        assert!(r.is_err(), "a forged signature verified");
        r
    };
    if let Ok(verified) = result {
        assert!(verified.payload.is_object());
        let event = ghl::events::GhlEvent::from_value(verified.payload);
        let _ = (event.name(), event.location_id(), event.record());
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| run(data));

#[cfg(not(fuzzing))]
fn main() {
    replay::main(run);
}
