//! A node's shared memory for its large objects: one memfd as large as the store, mapped
//! once, carved into objects and reused.
//!
//! Why: an object in a fresh memfd of its own is written to fresh pages, which the kernel
//! allocates and zeroes and, when the object goes, frees again. On the 2-core VM this project
//! measures on, writing fresh pages does not scale across the threads of one process (two
//! threads writing 15 MiB objects into fresh memfds got 0.5 GB/s each, one alone 1.2 GB/s;
//! writing pages that exist scales), and a node's worker, data plane and freeing threads do
//! it at once. An arena's pages stay with its file when an object is freed, so the next
//! object reuses them, as a plasma store reuses its one mapping.
//!
//! Ranges are handed out first fit, in whole pages, and coalesced when freed. A range is
//! written once, in order, through the [`Filling`] that took it ([`Arena::begin`], or
//! [`Arena::write`] at once), before any reader can see it; it is read only through the
//! [`Slot`] that filling hands out when whole, and goes back to the free ranges when that
//! slot (or an unfinished filling) is dropped, so no range is written while a reader holds it.

use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

/// The unit of an arena's ranges: a page, so that no two objects share one.
const PAGE: usize = 4096;

/// The largest arena made: a store larger than this keeps its further objects in memfds of
/// their own.
pub const MAX_ARENA: usize = 1 << 36;

/// Free ranges of an arena, by offset: `offset -> length`, both multiples of [`PAGE`].
///
/// Invariant: the ranges are disjoint, none is empty, and no two touch (touching ranges are
/// merged when the second is freed).
#[derive(Debug, Default)]
struct FreeRanges(BTreeMap<usize, usize>);

impl FreeRanges {
    /// The whole of `len` bytes free.
    fn whole(len: usize) -> FreeRanges {
        let mut free = BTreeMap::new();
        if len > 0 {
            free.insert(0, len);
        }
        FreeRanges(free)
    }

    /// Takes the first range (by offset) of at least `span` bytes, leaving its rest free:
    /// its offset, or `None` if no free range is that long.
    fn take(&mut self, span: usize) -> Option<usize> {
        let (&offset, &len) = self.0.iter().find(|&(_, &len)| len >= span)?;
        self.0.remove(&offset);
        if len > span {
            self.0.insert(offset + span, len - span);
        }
        Some(offset)
    }

    /// Gives back `span` bytes at `offset`, merged with the free ranges it touches.
    fn give(&mut self, mut offset: usize, mut span: usize) {
        if let Some((&before, &len)) = self.0.range(..offset).next_back()
            && before + len == offset
        {
            self.0.remove(&before);
            offset = before;
            span += len;
        }
        if let Some(len) = self.0.remove(&(offset + span)) {
            span += len;
        }
        self.0.insert(offset, span);
    }

    /// Bytes free in all.
    #[cfg(test)]
    fn total(&self) -> usize {
        self.0.values().sum()
    }
}

/// One memfd of `len` bytes mapped for reading and writing, and which of its ranges are
/// free. Shared (in an [`Arc`]) by the store and every [`Slot`] carved from it; unmapped
/// when the last goes.
///
/// Invariant: `ptr` maps `len` bytes of `_fd`'s file for reading and writing from
/// construction to drop; every range not in `free` is owned by exactly one live [`Slot`],
/// which a [`Filling`] holds while the range is being written.
#[derive(Debug)]
pub struct Arena {
    ptr: NonNull<c_void>,
    len: usize,
    /// The memfd, private to this process (closed on exec, never passed on).
    _fd: OwnedFd,
    free: Mutex<FreeRanges>,
}

// SAFETY: the mapping is shared memory of this process; its ranges are written only through
// the one filling that took them from `free` (under its lock), before any reader exists, and
// read only through the slot owning them, so sharing the pointer across threads shares no data
// race. `OwnedFd` is Send and Sync.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena of `capacity` bytes (rounded up to whole pages, at most [`MAX_ARENA`]);
    /// its pages are allocated as they are first written. `None` for no capacity.
    pub fn new(capacity: u64) -> std::io::Result<Option<Arena>> {
        let len = usize::try_from(capacity)
            .unwrap_or(usize::MAX)
            .min(MAX_ARENA)
            .div_ceil(PAGE)
            * PAGE;
        let Some(length) = NonZeroUsize::new(len) else {
            return Ok(None);
        };
        let fd = memfd_create("cohort-store", MFdFlags::MFD_CLOEXEC)?;
        let file = std::fs::File::from(fd);
        file.set_len(len as u64)?;
        let fd = OwnedFd::from(file);
        // SAFETY: a fresh shared mapping of the whole of a file this function created and
        // sized; nothing else refers to that address range.
        let ptr = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Some(Arena {
            ptr,
            len,
            _fd: fd,
            free: Mutex::new(FreeRanges::whole(len)),
        }))
    }

    /// Copies `bytes` into a range of the arena and hands it over as a slot; `None` if no
    /// free range is long enough (the caller keeps the object elsewhere).
    pub fn write(self: &Arc<Arena>, bytes: &[u8]) -> Option<Slot> {
        let mut filling = self.begin(bytes.len())?;
        filling.push(bytes);
        filling.finish().ok()
    }

    /// Takes a range for an object of `len` bytes, to be written in order, piece by piece,
    /// as it arrives (a pulled object's chunks, written in place); `None` if no free range is
    /// long enough.
    pub fn begin(self: &Arc<Arena>, len: usize) -> Option<Filling> {
        let span = len.max(1).div_ceil(PAGE) * PAGE;
        let offset = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(span)?;
        debug_assert!(offset + span <= self.len);
        Some(Filling {
            slot: Slot {
                arena: Arc::clone(self),
                offset,
                len,
                span,
            },
            written: 0,
        })
    }

    /// Bytes free, in whole pages.
    #[cfg(test)]
    fn free_bytes(&self) -> usize {
        self.free.lock().unwrap().total()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are the mapping `new` made, unmapped once, here: every slot
        // holds an `Arc` of the arena, so none outlives it.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

/// An object's range of an [`Arena`] being written, in order, before anyone reads it: a
/// [`Slot`] once every byte is there ([`Filling::finish`]); dropped unfinished, its range
/// goes back to the arena.
///
/// Invariant: `slot`'s range is owned by this filling alone and read by no one; its first
/// `written` bytes (at most `slot.len`) are the object's.
#[derive(Debug)]
pub struct Filling {
    slot: Slot,
    written: usize,
}

impl Filling {
    /// Writes `bytes` after those written so far; false, writing nothing, if they go beyond
    /// the object's length.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.slot.len - self.written {
            return false;
        }
        let Slot { arena, offset, .. } = &self.slot;
        // SAFETY: `offset + written .. + bytes.len()` lies within the slot's range (checked
        // above), which is within the mapping and owned by this filling alone: no one else
        // reads or writes it until `finish` hands it over.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                arena.ptr.as_ptr().cast::<u8>().add(offset + self.written),
                bytes.len(),
            );
        }
        self.written += bytes.len();
        true
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// The object's length: the bytes to write in all.
    pub fn len(&self) -> usize {
        self.slot.len
    }

    /// Whether the object has no bytes (it is whole at once).
    pub fn is_empty(&self) -> bool {
        self.slot.len == 0
    }

    /// The object's slot, once all its bytes are written; else the filling, unchanged.
    pub fn finish(self) -> Result<Slot, Filling> {
        if self.written == self.slot.len {
            Ok(self.slot)
        } else {
            Err(self)
        }
    }
}

/// An object's bytes in an [`Arena`]: written once, then only read; the range goes back to
/// the arena when the slot is dropped.
///
/// Invariant: `offset..offset + span` is a range of the arena owned by this slot alone, and
/// once the slot is handed out (by [`Filling::finish`]) its first `len` bytes are the
/// object's and are no longer written.
#[derive(Debug)]
pub struct Slot {
    arena: Arc<Arena>,
    offset: usize,
    len: usize,
    span: usize,
}

impl AsRef<[u8]> for Slot {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: by the invariant the range is this slot's, written before the slot was
        // made and not written since; it stays mapped while the slot holds the arena.
        unsafe {
            std::slice::from_raw_parts(
                self.arena.ptr.as_ptr().cast::<u8>().add(self.offset),
                self.len,
            )
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.arena
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .give(self.offset, self.span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_freed_range_is_reused_and_touching_ranges_merge() {
        let arena = Arc::new(Arena::new(4 * PAGE as u64).unwrap().unwrap());
        let a = arena.write(&[1; PAGE]).unwrap();
        let b = arena.write(&[2; PAGE + 1]).unwrap();
        assert_eq!((a.offset, b.offset, b.span), (0, PAGE, 2 * PAGE));
        assert_eq!(arena.free_bytes(), PAGE);
        // Two pages are not free in one piece.
        assert!(arena.write(&[3; 2 * PAGE]).is_none());
        drop(a);
        // The first range is reused, and what is read is what was written.
        let c = arena.write(&[4; 10]).unwrap();
        assert_eq!((c.offset, c.as_ref()), (0, &[4u8; 10][..]));
        assert_eq!(b.as_ref(), &[2u8; PAGE + 1][..]);
        drop(b);
        // B's two pages and the last page merged: three pages in one piece.
        let d = arena.write(&[5; 3 * PAGE]).unwrap();
        assert_eq!(d.offset, PAGE);
        drop((c, d));
        assert_eq!(arena.free_bytes(), 4 * PAGE);
        assert_eq!(arena.write(&[6; 4 * PAGE]).unwrap().offset, 0);
        assert!(Arena::new(0).unwrap().is_none());
    }

    #[test]
    fn a_range_written_piece_by_piece_is_a_slot_only_when_whole() {
        let arena = Arc::new(Arena::new(4 * PAGE as u64).unwrap().unwrap());
        let mut f = arena.begin(PAGE + 10).unwrap();
        assert!(f.push(&[1; PAGE]));
        // Unfinished: no slot; too much: refused, nothing written.
        let mut f = f.finish().unwrap_err();
        assert!(!f.push(&[2; 11]));
        assert_eq!(f.written(), PAGE);
        assert!(f.push(&[2; 10]));
        let slot = f.finish().unwrap();
        let mut want = vec![1u8; PAGE];
        want.extend([2u8; 10]);
        assert_eq!(
            (slot.offset, slot.span, slot.as_ref()),
            (0, 2 * PAGE, &want[..])
        );
        // A filling dropped unfinished gives its range back.
        let g = arena.begin(2 * PAGE).unwrap();
        assert_eq!(arena.free_bytes(), 0);
        drop(g);
        assert_eq!(arena.free_bytes(), 2 * PAGE);
        // An empty object takes a page, and is whole at once.
        let empty = arena.begin(0).unwrap().finish().unwrap();
        assert_eq!((empty.offset, empty.as_ref()), (2 * PAGE, &[][..]));
    }

    #[test]
    fn a_slot_keeps_its_bytes_and_its_arena_after_the_store_lets_go() {
        let arena = Arc::new(Arena::new(2 * PAGE as u64).unwrap().unwrap());
        let a = arena.write(&[7; 100]).unwrap();
        drop(arena);
        assert_eq!(a.as_ref(), &[7u8; 100][..]);
    }

    proptest! {
        /// Whatever is written and freed, in any order: live slots never overlap, each
        /// reads what was written to it, and free and live spans add up to the arena.
        #[test]
        fn slots_never_overlap_and_pages_are_all_accounted_for(
            ops in proptest::collection::vec((1usize..3 * PAGE, any::<bool>()), 1..60),
        ) {
            let arena = Arc::new(Arena::new(16 * PAGE as u64).unwrap().unwrap());
            let mut live: Vec<(Slot, u8)> = Vec::new();
            for (i, (size, free_one)) in ops.into_iter().enumerate() {
                if free_one && !live.is_empty() {
                    live.remove(i % live.len());
                }
                let fill = i as u8;
                if let Some(s) = arena.write(&vec![fill; size]) {
                    live.push((s, fill));
                }
                let mut spans: Vec<(usize, usize)> =
                    live.iter().map(|(s, _)| (s.offset, s.offset + s.span)).collect();
                spans.sort_unstable();
                for w in spans.windows(2) {
                    prop_assert!(w[0].1 <= w[1].0, "overlap: {:?}", w);
                }
                for (s, fill) in &live {
                    prop_assert!(s.as_ref().iter().all(|b| b == fill));
                }
                let used: usize = live.iter().map(|(s, _)| s.span).sum();
                prop_assert_eq!(used + arena.free_bytes(), 16 * PAGE);
            }
        }
    }
}
