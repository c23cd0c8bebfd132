//! glibc's allocator tuned for a small daemon, as C daemons tune it: one arena for every
//! thread, and the memory a round that changed the kernel freed given back after it. musl's allocator
//! needs neither (it has no per-thread arenas and unmaps freed memory itself).

use crate::sys;

/// glibc gives every thread that allocates its own malloc arena (64 MiB reserved, a few
/// hundred KiB touched each); the daemon's threads allocate little and rarely contend, so one
/// shared arena saves about 0.5 MiB of resident memory. Call it before any thread starts.
pub(super) fn one_arena() {
    sys::malloc_arena_max(1);
}

/// After a round that changed the kernel (its plan and netlink batch freed): the pages of the
/// heap that hold only freed memory go back to the kernel (glibc keeps up to 128 KiB free at
/// the top of the heap, and any free page below it). Not after no-change rounds, the usual
/// refresh: their memory is used again by the next one, and given back it would be faulted
/// in anew.
pub(super) fn give_back() {
    sys::malloc_trim();
}
