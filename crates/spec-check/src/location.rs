//! Where the tests find HighLevel's official specs: `../shared/specs/ghl`
//! beside the repository, one rule for every crate. The specs are part of
//! the project's shared material: a test that needs them and does not find
//! them fails, saying where it looked.

use std::path::PathBuf;

/// `../shared/specs/ghl` beside the repository (with `apps/` and `docs/`).
///
/// # Panics
/// When it is missing: the tests that check against the specs cannot pass
/// without them.
pub fn ghl_specs_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/ghl");
    assert!(
        dir.join("apps").is_dir(),
        "the HighLevel specs were not found in {}: the repository must sit beside `shared/` (../shared/specs/ghl)",
        dir.display()
    );
    dir
}
