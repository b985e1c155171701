//! The memory allocator of allybridge's processes (the `allybridge` binary
//! and the benchmark, so that the bench measures what ships): mimalloc,
//! about a fifth less CPU than glibc's malloc for the daemon's many small,
//! short-lived HTTP and JSON buffers, with [`SETTINGS`] that make a
//! long-running process commit memory as it uses it and give freed memory
//! back at once (about 40 % less resident memory for the daemon;
//! docs/BENCHMARKS.md has the figures). What still allocates through
//! glibc's malloc — SQLite, on one worker thread per connection — is kept to
//! one glibc arena ([`GLIBC_ARENAS`]) instead of one per thread.
//!
//! Linking this crate makes mimalloc the global allocator. On Linux the
//! settings are applied while the process loads, before anything
//! allocates; call [`tune_for_a_daemon`] first thing in `main` as well
//! (it is what applies them elsewhere, and harmless twice).

use std::ffi::CStr;
use std::os::raw::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit` in mimalloc v3's `mimalloc.h` (the
/// version libmimalloc-sys builds by default; the Rust bindings do not name
/// it). Default 2: commit whole arenas up front on overcommitting systems
/// (Linux), which keeps freed pages resident.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h`: milliseconds a
/// freed span stays committed before it is given back (default 1,000).
const PURGE_DELAY: mi_option_t = 15;

/// One mimalloc option this project sets.
pub struct Setting {
    pub name: &'static str,
    /// The environment variable mimalloc reads for it; when set, it wins.
    pub environment_variable: &'static CStr,
    option: mi_option_t,
    pub value: c_long,
}

/// The settings a process of this project runs with.
pub const SETTINGS: &[Setting] = &[
    // Commit arena memory as it is used, not whole arenas at once. An arena
    // keeps the policy it was reserved with, and mimalloc reserves its
    // first one at the first allocation: hence the load-time hook below.
    Setting {
        name: "arena_eager_commit",
        environment_variable: c"MIMALLOC_ARENA_EAGER_COMMIT",
        option: ARENA_EAGER_COMMIT,
        value: 0,
    },
    // Give freed spans back to the system at once.
    Setting {
        name: "purge_delay",
        environment_variable: c"MIMALLOC_PURGE_DELAY",
        option: PURGE_DELAY,
        value: 0,
    },
];

/// glibc malloc arenas allowed (glibc's default is one per thread, up to
/// eight per core, each keeping its own freed memory). SQLite allocates
/// through glibc on sqlx's worker threads, one per connection: at 5,000
/// products per side one arena took the daemon from 47.0 to 40.7 MB peak.
/// `MALLOC_ARENA_MAX` in the environment wins.
pub const GLIBC_ARENAS: i32 = 1;

/// Limits glibc's malloc to [`GLIBC_ARENAS`] unless `MALLOC_ARENA_MAX` is
/// set; returns whether glibc took the limit. Allocates nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_glibc_arenas() -> bool {
    // SAFETY: getenv with a NUL-terminated name; only the null check is used.
    if !unsafe { libc::getenv(c"MALLOC_ARENA_MAX".as_ptr()) }.is_null() {
        return false;
    }
    // SAFETY: mallopt with a documented parameter; glibc initialises its
    // allocator first if it has not yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, GLIBC_ARENAS) == 1 }
}

/// Applies [`SETTINGS`], except those whose environment variable is set,
/// and [`GLIBC_ARENAS`]. (Measured at 1,000 products per side: each
/// mimalloc setting alone leaves the daemon at 59 and 79 MB peak, both
/// together at 48 MB.) Allocates nothing (it may run before the first
/// allocation).
pub fn tune_for_a_daemon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_glibc_arenas();
    for setting in SETTINGS {
        // SAFETY: getenv with a NUL-terminated name, before or after `main`;
        // only the null check is used.
        let from_environment =
            !unsafe { libc::getenv(setting.environment_variable.as_ptr()) }.is_null();
        if !from_environment {
            // SAFETY: a plain setter of mimalloc's option table, valid for
            // every option index below `_mi_option_last`; both above are.
            unsafe { mi_option_set(setting.option, setting.value) };
        }
    }
}

/// Runs [`tune_for_a_daemon`] while the process loads: after mimalloc's own
/// start-up (a constructor of priority 101, which reads every option from
/// the environment) and before `main` or Rust's runtime allocates.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_AT_LOAD: extern "C" fn() = {
    extern "C" fn tune_at_load() {
        tune_for_a_daemon();
    }
    tune_at_load
};

/// The value mimalloc uses now for each of [`SETTINGS`], by name.
pub fn effective_settings() -> Vec<(&'static str, c_long)> {
    SETTINGS
        .iter()
        .map(|setting| {
            // SAFETY: a getter of mimalloc's option table; index in range.
            (setting.name, unsafe { mi_option_get(setting.option) })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_arena_limit_unless_the_environment_sets_one() {
        let from_environment = std::env::var_os("MALLOC_ARENA_MAX").is_some();
        assert_eq!(limit_glibc_arenas(), !from_environment);
    }

    #[test]
    fn the_settings_reach_mimalloc_unless_the_environment_says_otherwise() {
        tune_for_a_daemon();
        for (setting, (name, value)) in SETTINGS.iter().zip(effective_settings()) {
            assert_eq!(setting.name, name);
            let environment = setting.environment_variable.to_str().unwrap();
            match std::env::var(environment) {
                Ok(wanted) => assert_eq!(value.to_string(), wanted, "{name} from {environment}"),
                Err(_) => assert_eq!(value, setting.value, "{name}"),
            }
        }
    }
}
