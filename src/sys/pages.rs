//! A buffer of its own zero-filled pages (an anonymous private mapping) for a large buffer that
//! is mostly never written. Zeroed memory from the allocator (`vec![0; n]`) is written in full
//! when it comes from the heap's free space, so all of it is resident from the start; the
//! kernel's zero pages are resident only once something writes to them. The netlink receive
//! buffers are the case: 64 KiB each, of which a dump part fills at most 32 KiB and a kernel
//! event a few hundred bytes.

use std::io;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// `len` bytes of zero-filled pages, unmapped on drop.
pub(crate) struct ZeroedPages {
    start: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone (no other pointer to it exists), so it
// may move to another thread like a `Vec<u8>`.
unsafe impl Send for ZeroedPages {}

impl ZeroedPages {
    /// Maps `len` (> 0) bytes, rounded up to whole pages by the kernel.
    pub(crate) fn new(len: usize) -> io::Result<ZeroedPages> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a mapping of 0 bytes",
            ));
        }
        // SAFETY: a new anonymous private mapping touches no existing memory; the result is
        // checked against MAP_FAILED before use.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        match NonNull::new(start.cast::<u8>()) {
            Some(start) => Ok(ZeroedPages { start, len }),
            None => Err(io::Error::other("mmap returned a null mapping")),
        }
    }
}

impl Deref for ZeroedPages {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `start` is a live mapping of `len` readable bytes, zero-filled by the kernel
        // and so initialized, owned by `self` for the borrow's lifetime.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl DerefMut for ZeroedPages {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and the mapping is writable; `&mut self` makes the borrow
        // exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for ZeroedPages {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and nothing borrows it any
        // more; a failure (impossible for a mapping we own) would only leave it mapped.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ZeroedPages;

    #[test]
    fn the_pages_read_as_zeros_and_keep_what_is_written() {
        let mut pages = ZeroedPages::new(3 * 4096 + 10).expect("map");
        assert_eq!(pages.len(), 3 * 4096 + 10);
        assert!(pages.iter().all(|&b| b == 0));
        pages[0] = 1;
        pages[3 * 4096 + 9] = 2;
        assert_eq!((pages[0], pages[1], pages[3 * 4096 + 9]), (1, 0, 2));
    }

    #[test]
    fn no_page_is_resident_before_it_is_written() {
        let mut pages = ZeroedPages::new(16 * 4096).expect("map");
        let resident = |pages: &ZeroedPages| resident_pages(pages.as_ptr() as usize, 16);
        assert_eq!(resident(&pages), 0);
        pages[5 * 4096] = 7;
        assert_eq!(resident(&pages), 1);
    }

    #[test]
    fn an_empty_mapping_is_refused() {
        let error = ZeroedPages::new(0).err().expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }

    /// How many of the `count` pages from `start` are present (`/proc/self/pagemap`, bit 63).
    fn resident_pages(start: usize, count: usize) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let mut pagemap = std::fs::File::open("/proc/self/pagemap").expect("pagemap");
        pagemap
            .seek(SeekFrom::Start((start / 4096 * 8) as u64))
            .expect("seek");
        let mut entries = vec![0u8; count * 8];
        pagemap.read_exact(&mut entries).expect("read pagemap");
        entries
            .chunks_exact(8)
            .filter(|e| u64::from_le_bytes((*e).try_into().expect("8 bytes")) >> 63 == 1)
            .count()
    }
}
