//! Identifier generation in the formats the simulated systems use.

use rand::Rng;

/// A 24-hex-digit identifier in the form of a MongoDB ObjectId, as HighLevel
/// uses for every record (`_id`, `locationId`, …).
pub fn object_id() -> String {
    let mut bytes = [0u8; 12];
    let now = chrono::Utc::now().timestamp() as u32;
    bytes[..4].copy_from_slice(&now.to_be_bytes());
    rand::thread_rng().fill(&mut bytes[4..]);
    hex::encode(bytes)
}

/// A random alphanumeric string of `len` characters (tokens, secrets, handshakes).
pub fn alphanumeric(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_hex_and_distinct() {
        let a = object_id();
        let b = object_id();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn alphanumeric_has_requested_length() {
        let s = alphanumeric(24);
        assert_eq!(s.len(), 24);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
