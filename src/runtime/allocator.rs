//! The process's allocator: jemalloc, with glibc's malloc as the fallback an
//! operator can choose (`CERTGATE_ALLOCATOR=system`, read once, before the first
//! allocation).
//!
//! Why jemalloc: a controller's heap is many small objects cached for good (the
//! Certificates, the packed requests), made among many short-lived ones (each
//! watch event's JSON, each reconcile's objects). glibc's malloc leaves the freed
//! ones as holes between live ones, which it can hand back only as whole pages
//! (below): beside 10,000 Certificates, 17–20 MiB of its RSS was free memory.
//! jemalloc keeps objects of one size class together and hands freed pages back at
//! once (`dirty_decay_ms:0`; freed pages are purged by its background thread):
//! `benches/scale.rs` (docs/scale.md) measures both, and the issuance benchmark
//! what it costs in CPU. Its settings are built in (`.cargo/config.toml`,
//! `JEMALLOC_SYS_WITH_MALLOC_CONF`); `_RJEM_MALLOC_CONF` overrides them at start.
//! mimalloc was measured too and held more (docs/scale.md).
//!
//! A binary chooses it with `#[global_allocator] static A: Allocator = Allocator;`
//! (the controller's binary and the benchmarks do; the tests use the system's).
//!
//! glibc's malloc, when chosen:
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

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Arenas the process allocates from.
pub const ARENAS: i32 = 2;

/// How often free heap pages are handed back to the system.
pub const TRIM_PERIOD: Duration = Duration::from_secs(5);

/// The process's allocator (see the module's documentation).
pub struct Allocator;

/// 0: not chosen yet; 1: glibc's malloc; 2: jemalloc.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Whether jemalloc serves this process: unless `CERTGATE_ALLOCATOR=system`.
/// Inlined into every allocation: one load and a branch once chosen.
#[inline]
pub fn jemalloc() -> bool {
    match CHOSEN.load(Ordering::Relaxed) {
        0 => choose(),
        c => c == 2,
    }
}

/// The first allocation's choice, from the environment.
#[cold]
#[inline(never)]
fn choose() -> bool {
    // SAFETY: getenv only reads the environment (and allocates nothing); this runs
    // before the program could change it.
    let v = unsafe { libc::getenv(c"CERTGATE_ALLOCATOR".as_ptr()) };
    // SAFETY: a non-null getenv result is a NUL-terminated string.
    let system = !v.is_null() && unsafe { std::ffi::CStr::from_ptr(v) }.to_bytes() == b"system";
    // Two first allocations at once both read the same environment.
    CHOSEN.store(if system { 1 } else { 2 }, Ordering::Relaxed);
    !system
}

/// The allocator [`jemalloc`] chose.
#[inline]
fn chosen() -> &'static dyn GlobalAlloc {
    if jemalloc() {
        &tikv_jemallocator::Jemalloc
    } else {
        &System
    }
}

// SAFETY: each call goes to the one allocator chosen before the first allocation,
// so memory is always freed by the allocator that gave it; the callers' contracts
// are passed on as given.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { chosen().alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { chosen().alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: see the impl.
        unsafe { chosen().dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { chosen().realloc(ptr, layout, new_size) }
    }
}

/// jemalloc's own account, in bytes: (allocated by the program, resident in its
/// pages, including its metadata). None if jemalloc does not answer.
pub fn jemalloc_stats() -> Option<(usize, usize)> {
    // Statistics are a snapshot taken when the epoch is advanced.
    let mut epoch: u64 = 1;
    let mut len = std::mem::size_of::<u64>();
    let e = &mut epoch as *mut u64 as *mut std::ffi::c_void;
    // SAFETY: a NUL-terminated name, and in- and out-pointers to a u64, the size
    // jemalloc documents for `epoch`.
    if unsafe { tikv_jemalloc_sys::mallctl(c"epoch".as_ptr(), e, &mut len, e, len) } != 0 {
        return None;
    }
    let read = |name: &std::ffi::CStr| usize::try_from(jemalloc_setting(name)?).ok();
    Some((read(c"stats.allocated")?, read(c"stats.resident")?))
}

/// One of jemalloc's values as it runs (`opt.narenas`, `stats.allocated`, …): a
/// bool, unsigned or signed integer (jemalloc answers only when asked with the
/// value's own size).
pub fn jemalloc_setting(name: &std::ffi::CStr) -> Option<i64> {
    for size in [8usize, 4, 1] {
        let mut buf = [0u8; 8];
        let mut len = size;
        // SAFETY: a NUL-terminated name; jemalloc writes at most `len` bytes into
        // the 8-byte buffer.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                buf.as_mut_ptr() as *mut std::ffi::c_void,
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            return Some(match size {
                1 => i64::from(buf[0]),
                4 => i64::from(i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
                _ => i64::from_ne_bytes(buf),
            });
        }
    }
    None
}

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
/// `CERTGATE_MALLOC_TRIM=0` or jemalloc serves the process (it purges freed pages
/// itself). Returns the task, or None when turned off.
pub fn spawn_trimmer() -> Option<tokio::task::JoinHandle<()>> {
    if jemalloc() || std::env::var("CERTGATE_MALLOC_TRIM").is_ok_and(|v| v == "0") {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `.cargo/config.toml` builds into jemalloc are the ones it runs
    /// with (the test process does not allocate with it, but asks it).
    #[test]
    fn jemalloc_runs_with_the_settings_built_in() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            return; // overridden on purpose
        }
        assert_eq!(jemalloc_setting(c"opt.narenas"), Some(i64::from(ARENAS)));
        assert_eq!(jemalloc_setting(c"opt.dirty_decay_ms"), Some(0));
        assert_eq!(jemalloc_setting(c"opt.muzzy_decay_ms"), Some(0));
        assert_eq!(jemalloc_setting(c"opt.background_thread"), Some(1));
    }

    /// jemalloc's statistics read back: what is allocated through it is counted.
    #[test]
    fn jemalloc_counts_what_is_allocated_through_it() {
        let layout = Layout::from_size_align(64 << 20, 8).unwrap();
        // SAFETY: a non-zero layout, freed below with the same one.
        let p = unsafe { tikv_jemallocator::Jemalloc.alloc(layout) };
        assert!(!p.is_null());
        let (during, resident) = jemalloc_stats().unwrap();
        // SAFETY: p came from this allocator with this layout.
        unsafe { tikv_jemallocator::Jemalloc.dealloc(p, layout) };
        let (after, _) = jemalloc_stats().unwrap();
        assert!(during >= 64 << 20, "{during} allocated with 64 MiB held");
        assert!(resident >= 64 << 20, "{resident} resident with 64 MiB held");
        assert!(
            after + (60 << 20) < during,
            "{during} then {after} once freed"
        );
    }
}
