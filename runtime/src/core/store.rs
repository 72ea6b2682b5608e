//! The object store of one node: size accounting, pinning and LRU eviction.

use super::idmap::IdMap;
use cohort_policy::ObjectId;

/// One object held (or being received) by a store.
#[derive(Clone, Copy, Debug)]
struct Entry {
    size: u64,
    /// Running tasks using it, outgoing transfers reading it, and an incoming transfer
    /// writing it each hold one pin.
    pins: u32,
    /// Logical time of last use, for LRU.
    last_use: u64,
    /// False while an incoming transfer is still writing it.
    sealed: bool,
    /// Freed, and here only for the outgoing transfers still reading it (their pins): it
    /// goes with the last ([`ObjectStore::release_read`]).
    kept: bool,
}

/// What happened to a copy in a store, for an executor whose stores hold real bytes and must
/// do the same (see [`ObjectStore::log_ops`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// The copy left the store (evicted, freed, lost, given up).
    Removed,
    /// The copy left the store for its node's disk.
    Spilled,
    /// The copy was read back from its node's disk into the store.
    Restored,
    /// The disk's copy was deleted (the object was freed).
    Unspilled,
}

/// An object chosen for eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evicted {
    /// The object.
    pub object: ObjectId,
    /// Its size.
    pub size: u64,
}

/// A request for space that cannot be met even after evicting every unpinned object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom {
    /// Bytes requested.
    pub needed: u64,
    /// Bytes that pinned objects hold.
    pub pinned: u64,
    /// The store's capacity.
    pub capacity: u64,
}

/// How sparse a store's window of ids may get ([`IdMap`]): a node holds the objects produced
/// on it and the copies it received, a fraction of all ids.
const STORE_SPARSE: usize = 16;

/// The object store of one node.
///
/// Invariants: `used` is the sum of the sizes of all entries and never exceeds `capacity`;
/// pinned and unsealed entries are never evicted.
#[derive(Debug)]
pub struct ObjectStore {
    capacity: u64,
    used: u64,
    /// By object id: ids are handed out ascending and copies mostly leave a store in roughly
    /// that order, but a store holds a scattered subset of them (see [`STORE_SPARSE`]).
    entries: IdMap<Entry, STORE_SPARSE>,
    clock: u64,
    /// With [`ObjectStore::log_ops`]: what happened to copies since the last
    /// [`ObjectStore::take_ops`], in order, for an executor whose stores hold real bytes.
    ops: Option<Vec<(StoreOp, ObjectId)>>,
}

impl ObjectStore {
    /// An empty store of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        ObjectStore {
            capacity,
            used: 0,
            entries: IdMap::default(),
            clock: 0,
            ops: None,
        }
    }

    /// From now on, keeps a list of what happens to copies (removed, spilled, restored, their
    /// disk copy deleted), for an executor that must do the same to the real bytes.
    pub fn log_ops(&mut self) {
        self.ops.get_or_insert_with(Vec::new);
    }

    /// Adds `op` on `object` to the log, if there is one.
    pub fn note(&mut self, op: StoreOp, object: ObjectId) {
        if let Some(log) = &mut self.ops {
            log.push((op, object));
        }
    }

    /// An empty store like this one (capacity, and whether it logs removals): what a node
    /// that stops keeps.
    pub fn emptied(&self) -> ObjectStore {
        let mut s = ObjectStore::new(self.capacity);
        if self.ops.is_some() {
            s.log_ops();
        }
        s
    }

    /// What happened to copies since the last call, in order (nothing unless
    /// [`ObjectStore::log_ops`] was called).
    pub fn take_ops(&mut self) -> Vec<(StoreOp, ObjectId)> {
        self.ops.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Bytes in use, including reservations for incoming transfers.
    #[inline]
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Number of objects held or being received.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Whether a sealed copy of `object` is here.
    #[inline]
    pub fn has_sealed(&self, object: ObjectId) -> bool {
        self.entries.get(object.0).is_some_and(|e| e.sealed)
    }

    /// The objects of which a sealed copy is here, ascending.
    pub fn sealed_objects(&self) -> Vec<ObjectId> {
        let mut ids: Vec<ObjectId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.sealed)
            .map(|(id, _)| ObjectId(id))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether `object` is here and pinned.
    #[inline]
    pub fn is_pinned(&self, object: ObjectId) -> bool {
        self.entries.get(object.0).is_some_and(|e| e.pins > 0)
    }

    /// `object` was freed while transfers read it: it stays until the last of their pins
    /// is released ([`ObjectStore::release_read`]).
    pub fn keep_while_read(&mut self, object: ObjectId) {
        if let Some(e) = self.entries.get_mut(object.0) {
            e.kept = true;
        }
    }

    /// An outgoing transfer stopped reading `object`: releases its pin, and removes a copy
    /// kept only for such transfers once none is left. Returns whether it removed it.
    pub fn release_read(&mut self, object: ObjectId) -> bool {
        self.unpin(object);
        let done = self
            .entries
            .get(object.0)
            .is_some_and(|e| e.kept && e.pins == 0);
        done && self.remove(object).is_some()
    }

    /// Whether `object` is here at all (sealed or still arriving).
    pub fn contains(&self, object: ObjectId) -> bool {
        self.entries.contains(object.0)
    }

    #[inline]
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks `object` as just used (LRU).
    pub fn touch(&mut self, object: ObjectId) {
        let t = self.tick();
        if let Some(e) = self.entries.get_mut(object.0) {
            e.last_use = t;
        }
    }

    /// Pins `object` so that it cannot be evicted. Returns false if it is not here.
    #[inline]
    pub fn pin(&mut self, object: ObjectId) -> bool {
        let t = self.tick();
        match self.entries.get_mut(object.0) {
            Some(e) => {
                e.pins += 1;
                e.last_use = t;
                true
            }
            None => false,
        }
    }

    /// Releases one pin of `object`.
    #[inline]
    pub fn unpin(&mut self, object: ObjectId) {
        if let Some(e) = self.entries.get_mut(object.0) {
            debug_assert!(e.pins > 0, "unpin of an unpinned {object}");
            e.pins = e.pins.saturating_sub(1);
        }
    }

    /// Chooses what to evict so that `size` more bytes fit, without evicting anything.
    ///
    /// Order: unpinned sealed objects of which another node holds a copy (least recently used
    /// first), then unpinned last copies (least recently used first). `is_last_copy` answers
    /// whether this node holds the only copy. Either the whole request can be met or nothing
    /// is chosen.
    pub fn plan_room(
        &self,
        size: u64,
        is_last_copy: impl Fn(ObjectId) -> bool,
    ) -> Result<Vec<Evicted>, NoRoom> {
        self.plan_room_batch(size, is_last_copy, 0)
    }

    /// Like [`ObjectStore::plan_room`], but when something must go, it evicts at least
    /// `batch` bytes (as far as unpinned objects allow), as plasma did: a store that had to
    /// evict freed "ideally up to 20% of the total capacity" at once
    /// (`EvictionPolicy::RequireSpace`).
    pub fn plan_room_batch(
        &self,
        size: u64,
        is_last_copy: impl Fn(ObjectId) -> bool,
        batch: u64,
    ) -> Result<Vec<Evicted>, NoRoom> {
        let free = self.capacity - self.used;
        if size <= free {
            return Ok(Vec::new());
        }
        let no_room = || NoRoom {
            needed: size,
            pinned: self
                .entries
                .iter()
                .map(|(_, e)| e)
                .filter(|e| e.pins > 0 || !e.sealed)
                .map(|e| e.size)
                .sum(),
            capacity: self.capacity,
        };
        if size > self.capacity {
            return Err(no_room());
        }
        let mut candidates: Vec<(bool, u64, ObjectId, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.pins == 0 && e.sealed)
            .map(|(id, e)| {
                let id = ObjectId(id);
                (is_last_copy(id), e.last_use, id, e.size)
            })
            .collect();
        candidates.sort_unstable();
        let target = size.max(free.saturating_add(batch));
        let mut freed = free;
        let mut chosen = Vec::new();
        for (_, _, object, size_of) in candidates {
            if freed >= target {
                break;
            }
            freed += size_of;
            chosen.push(Evicted {
                object,
                size: size_of,
            });
        }
        if freed >= size {
            Ok(chosen)
        } else {
            Err(no_room())
        }
    }

    /// Adds a sealed object. The caller has made room (see [`ObjectStore::plan_room`]).
    pub fn insert_sealed(&mut self, object: ObjectId, size: u64) {
        self.insert(object, size, true, 0);
    }

    /// Reserves room for an object that a transfer is about to write; it stays pinned and
    /// unsealed until [`ObjectStore::seal`].
    pub fn reserve(&mut self, object: ObjectId, size: u64) {
        self.insert(object, size, false, 1);
    }

    fn insert(&mut self, object: ObjectId, size: u64, sealed: bool, pins: u32) {
        assert!(
            self.used + size <= self.capacity,
            "store overflow: room was not made"
        );
        let last_use = self.tick();
        let vacant = self.entries.try_insert(
            object.0,
            Entry {
                size,
                pins,
                last_use,
                sealed,
                kept: false,
            },
        );
        assert!(vacant, "{object} inserted twice into one store");
        self.used += size;
    }

    /// Seals a reserved object and releases the transfer's pin.
    pub fn seal(&mut self, object: ObjectId) {
        let t = self.tick();
        if let Some(e) = self.entries.get_mut(object.0) {
            e.sealed = true;
            e.pins = e.pins.saturating_sub(1);
            e.last_use = t;
        }
    }

    /// Removes `object` whatever its pins; returns its size if it was here.
    pub fn remove(&mut self, object: ObjectId) -> Option<u64> {
        self.remove_as(StoreOp::Removed, object)
    }

    /// Removes `object` whatever its pins, noting why (`Removed` or `Spilled`); returns its
    /// size if it was here.
    pub fn remove_as(&mut self, op: StoreOp, object: ObjectId) -> Option<u64> {
        let e = self.entries.remove(object.0)?;
        self.used -= e.size;
        self.note(op, object);
        Some(e.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[Evicted]) -> Vec<u64> {
        v.iter().map(|e| e.object.0).collect()
    }

    #[test]
    fn evicts_secondary_copies_before_last_copies_each_in_lru_order() {
        let mut s = ObjectStore::new(100);
        for i in 1..=5 {
            s.insert_sealed(ObjectId(i), 20);
        }
        s.touch(ObjectId(1)); // 1 becomes most recently used
        // Objects 2 and 4 are last copies; 1, 3, 5 have copies elsewhere.
        let last = |o: ObjectId| o.0 == 2 || o.0 == 4;
        assert_eq!(ids(&s.plan_room(20, last).unwrap()), vec![3]);
        assert_eq!(ids(&s.plan_room(60, last).unwrap()), vec![3, 5, 1]);
        assert_eq!(ids(&s.plan_room(80, last).unwrap()), vec![3, 5, 1, 2]);
    }

    #[test]
    fn a_copy_kept_for_reads_goes_with_the_last_read_and_only_such_a_copy() {
        let mut s = ObjectStore::new(100);
        s.insert_sealed(ObjectId(1), 10);
        s.pin(ObjectId(1));
        s.pin(ObjectId(1));
        s.keep_while_read(ObjectId(1));
        assert!(!s.release_read(ObjectId(1)));
        assert!(s.contains(ObjectId(1)));
        assert!(s.release_read(ObjectId(1)));
        assert!(!s.contains(ObjectId(1)));
        assert_eq!(s.used(), 0);
        s.insert_sealed(ObjectId(2), 10);
        s.pin(ObjectId(2));
        assert!(!s.release_read(ObjectId(2)));
        assert!(s.has_sealed(ObjectId(2)) && !s.is_pinned(ObjectId(2)));
    }

    #[test]
    fn pinned_and_unsealed_objects_stay() {
        let mut s = ObjectStore::new(100);
        s.insert_sealed(ObjectId(1), 40);
        s.reserve(ObjectId(2), 40);
        assert!(s.pin(ObjectId(1)));
        let err = s.plan_room(30, |_| false).unwrap_err();
        assert_eq!(
            err,
            NoRoom {
                needed: 30,
                pinned: 80,
                capacity: 100
            }
        );
        s.unpin(ObjectId(1));
        assert_eq!(ids(&s.plan_room(30, |_| false).unwrap()), vec![1]);
        s.seal(ObjectId(2));
        assert!(s.has_sealed(ObjectId(2)));
    }

    #[test]
    fn fits_without_eviction_and_rejects_oversize() {
        let mut s = ObjectStore::new(100);
        s.insert_sealed(ObjectId(1), 50);
        assert!(s.plan_room(50, |_| true).unwrap().is_empty());
        assert!(s.plan_room(101, |_| false).is_err());
        assert_eq!(s.remove(ObjectId(1)), Some(50));
        assert_eq!(s.used(), 0);
    }
}
