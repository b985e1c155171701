//! The simulator's webhook keys and signatures: `x-ghl-signature` is a
//! base64 Ed25519 signature and `x-wh-signature` (legacy, sent only when
//! `SimConfig::legacy_rsa_signature` is on) a base64 RSA-SHA256 (PKCS#1
//! v1.5) signature, both over the exact bytes of the body sent. Keys are
//! generated once per process and published as PEM.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePublicKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::LineEnding;
use rsa::signature::SignatureEncoding;
use sha2::Sha256;

/// The simulator's signing keys.
pub struct WebhookKeys {
    ed25519: ed25519_dalek::SigningKey,
    rsa: SigningKey<Sha256>,
    /// Ed25519 public key, SPKI PEM.
    pub ed25519_public_pem: String,
    /// RSA public key, SPKI PEM (the form HighLevel publishes its key in).
    pub rsa_public_pem: String,
}

/// RSA modulus size. HighLevel's published key is 4096 bits; verification
/// does not depend on the size, and 2048 keeps start-up fast.
const RSA_BITS: usize = 2048;

impl WebhookKeys {
    fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let ed25519 = ed25519_dalek::SigningKey::generate(&mut rng);
        let ed25519_public_pem = ed25519
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default();
        let (rsa, rsa_public_pem) = match rsa::RsaPrivateKey::new(&mut rng, RSA_BITS) {
            Ok(private) => {
                let public = rsa::RsaPublicKey::from(&private);
                let pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(&public, LineEnding::LF)
                    .unwrap_or_default();
                (SigningKey::<Sha256>::new(private), pem)
            }
            Err(e) => panic!("RSA key generation failed: {e}"),
        };
        Self {
            ed25519,
            rsa,
            ed25519_public_pem,
            rsa_public_pem,
        }
    }

    /// The keys of this process, generated on first use.
    pub fn get() -> &'static WebhookKeys {
        static KEYS: OnceLock<WebhookKeys> = OnceLock::new();
        KEYS.get_or_init(WebhookKeys::generate)
    }

    /// `x-ghl-signature` for `body`.
    pub fn sign_ed25519(&self, body: &[u8]) -> String {
        B64.encode(self.ed25519.sign(body).to_bytes())
    }

    /// `x-wh-signature` for `body`.
    pub fn sign_rsa(&self, body: &[u8]) -> String {
        B64.encode(self.rsa.sign(body).to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_published_keys() {
        let keys = WebhookKeys::get();
        let body = br#"{"type":"ContactCreate","id":"x"}"#;
        let vk =
            ed25519_dalek::VerifyingKey::from_public_key_pem(&keys.ed25519_public_pem).unwrap();
        let sig = B64.decode(keys.sign_ed25519(body)).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        assert!(vk.verify(body, &sig).is_ok());
        assert!(vk.verify(b"tampered", &sig).is_err());

        use rsa::pkcs8::DecodePublicKey as _;
        let public = rsa::RsaPublicKey::from_public_key_pem(&keys.rsa_public_pem).unwrap();
        let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let sig = B64.decode(keys.sign_rsa(body)).unwrap();
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        use rsa::signature::Verifier as _;
        assert!(vk.verify(body, &sig).is_ok());
        assert!(vk.verify(b"tampered", &sig).is_err());
    }
}
