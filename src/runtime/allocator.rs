//! The allocator's settings for a long-running controller (glibc only; elsewhere
//! these do nothing).
//!
//! Arenas: glibc gives threads that allocate at the same time arenas of their own
//! (up to eight per core) and keeps the pages freed in each: after the controllers
//! list thousands of objects on several threads, those pages stay resident although
//! nothing uses them. Two arenas keep the peak and steady RSS down (benches/scale.rs,
//! debug build: 184 → 128 MiB peak beside 3,000 kubectl-applied 100 KB Secrets);
//! threads then share arenas, and the issuance benchmark (debug, 2,000 ECDSA) saw no
//! cost from it: controller CPU per certificate 0.046 s with 64 arenas, 0.041 s with
//! two. An explicit `MALLOC_ARENA_MAX` in the environment wins. Must be called
//! before the runtime starts its threads.
//!
//! Trimming: glibc returns freed memory to the system only from the top of a heap;
//! pages freed below a live allocation stay resident. Listing tens of thousands of
//! objects (and their JSON) leaves most of the heap in such holes. `malloc_trim`
//! hands every free page back; [`spawn_trimmer`] calls it every [`TRIM_PERIOD`]
//! (figures in benches/scale.rs). `CERTGATE_MALLOC_TRIM=0` turns it off.

use std::time::Duration;

/// Arenas the process allocates from.
pub const ARENAS: i32 = 2;

/// How often free heap pages are handed back to the system.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// Limits glibc's malloc arenas to [`ARENAS`] unless `MALLOC_ARENA_MAX` is set.
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tunable; it is called before the
    // process starts other threads, and a refused value leaves the default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Hands malloc's free pages back to the system now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases pages malloc holds free; it takes the
    // arenas' locks like any allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Calls [`trim`] every [`TRIM_PERIOD`] on the current tokio runtime, unless
/// `CERTGATE_MALLOC_TRIM=0`. Returns the task, or None when turned off.
pub fn spawn_trimmer() -> Option<tokio::task::JoinHandle<()>> {
    if std::env::var("CERTGATE_MALLOC_TRIM").is_ok_and(|v| v == "0") {
        return None;
    }
    Some(tokio::spawn(async {
        let mut tick = tokio::time::interval(TRIM_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Off the async workers: with a large heap this takes milliseconds.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    }))
}
