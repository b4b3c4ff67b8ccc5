//! How the process holds its large buffers.

/// From here on, buffers of 1 MiB and more go back to the system when
/// freed. glibc's malloc maps a large buffer apart only until the first
/// such buffer is freed; then it raises its threshold and serves the later
/// ones from its heaps, where, freed, they stay resident. At a million
/// members the console's load makes and frees several tens of megabytes of
/// them (the mailboxes' and Aruba's listings and the maps joining them to
/// the members), and every search keystroke several of 4 to 8 MB (its
/// matches, their ranking, the table's list): kept resident they were
/// 50 MB at the load and 60 to 70 MB more after a few dozen searches. A
/// fixed threshold keeps them mapped apart, for a page fault per 4 KiB
/// when one is filled (at 100k members most of these are under it).
///
/// Once per process; called where the large buffers start (the roster's
/// load and the search's index), so whoever drives them, the console or a
/// benchmark, gets it. Other platforms and allocators: nothing.
pub fn give_back_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets one of malloc's parameters; it takes
            // malloc's own lock to do so.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BUFFER) };
        });
    }
}

/// Buffers from this many bytes are mapped apart ([`give_back_large_buffers`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const LARGE_BUFFER: libc::c_int = 1024 * 1024;
