//! Giving memory that rooms freed back to the system.
//!
//! A quiet room closes its database, which frees SQLite's page cache, schema and
//! statements; glibc keeps freed memory in its arenas (one per thread that allocated),
//! so without a trim the server's resident size would keep what every room once used.
//! [`release_freed`] asks glibc to return free pages (`malloc_trim`), at most once per
//! [`TRIM_INTERVAL`] whatever the number of rooms closing.
//!
//! Every room's state is allocated by whichever worker thread ran it, so with one arena
//! per thread each live room's few KiB end up spread over many half-empty arenas:
//! [`limit_arenas`] caps them at the number of cores (33.0 → 26.8 KiB per idle room at
//! 10,000 rooms, docs/BENCHMARKS.md "Idle rooms").

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest time between two trims.
pub const TRIM_INTERVAL: Duration = Duration::from_secs(1);

static LAST_TRIM: Mutex<Option<Instant>> = Mutex::new(None);

/// Caps glibc's malloc arenas at `cores` (at least 2); call it before starting threads.
pub fn limit_arenas(cores: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores.max(2)).unwrap_or(i32::MAX));
    }
    let _ = cores;
}

/// Returns freed memory to the system if the last trim is older than [`TRIM_INTERVAL`].
pub fn release_freed() {
    let Ok(mut last) = LAST_TRIM.lock() else { return };
    if last.is_some_and(|t| t.elapsed() < TRIM_INTERVAL) {
        return;
    }
    *last = Some(Instant::now());
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
