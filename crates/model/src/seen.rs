//! [`SeenIds`]: the record ids a paged read or a scan has met, kept as
//! 64-bit fingerprints rather than as strings, so that remembering every id
//! of a 50,000-record list costs about 0.8 MB instead of several.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// A set of ids by fingerprint. Two distinct ids share a fingerprint with a
/// chance of about n²/2⁶⁵ (7·10⁻¹¹ for 50,000 ids); where they would, the
/// second counts as seen. Callers use it only where that costs nothing
/// lasting: a page repeated, or a deletion noticed one scan later.
#[derive(Debug, Default, Clone)]
pub struct SeenIds(HashSet<u64>);

impl SeenIds {
    pub fn new() -> Self {
        Self::default()
    }

    fn fingerprint(id: &str) -> u64 {
        // Fixed keys: the same id always gives the same fingerprint.
        let mut hasher = DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    }

    /// Adds `id`; true when it was not seen before.
    pub fn insert(&mut self, id: &str) -> bool {
        self.0.insert(Self::fingerprint(id))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(&Self::fingerprint(id))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_and_seen_after() {
        let mut seen = SeenIds::new();
        assert!(seen.is_empty());
        for n in 0..50_000 {
            assert!(seen.insert(&format!("6578a1b2c3d4e5f6{n:08x}")), "{n}");
        }
        assert_eq!(seen.len(), 50_000, "no two of 50,000 ids collided");
        assert!(seen.contains("6578a1b2c3d4e5f600000007"));
        assert!(!seen.insert("6578a1b2c3d4e5f600000007"));
        assert!(!seen.contains("6578a1b2c3d4e5f6ffffffff"));
    }
}
