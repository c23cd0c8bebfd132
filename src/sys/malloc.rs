//! glibc's allocator knobs; with other libcs (musl) they do nothing.

/// `mallopt(M_ARENA_MAX, arenas)`: at most that many malloc arenas. Call it before any
/// thread starts.
pub(crate) fn malloc_arena_max(arenas: libc::c_int) {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; the caller runs before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = arenas;
}

/// `malloc_trim(0)`: the heap's pages that hold only freed memory go back to the kernel.
pub(crate) fn malloc_trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; it takes the arena's lock.
    unsafe {
        libc::malloc_trim(0);
    }
}
