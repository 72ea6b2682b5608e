//! A node's object store of real bytes in shared memory: each object of at least
//! [`SMALL`] bytes lives in the store's [`arena`], one memfd as large as the store whose
//! pages are reused from object to object, so that the node's workers read it in place; when
//! the arena has no free range long enough (objects still read after the store dropped them
//! hold theirs), in a sealed memfd of its own (Linux `memfd_create`), mapped read-only. A
//! smaller one lives on the node's heap (a memfd, its seals and its mapping cost a few system
//! calls, more than copying a few kilobytes), read in place just the same. Either way the
//! store lends out [`Bytes`], whose clones share the bytes.
//!
//! The store only holds bytes: what to keep and what to evict is the head's decision, made by
//! the same core as in the simulator (its accounting of each node's store). The store refuses
//! what would exceed its capacity rather than evict on its own.
//!
//! This module is the crate's one use of `unsafe`: mapping a file and reading the mapping.
//! An object's own memfd is sound because it is sealed (no write, no shrink, no grow, no
//! further seals) before it is mapped: no one, in this process or another holding the
//! descriptor, can change or truncate the bytes a [`SharedBytes`] lends out, and the mapping
//! lives as long as the value (it is unmapped on drop). The arena is sound because a range
//! is written once, through the [`arena::Filling`] that took it, before its [`arena::Slot`]
//! is handed out, and is free to be written again only when that slot is dropped (see its
//! module).
//!
//! An object pulled from a peer lands where it will stay ([`Landing`]): its chunks are
//! written into an arena range as they arrive, so a large object crosses memory once, with
//! no buffer of its own to allocate (fresh pages, zeroed by the kernel) and copy from.

#![allow(unsafe_code)]

pub mod arena;

use arena::{Arena, Filling};
use bytes::Bytes;
use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags, mmap, munmap};
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::Arc;
use thiserror::Error;

/// Why the store did not take or make an object.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The object would not fit.
    #[error("the store cannot hold {needed} more bytes: {free} of its {capacity} are free")]
    Full {
        /// The object's size.
        needed: u64,
        /// Bytes free.
        free: u64,
        /// The store's capacity.
        capacity: u64,
    },
    /// The store holds an object of that id already (objects are written once).
    #[error("object {0} is in the store already")]
    Exists(u64),
    /// A pulled object was stored before all its bytes had arrived.
    #[error("object {id} is incomplete: {written} of its {size} bytes arrived")]
    Incomplete {
        /// The object.
        id: u64,
        /// Bytes written.
        written: u64,
        /// The object's size.
        size: u64,
    },
    /// The operating system refused to make or map the shared memory.
    #[error("shared memory for an object of {size} bytes: {source}")]
    Memory {
        /// The object's size.
        size: u64,
        /// What the system said.
        source: std::io::Error,
    },
}

/// An object's bytes, written once, in a sealed memfd mapped read-only. Derefs to the bytes;
/// cheap to share (hold it in an [`Arc`]); the mapping lives until the last holder drops it.
///
/// Invariant: `ptr` maps `len` bytes of `fd`'s file, which is sealed against writes, shrinking
/// and growing, read-only, from construction to drop (`len` 0: no mapping, `ptr` dangling).
#[derive(Debug)]
pub struct SharedBytes {
    ptr: NonNull<c_void>,
    len: usize,
    /// The memfd (kept open: a node could pass it to another process).
    fd: OwnedFd,
}

/// How many fresh memfds [`SharedBytes::new`] fills before it gives up on sealing one.
const SEAL_ATTEMPTS: u32 = 4;

/// `make`'s result, made again (after 10 ms, then 20, 30, ...) while it fails with `EBUSY`, up
/// to `attempts` times in all. Sealing a memfd against writes fails with `EBUSY` while the
/// kernel sees references to its pages beyond the file's own, which it waits ~150 ms to clear
/// (`memfd_wait_for_pins`); once, in a CI run on the 2-core VM, they did not clear for a 4 MiB
/// object just written. A fresh memfd has fresh pages.
fn unless_busy<T>(
    attempts: u32,
    mut make: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let mut attempt = 1;
    loop {
        match make() {
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && attempt < attempts => {
                std::thread::sleep(std::time::Duration::from_millis(10 * u64::from(attempt)));
                attempt += 1;
            }
            other => return other,
        }
    }
}

// SAFETY: the mapping is read-only and its file is sealed against every change, so sharing
// the pointer across threads shares immutable bytes; `OwnedFd` is Send and Sync.
unsafe impl Send for SharedBytes {}
// SAFETY: as above: `&SharedBytes` only lends immutable bytes.
unsafe impl Sync for SharedBytes {}

impl SharedBytes {
    /// Copies `bytes` into a new sealed memfd named `name` (shown in `/proc/PID/fd`) and maps
    /// it.
    pub fn new(name: &str, bytes: &[u8]) -> std::io::Result<SharedBytes> {
        let fd = unless_busy(SEAL_ATTEMPTS, || {
            let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
            let mut file = std::fs::File::from(fd);
            file.write_all(bytes)?;
            let fd = OwnedFd::from(file);
            fcntl(
                &fd,
                FcntlArg::F_ADD_SEALS(
                    SealFlag::F_SEAL_WRITE
                        | SealFlag::F_SEAL_SHRINK
                        | SealFlag::F_SEAL_GROW
                        | SealFlag::F_SEAL_SEAL,
                ),
            )?;
            Ok(fd)
        })?;
        let Some(length) = NonZeroUsize::new(bytes.len()) else {
            return Ok(SharedBytes {
                ptr: NonNull::dangling(),
                len: 0,
                fd,
            });
        };
        // Populated: every page is mapped at once, here, by the writer. Left to fault in page
        // by page, the first reader paid a fault per 4 KiB page, among the other threads'
        // mappings and unmappings: a 4 MiB shuffle took 1.8 ms by median in a live run, and
        // 1.15 ms with the mapping populated.
        // SAFETY: a fresh shared, read-only mapping of the whole of a file this function
        // created and sealed; nothing else refers to that address range.
        let ptr = unsafe {
            mmap(
                None,
                length,
                ProtFlags::PROT_READ,
                MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
                &fd,
                0,
            )
        }?;
        Ok(SharedBytes {
            ptr,
            len: bytes.len(),
            fd,
        })
    }

    /// The memfd holding the bytes.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

impl std::ops::Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: by the type's invariant, `ptr` maps `len` readable bytes that no one can
        // change, for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for SharedBytes {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: `ptr` and `len` are the mapping `new` made, unmapped once, here; no
            // borrow of it outlives `self`.
            let _ = unsafe { munmap(self.ptr, self.len) };
        }
    }
}

/// Objects smaller than this many bytes live on the heap rather than in a memfd of their own.
pub const SMALL: usize = 64 << 10;

/// A mapped object lent out as [`Bytes`].
struct Mapped(Arc<SharedBytes>);

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// One node's objects, by id, within a capacity. See the module documentation.
///
/// An object is written in three steps, so that a store shared between threads is locked
/// only to count, never while bytes are copied: [`SharedStore::reserve`] takes its room (and
/// its id), [`make`] writes its bytes with no lock held, [`SharedStore::commit`] adds it
/// (or [`SharedStore::cancel`] gives the room back). [`SharedStore::put`] does all three;
/// [`put_shared`] does them around a `Mutex`.
///
/// Invariant: `used` is the sum of the sizes of `objects` and of the reservations in
/// `writing`, and never exceeds `capacity`; no id is in both.
#[derive(Debug)]
pub struct SharedStore {
    capacity: u64,
    used: u64,
    objects: BTreeMap<u64, Bytes>,
    writing: BTreeMap<u64, u64>,
    /// The arena of its large objects, made with the first (`Unmade` until then).
    arena: ArenaState,
}

/// Whether a store has made its arena.
#[derive(Debug)]
enum ArenaState {
    /// Not yet: no large object has been written.
    Unmade,
    /// Made (`None`: it could not be, so large objects get memfds of their own).
    Made(Option<Arc<Arena>>),
}

/// Room taken in a [`SharedStore`] for an object being written; give it to
/// [`SharedStore::commit`] or [`SharedStore::cancel`] of the same store.
#[derive(Debug)]
#[must_use = "a reservation holds room until it is committed or cancelled"]
pub struct Reservation {
    id: u64,
    size: u64,
}

/// An object's bytes as the store lends them out: on the heap below [`SMALL`] bytes, else
/// in a sealed memfd of their own. Copies `bytes`; takes no lock.
pub fn make(id: u64, bytes: &[u8]) -> Result<Bytes, StoreError> {
    make_in(None, id, bytes)
}

/// [`make`], but an object of [`SMALL`] bytes or more goes into a range of `arena` when it
/// has one free.
fn make_in(arena: Option<&Arc<Arena>>, id: u64, bytes: &[u8]) -> Result<Bytes, StoreError> {
    if bytes.len() < SMALL {
        Ok(Bytes::copy_from_slice(bytes))
    } else if let Some(slot) = arena.and_then(|a| a.write(bytes)) {
        Ok(Bytes::from_owner(slot))
    } else {
        SharedBytes::new(&format!("cohort-object-{id}"), bytes)
            .map(|b| Bytes::from_owner(Mapped(Arc::new(b))))
            .map_err(|source| StoreError::Memory {
                size: bytes.len() as u64,
                source,
            })
    }
}

/// Writes object `id` into the store behind `store`, holding its lock only to take the room
/// and to add the object, not while its bytes are copied. Returns the object and the bytes
/// the store then held.
pub fn put_shared(
    store: &std::sync::Mutex<SharedStore>,
    id: u64,
    bytes: &[u8],
) -> Result<(Bytes, u64), StoreError> {
    write(store, id, bytes)
}

/// Where a pulled object's bytes land as they arrive (see [`SharedStore::landing`]): a range
/// of the store's arena, written in place, for an object of [`SMALL`] bytes or more when the
/// arena has one free; else a buffer, copied into the store once the object is whole.
/// [`put_landed`] stores it.
#[derive(Debug)]
pub enum Landing {
    /// In place, in the arena.
    Arena(Filling),
    /// In a buffer of its own.
    Buffer(Vec<u8>),
}

impl Landing {
    /// Writes `bytes` after those landed so far; false, writing nothing, if an arena range
    /// has no room left for them.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        match self {
            Landing::Arena(f) => f.push(bytes),
            Landing::Buffer(v) => {
                v.extend_from_slice(bytes);
                true
            }
        }
    }

    /// Bytes landed so far.
    pub fn len(&self) -> usize {
        match self {
            Landing::Arena(f) => f.written(),
            Landing::Buffer(v) => v.len(),
        }
    }

    /// Whether no byte has landed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Stores object `id` from where its bytes landed: an arena range as it is, under one hold
/// of the store's lock (no bytes are copied), a buffer copied as [`put_shared`] copies. Returns the object and the bytes the store then held. Refuses an
/// arena range not written to its end ([`StoreError::Incomplete`]).
pub fn put_landed(
    store: &std::sync::Mutex<SharedStore>,
    id: u64,
    landing: Landing,
) -> Result<(Bytes, u64), StoreError> {
    let filling = match landing {
        Landing::Buffer(bytes) => return write(store, id, &bytes),
        Landing::Arena(filling) => filling,
    };
    let slot = filling.finish().map_err(|f| StoreError::Incomplete {
        id,
        written: f.written() as u64,
        size: f.len() as u64,
    })?;
    // Its bytes are in place: room is taken and the object added under one lock.
    let object = Bytes::from_owner(slot);
    let mut s = store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let reservation = s.reserve(id, object.len() as u64)?;
    s.commit(reservation, object.clone());
    Ok((object, s.used()))
}

/// Where a store is reached one step at a time: the store itself, or a store behind a lock,
/// locked for each step only.
trait Access {
    fn step<R>(&mut self, f: impl FnOnce(&mut SharedStore) -> R) -> R;
}

impl Access for &mut SharedStore {
    fn step<R>(&mut self, f: impl FnOnce(&mut SharedStore) -> R) -> R {
        f(self)
    }
}

impl Access for &std::sync::Mutex<SharedStore> {
    fn step<R>(&mut self, f: impl FnOnce(&mut SharedStore) -> R) -> R {
        f(&mut self
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// Writes object `id`: takes its room, copies `bytes` between steps, then adds it (or gives
/// the room back). Returns the object and the bytes the store then held.
fn write(mut at: impl Access, id: u64, bytes: &[u8]) -> Result<(Bytes, u64), StoreError> {
    let (reservation, arena) = at.step(|s| {
        let reservation = s.reserve(id, bytes.len() as u64)?;
        let arena = if bytes.len() < SMALL { None } else { s.arena() };
        Ok::<_, StoreError>((reservation, arena))
    })?;
    match make_in(arena.as_ref(), id, bytes) {
        Ok(object) => {
            let used = at.step(|s| {
                s.commit(reservation, object.clone());
                s.used()
            });
            Ok((object, used))
        }
        Err(e) => {
            at.step(|s| s.cancel(reservation));
            Err(e)
        }
    }
}

impl SharedStore {
    /// An empty store of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        SharedStore {
            capacity,
            used: 0,
            objects: BTreeMap::new(),
            writing: BTreeMap::new(),
            arena: ArenaState::Unmade,
        }
    }

    /// Where an object of `size` bytes about to arrive should land: a range of the arena for
    /// an object of [`SMALL`] bytes or more, if one is free; else a buffer of its size.
    pub fn landing(&mut self, size: u64) -> Landing {
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        if len >= SMALL
            && let Some(filling) = self.arena().and_then(|a| a.begin(len))
        {
            return Landing::Arena(filling);
        }
        Landing::Buffer(Vec::with_capacity(len))
    }

    /// The arena of its large objects, made now if it has not been: as large as the store.
    fn arena(&mut self) -> Option<Arc<Arena>> {
        if let ArenaState::Unmade = self.arena {
            let made = Arena::new(self.capacity).ok().flatten().map(Arc::new);
            self.arena = ArenaState::Made(made);
        }
        match &self.arena {
            ArenaState::Made(arena) => arena.clone(),
            ArenaState::Unmade => None,
        }
    }

    /// Bytes held.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Writes object `id` with `bytes`, if it fits and is new.
    pub fn put(&mut self, id: u64, bytes: &[u8]) -> Result<Bytes, StoreError> {
        write(self, id, bytes).map(|(object, _)| object)
    }

    /// Takes room for object `id` of `size` bytes, if it fits and the id is neither held
    /// nor being written.
    pub fn reserve(&mut self, id: u64, size: u64) -> Result<Reservation, StoreError> {
        if self.objects.contains_key(&id) || self.writing.contains_key(&id) {
            return Err(StoreError::Exists(id));
        }
        let free = self.capacity - self.used;
        if size > free {
            return Err(StoreError::Full {
                needed: size,
                free,
                capacity: self.capacity,
            });
        }
        self.used += size;
        self.writing.insert(id, size);
        Ok(Reservation { id, size })
    }

    /// Adds the object written for `reservation`; its size must be the one reserved.
    pub fn commit(&mut self, reservation: Reservation, object: Bytes) {
        debug_assert_eq!(object.len() as u64, reservation.size);
        if self.writing.remove(&reservation.id).is_some() {
            self.used = self.used - reservation.size + object.len() as u64;
            self.objects.insert(reservation.id, object);
        }
    }

    /// Gives back the room of an object that could not be written.
    pub fn cancel(&mut self, reservation: Reservation) {
        if self.writing.remove(&reservation.id).is_some() {
            self.used -= reservation.size;
        }
    }

    /// Object `id`'s bytes, to read in place; the bytes stay readable while the handle is
    /// held, even if the store drops the object meanwhile.
    pub fn get(&self, id: u64) -> Option<Bytes> {
        self.objects.get(&id).cloned()
    }

    /// Drops object `id`; returns whether it was held. Its memory is freed when the last
    /// handle goes.
    pub fn remove(&mut self, id: u64) -> bool {
        self.take(id).is_some()
    }

    /// Takes object `id` out of the store (its room is free at once), handing over the
    /// store's handle: its memory is freed where and when the last handle is dropped.
    pub fn take(&mut self, id: u64) -> Option<Bytes> {
        let o = self.objects.remove(&id)?;
        self.used -= o.len() as u64;
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_memfd_is_made_again_and_other_errors_are_returned_at_once() {
        let busy = || std::io::Error::from_raw_os_error(nix::libc::EBUSY);
        // Busy twice, then made: three attempts.
        let mut calls = 0;
        let made = unless_busy(4, || {
            calls += 1;
            if calls < 3 { Err(busy()) } else { Ok(calls) }
        });
        assert_eq!(made.unwrap(), 3);
        // Busy every time: the last attempt's error, after all of them.
        let mut calls = 0;
        let e = unless_busy(4, || -> std::io::Result<()> {
            calls += 1;
            Err(busy())
        })
        .unwrap_err();
        assert_eq!((calls, e.raw_os_error()), (4, Some(nix::libc::EBUSY)));
        // Any other error: at once.
        let mut calls = 0;
        let e = unless_busy(4, || -> std::io::Result<()> {
            calls += 1;
            Err(std::io::Error::from_raw_os_error(nix::libc::ENOMEM))
        })
        .unwrap_err();
        assert_eq!((calls, e.raw_os_error()), (1, Some(nix::libc::ENOMEM)));
    }

    #[test]
    fn bytes_written_once_are_read_in_place_and_cannot_be_changed() {
        let b = SharedBytes::new("t", b"hello, store").unwrap();
        assert_eq!(&*b, b"hello, store");
        // The memfd is sealed: writing to it, or growing it, is refused.
        let mut f = std::fs::File::from(b.fd().try_clone().unwrap());
        assert!(f.write_all(b"X").is_err());
        assert!(f.set_len(100).is_err());
        assert_eq!(&*b, b"hello, store");
        let empty = SharedBytes::new("e", b"").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn the_store_keeps_its_capacity_and_ids() {
        let mut s = SharedStore::new(10);
        let a = s.put(1, &[1; 6]).unwrap();
        assert!(matches!(s.put(1, b"x"), Err(StoreError::Exists(1))));
        let e = s.put(2, &[2; 5]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the store cannot hold 5 more bytes: 4 of its 10 are free"
        );
        s.put(2, &[2; 4]).unwrap();
        assert_eq!((s.used(), s.len()), (10, 2));
        // A handle outlives the object's removal from the store.
        assert!(s.remove(1));
        assert!(!s.remove(1));
        assert_eq!(&a[..], &[1; 6]);
        assert_eq!(s.used(), 4);
        assert!(s.get(1).is_none());
        assert_eq!(&s.get(2).unwrap()[..], &[2; 4]);
        // Taken out: its room is free at once, its bytes go with the handle.
        let taken = s.take(2).unwrap();
        assert_eq!((s.used(), s.len(), &taken[..]), (0, 0, &[2u8; 4][..]));
        assert!(s.take(2).is_none() && s.get(2).is_none());
        s.put(3, &[3; 10]).unwrap();
    }

    #[test]
    fn room_is_taken_before_the_bytes_are_written_and_given_back_on_cancel() {
        let mut s = SharedStore::new(10);
        let r = s.reserve(1, 6).unwrap();
        // While object 1 is written, its id and room are taken, and it is not readable.
        assert!(matches!(s.reserve(1, 1), Err(StoreError::Exists(1))));
        assert!(matches!(s.put(1, b"x"), Err(StoreError::Exists(1))));
        assert!(matches!(
            s.reserve(2, 5),
            Err(StoreError::Full { free: 4, .. })
        ));
        assert!(s.get(1).is_none());
        assert_eq!((s.used(), s.len()), (6, 0));
        s.commit(r, make(1, &[1; 6]).unwrap());
        assert_eq!((s.used(), s.len()), (6, 1));
        assert_eq!(&s.get(1).unwrap()[..], &[1; 6]);
        let r = s.reserve(2, 4).unwrap();
        s.cancel(r);
        assert_eq!((s.used(), s.len()), (6, 1));
        s.put(2, &[2; 4]).unwrap();
        assert_eq!(s.used(), 10);
    }

    #[test]
    fn a_shared_store_is_not_locked_while_an_object_is_copied() {
        let store = std::sync::Mutex::new(SharedStore::new(1 << 30));
        let large = vec![9u8; 64 << 20];
        // While a 64 MiB copy runs, another thread finds its room taken, the object not yet
        // there, and puts a small object. (Were the lock held during the copy, it could only
        // ever find both or neither. A few tries, in case this thread sleeps through a copy.)
        let seen = (0..5u64).any(|attempt| {
            let id = 2 * attempt;
            std::thread::scope(|scope| {
                let before = store.lock().unwrap().used();
                let writer = scope.spawn(|| put_shared(&store, id, &large).unwrap());
                loop {
                    let s = store.lock().unwrap();
                    let reserved = s.used() >= before + (64 << 20);
                    let written = s.get(id).is_some();
                    drop(s);
                    if written {
                        break false;
                    }
                    if reserved {
                        put_shared(&store, id + 1, b"small").unwrap();
                        let still_writing = store.lock().unwrap().get(id).is_none();
                        writer.join().unwrap();
                        break still_writing;
                    }
                    std::hint::spin_loop();
                }
            })
        });
        assert!(seen, "the store was locked while it copied");
    }

    #[test]
    fn small_objects_live_on_the_heap_and_large_ones_in_the_arena_or_a_memfd() {
        let mut s = SharedStore::new(2 * SMALL as u64);
        let small = s.put(1, &[5; SMALL - 1]).unwrap();
        let large = s.put(2, &[6; SMALL]).unwrap();
        // This process's memfds of objects of their own.
        let memfds = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
                .map(|l| l.to_string_lossy().to_string())
                .filter(|l| l.contains("cohort-object-"))
                .collect::<Vec<_>>()
        };
        assert!(!memfds().iter().any(|l| l.contains("cohort-object-2 ")));
        assert!(!memfds().iter().any(|l| l.contains("cohort-object-1 ")));
        assert_eq!(
            (&small[..], &large[..]),
            (&[5; SMALL - 1][..], &[6; SMALL][..])
        );
        assert_eq!(s.used(), 2 * SMALL as u64 - 1);
        // Object 2 leaves the store but is still read: its range stays taken, so object 3,
        // which fits the store, does not fit the arena beside it and gets a memfd of its own;
        // once 2's last handle goes, object 4 reuses its range.
        assert!(s.remove(1) && s.remove(2));
        let third = s.put(3, &[7; SMALL + 1]).unwrap();
        assert!(memfds().iter().any(|l| l.contains("cohort-object-3 ")));
        assert_eq!(
            (&large[..], &third[..]),
            (&[6; SMALL][..], &[7; SMALL + 1][..])
        );
        drop(large);
        assert!(s.remove(3));
        let fourth = s.put(4, &[8; SMALL]).unwrap();
        assert!(!memfds().iter().any(|l| l.contains("cohort-object-4 ")));
        assert_eq!(&fourth[..], &[8; SMALL][..]);
    }

    #[test]
    fn a_pulled_object_lands_in_the_arena_in_place_or_in_a_buffer() {
        let store = std::sync::Mutex::new(SharedStore::new(3 * SMALL as u64));
        let land = |size: usize| store.lock().unwrap().landing(size as u64);
        // A large object lands in the arena, chunk by chunk, and is stored as it is.
        let mut big = land(SMALL + 5);
        assert!(matches!(big, Landing::Arena(_)));
        assert!(big.push(&[1; SMALL]));
        // Stored before its end: refused, and its room not taken.
        let e = put_landed(&store, 1, big).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "object 1 is incomplete: {SMALL} of its {} bytes arrived",
                SMALL + 5
            )
        );
        assert_eq!(store.lock().unwrap().used(), 0);
        let mut big = land(SMALL + 5);
        assert!(big.push(&[1; SMALL]) && big.push(&[2; 5]));
        assert!(!big.push(&[3]), "a byte beyond the object");
        let (object, used) = put_landed(&store, 1, big).unwrap();
        assert_eq!(used, SMALL as u64 + 5);
        assert_eq!(
            (&object[..SMALL], &object[SMALL..]),
            (&[1; SMALL][..], &[2; 5][..])
        );
        assert_eq!(store.lock().unwrap().get(1).unwrap(), object);
        // A small one lands in a buffer, copied in as a put is; so does a large one when
        // the arena (as large as this store) has no range free: the 31 pages left are taken.
        let mut small = land(10);
        assert!(matches!(small, Landing::Buffer(_)) && small.push(&[4; 10]));
        assert_eq!(&put_landed(&store, 2, small).unwrap().0[..], &[4; 10][..]);
        let held = land(31 * 4096);
        assert!(matches!(held, Landing::Arena(_)));
        let mut late = land(SMALL);
        assert!(matches!(late, Landing::Buffer(_)) && late.push(&[5; SMALL]));
        assert_eq!(&put_landed(&store, 3, late).unwrap().0[..], &[5; SMALL][..]);
        // A landing dropped unstored gives its range back; a store too full for what
        // landed refuses it.
        drop(held);
        let mut over = land(SMALL);
        assert!(matches!(over, Landing::Arena(_)) && over.push(&[6; SMALL]));
        let e = put_landed(&store, 4, over).unwrap_err();
        assert!(matches!(e, StoreError::Full { .. }), "{e}");
        assert_eq!(store.lock().unwrap().used(), 2 * SMALL as u64 + 15);
    }

    #[test]
    fn objects_are_shared_across_threads_without_copies() {
        let mut s = SharedStore::new(1 << 20);
        let o = s.put(7, &vec![3u8; 1 << 16]).unwrap();
        let sums: Vec<u64> = (0..4)
            .map(|_| {
                let o = o.clone();
                std::thread::spawn(move || o.iter().map(|&b| u64::from(b)).sum::<u64>())
            })
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(sums, vec![3 << 16; 4]);
    }
}
