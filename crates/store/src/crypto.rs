//! Encryption of credentials at rest. This module owns the master key (from
//! `ALLYBRIDGE_MASTER_KEY` or a 0600 key file), the keyring used during a
//! rotation, and the sealed-blob format: XChaCha20-Poly1305 with a random
//! nonce and associated data that binds each ciphertext to its table, row,
//! column and key id. It must not touch the database and must never log,
//! print or put into an error any key or plaintext.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// Environment variable holding the base64 encoding of the 32-byte master key.
pub const MASTER_KEY_ENV: &str = "ALLYBRIDGE_MASTER_KEY";
/// Environment variable holding previous master keys (base64, comma
/// separated), needed only while a rotation is in progress elsewhere.
pub const PREVIOUS_MASTER_KEYS_ENV: &str = "ALLYBRIDGE_PREVIOUS_MASTER_KEYS";

const SEALED_FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// The 32-byte key all credentials are encrypted under, with its public id
/// (a hash prefix, safe to store and print).
pub struct MasterKey {
    id: String,
    key: SecretBox<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        MasterKey::from_bytes(*self.key.expose_secret())
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        MasterKey::from_bytes(*bytes)
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"allybridge master key id v1\0");
        hasher.update(bytes);
        let digest = hasher.finalize();
        let id = digest[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        MasterKey {
            id,
            key: SecretBox::new(Box::new(bytes)),
        }
    }

    /// Parses the base64 text of a 32-byte key.
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let decoded = Zeroizing::new(BASE64.decode(text.trim()).map_err(|_| {
            StoreError::InvalidMasterKey(
                "it is not valid base64; generate one with `allybridge init` or `openssl rand -base64 32`".into(),
            )
        })?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            StoreError::InvalidMasterKey(format!(
                "it decodes to {} bytes, expected 32",
                decoded.len()
            ))
        })?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key from `ALLYBRIDGE_MASTER_KEY`, if that variable is set.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(text) => MasterKey::from_base64(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::InvalidMasterKey(format!(
                "{MASTER_KEY_ENV} is not valid UTF-8"
            ))),
        }
    }

    /// Reads the key file at `path`.
    pub fn load_file(path: &Path) -> Result<Self, StoreError> {
        let key_file_error = |source| StoreError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        let text = Zeroizing::new(fs::read_to_string(path).map_err(key_file_error)?);
        MasterKey::from_base64(&text)
    }

    /// Reads the key file at `path`, or creates it with a new random key,
    /// readable and writable only by its owner (mode 0600).
    pub fn load_or_create_file(path: &Path) -> Result<Self, StoreError> {
        if path.exists() {
            return MasterKey::load_file(path);
        }
        let key = MasterKey::generate();
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let key_file_error = |source| StoreError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match options.open(path) {
            Ok(file) => file,
            // Another process created it first: use that one.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return MasterKey::load_file(path);
            }
            Err(error) => return Err(key_file_error(error)),
        };
        let encoded = key.to_base64();
        file.write_all(encoded.expose_secret().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(key_file_error)?;
        Ok(key)
    }

    /// The key from the environment if set, else from the key file (created
    /// when missing).
    pub fn from_env_or_file(path: &Path) -> Result<Self, StoreError> {
        match MasterKey::from_env()? {
            Some(key) => Ok(key),
            None => MasterKey::load_or_create_file(path),
        }
    }

    /// The key's base64 text, for writing a key file or showing once on `init`.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(BASE64.encode(self.key.expose_secret()))
    }

    /// The key's public id, stored beside every ciphertext.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.expose_secret().into())
    }
}

/// The current master key (used for every new encryption) and any previous
/// ones (used only to decrypt rows not yet re-encrypted).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Self {
        Keyring {
            current,
            previous: Vec::new(),
        }
    }

    pub fn with_previous(mut self, previous: MasterKey) -> Self {
        if previous.id != self.current.id && !self.previous.iter().any(|key| key.id == previous.id)
        {
            self.previous.push(previous);
        }
        self
    }

    /// Current key from `ALLYBRIDGE_MASTER_KEY` (or the key file at
    /// `key_file`), previous keys from `ALLYBRIDGE_PREVIOUS_MASTER_KEYS`.
    pub fn from_env_or_file(key_file: &Path) -> Result<Self, StoreError> {
        let mut keyring = Keyring::new(MasterKey::from_env_or_file(key_file)?);
        if let Ok(list) = std::env::var(PREVIOUS_MASTER_KEYS_ENV) {
            for encoded in list.split(',').filter(|item| !item.trim().is_empty()) {
                keyring = keyring.with_previous(MasterKey::from_base64(encoded)?);
            }
        }
        Ok(keyring)
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Ids of all keys this keyring can decrypt with, current first.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .map(|key| key.id.clone())
            .collect()
    }

    pub(crate) fn knows(&self, key_id: &str) -> bool {
        self.find(key_id).is_some()
    }

    fn find(&self, key_id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|key| key.id == key_id)
    }

    /// Makes `new_current` the current key and keeps the old current one for
    /// decrypting rows not yet re-encrypted.
    pub(crate) fn rotated_to(&self, new_current: MasterKey) -> Keyring {
        let mut previous = vec![self.current.clone()];
        previous.extend(self.previous.iter().cloned());
        previous.retain(|key| key.id != new_current.id);
        Keyring {
            current: new_current,
            previous,
        }
    }
}

/// Which stored cell a ciphertext belongs to; part of the associated data,
/// so a ciphertext copied into another row or column fails to decrypt.
pub(crate) struct CellAddress<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row_key: &'a [&'a str],
}

fn associated_data(cell: &CellAddress<'_>, key_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(128);
    aad.extend_from_slice(b"allybridge/v1");
    for part in [cell.table, cell.column]
        .into_iter()
        .chain(cell.row_key.iter().copied())
        .chain(std::iter::once(key_id))
    {
        aad.push(0);
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part.as_bytes());
    }
    aad
}

/// Encrypts `plaintext` for `cell` under the keyring's current key. Returns
/// the key id and the sealed blob (version byte, nonce, ciphertext and tag).
pub(crate) fn seal(
    keyring: &Keyring,
    cell: &CellAddress<'_>,
    plaintext: &[u8],
) -> Result<(String, Vec<u8>), StoreError> {
    let key = &keyring.current;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = associated_data(cell, &key.id);
    let ciphertext = key
        .cipher()
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| StoreError::Invalid {
            what: "credential",
            why: "it is too large to encrypt".into(),
        })?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(SEALED_FORMAT_VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok((key.id.clone(), sealed))
}

/// Why a sealed blob could not be opened.
pub(crate) enum OpenFailure {
    UnknownKey,
    Malformed,
    Authentication,
}

/// Decrypts a blob sealed by [`seal`] for the same `cell`.
pub(crate) fn open(
    keyring: &Keyring,
    cell: &CellAddress<'_>,
    key_id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenFailure> {
    let key = keyring.find(key_id).ok_or(OpenFailure::UnknownKey)?;
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_FORMAT_VERSION {
        return Err(OpenFailure::Malformed);
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let aad = associated_data(cell, key_id);
    key.cipher()
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenFailure::Authentication)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell<'a>(row_key: &'a [&'a str]) -> CellAddress<'a> {
        CellAddress {
            table: "credentials",
            column: "ciphertext",
            row_key,
        }
    }

    #[test]
    fn sealed_blob_opens_only_for_its_own_cell_and_key() {
        let keyring = Keyring::new(MasterKey::generate());
        let (key_id, sealed) = seal(&keyring, &cell(&["conn", "kind"]), b"hunter2").expect("seals");
        let opened = open(&keyring, &cell(&["conn", "kind"]), &key_id, &sealed);
        assert!(matches!(opened, Ok(ref plain) if plain.as_slice() == b"hunter2"));
        assert!(matches!(
            open(&keyring, &cell(&["conn", "other"]), &key_id, &sealed),
            Err(OpenFailure::Authentication)
        ));
        assert!(matches!(
            open(&keyring, &cell(&["conn", "kin", "d"]), &key_id, &sealed),
            Err(OpenFailure::Authentication)
        ));
        let stranger = Keyring::new(MasterKey::generate());
        assert!(matches!(
            open(&stranger, &cell(&["conn", "kind"]), &key_id, &sealed),
            Err(OpenFailure::UnknownKey)
        ));
        assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
    }

    #[test]
    fn master_key_round_trips_through_base64_and_hides_itself() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(key.to_base64().expose_secret()).expect("parses");
        assert_eq!(key.id(), again.id());
        assert!(!format!("{key:?}").contains(key.to_base64().expose_secret()));
        assert!(MasterKey::from_base64("bm90IDMyIGJ5dGVz").is_err());
        assert!(MasterKey::from_base64("!!!").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_owner_only_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let path =
            std::env::temp_dir().join(format!("allybridge-key-test-{}", rand::random::<u64>()));
        let created = MasterKey::load_or_create_file(&path).expect("creates");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        let loaded = MasterKey::load_or_create_file(&path).expect("loads");
        let _ = fs::remove_file(&path);
        assert_eq!(mode, 0o600);
        assert_eq!(created.id(), loaded.id());
    }
}
