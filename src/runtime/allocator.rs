//! The allocator's setting for a long-running controller. glibc gives threads that
//! allocate at the same time arenas of their own (up to eight per core) and keeps
//! the pages freed in each: after the controllers list thousands of objects on
//! several threads, those pages stay resident although nothing uses them. Two
//! arenas keep the peak and steady RSS down (benches/scale.rs, debug build: 184 →
//! 128 MiB peak beside 3,000 kubectl-applied 100 KB Secrets); threads then share
//! arenas, and the issuance benchmark (debug, 2,000 ECDSA) saw no cost from it:
//! controller CPU per certificate 0.046 s with 64 arenas, 0.041 s with two. An explicit `MALLOC_ARENA_MAX` in the environment wins. Must be
//! called before the runtime starts its threads; does nothing off glibc.

/// Arenas the process allocates from.
pub const ARENAS: i32 = 2;

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
